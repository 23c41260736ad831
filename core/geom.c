// SPDX-License-Identifier: MIT
#include "geom.h"
#include "log.h"
#include "units.h"

#define MODE_DIR 0040000u

const char *ivshm_region_kind_name(enum ivshm_region_kind k)
{
	switch (k) {
	case IVSHM_REGION_VALID:
		return "valid ivshm store";
	case IVSHM_REGION_BLANK:
		return "blank";
	case IVSHM_REGION_FOREIGN:
		return "foreign data";
	case IVSHM_REGION_OTHER_VERSION:
		return "ivshm store of another format version";
	case IVSHM_REGION_CORRUPT:
		return "corrupted ivshm store";
	}
	return "?";
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

int ivshm_geom_plan(uint64_t size, const struct ivshm_format_opts *o,
		    struct ivshm_geom *g, char *why, size_t whylen)
{
	uint32_t slots = o && o->peer_slots ? o->peer_slots : 64;
	uint64_t seg = o && o->seg_size ? o->seg_size : 0;
	uint64_t tables;

	if (size < IVSHM_MIN_REGION || size > IVSHM_MAX_REGION ||
	    !ivshm_is_pow2(size)) {
		snprintf(why, whylen, "region size %llu is not a power of two "
			 "from 1 MiB to 64 TiB", (unsigned long long)size);
		return -EINVAL;
	}
	if (slots > IVSHM_MAX_SLOTS) {
		snprintf(why, whylen, "%u peer slots: at most %u", slots,
			 IVSHM_MAX_SLOTS);
		return -EINVAL;
	}
	if (!seg) {
		/* About 512 segments: fine-grained cleaning, small tables. */
		seg = ivshm_pow2_ceil(size / 512);
		seg = seg < IVSHM_MIN_SEG ? IVSHM_MIN_SEG :
		      seg > (4u << 20) ? (4u << 20) : seg;
	}
	if (!ivshm_is_pow2(seg) || seg < IVSHM_MIN_SEG || seg > IVSHM_MAX_SEG) {
		snprintf(why, whylen, "segment size %llu is not a power of two "
			 "from 64 KiB to 64 MiB", (unsigned long long)seg);
		return -EINVAL;
	}
	g->region_size = size;
	g->seg_size = (uint32_t)seg;
	g->peer_slots = slots;
	g->seg_table_off = IVSHM_SB_SIZE + (uint64_t)slots * IVSHM_SLOT_SIZE;
	/* The table describes every segment that fits after the tables. */
	tables = g->seg_table_off + (size / seg) * IVSHM_SEG_ENTRY_SIZE;
	g->seg0_off = align_up(tables, seg);
	g->seg_count = (uint32_t)((size - g->seg0_off) / seg);
	if (g->seg0_off >= size || g->seg_count < 4) {
		snprintf(why, whylen, "a %llu-byte region holds too few %llu-"
			 "byte segments (at least 4 needed)",
			 (unsigned long long)size, (unsigned long long)seg);
		return -EINVAL;
	}
	return 0;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

uint32_t ivshm_ckpt_desc_crc(const struct ivshm_ckpt_desc *d)
{
	return ivshm_crc32(0, d, offsetof(struct ivshm_ckpt_desc, crc));
}

uint32_t ivshm_seg_hdr_crc(const struct ivshm_seg_hdr *h)
{
	return ivshm_crc32(0, (const char *)h + 4, sizeof(*h) - 4);
}

static enum ivshm_region_kind classify_copy(const struct ivshm_sb *sb,
					    uint64_t size,
					    struct ivshm_geom *g, char *why,
					    size_t whylen);

enum ivshm_region_kind ivshm_classify(const void *region, uint64_t size,
				      struct ivshm_geom *g, char *why,
				      size_t whylen)
{
	struct ivshm_sb *copy;
	enum ivshm_region_kind k;

	if (size < IVSHM_SB_SIZE) {
		snprintf(why, whylen, "region of %llu bytes is smaller than a "
			 "superblock", (unsigned long long)size);
		return IVSHM_REGION_FOREIGN;
	}
	/*
	 * One private copy (on the heap: a kernel stack frame is small):
	 * another peer cannot change what we checked.
	 */
	copy = ivshm_alloc(sizeof(*copy));
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return IVSHM_REGION_CORRUPT;
	}
	memcpy(copy, region, sizeof(*copy));
	k = classify_copy(copy, size, g, why, whylen);
	ivshm_free(copy);
	return k;
}

static enum ivshm_region_kind classify_copy(const struct ivshm_sb *sb,
					    uint64_t size,
					    struct ivshm_geom *g, char *why,
					    size_t whylen)
{
	struct ivshm_geom want;
	struct ivshm_format_opts o = { 0 };
	uint32_t crc;

	if (all_zero(sb, sizeof(*sb))) {
		snprintf(why, whylen, "superblock is all zero");
		return IVSHM_REGION_BLANK;
	}
	if (memcmp(sb->magic, IVSHM_MAGIC, 8)) {
		snprintf(why, whylen, "no ivshm magic at offset 0");
		return IVSHM_REGION_FOREIGN;
	}
	if (sb->version != IVSHM_FORMAT_VERSION) {
		snprintf(why, whylen, "format version %u, this build reads %u",
			 sb->version, IVSHM_FORMAT_VERSION);
		return IVSHM_REGION_OTHER_VERSION;
	}
	crc = ivshm_crc32(0, sb, offsetof(struct ivshm_sb, static_crc));
	if (crc != sb->static_crc) {
		snprintf(why, whylen, "superblock checksum 0x%08x, stored 0x%08x "
			 "(offset 252)", crc, sb->static_crc);
		return IVSHM_REGION_CORRUPT;
	}
	if (sb->features) {
		snprintf(why, whylen, "unknown feature bits 0x%x (offset 68)",
			 sb->features);
		return IVSHM_REGION_CORRUPT;
	}
	if (sb->region_size != size) {
		snprintf(why, whylen, "superblock says %llu bytes, the region "
			 "has %llu (offset 16)",
			 (unsigned long long)sb->region_size,
			 (unsigned long long)size);
		return IVSHM_REGION_CORRUPT;
	}
	o.seg_size = sb->seg_size;
	o.peer_slots = sb->peer_slots;
	if (sb->sb_size != IVSHM_SB_SIZE || sb->peer_slot_size != IVSHM_SLOT_SIZE ||
	    sb->seg_entry_size != IVSHM_SEG_ENTRY_SIZE ||
	    sb->peer_table_off != IVSHM_SB_SIZE || !sb->peer_slots ||
	    ivshm_geom_plan(size, &o, &want, why, whylen) ||
	    sb->seg_count != want.seg_count || sb->seg0_off != want.seg0_off ||
	    sb->seg_table_off != want.seg_table_off) {
		snprintf(why, whylen, "superblock geometry is inconsistent "
			 "(segments %u of %u bytes at %llu, %u slots)",
			 sb->seg_count, sb->seg_size,
			 (unsigned long long)sb->seg0_off, sb->peer_slots);
		return IVSHM_REGION_CORRUPT;
	}
	*g = want;
	return IVSHM_REGION_VALID;
}

int ivshm_format(void *region, uint64_t size,
		 const struct ivshm_format_opts *o, char *why, size_t whylen)
{
	struct ivshm_format_opts def = { 0 };
	struct ivshm_sb *sb = ivshm_sb_of(region);
	struct ivshm_rec_inode root = { 0 };
	struct ivshm_ckpt_desc d = { 0 };
	struct ivshm_seg_entry *e;
	struct ivshm_geom g;
	int64_t now = ivshm_now_ns();
	int rc;

	if (!o)
		o = &def;
	rc = ivshm_geom_plan(size, o, &g, why, whylen);
	if (rc)
		return rc;
	/*
	 * Magic last: until then nobody can take this for a store. The lock
	 * word is left alone: a concurrent attach may hold it to claim the
	 * format (see store.c).
	 */
	memset(region, 0, offsetof(struct ivshm_sb, lock));
	memset((char *)region + offsetof(struct ivshm_sb, lock_count), 0,
	       g.seg0_off - offsetof(struct ivshm_sb, lock_count));
	sb->version = IVSHM_FORMAT_VERSION;
	sb->sb_size = IVSHM_SB_SIZE;
	sb->region_size = size;
	sb->seg_size = g.seg_size;
	sb->seg_count = g.seg_count;
	sb->seg0_off = g.seg0_off;
	sb->peer_table_off = IVSHM_SB_SIZE;
	sb->peer_slots = g.peer_slots;
	sb->peer_slot_size = IVSHM_SLOT_SIZE;
	sb->seg_table_off = g.seg_table_off;
	sb->seg_entry_size = IVSHM_SEG_ENTRY_SIZE;
	ivshm_random_bytes(sb->uuid, sizeof(sb->uuid));
	sb->format_time = (uint64_t)now;
	for (uint32_t i = 0; i < g.seg_count; i++)
		ivshm_seg_entry_at(region, &g, i)->owner = IVSHM_NONE;
	for (uint32_t i = 0; i < g.peer_slots; i++)
		ivshm_slot_at(region, i)->data_seg = IVSHM_NONE;

	/* Segment 0 is the first meta segment; the root is record 1. */
	e = ivshm_seg_entry_at(region, &g, 0);
	e->state = IVSHM_SEG_META;
	e->alloc_seq = 1;
	ivshm_log_init_segment(region, &g, sb->uuid, 0, IVSHM_SEG_META, 1);
	root.mode = MODE_DIR | (o->root_mode ? o->root_mode & 07777 : 0755);
	root.uid = o->root_uid;
	root.gid = o->root_gid;
	root.nlink = 2;
	root.atime = root.mtime = root.ctime = root.btime = now;
	ivshm_log_write_record(ivshm_seg_at(region, &g, 0) + IVSHM_SEG_HDR_SIZE,
			       IVSHM_REC_INODE, IVSHM_NONE, 1, IVSHM_ROOT_INO,
			       &root, sizeof(root), NULL, 0);

	d.ckpt_seg = IVSHM_NONE;
	d.log_seg = 0;
	d.log_off = IVSHM_SEG_HDR_SIZE;
	d.crc = ivshm_ckpt_desc_crc(&d);
	sb->ckpt[0] = d;
	sb->head_seq = 1;
	sb->epoch = 1;
	/* The checksum covers the magic, which is stored last of all. */
	memcpy(sb->magic, IVSHM_MAGIC, 8);
	sb->static_crc = ivshm_crc32(0, sb, offsetof(struct ivshm_sb,
						     static_crc));
	memset(sb->magic, 0, 8);
	ivshm_fence();
	memcpy(sb->magic, IVSHM_MAGIC, 8);
	ivshm_fence();
	return 0;
}
