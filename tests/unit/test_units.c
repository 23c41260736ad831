// SPDX-License-Identifier: MIT
/* Sizes as users type them (-l 4M) and as we print them back. */
#include <string.h>

#include "units.h"
#include "ut_run.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

static bool parses_to(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;

	if (ivshm_parse_size(s, &v)) {
		fprintf(stderr, "  '%s' rejected\n", s);
		return false;
	}
	if (v != want)
		fprintf(stderr, "  '%s' -> %llu, want %llu\n", s,
			(unsigned long long)v, (unsigned long long)want);
	return v == want;
}

/* Rejected with -EINVAL and the output left alone. */
static bool rejects(const char *s)
{
	uint64_t v = 42;
	int rc = ivshm_parse_size(s, &v);

	if (rc != -EINVAL || v != 42)
		fprintf(stderr, "  '%s' accepted (rc %d, %llu)\n",
			s ? s : "NULL", rc, (unsigned long long)v);
	return rc == -EINVAL && v == 42;
}

static void test_parse_plain(void)
{
	CU_ASSERT_TRUE(parses_to("0", 0));
	CU_ASSERT_TRUE(parses_to("1", 1));
	CU_ASSERT_TRUE(parses_to("4096", 4096));
	CU_ASSERT_TRUE(parses_to("007", 7));
	CU_ASSERT_TRUE(parses_to("4194304", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("1844674407370955160",
				 1844674407370955160ull));
}

static void test_parse_suffixes(void)
{
	CU_ASSERT_TRUE(parses_to("4K", 4 * KIB));
	CU_ASSERT_TRUE(parses_to("4M", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("2G", 2 * GIB));
	CU_ASSERT_TRUE(parses_to("3T", 3 * TIB));
	CU_ASSERT_TRUE(parses_to("0M", 0));
	CU_ASSERT_TRUE(parses_to("16777215T", 16777215ull * TIB));
}

static void test_parse_long_forms(void)
{
	CU_ASSERT_TRUE(parses_to("64KiB", 64 * KIB));
	CU_ASSERT_TRUE(parses_to("4MiB", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("1GiB", GIB));
	CU_ASSERT_TRUE(parses_to("1TiB", TIB));
	CU_ASSERT_TRUE(parses_to("4MB", 4 * MIB)); /* binary, like qemu */
	CU_ASSERT_TRUE(parses_to("4KB", 4 * KIB));
	CU_ASSERT_TRUE(parses_to("512B", 512));
	CU_ASSERT_TRUE(parses_to("512b", 512));
}

static void test_parse_lowercase(void)
{
	CU_ASSERT_TRUE(parses_to("4k", 4 * KIB));
	CU_ASSERT_TRUE(parses_to("4m", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("1g", GIB));
	CU_ASSERT_TRUE(parses_to("1t", TIB));
	CU_ASSERT_TRUE(parses_to("4mib", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("4mb", 4 * MIB));
	CU_ASSERT_TRUE(parses_to("4kB", 4 * KIB));
}

static void test_parse_rejects(void)
{
	CU_ASSERT_TRUE(rejects(NULL));
	CU_ASSERT_TRUE(rejects(""));
	CU_ASSERT_TRUE(rejects(" "));
	CU_ASSERT_TRUE(rejects("M"));
	CU_ASSERT_TRUE(rejects("4X"));
	CU_ASSERT_TRUE(rejects("4P")); /* beyond T is not offered */
	CU_ASSERT_TRUE(rejects("-1"));
	CU_ASSERT_TRUE(rejects("+1"));
	CU_ASSERT_TRUE(rejects("1.5M"));
	CU_ASSERT_TRUE(rejects("0x1000"));
	CU_ASSERT_TRUE(rejects("4 M"));
	CU_ASSERT_TRUE(rejects("4M "));
	CU_ASSERT_TRUE(rejects("4Mi"));
	CU_ASSERT_TRUE(rejects("4iB"));
	CU_ASSERT_TRUE(rejects("4MiBs"));
	CU_ASSERT_TRUE(rejects("4BB"));
	CU_ASSERT_TRUE(rejects("4MM"));
}

static void test_parse_overflow(void)
{
	CU_ASSERT_TRUE(rejects("99999999999999999999"));
	CU_ASSERT_TRUE(rejects("18446744073709551616")); /* 2^64 */
	CU_ASSERT_TRUE(rejects("17179869184T"));	  /* 2^74 */
	CU_ASSERT_TRUE(rejects("16777216T"));		  /* 2^64 */
	CU_ASSERT_TRUE(rejects("17179869184G"));	  /* 2^64 */
	CU_ASSERT_TRUE(rejects("18014398509481984K"));	  /* 2^64 */
}

/*
 * The largest values that fit must still parse: the overflow guard may not
 * be stricter than the arithmetic.
 */
static void test_parse_max(void)
{
	CU_ASSERT_TRUE(parses_to("18446744073709551615", UINT64_MAX));
	CU_ASSERT_TRUE(parses_to("18446744073709551610", UINT64_MAX - 5));
	CU_ASSERT_TRUE(parses_to("18014398509481983K", UINT64_MAX - 1023));
}

static bool formats(uint64_t n, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	if (ivshm_format_size(n, buf, sizeof(buf)) != buf)
		return false;
	if (strcmp(buf, want))
		fprintf(stderr, "  %llu -> '%s', want '%s'\n",
			(unsigned long long)n, buf, want);
	return !strcmp(buf, want);
}

static void test_format_size(void)
{
	char small[4];

	CU_ASSERT_TRUE(formats(0, "0 B"));
	CU_ASSERT_TRUE(formats(512, "512 B"));
	CU_ASSERT_TRUE(formats(1023, "1023 B"));
	CU_ASSERT_TRUE(formats(KIB, "1 KiB"));
	CU_ASSERT_TRUE(formats(1025, "1 KiB")); /* the decimal says nothing */
	CU_ASSERT_TRUE(formats(1536, "1.5 KiB"));
	CU_ASSERT_TRUE(formats(4 * MIB, "4 MiB"));
	CU_ASSERT_TRUE(formats(3 * MIB, "3 MiB"));
	CU_ASSERT_TRUE(formats(GIB + GIB / 2, "1.5 GiB"));
	CU_ASSERT_TRUE(formats(2 * GIB - 1, "1.9 GiB")); /* truncated */
	CU_ASSERT_TRUE(formats(TIB, "1 TiB"));
	CU_ASSERT_TRUE(formats(1024 * TIB, "1 PiB"));
	CU_ASSERT_TRUE(formats(1ull << 63, "8 EiB"));
	CU_ASSERT_TRUE(formats(UINT64_MAX, "15.9 EiB"));
	/* Truncated to the buffer, always terminated. */
	ivshm_format_size(4 * MIB, small, sizeof(small));
	CU_ASSERT_STRING_EQUAL(small, "4 M");
	small[0] = 'q';
	ivshm_format_size(4 * MIB, small, 0);
	CU_ASSERT_EQUAL(small[0], 'q');
}

static bool flag_is(uint64_t n, const char *want)
{
	char buf[32];
	uint64_t back = 0;

	ivshm_format_size_flag(n, buf, sizeof(buf));
	if (strcmp(buf, want)) {
		fprintf(stderr, "  flag %llu -> '%s', want '%s'\n",
			(unsigned long long)n, buf, want);
		return false;
	}
	/* A flag value must read back as the exact same size. */
	return !ivshm_parse_size(buf, &back) && back == n;
}

static void test_format_flag(void)
{
	CU_ASSERT_TRUE(flag_is(0, "0"));
	CU_ASSERT_TRUE(flag_is(1, "1"));
	CU_ASSERT_TRUE(flag_is(4097, "4097"));
	CU_ASSERT_TRUE(flag_is(1536, "1536"));
	CU_ASSERT_TRUE(flag_is(4 * KIB, "4K"));
	CU_ASSERT_TRUE(flag_is(4 * MIB, "4M"));
	CU_ASSERT_TRUE(flag_is(3 * MIB, "3M"));
	CU_ASSERT_TRUE(flag_is(MIB + KIB, "1025K"));
	CU_ASSERT_TRUE(flag_is(GIB, "1G"));
	CU_ASSERT_TRUE(flag_is(2 * GIB, "2G"));
	CU_ASSERT_TRUE(flag_is(TIB, "1T"));
	CU_ASSERT_TRUE(flag_is(1024 * TIB, "1024T"));
	CU_ASSERT_TRUE(flag_is(1ull << 63, "8388608T"));
}

static void test_pow2(void)
{
	CU_ASSERT_FALSE(ivshm_is_pow2(0));
	CU_ASSERT_TRUE(ivshm_is_pow2(1));
	CU_ASSERT_TRUE(ivshm_is_pow2(2));
	CU_ASSERT_FALSE(ivshm_is_pow2(3));
	CU_ASSERT_TRUE(ivshm_is_pow2(4096));
	CU_ASSERT_FALSE(ivshm_is_pow2(3 * MIB));
	CU_ASSERT_FALSE(ivshm_is_pow2(4 * MIB + 1));
	CU_ASSERT_TRUE(ivshm_is_pow2(1ull << 63));
	CU_ASSERT_FALSE(ivshm_is_pow2(UINT64_MAX));

	CU_ASSERT_EQUAL(ivshm_pow2_ceil(0), 1);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(1), 1);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(2), 2);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(3), 4);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(4097), 8192);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(3 * MIB), 4 * MIB);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(GIB + 1), 2 * GIB);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil((1ull << 62) + 1), 1ull << 63);
	CU_ASSERT_EQUAL(ivshm_pow2_ceil(1ull << 63), 1ull << 63);
}

int main(int argc, char **argv)
{
	static const struct ut_test tests[] = {
		{ "parse plain numbers", test_parse_plain },
		{ "parse K/M/G/T", test_parse_suffixes },
		{ "parse KiB/MB/B forms", test_parse_long_forms },
		{ "parse lowercase", test_parse_lowercase },
		{ "parse rejects junk", test_parse_rejects },
		{ "parse rejects overflow", test_parse_overflow },
		{ "parse accepts the largest values", test_parse_max },
		{ "format_size", test_format_size },
		{ "format_size_flag round-trips", test_format_flag },
		{ "is_pow2 and pow2_ceil", test_pow2 },
		{ NULL, NULL },
	};

	return ut_run("units", tests, argc, argv);
}
