// SPDX-License-Identifier: MIT
#include "units.h"

static int suffix_shift(const char *s, unsigned int *shift)
{
	static const char units[] = "KMGT";
	const char *u;

	if (!*s) {
		*shift = 0;
		return 0;
	}
	if (*s == 'b' || *s == 'B') {
		*shift = 0;
		return s[1] ? -EINVAL : 0;
	}
	for (u = units; *u; u++)
		if (*s == *u || *s == *u + ('a' - 'A'))
			break;
	if (!*u)
		return -EINVAL;
	*shift = 10 * (unsigned int)(u - units + 1);
	s++;
	if (!*s || ((s[0] == 'B' || s[0] == 'b') && !s[1]))
		return 0;
	if (s[0] == 'i' && (s[1] == 'B' || s[1] == 'b') && !s[2])
		return 0;
	return -EINVAL;
}

int ivshm_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift;
	int digits = 0;

	if (!s)
		return -EINVAL;
	while (*s == ' ')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (!digits || suffix_shift(s, &shift))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

char *ivshm_format_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	unsigned int i = 0;
	uint64_t whole = n, rem = 0;

	while (whole >= 1024 && i < 6) {
		rem = whole % 1024;
		whole /= 1024;
		i++;
	}
	if (!len)
		return buf;
	/* One decimal, truncated, and only when it says something. */
	if (i && rem * 10 / 1024)
		snprintf(buf, len, "%llu.%llu %s", (unsigned long long)whole,
			 (unsigned long long)(rem * 10 / 1024), units[i]);
	else
		snprintf(buf, len, "%llu %s", (unsigned long long)whole,
			 units[i]);
	return buf;
}

char *ivshm_format_size_flag(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i = -1;

	while (n && !(n & 1023) && i < 3) {
		n >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)n);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)n, units[i]);
	return buf;
}
