/* SPDX-License-Identifier: MIT */
/*
 * Replay of a snapshot without attaching to it: the current checkpoint,
 * then the meta log up to head_seq, read with the core's checked cursor
 * (ivshm_log_next) into a private index (ivshm_index_apply), as every peer
 * does at attach. Where the log cannot be read, the fault is named
 * precisely: which structure, which record, at which offset, and why.
 */
#ifndef IVSHM_INSPECT_REPLAY_H
#define IVSHM_INSPECT_REPLAY_H

#include "image.h"
#include "index.h"
#include "progress.h"

enum rp_area {
	RP_OK = 0,
	RP_DESC,	/* the checkpoint descriptor */
	RP_CKPT,	/* the checkpoint's segments and records */
	RP_LOG,		/* the meta log's segments and records */
	RP_NOMEM,
};

struct rp_fault {
	enum rp_area area;
	char msg[640];
	bool at_record;		/* seq, seg, off say where */
	uint64_t seq;		/* the record that could not be read */
	uint32_t seg, off;
	uint64_t region_off;
};

struct rp_stats {
	uint64_t records;	/* LINK records included */
	uint64_t bytes;
	uint64_t by_type[IVSHM_REC_TYPE_MAX + 1];
	uint32_t segments;
};

/* Segment roles found by the replay (per segment). */
#define RP_ROLE_LOG 1u
#define RP_ROLE_CKPT 2u

/*
 * Called for every record in order, LINK records included (the cursor
 * follows them silently; they are rebuilt here from the bytes it passed).
 * Non-zero stops the replay (returned by replay_run when positive).
 */
typedef int (*rp_fn)(void *arg, const struct ivshm_rec *r, bool in_ckpt);

struct replay {
	/* set by the caller */
	struct img *im;
	bool build;		/* build the index */
	bool skip_ckpt;		/* start at the log, checkpoint unread */
	rp_fn fn;
	void *arg;
	bool fn_ckpt;		/* fn sees checkpoint records too */
	uint64_t fn_from;	/* fn sees log records from this seq on */
	bool quiet;		/* no progress line */

	/* results */
	struct ivshm_index x;
	bool have_x;
	struct ivshm_ckpt_desc d;
	bool d_ok;
	struct rp_stats ckpt, log;
	uint8_t *role;		/* RP_ROLE_* per segment */
	struct ivshm_cursor tail; /* after the last record read */
	struct rp_fault fault;
	char *core_msgs;	/* what the core logged meanwhile, or NULL */
};

/*
 * 0 when everything up to head_seq was read; -EIO with rp->fault filled
 * (the index then holds what came before the fault); -ENOMEM; or the
 * positive value fn stopped with.
 */
int replay_run(struct replay *rp);
void replay_free(struct replay *rp);

/*
 * The LINK record at @pos in @region (which ivshm_log_next followed
 * without returning it): copied into @l and checked again, and @pos moved
 * to where it leads. 0 or -EIO.
 */
int rp_read_link(const uint8_t *region, const struct ivshm_geom *g,
		 struct ivshm_cursor *pos, struct ivshm_rec *l);

/* "segment 3 (region offset 0x...)" style helpers for messages. */
uint64_t rp_region_off(const struct img *im, uint32_t seg, uint32_t off);

/*
 * Why the header of segment @seg is not a valid @kind header starting at
 * @first_seq (UINT64_MAX: any), or NULL when it is. @buf holds the text.
 */
const char *rp_check_seg_hdr(const struct img *im, uint32_t seg,
			     uint32_t kind, uint64_t first_seq, char *buf,
			     size_t len);

#endif
