// SPDX-License-Identifier: MIT
/*
 * The extent map: a B+tree keyed by file offset (see extmap.h).
 *
 * Leaves hold sorted, non-overlapping extents; inner nodes hold for each
 * child the lowest offset found under it (key[0] included: the keys are
 * exact, which keeps the descent simple: take the last child whose key is
 * <= the offset sought). All non-root nodes are 1 KiB; non-root leaves are
 * kept at least half full except, after an append, the rightmost one. The
 * root leaf of a small map is smaller (64, 128, 256, 512 bytes) and grows.
 *
 * A change to the map (map or punch) replaces the run of extents that
 * [a, b) touches, plus a neighbour it merges with, by at most three new
 * extents (kept left part, the new extent, kept right part). The first new
 * ones overwrite run entries in place, surplus run entries are deleted,
 * and missing ones (at most two) are inserted. Only an insertion
 * allocates, and it gets all its nodes before anything changes.
 */
#include "extmap.h"

#define EM_NODE_SIZE 1024u
#define EM_HDR 8u
#define EM_LCAP ((EM_NODE_SIZE - EM_HDR) / sizeof(struct ivshm_extent))
#define EM_LMIN (EM_LCAP / 2)
#define EM_ICAP ((EM_NODE_SIZE - EM_HDR) / 16)
#define EM_IMIN (EM_ICAP / 2)
#define EM_MAX_H 12 /* 2 * 31^10 * 21 extents: more than memory holds */
#define EM_U32 0xffffffffull

struct em_leaf {
	uint16_t n;
	uint16_t cap;
	uint32_t reserved;
	struct ivshm_extent e[];
};

struct em_inner {
	uint16_t n;
	uint16_t reserved[3];
	uint64_t key[EM_ICAP];	/* lowest offset under child[i] */
	void *child[EM_ICAP];
};

ivshm_static_assert(sizeof(struct ivshm_extent) == 24, "extent is 24 bytes");
ivshm_static_assert(sizeof(struct em_leaf) == EM_HDR, "leaf header");
ivshm_static_assert(EM_HDR + EM_LCAP * sizeof(struct ivshm_extent) <=
			    EM_NODE_SIZE, "leaf fits its node");
ivshm_static_assert(sizeof(struct em_inner) <= EM_NODE_SIZE,
		    "inner node fits its node");
ivshm_static_assert(EM_LCAP == 42 && EM_ICAP == 63, "node capacities");

/*
 * A path from the root: lv[0].node is the leaf and lv[0].idx a position in
 * it; lv[l].idx is the child taken in lv[l].node. One array of pairs, not
 * two arrays (node[], idx[]): with two, GCC 12.2 at -O1 and up (ipa-modref)
 * was seen reading lv[1].node after seek() as the value from before the
 * call, wrong code that -fno-ipa-modref avoids. Keep it this way.
 */
struct em_cur {
	struct {
		void *node;
		unsigned int idx;
	} lv[EM_MAX_H];
};

#define EM_CUR_INIT { { { NULL, 0 } } }

#ifdef IVSHM_EXTMAP_TEST
bool ivshm_extmap_test_fail_alloc(void);
#else
static inline bool ivshm_extmap_test_fail_alloc(void)
{
	return false;
}
#endif

static void *em_alloc(size_t n)
{
	if (ivshm_extmap_test_fail_alloc())
		return NULL;
	return ivshm_alloc(n);
}

/* The smallest node size (64 ... 1024) whose leaf holds @n extents. */
static size_t leaf_size_for(unsigned int n)
{
	size_t sz = 64;

	while (sz < EM_NODE_SIZE && (sz - EM_HDR) / 24 < n)
		sz <<= 1;
	return sz;
}

static struct em_leaf *leaf_alloc(size_t sz)
{
	struct em_leaf *lf = em_alloc(sz);

	if (lf)
		lf->cap = (uint16_t)((sz - EM_HDR) / 24);
	return lf;
}

static uint64_t ext_end(const struct ivshm_extent *e)
{
	return e->off + e->len;
}

static uint64_t node_min(void *node, unsigned int level)
{
	if (level)
		return ((struct em_inner *)node)->key[0];
	return ((struct em_leaf *)node)->e[0].off;
}

static void account(struct ivshm_extmap *m, const struct ivshm_extent *e,
		    int sign)
{
	int64_t d = sign < 0 ? -(int64_t)e->len : (int64_t)e->len;

	m->bytes += (uint64_t)d;
	if (!(e->flags & IVSHM_EXTENT_ZERO) && m->on_change)
		m->on_change(m->on_change_arg, e->seg, d);
}

/* Replace the extent at @slot by @ne, reporting the difference. */
static void overwrite(struct ivshm_extmap *m, struct ivshm_extent *slot,
		      const struct ivshm_extent *ne)
{
	int64_t d;

	if (!((slot->flags | ne->flags) & IVSHM_EXTENT_ZERO) &&
	    slot->seg == ne->seg) {
		d = (int64_t)ne->len - (int64_t)slot->len;
		m->bytes += (uint64_t)d;
		if (d && m->on_change)
			m->on_change(m->on_change_arg, ne->seg, d);
	} else {
		account(m, slot, -1);
		account(m, ne, 1);
	}
	*slot = *ne;
}

/* Does @b (which starts where @a ends) continue @a? */
static bool mergeable(const struct ivshm_extent *a,
		      const struct ivshm_extent *b)
{
	if (a->flags != b->flags || (uint64_t)a->len + b->len > EM_U32)
		return false;
	if (a->flags & IVSHM_EXTENT_ZERO)
		return true;
	return a->seg == b->seg && (uint64_t)a->seg_off + a->len == b->seg_off;
}

/* ---- searching ---- */

static unsigned int leaf_upper(const struct em_leaf *lf, uint64_t x)
{
	unsigned int lo = 0, hi = lf->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (lf->e[mid].off <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static unsigned int inner_upper(const struct em_inner *in, uint64_t x)
{
	unsigned int lo = 0, hi = in->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (in->key[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Descend towards @x (the map is not empty): lv[0].idx is then the number
 * of extents of the leaf that start at or before x. If it is 0, no extent
 * of the whole map does; else the leaf's extent lv[0].idx - 1 is the last.
 */
static void seek(const struct ivshm_extmap *m, uint64_t x, struct em_cur *c)
{
	void *n = m->root;
	unsigned int l, i;

	for (l = m->height - 1u; l > 0; l--) {
		struct em_inner *in = n;

		i = inner_upper(in, x);
		if (i)
			i--;
		c->lv[l].node = in;
		c->lv[l].idx = i;
		n = in->child[i];
	}
	c->lv[0].node = n;
	c->lv[0].idx = leaf_upper(n, x);
}

/* Move to the first extent of the next leaf; false (c unchanged) if none. */
static bool next_leaf(const struct ivshm_extmap *m, struct em_cur *c)
{
	unsigned int l;

	for (l = 1; l < m->height; l++) {
		struct em_inner *in = c->lv[l].node;

		if (c->lv[l].idx + 1u < in->n) {
			c->lv[l].idx++;
			for (; l > 0; l--) {
				in = c->lv[l].node;
				c->lv[l - 1].node = in->child[c->lv[l].idx];
				c->lv[l - 1].idx = 0;
			}
			return true;
		}
	}
	return false;
}

/* Make c point at an extent, stepping to the next leaf if past the end. */
static bool cur_norm(const struct ivshm_extmap *m, struct em_cur *c)
{
	const struct em_leaf *lf = c->lv[0].node;

	return c->lv[0].idx < lf->n || next_leaf(m, c);
}

static bool cur_fwd(const struct ivshm_extmap *m, struct em_cur *c)
{
	c->lv[0].idx++;
	return cur_norm(m, c);
}

static struct ivshm_extent *cur_ext(const struct em_cur *c)
{
	return &((struct em_leaf *)c->lv[0].node)->e[c->lv[0].idx];
}

/* After seek(x): the last extent starting at or before x, or NULL. */
static struct ivshm_extent *cur_before(const struct em_cur *c)
{
	struct em_leaf *lf = c->lv[0].node;

	return c->lv[0].idx ? &lf->e[c->lv[0].idx - 1] : NULL;
}

/* The first extent starting at or after @x. */
static bool seek_ge(const struct ivshm_extmap *m, uint64_t x,
		    struct em_cur *c)
{
	const struct ivshm_extent *x0;

	seek(m, x, c);
	x0 = cur_before(c);
	if (x0 && x0->off == x)
		c->lv[0].idx--;
	return cur_norm(m, c);
}

/* The lowest key of c->lv[level].node changed: carry it up the path. */
static void fix_min(struct ivshm_extmap *m, struct em_cur *c,
		    unsigned int level)
{
	uint64_t v = node_min(c->lv[level].node, level);
	unsigned int l;

	for (l = level + 1; l < m->height; l++) {
		struct em_inner *in = c->lv[l].node;

		in->key[c->lv[l].idx] = v;
		if (c->lv[l].idx)
			break;
	}
}

/* ---- node surgery ---- */

static void leaf_put(struct em_leaf *lf, unsigned int i,
		     const struct ivshm_extent *e, unsigned int cnt)
{
	memmove(&lf->e[i + cnt], &lf->e[i], (lf->n - i) * sizeof(*e));
	memcpy(&lf->e[i], e, cnt * sizeof(*e));
	lf->n += cnt;
}

/* Move the first @t extents of @b to the end of @a. */
static void leaf_to_left(struct em_leaf *a, struct em_leaf *b, unsigned int t)
{
	memcpy(&a->e[a->n], b->e, t * sizeof(b->e[0]));
	memmove(b->e, &b->e[t], (b->n - t) * sizeof(b->e[0]));
	a->n += t;
	b->n -= t;
}

/* Move the last @t extents of @a to the front of @b. */
static void leaf_to_right(struct em_leaf *a, struct em_leaf *b,
			  unsigned int t)
{
	memmove(&b->e[t], b->e, b->n * sizeof(b->e[0]));
	memcpy(b->e, &a->e[a->n - t], t * sizeof(b->e[0]));
	a->n -= t;
	b->n += t;
}

static void inner_put(struct em_inner *in, unsigned int i, uint64_t key,
		      void *child)
{
	memmove(&in->key[i + 1], &in->key[i], (in->n - i) * sizeof(in->key[0]));
	memmove(&in->child[i + 1], &in->child[i],
		(in->n - i) * sizeof(in->child[0]));
	in->key[i] = key;
	in->child[i] = child;
	in->n++;
}

static void inner_del(struct em_inner *in, unsigned int i)
{
	memmove(&in->key[i], &in->key[i + 1],
		(in->n - i - 1) * sizeof(in->key[0]));
	memmove(&in->child[i], &in->child[i + 1],
		(in->n - i - 1) * sizeof(in->child[0]));
	in->n--;
}

static void inner_to_left(struct em_inner *a, struct em_inner *b,
			  unsigned int t)
{
	memcpy(&a->key[a->n], b->key, t * sizeof(b->key[0]));
	memcpy(&a->child[a->n], b->child, t * sizeof(b->child[0]));
	memmove(b->key, &b->key[t], (b->n - t) * sizeof(b->key[0]));
	memmove(b->child, &b->child[t], (b->n - t) * sizeof(b->child[0]));
	a->n += t;
	b->n -= t;
}

static void inner_to_right(struct em_inner *a, struct em_inner *b,
			   unsigned int t)
{
	memmove(&b->key[t], b->key, b->n * sizeof(b->key[0]));
	memmove(&b->child[t], b->child, b->n * sizeof(b->child[0]));
	memcpy(b->key, &a->key[a->n - t], t * sizeof(b->key[0]));
	memcpy(b->child, &a->child[a->n - t], t * sizeof(b->child[0]));
	a->n -= t;
	b->n += t;
}

/* Siblings @a, @b: merge b into a (true) or even them out (false). */
static bool leaf_pair(struct em_leaf *a, struct em_leaf *b)
{
	unsigned int tot = a->n + b->n;

	if (tot <= EM_LCAP) {
		leaf_to_left(a, b, b->n);
		return true;
	}
	if (a->n < tot / 2)
		leaf_to_left(a, b, tot / 2 - a->n);
	else if (a->n > tot / 2)
		leaf_to_right(a, b, a->n - tot / 2);
	return false;
}

static bool inner_pair(struct em_inner *a, struct em_inner *b)
{
	unsigned int tot = a->n + b->n;

	if (tot <= EM_ICAP) {
		inner_to_left(a, b, b->n);
		return true;
	}
	if (a->n < tot / 2)
		inner_to_left(a, b, tot / 2 - a->n);
	else if (a->n > tot / 2)
		inner_to_right(a, b, a->n - tot / 2);
	return false;
}

/* ---- insertion: planned (and allocated) first, then done ---- */

enum em_plan_kind {
	EM_NEW,		/* empty map: a first root leaf */
	EM_FIT,		/* the leaf has room */
	EM_GROW,	/* the root leaf moves to a bigger node */
	EM_LEFT,	/* shift t extents to the left sibling */
	EM_RIGHT,	/* shift t extents to the right sibling */
	EM_SPLIT,	/* split the leaf (and maybe ancestors) */
};

struct em_plan {
	enum em_plan_kind kind;
	unsigned int t;
	unsigned int npool;
	struct em_leaf *grow;
	struct em_leaf *sib;	/* EM_LEFT, EM_RIGHT */
	void *pool[EM_MAX_H + 1];
};

static void *pool_pop(struct em_plan *p)
{
	return p->pool[--p->npool];
}

/* How many to shift to a sibling holding @sib so that both even out. */
static unsigned int shift_count(unsigned int mine, unsigned int sib,
				unsigned int lim)
{
	unsigned int t = mine > sib ? (mine - sib) / 2 : 0;

	if (t > EM_LCAP - sib)
		t = EM_LCAP - sib;
	return t < lim ? t : lim;
}

static bool plan_shift(const struct em_cur *c, unsigned int cnt,
		       struct em_plan *p)
{
	const struct em_inner *par = c->lv[1].node;
	const struct em_leaf *lf = c->lv[0].node;
	unsigned int pi = c->lv[1].idx, i = c->lv[0].idx;
	unsigned int mine = lf->n + cnt, need = mine - EM_LCAP;

	if (pi > 0) {
		p->sib = par->child[pi - 1];
		p->t = shift_count(mine, p->sib->n, i);
		if (p->t >= need) {
			p->kind = EM_LEFT;
			return true;
		}
	}
	if (pi + 1u < par->n) {
		p->sib = par->child[pi + 1];
		p->t = shift_count(mine, p->sib->n, lf->n - i);
		if (p->t >= need) {
			p->kind = EM_RIGHT;
			return true;
		}
	}
	return false;
}

static void plan_drop(struct em_plan *p)
{
	while (p->npool)
		ivshm_free(pool_pop(p));
	ivshm_free(p->grow);
	p->grow = NULL;
}

/* Get ready to insert @cnt (1 or 2) extents at c's leaf position. */
static int plan_insert(const struct ivshm_extmap *m, const struct em_cur *c,
		       unsigned int cnt, struct em_plan *p)
{
	const struct em_leaf *lf;
	unsigned int need, l;

	p->npool = 0;
	p->grow = NULL;
	p->t = 0;
	if (!m->root) {
		p->kind = EM_NEW;
		p->grow = leaf_alloc(leaf_size_for(cnt));
		return p->grow ? 0 : -ENOMEM;
	}
	lf = c->lv[0].node;
	if (lf->n + cnt <= lf->cap) {
		p->kind = EM_FIT;
		return 0;
	}
	if (m->height == 1 && lf->cap < EM_LCAP) {
		p->kind = EM_GROW;
		p->grow = leaf_alloc(leaf_size_for(lf->n + cnt));
		return p->grow ? 0 : -ENOMEM;
	}
	if (m->height > 1 && plan_shift(c, cnt, p))
		return 0;
	p->kind = EM_SPLIT;
	need = 1;
	for (l = 1; l < m->height && ((struct em_inner *)c->lv[l].node)->n ==
					     EM_ICAP; l++)
		need++;
	if (l == m->height) {
		if (m->height == EM_MAX_H)
			return -ENOMEM;
		need++;
	}
	while (p->npool < need) {
		p->pool[p->npool] = em_alloc(EM_NODE_SIZE);
		if (!p->pool[p->npool]) {
			plan_drop(p);
			return -ENOMEM;
		}
		p->npool++;
	}
	return 0;
}

static bool rightmost(const struct ivshm_extmap *m, const struct em_cur *c)
{
	unsigned int l;

	for (l = 1; l < m->height; l++)
		if (c->lv[l].idx + 1u != ((struct em_inner *)c->lv[l].node)->n)
			return false;
	return true;
}

/* Add (key, child) after c's position at level 1, splitting upwards. */
static void inner_insert(struct ivshm_extmap *m, struct em_cur *c,
			 uint64_t key, void *child, struct em_plan *p)
{
	const unsigned int half = (EM_ICAP + 1) / 2;
	struct em_inner *in, *ni;
	unsigned int l, pos, s;

	for (l = 1; l < m->height; l++) {
		in = c->lv[l].node;
		pos = c->lv[l].idx + 1u;
		if (in->n < EM_ICAP) {
			inner_put(in, pos, key, child);
			return;
		}
		ni = pool_pop(p);
		s = pos >= half ? half : half - 1;
		memcpy(ni->key, &in->key[s], (in->n - s) * sizeof(in->key[0]));
		memcpy(ni->child, &in->child[s],
		       (in->n - s) * sizeof(in->child[0]));
		ni->n = (uint16_t)(in->n - s);
		in->n = (uint16_t)s;
		if (pos >= s)
			inner_put(ni, pos - s, key, child);
		else
			inner_put(in, pos, key, child);
		key = ni->key[0];
		child = ni;
	}
	/* The root split: a new root above it. */
	ni = pool_pop(p);
	ni->n = 2;
	ni->key[0] = node_min(m->root, m->height - 1u);
	ni->child[0] = m->root;
	ni->key[1] = key;
	ni->child[1] = child;
	m->root = ni;
	m->height++;
}

static void leaf_split(struct ivshm_extmap *m, struct em_cur *c,
		       const struct ivshm_extent *e, unsigned int cnt,
		       struct em_plan *p)
{
	struct em_leaf *lf = c->lv[0].node, *nr = pool_pop(p);
	unsigned int n = lf->n, i = c->lv[0].idx, half = (n + cnt) / 2, s;
	bool right;

	nr->cap = EM_LCAP;
	if (i == n && rightmost(m, c)) {
		s = n;		/* appending: keep this leaf full */
		right = true;
	} else if (i >= half) {
		s = half;
		right = true;
	} else {
		s = i > half - cnt ? i : half - cnt;
		right = false;
	}
	memcpy(nr->e, &lf->e[s], (n - s) * sizeof(lf->e[0]));
	nr->n = (uint16_t)(n - s);
	lf->n = (uint16_t)s;
	if (right) {
		leaf_put(nr, i - s, e, cnt);
	} else {
		leaf_put(lf, i, e, cnt);
		if (!i)
			fix_min(m, c, 0);
	}
	inner_insert(m, c, nr->e[0].off, nr, p);
}

static void insert(struct ivshm_extmap *m, struct em_cur *c,
		   const struct ivshm_extent *e, unsigned int cnt,
		   struct em_plan *p)
{
	struct em_leaf *lf = NULL;
	struct em_inner *par;
	unsigned int i, pi;

	for (i = 0; i < cnt; i++)
		account(m, &e[i], 1);
	m->count += cnt;
	if (p->kind != EM_NEW)
		lf = c->lv[0].node;
	switch (p->kind) {
	case EM_NEW:
		leaf_put(p->grow, 0, e, cnt);
		m->root = p->grow;
		m->height = 1;
		break;
	case EM_FIT:
		leaf_put(lf, c->lv[0].idx, e, cnt);
		if (!c->lv[0].idx)
			fix_min(m, c, 0);
		break;
	case EM_GROW:
		memcpy(p->grow->e, lf->e, lf->n * sizeof(lf->e[0]));
		p->grow->n = lf->n;
		leaf_put(p->grow, c->lv[0].idx, e, cnt);
		ivshm_free(lf);
		m->root = p->grow;
		break;
	case EM_LEFT:
		par = c->lv[1].node;
		pi = c->lv[1].idx;
		leaf_to_left(p->sib, lf, p->t);
		leaf_put(lf, c->lv[0].idx - p->t, e, cnt);
		par->key[pi] = lf->e[0].off;
		break;
	case EM_RIGHT:
		par = c->lv[1].node;
		pi = c->lv[1].idx;
		leaf_to_right(lf, p->sib, p->t);
		par->key[pi + 1] = p->sib->e[0].off;
		leaf_put(lf, c->lv[0].idx, e, cnt);
		if (!c->lv[0].idx)
			fix_min(m, c, 0);
		break;
	case EM_SPLIT:
		leaf_split(m, c, e, cnt, p);
		break;
	}
	p->grow = NULL;
	plan_drop(p); /* nothing is left over; this is only a safety net */
}

/* ---- deletion ---- */

/* c->lv[0].node fell under half full: borrow or merge, up the path. */
static void rebalance(struct ivshm_extmap *m, struct em_cur *c)
{
	struct em_inner *par;
	unsigned int l, li;
	bool merged;
	void *a, *b;

	for (l = 0; l + 1u < m->height; l++) {
		par = c->lv[l + 1].node;
		li = c->lv[l + 1].idx ? c->lv[l + 1].idx - 1u : 0;
		a = par->child[li];
		b = par->child[li + 1];
		merged = l ? inner_pair(a, b) : leaf_pair(a, b);
		par->key[li] = node_min(a, l);
		if (merged) {
			ivshm_free(b);
			inner_del(par, li + 1);
		} else {
			par->key[li + 1] = node_min(b, l);
		}
		if (!li)
			fix_min(m, c, l + 1);
		if (l + 2u == m->height) { /* par is the root */
			if (par->n == 1) {
				m->root = a;
				m->height--;
				ivshm_free(par);
			}
			return;
		}
		if (!merged || par->n >= EM_IMIN)
			return;
	}
}

/* Delete every extent whose offset is in [from, to]. */
static void delete_keys(struct ivshm_extmap *m, uint64_t from, uint64_t to)
{
	struct em_leaf *lf;
	struct em_cur c = EM_CUR_INIT;
	unsigned int i, j;

	while (m->root && seek_ge(m, from, &c)) {
		for (;;) {
			lf = c.lv[0].node;
			i = c.lv[0].idx;
			for (j = i; j < lf->n && lf->e[j].off <= to; j++)
				account(m, &lf->e[j], -1);
			if (j == i)
				return;
			memmove(&lf->e[i], &lf->e[j],
				(lf->n - j) * sizeof(lf->e[0]));
			lf->n -= (uint16_t)(j - i);
			m->count -= j - i;
			if (m->height == 1) {
				if (!lf->n) {
					ivshm_free(lf);
					m->root = NULL;
					m->height = 0;
				}
				return;
			}
			if (lf->n < EM_LMIN) {
				rebalance(m, &c);
				break; /* seek again */
			}
			if (!i)
				fix_min(m, &c, 0);
			if (i < lf->n || !next_leaf(m, &c))
				return;
		}
	}
}

/* Free every node, reporting the extents as gone. */
static void destroy(struct ivshm_extmap *m)
{
	struct em_cur c = EM_CUR_INIT;
	struct em_leaf *lf;
	struct em_inner *in;
	unsigned int l, i;
	void *n = m->root;

	if (!n)
		return;
	l = m->height - 1u;
	for (;;) {
		for (; l > 0; l--) {
			c.lv[l].node = n;
			c.lv[l].idx = 0;
			n = ((struct em_inner *)n)->child[0];
		}
		lf = n;
		for (i = 0; i < lf->n; i++)
			account(m, &lf->e[i], -1);
		ivshm_free(lf);
		for (l = 1; l < m->height; l++) {
			in = c.lv[l].node;
			if (c.lv[l].idx + 1u < in->n)
				break;
			ivshm_free(in);
		}
		if (l == m->height)
			break;
		in = c.lv[l].node;
		n = in->child[++c.lv[l].idx];
		l--;
	}
	m->root = NULL;
	m->height = 0;
	m->count = 0;
	m->bytes = 0;
}

/* A root leaf that became mostly empty moves to a smaller node. */
static void shrink_root(struct ivshm_extmap *m)
{
	struct em_leaf *lf = m->root, *nl;
	size_t sz;

	if (m->height != 1 || lf->cap <= 2 || lf->n * 4u > lf->cap)
		return;
	sz = leaf_size_for(lf->n * 2u);
	if (sz >= leaf_size_for(lf->cap))
		return;
	nl = leaf_alloc(sz);
	if (!nl)
		return; /* it was only to save memory */
	memcpy(nl->e, lf->e, lf->n * sizeof(lf->e[0]));
	nl->n = lf->n;
	ivshm_free(lf);
	m->root = nl;
}

/* ---- the replacement of a range ---- */

struct em_op {
	struct ivshm_extent nw[3];	/* the new extents, in order */
	unsigned int m;			/* how many */
	unsigned int k;			/* run extents (counted to 5) */
	uint64_t first, last;		/* keys of the run's ends, k > 0 */
	uint64_t del_from;		/* key of run extent m (k > m) */
};

/* The extent that ends exactly at @a (> 0), if any. */
static bool seek_prev_end(const struct ivshm_extmap *m, uint64_t a,
			  struct ivshm_extent *out)
{
	struct em_cur c = EM_CUR_INIT;
	const struct ivshm_extent *x;

	seek(m, a - 1, &c);
	x = cur_before(&c);
	if (!x || ext_end(x) != a)
		return false;
	*out = *x;
	return true;
}

/*
 * The run of extents that replacing [a, b) by @e (NULL: by nothing)
 * touches: those overlapping [a, b), and a neighbour ending at a or
 * starting at b that @e continues. And what replaces it.
 */
static void gather(const struct ivshm_extmap *m, uint64_t a, uint64_t b,
		   const struct ivshm_extent *e, struct em_op *op)
{
	struct ivshm_extent left = { 0 }, mid = { 0 }, right = { 0 };
	struct ivshm_extent prev = { 0 }, next = { 0 };
	bool has_left = false, has_right = false;
	bool has_prev = false, has_next = false, use_prev = false;
	const struct ivshm_extent *x;
	uint64_t ikey[4] = { 0 };
	unsigned int nint = 0, j;
	struct em_cur c = EM_CUR_INIT;
	bool ok;

	memset(op, 0, sizeof(*op));
	if (!m->root) {
		if (e)
			op->nw[op->m++] = *e;
		return;
	}
	/* The left end: the last extent starting at or before a. */
	seek(m, a, &c);
	x = cur_before(&c);
	if (x) {
		if (ext_end(x) > a) {
			c.lv[0].idx--;
			if (x->off < a) {
				left = *x;
				left.len = (uint32_t)(a - x->off);
				has_left = true;
			} else if (a && seek_prev_end(m, a, &prev)) {
				has_prev = true;
			}
		} else if (ext_end(x) == a) {
			prev = *x;
			has_prev = true;
		}
	}
	/* The extents overlapping [a, b); five are enough to know. */
	for (ok = cur_norm(m, &c); ok && nint < 5; ok = cur_fwd(m, &c)) {
		x = cur_ext(&c);
		if (x->off >= b)
			break;
		if (nint < 4)
			ikey[nint] = x->off;
		nint++;
	}
	/* The right end: the last extent starting before b. */
	seek(m, b - 1, &c);
	if (nint) {
		x = cur_before(&c); /* not NULL: an extent starts before b */
		op->last = x->off;
		if (ext_end(x) > b) {
			right = *x;
			right.off = b;
			right.len = (uint32_t)(ext_end(x) - b);
			if (!(right.flags & IVSHM_EXTENT_ZERO))
				right.seg_off += (uint32_t)(b - x->off);
			has_right = true;
		}
	}
	if (!has_right && cur_norm(m, &c) && cur_ext(&c)->off == b) {
		next = *cur_ext(&c);
		has_next = true;
	}

	op->k = nint;
	if (nint)
		op->first = ikey[0];
	if (e) {
		mid = *e;
		if (has_left && mergeable(&left, &mid)) {
			left.len += mid.len;
			mid = left;
			has_left = false;
		} else if (has_prev && mergeable(&prev, &mid)) {
			prev.len += mid.len;
			mid = prev;
			use_prev = true;
			op->k++;
			op->first = prev.off;
			if (!nint)
				op->last = prev.off;
		}
		if (has_right && mergeable(&mid, &right)) {
			mid.len += right.len;
			has_right = false;
		} else if (has_next && mergeable(&mid, &next)) {
			mid.len += next.len;
			op->k++;
			if (op->k == 1)
				op->first = next.off;
			op->last = next.off;
		}
	}
	if (has_left)
		op->nw[op->m++] = left;
	if (e)
		op->nw[op->m++] = mid;
	if (has_right)
		op->nw[op->m++] = right;

	/* Run extent number m, the first to delete if the run is longer. */
	if (op->k > op->m) {
		j = op->m - use_prev; /* m >= 1 if use_prev */
		op->del_from = j < nint ? ikey[j] : next.off;
	}
}

/* Overwrite the first @n extents of the run by the first new ones. */
static void overwrite_run(struct ivshm_extmap *m, const struct em_op *op,
			  unsigned int n)
{
	struct em_cur c = EM_CUR_INIT;
	unsigned int i;

	seek(m, op->first, &c);
	c.lv[0].idx--;
	for (i = 0; i < n; i++) {
		if (i)
			cur_fwd(m, &c);
		overwrite(m, cur_ext(&c), &op->nw[i]);
		if (!c.lv[0].idx)
			fix_min(m, &c, 0);
	}
}

static int replace(struct ivshm_extmap *m, uint64_t a, uint64_t b,
		   const struct ivshm_extent *e)
{
	struct em_plan p;
	struct em_cur ins = EM_CUR_INIT;
	struct em_op op;
	int rc;

	gather(m, a, b, e, &op);
	if (op.m <= op.k) {
		if (!op.k)
			return 0;
		m->gen++;
		if (op.k > op.m)
			delete_keys(m, op.del_from, op.last);
		if (op.m)
			overwrite_run(m, &op, op.m);
		if (m->root)
			shrink_root(m);
		return 0;
	}
	/* More extents than before: after the run, or where e goes. */
	memset(&p, 0, sizeof(p));
	if (m->root)
		seek(m, op.k ? op.last : a, &ins);
	rc = plan_insert(m, &ins, op.m - op.k, &p);
	if (rc)
		return rc;
	m->gen++;
	if (op.k)
		overwrite_run(m, &op, op.k);
	insert(m, &ins, &op.nw[op.k], op.m - op.k, &p);
	return 0;
}

/* ---- the interface ---- */

void ivshm_extmap_init(struct ivshm_extmap *m)
{
	memset(m, 0, sizeof(*m));
}

void ivshm_extmap_release(struct ivshm_extmap *m)
{
	destroy(m);
	m->gen++;
}

int ivshm_extmap_map(struct ivshm_extmap *m, const struct ivshm_extent *e)
{
	if (!e->len)
		return 0;
	if (e->off > UINT64_MAX - e->len ||
	    (!(e->flags & IVSHM_EXTENT_ZERO) &&
	     (uint64_t)e->seg_off + e->len > EM_U32 + 1))
		return -EINVAL;
	return replace(m, e->off, e->off + e->len, e);
}

static void leftmost(const struct ivshm_extmap *m, struct em_cur *c)
{
	void *n = m->root;
	unsigned int l;

	for (l = m->height - 1u; l > 0; l--) {
		c->lv[l].node = n;
		c->lv[l].idx = 0;
		n = ((struct em_inner *)n)->child[0];
	}
	c->lv[0].node = n;
	c->lv[0].idx = 0;
}

static const struct ivshm_extent *last_ext(const struct ivshm_extmap *m)
{
	void *n = m->root;
	unsigned int l;

	for (l = m->height - 1u; l > 0; l--) {
		struct em_inner *in = n;

		n = in->child[in->n - 1];
	}
	return &((struct em_leaf *)n)->e[((struct em_leaf *)n)->n - 1];
}

int ivshm_extmap_punch(struct ivshm_extmap *m, uint64_t off, uint64_t len)
{
	struct em_cur c = EM_CUR_INIT;

	if (!len || !m->root)
		return 0;
	if (len > UINT64_MAX - off)
		len = UINT64_MAX - off;
	if (!len)
		return 0;
	leftmost(m, &c);
	if (cur_ext(&c)->off >= off && ext_end(last_ext(m)) <= off + len) {
		destroy(m); /* all of it: no rebalancing */
		m->gen++;
		return 0;
	}
	return replace(m, off, off + len, NULL);
}

int64_t ivshm_extmap_move(struct ivshm_extmap *m, uint64_t off, uint32_t len,
			  uint32_t old_seg, uint32_t old_off, uint32_t new_seg,
			  uint32_t new_off)
{
	uint64_t pos = off, end = off + len, s, t;
	struct ivshm_extent x, ne;
	int64_t moved = 0;
	int rc;

	if (off > UINT64_MAX - len || (uint64_t)old_off + len > EM_U32 + 1 ||
	    (uint64_t)new_off + len > EM_U32 + 1)
		return -EINVAL;
	while (pos < end && ivshm_extmap_next(m, pos, &x) && x.off < end) {
		s = x.off > pos ? x.off : pos;
		t = ext_end(&x) < end ? ext_end(&x) : end;
		if (!(x.flags & IVSHM_EXTENT_ZERO) && x.seg == old_seg &&
		    x.seg_off + (s - x.off) == old_off + (s - off)) {
			ne.off = s;
			ne.len = (uint32_t)(t - s);
			ne.seg = new_seg;
			ne.seg_off = new_off + (uint32_t)(s - off);
			ne.flags = x.flags;
			rc = replace(m, s, t, &ne);
			if (rc)
				return rc;
			moved += (int64_t)(t - s);
		}
		pos = t;
	}
	return moved;
}

bool ivshm_extmap_find(const struct ivshm_extmap *m, uint64_t off,
		       struct ivshm_extent *out)
{
	const struct ivshm_extent *x;
	struct em_cur c = EM_CUR_INIT;

	if (!m->root)
		return false;
	seek(m, off, &c);
	x = cur_before(&c);
	if (!x || ext_end(x) <= off)
		return false;
	*out = *x;
	return true;
}

bool ivshm_extmap_next(const struct ivshm_extmap *m, uint64_t off,
		       struct ivshm_extent *out)
{
	const struct ivshm_extent *x;
	struct em_cur c = EM_CUR_INIT;

	if (!m->root)
		return false;
	seek(m, off, &c);
	x = cur_before(&c);
	if (x && ext_end(x) > off) {
		*out = *x;
		return true;
	}
	if (!cur_norm(m, &c))
		return false;
	*out = *cur_ext(&c);
	return true;
}

int ivshm_extmap_walk(const struct ivshm_extmap *m,
		      int (*fn)(void *arg, const struct ivshm_extent *e),
		      void *arg)
{
	const struct ivshm_extent *x;
	struct ivshm_extent e;
	struct em_cur c = EM_CUR_INIT;
	uint32_t gen;
	bool ok;
	int rc;

	if (!m->root)
		return 0;
	leftmost(m, &c);
	for (ok = true; ok;) {
		e = *cur_ext(&c);
		gen = m->gen;
		rc = fn(arg, &e);
		if (rc)
			return rc;
		if (gen == m->gen) {
			ok = cur_fwd(m, &c);
			continue;
		}
		/* The map changed under us: find our place again. */
		if (!m->root)
			return 0;
		seek(m, ext_end(&e), &c);
		x = cur_before(&c);
		if (x && ext_end(x) > ext_end(&e))
			c.lv[0].idx--;
		ok = cur_norm(m, &c);
	}
	return 0;
}

size_t ivshm_extmap_node_size(void)
{
	return EM_NODE_SIZE;
}

uint64_t ivshm_extmap_mem(const struct ivshm_extmap *m)
{
	struct em_cur c = EM_CUR_INIT;
	const struct em_inner *in;
	const struct em_leaf *lf;
	unsigned int l;
	uint64_t mem;

	if (!m->root)
		return 0;
	leftmost(m, &c);
	mem = (uint64_t)(m->height - 1u) * EM_NODE_SIZE;
	for (;;) {
		lf = c.lv[0].node;
		mem += leaf_size_for(lf->cap);
		/* next_leaf() enters new inner nodes below level l */
		for (l = 1; l < m->height; l++) {
			in = c.lv[l].node;
			if (c.lv[l].idx + 1u < in->n)
				break;
		}
		if (!next_leaf(m, &c))
			break;
		mem += (uint64_t)(l - 1) * EM_NODE_SIZE;
	}
	return mem;
}

int ivshm_extmap_check(const struct ivshm_extmap *m)
{
	uint64_t count = 0, bytes = 0, prev_end = 0;
	const struct em_inner *in;
	const struct em_leaf *lf;
	struct em_cur c = EM_CUR_INIT;
	unsigned int l, i;

	if (!m->root)
		return m->height || m->count || m->bytes ? -EUCLEAN : 0;
	if (!m->height || m->height > EM_MAX_H)
		return -EUCLEAN;
	leftmost(m, &c);
	for (;;) {
		lf = c.lv[0].node;
		if (!lf->n || lf->n > lf->cap || lf->cap > EM_LCAP ||
		    (m->height > 1 && lf->cap != EM_LCAP))
			return -EUCLEAN;
		for (i = 0; i < lf->n; i++) {
			const struct ivshm_extent *x = &lf->e[i];

			if (!x->len || (count && x->off < prev_end) ||
			    x->off > UINT64_MAX - x->len)
				return -EUCLEAN;
			prev_end = ext_end(x);
			count++;
			bytes += x->len;
		}
		/* Every key is the lowest offset of its leftmost leaf. */
		for (l = 1; l < m->height; l++) {
			in = c.lv[l].node;
			if (in->n < (l + 1u == m->height ? 2 : EM_IMIN) ||
			    in->n > EM_ICAP ||
			    in->key[c.lv[l].idx] != lf->e[0].off)
				return -EUCLEAN;
			if (c.lv[l].idx)
				break;
		}
		if (!next_leaf(m, &c))
			break;
	}
	return count == m->count && bytes == m->bytes ? 0 : -EUCLEAN;
}
