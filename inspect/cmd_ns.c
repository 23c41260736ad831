// SPDX-License-Identifier: MIT
/*
 * ls, stat, cat, tree: the namespace as stored, read from the private
 * index of a snapshot (cat copies the file's data segments too).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "inspect.h"
#include "view.h"

#define MAX_LINKS 40		/* symbolic links followed in one path */
#define MAX_DEPTH 4096		/* directories deep, for tree */

/* ---- paths ---- */

/*
 * Resolve @path (absolute or relative to the root) in the index of @v.
 * Symbolic links are followed on the way, and at the end if @follow.
 * Returns 0 with *out, or an exit status after insp_fail().
 */
static int resolve(struct insp *in, struct view *v, const char *path,
		   bool follow, struct ivshm_inode **out)
{
	struct ivshm_index *x = &v->rp.x;
	struct ivshm_inode *cur = ivshm_index_get(x, IVSHM_ROOT_INO);
	char *rest = strdup(path);
	size_t pos = 0;
	unsigned int links = 0;
	int rc = EXIT_OK;

	if (!rest)
		return insp_fail(in, EXIT_FAIL, "out of memory");
	if (!cur) {
		free(rest);
		return insp_fail(in, EXIT_FAIL, "the store has no root "
				 "directory");
	}
	for (;;) {
		struct ivshm_inode *next;
		struct ivshm_dent *e;
		size_t len, end;
		bool last;
		char name[IVSHM_NAME_MAX * 4 + 8];

		while (rest[pos] == '/')
			pos++;
		if (!rest[pos])
			break;
		for (end = pos; rest[end] && rest[end] != '/'; end++)
			;
		len = end - pos;
		for (last = true, pos = end; rest[pos]; pos++)
			if (rest[pos] != '/') {
				last = false;
				break;
			}
		pos = end;
		if (len == 1 && rest[end - 1] == '.')
			continue;
		if (len == 2 && !memcmp(rest + end - 2, "..", 2)) {
			if (cur->ino != IVSHM_ROOT_INO && cur->parent &&
			    (next = ivshm_index_get(x, cur->parent)))
				cur = next;
			continue;
		}
		fmt_name(rest + end - len, len, name, sizeof(name));
		if (!ivshm_is_dir(cur)) {
			rc = insp_fail(in, EXIT_FAIL, "%s: not a directory on "
				       "the way to '%s'", path, name);
			break;
		}
		if (len > IVSHM_NAME_MAX ||
		    !(e = ivshm_dir_lookup(cur->dir, rest + end - len,
					   (uint32_t)len))) {
			rc = insp_fail(in, EXIT_FAIL, "%s: no such file or "
				       "directory ('%s' is not in directory "
				       "inode %llu)", path, name,
				       (unsigned long long)cur->ino);
			break;
		}
		next = ivshm_index_get(x, e->child);
		if (!next) {
			rc = insp_fail(in, EXIT_FAIL, "%s: '%s' names inode "
				       "%llu, which does not exist", path, name,
				       (unsigned long long)e->child);
			break;
		}
		if (ivshm_is_lnk(next) && next->link && (!last || follow)) {
			char *n;

			if (++links > MAX_LINKS) {
				rc = insp_fail(in, EXIT_FAIL, "%s: too many "
					       "levels of symbolic links",
					       path);
				break;
			}
			if (asprintf(&n, "%.*s/%s", (int)next->link_len,
				     next->link, rest + end) < 0) {
				rc = insp_fail(in, EXIT_FAIL, "out of memory");
				break;
			}
			free(rest);
			rest = n;
			pos = 0;
			if (next->link_len && next->link[0] == '/')
				cur = ivshm_index_get(x, IVSHM_ROOT_INO);
			continue;
		}
		cur = next;
	}
	free(rest);
	*out = cur;
	return rc;
}

/* Entries of a directory sorted by name (bytes), for stable output. */
static int cmp_dent(const void *a, const void *b)
{
	const struct ivshm_dent *x = *(const struct ivshm_dent *const *)a;
	const struct ivshm_dent *y = *(const struct ivshm_dent *const *)b;
	int c = memcmp(x->name, y->name,
		       x->name_len < y->name_len ? x->name_len : y->name_len);

	return c ? c : (int)x->name_len - (int)y->name_len;
}

static struct ivshm_dent **sorted(const struct ivshm_dir *d)
{
	struct ivshm_dent **v = malloc((d->count ? d->count : 1) * sizeof(*v));

	if (!v)
		return NULL;
	memcpy(v, d->order, d->count * sizeof(*v));
	qsort(v, d->count, sizeof(*v), cmp_dent);
	return v;
}

static char *fmt_time_ns(int64_t ns, char *buf, size_t len)
{
	char s[32];

	if (ns <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	snprintf(buf, len, "%s.%09lld", fmt_time(ns, s, sizeof(s)),
		 (long long)(ns % 1000000000));
	return buf;
}

/* Up to @max bytes as hex, "..." when there are more. */
static char *hex(const void *p, uint32_t n, char *buf, uint32_t max)
{
	const unsigned char *b = p;
	uint32_t i;

	for (i = 0; i < n && i < max; i++)
		sprintf(buf + 2 * i, "%02x", b[i]);
	strcpy(buf + 2 * i, n > max ? "..." : "");
	return buf;
}

/* Attributes shared by ls and stat in JSON. */
static void attr_json(struct json *j, const struct ivshm_inode *n)
{
	json_u64(j, "ino", n->ino);
	json_str(j, "type", fmt_type(n->a.mode));
	json_u64(j, "mode", n->a.mode);
	json_strf(j, "perm", "%04o", n->a.mode & 07777);
	json_u64(j, "nlink", n->a.nlink);
	json_u64(j, "uid", n->a.uid);
	json_u64(j, "gid", n->a.gid);
	json_u64(j, "size", n->a.size);
	json_u64(j, "rdev", n->a.rdev);
	json_i64(j, "atime_ns", n->a.atime);
	json_i64(j, "mtime_ns", n->a.mtime);
	json_i64(j, "ctime_ns", n->a.ctime);
	json_i64(j, "btime_ns", n->a.btime);
	if (n->link)
		json_name(j, "target", n->link, n->link_len);
	else
		json_null(j, "target");
}

/* ---- ls ---- */

static void ls_row(struct table *t, const struct ivshm_inode *n,
		   const char *name, size_t nlen, bool lng)
{
	char m[12], a[32], tm[32], buf[IVSHM_NAME_MAX * 4 + 8];
	char tgt[IVSHM_SYMLINK_MAX * 4 + 8];

	table_row(t);
	fmt_name(name, nlen, buf, sizeof(buf));
	if (!lng) {
		table_cell(t, "%s", buf);
		return;
	}
	if (!n) {
		table_cell(t, "??????????");
		for (int i = 0; i < 5; i++)
			table_cell(t, "?");
		table_cell(t, "%s (missing inode)", buf);
		return;
	}
	table_cell(t, "%s", fmt_mode(n->a.mode, m));
	table_cell(t, "%u", n->a.nlink);
	table_cell(t, "%u", n->a.uid);
	table_cell(t, "%u", n->a.gid);
	if ((n->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFCHR ||
	    (n->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFBLK)
		table_cell(t, "%s", fmt_rdev(n->a.rdev, a));
	else
		table_cell(t, "%s", fmt_size(n->a.size, a));
	table_cell(t, "%s", fmt_time(n->a.mtime, tm, sizeof(tm)));
	if (n->link)
		table_cell(t, "%s -> %s", buf,
			   fmt_name(n->link, n->link_len, tgt, sizeof(tgt)));
	else
		table_cell(t, "%s", buf);
}

static void ls_json(struct json *j, const struct ivshm_inode *n,
		    const char *name, size_t nlen, uint64_t child)
{
	json_obj_begin(j, NULL);
	json_name(j, "name", name, nlen);
	if (n) {
		attr_json(j, n);
	} else {
		json_u64(j, "ino", child);
		json_str(j, "type", "missing");
	}
	json_obj_end(j);
}

int cmd_ls(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "long", no_argument, NULL, 'l' },
		{ 0 },
	};
	const char *path = "/";
	bool lng = false;
	struct ivshm_inode *n;
	struct table t;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "l", lo)) != -1) {
		if (c != 'l')
			return EXIT_USAGE;
		lng = true;
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		return insp_usage(in, "one PATH at a time ('%s' is one too "
				  "many)", argv[optind]);
	rc = view_open(in, &v, VIEW_INDEX);
	if (!rc)
		rc = resolve(in, &v, path, true, &n);
	if (rc) {
		view_close(&v);
		return rc;
	}
	if (in->json) {
		struct json *j = insp_doc(in);

		json_str(j, "path", path);
		json_bool(j, "directory", ivshm_is_dir(n));
		json_arr_begin(j, "entries");
	}
	table_init(&t, lng ? 7 : 1, "lrrrrll");
	if (ivshm_is_dir(n)) {
		struct ivshm_dent **e = sorted(n->dir);

		if (!e) {
			view_close(&v);
			table_free(&t);
			return insp_fail(in, EXIT_FAIL, "out of memory");
		}
		for (uint32_t i = 0; i < n->dir->count; i++) {
			struct ivshm_inode *ch = ivshm_index_get(&v.rp.x,
								 e[i]->child);

			if (in->json)
				ls_json(insp_doc(in), ch, e[i]->name,
					e[i]->name_len, e[i]->child);
			else
				ls_row(&t, ch, e[i]->name, e[i]->name_len, lng);
		}
		free(e);
	} else if (in->json) {
		ls_json(insp_doc(in), n, path, strlen(path), n->ino);
	} else {
		ls_row(&t, n, path, strlen(path), lng);
	}
	if (in->json)
		json_arr_end(insp_doc(in));
	else
		table_print(&t, stdout, NULL);
	table_free(&t);
	view_close(&v);
	return EXIT_OK;
}

/* ---- stat ---- */

struct ext_out {
	struct json *j;
	struct table *t;
	const struct img *im;
};

static int ext_one(void *arg, const struct ivshm_extent *e)
{
	struct ext_out *o = arg;
	bool zero = e->flags & IVSHM_EXTENT_ZERO;

	if (o->j) {
		json_obj_begin(o->j, NULL);
		json_u64(o->j, "off", e->off);
		json_u64(o->j, "len", e->len);
		json_bool(o->j, "zero", zero);
		if (zero) {
			json_null(o->j, "seg");
			json_null(o->j, "seg_off");
			json_null(o->j, "region_off");
		} else {
			json_u64(o->j, "seg", e->seg);
			json_u64(o->j, "seg_off", e->seg_off);
			json_u64(o->j, "region_off",
				 img_seg_off(o->im, e->seg) + e->seg_off);
		}
		json_obj_end(o->j);
		return 0;
	}
	table_row(o->t);
	table_cell(o->t, "%llu", (unsigned long long)e->off);
	table_cell(o->t, "%u", e->len);
	if (zero) {
		table_cell(o->t, "zeroes");
		return 0;
	}
	table_cell(o->t, "%u", e->seg);
	table_cell(o->t, "0x%x", e->seg_off);
	table_cell(o->t, "0x%llx", (unsigned long long)(img_seg_off(o->im,
								    e->seg) +
							e->seg_off));
	return 0;
}

static void stat_text(const struct view *v, const char *path,
		      const struct ivshm_inode *n)
{
	struct table t, et;
	struct ext_out o = { .t = &et, .im = &v->im };
	char m[12], a[32], b[32], tm[48], buf[IVSHM_SYMLINK_MAX * 4 + 8];
	static const char *const tl[] = { "atime", "mtime", "ctime", "btime" };
	const int64_t tv[] = { n->a.atime, n->a.mtime, n->a.ctime, n->a.btime };

	table_init(&t, 2, "rl");
	table_row(&t);
	table_cell(&t, "path:");
	table_cell(&t, "%s", path);
	table_row(&t);
	table_cell(&t, "inode:");
	table_cell(&t, "%llu (%s), changed last by record seq %llu",
		   (unsigned long long)n->ino, fmt_type(n->a.mode),
		   (unsigned long long)n->seq);
	table_row(&t);
	table_cell(&t, "mode:");
	table_cell(&t, "%04o (%s)  links: %u  uid: %u  gid: %u",
		   n->a.mode & 07777, fmt_mode(n->a.mode, m), n->a.nlink,
		   n->a.uid, n->a.gid);
	table_row(&t);
	table_cell(&t, "size:");
	if (ivshm_is_reg(n))
		table_cell(&t, "%llu (%s), %s mapped in %llu extents",
			   (unsigned long long)n->a.size,
			   fmt_size(n->a.size, a),
			   fmt_size(ivshm_extmap_bytes(&n->ext), b),
			   (unsigned long long)ivshm_extmap_count(&n->ext));
	else
		table_cell(&t, "%llu", (unsigned long long)n->a.size);
	if ((n->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFCHR ||
	    (n->a.mode & IVSHM_S_IFMT) == IVSHM_S_IFBLK) {
		table_row(&t);
		table_cell(&t, "device:");
		table_cell(&t, "%s", fmt_rdev(n->a.rdev, a));
	}
	for (int i = 0; i < 4; i++) {
		table_row(&t);
		table_cell(&t, "%s:", tl[i]);
		table_cell(&t, "%s", fmt_time_ns(tv[i], tm, sizeof(tm)));
	}
	table_row(&t);
	table_cell(&t, "generation:");
	table_cell(&t, "%llu  flags: 0x%x", (unsigned long long)n->a.generation,
		   n->a.flags);
	if (ivshm_is_dir(n)) {
		table_row(&t);
		table_cell(&t, "entries:");
		table_cell(&t, "%u, parent inode %llu", n->dir->count,
			   (unsigned long long)n->parent);
	}
	if (n->link) {
		table_row(&t);
		table_cell(&t, "target:");
		table_cell(&t, "%s", fmt_name(n->link, n->link_len, buf,
					      sizeof(buf)));
	}
	for (uint32_t i = 0; i < n->nxattrs; i++) {
		const struct ivshm_xattr *x = &n->xattrs[i];
		char nm[IVSHM_XATTR_NAME_MAX * 4 + 8];

		table_row(&t);
		table_cell(&t, "%s", i ? "" : "xattrs:");
		fmt_name(x->name, x->name_len, nm, sizeof(nm));
		if (x->value_len <= 256 && fmt_is_text(x->value, x->value_len))
			table_cell(&t, "%s = \"%s\"", nm,
				   fmt_name(x->value, x->value_len, buf,
					    sizeof(buf)));
		else
			table_cell(&t, "%s = 0x%s (%u bytes)", nm,
				   hex(x->value, x->value_len, buf, 64),
				   x->value_len);
	}
	table_print(&t, stdout, NULL);
	table_free(&t);
	if (!ivshm_is_reg(n) || !ivshm_extmap_count(&n->ext))
		return;
	table_init(&et, 5, "rrrrr");
	table_row(&et);
	table_cell(&et, "FILE_OFF");
	table_cell(&et, "LEN");
	table_cell(&et, "SEG");
	table_cell(&et, "SEG_OFF");
	table_cell(&et, "REGION_OFF");
	ivshm_extmap_walk(&n->ext, ext_one, &o);
	printf("extents:\n");
	table_print(&et, stdout, "  ");
	table_free(&et);
}

static void stat_json(struct json *j, const struct view *v, const char *path,
		      const struct ivshm_inode *n)
{
	struct ext_out o = { .j = j, .im = &v->im };

	json_str(j, "path", path);
	json_obj_begin(j, "inode");
	attr_json(j, n);
	json_u64(j, "generation", n->a.generation);
	json_u64(j, "flags", n->a.flags);
	json_u64(j, "last_seq", n->seq);
	if (ivshm_is_dir(n)) {
		json_u64(j, "parent", n->parent);
		json_u64(j, "entries", n->dir->count);
	} else {
		json_null(j, "parent");
		json_null(j, "entries");
	}
	json_u64(j, "mapped_bytes",
		 ivshm_is_reg(n) ? ivshm_extmap_bytes(&n->ext) : 0);
	json_arr_begin(j, "xattrs");
	for (uint32_t i = 0; i < n->nxattrs; i++) {
		const struct ivshm_xattr *x = &n->xattrs[i];

		json_obj_begin(j, NULL);
		json_name(j, "name", x->name, x->name_len);
		json_hex(j, "value_hex", x->value, x->value_len);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_arr_begin(j, "extents");
	if (ivshm_is_reg(n))
		ivshm_extmap_walk(&n->ext, ext_one, &o);
	json_arr_end(j);
	json_obj_end(j);
}

int cmd_stat(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "follow", no_argument, NULL, 'L' },
		{ 0 },
	};
	bool follow = false;
	struct ivshm_inode *n;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "L", lo)) != -1) {
		if (c != 'L')
			return EXIT_USAGE;
		follow = true;
	}
	if (optind + 1 != argc)
		return insp_usage(in, optind < argc ? "one PATH at a time" :
				  "which PATH?");
	rc = view_open(in, &v, VIEW_INDEX);
	if (!rc)
		rc = resolve(in, &v, argv[optind], follow, &n);
	if (!rc) {
		if (in->json)
			stat_json(insp_doc(in), &v, argv[optind], n);
		else
			stat_text(&v, argv[optind], n);
	}
	view_close(&v);
	return rc;
}

/* ---- cat ---- */

static int want_extent(void *arg, const struct ivshm_extent *e)
{
	uint8_t *want = arg;

	if (!(e->flags & IVSHM_EXTENT_ZERO))
		want[e->seg] = 1;
	return 0;
}

struct sink {
	struct json *j;
};

static void put(struct sink *s, const void *p, size_t n)
{
	if (s->j)
		json_b64_write(s->j, p, n);
	else
		fwrite(p, 1, n, stdout);
}

static void put_zeros(struct sink *s, uint64_t n)
{
	static const char zero[65536];

	while (n) {
		size_t k = n < sizeof(zero) ? (size_t)n : sizeof(zero);

		put(s, zero, k);
		n -= k;
	}
}

/* The bytes of @n from 0 to its size: data, zero extents and holes. */
static void copy_out(const struct view *v, const struct ivshm_inode *n,
		     struct sink *s)
{
	uint64_t off = 0, size = n->a.size;
	struct ivshm_extent e;

	while (off < size) {
		uint64_t end, len;

		if (!ivshm_extmap_next(&n->ext, off, &e) || e.off >= size) {
			put_zeros(s, size - off);
			break;
		}
		if (e.off > off) {
			put_zeros(s, e.off - off);
			off = e.off;
		}
		end = e.off + e.len < size ? e.off + e.len : size;
		len = end - off;
		if (e.flags & IVSHM_EXTENT_ZERO || e.seg >= v->im.g.seg_count ||
		    (uint64_t)e.seg_off + e.len > v->im.g.seg_size)
			put_zeros(s, len);
		else
			put(s, v->im.mem + img_seg_off(&v->im, e.seg) +
				       e.seg_off + (off - e.off), (size_t)len);
		off = end;
	}
}

int cmd_cat(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = { { 0 } };
	struct ivshm_inode *n;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "", lo)) != -1)
		return EXIT_USAGE;
	if (optind + 1 != argc)
		return insp_usage(in, optind < argc ? "one PATH at a time" :
				  "which PATH?");
	for (unsigned int attempt = 1;; attempt++) {
		uint8_t *want;
		struct sink s = { 0 };

		rc = view_open(in, &v, VIEW_INDEX);
		if (!rc)
			rc = resolve(in, &v, argv[optind], true, &n);
		if (!rc && ivshm_is_dir(n))
			rc = insp_fail(in, EXIT_FAIL, "%s: is a directory",
				       argv[optind]);
		else if (!rc && !ivshm_is_reg(n))
			rc = insp_fail(in, EXIT_FAIL, "%s: not a regular file "
				       "(%s)", argv[optind],
				       fmt_type(n->a.mode));
		if (rc)
			break;
		want = calloc(v.im.g.seg_count, 1);
		if (!want) {
			rc = insp_fail(in, EXIT_FAIL, "out of memory");
			break;
		}
		ivshm_extmap_walk(&n->ext, want_extent, want);
		rc = view_fetch(in, &v, want);
		free(want);
		if (rc == -EAGAIN && attempt < IMG_TRIES) {
			view_close(&v);
			continue;
		}
		if (rc == -EAGAIN)
			rc = insp_fail(in, EXIT_BUSY, "%s: its data segments "
				       "were reused %u times while being read; "
				       "try again", argv[optind], attempt);
		if (rc)
			break;
		if (in->json) {
			s.j = insp_doc(in);
			json_str(s.j, "path", argv[optind]);
			json_u64(s.j, "ino", n->ino);
			json_u64(s.j, "size", n->a.size);
			json_b64_begin(s.j, "data_base64");
		}
		copy_out(&v, n, &s);
		if (s.j)
			json_b64_end(s.j);
		break;
	}
	view_close(&v);
	return rc;
}

/* ---- tree ---- */

struct tree {
	struct insp *in;
	struct view *v;
	uint64_t dirs, files;
	uint8_t *seen;		/* directories walked, by hash (cycles) */
	uint64_t *seen_ino;
	size_t seen_cap;
	char prefix[MAX_DEPTH * 4 + 8];
};

/* A directory met again (a cycle or a second name): true. */
static bool seen_before(struct tree *t, uint64_t ino)
{
	size_t mask = t->seen_cap - 1;

	for (size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ull) & mask;;
	     i = (i + 1) & mask) {
		if (!t->seen[i]) {
			t->seen[i] = 1;
			t->seen_ino[i] = ino;
			return false;
		}
		if (t->seen_ino[i] == ino)
			return true;
	}
}

static void tree_label(const struct ivshm_inode *n, const char *name,
		       size_t nlen)
{
	char tgt[IVSHM_SYMLINK_MAX * 4 + 8];

	fmt_put_name(stdout, name, nlen);
	if (!n) {
		fputs(" (missing inode)", stdout);
	} else if (ivshm_is_dir(n)) {
		putchar('/');
	} else if (n->link) {
		printf(" -> %s", fmt_name(n->link, n->link_len, tgt,
					  sizeof(tgt)));
	}
	putchar('\n');
}

static void tree_walk(struct tree *t, struct ivshm_inode *dir, int depth)
{
	struct json *j = t->in->json ? insp_doc(t->in) : NULL;
	size_t plen = strlen(t->prefix);
	struct ivshm_dent **e;

	if (j)
		json_arr_begin(j, "children");
	if (depth >= MAX_DEPTH || seen_before(t, dir->ino) ||
	    !(e = sorted(dir->dir))) {
		if (j)
			json_arr_end(j);
		if (!j)
			printf("%s`-- (not walked again)\n", t->prefix);
		return;
	}
	for (uint32_t i = 0; i < dir->dir->count; i++) {
		struct ivshm_inode *ch = ivshm_index_get(&t->v->rp.x,
							 e[i]->child);
		bool last = i + 1 == dir->dir->count;

		if (ch && ivshm_is_dir(ch))
			t->dirs++;
		else
			t->files++;
		if (j) {
			json_obj_begin(j, NULL);
			json_name(j, "name", e[i]->name, e[i]->name_len);
			json_u64(j, "ino", e[i]->child);
			json_str(j, "type", ch ? fmt_type(ch->a.mode) :
						 "missing");
			json_u64(j, "size", ch ? ch->a.size : 0);
			if (ch && ch->link)
				json_name(j, "target", ch->link, ch->link_len);
			if (ch && ivshm_is_dir(ch))
				tree_walk(t, ch, depth + 1);
			json_obj_end(j);
			continue;
		}
		printf("%s%s", t->prefix, last ? "`-- " : "|-- ");
		tree_label(ch, e[i]->name, e[i]->name_len);
		if (ch && ivshm_is_dir(ch)) {
			snprintf(t->prefix + plen, sizeof(t->prefix) - plen,
				 "%s", last ? "    " : "|   ");
			tree_walk(t, ch, depth + 1);
			t->prefix[plen] = 0;
		}
	}
	free(e);
	if (j)
		json_arr_end(j);
}

static int orphan(void *arg, struct ivshm_inode *n)
{
	struct tree *t = arg;
	char a[32];

	if (ivshm_is_dir(n) || n->a.nlink)
		return 0;
	if (t->in->json) {
		struct json *j = insp_doc(t->in);

		json_obj_begin(j, NULL);
		json_u64(j, "ino", n->ino);
		json_str(j, "type", fmt_type(n->a.mode));
		json_u64(j, "size", n->a.size);
		json_obj_end(j);
	} else {
		printf("orphan: inode %llu (%s, %s), unlinked while open\n",
		       (unsigned long long)n->ino, fmt_type(n->a.mode),
		       fmt_size(n->a.size, a));
	}
	return 0;
}

int cmd_tree(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = { { 0 } };
	struct tree t = { .in = in };
	const char *path = "/";
	struct ivshm_inode *n;
	struct view v;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "", lo)) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		return insp_usage(in, "one PATH at a time");
	rc = view_open(in, &v, VIEW_INDEX);
	if (!rc)
		rc = resolve(in, &v, path, true, &n);
	if (!rc && !ivshm_is_dir(n))
		rc = insp_fail(in, EXIT_FAIL, "%s: not a directory", path);
	if (rc) {
		view_close(&v);
		return rc;
	}
	t.v = &v;
	for (t.seen_cap = 64; t.seen_cap < v.rp.x.count * 2; t.seen_cap *= 2)
		;
	t.seen = calloc(t.seen_cap, 1);
	t.seen_ino = calloc(t.seen_cap, sizeof(*t.seen_ino));
	if (!t.seen || !t.seen_ino) {
		free(t.seen);
		free(t.seen_ino);
		view_close(&v);
		return insp_fail(in, EXIT_FAIL, "out of memory");
	}
	if (in->json) {
		struct json *j = insp_doc(in);

		json_str(j, "path", path);
		json_obj_begin(j, "tree");
		json_str(j, "name", path);
		json_u64(j, "ino", n->ino);
		json_str(j, "type", "dir");
		json_u64(j, "size", n->a.size);
		tree_walk(&t, n, 0);
		json_obj_end(j);
		json_u64(j, "dirs", t.dirs);
		json_u64(j, "files", t.files);
		json_arr_begin(j, "orphans");
		ivshm_index_walk(&v.rp.x, orphan, &t);
		json_arr_end(j);
	} else {
		printf("%s\n", path);
		tree_walk(&t, n, 0);
		printf("\n%llu director%s, %llu file%s\n",
		       (unsigned long long)t.dirs, t.dirs == 1 ? "y" : "ies",
		       (unsigned long long)t.files, t.files == 1 ? "" : "s");
		ivshm_index_walk(&v.rp.x, orphan, &t);
	}
	free(t.seen);
	free(t.seen_ino);
	view_close(&v);
	return EXIT_OK;
}
