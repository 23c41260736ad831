// SPDX-License-Identifier: MIT
/*
 * The handshake baseline: bare UNIX-socket connect, accept and close, with
 * a server thread whose loop has the ivshm server's shape (poll on the
 * listener and every client, EOF means gone) minus the protocol.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hs.h"

struct hs_raw {
	struct sockaddr_un sa;
	unsigned int peers;
	int lfd, stop_fd;
	int *cli;		/* client ends, main thread */
	int *conn;		/* server ends, server thread */
	unsigned int nconn;
	struct pollfd *pfd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long closed;	/* EOFs the server saw, guarded by @lock */
	uint64_t last_close;
};

static void accept_all(struct hs_raw *h)
{
	int64_t hello = 0; /* like the protocol version message */

	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (h->nconn >= h->peers ||
		    write(fd, &hello, sizeof(hello)) != sizeof(hello)) {
			close(fd);
			continue;
		}
		h->conn[h->nconn++] = fd;
	}
}

/* Close the clients that hung up (EOF); returns how many. */
static unsigned int reap_closed(struct hs_raw *h)
{
	unsigned int n = h->nconn, j = 0;
	char buf[64];

	for (unsigned int i = 0; i < n; i++) {
		int fd = h->conn[i];
		ssize_t got = 1;

		if (h->pfd[2 + i].revents)
			got = read(fd, buf, sizeof(buf));
		if (got == 0 || (got < 0 && errno != EAGAIN))
			close(fd);
		else
			h->conn[j++] = fd;
	}
	h->nconn = j;
	return n - j;
}

static void *serve(void *arg)
{
	struct hs_raw *h = arg;

	for (;;) {
		unsigned int n = h->nconn, gone;

		/* Rebuilt every time, as the ivshm server does. */
		h->pfd[0] = (struct pollfd){ .fd = h->stop_fd,
					     .events = POLLIN };
		h->pfd[1] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
		for (unsigned int i = 0; i < n; i++)
			h->pfd[2 + i] = (struct pollfd){ .fd = h->conn[i],
							 .events = POLLIN };
		if (poll(h->pfd, 2 + n, -1) < 0 && errno != EINTR)
			break;
		if (h->pfd[0].revents)
			break;
		gone = reap_closed(h);
		if (gone) {
			pthread_mutex_lock(&h->lock);
			h->closed += gone;
			h->last_close = bench_now_ns();
			pthread_cond_broadcast(&h->cond);
			pthread_mutex_unlock(&h->lock);
		}
		if (h->pfd[1].revents)
			accept_all(h);
	}
	return NULL;
}

static int listen_on(struct hs_raw *h, const char *sock)
{
	h->sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(h->sa.sun_path))
		return -1;
	strcpy(h->sa.sun_path, sock);
	h->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (h->lfd < 0)
		return -1;
	bench_cleanup_path(sock);
	unlink(sock); /* our own pid is in the name: a leftover is stale */
	if (bind(h->lfd, (struct sockaddr *)&h->sa, sizeof(h->sa)) ||
	    listen(h->lfd, 64))
		return -1;
	return 0;
}

struct hs_raw *hs_raw_new(const char *sock, unsigned int peers)
{
	struct hs_raw *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (!h)
		return NULL;
	h->peers = peers;
	h->lfd = h->stop_fd = -1;
	h->cli = calloc(peers, sizeof(int));
	h->conn = calloc(peers, sizeof(int));
	h->pfd = calloc(peers + 2, sizeof(struct pollfd));
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!h->cli || !h->conn || !h->pfd || h->stop_fd < 0 ||
	    listen_on(h, sock)) {
		fprintf(stderr, "raw baseline: cannot listen on %s: %s\n",
			sock, strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&h->thread, NULL, serve, h)) {
		fprintf(stderr, "raw baseline: cannot start its thread\n");
		goto fail;
	}
	return h;
fail:
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	free(h->cli);
	free(h->conn);
	free(h->pfd);
	free(h);
	return NULL;
}

/* Connect and read the server's hello: the client is then accepted. */
static int join(struct hs_raw *h)
{
	int64_t hello;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&h->sa, sizeof(h->sa)) ||
	    read(fd, &hello, sizeof(hello)) != sizeof(hello)) {
		int e = errno ? errno : EPIPE;

		close(fd);
		return -e;
	}
	return fd;
}

int hs_raw_round(struct hs_raw *h, struct hs_round *r, uint64_t *lat)
{
	unsigned long want;
	struct timespec dl;
	uint64_t t0, t1, t2, tl;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	want = h->closed + h->peers;
	pthread_mutex_unlock(&h->lock);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i < h->peers; i++) {
		uint64_t t = bench_now_ns();

		errno = 0;
		h->cli[i] = join(h);
		if (h->cli[i] < 0) {
			fprintf(stderr, "raw client %u of %u cannot connect: "
				"%s\n", i + 1, h->peers, strerror(-h->cli[i]));
			while (i--)
				close(h->cli[i]);
			return -1;
		}
		lat[i] = bench_now_ns() - t;
	}
	t1 = bench_now_ns();
	t2 = bench_now_ns();
	for (unsigned int i = 0; i < h->peers; i++)
		close(h->cli[i]);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&h->lock);
	while (h->closed < want && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&h->cond, &h->lock, &dl);
	tl = h->last_close;
	rc = h->closed >= want ? 0 : -1;
	pthread_mutex_unlock(&h->lock);
	if (rc) {
		fprintf(stderr, "raw baseline: the server saw only part of the "
			"closes\n");
		return -1;
	}
	/* Accepted before the client's read returned: up == joined. */
	r->join_s = r->up_s = (double)(t1 - t0) / 1e9;
	r->leave_s = (double)(tl - t2) / 1e9;
	return 0;
}

void hs_raw_free(struct hs_raw *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	if (write(h->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(h->thread, NULL);
	for (unsigned int i = 0; i < h->nconn; i++)
		close(h->conn[i]);
	close(h->lfd);
	unlink(h->sa.sun_path);
	close(h->stop_fd);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->cli);
	free(h->conn);
	free(h->pfd);
	free(h);
}
