// SPDX-License-Identifier: MIT
/*
 * The fixture of the ivshm-inspect tests: regions written through the file
 * system (core/fs.h), live peers, and an oracle that reads a region back
 * through the file system, attached, to compare with what ivshm-inspect
 * reads without attaching.
 *
 *   inspect_fixture populate REGION SIZE   format, then write the known tree
 *   inspect_fixture hold REGION SECONDS    a live peer, idle
 *   inspect_fixture writer REGION N MS     a live peer creating N files
 *   inspect_fixture churn REGION N         N rounds of writes, deletes,
 *                                          checkpoints and cleaning
 *   inspect_fixture read REGION PATH       a file's bytes on stdout
 *   inspect_fixture list REGION            every name: PATH TYPE SIZE NLINK
 *
 * Paths are printed with bytes outside 0x21..0x7e (and '%') as %XX.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "units.h"

static struct ivshm_device *dev;
static struct ivshm_fs *fs;

static void die(const char *what, int rc)
{
	fprintf(stderr, "inspect_fixture: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static void open_fs(const char *region, bool format)
{
	struct ivshm_fs_opts o = { .attach = { .name = "inspect-fixture",
					       .format_if_blank = format } };
	int rc = ivshm_plain_open(region, &dev);

	if (rc)
		die(region, rc);
	rc = ivshm_fs_open(dev, &o, &fs);
	if (rc)
		die("attach", rc);
}

static void close_fs(void)
{
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
}

/* The bytes of the test files: a pattern that depends on the offset. */
static void pattern(char *buf, size_t n, uint64_t off, unsigned int seed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = off + i;

		buf[i] = (char)((x * 31 + seed * 7 + (x >> 9)) & 0xff);
	}
}

static uint64_t mk(uint64_t dir, const char *name, uint32_t mode,
		   uint64_t rdev)
{
	struct ivshm_attr a;
	int rc = ivshm_fs_mknod(fs, dir, name, mode, 1000, 100, rdev, &a);

	if (rc)
		die(name, rc);
	return a.ino;
}

static void put(uint64_t ino, uint64_t off, uint64_t len, unsigned int seed,
		uint64_t chunk)
{
	char *buf = malloc(chunk);

	if (!buf)
		die("malloc", -ENOMEM);
	for (uint64_t done = 0; done < len;) {
		uint64_t n = len - done < chunk ? len - done : chunk;
		int64_t w;

		pattern(buf, (size_t)n, off + done, seed);
		w = ivshm_fs_write(fs, ino, off + done, buf, n, NULL);
		if (w < 0)
			die("write", (int)w);
		done += (uint64_t)w;
	}
	free(buf);
}

static void put_text(uint64_t ino, const char *s, int times)
{
	size_t n = strlen(s);

	for (int i = 0; i < times; i++)
		if (ivshm_fs_write(fs, ino, (uint64_t)i * n, s, n, NULL) !=
		    (int64_t)n)
			die("write", -EIO);
}

static void many(uint64_t dir, char prefix, int from, int to)
{
	char name[32];

	for (int i = from; i < to; i++) {
		uint64_t f;

		snprintf(name, sizeof(name), "%c%04d", prefix, i);
		f = mk(dir, name, IVSHM_S_IFREG | 0644, 0);
		if (i % 50 == 0)
			put(f, 0, 100 + (uint64_t)i, (unsigned int)i, 4096);
	}
}

static int populate(const char *region, const char *size_s)
{
	uint64_t size, docs, a, b, c, f, r, many_dir, odd;
	struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = 10240 };
	unsigned char bin[256];
	struct ivshm_attr at;
	int fd, rc;

	if (ivshm_parse_size(size_s, &size))
		die("size", -EINVAL);
	unlink(region);
	fd = open(region, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		die(region, -errno);
	close(fd);
	open_fs(region, true);

	docs = mk(IVSHM_ROOT_INO, "docs", IVSHM_S_IFDIR | 0755, 0);
	r = mk(docs, "readme.txt", IVSHM_S_IFREG | 0644, 0);
	put_text(r, "hello from ivshm\n", 100);
	f = mk(docs, "big.bin", IVSHM_S_IFREG | 0600, 0);
	put(f, 0, (3u << 20) + 123, 1, 256u << 10);
	f = mk(docs, "sparse.bin", IVSHM_S_IFREG | 0644, 0);
	put(f, 1u << 20, 4096, 2, 4096);
	put(f, 200u << 10, 200u << 10, 3, 65536);
	rc = ivshm_fs_fallocate(fs, f, IVSHM_FALLOC_ZERO_RANGE, 250u << 10,
				50u << 10);
	if (rc)
		die("fallocate zero", rc);
	rc = ivshm_fs_fallocate(fs, f, IVSHM_FALLOC_PUNCH_HOLE |
				IVSHM_FALLOC_KEEP_SIZE, 350u << 10, 20u << 10);
	if (rc)
		die("punch", rc);
	if ((rc = ivshm_fs_symlink(fs, docs, "link", "readme.txt", 1000, 100,
				   &at)))
		die("symlink", rc);
	if ((rc = ivshm_fs_symlink(fs, docs, "abs-link", "/a/b/c/deep.txt",
				   1000, 100, &at)))
		die("symlink", rc);
	if ((rc = ivshm_fs_link(fs, r, docs, "hard", &at)))
		die("link", rc);
	a = mk(IVSHM_ROOT_INO, "a", IVSHM_S_IFDIR | 0755, 0);
	b = mk(a, "b", IVSHM_S_IFDIR | 0750, 0);
	c = mk(b, "c", IVSHM_S_IFDIR | 0700, 0);
	put_text(mk(c, "deep.txt", IVSHM_S_IFREG | 0644, 0), "deep\n", 1);
	mk(IVSHM_ROOT_INO, "empty", IVSHM_S_IFDIR | 0755, 0);
	many_dir = mk(IVSHM_ROOT_INO, "many", IVSHM_S_IFDIR | 0755, 0);
	many(many_dir, 'f', 0, 800);

	/* A checkpoint: what came before now lives in it. */
	rc = ivshm_fs_checkpoint(fs);
	if (rc)
		die("checkpoint", rc);

	f = mk(IVSHM_ROOT_INO, "trunc", IVSHM_S_IFREG | 0644, 0);
	put(f, 0, 100u << 10, 4, 65536);
	if ((rc = ivshm_fs_setattr(fs, f, &sa, &at)))
		die("truncate", rc);
	f = mk(IVSHM_ROOT_INO, "xattr", IVSHM_S_IFREG | 0644, 0);
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	if ((rc = ivshm_fs_setxattr(fs, f, "user.color", "blue", 4, 0)) ||
	    (rc = ivshm_fs_setxattr(fs, f, "user.bin", bin, 256, 0)) ||
	    (rc = ivshm_fs_setxattr(fs, f, "user.gone", "x", 1, 0)) ||
	    (rc = ivshm_fs_removexattr(fs, f, "user.gone")))
		die("xattr", rc);
	mk(IVSHM_ROOT_INO, "fifo", IVSHM_S_IFIFO | 0644, 0);
	mk(IVSHM_ROOT_INO, "chr", IVSHM_S_IFCHR | 0600, (1u << 8) | 3);
	put_text(mk(IVSHM_ROOT_INO, "tmp-name", IVSHM_S_IFREG | 0644, 0),
		 "renamed\n", 3);
	if ((rc = ivshm_fs_rename(fs, IVSHM_ROOT_INO, "tmp-name",
				  IVSHM_ROOT_INO, "renamed.txt", 0, false,
				  NULL)))
		die("rename", rc);
	mk(IVSHM_ROOT_INO, "gone", IVSHM_S_IFREG | 0644, 0);
	if ((rc = ivshm_fs_unlink(fs, IVSHM_ROOT_INO, "gone", false, NULL)))
		die("unlink", rc);
	mk(IVSHM_ROOT_INO, "gone-dir", IVSHM_S_IFDIR | 0755, 0);
	if ((rc = ivshm_fs_rmdir(fs, IVSHM_ROOT_INO, "gone-dir")))
		die("rmdir", rc);
	f = mk(IVSHM_ROOT_INO, "orphan", IVSHM_S_IFREG | 0644, 0);
	put_text(f, "still open\n", 1);
	if ((rc = ivshm_fs_unlink(fs, IVSHM_ROOT_INO, "orphan", true, NULL)))
		die("unlink orphan", rc);
	odd = mk(IVSHM_ROOT_INO, "odd", IVSHM_S_IFDIR | 0755, 0);
	put_text(mk(odd, "tab\there", IVSHM_S_IFREG | 0644, 0), "t\n", 1);
	put_text(mk(odd, "nl\nname", IVSHM_S_IFREG | 0644, 0), "n\n", 1);
	put_text(mk(odd, "bad-\xff\xfe-utf8", IVSHM_S_IFREG | 0644, 0),
		 "b\n", 1);
	put_text(mk(odd, "\xc3\xbcnic\xc3\xb6" "de \"q\" \\", IVSHM_S_IFREG |
		    0644, 0), "u\n", 1);
	/* Enough records after the checkpoint for LINKs between segments. */
	many(many_dir, 'g', 0, 1200);
	put_text(mk(docs, "after.txt", IVSHM_S_IFREG | 0644, 0),
		 "written after the checkpoint\n", 2);
	close_fs();
	return 0;
}

static int hold(const char *region, const char *secs)
{
	int s = atoi(secs);

	open_fs(region, false);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < s * 10; i++)
		poll(NULL, 0, 100);
	close_fs();
	return 0;
}

static int writer(const char *region, const char *count, const char *ms)
{
	int n = atoi(count), wait = atoi(ms);
	uint64_t dir;
	char name[32];

	open_fs(region, false);
	dir = mk(IVSHM_ROOT_INO, "live", IVSHM_S_IFDIR | 0755, 0);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		uint64_t f;

		snprintf(name, sizeof(name), "w%05d", i);
		f = mk(dir, name, IVSHM_S_IFREG | 0644, 0);
		put(f, 0, 4096 + (uint64_t)(i % 7) * 5000, (unsigned int)i,
		    65536);
		if (i % 3 == 2) {
			snprintf(name, sizeof(name), "w%05d", i - 1);
			ivshm_fs_unlink(fs, dir, name, false, NULL);
		}
		if (i % 40 == 39)
			ivshm_fs_checkpoint(fs);
		if (i % 25 == 24)
			ivshm_fs_clean(fs, 4);
		if (wait)
			poll(NULL, 0, wait);
	}
	close_fs();
	return 0;
}

static int churn(const char *region, const char *rounds)
{
	int n = atoi(rounds);
	uint64_t dir;

	open_fs(region, false);
	dir = mk(IVSHM_ROOT_INO, "churn", IVSHM_S_IFDIR | 0755, 0);
	for (int i = 0; i < n; i++) {
		char name[32];
		uint64_t f;

		snprintf(name, sizeof(name), "c%d", i % 4);
		ivshm_fs_unlink(fs, dir, name, false, NULL);
		f = mk(dir, name, IVSHM_S_IFREG | 0644, 0);
		put(f, 0, 300u << 10, (unsigned int)i, 65536);
		if (i % 5 == 4)
			ivshm_fs_checkpoint(fs);
		ivshm_fs_clean(fs, 8);
	}
	close_fs();
	return 0;
}

static uint64_t lookup(const char *path)
{
	uint64_t ino = IVSHM_ROOT_INO;
	char *p = strdup(path), *save = NULL;

	for (char *c = strtok_r(p, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		struct ivshm_attr a;
		int rc = ivshm_fs_lookup(fs, ino, c, &a);

		if (rc)
			die(path, rc);
		ino = a.ino;
	}
	free(p);
	return ino;
}

static int read_file(const char *region, const char *path)
{
	static char buf[1u << 20];
	uint64_t ino, off = 0;
	int64_t n;

	open_fs(region, false);
	ino = lookup(path);
	while ((n = ivshm_fs_read(fs, ino, off, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		off += (uint64_t)n;
	}
	if (n < 0)
		die("read", (int)n);
	close_fs();
	return 0;
}

struct walk {
	char path[4096];
	char *names[4096];
	uint64_t inos[4096];
	int n;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t dtype,
		   uint64_t next)
{
	struct walk *w = arg;

	(void)dtype, (void)next;
	if (!strcmp(name, ".") || !strcmp(name, "..") || w->n == 4096)
		return 0;
	w->names[w->n] = strdup(name);
	w->inos[w->n++] = ino;
	return 0;
}

static void put_path(const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > 0x20 && c < 0x7f && c != '%')
			putchar(c);
		else
			printf("%%%02X", c);
	}
}

static void list_dir(uint64_t dir, const char *prefix)
{
	struct walk *w = calloc(1, sizeof(*w));

	ivshm_fs_readdir(fs, dir, 0, collect, w);
	for (int i = 0; i < w->n; i++) {
		struct ivshm_attr a;
		char path[4096];
		const char *type;

		snprintf(path, sizeof(path), "%s/%s", prefix, w->names[i]);
		if (ivshm_fs_getattr(fs, w->inos[i], &a))
			continue;
		switch (a.mode & IVSHM_S_IFMT) {
		case IVSHM_S_IFDIR:
			type = "dir";
			break;
		case IVSHM_S_IFREG:
			type = "reg";
			break;
		case IVSHM_S_IFLNK:
			type = "lnk";
			break;
		default:
			type = "other";
		}
		put_path(path);
		printf(" %s %llu %u\n", type, (unsigned long long)a.size,
		       a.nlink);
		if ((a.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR)
			list_dir(a.ino, path);
		free(w->names[i]);
	}
	free(w);
}

static int list(const char *region)
{
	open_fs(region, false);
	list_dir(IVSHM_ROOT_INO, "");
	close_fs();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "populate"))
		return populate(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "writer"))
		return writer(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "churn"))
		return churn(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "read"))
		return read_file(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "list"))
		return list(argv[2]);
	fprintf(stderr, "usage: inspect_fixture populate|hold|writer|churn|"
		"read|list REGION ...\n");
	return 2;
}
