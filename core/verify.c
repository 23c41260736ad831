// SPDX-License-Identifier: MIT
#include "geom.h"
#include "verify.h"

struct vctx {
	void *region;
	struct ivshm_geom g;
	struct ivshm_index x;
	struct ivshm_verify_report *rep;
	uint8_t *meta_seen;	/* segments the log passes through */
	uint8_t *ckpt_seen;	/* segments of the current checkpoint */
	uint32_t *links;	/* names per inode slot, by ino (capped) */
};

static void fail(struct vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->rep->errors++) {
		va_start(ap, fmt);
		vsnprintf(v->rep->first_error, sizeof(v->rep->first_error), fmt,
			  ap);
		va_end(ap);
	}
}

static int replay(struct vctx *v)
{
	struct ivshm_sb *sb = ivshm_sb_of(v->region);
	struct ivshm_ckpt_desc d;
	struct ivshm_cursor c;
	struct ivshm_rec *r = ivshm_alloc(sizeof(*r));
	uint64_t gen = ivshm_load_acquire(&sb->ckpt_gen);
	int rc;

	if (!r)
		return -ENOMEM;
	memcpy(&d, &sb->ckpt[gen & 1], sizeof(d));
	if (d.crc != ivshm_ckpt_desc_crc(&d) || d.log_seg >= v->g.seg_count) {
		fail(v, "checkpoint descriptor %llu is damaged",
		     (unsigned long long)(gen & 1));
		ivshm_free(r);
		return -EIO;
	}
	v->rep->head_seq = ivshm_load_acquire(&sb->head_seq);
	if (d.ckpt_seg != IVSHM_NONE) {
		c = (struct ivshm_cursor){ .seg = d.ckpt_seg,
					   .off = IVSHM_SEG_HDR_SIZE,
					   .kind = IVSHM_SEG_CKPT };
		rc = ivshm_log_check_segment(v->region, &v->g, sb->uuid,
					     d.ckpt_seg, IVSHM_SEG_CKPT, 1);
		while (!rc && (rc = ivshm_log_next(v->region, &v->g, sb->uuid,
						   d.ckpt_records, &c, r)) > 0) {
			v->ckpt_seen[c.seg] = 1;
			v->rep->ckpt_records++;
			rc = ivshm_index_apply(&v->x, r);
			if (rc)
				break;
		}
		if (rc < 0) {
			fail(v, "checkpoint unreadable after record %llu "
			     "(segment %u offset 0x%x)",
			     (unsigned long long)c.seq, c.seg, c.off);
			ivshm_free(r);
			return rc;
		}
		v->ckpt_seen[d.ckpt_seg] = 1;
	}
	if (ivshm_log_check_resume(v->region, &v->g, sb->uuid, d.log_seg,
				   d.log_off, d.ckpt_seq, v->rep->head_seq)) {
		fail(v, "the log cannot resume where the checkpoint says "
		     "(segment %u offset 0x%x, after seq %llu, head %llu)",
		     d.log_seg, d.log_off, (unsigned long long)d.ckpt_seq,
		     (unsigned long long)v->rep->head_seq);
		ivshm_free(r);
		return -EIO;
	}
	c = (struct ivshm_cursor){ .seg = d.log_seg, .off = d.log_off,
				   .seq = d.ckpt_seq, .kind = IVSHM_SEG_META };
	v->meta_seen[c.seg] = 1;
	while ((rc = ivshm_log_next(v->region, &v->g, sb->uuid,
				    v->rep->head_seq, &c, r)) > 0) {
		v->meta_seen[c.seg] = 1;
		v->rep->records++;
		rc = ivshm_index_apply(&v->x, r);
		if (rc)
			break;
	}
	if (rc < 0)
		fail(v, "log unreadable after record seq %llu (segment %u "
		     "offset 0x%x)", (unsigned long long)c.seq, c.seg, c.off);
	ivshm_free(r);
	return rc < 0 ? rc : 0;
}

/* The count walks use two spare inode fields of this private index. */
static int zero_counts(void *arg, struct ivshm_inode *n)
{
	(void)arg;
	n->a.reserved = 0;
	n->a.flags = 0;
	return 0;
}

static int count_names(void *arg, struct ivshm_inode *n)
{
	struct vctx *v = arg;

	v->rep->inodes++;
	if (ivshm_is_reg(n)) {
		v->rep->files++;
		v->rep->extents += ivshm_extmap_count(&n->ext);
		v->rep->data_bytes += ivshm_extmap_bytes(&n->ext);
	}
	if (!ivshm_is_dir(n))
		return 0;
	v->rep->dirs++;
	for (uint32_t i = 0; i < n->dir->count; i++) {
		struct ivshm_dent *e = n->dir->order[i];
		struct ivshm_inode *ch = ivshm_index_get(&v->x, e->child);

		if (!ch) {
			fail(v, "directory %llu names missing inode %llu",
			     (unsigned long long)n->ino,
			     (unsigned long long)e->child);
			continue;
		}
		/* Link counts are checked by a second walk (below). */
		ch->a.reserved++;
		if (ivshm_is_dir(ch)) {
			n->a.flags++; /* subdirectories, in a spare field */
			if (ch->parent != n->ino)
				fail(v, "directory %llu is named in %llu and "
				     "%llu", (unsigned long long)ch->ino,
				     (unsigned long long)ch->parent,
				     (unsigned long long)n->ino);
		}
	}
	return 0;
}

static int check_links(void *arg, struct ivshm_inode *n)
{
	struct vctx *v = arg;
	uint32_t names = n->a.reserved;

	if (ivshm_is_dir(n)) {
		uint32_t want = 2 + n->a.flags;

		if (n->ino != IVSHM_ROOT_INO && names != 1)
			fail(v, "directory %llu has %u names",
			     (unsigned long long)n->ino, names);
		if (n->a.nlink != want)
			fail(v, "directory %llu has link count %u, expected %u",
			     (unsigned long long)n->ino, n->a.nlink, want);
	} else if (!n->a.nlink && !names) {
		v->rep->orphans++;
	} else if (n->a.nlink != names) {
		fail(v, "inode %llu has link count %u but %u names",
		     (unsigned long long)n->ino, n->a.nlink, names);
	}
	return 0;
}

static int check_extent(void *arg, const struct ivshm_extent *e)
{
	struct vctx *v = arg;
	struct ivshm_seg_entry *s;

	if (e->flags & IVSHM_EXTENT_ZERO)
		return 0;
	s = ivshm_seg_entry_at(v->region, &v->g, e->seg);
	if (s->state != IVSHM_SEG_DATA)
		fail(v, "file data at offset %llu lies in segment %u, which is "
		     "not a data segment (state %u)",
		     (unsigned long long)e->off, e->seg, s->state);
	return 0;
}

static int check_space(void *arg, struct ivshm_inode *n)
{
	if (ivshm_is_reg(n))
		ivshm_extmap_walk(&n->ext, check_extent, arg);
	return 0;
}

static void check_segments(struct vctx *v)
{
	for (uint32_t i = 0; i < v->g.seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(v->region, &v->g,
							       i);

		switch (e->state) {
		case IVSHM_SEG_FREE:
			v->rep->seg_free++;
			break;
		case IVSHM_SEG_META:
			v->rep->seg_meta++;
			break;
		case IVSHM_SEG_DATA:
			v->rep->seg_data++;
			break;
		case IVSHM_SEG_CKPT:
			v->rep->seg_ckpt++;
			break;
		case IVSHM_SEG_FREEING:
			break;
		default:
			fail(v, "segment %u has unknown state %u", i, e->state);
		}
		if (v->meta_seen[i] && e->state != IVSHM_SEG_META)
			fail(v, "the log passes through segment %u, whose state "
			     "is %u, not meta", i, e->state);
		if (v->ckpt_seen[i] && e->state != IVSHM_SEG_CKPT)
			fail(v, "the checkpoint lies in segment %u, whose state "
			     "is %u", i, e->state);
		if (v->x.seg_live[i] < 0 ||
		    v->x.seg_live[i] > (int64_t)v->g.seg_size)
			fail(v, "segment %u holds %lld live bytes", i,
			     (long long)v->x.seg_live[i]);
	}
}

int ivshm_verify(void *region, uint64_t size, struct ivshm_verify_report *rep)
{
	struct vctx v = { .region = region, .rep = rep };
	enum ivshm_region_kind k;
	int rc;

	memset(rep, 0, sizeof(*rep));
	k = ivshm_classify(region, size, &v.g, rep->first_error,
			   sizeof(rep->first_error));
	if (k != IVSHM_REGION_VALID) {
		rep->errors = 1;
		return -EIO;
	}
	rc = ivshm_index_init(&v.x, &v.g);
	if (rc)
		return rc;
	v.meta_seen = ivshm_alloc(v.g.seg_count);
	v.ckpt_seen = ivshm_alloc(v.g.seg_count);
	if (!v.meta_seen || !v.ckpt_seen) {
		ivshm_free(v.meta_seen);
		ivshm_free(v.ckpt_seen);
		ivshm_index_release(&v.x);
		return -ENOMEM;
	}
	rc = replay(&v);
	if (rc != -ENOMEM) {
		if (!ivshm_index_get(&v.x, IVSHM_ROOT_INO))
			fail(&v, "no root directory");
		ivshm_index_walk(&v.x, zero_counts, &v);
		ivshm_index_walk(&v.x, count_names, &v);
		ivshm_index_walk(&v.x, check_links, &v);
		ivshm_index_walk(&v.x, check_space, &v);
		check_segments(&v);
	}
	rep->anomalies = v.x.anomalies;
	if (rep->anomalies)
		fail(&v, "%llu records were inconsistent with the namespace",
		     (unsigned long long)rep->anomalies);
	ivshm_free(v.meta_seen);
	ivshm_free(v.ckpt_seen);
	ivshm_index_release(&v.x);
	if (rc == -ENOMEM)
		return rc;
	return rep->errors ? -EIO : 0;
}
