// SPDX-License-Identifier: MIT
/*
 * Peer slots: claimed at attach, kept alive by a heartbeat, declared dead
 * by any peer that sees the heartbeat stand still for the lease time.
 * Declaring a slot dead bumps its generation: that fences the old owner,
 * which finds out at its next heartbeat and stops.
 */
#include "store_int.h"

bool ivshm_slot_is_dead(struct ivshm_store *s, uint32_t slot,
			uint64_t expect_gen)
{
	struct ivshm_slot *sl = ivshm_slot_at(s->region, slot);
	uint64_t gs = ivshm_load_acquire(&sl->gen_state);
	uint64_t hb = ivshm_load_relaxed(&sl->heartbeat);
	struct ivshm_hb_seen *seen = &s->hb[slot];
	int64_t now = ivshm_mono_ms();
	bool silent;

	if (ivshm_slot_state(gs) != IVSHM_SLOT_ALIVE ||
	    ivshm_slot_gen48(gs) != expect_gen)
		return true;
	ivshm_mutex_lock(&s->hb_mu);
	/* A new occupant starts its own lease, whatever the last one did. */
	if (hb != seen->value || !seen->since_ms || seen->gen != expect_gen) {
		seen->gen = expect_gen;
		seen->value = hb;
		seen->since_ms = now;
	}
	silent = now - seen->since_ms >= (int64_t)s->lease_ms;
	ivshm_mutex_unlock(&s->hb_mu);
	if (!silent)
		return false;
	/* Silent for the whole lease: fence it, whoever else also tries. */
	if (ivshm_cas(&sl->gen_state, &gs,
		      ivshm_gen_state(ivshm_slot_gen(gs) + 1, IVSHM_SLOT_DEAD)))
		ivshm_log_info("peer slot %u (%.32s) silent for %u ms: declared "
			       "dead\n", slot, sl->name, s->lease_ms);
	return true;
}

/* Declare dead every slot whose heartbeat stood still for the lease. */
static void sweep_dead(struct ivshm_store *s)
{
	for (uint32_t i = 0; i < s->g.peer_slots; i++) {
		struct ivshm_slot *sl = ivshm_slot_at(s->region, i);
		uint64_t gs = ivshm_load_acquire(&sl->gen_state);

		if (i != s->slot && ivshm_slot_state(gs) == IVSHM_SLOT_ALIVE)
			ivshm_slot_is_dead(s, i, ivshm_slot_gen48(gs));
	}
}

int ivshm_store_peer_left(struct ivshm_store *s, uint32_t dev_id)
{
	int n = 0;

	/* The server saw its socket close: that peer is gone for sure. */
	for (uint32_t i = 0; i < s->g.peer_slots; i++) {
		struct ivshm_slot *sl = ivshm_slot_at(s->region, i);
		uint64_t gs = ivshm_load_acquire(&sl->gen_state);

		if (i == s->slot || ivshm_slot_state(gs) != IVSHM_SLOT_ALIVE ||
		    sl->dev_id != dev_id)
			continue;
		if (ivshm_cas(&sl->gen_state, &gs,
			      ivshm_gen_state(ivshm_slot_gen(gs) + 1,
					      IVSHM_SLOT_DEAD)))
			n++;
	}
	return n;
}

int ivshm_store_reap_dead(struct ivshm_store *s)
{
	int64_t start = ivshm_mono_ms(), deadline = start + s->lease_ms + 50;
	unsigned int alive, unproven;
	uint64_t *hb0 = ivshm_alloc(s->g.peer_slots * sizeof(*hb0));

	if (!hb0)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->g.peer_slots; i++)
		hb0[i] = ivshm_load_relaxed(&ivshm_slot_at(s->region,
							   i)->heartbeat);
	/*
	 * Watch until each other slot is either dead (silent for a lease)
	 * or proven alive (its heartbeat moved since we started).
	 */
	do {
		alive = unproven = 0;
		sweep_dead(s);
		for (uint32_t i = 0; i < s->g.peer_slots; i++) {
			struct ivshm_slot *sl = ivshm_slot_at(s->region, i);

			if (i == s->slot ||
			    ivshm_slot_state(ivshm_load_acquire(
				    &sl->gen_state)) != IVSHM_SLOT_ALIVE)
				continue;
			alive++;
			unproven += ivshm_load_relaxed(&sl->heartbeat) ==
				    hb0[i];
		}
		if (!unproven)
			break;
		ivshm_backoff(256);
	} while (ivshm_mono_ms() < deadline);
	ivshm_free(hb0);
	return (int)alive;
}

static int claim_once(struct ivshm_store *s, const char *name)
{
	for (uint32_t i = 0; i < s->g.peer_slots; i++) {
		struct ivshm_slot *sl = ivshm_slot_at(s->region, i);
		uint64_t gs = ivshm_load_acquire(&sl->gen_state), gen;

		if (ivshm_slot_state(gs) == IVSHM_SLOT_ALIVE)
			continue;
		gen = ivshm_slot_gen(gs) + 1;
		/* A beat before ALIVE: nobody sees the old occupant's silence. */
		ivshm_fetch_add(&sl->heartbeat, 1);
		if (!ivshm_cas(&sl->gen_state, &gs,
			       ivshm_gen_state(gen, IVSHM_SLOT_ALIVE)))
			continue;
		s->slot = i;
		s->gen = gen & 0xffffffffffffull;
		s->lock_word = (s->gen << 16) | (i + 1);
		sl->dev_id = s->dev->id >= 0 ? (uint32_t)s->dev->id :
					       IVSHM_NONE;
		sl->pid = ivshm_self_pid();
		sl->data_seg = IVSHM_NONE;
		sl->flags = 0;
		sl->attach_time = (uint64_t)ivshm_now_ns();
		memset(sl->name, 0, sizeof(sl->name));
		if (name)
			strncpy(sl->name, name, sizeof(sl->name) - 1);
		ivshm_store_relaxed(&sl->epoch, 0);
		ivshm_store_relaxed(&sl->replay_seq, 0);
		ivshm_store_relaxed(&sl->notified_seq, 0);
		ivshm_fetch_add(&sl->heartbeat, 1);
		return 0;
	}
	return -EBUSY;
}

int ivshm_slot_claim(struct ivshm_store *s, const char *name)
{
	int64_t deadline = ivshm_mono_ms() + s->lease_ms + 200;
	int rc;

	s->slot = IVSHM_NONE;
	/* All taken: some may be dead; watch them for one lease. */
	while ((rc = claim_once(s, name)) == -EBUSY &&
	       ivshm_mono_ms() < deadline) {
		sweep_dead(s);
		ivshm_backoff(256);
	}
	return rc;
}

void ivshm_slot_release(struct ivshm_store *s)
{
	struct ivshm_slot *sl = ivshm_slot_at(s->region, s->slot);
	uint64_t gs = ivshm_gen_state(s->gen, IVSHM_SLOT_ALIVE);

	ivshm_store_relaxed(&sl->epoch, 0);
	/* Only if still ours: a fenced owner must not free a new one's. */
	ivshm_cas(&sl->gen_state, &gs,
		  ivshm_gen_state(s->gen + 1, IVSHM_SLOT_FREE));
}

void ivshm_heartbeat(void *arg)
{
	struct ivshm_store *s = arg;
	struct ivshm_slot *sl = ivshm_slot_at(s->region, s->slot);
	uint64_t gs = ivshm_load_acquire(&sl->gen_state);

	if (ivshm_slot_state(gs) != IVSHM_SLOT_ALIVE ||
	    ivshm_slot_gen48(gs) != s->gen) {
		if (!s->fenced)
			ivshm_log_err("peer slot %u was declared dead by "
				      "another peer: detaching\n", s->slot);
		s->fenced = true;
		return;
	}
	ivshm_fetch_add(&sl->heartbeat, 1);
	/* Every live peer watches the others: the dead free their slots. */
	sweep_dead(s);
}
