// SPDX-License-Identifier: MIT
/* Server child + in-process device model + QEMUs, torn down every test. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dev_user.h"
#include "fixture.h"
#include "proc.h"

#ifndef IVSHM_SERVER_BIN
#define IVSHM_SERVER_BIN "ivshm-server"
#endif

struct fx fx;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void fx_setup(void)
{
	memset(&fx, 0, sizeof(fx));
}

void fx_teardown(void)
{
	for (int i = 0; i < FX_MAX_QEMU; i++)
		if (fx.qemu[i].q)
			fx_qemu_kill(&fx.qemu[i]);
	ivshm_device_close(fx.dm);
	if (fx.server > 0) {
		kill(fx.server, SIGTERM);
		if (proc_wait(fx.server, 2000, NULL))
			proc_kill(fx.server);
	}
	/* The server never deletes a region: that is our job. */
	if (fx.sock[0])
		tmp_remove(fx.sock);
	if (fx.shm_path[0])
		tmp_remove(fx.shm_path);
	memset(&fx, 0, sizeof(fx));
}

static bool verbose(void)
{
	const char *v = getenv("IVSHM_QT_VERBOSE");

	return v && *v && strcmp(v, "0");
}

int fx_server_start(const char *size, unsigned int vectors)
{
	/* IVSHM_QT_SERVER: run these tests against another server. */
	const char *bin = getenv("IVSHM_QT_SERVER");
	char nvec[16];
	const char *argv[] = { bin && *bin ? bin : IVSHM_SERVER_BIN, "-F",
			       "-S", fx.sock, "-M", fx.shm, "-l", size,
			       "-n", nvec, verbose() ? "-v" : NULL, NULL };
	struct stat st;
	int64_t end;

	tmp_name(fx.sock, sizeof(fx.sock), "/tmp", "srv.sock");
	tmp_name(fx.shm, sizeof(fx.shm), NULL, "region");
	snprintf(fx.shm_path, sizeof(fx.shm_path), "/dev/shm/%s", fx.shm);
	tmp_register(fx.sock);
	tmp_register(fx.shm_path);
	snprintf(nvec, sizeof(nvec), "%u", vectors);
	fx.server = proc_spawn((char *const *)argv);
	if (fx.server <= 0)
		return -1;
	for (end = now_ms() + FX_TIMEOUT_MS; now_ms() < end; sleep_ms(5)) {
		if (!stat(fx.sock, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (!proc_alive(fx.server)) {
			fprintf(stderr, "fixture: ivshm-server exited\n");
			return -1;
		}
	}
	fprintf(stderr, "fixture: ivshm-server did not listen\n");
	return -1;
}

bool fx_server_alive(void)
{
	return fx.server > 0 && proc_alive(fx.server);
}

static void on_peer(void *arg, enum ivshm_peer_event ev, unsigned int id)
{
	(void)arg;
	if (fx.nev < FX_MAX_EVENTS)
		fx.ev[fx.nev++] = (struct fx_event){ ev, id };
}

int fx_dm_open(unsigned int vectors)
{
	struct ivshm_peer_opts o = { .timeout_ms = FX_TIMEOUT_MS,
				     .min_vectors = vectors,
				     .peer_cb = on_peer };
	int64_t end = now_ms() + 1000;
	int rc;

	/* The socket file exists a moment before listen(): retry that. */
	do {
		rc = ivshm_peer_open(fx.sock, &o, &fx.dm);
		if (rc == -ECONNREFUSED)
			sleep_ms(5);
	} while (rc == -ECONNREFUSED && now_ms() < end);
	return rc;
}

struct fx_qemu *fx_qemu_start(unsigned int vectors,
			      const char *const *wrapper, int timeout_ms)
{
	char chardev[160], device[96];
	const char *args[] = { "-chardev", chardev, "-device", device, NULL };
	struct qtest_opts o = { .args = args, .wrapper = wrapper,
				.timeout_ms = timeout_ms };
	struct fx_qemu *qm = NULL;
	int slot;

	for (slot = 0; slot < FX_MAX_QEMU && !qm; slot++)
		if (!fx.qemu[slot].q)
			qm = &fx.qemu[slot];
	if (!qm)
		return NULL;
	snprintf(chardev, sizeof(chardev), "socket,path=%s,id=iv", fx.sock);
	snprintf(device, sizeof(device),
		 "ivshmem-doorbell,chardev=iv,vectors=%u,addr=%02x.0", vectors,
		 IVPCI_SLOT);
	qm->q = qtest_start(&o);
	if (!qm->q)
		return NULL;
	/* Tell the QEMUs' MSI messages apart by slot. */
	qm->magic = 0x1b000000u | (uint32_t)(qm - fx.qemu) << 8;
	if (ivpci_setup(&qm->pci, qm->q, qm->magic)) {
		fx_qemu_kill(qm);
		return NULL;
	}
	qm->id = (int)ivpci_ivposition(&qm->pci);
	return qm;
}

void fx_qemu_kill(struct fx_qemu *qm)
{
	qtest_kill(qm->q);
	memset(qm, 0, sizeof(*qm));
}

int fx_qemu_quit(struct fx_qemu *qm, int timeout_ms)
{
	int st = qtest_quit(qm->q, timeout_ms);

	memset(qm, 0, sizeof(*qm));
	return st;
}

static void pump_once(int ms)
{
	int64_t r = ivshm_wait(fx.dm, ms);

	if (r > 0)
		fx.fired |= (uint64_t)r;
	else if (r < 0)
		sleep_ms(ms); /* an error is the test's to find; don't spin */
}

void fx_dm_pump(int ms)
{
	int64_t end = now_ms() + ms;

	for (int64_t left = ms; left > 0; left = end - now_ms())
		pump_once((int)left);
}

static bool saw(enum ivshm_peer_event ev, unsigned int id)
{
	for (unsigned int i = 0; i < fx.nev; i++)
		if (fx.ev[i].ev == ev && fx.ev[i].id == id)
			return true;
	return false;
}

bool fx_dm_saw(enum ivshm_peer_event ev, unsigned int id, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (!saw(ev, id) && now_ms() < end)
		pump_once(20);
	return saw(ev, id);
}

bool fx_dm_take(unsigned int v, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	uint64_t bit = 1ull << v;

	while (!(fx.fired & bit) && now_ms() < end)
		pump_once(20);
	if (!(fx.fired & bit))
		return false;
	fx.fired &= ~bit;
	return true;
}

bool fx_ring_dm(struct fx_qemu *from, unsigned int v, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	do {
		ivpci_doorbell(&from->pci, (unsigned int)fx.dm->id, v);
		if (fx_dm_take(v, 300))
			return true;
	} while (now_ms() < end && qtest_ok(from->q));
	return false;
}

/* Poll @to's MSI word of @v for up to @ms: 1 seen, 0 not yet, -1 wrong. */
static int wait_msi(struct fx_qemu *to, unsigned int v, int ms)
{
	int64_t end = now_ms() + ms;

	do {
		uint32_t w = ivpci_msi_word(&to->pci, v);

		if (w == (to->magic | v)) {
			ivpci_msi_clear(&to->pci, v);
			return 1;
		}
		if (w) {
			fprintf(stderr, "fixture: MSI word %u of QEMU %d is "
				"0x%x, want 0x%x\n", v, to->id, w,
				to->magic | v);
			return -1;
		}
		sleep_ms(2);
	} while (now_ms() < end && qtest_ok(to->q));
	return 0;
}

bool fx_ring_qemu(struct fx_qemu *from, struct fx_qemu *to, unsigned int v,
		  int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int rc;

	do {
		if (from)
			ivpci_doorbell(&from->pci, (unsigned int)to->id, v);
		else if (ivshm_ring(fx.dm, (unsigned int)to->id, v) == -ENOENT)
			fx_dm_pump(20); /* its join is still on the way */
		rc = wait_msi(to, v, 300);
	} while (!rc && now_ms() < end);
	return rc > 0;
}

void fx_pattern(void *buf, size_t len, uint32_t seed)
{
	unsigned char *p = buf;
	uint32_t x = seed ? seed : 1;

	for (size_t i = 0; i < len; i++) {
		/* xorshift32: no byte repeats at a short period */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}
