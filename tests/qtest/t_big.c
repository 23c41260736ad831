// SPDX-License-Identifier: MIT
/*
 * A region above 1 GiB (QEMU's contrib server cannot create one): QEMU
 * attaches, BAR sizing reports the full 2 GiB, and bytes near the top cross.
 * /dev/shm is sparse, so this costs a few pages.
 */
#include <CUnit/CUnit.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture.h"
#include "suites.h"

#define BIG (2ull << 30)

static void test_two_gib_region(void)
{
	static unsigned char a[4096], b[4096];
	unsigned char *region;
	struct fx_qemu *qm;
	struct stat st;

	CU_ASSERT_FATAL(!fx_server_start("2G", 1));
	CU_ASSERT_FATAL(!fx_dm_open(1));
	CU_ASSERT_EQUAL_FATAL(fx.dm->size, BIG);
	CU_ASSERT_EQUAL(stat(fx.shm_path, &st), 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, BIG);
	qm = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(qm != NULL);
	CU_ASSERT_EQUAL(qm->pci.bar2_size, BIG);
	region = fx.dm->region;

	/* Device model -> QEMU in the last page. */
	fx_pattern(a, sizeof(a), 77);
	memcpy(region + BIG - 4096, a, sizeof(a));
	CU_ASSERT_EQUAL(qtest_memread(qm->q, IVPCI_BAR2 + BIG - 4096, b,
				      sizeof(b)), 0);
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);

	/* QEMU -> device model, just past the 1 GiB mark and at the top. */
	fx_pattern(a, sizeof(a), 78);
	CU_ASSERT_EQUAL(qtest_memwrite(qm->q, IVPCI_BAR2 + (1ull << 30) + 4096,
				       a, sizeof(a)), 0);
	CU_ASSERT_EQUAL(memcmp(region + (1ull << 30) + 4096, a, sizeof(a)),
			0);
	qtest_writel(qm->q, IVPCI_BAR2 + BIG - 4, 0xfeedf00d);
	CU_ASSERT_EQUAL(memcmp(region + BIG - 4, "\x0d\xf0\xed\xfe", 4), 0);

	CU_ASSERT_TRUE(fx_ring_dm(qm, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(qtest_ok(qm->q));
}

static const struct qt_test big_tests[] = {
	{ "2 GiB region: BAR2 size and high bytes", test_two_gib_region },
	{ NULL, NULL },
};

const struct qt_suite qt_suite_big = { "big", big_tests, NULL };
