// SPDX-License-Identifier: MIT
/*
 * Cleaner write amplification and foreground latency. A file fills 50%,
 * 75% or 90% of a fresh region (1 MiB writes), then takes uniform random
 * 4 KiB overwrites worth three times the region, each one timed.
 *
 * What the cleaner copied is measured twice, from outside the store:
 *   - moves: an observer peer (its own mapping and slot, no index) replays
 *     the log after every write and sums the lengths of the MOVE records:
 *     exactly the bytes the cleaner copied, unless a checkpoint overtook
 *     the observer between two writes (counted as "resets");
 *   - segments: every byte appended to a data segment is either written
 *     by the foreground or copied by the cleaner (they share the peer's
 *     open data segment, and a segment is only left once full), so the
 *     growth of the "used" fields of the segment table, followed across
 *     re-allocations, is written + copied.
 * WA = (copied + written) / written. The baseline is a greedy cleaner
 * simulated on as many segments as the store had for data (data + free
 * after the fill, minus the 3 writes keep free), with the same writes.
 *
 * Every block carries its number and version; the file is read back and
 * checked at the end, and the region verified.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_bench.h"

#define DATA_RESERVE 3		/* free segments writes leave alone */
#define NONE32 UINT32_MAX
#define STALL_NS 10000000ull	/* the target: no write above 10 ms */

static const unsigned int fills[] = { 50, 75, 90 };

/* ---- the observer: sums MOVE records ---- */

struct observer {
	struct ivshm_device *dev;
	struct ivshm_store *st;
	uint64_t moves, move_bytes, resets;
};

static int obs_apply(void *arg, const struct ivshm_rec *r)
{
	struct observer *ob = arg;
	struct ivshm_rec_move m;

	if (r->hdr.type != IVSHM_REC_MOVE || r->payload_len < sizeof(m))
		return 0;
	memcpy(&m, r->payload, sizeof(m));
	ob->moves++;
	ob->move_bytes += m.len;
	return 0;
}

static int obs_reset(void *arg)
{
	struct observer *ob = arg;

	ob->resets++;
	return 0;
}

static int obs_open(struct observer *ob, const char *path)
{
	struct ivshm_attach_opts ao = { .name = "bench-clean-observer",
					.apply = obs_apply, .reset = obs_reset,
					.apply_arg = ob };
	int rc;

	if (sb_region_open(path, &ob->dev))
		return -1;
	rc = ivshm_store_attach(ob->dev, &ao, &ob->st);
	if (rc) {
		fprintf(stderr, "observer: ivshm_store_attach: %s\n",
			strerror(-rc));
		ivshm_device_close(ob->dev);
		ob->dev = NULL;
		return -1;
	}
	/* Its attach replayed the fill: count from here. */
	ob->moves = ob->move_bytes = ob->resets = 0;
	return 0;
}

static void obs_close(struct observer *ob)
{
	ivshm_store_detach(ob->st);
	ivshm_device_close(ob->dev);
	ob->st = NULL;
	ob->dev = NULL;
}

/* ---- segment accounting ---- */

struct acct {
	uint32_t n;
	uint32_t *state, *used;
	uint64_t *alloc;
	uint64_t appended;	/* bytes added to data segments */
	uint32_t free_now, free_min, meta_max;
};

static void acct_scan(struct acct *a, void *region, const struct ivshm_geom *g,
		      bool count)
{
	uint32_t nfree = 0, nmeta = 0;

	for (uint32_t i = 0; i < a->n; i++) {
		const struct ivshm_seg_entry *e = ivshm_seg_entry_at(region, g,
								     i);
		uint32_t state = e->state, used = e->used;
		uint64_t alloc = e->alloc_seq;

		if (count && state == IVSHM_SEG_DATA) {
			if (a->state[i] == IVSHM_SEG_DATA &&
			    a->alloc[i] == alloc)
				a->appended += used > a->used[i] ?
						       used - a->used[i] : 0;
			else
				a->appended += used;
		}
		nfree += state == IVSHM_SEG_FREE;
		nmeta += state == IVSHM_SEG_META || state == IVSHM_SEG_CKPT;
		a->state[i] = state;
		a->used[i] = used;
		a->alloc[i] = alloc;
	}
	a->free_now = nfree;
	if (nfree < a->free_min)
		a->free_min = nfree;
	if (nmeta > a->meta_max)
		a->meta_max = nmeta;
}

static int acct_init(struct acct *a, void *region, const struct ivshm_geom *g)
{
	memset(a, 0, sizeof(*a));
	a->n = g->seg_count;
	a->state = calloc(a->n, sizeof(*a->state));
	a->used = calloc(a->n, sizeof(*a->used));
	a->alloc = calloc(a->n, sizeof(*a->alloc));
	if (!a->state || !a->used || !a->alloc)
		return -1;
	a->free_min = UINT32_MAX;
	acct_scan(a, region, g, false);
	return 0;
}

static void acct_free(struct acct *a)
{
	free(a->state);
	free(a->used);
	free(a->alloc);
}

/* ---- the baseline: a greedy cleaner, simulated ---- */

struct sim {
	uint32_t nseg, bps;	/* segments, blocks per segment */
	uint32_t *loc;		/* per file block: its slot */
	uint32_t *owner;	/* per slot: the block in it, or NONE32 */
	uint32_t *live, *fill;	/* per segment */
	uint32_t *freel, nfree;
	uint32_t open;
	uint64_t copies;
};

static int sim_append(struct sim *m, uint32_t b)
{
	uint32_t slot;

	if (m->fill[m->open] == m->bps) {
		if (!m->nfree)
			return -1;
		m->open = m->freel[--m->nfree];
	}
	slot = m->open * m->bps + m->fill[m->open]++;
	m->owner[slot] = b;
	m->loc[b] = slot;
	m->live[m->open]++;
	return 0;
}

static void sim_kill(struct sim *m, uint32_t b)
{
	uint32_t slot = m->loc[b];

	m->owner[slot] = NONE32;
	m->live[slot / m->bps]--;
}

/* Free the full segment with the fewest live blocks. */
static int sim_clean(struct sim *m)
{
	uint32_t best = NONE32;

	for (uint32_t s = 0; s < m->nseg; s++)
		if (s != m->open && m->fill[s] == m->bps &&
		    (best == NONE32 || m->live[s] < m->live[best]))
			best = s;
	if (best == NONE32 || m->live[best] == m->bps)
		return -1;
	for (uint32_t k = 0; k < m->bps; k++) {
		uint32_t slot = best * m->bps + k, b = m->owner[slot];

		if (b == NONE32)
			continue;
		sim_kill(m, b);
		m->copies++;
		if (sim_append(m, b))
			return -1;
	}
	m->fill[best] = 0;
	m->freel[m->nfree++] = best;
	return 0;
}

/* WA of @writes random overwrites of @nblk blocks; negative if full. */
static double simulate(uint32_t nseg, uint32_t bps, uint32_t nblk,
		       uint64_t seed, uint64_t writes)
{
	struct sim m = { .nseg = nseg, .bps = bps };
	double wa = -1;

	if ((uint64_t)nblk + 2ull * bps > (uint64_t)nseg * bps)
		return -1;
	m.loc = calloc(nblk, sizeof(*m.loc));
	m.owner = malloc((size_t)nseg * bps * sizeof(*m.owner));
	m.live = calloc(nseg, sizeof(*m.live));
	m.fill = calloc(nseg, sizeof(*m.fill));
	m.freel = calloc(nseg, sizeof(*m.freel));
	if (!m.loc || !m.owner || !m.live || !m.fill || !m.freel)
		goto out;
	memset(m.owner, 0xff, (size_t)nseg * bps * sizeof(*m.owner));
	for (uint32_t s = nseg; s-- > 1;)
		m.freel[m.nfree++] = s;
	m.open = 0;
	for (uint32_t b = 0; b < nblk; b++)
		if (sim_append(&m, b))
			goto out;
	for (uint64_t i = 0; i < writes; i++) {
		uint32_t b = (uint32_t)(sb_rand(&seed) % nblk);

		sim_kill(&m, b);
		if (sim_append(&m, b))
			goto out;
		/* Two free: room to copy a victim's live blocks. */
		while (m.nfree < 2)
			if (sim_clean(&m))
				goto out;
	}
	wa = (double)(writes + m.copies) / (double)writes;
out:
	free(m.loc);
	free(m.owner);
	free(m.live);
	free(m.fill);
	free(m.freel);
	return wa;
}

/* ---- one fill level ---- */

/* Writes by what happened inside them, for the latency breakdown. */
enum { W_PLAIN, W_CLEAN, W_CKPT, W_NCLASS };

static const char *const wclass_name[W_NCLASS] = {
	[W_PLAIN] = "plain", [W_CLEAN] = "cleaned", [W_CKPT] = "checkpointed",
};

struct wclass {
	uint64_t n, over_10ms, max_ns, sum_ns;
	uint64_t cpu_over_10ms;	/* of those, on the CPU for 10 ms */
	uint64_t max_cpu_ns;	/* CPU time of the longest write */
};

struct level {
	unsigned int pct;
	struct wclass wc[W_NCLASS];
	uint64_t file, nblk, writes, done;
	uint64_t first_clean;	/* first write after which moves showed */
	uint64_t over_10ms;
	uint64_t *lat;
	struct observer ob;
	struct acct acct;
	struct ivshm_verify_report v0, v1;
	uint32_t seg_size, seg_count;
	uint64_t bad_blocks, first_bad;
	uint64_t region;
	double sim_wa;		/* the baseline, or -1 */
	uint32_t sim_segs;
	char error[320];
};

static void tag(char *blk, uint64_t b, uint64_t ver)
{
	memcpy(blk, &b, sizeof(b));
	memcpy(blk + 8, &ver, sizeof(ver));
}

static int fill_file(struct ivshm_fs *fs, uint64_t ino, struct level *l,
		     char *buf)
{
	for (uint64_t off = 0; off < l->file; off += 1u << 20) {
		uint64_t len = l->file - off < (1u << 20) ? l->file - off :
							    (1u << 20);
		int64_t n;

		for (uint64_t k = 0; k < len; k += 4096)
			tag(buf + k, (off + k) / 4096, 0);
		n = ivshm_fs_write(fs, ino, off, buf, len, NULL);
		if (n != (int64_t)len) {
			snprintf(l->error, sizeof(l->error),
				 "filling to %u%%: ivshm_fs_write of %llu "
				 "bytes at %llu returned %lld (%s)", l->pct,
				 (unsigned long long)len,
				 (unsigned long long)off, (long long)n,
				 n < 0 ? strerror((int)-n) : "short");
			return -1;
		}
	}
	return 0;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "free 3, meta 30, data 470, ckpt 8, freeing 0" */
static void seg_states(void *region, const struct ivshm_geom *g, char *buf,
		       size_t len)
{
	uint32_t n[5] = { 0 };

	for (uint32_t i = 0; i < g->seg_count; i++) {
		uint32_t st = ivshm_seg_entry_at(region, g, i)->state;

		if (st < 5)
			n[st]++;
	}
	snprintf(buf, len, "free %u, meta %u, data %u, ckpt %u, freeing %u",
		 n[IVSHM_SEG_FREE], n[IVSHM_SEG_META], n[IVSHM_SEG_DATA],
		 n[IVSHM_SEG_CKPT], n[IVSHM_SEG_FREEING]);
}

static int overwrite(struct ivshm_fs *fs, uint64_t ino, struct level *l,
		     uint64_t seed, uint64_t *ver)
{
	struct ivshm_store *st = ivshm_fs_store(fs);
	const struct ivshm_geom *g = ivshm_store_geom(st);
	void *region = l->ob.dev->region;
	struct ivshm_sb *sb = ivshm_sb_of(region);
	char blk[4096];
	int rc;

	memset(blk, 0x3c, sizeof(blk));
	l->first_clean = UINT64_MAX;
	for (uint64_t i = 0; i < l->writes; i++) {
		uint64_t b = sb_rand(&seed) % l->nblk, t0, t1, c0, c1;
		int64_t n;

		uint64_t gen = ivshm_load_acquire(&sb->ckpt_gen);
		uint64_t appended = l->acct.appended;
		struct wclass *wc;

		tag(blk, b, i + 1);
		c0 = thread_cpu_ns();
		t0 = bench_now_ns();
		n = ivshm_fs_write(fs, ino, b * 4096, blk, 4096, NULL);
		t1 = bench_now_ns();
		c1 = thread_cpu_ns();
		if (n != 4096) {
			char segs[96];

			seg_states(region, g, segs, sizeof(segs));
			snprintf(l->error, sizeof(l->error),
				 "%u%% full: overwrite #%llu (4 KiB at %llu) "
				 "returned %lld (%s); segments: %s; meta "
				 "segments opened since the last checkpoint: "
				 "%u",
				 l->pct, (unsigned long long)i,
				 (unsigned long long)(b * 4096), (long long)n,
				 n < 0 ? strerror((int)-n) : "short", segs,
				 ivshm_store_meta_growth(st));
			return -1;
		}
		ver[b] = i + 1;
		l->lat[i] = t1 - t0;
		l->over_10ms += t1 - t0 > STALL_NS;
		l->done = i + 1;
		acct_scan(&l->acct, region, g, true);
		wc = &l->wc[ivshm_load_acquire(&sb->ckpt_gen) != gen ? W_CKPT :
			    l->acct.appended - appended > 4096 ? W_CLEAN :
								 W_PLAIN];
		wc->n++;
		wc->over_10ms += t1 - t0 > STALL_NS;
		/* Preempted, or really busy that long? */
		wc->cpu_over_10ms += t1 - t0 > STALL_NS && c1 - c0 > STALL_NS;
		wc->sum_ns += t1 - t0;
		if (t1 - t0 > wc->max_ns) {
			wc->max_ns = t1 - t0;
			wc->max_cpu_ns = c1 - c0;
		}
		rc = ivshm_store_catch_up(l->ob.st);
		if (rc) {
			snprintf(l->error, sizeof(l->error),
				 "%u%% full: the observer cannot replay after "
				 "overwrite #%llu: %s", l->pct,
				 (unsigned long long)i, strerror(-rc));
			return -1;
		}
		if (l->first_clean == UINT64_MAX &&
		    (l->ob.move_bytes || l->acct.appended > (i + 1) * 4096))
			l->first_clean = i;
	}
	return 0;
}

/* Read every block's tag back. */
static void check_file(struct ivshm_fs *fs, uint64_t ino, struct level *l,
		       const uint64_t *ver)
{
	for (uint64_t b = 0; b < l->nblk; b++) {
		uint64_t t[2] = { 0, 0 };
		int64_t n = ivshm_fs_read(fs, ino, b * 4096, t, sizeof(t));

		if (n != (int64_t)sizeof(t) || t[0] != b || t[1] != ver[b]) {
			if (!l->bad_blocks++)
				l->first_bad = b;
		}
	}
}

static void stats_of(const uint64_t *v, uint64_t n, struct bench_stats *st)
{
	uint64_t *c = malloc(n * sizeof(*c));

	memset(st, 0, sizeof(*st));
	st->max = st->p99 = st->median = -1;
	if (!n || !c) {
		free(c);
		return;
	}
	memcpy(c, v, n * sizeof(*c));
	bench_stats(c, n, st);
	bench_stats_scale(st, 1e-3); /* us */
	free(c);
}

static void report(struct level *l)
{
	double sim_wa = l->sim_wa;
	uint32_t sim_segs = l->sim_segs;
	uint64_t written = l->done * 4096;
	double wa_moves = (double)(l->ob.move_bytes + written) /
			  (double)written;
	double wa_segs = (double)l->acct.appended / (double)written;
	uint64_t fc = l->first_clean == UINT64_MAX ? l->done : l->first_clean;
	struct bench_stats before, during;
	char key[40], label[64];

	stats_of(l->lat, fc, &before);
	stats_of(l->lat + fc, l->done - fc, &during);
	printf("  %u%% full: %llu overwrites, cleaner copied %.1f MiB (%llu "
	       "moves; segments say %.1f MiB): WA %.2f (segments %.2f), greedy "
	       "simulation %.2f\n", l->pct, (unsigned long long)l->done,
	       (double)l->ob.move_bytes / (1 << 20),
	       (unsigned long long)l->ob.moves,
	       (double)(l->acct.appended - written) / (1 << 20), wa_moves,
	       wa_segs, sim_wa);
	printf("  %u%% full: write latency while cleaning: median %.1f us, p99 "
	       "%.1f us, max %.1f us, %llu writes over 10 ms; before cleaning:"
	       " p99 %.1f us, max %.1f us\n", l->pct, during.median, during.p99,
	       during.max, (unsigned long long)l->over_10ms, before.p99,
	       before.max);
	for (int c = 0; c < W_NCLASS; c++)
		if (l->wc[c].n)
			printf("  %u%% full: %-12s writes: %7llu, mean "
			       "%8.1f us, max %9.1f us (%.1f on CPU), over "
			       "10 ms: %llu (%llu of them on CPU)\n", l->pct,
			       wclass_name[c], (unsigned long long)l->wc[c].n,
			       (double)l->wc[c].sum_ns / (double)l->wc[c].n *
				       1e-3,
			       (double)l->wc[c].max_ns * 1e-3,
			       (double)l->wc[c].max_cpu_ns * 1e-3,
			       (unsigned long long)l->wc[c].over_10ms,
			       (unsigned long long)l->wc[c].cpu_over_10ms);
	snprintf(key, sizeof(key), "clean_wa_%u", l->pct);
	snprintf(label, sizeof(label), "cleaner WA, file %u%% of region",
		 l->pct);
	sb_row(key, label, "x", wa_moves, sim_wa,
	       l->pct == 50 ? SB_T_MAX : l->pct == 75 ? SB_T_MAX : SB_T_NONE,
	       l->pct == 50 ? 2 : 4,
	       "wa_segments=%.3f copied_bytes=%llu written_bytes=%llu "
	       "moves=%llu observer_resets=%llu first_clean_write=%llu "
	       "file_bytes=%llu fill=%.3f writes=%llu of=%llu "
	       "seg_size=%u seg_count=%u sim_segments=%u free_min=%u "
	       "meta_ckpt_max=%u baseline=greedy-simulation",
	       wa_segs, (unsigned long long)l->ob.move_bytes,
	       (unsigned long long)written, (unsigned long long)l->ob.moves,
	       (unsigned long long)l->ob.resets,
	       (unsigned long long)l->first_clean,
	       (unsigned long long)l->file,
	       (double)l->file / (double)l->region,
	       (unsigned long long)l->done, (unsigned long long)l->writes,
	       l->seg_size, l->seg_count,
	       sim_segs, l->acct.free_min, l->acct.meta_max);
	snprintf(key, sizeof(key), "clean_lat_p99_%u", l->pct);
	snprintf(label, sizeof(label), "4K write p99 while cleaning, %u%% full",
		 l->pct);
	sb_row(key, label, "us", during.p99, before.p99, SB_T_NONE, 0,
	       "median_us=%.1f p999_us=%.1f writes=%llu "
	       "baseline=same-writes-before-cleaning",
	       during.median, during.p999,
	       (unsigned long long)(l->done - fc));
	snprintf(key, sizeof(key), "clean_lat_max_%u", l->pct);
	snprintf(label, sizeof(label), "4K write max while cleaning, %u%% full",
		 l->pct);
	sb_row(key, label, "ms", during.max * 1e-3, before.max * 1e-3, SB_T_MAX,
	       10, "writes_over_10ms=%llu ckpt_writes=%llu ckpt_max_ms=%.2f "
	       "ckpt_over_10ms=%llu clean_writes=%llu clean_max_ms=%.2f "
	       "clean_over_10ms=%llu plain_max_ms=%.2f "
	       "plain_over_10ms=%llu over_10ms_on_cpu=%llu "
	       "baseline=same-writes-before-cleaning",
	       (unsigned long long)l->over_10ms,
	       (unsigned long long)l->wc[W_CKPT].n,
	       (double)l->wc[W_CKPT].max_ns * 1e-6,
	       (unsigned long long)l->wc[W_CKPT].over_10ms,
	       (unsigned long long)l->wc[W_CLEAN].n,
	       (double)l->wc[W_CLEAN].max_ns * 1e-6,
	       (unsigned long long)l->wc[W_CLEAN].over_10ms,
	       (double)l->wc[W_PLAIN].max_ns * 1e-6,
	       (unsigned long long)l->wc[W_PLAIN].over_10ms,
	       (unsigned long long)(l->wc[W_PLAIN].cpu_over_10ms +
				    l->wc[W_CLEAN].cpu_over_10ms +
				    l->wc[W_CKPT].cpu_over_10ms));
}

static int run_level(const struct sb_opts *o, const char *path,
		     unsigned int pct)
{
	uint64_t seed = 0x2545f4914f6cdd1dull + pct;
	struct ivshm_device *dev = NULL;
	struct ivshm_fs *fs = NULL;
	struct level *l = calloc(1, sizeof(*l));
	uint64_t *ver = NULL, ino;
	char *buf = malloc(1u << 20), key[32];
	int rc = -1;

	snprintf(key, sizeof(key), "clean_%u", pct);
	if (!l || !buf)
		goto out;
	l->pct = pct;
	l->sim_wa = -1;
	l->region = o->clean_region;
	l->file = (o->clean_region * pct / 100) & ~4095ull;
	l->nblk = l->file / 4096;
	l->writes = 3 * o->clean_region / 4096;
	l->lat = malloc(l->writes * sizeof(*l->lat));
	ver = calloc(l->nblk, sizeof(*ver));
	if (!l->lat || !ver)
		goto out;
	if (sb_region_new(path, o->clean_region, &dev) ||
	    sb_fs_open(dev, "bench-clean-writer", &fs))
		goto out;
	ino = sb_create(fs, "clean");
	if (!ino)
		goto out;
	l->seg_size = ivshm_store_geom(ivshm_fs_store(fs))->seg_size;
	l->seg_count = ivshm_store_geom(ivshm_fs_store(fs))->seg_count;
	if (fill_file(fs, ino, l, buf))
		goto out;
	if (sb_verify("filling", dev, &l->v0) || obs_open(&l->ob, path) ||
	    acct_init(&l->acct, dev->region,
		      ivshm_store_geom(ivshm_fs_store(fs))))
		goto out;
	/* The baseline first: it stands even if the store fails below. */
	l->sim_segs = l->v0.seg_data + l->v0.seg_free - DATA_RESERVE;
	l->sim_wa = simulate(l->sim_segs, l->seg_size / 4096,
			     (uint32_t)l->nblk, seed, l->writes);
	if (overwrite(fs, ino, l, seed, ver))
		goto out;
	check_file(fs, ino, l, ver);
	if (l->bad_blocks) {
		snprintf(l->error, sizeof(l->error),
			 "%u%% full: %llu blocks read back wrong after "
			 "cleaning, the first is block %llu", pct,
			 (unsigned long long)l->bad_blocks,
			 (unsigned long long)l->first_bad);
		goto out;
	}
	if (sb_verify("overwriting", dev, &l->v1))
		goto out;
	report(l);
	rc = 0;
out:
	if (rc) {
		/* What was measured up to the failure is still worth seeing. */
		if (l && l->done && l->acct.n)
			report(l);
		sb_fail(key, "%s", l && l->error[0] ? l->error :
				   "failed (see above)");
	}
	if (l) {
		if (l->ob.st)
			obs_close(&l->ob);
		acct_free(&l->acct);
		free(l->lat);
	}
	free(l);
	free(ver);
	free(buf);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return rc;
}

int sb_clean(const struct sb_opts *o)
{
	char path[128];
	int rc = 0;

	sb_shm_path(path, sizeof(path), "clean");
	for (size_t i = 0; i < sizeof(fills) / sizeof(fills[0]); i++)
		if (run_level(o, path, fills[i]))
			rc = -1;
	return rc;
}
