// SPDX-License-Identifier: MIT
/*
 * The store's log, lock and transactions on real shared memory: several
 * peers (threads and processes, each with its own mapping of a /dev/shm
 * region), corruption, a full log, and a lock holder killed with SIGKILL.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dev_user.h"
#include "store.h"

static char path[64];

static void make_region(uint64_t size)
{
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/ivshm-st-%d", (int)getpid());
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
	close(fd);
}

static struct ivshm_device *open_dev(void)
{
	struct ivshm_device *dev = NULL;

	CU_ASSERT_FATAL(ivshm_plain_open(path, &dev) == 0);
	return dev;
}

/* What replay delivered to one peer: count and a rolling checksum. */
struct seen {
	uint64_t n, sum, last_seq;
	bool saw_root;
};

static int count_apply(void *arg, const struct ivshm_rec *r)
{
	struct seen *s = arg;

	if (r->hdr.type == IVSHM_REC_INODE && r->hdr.ino == IVSHM_ROOT_INO)
		s->saw_root = true;
	if (r->hdr.type == IVSHM_REC_INLINE) {
		s->n++;
		s->sum = s->sum * 31 + ivshm_crc32(0, r->payload,
						   r->payload_len);
	}
	s->last_seq = r->hdr.seq;
	return 0;
}

static struct ivshm_store *attach(struct ivshm_device *dev, struct seen *sn,
				  bool format)
{
	struct ivshm_attach_opts o = { .name = "test", .format_if_blank = format,
				       .apply = count_apply, .apply_arg = sn,
				       .lease_ms = 300 };
	struct ivshm_store *s = NULL;

	memset(sn, 0, sizeof(*sn));
	CU_ASSERT_FATAL(ivshm_store_attach(dev, &o, &s) == 0);
	return s;
}

/* One INLINE record of @len bytes whose content depends on @k. */
static int add_blob(struct ivshm_txn *t, uint64_t k, uint32_t len)
{
	unsigned char buf[8192];
	struct ivshm_rec_inline h = { .len = len };

	for (uint32_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(k * 7 + i);
	return ivshm_txn_add(t, IVSHM_REC_INLINE, k, &h, sizeof(h), buf, len);
}

static void test_classify(void)
{
	struct ivshm_geom g;
	char why[160];
	void *r = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(r != MAP_FAILED);
	CU_ASSERT(ivshm_classify(r, 1 << 20, &g, why, 160) ==
		  IVSHM_REGION_BLANK);
	CU_ASSERT(ivshm_format(r, 1 << 20, NULL, why, 160) == 0);
	CU_ASSERT(ivshm_classify(r, 1 << 20, &g, why, 160) ==
		  IVSHM_REGION_VALID);
	CU_ASSERT(g.seg_size == 64 << 10);
	CU_ASSERT(g.seg_count == 15);
	/* The superblock's size must match the mapping. */
	CU_ASSERT(ivshm_classify(r, 2 << 20, &g, why, 160) ==
		  IVSHM_REGION_CORRUPT);
	((char *)r)[20] ^= 1; /* region_size, under the checksum */
	CU_ASSERT(ivshm_classify(r, 1 << 20, &g, why, 160) ==
		  IVSHM_REGION_CORRUPT);
	CU_ASSERT(strstr(why, "checksum") != NULL);
	((char *)r)[20] ^= 1;
	((uint32_t *)r)[2] = 2; /* version */
	CU_ASSERT(ivshm_classify(r, 1 << 20, &g, why, 160) ==
		  IVSHM_REGION_OTHER_VERSION);
	memcpy(r, "\x7f" "ELF", 4);
	CU_ASSERT(ivshm_classify(r, 1 << 20, &g, why, 160) ==
		  IVSHM_REGION_FOREIGN);
	/* Sizes a store cannot have. */
	CU_ASSERT(ivshm_format(r, 3 << 19, NULL, why, 160) == -EINVAL);
	CU_ASSERT(ivshm_format(r, 512 << 10, NULL, why, 160) == -EINVAL);
	munmap(r, 1 << 20);
}

static void test_geometry_large(void)
{
	struct ivshm_geom g;
	char why[160];

	CU_ASSERT(ivshm_geom_plan(1ull << 30, NULL, &g, why, 160) == 0);
	CU_ASSERT(g.seg_size == 2 << 20);
	CU_ASSERT(g.seg0_off + (uint64_t)g.seg_count * g.seg_size <= 1ull << 30);
	CU_ASSERT(ivshm_geom_plan(64ull << 30, NULL, &g, why, 160) == 0);
	CU_ASSERT(g.seg_size == 4 << 20);
	CU_ASSERT(g.seg_count >= 16000);
}

static void test_attach_blank(void)
{
	struct ivshm_device *dev;
	struct ivshm_store *s = NULL;
	struct ivshm_attach_opts o = { 0 };
	struct seen sn;

	make_region(1 << 20);
	dev = open_dev();
	CU_ASSERT(ivshm_store_attach(dev, &o, &s) == -ENODATA);
	s = attach(dev, &sn, true);
	CU_ASSERT(sn.saw_root);
	CU_ASSERT(ivshm_store_head(s) == 1);
	ivshm_store_detach(s);
	ivshm_device_close(dev);
	unlink(path);
}

/* Many records over many segments, replayed identically by a new peer. */
static void test_append_replay(void)
{
	struct ivshm_device *d1, *d2;
	struct ivshm_store *a, *b;
	struct ivshm_txn *t;
	struct seen sa, sb;
	uint64_t k = 0;

	make_region(4 << 20);
	d1 = open_dev();
	d2 = open_dev();
	a = attach(d1, &sa, true);
	for (int txn = 0; txn < 200; txn++) {
		CU_ASSERT_FATAL(ivshm_txn_begin(a, &t) == 0);
		for (int i = 0; i < 10; i++, k++)
			CU_ASSERT_FATAL(add_blob(t, k, (uint32_t)(k % 1500)) ==
					0);
		CU_ASSERT_FATAL(ivshm_txn_commit(t) == 0);
	}
	CU_ASSERT(sa.n == 2000);
	b = attach(d2, &sb, false);
	CU_ASSERT(sb.n == sa.n);
	CU_ASSERT(sb.sum == sa.sum);
	CU_ASSERT(sb.last_seq == ivshm_store_head(a));
	/* An aborted transaction leaves no trace, and its space is reused. */
	CU_ASSERT_FATAL(ivshm_txn_begin(b, &t) == 0);
	CU_ASSERT(add_blob(t, 99999, 100) == 0);
	ivshm_txn_abort(t);
	CU_ASSERT(ivshm_store_catch_up(a) == 0);
	CU_ASSERT(sa.n == 2000);
	CU_ASSERT_FATAL(ivshm_txn_begin(b, &t) == 0);
	CU_ASSERT(add_blob(t, 5, 10) == 0);
	CU_ASSERT(ivshm_txn_commit(t) == 0);
	CU_ASSERT(ivshm_store_catch_up(a) == 0);
	CU_ASSERT(sa.n == 2001 && sb.n == 2001 && sa.sum == sb.sum);
	ivshm_store_detach(a);
	ivshm_store_detach(b);
	ivshm_device_close(d1);
	ivshm_device_close(d2);
	unlink(path);
}

static void test_corruption(void)
{
	struct ivshm_device *d;
	struct ivshm_store *a, *b = NULL;
	struct ivshm_attach_opts o = { 0 };
	struct ivshm_txn *t;
	struct seen sa;
	char *p;

	make_region(1 << 20);
	d = open_dev();
	a = attach(d, &sa, true);
	CU_ASSERT_FATAL(ivshm_txn_begin(a, &t) == 0);
	CU_ASSERT(add_blob(t, 1, 64) == 0);
	CU_ASSERT(ivshm_txn_commit(t) == 0);
	ivshm_store_detach(a);
	/* Flip one byte of the second record's payload in segment 0. */
	{
		struct ivshm_geom g;
		char why[160];

		CU_ASSERT_FATAL(ivshm_classify(d->region, d->size, &g, why,
					       160) == IVSHM_REGION_VALID);
		p = ivshm_seg_at(d->region, &g, 0) + IVSHM_SEG_HDR_SIZE;
		p += ((struct ivshm_rec_hdr *)p)->len; /* skip the root */
		p[IVSHM_REC_HDR_SIZE + 20] ^= 0x40;
	}
	CU_ASSERT(ivshm_store_attach(d, &o, &b) == -EIO);
	ivshm_device_close(d);
	unlink(path);
}

static void test_enospc(void)
{
	struct ivshm_device *d;
	struct ivshm_store *a, *b;
	struct ivshm_txn *t;
	struct seen sa, sb;
	int rc = 0;
	uint64_t k = 0;

	make_region(1 << 20);
	d = open_dev();
	a = attach(d, &sa, true);
	while (rc == 0) {
		CU_ASSERT_FATAL(ivshm_txn_begin(a, &t) == 0);
		rc = add_blob(t, k++, 4000);
		if (rc) {
			ivshm_txn_abort(t);
			break;
		}
		CU_ASSERT_FATAL(ivshm_txn_commit(t) == 0);
	}
	CU_ASSERT(rc == -ENOSPC);
	CU_ASSERT(sa.n > 200); /* 15 segments of 64 KiB, nearly all used */
	/* Still a sound store: a new peer replays all of it. */
	b = attach(d, &sb, false);
	CU_ASSERT(sb.n == sa.n && sb.sum == sa.sum);
	ivshm_store_detach(a);
	ivshm_store_detach(b);
	ivshm_device_close(d);
	unlink(path);
}

/* ---- several peers at once ---- */

#define WORKERS 4
#define PER_WORKER 300

static void *worker(void *arg)
{
	uint64_t id = (uintptr_t)arg;
	struct ivshm_device *d = NULL;
	struct ivshm_store *s = NULL;
	struct ivshm_attach_opts o = { .name = "worker" };
	struct ivshm_txn *t;
	long bad = 0;

	if (ivshm_plain_open(path, &d) || ivshm_store_attach(d, &o, &s))
		return (void *)1;
	for (int i = 0; i < PER_WORKER; i++) {
		if (ivshm_txn_begin(s, &t)) {
			bad++;
			continue;
		}
		bad += add_blob(t, id * 100000 + (uint64_t)i, 200) != 0;
		bad += ivshm_txn_commit(t) != 0;
	}
	ivshm_store_detach(s);
	ivshm_device_close(d);
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[WORKERS];
	struct ivshm_device *d;
	struct ivshm_store *a;
	struct seen sa;
	void *rv;

	make_region(4 << 20);
	d = open_dev();
	a = attach(d, &sa, true);
	for (uintptr_t i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(th[i], &rv);
		CU_ASSERT(rv == NULL);
	}
	CU_ASSERT(ivshm_store_catch_up(a) == 0);
	CU_ASSERT(sa.n == WORKERS * PER_WORKER);
	/* Every record once: the root, the blobs, and one LINK a segment. */
	CU_ASSERT(sa.last_seq == ivshm_store_head(a));
	CU_ASSERT(ivshm_store_head(a) >= 1 + WORKERS * PER_WORKER);
	ivshm_store_detach(a);
	ivshm_device_close(d);
	unlink(path);
}

static void test_processes(void)
{
	struct ivshm_device *d;
	struct ivshm_store *a;
	struct seen sa;
	pid_t pid[WORKERS];
	int st;

	make_region(4 << 20);
	d = open_dev();
	a = attach(d, &sa, true);
	for (int i = 0; i < WORKERS; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			_exit(worker((void *)(uintptr_t)i) ? 1 : 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		CU_ASSERT(waitpid(pid[i], &st, 0) == pid[i]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CU_ASSERT(ivshm_store_catch_up(a) == 0);
	CU_ASSERT(sa.n == WORKERS * PER_WORKER);
	ivshm_store_detach(a);
	ivshm_device_close(d);
	unlink(path);
}

/* A child takes the lock, writes, and is killed before committing. */
static void test_killed_holder(void)
{
	struct ivshm_device *d;
	struct ivshm_store *a;
	struct ivshm_txn *t;
	struct seen sa;
	int pipefd[2], st;
	uint64_t head;
	char c;
	pid_t pid;

	make_region(1 << 20);
	d = open_dev();
	a = attach(d, &sa, true);
	head = ivshm_store_head(a);
	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	pid = fork();
	if (pid == 0) {
		struct ivshm_device *cd = NULL;
		struct ivshm_store *cs = NULL;
		struct ivshm_attach_opts o = { .name = "doomed" };

		if (ivshm_plain_open(path, &cd) ||
		    ivshm_store_attach(cd, &o, &cs) ||
		    ivshm_txn_begin(cs, &t))
			_exit(1);
		for (int i = 0; i < 50; i++)
			add_blob(t, 7000 + (uint64_t)i, 900);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CU_ASSERT_FATAL(read(pipefd[0], &c, 1) == 1);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* The lock is broken after the 300 ms lease; nothing leaked out. */
	CU_ASSERT_FATAL(ivshm_txn_begin(a, &t) == 0);
	CU_ASSERT(ivshm_store_head(a) == head);
	CU_ASSERT(sa.n == 0);
	CU_ASSERT(add_blob(t, 1, 10) == 0);
	CU_ASSERT(ivshm_txn_commit(t) == 0);
	CU_ASSERT(sa.n == 1);
	CU_ASSERT(ivshm_store_head(a) == head + 1);
	ivshm_store_detach(a);
	ivshm_device_close(d);
	close(pipefd[0]);
	close(pipefd[1]);
	unlink(path);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("store", NULL, NULL);
	CU_add_test(s, "classify", test_classify);
	CU_add_test(s, "geometry of large regions", test_geometry_large);
	CU_add_test(s, "attach blank", test_attach_blank);
	CU_add_test(s, "append and replay", test_append_replay);
	CU_add_test(s, "corruption is EIO", test_corruption);
	CU_add_test(s, "full log is ENOSPC", test_enospc);
	CU_add_test(s, "threads as peers", test_threads);
	CU_add_test(s, "processes as peers", test_processes);
	CU_add_test(s, "killed lock holder", test_killed_holder);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	unlink(path);
	return fails ? 1 : 0;
}
