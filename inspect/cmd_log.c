// SPDX-License-Identifier: MIT
/* log: the records, one per line; --follow tails a live region. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "decode.h"
#include "fmt.h"
#include "inspect.h"
#include "view.h"

struct logctx {
	struct insp *in;
	struct img *im;
	struct json *j;		/* array member writer, or NDJSON lines */
	bool ndjson;		/* one document per line (--follow) */
	uint64_t limit, shown;
	bool header_done;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void line_header(struct logctx *lc)
{
	if (lc->in->json || lc->header_done)
		return;
	printf("%10s %4s %-9s %8s %6s %-3s %s\n", "SEQ", "SLOT", "TYPE", "INO",
	       "LEN", "CRC", "DETAILS");
	lc->header_done = true;
}

static void rec_json(struct json *j, const struct img *im,
		     const struct ivshm_rec_hdr *h, const void *payload,
		     uint32_t plen, uint32_t seg, uint32_t off, bool ckpt,
		     const char *crc)
{
	json_obj_begin(j, NULL);
	json_u64(j, "seq", h->seq);
	if (h->slot == IVSHM_NONE)
		json_null(j, "slot");
	else
		json_u64(j, "slot", h->slot);
	json_str(j, "type", fmt_rec_type(h->type));
	json_u64(j, "type_id", h->type);
	json_u64(j, "ino", h->ino);
	json_u64(j, "len", h->len);
	json_str(j, "crc", crc);
	json_u64(j, "seg", seg);
	json_u64(j, "off", off);
	json_u64(j, "region_off", img_seg_off(im, seg) + off);
	json_bool(j, "in_checkpoint", ckpt);
	dec_json(j, h, payload, plen);
}

static void rec_text(const struct ivshm_rec_hdr *h, const void *payload,
		     uint32_t plen, bool ckpt, const char *crc)
{
	char seq[24], slot[16], ino[24];

	snprintf(seq, sizeof(seq), "%s%llu", ckpt ? "#" : "",
		 (unsigned long long)h->seq);
	if (h->slot == IVSHM_NONE)
		snprintf(slot, sizeof(slot), "-");
	else
		snprintf(slot, sizeof(slot), "%u", h->slot);
	if (h->ino)
		snprintf(ino, sizeof(ino), "%llu", (unsigned long long)h->ino);
	else
		snprintf(ino, sizeof(ino), "-");
	printf("%10s %4s %-9s %8s %6u %-3s ", seq, slot, fmt_rec_type(h->type),
	       ino, h->len, crc);
	dec_text(stdout, h, payload, plen);
	putchar('\n');
}

static void show(struct logctx *lc, const struct ivshm_rec *r, bool ckpt)
{
	if (lc->in->json) {
		rec_json(lc->j, lc->im, &r->hdr, r->payload, r->payload_len,
			 r->seg, r->off, ckpt, "ok");
		json_obj_end(lc->j);
		if (lc->ndjson)
			json_end_doc(lc->j);
	} else {
		line_header(lc);
		rec_text(&r->hdr, r->payload, r->payload_len, ckpt, "ok");
	}
	lc->shown++;
}

static int on_rec(void *arg, const struct ivshm_rec *r, bool ckpt)
{
	struct logctx *lc = arg;

	if (lc->limit && lc->shown >= lc->limit)
		return 1;
	show(lc, r, ckpt);
	return 0;
}

/* The record the cursor refused, shown as far as its bytes allow. */
static void show_fault(struct logctx *lc, const struct rp_fault *f)
{
	const struct img *im = lc->im;
	struct ivshm_rec_hdr h = { .seq = f->seq };
	const uint8_t *p = NULL;
	uint32_t plen = 0;
	bool ckpt = f->area == RP_CKPT;

	if (f->at_record && f->seg < im->g.seg_count &&
	    f->off <= im->g.seg_size - IVSHM_REC_HDR_SIZE) {
		p = im->mem + f->region_off;
		memcpy(&h, p, sizeof(h));
		if (h.seq == f->seq && h.len >= IVSHM_REC_HDR_SIZE &&
		    h.len <= im->g.seg_size - f->off) {
			plen = h.len - IVSHM_REC_HDR_SIZE;
			p += IVSHM_REC_HDR_SIZE;
		} else {
			h = (struct ivshm_rec_hdr){ .seq = f->seq };
			p = NULL;
		}
	}
	if (lc->in->json) {
		if (!f->at_record)
			return;
		rec_json(lc->j, im, &h, p, plen, f->seg, f->off, ckpt, "bad");
		json_str(lc->j, "error", f->msg);
		json_obj_end(lc->j);
		if (lc->ndjson)
			json_end_doc(lc->j);
		return;
	}
	line_header(lc);
	if (f->at_record && p)
		rec_text(&h, p, plen, ckpt, "BAD");
	printf("%10s %s\n", "!!", f->msg);
}

struct pending {
	uint8_t *buf;		/* records back to back: len, seg, off, bytes */
	size_t len, cap;
};

static int pend_add(struct pending *p, const struct ivshm_rec *r)
{
	size_t need = 12 + r->hdr.len;

	if (p->len + need > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1u << 20;
		uint8_t *b;

		while (cap < p->len + need)
			cap *= 2;
		b = realloc(p->buf, cap);
		if (!b)
			return -ENOMEM;
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, &r->hdr.len, 4);
	memcpy(p->buf + p->len + 4, &r->seg, 4);
	memcpy(p->buf + p->len + 8, &r->off, 4);
	memcpy(p->buf + p->len + 12, r->buf, r->hdr.len);
	p->len += need;
	return 0;
}

static void pend_show(struct logctx *lc, struct pending *p,
		      struct ivshm_rec *r)
{
	for (size_t o = 0; o < p->len;) {
		uint32_t len;

		memcpy(&len, p->buf + o, 4);
		memcpy(&r->seg, p->buf + o + 4, 4);
		memcpy(&r->off, p->buf + o + 8, 4);
		memcpy(r->buf, p->buf + o + 12, len);
		memcpy(&r->hdr, r->buf, sizeof(r->hdr));
		r->payload = r->buf + IVSHM_REC_HDR_SIZE;
		r->payload_len = len - IVSHM_REC_HDR_SIZE;
		if (lc->limit && lc->shown >= lc->limit)
			break;
		show(lc, r, false);
		o += 12 + len;
	}
	p->len = 0;
	fflush(stdout);
}

static void event(struct logctx *lc, const char *what, uint64_t ckpt_seq,
		  uint64_t lost_from, uint64_t lost_to)
{
	if (lc->in->json) {
		json_obj_begin(lc->j, NULL);
		json_str(lc->j, "event", what);
		json_u64(lc->j, "ckpt_seq", ckpt_seq);
		if (lost_to >= lost_from) {
			json_u64(lc->j, "lost_from", lost_from);
			json_u64(lc->j, "lost_to", lost_to);
		} else {
			json_null(lc->j, "lost_from");
			json_null(lc->j, "lost_to");
		}
		json_end_doc(lc->j);
		return;
	}
	if (lost_to >= lost_from)
		printf("%10s checkpoint at seq %llu: records %llu..%llu were "
		       "folded into it before they could be read\n", "--",
		       (unsigned long long)ckpt_seq,
		       (unsigned long long)lost_from,
		       (unsigned long long)lost_to);
	else
		printf("%10s checkpoint published at seq %llu\n", "--",
		       (unsigned long long)ckpt_seq);
	fflush(stdout);
}

/* The live descriptor, read like a seqlock. */
static int live_desc(const struct img *im, uint64_t *gen,
		     struct ivshm_ckpt_desc *d)
{
	const struct ivshm_sb *sb = (const void *)im->live;

	for (int i = 0; i < 1000; i++) {
		uint64_t g = ivshm_load_acquire(&sb->ckpt_gen);

		memcpy(d, &sb->ckpt[g & 1], sizeof(*d));
		ivshm_fence();
		if (ivshm_load_acquire(&sb->ckpt_gen) != g)
			continue;
		if (d->crc != ivshm_ckpt_desc_crc(d) ||
		    d->log_seg >= im->g.seg_count)
			return -EIO;
		*gen = g;
		return 0;
	}
	return -EAGAIN;
}

/*
 * Tail the live region from @c. Each record is read into private memory
 * and kept only if the checkpoint generation had not moved once it was
 * copied: a checkpoint publishes its descriptor before it retires the
 * segments of the log it summarises, so a record copied before the new
 * generation is seen was copied before its segment could be reused.
 */
static int follow(struct logctx *lc, struct ivshm_cursor c, uint64_t gen,
		  unsigned int interval, uint64_t from)
{
	struct insp *in = lc->in;
	const struct img *im = lc->im;
	const struct ivshm_sb *sb = (const void *)im->live;
	struct ivshm_rec *r = malloc(sizeof(*r)), *l = malloc(sizeof(*l));
	struct pending p = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	size_t mark = 0;
	int rc = EXIT_OK;

	if (!r || !l) {
		free(r);
		free(l);
		return insp_fail(in, EXIT_FAIL, "out of memory");
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fflush(stdout);
	while (!stop && !(lc->limit && lc->shown >= lc->limit)) {
		struct ivshm_ckpt_desc d;
		struct capture cap;
		uint64_t head, g;
		bool moved = false;
		char *msg;
		int got = 0;

		if (memcmp(sb->uuid, img_sb(im)->uuid, 16)) {
			rc = insp_fail(in, EXIT_FAIL, "%s was formatted again",
				       in->region);
			break;
		}
		head = ivshm_load_acquire(&sb->head_seq);
		g = ivshm_load_acquire(&sb->ckpt_gen);
		if (head < c.seq) {
			rc = insp_fail(in, EXIT_FAIL, "head_seq of %s went "
				       "back from %llu to %llu (restored?)",
				       in->region, (unsigned long long)c.seq,
				       (unsigned long long)head);
			break;
		}
		if (head == c.seq && g == gen) {
			poll(NULL, 0, (int)interval);
			continue;
		}
		capture_begin(&cap);
		moved = g != gen;
		while (!moved) {
			struct ivshm_cursor n = c, pos = c;
			uint64_t hops;

			got = ivshm_log_next(im->live, &im->g, img_sb(im)->uuid,
					     head, &n, r);
			hops = got > 0 ? r->hdr.seq - c.seq - 1 : n.seq - c.seq;
			/* The LINK records it followed, copied right away. */
			for (uint64_t i = 0; i < hops && got >= 0; i++)
				if (rp_read_link(im->live, &im->g, &pos, l) ||
				    (l->hdr.seq >= from && pend_add(&p, l)))
					got = -EIO;
			ivshm_fence();
			moved = ivshm_load_acquire(&sb->ckpt_gen) != gen;
			if (moved) {
				p.len = mark; /* nothing of this round */
				break;
			}
			if (got <= 0) {
				if (!got)
					c = n; /* LINKs up to the head */
				break;
			}
			if (r->hdr.seq >= from && pend_add(&p, r)) {
				got = -ENOMEM;
				break;
			}
			c = n;
			mark = p.len;
		}
		msg = capture_end(&cap);
		free(msg);
		pend_show(lc, &p, r);
		mark = 0;
		if (got == -ENOMEM) {
			rc = insp_fail(in, EXIT_FAIL, "out of memory");
			break;
		}
		if (got < 0 && !moved) {
			rc = insp_fail(in, EXIT_FAIL, "log unreadable after seq "
				       "%llu (segment %u offset 0x%x)",
				       (unsigned long long)c.seq, c.seg, c.off);
			break;
		}
		if (!moved)
			continue;
		/* A checkpoint came: records it summarised may be gone. */
		if (live_desc(im, &g, &d)) {
			poll(NULL, 0, (int)interval);
			continue;
		}
		if (d.ckpt_seq > c.seq) {
			event(lc, "checkpoint", d.ckpt_seq, c.seq + 1,
			      d.ckpt_seq);
			c = (struct ivshm_cursor){ .seg = d.log_seg,
						   .off = d.log_off,
						   .seq = d.ckpt_seq,
						   .kind = IVSHM_SEG_META };
		} else {
			event(lc, "checkpoint", d.ckpt_seq, 1, 0);
		}
		gen = g;
	}
	free(p.buf);
	free(r);
	free(l);
	return rc;
}

int cmd_log(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "follow", no_argument, NULL, 'F' },
		{ "checkpoint", no_argument, NULL, 'c' },
		{ "limit", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ 0 },
	};
	uint64_t from = 0, limit = 0, interval = 100;
	bool do_follow = false, ckpt = false;
	struct logctx lc = { .in = in };
	struct json nd;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "f:Fcn:i:", lo)) != -1) {
		switch (c) {
		case 'f':
			if (!insp_parse_u64(optarg, &from))
				return insp_usage(in, "--from takes a sequence "
						  "number, not '%s'", optarg);
			break;
		case 'F':
			do_follow = true;
			break;
		case 'c':
			ckpt = true;
			break;
		case 'n':
			if (!insp_parse_u64(optarg, &limit) || !limit)
				return insp_usage(in, "--limit takes a count "
						  "above 0, not '%s'", optarg);
			break;
		case 'i':
			if (!insp_parse_u64(optarg, &interval) || !interval ||
			    interval > 60000)
				return insp_usage(in, "--interval takes "
						  "milliseconds (1..60000), "
						  "not '%s'", optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	rc = view_open(in, &v, VIEW_STORE);
	if (rc) {
		view_close(&v);
		return rc;
	}
	if (do_follow && !v.im.live) {
		view_close(&v);
		return insp_fail(in, EXIT_FAIL, "--follow needs a region file, "
				 "not a %s", img_source(&v.im));
	}
	lc.im = &v.im;
	lc.limit = limit;
	lc.ndjson = do_follow;
	if (in->json && do_follow) {
		in->stream = true;
		json_init(&nd, stdout, false);
		lc.j = &nd;
	} else if (in->json) {
		lc.j = insp_doc(in);
		json_u64(lc.j, "head_seq", v.im.head);
		json_arr_begin(lc.j, "records");
	}
	if (!in->json && !ckpt) {
		const struct ivshm_sb *sb = img_sb(&v.im);
		const struct ivshm_ckpt_desc *d = &sb->ckpt[sb->ckpt_gen & 1];

		if (d->crc == ivshm_ckpt_desc_crc(d) && d->ckpt_seq &&
		    from <= d->ckpt_seq)
			printf("# records up to seq %llu are summarised by the "
			       "checkpoint (%llu records: --checkpoint shows "
			       "them)\n", (unsigned long long)d->ckpt_seq,
			       (unsigned long long)d->ckpt_records);
	}
	v.rp.im = &v.im;
	v.rp.skip_ckpt = !ckpt;
	v.rp.fn = on_rec;
	v.rp.arg = &lc;
	v.rp.fn_ckpt = ckpt;
	v.rp.fn_from = from;
	v.rp.quiet = true;
	v.rp_rc = replay_run(&v.rp);
	if (v.rp_rc < 0) {
		if (v.rp.fault.area != RP_NOMEM)
			show_fault(&lc, &v.rp.fault);
		rc = insp_fail(in, EXIT_FAIL, "%s", v.rp.fault.msg);
	}
	if (in->json && !do_follow) {
		json_arr_end(lc.j);
		json_u64(lc.j, "shown", lc.shown);
		json_u64(lc.j, "ckpt_seq", v.rp.d_ok ? v.rp.d.ckpt_seq : 0);
	}
	if (!rc && do_follow)
		rc = follow(&lc, v.rp.tail, v.im.gen, (unsigned int)interval,
			    from);
	view_close(&v);
	return rc;
}
