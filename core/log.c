// SPDX-License-Identifier: MIT
#include "log.h"

uint32_t ivshm_log_write_record(void *dst, uint16_t type, uint32_t slot,
				uint64_t seq, uint64_t ino, const void *p1,
				uint32_t n1, const void *p2, uint32_t n2)
{
	uint32_t len = ivshm_rec_len(n1 + n2);
	struct ivshm_rec_hdr h = {
		.type = type, .len = len, .slot = slot, .seq = seq, .ino = ino,
	};
	char *d = dst;
	uint32_t crc;

	IVSHM_FAULT_POINT("record header", d, &h, sizeof(h));
	memcpy(d, &h, sizeof(h));
	IVSHM_FAULT_POINT("record payload", d + sizeof(h), p1, n1);
	if (n1)
		memcpy(d + sizeof(h), p1, n1);
	if (n2)
		memcpy(d + sizeof(h) + n1, p2, n2);
	memset(d + sizeof(h) + n1 + n2, 0, len - sizeof(h) - n1 - n2);
	/* The crc is computed over what is in the region, as readers do. */
	crc = ivshm_crc32(0, d + 4, len - 4);
	IVSHM_FAULT_POINT("record crc", NULL, NULL, 0);
	memcpy(d, &crc, sizeof(crc));
	return len;
}

void ivshm_log_init_segment(void *region, const struct ivshm_geom *g,
			    const uint8_t uuid[16], uint32_t index,
			    uint32_t kind, uint64_t first_seq)
{
	struct ivshm_seg_hdr h = {
		.magic = IVSHM_SEG_MAGIC, .kind = kind, .index = index,
		.first_seq = first_seq,
	};

	memcpy(h.uuid, uuid, sizeof(h.uuid));
	h.crc = ivshm_seg_hdr_crc(&h);
	IVSHM_FAULT_POINT("segment header", ivshm_seg_at(region, g, index), &h,
			  sizeof(h));
	memcpy(ivshm_seg_at(region, g, index), &h, sizeof(h));
}

int ivshm_log_check_segment(void *region, const struct ivshm_geom *g,
			    const uint8_t uuid[16], uint32_t index,
			    uint32_t kind, uint64_t first_seq)
{
	struct ivshm_seg_hdr h;
	const char *what = NULL;

	if (index >= g->seg_count) {
		ivshm_log_err("log points at segment %u, the region has %u\n",
			      index, g->seg_count);
		return -EIO;
	}
	memcpy(&h, ivshm_seg_at(region, g, index), sizeof(h));
	if (h.magic != IVSHM_SEG_MAGIC)
		what = "no segment magic";
	else if (h.crc != ivshm_seg_hdr_crc(&h))
		what = "bad header checksum";
	else if (memcmp(h.uuid, uuid, 16))
		what = "header belongs to another store";
	else if (h.index != index || h.kind != kind)
		what = "header names another segment or kind";
	else if (h.first_seq != first_seq)
		what = "header's first sequence does not follow the log";
	if (what) {
		ivshm_log_err("segment %u (offset 0x%llx): %s\n", index,
			      (unsigned long long)(g->seg0_off +
						   (uint64_t)index * g->seg_size),
			      what);
		return -EIO;
	}
	return 0;
}

int ivshm_log_check_resume(void *region, const struct ivshm_geom *g,
			   const uint8_t uuid[16], uint32_t seg, uint32_t off,
			   uint64_t ckpt_seq, uint64_t head)
{
	struct ivshm_seg_hdr h;

	if (ckpt_seq > head) {
		ivshm_log_err("checkpoint covers up to seq %llu, beyond the "
			      "committed head %llu\n",
			      (unsigned long long)ckpt_seq,
			      (unsigned long long)head);
		return -EIO;
	}
	if (seg >= g->seg_count)
		return ivshm_log_check_segment(region, g, uuid, seg,
					       IVSHM_SEG_META, 0);
	memcpy(&h, ivshm_seg_at(region, g, seg), sizeof(h));
	/* Its first record precedes the resume point (or is it). */
	if (h.first_seq > ckpt_seq + 1 ||
	    (off == IVSHM_SEG_HDR_SIZE && h.first_seq != ckpt_seq + 1)) {
		ivshm_log_err("segment %u, where the log resumes, starts at "
			      "seq %llu: does not fit a resume at seq %llu\n",
			      seg, (unsigned long long)h.first_seq,
			      (unsigned long long)(ckpt_seq + 1));
		return -EIO;
	}
	return ivshm_log_check_segment(region, g, uuid, seg, IVSHM_SEG_META,
				       h.first_seq);
}

static int bad(const struct ivshm_cursor *c, const char *what)
{
	ivshm_log_err("record seq %llu at segment %u offset 0x%x: %s\n",
		      (unsigned long long)(c->seq + 1), c->seg, c->off, what);
	return -EIO;
}

int ivshm_log_next(void *region, const struct ivshm_geom *g,
		   const uint8_t uuid[16], uint64_t head,
		   struct ivshm_cursor *c, struct ivshm_rec *r)
{
	/* A LINK per segment at most: bounded by the segment count. */
	for (uint32_t hops = 0; hops <= g->seg_count; hops++) {
		const char *seg;
		struct ivshm_rec_link link;
		uint32_t crc, len;

		if (c->seq >= head)
			return 0;
		if (c->seg >= g->seg_count)
			return bad(c, "segment out of range");
		if (c->off < IVSHM_SEG_HDR_SIZE || (c->off & 7) ||
		    c->off > g->seg_size - IVSHM_REC_HDR_SIZE)
			return bad(c, "offset out of range");
		seg = ivshm_seg_at(region, g, c->seg);
		memcpy(&r->hdr, seg + c->off, sizeof(r->hdr));
		len = r->hdr.len;
		if (r->hdr.seq != c->seq + 1)
			return bad(c, "sequence does not follow");
		if (len < IVSHM_REC_HDR_SIZE || (len & 7) || len > IVSHM_REC_MAX ||
		    len > g->seg_size - c->off)
			return bad(c, "length out of range");
		if (!r->hdr.type || r->hdr.type > IVSHM_REC_TYPE_MAX)
			return bad(c, "unknown record type");
		/* Check and parse a private copy, never the shared bytes. */
		memcpy(r->buf, seg + c->off, len);
		crc = ivshm_crc32(0, r->buf + 4, len - 4);
		if (crc != r->hdr.crc)
			return bad(c, "bad checksum");
		memcpy(&r->hdr, r->buf, sizeof(r->hdr));
		r->payload = r->buf + IVSHM_REC_HDR_SIZE;
		r->payload_len = len - IVSHM_REC_HDR_SIZE;
		r->seg = c->seg;
		r->off = c->off;
		if (r->hdr.type != IVSHM_REC_LINK) {
			c->off += len;
			c->seq++;
			return 1;
		}
		if (r->payload_len < sizeof(link))
			return bad(c, "short link record");
		memcpy(&link, r->payload, sizeof(link));
		if (link.next_seg >= g->seg_count || link.next_seg == c->seg)
			return bad(c, "link to an impossible segment");
		if (ivshm_log_check_segment(region, g, uuid, link.next_seg,
					    c->kind ? c->kind : IVSHM_SEG_META,
					    c->seq + 2))
			return bad(c, "link to a segment that does not "
				      "continue the log");
		c->seg = link.next_seg;
		c->off = IVSHM_SEG_HDR_SIZE;
		c->seq++;
	}
	return bad(c, "log loops through its segments");
}
