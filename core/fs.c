// SPDX-License-Identifier: MIT
/* Opening the file system, catching up, attributes. */
#include "fs_int.h"

int ivshm_fs_open(struct ivshm_device *dev, const struct ivshm_fs_opts *o,
		  struct ivshm_fs **out)
{
	struct ivshm_attach_opts ao = { 0 };
	struct ivshm_fs *fs = ivshm_alloc(sizeof(*fs));
	struct ivshm_geom g;
	char why[160];
	int rc;

	if (!fs)
		return -ENOMEM;
	if (o) {
		ao = o->attach;
		fs->on_change = o->on_change;
		fs->on_change_arg = o->on_change_arg;
	}
	fs->dseg = IVSHM_NONE;
	ivshm_mutex_init(&fs->data_mu);
	/*
	 * The index needs the geometry before the first replay: format or
	 * classify first (attach repeats the check and claims a slot).
	 */
	if (ivshm_classify(dev->region, dev->size, &g, why, sizeof(why)) !=
	    IVSHM_REGION_VALID && ivshm_geom_plan(dev->size, ao.format, &g,
						   why, sizeof(why)))
		memset(&g, 0, sizeof(g));
	rc = ivshm_index_init(&fs->x, &g);
	if (rc)
		goto fail;
	ao.apply = ivshm_index_apply;
	ao.reset = ivshm_fs_reset_index;
	ao.apply_arg = &fs->x;
	rc = ivshm_store_attach(dev, &ao, &fs->st);
	if (rc)
		goto fail_index;
	if (fs->x.seg_count != ivshm_store_geom(fs->st)->seg_count) {
		ivshm_log_err("region geometry changed while attaching\n");
		rc = -EIO;
		goto fail_store;
	}
	ivshm_mutex_lock(&fs->st->mu);
	fs->x.self_slot = fs->st->slot;
	fs->x.track = fs->on_change != NULL;
	ivshm_mutex_unlock(&fs->st->mu);
	if (!ivshm_index_get(&fs->x, IVSHM_ROOT_INO)) {
		ivshm_log_err("store has no root directory\n");
		rc = -EIO;
		goto fail_store;
	}
	*out = fs;
	return 0;
fail_store:
	ivshm_store_detach(fs->st);
fail_index:
	ivshm_index_release(&fs->x);
fail:
	ivshm_mutex_destroy(&fs->data_mu);
	ivshm_free(fs);
	return rc;
}

void ivshm_fs_close(struct ivshm_fs *fs)
{
	if (!fs)
		return;
	ivshm_store_detach(fs->st);
	ivshm_index_release(&fs->x);
	ivshm_mutex_destroy(&fs->data_mu);
	ivshm_free(fs);
}

struct ivshm_store *ivshm_fs_store(struct ivshm_fs *fs)
{
	return fs->st;
}

int ivshm_fs_enter(struct ivshm_fs *fs)
{
	int rc;

	ivshm_mutex_lock(&fs->st->mu);
	/* Everything read from here to leave() is protected by the epoch. */
	ivshm_epoch_enter(fs->st);
	rc = fs->st->fenced ? -EIO : ivshm_replay_locked(fs->st);
	if (rc) {
		ivshm_epoch_exit(fs->st);
		ivshm_mutex_unlock(&fs->st->mu);
	}
	return rc;
}

void ivshm_fs_leave(struct ivshm_fs *fs)
{
	struct ivshm_change *chg = NULL;
	uint32_t n = 0;
	bool overflow = false;

	if (fs->x.nchg || fs->x.chg_overflow) {
		chg = fs->x.chg;
		n = fs->x.nchg;
		overflow = fs->x.chg_overflow;
		fs->x.chg = NULL;
		fs->x.nchg = fs->x.chg_cap = 0;
		fs->x.chg_overflow = false;
	}
	ivshm_epoch_exit(fs->st);
	ivshm_mutex_unlock(&fs->st->mu);
	if ((n || overflow) && fs->on_change)
		fs->on_change(fs->on_change_arg, chg, n, overflow);
	ivshm_free(chg);
}

int ivshm_fs_refresh(struct ivshm_fs *fs)
{
	int rc = ivshm_fs_enter(fs);

	if (!rc)
		ivshm_fs_leave(fs);
	return rc;
}

int ivshm_fs_end(struct ivshm_fs *fs, struct ivshm_txn *t, int rc)
{
	if (rc)
		ivshm_txn_abort(t);
	else
		rc = ivshm_txn_commit(t);
	/* Both released the index lock: take it to hand over changes. */
	ivshm_mutex_lock(&fs->st->mu);
	ivshm_epoch_enter(fs->st); /* leave() exits it */
	ivshm_fs_leave(fs);
	if (!rc)
		ivshm_fs_maybe_checkpoint(fs);
	return rc;
}

void ivshm_fs_attr_of(uint64_t ino, const struct ivshm_rec_inode *r,
		      uint64_t blocks, struct ivshm_attr *a)
{
	if (!a)
		return;
	*a = (struct ivshm_attr){
		.ino = ino, .mode = r->mode, .uid = r->uid, .gid = r->gid,
		.nlink = r->nlink, .size = r->size, .rdev = r->rdev,
		.blocks = blocks, .atime = r->atime, .mtime = r->mtime,
		.ctime = r->ctime, .btime = r->btime,
		.generation = r->generation,
	};
}

void ivshm_fs_fill_attr(const struct ivshm_inode *n, struct ivshm_attr *a)
{
	if (!a)
		return;
	a->ino = n->ino;
	a->mode = n->a.mode;
	a->uid = n->a.uid;
	a->gid = n->a.gid;
	a->nlink = n->a.nlink;
	a->size = n->a.size;
	a->rdev = n->a.rdev;
	a->atime = n->a.atime;
	a->mtime = n->a.mtime;
	a->ctime = n->a.ctime;
	a->btime = n->a.btime;
	a->generation = n->a.generation;
	a->blocks = ivshm_is_reg(n) ? (ivshm_extmap_bytes(&n->ext) + 511) / 512
				    : 0;
}

int ivshm_fs_check_name(const char *name, uint32_t *len)
{
	size_t n = strlen(name);

	if (!n)
		return -ENOENT;
	if (n > IVSHM_NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/'))
		return -EINVAL;
	*len = (uint32_t)n;
	return 0;
}

int ivshm_fs_put_inode(struct ivshm_txn *t, uint64_t ino,
		       const struct ivshm_rec_inode *a)
{
	return ivshm_txn_add(t, IVSHM_REC_INODE, ino, a, sizeof(*a), NULL, 0);
}

static uint8_t dtype_of(uint32_t mode)
{
	return (uint8_t)((mode & IVSHM_S_IFMT) >> 12); /* DT_* values */
}

int ivshm_fs_put_dirent(struct ivshm_txn *t, uint64_t dir, const char *name,
			uint32_t len, uint64_t child, uint32_t mode)
{
	struct ivshm_rec_dirent d = { .child = child, .name_len = (uint16_t)len,
				      .dtype = dtype_of(mode) };

	return ivshm_txn_add(t, IVSHM_REC_DIRENT, dir, &d, sizeof(d), name, len);
}

int ivshm_fs_getattr(struct ivshm_fs *fs, uint64_t ino, struct ivshm_attr *a)
{
	struct ivshm_inode *n;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (n)
		ivshm_fs_fill_attr(n, a);
	ivshm_fs_leave(fs);
	return n ? 0 : -ENOENT;
}

int ivshm_fs_statfs(struct ivshm_fs *fs, struct ivshm_statfs *st)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	uint64_t used;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	used = g->seg_count - ivshm_seg_count(fs->st, IVSHM_SEG_FREE);
	st->bsize = 4096;
	st->blocks = (uint64_t)g->seg_count * g->seg_size / 4096;
	st->bfree = (g->seg_count - used) * (uint64_t)g->seg_size / 4096;
	st->files = fs->x.count + (st->bfree * 4096 / 256);
	st->ffree = st->bfree * 4096 / 256;
	st->namemax = IVSHM_NAME_MAX;
	ivshm_fs_leave(fs);
	return 0;
}
