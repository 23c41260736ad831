// SPDX-License-Identifier: MIT
/*
 * QEMU itself under valgrind through a peer leaving and a new one joining.
 * QEMU 7.2 frees a departed peer's eventfd array but keeps the pointer, so a
 * server that reused the id would make it write into freed memory; valgrind
 * turns that into exit status 99.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#ifndef VALGRIND_BIN
#define VALGRIND_BIN ""
#endif

#define VG_ERROR 99
#define VG_TIMEOUT_MS 60000

static bool have_valgrind(void)
{
	return VALGRIND_BIN[0] && !access(VALGRIND_BIN, X_OK);
}

static void test_churn_under_valgrind(void)
{
	const char *const vg[] = { VALGRIND_BIN, "-q",
				   "--error-exitcode=99", NULL };
	struct fx_qemu *v, *x, *y;
	int x_id, st;

	CU_ASSERT_FATAL(!fx_server_start("4M", 1));
	CU_ASSERT_FATAL(!fx_dm_open(1));
	v = fx_qemu_start(1, vg, VG_TIMEOUT_MS);
	CU_ASSERT_FATAL(v != NULL);
	x = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(x != NULL);
	x_id = x->id;
	/* V has taken X's eventfds once it can ring X. */
	CU_ASSERT_TRUE(fx_ring_qemu(v, x, 0, VG_TIMEOUT_MS));

	fx_qemu_kill(x);
	CU_ASSERT_TRUE(fx_dm_saw(IVSHM_PEER_LEFT, (unsigned)x_id,
				 FX_TIMEOUT_MS));
	y = fx_qemu_start(1, NULL, 0);
	CU_ASSERT_FATAL(y != NULL);
	CU_ASSERT_NOT_EQUAL(y->id, x_id);
	/* Messages are in order: ringing Y means V saw X leave first. */
	CU_ASSERT_TRUE(fx_ring_qemu(v, y, 0, VG_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(y, v, 0, VG_TIMEOUT_MS));
	CU_ASSERT_TRUE(fx_ring_qemu(NULL, v, 0, VG_TIMEOUT_MS));

	st = fx_qemu_quit(v, VG_TIMEOUT_MS);
	CU_ASSERT_TRUE(WIFEXITED(st));
	CU_ASSERT_NOT_EQUAL(WEXITSTATUS(st), VG_ERROR);
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

static const struct qt_test valgrind_tests[] = {
	{ "QEMU under valgrind: leave and join, no invalid access",
	  test_churn_under_valgrind },
	{ NULL, NULL },
};

const struct qt_suite qt_suite_valgrind = { "valgrind", valgrind_tests,
					    have_valgrind };
