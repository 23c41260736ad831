// SPDX-License-Identifier: MIT
/* Helpers shared by the benchmarks; see bench_util.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v: the smallest value >= p of them. */
static uint64_t rank(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n + 0.999999);

	return v[i ? (i > n ? n : i) - 1 : 0];
}

void bench_stats(uint64_t *v, size_t n, struct bench_stats *st)
{
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	st->min = (double)v[0];
	st->max = (double)v[n - 1];
	st->median = (double)rank(v, n, 0.5);
	st->p99 = (double)rank(v, n, 0.99);
	st->p999 = (double)rank(v, n, 0.999);
	st->mean = sum / (double)n;
}

void bench_stats_scale(struct bench_stats *st, double f)
{
	st->min *= f;
	st->median *= f;
	st->p99 *= f;
	st->p999 *= f;
	st->mean *= f;
	st->max *= f;
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_parse_ulong(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Fixed storage: the signal handler must not allocate. */
#define MAX_PATHS 8
#define MAX_PIDS 8
static char paths[MAX_PATHS][128];
static volatile sig_atomic_t npaths;
static pid_t pids[MAX_PIDS];
static volatile sig_atomic_t npids;

void bench_cleanup_path(const char *path)
{
	if (npaths < MAX_PATHS && strlen(path) < sizeof(paths[0])) {
		strcpy(paths[npaths], path);
		npaths = npaths + 1;
	}
}

void bench_cleanup_pid(pid_t pid)
{
	if (npids < MAX_PIDS) {
		pids[npids] = pid;
		npids = npids + 1;
	}
}

void bench_cleanup_now(void)
{
	for (int i = 0; i < npaths; i++)
		unlink(paths[i]);
	npaths = 0;
}

static void on_signal(int sig)
{
	for (int i = 0; i < npids; i++)
		kill(pids[i], SIGKILL);
	bench_cleanup_now();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int cleanup_sigs[] = { SIGINT, SIGTERM, SIGHUP };

void bench_cleanup_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(cleanup_sigs) / sizeof(int); i++)
		sigaction(cleanup_sigs[i], &sa, NULL);
	atexit(bench_cleanup_now);
}

pid_t bench_fork(void)
{
	sigset_t all, old;
	pid_t parent = getpid(), pid;

	/* No parent handler may run in the child before it is reset. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < sizeof(cleanup_sigs) / sizeof(int); i++)
			signal(cleanup_sigs[i], SIG_DFL);
		npaths = 0;
		npids = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(BENCH_EXIT_FAIL);
	} else if (pid > 0) {
		bench_cleanup_pid(pid);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

void bench_sock_path(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/ivshm-bench-%s-%d.sock", tag, (int)getpid());
}

int bench_server_listen(struct bench_server *bs, const char *tag,
			unsigned int vectors, unsigned int max_peers)
{
	/* The region's size does not matter to a doorbell. */
	return bench_server_listen_sized(bs, tag, vectors, max_peers, 64 << 10);
}

int bench_server_listen_sized(struct bench_server *bs, const char *tag,
			      unsigned int vectors, unsigned int max_peers,
			      uint64_t size)
{
	memset(bs, 0, sizeof(*bs));
	bench_sock_path(bs->sock, sizeof(bs->sock), tag);
	snprintf(bs->shm, sizeof(bs->shm), "ivshm-bench-%s-%d", tag,
		 (int)getpid());
	snprintf(bs->shm_path, sizeof(bs->shm_path), "/dev/shm/%s", bs->shm);
	ivshm_server_config_init(&bs->cfg);
	bs->cfg.socket_path = bs->sock;
	bs->cfg.shm_name = bs->shm;
	bs->cfg.size = size;
	bs->cfg.size_given = true;
	bs->cfg.vectors = vectors;
	bs->cfg.max_peers = max_peers;
	bs->cfg.foreground = true;
	/* Registered first: a failed start may have created either. */
	bench_cleanup_path(bs->sock);
	bench_cleanup_path(bs->shm_path);
	bs->srv = ivshm_server_start(&bs->cfg);
	if (!bs->srv) {
		fprintf(stderr, "cannot start the doorbell server on %s\n",
			bs->sock);
		return -1;
	}
	return 0;
}

static void *server_thread(void *arg)
{
	struct bench_server *bs = arg;

	bs->rc = ivshm_server_run(bs->srv);
	return NULL;
}

int bench_server_run(struct bench_server *bs)
{
	int rc = pthread_create(&bs->thread, NULL, server_thread, bs);

	if (rc) {
		fprintf(stderr, "cannot start the server thread: %s\n",
			strerror(rc));
		return -1;
	}
	bs->running = true;
	return 0;
}

void bench_server_finish(struct bench_server *bs)
{
	if (!bs->srv)
		return;
	if (bs->running) {
		ivshm_server_stop(bs->srv);
		pthread_join(bs->thread, NULL);
		if (bs->rc)
			fprintf(stderr, "the doorbell server failed: %s\n",
				strerror(-bs->rc));
	}
	ivshm_server_close(bs->srv);
	bs->srv = NULL;
	shm_unlink(bs->shm);
}
