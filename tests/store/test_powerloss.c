// SPDX-License-Identifier: MIT
/*
 * Power loss, littlefs style. A fixed workload (every kind of namespace
 * change, small and large writes across data segments, truncates, a
 * punch, xattrs, 30 KB records that carry the meta log across segments
 * and make it checkpoint itself, an explicit checkpoint and cleaning pass)
 * runs in a child that dies at the k-th store into the region
 * (core/platform/user.h, IVSHM_FAULT_POINT), for every k until the
 * workload completes, once stopping before the store and once tearing it
 * in half. After each death a fresh peer attaches; ivshm_verify must pass
 * on the region as the cut left it, and the tree must be exactly the one
 * after the operations the child had acknowledged, or after those and the
 * one in flight: never half of an operation. The recovered store must
 * then still work: create and write (breaking the dead child's lock,
 * lease LEASE_MS), checkpoint, clean, unlink, verify, and the tree is the
 * same for it and for a peer that attaches after it.
 *
 * The expected trees come from one reference run of the same workload on
 * the same initial image without faults, dumped after every operation
 * (a canonical walk: names, types, modes, link counts, sizes, block
 * counts, data and xattr hashes, symlink targets, hard links as shared
 * ids; no times, no inode numbers). The reference run also counts the
 * fault points of each operation, which says how many operations the
 * child must have acknowledged before the k-th. Attach is not counted: it
 * stores nothing behind a fault point, and the countdown is armed once
 * the child has attached.
 *
 * Chains cut the power again and again without restoring the region: each
 * recovery must match, and the workload resumes where the recovered tree
 * stands, until it completes (the garbage dead peers leave accumulates).
 * More peers than there are slots lose power between operations, one
 * after the other: their slots and data segments must come back. A
 * second, tiny workload makes one write clean half way through.
 *
 * Environment: IVSHM_PL_STRIDE=n tries every n-th k only (default 1);
 * IVSHM_PL_JOBS=n runs n processes per sweep (default 3);
 * IVSHM_PL_CHAINS=n runs n chains per mode (default 6), IVSHM_PL_CHAIN=c
 * only chain c; IVSHM_PL_KEEP=dir keeps the region as a failing cut left
 * it; IVSHM_PL_VERBOSE=1 shows what the recovering peers log;
 * IVSHM_PL_SHOW=1 prints the reference run op by op.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "platform.h"
#include "verify.h"

#define REGION_SIZE (1u << 20)
#define LEASE_MS 20
#define FAULT_STATUS 86
#define CHILD_ALARM_S 20
#define RECOVER_ALARM_S 30
#define MAX_OPS 64
#define MAX_IDS 256
#define MAX_ENTS 64
#define WBUF_MAX (256u << 10)
#define MAX_FAILS 16
#define CHAIN_MAX_CYCLES 400
#define DEAD_PEERS 80		/* more than the 64 peer slots */
#define FNV0 0xcbf29ce484222325ull

/* Exit codes of the workload child and of the recovering process. */
enum {
	CHILD_DONE = 0,
	CHILD_OP_FAILED = 3,
	CHILD_ATTACH_FAILED = 4,
	REC_BEFORE = 0,		/* the tree after the acknowledged ops */
	REC_AFTER = 1,		/* ... and the one in flight */
	REC_VERIFY = 10,
	REC_ATTACH = 11,
	REC_MISMATCH = 12,
	REC_POST_OP = 13,
	REC_VERIFY_POST = 14,
};

/* clang-format off */
enum op_kind {
	OP_CREATE, OP_MKDIR, OP_WRITE, OP_TRUNC, OP_LINK, OP_SYMLINK,
	OP_UNLINK, OP_RMDIR, OP_RENAME, OP_SETX, OP_REMX, OP_PUNCH, OP_CHMOD,
	OP_CKPT, OP_CLEAN,
};

static const char *const kind_name[] = {
	"create", "mkdir", "write", "truncate", "link", "symlink", "unlink",
	"rmdir", "rename", "setxattr", "removexattr", "punch", "chmod",
	"checkpoint", "clean",
};
/* clang-format on */

/*
 * One operation: @a is the path it works on, @b the second path, the
 * symlink target or the xattr name, @c the xattr value; @n1/@n2 offset
 * and length (write: n3 is the pattern seed); @flags rename's, setxattr's;
 * @expect the return wanted (0 or -errno; writes: their length).
 */
struct op {
	enum op_kind kind;
	const char *a, *b, *c;
	uint64_t n1, n2;
	uint32_t n3;
	unsigned int flags;
	int expect;
};

#define RN_NOREPL IVSHM_RENAME_NOREPLACE
#define RN_XCHG IVSHM_RENAME_EXCHANGE

/*
 * The initial image holds keep (3000 bytes, xattr user.k), d0/, d0/old
 * (500 bytes) and lnk0 -> keep. Segments are 64 KiB, so the 150000 and
 * 200000 byte writes cross data segments; the region has 15 segments,
 * so the second big write also makes writes clean on their own.
 */
/* clang-format off */
static const struct op main_ops[] = {
	{ .kind = OP_CREATE, .a = "a" },
	{ .kind = OP_WRITE, .a = "a", .n1 = 0, .n2 = 100, .n3 = 1 },
	{ .kind = OP_MKDIR, .a = "d1" },
	{ .kind = OP_CREATE, .a = "d1/b" },
	{ .kind = OP_WRITE, .a = "d1/b", .n1 = 0, .n2 = 150000, .n3 = 2 },
	{ .kind = OP_WRITE, .a = "a", .n1 = 50, .n2 = 200, .n3 = 3 },
	{ .kind = OP_TRUNC, .a = "d1/b", .n1 = 70000 },
	{ .kind = OP_TRUNC, .a = "a", .n1 = 9000 },
	{ .kind = OP_LINK, .a = "a", .b = "d1/a2" },
	{ .kind = OP_SYMLINK, .a = "s1", .b = "d1/b" },
	{ .kind = OP_SETX, .a = "a", .b = "user.x", .c = "hello",
	  .flags = IVSHM_XATTR_CREATE },
	{ .kind = OP_SETX, .a = "d1", .b = "user.dir", .c = "v1" },
	{ .kind = OP_SETX, .a = "a", .b = "user.x", .c = "bye",
	  .flags = IVSHM_XATTR_REPLACE },
	{ .kind = OP_RENAME, .a = "a", .b = "a_r" },
	{ .kind = OP_RENAME, .a = "d1/a2", .b = "d0/a3", .flags = RN_NOREPL },
	{ .kind = OP_RENAME, .a = "d0/a3", .b = "keep", .flags = RN_NOREPL,
	  .expect = -EEXIST },
	{ .kind = OP_RENAME, .a = "keep", .b = "d1/b", .flags = RN_XCHG },
	{ .kind = OP_CREATE, .a = "victim" },
	{ .kind = OP_WRITE, .a = "victim", .n1 = 0, .n2 = 5000, .n3 = 4 },
	/* victim's last link goes */
	{ .kind = OP_RENAME, .a = "a_r", .b = "victim" },
	{ .kind = OP_PUNCH, .a = "keep", .n1 = 4096, .n2 = 20000 },
	{ .kind = OP_UNLINK, .a = "d0/old" },	/* last link */
	{ .kind = OP_UNLINK, .a = "d0/a3" },	/* victim still names it */
	{ .kind = OP_REMX, .a = "victim", .b = "user.x" },
	{ .kind = OP_MKDIR, .a = "d2" },
	{ .kind = OP_MKDIR, .a = "d2/sub" },
	{ .kind = OP_RMDIR, .a = "d2", .expect = -ENOTEMPTY },
	{ .kind = OP_RMDIR, .a = "d2/sub" },
	{ .kind = OP_RENAME, .a = "d2", .b = "d1/d2" },	/* a dir moves */
	{ .kind = OP_CHMOD, .a = "d1/b", .n1 = 0600 },
	/* 30 KB records: the meta log crosses segments, checkpoints itself */
	{ .kind = OP_SETX, .a = "d1", .b = "user.big", .n2 = 30000, .n3 = 9 },
	{ .kind = OP_SETX, .a = "d1", .b = "user.big", .n2 = 30000, .n3 = 10 },
	{ .kind = OP_SYMLINK, .a = "d1/long", .n2 = 4000 },
	{ .kind = OP_SETX, .a = "d1", .b = "user.big", .n2 = 30000, .n3 = 11 },
	{ .kind = OP_SETX, .a = "d1", .b = "user.big", .n2 = 30000, .n3 = 12 },
	{ .kind = OP_REMX, .a = "d1", .b = "user.big" },
	{ .kind = OP_CREATE, .a = "big" },
	{ .kind = OP_WRITE, .a = "big", .n1 = 0, .n2 = 200000, .n3 = 5 },
	{ .kind = OP_CKPT },
	{ .kind = OP_WRITE, .a = "big", .n1 = 0, .n2 = 200000, .n3 = 6 },
	{ .kind = OP_WRITE, .a = "d1/b", .n1 = 1000, .n2 = 1000, .n3 = 7 },
	{ .kind = OP_UNLINK, .a = "big" },
	{ .kind = OP_CLEAN, .n1 = 4 },
	{ .kind = OP_CREATE, .a = "post" },
	{ .kind = OP_WRITE, .a = "post", .n1 = 0, .n2 = 3000, .n3 = 8 },
	{ .kind = OP_RENAME, .a = "d1/d2", .b = "d3", .flags = RN_NOREPL },
	{ .kind = OP_UNLINK, .a = "lnk0" },
	{ .kind = OP_SYMLINK, .a = "d3/l", .b = "../keep" },
	/* a file replaces a symlink */
	{ .kind = OP_RENAME, .a = "post", .b = "d3/l" },
	{ .kind = OP_CKPT },
	{ .kind = OP_TRUNC, .a = "keep", .n1 = 0 },
	{ .kind = OP_SETX, .a = "d3/l", .b = "user.p", .c = "x" },
	{ .kind = OP_RMDIR, .a = "d1/d2", .expect = -ENOENT },
	{ .kind = OP_CREATE, .a = "d3/z" },
	{ .kind = OP_RMDIR, .a = "d3", .expect = -ENOTEMPTY },
	{ .kind = OP_UNLINK, .a = "d3/z" },
};

/*
 * A write that has to clean half way: the image leaves exactly as many
 * free segments as make writes start without cleaning (6), two of the
 * used ones dead. The 200000-byte write gets three segments, down to the
 * 3 that writes leave alone, and must clean for the rest.
 */
static const struct op split_ops[] = {
	{ .kind = OP_WRITE, .a = "big", .n1 = 0, .n2 = 200000, .n3 = 20 },
	{ .kind = OP_UNLINK, .a = "g3" },
	{ .kind = OP_WRITE, .a = "big", .n1 = 100000, .n2 = 65536, .n3 = 21 },
	{ .kind = OP_CLEAN, .n1 = 4 },
	{ .kind = OP_TRUNC, .a = "big", .n1 = 1000 },
};
/* clang-format on */

struct workload {
	const char *name;
	const struct op *ops;
	unsigned int nops;
	int (*build)(struct ivshm_fs *fs);	/* the initial content */
	bool must_clean;	/* its explicit clean must free something */
	/* What the reference run learnt; inherited by every fork. */
	unsigned char *image;		/* the initial region */
	char *ref_dump[MAX_OPS + 1];	/* the tree after i operations */
	uint64_t first_point[MAX_OPS + 1]; /* fault points before op i */
};

static int build_main(struct ivshm_fs *fs);
static int build_split(struct ivshm_fs *fs);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct workload main_wl = {
	.name = "main", .ops = main_ops, .nops = ARRAY_SIZE(main_ops),
	.build = build_main, .must_clean = true,
};

static struct workload split_wl = {
	.name = "split write", .ops = split_ops,
	.nops = ARRAY_SIZE(split_ops), .build = build_split,
};

/* The workload under test. */
static struct workload *W = &main_wl;
#define NOPS (W->nops)

static unsigned char wbuf[WBUF_MAX], rbuf[WBUF_MAX];
static unsigned char xbuf[IVSHM_XATTR_VALUE_MAX];

struct mode_stats {
	unsigned long covered, crashed, completed, in_flight_seen, failures;
	unsigned long cycles;
	struct {
		unsigned long k;
		long chain;
		unsigned int op;
		int code;
	} fail[MAX_FAILS];
};

static void pattern(unsigned char *buf, uint64_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;

	for (uint64_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void region_path(char *buf, size_t n, int job)
{
	snprintf(buf, n, "/dev/shm/ivshm-pl-%d-%d", (int)getpid(), job);
}

static int make_region(const char *path)
{
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, REGION_SIZE)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int restore(const char *path)
{
	int fd = open(path, O_RDWR);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pwrite(fd, W->image, REGION_SIZE, 0);
	close(fd);
	return n == REGION_SIZE ? 0 : -1;
}

static struct ivshm_fs *attach(const char *path, struct ivshm_device **dev,
			       bool format, const char *name)
{
	struct ivshm_fs_opts o = { .attach = { .name = name,
					       .format_if_blank = format,
					       .format_wait_ms = -1,
					       .lease_ms = LEASE_MS } };
	struct ivshm_fs *fs = NULL;

	if (ivshm_plain_open(path, dev))
		return NULL;
	if (ivshm_fs_open(*dev, &o, &fs)) {
		ivshm_device_close(*dev);
		return NULL;
	}
	return fs;
}

/* ---- paths ---- */

/* The parent directory of @path and its last component. */
static int resolve(struct ivshm_fs *fs, const char *path, uint64_t *parent,
		   char *leaf)
{
	uint64_t dir = IVSHM_ROOT_INO;
	const char *p = path, *slash;
	struct ivshm_attr at;
	char comp[IVSHM_NAME_MAX + 1];
	int rc;

	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);

		memcpy(comp, p, n);
		comp[n] = 0;
		rc = ivshm_fs_lookup(fs, dir, comp, &at);
		if (rc)
			return rc;
		dir = at.ino;
		p = slash + 1;
	}
	*parent = dir;
	strcpy(leaf, p);
	return 0;
}

static int path_ino(struct ivshm_fs *fs, const char *path, uint64_t *ino)
{
	char leaf[IVSHM_NAME_MAX + 1];
	struct ivshm_attr at;
	uint64_t dir;
	int rc = resolve(fs, path, &dir, leaf);

	if (!rc)
		rc = ivshm_fs_lookup(fs, dir, leaf, &at);
	if (!rc)
		*ino = at.ino;
	return rc;
}

/* ---- the workload ---- */

static int64_t run_op(struct ivshm_fs *fs, const struct op *o)
{
	char leaf[IVSHM_NAME_MAX + 1], leaf2[IVSHM_NAME_MAX + 1];
	struct ivshm_setattr sa = { 0 };
	uint64_t dir = 0, dir2, ino = 0;
	int rc = 0;

	switch (o->kind) {
	case OP_CREATE:
	case OP_MKDIR:
	case OP_SYMLINK:
	case OP_UNLINK:
	case OP_RMDIR:
		rc = resolve(fs, o->a, &dir, leaf);
		break;
	case OP_CKPT:
	case OP_CLEAN:
		break;
	default:
		rc = path_ino(fs, o->a, &ino);
	}
	if (rc)
		return rc;
	switch (o->kind) {
	case OP_CREATE:
		return ivshm_fs_mknod(fs, dir, leaf, IVSHM_S_IFREG | 0644, 1000,
				      100, 0, NULL);
	case OP_MKDIR:
		return ivshm_fs_mknod(fs, dir, leaf, IVSHM_S_IFDIR | 0755, 1000,
				      100, 0, NULL);
	case OP_SYMLINK:
		if (!o->b) {
			/* a long target: n2 letters */
			for (uint64_t i = 0; i < o->n2; i++)
				wbuf[i] = (unsigned char)('a' + i % 26);
			wbuf[o->n2] = 0;
		}
		return ivshm_fs_symlink(fs, dir, leaf,
					o->b ? o->b : (const char *)wbuf, 1000,
					100, NULL);
	case OP_UNLINK:
		return ivshm_fs_unlink(fs, dir, leaf, false, NULL);
	case OP_RMDIR:
		return ivshm_fs_rmdir(fs, dir, leaf);
	case OP_WRITE:
		pattern(wbuf, o->n2, o->n3);
		return ivshm_fs_write(fs, ino, o->n1, wbuf, o->n2, NULL);
	case OP_TRUNC:
		sa.valid = IVSHM_SET_SIZE;
		sa.size = o->n1;
		return ivshm_fs_setattr(fs, ino, &sa, NULL);
	case OP_CHMOD:
		sa.valid = IVSHM_SET_MODE;
		sa.mode = (uint32_t)o->n1;
		return ivshm_fs_setattr(fs, ino, &sa, NULL);
	case OP_LINK:
		rc = resolve(fs, o->b, &dir2, leaf2);
		return rc ? rc : ivshm_fs_link(fs, ino, dir2, leaf2, NULL);
	case OP_RENAME:
		rc = resolve(fs, o->a, &dir, leaf);
		if (!rc)
			rc = resolve(fs, o->b, &dir2, leaf2);
		return rc ? rc : ivshm_fs_rename(fs, dir, leaf, dir2, leaf2,
						 o->flags, false, NULL);
	case OP_SETX:
		if (!o->c) /* a big value: n2 bytes of pattern n3 */
			pattern(wbuf, o->n2, o->n3);
		return ivshm_fs_setxattr(fs, ino, o->b,
					 o->c ? (const void *)o->c : wbuf,
					 o->c ? (uint32_t)strlen(o->c) :
						(uint32_t)o->n2,
					 (int)o->flags);
	case OP_REMX:
		return ivshm_fs_removexattr(fs, ino, o->b);
	case OP_PUNCH:
		return ivshm_fs_fallocate(fs, ino, IVSHM_FALLOC_PUNCH_HOLE |
					  IVSHM_FALLOC_KEEP_SIZE, o->n1, o->n2);
	case OP_CKPT:
		return ivshm_fs_checkpoint(fs);
	case OP_CLEAN:
		return ivshm_fs_clean(fs, (unsigned int)o->n1);
	}
	return -EINVAL;
}

static bool op_ok(const struct op *o, int64_t rc)
{
	if (o->kind == OP_WRITE)
		return rc == (int64_t)o->n2;
	if (o->kind == OP_CLEAN)
		return rc >= 0;
	return rc == o->expect;
}

static void describe(char *buf, size_t n, unsigned int i)
{
	const struct op *o = &W->ops[i];

	snprintf(buf, n, "op %u: %s %s%s%s", i, kind_name[o->kind],
		 o->a ? o->a : "", o->b ? " " : "", o->b ? o->b : "");
}

/* Does the operation, when it succeeds as expected, change the tree? */
static bool changes(const struct op *o)
{
	return o->kind != OP_CKPT && o->kind != OP_CLEAN && o->expect == 0;
}

/* ---- canonical dump of the tree ---- */

struct dump {
	char *buf;
	size_t len, cap;
	uint64_t ids[MAX_IDS];	/* inode numbers, in order of sight */
	unsigned int nids;
	bool bad;
};

static void put(struct dump *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->buf ? d->buf + d->len : NULL,
			      d->buf ? d->cap - d->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			d->bad = true;
			return;
		}
		if (d->buf && d->len + (size_t)n < d->cap)
			break;
		d->cap = (d->cap + (size_t)n + 1) * 2;
		d->buf = realloc(d->buf, d->cap);
		if (!d->buf) {
			d->bad = true;
			d->len = d->cap = 0;
			return;
		}
	}
	d->len += (size_t)n;
}

static unsigned int canon_id(struct dump *d, uint64_t ino)
{
	for (unsigned int i = 0; i < d->nids; i++)
		if (d->ids[i] == ino)
			return i;
	if (d->nids == MAX_IDS) {
		d->bad = true;
		return MAX_IDS;
	}
	d->ids[d->nids] = ino;
	return d->nids++;
}

struct ent {
	char name[IVSHM_NAME_MAX + 1];
	uint64_t ino;
	uint32_t dtype;
};

struct ents {
	struct ent e[MAX_ENTS];
	unsigned int n;
	bool overflow;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t dtype,
		   uint64_t next)
{
	struct ents *es = arg;

	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (es->n == MAX_ENTS) {
		es->overflow = true;
		return 1;
	}
	snprintf(es->e[es->n].name, sizeof(es->e[0].name), "%s", name);
	es->e[es->n].ino = ino;
	es->e[es->n].dtype = dtype;
	es->n++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name,
		      ((const struct ent *)b)->name);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void dump_xattrs(struct ivshm_fs *fs, struct dump *d, uint64_t ino)
{
	char list[1024], *names[32];
	int len = ivshm_fs_listxattr(fs, ino, list, sizeof(list));
	unsigned int n = 0;

	if (len < 0) {
		put(d, "  !listxattr %d\n", len);
		return;
	}
	for (int i = 0; i < len && n < 32; i += (int)strlen(list + i) + 1)
		names[n++] = list + i;
	qsort(names, n, sizeof(names[0]), by_str);
	for (unsigned int i = 0; i < n; i++) {
		int v = ivshm_fs_getxattr(fs, ino, names[i], xbuf,
					  sizeof(xbuf));

		if (v < 0)
			put(d, "  x %s !%d\n", names[i], v);
		else
			put(d, "  x %s %d %016llx\n", names[i], v,
			    (unsigned long long)fnv(FNV0, xbuf, (size_t)v));
	}
}

static void dump_node(struct ivshm_fs *fs, struct dump *d, const char *path,
		      uint64_t ino, int depth);

static void dump_dir(struct ivshm_fs *fs, struct dump *d, const char *path,
		     uint64_t ino, int depth)
{
	struct ents *es = calloc(1, sizeof(*es));
	char sub[512];
	int rc;

	if (!es) {
		d->bad = true;
		return;
	}
	rc = ivshm_fs_readdir(fs, ino, 0, collect, es);
	if (rc || es->overflow)
		put(d, "  !readdir %d%s\n", rc,
		    es->overflow ? " overflow" : "");
	qsort(es->e, es->n, sizeof(es->e[0]), by_name);
	for (unsigned int i = 0; i < es->n; i++) {
		struct ivshm_attr at;

		snprintf(sub, sizeof(sub), "%s/%s", path, es->e[i].name);
		rc = ivshm_fs_lookup(fs, ino, es->e[i].name, &at);
		if (rc || at.ino != es->e[i].ino)
			put(d, "%s !lookup %d\n", sub, rc);
		if (depth > 16) {
			put(d, "%s !too deep\n", sub);
			continue;
		}
		dump_node(fs, d, sub, es->e[i].ino, depth + 1);
	}
	free(es);
}

static void dump_node(struct ivshm_fs *fs, struct dump *d, const char *path,
		      uint64_t ino, int depth)
{
	bool seen = false;
	struct ivshm_attr at;
	char link[IVSHM_SYMLINK_MAX + 1];
	int64_t got;
	int rc;

	for (unsigned int i = 0; i < d->nids; i++)
		seen |= d->ids[i] == ino;
	rc = ivshm_fs_getattr(fs, ino, &at);
	if (rc) {
		put(d, "%s !getattr %d\n", path, rc);
		return;
	}
	put(d, "%s #%u mode %o uid %u gid %u nlink %u size %llu blocks %llu "
	    "rdev %llu\n", path[0] ? path : "/", canon_id(d, ino), at.mode,
	    at.uid, at.gid, at.nlink, (unsigned long long)at.size,
	    (unsigned long long)at.blocks, (unsigned long long)at.rdev);
	if (seen)
		return; /* another name of an inode already shown */
	switch (at.mode & IVSHM_S_IFMT) {
	case IVSHM_S_IFREG:
		if (at.size > sizeof(rbuf)) {
			put(d, "  !size\n");
			break;
		}
		got = ivshm_fs_read(fs, ino, 0, rbuf, at.size);
		if (got != (int64_t)at.size)
			put(d, "  !read %lld\n", (long long)got);
		else
			put(d, "  data %016llx\n", (unsigned long long)fnv(
				    FNV0, rbuf, at.size));
		break;
	case IVSHM_S_IFLNK:
		rc = ivshm_fs_readlink(fs, ino, link, sizeof(link));
		put(d, "  -> %s\n", rc < 0 ? "!readlink" : link);
		break;
	default:
		break;
	}
	dump_xattrs(fs, d, ino);
	if ((at.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR)
		dump_dir(fs, d, path, ino, depth);
}

/* The whole tree as text; NULL when out of memory. */
static char *dump_tree(struct ivshm_fs *fs)
{
	struct dump *d = calloc(1, sizeof(*d));
	char *s;

	if (!d)
		return NULL;
	put(d, "%s", "");
	dump_node(fs, d, "", IVSHM_ROOT_INO, 0);
	s = d->bad ? NULL : d->buf;
	if (d->bad)
		free(d->buf);
	free(d);
	return s;
}

/* ---- the reference run ---- */

/* keep (3000 bytes, xattr user.k), lnk0 -> keep, d0/, d0/old (500) */
static int build_main(struct ivshm_fs *fs)
{
	struct ivshm_attr at, dir;

	if (ivshm_fs_mknod(fs, IVSHM_ROOT_INO, "keep", IVSHM_S_IFREG | 0644,
			   1000, 100, 0, &at))
		return -1;
	pattern(wbuf, 3000, 100);
	if (ivshm_fs_write(fs, at.ino, 0, wbuf, 3000, NULL) != 3000 ||
	    ivshm_fs_setxattr(fs, at.ino, "user.k", "kv", 2, 0) ||
	    ivshm_fs_symlink(fs, IVSHM_ROOT_INO, "lnk0", "keep", 1000, 100,
			     NULL) ||
	    ivshm_fs_mknod(fs, IVSHM_ROOT_INO, "d0", IVSHM_S_IFDIR | 0755, 1000,
			   100, 0, &dir) ||
	    ivshm_fs_mknod(fs, dir.ino, "old", IVSHM_S_IFREG | 0644, 1000, 100,
			   0, &at))
		return -1;
	pattern(wbuf, 500, 101);
	return ivshm_fs_write(fs, at.ino, 0, wbuf, 500, NULL) == 500 ? 0 : -1;
}

/* g0..g7, a data segment each; g0 and g1 deleted; big, empty. */
static int build_split(struct ivshm_fs *fs)
{
	const struct ivshm_geom *g = ivshm_store_geom(ivshm_fs_store(fs));
	struct ivshm_attr at;
	char name[8];

	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		pattern(wbuf, g->seg_size, 30 + (uint32_t)i);
		if (ivshm_fs_mknod(fs, IVSHM_ROOT_INO, name,
				   IVSHM_S_IFREG | 0644, 1000, 100, 0, &at) ||
		    ivshm_fs_write(fs, at.ino, 0, wbuf, g->seg_size, NULL) !=
			    g->seg_size)
			return -1;
	}
	if (ivshm_fs_unlink(fs, IVSHM_ROOT_INO, "g0", false, NULL) ||
	    ivshm_fs_unlink(fs, IVSHM_ROOT_INO, "g1", false, NULL))
		return -1;
	return ivshm_fs_mknod(fs, IVSHM_ROOT_INO, "big", IVSHM_S_IFREG | 0644,
			      1000, 100, 0, &at);
}

static int build_image(const char *path)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	int fd, rc;

	if (make_region(path))
		return -1;
	fs = attach(path, &dev, true, "pl-image");
	if (!fs)
		return -1;
	rc = W->build(fs);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	if (rc)
		return rc;
	W->image = malloc(REGION_SIZE);
	fd = open(path, O_RDONLY);
	if (!W->image || fd < 0 ||
	    pread(fd, W->image, REGION_SIZE, 0) != REGION_SIZE)
		rc = -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The workload without faults, from the image: the tree after every
 * operation, and how many fault points each operation passes (the
 * countdown is armed so high that it never fires).
 */
static void reference(void)
{
	struct ivshm_verify_report rep;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	char path[64], what[128];
	const unsigned long big = 1ul << 40;
	bool show = getenv("IVSHM_PL_SHOW");
	unsigned int auto_ckpt = 0, auto_clean = 0, max_meta = 0;
	uint64_t *ckpt_gen;
	uint32_t data_before;
	int clean_freed = 0;

	CU_ASSERT_FATAL(NOPS <= MAX_OPS);
	region_path(path, sizeof(path), 99);
	CU_ASSERT_FATAL(build_image(path) == 0);
	fs = attach(path, &dev, false, "pl-reference");
	CU_ASSERT_FATAL(fs != NULL);
	W->ref_dump[0] = dump_tree(fs);
	CU_ASSERT_FATAL(W->ref_dump[0] != NULL);
	ckpt_gen = &ivshm_sb_of(dev->region)->ckpt_gen;
	for (unsigned int i = 0; i < NOPS; i++) {
		uint64_t gen = ivshm_load_acquire(ckpt_gen);
		int64_t rc;

		ivshm_verify(dev->region, dev->size, &rep);
		data_before = rep.seg_data;
		ivshm_fault_mode = IVSHM_FAULT_STOP;
		ivshm_fault_countdown = big;
		rc = run_op(fs, &W->ops[i]);
		W->first_point[i + 1] = W->first_point[i] +
				     (big - ivshm_fault_countdown);
		ivshm_fault_countdown = 0;
		if (!op_ok(&W->ops[i], rc)) {
			describe(what, sizeof(what), i);
			fprintf(stderr, "reference run: %s returned %lld\n",
				what, (long long)rc);
			CU_FAIL_FATAL("reference run: an operation failed");
		}
		if (W->ops[i].kind == OP_CLEAN)
			clean_freed += (int)rc;
		W->ref_dump[i + 1] = dump_tree(fs);
		CU_ASSERT_FATAL(W->ref_dump[i + 1] != NULL);
		/* The harness sees every change, and only changes. */
		if (changes(&W->ops[i]) !=
		    !!strcmp(W->ref_dump[i], W->ref_dump[i + 1])) {
			describe(what, sizeof(what), i);
			fprintf(stderr, "reference run: %s %s the tree\n", what,
				changes(&W->ops[i]) ? "did not change" :
							"changed");
			CU_FAIL("the dump misses a change");
		}
		ivshm_verify(dev->region, dev->size, &rep);
		if (rep.seg_meta > max_meta)
			max_meta = rep.seg_meta;
		auto_ckpt += W->ops[i].kind != OP_CKPT &&
			     ivshm_load_acquire(ckpt_gen) != gen;
		auto_clean += W->ops[i].kind == OP_WRITE &&
			      rep.seg_data < data_before;
		if (show) {
			describe(what, sizeof(what), i);
			printf("  %-40s points %4llu..%-4llu segments: free %u "
			       "meta %u data %u ckpt %u\n", what,
			       (unsigned long long)W->first_point[i] + 1,
			       (unsigned long long)W->first_point[i + 1],
			       rep.seg_free, rep.seg_meta, rep.seg_data,
			       rep.seg_ckpt);
		}
	}
	CU_ASSERT(ivshm_verify(dev->region, dev->size, &rep) == 0);
	if (rep.errors)
		fprintf(stderr, "reference verify: %s\n", rep.first_error);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	unlink(path);
	/* The explicit pass must have had something to clean. */
	if (W->must_clean)
		CU_ASSERT(clean_freed > 0);
	printf("\n  %s workload: %u operations, %llu fault points; explicit "
	       "clean freed %d segments", W->name, NOPS,
	       (unsigned long long)W->first_point[NOPS], clean_freed);
	if (W == &main_wl)
		printf(", writes cleaned %u times, %u checkpoints not asked "
		       "for, up to %u meta segments", auto_clean, auto_ckpt,
		       max_meta);
	printf("\n");
	/* Not failures, but the workload no longer covers what it says. */
	if (W == &main_wl && (!auto_clean || !auto_ckpt))
		printf("  WARNING: the workload no longer makes writes clean "
		       "or the log checkpoint itself: retune it\n");
	if (getenv("IVSHM_PL_SHOW"))
		printf("%s\n---\n%s", W->ref_dump[0], W->ref_dump[NOPS]);
}

/* ---- one power cut ---- */

/* The child: attach, arm the fault, run, acknowledge every success. */
static void child(const char *path, enum ivshm_fault_mode mode,
		  unsigned long k, unsigned int start, int ack)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	char what[128];

	alarm(CHILD_ALARM_S);
	fs = attach(path, &dev, false, "pl-victim");
	if (!fs)
		_exit(CHILD_ATTACH_FAILED);
	ivshm_fault_mode = mode;
	ivshm_fault_countdown = k;
	for (unsigned int i = start; i < NOPS; i++) {
		int64_t rc = run_op(fs, &W->ops[i]);
		uint32_t idx = i;

		if (!op_ok(&W->ops[i], rc)) {
			describe(what, sizeof(what), i);
			fprintf(stderr, "powerloss: mode %s k %lu: %s returned "
				"%lld\n", mode ? "tear" : "stop", k, what,
				(long long)rc);
			_exit(CHILD_OP_FAILED);
		}
		if (write(ack, &idx, sizeof(idx)) != sizeof(idx))
			_exit(CHILD_OP_FAILED);
	}
	ivshm_fault_countdown = 0;
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	_exit(CHILD_DONE);
}

static int diag_fd = 2;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(diag_fd, fmt, ap);
	va_end(ap);
}

/* The first line that differs, under the entry it belongs to. */
static void say_first_diff(const char *want, const char *got)
{
	size_t i = 0, line = 0, entry = 0;

	while (want[i] && want[i] == got[i]) {
		if (want[i++] != '\n')
			continue;
		line = i;
		if (want[i] != ' ')
			entry = i;
	}
	if (entry != line)
		say("    in:       %.*s\n", (int)strcspn(want + entry, "\n"),
		    want + entry);
	say("    expected: %.*s\n", (int)strcspn(want + line, "\n"),
	    want + line);
	say("    found:    %.*s\n", (int)strcspn(got + line, "\n"),
	    got + line);
}

/* Peer slots in @state (gen_state's low two bits, docs/SPEC.md). */
static unsigned int count_slots(struct ivshm_device *dev, unsigned int state)
{
	struct ivshm_geom g;
	unsigned int n = 0;
	char why[160];

	if (ivshm_classify(dev->region, dev->size, &g, why, sizeof(why)) !=
	    IVSHM_REGION_VALID)
		return 0;
	for (uint32_t i = 0; i < g.peer_slots; i++)
		n += (ivshm_load_acquire(&ivshm_slot_at(dev->region,
							i)->gen_state) &
		      3) == state;
	return n;
}

/* A fresh peer after the crash: what must hold. Returns a REC_ code. */
static int recover(const char *path, unsigned int acked)
{
	struct ivshm_verify_report rep;
	struct ivshm_device *dev, *raw;
	struct ivshm_fs *fs;
	char *tree, *again, *fresh;
	struct ivshm_attr at;
	const char *step;
	int rc, err;
	int64_t n;

	alarm(RECOVER_ALARM_S);
	if (ivshm_plain_open(path, &raw))
		return REC_ATTACH;
	/* What the power cut left, before anyone touches it. */
	if (ivshm_verify(raw->region, raw->size, &rep)) {
		say("    verify after the crash: %s\n", rep.first_error);
		return REC_VERIFY;
	}
	ivshm_device_close(raw);
	fs = attach(path, &dev, false, "pl-recover");
	if (!fs)
		return REC_ATTACH;
	tree = dump_tree(fs);
	if (!tree)
		return REC_ATTACH;
	if (!strcmp(tree, W->ref_dump[acked]))
		rc = REC_BEFORE;
	else if (acked < NOPS && !strcmp(tree, W->ref_dump[acked + 1]))
		rc = REC_AFTER;
	else {
		say("    tree differs from the one after %u ops:\n", acked);
		say_first_diff(W->ref_dump[acked], tree);
		if (acked < NOPS) {
			say("    and from the one after %u ops:\n", acked + 1);
			say_first_diff(W->ref_dump[acked + 1], tree);
		}
		if (getenv("IVSHM_PL_SHOW"))
			say("%s", tree);
		return REC_MISMATCH;
	}
	/*
	 * The store still works: a create and a write (which break the dead
	 * child's lock), a checkpoint and a cleaning pass (which may pick
	 * the dead child's data segment), the file removed again; then the
	 * tree is the same, for this peer and for a new one that starts from
	 * the new checkpoint.
	 */
	pattern(wbuf, 10000, 77);
	step = "create";
	err = ivshm_fs_mknod(fs, IVSHM_ROOT_INO, "after-crash",
			     IVSHM_S_IFREG | 0600, 0, 0, 0, &at);
	if (!err) {
		step = "write";
		n = ivshm_fs_write(fs, at.ino, 0, wbuf, 10000, NULL);
		err = n == 10000 ? 0 : n < 0 ? (int)n : -EIO;
	}
	if (!err) {
		step = "read back";
		n = ivshm_fs_read(fs, at.ino, 0, rbuf, 10000);
		err = n == 10000 && !memcmp(wbuf, rbuf, 10000) ? 0 : -EIO;
	}
	if (!err && (step = "checkpoint", err = ivshm_fs_checkpoint(fs)) == 0 &&
	    (step = "clean", err = ivshm_fs_clean(fs, 4)) >= 0)
		step = "unlink", err = ivshm_fs_unlink(fs, IVSHM_ROOT_INO,
						       "after-crash", false,
						       NULL);
	if (err) {
		ivshm_verify(dev->region, dev->size, &rep);
		say("    the recovered store failed a %s: %d (%s); segments "
		    "free %u meta %u data %u ckpt %u, %llu live data bytes; "
		    "peer slots alive %u dead %u\n", step, err,
		    strerror(-err), rep.seg_free, rep.seg_meta, rep.seg_data,
		    rep.seg_ckpt, (unsigned long long)rep.data_bytes,
		    count_slots(dev, IVSHM_SLOT_ALIVE),
		    count_slots(dev, IVSHM_SLOT_DEAD));
		return REC_POST_OP;
	}
	if (ivshm_verify(dev->region, dev->size, &rep)) {
		say("    verify after recovery: %s\n", rep.first_error);
		return REC_VERIFY_POST;
	}
	again = dump_tree(fs);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	fs = attach(path, &dev, false, "pl-again");
	fresh = fs ? dump_tree(fs) : NULL;
	if (!again || !fresh || strcmp(tree, again) || strcmp(tree, fresh)) {
		say("    the tree changed after recovery: %s\n",
		    !again || !fresh ? "cannot dump it" :
		    strcmp(tree, again) ? "for the recovering peer" :
					  "for a peer attaching later");
		if (again && fresh)
			say_first_diff(tree, strcmp(tree, again) ? again :
								   fresh);
		return REC_POST_OP;
	}
	free(tree);
	free(again);
	free(fresh);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	return rc;
}

/* Run recover() in a process of its own, its store logs kept aside. */
static int recover_child(const char *path, unsigned int acked, bool *ok)
{
	int st, pid = fork();

	*ok = false;
	if (pid < 0)
		return -1;
	if (!pid) {
		int logfd = -1, rc;

		if (!getenv("IVSHM_PL_VERBOSE")) {
			diag_fd = dup(2);
			logfd = memfd_create("pl-log", 0);
			if (diag_fd < 0 || logfd < 0 || dup2(logfd, 2) < 0)
				_exit(REC_ATTACH);
		}
		rc = recover(path, acked);
		if (rc > REC_AFTER && logfd >= 0) {
			char buf[4096];
			ssize_t n;

			lseek(logfd, 0, SEEK_SET);
			while ((n = read(logfd, buf, sizeof(buf))) > 0)
				if (write(diag_fd, buf, (size_t)n) != n)
					break;
		}
		_exit(rc);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFSIGNALED(st)) {
		say("    the recovering peer died of signal %d%s\n",
		    WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (hung)" : "");
		return -1;
	}
	*ok = WEXITSTATUS(st) <= REC_AFTER;
	return WEXITSTATUS(st);
}

/*
 * IVSHM_PL_KEEP=dir: the region as a cut left it, kept for a look when
 * the recovery fails (@path NULL: the recovery passed, drop it).
 */
static void keep_copy(const char *path, const char *dir, const char *mname,
		      unsigned long k, unsigned int acked)
{
	char name[256];
	int in, out;
	ssize_t n;

	snprintf(name, sizeof(name), "%s/pl-%s-k%lu-acked%u.img", dir, mname,
		 k, acked);
	if (!path) {
		unlink(name);
		return;
	}
	in = open(path, O_RDONLY);
	out = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in >= 0 && out >= 0) {
		n = read(in, rbuf, sizeof(rbuf));
		while (n > 0 && write(out, rbuf, (size_t)n) == n)
			n = read(in, rbuf, sizeof(rbuf));
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

static void note_failure(struct mode_stats *ms, unsigned long k,
			 unsigned int op, int code)
{
	if (ms->failures < MAX_FAILS) {
		ms->fail[ms->failures].k = k;
		ms->fail[ms->failures].op = op;
		ms->fail[ms->failures].code = code;
		ms->fail[ms->failures].chain = -1;
	}
	ms->failures++;
}

/*
 * Run the workload from operation @start on the region as it is and cut
 * the power at fault point @k. Returns 1 when the workload ran to its end
 * (k is past the last fault point), 0 when it was cut, -1 on a finding
 * (already reported). @next gets where the workload resumes: the ops
 * acknowledged, plus the one in flight if the recovered tree has it.
 * From the initial image (@start 0), the reference run says how many
 * operations the child must have acknowledged.
 */
static int one_cut(const char *path, enum ivshm_fault_mode mode,
		   unsigned long k, unsigned int start, struct mode_stats *ms,
		   unsigned int *next)
{
	const char *mname = mode == IVSHM_FAULT_TEAR ? "tear" : "stop";
	unsigned int acked = start, expect_acked = NOPS;
	const char *keep;
	int p[2], st, pid, rec;
	char what[128];
	uint32_t idx;
	bool ok, done;

	for (unsigned int i = 0; i < NOPS; i++)
		if (k > W->first_point[i] && k <= W->first_point[i + 1])
			expect_acked = i;
	*next = start;
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(p[0]);
		child(path, mode, k, start, p[1]);
	}
	close(p[1]);
	while (read(p[0], &idx, sizeof(idx)) == sizeof(idx)) {
		if (idx != acked)
			say("powerloss: %s k %lu: acknowledgement %u out of "
			    "order\n", mname, k, idx);
		acked = idx + 1;
	}
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	describe(what, sizeof(what), acked < NOPS ? acked : NOPS - 1);
	if (WIFSIGNALED(st) || (WEXITSTATUS(st) != FAULT_STATUS &&
				WEXITSTATUS(st) != CHILD_DONE)) {
		say("powerloss: %s k %lu: the workload child %s %d, %u ops "
		    "acknowledged (in flight: %s)\n", mname, k,
		    WIFSIGNALED(st) ? "died of signal" : "exited with",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), acked,
		    what);
		note_failure(ms, k, acked, -3);
		return -1;
	}
	done = WEXITSTATUS(st) == CHILD_DONE;
	if (!start && (acked != expect_acked ||
		       done != (k > W->first_point[NOPS]))) {
		say("powerloss: %s k %lu: the child acknowledged %u ops "
		    "(expected %u from the reference run), %s: the "
		    "workload is not deterministic\n", mname, k, acked,
		    expect_acked, done ? "completed" : "cut");
		note_failure(ms, k, acked, -2);
		expect_acked = NOPS + 1;
	}
	keep = getenv("IVSHM_PL_KEEP");
	if (keep)
		keep_copy(path, keep, mname, k, acked);
	rec = recover_child(path, acked, &ok);
	if (!ok) {
		say("powerloss: %s k %lu: recovery failed (code %d) with %u "
		    "ops acknowledged, in flight: %s\n", mname, k, rec, acked,
		    done ? "none" : what);
		if (keep)
			say("powerloss: the region as the cut left it is in "
			    "%s/pl-%s-k%lu-acked%u.img\n", keep, mname, k,
			    acked);
		note_failure(ms, k, acked, rec);
	} else if (keep) {
		keep_copy(NULL, keep, mname, k, acked);
	}
	ms->covered++;
	ms->crashed += !done;
	ms->completed += done;
	ms->in_flight_seen += rec == REC_AFTER;
	*next = acked + (rec == REC_AFTER);
	if (expect_acked == NOPS + 1 || !ok)
		return -1;
	return done ? 1 : 0;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	unsigned long n = v ? strtoul(v, NULL, 0) : 0;

	return n ? n : def;
}

/* How a run is shared out: job j of jobs does items j, j + jobs, ... */
struct plan {
	enum ivshm_fault_mode mode;
	unsigned long items;	/* sweep: k values; chains: chains */
	unsigned long stride;	/* sweep: 1 + n * stride is the n-th k */
	bool chains;
	unsigned long only;	/* 1 + the one item to run, or 0: all */
};

/* Sweep item n: the n-th k from the initial image. */
static int sweep_item(const char *path, const struct plan *pl,
		      unsigned long n, struct mode_stats *ms)
{
	unsigned long last = W->first_point[NOPS] + 1;
	unsigned long k = n == pl->items - 1 ? last : 1 + n * pl->stride;
	unsigned int next;

	if (restore(path))
		return -1;
	return one_cut(path, pl->mode, k, 0, ms, &next) < 0 ? -1 : 0;
}

/*
 * Chain item n: from the initial image, cut the power again and again
 * without restoring anything, resuming the workload where the recovered
 * tree says it stands, until it completes. Every k is drawn from a
 * generator seeded by (mode, n), within about the next two operations.
 */
static int chain_item(const char *path, const struct plan *pl,
		      unsigned long n, struct mode_stats *ms)
{
	const char *mname = pl->mode == IVSHM_FAULT_TEAR ? "tear" : "stop";
	uint64_t x = 0x9e3779b97f4a7c15ull * (n + 1) + pl->mode, widen = 1;
	unsigned int start = 0, next, cycles = 0, stalls = 0;
	int rc = 0;

	if (restore(path))
		return -1;
	while (rc == 0 && cycles < CHAIN_MAX_CYCLES) {
		uint64_t span = W->first_point[start + 1] -
				W->first_point[start];
		unsigned long before = ms->failures;
		unsigned long k;

		/*
		 * About one cut in two lands in the next operation. It may
		 * pass more points than in the reference run (it cleans,
		 * say): while the chain does not move, draw from further.
		 */
		span = 2 * span * widen + 4;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = 1 + (unsigned long)(x % span);
		rc = one_cut(path, pl->mode, k, start, ms, &next);
		if (ms->failures != before) {
			say("powerloss: that was %s chain %lu, cycle %u (ops "
			    "from %u): reproduce with the same chain number\n",
			    mname, n, cycles, start);
			ms->fail[(before < MAX_FAILS ? before :
				  MAX_FAILS - 1)].chain = (long)n;
		}
		stalls = next == start ? stalls + 1 : 0;
		if (!stalls)
			widen = 1;
		else if (stalls > 3 && widen < 1024)
			widen *= 2;
		start = next;
		cycles++;
		ms->cycles++;
	}
	if (rc == 0) {
		say("powerloss: %s chain %lu did not complete in %u cycles "
		    "(at op %u)\n", mname, n, cycles, start);
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static void run_plan(const struct plan *pl, const char *title)
{
	const char *mname = pl->mode == IVSHM_FAULT_TEAR ? "tear" : "stop";
	unsigned int jobs = (unsigned int)env_ul("IVSHM_PL_JOBS", 3);
	struct mode_stats total = { 0 }, *ms;
	struct timespec t0, t1;
	int pids[16];

	CU_ASSERT_FATAL(W->ref_dump[NOPS] != NULL && W->image != NULL);
	if (jobs > 16)
		jobs = 16;
	ms = mmap(NULL, sizeof(*ms) * jobs, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(ms != MAP_FAILED);
	memset(ms, 0, sizeof(*ms) * jobs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fflush(NULL);
	for (unsigned int j = 0; j < jobs; j++) {
		pids[j] = fork();
		CU_ASSERT_FATAL(pids[j] >= 0);
		if (!pids[j]) {
			char path[64];
			int bad = 0;

			region_path(path, sizeof(path), (int)j);
			if (make_region(path))
				_exit(2);
			for (unsigned long n = j; n < pl->items; n += jobs) {
				if (pl->only && n + 1 != pl->only)
					continue;
				if ((pl->chains ? chain_item : sweep_item)(
					    path, pl, n, &ms[j]))
					bad = 1;
			}
			unlink(path);
			_exit(bad);
		}
	}
	for (unsigned int j = 0; j < jobs; j++) {
		int st;

		CU_ASSERT(waitpid(pids[j], &st, 0) == pids[j]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		total.covered += ms[j].covered;
		total.crashed += ms[j].crashed;
		total.completed += ms[j].completed;
		total.in_flight_seen += ms[j].in_flight_seen;
		total.failures += ms[j].failures;
		total.cycles += ms[j].cycles;
		for (unsigned long f = 0; f < ms[j].failures && f < MAX_FAILS;
		     f++) {
			char what[128];

			describe(what, sizeof(what),
				 ms[j].fail[f].op < NOPS ? ms[j].fail[f].op :
							   NOPS - 1);
			printf("\n  FAILED: mode %s k %lu", mname,
			       ms[j].fail[f].k);
			if (pl->chains)
				printf(" chain %ld", ms[j].fail[f].chain);
			printf(" (in flight: %s): code %d", what,
			       ms[j].fail[f].code);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("\n  %s %s: %lu power cuts + %lu runs to the end, in-flight op "
	       "visible after %lu, %lu failures, %.1f s\n", mname, title,
	       total.crashed, total.completed, total.in_flight_seen,
	       total.failures, (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	CU_ASSERT(total.failures == 0);
	if (pl->chains) {
		CU_ASSERT(total.completed == (pl->only ? 1 : pl->items));
	} else {
		CU_ASSERT(total.completed >= 1 && total.covered == pl->items);
	}
	munmap(ms, sizeof(*ms) * jobs);
}

/* Every k (or every stride-th) from the initial image. */
static void sweep(enum ivshm_fault_mode mode)
{
	struct plan pl = { .mode = mode,
			   .stride = env_ul("IVSHM_PL_STRIDE", 1) };
	unsigned long last = W->first_point[NOPS] + 1;
	char title[64];

	pl.items = (last - 1) / pl.stride + 1 + ((last - 1) % pl.stride != 0);
	snprintf(title, sizeof(title), "sweep of k = 1..%lu, stride %lu", last,
		 pl.stride);
	run_plan(&pl, title);
}

static void chains(enum ivshm_fault_mode mode)
{
	struct plan pl = { .mode = mode, .chains = true,
			   .items = env_ul("IVSHM_PL_CHAINS", 6) };
	const char *only = getenv("IVSHM_PL_CHAIN");

	if (only) {
		pl.only = strtoul(only, NULL, 0) + 1;
		if (pl.items < pl.only)
			pl.items = pl.only;
	}
	char title[64];

	snprintf(title, sizeof(title), "%lu chains of cuts", pl.items);
	run_plan(&pl, title);
}

/*
 * Peers that lose power between two operations, one after the other,
 * more of them than there are peer slots: each writes a file and deletes
 * its predecessor's, so the live data stays one small file. Their slots
 * and their half-used data segments must come back: every peer must
 * attach and find room.
 */
static void test_dead_peers(void)
{
	struct ivshm_verify_report rep;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct ivshm_attr at;
	char path[64], name[16];
	unsigned int i;
	int st;

	region_path(path, sizeof(path), 98);
	CU_ASSERT_FATAL(make_region(path) == 0);
	fs = attach(path, &dev, true, "pl-format");
	CU_ASSERT_FATAL(fs != NULL);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	for (i = 0; i < DEAD_PEERS; i++) {
		pid_t pid = fork();

		CU_ASSERT_FATAL(pid >= 0);
		if (!pid) {
			int64_t rc;

			alarm(CHILD_ALARM_S);
			fs = attach(path, &dev, false, "pl-victim");
			if (!fs)
				_exit(CHILD_ATTACH_FAILED);
			snprintf(name, sizeof(name), "f%u", i);
			pattern(wbuf, 20000, i);
			rc = ivshm_fs_mknod(fs, IVSHM_ROOT_INO, name,
					    IVSHM_S_IFREG | 0644, 0, 0, 0, &at);
			if (!rc)
				rc = ivshm_fs_write(fs, at.ino, 0, wbuf, 20000,
						    NULL) == 20000 ? 0 : -ENOSPC;
			snprintf(name, sizeof(name), "f%u", i - 1);
			if (!rc && i)
				rc = ivshm_fs_unlink(fs, IVSHM_ROOT_INO, name,
						     false, NULL);
			if (rc) {
				say("powerloss: dead peers: peer %u: %s\n", i,
				    strerror((int)-rc));
				_exit(CHILD_OP_FAILED);
			}
			/* The power goes between two operations. */
			_exit(FAULT_STATUS);
		}
		CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != FAULT_STATUS)
			break;
	}
	fs = attach(path, &dev, false, "pl-last");
	if (i < DEAD_PEERS || !fs) {
		CU_FAIL("peers that died between operations were not "
			"cleaned up after");
		printf("\n  peer %u of %u %s", i, DEAD_PEERS,
		       i < DEAD_PEERS ? (WIFEXITED(st) && WEXITSTATUS(st) ==
						 CHILD_ATTACH_FAILED ?
					 "could not attach" :
					 "failed an operation") :
				       "came, then a last one could not attach");
	}
	if (fs) {
		snprintf(name, sizeof(name), "f%u", i ? i - 1 : 0);
		CU_ASSERT(!i ||
			  ivshm_fs_lookup(fs, IVSHM_ROOT_INO, name, &at) == 0);
		ivshm_fs_close(fs);
		ivshm_device_close(dev);
	}
	if (ivshm_plain_open(path, &dev) == 0) {
		CU_ASSERT(ivshm_verify(dev->region, dev->size, &rep) == 0);
		printf("\n  after %u dead peers: segments free %u meta %u data "
		       "%u ckpt %u, %llu live data bytes; peer slots alive %u "
		       "dead %u\n", i, rep.seg_free, rep.seg_meta,
		       rep.seg_data, rep.seg_ckpt,
		       (unsigned long long)rep.data_bytes,
		       count_slots(dev, IVSHM_SLOT_ALIVE),
		       count_slots(dev, IVSHM_SLOT_DEAD));
		ivshm_device_close(dev);
	}
	unlink(path);
}

static void test_reference(void)
{
	W = &main_wl;
	reference();
}

static void test_stop(void)
{
	W = &main_wl;
	sweep(IVSHM_FAULT_STOP);
}

static void test_tear(void)
{
	W = &main_wl;
	sweep(IVSHM_FAULT_TEAR);
}

static void test_chain_stop(void)
{
	W = &main_wl;
	chains(IVSHM_FAULT_STOP);
}

static void test_chain_tear(void)
{
	W = &main_wl;
	chains(IVSHM_FAULT_TEAR);
}

static void test_split_reference(void)
{
	W = &split_wl;
	reference();
}

static void test_split_stop(void)
{
	W = &split_wl;
	sweep(IVSHM_FAULT_STOP);
}

static void test_split_tear(void)
{
	W = &split_wl;
	sweep(IVSHM_FAULT_TEAR);
}

int main(void)
{
	struct workload *all[] = { &main_wl, &split_wl };
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("powerloss", NULL, NULL);
	CU_add_test(s, "main workload: reference run", test_reference);
	CU_add_test(s, "main workload: power cut at every store, before it",
		    test_stop);
	CU_add_test(s, "main workload: power cut at every store, half of it "
		    "written", test_tear);
	CU_add_test(s, "main workload: cut after cut, never restored, before "
		    "the store", test_chain_stop);
	CU_add_test(s, "main workload: cut after cut, never restored, half "
		    "of it written", test_chain_tear);
	CU_add_test(s, "peers that die between operations, 80 of them",
		    test_dead_peers);
	CU_add_test(s, "a write that cleans half way: reference run",
		    test_split_reference);
	CU_add_test(s, "a write that cleans half way: power cut at every "
		    "store, before it", test_split_stop);
	CU_add_test(s, "a write that cleans half way: power cut at every "
		    "store, half of it written", test_split_tear);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	for (unsigned int w = 0; w < ARRAY_SIZE(all); w++) {
		for (unsigned int i = 0; i <= all[w]->nops; i++)
			free(all[w]->ref_dump[i]);
		free(all[w]->image);
	}
	return fails ? 1 : 0;
}
