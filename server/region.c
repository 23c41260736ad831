// SPDX-License-Identifier: MIT
/*
 * The region file: created at the requested size, or reused exactly as it
 * is. It holds users' data, so the server never shrinks, grows, truncates or
 * deletes an existing one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_int.h"
#include "../core/units.h"

static int open_region_fd(const struct ivshm_server_config *cfg,
			  struct srv_region *r)
{
	struct stat st;
	int fd;

	if (cfg->shm_dir) {
		if (stat(cfg->shm_dir, &st) || !S_ISDIR(st.st_mode)) {
			srv_log(true, "-m %s: not a directory\n", cfg->shm_dir);
			return -1;
		}
		snprintf(r->path, sizeof(r->path), "%s/%s", cfg->shm_dir,
			 cfg->shm_name);
		fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	} else {
		snprintf(r->path, sizeof(r->path), "/dev/shm/%s",
			 cfg->shm_name);
		fd = shm_open(cfg->shm_name, O_RDWR | O_CREAT | O_CLOEXEC,
			      0600);
	}
	if (fd < 0)
		srv_log(true, "cannot open region %s: %s\n", r->path,
			strerror(errno));
	return fd;
}

int srv_region_open(const struct ivshm_server_config *cfg,
		    struct srv_region *r)
{
	char have[32], want[32], next[32];
	struct stat st;

	r->fd = open_region_fd(cfg, r);
	if (r->fd < 0)
		return -1;
	if (fstat(r->fd, &st)) {
		srv_log(true, "cannot stat region %s: %s\n", r->path,
			strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		srv_log(true, "region %s is not a regular file\n", r->path);
		goto fail;
	}
	ivshm_format_size(cfg->size, want, sizeof(want));
	if (st.st_size == 0) {
		/* New region: give it the size asked for, owner-only. */
		if (ftruncate(r->fd, (off_t)cfg->size)) {
			srv_log(true, "cannot size region %s to %s: %s%s\n",
				r->path, want, strerror(errno),
				cfg->shm_dir ? " (on hugetlbfs the size must be "
					       "a multiple of the huge page "
					       "size)" : "");
			goto fail;
		}
		if (cfg->group_given &&
		    (fchown(r->fd, (uid_t)-1, cfg->group) ||
		     fchmod(r->fd, 0660))) {
			srv_log(true, "cannot grant group %u on %s: %s\n",
				(unsigned int)cfg->group, r->path,
				strerror(errno));
			goto fail;
		}
		r->size = cfg->size;
		r->created = true;
		srv_log(false, "created region %s (%s)\n", r->path, want);
		return 0;
	}
	r->size = (uint64_t)st.st_size;
	ivshm_format_size(r->size, have, sizeof(have));
	if (r->size < 4096 || !ivshm_is_pow2(r->size)) {
		ivshm_format_size_flag(ivshm_pow2_ceil(r->size < 4096 ? 4096 :
						       r->size), next, sizeof(next));
		srv_log(true, "existing region %s is %s: QEMU needs a power of "
			"two of at least 4K (e.g. -l %s on a new region); refusing to serve it\n",
			r->path, have, next);
		goto fail;
	}
	if (cfg->size_given && r->size != cfg->size) {
		srv_log(true, "region %s already exists with %s of data; -l %s "
			"would change it. Use -l %s (or leave -l out), or "
			"another -M name\n", r->path, have, want,
			ivshm_format_size_flag(r->size, next, sizeof(next)));
		goto fail;
	}
	srv_log(false, "reusing region %s (%s) as it is\n", r->path, have);
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -1;
}
