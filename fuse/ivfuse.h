/* SPDX-License-Identifier: MIT */
/* ivshm-fuse internals, shared by the files of fuse/. */
#ifndef IVSHM_FUSE_H
#define IVSHM_FUSE_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>

#include "dev_user.h"
#include "fs.h"

struct ivfuse {
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct fuse_session *se;
	double timeout;		/* entry and attribute cache, seconds */
	bool debug;

	/* What the kernel holds: lookups and open files, per inode. */
	pthread_mutex_t ino_mu;
	struct ivf_ino **ino_tab; /* protected by ino_mu */
	size_t ino_cap, ino_count;

	/* Others' changes, queued for the doorbell thread to pass on. */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cond;
	struct ivshm_change *q;	/* protected by q_mu */
	unsigned int q_len, q_cap;
	bool q_all;		/* too many, or a reload: drop everything */
	bool stop;
	pthread_t bell;		/* the doorbell thread */
	bool bell_running;
};

struct ivf_ino {
	uint64_t ino;
	uint64_t nlookup;	/* kernel references, released by forget */
	uint64_t nopen;		/* open files and directories */
};

/* inodes.c: the kernel's references, by inode number */
int ivf_ino_init(struct ivfuse *f);
void ivf_ino_release(struct ivfuse *f);
void ivf_ino_lookup(struct ivfuse *f, uint64_t ino);
void ivf_ino_forget(struct ivfuse *f, uint64_t ino, uint64_t n);
void ivf_ino_open(struct ivfuse *f, uint64_t ino);
/* Returns true when that was the last open and nobody links it. */
bool ivf_ino_close(struct ivfuse *f, uint64_t ino);
bool ivf_ino_is_open(struct ivfuse *f, uint64_t ino);
bool ivf_ino_known(struct ivfuse *f, uint64_t ino);
/* Every inode the kernel knows, into a fresh array (free it). */
uint64_t *ivf_ino_all(struct ivfuse *f, size_t *n);

/* inval.c: from store changes to kernel cache invalidations */
void ivf_on_change(void *arg, const struct ivshm_change *c, unsigned int n,
		   bool overflow);
int ivf_bell_start(struct ivfuse *f);
void ivf_bell_stop(struct ivfuse *f);

/* ops.c */
extern const struct fuse_lowlevel_ops ivf_ops;

#endif
