/* SPDX-License-Identifier: MIT */
/*
 * The file system on the store: POSIX namespace operations and file data,
 * each one atomic and, once it returns, visible to every operation that
 * starts later on any peer. Errors are negative errno values. Permission
 * checks are the caller's (FUSE's default_permissions, the VFS).
 */
#ifndef IVSHM_FS_H
#define IVSHM_FS_H

#include "index.h"
#include "store.h"

struct ivshm_fs;

struct ivshm_attr {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev, blocks; /* blocks of 512 bytes */
	int64_t atime, mtime, ctime, btime; /* ns */
	uint64_t generation;
};

/* setattr: which fields to change. */
#define IVSHM_SET_MODE (1u << 0)
#define IVSHM_SET_UID (1u << 1)
#define IVSHM_SET_GID (1u << 2)
#define IVSHM_SET_SIZE (1u << 3)
#define IVSHM_SET_ATIME (1u << 4)
#define IVSHM_SET_MTIME (1u << 5)
#define IVSHM_SET_ATIME_NOW (1u << 6)
#define IVSHM_SET_MTIME_NOW (1u << 7)
#define IVSHM_SET_CTIME (1u << 8)

struct ivshm_setattr {
	uint32_t valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime, mtime, ctime;
};

/* rename flags, the Linux values */
#define IVSHM_RENAME_NOREPLACE 1u
#define IVSHM_RENAME_EXCHANGE 2u

/* setxattr flags, the Linux values */
#define IVSHM_XATTR_CREATE 1
#define IVSHM_XATTR_REPLACE 2

/* fallocate modes, the Linux values */
#define IVSHM_FALLOC_KEEP_SIZE 0x01
#define IVSHM_FALLOC_PUNCH_HOLE 0x02
#define IVSHM_FALLOC_ZERO_RANGE 0x10

struct ivshm_statfs {
	uint64_t bsize, blocks, bfree, files, ffree, namemax;
};

typedef void (*ivshm_change_fn)(void *arg, const struct ivshm_change *c,
				unsigned int n, bool overflow);

struct ivshm_fs_opts {
	struct ivshm_attach_opts attach; /* apply/apply_arg are ours */
	ivshm_change_fn on_change;	 /* others' changes, after replay */
	void *on_change_arg;
};

int ivshm_fs_open(struct ivshm_device *dev, const struct ivshm_fs_opts *o,
		  struct ivshm_fs **out);
void ivshm_fs_close(struct ivshm_fs *fs);
struct ivshm_store *ivshm_fs_store(struct ivshm_fs *fs);

/* Catch up with the log (a doorbell rang): changes go to on_change. */
int ivshm_fs_refresh(struct ivshm_fs *fs);

int ivshm_fs_getattr(struct ivshm_fs *fs, uint64_t ino, struct ivshm_attr *a);
int ivshm_fs_lookup(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    struct ivshm_attr *a);
/* mknod, creat (regular), mkdir, by mode's type; O_EXCL always. */
int ivshm_fs_mknod(struct ivshm_fs *fs, uint64_t parent, const char *name,
		   uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev,
		   struct ivshm_attr *a);
int ivshm_fs_symlink(struct ivshm_fs *fs, uint64_t parent, const char *name,
		     const char *target, uint32_t uid, uint32_t gid,
		     struct ivshm_attr *a);
int ivshm_fs_link(struct ivshm_fs *fs, uint64_t ino, uint64_t parent,
		  const char *name, struct ivshm_attr *a);
/*
 * Remove a name. When the last link goes and @keep_open is set, the inode
 * stays as an orphan (nlink 0) until ivshm_fs_drop_orphan().
 */
int ivshm_fs_unlink(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    bool keep_open, uint64_t *removed_ino);
int ivshm_fs_rmdir(struct ivshm_fs *fs, uint64_t parent, const char *name);
int ivshm_fs_drop_orphan(struct ivshm_fs *fs, uint64_t ino);
int ivshm_fs_rename(struct ivshm_fs *fs, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, unsigned int flags,
		    bool keep_open, uint64_t *replaced_ino);
int ivshm_fs_setattr(struct ivshm_fs *fs, uint64_t ino,
		     const struct ivshm_setattr *sa, struct ivshm_attr *a);
int ivshm_fs_readlink(struct ivshm_fs *fs, uint64_t ino, char *buf,
		      size_t size);

/* Entries after @cookie (0 = from the start, "." and ".." included). */
typedef int (*ivshm_dirent_fn)(void *arg, const char *name, uint64_t ino,
			       uint32_t dtype, uint64_t next_cookie);
int ivshm_fs_readdir(struct ivshm_fs *fs, uint64_t ino, uint64_t cookie,
		     ivshm_dirent_fn fn, void *arg);

/* Bytes read (short at end of file), or -errno. */
int64_t ivshm_fs_read(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
		      void *buf, uint64_t len);
/*
 * Bytes written, or -errno. @off IVSHM_APPEND writes at the end of file as
 * the store knows it when the write commits (O_APPEND across peers).
 */
#define IVSHM_APPEND UINT64_MAX
int64_t ivshm_fs_write(struct ivshm_fs *fs, uint64_t ino, uint64_t off,
		       const void *buf, uint64_t len, struct ivshm_attr *a);
int ivshm_fs_fallocate(struct ivshm_fs *fs, uint64_t ino, int mode,
		       uint64_t off, uint64_t len);

int ivshm_fs_setxattr(struct ivshm_fs *fs, uint64_t ino, const char *name,
		      const void *value, uint32_t size, int flags);
/* Size of the value (copied if @size allows), or -errno (-ERANGE). */
int ivshm_fs_getxattr(struct ivshm_fs *fs, uint64_t ino, const char *name,
		      void *value, uint32_t size);
/* NUL-separated names; size needed, or -errno. */
int ivshm_fs_listxattr(struct ivshm_fs *fs, uint64_t ino, char *list,
		       uint32_t size);
int ivshm_fs_removexattr(struct ivshm_fs *fs, uint64_t ino, const char *name);

int ivshm_fs_statfs(struct ivshm_fs *fs, struct ivshm_statfs *st);

/* Write the index as a checkpoint now; the log behind it is freed. */
int ivshm_fs_checkpoint(struct ivshm_fs *fs);
/*
 * Clean up to @max_victims data segments: move their live bytes, free
 * them. Returns the number freed, or -errno.
 */
int ivshm_fs_clean(struct ivshm_fs *fs, unsigned int max_victims);

#endif
