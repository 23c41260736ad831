// SPDX-License-Identifier: MIT
/*
 * fsx-style exerciser on a real ivshm-fuse mount.
 *
 * A few files on one mount, each with a byte-exact model in memory. Every
 * operation is applied to the file and to the model; then the range it
 * touched and the size are checked, and every -N operations the whole file
 * is, through the page cache, through O_DIRECT (the daemon's own view) or
 * through the mapping. Every -C operations a second mount of the same
 * region must show the same bytes: at once through O_DIRECT, and within
 * -W milliseconds through its page cache (invalidations are asynchronous).
 * At the end both mounts go, the region is verified, and a fresh mount
 * must show the model once more.
 *
 * Operations: buffered read and write (anywhere below the size limit, so
 * far past the end too: holes), O_DIRECT read and write (4 KiB aligned,
 * through a second descriptor), read and write through a shared mapping
 * (msync; remapped when the size changed), truncate up and down,
 * fallocate PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE (with and without
 * KEEP_SIZE), mode 0 and KEEP_SIZE, copies through read+write and
 * copy_file_range, close/reopen, and writes through the second mount
 * (this mount's pages, size and mapping must follow within -W ms).
 *
 *   fsx [-n ops] [-S seed] [-l maxsize] [-o maxop] [-f files]
 *       [-r region_mib] [-N check_every] [-C coherence_every] [-W ms] [-d]
 *       [-v]
 *
 * -d (dense) starts with every file full and mostly replaces truncates,
 * punches and zeroing by writes: the live data stays near files * maxsize,
 * so the cleaner works at that utilisation of the region.
 *
 * On a failure: what was expected and found, where the found bytes seem
 * to come from, the last 20 operations, the seed; the region is copied to
 * /tmp/ivshm-fsx-<seed>.region for inspection.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "futil.h"

#define PAGE 4096ull
#define HIST 1024	/* operations remembered, for diagnosis */
#define SHOW 20		/* ... and shown on failure */
#define MAX_FILES 8

enum op {
	OP_READ, OP_WRITE, OP_DREAD, OP_DWRITE, OP_MREAD, OP_MWRITE,
	OP_TRUNC, OP_PUNCH, OP_ZERO, OP_FALLOC, OP_COPY, OP_REOPEN,
	OP_BWRITE, OP_COHERE, OP_COUNT
};

static const char *const op_name[OP_COUNT] = {
	"read", "write", "dread", "dwrite", "mapread", "mapwrite",
	"truncate", "punch", "zero", "falloc", "copy", "reopen", "otherwrite",
	"coherence"
};

/*
 * Weights out of 100; coherence runs on its own schedule. Writes through
 * the second mount become plain writes when there is none.
 */
static const int op_weight[OP_COUNT] = {
	[OP_READ] = 13, [OP_BWRITE] = 2, [OP_WRITE] = 19, [OP_DREAD] = 8,
	[OP_DWRITE] = 10,
	[OP_MREAD] = 8, [OP_MWRITE] = 8, [OP_TRUNC] = 6, [OP_PUNCH] = 6,
	[OP_ZERO] = 6, [OP_FALLOC] = 4, [OP_COPY] = 8, [OP_REOPEN] = 2,
};

struct rec {
	uint64_t no;
	enum op op;
	int file;
	int mode;		/* fallocate mode; 1 for copy_file_range */
	uint64_t off, len, src;	/* src: of a copy */
	uint64_t size0, size1;	/* size before and after */
	bool writes;		/* wrote pattern(no) at [off, off + len) */
};

struct file {
	char name[64];
	int fd;			/* buffered */
	int dfd;		/* O_DIRECT */
	unsigned char *map;	/* MAP_SHARED of fd, maplen bytes */
	uint64_t maplen;
	unsigned char *model;	/* maxsize bytes; zero beyond size */
	uint64_t size;
};

static struct {
	uint64_t ops, seed, maxsize, maxop, check_every, cohere_every;
	unsigned int nfiles, region_mib, wait_ms;
	bool verbose, dense;
} cfg = {
	.ops = 100000, .maxsize = 4 << 20, .maxop = 512 << 10,
	.check_every = 500, .cohere_every = 2000, .nfiles = 2,
	.region_mib = 32, .wait_ms = 2000,
};

static struct file files[MAX_FILES];
static struct mnt ma, mb;
static char region[128];
static uint64_t rng_state, opno;
static struct rec hist[HIST];
static unsigned char *buf, *dbuf;	/* scratch; dbuf is page aligned */
static bool no_zero_range, no_cfr;
static uint64_t stat_ops[OP_COUNT], bytes_written, cfr_done;
static int64_t stat_ns[OP_COUNT];
static int64_t cohere_max_ms, back_max_ms;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* The byte operation @no writes at file offset @pos: never zero. */
static unsigned char pat(uint64_t no, uint64_t pos)
{
	uint64_t x = no * 0x9e3779b97f4a7c15ull + pos * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 31;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return (unsigned char)(x % 255 + 1);
}

static void fill(unsigned char *p, uint64_t no, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = pat(no, off + i);
}

static void show_rec(const struct rec *r)
{
	fprintf(stderr, "  #%-8" PRIu64 " f%d %-9s", r->no, r->file,
		op_name[r->op]);
	if (r->op == OP_COPY)
		fprintf(stderr, " 0x%" PRIx64 " -> 0x%" PRIx64 " +0x%" PRIx64
			"%s", r->src, r->off, r->len,
			r->mode ? " (copy_file_range)" : "");
	else if (r->op == OP_TRUNC)
		fprintf(stderr, " to 0x%" PRIx64, r->off);
	else if (r->op != OP_REOPEN && r->op != OP_COHERE)
		fprintf(stderr, " 0x%" PRIx64 " +0x%" PRIx64 " (to 0x%" PRIx64
			")", r->off, r->len, r->off + r->len);
	if (r->op == OP_PUNCH || r->op == OP_ZERO || r->op == OP_FALLOC)
		fprintf(stderr, " mode 0x%x", r->mode);
	if (r->no == opno)
		fprintf(stderr, "  size 0x%" PRIx64 " (failed here)\n",
			r->size0);
	else
		fprintf(stderr, "  size 0x%" PRIx64 " -> 0x%" PRIx64 "\n",
			r->size0, r->size1);
}

static void show_history(void)
{
	uint64_t first = opno >= SHOW ? opno - SHOW + 1 : 1;

	fprintf(stderr, "last operations (oldest first):\n");
	for (uint64_t n = first; n <= opno; n++)
		if (hist[n % HIST].no == n)
			show_rec(&hist[n % HIST]);
}

static void save_region(void)
{
	char dst[160], cmd[400];

	snprintf(dst, sizeof(dst), "/tmp/ivshm-fsx-%" PRIu64 ".region",
		 cfg.seed);
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", region,
		 dst);
	if (region[0] && !system(cmd))
		fprintf(stderr, "region saved as %s\n", dst);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\nFSX FAILURE at operation #%" PRIu64 ": ", opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	show_history();
	fprintf(stderr, "seed %" PRIu64 " (rerun: test_fuse_fsx -S %" PRIu64
		" -n %" PRIu64 " -l %" PRIu64 " -o %" PRIu64 " -f %u -r %u -C %"
		PRIu64 "%s)\n", cfg.seed, cfg.seed, opno, cfg.maxsize,
		cfg.maxop, cfg.nfiles, cfg.region_mib, cfg.cohere_every,
		cfg.dense ? " -d" : "");
	save_region();
	exit(1);
}

/* Which remembered write put these bytes here? For the report. */
static void explain(int fi, uint64_t pos, const unsigned char *got,
		    uint64_t n)
{
	uint64_t k = n < 16 ? n : 16, zero = 0;

	while (zero < n && !got[zero])
		zero++;
	if (zero == n) {
		fprintf(stderr, "  found bytes are zeros (a hole, or data "
			"dropped)\n");
		return;
	}
	for (uint64_t back = 0; back < HIST && back < opno; back++) {
		const struct rec *r = &hist[(opno - back) % HIST];
		uint64_t i;

		if (r->no != opno - back || !r->writes || r->file != fi ||
		    pos < r->off || pos + k > r->off + r->len)
			continue;
		for (i = 0; i < k && got[i] == pat(r->no, pos + i); i++)
			;
		if (i == k) {
			fprintf(stderr, "  found bytes were written by:\n");
			show_rec(r);
			return;
		}
	}
	fprintf(stderr, "  found bytes match no write of the last %d "
		"operations\n", HIST);
}

static void hexline(const char *what, const unsigned char *p, uint64_t n)
{
	fprintf(stderr, "  %-8s", what);
	for (uint64_t i = 0; i < n && i < 16; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, "\n");
}

/* @got holds the file's bytes at [off, off + len): compare with the model. */
static void compare(int fi, const char *via, uint64_t off,
		    const unsigned char *got, uint64_t len)
{
	const unsigned char *want = files[fi].model + off;
	uint64_t i, j;

	if (!memcmp(got, want, len))
		return;
	for (i = 0; got[i] == want[i]; i++)
		;
	for (j = i; j < len && got[j] != want[j]; j++)
		;
	fprintf(stderr, "\nfile f%d (%s) read %s [0x%" PRIx64 ", 0x%" PRIx64
		"): first difference at 0x%" PRIx64 ", 0x%" PRIx64
		" bytes differ from there; file size 0x%" PRIx64 "\n", fi,
		files[fi].name, via, off, off + len, off + i, j - i,
		files[fi].size);
	hexline("expected", want + i, len - i);
	hexline("found", got + i, len - i);
	explain(fi, off + i, got + i, j - i);
	fail("f%d: %s content differs from the model at 0x%" PRIx64, fi, via,
	     off + i);
}

static void check_size(int fi, const char *after)
{
	struct stat st;

	if (fstat(files[fi].fd, &st))
		fail("fstat f%d: %s", fi, strerror(errno));
	if ((uint64_t)st.st_size != files[fi].size)
		fail("f%d: size 0x%llx after %s, model says 0x%" PRIx64, fi,
		     (unsigned long long)st.st_size, after, files[fi].size);
}

/* Read [off, off + len) through @fd (buffered) and compare. */
static void check_buffered(int fi, uint64_t off, uint64_t len)
{
	struct file *f = &files[fi];
	uint64_t want = off >= f->size ? 0 :
			len > f->size - off ? f->size - off : len;
	ssize_t n = fu_pread_all(f->fd, buf, len, (off_t)off);

	if (n < 0)
		fail("f%d: pread 0x%" PRIx64 " +0x%" PRIx64 ": %s", fi, off,
		     len, strerror((int)-n));
	if ((uint64_t)n != want)
		fail("f%d: pread 0x%" PRIx64 " +0x%" PRIx64 " returned 0x%zx "
		     "bytes, want 0x%" PRIx64 " (size 0x%" PRIx64 ")", fi, off,
		     len, (size_t)n, want, f->size);
	compare(fi, "buffered", off, buf, want);
}

/* The same through O_DIRECT, on the page-aligned range around it. */
static void check_direct(int fi, uint64_t off, uint64_t len)
{
	struct file *f = &files[fi];
	uint64_t a = off & ~(PAGE - 1);
	uint64_t b = (off + len + PAGE - 1) & ~(PAGE - 1);
	uint64_t want = a >= f->size ? 0 :
			b - a > f->size - a ? f->size - a : b - a;
	ssize_t n = fu_pread_all(f->dfd, dbuf, b - a, (off_t)a);

	if (n < 0)
		fail("f%d: O_DIRECT pread 0x%" PRIx64 " +0x%" PRIx64 ": %s",
		     fi, a, b - a, strerror((int)-n));
	if ((uint64_t)n != want)
		fail("f%d: O_DIRECT pread 0x%" PRIx64 " +0x%" PRIx64
		     " returned 0x%zx bytes, want 0x%" PRIx64 " (size 0x%"
		     PRIx64 ")", fi, a, b - a, (size_t)n, want, f->size);
	compare(fi, "O_DIRECT", a, dbuf, want);
}

static void map_update(struct file *f)
{
	if (f->map && f->maplen == f->size)
		return;
	if (f->map)
		munmap(f->map, f->maplen);
	f->map = NULL;
	f->maplen = 0;
	if (!f->size)
		return;
	f->map = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		      0);
	if (f->map == MAP_FAILED) {
		f->map = NULL;
		fail("mmap %s 0x%" PRIx64 " bytes: %s", f->name, f->size,
		     strerror(errno));
	}
	f->maplen = f->size;
}

static void check_whole(int fi, int how)
{
	struct file *f = &files[fi];

	check_size(fi, "whole-file check");
	if (how == 0) {
		check_buffered(fi, 0, f->size + PAGE);
	} else if (how == 1) {
		check_direct(fi, 0, f->size + PAGE);
	} else {
		map_update(f);
		if (f->size)
			compare(fi, "mapping", 0, f->map, f->size);
	}
}

static void file_open(struct file *f, const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%.63s", dir, f->name);
	f->fd = open(path, O_RDWR | O_CREAT, 0644);
	if (f->fd < 0)
		fail("open %s: %s", path, strerror(errno));
	f->dfd = open(path, O_RDWR | O_DIRECT);
	if (f->dfd < 0)
		fail("open %s O_DIRECT: %s", path, strerror(errno));
}

static void file_close(struct file *f)
{
	if (f->map)
		munmap(f->map, f->maplen);
	f->map = NULL;
	f->maplen = 0;
	if (close(f->fd) || close(f->dfd))
		fail("close %s: %s", f->name, strerror(errno));
}

/* An operation's length: mostly small, sometimes up to maxop. */
static uint64_t pick_len(void)
{
	uint64_t r = below(100);
	uint64_t max = r < 60 ? 4096 : r < 95 ? 65536 : cfg.maxop;

	if (max > cfg.maxop)
		max = cfg.maxop;
	return 1 + below(max);
}

/* Model: the size becomes @size (zeros appear or bytes go). */
static void model_resize(struct file *f, uint64_t size)
{
	if (size < f->size)
		memset(f->model + size, 0, f->size - size);
	f->size = size;
}

static void model_write(struct file *f, uint64_t off, const void *p,
			uint64_t len)
{
	memmove(f->model + off, p, len);
	if (off + len > f->size)
		f->size = off + len;
}

/* Dense mode: the file starts full (operation 0's pattern). */
static void fill_file(struct file *f)
{
	for (uint64_t off = 0; off < cfg.maxsize; off += 1 << 20) {
		uint64_t len = cfg.maxsize - off < (1 << 20) ?
				       cfg.maxsize - off : 1 << 20;
		ssize_t n;

		fill(buf, 0, off, len);
		n = fu_pwrite_all(f->fd, buf, len, (off_t)off);
		if (n < 0)
			fail("filling %s at 0x%" PRIx64 ": %s", f->name, off,
			     strerror((int)-n));
		model_write(f, off, buf, len);
	}
}

static void do_write(int fi, struct rec *r, bool direct)
{
	struct file *f = &files[fi];
	uint64_t off, len;
	ssize_t n;

	if (direct) {
		uint64_t pages = cfg.maxsize / PAGE;

		len = (pick_len() + PAGE - 1) & ~(PAGE - 1);
		if (len > cfg.maxsize)
			len = cfg.maxsize;
		off = below(pages - len / PAGE + 1) * PAGE;
	} else {
		len = pick_len();
		/* A fifth of the writes start at or past the end: holes. */
		if (below(5) == 0 && f->size + len < cfg.maxsize)
			off = f->size + below(cfg.maxsize - f->size - len + 1);
		else
			off = below(cfg.maxsize - len + 1);
	}
	r->off = off;
	r->len = len;
	r->writes = true;
	fill(direct ? dbuf : buf, r->no, off, len);
	n = fu_pwrite_all(direct ? f->dfd : f->fd, direct ? dbuf : buf, len,
			  (off_t)off);
	if (n < 0)
		fail("f%d: %spwrite 0x%" PRIx64 " +0x%" PRIx64 ": %s", fi,
		     direct ? "O_DIRECT " : "", off, len, strerror((int)-n));
	model_write(f, off, direct ? dbuf : buf, len);
	bytes_written += len;
	check_size(fi, op_name[r->op]);
	/* Read back through the other path now and then. */
	if (below(4) == 0)
		check_direct(fi, off, len);
	else
		check_buffered(fi, off, len);
}

static void do_read(int fi, struct rec *r, bool direct)
{
	uint64_t off, len;

	if (direct) {
		len = (pick_len() + PAGE - 1) & ~(PAGE - 1);
		off = below(cfg.maxsize / PAGE) * PAGE;
		if (len > cfg.maxsize + PAGE - off)
			len = cfg.maxsize + PAGE - off;
		r->off = off;
		r->len = len;
		check_direct(fi, off, len);
	} else {
		len = pick_len();
		off = below(cfg.maxsize);
		if (len > cfg.maxsize + PAGE - off)
			len = cfg.maxsize + PAGE - off;
		r->off = off;
		r->len = len;
		check_buffered(fi, off, len);
	}
}

static void do_mapread(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t off, len;

	map_update(f);
	if (!f->size)
		return;
	off = below(f->size);
	len = pick_len();
	if (len > f->size - off)
		len = f->size - off;
	r->off = off;
	r->len = len;
	compare(fi, "mapping", off, f->map + off, len);
}

static void do_mapwrite(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t len = pick_len(), off = below(cfg.maxsize - len + 1), a;

	r->off = off;
	r->len = len;
	r->writes = true;
	/* A mapping cannot extend a file: grow it first. */
	if (off + len > f->size) {
		if (ftruncate(f->fd, (off_t)(off + len)))
			fail("f%d: ftruncate to 0x%" PRIx64 " before mapwrite: "
			     "%s", fi, off + len, strerror(errno));
		model_resize(f, off + len);
	}
	map_update(f);
	fill(f->map + off, r->no, off, len);
	a = off & ~(PAGE - 1);
	if (msync(f->map + a, off + len - a, MS_SYNC))
		fail("f%d: msync 0x%" PRIx64 " +0x%" PRIx64 ": %s", fi, a,
		     off + len - a, strerror(errno));
	model_write(f, off, f->map + off, len);
	bytes_written += len;
	check_size(fi, "mapwrite");
	/* msync must have reached the daemon: ask it directly. */
	check_direct(fi, off, len);
}

static void do_truncate(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t old = f->size, size, lo, hi;
	bool up = below(2) || !old;

	size = up ? old + below(cfg.maxsize - old + 1) : below(old);
	r->off = size;
	if (ftruncate(below(2) ? f->fd : f->dfd, (off_t)size))
		fail("f%d: ftruncate 0x%" PRIx64 " -> 0x%" PRIx64 ": %s", fi,
		     old, size, strerror(errno));
	model_resize(f, size);
	check_size(fi, "truncate");
	lo = (old < size ? old : size);
	hi = (old > size ? old : size) + PAGE;
	lo = lo > 2 * PAGE ? lo - 2 * PAGE : 0;
	check_buffered(fi, lo, hi - lo);
	if (below(4) == 0)
		check_direct(fi, lo, hi - lo);
}

static void do_fallocate(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t len = pick_len(), off = below(cfg.maxsize - len + 1), end;
	int mode;

	if (r->op == OP_PUNCH) {
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		/* Mostly where there is data. */
		if (f->size && below(4))
			off = below(f->size);
		if (off + len > cfg.maxsize)
			len = cfg.maxsize - off;
	} else if (r->op == OP_ZERO) {
		mode = FALLOC_FL_ZERO_RANGE | (below(2) ? FALLOC_FL_KEEP_SIZE :
							  0);
		if (f->size && below(2)) {
			off = below(f->size);
			if (off + len > cfg.maxsize)
				len = cfg.maxsize - off;
		}
	} else {
		mode = below(3) ? 0 : FALLOC_FL_KEEP_SIZE;
	}
	r->off = off;
	r->len = len;
	r->mode = mode;
	if (fallocate(below(2) ? f->fd : f->dfd, mode, (off_t)off,
		      (off_t)len)) {
		if (errno == EOPNOTSUPP && r->op == OP_ZERO) {
			if (!no_zero_range)
				printf("fsx: ZERO_RANGE not supported by the "
				       "kernel or daemon: not tested\n");
			no_zero_range = true;
			return;
		}
		fail("f%d: fallocate mode 0x%x 0x%" PRIx64 " +0x%" PRIx64
		     ": %s", fi, mode, off, len, strerror(errno));
	}
	end = off + len;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		if (off < f->size)
			memset(f->model + off, 0,
			       (end < f->size ? end : f->size) - off);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > f->size)
		model_resize(f, end);
	check_size(fi, op_name[r->op]);
	if (below(2))
		check_buffered(fi, off, len);
	else
		check_direct(fi, off, len);
}

static void do_copy(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t len = pick_len(), src, dst;
	ssize_t n;

	if (!f->size)
		return;
	src = below(f->size);
	if (len > f->size - src)
		len = f->size - src;
	dst = below(cfg.maxsize - len + 1);
	r->src = src;
	r->off = dst;
	r->len = len;
	/* copy_file_range needs ranges that do not overlap. */
	if (!no_cfr && below(3) == 0 &&
	    (dst >= src + len || src >= dst + len)) {
		loff_t in = (loff_t)src, out = (loff_t)dst;
		uint64_t done = 0;

		r->mode = 1;
		while (done < len) {
			n = copy_file_range(f->fd, &in, f->fd, &out,
					    len - done, 0);
			if (n <= 0)
				break;
			done += (uint64_t)n;
		}
		if (done == len) {
			cfr_done++;
			model_write(f, dst, f->model + src, len);
			goto check;
		}
		if (done || (errno != EOPNOTSUPP && errno != EXDEV &&
			     errno != ENOSYS))
			fail("f%d: copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64
			     " +0x%" PRIx64 ": copied 0x%" PRIx64 ", %s", fi,
			     src, dst, len, done, strerror(errno));
		printf("fsx: copy_file_range not supported (%s): copies use "
		       "read+write\n", strerror(errno));
		no_cfr = true;
		r->mode = 0;
	}
	n = fu_pread_all(f->fd, buf, len, (off_t)src);
	if (n < 0 || (uint64_t)n != len)
		fail("f%d: copy: pread 0x%" PRIx64 " +0x%" PRIx64 ": %zd %s",
		     fi, src, len, n, n < 0 ? strerror((int)-n) : "short");
	compare(fi, "copy source", src, buf, len);
	n = fu_pwrite_all(f->fd, buf, len, (off_t)dst);
	if (n < 0)
		fail("f%d: copy: pwrite 0x%" PRIx64 " +0x%" PRIx64 ": %s", fi,
		     dst, len, strerror((int)-n));
	model_write(f, dst, buf, len);
check:
	bytes_written += len;
	check_size(fi, "copy");
	check_buffered(fi, dst, len);
}

static void do_reopen(int fi)
{
	file_close(&files[fi]);
	file_open(&files[fi], ma.dir);
	check_size(fi, "reopen");
}

/*
 * A write through the second mount: this mount's caches (pages, size,
 * mapping) must follow within -W ms.
 */
static void do_bwrite(int fi, struct rec *r)
{
	struct file *f = &files[fi];
	uint64_t len = pick_len(), off = below(cfg.maxsize - len + 1);
	int64_t t0, waited;
	char path[256];
	ssize_t n;
	int fd;

	r->off = off;
	r->len = len;
	r->writes = true;
	snprintf(path, sizeof(path), "%s/%.63s", mb.dir, f->name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		fail("%s (second mount): %s", path, strerror(errno));
	fill(buf, r->no, off, len);
	n = fu_pwrite_all(fd, buf, len, (off_t)off);
	if (n < 0 || close(fd))
		fail("f%d: pwrite 0x%" PRIx64 " +0x%" PRIx64 " through the "
		     "second mount: %s", fi, off, len,
		     strerror(n < 0 ? (int)-n : errno));
	model_write(f, off, buf, len);
	bytes_written += len;
	t0 = fu_ms();
	for (;;) {
		struct stat st;

		if (fstat(f->fd, &st))
			fail("fstat f%d: %s", fi, strerror(errno));
		n = fu_pread_all(f->fd, buf, len, (off_t)off);
		if ((uint64_t)st.st_size == f->size && (uint64_t)n == len &&
		    !memcmp(buf, f->model + off, len))
			break;
		if (fu_ms() - t0 > cfg.wait_ms) {
			fprintf(stderr, "after %u ms, this mount still shows "
				"size 0x%llx and reads 0x%zx bytes\n",
				cfg.wait_ms, (unsigned long long)st.st_size,
				(size_t)n);
			if (n > 0)
				compare(fi, "buffered, after a write through "
					"the second mount", off, buf,
					(uint64_t)n);
			fail("f%d: this mount's cache is stale %u ms after a "
			     "write through the second mount", fi,
			     cfg.wait_ms);
		}
		fu_sleep_ms(1);
	}
	waited = fu_ms() - t0;
	if (waited > back_max_ms)
		back_max_ms = waited;
	/* The mapping too, once remapped to the new size. */
	map_update(f);
	compare(fi, "mapping, after a write through the second mount", off,
		f->map + off, len);
}

/*
 * The second mount must agree: through O_DIRECT at once (its daemon
 * catches up before every operation), through its page cache once the
 * invalidations have arrived.
 */
static void check_other(bool wait)
{
	for (unsigned int fi = 0; fi < cfg.nfiles; fi++) {
		struct file *f = &files[fi];
		char path[256];
		int64_t t0 = fu_ms(), waited;
		uint64_t span = (f->size + PAGE) & ~(PAGE - 1);
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "%s/%.63s", mb.dir, f->name);
		fd = open(path, O_RDONLY | O_DIRECT);
		if (fd < 0)
			fail("%s O_DIRECT: %s", path, strerror(errno));
		n = fu_pread_all(fd, dbuf, span, 0);
		close(fd);
		if (n < 0)
			fail("%s O_DIRECT read: %s", path, strerror((int)-n));
		if ((uint64_t)n != f->size)
			fail("%s (second mount) O_DIRECT read 0x%zx bytes, "
			     "size is 0x%" PRIx64, path, (size_t)n, f->size);
		compare((int)fi, "second mount O_DIRECT", 0, dbuf, f->size);
		if (!wait)
			continue;
		fd = open(path, O_RDONLY);
		if (fd < 0)
			fail("%s: %s", path, strerror(errno));
		for (;;) {
			struct stat st;

			n = fu_pread_all(fd, buf, f->size + PAGE, 0);
			if (n < 0 || fstat(fd, &st))
				fail("%s (second mount): %s", path,
				     strerror(n < 0 ? (int)-n : errno));
			if ((uint64_t)st.st_size == f->size &&
			    (uint64_t)n == f->size &&
			    !memcmp(buf, f->model, f->size))
				break;
			if (fu_ms() - t0 > cfg.wait_ms) {
				fprintf(stderr, "second mount, after %u ms: "
					"size 0x%llx, read 0x%zx bytes\n",
					cfg.wait_ms,
					(unsigned long long)st.st_size,
					(size_t)n);
				if ((uint64_t)n > f->size)
					n = (ssize_t)f->size;
				compare((int)fi, "second mount (cached)", 0,
					buf, (uint64_t)n);
				fail("%s: second mount's cache still stale "
				     "after %u ms (size 0x%llx read 0x%zx, "
				     "model 0x%" PRIx64 ")", path, cfg.wait_ms,
				     (unsigned long long)st.st_size, (size_t)n,
				     f->size);
			}
			fu_sleep_ms(2);
		}
		close(fd);
		waited = fu_ms() - t0;
		if (waited > cohere_max_ms)
			cohere_max_ms = waited;
	}
}

static void usage(void)
{
	fprintf(stderr,
"usage: fsx [-n ops] [-S seed] [-l maxsize] [-o maxop] [-f files]\n"
"           [-r region_mib] [-N check_every] [-C coherence_every]\n"
"           [-W wait_ms] [-d] [-v]\n"
"  -n  operations (100000)          -S  seed (0: from the clock)\n"
"  -l  file size limit (4194304)    -o  largest operation (524288)\n"
"  -f  files (2, at most 8)         -r  region size, MiB, power of 2 (32)\n"
"  -N  whole-file check every N ops (500)\n"
"  -C  second-mount check every N ops (2000; 0: no second mount)\n"
"  -W  how long the second mount's cache may stay stale, ms (2000)\n"
"  -d  dense files: start full, few truncates, punches and zeroing\n"
"  -v  progress\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "n:S:l:o:f:r:N:C:W:dv")) != -1) {
		unsigned long long v = 0;

		if (c != 'v' && c != 'd' && c != '?')
			v = strtoull(optarg, NULL, 0);
		switch (c) {
		case 'n': cfg.ops = v; break;
		case 'S': cfg.seed = v; break;
		case 'l': cfg.maxsize = v & ~(PAGE - 1); break;
		case 'o': cfg.maxop = v; break;
		case 'f': cfg.nfiles = (unsigned int)v; break;
		case 'r': cfg.region_mib = (unsigned int)v; break;
		case 'N': cfg.check_every = v; break;
		case 'C': cfg.cohere_every = v; break;
		case 'W': cfg.wait_ms = (unsigned int)v; break;
		case 'v': cfg.verbose = true; break;
		case 'd': cfg.dense = true; break;
		default: usage();
		}
	}
	if (optind != argc || !cfg.nfiles || cfg.nfiles > MAX_FILES ||
	    cfg.maxsize < 4 * PAGE || !cfg.maxop || !cfg.check_every ||
	    !cfg.region_mib)
		usage();
	if (cfg.maxop > cfg.maxsize)
		cfg.maxop = cfg.maxsize;
	if (!cfg.seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		cfg.seed = ((uint64_t)ts.tv_sec * 1000003 + (uint64_t)ts.tv_nsec
			    + (uint64_t)getpid()) % 1000000000 + 1;
	}
}

static enum op pick_op(void)
{
	int r = (int)below(100);

	for (int i = 0; i < OP_COUNT; i++) {
		if (r < op_weight[i])
			return (enum op)i;
		r -= op_weight[i];
	}
	return OP_READ;
}

static void one_op(void)
{
	int fi = (int)below(cfg.nfiles);
	struct rec *r = &hist[opno % HIST];
	enum op op = pick_op();
	int64_t t0 = fu_ns();

	if (op == OP_ZERO && no_zero_range)
		op = OP_PUNCH;
	if (op == OP_BWRITE && !cfg.cohere_every)
		op = OP_WRITE;
	if (cfg.dense && (op == OP_TRUNC || op == OP_PUNCH || op == OP_ZERO) &&
	    below(10))
		op = OP_WRITE;
	*r = (struct rec){ .no = opno, .op = op, .file = fi,
			   .size0 = files[fi].size };
	switch (op) {
	case OP_READ:
	case OP_DREAD:
		do_read(fi, r, op == OP_DREAD);
		break;
	case OP_WRITE:
	case OP_DWRITE:
		do_write(fi, r, op == OP_DWRITE);
		break;
	case OP_MREAD:
		do_mapread(fi, r);
		break;
	case OP_MWRITE:
		do_mapwrite(fi, r);
		break;
	case OP_TRUNC:
		do_truncate(fi, r);
		break;
	case OP_PUNCH:
	case OP_ZERO:
	case OP_FALLOC:
		do_fallocate(fi, r);
		break;
	case OP_COPY:
		do_copy(fi, r);
		break;
	case OP_REOPEN:
		do_reopen(fi);
		break;
	case OP_BWRITE:
		do_bwrite(fi, r);
		break;
	default:
		break;
	}
	r->size1 = files[fi].size;
	stat_ops[op]++;
	stat_ns[op] += fu_ns() - t0;
	if (opno % cfg.check_every == 0) {
		for (unsigned int i = 0; i < cfg.nfiles; i++)
			check_whole((int)i, (int)((opno / cfg.check_every +
						   i) % 3));
	}
	if (cfg.cohere_every && opno % cfg.cohere_every == 0) {
		opno++;
		hist[opno % HIST] = (struct rec){ .no = opno, .op = OP_COHERE,
						  .file = -1 };
		t0 = fu_ns();
		check_other(true);
		stat_ops[OP_COHERE]++;
		stat_ns[OP_COHERE] += fu_ns() - t0;
	}
}

int main(int argc, char **argv)
{
	char src[160];
	int64_t t0, t1;
	uint64_t total = 0;

	parse(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rng_state = cfg.seed;
	printf("fsx: seed %" PRIu64 ", %" PRIu64 " operations on %u file(s) "
	       "of at most 0x%" PRIx64 " bytes, operations up to 0x%" PRIx64
	       ", %u MiB region\n", cfg.seed, cfg.ops, cfg.nfiles,
	       cfg.maxsize, cfg.maxop, cfg.region_mib);
	/* The guard's limit grows with the run (about 5000 ops/s at worst). */
	fu_guard((unsigned int)(120 + cfg.ops / 500));
	snprintf(region, sizeof(region), "/dev/shm/ivshm-fsx-%d",
		 (int)getpid());
	snprintf(src, sizeof(src), "region=%s", region);
	buf = malloc(cfg.maxsize + 2 * PAGE);
	if (!buf || posix_memalign((void **)&dbuf, PAGE,
				   cfg.maxsize + 2 * PAGE))
		fail("out of memory");
	if (fu_region(region, (unsigned long long)cfg.region_mib << 20) ||
	    fu_mount(&ma, src, NULL) ||
	    (cfg.cohere_every && fu_mount(&mb, src, NULL)))
		fail("cannot mount %s", region);
	for (unsigned int i = 0; i < cfg.nfiles; i++) {
		snprintf(files[i].name, sizeof(files[i].name), "fsx%u", i);
		files[i].model = calloc(1, cfg.maxsize + 2 * PAGE);
		if (!files[i].model)
			fail("out of memory");
		file_open(&files[i], ma.dir);
		if (cfg.dense)
			fill_file(&files[i]);
	}
	t0 = fu_ms();
	for (opno = 1; opno <= cfg.ops; opno++) {
		one_op();
		if (cfg.verbose && opno % 10000 == 0)
			printf("fsx: %" PRIu64 " ops, %.0f ops/s, %" PRIu64
			       " MiB written\n", opno,
			       (double)opno * 1000 / (double)(fu_ms() - t0 + 1),
			       bytes_written >> 20);
	}
	opno = cfg.ops;
	t1 = fu_ms();
	for (unsigned int i = 0; i < cfg.nfiles; i++)
		for (int how = 0; how < 3; how++)
			check_whole((int)i, how);
	if (cfg.cohere_every)
		check_other(true);
	for (int i = 0; i < OP_COUNT; i++)
		total += stat_ops[i];
	printf("fsx: %" PRIu64 " operations in %.1f s: %.0f ops/s; %" PRIu64
	       " MiB written through a %u MiB region (%.0fx)\n", total,
	       (double)(t1 - t0) / 1000,
	       (double)total * 1000 / (double)(t1 - t0 + 1),
	       bytes_written >> 20, cfg.region_mib,
	       (double)bytes_written / ((double)cfg.region_mib * 1048576));
	printf("fsx:");
	for (int i = 0; i < OP_COUNT; i++)
		printf(" %s %" PRIu64, op_name[i], stat_ops[i]);
	if (cfg.verbose) {
		printf("\nfsx: mean ms:");
		for (int i = 0; i < OP_COUNT; i++)
			printf(" %s %.3f", op_name[i], stat_ops[i] ?
			       (double)stat_ns[i] / 1e6 / (double)stat_ops[i] :
			       0.0);
	}
	printf("; copy_file_range %" PRIu64 "; caches caught up with the "
	       "other mount in %" PRId64 " ms (second) and %" PRId64
	       " ms (first) at worst\n", cfr_done, cohere_max_ms,
	       back_max_ms);

	/* Unmount both, check the region, and read it all again fresh. */
	for (unsigned int i = 0; i < cfg.nfiles; i++)
		file_close(&files[i]);
	if (fu_umount(&ma) || (cfg.cohere_every && fu_umount(&mb)))
		fail("unmount: a daemon did not exit cleanly");
	setenv("FU_VERBOSE", "1", 1); /* segment counts: was it cleaned? */
	if (fu_verify(region, NULL, NULL))
		fail("the region does not verify after the run");
	if (fu_mount(&ma, src, NULL))
		fail("cannot mount %s again", region);
	for (unsigned int i = 0; i < cfg.nfiles; i++) {
		file_open(&files[i], ma.dir);
		for (int how = 0; how < 3; how++)
			check_whole((int)i, how);
		file_close(&files[i]);
	}
	if (fu_umount(&ma))
		fail("unmount: the daemon did not exit cleanly");
	printf("fsx: passed (seed %" PRIu64 "); remount after the run shows "
	       "the same bytes\n", cfg.seed);
	return 0;
}
