// SPDX-License-Identifier: MIT
/*
 * Block volumes (blk/) on a store file: aligned requests only, nothing
 * past the end, discard and write-zeroes read back as zeroes, and two
 * peers see one volume.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_user.h"
#include "volume.h"

static char path[64];

static void test_volume(void)
{
	struct ivshm_fs_opts o = { .attach = { .format_if_blank = true } };
	struct ivshm_device *d1, *d2;
	struct ivshm_fs *a, *b;
	struct ivshm_volume va, vb;
	struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = 1 << 20 };
	struct ivshm_attr at;
	unsigned char *model = calloc(1, 1 << 20), buf[8192];
	unsigned int seed = 3;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/ivshm-vol-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, 8 << 20) == 0);
	close(fd);
	CU_ASSERT_FATAL(ivshm_plain_open(path, &d1) == 0 &&
			ivshm_plain_open(path, &d2) == 0);
	CU_ASSERT_FATAL(ivshm_fs_open(d1, &o, &a) == 0 &&
			ivshm_fs_open(d2, NULL, &b) == 0);
	CU_ASSERT(ivshm_volume_open(a, "/vol.img", 4096, &va) == -ENOENT);
	CU_ASSERT_FATAL(ivshm_fs_mknod(a, 1, "vol.img", IVSHM_S_IFREG | 0600, 0,
				       0, 0, &at) == 0);
	CU_ASSERT(ivshm_fs_setattr(a, at.ino, &sa, &at) == 0);
	CU_ASSERT_FATAL(ivshm_volume_open(a, "/vol.img", 4096, &va) == 0);
	CU_ASSERT_FATAL(ivshm_volume_open(b, "//vol.img", 512, &vb) == 0);
	CU_ASSERT(va.size == 1 << 20 && vb.size == 1 << 20);
	CU_ASSERT(ivshm_volume_open(a, "/", 4096, &vb) == -EISDIR);
	CU_ASSERT(ivshm_volume_open(a, "vol.img", 4096, &vb) == -EINVAL);
	CU_ASSERT(ivshm_volume_open(a, "/vol.img", 1024, &vb) == -EINVAL);
	CU_ASSERT_FATAL(ivshm_volume_open(b, "/vol.img", 512, &vb) == 0);
	/* Alignment and bounds. */
	CU_ASSERT(ivshm_volume_write(&va, 512, buf, 4096) == -EINVAL);
	CU_ASSERT(ivshm_volume_write(&va, 0, buf, 100) == -EINVAL);
	CU_ASSERT(ivshm_volume_write(&va, 1 << 20, buf, 4096) == -EIO);
	CU_ASSERT(ivshm_volume_read(&vb, (1 << 20) - 512, buf, 1024) == -EIO);
	/* Random requests from both peers against a model. */
	for (int i = 0; i < 2000; i++) {
		struct ivshm_volume *v = i & 1 ? &va : &vb;
		uint64_t blocks = (1 << 20) / v->block;
		uint64_t off = (uint64_t)rand_r(&seed) % blocks * v->block;
		uint64_t len = v->block * (1 + (uint64_t)rand_r(&seed) % 2);
		int op = rand_r(&seed) % 10;

		if (off + len > (1 << 20))
			len = (1 << 20) - off;
		if (op < 6) {
			for (uint64_t k = 0; k < len; k++)
				buf[k] = (unsigned char)rand_r(&seed);
			CU_ASSERT(ivshm_volume_write(v, off, buf, len) == 0);
			memcpy(model + off, buf, len);
		} else if (op < 8) {
			CU_ASSERT(ivshm_volume_read(v, off, buf, len) == 0);
			CU_ASSERT(memcmp(buf, model + off, len) == 0);
		} else {
			CU_ASSERT((op == 8 ? ivshm_volume_discard(v, off, len) :
					     ivshm_volume_write_zeroes(v, off,
								       len)) ==
				  0);
			memset(model + off, 0, len);
		}
		if (i % 500 == 0)
			CU_ASSERT(ivshm_volume_flush(v) == 0);
	}
	for (uint64_t off = 0; off < (1 << 20); off += 8192) {
		CU_ASSERT(ivshm_volume_read(&va, off, buf, 8192) == 0);
		CU_ASSERT(memcmp(buf, model + off, 8192) == 0);
	}
	/* A resize by any peer is picked up. */
	sa.size = 2 << 20;
	CU_ASSERT(ivshm_fs_setattr(b, at.ino, &sa, &at) == 0);
	CU_ASSERT(ivshm_volume_refresh(&va) == 0 && va.size == 2 << 20);
	ivshm_fs_close(a);
	ivshm_fs_close(b);
	ivshm_device_close(d1);
	ivshm_device_close(d2);
	free(model);
	unlink(path);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("volume", NULL, NULL);
	CU_add_test(s, "block volume requests", test_volume);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	unlink(path);
	return fails ? 1 : 0;
}
