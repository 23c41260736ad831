// SPDX-License-Identifier: MIT
/* Userspace services for the freestanding core: randomness, backoff. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../platform.h"

unsigned long ivshm_fault_countdown;
enum ivshm_fault_mode ivshm_fault_mode;

void ivshm_fault_fire(const char *site, void *dst, const void *src, size_t n)
{
	(void)site;
	/* A tear: the first half of the store lands, then the power goes. */
	if (ivshm_fault_mode == IVSHM_FAULT_TEAR && dst && src && n > 1)
		memcpy(dst, src, n / 2);
	_exit(86);
}

void ivshm_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got <= 0) {
			/* No entropy source: time is good enough for a uuid. */
			int64_t t = ivshm_now_ns();

			for (; n; n--, p++, t = t * 6364136223846793005LL + 1)
				*p = (unsigned char)(t >> 33);
			return;
		}
		p += got;
		n -= (size_t)got;
	}
}

/* Spin a little, then yield, then sleep up to 1 ms: waiting on a peer. */
void ivshm_backoff(unsigned int attempt)
{
	if (attempt < 64) {
		__builtin_ia32_pause();
	} else if (attempt < 128) {
		sched_yield();
	} else {
		struct timespec ts = { 0, attempt < 256 ? 50000 : 1000000 };

		nanosleep(&ts, NULL);
	}
}

struct ivshm_ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	void (*fn)(void *);
	void *arg;
	unsigned int period_ms;
};

static void *ticker_main(void *p)
{
	struct ivshm_ticker *t = p;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&t->lock);
		t->fn(t->arg);
		pthread_mutex_lock(&t->lock);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)t->period_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		while (!t->stop &&
		       pthread_cond_timedwait(&t->cond, &t->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

struct ivshm_ticker *ivshm_ticker_start(void (*fn)(void *), void *arg,
					unsigned int period_ms)
{
	struct ivshm_ticker *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->period_ms = period_ms;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->thread, NULL, ticker_main, t)) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	return t;
}

void ivshm_ticker_stop(struct ivshm_ticker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
