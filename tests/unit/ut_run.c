// SPDX-License-Identifier: MIT
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "ut_run.h"

/* Interrupted (Ctrl-C, a timeout's SIGTERM): still leave nothing behind. */
static void on_signal(int sig)
{
	ut_cleanup_names();
	_exit(128 + sig);
}

int ut_run(const char *suite, const struct ut_test *tests, int argc,
	   char **argv)
{
	unsigned int failures, failed_tests;
	CU_pSuite s;

	/* Tests close sockets under the server's feet: EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite_with_setup_and_teardown(suite, NULL, NULL, NULL,
						 ut_teardown);
	if (!s)
		goto fail;
	for (const struct ut_test *t = tests; t->name; t++)
		if ((argc < 2 || strstr(t->name, argv[1])) &&
		    !CU_add_test(s, t->name, t->fn))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures();
	failed_tests = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	ut_teardown();
	if (failures)
		fprintf(stderr, "%s: %u assertion(s) failed in %u test(s)\n",
			suite, failures, failed_tests);
	return failures ? 1 : 0;
fail:
	fprintf(stderr, "%s: CUnit error: %s\n", suite, CU_get_error_msg());
	CU_cleanup_registry();
	ut_teardown();
	return 2;
}
