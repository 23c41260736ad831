// SPDX-License-Identifier: MIT
/*
 * Namespace operations. Each one runs as one transaction: the store lock
 * held and the index replayed to the head, so checks such as O_EXCL, an
 * empty directory or a rename loop see every other peer's last word.
 */
#include "fs_int.h"

/* Begin a transaction and look up @parent as a directory. */
static int begin_in_dir(struct ivshm_fs *fs, uint64_t parent,
			struct ivshm_txn **t, struct ivshm_inode **dir)
{
	int rc = ivshm_txn_begin(fs->st, t);

	if (rc)
		return rc;
	*dir = ivshm_index_get(&fs->x, parent);
	if (!*dir) {
		ivshm_txn_abort(*t);
		return -ENOENT;
	}
	if (!ivshm_is_dir(*dir)) {
		ivshm_txn_abort(*t);
		return -ENOTDIR;
	}
	return 0;
}

static struct ivshm_inode *child_of(struct ivshm_fs *fs,
				    struct ivshm_inode *dir, const char *name,
				    uint32_t len)
{
	struct ivshm_dent *e = ivshm_dir_lookup(dir->dir, name, len);

	return e ? ivshm_index_get(&fs->x, e->child) : NULL;
}

int ivshm_fs_lookup(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    struct ivshm_attr *a)
{
	struct ivshm_inode *dir, *n = NULL;
	uint32_t len;
	int rc = ivshm_fs_check_name(name, &len);

	if (rc)
		return rc;
	rc = ivshm_fs_enter(fs);
	if (rc)
		return rc;
	dir = ivshm_index_get(&fs->x, parent);
	if (!dir)
		rc = -ENOENT;
	else if (!ivshm_is_dir(dir))
		rc = -ENOTDIR;
	else if (!(n = child_of(fs, dir, name, len)))
		rc = -ENOENT;
	else
		ivshm_fs_fill_attr(n, a);
	ivshm_fs_leave(fs);
	return rc;
}

static struct ivshm_rec_inode inode_template(uint32_t mode, uint32_t uid,
					uint32_t gid, uint64_t seq)
{
	int64_t now = ivshm_now_ns();

	return (struct ivshm_rec_inode){
		.mode = mode, .uid = uid, .gid = gid,
		.nlink = (mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR ? 2 : 1,
		.atime = now, .mtime = now, .ctime = now, .btime = now,
		.generation = seq,
	};
}

/* Create @name in @parent: the new inode, its entry, the parent's times. */
static int create(struct ivshm_fs *fs, uint64_t parent, const char *name,
		  struct ivshm_rec_inode *ni, const char *target,
		  struct ivshm_attr *a)
{
	struct ivshm_rec_inline il = { 0 };
	struct ivshm_inode *dir;
	struct ivshm_rec_inode pa;
	struct ivshm_txn *t;
	uint64_t ino;
	uint32_t len;
	int rc = ivshm_fs_check_name(name, &len);

	if (rc)
		return rc;
	rc = begin_in_dir(fs, parent, &t, &dir);
	if (rc)
		return rc;
	if (ivshm_dir_lookup(dir->dir, name, len))
		return ivshm_fs_end(fs, t, -EEXIST);
	ino = fs->x.max_ino + 1;
	pa = dir->a;
	pa.mtime = pa.ctime = ni->ctime;
	if (ivshm_is_dir(dir) && (ni->mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR)
		pa.nlink++;
	/* set-gid directories hand down their group (and set-gid) */
	if (dir->a.mode & 02000) {
		ni->gid = dir->a.gid;
		if ((ni->mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR)
			ni->mode |= 02000;
	}
	if (target)
		il.len = ni->size = (uint32_t)strlen(target);
	rc = ivshm_fs_put_inode(t, ino, ni);
	if (!rc && target)
		rc = ivshm_txn_add(t, IVSHM_REC_INLINE, ino, &il, sizeof(il),
				   target, il.len);
	if (!rc)
		rc = ivshm_fs_put_dirent(t, parent, name, len, ino, ni->mode);
	if (!rc)
		rc = ivshm_fs_put_inode(t, parent, &pa);
	rc = ivshm_fs_end(fs, t, rc);
	if (!rc)
		ivshm_fs_attr_of(ino, ni, 0, a);
	return rc;
}

int ivshm_fs_mknod(struct ivshm_fs *fs, uint64_t parent, const char *name,
		   uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev,
		   struct ivshm_attr *a)
{
	struct ivshm_rec_inode ni;

	if (!(mode & IVSHM_S_IFMT))
		mode |= IVSHM_S_IFREG;
	if ((mode & IVSHM_S_IFMT) == IVSHM_S_IFLNK)
		return -EINVAL;
	ni = inode_template(mode, uid, gid, (uint64_t)ivshm_now_ns());
	ni.rdev = rdev;
	return create(fs, parent, name, &ni, NULL, a);
}

int ivshm_fs_symlink(struct ivshm_fs *fs, uint64_t parent, const char *name,
		     const char *target, uint32_t uid, uint32_t gid,
		     struct ivshm_attr *a)
{
	struct ivshm_rec_inode ni;
	size_t n = strlen(target);

	if (!n)
		return -ENOENT;
	if (n > IVSHM_SYMLINK_MAX)
		return -ENAMETOOLONG;
	ni = inode_template(IVSHM_S_IFLNK | 0777, uid, gid,
		       (uint64_t)ivshm_now_ns());
	return create(fs, parent, name, &ni, target, a);
}

int ivshm_fs_link(struct ivshm_fs *fs, uint64_t ino, uint64_t parent,
		  const char *name, struct ivshm_attr *a)
{
	struct ivshm_inode *dir, *n;
	struct ivshm_rec_inode na, pa;
	struct ivshm_txn *t;
	uint64_t blocks;
	uint32_t len;
	int rc = ivshm_fs_check_name(name, &len);

	if (rc)
		return rc;
	rc = begin_in_dir(fs, parent, &t, &dir);
	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (!n || !n->a.nlink)
		return ivshm_fs_end(fs, t, -ENOENT);
	if (ivshm_is_dir(n))
		return ivshm_fs_end(fs, t, -EPERM);
	if (n->a.nlink >= 65000)
		return ivshm_fs_end(fs, t, -EMLINK);
	if (ivshm_dir_lookup(dir->dir, name, len))
		return ivshm_fs_end(fs, t, -EEXIST);
	na = n->a;
	na.nlink++;
	na.ctime = ivshm_now_ns();
	pa = dir->a;
	pa.mtime = pa.ctime = na.ctime;
	rc = ivshm_fs_put_inode(t, ino, &na);
	if (!rc)
		rc = ivshm_fs_put_dirent(t, parent, name, len, ino, na.mode);
	if (!rc)
		rc = ivshm_fs_put_inode(t, parent, &pa);
	blocks = ivshm_is_reg(n) ? (ivshm_extmap_bytes(&n->ext) + 511) / 512 :
				   0;
	rc = ivshm_fs_end(fs, t, rc);
	if (!rc)
		ivshm_fs_attr_of(ino, &na, blocks, a);
	return rc;
}

/*
 * Drop one link of @n (its entry is being removed or replaced): a new
 * INODE record, or DELETE for the last link unless it stays open.
 */
static int drop_link(struct ivshm_txn *t, struct ivshm_inode *n,
		     bool keep_open, int64_t now)
{
	struct ivshm_rec_inode na = n->a;

	if (ivshm_is_dir(n) || na.nlink <= 1) {
		if (!keep_open || ivshm_is_dir(n))
			return ivshm_txn_add(t, IVSHM_REC_DELETE, n->ino, NULL,
					     0, NULL, 0);
		na.nlink = 0;
	} else {
		na.nlink--;
	}
	na.ctime = now;
	return ivshm_fs_put_inode(t, n->ino, &na);
}

static int remove_name(struct ivshm_fs *fs, uint64_t parent, const char *name,
		       bool want_dir, bool keep_open, uint64_t *removed)
{
	struct ivshm_inode *dir, *n;
	struct ivshm_rec_inode pa;
	struct ivshm_txn *t;
	int64_t now = ivshm_now_ns();
	uint32_t len;
	int rc = ivshm_fs_check_name(name, &len);

	if (rc)
		return rc;
	rc = begin_in_dir(fs, parent, &t, &dir);
	if (rc)
		return rc;
	n = child_of(fs, dir, name, len);
	if (!n)
		return ivshm_fs_end(fs, t, -ENOENT);
	if (want_dir && !ivshm_is_dir(n))
		return ivshm_fs_end(fs, t, -ENOTDIR);
	if (!want_dir && ivshm_is_dir(n))
		return ivshm_fs_end(fs, t, -EISDIR);
	if (want_dir && n->dir->count)
		return ivshm_fs_end(fs, t, -ENOTEMPTY);
	pa = dir->a;
	pa.mtime = pa.ctime = now;
	if (want_dir)
		pa.nlink--;
	if (removed)
		*removed = n->ino;
	rc = ivshm_fs_put_dirent(t, parent, name, len, 0, n->a.mode);
	if (!rc)
		rc = drop_link(t, n, keep_open, now);
	if (!rc)
		rc = ivshm_fs_put_inode(t, parent, &pa);
	return ivshm_fs_end(fs, t, rc);
}

int ivshm_fs_unlink(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    bool keep_open, uint64_t *removed_ino)
{
	return remove_name(fs, parent, name, false, keep_open, removed_ino);
}

int ivshm_fs_rmdir(struct ivshm_fs *fs, uint64_t parent, const char *name)
{
	if (!strcmp(name, "."))
		return -EINVAL;
	if (!strcmp(name, ".."))
		return -ENOTEMPTY;
	return remove_name(fs, parent, name, true, false, NULL);
}

int ivshm_fs_drop_orphan(struct ivshm_fs *fs, uint64_t ino)
{
	struct ivshm_txn *t;
	struct ivshm_inode *n;
	int rc = ivshm_txn_begin(fs->st, &t);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	/* Linked again meanwhile, or already gone: nothing to do. */
	if (!n || n->a.nlink)
		return ivshm_fs_end(fs, t, 0);
	rc = ivshm_txn_add(t, IVSHM_REC_DELETE, ino, NULL, 0, NULL, 0);
	return ivshm_fs_end(fs, t, rc);
}

/* Is @anc @dir itself or one of its ancestors? Bounded by the count. */
static bool is_ancestor(struct ivshm_fs *fs, uint64_t anc, uint64_t dir)
{
	for (uint64_t hops = 0; hops <= fs->x.count; hops++) {
		struct ivshm_inode *n;

		if (dir == anc)
			return true;
		if (dir == IVSHM_ROOT_INO)
			return false;
		n = ivshm_index_get(&fs->x, dir);
		if (!n)
			return false;
		dir = n->parent;
	}
	return true; /* a cycle: refuse, whatever it is */
}

static int rename_checks(struct ivshm_inode *src, struct ivshm_inode *dst,
			 unsigned int flags)
{
	if (flags & IVSHM_RENAME_EXCHANGE)
		return dst ? 0 : -ENOENT;
	if (!dst)
		return 0;
	if (flags & IVSHM_RENAME_NOREPLACE)
		return -EEXIST;
	if (ivshm_is_dir(src) && !ivshm_is_dir(dst))
		return -ENOTDIR;
	if (!ivshm_is_dir(src) && ivshm_is_dir(dst))
		return -EISDIR;
	if (ivshm_is_dir(dst) && dst->dir->count)
		return -ENOTEMPTY;
	return 0;
}

int ivshm_fs_rename(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, unsigned int flags,
		    bool keep_open, uint64_t *replaced_ino)
{
	struct ivshm_inode *od, *nd, *src, *dst;
	struct ivshm_rec_inode opa, npa, sa;
	struct ivshm_txn *t;
	int64_t now = ivshm_now_ns();
	uint32_t len, nlen;
	int rc;

	if ((flags & ~(IVSHM_RENAME_NOREPLACE | IVSHM_RENAME_EXCHANGE)) ||
	    flags == (IVSHM_RENAME_NOREPLACE | IVSHM_RENAME_EXCHANGE))
		return -EINVAL;
	rc = ivshm_fs_check_name(name, &len);
	if (!rc)
		rc = ivshm_fs_check_name(newname, &nlen);
	if (rc)
		return rc;
	rc = begin_in_dir(fs, parent, &t, &od);
	if (rc)
		return rc;
	nd = ivshm_index_get(&fs->x, newparent);
	if (!nd)
		return ivshm_fs_end(fs, t, -ENOENT);
	if (!ivshm_is_dir(nd))
		return ivshm_fs_end(fs, t, -ENOTDIR);
	src = child_of(fs, od, name, len);
	if (!src)
		return ivshm_fs_end(fs, t, -ENOENT);
	dst = child_of(fs, nd, newname, nlen);
	/* Onto itself (or another link of it): POSIX says do nothing. */
	if (src == dst && !(flags & IVSHM_RENAME_NOREPLACE))
		return ivshm_fs_end(fs, t, 0);
	rc = rename_checks(src, dst, flags);
	if (rc)
		return ivshm_fs_end(fs, t, rc);
	/* A directory cannot move below itself (nor, when exchanged, dst). */
	if ((ivshm_is_dir(src) && is_ancestor(fs, src->ino, newparent)) ||
	    ((flags & IVSHM_RENAME_EXCHANGE) && ivshm_is_dir(dst) &&
	     is_ancestor(fs, dst->ino, parent)))
		return ivshm_fs_end(fs, t, -EINVAL);
	if (replaced_ino)
		*replaced_ino = dst && !(flags & IVSHM_RENAME_EXCHANGE) ?
					dst->ino : 0;

	/*
	 * A parent's link count counts its subdirectories (their ".."):
	 * apply what moves in and out of each parent.
	 */
	{
		int dod = 0, dnd = 0;

		if (ivshm_is_dir(src)) {
			dod--;
			dnd++;
		}
		if (dst && ivshm_is_dir(dst)) {
			dnd--;
			if (flags & IVSHM_RENAME_EXCHANGE)
				dod++;
		}
		if (od == nd)
			dod += dnd;
		opa = od->a;
		opa.nlink = (uint32_t)((int64_t)opa.nlink + dod);
		opa.mtime = opa.ctime = now;
		npa = nd->a;
		npa.nlink = (uint32_t)((int64_t)npa.nlink + dnd);
		npa.mtime = npa.ctime = now;
	}
	sa = src->a;
	sa.ctime = now;

	if (flags & IVSHM_RENAME_EXCHANGE) {
		struct ivshm_rec_inode da = dst->a;

		da.ctime = now;
		rc = ivshm_fs_put_dirent(t, parent, name, len, dst->ino,
					 da.mode);
		if (!rc)
			rc = ivshm_fs_put_dirent(t, newparent, newname, nlen,
						 src->ino, sa.mode);
		if (!rc)
			rc = ivshm_fs_put_inode(t, dst->ino, &da);
	} else {
		rc = ivshm_fs_put_dirent(t, parent, name, len, 0, sa.mode);
		if (!rc && dst)
			rc = drop_link(t, dst, keep_open, now);
		if (!rc)
			rc = ivshm_fs_put_dirent(t, newparent, newname, nlen,
						 src->ino, sa.mode);
	}
	if (!rc)
		rc = ivshm_fs_put_inode(t, src->ino, &sa);
	if (!rc)
		rc = ivshm_fs_put_inode(t, parent, &opa);
	if (!rc && od != nd)
		rc = ivshm_fs_put_inode(t, newparent, &npa);
	return ivshm_fs_end(fs, t, rc);
}

int ivshm_fs_setattr(struct ivshm_fs *fs, uint64_t ino,
		     const struct ivshm_setattr *sa, struct ivshm_attr *a)
{
	struct ivshm_rec_inode na;
	struct ivshm_inode *n;
	struct ivshm_txn *t;
	uint64_t blocks;
	int64_t now = ivshm_now_ns();
	int rc = ivshm_txn_begin(fs->st, &t);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (!n)
		return ivshm_fs_end(fs, t, -ENOENT);
	na = n->a;
	if (sa->valid & IVSHM_SET_SIZE) {
		if (ivshm_is_dir(n))
			rc = -EISDIR;
		else if (!ivshm_is_reg(n))
			rc = -EINVAL;
		else if (sa->size > IVSHM_MAX_FILE_SIZE)
			rc = -EFBIG;
		if (rc)
			return ivshm_fs_end(fs, t, rc);
		if (sa->size != na.size)
			na.mtime = now;
		na.size = sa->size;
	}
	if (sa->valid & IVSHM_SET_MODE)
		na.mode = (na.mode & IVSHM_S_IFMT) | (sa->mode & 07777);
	if (sa->valid & IVSHM_SET_UID)
		na.uid = sa->uid;
	if (sa->valid & IVSHM_SET_GID)
		na.gid = sa->gid;
	if (sa->valid & IVSHM_SET_ATIME)
		na.atime = sa->atime;
	if (sa->valid & IVSHM_SET_ATIME_NOW)
		na.atime = now;
	if (sa->valid & IVSHM_SET_MTIME)
		na.mtime = sa->mtime;
	if (sa->valid & IVSHM_SET_MTIME_NOW)
		na.mtime = now;
	na.ctime = (sa->valid & IVSHM_SET_CTIME) ? sa->ctime : now;
	rc = ivshm_fs_put_inode(t, ino, &na);
	/* Blocks as they will be once a shrink dropped the tail (at most). */
	blocks = 0;
	if (ivshm_is_reg(n)) {
		blocks = ivshm_extmap_bytes(&n->ext);
		if (blocks > na.size)
			blocks = na.size;
		blocks = (blocks + 511) / 512;
	}
	rc = ivshm_fs_end(fs, t, rc);
	if (!rc)
		ivshm_fs_attr_of(ino, &na, blocks, a);
	return rc;
}

int ivshm_fs_readlink(struct ivshm_fs *fs, uint64_t ino, char *buf,
		      size_t size)
{
	struct ivshm_inode *n;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (!n)
		rc = -ENOENT;
	else if (!ivshm_is_lnk(n) || !n->link)
		rc = -EINVAL;
	else if (size <= n->link_len)
		rc = -ENAMETOOLONG;
	else {
		memcpy(buf, n->link, n->link_len);
		buf[n->link_len] = 0;
		rc = (int)n->link_len;
	}
	ivshm_fs_leave(fs);
	return rc;
}

int ivshm_fs_readdir(struct ivshm_fs *fs, uint64_t ino, uint64_t cookie,
		     ivshm_dirent_fn fn, void *arg)
{
	struct ivshm_inode *n;
	struct ivshm_dent *e;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (!n || !ivshm_is_dir(n)) {
		ivshm_fs_leave(fs);
		return n ? -ENOTDIR : -ENOENT;
	}
	/* Cookies 1 and 2 follow "." and ".."; entries start at 3. */
	if (cookie < 1 && fn(arg, ".", ino, 4, 1))
		goto out;
	if (cookie < 2 && fn(arg, "..", n->parent ? n->parent : ino, 4, 2))
		goto out;
	for (e = ivshm_dir_next(n->dir, cookie < 2 ? 2 : cookie); e;
	     e = ivshm_dir_next(n->dir, e->cookie)) {
		char name[IVSHM_NAME_MAX + 1];

		memcpy(name, e->name, e->name_len);
		name[e->name_len] = 0;
		if (fn(arg, name, e->child, e->dtype, e->cookie))
			break;
	}
out:
	ivshm_fs_leave(fs);
	return 0;
}
