// SPDX-License-Identifier: MIT
/* segments: the segment table with what each segment holds, and a map. */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "inspect.h"
#include "view.h"

#define MAP_WIDTH 64

struct seginfo {
	char map;
	char note[96];
	int open_by;		/* slot whose open data segment it is, or -1 */
	bool on_log, in_ckpt;
	uint64_t live;
};

static void describe(const struct view *v, uint32_t i, const int *open_by,
		     struct seginfo *s)
{
	const struct img *im = &v->im;
	const struct ivshm_seg_entry *e = img_seg(im, i);
	uint8_t role = v->rp.role ? v->rp.role[i] : 0;
	int64_t live = v->rp.have_x ? v->rp.x.seg_live[i] : 0;

	memset(s, 0, sizeof(*s));
	s->open_by = open_by[i];
	s->on_log = role & RP_ROLE_LOG;
	s->in_ckpt = role & RP_ROLE_CKPT;
	s->live = live > 0 ? (uint64_t)live : 0;
	switch (e->state) {
	case IVSHM_SEG_FREE:
		s->map = '.';
		break;
	case IVSHM_SEG_FREEING:
		s->map = '~';
		snprintf(s->note, sizeof(s->note), "retired at epoch %llu",
			 (unsigned long long)e->free_epoch);
		break;
	case IVSHM_SEG_META:
		s->map = s->on_log ? 'M' : 'm';
		if (s->on_log)
			snprintf(s->note, sizeof(s->note), "%s",
				 v->rp.tail.seg == i ? "log tail" : "log");
		else if (e->alloc_seq > im->head)
			snprintf(s->note, sizeof(s->note), "not on the log: "
				 "claimed by a writer, not yet published");
		else
			snprintf(s->note, sizeof(s->note), "not on the log");
		break;
	case IVSHM_SEG_CKPT:
		s->map = s->in_ckpt ? 'C' : 'c';
		if (s->in_ckpt)
			snprintf(s->note, sizeof(s->note), "checkpoint");
		else if (e->owner == (uint32_t)(im->gen + 1))
			snprintf(s->note, sizeof(s->note), "next checkpoint, "
				 "being written");
		else
			snprintf(s->note, sizeof(s->note), "orphan checkpoint "
				 "segment (tag %u)", e->owner);
		break;
	case IVSHM_SEG_DATA: {
		unsigned int tenth = (unsigned int)(s->live * 10 /
						    im->g.seg_size);

		s->map = (char)('0' + (tenth > 9 ? 9 : tenth));
		if (s->open_by >= 0)
			snprintf(s->note, sizeof(s->note), "open, slot %d",
				 s->open_by);
		break;
	}
	default:
		s->map = '?';
		snprintf(s->note, sizeof(s->note), "unknown state %u",
			 e->state);
	}
}

static const char legend[] =
	". free  ~ freeing  M meta (log)  m meta (not on the log)  "
	"C checkpoint  c checkpoint (not current)\n"
	"0-9 data, by tenths of live bytes (0: under 10%, 9: 90% or more)  "
	"? unknown state";

int cmd_segments(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "map", no_argument, NULL, 'm' },
		{ 0 },
	};
	bool all = false, map_only = false;
	struct seginfo si;
	struct view v;
	int *open_by;
	char *map;
	uint32_t n;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "am", lo)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'm')
			map_only = true;
		else
			return EXIT_USAGE;
	}
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	rc = view_open(in, &v, VIEW_INDEX);
	if (rc) {
		view_close(&v);
		return rc;
	}
	n = v.im.g.seg_count;
	open_by = malloc(n * sizeof(*open_by));
	map = malloc(n + 1);
	if (!open_by || !map) {
		free(open_by);
		free(map);
		view_close(&v);
		return insp_fail(in, EXIT_FAIL, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++)
		open_by[i] = -1;
	for (uint32_t s = 0; s < v.im.g.peer_slots; s++) {
		const struct ivshm_slot *sl = img_slot(&v.im, s);

		if ((sl->gen_state & 3) == IVSHM_SLOT_ALIVE &&
		    sl->data_seg < n)
			open_by[sl->data_seg] = (int)s;
	}
	for (uint32_t i = 0; i < n; i++) {
		describe(&v, i, open_by, &si);
		map[i] = si.map;
	}
	map[n] = 0;

	if (in->json) {
		struct json *j = insp_doc(in);

		json_u64(j, "seg_size", v.im.g.seg_size);
		json_u64(j, "seg_count", n);
		json_u64(j, "seg0_off", v.im.g.seg0_off);
		json_str(j, "map", map);
		json_arr_begin(j, "segments");
		for (uint32_t i = 0; i < n; i++) {
			const struct ivshm_seg_entry *e = img_seg(&v.im, i);

			describe(&v, i, open_by, &si);
			json_obj_begin(j, NULL);
			json_u64(j, "index", i);
			json_str(j, "state", fmt_seg_state(e->state));
			json_u64(j, "state_id", e->state);
			if (e->owner == IVSHM_NONE)
				json_null(j, "owner");
			else
				json_u64(j, "owner", e->owner);
			json_u64(j, "alloc_seq", e->alloc_seq);
			json_u64(j, "free_epoch", e->free_epoch);
			json_u64(j, "used", e->used);
			json_u64(j, "live", si.live);
			json_u64(j, "region_off", img_seg_off(&v.im, i));
			json_bool(j, "on_log", si.on_log);
			json_bool(j, "in_checkpoint", si.in_ckpt);
			if (si.open_by < 0)
				json_null(j, "open_by");
			else
				json_u64(j, "open_by", (uint64_t)si.open_by);
			json_str(j, "note", si.note);
			json_obj_end(j);
		}
		json_arr_end(j);
	} else {
		struct table t;
		char a[32], b[32];

		printf("%u segments of %s from offset 0x%llx\n%s\n\n", n,
		       fmt_size(v.im.g.seg_size, a),
		       (unsigned long long)v.im.g.seg0_off, legend);
		for (uint32_t i = 0; i < n; i += MAP_WIDTH)
			printf("%6u  %.*s\n", i, MAP_WIDTH, map + i);
		if (!map_only) {
			table_init(&t, 8, "rlrrrrrl");
			table_row(&t);
			table_cell(&t, "SEG");
			table_cell(&t, "STATE");
			table_cell(&t, "OWNER");
			table_cell(&t, "ALLOC_SEQ");
			table_cell(&t, "USED");
			table_cell(&t, "LIVE");
			table_cell(&t, "OFFSET");
			table_cell(&t, "NOTE");
			for (uint32_t i = 0; i < n; i++) {
				const struct ivshm_seg_entry *e =
					img_seg(&v.im, i);

				if (!all && e->state == IVSHM_SEG_FREE)
					continue;
				describe(&v, i, open_by, &si);
				table_row(&t);
				table_cell(&t, "%u", i);
				table_cell(&t, "%s", fmt_seg_state(e->state));
				if (e->owner == IVSHM_NONE)
					table_cell(&t, "-");
				else
					table_cell(&t, "%u", e->owner);
				table_cell(&t, "%llu",
					   (unsigned long long)e->alloc_seq);
				table_cell(&t, "%s",
					   e->state == IVSHM_SEG_DATA ?
						   fmt_size(e->used, a) : "-");
				table_cell(&t, "%s",
					   e->state == IVSHM_SEG_DATA ?
						   fmt_size(si.live, b) : "-");
				table_cell(&t, "0x%llx", (unsigned long long)
						   img_seg_off(&v.im, i));
				table_cell(&t, "%s", si.note);
			}
			putchar('\n');
			table_print(&t, stdout, NULL);
			table_free(&t);
		}
	}
	free(open_by);
	free(map);
	view_close(&v);
	return EXIT_OK;
}
