// SPDX-License-Identifier: MIT
/* Handshake rounds of ivshm device peers against the doorbell server. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_user.h"
#include "hs.h"

struct hs_ivshm {
	const char *sock;
	unsigned int peers, vectors;
	struct ivshm_device *obs;	/* the observer peer */
	struct ivshm_device **devs;
	pthread_t thread;
	atomic_bool stop;
	/* What the observer heard, guarded by @lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long joins, leaves;
	uint64_t last_join, last_leave; /* when the latest news came */
	bool gone;
	int err;
};

static void on_peer(void *arg, enum ivshm_peer_event ev, unsigned int peer)
{
	struct hs_ivshm *h = arg;
	uint64_t now = bench_now_ns();

	(void)peer;
	pthread_mutex_lock(&h->lock);
	if (ev == IVSHM_PEER_JOINED) {
		h->joins++;
		h->last_join = now;
	} else if (ev == IVSHM_PEER_LEFT) {
		h->leaves++;
		h->last_leave = now;
	} else {
		h->gone = true;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void *observe(void *arg)
{
	struct hs_ivshm *h = arg;

	while (!atomic_load(&h->stop)) {
		int64_t m = ivshm_wait(h->obs, -1);

		if (m < 0) {
			pthread_mutex_lock(&h->lock);
			h->err = (int)m;
			pthread_cond_broadcast(&h->cond);
			pthread_mutex_unlock(&h->lock);
			break;
		}
	}
	return NULL;
}

struct hs_ivshm *hs_ivshm_new(const char *sock, unsigned int peers,
			      unsigned int vectors)
{
	struct hs_ivshm *h = calloc(1, sizeof(*h));
	struct ivshm_peer_opts opts = { .timeout_ms = 5000,
					.min_vectors = vectors,
					.peer_cb = on_peer };
	pthread_condattr_t ca;

	if (!h)
		return NULL;
	h->devs = calloc(peers, sizeof(*h->devs));
	if (!h->devs) {
		free(h);
		return NULL;
	}
	h->sock = sock;
	h->peers = peers;
	h->vectors = vectors;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	opts.peer_cb_arg = h;
	if (ivshm_peer_open(sock, &opts, &h->obs)) {
		fprintf(stderr, "the observer peer cannot join %s\n", sock);
		goto fail;
	}
	if (pthread_create(&h->thread, NULL, observe, h)) {
		fprintf(stderr, "cannot start the observer thread\n");
		ivshm_device_close(h->obs);
		goto fail;
	}
	return h;
fail:
	free(h->devs);
	free(h);
	return NULL;
}

/* Wait until *@count >= @want; then *@when is when it got there. */
static int wait_news(struct hs_ivshm *h, unsigned long *count,
		     unsigned long want, uint64_t *when, uint64_t *out)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&h->lock);
	while (*count < want && !h->err && !h->gone && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&h->cond, &h->lock, &dl);
	*out = *when;
	rc = *count >= want ? 0 : -1;
	pthread_mutex_unlock(&h->lock);
	if (rc)
		fprintf(stderr, "the observer peer heard only %lu of %lu "
			"announcements%s\n", *count, want,
			h->gone ? " (server gone)" : "");
	return rc;
}

static void close_all(struct hs_ivshm *h, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		ivshm_device_close(h->devs[i]);
		h->devs[i] = NULL;
	}
}

int hs_ivshm_round(struct hs_ivshm *h, struct hs_round *r, uint64_t *lat)
{
	struct ivshm_peer_opts opts = { .timeout_ms = 5000,
					.min_vectors = h->vectors };
	unsigned long want_j, want_l;
	uint64_t t0, t1, t2, tj, tl;

	pthread_mutex_lock(&h->lock);
	want_j = h->joins + h->peers;
	want_l = h->leaves + h->peers;
	pthread_mutex_unlock(&h->lock);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i < h->peers; i++) {
		uint64_t t = bench_now_ns();
		int rc = ivshm_peer_open(h->sock, &opts, &h->devs[i]);

		if (rc) {
			fprintf(stderr, "peer %u of %u cannot join: %s\n",
				i + 1, h->peers, strerror(-rc));
			close_all(h, i);
			return -1;
		}
		lat[i] = bench_now_ns() - t;
	}
	t1 = bench_now_ns();
	if (wait_news(h, &h->joins, want_j, &h->last_join, &tj)) {
		close_all(h, h->peers);
		return -1;
	}
	t2 = bench_now_ns();
	close_all(h, h->peers);
	if (wait_news(h, &h->leaves, want_l, &h->last_leave, &tl))
		return -1;
	r->join_s = (double)(t1 - t0) / 1e9;
	r->up_s = (double)((tj > t1 ? tj : t1) - t0) / 1e9;
	r->leave_s = (double)(tl - t2) / 1e9;
	return 0;
}

void hs_ivshm_free(struct hs_ivshm *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, true);
	/* Ringing our own vector wakes the observer's wait. */
	ivshm_ring(h->obs, (unsigned int)h->obs->id, 0);
	pthread_join(h->thread, NULL);
	ivshm_device_close(h->obs);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->devs);
	free(h);
}
