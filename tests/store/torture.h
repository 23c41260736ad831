/* SPDX-License-Identifier: MIT */
/*
 * Shared by the torture tests: an in-memory model of one peer's subtree,
 * random operations on it, their execution against the store with the
 * outcome the model predicts, and a full comparison of the store with the
 * model. The model has fixed-size arrays only, so that it can live in
 * shared memory and be inherited across fork().
 */
#ifndef IVSHM_TORTURE_H
#define IVSHM_TORTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_user.h"
#include "fs.h"

#define T_NODES 64
#define T_NAMES 8		/* names per directory: t_name(0..7) */
#define T_XNAMES 3
#define T_XVAL 40
#define T_FILE_MAX (32u << 10)
#define T_DEAD 8

struct t_node {
	uint8_t used, dir;
	uint16_t nlink;			/* files: names naming it */
	int16_t parent;			/* dirs: the directory naming it */
	int16_t ent[T_NAMES];		/* dirs: child node per name, or -1 */
	uint64_t ino;			/* 0: not known yet (learnt on check) */
	uint64_t gen;
	uint32_t size;
	uint8_t xlen[T_XNAMES];		/* 0xff: no such xattr */
	uint8_t xval[T_XNAMES][T_XVAL];
	uint8_t data[T_FILE_MAX];
};

struct t_dead {
	uint64_t ino, gen;
};

/* Node 0 is the subtree's root directory, which ops never remove. */
struct t_model {
	uint64_t bytes;			/* sum of file sizes */
	uint64_t budget;		/* bytes stays below this */
	unsigned int ndead;
	struct t_dead dead[T_DEAD];	/* inodes this model deleted */
	struct t_node n[T_NODES];
};

enum t_kind {
	T_CREATE, T_MKDIR, T_WRITE, T_TRUNC, T_READ, T_UNLINK, T_RMDIR,
	T_RENAME, T_LINK, T_SETX, T_GETX, T_REMX, T_STALE, T_CKPT, T_CLEAN,
	T_NKINDS
};

/* An operation, self-contained so that it can travel through a pipe. */
struct t_op {
	uint8_t kind, flags, name, name2, xname, pad[3];
	int16_t dir, dir2, node, pad2;
	uint32_t seed, off, len, pad3;
	uint64_t ino, gen;		/* created (learnt), or T_STALE's */
};

struct t_rng {
	uint64_t s;
};

/* Relative weights of the kinds for t_op_random. */
struct t_mix {
	unsigned int w[T_NKINDS];
};

/* Seed: $IVSHM_SEED if set, else @def. Printed once. */
uint64_t t_seed(uint64_t def);
void t_rng_init(struct t_rng *r, uint64_t seed);
uint64_t t_rand(struct t_rng *r);
uint64_t t_below(struct t_rng *r, uint64_t n);

/* Byte @i of the pattern of @seed. */
uint8_t t_byte(uint32_t seed, uint64_t i);
void t_fill(uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len);
const char *t_name(unsigned int i);

void t_model_init(struct t_model *m, uint64_t root_ino, uint64_t budget);
void t_op_random(const struct t_model *m, struct t_rng *r,
		 const struct t_mix *mix, struct t_op *op);
/* True for kinds that change the store (worth an intent/ack). */
bool t_op_mutates(const struct t_op *op);
/* Apply @op to @m as if it succeeded where the model predicts success. */
void t_apply(struct t_model *m, const struct t_op *op);
void t_op_desc(const struct t_model *m, const struct t_op *op, char *buf,
	       size_t n);

/*
 * Run @op on @fs, compare the outcome with the model's prediction, and
 * update the model. 0, or -1 with @why saying what differed.
 */
int t_exec(struct ivshm_fs *fs, struct t_model *m, struct t_op *op,
	   char *why, size_t n);

/*
 * Compare the whole subtree with the model. Nodes of unknown inode number
 * take the one found when @learn is set. 0, or -1 with @why.
 */
int t_check(struct ivshm_fs *fs, struct t_model *m, bool learn, char *why,
	    size_t n);

/*
 * A region file in /dev/shm named with our pid. Unless $IVSHM_KEEP is set
 * it is unlinked at once and reached through @path (/proc/self/fd/N), so
 * that no file is left behind even when the test crashes; with
 * $IVSHM_KEEP a failed run leaves it for inspection.
 */
struct t_region {
	int fd;
	bool keep;
	char name[64];
	char path[64];
};

int t_region_create(struct t_region *rg, const char *tag, uint64_t size);
void t_region_drop(struct t_region *rg, bool failed);
int t_open(const char *path, const char *name, unsigned int lease_ms,
	   bool format, struct ivshm_device **dev, struct ivshm_fs **fs);
void t_close(struct ivshm_device *dev, struct ivshm_fs *fs);
/* ivshm_verify, with the first error and any anomaly in @why. */
int t_verify(struct ivshm_device *dev, char *why, size_t n);
/* How many segments are in each state, for failure messages. */
void t_seg_summary(struct ivshm_device *dev, char *buf, size_t n);
uint64_t t_ckpt_gen(struct ivshm_device *dev);
int64_t t_now_ms(void);

#endif
