/* SPDX-License-Identifier: MIT */
/* Kernel half of core/platform.h: the same names mapped to <linux/...>. */
#ifndef IVSHM_PLATFORM_KERNEL_H
#define IVSHM_PLATFORM_KERNEL_H

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/crc32.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/types.h>

#ifndef UINT64_MAX
#define UINT64_MAX U64_MAX
#endif

#define ivshm_static_assert(cond, msg) static_assert(cond, msg)

/* Records are up to 64 KiB: kvzalloc falls back to vmalloc. */
#define ivshm_alloc(n) kvzalloc((n), GFP_KERNEL)
#define ivshm_free(p) kvfree(p)
#define ivshm_log_err(...) pr_err("ivshm: " __VA_ARGS__)
#define ivshm_log_info(...) pr_info("ivshm: " __VA_ARGS__)

static inline uint64_t ivshm_load_acquire(const uint64_t *p)
{
	return smp_load_acquire(p);
}

static inline uint64_t ivshm_load_relaxed(const uint64_t *p)
{
	return READ_ONCE(*p);
}

static inline void ivshm_store_release(uint64_t *p, uint64_t v)
{
	smp_store_release(p, v);
}

static inline void ivshm_store_relaxed(uint64_t *p, uint64_t v)
{
	WRITE_ONCE(*p, v);
}

static inline bool ivshm_cas(uint64_t *p, uint64_t *expected, uint64_t v)
{
	uint64_t old = cmpxchg64(p, *expected, v);

	if (old == *expected)
		return true;
	*expected = old;
	return false;
}

static inline uint64_t ivshm_fetch_add(uint64_t *p, uint64_t v)
{
	/* atomic64_t is one s64: the region word has the same layout. */
	return (uint64_t)atomic64_fetch_add((s64)v, (atomic64_t *)p);
}

static inline void ivshm_fence(void)
{
	smp_mb();
}

/* zlib's crc32(crc, p, n) in terms of the kernel's crc32_le. */
static inline uint32_t ivshm_crc32(uint32_t crc, const void *p, size_t n)
{
	return ~crc32_le(~crc, p, n);
}

static inline int64_t ivshm_now_ns(void)
{
	return ktime_get_real_ns();
}

static inline int64_t ivshm_mono_ms(void)
{
	return ktime_get_ns() / NSEC_PER_MSEC;
}

typedef struct mutex ivshm_mutex;
#define ivshm_mutex_init(m) mutex_init(m)
#define ivshm_mutex_destroy(m) mutex_destroy(m)
#define ivshm_mutex_lock(m) mutex_lock(m)
#define ivshm_mutex_unlock(m) mutex_unlock(m)

struct ivshm_ticker;
struct ivshm_ticker *ivshm_ticker_start(void (*fn)(void *), void *arg,
					unsigned int period_ms);
void ivshm_ticker_stop(struct ivshm_ticker *t);

static inline uint32_t ivshm_self_pid(void)
{
	return 0; /* a guest kernel has no host pid to show */
}

/* Power-loss fault points exist only in userspace test builds. */
#define IVSHM_FAULT_POINT(site, dst, src, n) do { } while (0)

void ivshm_random_bytes(void *buf, size_t n);
void ivshm_backoff(unsigned int attempt);

#endif
