// SPDX-License-Identifier: MIT
/*
 * The model behind the torture tests (see torture.h). The model predicts
 * the outcome of every operation: success, or the set of errno values
 * POSIX allows when several errors apply at once (rename's order of checks
 * is not specified). Anything else the store does is a failure.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"
#include "verify.h"

#define L10 "abcdefghij"
#define L50 L10 L10 L10 L10 L10

/* Short names, and long ones up to the limit (255). */
static const char *const names[T_NAMES] = {
	"f0", "f1", "f2", "f3", "f4", "a.name-with.dots",
	"m" L50 L50,			/* 101 */
	"z" L50 L50 L50 L50 L50 "abcd",	/* 255 */
};

static const char *const xnames[T_XNAMES] = {
	"user.a", "user.k2", "user.a-rather-long-attribute-name",
};

/* Outcomes as bits, so that a prediction can allow several. */
#define X_SUCCESS (1u << 0)
#define X_ENOENT (1u << 1)
#define X_EEXIST (1u << 2)
#define X_ENOTDIR (1u << 3)
#define X_EISDIR (1u << 4)
#define X_ENOTEMPTY (1u << 5)
#define X_EINVAL (1u << 6)
#define X_EPERM (1u << 7)
#define X_ENODATA (1u << 8)

static const struct {
	int err;
	unsigned int bit;
	const char *name;
} outcomes[] = {
	{ 0, X_SUCCESS, "success" },	{ ENOENT, X_ENOENT, "ENOENT" },
	{ EEXIST, X_EEXIST, "EEXIST" }, { ENOTDIR, X_ENOTDIR, "ENOTDIR" },
	{ EISDIR, X_EISDIR, "EISDIR" }, { ENOTEMPTY, X_ENOTEMPTY, "ENOTEMPTY" },
	{ EINVAL, X_EINVAL, "EINVAL" }, { EPERM, X_EPERM, "EPERM" },
	{ ENODATA, X_ENODATA, "ENODATA" },
};

static const char *const kind_names[T_NKINDS] = {
	"create", "mkdir", "write", "truncate", "read", "unlink", "rmdir",
	"rename", "link", "setxattr", "getxattr", "removexattr", "stale",
	"checkpoint", "clean",
};

static void say(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* ---- randomness and patterns ---- */

uint64_t t_seed(uint64_t def)
{
	const char *s = getenv("IVSHM_SEED");

	return s && *s ? strtoull(s, NULL, 0) : def;
}

void t_rng_init(struct t_rng *r, uint64_t seed)
{
	/* splitmix64 once, so that close seeds give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	r->s = (z ^ (z >> 31)) | 1;
}

uint64_t t_rand(struct t_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

uint64_t t_below(struct t_rng *r, uint64_t n)
{
	return n ? t_rand(r) % n : 0;
}

uint8_t t_byte(uint32_t seed, uint64_t i)
{
	uint64_t x = ((uint64_t)seed << 32 | seed) ^
		     (i * 0x9e3779b97f4a7c15ull);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint8_t)(x >> 40);
}

/* Bytes [from, from + len) of the pattern: where a write puts them. */
void t_fill(uint8_t *buf, uint32_t seed, uint64_t from, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = t_byte(seed, from + i);
}

const char *t_name(unsigned int i)
{
	return names[i % T_NAMES];
}

/* ---- the model ---- */

static void node_init(struct t_node *nd, bool dir, int16_t parent)
{
	nd->used = 1;
	nd->dir = dir;
	nd->nlink = 1;
	nd->parent = parent;
	nd->ino = nd->gen = 0;
	nd->size = 0;
	for (int i = 0; i < T_NAMES; i++)
		nd->ent[i] = -1;
	memset(nd->xlen, 0xff, sizeof(nd->xlen));
}

void t_model_init(struct t_model *m, uint64_t root_ino, uint64_t budget)
{
	/* data past each file's size is kept zero from here on */
	memset(m, 0, sizeof(*m));
	m->budget = budget;
	node_init(&m->n[0], true, -1);
	m->n[0].ino = root_ino;
}

static int free_node(const struct t_model *m)
{
	for (int i = 1; i < T_NODES; i++)
		if (!m->n[i].used)
			return i;
	return -1;
}

static unsigned int subdirs(const struct t_model *m, int k)
{
	unsigned int c = 0;

	for (int i = 0; i < T_NAMES; i++)
		c += m->n[k].ent[i] >= 0 && m->n[m->n[k].ent[i]].dir;
	return c;
}

static bool empty_dir(const struct t_model *m, int k)
{
	for (int i = 0; i < T_NAMES; i++)
		if (m->n[k].ent[i] >= 0)
			return false;
	return true;
}

/* Is @d the directory @anc or below it? */
static bool within(const struct t_model *m, int d, int anc)
{
	for (int hops = 0; d >= 0 && hops <= T_NODES; hops++) {
		if (d == anc)
			return true;
		d = m->n[d].parent;
	}
	return false;
}

static void forget(struct t_model *m, int k)
{
	struct t_node *nd = &m->n[k];

	if (!nd->dir) {
		m->bytes -= nd->size;
		memset(nd->data, 0, nd->size); /* data past size stays zero */
	}
	m->dead[m->ndead++ % T_DEAD] = (struct t_dead){ nd->ino, nd->gen };
	nd->used = 0;
	nd->size = 0;
}

static void drop_link(struct t_model *m, int k)
{
	if (m->n[k].dir || m->n[k].nlink <= 1)
		forget(m, k);
	else
		m->n[k].nlink--;
}

static unsigned int expect_rename(const struct t_model *m,
				  const struct t_op *op)
{
	int src = m->n[op->dir].ent[op->name];
	int dst = m->n[op->dir2].ent[op->name2];
	unsigned int x = 0;

	if (src < 0)
		return X_ENOENT;
	if (op->flags & IVSHM_RENAME_EXCHANGE) {
		if (dst < 0)
			return X_ENOENT;
		if (src == dst)
			return X_SUCCESS;
		if (m->n[src].dir && within(m, op->dir2, src))
			x |= X_EINVAL;
		if (m->n[dst].dir && within(m, op->dir, dst))
			x |= X_EINVAL;
		return x ? x : X_SUCCESS;
	}
	if (dst >= 0 && (op->flags & IVSHM_RENAME_NOREPLACE))
		return X_EEXIST;
	if (src == dst)
		return X_SUCCESS;
	if (m->n[src].dir && within(m, op->dir2, src))
		x |= X_EINVAL;
	if (dst >= 0) {
		if (m->n[src].dir && !m->n[dst].dir)
			x |= X_ENOTDIR;
		if (!m->n[src].dir && m->n[dst].dir)
			x |= X_EISDIR;
		if (m->n[dst].dir && !empty_dir(m, dst))
			x |= X_ENOTEMPTY | X_EEXIST;
	}
	return x ? x : X_SUCCESS;
}

/* What the store may answer to @op on the state @m. */
static unsigned int expect(const struct t_model *m, const struct t_op *op)
{
	const struct t_node *d = &m->n[op->dir], *nd = &m->n[op->node];
	int c = d->ent[op->name];

	switch (op->kind) {
	case T_CREATE:
	case T_MKDIR:
		return c >= 0 ? X_EEXIST : X_SUCCESS;
	case T_WRITE:
	case T_TRUNC:
	case T_READ:
		return nd->dir ? X_EISDIR : X_SUCCESS;
	case T_UNLINK:
		return c < 0 ? X_ENOENT : m->n[c].dir ? X_EISDIR : X_SUCCESS;
	case T_RMDIR:
		return c < 0 ? X_ENOENT : !m->n[c].dir ? X_ENOTDIR :
		       !empty_dir(m, c) ? X_ENOTEMPTY : X_SUCCESS;
	case T_RENAME:
		return expect_rename(m, op);
	case T_LINK: {
		unsigned int x = 0;

		if (nd->dir)
			x |= X_EPERM;
		if (m->n[op->dir2].ent[op->name2] >= 0)
			x |= X_EEXIST;
		return x ? x : X_SUCCESS;
	}
	case T_SETX:
		if ((op->flags & IVSHM_XATTR_CREATE) &&
		    nd->xlen[op->xname] != 0xff)
			return X_EEXIST;
		if ((op->flags & IVSHM_XATTR_REPLACE) &&
		    nd->xlen[op->xname] == 0xff)
			return X_ENODATA;
		return X_SUCCESS;
	case T_GETX:
	case T_REMX:
		return nd->xlen[op->xname] == 0xff ? X_ENODATA : X_SUCCESS;
	default:
		return X_SUCCESS;
	}
}

static void apply_create(struct t_model *m, const struct t_op *op)
{
	int k = free_node(m);

	if (k < 0)
		abort(); /* the generator never asks for this */
	node_init(&m->n[k], op->kind == T_MKDIR, op->dir);
	m->n[k].ino = op->ino;
	m->n[k].gen = op->gen;
	m->n[op->dir].ent[op->name] = (int16_t)k;
	/* a name reused by the store is no longer a dead inode */
	for (unsigned int i = 0; i < T_DEAD; i++)
		if (m->dead[i].ino == op->ino)
			m->dead[i].ino = 0;
}

static void apply_size(struct t_model *m, struct t_node *nd, uint32_t size)
{
	if (size < nd->size)
		memset(nd->data + size, 0, nd->size - size);
	m->bytes = m->bytes - nd->size + size;
	nd->size = size;
}

static void apply_rename(struct t_model *m, const struct t_op *op)
{
	int16_t *se = &m->n[op->dir].ent[op->name];
	int16_t *de = &m->n[op->dir2].ent[op->name2];
	int16_t src = *se, dst = *de;

	if (src == dst)
		return;
	if (op->flags & IVSHM_RENAME_EXCHANGE) {
		*se = dst;
		*de = src;
		if (m->n[dst].dir)
			m->n[dst].parent = op->dir;
	} else {
		if (dst >= 0)
			drop_link(m, dst);
		*de = src;
		*se = -1;
	}
	if (m->n[src].dir)
		m->n[src].parent = op->dir2;
}

static void apply_change(struct t_model *m, const struct t_op *op)
{
	struct t_node *nd = &m->n[op->node];
	int16_t *e = &m->n[op->dir].ent[op->name];

	switch (op->kind) {
	case T_WRITE:
		if (op->off + op->len > nd->size)
			apply_size(m, nd, op->off + op->len);
		t_fill(nd->data + op->off, op->seed, op->off, op->len);
		break;
	case T_TRUNC:
		apply_size(m, nd, op->len);
		break;
	case T_UNLINK:
	case T_RMDIR:
		drop_link(m, *e);
		*e = -1;
		break;
	case T_LINK:
		nd->nlink++;
		m->n[op->dir2].ent[op->name2] = op->node;
		break;
	case T_SETX:
		nd->xlen[op->xname] = (uint8_t)op->len;
		for (uint32_t i = 0; i < op->len; i++)
			nd->xval[op->xname][i] = t_byte(op->seed, i);
		break;
	case T_REMX:
		nd->xlen[op->xname] = 0xff;
		break;
	default:
		break;
	}
}

void t_apply(struct t_model *m, const struct t_op *op)
{
	if (expect(m, op) != X_SUCCESS)
		return;
	if (op->kind == T_CREATE || op->kind == T_MKDIR)
		apply_create(m, op);
	else if (op->kind == T_RENAME)
		apply_rename(m, op);
	else
		apply_change(m, op);
}

bool t_op_mutates(const struct t_op *op)
{
	switch (op->kind) {
	case T_READ:
	case T_GETX:
	case T_STALE:
		return false;
	default:
		return true;
	}
}

/* ---- random operations ---- */

/* A random used node (directories or files), or -1. */
static int pick(const struct t_model *m, struct t_rng *r, bool dir)
{
	int c[T_NODES], n = 0;

	for (int i = 0; i < T_NODES; i++)
		if (m->n[i].used && m->n[i].dir == dir)
			c[n++] = i;
	return n ? c[t_below(r, (uint64_t)n)] : -1;
}

/* Mostly an existing name, sometimes any name in any directory. */
static void pick_entry(const struct t_model *m, struct t_rng *r, int16_t *dir,
		       uint8_t *name)
{
	int cd[T_NODES * T_NAMES], cn[T_NODES * T_NAMES], n = 0;

	for (int i = 0; i < T_NODES; i++)
		for (int j = 0; m->n[i].used && m->n[i].dir && j < T_NAMES; j++)
			if (m->n[i].ent[j] >= 0) {
				cd[n] = i;
				cn[n++] = j;
			}
	if (n && t_below(r, 4)) {
		int k = (int)t_below(r, (uint64_t)n);

		*dir = (int16_t)cd[k];
		*name = (uint8_t)cn[k];
		return;
	}
	*dir = (int16_t)pick(m, r, true);
	*name = (uint8_t)t_below(r, T_NAMES);
}

static unsigned int pick_kind(struct t_rng *r, const struct t_mix *mix)
{
	unsigned int total = 0, k;
	uint64_t x;

	for (k = 0; k < T_NKINDS; k++)
		total += mix->w[k];
	x = t_below(r, total);
	for (k = 0; k < T_NKINDS - 1 && x >= mix->w[k]; k++)
		x -= mix->w[k];
	return k;
}

/* Offset and length of a write, kept inside the space budget. */
static bool gen_write(const struct t_model *m, struct t_rng *r,
		     struct t_op *op)
{
	const struct t_node *nd = &m->n[op->node];
	static const uint32_t scale[] = { 64, 4096, 16384 };
	uint32_t end;

	op->off = (uint32_t)(t_below(r, 5) < 3 ? t_below(r, nd->size + 1u) :
						 t_below(r, T_FILE_MAX));
	op->len = 1 + (uint32_t)t_below(r, scale[t_below(r, 3)]);
	if (op->len > T_FILE_MAX - op->off)
		op->len = T_FILE_MAX - op->off;
	end = op->off + op->len;
	if (!nd->dir && end > nd->size &&
	    m->bytes + (end - nd->size) > m->budget) {
		/* No room to grow: overwrite inside the file. */
		if (!nd->size)
			return false;
		op->off = (uint32_t)t_below(r, nd->size);
		if (op->len > nd->size - op->off)
			op->len = nd->size - op->off;
	}
	op->seed = (uint32_t)t_rand(r);
	return true;
}

static void gen_trunc(const struct t_model *m, struct t_rng *r,
		      struct t_op *op)
{
	const struct t_node *nd = &m->n[op->node];

	op->len = (uint32_t)(t_below(r, 2) ? t_below(r, nd->size + 1u) :
					     t_below(r, T_FILE_MAX + 1u));
	if (op->len > nd->size && m->bytes + (op->len - nd->size) > m->budget)
		op->len = (uint32_t)t_below(r, nd->size + 1u);
}

/* A file, now and then a directory (which must fail). */
static int pick_target(const struct t_model *m, struct t_rng *r)
{
	return t_below(r, 50) ? pick(m, r, false) : pick(m, r, true);
}

static bool gen_names(const struct t_model *m, struct t_rng *r,
		      struct t_op *op)
{
	switch (op->kind) {
	case T_CREATE:
	case T_MKDIR:
		op->dir = (int16_t)pick(m, r, true);
		op->name = (uint8_t)t_below(r, T_NAMES);
		return m->n[op->dir].ent[op->name] >= 0 || free_node(m) >= 0;
	case T_UNLINK:
	case T_RMDIR:
		pick_entry(m, r, &op->dir, &op->name);
		return true;
	case T_RENAME: {
		static const uint8_t fl[] = { 0, 0, 0, IVSHM_RENAME_NOREPLACE,
					      IVSHM_RENAME_EXCHANGE };

		pick_entry(m, r, &op->dir, &op->name);
		if (t_below(r, 3))
			op->dir2 = (int16_t)pick(m, r, true);
		else
			pick_entry(m, r, &op->dir2, &op->name2);
		if (t_below(r, 3))
			op->name2 = (uint8_t)t_below(r, T_NAMES);
		op->flags = fl[t_below(r, sizeof(fl))];
		return true;
	}
	case T_LINK:
		op->node = (int16_t)(t_below(r, 30) ? pick(m, r, false) :
						      pick(m, r, true));
		op->dir2 = (int16_t)pick(m, r, true);
		op->name2 = (uint8_t)t_below(r, T_NAMES);
		return op->node >= 0;
	default:
		return false;
	}
}

static bool gen_one(const struct t_model *m, struct t_rng *r,
		    struct t_op *op)
{
	static const uint8_t xfl[] = { 0, 0, 0, IVSHM_XATTR_CREATE,
				       IVSHM_XATTR_REPLACE };

	switch (op->kind) {
	case T_WRITE:
		op->node = (int16_t)pick_target(m, r);
		return op->node >= 0 && gen_write(m, r, op);
	case T_TRUNC:
		op->node = (int16_t)pick_target(m, r);
		if (op->node >= 0)
			gen_trunc(m, r, op);
		return op->node >= 0;
	case T_READ:
		op->node = (int16_t)pick_target(m, r);
		op->off = (uint32_t)t_below(r, T_FILE_MAX + 64u);
		op->len = 1 + (uint32_t)t_below(r, T_FILE_MAX);
		return op->node >= 0;
	case T_SETX:
	case T_GETX:
	case T_REMX:
		op->node = (int16_t)pick(m, r, t_below(r, 3) == 0);
		op->xname = (uint8_t)t_below(r, T_XNAMES);
		op->flags = xfl[t_below(r, sizeof(xfl))];
		op->len = (uint32_t)t_below(r, T_XVAL + 1);
		op->seed = (uint32_t)t_rand(r);
		return op->node >= 0;
	case T_STALE:
		if (!m->ndead)
			return false;
		op->ino = m->dead[t_below(r, T_DEAD)].ino;
		op->gen = 0;
		for (unsigned int i = 0; i < T_DEAD; i++)
			if (m->dead[i].ino == op->ino)
				op->gen = m->dead[i].gen;
		return op->ino != 0;
	case T_CKPT:
	case T_CLEAN:
		return true;
	default:
		return gen_names(m, r, op);
	}
}

void t_op_random(const struct t_model *m, struct t_rng *r,
		 const struct t_mix *mix, struct t_op *op)
{
	for (int tries = 0; tries < 32; tries++) {
		memset(op, 0, sizeof(*op));
		op->kind = (uint8_t)pick_kind(r, mix);
		if (gen_one(m, r, op))
			return;
	}
	/* Always possible: an attribute of the subtree's root. */
	memset(op, 0, sizeof(*op));
	op->kind = T_GETX;
}

/* ---- descriptions ---- */

static const char *short_name(unsigned int i)
{
	static const char *const s[T_NAMES] = { "f0", "f1", "f2", "f3", "f4",
						"a.name-with.dots", "<m101>",
						"<z255>" };
	return s[i % T_NAMES];
}

/* The directory naming node @k, and the name's index; -1 if none. */
static int namer(const struct t_model *m, int k, int *name)
{
	for (int d = 0; d < T_NODES; d++)
		for (int i = 0; m->n[d].used && m->n[d].dir && i < T_NAMES; i++)
			if (m->n[d].ent[i] == k) {
				*name = i;
				return d;
			}
	return -1;
}

/* A path of node @k ("." for the subtree root), truncated to fit. */
static void path_of(const struct t_model *m, int k, char *buf, size_t n)
{
	int chain[T_NODES], depth = 0, name, d;
	size_t used;

	while (k > 0 && depth < T_NODES && (d = namer(m, k, &name)) >= 0) {
		chain[depth++] = name;
		k = d;
	}
	used = (size_t)snprintf(buf, n, "%s", k ? "<unnamed>" : ".");
	while (depth-- > 0 && used < n) {
		const char *s = short_name((unsigned int)chain[depth]);

		used += (size_t)snprintf(buf + used, n - used, "/%s", s);
	}
}

static void entry_of(const struct t_model *m, int d, unsigned int name,
		     char *buf, size_t n)
{
	size_t used;

	path_of(m, d, buf, n);
	used = strlen(buf);
	if (used < n)
		snprintf(buf + used, n - used, "/%s", short_name(name));
}

void t_op_desc(const struct t_model *m, const struct t_op *op, char *buf,
	       size_t n)
{
	const char *k = kind_names[op->kind % T_NKINDS];
	char a[420], b[420];

	entry_of(m, op->dir, op->name, a, sizeof(a));
	switch (op->kind) {
	case T_CREATE:
	case T_MKDIR:
	case T_UNLINK:
	case T_RMDIR:
		snprintf(buf, n, "%s %s", k, a);
		return;
	case T_RENAME:
		entry_of(m, op->dir2, op->name2, b, sizeof(b));
		snprintf(buf, n, "rename %s -> %s flags %u", a, b, op->flags);
		return;
	case T_STALE:
		snprintf(buf, n, "getattr of deleted inode %llu",
			 (unsigned long long)op->ino);
		return;
	case T_CKPT:
	case T_CLEAN:
		snprintf(buf, n, "%s", k);
		return;
	default:
		break;
	}
	path_of(m, op->node, a, sizeof(a));
	if (op->kind == T_LINK) {
		entry_of(m, op->dir2, op->name2, b, sizeof(b));
		snprintf(buf, n, "link %s (ino %llu) as %s", a,
			 (unsigned long long)m->n[op->node].ino, b);
	} else if (op->kind >= T_SETX) {
		snprintf(buf, n, "%s %s (ino %llu) %s len %u flags %u", k, a,
			 (unsigned long long)m->n[op->node].ino,
			 xnames[op->xname], op->len, op->flags);
	} else {
		snprintf(buf, n, "%s %s (ino %llu, size %u) off %u len %u "
			 "seed 0x%x", k, a,
			 (unsigned long long)m->n[op->node].ino,
			 m->n[op->node].size, op->off, op->len, op->seed);
	}
}

/* ---- execution ---- */

static unsigned int outcome_bit(int rc)
{
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (outcomes[i].err == -rc)
			return outcomes[i].bit;
	return 0;
}

static void outcome_names(unsigned int x, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (x & outcomes[i].bit)
			used += (size_t)snprintf(buf + used, n - used, "%s%s",
						 used ? " or " : "",
						 outcomes[i].name);
}

static int exec_create(struct ivshm_fs *fs, struct t_model *m,
		       struct t_op *op, char *why, size_t n)
{
	bool dir = op->kind == T_MKDIR;
	uint32_t mode = dir ? IVSHM_S_IFDIR | 0750 : IVSHM_S_IFREG | 0640;
	struct ivshm_attr a;
	int rc = ivshm_fs_mknod(fs, m->n[op->dir].ino, t_name(op->name), mode,
				1000, 100, 0, &a);

	if (rc)
		return rc;
	op->ino = a.ino;
	op->gen = a.generation;
	if (a.mode != mode || a.nlink != (dir ? 2u : 1u) || a.size) {
		say(why, n, "new inode %llu has mode 0%o nlink %u size %llu",
		    (unsigned long long)a.ino, a.mode, a.nlink,
		    (unsigned long long)a.size);
		return 1;
	}
	return 0;
}

static int exec_write(struct ivshm_fs *fs, struct t_model *m,
		      struct t_op *op, char *why, size_t n)
{
	const struct t_node *nd = &m->n[op->node];
	uint8_t *buf = malloc(op->len);
	struct ivshm_attr a;
	uint32_t end = op->off + op->len;
	int64_t got;

	if (!buf)
		abort();
	t_fill(buf, op->seed, op->off, op->len);
	got = ivshm_fs_write(fs, nd->ino, op->off, buf, op->len, &a);
	free(buf);
	if (got < 0)
		return (int)got;
	if (got != op->len) {
		say(why, n, "short write: %lld of %u bytes", (long long)got,
		    op->len);
		return 1;
	}
	if (a.size != (end > nd->size ? end : nd->size)) {
		say(why, n, "size after write is %llu",
		    (unsigned long long)a.size);
		return 1;
	}
	return 0;
}

static int exec_trunc(struct ivshm_fs *fs, struct t_model *m,
		      struct t_op *op, char *why, size_t n)
{
	struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = op->len };
	struct ivshm_attr a;
	int rc = ivshm_fs_setattr(fs, m->n[op->node].ino, &sa, &a);

	if (!rc && a.size != op->len) {
		say(why, n, "size after truncate is %llu",
		    (unsigned long long)a.size);
		return 1;
	}
	return rc;
}

static int first_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int)i;
	return -1;
}

/* Length of the run of differing bytes at the start. */
static int diff_run(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	uint64_t i = 0;

	while (i < n && a[i] != b[i])
		i++;
	return (int)i;
}

static int exec_read(struct ivshm_fs *fs, struct t_model *m,
		     struct t_op *op, char *why, size_t n)
{
	const struct t_node *nd = &m->n[op->node];
	uint32_t want = op->off >= nd->size ? 0 :
			op->len < nd->size - op->off ? op->len :
						       nd->size - op->off;
	uint8_t *buf = malloc(op->len);
	int64_t got;
	int d;

	if (!buf)
		abort();
	got = ivshm_fs_read(fs, nd->ino, op->off, buf, op->len);
	if (got >= 0 && got != want) {
		say(why, n, "read returned %lld, expected %u", (long long)got,
		    want);
		free(buf);
		return 1;
	}
	d = got > 0 ? first_diff(buf, nd->data + op->off, want) : -1;
	if (d >= 0)
		say(why, n, "byte at offset %u is 0x%02x, expected 0x%02x",
		    op->off + d, buf[d], nd->data[op->off + d]);
	free(buf);
	return got < 0 ? (int)got : d >= 0;
}

static int exec_rename(struct ivshm_fs *fs, struct t_model *m,
		       struct t_op *op, char *why, size_t n)
{
	int src = m->n[op->dir].ent[op->name];
	int dst = m->n[op->dir2].ent[op->name2];
	uint64_t replaced = 0, want = 0;
	int rc = ivshm_fs_rename(fs, m->n[op->dir].ino, t_name(op->name),
				 m->n[op->dir2].ino, t_name(op->name2),
				 op->flags, false, &replaced);

	if (rc)
		return rc;
	if (dst >= 0 && dst != src && !(op->flags & IVSHM_RENAME_EXCHANGE))
		want = m->n[dst].ino;
	if (replaced != want) {
		say(why, n, "rename reports replaced inode %llu, expected %llu",
		    (unsigned long long)replaced, (unsigned long long)want);
		return 1;
	}
	return 0;
}

static int exec_link(struct ivshm_fs *fs, struct t_model *m,
		     struct t_op *op, char *why, size_t n)
{
	const struct t_node *nd = &m->n[op->node];
	struct ivshm_attr a;
	int rc = ivshm_fs_link(fs, nd->ino, m->n[op->dir2].ino,
			       t_name(op->name2), &a);

	if (!rc && (a.ino != nd->ino || a.nlink != nd->nlink + 1u)) {
		say(why, n, "link gives inode %llu nlink %u",
		    (unsigned long long)a.ino, a.nlink);
		return 1;
	}
	return rc;
}

static int exec_xattr(struct ivshm_fs *fs, struct t_model *m,
		      struct t_op *op, char *why, size_t n)
{
	const struct t_node *nd = &m->n[op->node];
	uint8_t v[T_XVAL + 8];
	int rc;

	if (op->kind == T_REMX)
		return ivshm_fs_removexattr(fs, nd->ino, xnames[op->xname]);
	if (op->kind == T_SETX) {
		t_fill(v, op->seed, 0, op->len);
		return ivshm_fs_setxattr(fs, nd->ino, xnames[op->xname], v,
					 op->len, op->flags);
	}
	rc = ivshm_fs_getxattr(fs, nd->ino, xnames[op->xname], v, sizeof(v));
	if (rc < 0)
		return rc;
	if ((uint32_t)rc != nd->xlen[op->xname] ||
	    memcmp(v, nd->xval[op->xname], (size_t)rc)) {
		say(why, n, "xattr value of %d bytes differs (model: %u)", rc,
		    nd->xlen[op->xname]);
		return 1;
	}
	return 0;
}

/* A deleted inode is gone, unless its number now names a newer inode. */
static int exec_stale(struct ivshm_fs *fs, struct t_op *op, char *why,
		      size_t n)
{
	struct ivshm_attr a;
	int rc = ivshm_fs_getattr(fs, op->ino, &a);

	if (rc == -ENOENT)
		return 0;
	if (!rc && a.generation == op->gen) {
		say(why, n, "deleted inode %llu (generation %llu) still exists",
		    (unsigned long long)op->ino, (unsigned long long)op->gen);
		return 1;
	}
	return rc;
}

static int exec_space(struct ivshm_fs *fs, struct t_op *op)
{
	int rc = op->kind == T_CKPT ? ivshm_fs_checkpoint(fs) :
				      ivshm_fs_clean(fs, 2);

	/* The cleaner may find its copy overtaken: not a failure. */
	if (op->kind == T_CLEAN && rc == -EAGAIN)
		return 0;
	return rc > 0 ? 0 : rc;
}

/* The raw outcome: 0, -errno, or 1 when a detail differed (@why). */
static int run(struct ivshm_fs *fs, struct t_model *m, struct t_op *op,
	       char *why, size_t n)
{
	switch (op->kind) {
	case T_CREATE:
	case T_MKDIR:
		return exec_create(fs, m, op, why, n);
	case T_WRITE:
		return exec_write(fs, m, op, why, n);
	case T_TRUNC:
		return exec_trunc(fs, m, op, why, n);
	case T_READ:
		return exec_read(fs, m, op, why, n);
	case T_UNLINK:
		return ivshm_fs_unlink(fs, m->n[op->dir].ino, t_name(op->name),
				       false, NULL);
	case T_RMDIR:
		return ivshm_fs_rmdir(fs, m->n[op->dir].ino, t_name(op->name));
	case T_RENAME:
		return exec_rename(fs, m, op, why, n);
	case T_LINK:
		return exec_link(fs, m, op, why, n);
	case T_STALE:
		return exec_stale(fs, op, why, n);
	case T_CKPT:
	case T_CLEAN:
		return exec_space(fs, op);
	default:
		return exec_xattr(fs, m, op, why, n);
	}
}

int t_exec(struct ivshm_fs *fs, struct t_model *m, struct t_op *op,
	   char *why, size_t n)
{
	unsigned int x = expect(m, op);
	char want[128];
	int rc = run(fs, m, op, why, n);

	if (rc == 1)
		return -1;
	if (!(outcome_bit(rc) & x)) {
		outcome_names(x, want, sizeof(want));
		say(why, n, "returned %d (%s), the model expects %s", rc,
		    rc ? strerror(-rc) : "success", want);
		return -1;
	}
	if (!rc)
		t_apply(m, op);
	return 0;
}

/* ---- comparing the store with the model ---- */

struct listing {
	int16_t node[T_NAMES];		/* -2: not listed */
	uint64_t ino[T_NAMES];
	uint64_t dotdot;
	char stray[64];			/* a name the model lacks */
	unsigned int count;
};

static int list_entry(void *arg, const char *name, uint64_t ino,
		      uint32_t dtype, uint64_t next)
{
	struct listing *l = arg;

	(void)dtype, (void)next;
	if (!strcmp(name, ".."))
		l->dotdot = ino;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	l->count++;
	for (int i = 0; i < T_NAMES; i++)
		if (!strcmp(name, names[i])) {
			if (l->node[i] != -2)
				snprintf(l->stray, sizeof(l->stray),
					 "%.40s (twice)", name);
			l->node[i] = 0;
			l->ino[i] = ino;
			return 0;
		}
	snprintf(l->stray, sizeof(l->stray), "%.60s", name);
	return 0;
}

static int check_node(struct ivshm_fs *fs, struct t_model *m, int k,
		      bool learn, char *why, size_t n);

static int check_attr(struct ivshm_fs *fs, const struct t_model *m, int k,
		      char *why, size_t n)
{
	const struct t_node *nd = &m->n[k];
	uint32_t nlink = nd->dir ? 2 + subdirs(m, k) : nd->nlink;
	uint32_t type = nd->dir ? IVSHM_S_IFDIR : IVSHM_S_IFREG;
	struct ivshm_attr a;
	char p[300];
	int rc = ivshm_fs_getattr(fs, nd->ino, &a);

	path_of(m, k, p, sizeof(p));
	if (rc) {
		say(why, n, "%s (ino %llu): getattr returns %d", p,
		    (unsigned long long)nd->ino, rc);
		return -1;
	}
	if ((a.mode & IVSHM_S_IFMT) != type || a.nlink != nlink ||
	    (!nd->dir && a.size != nd->size) ||
	    (nd->gen && a.generation != nd->gen)) {
		say(why, n, "%s (ino %llu): mode 0%o nlink %u size %llu, "
		    "model nlink %u size %u", p, (unsigned long long)nd->ino,
		    a.mode, a.nlink, (unsigned long long)a.size, nlink,
		    nd->size);
		return -1;
	}
	return 0;
}

/* Where the bytes read first differ from the model, and for how long. */
static void say_diff(const struct t_node *nd, const char *path,
		     const uint8_t *buf, int d, char *why, size_t n)
{
	int run = diff_run(buf + d, nd->data + d, nd->size - (uint32_t)d);

	say(why, n, "%s (ino %llu, size %u): bytes %d..%d differ (first "
	    "0x%02x, model 0x%02x)%s", path, (unsigned long long)nd->ino,
	    nd->size, d, d + run - 1, buf[d], nd->data[d],
	    buf[d] ? "" : ", zeroes read");
}

static int check_data(struct ivshm_fs *fs, const struct t_model *m, int k,
		      char *why, size_t n)
{
	const struct t_node *nd = &m->n[k];
	uint8_t *buf = malloc(T_FILE_MAX + 64);
	char p[300];
	int64_t got;
	int d = -1;

	if (!buf)
		abort();
	got = ivshm_fs_read(fs, nd->ino, 0, buf, T_FILE_MAX + 64);
	if (got == nd->size)
		d = first_diff(buf, nd->data, nd->size);
	if (got != nd->size || d >= 0) {
		path_of(m, k, p, sizeof(p));
		if (d >= 0)
			say_diff(nd, p, buf, d, why, n);
		else
			say(why, n, "%s (ino %llu): read gives %lld bytes, "
			    "model %u", p, (unsigned long long)nd->ino,
			    (long long)got, nd->size);
	}
	free(buf);
	return got != nd->size || d >= 0 ? -1 : 0;
}

static int check_xattrs(struct ivshm_fs *fs, const struct t_model *m, int k,
			char *why, size_t n)
{
	const struct t_node *nd = &m->n[k];
	uint8_t v[T_XVAL + 8];
	int need = 0, rc;

	for (int i = 0; i < T_XNAMES; i++) {
		bool has = nd->xlen[i] != 0xff;

		rc = ivshm_fs_getxattr(fs, nd->ino, xnames[i], v, sizeof(v));
		need += has ? (int)strlen(xnames[i]) + 1 : 0;
		if (has ? rc == nd->xlen[i] &&
			  !memcmp(v, nd->xval[i], (size_t)rc) :
			  rc == -ENODATA)
			continue;
		say(why, n, "ino %llu: xattr %s gives %d, model %d",
		    (unsigned long long)nd->ino, xnames[i], rc,
		    has ? nd->xlen[i] : -ENODATA);
		return -1;
	}
	rc = ivshm_fs_listxattr(fs, nd->ino, NULL, 0);
	if (rc != need) {
		say(why, n, "ino %llu: listxattr needs %d bytes, model %d",
		    (unsigned long long)nd->ino, rc, need);
		return -1;
	}
	return 0;
}

/* Every name the model has is listed and looked up, and nothing else. */
static int check_names(struct ivshm_fs *fs, struct t_model *m, int k,
		       bool learn, struct listing *l, char *why, size_t n)
{
	struct t_node *d = &m->n[k];
	unsigned int want = 0;
	char p[300];

	path_of(m, k, p, sizeof(p));
	for (int i = 0; i < T_NAMES; i++) {
		struct t_node *c = d->ent[i] >= 0 ? &m->n[d->ent[i]] : NULL;
		struct ivshm_attr a;
		int rc = ivshm_fs_lookup(fs, d->ino, t_name(i), &a);

		want += c != NULL;
		if (c && !c->ino && learn && l->node[i] != -2)
			c->ino = l->ino[i];
		if (c ? l->node[i] == -2 || l->ino[i] != c->ino || rc ||
			a.ino != c->ino
		      : l->node[i] != -2 || rc != -ENOENT) {
			say(why, n, "%s/%s: listed %s ino %llu, lookup %d "
			    "ino %llu, model ino %llu", p, short_name(i),
			    l->node[i] == -2 ? "no" : "yes",
			    (unsigned long long)l->ino[i], rc,
			    (unsigned long long)(rc ? 0 : a.ino),
			    (unsigned long long)(c ? c->ino : 0));
			return -1;
		}
	}
	if (l->stray[0] || l->count != want) {
		say(why, n, "%s: %u entries (model %u), stray name '%s'", p,
		    l->count, want, l->stray);
		return -1;
	}
	return 0;
}

static int check_dir(struct ivshm_fs *fs, struct t_model *m, int k,
		     bool learn, char *why, size_t n)
{
	struct t_node *d = &m->n[k];
	struct listing l = { .count = 0 };
	int rc;

	for (int i = 0; i < T_NAMES; i++)
		l.node[i] = -2;
	rc = ivshm_fs_readdir(fs, d->ino, 0, list_entry, &l);
	if (rc) {
		say(why, n, "readdir of ino %llu returns %d",
		    (unsigned long long)d->ino, rc);
		return -1;
	}
	if (check_names(fs, m, k, learn, &l, why, n))
		return -1;
	if (k && l.dotdot != m->n[d->parent].ino) {
		say(why, n, "ino %llu: '..' is %llu, model %llu",
		    (unsigned long long)d->ino, (unsigned long long)l.dotdot,
		    (unsigned long long)m->n[d->parent].ino);
		return -1;
	}
	for (int i = 0; i < T_NAMES; i++)
		if (d->ent[i] >= 0 &&
		    check_node(fs, m, d->ent[i], learn, why, n))
			return -1;
	return 0;
}

static int check_node(struct ivshm_fs *fs, struct t_model *m, int k,
		      bool learn, char *why, size_t n)
{
	struct t_node *nd = &m->n[k];

	if (!nd->gen && learn) {
		struct ivshm_attr a;

		if (!ivshm_fs_getattr(fs, nd->ino, &a))
			nd->gen = a.generation;
	}
	if (check_attr(fs, m, k, why, n) || check_xattrs(fs, m, k, why, n))
		return -1;
	return nd->dir ? check_dir(fs, m, k, learn, why, n) :
			 check_data(fs, m, k, why, n);
}

int t_check(struct ivshm_fs *fs, struct t_model *m, bool learn, char *why,
	    size_t n)
{
	return check_node(fs, m, 0, learn, why, n);
}

/* ---- regions and peers ---- */

int t_region_create(struct t_region *rg, const char *tag, uint64_t size)
{
	snprintf(rg->name, sizeof(rg->name), "/dev/shm/ivshm-%s-%d", tag,
		 (int)getpid());
	unlink(rg->name);
	rg->fd = open(rg->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (rg->fd < 0)
		return -1;
	if (ftruncate(rg->fd, (off_t)size)) {
		t_region_drop(rg, false);
		return -1;
	}
	rg->keep = getenv("IVSHM_KEEP") && *getenv("IVSHM_KEEP");
	if (rg->keep) {
		snprintf(rg->path, sizeof(rg->path), "%s", rg->name);
		return 0;
	}
	/*
	 * Gone from /dev/shm at once, whatever happens to us: peers reach it
	 * through the descriptor, which children inherit.
	 */
	unlink(rg->name);
	snprintf(rg->path, sizeof(rg->path), "/proc/self/fd/%d", rg->fd);
	return 0;
}

void t_region_drop(struct t_region *rg, bool failed)
{
	if (rg->fd < 0)
		return;
	close(rg->fd);
	rg->fd = -1;
	if (rg->keep && failed)
		fprintf(stderr, "region kept in %s\n", rg->name);
	else
		unlink(rg->name);
}

int t_open(const char *path, const char *name, unsigned int lease_ms,
	   bool format, struct ivshm_device **dev, struct ivshm_fs **fs)
{
	struct ivshm_fs_opts o = { .attach = { .name = name,
					       .format_if_blank = format,
					       .lease_ms = lease_ms } };
	int rc = ivshm_plain_open(path, dev);

	if (rc)
		return rc;
	rc = ivshm_fs_open(*dev, &o, fs);
	if (rc) {
		ivshm_device_close(*dev);
		*dev = NULL;
	}
	return rc;
}

void t_close(struct ivshm_device *dev, struct ivshm_fs *fs)
{
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
}

int t_verify(struct ivshm_device *dev, char *why, size_t n)
{
	struct ivshm_verify_report rep;
	int rc = ivshm_verify(dev->region, dev->size, &rep);

	if (rc || rep.errors) {
		say(why, n, "verify: %d: %s", rc, rep.first_error);
		return -1;
	}
	if (rep.anomalies || rep.orphans) {
		say(why, n, "verify: %llu anomalies, %llu orphans",
		    (unsigned long long)rep.anomalies,
		    (unsigned long long)rep.orphans);
		return -1;
	}
	return 0;
}

void t_seg_summary(struct ivshm_device *dev, char *buf, size_t n)
{
	struct ivshm_verify_report rep = { 0 };
	struct ivshm_geom g;
	unsigned int c[6] = { 0 };
	char why[160];

	if (ivshm_classify(dev->region, dev->size, &g, why, sizeof(why)) !=
	    IVSHM_REGION_VALID) {
		say(buf, n, "region: %s", why);
		return;
	}
	for (uint32_t i = 0; i < g.seg_count; i++)
		c[ivshm_seg_entry_at(dev->region, &g, i)->state % 6]++;
	/* The index's size says how big a checkpoint is. */
	ivshm_verify(dev->region, dev->size, &rep);
	say(buf, n, "segments: %u free, %u meta, %u data, %u checkpoint, %u "
	    "freeing (of %u); %llu inodes, %llu extents", c[0], c[1], c[2],
	    c[3], c[4], g.seg_count, (unsigned long long)rep.inodes,
	    (unsigned long long)rep.extents);
}

uint64_t t_ckpt_gen(struct ivshm_device *dev)
{
	return ivshm_load_acquire(&ivshm_sb_of(dev->region)->ckpt_gen);
}

int64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
