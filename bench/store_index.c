// SPDX-License-Identifier: MIT
/*
 * Index memory per peer: the heap a new peer's ivshm_fs_open() keeps
 * (mallinfo2: bytes in use, arenas and mmapped chunks), on a region before
 * and after FILES files were created, and on a region holding one file
 * before and after EXTENTS writes that cannot merge (16 bytes every 32).
 * The difference over the count is the cost per file (inode, name, its
 * slot in the hash tables) and per extent. The baseline is the payload of
 * the records describing the same things (INODE + DIRENT + name; EXTENT).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_bench.h"

/* Heap a new peer's index of @path holds, in bytes; -1 on failure. */
static int64_t index_heap(const char *path)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	uint64_t before, after;

	if (sb_region_open(path, &dev))
		return -1;
	before = sb_heap_bytes();
	if (sb_fs_open(dev, "bench-index-peer", &fs)) {
		ivshm_device_close(dev);
		return -1;
	}
	after = sb_heap_bytes();
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return (int64_t)(after - before);
}

static int files_case(const struct sb_opts *o, const char *path)
{
	struct ivshm_device *dev = NULL;
	struct ivshm_fs *fs = NULL;
	struct ivshm_verify_report v;
	int64_t empty = 0, full;
	char name[32];
	double per, rec;
	int rc = -1;

	if (sb_region_new(path, o->region, &dev) ||
	    sb_fs_open(dev, "bench-index-writer", &fs))
		goto out;
	/* Once for whatever the first open allocates for good. */
	if (index_heap(path) < 0 || (empty = index_heap(path)) < 0)
		goto out;
	for (unsigned long i = 0; i < o->files; i++) {
		snprintf(name, sizeof(name), "f%07lu", i);
		if (!sb_create(fs, name))
			goto out;
	}
	full = index_heap(path);
	if (full < 0 || sb_verify("creating files", dev, &v))
		goto out;
	per = (double)(full - empty) / (double)o->files;
	rec = (double)(sizeof(struct ivshm_rec_inode) +
		       sizeof(struct ivshm_rec_dirent) + 8);
	sb_row("index_bytes_per_file", "index heap per file (1 dir)", "B", per,
	       rec, SB_T_NONE, 0,
	       "files=%lu heap_empty=%lld heap_full=%lld inode_struct=%zu "
	       "baseline=inode+dirent+8-byte-name", o->files,
	       (long long)empty, (long long)full, sizeof(struct ivshm_inode));
	printf("  %lu files: %.1f bytes each (records: %.0f)\n", o->files, per,
	       rec);
	rc = 0;
out:
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return rc;
}

static int extents_case(const struct sb_opts *o, const char *path)
{
	struct ivshm_device *dev = NULL;
	struct ivshm_fs *fs = NULL;
	struct ivshm_verify_report v;
	int64_t empty = 0, full;
	char buf[16];
	uint64_t ino;
	double per;
	int rc = -1;

	if (sb_region_new(path, o->region, &dev) ||
	    sb_fs_open(dev, "bench-index-writer", &fs))
		goto out;
	ino = sb_create(fs, "extents");
	if (!ino || index_heap(path) < 0 || (empty = index_heap(path)) < 0)
		goto out;
	memset(buf, 0xa5, sizeof(buf));
	for (unsigned long i = 0; i < o->extents; i++) {
		int64_t n = ivshm_fs_write(fs, ino, (uint64_t)i * 32, buf,
					   sizeof(buf), NULL);

		if (n != (int64_t)sizeof(buf)) {
			fprintf(stderr, "ivshm_fs_write #%lu: %s\n", i,
				n < 0 ? strerror((int)-n) : "short write");
			goto out;
		}
	}
	full = index_heap(path);
	if (full < 0 || sb_verify("writing extents", dev, &v))
		goto out;
	if (v.extents < o->extents) {
		fprintf(stderr, "index: %llu extents, expected %lu\n",
			(unsigned long long)v.extents, o->extents);
		goto out;
	}
	per = (double)(full - empty) / (double)v.extents;
	sb_row("index_bytes_per_extent", "index heap per extent (1 file)", "B",
	       per, (double)sizeof(struct ivshm_rec_extent), SB_T_NONE, 0,
	       "extents=%llu heap_empty=%lld heap_full=%lld node_size=%zu "
	       "baseline=extent-record-payload",
	       (unsigned long long)v.extents, (long long)empty,
	       (long long)full, ivshm_extmap_node_size());
	printf("  %llu extents: %.1f bytes each (records: %zu)\n",
	       (unsigned long long)v.extents, per,
	       sizeof(struct ivshm_rec_extent));
	rc = 0;
out:
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return rc;
}

int sb_index(const struct sb_opts *o)
{
	char path[128];
	int rc = 0;

	sb_shm_path(path, sizeof(path), "index");
	if (files_case(o, path)) {
		sb_fail("index_files", "the files case failed (see above)");
		rc = -1;
	}
	if (extents_case(o, path)) {
		sb_fail("index_extents", "the extents case failed (see above)");
		rc = -1;
	}
	return rc;
}
