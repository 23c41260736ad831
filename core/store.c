// SPDX-License-Identifier: MIT
/*
 * Attach, replay, and transactions (docs/DESIGN.md, "Append, commit and
 * visibility").
 */
#include "store_int.h"

#define LINK_LEN ivshm_rec_len(sizeof(struct ivshm_rec_link))
#define FORMAT_WAIT_MS 5000

static int read_ckpt_desc(struct ivshm_store *s, struct ivshm_ckpt_desc *d)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);

	/* Unchanged generation: the copy we checked last time stands. */
	if (s->ckpt_cached &&
	    ivshm_load_acquire(&sb->ckpt_gen) == s->ckpt_gen_seen) {
		*d = s->ckpt_seen;
		return 0;
	}

	/* A seqlock: the generation must not move while we copy. */
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t gen = ivshm_load_acquire(&sb->ckpt_gen);

		memcpy(d, &sb->ckpt[gen & 1], sizeof(*d));
		ivshm_fence();
		if (ivshm_load_acquire(&sb->ckpt_gen) != gen)
			continue;
		if (d->crc != ivshm_ckpt_desc_crc(d)) {
			ivshm_log_err("checkpoint descriptor %llu (superblock "
				      "offset %u): bad checksum\n",
				      (unsigned long long)(gen & 1),
				      768 + 64 * (unsigned int)(gen & 1));
			return -EIO;
		}
		if (d->log_seg >= s->g.seg_count ||
		    d->log_off < IVSHM_SEG_HDR_SIZE || (d->log_off & 7) ||
		    d->log_off > s->g.seg_size - IVSHM_REC_HDR_SIZE) {
			ivshm_log_err("checkpoint descriptor: log position "
				      "segment %u offset 0x%x out of range\n",
				      d->log_seg, d->log_off);
			return -EIO;
		}
		s->ckpt_seen = *d;
		s->ckpt_gen_seen = gen;
		s->ckpt_cached = true;
		return 0;
	}
	ivshm_log_err("checkpoint descriptor keeps changing\n");
	return -EIO;
}

/* Rebuild the index from the checkpoint @d: it overtook our position. */
static int load_checkpoint(struct ivshm_store *s,
			   const struct ivshm_ckpt_desc *d)
{
	struct ivshm_cursor c = { .seg = d->ckpt_seg,
				  .off = IVSHM_SEG_HDR_SIZE,
				  .kind = IVSHM_SEG_CKPT };
	int rc;

	if (s->reset && s->cur.seg != IVSHM_NONE &&
	    (rc = s->reset(s->apply_arg)))
		return rc;
	if (d->ckpt_seg != IVSHM_NONE) {
		rc = ivshm_log_check_segment(s->region, &s->g, s->uuid,
					     d->ckpt_seg, IVSHM_SEG_CKPT, 1);
		if (rc)
			return rc;
		while ((rc = ivshm_log_next(s->region, &s->g, s->uuid,
					    d->ckpt_records, &c, s->rec)) > 0)
			if (s->apply && (rc = s->apply(s->apply_arg, s->rec)))
				return rc;
		if (rc < 0)
			return rc;
	}
	rc = ivshm_log_check_resume(s->region, &s->g, s->uuid, d->log_seg,
				    d->log_off, d->ckpt_seq,
				    ivshm_load_acquire(&ivshm_sb_of(s->region)->
						       head_seq));
	if (rc)
		return rc;
	s->cur = (struct ivshm_cursor){ .seg = d->log_seg, .off = d->log_off,
					.seq = d->ckpt_seq,
					.kind = IVSHM_SEG_META };
	return 0;
}

static int replay_epoch(struct ivshm_store *s)
{
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	struct ivshm_slot *sl = ivshm_slot_at(s->region, s->slot);
	struct ivshm_ckpt_desc d;
	uint64_t head;
	int rc;

	for (;;) {
		rc = read_ckpt_desc(s, &d);
		if (rc)
			return rc;
		if (s->cur.seg == IVSHM_NONE || d.ckpt_seq > s->cur.seq) {
			rc = load_checkpoint(s, &d);
			if (rc)
				return rc;
		}
		head = ivshm_load_acquire(&sb->head_seq);
		while ((rc = ivshm_log_next(s->region, &s->g, s->uuid, head,
					    &s->cur, s->rec)) > 0) {
			if (s->apply && (rc = s->apply(s->apply_arg, s->rec)))
				return rc;
		}
		if (rc < 0)
			return rc;
		/*
		 * Publish how far we are, then look at the head again: a
		 * writer publishes the head, then reads this (see the doorbell
		 * rule in ring_peers); one of us sees the other.
		 */
		ivshm_store_relaxed(&sl->replay_seq, s->cur.seq);
		ivshm_fence();
		if (ivshm_load_acquire(&sb->head_seq) == head)
			return 0;
	}
}

int ivshm_replay_locked(struct ivshm_store *s)
{
	int rc;

	ivshm_epoch_enter(s);
	rc = replay_epoch(s);
	ivshm_epoch_exit(s);
	return rc;
}

void ivshm_store_enter(struct ivshm_store *s)
{
	ivshm_epoch_enter(s);
}

void ivshm_store_exit(struct ivshm_store *s)
{
	ivshm_epoch_exit(s);
}

uint32_t ivshm_store_meta_growth(struct ivshm_store *s)
{
	return s->meta_since_ckpt;
}

int ivshm_store_catch_up(struct ivshm_store *s)
{
	int rc;

	ivshm_mutex_lock(&s->mu);
	rc = s->fenced ? -EIO : ivshm_replay_locked(s);
	ivshm_mutex_unlock(&s->mu);
	return rc;
}

uint64_t ivshm_store_head(struct ivshm_store *s)
{
	return ivshm_load_acquire(&ivshm_sb_of(s->region)->head_seq);
}

uint64_t ivshm_store_replayed(struct ivshm_store *s)
{
	return s->cur.seq;
}

const struct ivshm_geom *ivshm_store_geom(struct ivshm_store *s)
{
	return &s->g;
}

int ivshm_store_slot(struct ivshm_store *s)
{
	return (int)s->slot;
}

/* Format a blank region unless another peer is already doing it. */
static int format_blank(struct ivshm_device *dev,
			const struct ivshm_attach_opts *o)
{
	struct ivshm_sb *sb = ivshm_sb_of(dev->region);
	uint64_t zero = 0;
	char why[160];
	int rc;

	if (!ivshm_cas(&sb->lock, &zero, IVSHM_LOCK_FORMATTING))
		return 0; /* someone else formats: wait for the magic */
	rc = ivshm_format(dev->region, dev->size, o->format, why, sizeof(why));
	ivshm_store_release(&sb->lock, 0);
	if (rc)
		ivshm_log_err("cannot format the region: %s\n", why);
	else
		ivshm_log_info("formatted a blank %llu-byte region\n",
			       (unsigned long long)dev->size);
	return rc;
}

static int classify_for_attach(struct ivshm_device *dev,
			       const struct ivshm_attach_opts *o,
			       struct ivshm_geom *g)
{
	int64_t deadline = ivshm_mono_ms() +
			   (o->format_wait_ms < 0 ? 0 :
			    o->format_wait_ms ? o->format_wait_ms :
						FORMAT_WAIT_MS);
	unsigned int attempt = 0;
	char why[160];

	for (;;) {
		struct ivshm_sb *sb = ivshm_sb_of(dev->region);
		enum ivshm_region_kind k = ivshm_classify(dev->region, dev->size,
							  g, why, sizeof(why));
		bool formatting = ivshm_load_acquire(&sb->lock) ==
				  IVSHM_LOCK_FORMATTING;
		int rc;

		if (k == IVSHM_REGION_VALID)
			return 0;
		if (k == IVSHM_REGION_BLANK && o->format_if_blank) {
			rc = format_blank(dev, o);
			if (rc)
				return rc;
			continue;
		}
		if ((k == IVSHM_REGION_BLANK || formatting) &&
		    ivshm_mono_ms() < deadline && (formatting ||
						   o->format_if_blank)) {
			ivshm_backoff(128 + attempt++);
			continue;
		}
		if (formatting) {
			ivshm_log_err("region is half formatted (a peer died "
				      "while formatting it?): format it again\n");
			return -EIO;
		}
		ivshm_log_err("region is %s: %s\n", ivshm_region_kind_name(k),
			      why);
		switch (k) {
		case IVSHM_REGION_BLANK:
			return -ENODATA;
		case IVSHM_REGION_CORRUPT:
			return -EIO;
		default:
			return -EINVAL;
		}
	}
}

int ivshm_store_attach(struct ivshm_device *dev,
		       const struct ivshm_attach_opts *o,
		       struct ivshm_store **out)
{
	struct ivshm_attach_opts def = { 0 };
	struct ivshm_store *s;
	int rc;

	if (!o)
		o = &def;
	s = ivshm_alloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->region = dev->region;
	s->lease_ms = o->lease_ms ? o->lease_ms : 3000;
	s->apply = o->apply;
	s->apply_arg = o->apply_arg;
	s->reset = o->reset;
	s->orphan_scan = true;
	ivshm_mutex_init(&s->mu);
	ivshm_mutex_init(&s->hb_mu);
	rc = classify_for_attach(dev, o, &s->g);
	if (rc)
		goto fail;
	memcpy(s->uuid, ivshm_sb_of(s->region)->uuid, 16);
	rc = -ENOMEM;
	s->rec = ivshm_alloc(sizeof(*s->rec));
	s->hb = ivshm_alloc(sizeof(*s->hb) * s->g.peer_slots);
	if (!s->rec || !s->hb)
		goto fail;
	rc = ivshm_slot_claim(s, o->name);
	if (rc) {
		ivshm_log_err("all %u peer slots are taken\n", s->g.peer_slots);
		goto fail;
	}
	/* Four beats a lease (10..100 ms): a busy peer is never mistaken. */
	s->ticker = ivshm_ticker_start(ivshm_heartbeat, s,
				       s->lease_ms / 4 < 10 ? 10 :
				       s->lease_ms / 4 > 100 ? 100 :
							      s->lease_ms / 4);
	if (!s->ticker) {
		rc = -ENOMEM;
		goto fail_slot;
	}
	/* No position yet: the first replay starts from the checkpoint. */
	s->cur = (struct ivshm_cursor){ .seg = IVSHM_NONE };
	rc = ivshm_store_catch_up(s);
	if (rc)
		goto fail_ticker;
	*out = s;
	return 0;
fail_ticker:
	ivshm_ticker_stop(s->ticker);
fail_slot:
	ivshm_slot_release(s);
fail:
	ivshm_free(s->rec);
	ivshm_free(s->hb);
	ivshm_mutex_destroy(&s->mu);
	ivshm_mutex_destroy(&s->hb_mu);
	ivshm_free(s);
	return rc;
}

void ivshm_store_detach(struct ivshm_store *s)
{
	if (!s)
		return;
	ivshm_ticker_stop(s->ticker);
	ivshm_slot_release(s);
	ivshm_free(s->rec);
	ivshm_free(s->hb);
	ivshm_mutex_destroy(&s->mu);
	ivshm_mutex_destroy(&s->hb_mu);
	ivshm_free(s);
}

/* ---- transactions ---- */

void ivshm_seg_release(struct ivshm_store *s, uint32_t i)
{
	struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g, i);

	ivshm_store_release((uint64_t *)(void *)e,
			    ((uint64_t)IVSHM_NONE << 32) | IVSHM_SEG_FREE);
}

/* Free meta segments allocated by writers that died before publishing. */
static void free_orphans(struct ivshm_store *s, uint64_t head)
{
	for (uint32_t i = 0; i < s->g.seg_count; i++) {
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g,
							       i);

		/* Checkpoint segments are tagged with the generation that
		 * would have published them. */
		if ((e->state == IVSHM_SEG_META && e->alloc_seq > head) ||
		    (e->state == IVSHM_SEG_CKPT &&
		     e->owner != (uint32_t)ivshm_load_relaxed(
					  &ivshm_sb_of(s->region)->ckpt_gen)))
			ivshm_seg_release(s, i);
	}
}

/*
 * Claim a free segment: one compare-and-swap of its (state, owner) word, so
 * data segments are claimed without the store lock. @reserve segments are
 * left for callers that pass 0 (the meta log: deleting must still work on
 * a full store).
 */
static int seg_claim_once(struct ivshm_store *s, uint32_t kind,
			  uint32_t owner, uint64_t alloc_seq, uint32_t reserve,
			  uint32_t *publish, uint32_t *out)
{
	uint32_t n = s->g.seg_count, prev;

	if (reserve && ivshm_seg_count(s, IVSHM_SEG_FREE) <= reserve)
		return -ENOSPC;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (s->next_seg_hint + k) % n;
		struct ivshm_seg_entry *e = ivshm_seg_entry_at(s->region, &s->g,
							       i);
		uint64_t *word = (uint64_t *)(void *)e;
		uint64_t cur = ivshm_load_relaxed(word);

		if ((uint32_t)cur != IVSHM_SEG_FREE)
			continue;
		/*
		 * Say it is ours before it can be seen claimed: the cleaner
		 * must never take a data segment being filled for a sealed one.
		 */
		prev = publish ? *publish : 0;
		if (publish)
			*publish = i; /* the CAS below is a full barrier */
		IVSHM_FAULT_POINT("segment claim", NULL, NULL, 0);
		if (!ivshm_cas(word, &cur, ((uint64_t)owner << 32) | kind)) {
			if (publish)
				*publish = prev;
			continue;
		}
		/* Meta claims happen under the lock, so orphan checks agree. */
		e->alloc_seq = alloc_seq;
		e->used = 0;
		/* A stamp that changes if it is ever freed and claimed again. */
		e->free_epoch = ivshm_load_acquire(&ivshm_sb_of(s->region)->epoch);
		s->next_seg_hint = i + 1;
		*out = i;
		return 0;
	}
	return -ENOSPC;
}

int ivshm_seg_claim(struct ivshm_store *s, uint32_t kind, uint32_t owner,
		    uint64_t alloc_seq, uint32_t reserve, uint32_t *publish,
		    uint32_t *out)
{
	int rc = seg_claim_once(s, kind, owner, alloc_seq, reserve, publish,
				out);

	/*
	 * Nothing free: reuse what no live peer can still be reading. Try
	 * again whoever reclaimed: another peer may just have freed plenty.
	 */
	if (rc == -ENOSPC) {
		ivshm_seg_reclaim(s);
		rc = seg_claim_once(s, kind, owner, alloc_seq, reserve, publish,
				    out);
	}
	/*
	 * Still nothing, yet segments wait to be freed: peers that died in
	 * an operation may pin their epoch. Declare them dead (one lease at
	 * most) and try once more.
	 */
	if (rc == -ENOSPC && ivshm_seg_count(s, IVSHM_SEG_FREEING)) {
		int64_t deadline = ivshm_mono_ms() + s->lease_ms + 100;

		ivshm_store_reap_dead(s);
		do {
			ivshm_seg_reclaim(s);
			rc = seg_claim_once(s, kind, owner, alloc_seq, reserve,
					    publish, out);
			if (rc != -ENOSPC || !ivshm_seg_count(s, IVSHM_SEG_FREEING))
				break;
			/* A live peer still reads in an old epoch: wait. */
			ivshm_backoff(256);
		} while (ivshm_mono_ms() < deadline);
	}
	return rc;
}

static int alloc_meta_segment(struct ivshm_txn *t, uint32_t *out)
{
	bool ckpt = t->tail.kind == IVSHM_SEG_CKPT;
	int rc;

	if (!ckpt &&
	    t->n_new_segs == sizeof(t->new_segs) / sizeof(t->new_segs[0]))
		return -E2BIG;
	rc = ivshm_seg_claim(t->s, ckpt ? IVSHM_SEG_CKPT : IVSHM_SEG_META,
			     ckpt ? t->ckpt_owner : IVSHM_NONE,
			     t->tail.seq + 1, 0, NULL, out);
	if (rc)
		return rc;
	if (!ckpt) {
		t->new_segs[t->n_new_segs++] = *out;
		t->s->meta_since_ckpt++;
	}
	return 0;
}

int ivshm_txn_begin(struct ivshm_store *s, struct ivshm_txn **out)
{
	int rc;

	ivshm_mutex_lock(&s->mu);
	rc = ivshm_lock_acquire(s);
	if (rc)
		goto fail;
	rc = ivshm_replay_locked(s);
	if (rc) {
		ivshm_lock_release(s);
		goto fail;
	}
	/* Orphans exist only if a writer died: a lock was broken. */
	if (s->orphan_scan) {
		free_orphans(s, s->cur.seq);
		s->orphan_scan = false;
	}
	s->txn = (struct ivshm_txn){ .s = s, .tail = s->cur,
				     .first_seq = s->cur.seq + 1 };
	s->in_txn = true;
	*out = &s->txn;
	return 0;
fail:
	ivshm_mutex_unlock(&s->mu);
	return rc;
}

int ivshm_txn_add(struct ivshm_txn *t, uint16_t type, uint64_t ino,
		  const void *p1, uint32_t n1, const void *p2, uint32_t n2)
{
	struct ivshm_store *s = t->s;
	uint32_t len = ivshm_rec_len(n1 + n2), next;
	char *seg;
	int rc;

	if (n1 + n2 > IVSHM_REC_MAX ||
	    len > IVSHM_REC_MAX ||
	    len > s->g.seg_size - IVSHM_SEG_HDR_SIZE - LINK_LEN)
		return -E2BIG;
	/* Room for this record and, always, a LINK after it. */
	if (t->tail.off + len + LINK_LEN > s->g.seg_size) {
		struct ivshm_rec_link link = { 0 };

		rc = alloc_meta_segment(t, &next);
		if (rc)
			return rc;
		ivshm_log_init_segment(s->region, &s->g, s->uuid, next,
				       t->tail.kind ? t->tail.kind :
						      IVSHM_SEG_META,
				       t->tail.seq + 2);
		link.next_seg = next;
		seg = ivshm_seg_at(s->region, &s->g, t->tail.seg);
		ivshm_log_write_record(seg + t->tail.off, IVSHM_REC_LINK,
				       s->slot, t->tail.seq + 1, 0, &link,
				       sizeof(link), NULL, 0);
		t->tail = (struct ivshm_cursor){ .seg = next,
						 .off = IVSHM_SEG_HDR_SIZE,
						 .seq = t->tail.seq + 1,
						 .kind = t->tail.kind };
	}
	seg = ivshm_seg_at(s->region, &s->g, t->tail.seg);
	ivshm_log_write_record(seg + t->tail.off, type, s->slot,
			       t->tail.seq + 1, ino, p1, n1, p2, n2);
	t->tail.off += len;
	t->tail.seq++;
	return 0;
}

/*
 * Ring every live peer that is behind @head and has no doorbell pending
 * (notified_seq > replay_seq): a pending one will make it replay up to the
 * head it finds then, which is at least ours. One ring per burst.
 */
static void ring_peers(struct ivshm_store *s, uint64_t head)
{
	for (uint32_t i = 0; i < s->g.peer_slots; i++) {
		struct ivshm_slot *sl = ivshm_slot_at(s->region, i);
		uint64_t gs, notified, replayed;
		uint32_t dev_id;

		if (i == s->slot)
			continue;
		gs = ivshm_load_acquire(&sl->gen_state);
		if (ivshm_slot_state(gs) != IVSHM_SLOT_ALIVE)
			continue;
		replayed = ivshm_load_relaxed(&sl->replay_seq);
		notified = ivshm_load_relaxed(&sl->notified_seq);
		if (replayed >= head || notified > replayed)
			continue;
		if (!ivshm_cas(&sl->notified_seq, &notified, head))
			continue; /* another writer rang it meanwhile */
		dev_id = sl->dev_id;
		if (dev_id != IVSHM_NONE && s->dev->id >= 0)
			ivshm_ring(s->dev, dev_id, 0);
	}
}

int ivshm_txn_commit(struct ivshm_txn *t)
{
	struct ivshm_store *s = t->s;
	struct ivshm_sb *sb = ivshm_sb_of(s->region);
	uint64_t head = t->tail.seq;
	int rc;

	if (head >= t->first_seq) {
		/* Everything written above becomes visible at once. */
		IVSHM_FAULT_POINT("publish", NULL, NULL, 0);
		ivshm_store_release(&sb->head_seq, head);
	}
	ivshm_lock_release(s);
	s->in_txn = false;
	rc = ivshm_replay_locked(s);
	ivshm_mutex_unlock(&s->mu);
	if (head >= t->first_seq) {
		ivshm_fence();
		ring_peers(s, head);
	}
	return rc;
}

void ivshm_txn_abort(struct ivshm_txn *t)
{
	struct ivshm_store *s = t->s;

	for (unsigned int i = 0; i < t->n_new_segs; i++)
		ivshm_seg_release(s, t->new_segs[i]);
	ivshm_lock_release(s);
	s->in_txn = false;
	ivshm_mutex_unlock(&s->mu);
}
