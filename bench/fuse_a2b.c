// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-fuse: a write through mount A, seen through mount B.
 *
 * Both mounts serve one store. A child process (B) keeps the file open on
 * mount B and polls it with pread() of its first 8 bytes, without pause.
 * The parent (A) pwrite()s sample number i there through mount A and
 * takes the clock when pwrite returns; B takes the clock when its pread
 * first returns i and says so through a pipe (A sleeps in read() on it, so
 * that only B spins). After each sample A pauses a little, so that B's
 * page cache holds the new value again and the daemons are idle.
 * Latency = B's clock - A's clock (0 when B saw it first, counted as
 * "early": the store had published the write before A's reply came back).
 * The first WARMUP samples are not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "fuse_bench.h"

#define WARMUP 2 /* samples not counted */

struct shared {
	atomic_int stop;
	uint64_t t0[];		/* then t1[], each n + 1 long */
};

/* B: poll until each sample shows, report it; exit on stop or timeout. */
static void reader(const char *path, unsigned long n, double timeout,
		   struct shared *sh, uint64_t *t1, int ack)
{
	int fd = open(path, O_RDONLY);
	uint64_t v = 0;

	if (fd < 0 || pread(fd, &v, sizeof(v), 0) != sizeof(v) ||
	    write(ack, "R", 1) != 1)
		_exit(1);
	for (unsigned long i = 1; i <= n; i++) {
		uint64_t start = bench_now_ns(), now;

		for (;;) {
			if (atomic_load_explicit(&sh->stop,
						 memory_order_relaxed))
				_exit(0);
			if (pread(fd, &v, sizeof(v), 0) != sizeof(v))
				_exit(1);
			now = bench_now_ns();
			if (v == i)
				break;
			if ((double)(now - start) > timeout * 1e9) {
				if (write(ack, "T", 1) != 1)
					_exit(1);
				_exit(0);
			}
		}
		t1[i] = now;
		if (write(ack, "K", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

/* Wait for B's next word: 'R', 'K' or 'T'; 0 on timeout or exit. */
static char next_ack(int fd, double timeout)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, (int)(timeout * 1000)) != 1 || read(fd, &c, 1) != 1)
		return 0;
	return c;
}

int fb_a2b(const struct fb_cfg *c, const struct fb_col *col, double *out,
	   struct fb_a2b_info *info, struct fb_err *e)
{
	size_t n = c->a2b_iters, len = sizeof(struct shared) +
				       2 * (n + 1) * sizeof(uint64_t);
	struct shared *sh = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *t0, *t1, *lat = NULL;
	char path_a[FB_PATH_MAX + 16], path_b[FB_PATH_MAX + 16], zero[4096] = { 0 };
	int fd = -1, pipefd[2] = { -1, -1 }, status, rc = -1;
	struct timespec gap = { 0, (long)c->a2b_gap_us * 1000 };
	unsigned long done = 0, first;
	pid_t pid = -1;
	double start;
	char ack;

	memset(info, 0, sizeof(*info));
	if (sh == MAP_FAILED) {
		fb_fail(e, "mmap: %s", strerror(errno));
		return -1;
	}
	t0 = sh->t0;
	t1 = t0 + n + 1;
	snprintf(path_a, sizeof(path_a), "%s/fb-a2b", col->dir);
	snprintf(path_b, sizeof(path_b), "%s/fb-a2b", col->dir_b);
	fd = open(path_a, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, zero, sizeof(zero), 0) != sizeof(zero) ||
	    fsync(fd)) {
		fb_fail(e, "create %s: %s", path_a, strerror(errno));
		goto out;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		fb_fail(e, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = bench_fork();
	if (pid < 0) {
		fb_fail(e, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(pipefd[0]);
		reader(path_b, n, c->a2b_timeout_s, sh, t1, pipefd[1]);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (next_ack(pipefd[0], 10) != 'R') {
		fb_fail(e, "B cannot read %s", path_b);
		goto out;
	}
	start = fb_now();
	for (uint64_t i = 1; i <= n; i++) {
		if (fb_now() - start > c->a2b_budget_s)
			break;
		if (pwrite(fd, &i, sizeof(i), 0) != sizeof(i)) {
			fb_fail(e, "pwrite %s: %s", path_a, strerror(errno));
			goto out;
		}
		t0[i] = bench_now_ns();
		ack = next_ack(pipefd[0], c->a2b_timeout_s + 5);
		if (ack == 'T') {
			info->timeouts++;
			break;
		}
		if (ack != 'K') {
			fb_fail(e, "B went away at sample %llu",
				(unsigned long long)i);
			goto out;
		}
		done = i;
		nanosleep(&gap, NULL);
	}
	if (!done) {
		fb_fail(e, "B never saw a write in %.0f s", c->a2b_timeout_s);
		goto out;
	}
	/*
	 * The first samples warm B up (its first reads, its daemon's first
	 * replay): not counted, unless they are all there is.
	 */
	first = done > WARMUP ? WARMUP + 1 : 1;
	info->n = done - first + 1;
	lat = malloc(info->n * sizeof(*lat));
	if (!lat) {
		fb_fail(e, "out of memory");
		goto out;
	}
	for (unsigned long i = first, k = 0; i <= done; i++, k++) {
		if (t1[i] < t0[i])
			info->early++;
		lat[k] = t1[i] > t0[i] ? t1[i] - t0[i] : 0;
		info->over_1ms += lat[k] > 1000000;
		info->over_10ms += lat[k] > 10000000;
	}
	{
		struct bench_stats st;

		bench_stats(lat, info->n, &st);
		out[FB_A2B_MEDIAN] = st.median / 1000;
		out[FB_A2B_P99] = st.p99 / 1000;
		info->p90_us = (double)lat[(info->n * 9) / 10] / 1000;
		info->p999_us = st.p999 / 1000;
		info->max_us = st.max / 1000;
	}
	rc = 0;
out:
	atomic_store(&sh->stop, 1);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (fd >= 0)
		close(fd);
	unlink(path_a);
	free(lat);
	munmap(sh, len);
	return rc;
}
