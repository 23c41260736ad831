/* SPDX-License-Identifier: MIT */
/* The file system's private state, shared by core/fs*.c. Not an API. */
#ifndef IVSHM_FS_INT_H
#define IVSHM_FS_INT_H

#include "fs.h"
#include "store_int.h"

struct ivshm_fs {
	struct ivshm_store *st;
	struct ivshm_index x;		/* guarded by st->mu */
	ivshm_change_fn on_change;
	void *on_change_arg;

	ivshm_mutex data_mu;		/* our open data segment */
	uint32_t dseg;			/* IVSHM_NONE: none open */
	uint32_t dseg_used;
	uint64_t dseg_stamp;		/* its claim stamp */
	int64_t last_reap_ms;		/* when we last looked for the dead */
	/* Segments holding our reservations not yet committed: never
	 * victims of our own cleaner. Protected by data_mu. */
	uint32_t pin_seg[64];
	uint32_t pin_count[64];
};

/* Lock the index, brought up to date. */
int ivshm_fs_enter(struct ivshm_fs *fs);
/* Unlock, then hand others' changes to on_change. */
void ivshm_fs_leave(struct ivshm_fs *fs);

void ivshm_fs_fill_attr(const struct ivshm_inode *n, struct ivshm_attr *a);
/*
 * Attributes as an operation's own INODE record states them: what it
 * returns, even if another peer changed the inode right after.
 */
void ivshm_fs_attr_of(uint64_t ino, const struct ivshm_rec_inode *r,
		      uint64_t blocks, struct ivshm_attr *a);

/* 0 if @name can be a directory entry, with its length in @len. */
int ivshm_fs_check_name(const char *name, uint32_t *len);

/* Append an INODE record with @n's attributes changed to @a. */
int ivshm_fs_put_inode(struct ivshm_txn *t, uint64_t ino,
		       const struct ivshm_rec_inode *a);
int ivshm_fs_put_dirent(struct ivshm_txn *t, uint64_t dir, const char *name,
			uint32_t len, uint64_t child, uint32_t mode);

/*
 * End a transaction: abort it if @rc is an error, else commit it (the index
 * then holds the result); report others' changes. Returns the outcome.
 */
int ivshm_fs_end(struct ivshm_fs *fs, struct ivshm_txn *t, int rc);

/* A run of file bytes at a place in the region (the cleaner's unit). */
struct piece {
	uint64_t ino, off;
	uint32_t len, seg, seg_off;
};

/* fs_data.c: copy @p elsewhere and commit conditional MOVE records. */
int ivshm_fs_move_pieces(struct ivshm_fs *fs, const struct piece *p,
			 uint32_t n);

/* fs_data.c: has our own write an uncommitted reservation in @seg? */
bool ivshm_fs_is_pinned(struct ivshm_fs *fs, uint32_t seg);

/* fs_space.c */
int ivshm_fs_reset_index(void *arg);
void ivshm_fs_maybe_checkpoint(struct ivshm_fs *fs);

#endif
