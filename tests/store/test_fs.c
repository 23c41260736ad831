// SPDX-License-Identifier: MIT
/*
 * The file system on the store, on a real /dev/shm region: every namespace
 * operation with its error cases, data with holes and truncates, xattrs,
 * and a second peer that sees every change at once, with change events.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "verify.h"

static char path[64];
static struct ivshm_device *da, *db;
static struct ivshm_fs *A, *B;

struct events {
	unsigned int names, data, attrs, gone;
	bool overflow;
};
static struct events evb;

static void on_change(void *arg, const struct ivshm_change *c, unsigned int n,
		      bool overflow)
{
	struct events *e = arg;

	e->overflow |= overflow;
	for (unsigned int i = 0; i < n; i++) {
		e->names += c[i].kind == IVSHM_CHG_NAME;
		e->data += c[i].kind == IVSHM_CHG_DATA;
		e->attrs += c[i].kind == IVSHM_CHG_ATTR;
		e->gone += c[i].kind == IVSHM_CHG_GONE;
	}
}

static int setup(void)
{
	struct ivshm_fs_opts oa = { .attach = { .name = "A",
						.format_if_blank = true } };
	struct ivshm_fs_opts ob = { .attach = { .name = "B" },
				    .on_change = on_change,
				    .on_change_arg = &evb };
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/ivshm-fs-%d", (int)getpid());
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 8 << 20))
		return 1;
	close(fd);
	if (ivshm_plain_open(path, &da) || ivshm_plain_open(path, &db) ||
	    ivshm_fs_open(da, &oa, &A) || ivshm_fs_open(db, &ob, &B))
		return 1;
	return 0;
}

static int teardown(void)
{
	ivshm_fs_close(A);
	ivshm_fs_close(B);
	ivshm_device_close(da);
	ivshm_device_close(db);
	unlink(path);
	return 0;
}

static uint64_t mk(struct ivshm_fs *fs, uint64_t dir, const char *name,
		   uint32_t mode)
{
	struct ivshm_attr a;

	CU_ASSERT_FATAL(ivshm_fs_mknod(fs, dir, name, mode, 1000, 100, 0, &a) ==
			0);
	CU_ASSERT(a.mode == mode);
	return a.ino;
}

static void test_create_lookup(void)
{
	struct ivshm_attr a, r0, r1;
	uint64_t f, d;

	CU_ASSERT(ivshm_fs_getattr(A, IVSHM_ROOT_INO, &r0) == 0);
	f = mk(A, IVSHM_ROOT_INO, "file", IVSHM_S_IFREG | 0644);
	d = mk(A, IVSHM_ROOT_INO, "dir", IVSHM_S_IFDIR | 0755);
	/* O_EXCL: either peer gets EEXIST. */
	CU_ASSERT(ivshm_fs_mknod(B, IVSHM_ROOT_INO, "file",
				 IVSHM_S_IFREG | 0600, 0, 0, 0, &a) == -EEXIST);
	CU_ASSERT(ivshm_fs_lookup(B, IVSHM_ROOT_INO, "file", &a) == 0);
	CU_ASSERT(a.ino == f && a.uid == 1000 && a.gid == 100 && a.nlink == 1);
	CU_ASSERT(ivshm_fs_lookup(B, IVSHM_ROOT_INO, "dir", &a) == 0);
	CU_ASSERT(a.ino == d && a.nlink == 2);
	CU_ASSERT(ivshm_fs_getattr(B, IVSHM_ROOT_INO, &r1) == 0);
	CU_ASSERT(r1.nlink == r0.nlink + 1); /* the new subdirectory's .. */
	CU_ASSERT(ivshm_fs_lookup(B, IVSHM_ROOT_INO, "nope", &a) == -ENOENT);
	CU_ASSERT(ivshm_fs_lookup(B, f, "x", &a) == -ENOTDIR);
	CU_ASSERT(ivshm_fs_mknod(A, f, "x", IVSHM_S_IFREG, 0, 0, 0, &a) ==
		  -ENOTDIR);
	CU_ASSERT(ivshm_fs_mknod(A, IVSHM_ROOT_INO, "a/b", IVSHM_S_IFREG, 0, 0,
				 0, &a) == -EINVAL);
	{
		char big[300];

		memset(big, 'n', 299);
		big[299] = 0;
		CU_ASSERT(ivshm_fs_mknod(A, IVSHM_ROOT_INO, big, IVSHM_S_IFREG,
					 0, 0, 0, &a) == -ENAMETOOLONG);
	}
	CU_ASSERT(evb.names >= 2);
}

static void test_data(void)
{
	struct ivshm_attr a;
	char buf[10000], out[10000];
	uint64_t f = mk(A, IVSHM_ROOT_INO, "data", IVSHM_S_IFREG | 0644);

	for (int i = 0; i < 10000; i++)
		buf[i] = (char)(i * 13);
	CU_ASSERT(ivshm_fs_write(A, f, 0, buf, 10000, &a) == 10000);
	CU_ASSERT(a.size == 10000);
	CU_ASSERT(ivshm_fs_read(B, f, 0, out, 10000) == 10000);
	CU_ASSERT(memcmp(buf, out, 10000) == 0);
	/* Overwrite in the middle from the other peer. */
	CU_ASSERT(ivshm_fs_write(B, f, 5000, "XYZ", 3, NULL) == 3);
	CU_ASSERT(ivshm_fs_read(A, f, 4999, out, 5) == 5);
	CU_ASSERT(out[0] == buf[4999] && !memcmp(out + 1, "XYZ", 3) &&
		  out[4] == buf[5003]);
	/* A hole, then data far away. */
	CU_ASSERT(ivshm_fs_write(A, f, 1 << 20, "end", 3, &a) == 3);
	CU_ASSERT(a.size == (1 << 20) + 3);
	CU_ASSERT(ivshm_fs_read(B, f, 20000, out, 100) == 100);
	for (int i = 0; i < 100; i++)
		CU_ASSERT(out[i] == 0);
	/* Reads stop at the end of the file. */
	CU_ASSERT(ivshm_fs_read(B, f, (1 << 20) + 1, out, 100) == 2);
	CU_ASSERT(ivshm_fs_read(B, f, 2 << 20, out, 100) == 0);
	/* Shrink then grow: the old bytes must not come back. */
	{
		struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = 100 };

		CU_ASSERT(ivshm_fs_setattr(B, f, &sa, &a) == 0);
		CU_ASSERT(a.size == 100);
		sa.size = 8000;
		CU_ASSERT(ivshm_fs_setattr(A, f, &sa, &a) == 0);
		CU_ASSERT(ivshm_fs_read(A, f, 0, out, 8000) == 8000);
		CU_ASSERT(memcmp(out, buf, 100) == 0);
		for (int i = 100; i < 8000; i++)
			if (out[i])
				CU_FAIL("old data reappeared after truncate");
	}
	/* Punch a hole. */
	CU_ASSERT(ivshm_fs_write(A, f, 0, buf, 8000, NULL) == 8000);
	CU_ASSERT(ivshm_fs_fallocate(B, f, IVSHM_FALLOC_PUNCH_HOLE |
					   IVSHM_FALLOC_KEEP_SIZE,
				     1000, 2000) == 0);
	CU_ASSERT(ivshm_fs_read(A, f, 0, out, 8000) == 8000);
	CU_ASSERT(out[999] == buf[999] && out[1000] == 0 && out[2999] == 0 &&
		  out[3000] == buf[3000]);
	CU_ASSERT(ivshm_fs_getattr(A, f, &a) == 0 && a.size == 8000);
	CU_ASSERT(ivshm_fs_fallocate(B, f, IVSHM_FALLOC_PUNCH_HOLE, 0, 10) ==
		  -EINVAL);
	CU_ASSERT(ivshm_fs_write(A, IVSHM_ROOT_INO, 0, "x", 1, NULL) ==
		  -EISDIR);
	CU_ASSERT(evb.data > 0);
}

static void test_links_and_removal(void)
{
	struct ivshm_attr a;
	uint64_t f = mk(A, IVSHM_ROOT_INO, "orig", IVSHM_S_IFREG | 0644);
	uint64_t d = mk(A, IVSHM_ROOT_INO, "d2", IVSHM_S_IFDIR | 0755);
	uint64_t removed = 0;
	char tgt[64];

	CU_ASSERT(ivshm_fs_link(B, f, d, "hard", &a) == 0);
	CU_ASSERT(a.nlink == 2);
	CU_ASSERT(ivshm_fs_link(B, d, IVSHM_ROOT_INO, "dirlink", &a) == -EPERM);
	CU_ASSERT(ivshm_fs_link(B, f, d, "hard", &a) == -EEXIST);
	CU_ASSERT(ivshm_fs_rmdir(A, IVSHM_ROOT_INO, "d2") == -ENOTEMPTY);
	CU_ASSERT(ivshm_fs_unlink(A, IVSHM_ROOT_INO, "d2", false, NULL) ==
		  -EISDIR);
	CU_ASSERT(ivshm_fs_rmdir(A, IVSHM_ROOT_INO, "orig") == -ENOTDIR);
	CU_ASSERT(ivshm_fs_unlink(A, IVSHM_ROOT_INO, "orig", false, &removed) ==
		  0);
	CU_ASSERT(removed == f);
	CU_ASSERT(ivshm_fs_getattr(B, f, &a) == 0 && a.nlink == 1);
	CU_ASSERT(ivshm_fs_unlink(B, d, "hard", false, NULL) == 0);
	CU_ASSERT(ivshm_fs_getattr(A, f, &a) == -ENOENT);
	CU_ASSERT(ivshm_fs_rmdir(B, IVSHM_ROOT_INO, "d2") == 0);
	CU_ASSERT(ivshm_fs_getattr(A, d, &a) == -ENOENT);
	CU_ASSERT(ivshm_fs_rmdir(B, IVSHM_ROOT_INO, "d2") == -ENOENT);
	/* Orphans: unlinked while open, deleted when dropped. */
	f = mk(A, IVSHM_ROOT_INO, "open", IVSHM_S_IFREG | 0644);
	CU_ASSERT(ivshm_fs_write(A, f, 0, "still here", 10, NULL) == 10);
	CU_ASSERT(ivshm_fs_unlink(A, IVSHM_ROOT_INO, "open", true, NULL) == 0);
	CU_ASSERT(ivshm_fs_read(B, f, 0, tgt, 10) == 10);
	CU_ASSERT(memcmp(tgt, "still here", 10) == 0);
	CU_ASSERT(ivshm_fs_drop_orphan(A, f) == 0);
	CU_ASSERT(ivshm_fs_getattr(B, f, &a) == -ENOENT);
	/* Symlinks. */
	CU_ASSERT(ivshm_fs_symlink(A, IVSHM_ROOT_INO, "sl", "target/path", 0, 0,
				   &a) == 0);
	CU_ASSERT(a.size == 11);
	CU_ASSERT(ivshm_fs_readlink(B, a.ino, tgt, sizeof(tgt)) == 11);
	CU_ASSERT(strcmp(tgt, "target/path") == 0);
	CU_ASSERT(ivshm_fs_readlink(B, IVSHM_ROOT_INO, tgt, 64) == -EINVAL);
	CU_ASSERT(evb.gone >= 1); /* B hears of A's drop_orphan */
}

static void test_rename(void)
{
	struct ivshm_attr a, r0, r1;
	uint64_t p = mk(A, IVSHM_ROOT_INO, "p", IVSHM_S_IFDIR | 0755);
	uint64_t q = mk(A, p, "q", IVSHM_S_IFDIR | 0755);
	uint64_t x = mk(A, IVSHM_ROOT_INO, "x", IVSHM_S_IFREG | 0644);
	uint64_t y = mk(A, IVSHM_ROOT_INO, "y", IVSHM_S_IFREG | 0644);
	uint64_t replaced = 0;

	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "p", q, "p", 0, false,
				  NULL) == -EINVAL); /* into itself */
	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "x", IVSHM_ROOT_INO, "y",
				  IVSHM_RENAME_NOREPLACE, false, NULL) ==
		  -EEXIST);
	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "x", IVSHM_ROOT_INO, "p",
				  0, false, NULL) == -EISDIR);
	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "p", IVSHM_ROOT_INO, "x",
				  0, false, NULL) == -ENOTDIR);
	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "x", IVSHM_ROOT_INO, "y",
				  IVSHM_RENAME_EXCHANGE, false, NULL) == 0);
	CU_ASSERT(ivshm_fs_lookup(A, IVSHM_ROOT_INO, "x", &a) == 0 &&
		  a.ino == y);
	CU_ASSERT(ivshm_fs_lookup(A, IVSHM_ROOT_INO, "y", &a) == 0 &&
		  a.ino == x);
	CU_ASSERT(ivshm_fs_rename(B, IVSHM_ROOT_INO, "x", IVSHM_ROOT_INO, "y",
				  0, false, &replaced) == 0);
	CU_ASSERT(replaced == x);
	CU_ASSERT(ivshm_fs_getattr(A, x, &a) == -ENOENT);
	CU_ASSERT(ivshm_fs_lookup(A, IVSHM_ROOT_INO, "x", &a) == -ENOENT);
	/* A directory moves up: link counts follow its "..". */
	CU_ASSERT(ivshm_fs_getattr(A, IVSHM_ROOT_INO, &r0) == 0);
	CU_ASSERT(ivshm_fs_rename(A, p, "q", IVSHM_ROOT_INO, "q", 0, false,
				  NULL) == 0);
	CU_ASSERT(ivshm_fs_getattr(B, IVSHM_ROOT_INO, &r1) == 0);
	CU_ASSERT(r1.nlink == r0.nlink + 1);
	CU_ASSERT(ivshm_fs_getattr(B, p, &a) == 0 && a.nlink == 2);
	CU_ASSERT(ivshm_fs_rename(A, IVSHM_ROOT_INO, "q", IVSHM_ROOT_INO, "q",
				  0, false, NULL) == 0);
	(void)q;
}

static int count_entry(void *arg, const char *name, uint64_t ino,
		       uint32_t dtype, uint64_t next)
{
	(void)name, (void)ino, (void)dtype, (void)next;
	++*(int *)arg;
	return 0;
}

struct resume {
	int seen;
	uint64_t last;
};

static int stop_after_5(void *arg, const char *name, uint64_t ino,
			uint32_t dtype, uint64_t next)
{
	struct resume *r = arg;

	(void)name, (void)ino, (void)dtype;
	if (r->seen == 5)
		return 1;
	r->seen++;
	r->last = next;
	return 0;
}

static void test_readdir(void)
{
	uint64_t d = mk(A, IVSHM_ROOT_INO, "many", IVSHM_S_IFDIR | 0755);
	struct resume r = { 0 };
	char name[32];
	int n = 0;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		mk(i & 1 ? A : B, d, name, IVSHM_S_IFREG | 0644);
	}
	for (int i = 0; i < 300; i += 3) {
		snprintf(name, sizeof(name), "f%03d", i);
		CU_ASSERT(ivshm_fs_unlink(B, d, name, false, NULL) == 0);
	}
	CU_ASSERT(ivshm_fs_readdir(A, d, 0, count_entry, &n) == 0);
	CU_ASSERT(n == 2 + 200);
	/* Resume from a cookie: the rest, nothing twice. */
	CU_ASSERT(ivshm_fs_readdir(A, d, 0, stop_after_5, &r) == 0);
	CU_ASSERT(r.seen == 5);
	n = 0;
	CU_ASSERT(ivshm_fs_readdir(A, d, r.last, count_entry, &n) == 0);
	CU_ASSERT(n == 202 - 5);
}

static void test_setattr_xattr(void)
{
	struct ivshm_setattr sa = { .valid = IVSHM_SET_MODE | IVSHM_SET_UID |
					     IVSHM_SET_MTIME,
				    .mode = 0600, .uid = 42, .mtime = 12345 };
	struct ivshm_attr a;
	char v[64], list[64];
	uint64_t f = mk(A, IVSHM_ROOT_INO, "attrs", IVSHM_S_IFREG | 0644);

	CU_ASSERT(ivshm_fs_setattr(A, f, &sa, &a) == 0);
	CU_ASSERT(ivshm_fs_getattr(B, f, &a) == 0);
	CU_ASSERT(a.mode == (IVSHM_S_IFREG | 0600) && a.uid == 42 &&
		  a.mtime == 12345 && a.ctime > 12345);
	CU_ASSERT(ivshm_fs_setxattr(A, f, "user.k", "value", 5, 0) == 0);
	CU_ASSERT(ivshm_fs_setxattr(B, f, "user.k", "v", 1,
				    IVSHM_XATTR_CREATE) == -EEXIST);
	CU_ASSERT(ivshm_fs_setxattr(B, f, "user.z", "v", 1,
				    IVSHM_XATTR_REPLACE) == -ENODATA);
	CU_ASSERT(ivshm_fs_getxattr(B, f, "user.k", v, sizeof(v)) == 5);
	CU_ASSERT(memcmp(v, "value", 5) == 0);
	CU_ASSERT(ivshm_fs_getxattr(B, f, "user.k", NULL, 0) == 5);
	CU_ASSERT(ivshm_fs_getxattr(B, f, "user.k", v, 2) == -ERANGE);
	CU_ASSERT(ivshm_fs_setxattr(B, f, "user.e", "", 0, 0) == 0);
	CU_ASSERT(ivshm_fs_listxattr(A, f, list, sizeof(list)) == 14);
	CU_ASSERT(ivshm_fs_removexattr(A, f, "user.k") == 0);
	CU_ASSERT(ivshm_fs_getxattr(B, f, "user.k", v, 64) == -ENODATA);
	CU_ASSERT(ivshm_fs_removexattr(A, f, "user.k") == -ENODATA);
	CU_ASSERT(ivshm_fs_listxattr(B, f, NULL, 0) == 7);
}

/* A third peer attaching late replays to the same state. */
static void test_late_peer(void)
{
	struct ivshm_device *dc;
	struct ivshm_fs *C;
	struct ivshm_attr a;
	struct ivshm_statfs st;
	char out[3];

	CU_ASSERT_FATAL(ivshm_plain_open(path, &dc) == 0);
	CU_ASSERT_FATAL(ivshm_fs_open(dc, NULL, &C) == 0);
	CU_ASSERT(ivshm_fs_lookup(C, IVSHM_ROOT_INO, "data", &a) == 0);
	CU_ASSERT(a.size == 8000);
	CU_ASSERT(ivshm_fs_read(C, a.ino, 3000, out, 3) == 3);
	CU_ASSERT(ivshm_fs_statfs(C, &st) == 0 && st.bfree < st.blocks &&
		  st.namemax == 255);
	ivshm_fs_close(C);
	ivshm_device_close(dc);
}

static void test_verify(void)
{
	struct ivshm_verify_report rep;
	struct ivshm_geom g;
	char why[160];
	unsigned char *copy = malloc(da->size);
	char *rec;

	CU_ASSERT(ivshm_verify(da->region, da->size, &rep) == 0);
	if (rep.errors)
		fprintf(stderr, "verify: %s\n", rep.first_error);
	CU_ASSERT(rep.inodes > 10 && rep.dirs >= 4 && rep.files > 3);
	CU_ASSERT(rep.records > 100 && rep.anomalies == 0);
	CU_ASSERT(rep.seg_data >= 1 && rep.seg_meta >= 1);
	/* One flipped byte in the 40th record: found, and placed. */
	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, da->region, da->size);
	CU_ASSERT_FATAL(ivshm_classify(copy, da->size, &g, why, 160) ==
			IVSHM_REGION_VALID);
	rec = ivshm_seg_at(copy, &g, 0) + IVSHM_SEG_HDR_SIZE;
	for (int i = 0; i < 40; i++)
		rec += ((struct ivshm_rec_hdr *)rec)->len;
	rec[IVSHM_REC_HDR_SIZE] ^= 0x10;
	CU_ASSERT(ivshm_verify(copy, da->size, &rep) == -EIO);
	CU_ASSERT(strstr(rep.first_error, "after record seq 40") != NULL);
	free(copy);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fs", setup, teardown);
	CU_add_test(s, "create and lookup", test_create_lookup);
	CU_add_test(s, "data, holes, truncate, punch", test_data);
	CU_add_test(s, "links, unlink, rmdir, orphans, symlinks",
		    test_links_and_removal);
	CU_add_test(s, "rename", test_rename);
	CU_add_test(s, "readdir", test_readdir);
	CU_add_test(s, "setattr and xattrs", test_setattr_xattr);
	CU_add_test(s, "late peer", test_late_peer);
	CU_add_test(s, "verify", test_verify);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
