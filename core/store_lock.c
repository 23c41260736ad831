// SPDX-License-Identifier: MIT
/*
 * The store lock: one word in the superblock that serialises namespace
 * changes between all peers. A holder that dies is detected through its
 * slot (generation changed, or heartbeat silent for the lease) and its
 * lock broken; what it wrote after the log tail was never published.
 */
#include "store_int.h"

int ivshm_lock_acquire(struct ivshm_store *s)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);

	for (unsigned int attempt = 0;; attempt++) {
		uint64_t cur = 0;
		uint32_t holder;

		if (s->fenced)
			return -EIO;
		IVSHM_FAULT_POINT("lock", NULL, NULL, 0);
		if (ivshm_cas(&sb->lock, &cur, s->lock_word))
			break;
		holder = (uint32_t)(cur & 0xffff);
		if (cur == IVSHM_LOCK_FORMATTING) {
			ivshm_backoff(attempt);
			continue;
		}
		/* A lock word naming no slot is garbage: break it. */
		if (!holder || holder > s->g.peer_slots ||
		    (attempt > 64 &&
		     ivshm_slot_is_dead(s, holder - 1, cur >> 16))) {
			if (ivshm_cas(&sb->lock, &cur, s->lock_word)) {
				ivshm_log_info("took the store lock from dead "
					       "peer slot %u\n", holder - 1);
				s->orphan_scan = true;
				break;
			}
			continue;
		}
		ivshm_backoff(attempt);
	}
	ivshm_fetch_add(&sb->lock_count, 1);
	return 0;
}

void ivshm_lock_release(struct ivshm_store *s)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	uint64_t mine = s->lock_word;

	/* If it was broken from under us, it is not ours to clear. */
	IVSHM_FAULT_POINT("unlock", NULL, NULL, 0);
	if (!ivshm_cas(&sb->lock, &mine, 0))
		ivshm_log_err("store lock was taken from this peer while "
			      "held\n");
}
