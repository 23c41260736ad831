/* SPDX-License-Identifier: MIT */
/*
 * ivshm-bench-fuse: ivshm-fuse beside tmpfs and libfuse's passthrough_ll,
 * through the POSIX calls applications make. Shared declarations.
 */
#ifndef IVSHM_BENCH_FUSE_H
#define IVSHM_BENCH_FUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Paths: the work directory is short, so that what is built on it fits. */
#define FB_WORK_MAX 256
#define FB_PATH_MAX 512

/* The rows of the table, in order. */
enum fb_row {
	FB_SEQ_WRITE,
	FB_SEQ_READ_COLD,
	FB_SEQ_READ_WARM,
	FB_RAND_WRITE,
	FB_RAND_READ_COLD,
	FB_RAND_READ_WARM,
	FB_CREATE,
	FB_STAT_COLD,
	FB_READDIR_COLD,
	FB_READ_COLD,
	FB_STAT_WARM,
	FB_READDIR_WARM,
	FB_READ_WARM,
	FB_UNLINK,
	FB_TREE_COPY,
	FB_TREE_REMOVE,
	FB_A2B_MEDIAN,
	FB_A2B_P99,
	FB_NROWS
};

struct fb_rowdef {
	const char *key;	/* for RESULT lines */
	const char *label;	/* for the table */
	const char *unit;
	bool lower_better;	/* a time, not a rate */
	bool warm;		/* served from caches: within 2x of tmpfs */
};

extern const struct fb_rowdef fb_rows[FB_NROWS];

/* Parts, each filling some rows. */
enum fb_part { FB_P_SEQ, FB_P_RAND, FB_P_FILES, FB_P_TREE, FB_P_A2B,
	       FB_NPARTS };

extern const char *const fb_part_name[FB_NPARTS];

struct fb_cfg {
	bool quick;
	unsigned int parts;	/* bit per enum fb_part */
	unsigned int rounds;
	uint64_t seq_bytes;	/* the sequential file */
	uint64_t rand_bytes;	/* the random-access file */
	unsigned long rand_ops;	/* distinct pages per random row */
	unsigned long files;	/* small files */
	const char *tree;	/* copied in and removed */
	unsigned long a2b_iters;
	double a2b_budget_s;	/* per column */
	double a2b_timeout_s;	/* per sample */
	unsigned int a2b_gap_us; /* writer's pause after each sample */
};

/* One file system under test. */
struct fb_col {
	const char *label;
	char dir[FB_PATH_MAX];	/* mount A: where every row runs */
	char dir_b[FB_PATH_MAX];	/* mount B of the same store (A->B row) */
	bool has_b;		/* dir_b is a mount of its own */
};

/* Where a measurement failed; empty when it did not. */
struct fb_err {
	char msg[256];
};

void fb_fail(struct fb_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* sync, then drop the page, dentry and inode caches. 0 or -1. */
int fb_drop_caches(struct fb_err *e);
double fb_now(void); /* CLOCK_MONOTONIC, seconds */

/*
 * The parts, on one directory. Each writes its rows into @out (indexed by
 * enum fb_row) and returns 0, or -1 with @e filled in.
 */
int fb_seq(const struct fb_cfg *c, const char *dir, double *out,
	   struct fb_err *e);
int fb_rand(const struct fb_cfg *c, const char *dir, double *out,
	    struct fb_err *e);
int fb_files(const struct fb_cfg *c, const char *dir, double *out,
	     struct fb_err *e);
int fb_tree(const struct fb_cfg *c, const char *dir, double *out,
	    struct fb_err *e);

/* A->B: what fb_a2b measured, besides the two rows. */
struct fb_a2b_info {
	unsigned long n;	/* samples */
	unsigned long early;	/* B saw it before A's pwrite returned */
	unsigned long timeouts;
	unsigned long over_1ms, over_10ms; /* samples slower than that */
	double p90_us, p999_us, max_us;
};

int fb_a2b(const struct fb_cfg *c, const struct fb_col *col, double *out,
	   struct fb_a2b_info *info, struct fb_err *e);

/* Mounts, the doorbell server and the region: fuse_mount.c. */
struct fb_setup {
	char work[FB_WORK_MAX];	/* mount points, socket, logs */
	const char *passthrough; /* passthrough_ll binary, or NULL */
	uint64_t region_size;
	char region[FB_PATH_MAX];	/* region file of the plain-mode column */
	char srv_shm[128];	/* the server's region name in /dev/shm */
	char sock[FB_PATH_MAX];
};

int fb_setup_start(struct fb_setup *s, unsigned int cols_wanted,
		   struct fb_col *cols, unsigned int *ncols);
/* Mount each column's B (a second mount of the same store). */
int fb_setup_mount_b(struct fb_setup *s, struct fb_col *cols,
		     unsigned int ncols);
void fb_setup_unmount_b(struct fb_setup *s);
void fb_setup_stop(struct fb_setup *s);
void fb_setup_signals(void);

/* Columns that can be asked for (-C). */
enum fb_kind { FB_K_IVSHM, FB_K_IVSHM_SOCK, FB_K_TMPFS, FB_K_PT, FB_NKINDS };

extern const char *const fb_kind_label[FB_NKINDS];

#endif
