/* SPDX-License-Identifier: MIT */
/* Userspace half of core/platform.h: libc, GCC/C11 atomics, zlib. */
#ifndef IVSHM_PLATFORM_USER_H
#define IVSHM_PLATFORM_USER_H

#include <assert.h>
#include <pthread.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ivshm's format is little-endian; big-endian hosts need byte swaps"
#endif

#define ivshm_static_assert(cond, msg) _Static_assert(cond, msg)

#define ivshm_alloc(n) calloc(1, (n))
#define ivshm_free(p) free(p)

/* Messages go to stderr, prefixed so that a user can tell who spoke. */
#define ivshm_log_err(...) fprintf(stderr, "ivshm: " __VA_ARGS__)
#define ivshm_log_info(...) fprintf(stderr, "ivshm: " __VA_ARGS__)

/* Words of the shared region: every access is atomic, never torn. */
static inline uint64_t ivshm_load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t ivshm_load_relaxed(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void ivshm_store_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void ivshm_store_relaxed(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Compare-and-swap, full barrier; on failure *expected gets the value. */
static inline bool ivshm_cas(uint64_t *p, uint64_t *expected, uint64_t v)
{
	return __atomic_compare_exchange_n(p, expected, v, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static inline uint64_t ivshm_fetch_add(uint64_t *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

static inline void ivshm_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* crc32 as zlib computes it (the kernel's crc32_le(~0, p, n) ^ ~0). */
static inline uint32_t ivshm_crc32(uint32_t crc, const void *p, size_t n)
{
	return (uint32_t)crc32(crc, (const unsigned char *)p, (uInt)n);
}

static inline int64_t ivshm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t ivshm_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Local (same address space) mutual exclusion. */
typedef pthread_mutex_t ivshm_mutex;
#define ivshm_mutex_init(m) pthread_mutex_init((m), NULL)
#define ivshm_mutex_destroy(m) pthread_mutex_destroy(m)
#define ivshm_mutex_lock(m) pthread_mutex_lock(m)
#define ivshm_mutex_unlock(m) pthread_mutex_unlock(m)

/* A periodic background job (the heartbeat). */
struct ivshm_ticker;
struct ivshm_ticker *ivshm_ticker_start(void (*fn)(void *), void *arg,
					unsigned int period_ms);
void ivshm_ticker_stop(struct ivshm_ticker *t);

static inline uint32_t ivshm_self_pid(void)
{
	return (uint32_t)getpid();
}

/*
 * Fault points, before every store into the region, for power-loss tests
 * (tests/store/test_powerloss.c): when the countdown reaches zero the
 * process dies there, before the store or (a tear) half way through it.
 * Off (0) in normal runs: one predictable branch.
 */
enum ivshm_fault_mode { IVSHM_FAULT_STOP, IVSHM_FAULT_TEAR };
extern unsigned long ivshm_fault_countdown;
extern enum ivshm_fault_mode ivshm_fault_mode;
void ivshm_fault_fire(const char *site, void *dst, const void *src, size_t n);

#define IVSHM_FAULT_POINT(site, dst, src, n)                                 \
	do {                                                                  \
		if (__builtin_expect(ivshm_fault_countdown != 0, 0) &&        \
		    --ivshm_fault_countdown == 0)                             \
			ivshm_fault_fire(site, dst, src, n);                  \
	} while (0)

void ivshm_random_bytes(void *buf, size_t n);
void ivshm_backoff(unsigned int attempt);

#endif
