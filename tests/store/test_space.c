// SPDX-License-Identifier: MIT
/*
 * Space on a small region: creating and deleting ten times its capacity,
 * random overwrites at half full (the cleaner at work), a peer that falls
 * behind checkpoints, and verify after each.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "verify.h"

static char path[64];

static void region(uint64_t size)
{
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/ivshm-sp-%d", (int)getpid());
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	close(fd);
}

static struct ivshm_fs *open_fs(struct ivshm_device **dev, bool format,
				struct ivshm_fs_opts *extra)
{
	struct ivshm_fs_opts o = { .attach = { .format_if_blank = format,
					       .name = "space" } };
	struct ivshm_fs *fs = NULL;

	if (extra)
		o = *extra, o.attach.format_if_blank = format;
	CU_ASSERT_FATAL(ivshm_plain_open(path, dev) == 0);
	CU_ASSERT_FATAL(ivshm_fs_open(*dev, &o, &fs) == 0);
	return fs;
}

static void check_verify(struct ivshm_device *dev)
{
	struct ivshm_verify_report rep;

	CU_ASSERT(ivshm_verify(dev->region, dev->size, &rep) == 0);
	if (rep.errors)
		fprintf(stderr, "verify: %s\n", rep.first_error);
}

static void test_churn_10x(void)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	char buf[16384], name[32];
	uint64_t total = 0;
	int round = 0;

	region(1 << 20);
	fs = open_fs(&dev, true, NULL);
	memset(buf, 0x5a, sizeof(buf));
	/* 10 MiB through a 1 MiB region, 32 files of 16 KiB (half the region) at a time. */
	while (total < 10ull << 20) {
		for (int i = 0; i < 32; i++) {
			struct ivshm_attr a;

			snprintf(name, sizeof(name), "f%d", i);
			if (ivshm_fs_mknod(fs, 1, name, IVSHM_S_IFREG | 0644, 0,
					   0, 0, &a)) {
				CU_FAIL("create failed");
				goto out;
			}
			if (ivshm_fs_write(fs, a.ino, 0, buf, sizeof(buf),
					   NULL) != sizeof(buf)) {
				fprintf(stderr, "round %d file %d: write "
					"failed\n", round, i);
				CU_FAIL("write failed on a store with room");
				goto out;
			}
			total += sizeof(buf);
		}
		for (int i = 0; i < 32; i++) {
			snprintf(name, sizeof(name), "f%d", i);
			CU_ASSERT(ivshm_fs_unlink(fs, 1, name, false, NULL) ==
				  0);
		}
		round++;
	}
out:
	CU_ASSERT(total >= 10ull << 20);
	check_verify(dev);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	unlink(path);
}

/* Random 4 KiB overwrites of a file filling half the region. */
static void test_overwrite_half_full(void)
{
	struct ivshm_device *dev, *dev2;
	struct ivshm_fs *fs, *fs2;
	struct ivshm_attr a;
	const uint32_t blocks = 256; /* 1 MiB of a 2 MiB region */
	unsigned char *model = calloc(blocks, 4096);
	unsigned char blk[4096], out[4096];
	unsigned int seed = 7;
	int bad = 0;

	region(2 << 20);
	fs = open_fs(&dev, true, NULL);
	CU_ASSERT_FATAL(ivshm_fs_mknod(fs, 1, "vol", IVSHM_S_IFREG | 0644, 0, 0,
				       0, &a) == 0);
	for (uint32_t b = 0; b < blocks; b++) {
		memset(model + (uint64_t)b * 4096, (int)b, 4096);
		CU_ASSERT_FATAL(ivshm_fs_write(fs, a.ino, (uint64_t)b * 4096,
					       model + (uint64_t)b * 4096, 4096,
					       NULL) == 4096);
	}
	for (int i = 0; i < 5000; i++) {
		uint32_t b = (uint32_t)rand_r(&seed) % blocks;

		memset(blk, rand_r(&seed) & 0xff, sizeof(blk));
		blk[0] = (unsigned char)i;
		if (ivshm_fs_write(fs, a.ino, (uint64_t)b * 4096, blk, 4096,
				   NULL) != 4096) {
			fprintf(stderr, "overwrite %d failed\n", i);
			CU_FAIL("overwrite failed at half full");
			break;
		}
		memcpy(model + (uint64_t)b * 4096, blk, 4096);
	}
	/* A peer attaching now (from the checkpoint) reads the same bytes. */
	fs2 = open_fs(&dev2, false, NULL);
	for (uint32_t b = 0; b < blocks; b++) {
		CU_ASSERT(ivshm_fs_read(fs2, a.ino, (uint64_t)b * 4096, out,
					4096) == 4096);
		bad += memcmp(out, model + (uint64_t)b * 4096, 4096) != 0;
	}
	CU_ASSERT(bad == 0);
	check_verify(dev);
	ivshm_fs_close(fs2);
	ivshm_device_close(dev2);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	free(model);
	unlink(path);
}

static bool overflowed;

static void on_change(void *arg, const struct ivshm_change *c, unsigned int n,
		      bool overflow)
{
	(void)arg, (void)c, (void)n;
	overflowed |= overflow;
}

/* B sleeps while A's log is checkpointed away: B reloads, sees all. */
static void test_lagging_peer(void)
{
	struct ivshm_fs_opts ob = { .attach = { .name = "B" },
				    .on_change = on_change };
	struct ivshm_device *da, *db;
	struct ivshm_fs *A, *B;
	struct ivshm_attr a;
	char name[32];

	region(1 << 20);
	A = open_fs(&da, true, NULL);
	B = open_fs(&db, false, &ob);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "n%d", i % 50);
		if (i % 100 < 50) {
			CU_ASSERT(ivshm_fs_mknod(A, 1, name,
						 IVSHM_S_IFREG | 0644, 0, 0, 0,
						 &a) == 0);
		} else {
			CU_ASSERT(ivshm_fs_unlink(A, 1, name, false, NULL) ==
				  0);
		}
	}
	CU_ASSERT(ivshm_fs_mknod(A, 1, "last", IVSHM_S_IFREG | 0644, 0, 0, 0,
				 &a) == 0);
	CU_ASSERT(ivshm_fs_lookup(B, 1, "last", &a) == 0);
	CU_ASSERT(ivshm_fs_lookup(B, 1, "n0", &a) == -ENOENT);
	CU_ASSERT(overflowed); /* B had to drop all it knew */
	check_verify(da);
	ivshm_fs_close(A);
	ivshm_fs_close(B);
	ivshm_device_close(da);
	ivshm_device_close(db);
	unlink(path);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("space", NULL, NULL);
	CU_add_test(s, "create and delete 10x the capacity", test_churn_10x);
	CU_add_test(s, "random overwrites at half full",
		    test_overwrite_half_full);
	CU_add_test(s, "a peer behind a checkpoint", test_lagging_peer);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	unlink(path);
	return fails ? 1 : 0;
}
