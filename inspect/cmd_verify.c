// SPDX-License-Identifier: MIT
/*
 * verify: every checksum (superblock, checkpoint descriptor, segment
 * headers, records), the index the records build, space accounting
 * (ivshm_verify), and the peer table. Each fault says what, where (region
 * offset, segment, record) and why; the exit status is 1 when there is any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "fmt.h"
#include "inspect.h"
#include "progress.h"
#include "verify.h"
#include "view.h"

#define MAX_FAULTS 64

struct fault {
	const char *area;
	char *msg;
	bool at;		/* seq/seg/off/region_off known */
	bool has_seq;
	uint64_t seq, region_off;
	uint32_t seg, off;
};

struct vstate {
	struct insp *in;
	struct view *v;
	struct fault f[MAX_FAULTS];
	unsigned int nf;
	uint64_t more;		/* faults beyond MAX_FAULTS */
	char *core;		/* messages of ivshm_verify */
	struct ivshm_verify_report rep;
	bool rep_ok;
};

static struct fault *add(struct vstate *s, const char *area, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

static struct fault *add(struct vstate *s, const char *area, const char *fmt,
			 ...)
{
	struct fault *f;
	va_list ap;

	if (s->nf == MAX_FAULTS) {
		s->more++;
		return NULL;
	}
	f = &s->f[s->nf++];
	memset(f, 0, sizeof(*f));
	f->area = area;
	va_start(ap, fmt);
	if (vasprintf(&f->msg, fmt, ap) < 0)
		f->msg = NULL;
	va_end(ap);
	return f;
}

/* Bytes of the superblock no field covers must be zero (SPEC.md). */
static void check_sb_reserved(struct vstate *s)
{
	const uint8_t *sb = s->v->im.mem;
	static const struct {
		uint32_t off, len;
	} res[] = {
		{ offsetof(struct ivshm_sb, reserved0), 156 },
		{ offsetof(struct ivshm_sb, reserved1), 256 },
	};

	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++)
		for (uint32_t b = 0; b < res[i].len; b++)
			if (sb[res[i].off + b]) {
				insp_warn(s->in, "superblock: reserved byte at "
					  "offset %u is 0x%02x, not zero",
					  res[i].off + b, sb[res[i].off + b]);
				break;
			}
}

static void check_peers(struct vstate *s)
{
	const struct img *im = &s->v->im;
	uint64_t lock = img_sb(im)->lock;

	for (uint32_t i = 0; i < im->g.peer_slots; i++) {
		const struct ivshm_slot *sl = img_slot(im, i);
		uint64_t off = IVSHM_SB_SIZE + (uint64_t)i * IVSHM_SLOT_SIZE;
		struct fault *f;

		if ((sl->gen_state & 3) == 3) {
			f = add(s, "peers", "peers: slot %u (region offset "
				"0x%llx): state 3 is not a slot state", i,
				(unsigned long long)off);
			if (f) {
				f->at = true;
				f->region_off = off;
			}
		}
		if ((sl->gen_state & 3) == IVSHM_SLOT_ALIVE &&
		    sl->data_seg != IVSHM_NONE &&
		    sl->data_seg >= im->g.seg_count)
			insp_warn(s->in, "peer slot %u (region offset 0x%llx): "
				  "open data segment %u does not exist", i,
				  (unsigned long long)off, sl->data_seg);
	}
	if (lock && lock != UINT64_MAX &&
	    (!(lock & 0xffff) || (lock & 0xffff) > im->g.peer_slots))
		insp_warn(s->in, "superblock: lock word 0x%llx (offset 512) "
			  "names no peer slot; the next writer breaks it",
			  (unsigned long long)lock);
}

/* Segments in states the log and checkpoint do not account for. */
static void check_segments(struct vstate *s)
{
	const struct img *im = &s->v->im;
	const uint8_t *role = s->v->rp.role;

	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		const struct ivshm_seg_entry *e = img_seg(im, i);
		uint64_t off = im->g.seg_table_off +
			       (uint64_t)i * IVSHM_SEG_ENTRY_SIZE;

		if (e->state == IVSHM_SEG_META && !(role[i] & RP_ROLE_LOG) &&
		    e->alloc_seq <= im->head)
			insp_warn(s->in, "segment %u (table entry at region "
				  "offset 0x%llx) is a meta segment the log "
				  "does not pass through (claimed at seq "
				  "%llu): leaked", i, (unsigned long long)off,
				  (unsigned long long)e->alloc_seq);
		if (e->state == IVSHM_SEG_CKPT && !(role[i] & RP_ROLE_CKPT) &&
		    e->owner != (uint32_t)(im->gen + 1))
			insp_warn(s->in, "segment %u is a checkpoint segment "
				  "of no current checkpoint (tag %u, ckpt_gen "
				  "%llu): the next writer frees it", i,
				  e->owner, (unsigned long long)im->gen);
		if (e->state == IVSHM_SEG_DATA && e->used > im->g.seg_size)
			insp_warn(s->in, "segment %u (table entry at region "
				  "offset 0x%llx): used %u is larger than a "
				  "segment", i, (unsigned long long)off,
				  e->used);
	}
}

static void core_verify(struct vstate *s)
{
	struct img *im = &s->v->im;
	struct progress pg;
	struct capture cap;
	int rc;

	progress_start(&pg, "verify: building the index, checking names, "
		       "links and space", 0);
	pg.on = pg.on && !s->in->quiet;
	progress_label(&pg);
	capture_begin(&cap);
	rc = ivshm_verify(im->mem, im->size, &s->rep);
	s->core = capture_end(&cap);
	progress_end(&pg);
	s->rep_ok = rc != -ENOMEM;
	if (rc == -ENOMEM)
		add(s, "verify", "verify: out of memory");
	else if (rc && s->rep.errors > 1)
		add(s, "consistency", "consistency: %s (%llu errors in all)",
		    s->rep.first_error, (unsigned long long)s->rep.errors);
	else if (rc)
		add(s, "consistency", "consistency: %s", s->rep.first_error);
}

static void fault_from_replay(struct vstate *s)
{
	const struct rp_fault *rf = &s->v->rp.fault;
	static const char *const area[] = {
		[RP_DESC] = "checkpoint descriptor",
		[RP_CKPT] = "checkpoint",
		[RP_LOG] = "log",
		[RP_NOMEM] = "verify",
	};
	struct fault *f = add(s, area[rf->area], "%s", rf->msg);

	if (!f)
		return;
	f->at = rf->region_off || rf->at_record;
	f->region_off = rf->region_off;
	f->seg = rf->seg;
	f->off = rf->off;
	f->has_seq = rf->at_record;
	f->seq = rf->seq;
}

static void out_json(struct vstate *s)
{
	struct json *j = insp_doc(s->in);
	const struct ivshm_verify_report *r = &s->rep;
	const struct view *v = s->v;
	const char *m;

	json_bool(j, "sound", !s->nf);
	json_arr_begin(j, "faults");
	for (unsigned int i = 0; i < s->nf; i++) {
		const struct fault *f = &s->f[i];

		json_obj_begin(j, NULL);
		json_str(j, "area", f->area);
		json_str(j, "message", f->msg ? f->msg : "?");
		if (f->at) {
			json_u64(j, "region_off", f->region_off);
		} else {
			json_null(j, "region_off");
		}
		if (f->has_seq) {
			json_u64(j, "seq", f->seq);
			json_u64(j, "seg", f->seg);
			json_u64(j, "off", f->off);
		} else {
			json_null(j, "seq");
			json_null(j, "seg");
			json_null(j, "off");
		}
		json_obj_end(j);
	}
	json_arr_end(j);
	json_u64(j, "more_faults", s->more);
	json_obj_begin(j, "checked");
	json_u64(j, "head_seq", v->im.head);
	json_u64(j, "log_records", v->rp.log.records);
	json_u64(j, "log_bytes", v->rp.log.bytes);
	json_u64(j, "log_segments", v->rp.log.segments);
	json_u64(j, "ckpt_records", v->rp.ckpt.records);
	json_u64(j, "ckpt_segments", v->rp.ckpt.segments);
	json_u64(j, "region_size", v->im.size);
	json_obj_end(j);
	json_obj_begin(j, "report");
	if (s->rep_ok) {
		json_u64(j, "head_seq", r->head_seq);
		json_u64(j, "records", r->records);
		json_u64(j, "ckpt_records", r->ckpt_records);
		json_u64(j, "inodes", r->inodes);
		json_u64(j, "dirs", r->dirs);
		json_u64(j, "files", r->files);
		json_u64(j, "extents", r->extents);
		json_u64(j, "data_bytes", r->data_bytes);
		json_u64(j, "anomalies", r->anomalies);
		json_u64(j, "orphans", r->orphans);
		json_u64(j, "errors", r->errors);
		json_u64(j, "seg_free", r->seg_free);
		json_u64(j, "seg_meta", r->seg_meta);
		json_u64(j, "seg_data", r->seg_data);
		json_u64(j, "seg_ckpt", r->seg_ckpt);
	}
	json_obj_end(j);
	json_arr_begin(j, "core_messages");
	/* ivshm_verify replays too: its messages include the replay's. */
	for (int pass = s->core ? 1 : 0; pass < 2; pass++) {
		m = pass ? s->core : v->rp.core_msgs;
		while (m && *m) {
			const char *nl = strchr(m, '\n');
			size_t len = nl ? (size_t)(nl - m) : strlen(m);

			if (len)
				json_strn(j, NULL, m, len);
			m += len + (nl ? 1 : 0);
		}
	}
	json_arr_end(j);
}

static void print_msgs(const char *m)
{
	while (m && *m) {
		const char *nl = strchr(m, '\n');
		int len = nl ? (int)(nl - m) : (int)strlen(m);

		if (len)
			printf("  core: %.*s\n", len, m);
		m += len + (nl ? 1 : 0);
	}
}

static void out_text(struct vstate *s)
{
	const struct view *v = s->v;
	const struct ivshm_verify_report *r = &s->rep;
	struct table t;
	char a[32], b[32];

	if (s->nf) {
		for (unsigned int i = 0; i < s->nf; i++)
			printf("FAULT: %s\n", s->f[i].msg ? s->f[i].msg : "?");
		if (s->more)
			printf("... and %llu more\n",
			       (unsigned long long)s->more);
		print_msgs(s->core ? s->core : v->rp.core_msgs);
		printf("%s: %u fault%s found\n", s->in->region, s->nf,
		       s->nf == 1 ? "" : "s");
		return;
	}
	printf("%s: a sound ivshm store\n", s->in->region);
	table_init(&t, 2, "ll");
	table_row(&t);
	table_cell(&t, "superblock");
	table_cell(&t, "checksum and geometry ok (%s region)",
		   fmt_size(v->im.size, a));
	table_row(&t);
	table_cell(&t, "checkpoint");
	if (v->rp.d.ckpt_seg == IVSHM_NONE)
		table_cell(&t, "none yet; descriptor ok");
	else
		table_cell(&t, "seq %llu: %llu records in %u segment%s, "
			   "checksums ok", (unsigned long long)v->rp.d.ckpt_seq,
			   (unsigned long long)v->rp.ckpt.records,
			   v->rp.ckpt.segments,
			   v->rp.ckpt.segments == 1 ? "" : "s");
	table_row(&t);
	table_cell(&t, "log");
	table_cell(&t, "%llu records (%s) in %u segment%s up to head_seq "
		   "%llu, checksums ok", (unsigned long long)v->rp.log.records,
		   fmt_size(v->rp.log.bytes, a), v->rp.log.segments,
		   v->rp.log.segments == 1 ? "" : "s",
		   (unsigned long long)v->im.head);
	table_row(&t);
	table_cell(&t, "namespace");
	table_cell(&t, "%llu inodes (%llu files, %llu directories): names, "
		   "link counts and parents agree; %llu orphan%s",
		   (unsigned long long)r->inodes, (unsigned long long)r->files,
		   (unsigned long long)r->dirs, (unsigned long long)r->orphans,
		   r->orphans == 1 ? "" : "s");
	table_row(&t);
	table_cell(&t, "space");
	table_cell(&t, "%s of file data in %llu extents, all in data "
		   "segments; segments: %u free, %u meta, %u data, %u "
		   "checkpoint", fmt_size(r->data_bytes, b),
		   (unsigned long long)r->extents, r->seg_free, r->seg_meta,
		   r->seg_data, r->seg_ckpt);
	table_print(&t, stdout, "  ");
	table_free(&t);
}

int cmd_verify(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = { { 0 } };
	struct vstate s = { .in = in };
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "", lo)) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	rc = view_open(in, &v, VIEW_ANY);
	if (rc) {
		view_close(&v);
		return rc;
	}
	s.v = &v;
	if (v.im.kind != IVSHM_REGION_VALID) {
		struct fault *f = add(&s, "superblock", "superblock: %s: %s",
				      ivshm_region_kind_name(v.im.kind),
				      v.im.why);

		if (f) {
			f->at = true;
			f->region_off = 0;
		}
	} else {
		check_sb_reserved(&s);
		/*
		 * Every header and record, each fault named precisely; the
		 * index (the costly part) is built once, by ivshm_verify.
		 */
		v.rp.im = &v.im;
		v.rp.build = false;
		v.rp.quiet = in->quiet;
		v.rp_rc = replay_run(&v.rp);
		if (v.rp_rc)
			fault_from_replay(&s);
		else
			core_verify(&s);
		check_peers(&s);
		if (!v.rp_rc)
			check_segments(&s);
	}
	if (in->json)
		out_json(&s);
	else
		out_text(&s);
	rc = s.nf ? insp_fail(in, EXIT_FAIL, "%s: %u fault%s: %s", in->region,
			      s.nf, s.nf == 1 ? "" : "s",
			      s.f[0].msg ? s.f[0].msg : "?") : EXIT_OK;
	for (unsigned int i = 0; i < s.nf; i++)
		free(s.f[i].msg);
	free(s.core);
	view_close(&v);
	return rc;
}
