/* SPDX-License-Identifier: MIT */
/*
 * The extent map of one file in a peer's private index: non-overlapping
 * byte ranges [off, off + len) of the file, each mapped to where its bytes
 * live in the region (segment, offset in the segment), or to zeroes.
 *
 * A B+tree of 1 KiB nodes: leaves hold up to 42 extents (24 bytes each),
 * inner nodes up to 63 children, every operation is O(log n) plus the
 * entries it removes. A map with few extents lives in one small root leaf
 * (64 bytes for one or two extents, growing with the map). Extents that
 * continue each other (same segment, offset and flags carrying on, or both
 * zeroes) are merged as they are mapped, so a file written sequentially is
 * one extent per 4 GiB - 1 byte (the most an extent holds).
 *
 * Not thread-safe: the caller serializes (the store's mutex guards the
 * index). Everything is iterative. Only map, punch and move allocate, and
 * they get what they need before they change anything (a root leaf left
 * mostly empty moves to a smaller node afterwards if memory allows).
 */
#ifndef IVSHM_EXTMAP_H
#define IVSHM_EXTMAP_H

#include "format.h"

/* IVSHM_EXTENT_ZERO in flags (format.h): zeroes, seg and seg_off unused. */
struct ivshm_extent {
	uint64_t off;		/* file offset */
	uint32_t len;		/* bytes, >= 1 in the map */
	uint32_t seg;
	uint32_t seg_off;
	uint32_t flags;
};

struct ivshm_extmap {
	void *root;		/* opaque nodes (extmap.c) */
	uint64_t count;		/* extents */
	uint64_t bytes;		/* bytes mapped, zero extents included */
	uint16_t height;	/* 0: empty, 1: the root is a leaf */
	uint16_t reserved;
	uint32_t gen;		/* bumped by every change (walk uses it) */
	/*
	 * Called as bytes mapped to a segment come (+) and go (-); zero
	 * extents have no segment and are not reported. Per segment, the sum
	 * of the deltas is always the number of bytes the map has there.
	 * Set it after ivshm_extmap_init (which clears it), may be NULL.
	 */
	void (*on_change)(void *arg, uint32_t seg, int64_t delta_bytes);
	void *on_change_arg;
};

void ivshm_extmap_init(struct ivshm_extmap *m);
/* Unmap everything (reporting it to on_change) and free the nodes. */
void ivshm_extmap_release(struct ivshm_extmap *m);

/*
 * Map [e->off, e->off + e->len), replacing whatever was mapped there:
 * extents it overlaps are trimmed or split (the right part of a split
 * keeps pointing at its own bytes: seg_off + the bytes skipped). A zero
 * length is a no-op. Returns 0, -ENOMEM with the map unchanged, or -EINVAL
 * if off + len overflows or a data extent's seg_off + len passes 4 GiB.
 */
int ivshm_extmap_map(struct ivshm_extmap *m, const struct ivshm_extent *e);

/*
 * Unmap [off, off + len); a len past the end of the offsets (UINT64_MAX -
 * off, say) means to the end: truncate. 0, or -ENOMEM (splitting an extent
 * in two needs room) with the map unchanged.
 */
int ivshm_extmap_punch(struct ivshm_extmap *m, uint64_t off, uint64_t len);

/*
 * The cleaner's conditional move: every byte x of [off, off + len) that is
 * still mapped to old_seg at old_off + (x - off) is remapped to new_seg at
 * new_off + (x - off); bytes mapped elsewhere, zeroes and holes stay.
 * Returns the bytes moved, -EINVAL for ranges that overflow, or -ENOMEM
 * after moving a prefix of the range (the map is consistent, and since a
 * moved byte no longer matches, repeating the call finishes the job).
 */
int64_t ivshm_extmap_move(struct ivshm_extmap *m, uint64_t off, uint32_t len,
			  uint32_t old_seg, uint32_t old_off, uint32_t new_seg,
			  uint32_t new_off);

/* The extent containing @off, into @out. */
bool ivshm_extmap_find(const struct ivshm_extmap *m, uint64_t off,
		       struct ivshm_extent *out);

/* The first extent that ends after @off: the one containing it or the next. */
bool ivshm_extmap_next(const struct ivshm_extmap *m, uint64_t off,
		       struct ivshm_extent *out);

/*
 * Call @fn on every extent in file order (a copy), until it returns
 * non-zero; returns that value, or 0. @fn may change the map: the walk then
 * goes on with the first extent that ends after the end of the one it was
 * given (so parts of a merged extent can be seen twice, none is missed).
 */
int ivshm_extmap_walk(const struct ivshm_extmap *m,
		      int (*fn)(void *arg, const struct ivshm_extent *e),
		      void *arg);

static inline uint64_t ivshm_extmap_count(const struct ivshm_extmap *m)
{
	return m->count;
}

static inline uint64_t ivshm_extmap_bytes(const struct ivshm_extmap *m)
{
	return m->bytes;
}

/* The size of a full tree node (leaves and inner nodes alike). */
size_t ivshm_extmap_node_size(void);

/* Bytes of nodes the map holds now (allocator overhead not included). */
uint64_t ivshm_extmap_mem(const struct ivshm_extmap *m);

/*
 * Check the tree's invariants (order, no overlap, separator keys, node
 * fill, count and bytes): 0, or -EUCLEAN. O(n): for tests and debugging.
 */
int ivshm_extmap_check(const struct ivshm_extmap *m);

#endif
