/* SPDX-License-Identifier: MIT */
/* Region geometry: format a region, classify what a region holds. */
#ifndef IVSHM_GEOM_H
#define IVSHM_GEOM_H

#include "format.h"

enum ivshm_region_kind {
	IVSHM_REGION_VALID = 0,
	IVSHM_REGION_BLANK,	    /* superblock all zero: may be formatted */
	IVSHM_REGION_FOREIGN,	    /* something else lives here */
	IVSHM_REGION_OTHER_VERSION, /* an ivshm store of another format */
	IVSHM_REGION_CORRUPT,	    /* an ivshm store that fails its checks */
};

/* Geometry, computed at format or checked from the superblock. */
struct ivshm_geom {
	uint64_t region_size;
	uint32_t seg_size;
	uint32_t seg_count;
	uint64_t seg0_off;
	uint32_t peer_slots;
	uint64_t seg_table_off;
};

struct ivshm_format_opts {
	uint32_t seg_size;   /* 0: chosen from the region size */
	uint32_t peer_slots; /* 0: 64 */
	uint32_t root_uid, root_gid;
	uint32_t root_mode;  /* permission bits of /, 0: 0755 */
};

/* Compute a geometry for @size; 0 or -EINVAL with @why filled. */
int ivshm_geom_plan(uint64_t size, const struct ivshm_format_opts *o,
		    struct ivshm_geom *g, char *why, size_t whylen);

/*
 * Classify the region: VALID fills @g from a superblock that passed every
 * check; otherwise @why says what is wrong and where.
 */
enum ivshm_region_kind ivshm_classify(const void *region, uint64_t size,
				      struct ivshm_geom *g, char *why,
				      size_t whylen);

const char *ivshm_region_kind_name(enum ivshm_region_kind k);

/*
 * Format @region (which must be blank unless the caller decided to
 * overwrite it): superblock, tables, the first meta segment and the root
 * directory. Returns 0 or -errno with @why filled.
 */
int ivshm_format(void *region, uint64_t size,
		 const struct ivshm_format_opts *o, char *why, size_t whylen);

/* Addresses inside a checked geometry. */
static inline struct ivshm_sb *ivshm_sb_of(void *region)
{
	return (struct ivshm_sb *)region;
}

static inline struct ivshm_slot *ivshm_slot_at(void *region, uint32_t i)
{
	return (struct ivshm_slot *)((char *)region + IVSHM_SB_SIZE) + i;
}

static inline struct ivshm_seg_entry *
ivshm_seg_entry_at(void *region, const struct ivshm_geom *g, uint32_t i)
{
	return (struct ivshm_seg_entry *)((char *)region + g->seg_table_off) +
	       i;
}

static inline char *ivshm_seg_at(void *region, const struct ivshm_geom *g,
				 uint32_t i)
{
	return (char *)region + g->seg0_off + (uint64_t)i * g->seg_size;
}

uint32_t ivshm_ckpt_desc_crc(const struct ivshm_ckpt_desc *d);
uint32_t ivshm_seg_hdr_crc(const struct ivshm_seg_hdr *h);

#endif
