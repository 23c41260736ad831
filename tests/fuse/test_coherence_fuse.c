// SPDX-License-Identifier: MIT
/*
 * Two ivshm-fuse mounts of one store see each other's changes: data (also
 * in the page cache and in mappings), attributes, names (also negative
 * dentries and cached listings), and concurrent namespace races with
 * exactly one winner. Run twice: on a region file (no doorbells: the
 * daemons' 20 ms polling) and through a real ivshm-server (doorbells),
 * where the delays are measured and reported.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "futil.h"

struct pair {
	const char *label;
	struct mnt a, b;
	unsigned int deadline_ms;	/* how long B may lag */
	char region[96];
	char sock[96];
	pid_t server;
	/* measured lags of B behind A, microseconds */
	long lag[512];
	unsigned int nlag;
};

static struct pair R = { .label = "region", .deadline_ms = 200 };
static struct pair S = { .label = "socket", .deadline_ms = 100 };
static struct pair *P;

static const char *path_in(const struct mnt *m, const char *fmt, va_list ap)
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
	p = path_in(&P->a, fmt, ap);
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
	p = path_in(&P->b, fmt, ap);
	va_end(ap);
	return p;
}

/*
 * Poll @cond until it holds: the lag in microseconds, recorded, or -1
 * after the deadline (printed with @what).
 */
static long lag_until(bool (*cond)(void *), void *arg, const char *what)
{
	int64_t t0 = fu_ns(), end = t0 + (int64_t)P->deadline_ms * 1000000;
	long us;

	for (;;) {
		if (cond(arg))
			break;
		if (fu_ns() > end + 1000000000) { /* look a second more */
			fprintf(stderr, "\n  %s: B never caught up with A (%s)"
				"\n", P->label, what);
			return -1;
		}
		usleep(200);
	}
	us = (long)((fu_ns() - t0) / 1000);
	if (P->nlag < sizeof(P->lag) / sizeof(P->lag[0]))
		P->lag[P->nlag++] = us;
	if (us > (long)P->deadline_ms * 1000)
		fprintf(stderr, "\n  %s: B caught up after %ld us, more than "
			"%u ms (%s)\n", P->label, us, P->deadline_ms, what);
	return us;
}

#define EXPECT_LAG(cond, arg, what)                                       \
	do {                                                               \
		long _us = lag_until(cond, arg, what);                     \
		CU_ASSERT(_us >= 0 && _us <= (long)P->deadline_ms * 1000); \
	} while (0)

static int write_pat(const char *path, size_t len, uint32_t seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	int rc;

	fu_fill(buf, len, seed, 0);
	rc = fu_put(path, buf, len);
	free(buf);
	return rc;
}

/* ----------------------------------------------------- data, page cache */

struct fdpat {
	int fd;
	size_t off, len;
	uint32_t seed;
	uint64_t pat_off;
	unsigned char *buf;
};

static bool fd_has(void *arg)
{
	struct fdpat *x = arg;

	return fu_pread_all(x->fd, x->buf, x->len, (off_t)x->off) ==
		       (ssize_t)x->len &&
	       fu_check(x->buf, x->len, x->seed, x->pat_off) == -1;
}

static void test_data(void)
{
	const size_t len = 65536;
	struct fdpat x = { .len = len, .buf = malloc(len) };
	int fa;

	EXPECT_EQ(write_pat(pa("data/f"), len, 1), 0);
	x.fd = open(pb("data/f"), O_RDONLY);
	EXPECT_OK_FATAL(x.fd);
	x.seed = 1;
	CU_ASSERT(fd_has(&x)); /* B reads it, now in B's page cache */
	fa = open(pa("data/f"), O_WRONLY);
	for (uint32_t round = 2; round < 22; round++) {
		unsigned char *w = malloc(len);

		fu_fill(w, len, round, 0);
		EXPECT_EQ(fu_pwrite_all(fa, w, len, 0), (ssize_t)len);
		free(w);
		x.seed = round;
		EXPECT_LAG(fd_has, &x, "whole file rewritten");
	}
	close(fa);
	close(x.fd);
	/* a file B never opened: at once, through a fresh open */
	EXPECT_EQ(write_pat(pa("data/g"), 1000, 3), 0);
	x.fd = open(pb("data/g"), O_RDONLY);
	EXPECT_OK(x.fd);
	x.len = 1000;
	x.seed = 3;
	CU_ASSERT(fd_has(&x));
	close(x.fd);
	free(x.buf);
}

static void test_partial_overwrite(void)
{
	const size_t len = 1 << 20;
	struct fdpat x = { .len = len, .seed = 5, .buf = malloc(len) };
	unsigned char patch[100];
	int fa;

	EXPECT_EQ(write_pat(pa("data/big"), len, 5), 0);
	x.fd = open(pb("data/big"), O_RDONLY);
	EXPECT_OK_FATAL(x.fd);
	CU_ASSERT(fd_has(&x));
	fa = open(pa("data/big"), O_WRONLY);
	fu_fill(patch, sizeof(patch), 6, 0);
	EXPECT_EQ(pwrite(fa, patch, sizeof(patch), 500000), 100);
	close(fa);
	x.off = 500000;
	x.len = 100;
	x.seed = 6;
	EXPECT_LAG(fd_has, &x, "100 bytes overwritten in a cached file");
	/* the rest is as it was */
	x.off = 0;
	x.len = 500000;
	x.seed = 5;
	CU_ASSERT(fd_has(&x));
	x.off = x.pat_off = 500100;
	x.len = len - 500100;
	CU_ASSERT(fd_has(&x));
	close(x.fd);
	free(x.buf);
}

struct mapx {
	volatile unsigned char *p;
	const char *want;
	size_t off;
};

static bool map_has(void *arg)
{
	struct mapx *m = arg;

	for (size_t i = 0; m->want[i]; i++)
		if (m->p[m->off + i] != (unsigned char)m->want[i])
			return false;
	return true;
}

static void test_mmap(void)
{
	const size_t len = 65536;
	struct mapx m = { .off = 8192 };
	unsigned char *p;
	int fb, fa;

	EXPECT_EQ(write_pat(pa("data/map"), len, 7), 0);
	fb = open(pb("data/map"), O_RDONLY);
	EXPECT_OK_FATAL(fb);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fb, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	EXPECT_EQ(fu_check(p, len, 7, 0), -1); /* every page faulted in */
	fa = open(pa("data/map"), O_WRONLY);
	EXPECT_EQ(pwrite(fa, "written-on-A", 12, 8192), 12);
	m.p = p;
	m.want = "written-on-A";
	EXPECT_LAG(map_has, &m, "a mapping on B");
	close(fa);
	/* and a write through a shared mapping on A, after msync */
	fa = open(pa("data/map"), O_RDWR);
	{
		unsigned char *q = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_SHARED, fa, 0);

		CU_ASSERT_FATAL(q != MAP_FAILED);
		memcpy(q + 30000, "mapped-on-A", 11);
		EXPECT_EQ(msync(q, len, MS_SYNC), 0);
		m.off = 30000;
		m.want = "mapped-on-A";
		EXPECT_LAG(map_has, &m, "A's mapping into B's mapping");
		munmap(q, len);
		close(fa);
	}
	munmap(p, len);
	close(fb);
}

struct sizex {
	int fd;
	off_t size;
};

static bool fd_size(void *arg)
{
	struct sizex *s = arg;
	struct stat st;

	return !fstat(s->fd, &st) && st.st_size == s->size;
}

static void test_truncate(void)
{
	struct sizex s;
	char buf[16];

	EXPECT_EQ(write_pat(pa("data/tr"), 65536, 9), 0);
	s.fd = open(pb("data/tr"), O_RDONLY);
	EXPECT_OK_FATAL(s.fd);
	EXPECT_EQ(pread(s.fd, buf, sizeof(buf), 40000), (ssize_t)sizeof(buf));
	EXPECT_EQ(truncate(pa("data/tr"), 1000), 0);
	s.size = 1000;
	EXPECT_LAG(fd_size, &s, "truncated: size on B");
	EXPECT_EQ(pread(s.fd, buf, sizeof(buf), 40000), 0);
	/* grown again: B reads zeroes where the data was */
	EXPECT_EQ(truncate(pa("data/tr"), 65536), 0);
	s.size = 65536;
	EXPECT_LAG(fd_size, &s, "grown: size on B");
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(pread(s.fd, buf, sizeof(buf), 40000), (ssize_t)sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		CU_ASSERT(buf[i] == 0);
	close(s.fd);
}

/* ------------------------------------------------------------ attributes */

struct statx_ {
	const char *path;
	struct stat st;
	bool (*ok)(const struct stat *st, long want);
	long want;
};

static bool stat_ok(void *arg)
{
	struct statx_ *x = arg;

	return !lstat(x->path, &x->st) && x->ok(&x->st, x->want);
}

static bool is_size(const struct stat *st, long want)
{
	return st->st_size == want;
}

static bool is_mtime(const struct stat *st, long want)
{
	return st->st_mtim.tv_sec == want;
}

static bool is_mode(const struct stat *st, long want)
{
	return (long)(st->st_mode & 07777) == want;
}

static bool is_uid(const struct stat *st, long want)
{
	return (long)st->st_uid == want;
}

static bool is_nlink(const struct stat *st, long want)
{
	return (long)st->st_nlink == want;
}

static void test_attrs(void)
{
	struct timespec t[2] = { { 1000, 0 }, { 1234567, 0 } };
	struct statx_ x = { 0 };
	char buf[16];
	struct stat st;
	int fa;

	EXPECT_OK_FATAL(mkdir(pa("attr"), 0755));
	EXPECT_EQ(write_pat(pa("attr/f"), 100, 1), 0);
	EXPECT_EQ(lstat(pb("attr/f"), &st), 0); /* cached on B */
	EXPECT_EQ(st.st_size, 100);
	/* size and mtime after an append */
	fa = open(pa("attr/f"), O_WRONLY | O_APPEND);
	EXPECT_EQ(write(fa, "appended", 8), 8);
	close(fa);
	x.path = pb("attr/f");
	x.ok = is_size;
	x.want = 108;
	EXPECT_LAG(stat_ok, &x, "size after a write");
	CU_ASSERT(st.st_mtim.tv_sec != x.st.st_mtim.tv_sec ||
		  st.st_mtim.tv_nsec != x.st.st_mtim.tv_nsec);
	EXPECT_EQ(utimensat(AT_FDCWD, pa("attr/f"), t, 0), 0);
	x.ok = is_mtime;
	x.want = 1234567;
	EXPECT_LAG(stat_ok, &x, "mtime after utimensat");
	EXPECT_EQ(chmod(pa("attr/f"), 0600), 0);
	x.ok = is_mode;
	x.want = 0600;
	EXPECT_LAG(stat_ok, &x, "mode after chmod");
	EXPECT_EQ(chown(pa("attr/f"), 4242, 4242), 0);
	x.ok = is_uid;
	x.want = 4242;
	EXPECT_LAG(stat_ok, &x, "owner after chown");
	EXPECT_EQ(link(pa("attr/f"), pa("attr/f2")), 0);
	x.ok = is_nlink;
	x.want = 2;
	EXPECT_LAG(stat_ok, &x, "nlink after link");
	EXPECT_EQ(unlink(pa("attr/f2")), 0);
	x.want = 1;
	EXPECT_LAG(stat_ok, &x, "nlink after unlink");
	/* directories: nlink counts subdirectories */
	EXPECT_EQ(lstat(pb("attr"), &st), 0);
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT_EQ(mkdir(pa("attr/sub"), 0755), 0);
	x.path = pb("attr");
	x.want = 3;
	EXPECT_LAG(stat_ok, &x, "directory nlink after mkdir");
	/* xattrs are not cached: at once */
	EXPECT_EQ(setxattr(pa("attr/f"), "user.k", "v1", 2, 0), 0);
	EXPECT_EQ(getxattr(pb("attr/f"), "user.k", buf, sizeof(buf)), 2);
	EXPECT_EQ(removexattr(pa("attr/f"), "user.k"), 0);
	EXPECT_ERR(getxattr(pb("attr/f"), "user.k", buf, sizeof(buf)),
		   ENODATA);
}

/* ----------------------------------------------------------------- names */

struct namex {
	const char *path;
	bool present;
};

static bool name_is(void *arg)
{
	struct namex *n = arg;
	struct stat st;
	int rc = lstat(n->path, &st);

	return n->present ? rc == 0 : rc == -1 && errno == ENOENT;
}

struct listx {
	const char *dir;
	const char *name;
	bool present;
};

static bool listed(void *arg)
{
	struct listx *l = arg;
	DIR *d = opendir(l->dir);
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)))
		if (!strcmp(e->d_name, l->name))
			found = true;
	if (d)
		closedir(d);
	return found == l->present;
}

static void test_names(void)
{
	struct namex n;
	struct listx l;
	struct stat st;

	EXPECT_OK_FATAL(mkdir(pa("names"), 0755));
	/* B looks up a missing name (a negative dentry), A creates it */
	EXPECT_ERR(lstat(pb("names/x"), &st), ENOENT);
	EXPECT_ERR(lstat(pb("names/x"), &st), ENOENT);
	EXPECT_EQ(write_pat(pa("names/x"), 10, 1), 0);
	n = (struct namex){ pb("names/x"), true };
	EXPECT_LAG(name_is, &n, "a name B had looked up while missing");
	/* renamed on A: gone under the old name, there under the new */
	EXPECT_EQ(rename(pa("names/x"), pa("names/y")), 0);
	n = (struct namex){ pb("names/x"), false };
	EXPECT_LAG(name_is, &n, "the old name of a rename");
	n = (struct namex){ pb("names/y"), true };
	EXPECT_LAG(name_is, &n, "the new name of a rename");
	EXPECT_EQ(unlink(pa("names/y")), 0);
	n = (struct namex){ pb("names/y"), false };
	EXPECT_LAG(name_is, &n, "an unlinked name");
	/* a name that B had open by path: O_EXCL on B now fails */
	EXPECT_EQ(write_pat(pa("names/z"), 10, 1), 0);
	EXPECT_ERR(open(pb("names/z"), O_CREAT | O_EXCL | O_WRONLY, 0644),
		   EEXIST);
	/* a directory removed on A, then a file of that name */
	EXPECT_EQ(mkdir(pa("names/d"), 0755), 0);
	n = (struct namex){ pb("names/d"), true };
	EXPECT_LAG(name_is, &n, "a new directory");
	EXPECT_EQ(rmdir(pa("names/d")), 0);
	EXPECT_EQ(write_pat(pa("names/d"), 10, 2), 0);
	{
		struct statx_ x = { .path = pb("names/d"), .ok = is_mode,
				    .want = 0644 };

		EXPECT_LAG(stat_ok, &x, "a directory replaced by a file");
		CU_ASSERT(S_ISREG(x.st.st_mode));
	}
	/* listings B has cached: a subdirectory, and the root */
	l = (struct listx){ pb("names"), "listed", false };
	CU_ASSERT(listed(&l));
	EXPECT_EQ(write_pat(pa("names/listed"), 1, 1), 0);
	l.present = true;
	EXPECT_LAG(listed, &l, "a new name in a listing B had read");
	EXPECT_EQ(unlink(pa("names/listed")), 0);
	l.present = false;
	EXPECT_LAG(listed, &l, "a removed name in a listing B had read");
	l = (struct listx){ P->b.dir, "root-listed", false };
	CU_ASSERT(listed(&l));
	EXPECT_EQ(write_pat(pa("root-listed"), 1, 1), 0);
	l.present = true;
	EXPECT_LAG(listed, &l, "a new name in the root listing");
	EXPECT_EQ(unlink(pa("root-listed")), 0);
	l.present = false;
	EXPECT_LAG(listed, &l, "a removed name in the root listing");
	/* the root's attributes (a new subdirectory counts) */
	{
		struct statx_ x = { .path = P->b.dir, .ok = is_nlink };

		EXPECT_EQ(lstat(P->b.dir, &st), 0);
		EXPECT_EQ(mkdir(pa("root-sub"), 0755), 0);
		x.want = (long)st.st_nlink + 1;
		EXPECT_LAG(stat_ok, &x, "the root's nlink after mkdir");
		EXPECT_EQ(rmdir(pa("root-sub")), 0);
	}
}

/* An inode's numbers and content agree on both sides. */
static void test_same_inode(void)
{
	struct stat sa, sb;

	EXPECT_EQ(write_pat(pa("names/same"), 4000, 8), 0);
	EXPECT_EQ(lstat(pa("names/same"), &sa), 0);
	EXPECT_EQ(lstat(pb("names/same"), &sb), 0);
	EXPECT_EQ(sa.st_ino, sb.st_ino);
	EXPECT_EQ(sa.st_size, sb.st_size);
	EXPECT_EQ(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	EXPECT_EQ(sa.st_ctim.tv_sec, sb.st_ctim.tv_sec);
	EXPECT_EQ(sa.st_mode, sb.st_mode);
}

/* -------------------------------------------------- concurrent writers */

static int writer(const char *dir, const char *prefix, uint32_t seed0)
{
	char path[512];
	int fails = 0;

	for (int i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "%s/%s%03d", dir, prefix, i);
		if (write_pat(path, 10000 + (size_t)i, seed0 + (uint32_t)i))
			fails++;
	}
	return fails;
}

static bool file_has(const char *path, size_t len, uint32_t seed)
{
	unsigned char *buf = malloc(len + 1);
	ssize_t n = fu_get(path, buf, len + 1);
	bool ok = n == (ssize_t)len && fu_check(buf, len, seed, 0) == -1;

	if (!ok)
		fprintf(stderr, "\n  %s: %zd bytes, want %zu of pattern %u\n",
			path, n, len, seed);
	free(buf);
	return ok;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_concurrent_writers(void)
{
	char da[256], db[256];
	pid_t p[2];
	int status;

	EXPECT_OK_FATAL(mkdir(pa("cw"), 0755));
	snprintf(da, sizeof(da), "%s", pa("cw"));
	snprintf(db, sizeof(db), "%s", pb("cw"));
	fflush(NULL);
	for (int k = 0; k < 2; k++) {
		p[k] = fork();
		if (p[k] == 0)
			_exit(writer(k ? db : da, k ? "b" : "a",
				     k ? 1000u : 2000u));
	}
	for (int k = 0; k < 2; k++) {
		CU_ASSERT(waitpid(p[k], &status, 0) == p[k]);
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status),
			    "writer %d: status %#x", k, status);
	}
	EXPECT_EQ(count_entries(pa("cw")), 200);
	{
		struct listx l = { pb("cw"), "a099", true };

		EXPECT_LAG(listed, &l, "the other writer's last file");
	}
	EXPECT_EQ(count_entries(pb("cw")), 200);
	for (int i = 0; i < 100; i++) {
		CU_ASSERT(file_has(pa("cw/b%03d", i), 10000 + (size_t)i,
				   1000u + (uint32_t)i));
		CU_ASSERT(file_has(pb("cw/a%03d", i), 10000 + (size_t)i,
				   2000u + (uint32_t)i));
	}
}

/* Appends from both sides (O_APPEND) to one file: nothing is lost. */
static int appender(const char *path, char tag)
{
	char rec[64];
	int fd = open(path, O_WRONLY | O_APPEND), fails = 0;

	if (fd < 0)
		return 1;
	for (int i = 0; i < 300; i++) {
		memset(rec, tag, sizeof(rec));
		snprintf(rec, sizeof(rec), "%c%05d", tag, i);
		rec[6] = tag;
		rec[63] = '\n';
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			fails++;
		if (i % 10 == 0)
			usleep(500);
	}
	close(fd);
	return fails;
}

static void test_appenders(void)
{
	char fa[256], fb[256], *buf;
	int status, seen[2][300] = { { 0 } }, lost = 0, bad = 0;
	pid_t p[2];
	ssize_t n;

	EXPECT_EQ(fu_put(pa("appended"), "", 0), 0);
	snprintf(fa, sizeof(fa), "%s", pa("appended"));
	snprintf(fb, sizeof(fb), "%s", pb("appended"));
	fflush(NULL);
	for (int k = 0; k < 2; k++) {
		p[k] = fork();
		if (p[k] == 0)
			_exit(appender(k ? fb : fa, k ? 'B' : 'A'));
	}
	for (int k = 0; k < 2; k++)
		CU_ASSERT(waitpid(p[k], &status, 0) == p[k] &&
			  WIFEXITED(status) && !WEXITSTATUS(status));
	buf = malloc(2 * 300 * 64 + 1);
	n = fu_get(fa, buf, 2 * 300 * 64 + 1);
	EXPECT_EQ(n, 2 * 300 * 64);
	for (ssize_t off = 0; off + 64 <= n; off += 64) {
		int k = buf[off] == 'B', i = atoi(buf + off + 1);

		if ((buf[off] != 'A' && buf[off] != 'B') || i < 0 || i >= 300) {
			bad++;
			continue;
		}
		seen[k][i]++;
	}
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 300; i++)
			lost += seen[k][i] != 1;
	EXPECT_TRUE(!lost && !bad, "O_APPEND from two mounts: %zd bytes, %d "
		    "records lost or doubled, %d torn", n, lost, bad);
	free(buf);
}

/* ------------------------------------------------ races with one winner */

static long st_nlink_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? -errno : (long)st.st_nlink;
}

enum { R_MKDIR, R_CREAT, R_LINK, R_RENAME, R_SYMLINK };

static int race_op(int kind, const struct mnt *m, int i)
{
	char a[512], b[512];
	int fd;

	snprintf(b, sizeof(b), "%s/race/r%d-%d", m->dir, kind, i);
	switch (kind) {
	case R_MKDIR:
		return mkdir(b, 0755);
	case R_CREAT:
		fd = open(b, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd >= 0)
			close(fd);
		return fd < 0 ? -1 : 0;
	case R_LINK:
		snprintf(a, sizeof(a), "%s/race/src", m->dir);
		return link(a, b);
	case R_RENAME:
		/* each side moves its own file onto the name: no replace */
		snprintf(a, sizeof(a), "%s/race/mine-%d-%s", m->dir, i,
			 m == &P->a ? "a" : "b");
		return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE);
	default:
		return symlink("target", b);
	}
}

static void test_races(void)
{
	static const char *const kinds[] = { "mkdir", "open O_EXCL", "link",
					     "rename NOREPLACE", "symlink" };
	const int rounds = 25;

	EXPECT_OK_FATAL(mkdir(pa("race"), 0755));
	EXPECT_EQ(write_pat(pa("race/src"), 1, 1), 0);
	for (int i = 0; i < rounds; i++) {
		EXPECT_EQ(write_pat(pa("race/mine-%d-a", i), 1, 1), 0);
		EXPECT_EQ(write_pat(pa("race/mine-%d-b", i), 1, 2), 0);
	}
	/* B looks up every name first: the race runs on negative dentries */
	for (int kind = 0; kind < 5; kind++)
		for (int i = 0; i < rounds; i++) {
			struct stat st;

			lstat(pb("race/r%d-%d", kind, i), &st);
			lstat(pb("race/mine-%d-b", i), &st);
		}
	for (int kind = 0; kind < 5; kind++) {
		int wins_total = 0, odd = 0;

		for (int i = 0; i < rounds; i++) {
			int gate[2], status, win = 0, eexist = 0;
			pid_t p[2];
			char c;

			CU_ASSERT_FATAL(pipe(gate) == 0);
			fflush(NULL);
			for (int k = 0; k < 2; k++) {
				p[k] = fork();
				if (p[k] == 0) {
					close(gate[1]);
					if (read(gate[0], &c, 1) < 0)
						_exit(3);
					if (!race_op(kind, k ? &P->b : &P->a,
						     i))
						_exit(0);
					_exit(errno == EEXIST ? 1 : 2);
				}
			}
			close(gate[0]);
			close(gate[1]); /* both go */
			for (int k = 0; k < 2; k++) {
				waitpid(p[k], &status, 0);
				if (WIFEXITED(status) && !WEXITSTATUS(status))
					win++;
				else if (WIFEXITED(status) &&
					 WEXITSTATUS(status) == 1)
					eexist++;
			}
			wins_total += win;
			if (win != 1 || eexist != 1) {
				if (odd++ < 3)
					fprintf(stderr, "\n  %s race %d: %d "
						"won, %d EEXIST\n", kinds[kind],
						i, win, eexist);
			}
		}
		EXPECT_TRUE(!odd, "%s: %d of %d races without exactly one "
			    "winner", kinds[kind], odd, rounds);
		EXPECT_EQ(wins_total, rounds);
	}
	/* both sides agree on what exists */
	EXPECT_EQ(count_entries(pa("race")), count_entries(pb("race")));
	EXPECT_EQ(st_nlink_of(pa("race/src")), 1 + rounds);
}

/* ---------------------------------------- unlinked on A while open on B */

static void test_unlink_open_elsewhere(void)
{
	unsigned char buf[8192];
	struct namex n;
	int fb;

	/*
	 * Known limitation (docs/DESIGN.md, "Files unlinked while open"):
	 * only the peer that unlinks keeps an orphan for its own open files;
	 * peers do not yet publish which inodes they hold open. Kept here so
	 * that the day they do, IVSHM_STRICT=1 proves it.
	 */
	if (!getenv("IVSHM_STRICT")) {
		printf("\n  known limitation: skipped (IVSHM_STRICT=1 runs it) ");
		return;
	}

	EXPECT_EQ(write_pat(pa("uoe"), 8192, 12), 0);
	fb = open(pb("uoe"), O_RDWR);
	EXPECT_OK_FATAL(fb);
	EXPECT_EQ(unlink(pa("uoe")), 0);
	n = (struct namex){ pb("uoe"), false };
	EXPECT_LAG(name_is, &n, "a name unlinked while open on B");
	fu_sleep_ms(50); /* let B's caches drop */
	/* POSIX: the open file lives on until B closes it */
	memset(buf, 0, sizeof(buf));
	errno = 0;
	EXPECT_TRUE(fu_pread_all(fb, buf, 8192, 0) == 8192 &&
		    fu_check(buf, 8192, 12, 0) == -1,
		    "reading on B a file unlinked on A while B has it open: "
		    "errno %d (%s)", errno, strerror(errno));
	errno = 0;
	EXPECT_TRUE(pwrite(fb, "more", 4, 8192) == 4,
		    "writing on B a file unlinked on A: errno %d (%s)", errno,
		    strerror(errno));
	close(fb);
}

/* ----------------------------------------------------------- the suites */

static int start_pair(struct pair *p, const char *src)
{
	char data[160];

	p->nlag = 0;
	if (fu_mount(&p->a, src, NULL) || fu_mount(&p->b, src, NULL))
		return 1;
	P = p;
	snprintf(data, sizeof(data), "%s/data", p->a.dir);
	return mkdir(data, 0755) ? 1 : 0; /* the data tests' directory */
}

static int init_region(void)
{
	char src[128];

	snprintf(R.region, sizeof(R.region), "/dev/shm/ivshm-coh-%d",
		 getpid());
	snprintf(src, sizeof(src), "region=%s", R.region);
	if (fu_region(R.region, 64ull << 20))
		return 1;
	return start_pair(&R, src);
}

static int init_socket(void)
{
	char src[128], name[64];

	snprintf(name, sizeof(name), "ivshm-coh-srv-%d", getpid());
	snprintf(S.region, sizeof(S.region), "/dev/shm/%s", name);
	snprintf(S.sock, sizeof(S.sock), "/tmp/ivshm-coh-%d.sock", getpid());
	S.server = fu_server(S.sock, name, "64M");
	if (S.server < 0)
		return 1;
	snprintf(src, sizeof(src), "socket=%s", S.sock);
	return start_pair(&S, src);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static void report_lags(struct pair *p)
{
	if (!p->nlag)
		return;
	qsort(p->lag, p->nlag, sizeof(p->lag[0]), cmp_long);
	fprintf(stderr, "\n%s: B saw A's changes after: median %ld us, "
		"90%% %ld us, max %ld us (%u changes)\n", p->label,
		p->lag[p->nlag / 2], p->lag[p->nlag * 9 / 10],
		p->lag[p->nlag - 1], p->nlag);
}

static int stop_pair(struct pair *p)
{
	int rc = 0;

	report_lags(p);
	if (p->a.pid && fu_umount(&p->a))
		rc = 1;
	if (p->b.pid && fu_umount(&p->b))
		rc = 1;
	if (fu_verify(p->region, NULL, NULL))
		rc = 1;
	return rc;
}

static int clean_region(void)
{
	int rc = stop_pair(&R);

	fu_unlink(R.region);
	return rc;
}

static int clean_socket(void)
{
	int rc = stop_pair(&S);

	if (fu_server_stop(S.server, S.sock, strrchr(S.region, '/') + 1))
		rc = 1;
	S.server = 0;
	return rc;
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{ "data rewritten on A, read on B", test_data },
		{ "part of a cached file overwritten", test_partial_overwrite },
		{ "mappings", test_mmap },
		{ "truncate", test_truncate },
		{ "attributes", test_attrs },
		{ "names, negative dentries, listings", test_names },
		{ "same inode on both sides", test_same_inode },
		{ "concurrent writers in one directory",
		  test_concurrent_writers },
		{ "races with one winner", test_races },
		{ "O_APPEND from both mounts", test_appenders },
		{ "unlinked on A while open on B", test_unlink_open_elsewhere },
	};
	const char *only = getenv("FU_ONLY");
	CU_pSuite s[2];
	unsigned int failed;

	umask(022);
	fu_guard(170);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s[0] = CU_add_suite("region (polling)", init_region, clean_region);
	s[1] = CU_add_suite("socket (doorbells)", init_socket, clean_socket);
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; s[k] && i < sizeof(tests) / sizeof(tests[0]);
		     i++)
			if (!only || strstr(tests[i].name, only))
				CU_add_test(s[k], tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
