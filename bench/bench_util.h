/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the benchmarks: clock, statistics, flag parsing,
 * cleanup of the files a run creates, and the doorbell server in a thread.
 */
#ifndef IVSHM_BENCH_UTIL_H
#define IVSHM_BENCH_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ivshm_server.h"

/* Exit codes: 0 ok, 1 the run failed, 2 bad command line. */
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 2

uint64_t bench_now_ns(void);

/* Summary of a set of samples, in the samples' unit. */
struct bench_stats {
	double min, median, p99, p999, mean, max;
};

/* Sorts @v in place. @n must be > 0. */
void bench_stats(uint64_t *v, size_t n, struct bench_stats *st);

/* Multiply every figure by @f (a change of unit). */
void bench_stats_scale(struct bench_stats *st, double f);

/* Median of @n doubles (sorts in place). */
double bench_median(double *v, size_t n);

/* Strict decimal in [min, max]; 0, or -1 for anything else. */
int bench_parse_ulong(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out);

/*
 * Cleanup: files registered here are unlinked at exit and on SIGINT,
 * SIGTERM and SIGHUP, and registered children are killed on a signal.
 */
void bench_cleanup_install(void);
void bench_cleanup_path(const char *path);
void bench_cleanup_pid(pid_t pid);
void bench_cleanup_now(void);

/*
 * fork() whose child starts with default signal handlers (so it never runs
 * the parent's cleanup) and dies with the parent. Returns like fork().
 */
pid_t bench_fork(void);

/* "/tmp/ivshm-bench-TAG-PID.sock": a socket path unique to this run. */
void bench_sock_path(char *buf, size_t len, const char *tag);

/* The doorbell server, listening at start and served by a thread. */
struct bench_server {
	struct ivshm_server_config cfg;
	struct ivshm_server *srv;
	pthread_t thread;
	bool running;
	int rc;
	char sock[108];
	char shm[64];
	char shm_path[96];
};

/* Create the region and listen, without serving yet. 0 or -1 (printed). */
int bench_server_listen(struct bench_server *bs, const char *tag,
			unsigned int vectors, unsigned int max_peers);
/* The same with a region of @size bytes (a power of two) instead of 64 KiB. */
int bench_server_listen_sized(struct bench_server *bs, const char *tag,
			      unsigned int vectors, unsigned int max_peers,
			      uint64_t size);
/* Serve in a new thread. 0 or -1 (printed). */
int bench_server_run(struct bench_server *bs);
/* Stop, join, close, and remove the region and the socket. */
void bench_server_finish(struct bench_server *bs);

#endif
