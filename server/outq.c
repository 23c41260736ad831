// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outq.h"
#include "ivshm_server.h"

void outq_init(struct outq *q)
{
	memset(q, 0, sizeof(*q));
}

static struct outq_msg *slot(struct outq *q, unsigned int i)
{
	return &q->msgs[(q->head + i) % q->cap];
}

void outq_release(struct outq *q)
{
	for (unsigned int i = 0; i < q->len; i++)
		if (slot(q, i)->fd >= 0)
			close(slot(q, i)->fd);
	free(q->msgs);
	outq_init(q);
}

static int grow(struct outq *q)
{
	unsigned int cap = q->cap ? q->cap * 2 : 64;
	struct outq_msg *m;

	if (q->cap >= IVSHM_SERVER_QUEUE_MAX)
		return -ENOBUFS;
	m = malloc(sizeof(*m) * cap);
	if (!m)
		return -ENOMEM;
	for (unsigned int i = 0; i < q->len; i++)
		m[i] = *slot(q, i);
	free(q->msgs);
	q->msgs = m;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int outq_push(struct outq *q, int64_t value, int fd)
{
	int dupfd = -1, rc;

	if (q->len == q->cap && (rc = grow(q)))
		return rc;
	/*
	 * A dup keeps the fd valid while queued, even if its owner leaves and
	 * the original is closed first.
	 */
	if (fd >= 0 && (dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -errno;
	*slot(q, q->len) = (struct outq_msg){ .value = value, .fd = dupfd };
	q->len++;
	return 0;
}

static void le64(int64_t v, unsigned char out[8])
{
	uint64_t u = (uint64_t)v;

	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(u >> (8 * i));
}

static ssize_t send_part(int sock, struct outq_msg *m, unsigned int sent)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	unsigned char bytes[8];
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	le64(m->value, bytes);
	iov.iov_base = bytes + sent;
	iov.iov_len = 8 - sent;
	if (m->fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &m->fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int outq_flush(struct outq *q, int sock)
{
	while (q->len) {
		struct outq_msg *m = slot(q, 0);
		ssize_t n = send_part(sock, m, q->sent);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		if (n > 0 && m->fd >= 0) {
			/* The fd went with these bytes: never send it twice. */
			close(m->fd);
			m->fd = -1;
		}
		q->sent += (unsigned int)n;
		if (q->sent < 8)
			continue;
		q->sent = 0;
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	return 0;
}
