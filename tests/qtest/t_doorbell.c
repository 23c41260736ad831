// SPDX-License-Identifier: MIT
/*
 * Doorbells both ways between QEMU's ivshmem-doorbell and our device model:
 * a QEMU's BAR0 doorbell write wakes exactly that vector of the device
 * model, and the device model's ring arrives in a QEMU as exactly that
 * MSI-X message (or as a PBA bit while the vector is masked).
 */
#include <CUnit/CUnit.h>
#include <errno.h>

#include "fixture.h"
#include "suites.h"

#define NVEC 2

static void start_world(struct fx_qemu **q1, struct fx_qemu **q2)
{
	CU_ASSERT_FATAL(!fx_server_start("4M", NVEC));
	CU_ASSERT_FATAL(!fx_dm_open(NVEC));
	CU_ASSERT_EQUAL_FATAL(fx.dm->vectors, NVEC);
	*q1 = fx_qemu_start(NVEC, NULL, 0);
	CU_ASSERT_FATAL(*q1 != NULL);
	*q2 = fx_qemu_start(NVEC, NULL, 0);
	CU_ASSERT_FATAL(*q2 != NULL);
	CU_ASSERT_EQUAL((*q1)->pci.vectors, NVEC);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_JOINED, (unsigned)(*q2)->id,
				 FX_TIMEOUT_MS));
}

static void test_qemu_rings_dm(void)
{
	struct fx_qemu *q[2];

	start_world(&q[0], &q[1]);
	for (int i = 0; i < 2; i++)
		for (unsigned int v = 0; v < NVEC; v++) {
			fx.fired = 0;
			CU_ASSERT_TRUE(fx_ring_dm(q[i], v, FX_TIMEOUT_MS));
			/* Only that vector: the other one stays quiet. */
			fx_dm_pump(50);
			CU_ASSERT_EQUAL(fx.fired & ~(1ull << v), 0);
		}

	/* Unknown peer or vector: QEMU drops it, nothing wakes us. */
	fx.fired = 0;
	ivpci_doorbell(&q[0]->pci, 9, 0);
	ivpci_doorbell(&q[0]->pci, (unsigned int)fx.dm->id, NVEC + 3);
	fx_dm_pump(200);
	CU_ASSERT_EQUAL(fx.fired, 0);
	CU_ASSERT_TRUE(qtest_ok(q[0]->q));
	CU_ASSERT_TRUE(qtest_ok(q[1]->q));
}

static void test_dm_rings_qemu(void)
{
	struct fx_qemu *q[2];

	start_world(&q[0], &q[1]);
	for (int i = 0; i < 2; i++)
		for (unsigned int v = 0; v < NVEC; v++) {
			CU_ASSERT_TRUE(fx_ring_qemu(NULL, q[i], v,
						    FX_TIMEOUT_MS));
			/* No other vector, no other QEMU got a message. */
			for (int j = 0; j < 2; j++)
				for (unsigned int w = 0; w < NVEC; w++)
					CU_ASSERT_EQUAL(ivpci_msi_word(
						&q[j]->pci, w), 0);
		}
	CU_ASSERT_EQUAL(ivshm_ring(fx.dm, 9, 0), -ENOENT);
	CU_ASSERT_TRUE(qtest_ok(q[0]->q));
	CU_ASSERT_TRUE(qtest_ok(q[1]->q));
}

/* Poll the PBA bit of @v until it equals @want. */
static bool pending_becomes(struct fx_qemu *qm, unsigned int v, bool want)
{
	for (int i = 0; i < 1000; i++) {
		if (ivpci_msix_pending(&qm->pci, v) == want)
			return true;
		fx_dm_pump(2);
	}
	return false;
}

static void test_masked_vector_pends(void)
{
	struct fx_qemu *q1, *q2;

	start_world(&q1, &q2);
	/* Known to work unmasked first, so a loss below is the mask's. */
	CU_ASSERT_TRUE_FATAL(fx_ring_qemu(NULL, q1, 1, FX_TIMEOUT_MS));
	CU_ASSERT_FALSE(ivpci_msix_pending(&q1->pci, 1));

	ivpci_msix_mask(&q1->pci, 1, true);
	CU_ASSERT_EQUAL(ivshm_ring(fx.dm, (unsigned int)q1->id, 1), 0);
	CU_ASSERT_TRUE(pending_becomes(q1, 1, true));
	CU_ASSERT_EQUAL(ivpci_msi_word(&q1->pci, 1), 0);
	CU_ASSERT_FALSE(ivpci_msix_pending(&q1->pci, 0));

	/* Unmasking delivers the pending message and clears the bit. */
	ivpci_msix_mask(&q1->pci, 1, false);
	CU_ASSERT_EQUAL(ivpci_msi_word(&q1->pci, 1), q1->magic | 1);
	CU_ASSERT_TRUE(pending_becomes(q1, 1, false));
	CU_ASSERT_EQUAL(ivpci_msi_word(&q1->pci, 0), 0);
	CU_ASSERT_TRUE(qtest_ok(q1->q));
}

static const struct qt_test doorbell_tests[] = {
	{ "QEMU doorbell wakes the device model's vector",
	  test_qemu_rings_dm },
	{ NULL, NULL },
};

static const struct qt_test msix_tests[] = {
	{ "device model ring arrives as MSI-X", test_dm_rings_qemu },
	{ "masked vector sets its PBA bit", test_masked_vector_pends },
	{ NULL, NULL },
};

const struct qt_suite qt_suite_doorbell = { "doorbell", doorbell_tests,
					    NULL };
const struct qt_suite qt_suite_msix = { "msix", msix_tests, NULL };
