// SPDX-License-Identifier: MIT
/*
 * The plain backend: a region file mapped shared, no server, no doorbells
 * (QEMU's ivshmem-plain). Rings go nowhere; peers learn of changes by
 * re-reading the region, which is the truth in any case.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev_user.h"
#include "../units.h"

static int plain_ring(struct ivshm_device *dev, unsigned int peer,
		      unsigned int vector)
{
	(void)dev, (void)peer, (void)vector;
	return -ENOENT;
}

static int64_t plain_wait(struct ivshm_device *dev, int timeout_ms)
{
	(void)dev;
	if (timeout_ms)
		poll(NULL, 0, timeout_ms);
	return 0;
}

static unsigned int plain_peers(struct ivshm_device *dev, uint16_t *ids,
				unsigned int max)
{
	(void)dev, (void)ids, (void)max;
	return 0;
}

static void plain_close(struct ivshm_device *dev)
{
	if (dev->region)
		munmap(dev->region, (size_t)dev->size);
	free(dev);
}

static const struct ivshm_device_ops plain_ops = {
	.ring = plain_ring,
	.wait = plain_wait,
	.peers = plain_peers,
	.close = plain_close,
};

int ivshm_plain_open(const char *path, struct ivshm_device **out)
{
	struct ivshm_device *dev;
	struct stat st;
	char sz[32];
	void *p;
	int fd, rc;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		ivshm_log_err("cannot open region %s: %s\n", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ivshm_log_err("region %s is not a regular file\n", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size < 4096 || !ivshm_is_pow2((uint64_t)st.st_size)) {
		ivshm_log_err("region %s is %s: it must be a power of two of at "
			      "least 4 KiB\n", path,
			      ivshm_format_size((uint64_t)st.st_size, sz, 32));
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	rc = -errno;
	close(fd);
	if (p == MAP_FAILED) {
		ivshm_log_err("cannot map region %s: %s\n", path, strerror(-rc));
		return rc;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		munmap(p, (size_t)st.st_size);
		return -ENOMEM;
	}
	*dev = (struct ivshm_device){ .ops = &plain_ops, .region = p,
				      .size = (uint64_t)st.st_size, .id = -1 };
	*out = dev;
	return 0;
}
