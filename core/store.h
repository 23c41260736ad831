/* SPDX-License-Identifier: MIT */
/*
 * The store: attach to a region as a peer, take part in the lock, append
 * records in transactions, replay what others committed.
 */
#ifndef IVSHM_STORE_H
#define IVSHM_STORE_H

#include "device.h"
#include "geom.h"
#include "log.h"

struct ivshm_store;

/* Called for every committed record, in log order, during replay. */
typedef int (*ivshm_apply_fn)(void *arg, const struct ivshm_rec *r);
/*
 * The index must start over: a checkpoint overtook this peer's position,
 * it is rebuilt from the checkpoint (every cache should be dropped).
 */
typedef int (*ivshm_reset_fn)(void *arg);

struct ivshm_attach_opts {
	const char *name;	/* shown in the peer table, e.g. "ivshm-fuse" */
	bool format_if_blank;	/* format an all-zero region */
	const struct ivshm_format_opts *format;
	unsigned int lease_ms;	/* a slot silent this long is dead (3000) */
	int format_wait_ms;	/* wait for another peer's format (0: 5000,
				 * -1: not at all) */
	ivshm_apply_fn apply;	/* the index, fed by replay */
	void *apply_arg;
	ivshm_reset_fn reset;	/* called with apply_arg */
};

/*
 * Attach: classify the region (formatting it if blank and asked to), claim
 * a peer slot, start the heartbeat, replay the log. Returns 0, -ENODATA
 * for a blank region not formatted, -EINVAL for foreign data or another
 * version, -EIO for a corrupted store, -EBUSY when every slot is taken;
 * the reason is logged.
 */
int ivshm_store_attach(struct ivshm_device *dev,
		       const struct ivshm_attach_opts *o,
		       struct ivshm_store **out);
void ivshm_store_detach(struct ivshm_store *s);

/* Replay everything committed so far. 0, or -EIO (logged). */
int ivshm_store_catch_up(struct ivshm_store *s);

uint64_t ivshm_store_head(struct ivshm_store *s);
uint64_t ivshm_store_replayed(struct ivshm_store *s);
const struct ivshm_geom *ivshm_store_geom(struct ivshm_store *s);
int ivshm_store_slot(struct ivshm_store *s);

/*
 * A transaction: the store lock held, the index up to date, records
 * appended after the tail and published all at once by commit.
 */
struct ivshm_txn;

int ivshm_txn_begin(struct ivshm_store *s, struct ivshm_txn **out);
/* Append one record; -ENOSPC when the log has no room (txn still valid). */
int ivshm_txn_add(struct ivshm_txn *t, uint16_t type, uint64_t ino,
		  const void *p1, uint32_t n1, const void *p2, uint32_t n2);
/* Publish, release the lock, replay into the index, ring the peers. */
int ivshm_txn_commit(struct ivshm_txn *t);
/* Drop everything appended; release the lock. */
void ivshm_txn_abort(struct ivshm_txn *t);

/*
 * Checkpoint: under the lock, @emit writes the whole index as records
 * (ivshm_txn_add on the writer it is given; inodes before the names that
 * refer to them), which is published; the log before it is freed.
 */
typedef int (*ivshm_emit_fn)(void *arg, struct ivshm_txn *w);
int ivshm_store_checkpoint(struct ivshm_store *s, ivshm_emit_fn emit,
			   void *arg);
/*
 * Out of space: watch the other slots for one lease and declare the silent
 * ones dead, so that their open segments can be cleaned. Returns how many
 * other peers are still alive.
 */
int ivshm_store_reap_dead(struct ivshm_store *s);

/*
 * The doorbell server announced that peer @dev_id left: declare its slots
 * dead now (their locks and segments come back without waiting a lease).
 */
int ivshm_store_peer_left(struct ivshm_store *s, uint32_t dev_id);

/* Meta segments this peer opened since its last checkpoint. */
uint32_t ivshm_store_meta_growth(struct ivshm_store *s);

/* Operations that read the region run inside an epoch (nestable). */
void ivshm_store_enter(struct ivshm_store *s);
void ivshm_store_exit(struct ivshm_store *s);

#endif
