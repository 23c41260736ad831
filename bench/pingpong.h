/* SPDX-License-Identifier: MIT */
/*
 * One side of a doorbell ping-pong, run in its own process: side A rings
 * and times the round trip, side B answers every ring. Each mode is one way
 * of ringing and waking; the modes take turns in blocks, and A and B meet
 * at a barrier before each block.
 */
#ifndef IVSHM_BENCH_PINGPONG_H
#define IVSHM_BENCH_PINGPONG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_util.h"

enum pp_mode {
	PP_IVSHM,	/* ivshm_ring() + ivshm_wait(): the real path */
	PP_RAW_POLL,	/* baseline: write(), poll(), read() on eventfds */
	PP_RAW_EPOLL,	/* diagnostic: the same with epoll_wait() */
	PP_IVSHM_FD,	/* diagnostic: ivshm_ring(), poll() on its vecfd */
	PP_NMODES
};

extern const char *const pp_mode_name[PP_NMODES];

/* Lives in memory shared by the parent and both sides. */
struct pp_shared {
	pthread_barrier_t barrier;
	bool run[PP_NMODES];
	bool done[PP_NMODES];
	struct bench_stats stats[PP_NMODES]; /* microseconds */
};

struct pp_cfg {
	unsigned long iters, warmup;
	unsigned long blocks;	/* the modes alternate this many times */
	bool busy;		/* spin with a zero timeout, never block */
	int cpu;		/* pin this side to it, or -1 */
	const char *sock;	/* the doorbell server */
	int efd[2];		/* raw eventfds: A's own, B's own */
	struct pp_shared *sh;
};

/* The body of a side's process; returns its exit status. */
int pp_side(const struct pp_cfg *cfg, bool is_a);

#endif
