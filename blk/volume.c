// SPDX-License-Identifier: MIT
#include "volume.h"

int ivshm_resolve(struct ivshm_fs *fs, const char *path, struct ivshm_attr *a)
{
	char name[IVSHM_NAME_MAX + 1];
	int rc;

	if (*path != '/')
		return -EINVAL;
	rc = ivshm_fs_getattr(fs, IVSHM_ROOT_INO, a);
	while (!rc) {
		size_t n;

		while (*path == '/')
			path++;
		if (!*path)
			break;
		for (n = 0; path[n] && path[n] != '/'; n++)
			;
		if (n > IVSHM_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, path, n);
		name[n] = 0;
		path += n;
		rc = ivshm_fs_lookup(fs, a->ino, name, a);
	}
	return rc;
}

int ivshm_volume_refresh(struct ivshm_volume *v)
{
	struct ivshm_attr a;
	int rc = ivshm_fs_getattr(v->fs, v->ino, &a);

	if (rc)
		return rc;
	v->size = a.size - a.size % v->block;
	return 0;
}

int ivshm_volume_open(struct ivshm_fs *fs, const char *path, uint32_t block,
		      struct ivshm_volume *v)
{
	struct ivshm_attr a;
	int rc;

	if (block != 512 && block != 4096)
		return -EINVAL;
	rc = ivshm_resolve(fs, path, &a);
	if (rc)
		return rc;
	if ((a.mode & IVSHM_S_IFMT) != IVSHM_S_IFREG)
		return (a.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR ? -EISDIR :
								 -EINVAL;
	*v = (struct ivshm_volume){ .fs = fs, .ino = a.ino, .block = block };
	return ivshm_volume_refresh(v);
}

/* Whole blocks inside the volume, or -EINVAL / -EIO (past the end). */
static int check_range(const struct ivshm_volume *v, uint64_t off,
		       uint64_t len)
{
	if ((off | len) % v->block)
		return -EINVAL;
	if (off > v->size || len > v->size - off)
		return -EIO;
	return 0;
}

int ivshm_volume_read(struct ivshm_volume *v, uint64_t off, void *buf,
		      uint64_t len)
{
	int64_t n;
	int rc = check_range(v, off, len);

	if (rc)
		return rc;
	n = ivshm_fs_read(v->fs, v->ino, off, buf, len);
	if (n < 0)
		return (int)n;
	/* The file shrank under us: what is gone reads as zeroes. */
	if ((uint64_t)n < len)
		memset((char *)buf + n, 0, len - (uint64_t)n);
	return 0;
}

int ivshm_volume_write(struct ivshm_volume *v, uint64_t off, const void *buf,
		       uint64_t len)
{
	int64_t n;
	int rc = check_range(v, off, len);

	if (rc)
		return rc;
	n = ivshm_fs_write(v->fs, v->ino, off, buf, len, NULL);
	if (n < 0)
		return (int)n;
	return (uint64_t)n == len ? 0 : -ENOSPC;
}

int ivshm_volume_flush(struct ivshm_volume *v)
{
	/* Writes are committed when they return: catching up suffices. */
	return ivshm_fs_refresh(v->fs);
}

int ivshm_volume_discard(struct ivshm_volume *v, uint64_t off, uint64_t len)
{
	int rc = check_range(v, off, len);

	if (rc || !len)
		return rc;
	return ivshm_fs_fallocate(v->fs, v->ino, IVSHM_FALLOC_PUNCH_HOLE |
				  IVSHM_FALLOC_KEEP_SIZE, off, len);
}

int ivshm_volume_write_zeroes(struct ivshm_volume *v, uint64_t off,
			      uint64_t len)
{
	return ivshm_volume_discard(v, off, len);
}
