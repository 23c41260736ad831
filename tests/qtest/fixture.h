/* SPDX-License-Identifier: MIT */
/*
 * The world one qtest test runs in: a real ivshm-server child process, our
 * device model joined to it in this process, and QEMUs (no guest OS) whose
 * ivshmem-doorbell devices are set up by ivpci. fx_teardown() is the CUnit
 * per-test cleanup, so it runs even after a fatal assertion.
 */
#ifndef QT_FIXTURE_H
#define QT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"
#include "ivpci.h"
#include "qtest_client.h"

#define FX_MAX_QEMU 8
#define FX_MAX_EVENTS 64
#define FX_TIMEOUT_MS 5000	/* for anything that should be quick */

struct fx_qemu {
	struct qtest *q;
	struct ivpci pci;
	int id;			/* IVPosition */
	uint32_t magic;		/* MSI data of vector v is magic | v */
};

struct fx_event {
	enum ivshm_peer_event ev;
	unsigned int id;
};

struct fx {
	pid_t server;
	char sock[108];
	char shm[64];		/* POSIX shm name of the region */
	char shm_path[128];
	struct ivshm_device *dm;
	uint64_t fired;		/* own vectors that fired, not yet taken */
	unsigned int nev;	/* membership news the device model got */
	struct fx_event ev[FX_MAX_EVENTS];
	struct fx_qemu qemu[FX_MAX_QEMU];
};

extern struct fx fx;

void fx_setup(void);
void fx_teardown(void);

/* ivshm-server -l @size -n @vectors, listening when this returns 0. */
int fx_server_start(const char *size, unsigned int vectors);
bool fx_server_alive(void);
/*
 * Join the device model as a peer (0, or -errno), returning once all
 * @vectors own vectors arrived: the protocol never says how many will come.
 */
int fx_dm_open(unsigned int vectors);

/* Start a QEMU on the server; @wrapper (or NULL) runs it, e.g. valgrind. */
struct fx_qemu *fx_qemu_start(unsigned int vectors,
			      const char *const *wrapper, int timeout_ms);
void fx_qemu_kill(struct fx_qemu *qm);
/* SIGTERM and wait: the wait status, -1 if it had to be killed. */
int fx_qemu_quit(struct fx_qemu *qm, int timeout_ms);

/* Run the device model for @ms, collecting vectors and membership news. */
void fx_dm_pump(int ms);
/* Wait until the device model got news @ev about peer @id. */
bool fx_dm_saw(enum ivshm_peer_event ev, unsigned int id, int timeout_ms);
/* Wait until own vector @v fired, and take it out of fx.fired. */
bool fx_dm_take(unsigned int v, int timeout_ms);

/*
 * Doorbells are hints that a peer not yet fully set up may drop, so these
 * ring again until the target shows it (the device model's vector, or the
 * MSI-X RAM word of QEMU @to, which is then cleared). @from NULL means the
 * device model rings.
 */
bool fx_ring_dm(struct fx_qemu *from, unsigned int v, int timeout_ms);
bool fx_ring_qemu(struct fx_qemu *from, struct fx_qemu *to, unsigned int v,
		  int timeout_ms);

/* Fill @buf with bytes that depend on @seed and on their position. */
void fx_pattern(void *buf, size_t len, uint32_t seed);

#endif
