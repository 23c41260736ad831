// SPDX-License-Identifier: MIT
/*
 * The extent map: every operation and its edges, a randomized test against
 * a byte-granular model, allocation failures, and a scale check (a 1 GiB
 * volume written in random 4 KiB blocks).
 *
 * Environment: IVSHM_EXTMAP_SEED (random tests), IVSHM_EXTMAP_OPS (model
 * test operations, default 200000), IVSHM_EXTMAP_NO_TIMING (do not fail on
 * time limits: valgrind). Times printed are CPU seconds.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extmap.h"

#define ZERO IVSHM_EXTENT_ZERO

/* ---- allocation failures (extmap.c is built with IVSHM_EXTMAP_TEST) ---- */

static unsigned int fail_pct;	/* fail this % of allocations */
static int fail_in = -1;	/* or: let this many succeed, fail the next */
static uint64_t fail_rng = 88172645463325252ull;
static uint64_t fail_count;

bool ivshm_extmap_test_fail_alloc(void)
{
	if (fail_in >= 0) {
		if (fail_in--)
			return false;
		fail_count++;
		return true;
	}
	if (!fail_pct)
		return false;
	fail_rng ^= fail_rng << 13;
	fail_rng ^= fail_rng >> 7;
	fail_rng ^= fail_rng << 17;
	if (fail_rng % 100 < fail_pct) {
		fail_count++;
		return true;
	}
	return false;
}

/* ---- randomness ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n). */
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t seed_from_env(void)
{
	const char *s = getenv("IVSHM_EXTMAP_SEED");

	return s ? strtoull(s, NULL, 0) : 0x1badcafe5eedull;
}

/* CPU time: what the limits check should not depend on a busy machine. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool timing_enforced(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	return !getenv("IVSHM_EXTMAP_NO_TIMING");
#endif
}

/* ---- per-segment sums reported through on_change ---- */

#define MAX_SEGS 1024

/* Segment numbers < MAX_SEGS, or one of the few in the list. */
struct segsum {
	int64_t sum[MAX_SEGS];
	uint32_t seg[MAX_SEGS];	/* the segments reported, in order */
	bool seen[MAX_SEGS];
	unsigned int n;
	uint32_t big[8];
	int64_t big_sum[8];
	unsigned int nbig;
	uint64_t calls;
};

static int64_t *seg_slot(struct segsum *s, uint32_t seg)
{
	unsigned int i;

	if (seg < MAX_SEGS) {
		if (!s->seen[seg]) {
			s->seen[seg] = true;
			s->seg[s->n++] = seg;
		}
		return &s->sum[seg];
	}
	for (i = 0; i < s->nbig; i++)
		if (s->big[i] == seg)
			return &s->big_sum[i];
	CU_ASSERT_FATAL(s->nbig < 8);
	s->big[s->nbig] = seg;
	return &s->big_sum[s->nbig++];
}

static void on_change(void *arg, uint32_t seg, int64_t delta)
{
	struct segsum *s = arg;

	s->calls++;
	CU_ASSERT(delta != 0);
	*seg_slot(s, seg) += delta;
}

static int64_t seg_sum(const struct segsum *s, uint32_t seg)
{
	unsigned int i;

	if (seg < MAX_SEGS)
		return s->sum[seg];
	for (i = 0; i < s->nbig; i++)
		if (s->big[i] == seg)
			return s->big_sum[i];
	return 0;
}

static void setup(struct ivshm_extmap *m, struct segsum *s)
{
	memset(s, 0, sizeof(*s));
	ivshm_extmap_init(m);
	m->on_change = on_change;
	m->on_change_arg = s;
}

static struct ivshm_extent ext(uint64_t off, uint32_t len, uint32_t seg,
			       uint32_t seg_off, uint32_t flags)
{
	struct ivshm_extent e = { .off = off, .len = len, .seg = seg,
				  .seg_off = seg_off, .flags = flags };
	return e;
}

static int put(struct ivshm_extmap *m, uint64_t off, uint32_t len,
	       uint32_t seg, uint32_t seg_off, uint32_t flags)
{
	struct ivshm_extent e = ext(off, len, seg, seg_off, flags);

	return ivshm_extmap_map(m, &e);
}

/* ---- comparing a map with an expected list of extents ---- */

struct collect {
	struct ivshm_extent *e;
	size_t n, cap;
};

static int collect_fn(void *arg, const struct ivshm_extent *e)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->e = realloc(c->e, c->cap * sizeof(*c->e));
		CU_ASSERT_FATAL(c->e != NULL);
	}
	c->e[c->n++] = *e;
	return 0;
}

static bool same_ext(const struct ivshm_extent *a, const struct ivshm_extent *b)
{
	if (a->off != b->off || a->len != b->len || a->flags != b->flags)
		return false;
	return (a->flags & ZERO) ||
	       (a->seg == b->seg && a->seg_off == b->seg_off);
}

/* The map holds exactly @exp, and its counters and segment sums agree. */
static void expect(const struct ivshm_extmap *m, const struct segsum *s,
		   const struct ivshm_extent *exp, size_t n)
{
	struct collect c = { 0 };
	uint64_t bytes = 0;
	size_t i, j;

	CU_ASSERT_EQUAL(ivshm_extmap_check(m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_walk(m, collect_fn, &c), 0);
	CU_ASSERT_EQUAL(c.n, n);
	CU_ASSERT_EQUAL(ivshm_extmap_count(m), n);
	for (i = 0; i < n && i < c.n; i++) {
		if (!same_ext(&c.e[i], &exp[i])) {
			CU_FAIL("extent differs");
			fprintf(stderr, "  #%zu: got %" PRIu64
				"+%u -> %u:%u f%u, want %" PRIu64
				"+%u -> %u:%u f%u\n", i,
				c.e[i].off, c.e[i].len, c.e[i].seg,
				c.e[i].seg_off, c.e[i].flags, exp[i].off,
				exp[i].len, exp[i].seg, exp[i].seg_off,
				exp[i].flags);
		}
	}
	for (i = 0; i < n; i++)
		bytes += exp[i].len;
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(m), bytes);
	/* Per segment: what the hook reported is what is mapped there. */
	for (j = 0; s && j < s->n + s->nbig; j++) {
		uint32_t seg = j < s->n ? s->seg[j] : s->big[j - s->n];
		int64_t want = 0;

		for (i = 0; i < n; i++)
			if (!(exp[i].flags & ZERO) && exp[i].seg == seg)
				want += exp[i].len;
		CU_ASSERT_EQUAL(seg_sum(s, seg), want);
	}
	for (i = 0; s && i < n; i++)
		if (!(exp[i].flags & ZERO))
			CU_ASSERT(seg_sum(s, exp[i].seg) > 0);
	free(c.e);
}

#define EXPECT(m, s, ...)                                                   \
	do {                                                                \
		const struct ivshm_extent exp_[] = { __VA_ARGS__ };         \
		expect(m, s, exp_, sizeof(exp_) / sizeof(exp_[0]));        \
	} while (0)

static void report_scale(const char *what, struct ivshm_extmap *m, double t);

/* ---- the basic operations ---- */

static void test_empty(void)
{
	struct ivshm_extmap m;
	struct ivshm_extent e;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_FALSE(ivshm_extmap_find(&m, 0, &e));
	CU_ASSERT_FALSE(ivshm_extmap_next(&m, 0, &e));
	CU_ASSERT_FALSE(ivshm_extmap_next(&m, UINT64_MAX, &e));
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 4096, 1, 0, 2, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_walk(&m, collect_fn, NULL), 0);
	expect(&m, &s, NULL, 0);
	ivshm_extmap_release(&m);
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(s.calls, 0);
	CU_ASSERT_EQUAL(ivshm_extmap_node_size(), 1024);
}

static void test_map_find_next(void)
{
	struct ivshm_extmap m;
	struct ivshm_extent e;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_EQUAL(put(&m, 100, 50, 3, 1000, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 300, 10, 4, 0, 0), 0);
	EXPECT(&m, &s, ext(100, 50, 3, 1000, 0), ext(300, 10, 4, 0, 0));
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 64); /* two extents: 64 bytes */
	CU_ASSERT_EQUAL(put(&m, 100, 50, 5, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 100, 50, 3, 1000, 0), 0);
	EXPECT(&m, &s, ext(100, 50, 3, 1000, 0), ext(300, 10, 4, 0, 0));

	CU_ASSERT_FALSE(ivshm_extmap_find(&m, 99, &e));
	CU_ASSERT_TRUE(ivshm_extmap_find(&m, 100, &e));
	CU_ASSERT_EQUAL(e.off, 100);
	CU_ASSERT_TRUE(ivshm_extmap_find(&m, 149, &e));
	CU_ASSERT_EQUAL(e.seg_off, 1000);
	CU_ASSERT_FALSE(ivshm_extmap_find(&m, 150, &e));
	CU_ASSERT_FALSE(ivshm_extmap_find(&m, 310, &e));

	CU_ASSERT_TRUE(ivshm_extmap_next(&m, 0, &e));
	CU_ASSERT_EQUAL(e.off, 100);
	CU_ASSERT_TRUE(ivshm_extmap_next(&m, 120, &e));
	CU_ASSERT_EQUAL(e.off, 100);
	CU_ASSERT_TRUE(ivshm_extmap_next(&m, 150, &e));
	CU_ASSERT_EQUAL(e.off, 300);
	CU_ASSERT_TRUE(ivshm_extmap_next(&m, 309, &e));
	CU_ASSERT_EQUAL(e.off, 300);
	CU_ASSERT_FALSE(ivshm_extmap_next(&m, 310, &e));
	CU_ASSERT_EQUAL(seg_sum(&s, 3), 50);
	CU_ASSERT_EQUAL(seg_sum(&s, 4), 10);

	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 3), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 4), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(&m), 0);
	/* Released, it is an empty map again, hook included. */
	CU_ASSERT_EQUAL(put(&m, 0, 1, 9, 0, 0), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 9), 1);
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 9), 0);
}

static void test_split_middle(void)
{
	struct ivshm_extmap m;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_EQUAL(put(&m, 0, 1000, 1, 5000, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 400, 100, 2, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 400, 1, 5000, 0), ext(400, 100, 2, 0, 0),
	       ext(500, 500, 1, 5500, 0));
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 900);
	/* A zero range splits a zero extent: no offset to carry. */
	CU_ASSERT_EQUAL(put(&m, 2000, 1000, 7, 77, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 2100, 10, 3, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 400, 1, 5000, 0), ext(400, 100, 2, 0, 0),
	       ext(500, 500, 1, 5500, 0), ext(2000, 100, 7, 77, ZERO),
	       ext(2100, 10, 3, 0, 0), ext(2110, 890, 7, 77, ZERO));
	CU_ASSERT_EQUAL(seg_sum(&s, 7), 0);
	/* Punching the middle splits too. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 100, 100), 0);
	EXPECT(&m, &s, ext(0, 100, 1, 5000, 0), ext(200, 200, 1, 5200, 0),
	       ext(400, 100, 2, 0, 0), ext(500, 500, 1, 5500, 0),
	       ext(2000, 100, 7, 77, ZERO), ext(2100, 10, 3, 0, 0),
	       ext(2110, 890, 7, 77, ZERO));
	/* One byte in the middle of one byte's neighbours. */
	CU_ASSERT_EQUAL(put(&m, 50, 1, 4, 4, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 9);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 799);
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 4), 0);
}

static void test_exact_overlap(void)
{
	struct ivshm_extmap m;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_EQUAL(put(&m, 0, 100, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 200, 100, 1, 1000, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 400, 100, 1, 2000, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 200, 100, 2, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 100, 1, 0, 0), ext(200, 100, 2, 0, 0),
	       ext(400, 100, 1, 2000, 0));
	/* The same mapping again changes nothing, and says nothing. */
	s.calls = 0;
	CU_ASSERT_EQUAL(put(&m, 200, 100, 2, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 220, 10, 2, 20, 0), 0);
	CU_ASSERT_EQUAL(s.calls, 0);
	EXPECT(&m, &s, ext(0, 100, 1, 0, 0), ext(200, 100, 2, 0, 0),
	       ext(400, 100, 1, 2000, 0));
	/* Exactly over the first extent, with none before it. */
	CU_ASSERT_EQUAL(put(&m, 0, 100, 7, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 100, 1, 0, 0), 0);
	/* Trimming one side. */
	CU_ASSERT_EQUAL(put(&m, 150, 100, 3, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 450, 100, 4, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 100, 1, 0, 0), ext(150, 100, 3, 0, 0),
	       ext(250, 50, 2, 50, 0), ext(400, 50, 1, 2000, 0),
	       ext(450, 100, 4, 0, 0));
	/* Data over zeroes and back. */
	CU_ASSERT_EQUAL(put(&m, 0, 100, 0, 0, ZERO), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 50);
	CU_ASSERT_EQUAL(put(&m, 0, 100, 1, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 100, 1, 0, 0), ext(150, 100, 3, 0, 0),
	       ext(250, 50, 2, 50, 0), ext(400, 50, 1, 2000, 0),
	       ext(450, 100, 4, 0, 0));
	ivshm_extmap_release(&m);
}

static void test_span_many(void)
{
	struct ivshm_extmap m;
	struct segsum s;
	uint64_t i;

	setup(&m, &s);
	/* 10000 one-byte extents, every other byte: a tree of 3 levels. */
	for (i = 0; i < 10000; i++)
		CU_ASSERT_EQUAL_FATAL(put(&m, 2 * i, 1, 1, (uint32_t)(4 * i),
					  0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 10000);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	/* Cover 5000 of them, starting and ending inside a gap. */
	CU_ASSERT_EQUAL(put(&m, 5001, 9999, 2, 0, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 10000 - 4999 + 1);
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(&m), 5001 + 9999);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 5001);
	/* Cover with partial ends: the extents at both ends get trimmed. */
	CU_ASSERT_EQUAL(put(&m, 1000, 5, 3, 0, 0), 0); /* 1000..1004 */
	CU_ASSERT_EQUAL(put(&m, 999, 4007, 4, 0, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	/*
	 * Left: 0..998 even (500 extents), the new one, the trimmed one from
	 * 5006 and the 2500 single bytes from 15000 on.
	 */
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 500 + 1 + 1 + 2500);
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(&m),
			500 + 4007 + (15000 - 5006) + 2500);
	/* A punch across everything but one extent. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 1, UINT64_MAX - 1), 0);
	EXPECT(&m, &s, ext(0, 1, 1, 0, 0));
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 64); /* shrunk back */
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 2), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 4), 0);
}

static void test_zero_length(void)
{
	struct ivshm_extmap m;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_EQUAL(put(&m, 10, 0, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 0);
	CU_ASSERT_EQUAL(put(&m, 10, 10, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 15, 0, 2, 0, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 15, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 15, 0, 1, 5, 2, 0), 0);
	EXPECT(&m, &s, ext(10, 10, 1, 0, 0));
	/* Nothing there to punch or move: no-ops too. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, 10), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 20, 100), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 20, 100, 1, 10, 2, 0), 0);
	EXPECT(&m, &s, ext(10, 10, 1, 0, 0));
	/* Invalid ranges are refused, the map unchanged. */
	CU_ASSERT_EQUAL(put(&m, UINT64_MAX - 5, 10, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 0xfffffffa, 0), -EINVAL);
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 0xfffffffa, ZERO), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 10, 1, 0xfffffffa, 2, 0),
			-EINVAL);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, UINT64_MAX - 5, 10, 1, 0, 2, 0),
			-EINVAL);
	EXPECT(&m, &s, ext(0, 10, 1, 0xfffffffa, ZERO), ext(10, 10, 1, 0, 0));
	ivshm_extmap_release(&m);
}

static void test_punch(void)
{
	struct ivshm_extmap m;
	struct segsum s;
	uint64_t i;

	setup(&m, &s);
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(put(&m, i * 100, 50, 1, (uint32_t)(i * 1000),
				    0), 0);
	/* Truncate at 525: the extent at 500 keeps 25 bytes. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 525, UINT64_MAX - 525), 0);
	EXPECT(&m, &s, ext(0, 50, 1, 0, 0), ext(100, 50, 1, 1000, 0),
	       ext(200, 50, 1, 2000, 0), ext(300, 50, 1, 3000, 0),
	       ext(400, 50, 1, 4000, 0), ext(500, 25, 1, 5000, 0));
	/* A length past the end means to the end as well. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 410, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, UINT64_MAX, 5), 0);
	EXPECT(&m, &s, ext(0, 50, 1, 0, 0), ext(100, 50, 1, 1000, 0),
	       ext(200, 50, 1, 2000, 0), ext(300, 50, 1, 3000, 0),
	       ext(400, 10, 1, 4000, 0));
	/* The front of an extent, and a range of holes and extents. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, 20), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 120, 200), 0);
	EXPECT(&m, &s, ext(20, 30, 1, 20, 0), ext(100, 20, 1, 1000, 0),
	       ext(320, 30, 1, 3020, 0), ext(400, 10, 1, 4000, 0));
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 90);
	/* Truncate to 0. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	expect(&m, &s, NULL, 0);
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 0);

	/* Truncating a big map, and punching most of one. */
	for (i = 0; i < 20000; i++)
		CU_ASSERT_EQUAL_FATAL(put(&m, i * 8, 4, 2, (uint32_t)(i * 4),
					  0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 8, 8 * 19998), 0);
	EXPECT(&m, &s, ext(0, 4, 2, 0, 0), ext(8 * 19999, 4, 2, 4 * 19999, 0));
	for (i = 0; i < 20000; i++)
		CU_ASSERT_EQUAL_FATAL(put(&m, i * 8, 4, 2, (uint32_t)(i * 4),
					  0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	expect(&m, &s, NULL, 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 2), 0);
	ivshm_extmap_release(&m);
}

static void test_move(void)
{
	struct ivshm_extmap m;
	struct segsum s;

	setup(&m, &s);
	/*
	 * The cleaner moves segment 5 bytes 0..999, written at file 0..999.
	 * Since then: 100..199 rewritten elsewhere, 300..399 punched,
	 * 500..599 zeroed, and 700..799 mapped to segment 5 but at another
	 * offset (another write that went to the same segment).
	 */
	CU_ASSERT_EQUAL(put(&m, 0, 1000, 5, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 100, 100, 6, 0, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 300, 100), 0);
	CU_ASSERT_EQUAL(put(&m, 500, 100, 0, 0, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 700, 100, 5, 5000, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 2000, 100, 5, 2000, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 1000, 5, 0, 9, 100), 600);
	EXPECT(&m, &s, ext(0, 100, 9, 100, 0), ext(100, 100, 6, 0, 0),
	       ext(200, 100, 9, 300, 0), ext(400, 100, 9, 500, 0),
	       ext(500, 100, 0, 0, ZERO), ext(600, 100, 9, 700, 0),
	       ext(700, 100, 5, 5000, 0), ext(800, 200, 9, 900, 0),
	       ext(2000, 100, 5, 2000, 0));
	CU_ASSERT_EQUAL(seg_sum(&s, 5), 200);
	CU_ASSERT_EQUAL(seg_sum(&s, 9), 600);
	/* Again: nothing matches any more. */
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 1000, 5, 0, 9, 100), 0);
	/* Part of a range, from the middle of an extent. */
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 250, 200, 9, 350, 10, 0), 100);
	EXPECT(&m, &s, ext(0, 100, 9, 100, 0), ext(100, 100, 6, 0, 0),
	       ext(200, 50, 9, 300, 0), ext(250, 50, 10, 0, 0),
	       ext(400, 50, 10, 150, 0), ext(450, 50, 9, 550, 0),
	       ext(500, 100, 0, 0, ZERO), ext(600, 100, 9, 700, 0),
	       ext(700, 100, 5, 5000, 0), ext(800, 200, 9, 900, 0),
	       ext(2000, 100, 5, 2000, 0));
	/* A range whose old offsets do not line up: nothing moves. */
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 100, 9, 0, 11, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 2000, 100, 5, 2001, 11, 0), 0);
	/* Moving pieces back next to each other merges them. */
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 250, 200, 10, 0, 9, 350), 100);
	EXPECT(&m, &s, ext(0, 100, 9, 100, 0), ext(100, 100, 6, 0, 0),
	       ext(200, 100, 9, 300, 0), ext(400, 100, 9, 500, 0),
	       ext(500, 100, 0, 0, ZERO), ext(600, 100, 9, 700, 0),
	       ext(700, 100, 5, 5000, 0), ext(800, 200, 9, 900, 0),
	       ext(2000, 100, 5, 2000, 0));
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 9), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 5), 0);
}

static void test_huge_offsets(void)
{
	const uint64_t top = 1ull << 63;
	struct ivshm_extmap m;
	struct ivshm_extent e;
	struct segsum s;

	setup(&m, &s);
	CU_ASSERT_EQUAL(put(&m, top - 4096, 8192, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, top + 0xffffffffull, 0xffffffffu, 2, 0, 0),
			0);
	CU_ASSERT_EQUAL(put(&m, UINT64_MAX - 10, 10, 3, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 1, 4, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 1, 4, 0, 0), ext(top - 4096, 8192, 1, 0, 0),
	       ext(top + 0xffffffffull, 0xffffffffu, 2, 0, 0),
	       ext(UINT64_MAX - 10, 10, 3, 0, 0));
	CU_ASSERT_TRUE(ivshm_extmap_find(&m, top, &e));
	CU_ASSERT_EQUAL(e.off, top - 4096);
	CU_ASSERT_TRUE(ivshm_extmap_find(&m, UINT64_MAX - 1, &e));
	CU_ASSERT_EQUAL(e.seg, 3);
	CU_ASSERT_FALSE(ivshm_extmap_find(&m, UINT64_MAX, &e));
	CU_ASSERT_TRUE(ivshm_extmap_next(&m, top + 4096, &e));
	CU_ASSERT_EQUAL(e.seg, 2);
	CU_ASSERT_FALSE(ivshm_extmap_next(&m, UINT64_MAX - 1 + 1, &e));
	/* Split at 2^63, then truncate there. */
	CU_ASSERT_EQUAL(put(&m, top, 1, 5, 0, 0), 0);
	EXPECT(&m, &s, ext(0, 1, 4, 0, 0), ext(top - 4096, 4096, 1, 0, 0),
	       ext(top, 1, 5, 0, 0), ext(top + 1, 4095, 1, 4097, 0),
	       ext(top + 0xffffffffull, 0xffffffffu, 2, 0, 0),
	       ext(UINT64_MAX - 10, 10, 3, 0, 0));
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, top + 0xffffffffull, 0xffffffffu,
					  2, 0, 6, 0), 0xffffffffll);
	CU_ASSERT_EQUAL(seg_sum(&s, 6), 0xffffffffll);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, top, UINT64_MAX - top), 0);
	EXPECT(&m, &s, ext(0, 1, 4, 0, 0), ext(top - 4096, 4096, 1, 0, 0));
	CU_ASSERT_EQUAL(seg_sum(&s, 6), 0);
	ivshm_extmap_release(&m);
}

static void test_merge(void)
{
	struct ivshm_extmap m;
	struct segsum s;
	uint64_t i;

	setup(&m, &s);
	/* Sequential writes to the log: one extent. */
	for (i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(put(&m, i * 4096, 4096, 1,
				    (uint32_t)(8192 + i * 4096), 0), 0);
	EXPECT(&m, &s, ext(0, 4096000, 1, 8192, 0));
	/* Backwards too. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	for (i = 1000; i-- > 0;)
		CU_ASSERT_EQUAL(put(&m, i * 4096, 4096, 1,
				    (uint32_t)(i * 4096), 0), 0);
	EXPECT(&m, &s, ext(0, 4096000, 1, 0, 0));
	/* Not contiguous in the region, other flags, other segment: no. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 10, 10, 1, 11, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 20, 10, 2, 21, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 30, 10, 2, 31, 2), 0);
	EXPECT(&m, &s, ext(0, 10, 1, 0, 0), ext(10, 10, 1, 11, 0),
	       ext(20, 10, 2, 21, 0), ext(30, 10, 2, 31, 2));
	/* Filling a gap that continues both neighbours: one extent. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 100, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 20, 10, 1, 120, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 10, 10, 1, 110, 0), 0);
	EXPECT(&m, &s, ext(0, 30, 1, 100, 0));
	/* Overwriting the middle with what continues both sides. */
	CU_ASSERT_EQUAL(put(&m, 5, 20, 2, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 3, 24, 1, 103, 0), 0);
	EXPECT(&m, &s, ext(0, 30, 1, 100, 0));
	/* Zeroes merge whatever their seg and seg_off. */
	CU_ASSERT_EQUAL(put(&m, 30, 10, 1, 0, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 40, 10, 2, 999, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 60, 10, 3, 5, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 50, 10, 4, 7, ZERO), 0);
	EXPECT(&m, &s, ext(0, 30, 1, 100, 0), ext(30, 40, 1, 0, ZERO));
	/* Merging stops at 4 GiB - 1 per extent. */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 0, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 0xfffffff0u, 1, 0, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 0xfffffff0u, 0x0f, 1, 0, ZERO), 0);
	CU_ASSERT_EQUAL(put(&m, 0xffffffffu, 0x10, 1, 0, ZERO), 0);
	EXPECT(&m, &s, ext(0, 0xffffffffu, 1, 0, ZERO),
	       ext(0xffffffffu, 0x10, 1, 0, ZERO));
	ivshm_extmap_release(&m);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 2), 0);
}

struct walk_arg {
	struct ivshm_extmap *m;
	unsigned int seen;
	unsigned int stop_at;
	uint64_t last_end;
	bool overlap;
};

static int walk_stop(void *arg, const struct ivshm_extent *e)
{
	struct walk_arg *w = arg;

	(void)e;
	return ++w->seen == w->stop_at ? 42 : 0;
}

/* Like the cleaner: move each extent while walking. */
static int walk_move(void *arg, const struct ivshm_extent *e)
{
	struct walk_arg *w = arg;

	if (w->seen++ && e->off < w->last_end)
		w->overlap = true;
	w->last_end = e->off + e->len;
	if (e->seg == 1)
		CU_ASSERT_EQUAL(ivshm_extmap_move(w->m, e->off, e->len, 1,
						  e->seg_off, 2, e->seg_off),
				e->len);
	return 0;
}

/* Move the first extent next to the second (they merge), then clear. */
static int walk_merge(void *arg, const struct ivshm_extent *e)
{
	struct walk_arg *w = arg;

	w->seen++;
	if (e->off == 0 && e->len == 10)
		CU_ASSERT_EQUAL(ivshm_extmap_move(w->m, 0, 10, 1, 0, 2, 0), 10);
	if (e->off == 20 && e->len == 10)
		ivshm_extmap_release(w->m);
	return 0;
}

static void test_walk(void)
{
	struct walk_arg w = { 0 };
	struct ivshm_extmap m;
	struct segsum s;
	uint64_t i;

	setup(&m, &s);
	for (i = 0; i < 5000; i++)
		CU_ASSERT_EQUAL_FATAL(put(&m, i * 10, 5, i % 3 ? 1 : 3,
					  (uint32_t)(i * 5), 0), 0);
	w.stop_at = 1234;
	CU_ASSERT_EQUAL(ivshm_extmap_walk(&m, walk_stop, &w), 42);
	CU_ASSERT_EQUAL(w.seen, 1234);
	memset(&w, 0, sizeof(w));
	w.m = &m;
	CU_ASSERT_EQUAL(ivshm_extmap_walk(&m, walk_move, &w), 0);
	CU_ASSERT_EQUAL(w.seen, 5000);
	CU_ASSERT_FALSE(w.overlap);
	CU_ASSERT_EQUAL(seg_sum(&s, 1), 0);
	CU_ASSERT_EQUAL(seg_sum(&s, 2), 5 * 3333);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	ivshm_extmap_release(&m);

	/* A merge with the extent the walk would visit next, then nothing. */
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 10, 10, 2, 10, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 20, 10, 3, 0, 0), 0);
	memset(&w, 0, sizeof(w));
	w.m = &m;
	CU_ASSERT_EQUAL(ivshm_extmap_walk(&m, walk_merge, &w), 0);
	CU_ASSERT_EQUAL(w.seen, 3); /* 0+10, 0+20 (merged), 20+10 */
	expect(&m, &s, NULL, 0);
}

static void test_prepend(void)
{
	struct ivshm_extmap m;
	struct segsum s;
	uint64_t i;

	/* Writing backwards, every extent lands in front of the others. */
	setup(&m, &s);
	for (i = 20000; i-- > 0;)
		CU_ASSERT_EQUAL_FATAL(put(&m, i * 2, 1, 1, (uint32_t)i * 2, 0),
				      0);
	report_scale("20000 extents written backwards", &m, 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 20000);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	CU_ASSERT(ivshm_extmap_mem(&m) < 20000 * 40);
	/* Then fill the gaps from the front: all of it merges into one. */
	for (i = 0; i < 20000; i++)
		CU_ASSERT_EQUAL_FATAL(put(&m, i * 2 + 1, 1, 1,
					  (uint32_t)i * 2 + 1, 0), 0);
	EXPECT(&m, &s, ext(0, 40000, 1, 0, 0));
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 64);
	ivshm_extmap_release(&m);
}

/* ---- the randomized model test ---- */

#define MFILE (1u << 20)
#define MSEGS 12u
#define CHUNK 4096u

struct model {
	uint32_t size;
	uint8_t *flag;		/* 0 hole, else extent flags + 1 */
	uint32_t *seg, *off;
	uint32_t *chunk;	/* mapped bytes per CHUNK */
	uint64_t bytes;
	int64_t segbytes[MSEGS];
	uint32_t logpos[MSEGS];
};

static void model_init(struct model *md, uint32_t size)
{
	memset(md, 0, sizeof(*md));
	md->size = size;
	md->flag = calloc(size, 1);
	md->seg = calloc(size, sizeof(uint32_t));
	md->off = calloc(size, sizeof(uint32_t));
	md->chunk = calloc(size / CHUNK + 1, sizeof(uint32_t));
	CU_ASSERT_FATAL(md->flag && md->seg && md->off && md->chunk);
}

static void model_free(struct model *md)
{
	free(md->flag);
	free(md->seg);
	free(md->off);
	free(md->chunk);
}

static bool is_data(uint8_t f)
{
	return f && !((f - 1) & ZERO);
}

static void model_set(struct model *md, uint32_t x, uint8_t f, uint32_t seg,
		      uint32_t off)
{
	uint8_t o = md->flag[x];

	if (o) {
		md->bytes--;
		md->chunk[x / CHUNK]--;
		if (is_data(o))
			md->segbytes[md->seg[x]]--;
	}
	md->flag[x] = f;
	md->seg[x] = seg;
	md->off[x] = off;
	if (f) {
		md->bytes++;
		md->chunk[x / CHUNK]++;
		if (is_data(f))
			md->segbytes[seg]++;
	}
}

/* Is byte x + 1 the continuation of byte x (in one extent)? */
static bool model_cont(const struct model *md, uint32_t x)
{
	uint8_t a = md->flag[x], b = md->flag[x + 1];

	if (!a || a != b)
		return false;
	if (!is_data(a))
		return true;
	return md->seg[x] == md->seg[x + 1] && md->off[x] + 1 == md->off[x + 1];
}

/* The first mapped byte at or after x, or size. */
static uint32_t model_next_mapped(const struct model *md, uint32_t x)
{
	while (x < md->size) {
		if (!md->chunk[x / CHUNK]) {
			x = (x / CHUNK + 1) * CHUNK;
			continue;
		}
		if (md->flag[x])
			return x;
		x++;
	}
	return md->size;
}

/* Does extent e agree with the model, as one maximal run? */
static bool model_ext_ok(const struct model *md, const struct ivshm_extent *e,
			 bool whole)
{
	uint64_t end = e->off + e->len, x;

	if (end > md->size || !e->len)
		return false;
	if (md->flag[e->off] != e->flags + 1)
		return false;
	if (is_data(md->flag[e->off]) && (md->seg[e->off] != e->seg ||
					  md->off[e->off] != e->seg_off))
		return false;
	if (e->off && model_cont(md, (uint32_t)e->off - 1))
		return false; /* should have been merged, or is too short */
	if (end < md->size && model_cont(md, (uint32_t)end - 1))
		return false;
	if (whole)
		for (x = e->off; x + 1 < end; x++)
			if (!model_cont(md, (uint32_t)x))
				return false;
	return true;
}

struct full_check {
	const struct model *md;
	uint64_t pos, n;
	bool bad;
};

static int full_fn(void *arg, const struct ivshm_extent *e)
{
	struct full_check *f = arg;

	/* The gap before e is a hole in the model, e one whole run. */
	if (e->off < f->pos ||
	    model_next_mapped(f->md, (uint32_t)f->pos) != e->off ||
	    !model_ext_ok(f->md, e, true)) {
		f->bad = true;
		return 1;
	}
	f->pos = e->off + e->len;
	f->n++;
	return 0;
}

static void model_full_check(const struct model *md,
			     const struct ivshm_extmap *m,
			     const struct segsum *s)
{
	struct full_check f = { .md = md };
	uint64_t runs = 0;
	uint32_t x;

	CU_ASSERT_EQUAL_FATAL(ivshm_extmap_check(m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_walk(m, full_fn, &f), 0);
	CU_ASSERT_FATAL(!f.bad);
	CU_ASSERT_EQUAL(model_next_mapped(md, (uint32_t)f.pos), md->size);
	for (x = 0; x < md->size; x++)
		if (md->flag[x] && (!x || !model_cont(md, x - 1)))
			runs++;
	CU_ASSERT_EQUAL_FATAL(f.n, runs);
	CU_ASSERT_EQUAL_FATAL(ivshm_extmap_count(m), runs);
	CU_ASSERT_EQUAL_FATAL(ivshm_extmap_bytes(m), md->bytes);
	for (x = 0; x < MSEGS; x++)
		CU_ASSERT_EQUAL_FATAL(seg_sum(s, x), md->segbytes[x]);
}

/* find and next at x against the model. */
static void model_probe(const struct model *md, const struct ivshm_extmap *m,
			uint64_t x)
{
	struct ivshm_extent e;
	bool found = ivshm_extmap_find(m, x, &e);
	uint32_t nx;

	if (x >= md->size) {
		CU_ASSERT_FATAL(!found);
		CU_ASSERT_FATAL(!ivshm_extmap_next(m, x, &e));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(found, md->flag[x] != 0);
	if (found) {
		CU_ASSERT_FATAL(e.off <= x && x < e.off + e.len);
		CU_ASSERT_FATAL(model_ext_ok(md, &e, false));
	}
	nx = model_next_mapped(md, (uint32_t)x);
	found = ivshm_extmap_next(m, x, &e);
	CU_ASSERT_EQUAL_FATAL(found, nx < md->size);
	if (found) {
		CU_ASSERT_FATAL(e.off + e.len > x);
		CU_ASSERT_FATAL(e.off <= x ? md->flag[x] != 0 : e.off == nx);
		CU_ASSERT_FATAL(model_ext_ok(md, &e, false));
	}
}

static void model_probes(const struct model *md, const struct ivshm_extmap *m,
			 uint64_t a, uint64_t b)
{
	unsigned int i;

	if (a)
		model_probe(md, m, a - 1);
	model_probe(md, m, a);
	model_probe(md, m, b - 1);
	model_probe(md, m, b);
	for (i = 0; i < 4; i++)
		model_probe(md, m, below(md->size + 16));
}

static void seg_checks(const struct model *md, const struct ivshm_extmap *m,
		       const struct segsum *s)
{
	CU_ASSERT_EQUAL_FATAL(ivshm_extmap_bytes(m), md->bytes);
	for (unsigned int x = 0; x < MSEGS; x++)
		CU_ASSERT_EQUAL_FATAL(seg_sum(s, x), md->segbytes[x]);
}

/* Tiny operations: ~100000 extents, a tree of four levels. */
static bool tiny;

static uint32_t rand_len(uint32_t size)
{
	uint64_t r = below(10000);
	uint32_t len;

	if (tiny)
		return r < 9990 ? 1 + (uint32_t)below(4) :
				  1 + (uint32_t)below(1024);

	/* Mostly small: thousands of extents, a tree of three levels. */
	if (r < 8000)
		len = 1 + (uint32_t)below(64);
	else if (r < 9500)
		len = 1 + (uint32_t)below(1024);
	else if (r < 9900)
		len = 4096 * (1 + (uint32_t)below(4));
	else if (r < 9998)
		len = 1 + (uint32_t)below(65536);
	else
		len = 1 + (uint32_t)below(size);
	return len < size ? len : size;
}

/* Where the next write goes in the log: a segment and offset. */
static void log_alloc(struct model *md, uint32_t len, uint32_t *seg,
		      uint32_t *off)
{
	*seg = (uint32_t)below(MSEGS);
	if (md->logpos[*seg] > 0x40000000u)
		md->logpos[*seg] = 0; /* reuse: duplicates are fine here */
	*off = md->logpos[*seg];
	md->logpos[*seg] += len + (below(4) ? 0 : 1 + (uint32_t)below(8));
}

struct last_write {
	uint64_t end;
	uint32_t seg, seg_off;
	bool valid;
};

/*
 * One random operation on map and model. Returns the op's range in *a, *b.
 * With allocations failing, a failed map/punch must leave the map as it
 * was (the model is not updated), a failed move is repeated.
 */
static void model_op(struct model *md, struct ivshm_extmap *m,
		     struct last_write *lw, uint64_t *pa, uint64_t *pb,
		     uint64_t *nomem)
{
	uint64_t r = below(100), a, b, x;
	uint32_t len = rand_len(md->size), seg, off, nseg, noff;
	struct ivshm_extent e;
	int64_t moved, want;
	uint64_t plen;
	int rc;

	a = below(md->size - len + 1);
	b = a + len;
	if (r < 55) {
		e = ext(a, len, 0, 0, 0);
		r = below(100);
		if (r < 15 && lw->valid && lw->end < md->size) {
			/* Continue the last write: merges. */
			a = lw->end;
			if (len > md->size - a)
				len = (uint32_t)(md->size - a);
			b = a + len;
			e = ext(a, len, lw->seg, lw->seg_off, 0);
		} else if (r < 25) {
			e.flags = ZERO;
			e.seg = (uint32_t)below(MSEGS);
			e.seg_off = (uint32_t)rnd();
		} else if (r < 35) {
			/* The mapping a byte already has, extended. */
			x = a + below(len);
			if (is_data(md->flag[x]) && md->off[x] >= x - a &&
			    md->off[x] - (x - a) + (uint64_t)len <
				    0x80000000u) {
				e.seg = md->seg[x];
				e.seg_off = md->off[x] - (uint32_t)(x - a);
				e.flags = md->flag[x] - 1u;
			} else {
				log_alloc(md, len, &e.seg, &e.seg_off);
			}
		} else {
			log_alloc(md, len, &e.seg, &e.seg_off);
			if (r < 40)
				e.flags = 2; /* data, but another flag */
		}
		rc = ivshm_extmap_map(m, &e);
		if (rc == -ENOMEM) {
			(*nomem)++;
		} else {
			CU_ASSERT_EQUAL_FATAL(rc, 0);
			for (x = a; x < b; x++)
				model_set(md, (uint32_t)x,
					  (uint8_t)(e.flags + 1), e.seg,
					  e.seg_off + (uint32_t)(x - a));
			lw->end = b;
			lw->seg = e.seg;
			lw->seg_off = e.seg_off + len;
			lw->valid = !(e.flags & ZERO) && !e.flags;
		}
	} else if (r < 75) {
		plen = len;

		if (!tiny && !below(1000)) {
			plen = below(2) ? UINT64_MAX - a : UINT64_MAX;
			b = md->size;
		}
		rc = ivshm_extmap_punch(m, a, plen);
		if (rc == -ENOMEM) {
			(*nomem)++;
		} else {
			CU_ASSERT_EQUAL_FATAL(rc, 0);
			for (x = a; x < b; x++)
				model_set(md, (uint32_t)x, 0, 0, 0);
		}
	} else {
		x = a + below(len);
		if (below(10) && is_data(md->flag[x]) &&
		    md->off[x] >= x - a) {
			seg = md->seg[x];
			off = md->off[x] - (uint32_t)(x - a);
		} else {
			seg = (uint32_t)below(MSEGS);
			off = (uint32_t)below(0x40000000u);
		}
		log_alloc(md, len, &nseg, &noff);
		want = 0;
		for (x = a; x < b; x++)
			if (is_data(md->flag[x]) && md->seg[x] == seg &&
			    md->off[x] == off + (x - a))
				want++;
		moved = ivshm_extmap_move(m, a, len, seg, off, nseg, noff);
		if (moved == -ENOMEM) {
			(*nomem)++;
			/* Repeating it finishes the job. */
			fail_pct = 0;
			moved = ivshm_extmap_move(m, a, len, seg, off, nseg,
						  noff);
			CU_ASSERT_FATAL(moved >= 0 && moved <= want);
		} else {
			CU_ASSERT_EQUAL_FATAL(moved, want);
		}
		for (x = a; x < b; x++)
			if (is_data(md->flag[x]) && md->seg[x] == seg &&
			    md->off[x] == off + (x - a))
				model_set(md, (uint32_t)x, md->flag[x], nseg,
					  noff + (uint32_t)(x - a));
	}
	*pa = a;
	*pb = b;
}

static void run_model(uint32_t size, uint64_t ops, unsigned int fail,
		      const char *name)
{
	uint64_t i, a, b, nomem = 0, max_count = 0, max_mem = 0;
	struct last_write lw = { 0 };
	struct ivshm_extmap m;
	struct model md;
	struct segsum s;
	unsigned int max_h = 0;
	double t0 = now_s();

	rng_state = seed_from_env() ^ size ^ fail;
	model_init(&md, size);
	setup(&m, &s);
	for (i = 0; i < ops; i++) {
		fail_pct = fail;
		model_op(&md, &m, &lw, &a, &b, &nomem);
		fail_pct = 0;
		seg_checks(&md, &m, &s);
		if (fail || i % 8 == 0)
			model_probes(&md, &m, a, b);
		if (i % 2000 == 1999 || i + 1 == ops)
			model_full_check(&md, &m, &s);
		if (m.count > max_count)
			max_count = m.count;
		if (m.height > max_h)
			max_h = m.height;
		if (i % 1000 == 0 && ivshm_extmap_mem(&m) > max_mem)
			max_mem = ivshm_extmap_mem(&m);
	}
	printf("\n    %s: %" PRIu64 " ops on a %u-byte file in %.2f s, seed "
	       "0x%" PRIx64 ": up to %" PRIu64 " extents, %u levels, %"
	       PRIu64 " bytes of nodes; %" PRIu64 " allocation failures ... ",
	       name, ops, size, now_s() - t0, seed_from_env(), max_count,
	       max_h, max_mem, nomem);
	if (fail)
		CU_ASSERT(nomem > 20);
	if (size == MFILE && !fail)
		CU_ASSERT(max_h >= (tiny ? 4u : 3u));
	ivshm_extmap_release(&m);
	for (i = 0; i < MSEGS; i++)
		CU_ASSERT_EQUAL(seg_sum(&s, (uint32_t)i), 0);
	model_free(&md);
}

static void test_model(void)
{
	const char *s = getenv("IVSHM_EXTMAP_OPS");

	run_model(MFILE, s ? strtoull(s, NULL, 0) : 200000, 0, "model");
	tiny = true;
	run_model(MFILE, s ? strtoull(s, NULL, 0) : 300000, 0, "tiny ops");
	tiny = false;
}

static void test_nomem(void)
{
	struct ivshm_extmap m;
	struct segsum s;
	unsigned int i;

	/* The first extent of an empty map, and the growth of the root. */
	setup(&m, &s);
	fail_pct = 100;
	CU_ASSERT_EQUAL(put(&m, 0, 10, 1, 0, 0), -ENOMEM);
	fail_pct = 0;
	expect(&m, &s, NULL, 0);
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(put(&m, i * 20, 10, 1, i * 20, 0), 0);
	fail_pct = 100;
	CU_ASSERT_EQUAL(put(&m, 100, 10, 1, 0, 0), -ENOMEM);
	CU_ASSERT_EQUAL(put(&m, 5, 1, 2, 0, 0), -ENOMEM); /* a split */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 3, 2), -ENOMEM);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 3, 2, 1, 3, 2, 0), -ENOMEM);
	EXPECT(&m, &s, ext(0, 10, 1, 0, 0), ext(20, 10, 1, 20, 0));
	/* What needs no node still works. */
	CU_ASSERT_EQUAL(put(&m, 20, 10, 2, 0, 0), 0);
	CU_ASSERT_EQUAL(put(&m, 0, 10, 2, 10, 0), 0); /* merges */
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 20, 10), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_move(&m, 0, 10, 2, 10, 3, 0), 10);
	fail_pct = 0;
	EXPECT(&m, &s, ext(0, 10, 3, 0, 0));
	ivshm_extmap_release(&m);

	/*
	 * A full root leaf splits: two nodes (a leaf, a root). The second
	 * allocation fails: nothing changes, nothing leaks.
	 */
	for (i = 0; i < 42; i++)
		CU_ASSERT_EQUAL(put(&m, i * 2, 1, 1, i * 2, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 1024);
	fail_in = 1;
	CU_ASSERT_EQUAL(put(&m, 1000, 1, 1, 0, 0), -ENOMEM);
	CU_ASSERT_EQUAL(fail_in, -1);
	fail_in = -1;
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 42);
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 1024);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	/* Shrinking the root is only to save memory: no node, no shrink. */
	fail_pct = 100;
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 2, UINT64_MAX), 0);
	fail_pct = 0;
	EXPECT(&m, &s, ext(0, 1, 1, 0, 0));
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 1024);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 2, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(put(&m, 4, 1, 1, 2, 0), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 4, 1), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_mem(&m), 64);
	ivshm_extmap_release(&m);

	/* Random operations with 10% of allocations failing. */
	fail_count = 0;
	run_model(1u << 18, 60000, 10, "allocation failures");
	tiny = true;
	run_model(MFILE, 100000, 10, "tiny ops, allocation failures");
	tiny = false;
	CU_ASSERT(fail_count > 0);
}

/* ---- scale ---- */

#define VOL_BLOCKS 262144u /* 1 GiB in 4 KiB blocks */

static void report_scale(const char *what, struct ivshm_extmap *m, double t)
{
	printf("\n    %s: %.3f s, %" PRIu64 " extents, %" PRIu64
	       " bytes of nodes = %.1f bytes/extent, %u levels ... ", what, t,
	       ivshm_extmap_count(m), ivshm_extmap_mem(m),
	       (double)ivshm_extmap_mem(m) / (double)ivshm_extmap_count(m),
	       m->height);
}

static void test_scale(void)
{
	uint32_t *perm = malloc(VOL_BLOCKS * sizeof(*perm));
	struct ivshm_extmap m;
	struct ivshm_extent e;
	struct segsum s;
	uint64_t i, found = 0;
	double t, per_ext;
	uint32_t j, tmp;

	CU_ASSERT_FATAL(perm != NULL);
	rng_state = seed_from_env();
	for (i = 0; i < VOL_BLOCKS; i++)
		perm[i] = (uint32_t)i;
	for (i = VOL_BLOCKS - 1; i > 0; i--) {
		j = (uint32_t)below(i + 1);
		tmp = perm[i];
		perm[i] = perm[j];
		perm[j] = tmp;
	}

	/* Every block once, in random order, to a log of 8 MiB segments. */
	setup(&m, &s);
	t = now_s();
	for (i = 0; i < VOL_BLOCKS; i++)
		if (put(&m, (uint64_t)perm[i] * 4096, 4096,
			(uint32_t)(i / 2048), (uint32_t)(i % 2048) * 4096, 0))
			CU_FAIL_FATAL("map failed");
	t = now_s() - t;
	report_scale("262144 random 4 KiB blocks", &m, t);
	per_ext = (double)ivshm_extmap_mem(&m) / (double)ivshm_extmap_count(&m);
	CU_ASSERT(ivshm_extmap_count(&m) > VOL_BLOCKS - 100);
	CU_ASSERT(per_ext <= 48);
	if (timing_enforced())
		CU_ASSERT(t < 1.0);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_bytes(&m), 1ull << 30);
	CU_ASSERT_EQUAL(seg_sum(&s, 0), 8 << 20);

	t = now_s();
	for (i = 0; i < VOL_BLOCKS; i++)
		found += ivshm_extmap_find(&m, (uint64_t)perm[i] * 4096 + 7,
					   &e);
	t = now_s() - t;
	CU_ASSERT_EQUAL(found, VOL_BLOCKS);
	printf("\n    262144 finds: %.3f s ... ", t);

	/* Rewritten in random order again, blocks anywhere (repeats). */
	t = now_s();
	for (i = 0; i < VOL_BLOCKS; i++)
		if (put(&m, below(VOL_BLOCKS) * 4096, 4096,
			(uint32_t)(128 + i / 2048), (uint32_t)(i % 2048) * 4096,
			0))
			CU_FAIL_FATAL("map failed");
	t = now_s() - t;
	report_scale("262144 random overwrites", &m, t);
	if (timing_enforced())
		CU_ASSERT(t < 1.0);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);

	t = now_s();
	ivshm_extmap_release(&m);
	t = now_s() - t;
	printf("\n    release: %.3f s ... ", t);
	for (i = 0; i < 256; i++)
		CU_ASSERT_EQUAL(seg_sum(&s, (uint32_t)i), 0);

	/* Two files written sequentially, interleaved: no merges. */
	setup(&m, &s);
	t = now_s();
	for (i = 0; i < VOL_BLOCKS; i++)
		if (put(&m, i * 4096, 4096, (uint32_t)(i / 1024),
			(uint32_t)(i % 1024) * 8192, 0))
			CU_FAIL_FATAL("map failed");
	t = now_s() - t;
	report_scale("262144 appends, not contiguous", &m, t);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), VOL_BLOCKS);
	CU_ASSERT(ivshm_extmap_mem(&m) < VOL_BLOCKS * 26ull);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	/* Truncate half of it, then all. */
	t = now_s();
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 512ull << 20, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), VOL_BLOCKS / 2);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	CU_ASSERT_EQUAL(ivshm_extmap_punch(&m, 4096, UINT64_MAX), 0);
	t = now_s() - t;
	printf("\n    truncations: %.3f s ... ", t);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 1);
	CU_ASSERT_EQUAL(ivshm_extmap_check(&m), 0);
	ivshm_extmap_release(&m);

	/* One file written sequentially: one extent. */
	setup(&m, &s);
	t = now_s();
	for (i = 0; i < VOL_BLOCKS; i++)
		if (put(&m, i * 4096, 4096, 1, (uint32_t)i * 4096, 0))
			CU_FAIL_FATAL("map failed");
	t = now_s() - t;
	report_scale("262144 appends, contiguous", &m, t);
	CU_ASSERT_EQUAL(ivshm_extmap_count(&m), 1);
	ivshm_extmap_release(&m);
	free(perm);
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{ "empty", test_empty },
		{ "map_find_next", test_map_find_next },
		{ "split_middle", test_split_middle },
		{ "exact_overlap", test_exact_overlap },
		{ "span_many", test_span_many },
		{ "zero_length_and_invalid", test_zero_length },
		{ "punch", test_punch },
		{ "move", test_move },
		{ "huge_offsets", test_huge_offsets },
		{ "merge", test_merge },
		{ "walk", test_walk },
		{ "prepend", test_prepend },
		{ "model", test_model },
		{ "nomem", test_nomem },
		{ "scale", test_scale },
	};
	unsigned int failures;
	CU_pSuite s;
	size_t i;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("extmap", NULL, NULL);
	if (!s)
		return 2;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!CU_add_test(s, tests[i].name, tests[i].fn))
			return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		return 2;
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
