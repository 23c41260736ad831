// SPDX-License-Identifier: MIT
/*
 * Space: epochs, freeing and reusing segments, checkpoints.
 *
 * A segment that stops being needed goes to "freeing" stamped with the
 * global epoch E, and the epoch advances. It becomes free again once every
 * live peer is either outside any operation (slot epoch 0) or inside one it
 * entered after E: nobody can still be reading it through an old index.
 */
#include "store_int.h"

void ivshm_epoch_enter(struct ivshm_store *s)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	struct ivshm_slot *sl = ivshm_slot_at(s->region, s->slot);

	if (s->epoch_depth++)
		return;
	ivshm_store_relaxed(&sl->epoch, ivshm_load_acquire(&sb->epoch));
	/* The announcement must be visible before we read any segment. */
	ivshm_fence();
}

void ivshm_epoch_exit(struct ivshm_store *s)
{
	struct ivshm_slot *sl = ivshm_slot_at(s->region, s->slot);

	if (--s->epoch_depth)
		return;
	ivshm_store_release(&sl->epoch, 0);
}

void ivshm_seg_retire(struct ivshm_store *s, uint32_t i)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g, i);

	IVSHM_FAULT_POINT("segment retire", NULL, NULL, 0);
	e->free_epoch = ivshm_load_acquire(&sb->epoch);
	e->owner = IVSHM_NONE;
	ivshm_fence();
	ivshm_store_release((uint64_t *)(void *)e,
			    ((uint64_t)IVSHM_NONE << 32) | IVSHM_SEG_FREEING);
}

void ivshm_epoch_advance(struct ivshm_store *s)
{
	ivshm_fetch_add(&ivshm_sb_of(s->region)->epoch, 1);
}

/* The oldest epoch a live peer may still be reading in (UINT64_MAX: none). */
static uint64_t oldest_active_epoch(struct ivshm_store *s)
{
	uint64_t oldest = UINT64_MAX;

	for (uint32_t i = 0; i < s->g.peer_slots; i++) {
		struct ivshm_slot *sl = ivshm_slot_at(s->region, i);
		uint64_t gs = ivshm_load_acquire(&sl->gen_state);
		uint64_t ep = ivshm_load_acquire(&sl->epoch);

		if (ivshm_slot_state(gs) != IVSHM_SLOT_ALIVE || !ep ||
		    ep >= oldest)
			continue;
		/* A silent peer cannot hold reclamation back for ever. */
		if (i != s->slot &&
		    ivshm_slot_is_dead(s, i, ivshm_slot_gen48(gs)))
			continue;
		oldest = ep;
	}
	return oldest;
}

unsigned int ivshm_seg_reclaim(struct ivshm_store *s)
{
	uint64_t oldest = UINT64_MAX;
	unsigned int n = 0;
	bool looked = false;

	for (uint32_t i = 0; i < s->g.seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g,
							       i);
		uint64_t *word = (uint64_t *)(void *)e;
		uint64_t cur = ivshm_load_acquire(word);

		if ((uint32_t)cur != IVSHM_SEG_FREEING)
			continue;
		if (!looked) {
			oldest = oldest_active_epoch(s);
			looked = true;
		}
		if (e->free_epoch >= oldest)
			continue;
		if (ivshm_cas(word, &cur, ((uint64_t)IVSHM_NONE << 32) |
						  IVSHM_SEG_FREE))
			n++;
	}
	return n;
}

uint32_t ivshm_seg_count(struct ivshm_store *s, uint32_t state)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->g.seg_count; i++)
		n += ivshm_seg_entry_at(s->region, &s->g, i)->state == state;
	return n;
}

/* ---- checkpoints ---- */

/* Write the new descriptor into the idle half and flip the generation. */
static void publish_ckpt(struct ivshm_store *s, const struct ivshm_ckpt_desc *d)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	uint64_t gen = ivshm_load_relaxed(&sb->ckpt_gen);

	IVSHM_FAULT_POINT("checkpoint descriptor", &sb->ckpt[(gen + 1) & 1], d,
			  sizeof(*d));
	memcpy(&sb->ckpt[(gen + 1) & 1], d, sizeof(*d));
	IVSHM_FAULT_POINT("checkpoint publish", NULL, NULL, 0);
	ivshm_store_release(&sb->ckpt_gen, gen + 1);
}

int ivshm_store_checkpoint(struct ivshm_store *s, ivshm_emit_fn emit,
			   void *arg)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	struct ivshm_ckpt_desc d = { 0 };
	struct ivshm_txn *t, ck;
	uint64_t gen, head;
	uint32_t first;
	int rc;

	rc = ivshm_txn_begin(s, &t);
	if (rc)
		return rc;
	head = t->tail.seq;
	gen = ivshm_load_relaxed(&sb->ckpt_gen);
	/* Checkpoint segments carry the generation that will publish them. */
	rc = ivshm_seg_claim(s, IVSHM_SEG_CKPT, (uint32_t)(gen + 1), head, 0,
			     NULL, &first);
	if (rc)
		goto abort;
	ivshm_log_init_segment(s->region, &s->g, s->uuid, first,
			       IVSHM_SEG_CKPT, 1);
	ck = (struct ivshm_txn){ .s = s, .first_seq = 1, .ckpt_owner =
					 (uint32_t)(gen + 1),
				 .tail = { .seg = first,
					   .off = IVSHM_SEG_HDR_SIZE,
					   .kind = IVSHM_SEG_CKPT } };
	rc = emit(arg, &ck);
	if (rc)
		goto abort_ckpt;
	d.ckpt_seq = head;
	d.ckpt_seg = first;
	d.log_seg = t->tail.seg;
	d.log_off = t->tail.off;
	d.ckpt_records = ck.tail.seq;
	d.crc = ivshm_ckpt_desc_crc(&d);
	publish_ckpt(s, &d);
	/* The log before the tail and the previous checkpoint are history. */
	for (uint32_t i = 0; i < s->g.seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g,
							       i);

		if ((e->state == IVSHM_SEG_META && i != d.log_seg) ||
		    (e->state == IVSHM_SEG_CKPT &&
		     e->owner != (uint32_t)(gen + 1)))
			ivshm_seg_retire(s, i);
	}
	ivshm_epoch_advance(s);
	s->meta_since_ckpt = 0;
	ivshm_txn_abort(t); /* nothing to publish in the log itself */
	return 0;
abort_ckpt:
	for (uint32_t i = 0; i < s->g.seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g,
							       i);

		if (e->state == IVSHM_SEG_CKPT &&
		    e->owner == (uint32_t)(gen + 1))
			ivshm_seg_release(s, i);
	}
abort:
	ivshm_txn_abort(t);
	return rc;
}
