// SPDX-License-Identifier: MIT
/*
 * Identity and bytes: every QEMU's IVPosition is the id the server gave it
 * (as announced to the device model), and the region is one memory for the
 * device model and every QEMU's BAR2, in both directions.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define NQEMU 3

static int cmp_u16(const void *a, const void *b)
{
	return *(const uint16_t *)a - *(const uint16_t *)b;
}

static void test_ivposition_is_server_id(void)
{
	uint16_t ids[FX_MAX_QEMU];
	struct fx_qemu *qm[NQEMU];

	CU_ASSERT_FATAL(!fx_server_start("4M", 1));
	CU_ASSERT_FATAL(!fx_dm_open(1));
	CU_ASSERT_EQUAL(fx.dm->id, 0);
	CU_ASSERT_EQUAL(fx.dm->size, 4u << 20);
	for (int i = 0; i < NQEMU; i++) {
		qm[i] = fx_qemu_start(1, NULL, 0);
		CU_ASSERT_FATAL(qm[i] != NULL);
		/* The server announces each newcomer to the device model. */
		CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_JOINED, (unsigned)i + 1,
					 FX_TIMEOUT_MS));
		CU_ASSERT_EQUAL(qm[i]->id, i + 1);
		CU_ASSERT_EQUAL(qm[i]->pci.bar2_size, fx.dm->size);
		CU_ASSERT_EQUAL(qm[i]->pci.vectors, 1);
	}
	/* Exactly one announcement per QEMU, nothing else. */
	CU_ASSERT_EQUAL(fx.nev, NQEMU);
	for (unsigned int i = 0; i < fx.nev; i++) {
		CU_ASSERT_EQUAL(fx.ev[i].ev, IVSHM_PEER_JOINED);
		CU_ASSERT_EQUAL(fx.ev[i].id, i + 1);
	}
	CU_ASSERT_EQUAL_FATAL(ivshm_peers(fx.dm, ids, FX_MAX_QEMU), NQEMU);
	qsort(ids, NQEMU, sizeof(ids[0]), cmp_u16);
	for (int i = 0; i < NQEMU; i++) {
		CU_ASSERT_EQUAL(ids[i], i + 1);
		/* IVPosition is stable, not a one-off read. */
		CU_ASSERT_EQUAL(ivpci_ivposition(&qm[i]->pci), i + 1);
		CU_ASSERT_TRUE(qtest_ok(qm[i]->q));
	}
	CU_ASSERT_TRUE(fx_server_alive());
}

static void test_bytes_cross_bar2(void)
{
	static unsigned char a[8192], b[8192];
	unsigned char *region;
	struct fx_qemu *q1, *q2;
	uint64_t last, v;

	CU_ASSERT_FATAL(!fx_server_start("4M", 1));
	CU_ASSERT_FATAL(!fx_dm_open(1));
	q1 = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(q1 != NULL);
	q2 = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(q2 != NULL);
	region = fx.dm->region;
	last = fx.dm->size - 8;

	/* Device model -> both QEMUs. */
	fx_pattern(a, sizeof(a), 0x1234);
	memcpy(region + 0x10000, a, sizeof(a));
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(qtest_memread(q1->q, IVPCI_BAR2 + 0x10000, b,
				      sizeof(b)), 0);
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(qtest_memread(q2->q, IVPCI_BAR2 + 0x10000, b,
				      sizeof(b)), 0);
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);

	/* QEMU 1 -> device model and QEMU 2. */
	fx_pattern(a, 4096, 0xbeef);
	CU_ASSERT_EQUAL(qtest_memwrite(q1->q, IVPCI_BAR2 + 0x20000, a, 4096),
			0);
	CU_ASSERT_EQUAL(memcmp(region + 0x20000, a, 4096), 0);
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(qtest_memread(q2->q, IVPCI_BAR2 + 0x20000, b, 4096),
			0);
	CU_ASSERT_EQUAL(memcmp(a, b, 4096), 0);

	/* QEMU 2 -> the others, a 64-bit store at the very end. */
	qtest_writeq(q2->q, IVPCI_BAR2 + last, 0x0123456789abcdefull);
	memcpy(&v, region + last, sizeof(v));
	CU_ASSERT_EQUAL(v, 0x0123456789abcdefull);
	CU_ASSERT_EQUAL(qtest_readq(q1->q, IVPCI_BAR2 + last),
			0x0123456789abcdefull);

	/* And a 32-bit store from the device model at offset 0. */
	memcpy(region, "\x78\x56\x34\x12", 4);
	CU_ASSERT_EQUAL(qtest_readl(q1->q, IVPCI_BAR2), 0x12345678);
	CU_ASSERT_EQUAL(qtest_readl(q2->q, IVPCI_BAR2), 0x12345678);

	CU_ASSERT_TRUE(qtest_ok(q1->q));
	CU_ASSERT_TRUE(qtest_ok(q2->q));
}

static const struct qt_test ids_tests[] = {
	{ "IVPosition equals the server's id", test_ivposition_is_server_id },
	{ NULL, NULL },
};

static const struct qt_test bytes_tests[] = {
	{ "bytes cross BAR2 both ways", test_bytes_cross_bar2 },
	{ NULL, NULL },
};

const struct qt_suite qt_suite_ids = { "ids", ids_tests, NULL };
const struct qt_suite qt_suite_bytes = { "bytes", bytes_tests, NULL };
