// SPDX-License-Identifier: MIT
/* info and peers: the store at a glance, the peer table and the lock. */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "inspect.h"
#include "view.h"

#define LOCK_FORMATTING UINT64_MAX /* as core/store_int.h */
#define GEN_MASK 0xffffffffffffull

/* ---- the lock word ---- */

struct lock_info {
	const char *state;	/* free, held, formatting, broken */
	uint64_t word;
	uint32_t slot;		/* holder, when held or broken */
	uint64_t gen;
	bool holder_alive;	/* the slot is alive with that generation */
};

static void lock_info(const struct img *im, struct lock_info *l)
{
	const struct ivshm_sb *sb = img_sb(im);

	memset(l, 0, sizeof(*l));
	l->word = sb->lock;
	if (!l->word) {
		l->state = "free";
		return;
	}
	if (l->word == LOCK_FORMATTING) {
		l->state = "formatting";
		return;
	}
	l->slot = (uint32_t)(l->word & 0xffff) - 1;
	l->gen = l->word >> 16;
	if ((l->word & 0xffff) == 0 || l->slot >= im->g.peer_slots) {
		l->state = "broken";
		return;
	}
	l->state = "held";
	{
		uint64_t gs = img_slot(im, l->slot)->gen_state;

		l->holder_alive = (gs & 3) == IVSHM_SLOT_ALIVE &&
				  ((gs >> 2) & GEN_MASK) == l->gen;
	}
}

static void lock_text(const struct img *im, const struct lock_info *l,
		      char *buf, size_t len)
{
	const struct ivshm_slot *s;
	char name[64];

	if (!strcmp(l->state, "free") || !strcmp(l->state, "formatting")) {
		snprintf(buf, len, "%s", !strcmp(l->state, "free") ? "free" :
			 "held by a peer formatting the region");
		return;
	}
	if (!strcmp(l->state, "broken")) {
		snprintf(buf, len, "garbage (0x%llx names no slot): the next "
			 "writer breaks it", (unsigned long long)l->word);
		return;
	}
	s = img_slot(im, l->slot);
	fmt_name(s->name, strnlen(s->name, sizeof(s->name)), name,
		 sizeof(name));
	if (l->holder_alive)
		snprintf(buf, len, "held by slot %u (%s, pid %u)", l->slot,
			 name[0] ? name : "unnamed", s->pid);
	else
		snprintf(buf, len, "held by slot %u generation %llu, which is "
			 "not alive with that generation (a dead holder: a "
			 "writer breaks it)", l->slot,
			 (unsigned long long)l->gen);
}

static void lock_json(struct json *j, const struct img *im)
{
	struct lock_info l;

	lock_info(im, &l);
	json_obj_begin(j, "lock");
	json_str(j, "state", l.state);
	json_u64(j, "word", l.word);
	if (!strcmp(l.state, "held")) {
		json_u64(j, "slot", l.slot);
		json_u64(j, "generation", l.gen);
		json_bool(j, "holder_alive", l.holder_alive);
	} else {
		json_null(j, "slot");
		json_null(j, "generation");
		json_null(j, "holder_alive");
	}
	json_u64(j, "count", img_sb(im)->lock_count);
	json_obj_end(j);
}

/* ---- info ---- */

struct ns_count {
	uint64_t inodes, dirs, files, links, other, orphans;
	uint64_t extents, mapped, apparent;
};

static int count_inode(void *arg, struct ivshm_inode *n)
{
	struct ns_count *c = arg;

	c->inodes++;
	if (ivshm_is_dir(n)) {
		c->dirs++;
		return 0;
	}
	if (ivshm_is_reg(n)) {
		c->files++;
		c->extents += ivshm_extmap_count(&n->ext);
		c->mapped += ivshm_extmap_bytes(&n->ext);
		c->apparent += n->a.size;
	} else if (ivshm_is_lnk(n)) {
		c->links++;
	} else {
		c->other++;
	}
	c->orphans += !n->a.nlink;
	return 0;
}

struct space {
	uint32_t n[6];		/* per state, [5]: unknown */
	uint64_t capacity, free, used, live, reclaimable, dead, freeing;
	uint32_t alive, dead_slots, free_slots;
};

static void space_of(const struct view *v, struct space *s)
{
	const struct img *im = &v->im;
	uint64_t seg = im->g.seg_size;
	uint8_t *open = calloc(im->g.seg_count, 1);

	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < im->g.peer_slots; i++) {
		const struct ivshm_slot *sl = img_slot(im, i);
		unsigned int st = sl->gen_state & 3;

		s->alive += st == IVSHM_SLOT_ALIVE;
		s->dead_slots += st == IVSHM_SLOT_DEAD;
		s->free_slots += st == IVSHM_SLOT_FREE;
		if (open && st == IVSHM_SLOT_ALIVE &&
		    sl->data_seg < im->g.seg_count)
			open[sl->data_seg] = 1;
	}
	s->capacity = (uint64_t)im->g.seg_count * seg;
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		const struct ivshm_seg_entry *e = img_seg(im, i);
		int64_t live = v->rp.have_x ? v->rp.x.seg_live[i] : 0;
		uint64_t l = live > 0 ? (uint64_t)live : 0;

		s->n[e->state < 5 ? e->state : 5]++;
		s->live += l;
		if (e->state == IVSHM_SEG_FREEING) {
			s->freeing += seg;
		} else if (e->state == IVSHM_SEG_DATA) {
			/* An open segment's unwritten tail is not dead. */
			uint64_t top = open && open[i] && e->used <= seg ?
					       e->used : seg;

			s->dead += top > l ? top - l : 0;
		}
	}
	free(open);
	s->free = (uint64_t)s->n[IVSHM_SEG_FREE] * seg;
	s->used = s->capacity - s->free;
	s->reclaimable = s->freeing + s->dead;
}

static void by_type_json(struct json *j, const char *key,
			 const struct rp_stats *st)
{
	json_obj_begin(j, key);
	json_u64(j, "records", st->records);
	json_u64(j, "bytes", st->bytes);
	json_u64(j, "segments", st->segments);
	json_obj_begin(j, "by_type");
	for (unsigned int t = 1; t <= IVSHM_REC_TYPE_MAX; t++)
		json_u64(j, fmt_rec_type(t), st->by_type[t]);
	json_obj_end(j);
	json_obj_end(j);
}

static void info_json(struct insp *in, const struct view *v,
		      const struct space *s, const struct ns_count *c)
{
	const struct img *im = &v->im;
	const struct ivshm_sb *sb = img_sb(im);
	const struct ivshm_ckpt_desc *d = &v->rp.d;
	struct json *j = insp_doc(in);

	json_str(j, "source", img_source(im));
	json_obj_begin(j, "format");
	json_u64(j, "version", sb->version);
	json_hex(j, "uuid", sb->uuid, 16);
	json_u64(j, "format_time_ns", sb->format_time);
	json_u64(j, "features", sb->features);
	json_obj_end(j);
	json_obj_begin(j, "geometry");
	json_u64(j, "region_size", im->g.region_size);
	json_u64(j, "seg_size", im->g.seg_size);
	json_u64(j, "seg_count", im->g.seg_count);
	json_u64(j, "seg0_off", im->g.seg0_off);
	json_u64(j, "peer_slots", im->g.peer_slots);
	json_u64(j, "seg_table_off", im->g.seg_table_off);
	json_obj_end(j);
	json_obj_begin(j, "space");
	json_u64(j, "capacity", s->capacity);
	json_u64(j, "used", s->used);
	json_u64(j, "free", s->free);
	json_u64(j, "live_data", s->live);
	json_u64(j, "reclaimable", s->reclaimable);
	json_u64(j, "freeing", s->freeing);
	json_u64(j, "dead_data", s->dead);
	json_obj_begin(j, "segments");
	for (unsigned int t = 0; t < 5; t++)
		json_u64(j, fmt_seg_state(t), s->n[t]);
	json_u64(j, "unknown", s->n[5]);
	json_obj_end(j);
	json_obj_end(j);
	json_obj_begin(j, "log");
	json_u64(j, "head_seq", im->head);
	json_u64(j, "epoch", sb->epoch);
	json_u64(j, "ckpt_gen", sb->ckpt_gen);
	json_obj_begin(j, "checkpoint");
	json_u64(j, "seq", d->ckpt_seq);
	if (d->ckpt_seg == IVSHM_NONE)
		json_null(j, "seg");
	else
		json_u64(j, "seg", d->ckpt_seg);
	json_u64(j, "records", d->ckpt_records);
	json_u64(j, "log_seg", d->log_seg);
	json_u64(j, "log_off", d->log_off);
	json_obj_end(j);
	json_obj_begin(j, "tail");
	json_u64(j, "seg", v->rp.tail.seg);
	json_u64(j, "off", v->rp.tail.off);
	json_u64(j, "seq", v->rp.tail.seq);
	json_obj_end(j);
	json_obj_end(j);
	json_obj_begin(j, "records");
	by_type_json(j, "log", &v->rp.log);
	by_type_json(j, "checkpoint", &v->rp.ckpt);
	json_obj_end(j);
	json_obj_begin(j, "namespace");
	json_u64(j, "inodes", c->inodes);
	json_u64(j, "dirs", c->dirs);
	json_u64(j, "files", c->files);
	json_u64(j, "symlinks", c->links);
	json_u64(j, "other", c->other);
	json_u64(j, "orphans", c->orphans);
	json_u64(j, "extents", c->extents);
	json_u64(j, "mapped_bytes", c->mapped);
	json_u64(j, "apparent_bytes", c->apparent);
	json_u64(j, "max_ino", v->rp.have_x ? v->rp.x.max_ino : 0);
	json_u64(j, "anomalies", v->rp.have_x ? v->rp.x.anomalies : 0);
	json_obj_end(j);
	json_obj_begin(j, "peers");
	json_u64(j, "slots", im->g.peer_slots);
	json_u64(j, "alive", s->alive);
	json_u64(j, "dead", s->dead_slots);
	json_u64(j, "free", s->free_slots);
	json_obj_end(j);
	lock_json(j, im);
	json_bool(j, "damaged", v->rp_rc != 0);
	if (v->rp_rc)
		json_str(j, "fault", v->rp.fault.msg);
	else
		json_null(j, "fault");
}

static void by_type_text(char *buf, size_t len, const struct rp_stats *a,
			 const struct rp_stats *b)
{
	size_t o = 0;

	buf[0] = 0;
	for (unsigned int t = 1; t <= IVSHM_REC_TYPE_MAX && o < len; t++) {
		uint64_t n = a->by_type[t] + b->by_type[t];

		if (n)
			o += (size_t)snprintf(buf + o, len - o, "%s%s %llu",
					      o ? ", " : "", fmt_rec_type(t),
					      (unsigned long long)n);
	}
	if (!o)
		snprintf(buf, len, "none");
}

static void info_text(const struct view *v, const struct space *s,
		      const struct ns_count *c)
{
	const struct img *im = &v->im;
	const struct ivshm_sb *sb = img_sb(im);
	const struct ivshm_ckpt_desc *d = &v->rp.d;
	struct lock_info l;
	struct table t;
	char a[32], b[32], e[32], tm[32], buf[512];

	table_init(&t, 2, "ll");
	table_row(&t);
	table_cell(&t, "region");
	table_cell(&t, "%s (%s, %s)", im->path, img_source(im),
		   fmt_size(im->size, a));
	table_row(&t);
	table_cell(&t, "format");
	for (int i = 0, o = 0; i < 16; i++)
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s%02x",
			      i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
			      sb->uuid[i]);
	table_cell(&t, "ivshm store version %u, uuid %s, formatted %s",
		   sb->version, buf,
		   fmt_time((int64_t)sb->format_time, tm, sizeof(tm)));
	table_row(&t);
	table_cell(&t, "geometry");
	table_cell(&t, "%u segments of %s from offset %s, %u peer slots",
		   im->g.seg_count, fmt_size(im->g.seg_size, a),
		   fmt_size(im->g.seg0_off, b), im->g.peer_slots);
	table_row(&t);
	table_cell(&t, "capacity");
	table_cell(&t, "%s", fmt_size(s->capacity, a));
	table_row(&t);
	table_cell(&t, "used");
	table_cell(&t, "%s (%u data, %u meta, %u checkpoint, %u freeing "
		   "segments)", fmt_size(s->used, a), s->n[IVSHM_SEG_DATA],
		   s->n[IVSHM_SEG_META], s->n[IVSHM_SEG_CKPT],
		   s->n[IVSHM_SEG_FREEING]);
	table_row(&t);
	table_cell(&t, "free");
	table_cell(&t, "%s (%u segments)", fmt_size(s->free, a),
		   s->n[IVSHM_SEG_FREE]);
	table_row(&t);
	table_cell(&t, "live data");
	table_cell(&t, "%s", fmt_size(s->live, a));
	table_row(&t);
	table_cell(&t, "reclaimable");
	table_cell(&t, "%s (%s in freeing segments, %s dead in data "
		   "segments)", fmt_size(s->reclaimable, a),
		   fmt_size(s->freeing, b), fmt_size(s->dead, e));
	table_row(&t);
	table_cell(&t, "log head");
	table_cell(&t, "seq %llu (epoch %llu)", (unsigned long long)im->head,
		   (unsigned long long)sb->epoch);
	table_row(&t);
	table_cell(&t, "checkpoint");
	if (!v->rp.d_ok)
		table_cell(&t, "unreadable descriptor");
	else if (d->ckpt_seg == IVSHM_NONE)
		table_cell(&t, "none yet; the log starts at segment %u offset "
			   "0x%x", d->log_seg, d->log_off);
	else
		table_cell(&t, "seq %llu: %llu records in %u segment%s from "
			   "segment %u; the log resumes at segment %u offset "
			   "0x%x", (unsigned long long)d->ckpt_seq,
			   (unsigned long long)d->ckpt_records,
			   v->rp.ckpt.segments,
			   v->rp.ckpt.segments == 1 ? "" : "s", d->ckpt_seg,
			   d->log_seg, d->log_off);
	table_row(&t);
	table_cell(&t, "log");
	table_cell(&t, "%llu records (%s) in %u segment%s since the "
		   "checkpoint; tail at segment %u offset 0x%x",
		   (unsigned long long)v->rp.log.records,
		   fmt_size(v->rp.log.bytes, a), v->rp.log.segments,
		   v->rp.log.segments == 1 ? "" : "s", v->rp.tail.seg,
		   v->rp.tail.off);
	by_type_text(buf, sizeof(buf), &v->rp.log, &v->rp.ckpt);
	table_row(&t);
	table_cell(&t, "records");
	table_cell(&t, "%s", buf);
	table_row(&t);
	table_cell(&t, "namespace");
	table_cell(&t, "%llu inodes: %llu files, %llu directories, %llu "
		   "symlinks, %llu other; %llu orphans",
		   (unsigned long long)c->inodes, (unsigned long long)c->files,
		   (unsigned long long)c->dirs, (unsigned long long)c->links,
		   (unsigned long long)c->other,
		   (unsigned long long)c->orphans);
	table_row(&t);
	table_cell(&t, "file data");
	table_cell(&t, "%s in %llu extents (apparent size %s)",
		   fmt_size(c->mapped, a), (unsigned long long)c->extents,
		   fmt_size(c->apparent, b));
	table_row(&t);
	table_cell(&t, "peers");
	table_cell(&t, "%u alive, %u dead, %u free of %u slots", s->alive,
		   s->dead_slots, s->free_slots, im->g.peer_slots);
	lock_info(im, &l);
	lock_text(im, &l, buf, sizeof(buf));
	table_row(&t);
	table_cell(&t, "lock");
	table_cell(&t, "%s (taken %llu times)", buf,
		   (unsigned long long)sb->lock_count);
	table_print(&t, stdout, NULL);
	table_free(&t);
}

int cmd_info(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = { { 0 } };
	struct ns_count c = { 0 };
	struct space s;
	struct view v;
	int rc;

	if (insp_getopt(in, argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	rc = view_open(in, &v, VIEW_INDEX);
	if (rc) {
		view_close(&v);
		return rc;
	}
	if (v.rp.have_x)
		ivshm_index_walk(&v.rp.x, count_inode, &c);
	space_of(&v, &s);
	if (in->json)
		info_json(in, &v, &s, &c);
	else
		info_text(&v, &s, &c);
	view_close(&v);
	return EXIT_OK;
}

/* ---- peers ---- */

int cmd_peers(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "wait", required_argument, NULL, 'w' },
		{ 0 },
	};
	uint64_t wait_ms = 300;
	bool all = false;
	uint8_t *moving = NULL;
	struct lock_info l;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "aw:", lo)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'w' && insp_parse_u64(optarg, &wait_ms) &&
			 wait_ms <= 60000)
			continue;
		else if (c == 'w')
			return insp_usage(in, "--wait takes milliseconds "
					  "(0..60000), not '%s'", optarg);
		else
			return EXIT_USAGE;
	}
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	rc = view_open(in, &v, VIEW_STORE);
	if (rc) {
		view_close(&v);
		return rc;
	}
	moving = calloc(v.im.g.peer_slots, 1);
	if (moving && v.im.live && wait_ms)
		img_probe(&v.im, (unsigned int)wait_ms, moving);
	lock_info(&v.im, &l);
	if (in->json) {
		struct json *j = insp_doc(in);

		json_u64(j, "slots_total", v.im.g.peer_slots);
		json_u64(j, "probe_ms", v.im.live ? wait_ms : 0);
		json_arr_begin(j, "slots");
	}
	{
		struct table t;
		char tm[32], name[64];

		table_init(&t, 13, "rlrrrlrlrrrrl");
		table_row(&t);
		table_cell(&t, "SLOT");
		table_cell(&t, "STATE");
		table_cell(&t, "GEN");
		table_cell(&t, "DEV");
		table_cell(&t, "PID");
		table_cell(&t, "NAME");
		table_cell(&t, "HEARTBEAT");
		table_cell(&t, "LIVE");
		table_cell(&t, "EPOCH");
		table_cell(&t, "REPLAYED");
		table_cell(&t, "NOTIFIED");
		table_cell(&t, "DATA");
		table_cell(&t, "ATTACHED");
		for (uint32_t i = 0; i < v.im.g.peer_slots; i++) {
			const struct ivshm_slot *s = img_slot(&v.im, i);
			unsigned int st = s->gen_state & 3;
			bool probed = v.im.live && wait_ms &&
				      st == IVSHM_SLOT_ALIVE && moving;
			size_t nl = strnlen(s->name, sizeof(s->name));

			if (!all && !s->gen_state)
				continue;
			if (in->json) {
				struct json *j = insp_doc(in);

				json_obj_begin(j, NULL);
				json_u64(j, "slot", i);
				json_str(j, "state", fmt_slot_state(st));
				json_u64(j, "generation",
					 (s->gen_state >> 2) & GEN_MASK);
				if (s->dev_id == IVSHM_NONE)
					json_null(j, "dev_id");
				else
					json_u64(j, "dev_id", s->dev_id);
				json_u64(j, "pid", s->pid);
				json_name(j, "name", s->name, nl);
				json_u64(j, "heartbeat", s->heartbeat);
				if (probed)
					json_bool(j, "heartbeat_moving",
						  moving[i]);
				else
					json_null(j, "heartbeat_moving");
				json_u64(j, "epoch", s->epoch);
				json_u64(j, "replay_seq", s->replay_seq);
				json_u64(j, "notified_seq", s->notified_seq);
				if (s->data_seg == IVSHM_NONE)
					json_null(j, "data_seg");
				else
					json_u64(j, "data_seg", s->data_seg);
				json_u64(j, "flags", s->flags);
				json_u64(j, "attach_time_ns", s->attach_time);
				json_bool(j, "holds_lock",
					  !strcmp(l.state, "held") &&
						  l.slot == i);
				json_obj_end(j);
				continue;
			}
			table_row(&t);
			table_cell(&t, "%u", i);
			table_cell(&t, "%s%s", fmt_slot_state(st),
				   !strcmp(l.state, "held") && l.slot == i ?
					   "*" : "");
			table_cell(&t, "%llu",
				   (unsigned long long)((s->gen_state >> 2) &
							GEN_MASK));
			if (s->dev_id == IVSHM_NONE)
				table_cell(&t, "-");
			else
				table_cell(&t, "%u", s->dev_id);
			table_cell(&t, "%u", s->pid);
			table_cell(&t, "%s", nl ? fmt_name(s->name, nl, name,
							   sizeof(name)) :
						  "-");
			table_cell(&t, "%llu",
				   (unsigned long long)s->heartbeat);
			table_cell(&t, "%s", !probed ? "-" :
					     moving[i] ? "yes" : "silent");
			table_cell(&t, "%llu", (unsigned long long)s->epoch);
			table_cell(&t, "%llu",
				   (unsigned long long)s->replay_seq);
			table_cell(&t, "%llu",
				   (unsigned long long)s->notified_seq);
			if (s->data_seg == IVSHM_NONE)
				table_cell(&t, "-");
			else
				table_cell(&t, "%u", s->data_seg);
			table_cell(&t, "%s", fmt_time((int64_t)s->attach_time,
						      tm, sizeof(tm)));
		}
		if (!in->json) {
			char buf[256];

			if (t.nrows > 1)
				table_print(&t, stdout, NULL);
			else
				printf("no peer slot was ever used (%u "
				       "slots)\n", v.im.g.peer_slots);
			lock_text(&v.im, &l, buf, sizeof(buf));
			printf("lock: %s; taken %llu times\n", buf,
			       (unsigned long long)img_sb(&v.im)->lock_count);
			if (v.im.live && wait_ms && t.nrows > 1)
				printf("(LIVE: heartbeat seen moving within "
				       "%llu ms; * marks the lock holder)\n",
				       (unsigned long long)wait_ms);
		}
		table_free(&t);
	}
	if (in->json) {
		struct json *j = insp_doc(in);

		json_arr_end(j);
		lock_json(j, &v.im);
	}
	free(moving);
	view_close(&v);
	return EXIT_OK;
}
