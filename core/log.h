/* SPDX-License-Identifier: MIT */
/*
 * The meta log: records written after the tail under the store lock, and a
 * cursor that reads committed records back with every check of SPEC.md.
 */
#ifndef IVSHM_LOG_H
#define IVSHM_LOG_H

#include "geom.h"

/* Largest record: anything bigger is refused before it is written. */
#define IVSHM_REC_MAX (64u << 10)

/* Where a reader (or the writer) stands in the log. */
struct ivshm_cursor {
	uint32_t seg;
	uint32_t off;
	uint64_t seq;  /* the last record consumed */
	uint32_t kind; /* IVSHM_SEG_META, or IVSHM_SEG_CKPT in a checkpoint */
};

/* A record read back: a private, checked copy. */
struct ivshm_rec {
	struct ivshm_rec_hdr hdr;
	const void *payload;	/* inside buf */
	uint32_t payload_len;
	uint32_t seg, off;	/* where it was */
	unsigned char buf[IVSHM_REC_MAX];
};

/* Serialise a record (header + two payload parts) at @dst; returns len. */
uint32_t ivshm_log_write_record(void *dst, uint16_t type, uint32_t slot,
				uint64_t seq, uint64_t ino, const void *p1,
				uint32_t n1, const void *p2, uint32_t n2);

static inline uint32_t ivshm_rec_len(uint32_t payload)
{
	return (IVSHM_REC_HDR_SIZE + payload + 7) & ~7u;
}

/* Write the header of a meta or checkpoint segment. */
void ivshm_log_init_segment(void *region, const struct ivshm_geom *g,
			    const uint8_t uuid[16], uint32_t index,
			    uint32_t kind, uint64_t first_seq);

/*
 * Read the record after @c if its seq is <= @head. Returns 1 with @r filled
 * and @c advanced (LINK records are followed, never returned), 0 when the
 * cursor is at @head, or -EIO after logging what is wrong and where.
 */
int ivshm_log_next(void *region, const struct ivshm_geom *g,
		   const uint8_t uuid[16], uint64_t head,
		   struct ivshm_cursor *c, struct ivshm_rec *r);

/*
 * Check where a checkpoint says the log resumes: the meta segment's
 * header, a first sequence that fits the position, and no claim beyond
 * the committed head. 0 or -EIO (logged).
 */
int ivshm_log_check_resume(void *region, const struct ivshm_geom *g,
			   const uint8_t uuid[16], uint32_t seg, uint32_t off,
			   uint64_t ckpt_seq, uint64_t head);

/* Check a segment header for @kind and @first_seq; 0 or -EIO (logged). */
int ivshm_log_check_segment(void *region, const struct ivshm_geom *g,
			    const uint8_t uuid[16], uint32_t index,
			    uint32_t kind, uint64_t first_seq);

#endif
