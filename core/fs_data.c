// SPDX-License-Identifier: MIT
/*
 * File data. A write copies its bytes into this peer's open data segment
 * with no lock held, then commits extent records pointing at them: other
 * peers can only reach the bytes after the commit, so they never see them
 * half written. Reads copy out of the region through the private index.
 */
#include "fs_int.h"

#define MAX_CHUNKS 32
/*
 * Free segments writes leave alone: two for the meta log (rm must work on
 * a full store) and one for the cleaner, which may use all but the last
 * (moving a victim's live bytes always takes less than it frees).
 */
#define DATA_KEEP_FREE 3
#define CLEAN_KEEP_FREE 1
/* Below this many free segments (beyond the kept ones), writes clean. */
#define CLEAN_START 3
/* Larger writes are split into atomic pieces of this size. */
#define ATOMIC_WRITE_MAX (64ull << 20)

struct chunk {
	uint32_t seg, off, len;
	uint64_t stamp;	/* the segment's claim stamp when reserved */
};

/* Pin segment @seg while a reservation in it is in flight (data_mu). */
static void pin(struct ivshm_fs *fs, uint32_t seg)
{
	unsigned int i, free_i = 64;

	for (i = 0; i < 64; i++) {
		if (fs->pin_count[i] && fs->pin_seg[i] == seg) {
			fs->pin_count[i]++;
			return;
		}
		if (!fs->pin_count[i] && free_i == 64)
			free_i = i;
	}
	/* More than 64 segments in flight: the commit check still guards. */
	if (free_i < 64) {
		fs->pin_seg[free_i] = seg;
		fs->pin_count[free_i] = 1;
	}
}

static void unpin_all(struct ivshm_fs *fs, const struct chunk *c,
		      unsigned int n)
{
	ivshm_mutex_lock(&fs->data_mu);
	for (unsigned int k = 0; k < n; k++)
		for (unsigned int i = 0; i < 64; i++)
			if (fs->pin_count[i] && fs->pin_seg[i] == c[k].seg) {
				fs->pin_count[i]--;
				break;
			}
	ivshm_mutex_unlock(&fs->data_mu);
}

bool ivshm_fs_is_pinned(struct ivshm_fs *fs, uint32_t seg)
{
	bool pinned = false;

	ivshm_mutex_lock(&fs->data_mu);
	for (unsigned int i = 0; i < 64 && !pinned; i++)
		pinned = fs->pin_count[i] && fs->pin_seg[i] == seg;
	ivshm_mutex_unlock(&fs->data_mu);
	return pinned;
}

/*
 * Reserve up to @len bytes of data space as at most @max chunks; returns
 * the bytes reserved (maybe fewer), or -ENOSPC.
 */
static int64_t reserve(struct ivshm_fs *fs, uint64_t len, struct chunk *c,
		       unsigned int *n, unsigned int max, uint32_t keep_free)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	uint64_t got = 0;
	int rc = 0;

	ivshm_mutex_lock(&fs->data_mu);
	while (got < len && *n < max) {
		uint32_t take;

		if (fs->dseg == IVSHM_NONE || fs->dseg_used == g->seg_size) {
			struct ivshm_slot *sl = ivshm_slot_at(fs->st->region,
							      fs->st->slot);
			uint32_t seg;

			rc = ivshm_seg_claim(fs->st, IVSHM_SEG_DATA,
					     fs->st->slot,
					     ivshm_store_head(fs->st) + 1,
					     keep_free, &sl->data_seg, &seg);
			if (rc)
				break;
			fs->dseg = seg;
			fs->dseg_used = 0;
			fs->dseg_stamp = ivshm_seg_entry_at(fs->st->region, g,
							    seg)->free_epoch;
		}
		take = g->seg_size - fs->dseg_used;
		if (take > len - got)
			take = (uint32_t)(len - got);
		c[(*n)++] = (struct chunk){ fs->dseg, fs->dseg_used, take,
					    fs->dseg_stamp };
		pin(fs, fs->dseg);
		fs->dseg_used += take;
		ivshm_seg_entry_at(fs->st->region, g, fs->dseg)->used =
			fs->dseg_used;
		got += take;
	}
	ivshm_mutex_unlock(&fs->data_mu);
	return got ? (int64_t)got : rc;
}

/* Does the open data segment hold @len more bytes without a claim? */
static bool fits_open_segment(struct ivshm_fs *fs, uint64_t len)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	bool fits;

	ivshm_mutex_lock(&fs->data_mu);
	fits = fs->dseg != IVSHM_NONE && g->seg_size - fs->dseg_used >= len;
	ivshm_mutex_unlock(&fs->data_mu);
	return fits;
}

/*
 * Reserve all of @len, cleaning when space runs short. The chunks of a
 * reservation that fails are simply dead bytes for the cleaner.
 */
static int reserve_all(struct ivshm_fs *fs, uint64_t len, struct chunk **cp,
		       unsigned int *n, unsigned int *max, uint32_t keep_free)
{
	uint64_t got = 0;
	int cleaned;

	*n = 0;
	/* Claims are rare: only then is it worth looking at free space. */
	if (!fits_open_segment(fs, len) &&
	    ivshm_seg_count(fs->st, IVSHM_SEG_FREE) < CLEAN_START + keep_free) {
		ivshm_seg_reclaim(fs->st);
		if (ivshm_seg_count(fs->st, IVSHM_SEG_FREE) < CLEAN_START + keep_free)
			ivshm_fs_clean(fs, 4);
	}
	while (got < len) {
		int64_t r;

		/* Cleaning fills the open segment too: pieces can be small. */
		if (*n == *max) {
			struct chunk *bigger = ivshm_alloc(2 * *max *
							   sizeof(*bigger));

			if (!bigger)
				return -ENOMEM;
			memcpy(bigger, *cp, *n * sizeof(*bigger));
			ivshm_free(*cp);
			*cp = bigger;
			*max *= 2;
		}
		r = reserve(fs, len - got, *cp, n, *max, keep_free);
		if (r > 0) {
			got += (uint64_t)r;
			continue;
		}
		if (r != -ENOSPC)
			return r ? (int)r : -ENOSPC;
		/*
		 * Full: peers that died may pin segments (look once); make
		 * the log give back what it can, and clean as long as that
		 * frees something.
		 */
		if (ivshm_mono_ms() - fs->last_reap_ms >
		    (int64_t)fs->st->lease_ms) {
			/* At most once a lease: live peers prove themselves
			 * only at their heartbeat, and writers must not wait. */
			ivshm_store_reap_dead(fs->st);
			fs->last_reap_ms = ivshm_mono_ms();
		}
		ivshm_fs_maybe_checkpoint(fs);
		cleaned = ivshm_fs_clean(fs, 8);
		if (!ivshm_seg_reclaim(fs->st) && cleaned <= 0)
			return -ENOSPC;
	}
	return 0;
}

/*
 * Under the store lock: are the chunks still in segments we claimed, and
 * claimed in the same life? A cleaner on another peer may have retired a
 * segment whose extents it could not see yet (our write was in flight).
 */
static bool chunks_intact(struct ivshm_fs *fs, const struct chunk *c,
			  unsigned int n)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);

	for (unsigned int i = 0; i < n; i++) {
		struct ivshm_seg_entry *e =
			ivshm_seg_entry_at(fs->st->region, g, c[i].seg);

		if (e->state != IVSHM_SEG_DATA || e->owner != fs->st->slot ||
		    e->free_epoch != c[i].stamp)
			return false;
	}
	return true;
}

/* Our open segment was taken back: stop filling it. */
static void drop_lost_segment(struct ivshm_fs *fs)
{
	struct chunk c;

	ivshm_mutex_lock(&fs->data_mu);
	c = (struct chunk){ .seg = fs->dseg, .stamp = fs->dseg_stamp };
	if (fs->dseg != IVSHM_NONE && !chunks_intact(fs, &c, 1))
		fs->dseg = IVSHM_NONE;
	ivshm_mutex_unlock(&fs->data_mu);
}

/*
 * Begin the transaction that commits @c: 0 with the store lock held, or
 * -EAGAIN when the space was taken back meanwhile (copy again), or -errno.
 */
static int begin_on_chunks(struct ivshm_fs *fs, const struct chunk *c,
			   unsigned int nc, struct ivshm_txn **t)
{
	int rc = ivshm_txn_begin(fs->st, t);

	if (rc)
		return rc;
	if (chunks_intact(fs, c, nc))
		return 0;
	ivshm_fs_end(fs, *t, -EAGAIN);
	drop_lost_segment(fs);
	return -EAGAIN;
}

static int check_file(struct ivshm_inode *n)
{
	if (!n)
		return -ENOENT;
	if (ivshm_is_dir(n))
		return -EISDIR;
	return ivshm_is_reg(n) ? 0 : -EINVAL;
}

/* One write, all or nothing: every byte reserved before the commit. */
static int write_atomic(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
			const char *buf, uint64_t len)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	unsigned int max = (unsigned int)(len / g->seg_size) + 2, nc = 0;
	struct chunk *c = ivshm_alloc(max * sizeof(*c));
	struct ivshm_rec_inode na;
	struct ivshm_inode *n;
	struct ivshm_txn *t;
	uint64_t pos = 0;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = reserve_all(fs, len, &c, &nc, &max, DATA_KEEP_FREE);
	if (rc)
		goto out;
	for (unsigned int i = 0; i < nc; i++) {
		char *dst = ivshm_seg_at(fs->st->region, g, c[i].seg) + c[i].off;

		IVSHM_FAULT_POINT("file data", dst, buf + pos, c[i].len);
		memcpy(dst, buf + pos, c[i].len);
		pos += c[i].len;
	}
	rc = begin_on_chunks(fs, c, nc, &t);
	if (rc)
		goto out;
	n = ivshm_index_get(&fs->x, ino);
	rc = check_file(n);
	/* Appends land at the end as it is now, under the lock. */
	if (!rc && off == IVSHM_APPEND)
		off = n->a.size;
	if (!rc && (off > IVSHM_MAX_FILE_SIZE ||
		    len > IVSHM_MAX_FILE_SIZE - off))
		rc = -EFBIG;
	pos = 0;
	for (unsigned int i = 0; !rc && i < nc; i++) {
		struct ivshm_rec_extent e = { .file_off = off + pos,
					      .len = c[i].len, .seg = c[i].seg,
					      .seg_off = c[i].off };

		rc = ivshm_txn_add(t, IVSHM_REC_EXTENT, ino, &e, sizeof(e),
				   NULL, 0);
		pos += c[i].len;
	}
	if (!rc) {
		na = n->a;
		if (off + len > na.size)
			na.size = off + len;
		na.mtime = na.ctime = ivshm_now_ns();
		/* Writing drops set-uid, and set-gid of group-executables. */
		na.mode &= ~04000u;
		if ((na.mode & 02010) == 02010)
			na.mode &= ~02000u;
		rc = ivshm_fs_put_inode(t, ino, &na);
	}
	rc = ivshm_fs_end(fs, t, rc);
out:
	unpin_all(fs, c, nc);
	ivshm_free(c);
	return rc;
}

int64_t ivshm_fs_write(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
		       const void *buf, uint64_t len, struct ivshm_attr *a)
{
	uint64_t done = 0;

	if (off != IVSHM_APPEND &&
	    (off > IVSHM_MAX_FILE_SIZE || len > IVSHM_MAX_FILE_SIZE - off))
		return -EFBIG;
	/* Each piece is atomic; only huge writes are cut into pieces. */
	for (unsigned int retries = 0; done < len;) {
		uint64_t piece = len - done > ATOMIC_WRITE_MAX ?
					 ATOMIC_WRITE_MAX : len - done;
		int rc = write_atomic(fs, ino, off == IVSHM_APPEND ? off :
						       off + done,
				      (const char *)buf + done, piece);

		if (rc == -EAGAIN && retries++ < 16)
			continue;
		if (rc == -EAGAIN)
			rc = -ENOSPC; /* space keeps being taken back: full */
		if (rc)
			return done ? (int64_t)done : rc;
		done += piece;
	}
	if (a && ivshm_fs_getattr(fs, ino, a))
		memset(a, 0, sizeof(*a));
	return (int64_t)done;
}

int64_t ivshm_fs_read(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
		      void *buf, uint64_t len)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	struct ivshm_inode *n;
	uint64_t end, pos;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	rc = check_file(n);
	if (rc) {
		ivshm_fs_leave(fs);
		return rc;
	}
	end = off >= n->a.size ? off : (len > n->a.size - off ? n->a.size :
				       off + len);
	for (pos = off; pos < end;) {
		struct ivshm_extent e;
		char *dst = (char *)buf + (pos - off);
		uint64_t take;

		if (!ivshm_extmap_next(&n->ext, pos, &e) || e.off >= end) {
			memset(dst, 0, end - pos); /* a hole to the end */
			break;
		}
		if (e.off > pos) {
			memset(dst, 0, e.off - pos);
			pos = e.off;
			continue;
		}
		take = e.off + e.len - pos;
		if (take > end - pos)
			take = end - pos;
		if (e.flags & IVSHM_EXTENT_ZERO)
			memset(dst, 0, take);
		else
			memcpy(dst, ivshm_seg_at(fs->st->region, g, e.seg) +
					    e.seg_off + (pos - e.off), take);
		pos += take;
	}
	ivshm_fs_leave(fs);
	return (int64_t)(end - off);
}

int ivshm_fs_fallocate(struct ivshm_fs *fs, uint64_t ino, int mode,
		       uint64_t off, uint64_t len)
{
	bool keep = mode & IVSHM_FALLOC_KEEP_SIZE;
	struct ivshm_rec_inode na;
	struct ivshm_inode *n;
	struct ivshm_txn *t;
	int rc;

	if (mode & ~(IVSHM_FALLOC_KEEP_SIZE | IVSHM_FALLOC_PUNCH_HOLE |
		     IVSHM_FALLOC_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & IVSHM_FALLOC_PUNCH_HOLE) &&
	    (!keep || (mode & IVSHM_FALLOC_ZERO_RANGE)))
		return -EINVAL;
	if (!len)
		return -EINVAL;
	if (off > IVSHM_MAX_FILE_SIZE || len > IVSHM_MAX_FILE_SIZE - off)
		return -EFBIG;
	rc = ivshm_txn_begin(fs->st, &t);
	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	rc = check_file(n);
	if (!rc && (mode & (IVSHM_FALLOC_PUNCH_HOLE | IVSHM_FALLOC_ZERO_RANGE)) &&
	    off < n->a.size) {
		struct ivshm_rec_punch p = { off, len };

		rc = ivshm_txn_add(t, IVSHM_REC_PUNCH, ino, &p, sizeof(p),
				   NULL, 0);
	}
	/*
	 * Plain allocation only extends the size: a log cannot promise that
	 * later writes find room (docs/DESIGN.md).
	 */
	if (!rc && (!keep || (mode & IVSHM_FALLOC_PUNCH_HOLE))) {
		na = n->a;
		if (!keep && off + len > na.size)
			na.size = off + len;
		na.mtime = na.ctime = ivshm_now_ns();
		rc = ivshm_fs_put_inode(t, ino, &na);
	}
	return ivshm_fs_end(fs, t, rc);
}

/* Copy pieces into fresh space (the cleaner may dip into the reserve). */
int ivshm_fs_move_pieces(struct ivshm_fs *fs, const struct piece *p,
			 uint32_t n)
{
	const struct ivshm_geom *g = ivshm_store_geom(fs->st);
	char *region = fs->st->region;
	uint32_t i = 0, done = 0; /* bytes of p[i] already moved */

	while (i < n) {
		struct chunk c[MAX_CHUNKS];
		struct ivshm_txn *t;
		unsigned int nc = 0, k;
		uint64_t want = 0;
		int64_t got;
		int rc = 0;

		for (uint32_t j = i; j < n && want < (uint64_t)g->seg_size; j++)
			want += p[j].len - (j == i ? done : 0);
		got = reserve(fs, want, c, &nc, MAX_CHUNKS, CLEAN_KEEP_FREE);
		if (got <= 0)
			return got ? (int)got : -ENOSPC;
		rc = begin_on_chunks(fs, c, nc, &t);
		if (rc) {
			unpin_all(fs, c, nc);
			return rc;
		}
		/* Lock held, index current: copy, then record the moves. */
		ivshm_epoch_enter(fs->st);
		for (k = 0; k < nc && !rc; k++) {
			uint32_t used = 0;

			while (used < c[k].len && i < n && !rc) {
				const struct piece *q = &p[i];
				uint32_t take = q->len - done;
				struct ivshm_rec_move m;

				if (take > c[k].len - used)
					take = c[k].len - used;
				char *dst = ivshm_seg_at(region, g, c[k].seg) +
					    c[k].off + used;
				const char *src = ivshm_seg_at(region, g,
							       q->seg) +
						  q->seg_off + done;

				IVSHM_FAULT_POINT("cleaner copy", dst, src,
						  take);
				memcpy(dst, src, take);
				m = (struct ivshm_rec_move){
					.file_off = q->off + done, .len = take,
					.old_seg = q->seg,
					.old_off = q->seg_off + done,
					.new_seg = c[k].seg,
					.new_off = c[k].off + used };
				rc = ivshm_txn_add(t, IVSHM_REC_MOVE, q->ino, &m,
						   sizeof(m), NULL, 0);
				used += take;
				done += take;
				if (done == q->len) {
					i++;
					done = 0;
				}
			}
		}
		ivshm_epoch_exit(fs->st);
		rc = ivshm_fs_end(fs, t, rc);
		unpin_all(fs, c, nc);
		if (rc)
			return rc;
	}
	return 0;
}
