/* SPDX-License-Identifier: MIT */
/*
 * A full check of a region, without attaching to it: superblock, every
 * committed record (bounds, sequence, checksum), the namespace the records
 * build (names point at inodes, link counts agree, every directory is
 * reachable once), and space accounting (extents lie in data segments,
 * the log in meta segments, no free segment holds anything live).
 */
#ifndef IVSHM_VERIFY_H
#define IVSHM_VERIFY_H

#include "index.h"

struct ivshm_verify_report {
	uint64_t head_seq;
	uint64_t records;
	uint64_t ckpt_records;
	uint64_t inodes, dirs, files, extents, data_bytes;
	uint64_t anomalies;	/* records the index had to ignore */
	uint64_t orphans;	/* unlinked inodes still held open */
	uint64_t errors;
	uint32_t seg_free, seg_meta, seg_data, seg_ckpt;
	char first_error[256];
};

/* 0 when sound; -EIO with @rep->first_error naming what and where. */
int ivshm_verify(void *region, uint64_t size, struct ivshm_verify_report *rep);

#endif
