/* SPDX-License-Identifier: MIT */
/* The CUnit suites of the qtest runner, one per t_*.c file section. */
#ifndef QT_SUITES_H
#define QT_SUITES_H

#include <CUnit/CUnit.h>
#include <stdbool.h>

struct qt_test {
	const char *name;
	CU_TestFunc fn;
};

struct qt_suite {
	const char *name;
	const struct qt_test *tests; /* ends with { NULL, NULL } */
	bool (*available)(void);     /* NULL: always; false: skipped */
};

extern const struct qt_suite qt_suite_ids, qt_suite_bytes,
	qt_suite_doorbell, qt_suite_msix, qt_suite_leave, qt_suite_big,
	qt_suite_valgrind;

#endif
