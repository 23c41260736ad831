// SPDX-License-Identifier: MIT
/*
 * qtest_ivshm [SUITE]...: run the named suites (default: all) against real
 * QEMU processes. Exit 0 when all pass, 1 on a failure, 77 (CTest's skip
 * code) when every suite asked for is unavailable here.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "proc.h"
#include "suites.h"

static const struct qt_suite *const all[] = {
	&qt_suite_ids, &qt_suite_bytes, &qt_suite_doorbell, &qt_suite_msix,
	&qt_suite_leave, &qt_suite_big, &qt_suite_valgrind,
};

#define NSUITES (sizeof(all) / sizeof(all[0]))

static const struct qt_suite *find(const char *name)
{
	for (size_t i = 0; i < NSUITES; i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

/* 1 added, 0 unavailable here, -1 on a CUnit error. */
static int add(const struct qt_suite *s)
{
	CU_pSuite cs;

	if (s->available && !s->available()) {
		printf("suite %s: not available here, skipped\n", s->name);
		return 0;
	}
	/* Per-test setup/teardown: teardown also runs after FATAL asserts. */
	cs = CU_add_suite_with_setup_and_teardown(s->name, NULL, NULL,
						  fx_setup, fx_teardown);
	if (!cs)
		return -1;
	for (const struct qt_test *t = s->tests; t->name; t++)
		if (!CU_add_test(cs, t->name, t->fn))
			return -1;
	return 1;
}

int main(int argc, char **argv)
{
	unsigned int added = 0, failures;
	int rc = 0;

	proc_sweep_stale();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	for (size_t i = 0; argc == 1 && i < NSUITES && rc >= 0; i++) {
		rc = add(all[i]);
		added += rc > 0;
	}
	for (int i = 1; i < argc && rc >= 0; i++) {
		const struct qt_suite *s = find(argv[i]);

		if (!s) {
			fprintf(stderr, "no suite '%s'\n", argv[i]);
			CU_cleanup_registry();
			return 1;
		}
		rc = add(s);
		added += rc > 0;
	}
	if (rc < 0) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 1;
	}
	if (!added) {
		CU_cleanup_registry();
		return 77;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() +
		   CU_get_number_of_tests_failed() +
		   CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
