// SPDX-License-Identifier: MIT
/*
 * Coherence by doorbell, through a real ivshm-server and device-model
 * peers: a commit on A wakes B's vector 0 and B learns exactly what
 * changed; a burst of commits rings an idle peer once; with half of all
 * doorbells dropped, no change is missed by a peer that also polls.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "ivshm_server.h"

static struct ivshm_server *srv;
static pthread_t srv_thread;
static char sock[64], shm[64];

static void *serve(void *arg)
{
	ivshm_server_run(arg);
	return NULL;
}

static int setup(void)
{
	struct ivshm_server_config cfg;

	snprintf(sock, sizeof(sock), "/tmp/ivshm-coh-%d.sock", (int)getpid());
	snprintf(shm, sizeof(shm), "ivshm-coh-%d", (int)getpid());
	shm_unlink(shm);
	ivshm_server_config_init(&cfg);
	cfg.socket_path = sock;
	cfg.shm_name = shm;
	cfg.size = 4 << 20;
	cfg.size_given = true;
	cfg.foreground = true;
	srv = ivshm_server_start(&cfg);
	if (!srv || pthread_create(&srv_thread, NULL, serve, srv))
		return 1;
	return 0;
}

static int teardown(void)
{
	ivshm_server_stop(srv);
	pthread_join(srv_thread, NULL);
	ivshm_server_close(srv);
	shm_unlink(shm);
	return 0;
}

/* A device that forwards to another, counting rings and dropping some. */
struct lossy {
	struct ivshm_device dev;
	struct ivshm_device *inner;
	unsigned int seed, drop_pct, rings, dropped;
};

static int lossy_ring(struct ivshm_device *d, unsigned int peer,
		      unsigned int vector)
{
	struct lossy *l = (struct lossy *)d;

	l->rings++;
	if ((unsigned int)rand_r(&l->seed) % 100 < l->drop_pct) {
		l->dropped++;
		return 0;
	}
	return ivshm_ring(l->inner, peer, vector);
}

static int64_t lossy_wait(struct ivshm_device *d, int ms)
{
	return ivshm_wait(((struct lossy *)d)->inner, ms);
}

static unsigned int lossy_peers(struct ivshm_device *d, uint16_t *ids,
				unsigned int max)
{
	return ivshm_peers(((struct lossy *)d)->inner, ids, max);
}

static void lossy_close(struct ivshm_device *d)
{
	ivshm_device_close(((struct lossy *)d)->inner);
}

static const struct ivshm_device_ops lossy_ops = {
	lossy_ring, lossy_wait, lossy_peers, lossy_close,
};

static void lossy_init(struct lossy *l, unsigned int drop_pct)
{
	struct ivshm_peer_opts po = { .timeout_ms = 2000 };

	memset(l, 0, sizeof(*l));
	CU_ASSERT_FATAL(ivshm_peer_open(sock, &po, &l->inner) == 0);
	l->dev = *l->inner;
	l->dev.ops = &lossy_ops;
	l->drop_pct = drop_pct;
	l->seed = 11;
}

struct seen {
	uint64_t ino;
	uint64_t bytes;	/* DATA bytes of ino reported */
	unsigned int events;
	bool overflow;
};

static void on_change(void *arg, const struct ivshm_change *c, unsigned int n,
		      bool overflow)
{
	struct seen *s = arg;

	s->overflow |= overflow;
	for (unsigned int i = 0; i < n; i++) {
		s->events++;
		/* Writes, not the open range a size change also reports. */
		if (c[i].kind == IVSHM_CHG_DATA && c[i].ino == s->ino &&
		    c[i].len < (1u << 20))
			s->bytes += c[i].len;
	}
}

static void run(unsigned int drop_pct, int writes)
{
	struct ivshm_fs_opts oa = { .attach = { .name = "A",
						.format_if_blank = true } };
	struct seen seen = { 0 };
	struct ivshm_fs_opts ob = { .attach = { .name = "B" },
				    .on_change = on_change,
				    .on_change_arg = &seen };
	struct lossy la, lb;
	struct ivshm_fs *A, *B;
	struct ivshm_attr at;
	int woken = 0;

	lossy_init(&la, drop_pct);
	lossy_init(&lb, 0);
	CU_ASSERT_FATAL(ivshm_fs_open(&la.dev, &oa, &A) == 0);
	CU_ASSERT_FATAL(ivshm_fs_open(&lb.dev, &ob, &B) == 0);
	CU_ASSERT_FATAL(ivshm_fs_mknod(A, 1, drop_pct ? "lossy" : "f",
				       IVSHM_S_IFREG | 0644, 0, 0, 0, &at) == 0);
	seen.ino = at.ino;
	CU_ASSERT(ivshm_fs_refresh(B) == 0);
	for (int i = 0; i < writes; i++) {
		int64_t m;

		CU_ASSERT(ivshm_fs_write(A, at.ino, (uint64_t)i * 100, "0123456789",
					 10, NULL) == 10);
		/* B: woken by the doorbell, or by its 20 ms poll. */
		m = ivshm_wait(&lb.dev, 20);
		woken += m > 0;
		CU_ASSERT(ivshm_fs_refresh(B) == 0);
		CU_ASSERT(seen.bytes == (uint64_t)(i + 1) * 10);
	}
	if (!drop_pct) {
		CU_ASSERT(woken == writes); /* every commit rang B at once */
	} else {
		CU_ASSERT(la.dropped > 0 && woken < writes);
	}
	CU_ASSERT(!seen.overflow);
	/* A burst while B is idle: one doorbell, not one per commit. */
	la.rings = 0;
	for (int i = 0; i < 100; i++)
		CU_ASSERT(ivshm_fs_write(A, at.ino, 0, "x", 1, NULL) == 1);
	CU_ASSERT(la.rings == 1);
	CU_ASSERT(ivshm_fs_refresh(B) == 0);
	CU_ASSERT(seen.bytes == (uint64_t)writes * 10 + 100);
	ivshm_fs_close(A);
	ivshm_fs_close(B);
	ivshm_device_close(&la.dev);
	ivshm_device_close(&lb.dev);
}

static void test_doorbells(void)
{
	run(0, 200);
}

static void test_dropped_doorbells(void)
{
	run(50, 200);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("coherence", setup, teardown);
	CU_add_test(s, "doorbells carry every commit", test_doorbells);
	CU_add_test(s, "half the doorbells dropped", test_dropped_doorbells);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
