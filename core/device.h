/* SPDX-License-Identifier: MIT */
/*
 * The ivshmem device interface: the one way the store and the FUSE daemon
 * reach the shared region and the doorbells, whatever is underneath it.
 *
 * Backends:
 *   - server peer (core/platform/dev_peer.c): a host process joins
 *     ivshm-server exactly like a QEMU ivshmem-doorbell device does;
 *   - plain (core/platform/dev_plain.c): a region file, no server, no
 *     doorbells (like QEMU's ivshmem-plain);
 *   - guest (later): the guest driver's character device.
 *
 * Semantics follow QEMU's device: a doorbell carries no payload, doorbells to
 * one vector coalesce, and a doorbell to an unknown peer or vector is dropped.
 */
#ifndef IVSHM_DEVICE_H
#define IVSHM_DEVICE_H

#include "platform.h"

/* Peer ids are 16 bits wide on the wire (the doorbell register's dest). */
#define IVSHM_MAX_PEER_ID 65535u
/* Our own limit on vectors per peer (QEMU's contrib server has the same). */
#define IVSHM_MAX_VECTORS 64u
/*
 * Own vectors a device model uses: wait() reports them as a mask in a
 * non-negative int64_t, so vector 63 cannot be one. A server offering 64
 * leaves the last unused (rings to it are dropped, as for any vector the
 * device does not have). ivshm itself uses vector 0 only.
 */
#define IVSHM_DEV_MAX_OWN_VECTORS 63u

struct ivshm_device;

enum ivshm_peer_event {
	IVSHM_PEER_JOINED, /* a peer's first vector arrived */
	IVSHM_PEER_LEFT,   /* the server announced its disconnection */
	IVSHM_SERVER_GONE, /* the server closed our socket */
};

typedef void (*ivshm_peer_cb)(void *arg, enum ivshm_peer_event ev,
			      unsigned int peer);

struct ivshm_device_ops {
	/* Ring @vector of @peer: 0, or -ENOENT when dropped (no such peer). */
	int (*ring)(struct ivshm_device *dev, unsigned int peer,
		    unsigned int vector);
	/*
	 * Wait up to @timeout_ms (-1 forever, 0 poll) for own vectors or
	 * membership news; membership news goes to the callback. Returns a
	 * mask of the vectors (0..62) that fired, 0 on timeout, or -errno.
	 */
	int64_t (*wait)(struct ivshm_device *dev, int timeout_ms);
	/* Live peers other than ourselves, into @ids; returns their count. */
	unsigned int (*peers)(struct ivshm_device *dev, uint16_t *ids,
			      unsigned int max);
	void (*close)(struct ivshm_device *dev);
};

struct ivshm_device {
	const struct ivshm_device_ops *ops;
	void *region;		/* the shared memory, mapped read/write */
	uint64_t size;		/* its size in bytes (a power of two) */
	int id;			/* own peer id, -1 for a plain region */
	unsigned int vectors;	/* own vectors (0 for a plain region) */
	ivshm_peer_cb peer_cb;	/* optional membership callback */
	void *peer_cb_arg;
};

static inline int ivshm_ring(struct ivshm_device *dev, unsigned int peer,
			     unsigned int vector)
{
	return dev->ops->ring(dev, peer, vector);
}

static inline int64_t ivshm_wait(struct ivshm_device *dev, int timeout_ms)
{
	return dev->ops->wait(dev, timeout_ms);
}

static inline unsigned int ivshm_peers(struct ivshm_device *dev,
				       uint16_t *ids, unsigned int max)
{
	return dev->ops->peers(dev, ids, max);
}

static inline void ivshm_device_close(struct ivshm_device *dev)
{
	if (dev)
		dev->ops->close(dev);
}

#endif
