/* SPDX-License-Identifier: MIT */
/*
 * ivshm-bench-store: the store's figures (append throughput, attach time,
 * cleaner write amplification, commit-to-replay latency, index memory),
 * each beside a baseline measured in the same run. One file per part;
 * this header holds what they share: options, regions, the result table.
 */
#ifndef IVSHM_BENCH_STORE_H
#define IVSHM_BENCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_util.h"
#include "dev_user.h"
#include "fs.h"
#include "verify.h"

enum sb_part {
	SB_APPEND,
	SB_ATTACH,
	SB_CLEAN,
	SB_LATENCY,
	SB_INDEX,
	SB_NPARTS
};

extern const char *const sb_part_name[SB_NPARTS];

struct sb_opts {
	uint64_t region;	/* -r: append, attach and index regions */
	uint64_t total;		/* -t: bytes appended per append case */
	uint64_t clean_region;	/* -c: the cleaner's region */
	unsigned long records;	/* -n: records in the attach region */
	unsigned long iters;	/* -i: commit-to-replay samples per mode */
	unsigned long files;	/* -f: files for index memory */
	unsigned long extents;	/* -e: extents for index memory */
	unsigned int parts;	/* -s: bit per enum sb_part */
	bool quick;		/* -q */
	int cpu[2];		/* latency: writer and reader CPUs, or -1 */
};

/* ---- the result table (store_main.c) ---- */

enum sb_target {
	SB_T_NONE,	/* informative only */
	SB_T_MIN,	/* met when value >= target */
	SB_T_MAX,	/* met when value <= target */
	SB_T_MIN_RATIO,	/* met when value / baseline >= target */
};

/*
 * One row: @value is ivshm's figure, @base the baseline's (or a negative
 * number for none); @extra more key=value pairs for the RESULT line.
 */
void sb_row(const char *key, const char *label, const char *unit,
	    double value, double base, enum sb_target kind, double target,
	    const char *extra_fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* A part failed: shown in the table and the exit status. */
void sb_fail(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- regions in /dev/shm (store_main.c) ---- */

/* "/dev/shm/ivshm-bench-store-PID-TAG", registered for cleanup. */
void sb_shm_path(char *buf, size_t len, const char *tag);

/*
 * (Re)create the region file @path of @size bytes, all zero, and map it
 * as a plain ivshm device whose every page is already faulted in (so
 * that what is timed later is copying, not page faults). 0 or -1.
 */
int sb_region_new(const char *path, uint64_t size, struct ivshm_device **dev);

/* Map @path again as a fresh plain device (a new peer). 0 or -1. */
int sb_region_open(const char *path, struct ivshm_device **dev);

/* Open the file system on @dev, formatting it if blank. 0 or -1. */
int sb_fs_open(struct ivshm_device *dev, const char *name,
	       struct ivshm_fs **fs);

/* Create a regular file in the root; its inode number, or 0. */
uint64_t sb_create(struct ivshm_fs *fs, const char *name);

/* ivshm_verify() of the region; 0, or -1 after printing the error. */
int sb_verify(const char *what, struct ivshm_device *dev,
	      struct ivshm_verify_report *rep);

/* ---- small helpers ---- */

static inline uint64_t sb_rand(uint64_t *s)
{
	/* xorshift64*: cheap, and the same sequence every run */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline double sb_gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0;
}

/* Bytes allocated by malloc right now (mallinfo2: arenas + mmapped). */
uint64_t sb_heap_bytes(void);

/* ---- the parts ---- */

int sb_append(const struct sb_opts *o);
int sb_attach(const struct sb_opts *o);
int sb_clean(const struct sb_opts *o);
int sb_latency(const struct sb_opts *o);
int sb_index(const struct sb_opts *o);

#endif
