// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-fuse: the file systems under test. Fresh tmpfs mounts, the
 * region file, the doorbell server (build/bin/ivshm-server as a child) and
 * the FUSE daemons (ivshm-fuse, passthrough_ll) in the foreground as
 * children. Everything is undone at the end, on SIGINT, SIGTERM and SIGHUP;
 * the children get SIGTERM if this process dies (they then unmount).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuse_bench.h"
#include "units.h"

#define FUSE_SUPER_MAGIC 0x65735546

const char *const fb_kind_label[FB_NKINDS] = {
	[FB_K_IVSHM] = "ivshm",
	[FB_K_IVSHM_SOCK] = "ivshm-sock",
	[FB_K_TMPFS] = "tmpfs",
	[FB_K_PT] = "pt_ll",
};

/*
 * What to undo, in fixed storage (the signal handler must not allocate).
 * Mounts are undone last-first.
 */
#define MAX_MOUNTS 16
#define MAX_FILES 24

struct undo_mount {
	char dir[FB_PATH_MAX];
	char log[FB_PATH_MAX];
	pid_t pid;		/* the daemon, 0 for a tmpfs */
	bool b;			/* a B mount (unmounted after the A->B part) */
};

static struct undo_mount mounts[MAX_MOUNTS];
static volatile sig_atomic_t nmounts;
static char files[MAX_FILES][FB_PATH_MAX];
static volatile sig_atomic_t nfiles;
static pid_t server_pid;

static void note_file(const char *path)
{
	if (nfiles < MAX_FILES) {
		snprintf(files[nfiles], sizeof(files[0]), "%s", path);
		nfiles = nfiles + 1;
	}
}

static const char *fuse_bin(void)
{
	const char *p = getenv("IVSHM_FUSE");

	return p ? p : IVSHM_FUSE_BIN;
}

static const char *server_bin(void)
{
	const char *p = getenv("IVSHM_SERVER");

	return p ? p : IVSHM_SERVER_BIN;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Only async-signal-safe calls: also run from the signal handler. */
static void undo_all_now(void)
{
	for (int i = nmounts - 1; i >= 0; i--) {
		umount2(mounts[i].dir, MNT_DETACH);
		if (mounts[i].pid > 0)
			kill(mounts[i].pid, SIGTERM);
		rmdir(mounts[i].dir);
	}
	nmounts = 0;
	if (server_pid > 0)
		kill(server_pid, SIGTERM);
	server_pid = 0;
	for (int i = 0; i < nfiles; i++)
		unlink(files[i]);
	nfiles = 0;
}

static void on_signal(int sig)
{
	undo_all_now();
	signal(sig, SIG_DFL);
	raise(sig);
}

void fb_setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* fork + exec @argv with output to @log; the child dies with us. */
static pid_t spawn(char *const argv[], const char *log)
{
	sigset_t all, old;
	pid_t parent = getpid(), pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0644);
		int null = open("/dev/null", O_RDONLY);

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (null >= 0)
			dup2(null, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		perror("fork");
	return pid;
}

static void show_log(const char *log)
{
	char buf[2048];
	ssize_t n;
	int fd = open(log, O_RDONLY);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		fprintf(stderr, "--- %s ---\n%s", log, buf);
	}
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int mount_tmpfs(const char *dir)
{
	if (make_dir(dir))
		return -1;
	/* Pages are taken as they are written: the size is only a cap. */
	if (mount("ivshm-bench-tmpfs", dir, "tmpfs", MS_NOATIME,
		  "size=8g,mode=0755")) {
		fprintf(stderr, "mount -t tmpfs %s: %s\n", dir,
			strerror(errno));
		rmdir(dir);
		return -1;
	}
	if (nmounts < MAX_MOUNTS) {
		snprintf(mounts[nmounts].dir, FB_PATH_MAX, "%s", dir);
		mounts[nmounts].pid = 0;
		mounts[nmounts].b = false;
		nmounts = nmounts + 1;
	}
	return 0;
}

static bool is_fuse(const char *dir)
{
	struct statfs s;

	return !statfs(dir, &s) && s.f_type == FUSE_SUPER_MAGIC;
}

/* Start the daemon @argv serving @dir and wait until it is mounted. */
static int mount_fuse(struct fb_setup *s, const char *dir, const char *tag,
		      char *const argv[], bool b)
{
	struct undo_mount *m;
	int status;

	if (nmounts >= MAX_MOUNTS || make_dir(dir))
		return -1;
	m = &mounts[nmounts];
	snprintf(m->dir, FB_PATH_MAX, "%s", dir);
	snprintf(m->log, FB_PATH_MAX, "%s/%s.log", s->work, tag);
	note_file(m->log);
	m->b = b;
	m->pid = spawn(argv, m->log);
	if (m->pid < 0)
		return -1;
	nmounts = nmounts + 1;
	for (int i = 0; i < 1000; i++) {
		if (is_fuse(dir))
			return 0;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			fprintf(stderr, "%s exited (status %d) before "
				"mounting %s\n", argv[0], status, dir);
			show_log(m->log);
			m->pid = 0;
			return -1;
		}
		nap_ms(10);
	}
	fprintf(stderr, "%s: %s not mounted after 10 s\n", argv[0], dir);
	show_log(m->log);
	return -1;
}

/* Unmount one mount cleanly; 0 if it went and its daemon exited 0. */
static int unmount_one(struct undo_mount *m)
{
	int rc = 0, status;
	pid_t got = 0;

	for (int i = 0; i < 50; i++) {
		if (!umount2(m->dir, 0) || errno == EINVAL || errno == ENOENT)
			break;
		if (errno != EBUSY) {
			fprintf(stderr, "umount %s: %s\n", m->dir,
				strerror(errno));
			break;
		}
		nap_ms(100);
	}
	if (!umount2(m->dir, MNT_DETACH)) {
		fprintf(stderr, "%s was busy: detached\n", m->dir);
		rc = -1;
	}
	if (m->pid > 0) {
		for (int i = 0; i < 500 && got == 0; i++) {
			got = waitpid(m->pid, &status, WNOHANG);
			if (got == 0)
				nap_ms(10);
		}
		if (got != m->pid) {
			fprintf(stderr, "the daemon of %s did not exit: "
				"killed\n", m->dir);
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &status, 0);
			rc = -1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "the daemon of %s exited with status "
				"%d\n", m->dir, status);
			show_log(m->log);
			rc = -1;
		}
		m->pid = 0;
	}
	rmdir(m->dir);
	return rc;
}

static void drop_mount(int i)
{
	memmove(&mounts[i], &mounts[i + 1],
		(size_t)(nmounts - i - 1) * sizeof(mounts[0]));
	nmounts = nmounts - 1;
}

static int make_region(const char *path, uint64_t size)
{
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	note_file(path);
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int start_server(struct fb_setup *s)
{
	char size[32], pidfile[FB_PATH_MAX], log[FB_PATH_MAX];
	char shm_path[160];
	char *argv[] = { (char *)server_bin(), "-F", "-S", s->sock, "-M",
			 s->srv_shm, "-l", size, "-p", pidfile, NULL };
	int status;

	ivshm_format_size_flag(s->region_size, size, sizeof(size));
	snprintf(pidfile, sizeof(pidfile), "%s/server.pid", s->work);
	snprintf(log, sizeof(log), "%s/server.log", s->work);
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", s->srv_shm);
	unlink(shm_path);
	note_file(shm_path);
	note_file(s->sock);
	note_file(pidfile);
	note_file(log);
	server_pid = spawn(argv, log);
	if (server_pid < 0)
		return -1;
	/* The pid file is written once the server listens. */
	for (int i = 0; i < 1000; i++) {
		if (!access(pidfile, F_OK))
			return 0;
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			fprintf(stderr, "ivshm-server exited (status %d)\n",
				status);
			show_log(log);
			server_pid = 0;
			return -1;
		}
		nap_ms(10);
	}
	fprintf(stderr, "ivshm-server not listening after 10 s\n");
	show_log(log);
	return -1;
}

static void stop_server(struct fb_setup *s)
{
	int status;

	(void)s;
	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &status, 0);
	server_pid = 0;
}

/* Mount the daemon of @col's kind at @dir (A or B). */
static int mount_kind(struct fb_setup *s, enum fb_kind k, const char *dir,
		      bool b)
{
	char opt[FB_PATH_MAX + 64], tag[64];

	snprintf(tag, sizeof(tag), "%s-%c", fb_kind_label[k], b ? 'b' : 'a');
	switch (k) {
	case FB_K_IVSHM:
	case FB_K_IVSHM_SOCK: {
		char *argv[] = { (char *)fuse_bin(), "-f", "-o", opt,
				 (char *)dir, NULL };

		snprintf(opt, sizeof(opt), "%s=%s",
			 k == FB_K_IVSHM ? "region" : "socket",
			 k == FB_K_IVSHM ? s->region : s->sock);
		return mount_fuse(s, dir, tag, argv, b);
	}
	case FB_K_PT: {
		char *argv[] = { (char *)s->passthrough, "-f", "-o", opt,
				 (char *)dir, NULL };

		snprintf(opt, sizeof(opt), "source=%s/pt-src", s->work);
		return mount_fuse(s, dir, tag, argv, b);
	}
	default:
		return -1;
	}
}

int fb_setup_start(struct fb_setup *s, unsigned int cols_wanted,
		   struct fb_col *cols, unsigned int *ncols)
{
	*ncols = 0;
	for (int k = 0; k < FB_NKINDS; k++) {
		struct fb_col *c = &cols[*ncols];
		char path[FB_PATH_MAX];

		if (!(cols_wanted & (1u << k)))
			continue;
		if (k == FB_K_PT && !s->passthrough)
			continue;
		c->label = fb_kind_label[k];
		snprintf(c->dir, sizeof(c->dir), "%s/%s-a", s->work,
			 c->label);
		snprintf(c->dir_b, sizeof(c->dir_b), "%s/%s-b", s->work,
			 c->label);
		c->has_b = k != FB_K_TMPFS;
		switch (k) {
		case FB_K_IVSHM:
			if (make_region(s->region, s->region_size) ||
			    mount_kind(s, FB_K_IVSHM, c->dir, false))
				return -1;
			break;
		case FB_K_IVSHM_SOCK:
			if (start_server(s) ||
			    mount_kind(s, FB_K_IVSHM_SOCK, c->dir, false))
				return -1;
			break;
		case FB_K_TMPFS:
			if (mount_tmpfs(c->dir))
				return -1;
			snprintf(c->dir_b, sizeof(c->dir_b), "%s", c->dir);
			break;
		case FB_K_PT:
			snprintf(path, sizeof(path), "%s/pt-src", s->work);
			if (mount_tmpfs(path) ||
			    mount_kind(s, FB_K_PT, c->dir, false))
				return -1;
			break;
		}
		(*ncols)++;
	}
	return 0;
}

int fb_setup_mount_b(struct fb_setup *s, struct fb_col *cols,
		     unsigned int ncols)
{
	for (unsigned int i = 0; i < ncols; i++) {
		enum fb_kind k = FB_NKINDS;

		if (!cols[i].has_b)
			continue;
		for (int j = 0; j < FB_NKINDS; j++)
			if (!strcmp(cols[i].label, fb_kind_label[j]))
				k = (enum fb_kind)j;
		if (mount_kind(s, k, cols[i].dir_b, true))
			return -1;
	}
	return 0;
}

void fb_setup_unmount_b(struct fb_setup *s)
{
	(void)s;
	for (int i = nmounts - 1; i >= 0; i--) {
		if (!mounts[i].b)
			continue;
		unmount_one(&mounts[i]);
		drop_mount(i);
	}
}

void fb_setup_stop(struct fb_setup *s)
{
	while (nmounts > 0) {
		unmount_one(&mounts[nmounts - 1]);
		nmounts = nmounts - 1;
	}
	stop_server(s);
	undo_all_now();
}
