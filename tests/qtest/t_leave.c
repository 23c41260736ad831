// SPDX-License-Identifier: MIT
/*
 * Departures: a QEMU that dies is announced to the others, its id is never
 * handed out again (QEMU 7.2 writes into freed memory when a departed id
 * comes back), and the survivors and newcomers still ring each other.
 */
#include <CUnit/CUnit.h>
#include <sys/wait.h>

#include "fixture.h"
#include "suites.h"

/* ivshm_peers() lists exactly the @n ids in @want, in any order. */
static bool peers_are(const int *want, unsigned int n)
{
	uint16_t ids[FX_MAX_QEMU];
	unsigned int got = ivshm_peers(fx.dm, ids, FX_MAX_QEMU);

	if (got != n)
		return false;
	for (unsigned int i = 0; i < n; i++) {
		bool found = false;

		for (unsigned int j = 0; j < n; j++)
			found |= ids[j] == want[i];
		if (!found)
			return false;
	}
	return true;
}

/* Everyone rings everyone once: device model and QEMUs @a and @b. */
static void ring_all(struct fx_qemu *a, struct fx_qemu *b)
{
	CU_ASSERT_TRUE(fx_ring_dm(a, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_dm(b, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(NULL, a, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(NULL, b, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(a, b, 0, FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(b, a, 0, FX_TIMEOUT_MS));
}

static void test_departure_and_new_id(void)
{
	struct fx_qemu *a, *b, *c, *d;
	int a_id, b_id, c_id, st;

	CU_ASSERT_FATAL(!fx_server_start("4M", 1));
	CU_ASSERT_FATAL(!fx_dm_open(1));
	a = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(a != NULL);
	b = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(b != NULL);
	a_id = a->id;
	b_id = b->id;
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_JOINED, (unsigned)b_id,
				 FX_TIMEOUT_MS));
	ring_all(a, b);

	/* An abrupt death: the server must notice and tell everyone. */
	fx_qemu_kill(b);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_LEFT, (unsigned)b_id,
				 FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(peers_are(&a_id, 1));
	/* A doorbell to the departed id is dropped; A lives on. */
	ivpci_doorbell(&a->pci, (unsigned int)b_id, 0);
	CU_ASSERT_EQUAL(ivpci_ivposition(&a->pci), a_id);

	c = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(c != NULL);
	c_id = c->id;
	/* Never a departed id; our server counts upward. */
	CU_ASSERT_NOT_EQUAL(c_id, b_id);
	CU_ASSERT_TRUE(c_id > b_id);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_JOINED, (unsigned)c_id,
				 FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(peers_are((int[]){ a_id, c_id }, 2));
	ring_all(a, c);

	/* A clean exit of a QEMU that saw churn, then one more newcomer. */
	st = fx_qemu_quit(a, 5000);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_LEFT, (unsigned)a_id,
				 FX_TIMEOUT_MS));
	d = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_TRUE(d->id > c_id);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_JOINED, (unsigned)d->id,
				 FX_TIMEOUT_MS));
	CU_ASSERT_TRUE(peers_are((int[]){ c_id, d->id }, 2));
	ring_all(c, d);
	CU_ASSERT_TRUE(fx_server_alive());
}

static const struct qt_test leave_tests[] = {
	{ "departure announced, ids never reused",
	  test_departure_and_new_id },
	{ NULL, NULL },
};

const struct qt_suite qt_suite_leave = { "leave", leave_tests, NULL };
