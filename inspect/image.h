/* SPDX-License-Identifier: MIT */
/*
 * A region to inspect, in private memory: a region file (/dev/shm/NAME, a
 * hugetlbfs file, a saved plain image) mapped read-only, or a gzip image
 * decompressed through zlib.
 *
 * A region file may be live: peers write it while we look. Nothing is
 * parsed in the shared mapping; a snapshot copies what is needed into
 * private memory first, in an order that makes the copy consistent:
 *
 *   1. the superblock (its head_seq: every record up to it was written
 *      before it was published, and records are never changed again);
 *   2. the peer and segment tables;
 *   3. every meta and checkpoint segment (the log up to head_seq and the
 *      current checkpoint);
 *   4. the checkpoint generation again: if it moved, a checkpoint may
 *      have retired segments we copied, so everything starts over.
 *
 * Data segments are copied on demand (img_fetch): a data segment holding
 * bytes that a committed extent points at is never rewritten until it has
 * been retired and claimed again, which changes its alloc_seq; so once its
 * segment table entry is seen unchanged after the copy, the bytes are the
 * ones the snapshot's log refers to.
 */
#ifndef IVSHM_INSPECT_IMAGE_H
#define IVSHM_INSPECT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geom.h"

/* Attempts at a consistent snapshot before giving up (-EAGAIN). */
#define IMG_TRIES 50

struct img {
	const char *path;
	bool gz;		/* a gzip image, wholly in mem */
	int fd;
	uint8_t *live;		/* the file, shared and read-only (not gz) */
	uint8_t *mem;		/* private copy, as large as the region */
	uint64_t size;
	bool mem_malloced;	/* mem from malloc (gz of unknown size) */
	uint8_t *have;		/* per segment: its bytes are in mem */
	enum ivshm_region_kind kind;
	char why[256];		/* what classify said */
	struct ivshm_geom g;	/* when kind is VALID */
	uint64_t head;		/* head_seq of the snapshot */
	uint64_t gen;		/* ckpt_gen of the snapshot */
	unsigned int tries;	/* snapshot attempts so far */
};

/* Open @path; 0 or -errno with @err filled. */
int img_open(struct img *im, const char *path, char *err, size_t errlen);
void img_close(struct img *im);

/*
 * Take a consistent snapshot of the metadata (superblock, tables, meta and
 * checkpoint segments) into mem and classify it. 0 (im->kind says what
 * the region holds) or -EAGAIN when the region kept changing.
 */
int img_snapshot(struct img *im, char *err, size_t errlen);

/*
 * Copy the segments marked in @want (per segment) into mem as well; 0, or
 * -EAGAIN when one of them was reused meanwhile (take a new snapshot).
 */
int img_fetch(struct img *im, const uint8_t *want, char *err, size_t errlen);

/*
 * Whether every data segment that may hold live bytes of the snapshot
 * (state data, claimed at or before head_seq + 1) is still the same one:
 * for copies made straight from the shared mapping (dump). @which gets
 * the first that is not.
 */
bool img_data_unchanged(struct img *im, uint32_t *which);

/*
 * Watch the heartbeats of the alive slots for @ms milliseconds: returns how
 * many moved, with @moving (per slot, may be NULL) set for those. Always 0
 * for a gzip image.
 */
unsigned int img_probe(struct img *im, unsigned int ms, uint8_t *moving);

const char *img_source(const struct img *im);

static inline const struct ivshm_sb *img_sb(const struct img *im)
{
	return (const struct ivshm_sb *)(const void *)im->mem;
}

static inline const struct ivshm_seg_entry *img_seg(const struct img *im,
						    uint32_t i)
{
	return ivshm_seg_entry_at(im->mem, &im->g, i);
}

static inline const struct ivshm_slot *img_slot(const struct img *im,
						uint32_t i)
{
	return ivshm_slot_at(im->mem, i);
}

static inline uint64_t img_seg_off(const struct img *im, uint32_t i)
{
	return im->g.seg0_off + (uint64_t)i * im->g.seg_size;
}

/* All-zero bytes. */
bool img_is_zero(const void *p, size_t n);

#endif
