/* SPDX-License-Identifier: MIT */
/* Sizes as people write them ("4M", "1G") and as we print them. */
#ifndef IVSHM_UNITS_H
#define IVSHM_UNITS_H

#include "platform.h"

/*
 * Parse a decimal size with an optional binary suffix K, M, G, T (case
 * insensitive, an optional trailing "iB" or "B" allowed): "4M" = 4 MiB.
 * Returns 0, or -EINVAL for anything else (empty, junk, overflow).
 */
int ivshm_parse_size(const char *s, uint64_t *out);

/* "4 MiB", "1.5 GiB", "512 B": at most @len bytes into @buf, returns @buf. */
char *ivshm_format_size(uint64_t n, char *buf, size_t len);

/* The same size as a flag value ("4M", "1G", "4097"), exact. */
char *ivshm_format_size_flag(uint64_t n, char *buf, size_t len);

static inline bool ivshm_is_pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

/* The smallest power of two >= n, or 0 when there is none (n > 2^63). */
static inline uint64_t ivshm_pow2_ceil(uint64_t n)
{
	uint64_t p = 1;

	if (n > (1ull << 63))
		return 0;
	while (p < n)
		p <<= 1;
	return p;
}

#endif
