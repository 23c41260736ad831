/* SPDX-License-Identifier: MIT */
/*
 * Test harness: real ivshm-fuse mounts. A mount runs the daemon in the
 * foreground as a child process on a fresh mount point; mnt_stop unmounts
 * it (or mnt_kill kills it with SIGKILL, as a crash would).
 */
#ifndef IVSHM_TEST_MNT_H
#define IVSHM_TEST_MNT_H

#include <stdbool.h>
#include <sys/types.h>

struct mnt {
	char dir[128];	/* the mount point */
	pid_t pid;	/* the daemon */
};

/* The daemon binary: $IVSHM_FUSE or the build's bin/ivshm-fuse. */
const char *mnt_daemon(void);

/*
 * A blank region file of @size bytes at /dev/shm/@name (replaced if it
 * exists); returns its path in a static buffer per call site.
 */
int mnt_region(const char *path, unsigned long long size);

/*
 * Mount @source ("region=/dev/shm/x" or "socket=/path") with extra -o
 * options @opts (may be NULL). 0, or -1 after printing why.
 */
int mnt_start(struct mnt *m, const char *source, const char *opts);
int mnt_stop(struct mnt *m);	/* unmount cleanly; 0 if the daemon exited 0 */
void mnt_kill(struct mnt *m);	/* SIGKILL the daemon, then detach the mount */

#endif
