// SPDX-License-Identifier: MIT
/*
 * The FUSE low-level operations, each mapped onto the store's file system.
 * FUSE inode numbers are the store's: stable across peers and restarts.
 * Permission checks are the kernel's (default_permissions is always on).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "ivfuse.h"

static struct ivfuse *F(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ns since the epoch to a timespec, right before 1970 too (floor). */
static struct timespec ns_to_ts(int64_t ns)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	return (struct timespec){ .tv_sec = sec, .tv_nsec = rem };
}

static void to_stat(const struct ivshm_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_atim = ns_to_ts(a->atime);
	st->st_mtim = ns_to_ts(a->mtime);
	st->st_ctim = ns_to_ts(a->ctime);
}

static void fill_entry(struct ivfuse *f, const struct ivshm_attr *a,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	to_stat(a, &e->attr);
	e->attr_timeout = f->timeout;
	e->entry_timeout = f->timeout;
}

/* Reply with an entry, which the kernel now references once more. */
static void reply_entry(fuse_req_t req, const struct ivshm_attr *a)
{
	struct ivfuse *f = F(req);
	struct fuse_entry_param e;

	fill_entry(f, a, &e);
	ivf_ino_lookup(f, a->ino);
	if (fuse_reply_entry(req, &e))
		ivf_ino_forget(f, a->ino, 1); /* the request was interrupted */
}

static void ivf_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = 1u << 20;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Readdir results go stale only by others' changes: we say when. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Writes are committed when they return; no kernel write-back. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC arrives as a setattr(size 0), not as an open flag. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

static void ivf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ivfuse *f = F(req);
	struct ivshm_attr a;
	int rc = ivshm_fs_lookup(f->fs, parent, name, &a);

	if (rc == -ENOENT) {
		/* A negative entry: others' creations invalidate it. */
		struct fuse_entry_param e = { .entry_timeout = f->timeout };

		fuse_reply_entry(req, &e);
	} else if (rc) {
		fuse_reply_err(req, -rc);
	} else {
		reply_entry(req, &a);
	}
}

static void ivf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ivf_ino_forget(F(req), ino, nlookup);
	fuse_reply_none(req);
}

static void ivf_forget_multi(fuse_req_t req, size_t count,
			     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		ivf_ino_forget(F(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void ivf_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	struct ivshm_attr a;
	struct stat st;
	int rc = ivshm_fs_getattr(f->fs, ino, &a);

	(void)fi;
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	to_stat(&a, &st);
	fuse_reply_attr(req, &st, f->timeout);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void ivf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	struct ivshm_setattr sa = { 0 };
	struct ivshm_attr a;
	struct stat st;
	int rc;

	(void)fi;
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= IVSHM_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= IVSHM_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= IVSHM_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		sa.valid |= IVSHM_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa.valid |= IVSHM_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.valid |= IVSHM_SET_ATIME;
		sa.atime = ts_ns(&attr->st_atim);
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa.valid |= IVSHM_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.valid |= IVSHM_SET_MTIME;
		sa.mtime = ts_ns(&attr->st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.valid |= IVSHM_SET_CTIME;
		sa.ctime = ts_ns(&attr->st_ctim);
	}
	rc = ivshm_fs_setattr(f->fs, ino, &sa, &a);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	to_stat(&a, &st);
	fuse_reply_attr(req, &st, f->timeout);
}

static void ivf_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[IVSHM_SYMLINK_MAX + 1];
	int rc = ivshm_fs_readlink(F(req)->fs, ino, buf, sizeof(buf));

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void make(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ivshm_attr a;
	int rc = ivshm_fs_mknod(F(req)->fs, parent, name,
				mode & ~(ctx->umask & 0777), ctx->uid, ctx->gid,
				rdev, &a);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, &a);
}

static void ivf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	make(req, parent, name, mode, rdev);
}

static void ivf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	make(req, parent, name, S_IFDIR | (mode & 07777), 0);
}

static void ivf_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ivshm_attr a;
	int rc = ivshm_fs_symlink(F(req)->fs, parent, name, link, ctx->uid,
				  ctx->gid, &a);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, &a);
}

static void ivf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		     const char *name)
{
	struct ivshm_attr a;
	int rc = ivshm_fs_link(F(req)->fs, ino, parent, name, &a);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, &a);
}

/* An inode whose last name went while open here is kept until closed. */
static bool open_here(struct ivfuse *f, fuse_ino_t parent, const char *name)
{
	struct ivshm_attr a;

	return !ivshm_fs_lookup(f->fs, parent, name, &a) &&
	       ivf_ino_is_open(f, a.ino);
}

static void ivf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ivfuse *f = F(req);

	fuse_reply_err(req, -ivshm_fs_unlink(f->fs, parent, name,
					     open_here(f, parent, name),
					     NULL));
}

static void ivf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -ivshm_fs_rmdir(F(req)->fs, parent, name));
}

static void ivf_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct ivfuse *f = F(req);
	unsigned int fl = 0;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (void)fuse_reply_err(req, EINVAL);
	if (flags & RENAME_NOREPLACE)
		fl |= IVSHM_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		fl |= IVSHM_RENAME_EXCHANGE;
	fuse_reply_err(req, -ivshm_fs_rename(f->fs, parent, name, newparent,
					     newname, fl,
					     open_here(f, newparent, newname),
					     NULL));
}

static void ivf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	struct ivshm_attr a;
	int rc = ivshm_fs_getattr(f->fs, ino, &a);

	if (rc)
		return (void)fuse_reply_err(req, -rc);
	if (S_ISDIR(a.mode))
		return (void)fuse_reply_err(req, EISDIR);
	/* Others' writes invalidate our pages: the cache can be kept. */
	fi->keep_cache = 1;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	ivf_ino_open(f, ino);
	if (fuse_reply_open(req, fi))
		ivf_ino_close(f, ino);
}

static void ivf_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct ivshm_attr a;
	int rc = ivshm_fs_mknod(f->fs, parent, name,
				S_IFREG | (mode & 07777 & ~ctx->umask),
				ctx->uid, ctx->gid, 0, &a);

	/* Without O_EXCL an existing file is simply opened. */
	if (rc == -EEXIST && !(fi->flags & O_EXCL)) {
		rc = ivshm_fs_lookup(f->fs, parent, name, &a);
		if (!rc && S_ISDIR(a.mode))
			rc = -EISDIR;
	}
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fill_entry(f, &a, &e);
	fi->keep_cache = 1;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	ivf_ino_lookup(f, a.ino);
	ivf_ino_open(f, a.ino);
	if (fuse_reply_create(req, &e, fi)) {
		ivf_ino_close(f, a.ino);
		ivf_ino_forget(f, a.ino, 1);
	}
}

static void ivf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	int64_t n;

	(void)fi;
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	n = ivshm_fs_read(F(req)->fs, ino, (uint64_t)off, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void ivf_write_buf(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(in);
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
	void *data = NULL;
	int64_t n;

	if (in->count == 1 && !(in->buf[0].flags & FUSE_BUF_IS_FD)) {
		data = (char *)in->buf[0].mem + in->off;
	} else {
		data = malloc(size ? size : 1);
		if (!data)
			return (void)fuse_reply_err(req, ENOMEM);
		mem.buf[0].mem = data;
		n = fuse_buf_copy(&mem, in, 0);
		if (n < 0) {
			free(data);
			return (void)fuse_reply_err(req, (int)-n);
		}
		size = (size_t)n;
	}
	/* O_APPEND: at the store's end of file, not the kernel's guess. */
	n = ivshm_fs_write(F(req)->fs, ino,
			   fi && (fi->flags & O_APPEND) ? IVSHM_APPEND :
							  (uint64_t)off,
			   data, size, NULL);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	if (data != (char *)in->buf[0].mem + in->off)
		free(data);
}

static void ivf_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	struct ivshm_attr a;

	(void)fi;
	/* The last close of a file unlinked meanwhile deletes it. */
	if (ivf_ino_close(f, ino) && !ivshm_fs_getattr(f->fs, ino, &a) &&
	    !a.nlink)
		ivshm_fs_drop_orphan(f->fs, ino);
	fuse_reply_err(req, 0);
}

static void ivf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	(void)ino, (void)datasync, (void)fi;
	fuse_reply_err(req, 0); /* committed to the region on write */
}

static void ivf_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ivfuse *f = F(req);
	struct ivshm_attr a;
	int rc = ivshm_fs_getattr(f->fs, ino, &a);

	if (rc)
		return (void)fuse_reply_err(req, -rc);
	if (!S_ISDIR(a.mode))
		return (void)fuse_reply_err(req, ENOTDIR);
	fi->cache_readdir = 1; /* others' changes invalidate the listing */
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Entries are gathered under the store's lock, replied to after it. */
struct dent {
	uint64_t ino, next;
	uint32_t type;
	char name[IVSHM_NAME_MAX + 1];
};

struct gather {
	struct dent *d;
	size_t n, max;
};

static int gather(void *arg, const char *name, uint64_t ino, uint32_t dtype,
		  uint64_t next)
{
	struct gather *g = arg;

	if (g->n == g->max)
		return 1;
	g->d[g->n].ino = ino;
	g->d[g->n].next = next;
	g->d[g->n].type = dtype;
	strcpy(g->d[g->n].name, name);
	g->n++;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, bool plus)
{
	struct ivfuse *f = F(req);
	struct gather g = { .max = size / 24 + 1 };
	char *buf = malloc(size);
	size_t used = 0;
	int rc;

	g.d = malloc(g.max * sizeof(*g.d));
	if (!buf || !g.d) {
		free(buf);
		free(g.d);
		return (void)fuse_reply_err(req, ENOMEM);
	}
	rc = ivshm_fs_readdir(f->fs, ino, (uint64_t)off, gather, &g);
	for (size_t i = 0; !rc && i < g.n; i++) {
		struct dent *d = &g.d[i];
		bool dots = !strcmp(d->name, ".") || !strcmp(d->name, "..");
		size_t len;

		if (plus) {
			struct fuse_entry_param e;
			struct ivshm_attr a;

			if (ivshm_fs_getattr(f->fs, d->ino, &a))
				continue; /* removed meanwhile */
			fill_entry(f, &a, &e);
			len = fuse_add_direntry_plus(req, buf + used,
						     size - used, d->name, &e,
						     (off_t)d->next);
			if (len > size - used)
				break;
			if (!dots)
				ivf_ino_lookup(f, d->ino);
		} else {
			struct stat st = { .st_ino = d->ino,
					   .st_mode = d->type << 12 };

			len = fuse_add_direntry(req, buf + used, size - used,
						d->name, &st, (off_t)d->next);
			if (len > size - used)
				break;
		}
		used += len;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
	free(g.d);
}

static void ivf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, false);
}

static void ivf_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, true);
}

static void ivf_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, 0);
}

static void ivf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ivshm_statfs s;
	struct statvfs st = { 0 };
	int rc = ivshm_fs_statfs(F(req)->fs, &s);

	(void)ino;
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	st.f_bsize = st.f_frsize = s.bsize;
	st.f_blocks = s.blocks;
	st.f_bfree = st.f_bavail = s.bfree;
	st.f_files = s.files;
	st.f_ffree = st.f_favail = s.ffree;
	st.f_namemax = s.namemax;
	fuse_reply_statfs(req, &st);
}

/*
 * POSIX ACLs are not supported: refusing their xattrs makes tools fall
 * back to chmod (cp -a would otherwise "set" a mode that never applies).
 */
static bool is_acl(const char *name)
{
	return !strncmp(name, "system.posix_acl_", 17);
}

static void ivf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	if (is_acl(name))
		return (void)fuse_reply_err(req, EOPNOTSUPP);
	if (size > IVSHM_XATTR_VALUE_MAX)
		return (void)fuse_reply_err(req, E2BIG);
	fuse_reply_err(req, -ivshm_fs_setxattr(F(req)->fs, ino, name, value,
					       (uint32_t)size,
					       flags & (XATTR_CREATE |
							XATTR_REPLACE)));
}

static void ivf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	char *buf;
	int rc;

	if (is_acl(name))
		return (void)fuse_reply_err(req, EOPNOTSUPP);
	buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return (void)fuse_reply_err(req, ENOMEM);
	rc = ivshm_fs_getxattr(F(req)->fs, ino, name, buf,
			       size > UINT32_MAX ? UINT32_MAX : (uint32_t)size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (!size)
		fuse_reply_xattr(req, (size_t)rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	free(buf);
}

static void ivf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	int rc;

	if (size && !buf)
		return (void)fuse_reply_err(req, ENOMEM);
	rc = ivshm_fs_listxattr(F(req)->fs, ino, buf,
				size > UINT32_MAX ? UINT32_MAX :
						    (uint32_t)size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (!size)
		fuse_reply_xattr(req, (size_t)rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	free(buf);
}

static void ivf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -ivshm_fs_removexattr(F(req)->fs, ino, name));
}

static void ivf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			  off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)fi;
	if (off < 0 || len <= 0)
		return (void)fuse_reply_err(req, EINVAL);
	fuse_reply_err(req, -ivshm_fs_fallocate(F(req)->fs, ino, mode,
						(uint64_t)off, (uint64_t)len));
}

const struct fuse_lowlevel_ops ivf_ops = {
	.init = ivf_init,
	.lookup = ivf_lookup,
	.forget = ivf_forget,
	.forget_multi = ivf_forget_multi,
	.getattr = ivf_getattr,
	.setattr = ivf_setattr,
	.readlink = ivf_readlink,
	.mknod = ivf_mknod,
	.mkdir = ivf_mkdir,
	.symlink = ivf_symlink,
	.link = ivf_link,
	.unlink = ivf_unlink,
	.rmdir = ivf_rmdir,
	.rename = ivf_rename,
	.open = ivf_open,
	.create = ivf_create,
	.read = ivf_read,
	.write_buf = ivf_write_buf,
	/* No .flush: writes are committed when they return, and without it
	 * the kernel stops sending a FLUSH at every close. */
	.release = ivf_release,
	.fsync = ivf_fsync,
	.opendir = ivf_opendir,
	.readdir = ivf_readdir,
	.readdirplus = ivf_readdirplus,
	.releasedir = ivf_releasedir,
	.fsyncdir = ivf_fsync,
	.statfs = ivf_statfs,
	.setxattr = ivf_setxattr,
	.getxattr = ivf_getxattr,
	.listxattr = ivf_listxattr,
	.removexattr = ivf_removexattr,
	.fallocate = ivf_fallocate,
};
