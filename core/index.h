/* SPDX-License-Identifier: MIT */
/*
 * A peer's private index of the store: inodes by number, names per
 * directory, extents per file, xattrs, symlink targets. Built only by
 * applying committed records in log order (ivshm_index_apply), so every
 * peer that replayed the same log holds the same index. Records that are
 * well formed but make no sense (a name in a missing directory, ...) are
 * counted as anomalies and skipped, the same way on every peer.
 *
 * Not thread-safe: the store's mutex guards it.
 */
#ifndef IVSHM_INDEX_H
#define IVSHM_INDEX_H

#include "extmap.h"
#include "log.h"

struct ivshm_dent {
	uint64_t child;
	uint64_t cookie;	/* readdir position, grows per directory */
	uint16_t name_len;
	uint8_t dtype;
	char name[];		/* not NUL-terminated */
};

struct ivshm_dir {
	struct ivshm_dent **hash; /* open addressing by name */
	uint32_t hash_cap, count;
	struct ivshm_dent **order; /* by cookie, for readdir */
	uint32_t order_cap;
	uint64_t next_cookie;
};

struct ivshm_xattr {
	uint16_t name_len;
	uint32_t value_len;
	char *name;
	void *value;
};

struct ivshm_inode {
	uint64_t ino;
	struct ivshm_rec_inode a;	/* attributes as last recorded */
	struct ivshm_extmap ext;	/* regular files */
	struct ivshm_dir *dir;		/* directories */
	char *link;			/* symlinks: target */
	uint32_t link_len;
	uint32_t nxattrs;
	struct ivshm_xattr *xattrs;
	uint64_t seq;			/* last record that changed it */
	uint64_t parent;		/* directories: where they are named */
};

enum ivshm_change_kind {
	IVSHM_CHG_ATTR,	 /* attributes of ino */
	IVSHM_CHG_DATA,	 /* bytes [off, off+len) of ino */
	IVSHM_CHG_NAME,	 /* name in directory ino (added, removed, replaced) */
	IVSHM_CHG_GONE,	 /* ino deleted */
};

struct ivshm_change {
	uint8_t kind;
	uint16_t name_len;
	uint64_t ino;
	uint64_t off, len;	/* DATA */
	uint64_t child;		/* NAME: the child it named (0 if none) */
	char name[IVSHM_NAME_MAX + 1];
};

struct ivshm_index {
	struct ivshm_inode **tab;	/* open addressing by ino */
	uint64_t cap, count;
	uint64_t max_ino;
	uint32_t seg_count, seg_size;
	int64_t *seg_live;		/* live data bytes per segment */
	uint64_t anomalies;
	uint64_t records;

	/* Changes made by other peers, for cache invalidation. */
	bool track;
	uint32_t self_slot;
	struct ivshm_change *chg;
	uint32_t nchg, chg_cap;
	bool chg_overflow;		/* too many: invalidate everything */
};

int ivshm_index_init(struct ivshm_index *x, const struct ivshm_geom *g);
void ivshm_index_release(struct ivshm_index *x);

/* The store's apply callback: @arg is the index. 0 or -ENOMEM. */
int ivshm_index_apply(void *arg, const struct ivshm_rec *r);

struct ivshm_inode *ivshm_index_get(const struct ivshm_index *x, uint64_t ino);
struct ivshm_dent *ivshm_dir_lookup(const struct ivshm_dir *d,
				    const char *name, uint32_t len);
/* The first entry with cookie > @cookie, or NULL. */
struct ivshm_dent *ivshm_dir_next(const struct ivshm_dir *d, uint64_t cookie);

/* Iterate over every inode (order unspecified); stop on non-zero. */
int ivshm_index_walk(const struct ivshm_index *x,
		     int (*fn)(void *arg, struct ivshm_inode *ino), void *arg);

static inline bool ivshm_is_dir(const struct ivshm_inode *i)
{
	return (i->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR;
}

static inline bool ivshm_is_reg(const struct ivshm_inode *i)
{
	return (i->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFREG;
}

static inline bool ivshm_is_lnk(const struct ivshm_inode *i)
{
	return (i->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFLNK;
}

#endif
