// SPDX-License-Identifier: MIT
/* Checkpoint + log replay into a private index, faults named (replay.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "fmt.h"
#include "replay.h"

uint64_t rp_region_off(const struct img *im, uint32_t seg, uint32_t off)
{
	return img_seg_off(im, seg) + off;
}

const char *rp_check_seg_hdr(const struct img *im, uint32_t seg,
			     uint32_t kind, uint64_t first_seq, char *buf,
			     size_t len)
{
	struct ivshm_seg_hdr h;
	uint32_t crc;

	if (seg >= im->g.seg_count) {
		snprintf(buf, len, "segment %u does not exist (the region has "
			 "%u)", seg, im->g.seg_count);
		return buf;
	}
	memcpy(&h, im->mem + img_seg_off(im, seg), sizeof(h));
	crc = ivshm_seg_hdr_crc(&h);
	if (h.magic != IVSHM_SEG_MAGIC)
		snprintf(buf, len, "no segment magic (found 0x%08x at offset "
			 "4)", h.magic);
	else if (crc != h.crc)
		snprintf(buf, len, "bad header checksum (stored 0x%08x, "
			 "computed 0x%08x)", h.crc, crc);
	else if (memcmp(h.uuid, img_sb(im)->uuid, 16))
		snprintf(buf, len, "header belongs to another store (uuid "
			 "differs)");
	else if (h.index != seg)
		snprintf(buf, len, "header names segment %u", h.index);
	else if (h.kind != kind)
		snprintf(buf, len, "header is of kind %u, expected %u (%s)",
			 h.kind, kind, fmt_seg_state(kind));
	else if (first_seq != UINT64_MAX && h.first_seq != first_seq)
		snprintf(buf, len, "header's first sequence is %llu, the log "
			 "needs %llu", (unsigned long long)h.first_seq,
			 (unsigned long long)first_seq);
	else
		return NULL;
	return buf;
}

static const char *area_name(bool ckpt)
{
	return ckpt ? "checkpoint" : "log";
}

static void fault_at(struct replay *rp, bool ckpt, uint64_t seq, uint32_t seg,
		     uint32_t off, const char *why, const char *ctx)
{
	struct rp_fault *f = &rp->fault;
	bool pos = seg < rp->im->g.seg_count;

	f->area = ckpt ? RP_CKPT : RP_LOG;
	f->at_record = true;
	f->seq = seq;
	f->seg = seg;
	f->off = off;
	f->region_off = pos ? rp_region_off(rp->im, seg, off) : 0;
	if (pos)
		snprintf(f->msg, sizeof(f->msg), "%s: record %s%llu at segment "
			 "%u offset 0x%x (region offset 0x%llx): %s%s",
			 area_name(ckpt), ckpt ? "#" : "seq ",
			 (unsigned long long)seq, seg, off,
			 (unsigned long long)f->region_off, why, ctx);
	else
		snprintf(f->msg, sizeof(f->msg), "%s: record %s%llu: the "
			 "cursor is at segment %u, outside the region: %s%s",
			 area_name(ckpt), ckpt ? "#" : "seq ",
			 (unsigned long long)seq, seg, why, ctx);
}

static void fault_seg(struct replay *rp, bool ckpt, uint32_t seg,
		      const char *why, const char *ctx)
{
	struct rp_fault *f = &rp->fault;

	f->area = ckpt ? RP_CKPT : RP_LOG;
	f->seg = seg;
	f->region_off = seg < rp->im->g.seg_count ?
				img_seg_off(rp->im, seg) : 0;
	snprintf(f->msg, sizeof(f->msg), "%s: segment %u header (region "
		 "offset 0x%llx): %s%s", area_name(ckpt), seg,
		 (unsigned long long)f->region_off, why, ctx);
}

/*
 * The cursor could not read the record after @c: find out why, with the
 * same checks as ivshm_log_next, in the same order.
 */
static void diagnose(struct replay *rp, const struct ivshm_cursor *c,
		     bool ckpt, uint64_t head)
{
	const struct img *im = rp->im;
	uint64_t want = c->seq + 1;
	char why[320], ctx[160] = "", m[200];
	struct ivshm_rec_hdr h;
	const uint8_t *p;
	uint32_t crc;

	if (c->seg >= im->g.seg_count) {
		fault_at(rp, ckpt, want, c->seg, c->off, "segment out of range",
			 "");
		return;
	}
	if (c->off < IVSHM_SEG_HDR_SIZE || (c->off & 7) ||
	    c->off > im->g.seg_size - IVSHM_REC_HDR_SIZE) {
		fault_at(rp, ckpt, want, c->seg, c->off, "offset out of range",
			 "");
		return;
	}
	p = im->mem + rp_region_off(im, c->seg, c->off);
	memcpy(&h, p, sizeof(h));
	if (h.seq == want && h.type && h.type <= IVSHM_REC_TYPE_MAX)
		snprintf(ctx, sizeof(ctx), "; its header says %s of inode "
			 "%llu, %u bytes, written by slot %d",
			 fmt_rec_type(h.type),
			 (unsigned long long)h.ino, h.len,
			 h.slot == IVSHM_NONE ? -1 : (int)h.slot);
	if (h.seq != want) {
		if (img_is_zero(&h, sizeof(h)))
			snprintf(why, sizeof(why), "no record there (zeroes), "
				 "but the %s goes on to %s%llu",
				 area_name(ckpt),
				 ckpt ? "record #" : "head_seq ",
				 (unsigned long long)head);
		else
			snprintf(why, sizeof(why), "sequence does not follow "
				 "(found seq %llu)", (unsigned long long)h.seq);
	} else if (h.len < IVSHM_REC_HDR_SIZE || (h.len & 7) ||
		   h.len > IVSHM_REC_MAX ||
		   h.len > im->g.seg_size - c->off) {
		snprintf(why, sizeof(why), "length %u out of range", h.len);
	} else if (!h.type || h.type > IVSHM_REC_TYPE_MAX) {
		snprintf(why, sizeof(why), "unknown record type %u", h.type);
	} else if ((crc = ivshm_crc32(0, p + 4, h.len - 4)) != h.crc) {
		snprintf(why, sizeof(why), "bad checksum (stored 0x%08x, "
			 "computed 0x%08x)", h.crc, crc);
	} else if (h.type == IVSHM_REC_LINK) {
		struct ivshm_rec_link l;
		uint32_t kind = ckpt ? IVSHM_SEG_CKPT : IVSHM_SEG_META;
		const char *bad;

		memcpy(&l, p + IVSHM_REC_HDR_SIZE, sizeof(l));
		if (h.len - IVSHM_REC_HDR_SIZE < sizeof(l))
			snprintf(why, sizeof(why), "short link record");
		else if (l.next_seg >= im->g.seg_count || l.next_seg == c->seg)
			snprintf(why, sizeof(why), "link to an impossible "
				 "segment %u", l.next_seg);
		else if ((bad = rp_check_seg_hdr(im, l.next_seg, kind,
						 want + 1, m, sizeof(m))))
			snprintf(why, sizeof(why), "links to segment %u "
				 "(region offset 0x%llx), whose header is "
				 "wrong: %s", l.next_seg,
				 (unsigned long long)img_seg_off(im,
								 l.next_seg),
				 bad);
		else
			snprintf(why, sizeof(why), "link refused by the "
				 "cursor");
	} else {
		snprintf(why, sizeof(why), "refused by the cursor");
	}
	fault_at(rp, ckpt, want, c->seg, c->off, why, ctx);
}

static int nomem(struct replay *rp)
{
	rp->fault.area = RP_NOMEM;
	snprintf(rp->fault.msg, sizeof(rp->fault.msg), "out of memory");
	return -ENOMEM;
}

/* A record read: statistics, the index, the caller. */
static int take(struct replay *rp, const struct ivshm_rec *r, bool ckpt)
{
	struct rp_stats *st = ckpt ? &rp->ckpt : &rp->log;
	uint8_t flag = ckpt ? RP_ROLE_CKPT : RP_ROLE_LOG;
	int rc;

	st->records++;
	st->bytes += r->hdr.len;
	st->by_type[r->hdr.type <= IVSHM_REC_TYPE_MAX ? r->hdr.type : 0]++;
	if (r->seg < rp->im->g.seg_count && !(rp->role[r->seg] & flag)) {
		rp->role[r->seg] |= flag;
		st->segments++;
	}
	if (rp->build && r->hdr.type != IVSHM_REC_LINK &&
	    ivshm_index_apply(&rp->x, r))
		return nomem(rp);
	if (rp->fn && (ckpt ? rp->fn_ckpt : r->hdr.seq >= rp->fn_from)) {
		rc = rp->fn(rp->arg, r, ckpt);
		if (rc)
			return rc;
	}
	return 0;
}

int rp_read_link(const uint8_t *region, const struct ivshm_geom *g,
		 struct ivshm_cursor *pos, struct ivshm_rec *l)
{
	const uint8_t *p;
	struct ivshm_rec_link link;

	if (pos->seg >= g->seg_count ||
	    pos->off > g->seg_size - IVSHM_REC_HDR_SIZE)
		return -EIO;
	p = region + g->seg0_off + (uint64_t)pos->seg * g->seg_size + pos->off;
	memcpy(&l->hdr, p, sizeof(l->hdr));
	if (l->hdr.type != IVSHM_REC_LINK || l->hdr.seq != pos->seq + 1 ||
	    l->hdr.len > IVSHM_REC_MAX ||
	    l->hdr.len < IVSHM_REC_HDR_SIZE + sizeof(link) ||
	    l->hdr.len > g->seg_size - pos->off)
		return -EIO;
	/* A private copy, checked again: the region may be live. */
	memcpy(l->buf, p, l->hdr.len);
	memcpy(&l->hdr, l->buf, sizeof(l->hdr));
	if (l->hdr.len < IVSHM_REC_HDR_SIZE + sizeof(link) ||
	    l->hdr.len > g->seg_size - pos->off ||
	    ivshm_crc32(0, l->buf + 4, l->hdr.len - 4) != l->hdr.crc)
		return -EIO;
	l->payload = l->buf + IVSHM_REC_HDR_SIZE;
	l->payload_len = l->hdr.len - IVSHM_REC_HDR_SIZE;
	l->seg = pos->seg;
	l->off = pos->off;
	memcpy(&link, l->payload, sizeof(link));
	*pos = (struct ivshm_cursor){ .seg = link.next_seg,
				      .off = IVSHM_SEG_HDR_SIZE,
				      .seq = pos->seq + 1, .kind = pos->kind };
	return 0;
}

/*
 * The LINK record at @pos, which the cursor already checked and followed:
 * hand it on, and move @pos to where it leads.
 */
static int take_link(struct replay *rp, struct ivshm_cursor *pos,
		     struct ivshm_rec *l, bool ckpt)
{
	int rc = rp_read_link(rp->im->mem, &rp->im->g, pos, l);

	return rc ? rc : take(rp, l, ckpt);
}

struct walk {
	struct ivshm_rec *r, *l;
	struct progress pg;
	int64_t base;		/* progress = base + seq */
};

static int walk(struct replay *rp, struct walk *w, struct ivshm_cursor *c,
		uint64_t head, bool ckpt)
{
	const struct img *im = rp->im;

	for (;;) {
		struct ivshm_cursor prev = *c, pos = *c;
		int rc = ivshm_log_next(im->mem, &im->g, img_sb(im)->uuid, head,
					c, w->r);
		uint64_t hops = rc > 0 ? w->r->hdr.seq - prev.seq - 1 :
					 c->seq - prev.seq;

		/* The LINK records followed on the way. */
		for (uint64_t i = 0; i < hops; i++) {
			int lr = take_link(rp, &pos, w->l, ckpt);

			if (lr)
				return lr;
		}
		if (rc < 0) {
			diagnose(rp, c, ckpt, head);
			return -EIO;
		}
		if (!rc)
			return 0;
		rc = take(rp, w->r, ckpt);
		if (rc)
			return rc;
		progress_update(&w->pg, (uint64_t)(w->base +
						   (int64_t)w->r->hdr.seq),
				false);
	}
}

/* The descriptor of the current checkpoint, checked like attach does. */
static int read_desc(struct replay *rp)
{
	const struct img *im = rp->im;
	const struct ivshm_sb *sb = img_sb(im);
	unsigned int half = (unsigned int)(sb->ckpt_gen & 1);
	struct ivshm_ckpt_desc *d = &rp->d;
	uint32_t crc;
	char why[256];

	memcpy(d, &sb->ckpt[half], sizeof(*d));
	crc = ivshm_ckpt_desc_crc(d);
	if (crc != d->crc)
		snprintf(why, sizeof(why), "bad checksum (stored 0x%08x, "
			 "computed 0x%08x)", d->crc, crc);
	else if (d->log_seg >= im->g.seg_count ||
		 d->log_off < IVSHM_SEG_HDR_SIZE || (d->log_off & 7) ||
		 d->log_off > im->g.seg_size - IVSHM_REC_HDR_SIZE)
		snprintf(why, sizeof(why), "log position segment %u offset "
			 "0x%x out of range", d->log_seg, d->log_off);
	else if (d->ckpt_seg != IVSHM_NONE && d->ckpt_seg >= im->g.seg_count)
		snprintf(why, sizeof(why), "checkpoint segment %u out of range",
			 d->ckpt_seg);
	else if (d->ckpt_seg == IVSHM_NONE && d->ckpt_records)
		snprintf(why, sizeof(why), "%llu checkpoint records but no "
			 "checkpoint segment",
			 (unsigned long long)d->ckpt_records);
	else if (d->ckpt_seq > im->head)
		snprintf(why, sizeof(why), "checkpoint sequence %llu is past "
			 "head_seq %llu", (unsigned long long)d->ckpt_seq,
			 (unsigned long long)im->head);
	else
		return 0;
	rp->fault.area = RP_DESC;
	rp->fault.region_off = offsetof(struct ivshm_sb, ckpt) +
			       half * sizeof(*d);
	snprintf(rp->fault.msg, sizeof(rp->fault.msg), "checkpoint descriptor "
		 "%u (superblock offset %llu, ckpt_gen %llu): %s", half,
		 (unsigned long long)rp->fault.region_off,
		 (unsigned long long)sb->ckpt_gen, why);
	return -EIO;
}

static int run(struct replay *rp, struct walk *w)
{
	const struct img *im = rp->im;
	struct ivshm_ckpt_desc *d = &rp->d;
	struct ivshm_seg_hdr h;
	const char *bad;
	char m[256], ctx[128];
	int rc;

	rc = read_desc(rp);
	if (rc)
		return rc;
	rp->d_ok = true;
	w->base = 0;
	progress_start(&w->pg, "replaying", (rp->skip_ckpt ? 0 :
					     d->ckpt_records) +
			       im->head - d->ckpt_seq);
	if (rp->quiet)
		w->pg.on = false;
	if (!rp->skip_ckpt && d->ckpt_seg != IVSHM_NONE) {
		struct ivshm_cursor c = { .seg = d->ckpt_seg,
					  .off = IVSHM_SEG_HDR_SIZE,
					  .kind = IVSHM_SEG_CKPT };

		bad = rp_check_seg_hdr(im, d->ckpt_seg, IVSHM_SEG_CKPT, 1, m,
				       sizeof(m));
		if (bad) {
			fault_seg(rp, true, d->ckpt_seg, bad,
				  " (the checkpoint starts there)");
			return -EIO;
		}
		rc = walk(rp, w, &c, d->ckpt_records, true);
		if (rc)
			return rc;
		w->base = (int64_t)d->ckpt_records;
	}
	w->base -= (int64_t)d->ckpt_seq;
	/* The segment the log resumes in: its header, its first seq. */
	bad = rp_check_seg_hdr(im, d->log_seg, IVSHM_SEG_META, UINT64_MAX, m,
			       sizeof(m));
	memcpy(&h, im->mem + img_seg_off(im, d->log_seg), sizeof(h));
	if (!bad && (h.first_seq > d->ckpt_seq + 1 ||
		     (d->log_off == IVSHM_SEG_HDR_SIZE &&
		      h.first_seq != d->ckpt_seq + 1))) {
		snprintf(m, sizeof(m), "header's first sequence is %llu, but "
			 "the log resumes there at seq %llu",
			 (unsigned long long)h.first_seq,
			 (unsigned long long)d->ckpt_seq + 1);
		bad = m;
	}
	if (bad) {
		snprintf(ctx, sizeof(ctx), " (the log resumes there, offset "
			 "0x%x)", d->log_off);
		fault_seg(rp, false, d->log_seg, bad, ctx);
		return -EIO;
	}
	rp->tail = (struct ivshm_cursor){ .seg = d->log_seg, .off = d->log_off,
					  .seq = d->ckpt_seq,
					  .kind = IVSHM_SEG_META };
	return walk(rp, w, &rp->tail, im->head, false);
}

int replay_run(struct replay *rp)
{
	struct walk w = { 0 };
	struct capture cap;
	int rc;

	memset(&rp->fault, 0, sizeof(rp->fault));
	rp->role = calloc(rp->im->g.seg_count ? rp->im->g.seg_count : 1, 1);
	w.r = malloc(sizeof(*w.r));
	w.l = malloc(sizeof(*w.l));
	if (!rp->role || !w.r || !w.l) {
		free(w.r);
		free(w.l);
		return nomem(rp);
	}
	if (rp->build) {
		if (ivshm_index_init(&rp->x, &rp->im->g)) {
			free(w.r);
			free(w.l);
			return nomem(rp);
		}
		rp->have_x = true;
	}
	capture_begin(&cap);
	rc = run(rp, &w);
	free(rp->core_msgs);
	rp->core_msgs = capture_end(&cap);
	progress_end(&w.pg);
	free(w.r);
	free(w.l);
	if (rc == -EIO && rp->fault.area == RP_OK) {
		rp->fault.area = RP_LOG;
		snprintf(rp->fault.msg, sizeof(rp->fault.msg),
			 "log: a link record could not be read back");
	}
	return rc;
}

void replay_free(struct replay *rp)
{
	if (rp->have_x)
		ivshm_index_release(&rp->x);
	rp->have_x = false;
	free(rp->role);
	rp->role = NULL;
	free(rp->core_msgs);
	rp->core_msgs = NULL;
}
