/* SPDX-License-Identifier: MIT */
/*
 * Block volumes: a file of the store seen as a disk. Requests are ranges of
 * logical blocks (512 or 4096 bytes). Every request completes only once
 * committed to the log, so FLUSH and FUA need no extra work; DISCARD and
 * WRITE_ZEROES punch the range (it reads as zeroes and frees its space).
 * Freestanding like core/: the guest module compiles this file as is.
 */
#ifndef IVSHM_BLK_VOLUME_H
#define IVSHM_BLK_VOLUME_H

#include "../core/fs.h"

struct ivshm_volume {
	struct ivshm_fs *fs;
	uint64_t ino;
	uint64_t size;		/* bytes, a multiple of the block size */
	uint32_t block;		/* logical block size: 512 or 4096 */
};

/*
 * Open the regular file at absolute @path ("/vol.img") as a volume with
 * @block-byte blocks. Its size is the file's size rounded down to a block.
 */
int ivshm_volume_open(struct ivshm_fs *fs, const char *path, uint32_t block,
		      struct ivshm_volume *v);
/* Pick up a size change made by any peer (the file was resized). */
int ivshm_volume_refresh(struct ivshm_volume *v);

int ivshm_volume_read(struct ivshm_volume *v, uint64_t off, void *buf,
		      uint64_t len);
int ivshm_volume_write(struct ivshm_volume *v, uint64_t off, const void *buf,
		       uint64_t len);
int ivshm_volume_flush(struct ivshm_volume *v);
int ivshm_volume_discard(struct ivshm_volume *v, uint64_t off, uint64_t len);
int ivshm_volume_write_zeroes(struct ivshm_volume *v, uint64_t off,
			      uint64_t len);

/* Resolve an absolute path in the namespace: 0 with @a, or -errno. */
int ivshm_resolve(struct ivshm_fs *fs, const char *path, struct ivshm_attr *a);

#endif
