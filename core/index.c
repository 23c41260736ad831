// SPDX-License-Identifier: MIT
#include "index.h"

#define CHG_MAX 4096u

/* ---- inode table: open addressing, linear probing, backward shift ---- */

static uint64_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return v;
}

struct ivshm_inode *ivshm_index_get(const struct ivshm_index *x, uint64_t ino)
{
	uint64_t mask = x->cap - 1;

	for (uint64_t i = hash64(ino) & mask;; i = (i + 1) & mask) {
		struct ivshm_inode *n = x->tab[i];

		if (!n || n->ino == ino)
			return n;
	}
}

static int tab_grow(struct ivshm_index *x)
{
	uint64_t cap = x->cap * 2, mask = cap - 1;
	struct ivshm_inode **t = ivshm_alloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint64_t i = 0; i < x->cap; i++) {
		struct ivshm_inode *n = x->tab[i];
		uint64_t j;

		if (!n)
			continue;
		for (j = hash64(n->ino) & mask; t[j]; j = (j + 1) & mask)
			;
		t[j] = n;
	}
	ivshm_free(x->tab);
	x->tab = t;
	x->cap = cap;
	return 0;
}

static int tab_insert(struct ivshm_index *x, struct ivshm_inode *n)
{
	uint64_t mask, i;

	if ((x->count + 1) * 4 > x->cap * 3 && tab_grow(x))
		return -ENOMEM;
	mask = x->cap - 1;
	for (i = hash64(n->ino) & mask; x->tab[i]; i = (i + 1) & mask)
		;
	x->tab[i] = n;
	x->count++;
	return 0;
}

static void tab_remove(struct ivshm_index *x, uint64_t ino)
{
	uint64_t mask = x->cap - 1, i, j;

	for (i = hash64(ino) & mask; x->tab[i]; i = (i + 1) & mask)
		if (x->tab[i]->ino == ino)
			break;
	if (!x->tab[i])
		return;
	x->tab[i] = NULL;
	x->count--;
	/* Shift back the entries that probed past the hole. */
	for (j = (i + 1) & mask; x->tab[j]; j = (j + 1) & mask) {
		uint64_t home = hash64(x->tab[j]->ino) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			x->tab[i] = x->tab[j];
			x->tab[j] = NULL;
			i = j;
		}
	}
}

int ivshm_index_walk(const struct ivshm_index *x,
		     int (*fn)(void *arg, struct ivshm_inode *ino), void *arg)
{
	for (uint64_t i = 0; i < x->cap; i++) {
		int rc;

		if (x->tab[i] && (rc = fn(arg, x->tab[i])))
			return rc;
	}
	return 0;
}

/* ---- directories: names by hash, entries by cookie ---- */

static uint32_t hash_name(const char *s, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static bool name_eq(const struct ivshm_dent *e, const char *s, uint32_t len)
{
	return e->name_len == len && !memcmp(e->name, s, len);
}

struct ivshm_dent *ivshm_dir_lookup(const struct ivshm_dir *d,
				    const char *name, uint32_t len)
{
	uint32_t mask = d->hash_cap - 1;

	for (uint32_t i = hash_name(name, len) & mask;; i = (i + 1) & mask) {
		struct ivshm_dent *e = d->hash[i];

		if (!e || name_eq(e, name, len))
			return e;
	}
}

/* Index in d->order of the first entry with cookie > @cookie. */
static uint32_t order_after(const struct ivshm_dir *d, uint64_t cookie)
{
	uint32_t lo = 0, hi = d->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->order[mid]->cookie <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ivshm_dent *ivshm_dir_next(const struct ivshm_dir *d, uint64_t cookie)
{
	uint32_t i = order_after(d, cookie);

	return i < d->count ? d->order[i] : NULL;
}

static struct ivshm_dir *dir_new(void)
{
	struct ivshm_dir *d = ivshm_alloc(sizeof(*d));

	if (!d)
		return NULL;
	d->hash_cap = 8;
	d->order_cap = 8;
	d->hash = ivshm_alloc(d->hash_cap * sizeof(*d->hash));
	d->order = ivshm_alloc(d->order_cap * sizeof(*d->order));
	/* Cookies 0 and 1 stand for "." and ".." in readdir. */
	d->next_cookie = 3;
	if (!d->hash || !d->order) {
		ivshm_free(d->hash);
		ivshm_free(d->order);
		ivshm_free(d);
		return NULL;
	}
	return d;
}

static void dir_free(struct ivshm_dir *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->count; i++)
		ivshm_free(d->order[i]);
	ivshm_free(d->hash);
	ivshm_free(d->order);
	ivshm_free(d);
}

static void dir_hash_put(struct ivshm_dent **h, uint32_t cap,
			 struct ivshm_dent *e)
{
	uint32_t mask = cap - 1, i;

	for (i = hash_name(e->name, e->name_len) & mask; h[i];
	     i = (i + 1) & mask)
		;
	h[i] = e;
}

static int dir_reserve(struct ivshm_dir *d)
{
	if ((d->count + 1) * 4 > d->hash_cap * 3) {
		uint32_t cap = d->hash_cap * 2;
		struct ivshm_dent **h = ivshm_alloc(cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		for (uint32_t i = 0; i < d->count; i++)
			dir_hash_put(h, cap, d->order[i]);
		ivshm_free(d->hash);
		d->hash = h;
		d->hash_cap = cap;
	}
	if (d->count + 1 > d->order_cap) {
		uint32_t cap = d->order_cap * 2;
		struct ivshm_dent **o = ivshm_alloc(cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		memcpy(o, d->order, d->count * sizeof(*o));
		ivshm_free(d->order);
		d->order = o;
		d->order_cap = cap;
	}
	return 0;
}

static int dir_add(struct ivshm_dir *d, const char *name, uint32_t len,
		   uint64_t child, uint8_t dtype)
{
	struct ivshm_dent *e;

	if (dir_reserve(d))
		return -ENOMEM;
	e = ivshm_alloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->child = child;
	e->dtype = dtype;
	e->name_len = (uint16_t)len;
	memcpy(e->name, name, len);
	e->cookie = d->next_cookie++;
	dir_hash_put(d->hash, d->hash_cap, e);
	d->order[d->count++] = e; /* cookies only grow: stays sorted */
	return 0;
}

static void dir_remove(struct ivshm_dir *d, struct ivshm_dent *e)
{
	uint32_t mask = d->hash_cap - 1, i, j, k;

	for (i = hash_name(e->name, e->name_len) & mask; d->hash[i] != e;
	     i = (i + 1) & mask)
		;
	d->hash[i] = NULL;
	for (j = (i + 1) & mask; d->hash[j]; j = (j + 1) & mask) {
		struct ivshm_dent *o = d->hash[j];
		uint32_t home = hash_name(o->name, o->name_len) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			d->hash[i] = o;
			d->hash[j] = NULL;
			i = j;
		}
	}
	k = order_after(d, e->cookie - 1);
	memmove(&d->order[k], &d->order[k + 1],
		(d->count - k - 1) * sizeof(*d->order));
	d->count--;
	ivshm_free(e);
}

/* ---- change tracking ---- */

static struct ivshm_change *chg_add(struct ivshm_index *x, uint32_t slot,
				    uint8_t kind, uint64_t ino)
{
	struct ivshm_change *c;

	if (!x->track || slot == x->self_slot || x->chg_overflow)
		return NULL;
	if (x->nchg == x->chg_cap) {
		uint32_t cap = x->chg_cap ? x->chg_cap * 2 : 64;
		struct ivshm_change *n;

		if (cap > CHG_MAX || !(n = ivshm_alloc(cap * sizeof(*n)))) {
			x->chg_overflow = true;
			return NULL;
		}
		if (x->nchg)
			memcpy(n, x->chg, x->nchg * sizeof(*n));
		ivshm_free(x->chg);
		x->chg = n;
		x->chg_cap = cap;
	}
	c = &x->chg[x->nchg++];
	memset(c, 0, offsetof(struct ivshm_change, name));
	c->kind = kind;
	c->ino = ino;
	return c;
}

/* ---- applying records ---- */

static void seg_live_change(void *arg, uint32_t seg, int64_t delta)
{
	struct ivshm_index *x = arg;

	if (seg < x->seg_count)
		x->seg_live[seg] += delta;
}

int ivshm_index_init(struct ivshm_index *x, const struct ivshm_geom *g)
{
	memset(x, 0, sizeof(*x));
	x->cap = 64;
	x->seg_count = g->seg_count;
	x->seg_size = g->seg_size;
	x->tab = ivshm_alloc(x->cap * sizeof(*x->tab));
	x->seg_live = ivshm_alloc(g->seg_count * sizeof(*x->seg_live));
	if (!x->tab || !x->seg_live) {
		ivshm_free(x->tab);
		ivshm_free(x->seg_live);
		return -ENOMEM;
	}
	return 0;
}

static void inode_free(struct ivshm_inode *n)
{
	ivshm_extmap_release(&n->ext);
	dir_free(n->dir);
	ivshm_free(n->link);
	for (uint32_t i = 0; i < n->nxattrs; i++) {
		ivshm_free(n->xattrs[i].name);
		ivshm_free(n->xattrs[i].value);
	}
	ivshm_free(n->xattrs);
	ivshm_free(n);
}

void ivshm_index_release(struct ivshm_index *x)
{
	for (uint64_t i = 0; i < x->cap; i++)
		if (x->tab[i])
			inode_free(x->tab[i]);
	ivshm_free(x->tab);
	ivshm_free(x->seg_live);
	ivshm_free(x->chg);
	memset(x, 0, sizeof(*x));
}

static bool valid_type(uint32_t mode)
{
	switch (mode & IVSHM_S_IFMT) {
	case IVSHM_S_IFREG:
	case IVSHM_S_IFDIR:
	case IVSHM_S_IFLNK:
	case IVSHM_S_IFCHR:
	case IVSHM_S_IFBLK:
	case IVSHM_S_IFIFO:
	case IVSHM_S_IFSOCK:
		return true;
	}
	return false;
}

static int anomaly(struct ivshm_index *x, const struct ivshm_rec *r,
		   const char *what)
{
	/* Logged once in a while: a hostile peer must not flood the log. */
	if (x->anomalies++ < 16)
		ivshm_log_err("record seq %llu (type %u, inode %llu) at segment "
			      "%u offset 0x%x ignored: %s\n",
			      (unsigned long long)r->hdr.seq, r->hdr.type,
			      (unsigned long long)r->hdr.ino, r->seg, r->off,
			      what);
	return 0;
}

static int apply_inode(struct ivshm_index *x, const struct ivshm_rec *r,
		       struct ivshm_inode *n)
{
	struct ivshm_rec_inode a;

	if (r->payload_len < sizeof(a))
		return anomaly(x, r, "short inode");
	memcpy(&a, r->payload, sizeof(a));
	if (!valid_type(a.mode) || !r->hdr.ino || a.size > IVSHM_MAX_FILE_SIZE)
		return anomaly(x, r, "bad inode attributes");
	if (n) {
		if ((n->a.mode & IVSHM_S_IFMT) != (a.mode & IVSHM_S_IFMT))
			return anomaly(x, r, "inode changes its type");
		/* A shrink drops the extents past the new end. */
		if (ivshm_is_reg(n) && a.size < n->a.size &&
		    ivshm_extmap_punch(&n->ext, a.size,
				       UINT64_MAX - a.size))
			return -ENOMEM;
		/* A size change is also a data change from the old end on. */
		if (ivshm_is_reg(n) && a.size != n->a.size) {
			struct ivshm_change *c = chg_add(x, r->hdr.slot,
							 IVSHM_CHG_DATA,
							 n->ino);

			if (c) {
				c->off = a.size < n->a.size ? a.size :
							      n->a.size;
				c->len = UINT64_MAX - c->off;
			}
		}
		n->a = a;
		n->seq = r->hdr.seq;
		chg_add(x, r->hdr.slot, IVSHM_CHG_ATTR, n->ino);
		return 0;
	}
	n = ivshm_alloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ino = r->hdr.ino;
	n->a = a;
	n->seq = r->hdr.seq;
	ivshm_extmap_init(&n->ext);
	n->ext.on_change = seg_live_change;
	n->ext.on_change_arg = x;
	if ((a.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR && !(n->dir = dir_new())) {
		ivshm_free(n);
		return -ENOMEM;
	}
	if (tab_insert(x, n)) {
		dir_free(n->dir);
		ivshm_free(n);
		return -ENOMEM;
	}
	if (n->ino > x->max_ino)
		x->max_ino = n->ino;
	return 0;
}

static bool valid_name(const char *s, uint32_t len)
{
	if (!len || len > IVSHM_NAME_MAX)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' &&
					   s[1] == '.'))
		return false;
	for (uint32_t i = 0; i < len; i++)
		if (s[i] == '/' || !s[i])
			return false;
	return true;
}

static int apply_dirent(struct ivshm_index *x, const struct ivshm_rec *r,
			struct ivshm_inode *dir)
{
	struct ivshm_rec_dirent d;
	struct ivshm_dent *e;
	struct ivshm_change *c;
	const char *name = (const char *)r->payload + sizeof(d);

	if (r->payload_len < sizeof(d))
		return anomaly(x, r, "short directory entry");
	memcpy(&d, r->payload, sizeof(d));
	if (d.name_len > r->payload_len - sizeof(d) ||
	    !valid_name(name, d.name_len))
		return anomaly(x, r, "bad name");
	if (!dir || !ivshm_is_dir(dir))
		return anomaly(x, r, "name in something that is not a "
				     "directory");
	if (d.child && !ivshm_index_get(x, d.child))
		return anomaly(x, r, "name for a missing inode");
	e = ivshm_dir_lookup(dir->dir, name, d.name_len);
	if (!d.child && !e)
		return anomaly(x, r, "removal of a missing name");
	if (e)
		dir_remove(dir->dir, e);
	if (d.child && dir_add(dir->dir, name, d.name_len, d.child, d.dtype))
		return -ENOMEM;
	if (d.child) {
		struct ivshm_inode *ch = ivshm_index_get(x, d.child);

		if (ivshm_is_dir(ch))
			ch->parent = dir->ino;
	}
	dir->seq = r->hdr.seq;
	c = chg_add(x, r->hdr.slot, IVSHM_CHG_NAME, dir->ino);
	if (c) {
		c->child = d.child;
		c->name_len = d.name_len;
		memcpy(c->name, name, d.name_len);
		c->name[d.name_len] = 0;
	}
	return 0;
}

static bool valid_place(const struct ivshm_index *x, uint32_t seg,
			uint32_t off, uint32_t len)
{
	return seg < x->seg_count && off <= x->seg_size &&
	       len <= x->seg_size - off;
}

static int apply_extent(struct ivshm_index *x, const struct ivshm_rec *r,
			struct ivshm_inode *n)
{
	struct ivshm_rec_extent e;
	struct ivshm_extent m;
	struct ivshm_change *c;

	if (r->payload_len < sizeof(e))
		return anomaly(x, r, "short extent");
	memcpy(&e, r->payload, sizeof(e));
	if (!n || !ivshm_is_reg(n))
		return anomaly(x, r, "extent of something that is not a file");
	if (!e.len || e.file_off > IVSHM_MAX_FILE_SIZE ||
	    e.len > IVSHM_MAX_FILE_SIZE - e.file_off ||
	    (!(e.flags & IVSHM_EXTENT_ZERO) &&
	     !valid_place(x, e.seg, e.seg_off, e.len)))
		return anomaly(x, r, "extent out of bounds");
	m = (struct ivshm_extent){ .off = e.file_off, .len = e.len,
				   .seg = e.seg, .seg_off = e.seg_off,
				   .flags = e.flags & IVSHM_EXTENT_ZERO };
	if (ivshm_extmap_map(&n->ext, &m))
		return -ENOMEM;
	n->seq = r->hdr.seq;
	c = chg_add(x, r->hdr.slot, IVSHM_CHG_DATA, n->ino);
	if (c) {
		c->off = e.file_off;
		c->len = e.len;
	}
	return 0;
}

static int apply_punch(struct ivshm_index *x, const struct ivshm_rec *r,
		       struct ivshm_inode *n)
{
	struct ivshm_rec_punch p;
	struct ivshm_change *c;

	if (r->payload_len < sizeof(p))
		return anomaly(x, r, "short punch");
	memcpy(&p, r->payload, sizeof(p));
	if (!n || !ivshm_is_reg(n) || !p.len || p.off > IVSHM_MAX_FILE_SIZE)
		return anomaly(x, r, "bad punch");
	if (p.len > UINT64_MAX - p.off)
		p.len = UINT64_MAX - p.off;
	if (ivshm_extmap_punch(&n->ext, p.off, p.len))
		return -ENOMEM;
	n->seq = r->hdr.seq;
	c = chg_add(x, r->hdr.slot, IVSHM_CHG_DATA, n->ino);
	if (c) {
		c->off = p.off;
		c->len = p.len;
	}
	return 0;
}

static int apply_move(struct ivshm_index *x, const struct ivshm_rec *r,
		      struct ivshm_inode *n)
{
	struct ivshm_rec_move m;

	if (r->payload_len < sizeof(m))
		return anomaly(x, r, "short move");
	memcpy(&m, r->payload, sizeof(m));
	/* A move of a file deleted meanwhile is normal: nothing to do. */
	if (!n || !ivshm_is_reg(n))
		return 0;
	if (!m.len || !valid_place(x, m.old_seg, m.old_off, m.len) ||
	    !valid_place(x, m.new_seg, m.new_off, m.len) ||
	    m.file_off > IVSHM_MAX_FILE_SIZE)
		return anomaly(x, r, "move out of bounds");
	return ivshm_extmap_move(&n->ext, m.file_off, m.len, m.old_seg,
				 m.old_off, m.new_seg, m.new_off) < 0 ?
		       -ENOMEM : 0;
}

static int apply_xattr(struct ivshm_index *x, const struct ivshm_rec *r,
		       struct ivshm_inode *n)
{
	struct ivshm_rec_xattr h;
	const char *name = (const char *)r->payload + sizeof(h);
	struct ivshm_xattr *xa = NULL;
	uint32_t i;

	if (r->payload_len < sizeof(h))
		return anomaly(x, r, "short xattr");
	memcpy(&h, r->payload, sizeof(h));
	if (!n || !h.name_len || h.name_len > IVSHM_XATTR_NAME_MAX ||
	    h.value_len > IVSHM_XATTR_VALUE_MAX ||
	    (uint64_t)h.name_len + h.value_len > r->payload_len - sizeof(h))
		return anomaly(x, r, "bad xattr");
	for (i = 0; i < n->nxattrs; i++)
		if (n->xattrs[i].name_len == h.name_len &&
		    !memcmp(n->xattrs[i].name, name, h.name_len))
			break;
	if (h.flags & IVSHM_XATTR_REMOVE) {
		if (i == n->nxattrs)
			return anomaly(x, r, "removal of a missing xattr");
		ivshm_free(n->xattrs[i].name);
		ivshm_free(n->xattrs[i].value);
		n->xattrs[i] = n->xattrs[--n->nxattrs];
	} else {
		char *nm = ivshm_alloc(h.name_len);
		void *val = ivshm_alloc(h.value_len ? h.value_len : 1);

		if (!nm || !val) {
			ivshm_free(nm);
			ivshm_free(val);
			return -ENOMEM;
		}
		if (i == n->nxattrs) {
			xa = ivshm_alloc((n->nxattrs + 1) * sizeof(*xa));
			if (!xa) {
				ivshm_free(nm);
				ivshm_free(val);
				return -ENOMEM;
			}
			if (n->nxattrs)
				memcpy(xa, n->xattrs, n->nxattrs * sizeof(*xa));
			ivshm_free(n->xattrs);
			n->xattrs = xa;
			n->nxattrs++;
		} else {
			ivshm_free(n->xattrs[i].name);
			ivshm_free(n->xattrs[i].value);
		}
		memcpy(nm, name, h.name_len);
		memcpy(val, name + h.name_len, h.value_len);
		n->xattrs[i] = (struct ivshm_xattr){ .name_len = h.name_len,
						     .value_len = h.value_len,
						     .name = nm, .value = val };
	}
	n->seq = r->hdr.seq;
	chg_add(x, r->hdr.slot, IVSHM_CHG_ATTR, n->ino);
	return 0;
}

static int apply_inline(struct ivshm_index *x, const struct ivshm_rec *r,
			struct ivshm_inode *n)
{
	struct ivshm_rec_inline h;
	char *t;

	if (r->payload_len < sizeof(h))
		return anomaly(x, r, "short inline data");
	memcpy(&h, r->payload, sizeof(h));
	if (!n || !ivshm_is_lnk(n) || !h.len || h.len > IVSHM_SYMLINK_MAX ||
	    h.len > r->payload_len - sizeof(h))
		return anomaly(x, r, "bad symlink target");
	t = ivshm_alloc(h.len + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, (const char *)r->payload + sizeof(h), h.len);
	ivshm_free(n->link);
	n->link = t;
	n->link_len = h.len;
	return 0;
}

static int apply_delete(struct ivshm_index *x, const struct ivshm_rec *r,
			struct ivshm_inode *n)
{
	if (!n)
		return anomaly(x, r, "deletion of a missing inode");
	if (n->ino == IVSHM_ROOT_INO)
		return anomaly(x, r, "deletion of the root");
	tab_remove(x, n->ino);
	chg_add(x, r->hdr.slot, IVSHM_CHG_GONE, n->ino);
	inode_free(n);
	return 0;
}

int ivshm_index_apply(void *arg, const struct ivshm_rec *r)
{
	struct ivshm_index *x = arg;
	struct ivshm_inode *n = ivshm_index_get(x, r->hdr.ino);

	x->records++;
	switch (r->hdr.type) {
	case IVSHM_REC_INODE:
		return apply_inode(x, r, n);
	case IVSHM_REC_DIRENT:
		return apply_dirent(x, r, n);
	case IVSHM_REC_EXTENT:
		return apply_extent(x, r, n);
	case IVSHM_REC_PUNCH:
		return apply_punch(x, r, n);
	case IVSHM_REC_MOVE:
		return apply_move(x, r, n);
	case IVSHM_REC_XATTR:
		return apply_xattr(x, r, n);
	case IVSHM_REC_INLINE:
		return apply_inline(x, r, n);
	case IVSHM_REC_DELETE:
		return apply_delete(x, r, n);
	default:
		return 0; /* CKPT_MARK and friends: nothing to index */
	}
}
