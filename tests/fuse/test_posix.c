// SPDX-License-Identifier: MIT
/*
 * POSIX behaviour of a real ivshm-fuse mount: every operation with its
 * error cases, as an application sees them through the kernel. A second
 * mount of the same region (B) checks what reached the store, past A's
 * kernel caches.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "futil.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static char region[64];
static struct mnt A, B;

/* Paths under A and B, in rotating static buffers. */
static const char *under(const struct mnt *m, const char *fmt, va_list ap)
{
	static char buf[16][512];
	static unsigned int next;
	char *p = buf[next++ % 16];
	int n = snprintf(p, 512, "%s/", m->dir);

	vsnprintf(p + n, (size_t)(512 - n), fmt, ap);
	return p;
}

static const char *pa(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static const char *pa(const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	p = under(&A, fmt, ap);
	va_end(ap);
	return p;
}

static const char *pb(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static const char *pb(const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	p = under(&B, fmt, ap);
	va_end(ap);
	return p;
}

static struct stat st_of(const char *path)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	if (lstat(path, &st)) {
		fprintf(stderr, "\n  lstat %s: %s\n", path, strerror(errno));
		CU_FAIL("lstat failed");
	}
	return st;
}

/* A fresh directory of the test's own on A. */
static void tdir(const char *name)
{
	EXPECT_OK_FATAL(mkdir(pa("%s", name), 0755));
}

/*
 * The file at @rel read through mount B must become @len bytes of
 * pattern @seed within @ms (B's kernel caches follow A's changes by
 * the daemons' polling).
 */
static bool b_has(const char *rel, size_t len, uint32_t seed, unsigned int ms)
{
	unsigned char *buf = malloc(len + 1);
	int64_t end = fu_ms() + ms;
	ssize_t n = -1;
	long bad = 0;

	do {
		n = fu_get(pb("%s", rel), buf, len + 1);
		bad = n == (ssize_t)len ? fu_check(buf, len, seed, 0) : 0;
		if (n == (ssize_t)len && bad < 0)
			break;
		fu_sleep_ms(5);
	} while (fu_ms() < end);
	if (n != (ssize_t)len || bad >= 0)
		fprintf(stderr, "\n  B %s: %zd bytes (want %zu), first bad "
			"byte %ld\n", rel, n, len, bad);
	free(buf);
	return n == (ssize_t)len && bad < 0;
}

/* stat on B until @pred holds, within @ms. */
static bool b_stat_until(const char *rel, bool (*pred)(int rc,
						       const struct stat *st,
						       long want),
			 long want, unsigned int ms, struct stat *out)
{
	int64_t end = fu_ms() + ms;
	struct stat st;
	int rc;

	do {
		memset(&st, 0, sizeof(st));
		rc = lstat(pb("%s", rel), &st) ? -errno : 0;
		if (pred(rc, &st, want))
			break;
		fu_sleep_ms(5);
	} while (fu_ms() < end);
	if (out)
		*out = st;
	return pred(rc, &st, want);
}

static bool p_gone(int rc, const struct stat *st, long want)
{
	(void)st, (void)want;
	return rc == -ENOENT;
}

static bool p_size(int rc, const struct stat *st, long want)
{
	return !rc && st->st_size == want;
}

static bool p_nlink(int rc, const struct stat *st, long want)
{
	return !rc && (long)st->st_nlink == want;
}

static bool p_atime(int rc, const struct stat *st, long want)
{
	return !rc && st->st_atim.tv_sec == want;
}

static bool p_mtime(int rc, const struct stat *st, long want)
{
	return !rc && st->st_mtim.tv_sec == want;
}

static bool p_ino(int rc, const struct stat *st, long want)
{
	return !rc && (long)st->st_ino == want;
}

static int write_pat(const char *path, size_t len, uint32_t seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	int rc;

	fu_fill(buf, len, seed, 0);
	rc = fu_put(path, buf, len);
	free(buf);
	return rc;
}

/* The whole file at @path is @len bytes of pattern @seed. */
static bool has_pat(const char *path, size_t len, uint32_t seed)
{
	unsigned char *buf = malloc(len + 1);
	ssize_t n = fu_get(path, buf, len + 1);
	long bad = n == (ssize_t)len ? fu_check(buf, len, seed, 0) : -2;

	if (bad != -1)
		fprintf(stderr, "\n  %s: %zd bytes (want %zu), first bad byte "
			"%ld\n", path, n, len, bad);
	free(buf);
	return bad == -1;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---------------------------------------------------------------- open */

static void test_open_flags(void)
{
	char name[300];
	struct stat st;
	char buf[64];
	int fd, fd2;

	tdir("open");
	fd = open(pa("open/f"), O_CREAT | O_EXCL | O_RDWR, 0666);
	EXPECT_OK(fd);
	st = st_of(pa("open/f"));
	EXPECT_EQ(st.st_mode, S_IFREG | 0644); /* umask 022 */
	EXPECT_EQ(st.st_uid, 0);
	EXPECT_EQ(st.st_size, 0);
	EXPECT_EQ(st.st_nlink, 1);
	EXPECT_EQ(write(fd, "hello world", 11), 11);
	close(fd);

	EXPECT_ERR(open(pa("open/f"), O_CREAT | O_EXCL | O_RDWR, 0644),
		   EEXIST);
	/* O_CREAT without O_EXCL opens the existing file untouched */
	fd = open(pa("open/f"), O_CREAT | O_RDWR, 0600);
	EXPECT_OK(fd);
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 11);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_mode, S_IFREG | 0644);
	close(fd);

	/* O_TRUNC */
	fd = open(pa("open/f"), O_WRONLY | O_TRUNC);
	EXPECT_OK(fd);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 0);
	close(fd);
	EXPECT_EQ(st_of(pa("open/f")).st_size, 0);
	CU_ASSERT(b_stat_until("open/f", p_size, 0, 500, NULL));

	/* O_APPEND: every write goes to the end, whatever the offset */
	EXPECT_EQ(fu_put(pa("open/f"), "abc", 3), 0);
	fd = open(pa("open/f"), O_WRONLY | O_APPEND);
	EXPECT_OK(fd);
	EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
	EXPECT_EQ(write(fd, "def", 3), 3);
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 6);
	fd2 = open(pa("open/f"), O_WRONLY);
	EXPECT_EQ(pwrite(fd2, "XYZW", 4, 6), 4); /* another writer grows it */
	EXPECT_EQ(write(fd, "gh", 2), 2);	 /* lands after XYZW */
	close(fd2);
	close(fd);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(fu_get(pa("open/f"), buf, sizeof(buf)), 12);
	EXPECT_TRUE(!memcmp(buf, "abcdefXYZWgh", 12), "content '%.12s'", buf);

	/* O_DIRECTORY on a file; directories are not opened for writing */
	EXPECT_ERR(open(pa("open/f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	fd = open(pa("open"), O_RDONLY | O_DIRECTORY);
	EXPECT_OK(fd);
	close(fd);
	EXPECT_ERR(open(pa("open"), O_WRONLY), EISDIR);
	EXPECT_ERR(open(pa("open"), O_RDWR | O_CREAT, 0644), EISDIR);
	EXPECT_ERR(open(pa("open/missing"), O_RDONLY), ENOENT);
	EXPECT_ERR(open(pa("open/f/x"), O_RDONLY), ENOTDIR);
	EXPECT_ERR(open(pa("open/f/x"), O_RDWR | O_CREAT, 0644), ENOTDIR);
	EXPECT_ERR(open(pa("nodir/x"), O_RDWR | O_CREAT, 0644), ENOENT);

	/* a negative dentry, then O_EXCL creation of that name */
	EXPECT_ERR(stat(pa("open/neg"), &st), ENOENT);
	fd = open(pa("open/neg"), O_CREAT | O_EXCL | O_WRONLY, 0600);
	EXPECT_OK(fd);
	close(fd);
	EXPECT_EQ(st_of(pa("open/neg")).st_mode, S_IFREG | 0600);

	/* read-only and write-only descriptors */
	fd = open(pa("open/f"), O_RDONLY);
	EXPECT_ERR(write(fd, "x", 1), EBADF);
	close(fd);
	fd = open(pa("open/f"), O_WRONLY);
	EXPECT_ERR(read(fd, buf, 1), EBADF);
	close(fd);

	/* names: 255 bytes work, 256 do not */
	memset(name, 'n', 255);
	name[255] = 0;
	fd = open(pa("open/%s", name), O_CREAT | O_EXCL | O_WRONLY, 0644);
	EXPECT_OK(fd);
	close(fd);
	EXPECT_OK(stat(pa("open/%s", name), &st));
	name[255] = 'n';
	name[256] = 0;
	EXPECT_ERR(open(pa("open/%s", name), O_CREAT | O_WRONLY, 0644),
		   ENAMETOOLONG);
	EXPECT_ERR(stat(pa("open/%s", name), &st), ENAMETOOLONG);
	EXPECT_ERR(mkdir(pa("open/%s", name), 0755), ENAMETOOLONG);
}

/* ---------------------------------------------------------- read/write */

static void test_read_write(void)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, 65537,
					(size_t)MiB + 13, 3 * MiB };
	unsigned char *buf = malloc(4 * MiB), *back = malloc(4 * MiB);
	char small[16];
	int fd;

	tdir("rw");
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "rw/s%u", i);
		fu_fill(buf, sizes[i], 100 + i, 0);
		EXPECT_EQ(fu_put(pa("%s", rel), buf, sizes[i]), 0);
		EXPECT_EQ(st_of(pa("%s", rel)).st_size, sizes[i]);
		CU_ASSERT(has_pat(pa("%s", rel), sizes[i], 100 + i));
		CU_ASSERT(b_has(rel, sizes[i], 100 + i, 500));
	}

	/* pwrite/pread do not move the offset; overwrite in the middle */
	fd = open(pa("rw/p"), O_CREAT | O_RDWR, 0644);
	fu_fill(buf, 100000, 7, 0);
	EXPECT_EQ(write(fd, buf, 100000), 100000);
	EXPECT_EQ(lseek(fd, 10, SEEK_SET), 10);
	fu_fill(buf, 5000, 8, 0);
	EXPECT_EQ(pwrite(fd, buf, 5000, 50000), 5000);
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 10);
	EXPECT_EQ(pread(fd, back, 5000, 50000), 5000);
	EXPECT_EQ(fu_check(back, 5000, 8, 0), -1);
	EXPECT_EQ(pread(fd, back, 100, 49950), 100);
	EXPECT_EQ(fu_check(back, 50, 7, 49950), -1);
	EXPECT_EQ(fu_check(back + 50, 50, 8, 0), -1);
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 10);
	/* read at and past the end: 0; a short read near it */
	EXPECT_EQ(pread(fd, small, sizeof(small), 100000), 0);
	EXPECT_EQ(pread(fd, small, sizeof(small), 200000), 0);
	EXPECT_EQ(pread(fd, small, sizeof(small), 99990), 10);
	/* read() advances the offset */
	EXPECT_EQ(lseek(fd, 99995, SEEK_SET), 99995);
	EXPECT_EQ(read(fd, small, sizeof(small)), 5);
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 100000);
	EXPECT_EQ(read(fd, small, sizeof(small)), 0);
	/* a zero-length write changes nothing */
	EXPECT_EQ(write(fd, buf, 0), 0);
	EXPECT_EQ(st_of(pa("rw/p")).st_size, 100000);
	close(fd);
	/* B sees the merged content */
	fd = open(pb("rw/p"), O_RDONLY);
	EXPECT_OK(fd);
	EXPECT_EQ(fu_pread_all(fd, back, 100000, 0), 100000);
	EXPECT_EQ(fu_check(back, 50000, 7, 0), -1);
	EXPECT_EQ(fu_check(back + 50000, 5000, 8, 0), -1);
	EXPECT_EQ(fu_check(back + 55000, 45000, 7, 55000), -1);
	close(fd);
	free(buf);
	free(back);
}

/* ---------------------------------------------------- lseek and holes */

static void test_lseek_sparse(void)
{
	unsigned char buf[8192];
	struct stat st;
	int fd = open(pa("sparse"), O_CREAT | O_RDWR, 0644);

	EXPECT_OK(fd);
	EXPECT_EQ(lseek(fd, 1000000, SEEK_SET), 1000000); /* past EOF */
	EXPECT_EQ(st_of(pa("sparse")).st_size, 0);  /* seeking writes nothing */
	EXPECT_EQ(write(fd, "tail", 4), 4);
	EXPECT_EQ(lseek(fd, 0, SEEK_END), 1000004);
	EXPECT_EQ(lseek(fd, -4, SEEK_END), 1000000);
	EXPECT_EQ(lseek(fd, 2, SEEK_CUR), 1000002);
	EXPECT_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
	EXPECT_ERR(lseek(fd, -2000000, SEEK_CUR), EINVAL);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1000004);
	EXPECT_TRUE(st.st_blocks * 512 < st.st_size,
		    "st_blocks %lld for a file of one written block",
		    (long long)st.st_blocks);
	EXPECT_TRUE(st.st_blocks > 0, "st_blocks 0 for a file with data");
	/* the hole reads as zeroes, everywhere */
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CU_ASSERT(all_zero(buf, sizeof(buf)));
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 10, 999994), 10);
	CU_ASSERT(all_zero(buf, 6));
	CU_ASSERT(!memcmp(buf + 6, "tail", 4));
	/* a hole between two written ranges */
	EXPECT_EQ(pwrite(fd, "head", 4, 0), 4);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 8192, 0), 8192);
	CU_ASSERT(!memcmp(buf, "head", 4));
	CU_ASSERT(all_zero(buf + 4, 8188));
	close(fd);
	/* and through B, past A's page cache */
	fd = open(pb("sparse"), O_RDONLY);
	EXPECT_OK(fd);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 8192, 500000), 8192);
	CU_ASSERT(all_zero(buf, 8192));
	close(fd);
}

/* ------------------------------------------------------------ truncate */

static void test_truncate(void)
{
	unsigned char buf[20000];
	struct stat s0, s1;
	int fd;

	tdir("trunc");
	EXPECT_EQ(write_pat(pa("trunc/f"), 20000, 3), 0);
	s0 = st_of(pa("trunc/f"));
	fu_sleep_ms(15);
	/* shrink, then grow back: the cut bytes must read as zeroes */
	EXPECT_EQ(truncate(pa("trunc/f"), 5000), 0);
	s1 = st_of(pa("trunc/f"));
	EXPECT_EQ(s1.st_size, 5000);
	EXPECT_TRUE(ts_cmp(&s1.st_mtim, &s0.st_mtim) > 0, "mtime unchanged");
	EXPECT_TRUE(ts_cmp(&s1.st_ctim, &s0.st_ctim) > 0, "ctime unchanged");
	EXPECT_EQ(truncate(pa("trunc/f"), 20000), 0);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(fu_get(pa("trunc/f"), buf, sizeof(buf)), 20000);
	EXPECT_EQ(fu_check(buf, 5000, 3, 0), -1);
	CU_ASSERT(all_zero(buf + 5000, 15000));
	/* the same through B (the store, not A's page cache) */
	fd = open(pb("trunc/f"), O_RDONLY);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(fu_pread_all(fd, buf, sizeof(buf), 0), 20000);
	EXPECT_EQ(fu_check(buf, 5000, 3, 0), -1);
	CU_ASSERT(all_zero(buf + 5000, 15000));
	close(fd);

	/* ftruncate in the middle of a page, grow past it */
	fd = open(pa("trunc/f"), O_RDWR);
	EXPECT_EQ(fu_pwrite_all(fd, buf, 0, 0), 0);
	fu_fill(buf, 20000, 4, 0);
	EXPECT_EQ(fu_pwrite_all(fd, buf, 20000, 0), 20000);
	EXPECT_EQ(ftruncate(fd, 4100), 0);
	EXPECT_EQ(ftruncate(fd, 12000), 0);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(fu_pread_all(fd, buf, sizeof(buf), 0), 12000);
	EXPECT_EQ(fu_check(buf, 4100, 4, 0), -1);
	CU_ASSERT(all_zero(buf + 4100, 12000 - 4100));
	/* to zero and beyond 4 GiB */
	EXPECT_EQ(ftruncate(fd, 0), 0);
	EXPECT_EQ(pread(fd, buf, 10, 0), 0);
	EXPECT_EQ(ftruncate(fd, (off_t)(6 * GiB)), 0);
	EXPECT_EQ(st_of(pa("trunc/f")).st_size, 6 * GiB);
	EXPECT_EQ(pread(fd, buf, 100, (off_t)(6 * GiB - 50)), 50);
	CU_ASSERT(all_zero(buf, 50));
	EXPECT_ERR(ftruncate(fd, -1), EINVAL);
	close(fd);
	CU_ASSERT(b_stat_until("trunc/f", p_size, (long)(6 * GiB), 500, NULL));
	EXPECT_ERR(truncate(pa("trunc"), 0), EISDIR);
	EXPECT_ERR(truncate(pa("trunc/missing"), 0), ENOENT);
	fd = open(pa("trunc/f"), O_RDONLY);
	EXPECT_ERR(ftruncate(fd, 0), EINVAL); /* not open for writing */
	close(fd);
}

/* ----------------------------------------------------------- fallocate */

static void test_fallocate(void)
{
	unsigned char *buf = malloc(262144);
	struct stat st, st2;
	int fd;

	tdir("falloc");
	fd = open(pa("falloc/f"), O_CREAT | O_RDWR, 0644);
	/* mode 0 extends the size; the new range reads as zeroes */
	EXPECT_EQ(fallocate(fd, 0, 0, 1 << 20), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20);
	memset(buf, 0xee, 262144);
	EXPECT_EQ(pread(fd, buf, 262144, 500000), 262144);
	CU_ASSERT(all_zero(buf, 262144));
	/* inside the file: size and data unchanged */
	EXPECT_EQ(pwrite(fd, "data", 4, 100), 4);
	EXPECT_EQ(fallocate(fd, 0, 0, 4096), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20);
	EXPECT_EQ(pread(fd, buf, 4, 100), 4);
	CU_ASSERT(!memcmp(buf, "data", 4));
	/* KEEP_SIZE past the end: the size stays */
	EXPECT_EQ(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20);
	close(fd);

	/* PUNCH_HOLE|KEEP_SIZE zeroes a range; size stays, blocks go */
	EXPECT_EQ(write_pat(pa("falloc/p"), 262144, 11), 0);
	fd = open(pa("falloc/p"), O_RDWR);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(pread(fd, buf, 262144, 0), 262144); /* cache it */
	EXPECT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    65536, 65536), 0);
	/* unaligned, inside one page */
	EXPECT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    1000, 3000), 0);
	EXPECT_EQ(fstat(fd, &st2), 0);
	EXPECT_EQ(st2.st_size, 262144);
	EXPECT_TRUE(st2.st_blocks < st.st_blocks,
		    "st_blocks %lld after punching 64 KiB (was %lld)",
		    (long long)st2.st_blocks, (long long)st.st_blocks);
	memset(buf, 0xee, 262144);
	EXPECT_EQ(fu_pread_all(fd, buf, 262144, 0), 262144);
	EXPECT_EQ(fu_check(buf, 1000, 11, 0), -1);
	CU_ASSERT(all_zero(buf + 1000, 3000));
	EXPECT_EQ(fu_check(buf + 4000, 65536 - 4000, 11, 4000), -1);
	CU_ASSERT(all_zero(buf + 65536, 65536));
	EXPECT_EQ(fu_check(buf + 131072, 131072, 11, 131072), -1);
	/* PUNCH_HOLE needs KEEP_SIZE (the kernel says EOPNOTSUPP) */
	EXPECT_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);

	/* ZERO_RANGE inside, and past the end (grows unless KEEP_SIZE) */
	EXPECT_EQ(fallocate(fd, FALLOC_FL_ZERO_RANGE, 140000, 10000), 0);
	memset(buf, 0xee, 262144);
	EXPECT_EQ(fu_pread_all(fd, buf, 262144, 0), 262144);
	EXPECT_EQ(fu_check(buf + 131072, 140000 - 131072, 11, 131072), -1);
	CU_ASSERT(all_zero(buf + 140000, 10000));
	EXPECT_EQ(fu_check(buf + 150000, 262144 - 150000, 11, 150000), -1);
	EXPECT_EQ(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			    262144, 4096), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 262144);
	EXPECT_EQ(fallocate(fd, FALLOC_FL_ZERO_RANGE, 260000, 10000), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 270000);
	memset(buf, 0xee, 262144);
	EXPECT_EQ(fu_pread_all(fd, buf, 20000, 250000), 20000);
	EXPECT_EQ(fu_check(buf, 10000, 11, 250000), -1);
	CU_ASSERT(all_zero(buf + 10000, 10000));
	close(fd);
	/* the store itself has the holes (B) */
	fd = open(pb("falloc/p"), O_RDONLY);
	EXPECT_OK(fd);
	memset(buf, 0xee, 262144);
	EXPECT_EQ(fu_pread_all(fd, buf, 262144, 0), 262144);
	CU_ASSERT(all_zero(buf + 1000, 3000));
	CU_ASSERT(all_zero(buf + 65536, 65536));
	CU_ASSERT(all_zero(buf + 140000, 10000));
	EXPECT_EQ(fu_check(buf + 4000, 65536 - 4000, 11, 4000), -1);
	close(fd);
	free(buf);
}

/* ------------------------------------------------------- mkdir / rmdir */

static void test_mkdir_rmdir(void)
{
	struct stat st;
	nlink_t n0;

	tdir("md");
	n0 = st_of(pa("md")).st_nlink;
	EXPECT_EQ(n0, 2);
	EXPECT_EQ(mkdir(pa("md/a"), 0750), 0);
	st = st_of(pa("md/a"));
	EXPECT_EQ(st.st_mode, S_IFDIR | 0750);
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT_EQ(st_of(pa("md")).st_nlink, 3);
	EXPECT_EQ(mkdir(pa("md/b"), 0777), 0);
	EXPECT_EQ(st_of(pa("md/b")).st_mode, S_IFDIR | 0755); /* umask */
	EXPECT_EQ(mkdir(pa("md/a/sub"), 0755), 0);
	EXPECT_EQ(st_of(pa("md/a")).st_nlink, 3);
	EXPECT_EQ(st_of(pa("md")).st_nlink, 4);
	CU_ASSERT(b_stat_until("md", p_nlink, 4, 500, NULL));
	/* ".." of a subdirectory is its parent */
	EXPECT_EQ(st_of(pa("md/a/sub/..")).st_ino, st_of(pa("md/a")).st_ino);

	EXPECT_ERR(mkdir(pa("md/a"), 0755), EEXIST);
	EXPECT_EQ(write_pat(pa("md/file"), 10, 1), 0);
	EXPECT_ERR(mkdir(pa("md/file"), 0755), EEXIST);
	EXPECT_ERR(mkdir(pa("md/file/x"), 0755), ENOTDIR);
	EXPECT_ERR(mkdir(pa("md/none/x"), 0755), ENOENT);
	EXPECT_ERR(rmdir(pa("md/a")), ENOTEMPTY);
	EXPECT_ERR(rmdir(pa("md/file")), ENOTDIR);
	EXPECT_ERR(rmdir(pa("md/none")), ENOENT);
	EXPECT_ERR(rmdir(pa("md/a/.")), EINVAL);
	EXPECT_ERR(rmdir(pa("md/a/sub/..")), ENOTEMPTY);
	/* a directory holding only a file is not empty either */
	EXPECT_EQ(write_pat(pa("md/b/f"), 1, 1), 0);
	EXPECT_ERR(rmdir(pa("md/b")), ENOTEMPTY);
	EXPECT_EQ(unlink(pa("md/b/f")), 0);
	EXPECT_EQ(rmdir(pa("md/b")), 0);
	EXPECT_EQ(rmdir(pa("md/a/sub")), 0);
	EXPECT_EQ(st_of(pa("md/a")).st_nlink, 2);
	EXPECT_EQ(rmdir(pa("md/a")), 0);
	EXPECT_ERR(stat(pa("md/a"), &st), ENOENT);
	EXPECT_EQ(st_of(pa("md")).st_nlink, 2);
	CU_ASSERT(b_stat_until("md", p_nlink, 2, 500, NULL));
	CU_ASSERT(b_stat_until("md/a", p_gone, 0, 500, NULL));
	/* the removed name can be made again, as anything */
	EXPECT_EQ(write_pat(pa("md/a"), 5, 2), 0);
	CU_ASSERT(has_pat(pa("md/a"), 5, 2));
}

/* -------------------------------------------------------------- unlink */

static void test_unlink(void)
{
	struct stat s0, s1;

	tdir("ul");
	EXPECT_EQ(mkdir(pa("ul/d"), 0755), 0);
	EXPECT_EQ(write_pat(pa("ul/f"), 100, 1), 0);
	EXPECT_ERR(unlink(pa("ul/d")), EISDIR);
	EXPECT_ERR(unlink(pa("ul/none")), ENOENT);
	EXPECT_ERR(unlink(pa("ul/f/x")), ENOTDIR);
	s0 = st_of(pa("ul"));
	fu_sleep_ms(15);
	EXPECT_EQ(unlink(pa("ul/f")), 0);
	s1 = st_of(pa("ul"));
	EXPECT_TRUE(ts_cmp(&s1.st_mtim, &s0.st_mtim) > 0,
		    "parent mtime unchanged by unlink");
	EXPECT_ERR(unlink(pa("ul/f")), ENOENT);
	EXPECT_ERR(access(pa("ul/f"), F_OK), ENOENT);
	CU_ASSERT(b_stat_until("ul/f", p_gone, 0, 500, NULL));
}

/* ---------------------------------------------------------------- link */

static void test_link(void)
{
	struct stat s0, s1, s2;

	tdir("ln");
	EXPECT_EQ(write_pat(pa("ln/f"), 1000, 5), 0);
	s0 = st_of(pa("ln/f"));
	fu_sleep_ms(15);
	EXPECT_EQ(link(pa("ln/f"), pa("ln/g")), 0);
	s1 = st_of(pa("ln/f"));
	s2 = st_of(pa("ln/g"));
	EXPECT_EQ(s1.st_ino, s0.st_ino);
	EXPECT_EQ(s2.st_ino, s0.st_ino);
	EXPECT_EQ(s1.st_nlink, 2);
	EXPECT_EQ(s2.st_nlink, 2);
	EXPECT_TRUE(ts_cmp(&s1.st_ctim, &s0.st_ctim) > 0,
		    "ctime unchanged by link");
	CU_ASSERT(b_stat_until("ln/g", p_nlink, 2, 500, NULL));
	/* one file: a write through one name shows through the other */
	EXPECT_EQ(write_pat(pa("ln/g"), 3000, 6), 0);
	CU_ASSERT(has_pat(pa("ln/f"), 3000, 6));
	/* a third name in another directory */
	EXPECT_EQ(mkdir(pa("ln/sub"), 0755), 0);
	EXPECT_EQ(link(pa("ln/g"), pa("ln/sub/h")), 0);
	EXPECT_EQ(st_of(pa("ln/f")).st_nlink, 3);
	EXPECT_ERR(link(pa("ln/f"), pa("ln/g")), EEXIST);
	EXPECT_ERR(link(pa("ln/f"), pa("ln/sub")), EEXIST);
	EXPECT_ERR(link(pa("ln/sub"), pa("ln/sub2")), EPERM);
	EXPECT_ERR(link(pa("ln/none"), pa("ln/x")), ENOENT);
	EXPECT_ERR(link(pa("ln/f"), pa("ln/none/x")), ENOENT);
	/* unlinking names counts down */
	EXPECT_EQ(unlink(pa("ln/f")), 0);
	EXPECT_EQ(st_of(pa("ln/g")).st_nlink, 2);
	EXPECT_EQ(unlink(pa("ln/sub/h")), 0);
	EXPECT_EQ(st_of(pa("ln/g")).st_nlink, 1);
	CU_ASSERT(has_pat(pa("ln/g"), 3000, 6));
	CU_ASSERT(b_stat_until("ln/g", p_nlink, 1, 500, NULL));
	CU_ASSERT(b_stat_until("ln/f", p_gone, 0, 500, NULL));
}

/* ------------------------------------------------------------- symlink */

static void test_symlink(void)
{
	char target[4001], buf[4100];
	struct stat st;
	int fd;

	tdir("sl");
	EXPECT_EQ(symlink("no/such/target", pa("sl/dangling")), 0);
	st = st_of(pa("sl/dangling"));
	CU_ASSERT(S_ISLNK(st.st_mode));
	EXPECT_EQ(st.st_size, 14);
	EXPECT_EQ(readlink(pa("sl/dangling"), buf, sizeof(buf)), 14);
	CU_ASSERT(!memcmp(buf, "no/such/target", 14));
	EXPECT_ERR(stat(pa("sl/dangling"), &st), ENOENT);
	EXPECT_ERR(open(pa("sl/dangling"), O_RDONLY), ENOENT);
	/* a short buffer truncates, as readlink(2) does */
	EXPECT_EQ(readlink(pa("sl/dangling"), buf, 5), 5);
	CU_ASSERT(!memcmp(buf, "no/su", 5));

	/* a link to a file in the same directory: followed */
	EXPECT_EQ(write_pat(pa("sl/f"), 777, 9), 0);
	EXPECT_EQ(symlink("f", pa("sl/tof")), 0);
	CU_ASSERT(has_pat(pa("sl/tof"), 777, 9));
	EXPECT_EQ(st_of(pa("sl/f")).st_nlink, 1);
	/* O_NOFOLLOW refuses the link itself */
	EXPECT_ERR(open(pa("sl/tof"), O_RDONLY | O_NOFOLLOW), ELOOP);
	/* to a directory, and through it */
	EXPECT_EQ(mkdir(pa("sl/d"), 0755), 0);
	EXPECT_EQ(symlink("d", pa("sl/tod")), 0);
	EXPECT_EQ(write_pat(pa("sl/tod/inner"), 10, 10), 0);
	CU_ASSERT(has_pat(pa("sl/d/inner"), 10, 10));
	/* a long target */
	memset(target, 't', 4000);
	target[4000] = 0;
	for (int i = 100; i < 4000; i += 100)
		target[i] = '/';
	EXPECT_EQ(symlink(target, pa("sl/long")), 0);
	EXPECT_EQ(readlink(pa("sl/long"), buf, sizeof(buf)), 4000);
	CU_ASSERT(!memcmp(buf, target, 4000));
	EXPECT_EQ(readlink(pb("sl/long"), buf, sizeof(buf)), 4000);
	CU_ASSERT(!memcmp(buf, target, 4000));
	/* errors */
	EXPECT_ERR(symlink("x", pa("sl/f")), EEXIST);
	EXPECT_ERR(symlink("x", pa("sl/dangling")), EEXIST);
	EXPECT_ERR(readlink(pa("sl/f"), buf, sizeof(buf)), EINVAL);
	EXPECT_ERR(readlink(pa("sl/none"), buf, sizeof(buf)), ENOENT);
	/* a hard link to a symlink is a symlink */
	EXPECT_EQ(linkat(AT_FDCWD, pa("sl/dangling"), AT_FDCWD,
			 pa("sl/hard"), 0), 0);
	st = st_of(pa("sl/hard"));
	CU_ASSERT(S_ISLNK(st.st_mode));
	EXPECT_EQ(st.st_nlink, 2);
	/* the link's own times and owner: lchown works on the link */
	EXPECT_EQ(lchown(pa("sl/dangling"), 123, 456), 0);
	st = st_of(pa("sl/dangling"));
	EXPECT_EQ(st.st_uid, 123);
	EXPECT_EQ(st.st_gid, 456);
	EXPECT_EQ(st_of(pa("sl/f")).st_uid, 0);
	fd = open(pa("sl/tof"), O_WRONLY | O_TRUNC);
	EXPECT_OK(fd);
	close(fd);
	EXPECT_EQ(st_of(pa("sl/f")).st_size, 0);
}

/* -------------------------------------------------------------- rename */

static int rename2(const char *a, const char *b, unsigned int flags)
{
	return renameat2(AT_FDCWD, a, AT_FDCWD, b, flags);
}

static void test_rename(void)
{
	struct stat sa, sb, st;

	tdir("rn");
	EXPECT_EQ(mkdir(pa("rn/p1"), 0755), 0);
	EXPECT_EQ(mkdir(pa("rn/p2"), 0755), 0);

	/* file over file: the name now holds the source; inode kept */
	EXPECT_EQ(write_pat(pa("rn/a"), 100, 1), 0);
	EXPECT_EQ(write_pat(pa("rn/b"), 200, 2), 0);
	sa = st_of(pa("rn/a"));
	EXPECT_EQ(rename(pa("rn/a"), pa("rn/b")), 0);
	EXPECT_ERR(stat(pa("rn/a"), &st), ENOENT);
	st = st_of(pa("rn/b"));
	EXPECT_EQ(st.st_ino, sa.st_ino);
	EXPECT_EQ(st.st_nlink, 1);
	CU_ASSERT(has_pat(pa("rn/b"), 100, 1));
	CU_ASSERT(b_has("rn/b", 100, 1, 500));
	CU_ASSERT(b_stat_until("rn/a", p_gone, 0, 500, NULL));

	/* across directories, and the directory link counts */
	EXPECT_EQ(mkdir(pa("rn/p1/d"), 0755), 0);
	EXPECT_EQ(write_pat(pa("rn/p1/d/in"), 10, 3), 0);
	sa = st_of(pa("rn/p1/d"));
	EXPECT_EQ(st_of(pa("rn/p1")).st_nlink, 3);
	EXPECT_EQ(rename(pa("rn/p1/d"), pa("rn/p2/d")), 0);
	EXPECT_EQ(st_of(pa("rn/p1")).st_nlink, 2);
	EXPECT_EQ(st_of(pa("rn/p2")).st_nlink, 3);
	EXPECT_EQ(st_of(pa("rn/p2/d")).st_ino, sa.st_ino);
	EXPECT_EQ(st_of(pa("rn/p2/d/..")).st_ino, st_of(pa("rn/p2")).st_ino);
	CU_ASSERT(has_pat(pa("rn/p2/d/in"), 10, 3));
	CU_ASSERT(b_stat_until("rn/p2", p_nlink, 3, 500, NULL));
	CU_ASSERT(b_stat_until("rn/p1", p_nlink, 2, 500, NULL));
	CU_ASSERT(b_has("rn/p2/d/in", 10, 3, 500));

	/* directory over an empty directory */
	EXPECT_EQ(mkdir(pa("rn/p1/empty"), 0755), 0);
	EXPECT_EQ(rename(pa("rn/p2/d"), pa("rn/p1/empty")), 0);
	EXPECT_EQ(st_of(pa("rn/p1/empty")).st_ino, sa.st_ino);
	CU_ASSERT(has_pat(pa("rn/p1/empty/in"), 10, 3));
	EXPECT_EQ(st_of(pa("rn/p1")).st_nlink, 3);
	EXPECT_EQ(st_of(pa("rn/p2")).st_nlink, 2);
	EXPECT_EQ(rename(pa("rn/p1/empty"), pa("rn/p1/d")), 0);

	/* over a non-empty directory; file over dir; dir over file */
	EXPECT_EQ(mkdir(pa("rn/full"), 0755), 0);
	EXPECT_EQ(write_pat(pa("rn/full/x"), 1, 1), 0);
	EXPECT_EQ(mkdir(pa("rn/e"), 0755), 0);
	EXPECT_ERR(rename(pa("rn/e"), pa("rn/full")), ENOTEMPTY);
	EXPECT_ERR(rename(pa("rn/b"), pa("rn/e")), EISDIR);
	EXPECT_ERR(rename(pa("rn/e"), pa("rn/b")), ENOTDIR);
	EXPECT_ERR(rename(pa("rn/none"), pa("rn/x")), ENOENT);
	EXPECT_ERR(rename(pa("rn/b"), pa("rn/none/x")), ENOENT);
	/* into its own subtree */
	EXPECT_EQ(mkdir(pa("rn/e/sub"), 0755), 0);
	EXPECT_ERR(rename(pa("rn/e"), pa("rn/e/sub/e")), EINVAL);
	EXPECT_ERR(rename(pa("rn/e"), pa("rn/e/x")), EINVAL);
	CU_ASSERT(S_ISDIR(st_of(pa("rn/e/sub")).st_mode));

	/* RENAME_NOREPLACE */
	EXPECT_EQ(write_pat(pa("rn/c"), 30, 4), 0);
	EXPECT_ERR(rename2(pa("rn/c"), pa("rn/b"), RENAME_NOREPLACE), EEXIST);
	CU_ASSERT(has_pat(pa("rn/b"), 100, 1));
	CU_ASSERT(has_pat(pa("rn/c"), 30, 4));
	EXPECT_EQ(rename2(pa("rn/c"), pa("rn/c2"), RENAME_NOREPLACE), 0);
	CU_ASSERT(has_pat(pa("rn/c2"), 30, 4));
	EXPECT_ERR(rename2(pa("rn/c2"), pa("rn/b"),
			   RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);

	/* RENAME_EXCHANGE of two files: names swap inodes */
	sa = st_of(pa("rn/b"));
	sb = st_of(pa("rn/c2"));
	EXPECT_EQ(rename2(pa("rn/b"), pa("rn/c2"), RENAME_EXCHANGE), 0);
	EXPECT_EQ(st_of(pa("rn/b")).st_ino, sb.st_ino);
	EXPECT_EQ(st_of(pa("rn/c2")).st_ino, sa.st_ino);
	CU_ASSERT(has_pat(pa("rn/b"), 30, 4));
	CU_ASSERT(has_pat(pa("rn/c2"), 100, 1));
	CU_ASSERT(b_has("rn/b", 30, 4, 500));
	CU_ASSERT(b_has("rn/c2", 100, 1, 500));
	EXPECT_ERR(rename2(pa("rn/b"), pa("rn/none"), RENAME_EXCHANGE),
		   ENOENT);
	/* a file and a directory in different parents */
	EXPECT_EQ(write_pat(pa("rn/p2/file"), 40, 5), 0);
	sa = st_of(pa("rn/p1/d"));
	EXPECT_EQ(st_of(pa("rn/p1")).st_nlink, 3);
	EXPECT_EQ(st_of(pa("rn/p2")).st_nlink, 2);
	EXPECT_EQ(rename2(pa("rn/p1/d"), pa("rn/p2/file"), RENAME_EXCHANGE),
		  0);
	EXPECT_EQ(st_of(pa("rn/p2/file")).st_ino, sa.st_ino);
	CU_ASSERT(S_ISDIR(st_of(pa("rn/p2/file")).st_mode));
	CU_ASSERT(has_pat(pa("rn/p1/d"), 40, 5));
	CU_ASSERT(has_pat(pa("rn/p2/file/in"), 10, 3));
	EXPECT_EQ(st_of(pa("rn/p1")).st_nlink, 2);
	EXPECT_EQ(st_of(pa("rn/p2")).st_nlink, 3);
	EXPECT_EQ(st_of(pa("rn/p2/file/..")).st_ino,
		  st_of(pa("rn/p2")).st_ino);
	CU_ASSERT(b_stat_until("rn/p2", p_nlink, 3, 500, NULL));
	CU_ASSERT(b_stat_until("rn/p1", p_nlink, 2, 500, NULL));
	/* two directories */
	EXPECT_EQ(mkdir(pa("rn/x1"), 0755), 0);
	EXPECT_EQ(mkdir(pa("rn/x2"), 0755), 0);
	EXPECT_EQ(write_pat(pa("rn/x1/m1"), 1, 1), 0);
	EXPECT_EQ(rename2(pa("rn/x1"), pa("rn/x2"), RENAME_EXCHANGE), 0);
	EXPECT_OK(stat(pa("rn/x2/m1"), &st));
	EXPECT_ERR(stat(pa("rn/x1/m1"), &st), ENOENT);
	/* exchanging a directory with one of its descendants */
	EXPECT_EQ(mkdir(pa("rn/x2/deep"), 0755), 0);
	EXPECT_ERR(rename2(pa("rn/x2"), pa("rn/x2/deep"), RENAME_EXCHANGE),
		   EINVAL);

	/* rename to itself, and between two links of one file: no-ops */
	sa = st_of(pa("rn/b"));
	EXPECT_EQ(rename(pa("rn/b"), pa("rn/b")), 0);
	st = st_of(pa("rn/b"));
	EXPECT_EQ(st.st_ino, sa.st_ino);
	CU_ASSERT(has_pat(pa("rn/b"), 30, 4));
	EXPECT_EQ(link(pa("rn/b"), pa("rn/b2")), 0);
	EXPECT_EQ(rename(pa("rn/b"), pa("rn/b2")), 0);
	EXPECT_OK(stat(pa("rn/b"), &st));
	EXPECT_OK(stat(pa("rn/b2"), &st));
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT_EQ(rename(pa("rn/e"), pa("rn/e")), 0);
	CU_ASSERT(S_ISDIR(st_of(pa("rn/e")).st_mode));
	CU_ASSERT(b_stat_until("rn/b2", p_nlink, 2, 500, NULL));

	/* the replaced file of an over-rename is gone (its inode too) */
	EXPECT_EQ(write_pat(pa("rn/v1"), 10, 1), 0);
	EXPECT_EQ(write_pat(pa("rn/v2"), 10, 2), 0);
	EXPECT_EQ(link(pa("rn/v2"), pa("rn/v2link")), 0);
	EXPECT_EQ(rename(pa("rn/v1"), pa("rn/v2")), 0);
	EXPECT_EQ(st_of(pa("rn/v2link")).st_nlink, 1);
	CU_ASSERT(has_pat(pa("rn/v2link"), 10, 2));
	CU_ASSERT(has_pat(pa("rn/v2"), 10, 1));
}

/* -------------------------------------------------------- chmod, chown */

static void test_chmod_chown(void)
{
	struct stat s0, s1;
	int fd;

	tdir("own");
	EXPECT_EQ(write_pat(pa("own/f"), 10, 1), 0);
	s0 = st_of(pa("own/f"));
	fu_sleep_ms(15);
	EXPECT_EQ(chmod(pa("own/f"), 0600), 0);
	s1 = st_of(pa("own/f"));
	EXPECT_EQ(s1.st_mode, S_IFREG | 0600);
	EXPECT_TRUE(ts_cmp(&s1.st_ctim, &s0.st_ctim) > 0,
		    "ctime unchanged by chmod");
	EXPECT_EQ(ts_cmp(&s1.st_mtim, &s0.st_mtim), 0);
	EXPECT_EQ(chmod(pa("own/f"), 07777), 0);
	EXPECT_EQ(st_of(pa("own/f")).st_mode, S_IFREG | 07777);
	EXPECT_EQ(chmod(pa("own/f"), 0), 0);
	EXPECT_EQ(st_of(pa("own/f")).st_mode, S_IFREG);
	/* root reads a mode-0 file all the same */
	CU_ASSERT(has_pat(pa("own/f"), 10, 1));
	fd = open(pa("own/f"), O_RDONLY);
	EXPECT_EQ(fchmod(fd, 0644), 0);
	close(fd);
	EXPECT_EQ(st_of(pa("own/f")).st_mode, S_IFREG | 0644);

	s0 = st_of(pa("own/f"));
	fu_sleep_ms(15);
	EXPECT_EQ(chown(pa("own/f"), 1000, 2000), 0);
	s1 = st_of(pa("own/f"));
	EXPECT_EQ(s1.st_uid, 1000);
	EXPECT_EQ(s1.st_gid, 2000);
	EXPECT_TRUE(ts_cmp(&s1.st_ctim, &s0.st_ctim) > 0,
		    "ctime unchanged by chown");
	EXPECT_EQ(chown(pa("own/f"), (uid_t)-1, 3000), 0);
	s1 = st_of(pa("own/f"));
	EXPECT_EQ(s1.st_uid, 1000);
	EXPECT_EQ(s1.st_gid, 3000);
	EXPECT_EQ(chown(pa("own/f"), 4000, (gid_t)-1), 0);
	s1 = st_of(pa("own/f"));
	EXPECT_EQ(s1.st_uid, 4000);
	EXPECT_EQ(s1.st_gid, 3000);
	/* chown clears set-uid and set-gid (of a group-executable file) */
	EXPECT_EQ(chmod(pa("own/f"), 06755), 0);
	EXPECT_EQ(chown(pa("own/f"), 5000, 5000), 0);
	EXPECT_EQ(st_of(pa("own/f")).st_mode, S_IFREG | 0755);
	CU_ASSERT(b_stat_until("own/f", p_ino, (long)s1.st_ino, 500, &s1));
	EXPECT_EQ(s1.st_uid, 5000);
	EXPECT_EQ(s1.st_mode, S_IFREG | 0755);
	EXPECT_ERR(chmod(pa("own/none"), 0644), ENOENT);
	EXPECT_ERR(chown(pa("own/none"), 1, 1), ENOENT);
	/* directories */
	EXPECT_EQ(mkdir(pa("own/d"), 0700), 0);
	EXPECT_EQ(chmod(pa("own/d"), 0711), 0);
	EXPECT_EQ(chown(pa("own/d"), 7, 8), 0);
	s1 = st_of(pa("own/d"));
	EXPECT_EQ(s1.st_mode, S_IFDIR | 0711);
	EXPECT_EQ(s1.st_uid, 7);
	EXPECT_EQ(s1.st_gid, 8);
}

/* ------------------------------------------- permissions as other users */

#define U1 1000
#define G1 2000

static int as_other(void *arg)
{
	struct timespec t[2] = { { 1000, 0 }, { 2000, 0 } };
	struct stat st;
	int f = 0, fd;
	DIR *d;

	(void)arg;
	/* a private directory of root's */
	errno = 0;
	FU_CK(f, open(pa("perm/priv/x"), O_CREAT | O_WRONLY, 0644) == -1 &&
		 errno == EACCES);
	errno = 0;
	FU_CK(f, stat(pa("perm/priv/inner"), &st) == -1 && errno == EACCES);
	errno = 0;
	d = opendir(pa("perm/priv"));
	FU_CK(f, !d && errno == EACCES);
	if (d)
		closedir(d);
	/* root's 0644 file in a public directory */
	fd = open(pa("perm/pub/rootfile"), O_RDONLY);
	FU_CK(f, fd >= 0);
	if (fd >= 0)
		close(fd);
	errno = 0;
	FU_CK(f, open(pa("perm/pub/rootfile"), O_WRONLY) == -1 &&
		 errno == EACCES);
	errno = 0;
	FU_CK(f, truncate(pa("perm/pub/rootfile"), 0) == -1 &&
		 errno == EACCES);
	errno = 0;
	FU_CK(f, chmod(pa("perm/pub/rootfile"), 0666) == -1 && errno == EPERM);
	errno = 0;
	FU_CK(f, chown(pa("perm/pub/rootfile"), U1, G1) == -1 &&
		 errno == EPERM);
	errno = 0;
	FU_CK(f, utimensat(AT_FDCWD, pa("perm/pub/rootfile"), NULL, 0) ==
			 -1 && errno == EACCES);
	errno = 0;
	FU_CK(f, utimensat(AT_FDCWD, pa("perm/pub/rootfile"), t, 0) == -1 &&
		 errno == EPERM);
	errno = 0;
	FU_CK(f, setxattr(pa("perm/pub/rootfile"), "user.x", "1", 1, 0) ==
			 -1 && errno == EACCES);
	errno = 0;
	FU_CK(f, setxattr(pa("perm/pub/rootfile"), "trusted.x", "1", 1, 0) ==
			 -1 && errno == EPERM);
	errno = 0;
	FU_CK(f, access(pa("perm/pub/rootfile"), X_OK) == -1 &&
		 errno == EACCES);
	FU_CK(f, access(pa("perm/pub/rootfile"), R_OK) == 0);
	/* a world-writable file of root's: writable, but not its owner */
	fd = open(pa("perm/pub/shared"), O_WRONLY);
	FU_CK(f, fd >= 0);
	FU_CK(f, fd >= 0 && write(fd, "user", 4) == 4);
	if (fd >= 0)
		close(fd);
	FU_CK(f, utimensat(AT_FDCWD, pa("perm/pub/shared"), NULL, 0) == 0);
	/* a write by another user clears set-uid / set-gid */
	fd = open(pa("perm/pub/suid"), O_WRONLY);
	FU_CK(f, fd >= 0 && write(fd, "x", 1) == 1);
	if (fd >= 0)
		close(fd);
	/* new files, directories and links are the caller's */
	fd = open(pa("perm/pub/mine"), O_CREAT | O_EXCL | O_WRONLY, 0640);
	FU_CK(f, fd >= 0);
	FU_CK(f, fd >= 0 && !fstat(fd, &st) && st.st_uid == U1 &&
		 st.st_gid == G1);
	if (fd >= 0)
		close(fd);
	FU_CK(f, mkdir(pa("perm/pub/minedir"), 0755) == 0);
	FU_CK(f, symlink("x", pa("perm/pub/minelink")) == 0);
	FU_CK(f, mknod(pa("perm/pub/minenod"), S_IFIFO | 0644, 0) == 0);
	FU_CK(f, chmod(pa("perm/pub/mine"), 0600) == 0);
	/* giving a file away, or to a group one is not in: refused */
	errno = 0;
	FU_CK(f, chown(pa("perm/pub/mine"), 0, (gid_t)-1) == -1 &&
		 errno == EPERM);
	errno = 0;
	FU_CK(f, chown(pa("perm/pub/mine"), (uid_t)-1, 0) == -1 &&
		 errno == EPERM);
	/* a read-only directory of root's */
	errno = 0;
	FU_CK(f, open(pa("perm/ro/x"), O_CREAT | O_WRONLY, 0644) == -1 &&
		 errno == EACCES);
	errno = 0;
	FU_CK(f, unlink(pa("perm/ro/rootfile")) == -1 && errno == EACCES);
	errno = 0;
	FU_CK(f, mkdir(pa("perm/ro/x"), 0755) == -1 && errno == EACCES);
	errno = 0;
	FU_CK(f, rename(pa("perm/ro/rootfile"), pa("perm/pub/stolen")) == -1 &&
		 errno == EACCES);
	/* the sticky directory: others' files stay */
	errno = 0;
	FU_CK(f, unlink(pa("perm/sticky/rootfile")) == -1 && errno == EPERM);
	errno = 0;
	FU_CK(f, rename(pa("perm/sticky/rootfile"), pa("perm/sticky/y")) ==
			 -1 && errno == EPERM);
	fd = open(pa("perm/sticky/own"), O_CREAT | O_WRONLY, 0644);
	FU_CK(f, fd >= 0);
	if (fd >= 0)
		close(fd);
	FU_CK(f, unlink(pa("perm/sticky/own")) == 0);
	/* search permission on a directory (x without r) */
	FU_CK(f, stat(pa("perm/xonly/inner"), &st) == 0);
	errno = 0;
	d = opendir(pa("perm/xonly"));
	FU_CK(f, !d && errno == EACCES);
	if (d)
		closedir(d);
	return f;
}

static void test_permissions(void)
{
	struct stat st;

	tdir("perm");
	EXPECT_EQ(mkdir(pa("perm/priv"), 0700), 0);
	EXPECT_EQ(write_pat(pa("perm/priv/inner"), 1, 1), 0);
	EXPECT_EQ(mkdir(pa("perm/pub"), 0777), 0);
	EXPECT_EQ(chmod(pa("perm/pub"), 0777), 0);
	EXPECT_EQ(write_pat(pa("perm/pub/rootfile"), 10, 1), 0);
	EXPECT_EQ(write_pat(pa("perm/pub/shared"), 10, 1), 0);
	EXPECT_EQ(chmod(pa("perm/pub/shared"), 0666), 0);
	EXPECT_EQ(write_pat(pa("perm/pub/suid"), 10, 1), 0);
	EXPECT_EQ(chmod(pa("perm/pub/suid"), 06777), 0);
	EXPECT_EQ(mkdir(pa("perm/ro"), 0755), 0);
	EXPECT_EQ(write_pat(pa("perm/ro/rootfile"), 10, 1), 0);
	EXPECT_EQ(mkdir(pa("perm/sticky"), 0755), 0);
	EXPECT_EQ(chmod(pa("perm/sticky"), 01777), 0);
	EXPECT_EQ(write_pat(pa("perm/sticky/rootfile"), 10, 1), 0);
	EXPECT_EQ(chmod(pa("perm/sticky/rootfile"), 0666), 0);
	EXPECT_EQ(mkdir(pa("perm/xonly"), 0711), 0);
	EXPECT_EQ(write_pat(pa("perm/xonly/inner"), 1, 1), 0);

	EXPECT_EQ(fu_as_user(U1, G1, as_other, NULL), 0);

	st = st_of(pa("perm/pub/mine"));
	EXPECT_EQ(st.st_uid, U1);
	EXPECT_EQ(st.st_gid, G1);
	EXPECT_EQ(st.st_mode, S_IFREG | 0600);
	st = st_of(pa("perm/pub/minedir"));
	EXPECT_EQ(st.st_uid, U1);
	EXPECT_EQ(st.st_gid, G1);
	st = st_of(pa("perm/pub/minelink"));
	EXPECT_EQ(st.st_uid, U1);
	EXPECT_EQ(st.st_gid, G1);
	st = st_of(pa("perm/pub/minenod"));
	EXPECT_EQ(st.st_uid, U1);
	CU_ASSERT(S_ISFIFO(st.st_mode));
	/* and in the store (B has never seen these) */
	CU_ASSERT(b_stat_until("perm/pub/mine", p_nlink, 1, 500, &st));
	EXPECT_EQ(st.st_uid, U1);
	EXPECT_EQ(st.st_gid, G1);
	st = st_of(pa("perm/pub/suid"));
	EXPECT_EQ(st.st_mode, S_IFREG | 0777);
	EXPECT_OK(stat(pa("perm/ro/rootfile"), &st));
	EXPECT_OK(stat(pa("perm/sticky/rootfile"), &st));
	EXPECT_ERR(stat(pa("perm/pub/stolen"), &st), ENOENT);
}

/* ----------------------------------------------------- set-gid directory */

static int sgid_other(void *arg)
{
	struct stat st;
	int f = 0, fd;

	(void)arg;
	fd = open(pa("sg/d/byuser"), O_CREAT | O_WRONLY, 0644);
	FU_CK(f, fd >= 0 && !fstat(fd, &st) && st.st_uid == U1 &&
		 st.st_gid == 4321);
	if (fd >= 0)
		close(fd);
	return f;
}

static void test_setgid_dir(void)
{
	struct stat st;
	int fd;

	tdir("sg");
	EXPECT_EQ(mkdir(pa("sg/d"), 0777), 0);
	EXPECT_EQ(chown(pa("sg/d"), 0, 4321), 0);
	EXPECT_EQ(chmod(pa("sg/d"), 02777), 0);
	EXPECT_EQ(st_of(pa("sg/d")).st_mode, S_IFDIR | 02777);
	fd = open(pa("sg/d/f"), O_CREAT | O_WRONLY, 0644);
	EXPECT_OK(fd);
	close(fd);
	st = st_of(pa("sg/d/f"));
	EXPECT_EQ(st.st_gid, 4321);
	EXPECT_EQ(st.st_uid, 0);
	EXPECT_EQ(st.st_mode, S_IFREG | 0644); /* no set-gid on files */
	EXPECT_EQ(mkdir(pa("sg/d/sub"), 0755), 0);
	st = st_of(pa("sg/d/sub"));
	EXPECT_EQ(st.st_gid, 4321);
	EXPECT_EQ(st.st_mode & 07777, 02755);
	/* and further down */
	EXPECT_EQ(mkdir(pa("sg/d/sub/subsub"), 0700), 0);
	st = st_of(pa("sg/d/sub/subsub"));
	EXPECT_EQ(st.st_gid, 4321);
	EXPECT_EQ(st.st_mode & 07777, 02700);
	EXPECT_EQ(mknod(pa("sg/d/nod"), S_IFIFO | 0600, 0), 0);
	EXPECT_EQ(st_of(pa("sg/d/nod")).st_gid, 4321);
	EXPECT_EQ(symlink("t", pa("sg/d/sym")), 0);
	EXPECT_EQ(st_of(pa("sg/d/sym")).st_gid, 4321);
	EXPECT_EQ(fu_as_user(U1, G1, sgid_other, NULL), 0);
	/* without set-gid: the caller's group */
	EXPECT_EQ(chmod(pa("sg/d"), 0777), 0);
	fd = open(pa("sg/d/g"), O_CREAT | O_WRONLY, 0644);
	close(fd);
	EXPECT_EQ(st_of(pa("sg/d/g")).st_gid, 0);
}

/* ------------------------------------------------------------ utimensat */

static void test_utimens(void)
{
	struct timespec t[2], now;
	struct stat s0, s1;
	int fd;

	tdir("ut");
	EXPECT_EQ(write_pat(pa("ut/f"), 10, 1), 0);
	/* explicit times, to the nanosecond */
	t[0] = (struct timespec){ 1500000000, 123456789 };
	t[1] = (struct timespec){ 1600000000, 987654321 };
	s0 = st_of(pa("ut/f"));
	fu_sleep_ms(15);
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, 1500000000);
	EXPECT_EQ(s1.st_atim.tv_nsec, 123456789);
	EXPECT_EQ(s1.st_mtim.tv_sec, 1600000000);
	EXPECT_EQ(s1.st_mtim.tv_nsec, 987654321);
	EXPECT_TRUE(ts_cmp(&s1.st_ctim, &s0.st_ctim) > 0,
		    "ctime unchanged by utimensat");
	CU_ASSERT(b_stat_until("ut/f", p_mtime, 1600000000, 500, &s0));
	EXPECT_EQ(s0.st_mtim.tv_nsec, 987654321);

	/* UTIME_OMIT keeps one, the other is set */
	t[0] = (struct timespec){ 0, UTIME_OMIT };
	t[1] = (struct timespec){ 1700000000, 5 };
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, 1500000000);
	EXPECT_EQ(s1.st_atim.tv_nsec, 123456789);
	EXPECT_EQ(s1.st_mtim.tv_sec, 1700000000);
	EXPECT_EQ(s1.st_mtim.tv_nsec, 5);
	t[0] = (struct timespec){ 1400000000, 1 };
	t[1] = (struct timespec){ 0, UTIME_OMIT };
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, 1400000000);
	EXPECT_EQ(s1.st_atim.tv_nsec, 1);
	EXPECT_EQ(s1.st_mtim.tv_sec, 1700000000);
	EXPECT_EQ(s1.st_mtim.tv_nsec, 5);
	/* both omitted: nothing changes */
	t[0] = t[1] = (struct timespec){ 0, UTIME_OMIT };
	s0 = s1;
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(ts_cmp(&s1.st_atim, &s0.st_atim), 0);
	EXPECT_EQ(ts_cmp(&s1.st_mtim, &s0.st_mtim), 0);

	/* UTIME_NOW on one, and NULL (both now) */
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec -= 1; /* coarse clocks */
	t[0] = (struct timespec){ 0, UTIME_OMIT };
	t[1] = (struct timespec){ 0, UTIME_NOW };
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, 1400000000);
	EXPECT_TRUE(ts_cmp(&s1.st_mtim, &now) > 0, "mtime %lld not now",
		    (long long)s1.st_mtim.tv_sec);
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), NULL, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_TRUE(ts_cmp(&s1.st_atim, &now) > 0, "atime %lld not now",
		    (long long)s1.st_atim.tv_sec);
	/* futimens, and a symlink's own times */
	fd = open(pa("ut/f"), O_RDONLY);
	t[0] = (struct timespec){ 1234, 5678 };
	t[1] = (struct timespec){ 8765, 4321 };
	EXPECT_EQ(futimens(fd, t), 0);
	close(fd);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, 1234);
	EXPECT_EQ(s1.st_atim.tv_nsec, 5678);
	EXPECT_EQ(s1.st_mtim.tv_sec, 8765);
	EXPECT_EQ(s1.st_mtim.tv_nsec, 4321);
	EXPECT_EQ(symlink("f", pa("ut/l")), 0);
	t[1] = (struct timespec){ 99999, 7 };
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/l"), t, AT_SYMLINK_NOFOLLOW), 0);
	EXPECT_EQ(st_of(pa("ut/l")).st_mtim.tv_sec, 99999);
	EXPECT_EQ(st_of(pa("ut/f")).st_mtim.tv_sec, 8765);
	/* times before 1970 */
	t[0] = (struct timespec){ -1000, 500000000 };
	t[1] = (struct timespec){ -86400 * 365, 1 };
	EXPECT_EQ(utimensat(AT_FDCWD, pa("ut/f"), t, 0), 0);
	s1 = st_of(pa("ut/f"));
	EXPECT_EQ(s1.st_atim.tv_sec, -1000);
	EXPECT_EQ(s1.st_atim.tv_nsec, 500000000);
	EXPECT_EQ(s1.st_mtim.tv_sec, -86400 * 365);
	EXPECT_EQ(s1.st_mtim.tv_nsec, 1);
	CU_ASSERT(b_stat_until("ut/f", p_atime, -1000, 500, &s0));
	EXPECT_EQ(s0.st_atim.tv_nsec, 500000000);
}

/* -------------------------------------------------------- ctime, mtime */

struct tstamps {
	struct timespec m, c;
};

static struct tstamps ts_of(const char *p)
{
	struct stat st = st_of(p);

	return (struct tstamps){ st.st_mtim, st.st_ctim };
}

/* After @what: ctime moved; mtime moved iff @mtime. */
static void moved(const char *what, const struct tstamps *a,
		  const struct tstamps *b, bool mtime)
{
	EXPECT_TRUE(ts_cmp(&b->c, &a->c) > 0, "ctime did not move on %s",
		    what);
	if (mtime)
		EXPECT_TRUE(ts_cmp(&b->m, &a->m) > 0,
			    "mtime did not move on %s", what);
	else
		EXPECT_TRUE(ts_cmp(&b->m, &a->m) == 0, "mtime moved on %s",
			    what);
}

static void test_ctime(void)
{
	struct tstamps a, b, pa0, pa1;
	int fd;

	tdir("ct");
	EXPECT_EQ(mkdir(pa("ct/other"), 0755), 0);
	EXPECT_EQ(write_pat(pa("ct/f"), 100, 1), 0);
#define STEP(what, file, mt, op)                                           \
	do {                                                               \
		a = ts_of(file);                                           \
		fu_sleep_ms(12);                                           \
		EXPECT_OK(op);                                             \
		b = ts_of(file);                                           \
		moved(what, &a, &b, mt);                                   \
	} while (0)
	STEP("chmod", pa("ct/f"), false, chmod(pa("ct/f"), 0640));
	STEP("chown", pa("ct/f"), false, chown(pa("ct/f"), 1, 1));
	STEP("link", pa("ct/f"), false, link(pa("ct/f"), pa("ct/f2")));
	STEP("unlink of another link", pa("ct/f"), false,
	     unlink(pa("ct/f2")));
	/* rename: the inode's ctime moves, its mtime does not */
	a = ts_of(pa("ct/f"));
	fu_sleep_ms(12);
	EXPECT_EQ(rename(pa("ct/f"), pa("ct/g")), 0);
	b = ts_of(pa("ct/g"));
	moved("rename", &a, &b, false);
	fu_sleep_ms(12);
	EXPECT_EQ(rename(pa("ct/g"), pa("ct/other/g")), 0);
	a = ts_of(pa("ct/other/g"));
	moved("rename to another dir", &b, &a, false);
	STEP("truncate", pa("ct/other/g"), true,
	     truncate(pa("ct/other/g"), 10));
	fd = open(pa("ct/other/g"), O_WRONLY);
	STEP("write", pa("ct/other/g"), true, write(fd, "abc", 3));
	STEP("ftruncate", pa("ct/other/g"), true, ftruncate(fd, 1));
	STEP("setxattr", pa("ct/other/g"), false,
	     fsetxattr(fd, "user.k", "v", 1, 0));
	STEP("removexattr", pa("ct/other/g"), false,
	     fremovexattr(fd, "user.k"));
	close(fd);
	/* the parents of namespace changes */
	STEP("create (parent)", pa("ct"), true,
	     mknod(pa("ct/n"), S_IFREG | 0644, 0));
	STEP("mkdir (parent)", pa("ct"), true, mkdir(pa("ct/dd"), 0755));
	STEP("rmdir (parent)", pa("ct"), true, rmdir(pa("ct/dd")));
	STEP("unlink (parent)", pa("ct"), true, unlink(pa("ct/n")));
	STEP("symlink (parent)", pa("ct"), true,
	     symlink("x", pa("ct/sym")));
	STEP("link (parent)", pa("ct"), true,
	     link(pa("ct/other/g"), pa("ct/g2")));
	pa0 = ts_of(pa("ct"));
	STEP("rename out (source parent)", pa("ct/other"), true,
	     rename(pa("ct/other/g"), pa("ct/g3")));
	pa1 = ts_of(pa("ct"));
	moved("rename in (target parent)", &pa0, &pa1, true);
#undef STEP
	/* a read changes neither */
	a = ts_of(pa("ct/g3"));
	fu_sleep_ms(12);
	CU_ASSERT(fu_get(pa("ct/g3"), &pa0, 1) == 1);
	b = ts_of(pa("ct/g3"));
	EXPECT_EQ(ts_cmp(&a.c, &b.c), 0);
	EXPECT_EQ(ts_cmp(&a.m, &b.m), 0);
}

/* ---------------------------------------------- inode numbers, nlink */

static void test_inode_numbers(void)
{
	struct stat st, sb;
	ino_t ino, dino;

	tdir("ino");
	EXPECT_EQ(write_pat(pa("ino/f"), 10, 1), 0);
	EXPECT_EQ(mkdir(pa("ino/d"), 0755), 0);
	ino = st_of(pa("ino/f")).st_ino;
	dino = st_of(pa("ino/d")).st_ino;
	CU_ASSERT(ino != dino);
	CU_ASSERT(ino > 1);
	EXPECT_EQ(st_of(pa("ino/d/..")).st_ino, st_of(pa("ino")).st_ino);
	EXPECT_EQ(st_of(pa("ino/d/.")).st_ino, dino);
	EXPECT_EQ(rename(pa("ino/f"), pa("ino/d/f")), 0);
	EXPECT_EQ(st_of(pa("ino/d/f")).st_ino, ino);
	EXPECT_EQ(link(pa("ino/d/f"), pa("ino/l")), 0);
	EXPECT_EQ(st_of(pa("ino/l")).st_ino, ino);
	EXPECT_EQ(rename(pa("ino/d"), pa("ino/d2")), 0);
	EXPECT_EQ(st_of(pa("ino/d2")).st_ino, dino);
	/* the other mount agrees */
	CU_ASSERT(b_stat_until("ino/d2/f", p_ino, (long)ino, 500, &sb));
	CU_ASSERT(b_stat_until("ino/d2", p_ino, (long)dino, 500, &sb));
	/* the root */
	EXPECT_EQ(st_of(A.dir).st_ino, 1);
	/* inode numbers are not reused at once */
	EXPECT_EQ(unlink(pa("ino/l")), 0);
	EXPECT_EQ(unlink(pa("ino/d2/f")), 0);
	EXPECT_EQ(write_pat(pa("ino/new"), 1, 1), 0);
	st = st_of(pa("ino/new"));
	CU_ASSERT(st.st_ino != ino);
	/* readdir reports the same numbers as stat */
	{
		DIR *d = opendir(pa("ino"));
		struct dirent *e;
		int seen = 0;

		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, "new")) {
				EXPECT_EQ(e->d_ino, st.st_ino);
				EXPECT_EQ(e->d_type, DT_REG);
				seen++;
			} else if (!strcmp(e->d_name, "d2")) {
				EXPECT_EQ(e->d_ino, dino);
				EXPECT_EQ(e->d_type, DT_DIR);
				seen++;
			}
		}
		if (d)
			closedir(d);
		EXPECT_EQ(seen, 2);
	}
}

static void test_nlink(void)
{
	tdir("nl");
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 2);
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(mkdir(pa("nl/s%d", i), 0755), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 7);
	/* files do not count */
	EXPECT_EQ(write_pat(pa("nl/file"), 1, 1), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 7);
	EXPECT_EQ(rmdir(pa("nl/s0")), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 6);
	/* moving a subdirectory moves its count */
	EXPECT_EQ(rename(pa("nl/s1"), pa("nl/s2/s1")), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 5);
	EXPECT_EQ(st_of(pa("nl/s2")).st_nlink, 3);
	/* a directory replacing a directory */
	EXPECT_EQ(rename(pa("nl/s3"), pa("nl/s4")), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 4);
	/* a file renamed over a file */
	EXPECT_EQ(write_pat(pa("nl/file2"), 1, 1), 0);
	EXPECT_EQ(rename(pa("nl/file2"), pa("nl/file")), 0);
	EXPECT_EQ(st_of(pa("nl")).st_nlink, 4);
	EXPECT_EQ(st_of(pa("nl/file")).st_nlink, 1);
	CU_ASSERT(b_stat_until("nl", p_nlink, 4, 500, NULL));
	CU_ASSERT(b_stat_until("nl/s2", p_nlink, 3, 500, NULL));
	/* the root counts its subdirectories too */
	{
		DIR *d = opendir(A.dir);
		struct dirent *e;
		long dirs = 0;

		while (d && (e = readdir(d)))
			if (e->d_type == DT_DIR && strcmp(e->d_name, ".") &&
			    strcmp(e->d_name, ".."))
				dirs++;
		if (d)
			closedir(d);
		EXPECT_EQ(st_of(A.dir).st_nlink, 2 + dirs);
	}
}

/* -------------------------------------------------------------- xattrs */

static void test_xattr(void)
{
	char big[60000], buf[65536], list[1024];
	ssize_t n;
	int fd;

	tdir("xa");
	EXPECT_EQ(write_pat(pa("xa/f"), 10, 1), 0);
	EXPECT_EQ(setxattr(pa("xa/f"), "user.one", "value1", 6, 0), 0);
	EXPECT_EQ(getxattr(pa("xa/f"), "user.one", buf, sizeof(buf)), 6);
	CU_ASSERT(!memcmp(buf, "value1", 6));
	/* size query, and a buffer too small */
	EXPECT_EQ(getxattr(pa("xa/f"), "user.one", NULL, 0), 6);
	EXPECT_ERR(getxattr(pa("xa/f"), "user.one", buf, 3), ERANGE);
	EXPECT_ERR(getxattr(pa("xa/f"), "user.none", buf, sizeof(buf)),
		   ENODATA);
	/* CREATE and REPLACE */
	EXPECT_ERR(setxattr(pa("xa/f"), "user.one", "x", 1, XATTR_CREATE),
		   EEXIST);
	EXPECT_ERR(setxattr(pa("xa/f"), "user.two", "x", 1, XATTR_REPLACE),
		   ENODATA);
	EXPECT_EQ(setxattr(pa("xa/f"), "user.one", "v2", 2, XATTR_REPLACE),
		  0);
	EXPECT_EQ(getxattr(pa("xa/f"), "user.one", buf, sizeof(buf)), 2);
	CU_ASSERT(!memcmp(buf, "v2", 2));
	EXPECT_EQ(setxattr(pa("xa/f"), "user.two", "", 0, XATTR_CREATE), 0);
	EXPECT_EQ(getxattr(pa("xa/f"), "user.two", buf, sizeof(buf)), 0);
	/* binary values, trusted.*, a large value */
	EXPECT_EQ(setxattr(pa("xa/f"), "trusted.bin", "a\0b\0c", 5, 0), 0);
	EXPECT_EQ(getxattr(pa("xa/f"), "trusted.bin", buf, sizeof(buf)), 5);
	CU_ASSERT(!memcmp(buf, "a\0b\0c", 5));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	EXPECT_EQ(setxattr(pa("xa/f"), "user.big", big, sizeof(big), 0), 0);
	EXPECT_EQ(getxattr(pa("xa/f"), "user.big", buf, sizeof(buf)),
		  sizeof(big));
	CU_ASSERT(!memcmp(buf, big, sizeof(big)));
	/* listxattr */
	n = listxattr(pa("xa/f"), list, sizeof(list));
	EXPECT_EQ(n, sizeof("user.one") + sizeof("user.two") +
			     sizeof("trusted.bin") + sizeof("user.big"));
	EXPECT_EQ(listxattr(pa("xa/f"), NULL, 0), n);
	EXPECT_ERR(listxattr(pa("xa/f"), list, 5), ERANGE);
	{
		int found = 0;

		for (ssize_t off = 0; off < n;
		     off += (ssize_t)strlen(list + off) + 1)
			found += !strcmp(list + off, "user.one") +
				 !strcmp(list + off, "user.two") +
				 !strcmp(list + off, "trusted.bin") +
				 !strcmp(list + off, "user.big");
		EXPECT_EQ(found, 4);
	}
	/* removexattr */
	EXPECT_EQ(removexattr(pa("xa/f"), "user.two"), 0);
	EXPECT_ERR(removexattr(pa("xa/f"), "user.two"), ENODATA);
	EXPECT_ERR(getxattr(pa("xa/f"), "user.two", buf, sizeof(buf)),
		   ENODATA);
	/* through a descriptor; B sees them */
	fd = open(pa("xa/f"), O_RDONLY);
	EXPECT_EQ(fsetxattr(fd, "user.fd", "x", 1, 0), 0);
	EXPECT_EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 1);
	close(fd);
	EXPECT_EQ(getxattr(pb("xa/f"), "user.one", buf, sizeof(buf)), 2);
	EXPECT_EQ(getxattr(pb("xa/f"), "user.big", buf, sizeof(buf)),
		  sizeof(big));
	EXPECT_ERR(getxattr(pb("xa/f"), "user.two", buf, sizeof(buf)),
		   ENODATA);
	/* directories have them; symlinks take no user.* */
	EXPECT_EQ(setxattr(pa("xa"), "user.dir", "d", 1, 0), 0);
	EXPECT_EQ(getxattr(pa("xa"), "user.dir", buf, sizeof(buf)), 1);
	EXPECT_EQ(symlink("f", pa("xa/l")), 0);
	EXPECT_ERR(lsetxattr(pa("xa/l"), "user.x", "1", 1, 0), EPERM);
	EXPECT_EQ(lsetxattr(pa("xa/l"), "trusted.x", "1", 1, 0), 0);
	EXPECT_EQ(lgetxattr(pa("xa/l"), "trusted.x", buf, sizeof(buf)), 1);
	EXPECT_ERR(getxattr(pa("xa/none"), "user.x", buf, sizeof(buf)),
		   ENOENT);
	/* they go with the file across rename and link */
	EXPECT_EQ(rename(pa("xa/f"), pa("xa/g")), 0);
	EXPECT_EQ(getxattr(pa("xa/g"), "user.one", buf, sizeof(buf)), 2);
	/* a removed file's xattrs do not come back with its name */
	EXPECT_EQ(unlink(pa("xa/g")), 0);
	EXPECT_EQ(write_pat(pa("xa/g"), 1, 1), 0);
	EXPECT_ERR(getxattr(pa("xa/g"), "user.one", buf, sizeof(buf)),
		   ENODATA);
	EXPECT_EQ(listxattr(pa("xa/g"), list, sizeof(list)), 0);
}

/* -------------------------------------------------------- statfs, sync */

static void test_statfs(void)
{
	unsigned char *buf = malloc(8 * MiB);
	struct statvfs s0, s1;
	unsigned long long cap;
	struct statfs sf;

	EXPECT_EQ(statvfs(A.dir, &s0), 0);
	CU_ASSERT(s0.f_blocks > 0);
	CU_ASSERT(s0.f_bsize > 0);
	CU_ASSERT(s0.f_frsize > 0);
	CU_ASSERT(s0.f_bfree <= s0.f_blocks);
	CU_ASSERT(s0.f_bavail <= s0.f_bfree);
	CU_ASSERT(s0.f_files > 0);
	EXPECT_EQ(s0.f_namemax, 255);
	/* the capacity is about the region's 64 MiB */
	cap = (unsigned long long)s0.f_blocks * s0.f_frsize;
	EXPECT_TRUE(cap <= 64 * MiB && cap >= 32 * MiB, "%llu bytes", cap);
	EXPECT_EQ(statfs(A.dir, &sf), 0);
	EXPECT_EQ(sf.f_type, 0x65735546);
	fu_fill(buf, 8 * MiB, 77, 0);
	EXPECT_EQ(fu_put(pa("statfs-big"), buf, 8 * MiB), 0);
	EXPECT_EQ(statvfs(A.dir, &s1), 0);
	EXPECT_TRUE(s1.f_bfree < s0.f_bfree &&
		    (s0.f_bfree - s1.f_bfree) * s0.f_frsize >= 7 * MiB,
		    "f_bfree %llu -> %llu after writing 8 MiB",
		    (unsigned long long)s0.f_bfree,
		    (unsigned long long)s1.f_bfree);
	EXPECT_TRUE(s1.f_ffree <= s0.f_ffree, "f_ffree grew");
	/* B agrees */
	EXPECT_EQ(statvfs(B.dir, &s0), 0);
	EXPECT_EQ(s0.f_blocks, s1.f_blocks);
	EXPECT_EQ(unlink(pa("statfs-big")), 0);
	free(buf);
}

static void test_sync(void)
{
	int fd = open(pa("sync"), O_CREAT | O_RDWR, 0644);
	int dfd = open(A.dir, O_RDONLY | O_DIRECTORY);

	EXPECT_EQ(write(fd, "abc", 3), 3);
	EXPECT_EQ(fsync(fd), 0);
	EXPECT_EQ(fdatasync(fd), 0);
	EXPECT_EQ(syncfs(fd), 0);
	EXPECT_EQ(sync_file_range(fd, 0, 3, SYNC_FILE_RANGE_WRITE), 0);
	EXPECT_EQ(fsync(dfd), 0);
	EXPECT_EQ(fdatasync(dfd), 0);
	close(fd);
	close(dfd);
	/* fsync'ed means in the store: B reads it */
	{
		char buf[8];

		EXPECT_EQ(fu_get(pb("sync"), buf, sizeof(buf)), 3);
	}
}

/* -------------------------------------------------- unlinked while open */

static long b_inodes(void)
{
	struct statvfs s;

	if (statvfs(B.dir, &s))
		return -1;
	return (long)(s.f_files - s.f_ffree);
}

static bool b_inodes_until(long want, unsigned int ms)
{
	int64_t end = fu_ms() + ms;
	long n;

	do {
		n = b_inodes();
		if (n == want)
			return true;
		fu_sleep_ms(5);
	} while (fu_ms() < end);
	fprintf(stderr, "\n  B counts %ld inodes, want %ld\n", n, want);
	return false;
}

static void test_unlink_open(void)
{
	unsigned char buf[20000];
	uint64_t orphans = 99;
	struct stat st;
	long inodes0;
	int fd, fd2;

	tdir("uo");
	fd = open(pa("uo/f"), O_CREAT | O_RDWR, 0644);
	EXPECT_OK_FATAL(fd);
	fu_fill(buf, 10000, 21, 0);
	EXPECT_EQ(write(fd, buf, 10000), 10000);
	inodes0 = b_inodes();
	CU_ASSERT(inodes0 > 1);
	EXPECT_EQ(unlink(pa("uo/f")), 0);
	EXPECT_ERR(stat(pa("uo/f"), &st), ENOENT);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_nlink, 0);
	EXPECT_EQ(st.st_size, 10000);
	/* still readable and writable through the descriptor */
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(fu_pread_all(fd, buf, 10000, 0), 10000);
	EXPECT_EQ(fu_check(buf, 10000, 21, 0), -1);
	fu_fill(buf, 10000, 22, 0);
	EXPECT_EQ(fu_pwrite_all(fd, buf, 10000, 10000), 10000);
	/* a second descriptor of the same open file description */
	fd2 = dup(fd);
	close(fd);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(fu_pread_all(fd2, buf, 10000, 10000), 10000);
	EXPECT_EQ(fu_check(buf, 10000, 22, 0), -1);
	EXPECT_EQ(fstat(fd2, &st), 0);
	EXPECT_EQ(st.st_size, 20000);
	/* the name is gone for B; the inode is an orphan in the store */
	CU_ASSERT(b_stat_until("uo/f", p_gone, 0, 500, NULL));
	EXPECT_EQ(fu_verify(region, &orphans, NULL), 0);
	EXPECT_EQ(orphans, 1);
	EXPECT_EQ(b_inodes(), inodes0);
	/* a new file of that name is another file */
	EXPECT_EQ(write_pat(pa("uo/f"), 5, 23), 0);
	CU_ASSERT(has_pat(pa("uo/f"), 5, 23));
	EXPECT_EQ(fu_pread_all(fd2, buf, 10, 0), 10);
	EXPECT_EQ(fu_check(buf, 10, 21, 0), -1);
	close(fd2);
	/* the last close deletes it */
	CU_ASSERT(b_inodes_until(inodes0, 1000)); /* + the new "uo/f" */
	orphans = 99;
	EXPECT_EQ(fu_verify(region, &orphans, NULL), 0);
	EXPECT_EQ(orphans, 0);

	/* the same for a file replaced by rename while open */
	EXPECT_EQ(write_pat(pa("uo/r"), 3000, 24), 0);
	EXPECT_EQ(write_pat(pa("uo/r2"), 10, 25), 0);
	fd = open(pa("uo/r"), O_RDONLY);
	inodes0 = b_inodes();
	EXPECT_EQ(rename(pa("uo/r2"), pa("uo/r")), 0);
	CU_ASSERT(has_pat(pa("uo/r"), 10, 25));
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(fu_pread_all(fd, buf, 3000, 0), 3000);
	EXPECT_EQ(fu_check(buf, 3000, 24, 0), -1);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_nlink, 0);
	close(fd);
	CU_ASSERT(b_inodes_until(inodes0 - 1, 1000));
	EXPECT_EQ(fu_verify(region, &orphans, NULL), 0);
	EXPECT_EQ(orphans, 0);

	/* an unlinked file with another link stays, with one link less */
	EXPECT_EQ(write_pat(pa("uo/h"), 10, 26), 0);
	EXPECT_EQ(link(pa("uo/h"), pa("uo/h2")), 0);
	fd = open(pa("uo/h"), O_RDONLY);
	EXPECT_EQ(unlink(pa("uo/h")), 0);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_nlink, 1);
	close(fd);
	CU_ASSERT(has_pat(pa("uo/h2"), 10, 26));
	CU_ASSERT(b_has("uo/h2", 10, 26, 500));
}

/* ----------------------------------------------------- beyond 4 GiB */

static void test_big_file(void)
{
	unsigned char buf[8192];
	const off_t off = (off_t)(5 * GiB);
	struct stat st;
	int fd = open(pa("big"), O_CREAT | O_RDWR, 0644);

	EXPECT_OK_FATAL(fd);
	fu_fill(buf, 4096, 31, 0);
	EXPECT_EQ(pwrite(fd, buf, 4096, off), 4096);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, off + 4096);
	EXPECT_TRUE(st.st_blocks * 512 < 1024 * 1024,
		    "st_blocks %lld", (long long)st.st_blocks);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 4096, off), 4096);
	EXPECT_EQ(fu_check(buf, 4096, 31, 0), -1);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 8192, off - 8192), 8192);
	CU_ASSERT(all_zero(buf, 8192));
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 8192, (off_t)(4 * GiB) - 4096), 8192);
	CU_ASSERT(all_zero(buf, 8192));
	/* across the 4 GiB line itself */
	fu_fill(buf, 8192, 32, 0);
	EXPECT_EQ(pwrite(fd, buf, 8192, (off_t)(4 * GiB) - 4096), 8192);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 8192, (off_t)(4 * GiB) - 4096), 8192);
	EXPECT_EQ(fu_check(buf, 8192, 32, 0), -1);
	EXPECT_EQ(lseek(fd, 0, SEEK_END), off + 4096);
	/* SEEK_DATA / SEEK_HOLE: past the end is ENXIO; the end is a hole */
	EXPECT_ERR(lseek(fd, off + 8192, SEEK_DATA), ENXIO);
	EXPECT_EQ(lseek(fd, off, SEEK_HOLE), off + 4096);
	/* the store's limit is 2^62 bytes: EFBIG beyond, not EIO */
	EXPECT_ERR(pwrite(fd, "x", 1, (off_t)(1ull << 62)), EFBIG);
	EXPECT_ERR(ftruncate(fd, (off_t)(1ull << 62) + 1), EFBIG);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, off + 4096);
	close(fd);
	fd = open(pb("big"), O_RDONLY);
	EXPECT_OK(fd);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(pread(fd, buf, 4096, off), 4096);
	EXPECT_EQ(fu_check(buf, 4096, 31, 0), -1);
	EXPECT_EQ(pread(fd, buf, 8192, (off_t)(4 * GiB) - 4096), 8192);
	EXPECT_EQ(fu_check(buf, 8192, 32, 0), -1);
	close(fd);
	EXPECT_EQ(unlink(pa("big")), 0);
}

/* ---------------------------------------------------------------- mmap */

static void test_mmap(void)
{
	const size_t len = 65536;
	unsigned char *p, *buf = malloc(len);
	int fd;

	tdir("mm");
	EXPECT_EQ(write_pat(pa("mm/f"), len, 41), 0);
	fd = open(pa("mm/f"), O_RDWR);
	EXPECT_OK_FATAL(fd);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	EXPECT_EQ(fu_check(p, len, 41, 0), -1);
	/* writes through the mapping reach read() after msync */
	memset(p + 1000, 'M', 5000);
	memset(p + 40000, 'N', 10);
	EXPECT_EQ(msync(p, len, MS_SYNC), 0);
	EXPECT_EQ(fu_pread_all(fd, buf, len, 0), (ssize_t)len);
	CU_ASSERT(buf[999] == fu_pat(41, 999));
	CU_ASSERT(buf[1000] == 'M' && buf[5999] == 'M');
	CU_ASSERT(buf[6000] == fu_pat(41, 6000));
	CU_ASSERT(buf[40000] == 'N' && buf[40009] == 'N');
	/* and the store: B reads them */
	{
		int64_t end = fu_ms() + 500;
		ssize_t n;

		do {
			n = fu_get(pb("mm/f"), buf, len);
			if (n == (ssize_t)len && buf[1000] == 'M' &&
			    buf[40009] == 'N')
				break;
			fu_sleep_ms(5);
		} while (fu_ms() < end);
		EXPECT_EQ(n, len);
		CU_ASSERT(buf[1000] == 'M' && buf[5999] == 'M' &&
			  buf[40009] == 'N');
		CU_ASSERT(buf[6000] == fu_pat(41, 6000));
	}
	/* write() shows in the mapping at once (one page cache) */
	EXPECT_EQ(pwrite(fd, "WXYZ", 4, 100), 4);
	CU_ASSERT(!memcmp(p + 100, "WXYZ", 4));
	EXPECT_EQ(munmap(p, len), 0);
	/* a mapping past the end of a growing file: ftruncate, then map */
	EXPECT_EQ(ftruncate(fd, 2 * len), 0);
	p = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT(all_zero(p + len, len));
	memcpy(p + len + 5, "tail", 4);
	EXPECT_EQ(munmap(p, 2 * len), 0); /* unmap writes back too */
	close(fd);
	memset(buf, 0, len);
	fd = open(pa("mm/f"), O_RDONLY);
	EXPECT_EQ(pread(fd, buf, 4, (off_t)len + 5), 4);
	CU_ASSERT(!memcmp(buf, "tail", 4));
	close(fd);
	/* read-only private mapping */
	fd = open(pa("mm/f"), O_RDONLY);
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT(!memcmp(p + 100, "WXYZ", 4));
	munmap(p, len);
	close(fd);
	free(buf);
}

/* ------------------------------------------------------------ O_DIRECT */

static void test_odirect(void)
{
	const size_t len = 256 * 1024;
	unsigned char *buf, *back;
	int fd, cached;

	CU_ASSERT_FATAL(!posix_memalign((void **)&buf, 4096, len));
	CU_ASSERT_FATAL(!posix_memalign((void **)&back, 4096, len));
	tdir("od");
	fd = open(pa("od/f"), O_CREAT | O_RDWR | O_DIRECT, 0644);
	EXPECT_OK_FATAL(fd);
	fu_fill(buf, len, 51, 0);
	EXPECT_EQ(fu_pwrite_all(fd, buf, len, 0), (ssize_t)len);
	memset(back, 0, len);
	EXPECT_EQ(fu_pread_all(fd, back, len, 0), (ssize_t)len);
	EXPECT_EQ(fu_check(back, len, 51, 0), -1);
	/* aligned, in the middle */
	EXPECT_EQ(fu_pread_all(fd, back, 8192, 65536), 8192);
	EXPECT_EQ(fu_check(back, 8192, 51, 65536), -1);
	/* buffered readers: a cached copy, then a direct overwrite */
	cached = open(pa("od/f"), O_RDONLY);
	EXPECT_EQ(fu_pread_all(cached, back, len, 0), (ssize_t)len);
	fu_fill(buf, 8192, 52, 0);
	EXPECT_EQ(fu_pwrite_all(fd, buf, 8192, 16384), 8192);
	EXPECT_EQ(fu_pread_all(cached, back, 8192, 16384), 8192);
	EXPECT_EQ(fu_check(back, 8192, 52, 0), -1);
	/* direct reads of buffered writes */
	fu_fill(buf, 4096, 53, 0);
	close(cached);
	cached = open(pa("od/f"), O_WRONLY);
	EXPECT_EQ(fu_pwrite_all(cached, buf, 4096, 131072), 4096);
	close(cached);
	EXPECT_EQ(fu_pread_all(fd, back, 4096, 131072), 4096);
	EXPECT_EQ(fu_check(back, 4096, 53, 0), -1);
	/* growing the file by direct writes */
	fu_fill(buf, 4096, 54, 0);
	EXPECT_EQ(fu_pwrite_all(fd, buf, 4096, (off_t)len), 4096);
	EXPECT_EQ(st_of(pa("od/f")).st_size, len + 4096);
	close(fd);
	CU_ASSERT(b_stat_until("od/f", p_size, (long)(len + 4096), 500, NULL));
	free(buf);
	free(back);
}

/* ------------------------------------------------------------- readdir */

struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = strdup(name);
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted copy; returns how many names occur more than once. */
static size_t dups(const struct names *s)
{
	char **v = malloc((s->n + 1) * sizeof(*v));
	size_t d = 0;

	memcpy(v, s->v, s->n * sizeof(*v));
	qsort(v, s->n, sizeof(*v), cmp_str);
	for (size_t i = 1; i < s->n; i++)
		if (!strcmp(v[i], v[i - 1])) {
			if (d < 5)
				fprintf(stderr, "\n  duplicate entry %s\n",
					v[i]);
			d++;
		}
	free(v);
	return d;
}

static bool has_name(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

#define NDIR 5000

static void test_readdir_many(void)
{
	struct names all = { 0 }, tail = { 0 }, again = { 0 };
	struct dirent *e;
	long pos = -1;
	int64_t t0;
	size_t i;
	DIR *d;

	tdir("many");
	t0 = fu_ms();
	for (i = 0; i < NDIR; i++)
		if (mknod(pa("many/entry-%05zu", i), S_IFREG | 0644, 0)) {
			CU_FAIL("mknod");
			break;
		}
	fprintf(stderr, "[%d creates: %lld ms] ", NDIR,
		(long long)(fu_ms() - t0));
	d = opendir(pa("many"));
	CU_ASSERT_FATAL(d != NULL);
	i = 0;
	while ((e = readdir(d))) {
		names_add(&all, e->d_name);
		if (i >= 2500 && pos >= 0)
			names_add(&tail, e->d_name);
		if (++i == 2500)
			pos = telldir(d);
	}
	EXPECT_EQ(all.n, NDIR + 2);
	EXPECT_EQ(dups(&all), 0);
	CU_ASSERT(has_name(&all, ".") && has_name(&all, ".."));
	CU_ASSERT(has_name(&all, "entry-00000") &&
		  has_name(&all, "entry-04999"));
	/* seekdir back to the middle: the same entries again */
	CU_ASSERT(pos >= 0);
	seekdir(d, pos);
	while ((e = readdir(d)))
		names_add(&again, e->d_name);
	EXPECT_EQ(again.n, tail.n);
	for (i = 0; i < tail.n && i < again.n; i++)
		if (strcmp(tail.v[i], again.v[i])) {
			fprintf(stderr, "\n  after seekdir: %s, want %s\n",
				again.v[i], tail.v[i]);
			CU_FAIL("seekdir resumed elsewhere");
			break;
		}
	/* rewinddir: everything again */
	rewinddir(d);
	names_free(&again);
	while ((e = readdir(d)))
		names_add(&again, e->d_name);
	EXPECT_EQ(again.n, NDIR + 2);
	closedir(d);
	/* B lists the same */
	d = opendir(pb("many"));
	names_free(&again);
	while (d && (e = readdir(d)))
		names_add(&again, e->d_name);
	if (d)
		closedir(d);
	EXPECT_EQ(again.n, NDIR + 2);
	EXPECT_EQ(dups(&again), 0);
	names_free(&all);
	names_free(&tail);
	names_free(&again);
}

/* getdents64 with a small buffer, so that reading spans many calls. */
static void read_some(int fd, struct names *s, size_t max)
{
	char buf[1024];

	while (max) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (n <= 0)
			return;
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);

			names_add(s, e->d_name);
			off += e->d_reclen;
			if (max != (size_t)-1 && max)
				max--; /* the rest of this buffer is read */
		}
	}
}

static void test_readdir_changing(void)
{
	struct names seen = { 0 };
	char name[64];
	int fd;

	tdir("chg");
	for (int i = 0; i < 1000; i++)
		EXPECT_EQ(mknod(pa("chg/file-with-a-longer-name-%04d", i),
				S_IFREG | 0644, 0), 0);
	fd = open(pa("chg"), O_RDONLY | O_DIRECTORY);
	EXPECT_OK_FATAL(fd);
	read_some(fd, &seen, 300);
	EXPECT_TRUE(seen.n >= 300 && seen.n < 500, "%zu entries", seen.n);
	/* remove 200 seen and 200 unseen, add 100 */
	for (int i = 0, gone_seen = 0, gone_unseen = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "file-with-a-longer-name-%04d", i);
		if (has_name(&seen, name) ? gone_seen++ < 200 :
					    gone_unseen++ < 200)
			EXPECT_EQ(unlink(pa("chg/%s", name)), 0);
	}
	for (int i = 0; i < 100; i++)
		EXPECT_EQ(mknod(pa("chg/added-%03d", i), S_IFREG | 0644, 0), 0);
	read_some(fd, &seen, (size_t)-1);
	close(fd);
	EXPECT_EQ(dups(&seen), 0);
	/* every entry that stayed all along was returned */
	for (int i = 0, missing = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "file-with-a-longer-name-%04d", i);
		if (!access(pa("chg/%s", name), F_OK) &&
		    !has_name(&seen, name) && missing++ < 5) {
			fprintf(stderr, "\n  %s never listed\n", name);
			CU_FAIL("an entry present all along was not listed");
		}
	}
	names_free(&seen);
}

/* --------------------------------------------------------------- locks */

static int lock_child(void *arg)
{
	const char *path = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 50, .l_len = 10 };
	int f = 0, fd = open(path, O_RDWR);

	FU_CK(f, fd >= 0);
	errno = 0;
	FU_CK(f, fcntl(fd, F_SETLK, &fl) == -1 &&
		 (errno == EAGAIN || errno == EACCES));
	FU_CK(f, fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK &&
		 fl.l_pid == getppid() && fl.l_start == 0 && fl.l_len == 100);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET,
			     .l_start = 200, .l_len = 10 };
	FU_CK(f, fcntl(fd, F_SETLK, &fl) == 0);
	/* flock is separate from POSIX locks, and held by the parent */
	errno = 0;
	FU_CK(f, flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
	close(fd);
	return f;
}

static void test_locks(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 100 };
	int fd1, fd2, status;
	pid_t p;

	EXPECT_EQ(write_pat(pa("locks"), 1000, 1), 0);
	fd1 = open(pa("locks"), O_RDWR);
	fd2 = open(pa("locks"), O_RDWR);
	/* flock: per open file description */
	EXPECT_EQ(flock(fd1, LOCK_EX), 0);
	EXPECT_ERR(flock(fd2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	EXPECT_ERR(flock(fd2, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	EXPECT_EQ(flock(fd1, LOCK_UN), 0);
	EXPECT_EQ(flock(fd2, LOCK_SH | LOCK_NB), 0);
	EXPECT_EQ(flock(fd1, LOCK_SH | LOCK_NB), 0);
	EXPECT_EQ(flock(fd1, LOCK_UN), 0);
	EXPECT_EQ(flock(fd2, LOCK_UN), 0);
	/* POSIX locks against another process */
	EXPECT_EQ(fcntl(fd1, F_SETLK, &fl), 0);
	EXPECT_EQ(flock(fd2, LOCK_EX), 0);
	fflush(NULL);
	p = fork();
	if (p == 0)
		_exit(lock_child((void *)pa("locks")));
	CU_ASSERT(waitpid(p, &status, 0) == p && WIFEXITED(status) &&
		  WEXITSTATUS(status) == 0);
	EXPECT_EQ(flock(fd2, LOCK_UN), 0);
	fl.l_type = F_UNLCK;
	EXPECT_EQ(fcntl(fd1, F_SETLK, &fl), 0);
	/* OFD locks between two descriptors of one process */
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET,
			     .l_start = 0, .l_len = 10 };
	EXPECT_EQ(fcntl(fd1, F_OFD_SETLK, &fl), 0);
	fl.l_start = 5;
	fl.l_len = 1;
	EXPECT_ERR(fcntl(fd2, F_OFD_SETLK, &fl), EAGAIN);
	fl.l_start = 10;
	EXPECT_EQ(fcntl(fd2, F_OFD_SETLK, &fl), 0);
	close(fd1);
	fl.l_start = 5;
	EXPECT_EQ(fcntl(fd2, F_OFD_SETLK, &fl), 0);
	close(fd2);
}

/* ------------------------------------------------- special files, more */

static void test_mknod(void)
{
	struct stat st;

	tdir("nod");
	EXPECT_EQ(mkfifo(pa("nod/fifo"), 0640), 0);
	st = st_of(pa("nod/fifo"));
	CU_ASSERT(S_ISFIFO(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0640);
	EXPECT_EQ(mknod(pa("nod/chr"), S_IFCHR | 0600, makedev(1, 3)), 0);
	st = st_of(pa("nod/chr"));
	CU_ASSERT(S_ISCHR(st.st_mode));
	EXPECT_EQ(st.st_rdev, makedev(1, 3));
	EXPECT_EQ(mknod(pa("nod/blk"), S_IFBLK | 0600, makedev(259, 65537)),
		  0);
	st = st_of(pa("nod/blk"));
	CU_ASSERT(S_ISBLK(st.st_mode));
	EXPECT_EQ(st.st_rdev, makedev(259, 65537));
	EXPECT_EQ(mknod(pa("nod/sock"), S_IFSOCK | 0600, 0), 0);
	CU_ASSERT(S_ISSOCK(st_of(pa("nod/sock")).st_mode));
	EXPECT_EQ(mknod(pa("nod/reg"), S_IFREG | 0600, 0), 0);
	CU_ASSERT(S_ISREG(st_of(pa("nod/reg")).st_mode));
	EXPECT_ERR(mknod(pa("nod/fifo"), S_IFIFO | 0600, 0), EEXIST);
	EXPECT_EQ(symlink("x", pa("nod/lnk")), 0);
	EXPECT_EQ(mkdir(pa("nod/dir"), 0755), 0);
	/* readdir's d_type for every kind */
	{
		static const struct {
			const char *name;
			unsigned char type;
		} want[] = { { "fifo", DT_FIFO }, { "chr", DT_CHR },
			     { "blk", DT_BLK },	  { "sock", DT_SOCK },
			     { "reg", DT_REG },	  { "lnk", DT_LNK },
			     { "dir", DT_DIR } };
		DIR *d = opendir(pa("nod"));
		struct dirent *e;
		int seen = 0;

		while (d && (e = readdir(d)))
			for (size_t i = 0; i < sizeof(want) / sizeof(want[0]);
			     i++)
				if (!strcmp(e->d_name, want[i].name)) {
					EXPECT_EQ(e->d_type, want[i].type);
					seen++;
				}
		if (d)
			closedir(d);
		EXPECT_EQ(seen, 7);
	}
	/* the mount is nodev: the device cannot be opened */
	EXPECT_ERR(open(pa("nod/chr"), O_RDONLY), EACCES);
	CU_ASSERT(b_stat_until("nod/blk", p_nlink, 1, 500, &st));
	EXPECT_EQ(st.st_rdev, makedev(259, 65537));
}

static void test_tmpfile(void)
{
	char proc[64];
	int fd;

	tdir("tmp");
	fd = open(pa("tmp"), O_TMPFILE | O_RDWR, 0600);
	/*
	 * FUSE has no tmpfile operation before Linux 6.x's FUSE_TMPFILE and
	 * libfuse 3.15; on Debian 12 (6.1, libfuse 3.14) the kernel answers
	 * EOPNOTSUPP itself, and that is the right answer to expect there.
	 */
	if (fd < 0 && errno == EOPNOTSUPP)
		return;
	EXPECT_TRUE(fd >= 0, "O_TMPFILE: %s", strerror(errno));
	if (fd < 0)
		return;
	EXPECT_EQ(write(fd, "tmpdata", 7), 7);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	EXPECT_EQ(linkat(AT_FDCWD, proc, AT_FDCWD, pa("tmp/named"),
			 AT_SYMLINK_FOLLOW), 0);
	close(fd);
	{
		char buf[16];

		EXPECT_EQ(fu_get(pa("tmp/named"), buf, sizeof(buf)), 7);
		EXPECT_EQ(st_of(pa("tmp/named")).st_nlink, 1);
	}
}

/* -------------------------------------------------------------- ENOSPC */

static void test_enospc(void)
{
	static char rg[64];
	unsigned char *buf = malloc(MiB);
	struct mnt C = { 0 };
	char path[256];
	int fd, i, err = 0;
	ssize_t n = 0;

	snprintf(rg, sizeof(rg), "/dev/shm/ivshm-posix-full-%d", getpid());
	CU_ASSERT_FATAL(fu_region(rg, 16 * MiB) == 0);
	{
		char src[96];

		snprintf(src, sizeof(src), "region=%s", rg);
		CU_ASSERT_FATAL(fu_mount(&C, src, NULL) == 0);
	}
	fu_fill(buf, MiB, 61, 0);
	snprintf(path, sizeof(path), "%s/fill", C.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	EXPECT_OK(fd);
	for (i = 0; i < 64; i++) {
		n = write(fd, buf, MiB);
		if (n < (ssize_t)MiB) {
			err = errno;
			break;
		}
	}
	close(fd);
	EXPECT_TRUE(i < 64 && n < (ssize_t)MiB && (n >= 0 || err == ENOSPC),
		    "writing 64 MiB into a 16 MiB store: %d MiB then %zd, %s",
		    i, n, strerror(err));
	/* a second short write: ENOSPC, not some other error */
	fd = open(path, O_WRONLY | O_APPEND);
	n = write(fd, buf, MiB);
	EXPECT_TRUE(n == -1 && errno == ENOSPC, "write on a full store: %zd, "
		    "%s", n, strerror(errno));
	close(fd);
	/* deleting works on a full store and brings the space back */
	EXPECT_EQ(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/again", C.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	EXPECT_OK(fd);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(fu_pwrite_all(fd, buf, MiB, (off_t)(i * MiB)),
			  (ssize_t)MiB);
	close(fd);
	CU_ASSERT(fu_umount(&C) == 0);
	EXPECT_EQ(fu_verify(rg, NULL, NULL), 0);
	fu_unlink(rg);
	free(buf);
}

/* ----------------------------------------------------- inodes persist */

static void test_remount(void)
{
	char src[96];
	struct stat st;
	ino_t ino;

	EXPECT_EQ(write_pat(pa("persist"), 12345, 71), 0);
	ino = st_of(pa("persist")).st_ino;
	EXPECT_EQ(fu_umount(&B), 0);
	snprintf(src, sizeof(src), "region=%s", region);
	CU_ASSERT_FATAL(fu_mount(&B, src, NULL) == 0);
	EXPECT_EQ(lstat(pb("persist"), &st), 0);
	EXPECT_EQ(st.st_ino, ino);
	CU_ASSERT(has_pat(pb("persist"), 12345, 71));
}

/* --------------------------------------------------------------- suite */

static int suite_init(void)
{
	char src[96];

	snprintf(region, sizeof(region), "/dev/shm/ivshm-posix-%d", getpid());
	snprintf(src, sizeof(src), "region=%s", region);
	if (fu_region(region, 64 * MiB) || fu_mount(&A, src, "allow_other") ||
	    fu_mount(&B, src, NULL))
		return 1;
	return 0;
}

static int suite_clean(void)
{
	int rc = 0;

	if (A.pid && fu_umount(&A))
		rc = 1;
	if (B.pid && fu_umount(&B))
		rc = 1;
	if (fu_verify(region, NULL, NULL))
		rc = 1;
	fu_unlink(region);
	return rc;
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{ "open flags", test_open_flags },
		{ "read/write/pread/pwrite", test_read_write },
		{ "lseek and sparse files", test_lseek_sparse },
		{ "truncate/ftruncate", test_truncate },
		{ "fallocate modes", test_fallocate },
		{ "mkdir/rmdir", test_mkdir_rmdir },
		{ "unlink", test_unlink },
		{ "link", test_link },
		{ "symlink/readlink", test_symlink },
		{ "rename in every shape", test_rename },
		{ "chmod/chown", test_chmod_chown },
		{ "permissions of another user", test_permissions },
		{ "set-gid directories", test_setgid_dir },
		{ "utimensat", test_utimens },
		{ "ctime and mtime", test_ctime },
		{ "stable inode numbers", test_inode_numbers },
		{ "nlink", test_nlink },
		{ "xattrs", test_xattr },
		{ "statfs", test_statfs },
		{ "fsync/fdatasync/syncfs", test_sync },
		{ "unlink while open", test_unlink_open },
		{ "files beyond 4 GiB", test_big_file },
		{ "mmap", test_mmap },
		{ "O_DIRECT", test_odirect },
		{ "readdir of 5000, telldir/seekdir", test_readdir_many },
		{ "readdir while changing", test_readdir_changing },
		{ "flock and fcntl locks", test_locks },
		{ "mknod", test_mknod },
		{ "O_TMPFILE", test_tmpfile },
		{ "ENOSPC and recovery", test_enospc },
		{ "inode numbers survive a remount", test_remount },
	};
	const char *only = getenv("FU_ONLY"); /* a part of test names */
	CU_pSuite s;
	unsigned int failed;

	umask(022);
	fu_guard(170);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("posix", suite_init, suite_clean);
	for (size_t i = 0; s && i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!only || strstr(tests[i].name, only))
			CU_add_test(s, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
