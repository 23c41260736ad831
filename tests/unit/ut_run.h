/* SPDX-License-Identifier: MIT */
/* One CUnit suite per executable, with an exit status CTest can read. */
#ifndef IVSHM_UT_RUN_H
#define IVSHM_UT_RUN_H

#include <CUnit/CUnit.h>

struct ut_test {
	const char *name;
	CU_TestFunc fn;
};

/*
 * Run @tests (NULL-terminated) as suite @suite, each followed by the
 * shared teardown. An argument selects the tests whose name contains it.
 * Returns the process exit status: 0 only if every assertion held.
 */
int ut_run(const char *suite, const struct ut_test *tests, int argc,
	   char **argv);

#endif
