// SPDX-License-Identifier: MIT
/* Extended attributes: kept per inode in the index, changed by XATTR records. */
#include "fs_int.h"

static struct ivshm_xattr *find(struct ivshm_inode *n, const char *name,
				uint32_t len)
{
	for (uint32_t i = 0; i < n->nxattrs; i++)
		if (n->xattrs[i].name_len == len &&
		    !memcmp(n->xattrs[i].name, name, len))
			return &n->xattrs[i];
	return NULL;
}

static int check_xname(const char *name, uint32_t *len)
{
	size_t n = strlen(name);

	if (!n || n > IVSHM_XATTR_NAME_MAX)
		return -ERANGE;
	*len = (uint32_t)n;
	return 0;
}

static int change(struct ivshm_fs *fs, uint64_t ino, const char *name,
		  const void *value, uint32_t size, int flags, bool remove)
{
	struct ivshm_rec_xattr h = { 0 };
	struct ivshm_rec_inode na;
	struct ivshm_inode *n;
	struct ivshm_txn *t;
	uint32_t len;
	char *buf = NULL;
	int rc = check_xname(name, &len);

	if (rc)
		return rc;
	if (size > IVSHM_XATTR_VALUE_MAX)
		return -E2BIG;
	if (!remove) {
		/* name and value travel as one payload part */
		buf = ivshm_alloc(len + size + 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, name, len);
		if (size)
			memcpy(buf + len, value, size);
	}
	rc = ivshm_txn_begin(fs->st, &t);
	if (rc) {
		ivshm_free(buf);
		return rc;
	}
	n = ivshm_index_get(&fs->x, ino);
	if (!n)
		rc = -ENOENT;
	else if (remove && !find(n, name, len))
		rc = -ENODATA;
	else if ((flags & IVSHM_XATTR_CREATE) && find(n, name, len))
		rc = -EEXIST;
	else if ((flags & IVSHM_XATTR_REPLACE) && !find(n, name, len))
		rc = -ENODATA;
	if (!rc) {
		h.name_len = (uint16_t)len;
		h.flags = remove ? IVSHM_XATTR_REMOVE : 0;
		h.value_len = remove ? 0 : size;
		rc = ivshm_txn_add(t, IVSHM_REC_XATTR, ino, &h, sizeof(h),
				   remove ? name : buf, len + h.value_len);
	}
	if (!rc) {
		na = n->a;
		na.ctime = ivshm_now_ns();
		rc = ivshm_fs_put_inode(t, ino, &na);
	}
	rc = ivshm_fs_end(fs, t, rc);
	ivshm_free(buf);
	return rc;
}

int ivshm_fs_setxattr(struct ivshm_fs *fs, uint64_t ino, const char *name,
		      const void *value, uint32_t size, int flags)
{
	return change(fs, ino, name, value, size, flags, false);
}

int ivshm_fs_removexattr(struct ivshm_fs *fs, uint64_t ino, const char *name)
{
	return change(fs, ino, name, NULL, 0, 0, true);
}

int ivshm_fs_getxattr(struct ivshm_fs *fs, uint64_t ino, const char *name,
		      void *value, uint32_t size)
{
	struct ivshm_inode *n;
	struct ivshm_xattr *xa;
	uint32_t len;
	int rc = check_xname(name, &len);

	if (rc)
		return rc;
	rc = ivshm_fs_enter(fs);
	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	xa = n ? find(n, name, len) : NULL;
	if (!n)
		rc = -ENOENT;
	else if (!xa)
		rc = -ENODATA;
	else if (size && size < xa->value_len)
		rc = -ERANGE;
	else {
		if (size)
			memcpy(value, xa->value, xa->value_len);
		rc = (int)xa->value_len;
	}
	ivshm_fs_leave(fs);
	return rc;
}

int ivshm_fs_listxattr(struct ivshm_fs *fs, uint64_t ino, char *list,
		       uint32_t size)
{
	struct ivshm_inode *n;
	uint32_t need = 0;
	int rc = ivshm_fs_enter(fs);

	if (rc)
		return rc;
	n = ivshm_index_get(&fs->x, ino);
	if (!n) {
		ivshm_fs_leave(fs);
		return -ENOENT;
	}
	for (uint32_t i = 0; i < n->nxattrs; i++)
		need += n->xattrs[i].name_len + 1u;
	if (size && size < need) {
		rc = -ERANGE;
	} else {
		if (size)
			for (uint32_t i = 0, p = 0; i < n->nxattrs; i++) {
				memcpy(list + p, n->xattrs[i].name,
				       n->xattrs[i].name_len);
				p += n->xattrs[i].name_len;
				list[p++] = 0;
			}
		rc = (int)need;
	}
	ivshm_fs_leave(fs);
	return rc;
}
