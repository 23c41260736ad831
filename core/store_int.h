/* SPDX-License-Identifier: MIT */
/* The store's private state, shared by core/store*.c. Not an API. */
#ifndef IVSHM_STORE_INT_H
#define IVSHM_STORE_INT_H

#include "store.h"

/* Lock word: slot + 1 in bits 0..15, the slot's generation above. */
#define IVSHM_LOCK_FORMATTING UINT64_MAX

struct ivshm_hb_seen {
	uint64_t gen;		/* of the occupant observed */
	uint64_t value;		/* heartbeat last seen */
	int64_t since_ms;	/* when it last changed, our clock */
};

struct ivshm_txn {
	struct ivshm_store *s;
	struct ivshm_cursor tail; /* where the next record goes */
	uint64_t first_seq;	  /* first seq of this transaction */
	uint32_t new_segs[8];	  /* meta segments it allocated */
	unsigned int n_new_segs;
	uint32_t ckpt_owner;	  /* a checkpoint writer: its tag, else 0 */
};

struct ivshm_store {
	struct ivshm_device *dev;
	void *region;
	struct ivshm_geom g;
	uint8_t uuid[16];
	uint32_t slot;
	uint64_t gen;		/* our slot's generation */
	uint64_t lock_word;	/* what we store in sb->lock */
	unsigned int lease_ms;
	ivshm_apply_fn apply;
	void *apply_arg;

	ivshm_mutex mu;		/* cursor, index, txn: one local user */
	struct ivshm_cursor cur; /* replayed up to here */
	struct ivshm_rec *rec;	/* replay buffer */
	struct ivshm_txn txn;
	bool in_txn;
	bool fenced;		/* declared dead by the others: stop */
	uint32_t next_seg_hint;
	unsigned int epoch_depth; /* nested epoch_enter calls */
	bool orphan_scan;	/* at attach, after breaking a dead lock */
	uint64_t ckpt_gen_seen;	/* descriptor cached below, by generation */
	struct ivshm_ckpt_desc ckpt_seen;
	bool ckpt_cached;
	uint32_t ckpt_retry_at;	/* meta growth before retrying a checkpoint */
	uint32_t meta_since_ckpt; /* meta segments we opened since then */
	ivshm_reset_fn reset;	/* the index must be rebuilt */
	void *reset_arg;

	struct ivshm_hb_seen *hb; /* per slot, protected by hb_mu */
	ivshm_mutex hb_mu;
	struct ivshm_ticker *ticker;
};

static inline uint64_t ivshm_slot_gen(uint64_t gen_state)
{
	return gen_state >> 2;
}

static inline unsigned int ivshm_slot_state(uint64_t gen_state)
{
	return (unsigned int)(gen_state & 3);
}

/* The generation as the lock word holds it (48 bits, above the slot). */
static inline uint64_t ivshm_slot_gen48(uint64_t gen_state)
{
	return ivshm_slot_gen(gen_state) & 0xffffffffffffull;
}

static inline uint64_t ivshm_gen_state(uint64_t gen, unsigned int state)
{
	return (gen << 2) | state;
}

/* store_lock.c */
int ivshm_lock_acquire(struct ivshm_store *s);
void ivshm_lock_release(struct ivshm_store *s);
bool ivshm_slot_is_dead(struct ivshm_store *s, uint32_t slot,
			uint64_t expect_gen);

/* store_slot.c */
int ivshm_slot_claim(struct ivshm_store *s, const char *name);
void ivshm_slot_release(struct ivshm_store *s);
void ivshm_heartbeat(void *arg);

/* store_space.c */
void ivshm_epoch_enter(struct ivshm_store *s);
void ivshm_epoch_exit(struct ivshm_store *s);
void ivshm_seg_retire(struct ivshm_store *s, uint32_t i);
void ivshm_epoch_advance(struct ivshm_store *s);
unsigned int ivshm_seg_reclaim(struct ivshm_store *s);
/* How many segments are in @state (a walk of the segment table). */
uint32_t ivshm_seg_count(struct ivshm_store *s, uint32_t state);

/* store.c */
int ivshm_replay_locked(struct ivshm_store *s);
/*
 * Claim a free segment for @kind. @publish, if given, is set to the
 * segment's index before the claim becomes visible (a slot's data_seg).
 * A claimed segment's free_epoch holds the epoch of the claim: a stamp
 * that differs if it is ever freed and claimed again.
 */
int ivshm_seg_claim(struct ivshm_store *s, uint32_t kind, uint32_t owner,
		    uint64_t alloc_seq, uint32_t reserve, uint32_t *publish,
		    uint32_t *out);
void ivshm_seg_release(struct ivshm_store *s, uint32_t i);

#endif
