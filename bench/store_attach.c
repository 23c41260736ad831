// SPDX-License-Identifier: MIT
/*
 * Attach time: a region holding at least RECORDS committed records (a
 * tenth of them files created, the rest 64-byte writes spread over the
 * files so that every write is an extent of its own), then a new peer's
 * ivshm_fs_open() on a fresh mapping of it, before and after an explicit
 * ivshm_fs_checkpoint(). The baseline reads and checks the same records
 * (checkpoint, then the log after it) with ivshm_log_next() and nothing
 * else: what any replay of this format must pay, without the index.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_bench.h"

#define REPS 3

/* Read every record a new peer would replay; records read, or -1. */
static int64_t scan_log(struct ivshm_device *dev, struct ivshm_rec *r)
{
	struct ivshm_sb *sb = ivshm_sb_of(dev->region);
	struct ivshm_ckpt_desc d;
	struct ivshm_cursor c;
	struct ivshm_geom g;
	uint64_t gen, head;
	int64_t n = 0;
	char why[160];
	int rc;

	if (ivshm_classify(dev->region, dev->size, &g, why, sizeof(why)) !=
	    IVSHM_REGION_VALID) {
		fprintf(stderr, "scan: %s\n", why);
		return -1;
	}
	gen = ivshm_load_acquire(&sb->ckpt_gen);
	memcpy(&d, &sb->ckpt[gen & 1], sizeof(d));
	head = ivshm_load_acquire(&sb->head_seq);
	if (d.ckpt_seg != IVSHM_NONE) {
		c = (struct ivshm_cursor){ .seg = d.ckpt_seg,
					   .off = IVSHM_SEG_HDR_SIZE,
					   .kind = IVSHM_SEG_CKPT };
		while ((rc = ivshm_log_next(dev->region, &g, sb->uuid,
					    d.ckpt_records, &c, r)) > 0)
			n++;
		if (rc < 0)
			return -1;
	}
	c = (struct ivshm_cursor){ .seg = d.log_seg, .off = d.log_off,
				   .seq = d.ckpt_seq, .kind = IVSHM_SEG_META };
	while ((rc = ivshm_log_next(dev->region, &g, sb->uuid, head, &c, r)) >
	       0)
		n++;
	return rc < 0 ? -1 : n;
}

struct attach_fig {
	double attach_s, scan_s;
	uint64_t scanned;
	struct ivshm_verify_report v;
};

/* Median of REPS new peers attaching, and of REPS scans. */
static int measure(const char *path, struct ivshm_device *dev,
		   struct ivshm_rec *r, struct attach_fig *f)
{
	double a[REPS], s[REPS];

	if (sb_verify("building the attach region", dev, &f->v))
		return -1;
	for (int i = 0; i < REPS; i++) {
		struct ivshm_device *d2;
		struct ivshm_fs *fs;
		uint64_t t0, t1;
		int64_t n;

		if (sb_region_open(path, &d2))
			return -1;
		t0 = bench_now_ns();
		if (sb_fs_open(d2, "bench-attach-new", &fs)) {
			ivshm_device_close(d2);
			return -1;
		}
		t1 = bench_now_ns();
		a[i] = (double)(t1 - t0) * 1e-9;
		ivshm_fs_close(fs);
		ivshm_device_close(d2);

		if (sb_region_open(path, &d2))
			return -1;
		t0 = bench_now_ns();
		n = scan_log(d2, r);
		t1 = bench_now_ns();
		ivshm_device_close(d2);
		if (n < 0) {
			fprintf(stderr, "scan: the log does not read back\n");
			return -1;
		}
		s[i] = (double)(t1 - t0) * 1e-9;
		f->scanned = (uint64_t)n;
	}
	f->attach_s = bench_median(a, REPS);
	f->scan_s = bench_median(s, REPS);
	return 0;
}

static void report(const char *key, const char *label,
		   const struct attach_fig *f, uint64_t head, double build_s)
{
	double n = (double)(f->scanned ? f->scanned : 1);

	sb_row(key, label, "s", f->attach_s, f->scan_s, SB_T_MAX, 1.0,
	       "log_records=%llu ckpt_records=%llu replayed=%llu "
	       "head_seq=%llu inodes=%llu extents=%llu seg_meta=%u "
	       "seg_ckpt=%u build_s=%.2f ns_per_record=%.0f "
	       "scan_ns_per_record=%.0f",
	       (unsigned long long)f->v.records,
	       (unsigned long long)f->v.ckpt_records,
	       (unsigned long long)f->scanned, (unsigned long long)head,
	       (unsigned long long)f->v.inodes,
	       (unsigned long long)f->v.extents, f->v.seg_meta, f->v.seg_ckpt,
	       build_s, f->attach_s * 1e9 / n, f->scan_s * 1e9 / n);
	printf("  %-42s %.3f s for %llu records (%llu in the checkpoint, "
	       "%llu in the log); reading them alone %.3f s\n", label,
	       f->attach_s, (unsigned long long)f->scanned,
	       (unsigned long long)f->v.ckpt_records,
	       (unsigned long long)f->v.records, f->scan_s);
}

/* Fill the region: files, then writes round robin until @records. */
static int build(const struct sb_opts *o, struct ivshm_fs *fs, uint64_t *head)
{
	struct ivshm_store *st = ivshm_fs_store(fs);
	unsigned long nfiles = o->records / 10;
	uint64_t *ino = malloc(nfiles * sizeof(*ino));
	char name[32], buf[64];
	uint64_t k = 0;

	if (!ino)
		return -1;
	for (unsigned long i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%07lu", i);
		ino[i] = sb_create(fs, name);
		if (!ino[i])
			goto fail;
	}
	memset(buf, 0x5a, sizeof(buf));
	while (ivshm_store_head(st) < o->records) {
		uint64_t off = (k / nfiles) * sizeof(buf);
		int64_t n;

		memcpy(buf, &k, sizeof(k));
		n = ivshm_fs_write(fs, ino[k % nfiles], off, buf, sizeof(buf),
				   NULL);
		if (n != (int64_t)sizeof(buf)) {
			fprintf(stderr, "ivshm_fs_write #%llu of 64 bytes: "
				"%s\n", (unsigned long long)k,
				n < 0 ? strerror((int)-n) : "short write");
			goto fail;
		}
		k++;
	}
	*head = ivshm_store_head(st);
	free(ino);
	return 0;
fail:
	free(ino);
	return -1;
}

int sb_attach(const struct sb_opts *o)
{
	struct ivshm_rec *r = malloc(sizeof(*r));
	struct ivshm_device *dev = NULL;
	struct ivshm_fs *fs = NULL;
	struct attach_fig before, after;
	char path[128];
	uint64_t head, t0, t1;
	double build_s, ckpt_s;
	int rc;

	if (!r) {
		sb_fail("attach", "out of memory");
		return -1;
	}
	sb_shm_path(path, sizeof(path), "attach");
	if (sb_region_new(path, o->region, &dev) ||
	    sb_fs_open(dev, "bench-attach-writer", &fs))
		goto fail;
	t0 = bench_now_ns();
	if (build(o, fs, &head))
		goto fail;
	t1 = bench_now_ns();
	build_s = (double)(t1 - t0) * 1e-9;
	printf("  built %llu records in %.2f s\n", (unsigned long long)head,
	       build_s);
	if (measure(path, dev, r, &before))
		goto fail;
	t0 = bench_now_ns();
	rc = ivshm_fs_checkpoint(fs);
	t1 = bench_now_ns();
	ckpt_s = (double)(t1 - t0) * 1e-9;
	if (rc) {
		fprintf(stderr, "ivshm_fs_checkpoint: %s\n", strerror(-rc));
		goto fail;
	}
	printf("  ivshm_fs_checkpoint took %.3f s\n", ckpt_s);
	if (measure(path, dev, r, &after))
		goto fail;
	report("attach_before_ckpt", "attach, 1 peer, before explicit ckpt",
	       &before, head, build_s);
	report("attach_after_ckpt", "attach, 1 peer, after explicit ckpt",
	       &after, head, build_s);
	sb_row("checkpoint_time", "ivshm_fs_checkpoint() of that index", "s",
	       ckpt_s, -1, SB_T_NONE, 0, "ckpt_records=%llu",
	       (unsigned long long)after.v.ckpt_records);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	free(r);
	return 0;
fail:
	sb_fail("attach", "the attach part failed (see above)");
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	free(r);
	return -1;
}
