// SPDX-License-Identifier: MIT
/*
 * Fuzz target: arbitrary bytes written over a valid store, then verify,
 * attach (replay into an index) and a few reads. Whatever the bytes, the
 * result must be a clean answer (0 or an errno), never a crash, a hang or
 * an out-of-bounds access.
 *
 * Input: a list of patches, each [u32 offset LE][u8 length][bytes], laid
 * over a 1 MiB region that holds a small namespace with file data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dev_user.h"
#include "fs.h"
#include "verify.h"

#define REGION (1u << 20)

static unsigned char *base;

/* A store with a little of everything in it, built once. */
static void build_base(void)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct ivshm_fs_opts o = { .attach = { .format_if_blank = true,
					       .name = "fuzz" } };
	struct ivshm_attr d, f, l;
	char buf[3000];

	base = calloc(1, REGION);
	if (!base || ivshm_mem_open(base, REGION, &dev) ||
	    ivshm_fs_open(dev, &o, &fs))
		abort();
	memset(buf, 'q', sizeof(buf));
	if (ivshm_fs_mknod(fs, 1, "dir", IVSHM_S_IFDIR | 0755, 0, 0, 0, &d) ||
	    ivshm_fs_mknod(fs, d.ino, "file", IVSHM_S_IFREG | 0644, 0, 0, 0,
			   &f) ||
	    ivshm_fs_write(fs, f.ino, 0, buf, sizeof(buf), NULL) < 0 ||
	    ivshm_fs_write(fs, f.ino, 10000, buf, 100, NULL) < 0 ||
	    ivshm_fs_symlink(fs, 1, "link", "dir/file", 0, 0, &l) ||
	    ivshm_fs_setxattr(fs, f.ino, "user.x", "v", 1, 0) ||
	    ivshm_fs_link(fs, f.ino, 1, "hard", NULL) ||
	    ivshm_fs_rename(fs, 1, "hard", d.ino, "moved", 0, false, NULL) ||
	    ivshm_fs_unlink(fs, 1, "link", false, NULL))
		abort();
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	/* The slot this peer held is free again: a pristine image. */
}

struct names {
	uint64_t ino[64];
	unsigned int n;
};

/* Called under the fs lock: only collect, read afterwards. */
static int collect(void *arg, const char *name, uint64_t ino, uint32_t dtype,
		   uint64_t next)
{
	struct names *nm = arg;

	(void)name, (void)dtype, (void)next;
	if (nm->n < 64)
		nm->ino[nm->n++] = ino;
	return 0;
}

static void read_all(struct ivshm_fs *fs)
{
	struct names nm = { .n = 0 };
	struct ivshm_attr a;
	char buf[4096];

	ivshm_fs_readdir(fs, 1, 0, collect, &nm);
	for (unsigned int i = 0; i < nm.n; i++) {
		if (ivshm_fs_getattr(fs, nm.ino[i], &a))
			continue;
		if ((a.mode & IVSHM_S_IFMT) == IVSHM_S_IFREG)
			ivshm_fs_read(fs, nm.ino[i], 0, buf, sizeof(buf));
		if ((a.mode & IVSHM_S_IFMT) == IVSHM_S_IFDIR && nm.ino[i] != 1)
			ivshm_fs_readdir(fs, nm.ino[i], 0, collect, &nm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char *region;
	struct ivshm_verify_report rep;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct ivshm_fs_opts o = { .attach = { .name = "fuzz",
					       .lease_ms = 1,
					       .format_wait_ms = -1 } };

	if (!base) {
		build_base();
		region = malloc(REGION);
		if (!region)
			abort();
	}
	memcpy(region, base, REGION);
	while (size >= 5) {
		uint32_t off;
		uint8_t len;

		memcpy(&off, data, 4);
		len = data[4];
		data += 5;
		size -= 5;
		if (len > size)
			len = (uint8_t)size;
		off %= REGION;
		if (len > REGION - off)
			len = (uint8_t)(REGION - off);
		memcpy(region + off, data, len);
		data += len;
		size -= len;
	}
	ivshm_verify(region, REGION, &rep);
	if (ivshm_mem_open(region, REGION, &dev))
		abort();
	if (!ivshm_fs_open(dev, &o, &fs)) {
		read_all(fs);
		ivshm_fs_close(fs);
	}
	ivshm_device_close(dev);
	return 0;
}
