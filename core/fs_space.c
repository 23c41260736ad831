// SPDX-License-Identifier: MIT
/*
 * Space for the file system: checkpoints of the index (so the meta log can
 * be freed) and the cleaner (so data segments full of dead bytes can be).
 */
#include "fs_int.h"

/* ---- the index starts over from a checkpoint ---- */

int ivshm_fs_reset_index(void *arg)
{
	struct ivshm_index *x = arg;
	struct ivshm_geom g = { .seg_count = x->seg_count,
				.seg_size = x->seg_size };
	bool track = x->track;
	uint32_t self = x->self_slot;
	int rc;

	ivshm_index_release(x);
	rc = ivshm_index_init(x, &g);
	x->track = track;
	x->self_slot = self;
	/* Every cache must go: we no longer know what changed. */
	x->chg_overflow = true;
	return rc;
}

/* ---- checkpoint: the index as records ---- */

struct emit_ctx {
	struct ivshm_txn *w;
	uint64_t ino;
	int rc;
};

static int emit_extent(void *arg, const struct ivshm_extent *e)
{
	struct emit_ctx *c = arg;
	struct ivshm_rec_extent r = { .file_off = e->off, .len = e->len,
				      .seg = e->seg, .seg_off = e->seg_off,
				      .flags = e->flags };

	c->rc = ivshm_txn_add(c->w, IVSHM_REC_EXTENT, c->ino, &r, sizeof(r),
			      NULL, 0);
	return c->rc;
}

/* Pass 1: each inode with what hangs off it, but not names. */
static int emit_inode(void *arg, struct ivshm_inode *n)
{
	struct emit_ctx *c = arg;
	struct ivshm_txn *w = c->w;
	int rc;

	rc = ivshm_fs_put_inode(w, n->ino, &n->a);
	if (!rc && n->link) {
		struct ivshm_rec_inline il = { .len = n->link_len };

		rc = ivshm_txn_add(w, IVSHM_REC_INLINE, n->ino, &il, sizeof(il),
				   n->link, n->link_len);
	}
	for (uint32_t i = 0; !rc && i < n->nxattrs; i++) {
		struct ivshm_xattr *xa = &n->xattrs[i];
		struct ivshm_rec_xattr h = { .name_len = xa->name_len,
					     .value_len = xa->value_len };
		char *buf = ivshm_alloc(xa->name_len + xa->value_len + 1u);

		if (!buf)
			return -ENOMEM;
		memcpy(buf, xa->name, xa->name_len);
		memcpy(buf + xa->name_len, xa->value, xa->value_len);
		rc = ivshm_txn_add(w, IVSHM_REC_XATTR, n->ino, &h, sizeof(h),
				   buf, xa->name_len + xa->value_len);
		ivshm_free(buf);
	}
	if (!rc && ivshm_is_reg(n)) {
		c->ino = n->ino;
		c->rc = 0;
		ivshm_extmap_walk(&n->ext, emit_extent, c);
		rc = c->rc;
	}
	return rc;
}

/* Pass 2: the names, once every inode they name exists. */
static int emit_names(void *arg, struct ivshm_inode *n)
{
	struct emit_ctx *c = arg;
	int rc = 0;

	if (!ivshm_is_dir(n))
		return 0;
	for (uint32_t i = 0; !rc && i < n->dir->count; i++) {
		struct ivshm_dent *e = n->dir->order[i];
		struct ivshm_rec_dirent d = { .child = e->child,
					      .name_len = e->name_len,
					      .dtype = e->dtype };

		rc = ivshm_txn_add(c->w, IVSHM_REC_DIRENT, n->ino, &d,
				   sizeof(d), e->name, e->name_len);
	}
	return rc;
}

static int emit_index(void *arg, struct ivshm_txn *w)
{
	struct ivshm_fs *fs = arg;
	struct emit_ctx c = { .w = w };
	int rc = ivshm_index_walk(&fs->x, emit_inode, &c);

	return rc ? rc : ivshm_index_walk(&fs->x, emit_names, &c);
}

int ivshm_fs_checkpoint(struct ivshm_fs *fs)
{
	return ivshm_store_checkpoint(fs->st, emit_index, fs);
}

/*
 * Checkpoint once the log has grown by a sixteenth of the segments, or by
 * half the free ones when space is short (the log must not eat the room
 * the cleaner needs). A checkpoint that failed is retried only after the
 * log grew by one more segment, not after every commit.
 */
void ivshm_fs_maybe_checkpoint(struct ivshm_fs *fs)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	struct ivshm_store *s = fs->st;
	uint32_t grown = ivshm_store_meta_growth(s);
	uint32_t limit = g->seg_count / 16, half_free;

	if (grown < 2 || grown < s->ckpt_retry_at)
		return;
	if (grown < limit) {
		half_free = ivshm_seg_count(s, IVSHM_SEG_FREE) / 2;
		if (grown < half_free || half_free >= limit)
			return;
	}
	if (ivshm_fs_checkpoint(fs))
		s->ckpt_retry_at = grown + 1;
	else
		s->ckpt_retry_at = 0;
}

/* ---- the cleaner ---- */

struct victims {
	const uint8_t *is_victim;	/* per segment */
	struct piece *p;
	uint32_t n, cap;
	uint64_t ino;
	int rc;
};

static int collect_extent(void *arg, const struct ivshm_extent *e)
{
	struct victims *v = arg;

	if ((e->flags & IVSHM_EXTENT_ZERO) || !v->is_victim[e->seg])
		return 0;
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 64;
		struct piece *p = ivshm_alloc(cap * sizeof(*p));

		if (!p) {
			v->rc = -ENOMEM;
			return 1;
		}
		if (v->n)
			memcpy(p, v->p, v->n * sizeof(*p));
		ivshm_free(v->p);
		v->p = p;
		v->cap = cap;
	}
	v->p[v->n++] = (struct piece){ v->ino, e->off, e->len, e->seg,
				       e->seg_off };
	return 0;
}

static int collect_inode(void *arg, struct ivshm_inode *n)
{
	struct victims *v = arg;

	if (ivshm_is_reg(n)) {
		v->ino = n->ino;
		ivshm_extmap_walk(&n->ext, collect_extent, v);
	}
	return v->rc;
}

/* Is data segment @i still being filled by a live peer (or by us)? */
static bool is_open(struct ivshm_fs *fs, uint32_t i)
{
	if (ivshm_fs_is_pinned(fs, i))
		return true;
	for (uint32_t k = 0; k < fs->st->g.peer_slots; k++) {
		struct ivshm_slot *sl = ivshm_slot_at(fs->st->region, k);

		if (ivshm_slot_state(ivshm_load_acquire(&sl->gen_state)) ==
			    IVSHM_SLOT_ALIVE &&
		    sl->data_seg == i)
			return true;
	}
	return false;
}

/*
 * Pick up to @max victims by cost-benefit, (1 - u) * age / (1 + u) with u
 * the live fraction (LFS): cheap to clean, and cold enough not to be
 * emptied by overwrites anyway. Returns the count. Index lock held.
 */
static unsigned int pick_victims(struct ivshm_fs *fs, uint8_t *is_victim,
				 unsigned int max)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	uint64_t head = fs->st->cur.seq;
	/* What may be copied: the free segments the cleaner may use. */
	uint32_t nfree = ivshm_seg_count(fs->st, IVSHM_SEG_FREE);
	uint64_t budget = nfree > 1 ? (uint64_t)(nfree - 1) * g->seg_size : 0;
	unsigned int n = 0;

	for (unsigned int round = 0; round < max; round++) {
		uint64_t best_score = 0;
		uint32_t best = IVSHM_NONE;

		for (uint32_t i = 0; i < g->seg_count; i++) {
			struct ivshm_seg_entry *e =
				ivshm_seg_entry_at(fs->st->region, g, i);
			int64_t live = fs->x.seg_live[i];
			uint64_t age, score;

			if (is_victim[i] || e->state != IVSHM_SEG_DATA ||
			    live < 0 || live >= (int64_t)g->seg_size ||
			    (uint64_t)live > budget || is_open(fs, i))
				continue;
			age = head >= e->alloc_seq ? head - e->alloc_seq + 1 : 1;
			score = ((uint64_t)g->seg_size - (uint64_t)live) *
				(age > 1000000 ? 1000000 : age) /
				((uint64_t)g->seg_size + (uint64_t)live);
			if (score >= best_score) {
				best_score = score;
				best = i;
			}
		}
		if (best == IVSHM_NONE)
			break;
		is_victim[best] = 1;
		budget -= (uint64_t)fs->x.seg_live[best];
		n++;
	}
	return n;
}

/*
 * Retire the victims left with nothing live. Under the store lock with the
 * index replayed to the head, so every committed extent counts; writes
 * still in flight into a victim notice at their commit (chunks_intact).
 */
static unsigned int retire_empty(struct ivshm_fs *fs, const uint8_t *is_victim)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	unsigned int freed = 0;
	struct ivshm_txn *t;

	if (ivshm_txn_begin(fs->st, &t))
		return 0;
	for (uint32_t i = 0; i < g->seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(fs->st->region,
							       g, i);

		if (!is_victim[i] || fs->x.seg_live[i] ||
		    (uint32_t)ivshm_load_acquire((uint64_t *)(void *)e) !=
			    IVSHM_SEG_DATA)
			continue;
		if (is_open(fs, i))
			continue;
		ivshm_seg_retire(fs->st, i);
		freed++;
	}
	if (freed)
		ivshm_epoch_advance(fs->st);
	ivshm_fs_end(fs, t, -EAGAIN); /* nothing to publish */
	return freed;
}

int ivshm_fs_clean(struct ivshm_fs *fs, unsigned int max_victims)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	struct victims v = { 0 };
	uint8_t *is_victim = ivshm_alloc(g->seg_count);
	unsigned int nv, freed;
	int rc;

	if (!is_victim)
		return -ENOMEM;
	v.is_victim = is_victim;
	rc = ivshm_fs_enter(fs);
	if (rc)
		goto out;
	nv = pick_victims(fs, is_victim, max_victims);
	if (nv)
		ivshm_index_walk(&fs->x, collect_inode, &v);
	ivshm_fs_leave(fs);
	rc = v.rc;
	if (rc || !nv)
		goto out;
	/* Wholly dead victims first: they need no room to move anything. */
	freed = retire_empty(fs, is_victim);
	rc = ivshm_fs_move_pieces(fs, v.p, v.n);
	freed += retire_empty(fs, is_victim);
	if (freed || !rc)
		rc = (int)freed;
out:
	ivshm_free(v.p);
	ivshm_free(is_victim);
	return rc;
}
