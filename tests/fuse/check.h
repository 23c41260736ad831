/* SPDX-License-Identifier: MIT */
/*
 * CUnit assertions that say what happened: the value and errno of a failed
 * call, both sides of a failed comparison.
 */
#ifndef IVSHM_TEST_CHECK_H
#define IVSHM_TEST_CHECK_H

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* @expr must fail (return -1 / NULL-as-long) with errno @err. */
#define EXPECT_ERR(expr, err)                                              \
	do {                                                               \
		long _r;                                                   \
		int _e;                                                    \
		errno = 0;                                                 \
		_r = (long)(expr);                                         \
		_e = errno;                                                \
		if (!(_r == -1 && _e == (err)))                            \
			fprintf(stderr, "\n  %s:%d: %s: got %ld errno %d " \
				"(%s), want -1 errno %s\n", __FILE__,      \
				__LINE__, #expr, _r, _e, strerror(_e),     \
				#err);                                     \
		CU_ASSERT(_r == -1 && _e == (err));                        \
	} while (0)

/* @expr must succeed (return >= 0). */
#define EXPECT_OK(expr)                                                    \
	do {                                                               \
		long _r;                                                   \
		int _e;                                                    \
		errno = 0;                                                 \
		_r = (long)(expr);                                         \
		_e = errno;                                                \
		if (_r < 0)                                                \
			fprintf(stderr, "\n  %s:%d: %s: failed, errno %d " \
				"(%s)\n", __FILE__, __LINE__, #expr, _e,   \
				strerror(_e));                             \
		CU_ASSERT(_r >= 0);                                        \
	} while (0)

#define EXPECT_OK_FATAL(expr)                                              \
	do {                                                               \
		long _r;                                                   \
		int _e;                                                    \
		errno = 0;                                                 \
		_r = (long)(expr);                                         \
		_e = errno;                                                \
		if (_r < 0)                                                \
			fprintf(stderr, "\n  %s:%d: %s: failed, errno %d " \
				"(%s)\n", __FILE__, __LINE__, #expr, _e,   \
				strerror(_e));                             \
		CU_ASSERT_FATAL(_r >= 0);                                  \
	} while (0)

/* Integers, printed on failure. */
#define EXPECT_EQ(a, b)                                                    \
	do {                                                               \
		long long _a = (long long)(a), _b = (long long)(b);        \
		if (_a != _b)                                              \
			fprintf(stderr, "\n  %s:%d: %s == %s: %lld != "    \
				"%lld (0x%llx != 0x%llx)\n", __FILE__,     \
				__LINE__, #a, #b, _a, _b,                  \
				(unsigned long long)_a,                    \
				(unsigned long long)_b);                   \
		CU_ASSERT(_a == _b);                                       \
	} while (0)

#define EXPECT_TRUE(cond, ...)                                             \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "\n  %s:%d: %s: ", __FILE__,       \
				__LINE__, #cond);                          \
			fprintf(stderr, __VA_ARGS__);                      \
			fprintf(stderr, "\n");                             \
		}                                                          \
		CU_ASSERT(cond);                                           \
	} while (0)

/* Timespec comparisons. */
static inline int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

#endif
