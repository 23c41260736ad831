/* SPDX-License-Identifier: MIT */
/*
 * Userspace backends of the device interface (core/device.h).
 */
#ifndef IVSHM_DEV_USER_H
#define IVSHM_DEV_USER_H

#include "../device.h"

struct ivshm_peer_opts {
	int timeout_ms;		/* handshake deadline (default 5000) */
	/*
	 * Wait for this many own vectors (>= 1). The protocol never says how
	 * many vectors the server hands out: dev->vectors is a lower bound
	 * that may grow in ivshm_wait() unless this is set to the server's -n.
	 */
	unsigned int min_vectors;
	/* Membership news: from ivshm_peer_open() (the peers already there),
	 * then from ivshm_wait(), or from ivshm_ring() on any thread when it
	 * rings a peer it has not heard of yet: the callback must be
	 * thread-safe. */
	ivshm_peer_cb peer_cb;
	void *peer_cb_arg;
};

/*
 * Join the ivshm-server (or QEMU contrib server) listening on @socket_path
 * as a peer, exactly as a QEMU ivshmem-doorbell device does. Returns 0 and
 * the device in @out, or -errno after logging why (bad protocol version,
 * region not a power of two, silent server, ...).
 */
int ivshm_peer_open(const char *socket_path, const struct ivshm_peer_opts *o,
		    struct ivshm_device **out);

/* Map a region file read/write with no server and no doorbells. */
int ivshm_plain_open(const char *path, struct ivshm_device **out);

/* A device over memory the caller owns and keeps mapped. */
int ivshm_mem_open(void *region, uint64_t size, struct ivshm_device **out);

/*
 * An fd that polls readable whenever ivshm_wait() has something to report
 * (own vectors or membership news); -1 for a plain region.
 */
int ivshm_device_pollfd(struct ivshm_device *dev);

/* The eventfd of own vector @v, or -1: for callers who poll it directly. */
int ivshm_device_vector_fd(struct ivshm_device *dev, unsigned int v);

#endif
