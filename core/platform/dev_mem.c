// SPDX-License-Identifier: MIT
/*
 * A device over memory the caller owns (a test buffer, a saved image read
 * into memory): no server, no doorbells, nothing mapped or unmapped here.
 */
#include <stdlib.h>

#include "dev_user.h"

static int mem_ring(struct ivshm_device *dev, unsigned int peer,
		    unsigned int vector)
{
	(void)dev, (void)peer, (void)vector;
	return -ENOENT;
}

static int64_t mem_wait(struct ivshm_device *dev, int timeout_ms)
{
	(void)dev, (void)timeout_ms;
	return 0;
}

static unsigned int mem_peers(struct ivshm_device *dev, uint16_t *ids,
			      unsigned int max)
{
	(void)dev, (void)ids, (void)max;
	return 0;
}

static void mem_close(struct ivshm_device *dev)
{
	free(dev);
}

static const struct ivshm_device_ops mem_ops = {
	.ring = mem_ring,
	.wait = mem_wait,
	.peers = mem_peers,
	.close = mem_close,
};

int ivshm_mem_open(void *region, uint64_t size, struct ivshm_device **out)
{
	struct ivshm_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	*dev = (struct ivshm_device){ .ops = &mem_ops, .region = region,
				      .size = size, .id = -1 };
	*out = dev;
	return 0;
}
