// SPDX-License-Identifier: MIT
/* The two sides of the doorbell ping-pong; see pingpong.h. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev_user.h"
#include "pingpong.h"

const char *const pp_mode_name[PP_NMODES] = {
	[PP_IVSHM] = "ivshm ring+wait",
	[PP_RAW_POLL] = "raw eventfd poll",
	[PP_RAW_EPOLL] = "raw eventfd epoll",
	[PP_IVSHM_FD] = "ivshm ring+poll(vecfd)",
};

struct side {
	enum pp_mode mode;
	int tmo;		/* 0 to spin, -1 to block */
	struct ivshm_device *dev;
	unsigned int other;	/* the other side's ivshm peer id */
	int own, peer;		/* raw eventfds */
	int ep;			/* epoll on @own, for PP_RAW_EPOLL */
};

/* Consume a doorbell once @fd polled readable: 1, 0 if none, -errno. */
static int take(int fd)
{
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) == sizeof(cnt))
		return 1;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

static int poll_take(int fd, int tmo)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, tmo);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n ? take(fd) : 0;
}

static int epoll_take(int ep, int fd, int tmo)
{
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, tmo);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n ? take(fd) : 0;
}

/* Wait until our own doorbell (vector 0) rang. 0, or -errno. */
static int wait_bell(struct side *s)
{
	int rc;

	do {
		switch (s->mode) {
		case PP_IVSHM: {
			int64_t m = ivshm_wait(s->dev, s->tmo);

			/* 0: timeout or membership news; keep waiting. */
			rc = m < 0 ? (int)m : (int)(m & 1);
			break;
		}
		case PP_IVSHM_FD:
			rc = poll_take(ivshm_device_vector_fd(s->dev, 0),
				       s->tmo);
			break;
		case PP_RAW_EPOLL:
			rc = epoll_take(s->ep, s->own, s->tmo);
			break;
		default:
			rc = poll_take(s->own, s->tmo);
			break;
		}
	} while (rc == 0);
	return rc < 0 ? rc : 0;
}

static int ring_bell(struct side *s)
{
	uint64_t one = 1;

	if (s->mode == PP_IVSHM || s->mode == PP_IVSHM_FD)
		return ivshm_ring(s->dev, s->other, 0);
	return write(s->peer, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* @warm unmeasured round trips, then @n timed into @ns. */
static int run_a(struct side *s, unsigned long warm, unsigned long n,
		 uint64_t *ns)
{
	int rc;

	for (unsigned long i = 0; i < warm + n; i++) {
		uint64_t t0 = bench_now_ns();

		rc = ring_bell(s);
		if (!rc)
			rc = wait_bell(s);
		if (rc)
			return rc;
		if (i >= warm)
			ns[i - warm] = bench_now_ns() - t0;
	}
	return 0;
}

static int run_b(struct side *s, unsigned long total)
{
	int rc = 0;

	for (unsigned long i = 0; i < total && !rc; i++) {
		rc = wait_bell(s);
		if (!rc)
			rc = ring_bell(s);
	}
	return rc;
}

/* Join the server and learn the other side's id (it joins concurrently). */
static int join(struct side *s, const struct pp_cfg *cfg)
{
	struct ivshm_peer_opts opts = { .timeout_ms = 5000, .min_vectors = 1 };
	uint64_t deadline = bench_now_ns() + 10000000000ull;
	uint16_t id;
	int rc = ivshm_peer_open(cfg->sock, &opts, &s->dev);

	if (rc)
		return rc;
	/* No doorbell can come before the barrier, so none is lost here. */
	while (ivshm_peers(s->dev, &id, 1) < 1) {
		int64_t m = ivshm_wait(s->dev, 100);

		if (m < 0)
			return (int)m;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "the other side never joined\n");
			return -ETIMEDOUT;
		}
	}
	s->other = id;
	return 0;
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

static int setup(struct side *s, const struct pp_cfg *cfg, bool is_a)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	memset(s, 0, sizeof(*s));
	s->tmo = cfg->busy ? 0 : -1;
	s->own = cfg->efd[is_a ? 0 : 1];
	s->peer = cfg->efd[is_a ? 1 : 0];
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->own, &ev)) {
		fprintf(stderr, "epoll: %s\n", strerror(errno));
		return -1;
	}
	if (cfg->sh->run[PP_IVSHM] || cfg->sh->run[PP_IVSHM_FD]) {
		rc = join(s, cfg);
		if (rc) {
			fprintf(stderr, "side %c cannot join %s: %s\n",
				is_a ? 'A' : 'B', cfg->sock, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* One block of s->mode; its first block also warms it up. */
static int run_block(struct side *s, const struct pp_cfg *cfg, bool is_a,
		     unsigned long blk, uint64_t *ns)
{
	unsigned long per = cfg->iters / cfg->blocks;
	unsigned long n = blk + 1 < cfg->blocks ? per :
			  cfg->iters - per * blk;
	unsigned long warm = blk ? 0 : cfg->warmup;

	pthread_barrier_wait(&cfg->sh->barrier);
	return is_a ? run_a(s, warm, n, ns + per * blk) : run_b(s, warm + n);
}

int pp_side(const struct pp_cfg *cfg, bool is_a)
{
	uint64_t *ns[PP_NMODES] = { NULL };
	struct side s;
	int rc = 0;

	if (pin(cfg->cpu) || setup(&s, cfg, is_a))
		return BENCH_EXIT_FAIL;
	for (int m = 0; m < PP_NMODES && is_a; m++) {
		if (!cfg->sh->run[m])
			continue;
		ns[m] = malloc(cfg->iters * sizeof(uint64_t));
		if (!ns[m]) {
			fprintf(stderr, "out of memory for the samples\n");
			return BENCH_EXIT_FAIL;
		}
	}
	/* Modes take turns block by block: drifting load hits them alike. */
	for (unsigned long b = 0; b < cfg->blocks && !rc; b++) {
		for (int m = 0; m < PP_NMODES && !rc; m++) {
			if (!cfg->sh->run[m])
				continue;
			s.mode = (enum pp_mode)m;
			rc = run_block(&s, cfg, is_a, b, ns[m]);
			if (rc)
				fprintf(stderr, "side %c, %s: %s\n",
					is_a ? 'A' : 'B', pp_mode_name[m],
					strerror(-rc));
		}
	}
	for (int m = 0; m < PP_NMODES; m++) {
		if (ns[m] && !rc) {
			bench_stats(ns[m], cfg->iters, &cfg->sh->stats[m]);
			bench_stats_scale(&cfg->sh->stats[m], 1e-3); /* to us */
			cfg->sh->done[m] = true;
		}
		free(ns[m]);
	}
	ivshm_device_close(s.dev);
	close(s.ep);
	return rc ? BENCH_EXIT_FAIL : 0;
}
