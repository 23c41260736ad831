/* SPDX-License-Identifier: MIT */
/*
 * A client's queue of protocol messages not yet written to its socket.
 * Each message is 8 bytes (little-endian int64) with at most one fd, sent
 * by its own sendmsg() as QEMU expects. Partial writes resume where they
 * stopped; the fd goes with the first byte only.
 */
#ifndef IVSHM_SERVER_OUTQ_H
#define IVSHM_SERVER_OUTQ_H

#include <stdbool.h>
#include <stdint.h>

struct outq_msg {
	int64_t value;
	int fd; /* our own dup, closed once sent; -1 for none */
};

struct outq {
	struct outq_msg *msgs;
	unsigned int cap, head, len; /* a ring of cap slots */
	unsigned int sent;	     /* bytes of msgs[head] already sent */
};

void outq_init(struct outq *q);
void outq_release(struct outq *q);

/* Queue @value with a dup of @fd (-1: none). 0, or -errno. */
int outq_push(struct outq *q, int64_t value, int fd);

/*
 * Write what the socket takes now. Returns 0 when the queue is empty,
 * 1 when the socket is full (wait for POLLOUT), -errno on a dead socket.
 */
int outq_flush(struct outq *q, int sock);

static inline bool outq_empty(const struct outq *q)
{
	return q->len == 0;
}

#endif
