// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-fuse: the workloads, through plain POSIX calls on one
 * directory. Every read is checked against what was written (each block
 * carries its number), so a fast wrong answer cannot pass for a fast one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuse_bench.h"

#define CHUNK (1u << 20)
#define PAGE 4096u
#define MAGIC 0x6976736862656e63ull /* "ivshbenc" */

void fb_fail(struct fb_err *e, const char *fmt, ...)
{
	va_list ap;

	if (e->msg[0])
		return; /* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

double fb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int fb_drop_caches(struct fb_err *e)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		fb_fail(e, "drop_caches: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Deterministic filler, so that nothing is a run of zeroes. */
static void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf, x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

/* A block's stamp: magic, its number (the one it should be read as). */
static void stamp(void *buf, uint64_t no)
{
	uint64_t s[2] = { MAGIC, no };

	memcpy(buf, s, sizeof(s));
}

static bool stamped(const void *buf, uint64_t no)
{
	uint64_t s[2];

	memcpy(s, buf, sizeof(s));
	return s[0] == MAGIC && s[1] == no;
}

static int write_all(int fd, const char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static ssize_t read_full(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static char *path_in(const char *dir, const char *name, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* ---- sequential: 1 MiB writes and reads of one file ---- */

/* Write @bytes in 1 MiB pieces, each stamped with its number. */
static int write_seq(const char *path, uint64_t bytes, char *buf,
		     struct fb_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		fb_fail(e, "create %s: %s", path, strerror(errno));
		return -1;
	}
	for (uint64_t off = 0; off < bytes; off += CHUNK) {
		stamp(buf, off / CHUNK);
		if (write_all(fd, buf, CHUNK, (off_t)off)) {
			fb_fail(e, "write %s at %llu: %s", path,
				(unsigned long long)off, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (fsync(fd) || close(fd)) {
		fb_fail(e, "fsync/close %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Read the file back from a fresh open; check every piece's stamp. */
static int read_seq(const char *path, uint64_t bytes, char *buf,
		    struct fb_err *e)
{
	int fd = open(path, O_RDONLY);
	uint64_t off = 0;

	if (fd < 0) {
		fb_fail(e, "open %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fb_fail(e, "read %s at %llu: %s", path,
				(unsigned long long)off, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		/* Pieces may come short, but never across a stamp. */
		if (off % CHUNK == 0 && !stamped(buf, off / CHUNK)) {
			fb_fail(e, "%s: wrong data at %llu", path,
				(unsigned long long)off);
			close(fd);
			return -1;
		}
		off += (uint64_t)n;
	}
	close(fd);
	if (off != bytes) {
		fb_fail(e, "%s: read %llu bytes, wrote %llu", path,
			(unsigned long long)off, (unsigned long long)bytes);
		return -1;
	}
	return 0;
}

int fb_seq(const struct fb_cfg *c, const char *dir, double *out,
	   struct fb_err *e)
{
	char path[FB_PATH_MAX];
	double mib = (double)c->seq_bytes / (1 << 20), t;
	char *buf = aligned_alloc(PAGE, CHUNK);
	int rc = -1;

	if (!buf) {
		fb_fail(e, "out of memory");
		return -1;
	}
	fill(buf, CHUNK, 1);
	path_in(dir, "fb-seq", path, sizeof(path));
	t = fb_now();
	if (write_seq(path, c->seq_bytes, buf, e))
		goto out;
	out[FB_SEQ_WRITE] = mib / (fb_now() - t);
	if (fb_drop_caches(e))
		goto out;
	t = fb_now();
	if (read_seq(path, c->seq_bytes, buf, e))
		goto out;
	out[FB_SEQ_READ_COLD] = mib / (fb_now() - t);
	t = fb_now();
	if (read_seq(path, c->seq_bytes, buf, e))
		goto out;
	out[FB_SEQ_READ_WARM] = mib / (fb_now() - t);
	rc = 0;
out:
	if (unlink(path) && rc == 0) {
		fb_fail(e, "unlink %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(buf);
	return rc;
}

/* ---- random: 4 KiB pread/pwrite of distinct pages, iodepth 1 ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void shuffle(uint32_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* pread every page of @perm[0..ops) and check its stamp. */
static int rand_reads(int fd, const uint32_t *perm, size_t ops, char *page,
		      const char *path, struct fb_err *e)
{
	for (size_t i = 0; i < ops; i++) {
		off_t off = (off_t)perm[i] * PAGE;

		if (read_full(fd, page, PAGE, off) != PAGE) {
			fb_fail(e, "pread %s at %lld: %s", path,
				(long long)off, strerror(errno));
			return -1;
		}
		if (!stamped(page, perm[i])) {
			fb_fail(e, "%s: wrong data at %lld", path,
				(long long)off);
			return -1;
		}
	}
	return 0;
}

int fb_rand(const struct fb_cfg *c, const char *dir, double *out,
	    struct fb_err *e)
{
	size_t pages = (size_t)(c->rand_bytes / PAGE);
	size_t ops = c->rand_ops < pages ? c->rand_ops : pages;
	uint32_t *perm = malloc(pages * sizeof(*perm));
	char *buf = aligned_alloc(PAGE, CHUNK);
	char path[FB_PATH_MAX];
	int fd = -1, rc = -1;
	double t;

	path_in(dir, "fb-rand", path, sizeof(path));
	if (!perm || !buf) {
		fb_fail(e, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < pages; i++)
		perm[i] = (uint32_t)i;
	/* The file, written in 1 MiB pieces: every page stamped. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fb_fail(e, "create %s: %s", path, strerror(errno));
		goto out;
	}
	fill(buf, CHUNK, 2);
	for (size_t p = 0; p < pages; p += CHUNK / PAGE) {
		for (size_t q = 0; q < CHUNK / PAGE && p + q < pages; q++)
			stamp(buf + q * PAGE, p + q);
		if (write_all(fd, buf, CHUNK, (off_t)(p * PAGE))) {
			fb_fail(e, "write %s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (fsync(fd)) {
		fb_fail(e, "fsync %s: %s", path, strerror(errno));
		goto out;
	}
	/* Overwrites: the same stamp, new contents after it. */
	shuffle(perm, pages);
	fill(buf, PAGE, 3);
	t = fb_now();
	for (size_t i = 0; i < ops; i++) {
		stamp(buf, perm[i]);
		if (write_all(fd, buf, PAGE, (off_t)perm[i] * PAGE)) {
			fb_fail(e, "pwrite %s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (fsync(fd)) {
		fb_fail(e, "fsync %s: %s", path, strerror(errno));
		goto out;
	}
	out[FB_RAND_WRITE] = (double)ops / (fb_now() - t);
	close(fd);
	fd = -1;
	if (fb_drop_caches(e))
		goto out;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fb_fail(e, "open %s: %s", path, strerror(errno));
		goto out;
	}
	shuffle(perm, pages);
	t = fb_now();
	if (rand_reads(fd, perm, ops, buf, path, e))
		goto out;
	out[FB_RAND_READ_COLD] = (double)ops / (fb_now() - t);
	t = fb_now();
	if (rand_reads(fd, perm, ops, buf, path, e))
		goto out;
	out[FB_RAND_READ_WARM] = (double)ops / (fb_now() - t);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (unlink(path) && rc == 0) {
		fb_fail(e, "unlink %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(perm);
	free(buf);
	return rc;
}

/* ---- small files: create, stat, readdir, read, unlink ---- */

static void name_of(unsigned long i, char *buf, size_t len)
{
	snprintf(buf, len, "f%06lu", i);
}

static int files_stat(int dfd, unsigned long n, struct fb_err *e)
{
	char name[32];
	struct stat st;

	for (unsigned long i = 0; i < n; i++) {
		name_of(i, name, sizeof(name));
		if (fstatat(dfd, name, &st, 0)) {
			fb_fail(e, "stat %s: %s", name, strerror(errno));
			return -1;
		}
		if (st.st_size != PAGE) {
			fb_fail(e, "stat %s: size %lld", name,
				(long long)st.st_size);
			return -1;
		}
	}
	return 0;
}

static int files_readdir(const char *dir, unsigned long n, struct fb_err *e)
{
	DIR *d = opendir(dir);
	unsigned long seen = 0;
	struct dirent *de;

	if (!d) {
		fb_fail(e, "opendir %s: %s", dir, strerror(errno));
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] == 'f')
			seen++;
	if (errno) {
		fb_fail(e, "readdir %s: %s", dir, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	if (seen != n) {
		fb_fail(e, "readdir %s: %lu entries, expected %lu", dir, seen,
			n);
		return -1;
	}
	return 0;
}

static int files_read(int dfd, unsigned long n, char *page,
		      struct fb_err *e)
{
	char name[32];

	for (unsigned long i = 0; i < n; i++) {
		int fd;
		ssize_t got;

		name_of(i, name, sizeof(name));
		fd = openat(dfd, name, O_RDONLY);
		if (fd < 0) {
			fb_fail(e, "open %s: %s", name, strerror(errno));
			return -1;
		}
		got = read(fd, page, PAGE);
		close(fd);
		if (got != PAGE || !stamped(page, i)) {
			fb_fail(e, "read %s: %zd bytes%s", name, got,
				got == PAGE ? ", wrong data" : "");
			return -1;
		}
	}
	return 0;
}

int fb_files(const struct fb_cfg *c, const char *dir, double *out,
	     struct fb_err *e)
{
	char sub[FB_PATH_MAX], name[32];
	char *page = aligned_alloc(PAGE, PAGE);
	double n = (double)c->files, t;
	unsigned long made = 0;
	int dfd = -1, rc = -1;

	path_in(dir, "fb-files", sub, sizeof(sub));
	if (!page) {
		fb_fail(e, "out of memory");
		return -1;
	}
	fill(page, PAGE, 4);
	if (mkdir(sub, 0755) || (dfd = open(sub, O_RDONLY | O_DIRECTORY)) < 0) {
		fb_fail(e, "mkdir %s: %s", sub, strerror(errno));
		goto out;
	}
	t = fb_now();
	for (; made < c->files; made++) {
		int fd;

		name_of(made, name, sizeof(name));
		stamp(page, made);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, page, PAGE) != PAGE || close(fd)) {
			fb_fail(e, "create %s: %s", name, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
	}
	out[FB_CREATE] = n / (fb_now() - t);
	/* Cold: each with every cache dropped just before. */
	if (fb_drop_caches(e))
		goto out;
	t = fb_now();
	if (files_stat(dfd, c->files, e))
		goto out;
	out[FB_STAT_COLD] = n / (fb_now() - t);
	if (fb_drop_caches(e))
		goto out;
	t = fb_now();
	if (files_readdir(sub, c->files, e))
		goto out;
	out[FB_READDIR_COLD] = n / (fb_now() - t);
	if (fb_drop_caches(e))
		goto out;
	t = fb_now();
	if (files_read(dfd, c->files, page, e))
		goto out;
	out[FB_READ_COLD] = n / (fb_now() - t);
	/* Warm: the same again, after one untimed pass of all three. */
	if (files_stat(dfd, c->files, e) || files_readdir(sub, c->files, e) ||
	    files_read(dfd, c->files, page, e))
		goto out;
	t = fb_now();
	if (files_stat(dfd, c->files, e))
		goto out;
	out[FB_STAT_WARM] = n / (fb_now() - t);
	t = fb_now();
	if (files_readdir(sub, c->files, e))
		goto out;
	out[FB_READDIR_WARM] = n / (fb_now() - t);
	t = fb_now();
	if (files_read(dfd, c->files, page, e))
		goto out;
	out[FB_READ_WARM] = n / (fb_now() - t);
	t = fb_now();
	for (unsigned long i = 0; i < c->files; i++) {
		name_of(i, name, sizeof(name));
		if (unlinkat(dfd, name, 0)) {
			fb_fail(e, "unlink %s: %s", name, strerror(errno));
			goto out;
		}
	}
	made = 0;
	out[FB_UNLINK] = n / (fb_now() - t);
	rc = 0;
out:
	for (unsigned long i = 0; i < made; i++) {
		name_of(i, name, sizeof(name));
		unlinkat(dfd, name, 0);
	}
	if (dfd >= 0)
		close(dfd);
	if (rmdir(sub) && rc == 0) {
		fb_fail(e, "rmdir %s: %s", sub, strerror(errno));
		rc = -1;
	}
	free(page);
	return rc;
}

/* ---- a source tree: cp -a in, rm -rf ---- */

static unsigned long tree_entries;
static uint64_t tree_bytes;

static int walk_read(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	static char buf[1 << 16];

	(void)ftw;
	tree_entries++;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		int fd = open(path, O_RDONLY);

		tree_bytes += (uint64_t)st->st_size;
		if (fd >= 0) {
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
		}
	}
	return 0;
}

static int walk_count(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)path, (void)ftw;
	tree_entries++;
	if (type == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (uint64_t)st->st_size;
	return 0;
}

/* Run a command; 0 if it exited 0. */
static int run(char *const argv[], struct fb_err *e)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		fb_fail(e, "%s: cannot run", argv[0]);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fb_fail(e, "%s %s failed (status %d)", argv[0], argv[1],
			status);
		return -1;
	}
	return 0;
}

int fb_tree(const struct fb_cfg *c, const char *dir, double *out,
	    struct fb_err *e)
{
	char dst[FB_PATH_MAX];
	char *cp[] = { "cp", "-a", (char *)c->tree, dst, NULL };
	char *rm[] = { "rm", "-rf", dst, NULL };
	unsigned long src_entries;
	uint64_t src_bytes;
	double t;

	path_in(dir, "fb-tree", dst, sizeof(dst));
	/* The source in the page cache, as a build tree would be. */
	tree_entries = 0;
	tree_bytes = 0;
	if (nftw(c->tree, walk_read, 64, FTW_PHYS)) {
		fb_fail(e, "walk %s: %s", c->tree, strerror(errno));
		return -1;
	}
	src_entries = tree_entries;
	src_bytes = tree_bytes;
	t = fb_now();
	if (run(cp, e))
		goto fail;
	out[FB_TREE_COPY] = fb_now() - t;
	tree_entries = 0;
	tree_bytes = 0;
	if (nftw(dst, walk_count, 64, FTW_PHYS) ||
	    tree_entries != src_entries || tree_bytes != src_bytes) {
		fb_fail(e, "copy of %s: %lu entries, %llu bytes; source has "
			"%lu, %llu", c->tree, tree_entries,
			(unsigned long long)tree_bytes, src_entries,
			(unsigned long long)src_bytes);
		goto fail;
	}
	t = fb_now();
	if (run(rm, e))
		return -1;
	out[FB_TREE_REMOVE] = fb_now() - t;
	if (!access(dst, F_OK)) {
		fb_fail(e, "rm -rf %s left it there", dst);
		return -1;
	}
	return 0;
fail:
	run(rm, &(struct fb_err){ { 0 } });
	return -1;
}
