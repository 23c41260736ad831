// SPDX-License-Identifier: MIT
/*
 * Commit-to-replay latency between two processes, each a device-model
 * peer of a doorbell server (a thread of the parent) with its own mapping
 * of the region, like two guests. The writer W takes the clock and
 * commits a 64-byte write (ivshm_fs_write); the reader R notices, replays
 * (ivshm_fs_refresh) and takes the clock: the sample is the difference
 * (CLOCK_MONOTONIC is one clock for both processes). R then reads the
 * write back to check it saw this very write, and acknowledges; W waits
 * for the acknowledgement, sleeps a little (so that R is asleep again
 * when the next write comes) and starts over.
 *
 * Modes, taking turns in blocks:
 *   store+doorbell  R sleeps in ivshm_wait(); the commit rings it
 *   bare doorbell   baseline: W only calls ivshm_ring(), R wakes from
 *                   ivshm_wait(): the wake-up any doorbell pays
 *   store+poll      R spins on ivshm_store_head()
 *   bare store      baseline: W stores a counter in shared memory, R spins
 *                   on it: the cache-line transfer any polling pays
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_bench.h"

#define REGION (64u << 20)
#define BLOCKS 5
#define GAP_NS 50000
#define STALL_NS 10000000000ull	/* a side silent this long has failed */

enum { L_STORE_BELL, L_RING, L_STORE_POLL, L_WORD, L_N };

static const char *const mode_name[L_N] = {
	[L_STORE_BELL] = "store+doorbell",
	[L_RING] = "bare doorbell",
	[L_STORE_POLL] = "store+poll",
	[L_WORD] = "bare store",
};

/* In memory shared by the parent and both sides. */
struct lshared {
	pthread_barrier_t barrier;
	uint64_t t0;		/* W's clock when the sample started */
	uint64_t word;		/* L_WORD: what R polls */
	uint64_t ack;		/* R: the last sample it saw */
	uint64_t ino;		/* the file W writes */
	int failed;		/* a side gave up: the other stops too */
	bool done;
	struct bench_stats st[L_N];	/* microseconds */
	struct bench_stats wr;		/* W's ivshm_fs_write() call, us */
	uint64_t spurious;	/* R woke with nothing new to see */
};

struct lside {
	const struct sb_opts *o;
	struct lshared *sh;
	const char *sock;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	unsigned int other;	/* the other side's peer id */
	unsigned long per_mode;	/* samples per mode, warm-up included */
	unsigned long warm;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static bool other_failed(struct lside *s)
{
	return __atomic_load_n(&s->sh->failed, __ATOMIC_ACQUIRE);
}

static int give_up(struct lside *s, const char *what, int err)
{
	fprintf(stderr, "latency: %s: %s\n", what, strerror(err));
	__atomic_store_n(&s->sh->failed, 1, __ATOMIC_RELEASE);
	return -1;
}

static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "cannot pin to CPU %d: %s\n", cpu,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Join the server and wait until the other side is known. */
static int join(struct lside *s)
{
	struct ivshm_peer_opts po = { .timeout_ms = 5000, .min_vectors = 1 };
	uint64_t deadline = bench_now_ns() + STALL_NS;
	uint16_t id;
	int rc = ivshm_peer_open(s->sock, &po, &s->dev);

	if (rc)
		return give_up(s, "ivshm_peer_open", -rc);
	while (ivshm_peers(s->dev, &id, 1) < 1) {
		int64_t m = ivshm_wait(s->dev, 100);

		if (m < 0)
			return give_up(s, "ivshm_wait", (int)-m);
		if (bench_now_ns() > deadline || other_failed(s))
			return give_up(s, "the other side never joined",
				       ETIMEDOUT);
	}
	s->other = id;
	return 0;
}

static void drain_bells(struct lside *s)
{
	while (ivshm_wait(s->dev, 0) > 0)
		;
}

/* W waits for R to acknowledge sample @k. */
static int wait_ack(struct lside *s, uint64_t k)
{
	uint64_t deadline = 0;

	for (unsigned long spin = 1; load(&s->sh->ack) != k; spin++) {
		cpu_relax();
		if (spin % 4096)
			continue;
		if (other_failed(s))
			return -1;
		if (!deadline)
			deadline = bench_now_ns() + STALL_NS;
		else if (bench_now_ns() > deadline)
			return give_up(s, "no acknowledgement from the reader",
				       ETIMEDOUT);
	}
	return 0;
}

static void gap(void)
{
	struct timespec ts = { 0, GAP_NS };

	nanosleep(&ts, NULL);
}

/* The writer: @n samples of @mode starting at number @k0. */
static int run_w(struct lside *s, int mode, uint64_t k0, unsigned long n,
		 uint64_t *wr_ns)
{
	char buf[64] = { 0 };

	for (unsigned long i = 0; i < n; i++) {
		uint64_t k = k0 + i, t0, t1;
		int64_t w;

		gap();
		t0 = bench_now_ns();
		store(&s->sh->t0, t0);
		switch (mode) {
		case L_STORE_BELL:
		case L_STORE_POLL:
			memcpy(buf, &k, sizeof(k));
			w = ivshm_fs_write(s->fs, s->sh->ino, 0, buf,
					   sizeof(buf), NULL);
			t1 = bench_now_ns();
			if (w != (int64_t)sizeof(buf))
				return give_up(s, "ivshm_fs_write",
					       w < 0 ? (int)-w : EIO);
			if (wr_ns)
				*wr_ns++ = t1 - t0;
			break;
		case L_RING:
			w = ivshm_ring(s->dev, s->other, 0);
			if (w)
				return give_up(s, "ivshm_ring", (int)-w);
			break;
		default:
			store(&s->sh->word, k);
			break;
		}
		if (wait_ack(s, k))
			return -1;
	}
	return 0;
}

/* The number R finds in the file now; 0 if unreadable. */
static uint64_t read_back(struct lside *s)
{
	uint64_t v = 0;

	if (ivshm_fs_read(s->fs, s->sh->ino, 0, &v, sizeof(v)) !=
	    (int64_t)sizeof(v))
		return 0;
	return v;
}

/* R: wait until sample @k is visible; its latency in ns, or 0 on failure. */
static uint64_t see(struct lside *s, int mode, uint64_t k)
{
	struct ivshm_store *st = s->fs ? ivshm_fs_store(s->fs) : NULL;
	uint64_t deadline = bench_now_ns() + STALL_NS, t1 = 0;
	unsigned long spin = 0;
	int rc;

	for (;;) {
		if (mode == L_STORE_BELL || mode == L_RING) {
			int64_t m = ivshm_wait(s->dev, 200);

			if (m < 0) {
				give_up(s, "ivshm_wait", (int)-m);
				return 0;
			}
			if (m & 1) {
				t1 = bench_now_ns();
				if (mode == L_RING)
					break;
				rc = ivshm_fs_refresh(s->fs);
				t1 = bench_now_ns();
				if (rc) {
					give_up(s, "ivshm_fs_refresh", -rc);
					return 0;
				}
				if (read_back(s) == k)
					break;
				s->sh->spurious++;
			}
		} else if (mode == L_STORE_POLL) {
			if (ivshm_store_head(st) != ivshm_store_replayed(st)) {
				rc = ivshm_fs_refresh(s->fs);
				t1 = bench_now_ns();
				if (rc) {
					give_up(s, "ivshm_fs_refresh", -rc);
					return 0;
				}
				if (read_back(s) == k)
					break;
			}
			cpu_relax();
		} else {
			if (load(&s->sh->word) == k) {
				t1 = bench_now_ns();
				break;
			}
			cpu_relax();
		}
		if (++spin % 1024 == 0 || mode == L_STORE_BELL ||
		    mode == L_RING) {
			if (other_failed(s))
				return 0;
			if (bench_now_ns() > deadline) {
				give_up(s, "the write never showed", ETIMEDOUT);
				return 0;
			}
		}
	}
	return t1 - load(&s->sh->t0);
}

static int run_r(struct lside *s, int mode, uint64_t k0, unsigned long n,
		 uint64_t *lat)
{
	for (unsigned long i = 0; i < n; i++) {
		uint64_t ns = see(s, mode, k0 + i);

		if (!ns)
			return -1;
		lat[i] = ns;
		store(&s->sh->ack, k0 + i);
	}
	return 0;
}

static int setup(struct lside *s, bool is_w)
{
	if (join(s))
		return -1;
	if (is_w) {
		struct ivshm_fs_opts fo = { .attach = {
			.name = "bench-lat-writer", .format_if_blank = true } };
		char zero[64] = { 0 };
		int rc = ivshm_fs_open(s->dev, &fo, &s->fs);

		if (rc)
			return give_up(s, "writer: ivshm_fs_open", -rc);
		s->sh->ino = sb_create(s->fs, "latency");
		if (!s->sh->ino ||
		    ivshm_fs_write(s->fs, s->sh->ino, 0, zero, 64, NULL) != 64)
			return give_up(s, "writer: creating the file", EIO);
	}
	pthread_barrier_wait(&s->sh->barrier);
	if (!is_w) {
		struct ivshm_fs_opts fo = { .attach = {
			.name = "bench-lat-reader", .format_if_blank = true } };
		int rc;

		if (other_failed(s))
			return -1;
		rc = ivshm_fs_open(s->dev, &fo, &s->fs);
		if (rc)
			return give_up(s, "reader: ivshm_fs_open", -rc);
	}
	pthread_barrier_wait(&s->sh->barrier);
	return other_failed(s) ? -1 : 0;
}

/* The body of either side's process; its exit status. */
static int side(struct lside *s, bool is_w)
{
	uint64_t *ns[L_N] = { NULL }, *wr = NULL;
	unsigned long per = s->per_mode / BLOCKS;
	uint64_t k = 1;
	int rc = -1;

	if (pin(s->o->cpu[is_w ? 0 : 1]) || setup(s, is_w))
		goto out;
	for (int m = 0; m < L_N; m++)
		if (!(ns[m] = calloc(s->per_mode, sizeof(uint64_t))))
			goto out;
	if (is_w && !(wr = calloc(s->per_mode * 2, sizeof(uint64_t))))
		goto out;
	/* Modes take turns block by block: drifting load hits them alike. */
	for (unsigned long b = 0; b < BLOCKS; b++) {
		for (int m = 0; m < L_N; m++) {
			uint64_t *dst = ns[m] + per * b;
			uint64_t *w = wr ? wr + (m == L_STORE_POLL ?
						 s->per_mode : 0) + per * b :
					   NULL;

			if (!is_w)
				drain_bells(s);
			pthread_barrier_wait(&s->sh->barrier);
			if (other_failed(s))
				goto out;
			if (is_w ? run_w(s, m, k, per,
					 m == L_STORE_BELL ||
					 m == L_STORE_POLL ? w : NULL) :
				   run_r(s, m, k, per, dst)) {
				/* Release a side stuck at the barrier. */
				pthread_barrier_wait(&s->sh->barrier);
				goto out;
			}
			k += per;
			pthread_barrier_wait(&s->sh->barrier);
		}
	}
	/* The first samples of each mode warm up and are dropped. */
	for (int m = 0; m < L_N && !is_w; m++) {
		bench_stats(ns[m] + s->warm, BLOCKS * per - s->warm,
			    &s->sh->st[m]);
		bench_stats_scale(&s->sh->st[m], 1e-3);
	}
	if (is_w) {
		bench_stats(wr + s->warm, BLOCKS * per - s->warm, &s->sh->wr);
		bench_stats_scale(&s->sh->wr, 1e-3);
	}
	rc = 0;
out:
	for (int m = 0; m < L_N; m++)
		free(ns[m]);
	free(wr);
	ivshm_fs_close(s->fs);
	ivshm_device_close(s->dev);
	return rc ? BENCH_EXIT_FAIL : 0;
}

static struct lshared *shared_new(void)
{
	pthread_barrierattr_t ba;
	struct lshared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->barrier, &ba, 2);
	pthread_barrierattr_destroy(&ba);
	return sh;
}

/* Wait for both sides; if one fails, the other is killed. */
static int reap(pid_t pid[2])
{
	int left = 2, failed = 0;

	while (left) {
		pid_t p;
		int st;

		p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p != pid[0] && p != pid[1])
			continue;
		left--;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			if (!failed && left)
				kill(p == pid[0] ? pid[1] : pid[0], SIGKILL);
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

static void report(const struct sb_opts *o, const struct lshared *sh)
{
	const struct bench_stats *st = sh->st;

	for (int m = 0; m < L_N; m++)
		printf("  %-16s median %8.1f us  p99 %8.1f us  p99.9 %8.1f us"
		       "  max %8.1f us\n", mode_name[m], st[m].median,
		       st[m].p99, st[m].p999, st[m].max);
	printf("  writer's ivshm_fs_write() call: median %.1f us, p99 %.1f "
	       "us; reader woke with nothing new %llu times\n", sh->wr.median,
	       sh->wr.p99, (unsigned long long)sh->spurious);
	sb_row("replay_doorbell_median",
	       "commit->replay, doorbell wake, median", "us",
	       st[L_STORE_BELL].median, st[L_RING].median, SB_T_MAX, 100,
	       "p999_us=%.1f max_us=%.1f write_call_median_us=%.1f "
	       "samples=%lu cpus=%d,%d", st[L_STORE_BELL].p999,
	       st[L_STORE_BELL].max, sh->wr.median, o->iters, o->cpu[0],
	       o->cpu[1]);
	sb_row("replay_doorbell_p99", "commit->replay, doorbell wake, p99",
	       "us", st[L_STORE_BELL].p99, st[L_RING].p99, SB_T_MAX, 1000,
	       "samples=%lu", o->iters);
	sb_row("replay_poll_median", "commit->replay, polling head, median",
	       "us", st[L_STORE_POLL].median, st[L_WORD].median, SB_T_MAX,
	       100, "p999_us=%.1f max_us=%.1f samples=%lu",
	       st[L_STORE_POLL].p999, st[L_STORE_POLL].max, o->iters);
	sb_row("replay_poll_p99", "commit->replay, polling head, p99", "us",
	       st[L_STORE_POLL].p99, st[L_WORD].p99, SB_T_MAX, 1000,
	       "samples=%lu", o->iters);
}

int sb_latency(const struct sb_opts *o)
{
	struct bench_server bs;
	struct lshared *sh = shared_new();
	struct lside s = { .o = o, .sh = sh };
	pid_t pid[2];
	int rc;

	if (!sh) {
		sb_fail("latency", "mmap: %s", strerror(errno));
		return -1;
	}
	/* Samples per mode: a tenth more for warm-up, whole blocks. */
	s.warm = o->iters / 10 < 10 ? 10 : o->iters / 10;
	s.per_mode = (o->iters + s.warm + BLOCKS - 1) / BLOCKS * BLOCKS;
	s.warm = s.per_mode - o->iters;
	if (bench_server_listen_sized(&bs, "store", 1, 4, REGION)) {
		sb_fail("latency", "cannot start the doorbell server");
		munmap(sh, sizeof(*sh));
		return -1;
	}
	s.sock = bs.sock;
	fflush(NULL);
	for (int i = 0; i < 2; i++) {
		pid[i] = bench_fork();
		if (pid[i] < 0) {
			sb_fail("latency", "fork: %s", strerror(errno));
			if (i)
				kill(pid[0], SIGKILL);
			bench_server_finish(&bs);
			return -1;
		}
		if (pid[i] == 0)
			_exit(side(&s, i == 0));
	}
	rc = bench_server_run(&bs);
	if (rc) {
		kill(pid[0], SIGKILL);
		kill(pid[1], SIGKILL);
	}
	if (reap(pid))
		rc = -1;
	bench_server_finish(&bs);
	if (rc) {
		sb_fail("latency", "a side failed (see above)");
		munmap(sh, sizeof(*sh));
		return -1;
	}
	report(o, sh);
	munmap(sh, sizeof(*sh));
	return 0;
}
