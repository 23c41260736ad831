// SPDX-License-Identifier: MIT
/*
 * ivshm-fuse: the store as a POSIX file system.
 *
 *   ivshm-fuse -o socket=/run/ivshm/ivshm.sock /mnt/ivshm   (a peer)
 *   ivshm-fuse -o region=/dev/shm/ivshm /mnt/ivshm          (no doorbells)
 *   mount -t fuse.ivshm-fuse /run/ivshm/ivshm.sock /mnt/ivshm  (fstab)
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivfuse.h"

struct opts {
	char *socket;
	char *region;
	double timeout;
};

static const struct fuse_opt ivf_opts[] = {
	{ "socket=%s", offsetof(struct opts, socket), 0 },
	{ "region=%s", offsetof(struct opts, region), 0 },
	{ "timeout=%lf", offsetof(struct opts, timeout), 0 },
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("Usage: %s [SOURCE] MOUNTPOINT [OPTIONS]\n"
"Serve an ivshm store (shared memory between VMs and the host) as a file\n"
"system. Changes made by other peers show up at once.\n"
"\n"
"Where the store is (one of):\n"
"  -o socket=PATH   join the ivshm-server at PATH as a peer (doorbells)\n"
"  -o region=FILE   map a region file directly (one host, no doorbells)\n"
"  SOURCE           the same, as mount(8) passes it: a socket or a file\n"
"A blank (all-zero) region is formatted; anything that is not an ivshm\n"
"store is refused and left untouched.\n"
"\n"
"  -o timeout=SEC   how long the kernel caches names and attributes\n"
"                   (default 3600: others' changes invalidate them)\n"
"  -f               stay in the foreground;  -d  debug (implies -f)\n"
"  -s               single-threaded\n"
"  -o allow_other   let other users in (see fuse(8))\n"
"  -h, --help       this help;  -V, --version\n",
	       prog);
}

/* mount.fuse3 passes "SOURCE MOUNTPOINT": take SOURCE out of argv. */
static char *take_source(int *argc, char **argv)
{
	int nonopt[3], n = 0;
	char *src;

	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "-o")) {
			i++;
			continue;
		}
		if (argv[i][0] != '-' && n < 3)
			nonopt[n++] = i;
	}
	if (n != 2)
		return NULL;
	src = argv[nonopt[0]];
	memmove(&argv[nonopt[0]], &argv[nonopt[0] + 1],
		(size_t)(*argc - nonopt[0]) * sizeof(*argv));
	(*argc)--;
	return src;
}

/* Membership news from the server (any thread). */
static void on_peer(void *arg, enum ivshm_peer_event ev, unsigned int peer)
{
	struct ivfuse *f = arg;
	struct ivshm_fs *fs = __atomic_load_n(&f->fs, __ATOMIC_ACQUIRE);

	if (ev == IVSHM_PEER_LEFT && fs)
		ivshm_store_peer_left(ivshm_fs_store(fs), peer);
}

static int open_device(const struct opts *o, struct ivshm_device **dev,
		       struct ivfuse *f)
{
	struct ivshm_peer_opts po = { .timeout_ms = 5000, .peer_cb = on_peer,
				      .peer_cb_arg = f };

	if (o->socket && o->region) {
		fprintf(stderr, "ivshm-fuse: give socket= or region=, not "
			"both\n");
		return -EINVAL;
	}
	if (o->socket)
		return ivshm_peer_open(o->socket, &po, dev);
	if (o->region)
		return ivshm_plain_open(o->region, dev);
	fprintf(stderr, "ivshm-fuse: where is the store? Use -o socket=PATH "
		"(an ivshm-server) or -o region=FILE (see --help)\n");
	return -EINVAL;
}

static int open_fs(struct ivfuse *f, bool track)
{
	struct ivshm_fs_opts fo = {
		.attach = { .name = "ivshm-fuse", .format_if_blank = true },
		.on_change = track ? ivf_on_change : NULL,
		.on_change_arg = f,
	};
	int rc = ivshm_fs_open(f->dev, &fo, &f->fs);

	if (rc)
		fprintf(stderr, "ivshm-fuse: cannot use the store: %s\n",
			strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	struct fuse_args args;
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *loop = NULL;
	struct opts o = { .timeout = 3600 };
	struct ivfuse f = { 0 };
	struct stat st;
	char *src = take_source(&argc, argv);
	int rc = 1;

	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	if (fuse_parse_cmdline(&args, &cmd))
		return 1;
	if (cmd.show_help) {
		usage(argv[0]);
		fuse_lowlevel_help();
		return 0;
	}
	if (cmd.show_version) {
		printf("ivshm-fuse (libfuse %s)\n", fuse_pkgversion());
		return 0;
	}
	if (fuse_opt_parse(&args, &o, ivf_opts, NULL) == -1)
		return 1;
	if (src && !o.socket && !o.region) {
		if (stat(src, &st)) {
			fprintf(stderr, "ivshm-fuse: %s: %s\n", src,
				strerror(errno));
			return 1;
		}
		if (S_ISSOCK(st.st_mode))
			o.socket = src;
		else
			o.region = src;
	}
	if (!cmd.mountpoint) {
		fprintf(stderr, "ivshm-fuse: no mount point (see --help)\n");
		return 1;
	}
	if (o.timeout < 0) {
		fprintf(stderr, "ivshm-fuse: timeout must be >= 0\n");
		return 1;
	}
	f.timeout = o.timeout;
	f.debug = cmd.debug;
	/* Kernel permission checks: the store keeps modes, not policy. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	fuse_opt_add_arg(&args, "-ofsname=ivshm");
	fuse_opt_add_arg(&args, "-osubtype=ivshm");

	if (open_device(&o, &f.dev, &f))
		goto out_args;
	/*
	 * Check (and format) the store here, where errors reach the user;
	 * attach for real after daemonizing (threads do not survive fork).
	 */
	if (open_fs(&f, false))
		goto out_dev;
	ivshm_fs_close(f.fs);
	f.fs = NULL;
	if (ivf_ino_init(&f) || pthread_mutex_init(&f.q_mu, NULL))
		goto out_dev;
	f.se = fuse_session_new(&args, &ivf_ops, sizeof(ivf_ops), &f);
	if (!f.se)
		goto out_ino;
	if (fuse_set_signal_handlers(f.se))
		goto out_session;
	if (fuse_session_mount(f.se, cmd.mountpoint))
		goto out_signals;
	fuse_daemonize(cmd.foreground);
	if (open_fs(&f, true))
		goto out_unmount;
	if (ivf_bell_start(&f))
		goto out_fs;
	if (cmd.singlethread) {
		rc = fuse_session_loop(f.se);
	} else {
		loop = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		rc = fuse_session_loop_mt(f.se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	rc = rc ? 1 : 0;
	ivf_bell_stop(&f);
out_fs:
	ivshm_fs_close(f.fs);
out_unmount:
	fuse_session_unmount(f.se);
out_signals:
	fuse_remove_signal_handlers(f.se);
out_session:
	fuse_session_destroy(f.se);
out_ino:
	ivf_ino_release(&f);
	pthread_mutex_destroy(&f.q_mu);
	free(f.q);
out_dev:
	ivshm_device_close(f.dev);
out_args:
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	free(o.socket != src ? o.socket : NULL);
	free(o.region != src ? o.region : NULL);
	return rc;
}
