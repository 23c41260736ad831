/* SPDX-License-Identifier: MIT */
/*
 * A small client of QEMU's qtest protocol: start qemu-system-x86_64 with no
 * guest OS (-S, CPUs never run) and poke its I/O ports, memory and devices
 * through text commands on a UNIX socket ("readl 0x1000" -> "OK 0x...").
 * We listen and QEMU connects (-qtest unix:PATH), so there is no window in
 * which its socket exists but does not accept yet.
 *
 * Errors stick: after the first failed command (FAIL reply, QEMU gone,
 * timeout) every call fails fast and value getters return all-ones, so a
 * test can do many accesses and check qtest_ok() once.
 */
#ifndef QT_QTEST_CLIENT_H
#define QT_QTEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct qtest;

struct qtest_opts {
	const char *const *args;    /* extra QEMU arguments, NULL-ended */
	const char *const *wrapper; /* run QEMU under this, e.g. valgrind */
	int timeout_ms;		    /* start-up, per reply (default 10 s) */
};

/* Start a q35 machine, stopped, under qtest; NULL after printing why. */
struct qtest *qtest_start(const struct qtest_opts *o);

/* SIGTERM, then SIGKILL after @timeout_ms; returns the wait status. */
int qtest_quit(struct qtest *q, int timeout_ms);
/* SIGKILL now: an abrupt death. */
void qtest_kill(struct qtest *q);

pid_t qtest_pid(const struct qtest *q);
bool qtest_ok(const struct qtest *q);
/* IRQ lines QEMU sent between replies (only with irq_intercept_*). */
unsigned int qtest_irq_lines(const struct qtest *q);

/*
 * Send one command and return the text after "OK" (valid until the next
 * command), or NULL on FAIL, EOF or timeout.
 */
const char *qtest_cmd(struct qtest *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void qtest_outl(struct qtest *q, uint16_t port, uint32_t v);
void qtest_outw(struct qtest *q, uint16_t port, uint16_t v);
uint32_t qtest_inl(struct qtest *q, uint16_t port);
uint16_t qtest_inw(struct qtest *q, uint16_t port);

uint32_t qtest_readl(struct qtest *q, uint64_t addr);
uint64_t qtest_readq(struct qtest *q, uint64_t addr);
void qtest_writel(struct qtest *q, uint64_t addr, uint32_t v);
void qtest_writeq(struct qtest *q, uint64_t addr, uint64_t v);

/* Bulk guest-physical memory access ("read"/"write"); 0 or -1. */
int qtest_memread(struct qtest *q, uint64_t addr, void *buf, size_t len);
int qtest_memwrite(struct qtest *q, uint64_t addr, const void *buf,
		   size_t len);

#endif
