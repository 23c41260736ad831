// SPDX-License-Identifier: MIT
/*
 * Append throughput: ivshm_fs_write() into one file, against memcpy() of
 * the same bytes, in the same pieces, into a /dev/shm mapping of the same
 * size. Both destinations are fresh mappings with every page faulted in
 * beforehand, so both sides time copying and nothing else. Cases:
 *   4 KiB sequential, then 4 KiB random overwrites of that file (a
 *   quarter of its size; the baseline copies to the same offsets), and
 *   1 MiB sequential into a fresh region.
 * Each case runs REPS times, ivshm and baseline taking turns; the median
 * of each is reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_bench.h"

#define SRC_SIZE (4u << 20)
#define REPS 3

enum { C_SEQ4K, C_RAND4K, C_SEQ1M, C_N };

struct aplan {
	char path[128];
	const struct sb_opts *o;
	char *src;		/* SRC_SIZE random bytes */
	uint64_t *roff;		/* offsets of the random overwrites */
	uint64_t nrand;
	double ivshm[C_N][REPS], base[C_N][REPS];
};

static void barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

static int64_t write_all(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
			 const char *src, uint32_t bs)
{
	int64_t n = ivshm_fs_write(fs, ino, off, src, bs, NULL);

	if (n != (int64_t)bs) {
		fprintf(stderr, "ivshm_fs_write of %u bytes at %llu: %s\n", bs,
			(unsigned long long)off,
			n < 0 ? strerror((int)-n) : "short write");
		return -1;
	}
	return 0;
}

/* One ivshm run of the sequential case @bs, plus random if 4 KiB. */
static int ivshm_run(struct aplan *p, uint32_t bs, int rep)
{
	const uint64_t total = p->o->total;
	struct ivshm_verify_report rep_v;
	struct ivshm_device *dev;
	struct ivshm_fs *fs = NULL;
	struct ivshm_attr a;
	uint64_t ino, t0, t1;
	int rc = -1;

	if (sb_region_new(p->path, p->o->region, &dev))
		return -1;
	if (sb_fs_open(dev, "bench-append", &fs))
		goto out;
	ino = sb_create(fs, "append");
	if (!ino)
		goto out;
	t0 = bench_now_ns();
	for (uint64_t off = 0; off < total; off += bs)
		if (write_all(fs, ino, off, p->src + off % SRC_SIZE, bs))
			goto out;
	t1 = bench_now_ns();
	p->ivshm[bs == 4096 ? C_SEQ4K : C_SEQ1M][rep] = sb_gbps(total, t1 - t0);
	if (bs == 4096) {
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < p->nrand; i++)
			if (write_all(fs, ino, p->roff[i],
				      p->src + (i * 4096) % SRC_SIZE, 4096))
				goto out;
		t1 = bench_now_ns();
		p->ivshm[C_RAND4K][rep] = sb_gbps(p->nrand * 4096, t1 - t0);
	}
	if (ivshm_fs_getattr(fs, ino, &a) || a.size != total) {
		fprintf(stderr, "append: file size %llu, expected %llu\n",
			(unsigned long long)a.size, (unsigned long long)total);
		goto out;
	}
	ivshm_fs_close(fs);
	fs = NULL;
	if (sb_verify("appending", dev, &rep_v))
		goto out;
	rc = 0;
out:
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return rc;
}

static int base_run(struct aplan *p, uint32_t bs, int rep)
{
	const uint64_t total = p->o->total;
	struct ivshm_device *dev;
	uint64_t t0, t1;
	char *dst;

	if (sb_region_new(p->path, p->o->region, &dev))
		return -1;
	dst = dev->region;
	t0 = bench_now_ns();
	for (uint64_t off = 0; off < total; off += bs) {
		memcpy(dst + off, p->src + off % SRC_SIZE, bs);
		barrier();
	}
	t1 = bench_now_ns();
	p->base[bs == 4096 ? C_SEQ4K : C_SEQ1M][rep] = sb_gbps(total, t1 - t0);
	if (bs == 4096) {
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < p->nrand; i++) {
			memcpy(dst + p->roff[i],
			       p->src + (i * 4096) % SRC_SIZE, 4096);
			barrier();
		}
		t1 = bench_now_ns();
		p->base[C_RAND4K][rep] = sb_gbps(p->nrand * 4096, t1 - t0);
	}
	ivshm_device_close(dev);
	return 0;
}

static void report(struct aplan *p)
{
	static const char *const key[C_N] = { "append_4k_seq",
					      "append_4k_rand_overwrite",
					      "append_1m_seq" };
	static const char *const label[C_N] = {
		"append 4 KiB sequential vs memcpy",
		"append 4 KiB random overwrite vs memcpy",
		"append 1 MiB sequential vs memcpy" };
	static const uint32_t bs[C_N] = { 4096, 4096, 1u << 20 };

	for (int c = 0; c < C_N; c++) {
		double iv = bench_median(p->ivshm[c], REPS);
		double b = bench_median(p->base[c], REPS);
		/* per write: time at the median rate, ns */
		double iv_op = iv > 0 ? bs[c] / iv : 0;
		double b_op = b > 0 ? bs[c] / b : 0;

		sb_row(key[c], label[c], "GB/s", iv, b, SB_T_MIN_RATIO, 0.7,
		       "ivshm_ns_per_write=%.0f memcpy_ns_per_write=%.0f "
		       "overhead_ns_per_write=%.0f bytes=%llu reps=%d",
		       iv_op, b_op, iv_op - b_op,
		       (unsigned long long)(c == C_RAND4K ? p->nrand * 4096 :
							    p->o->total),
		       REPS);
		printf("  %-42s ivshm %6.2f GB/s (%.0f ns/write), memcpy %6.2f "
		       "GB/s (%.0f ns/write)\n", label[c], iv, iv_op, b, b_op);
	}
}

int sb_append(const struct sb_opts *o)
{
	struct aplan *p = calloc(1, sizeof(*p));
	uint64_t seed = 0x9e3779b97f4a7c15ull, nblk = o->total / 4096;
	int rc = -1;

	if (!p)
		return -1;
	p->o = o;
	p->nrand = nblk / 4;
	p->src = malloc(SRC_SIZE);
	p->roff = malloc(p->nrand * sizeof(*p->roff));
	if (!p->src || !p->roff) {
		sb_fail("append", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < SRC_SIZE / 8; i++)
		((uint64_t *)(void *)p->src)[i] = sb_rand(&seed);
	for (uint64_t i = 0; i < p->nrand; i++)
		p->roff[i] = (sb_rand(&seed) % nblk) * 4096;
	sb_shm_path(p->path, sizeof(p->path), "append");
	for (int rep = 0; rep < REPS; rep++) {
		if (ivshm_run(p, 4096, rep) || base_run(p, 4096, rep) ||
		    ivshm_run(p, 1u << 20, rep) || base_run(p, 1u << 20, rep)) {
			sb_fail("append", "run %d failed (see above)", rep + 1);
			goto out;
		}
	}
	report(p);
	rc = 0;
out:
	free(p->src);
	free(p->roff);
	free(p);
	return rc;
}
