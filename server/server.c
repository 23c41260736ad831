// SPDX-License-Identifier: MIT
/*
 * The doorbell server: peers, the handshake, and the event loop.
 *
 * Per new peer, in this order (QEMU 7.2 crashes on any other, see
 * docs/PROTOCOL.md): version 0; its id; -1 with the region fd; its vectors'
 * eventfds to every existing peer; every existing peer's eventfds to it;
 * then its own eventfds. A departure is announced as the id with no fd.
 *
 * Ids grow monotonically and are never reused while the server runs: QEMU
 * 7.2 writes into freed memory when a departed id comes back.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "outq.h"
#include "server_int.h"

#define MAX_ID 65535u

struct peer {
	struct peer *next;	/* connection order */
	int sock;
	unsigned int id;
	int efd[IVSHM_SERVER_MAX_VECTORS];
	struct outq q;
	bool dead;		/* to be disconnected by the loop */
};

struct ivshm_server {
	struct ivshm_server_config cfg;
	struct srv_region region;
	int listen_fd;
	int stop_fd;		/* eventfd: ivshm_server_stop() */
	struct peer *peers;	/* connection order */
	atomic_uint npeers;
	unsigned int next_id;	/* MAX_ID + 1 once exhausted */
	struct pollfd *pfds;
	struct peer **pfd_peer;
	unsigned int pfd_cap;
};

static bool verbose;
static bool to_syslog;

void srv_log(bool always, const char *fmt, ...)
{
	va_list ap;

	if (!always && !verbose)
		return;
	va_start(ap, fmt);
	if (to_syslog) {
		vsyslog(always ? LOG_ERR : LOG_INFO, fmt, ap);
	} else {
		fputs("ivshm-server: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
	va_end(ap);
}

void ivshm_server_log_to_syslog(void)
{
	openlog("ivshm-server", LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	/* Every peer holds vectors eventfds plus queued dups of others'. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct ivshm_server *ivshm_server_start(const struct ivshm_server_config *cfg)
{
	struct ivshm_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		srv_log(true, "out of memory\n");
		return NULL;
	}
	srv->cfg = *cfg;
	srv->listen_fd = srv->stop_fd = srv->region.fd = -1;
	verbose = cfg->verbose;
	raise_fd_limit();
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		srv_log(true, "eventfd: %s\n", strerror(errno));
		goto fail;
	}
	if (srv_region_open(cfg, &srv->region))
		goto fail;
	srv->listen_fd = srv_listen(cfg);
	if (srv->listen_fd < 0)
		goto fail;
	srv_log(false, "listening on %s, region %s, %u vector(s), at most %u "
		"peers\n", cfg->socket_path, srv->region.path, cfg->vectors,
		cfg->max_peers);
	return srv;
fail:
	if (srv->region.fd >= 0)
		close(srv->region.fd);
	/* Nothing of ours is left behind: a region we just made goes too. */
	if (srv->region.created)
		unlink(srv->region.path);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	free(srv);
	return NULL;
}

void ivshm_server_stop(struct ivshm_server *srv)
{
	uint64_t one = 1;
	ssize_t rc = write(srv->stop_fd, &one, sizeof(one));

	(void)rc; /* EAGAIN means a stop is already pending */
}

unsigned int ivshm_server_peer_count(struct ivshm_server *srv)
{
	return atomic_load(&srv->npeers);
}

const char *ivshm_server_region_path(struct ivshm_server *srv)
{
	return srv->region.path;
}

uint64_t ivshm_server_region_size(struct ivshm_server *srv)
{
	return srv->region.size;
}

/* Queue a message; a client that lets its queue overflow is dropped. */
static void send_msg(struct peer *p, int64_t value, int fd)
{
	int rc;

	if (p->dead)
		return;
	rc = outq_push(&p->q, value, fd);
	if (rc == -ENOBUFS)
		srv_log(true, "peer %u is not reading its socket (%u messages "
			"queued): disconnecting it\n", p->id,
			IVSHM_SERVER_QUEUE_MAX);
	else if (rc)
		srv_log(true, "peer %u: cannot queue a message: %s; "
			"disconnecting it\n", p->id, strerror(-rc));
	if (rc)
		p->dead = true;
}

static void free_peer(struct peer *p)
{
	for (unsigned int v = 0; v < IVSHM_SERVER_MAX_VECTORS; v++)
		if (p->efd[v] >= 0)
			close(p->efd[v]);
	outq_release(&p->q);
	if (p->sock >= 0)
		close(p->sock);
	free(p);
}

/* Unlink @p, tell the others it left (id, no fd), and free it. */
static void remove_peer(struct ivshm_server *srv, struct peer *p)
{
	struct peer **pp, *o;

	for (pp = &srv->peers; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	atomic_fetch_sub(&srv->npeers, 1);
	for (o = srv->peers; o; o = o->next)
		send_msg(o, p->id, -1);
	/* Best effort: what it can still take of its queue, then close. */
	outq_flush(&p->q, p->sock);
	srv_log(false, "peer %u left (%u connected)\n", p->id,
		atomic_load(&srv->npeers));
	free_peer(p);
}

static void refuse(int sock, const char *why)
{
	srv_log(true, "refusing a connection: %s\n", why);
	close(sock);
}

/* Returns 1 when nobody else is waiting to connect. */
static int handle_new_conn(struct ivshm_server *srv)
{
	unsigned int nv = srv->cfg.vectors;
	struct peer *p, *o, **tail;
	int sock;

	sock = accept4(srv->listen_fd, NULL, NULL,
		       SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EINTR)
			srv_log(true, "accept: %s\n", strerror(errno));
		return 1;
	}
	if (atomic_load(&srv->npeers) >= srv->cfg.max_peers) {
		char why[96];

		snprintf(why, sizeof(why), "already %u peers connected (-c %u)",
			 srv->cfg.max_peers, srv->cfg.max_peers);
		refuse(sock, why);
		return 0;
	}
	if (srv->next_id > MAX_ID) {
		refuse(sock, "all 65536 peer ids were used since the server "
			     "started (ids are never reused: QEMU cannot take "
			     "it); restart the server once guests are gone");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		refuse(sock, "out of memory");
		return 0;
	}
	p->sock = sock;
	for (unsigned int v = 0; v < IVSHM_SERVER_MAX_VECTORS; v++)
		p->efd[v] = -1;
	outq_init(&p->q);
	for (unsigned int v = 0; v < nv; v++) {
		p->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->efd[v] < 0) {
			srv_log(true, "eventfd for a new peer: %s\n",
				strerror(errno));
			p->sock = -1;
			free_peer(p);
			refuse(sock, "cannot create its eventfds");
			return 0;
		}
	}
	p->id = srv->next_id++;

	send_msg(p, 0, -1);			/* protocol version */
	send_msg(p, p->id, -1);			/* its id */
	send_msg(p, -1, srv->region.fd);	/* the region */
	for (o = srv->peers; o; o = o->next)
		for (unsigned int v = 0; v < nv; v++)
			send_msg(o, p->id, p->efd[v]);
	for (o = srv->peers; o; o = o->next)
		for (unsigned int v = 0; v < nv; v++)
			send_msg(p, o->id, o->efd[v]);
	for (unsigned int v = 0; v < nv; v++)
		send_msg(p, p->id, p->efd[v]);

	for (tail = &srv->peers; *tail; tail = &(*tail)->next)
		;
	*tail = p;
	atomic_fetch_add(&srv->npeers, 1);
	srv_log(false, "peer %u joined (%u connected)\n", p->id,
		atomic_load(&srv->npeers));
	return 0;
}

/* Clients never write: data or EOF on their socket means they are gone. */
static void handle_readable(struct peer *p)
{
	char buf[64];
	ssize_t n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		srv_log(true, "peer %u sent data (clients never write in this "
			"protocol): disconnecting it\n", p->id);
	p->dead = true;
}

static int build_pollfds(struct ivshm_server *srv)
{
	unsigned int n = 2 + atomic_load(&srv->npeers), i = 2;

	if (n > srv->pfd_cap) {
		struct pollfd *pf = realloc(srv->pfds, n * sizeof(*pf));
		struct peer **pp;

		if (!pf)
			return -ENOMEM;
		srv->pfds = pf;
		pp = realloc(srv->pfd_peer, n * sizeof(*pp));
		if (!pp)
			return -ENOMEM;
		srv->pfd_peer = pp;
		srv->pfd_cap = n;
	}
	srv->pfds[0] = (struct pollfd){ .fd = srv->stop_fd, .events = POLLIN };
	srv->pfds[1] = (struct pollfd){ .fd = srv->listen_fd,
					.events = POLLIN };
	for (struct peer *p = srv->peers; p; p = p->next, i++) {
		srv->pfds[i] = (struct pollfd){ .fd = p->sock,
						.events = POLLIN };
		if (!outq_empty(&p->q))
			srv->pfds[i].events |= POLLOUT;
		srv->pfd_peer[i] = p;
	}
	return (int)i;
}

/* Write queues, then drop the peers that died; repeat until stable. */
static void flush_and_reap(struct ivshm_server *srv)
{
	bool again = true;

	while (again) {
		again = false;
		for (struct peer *p = srv->peers; p; p = p->next) {
			int rc;

			if (p->dead)
				continue;
			rc = outq_flush(&p->q, p->sock);
			if (rc < 0) {
				srv_log(false, "peer %u: write failed: %s\n",
					p->id, strerror(-rc));
				p->dead = true;
			}
		}
		for (struct peer *p = srv->peers, *next; p; p = next) {
			next = p->next;
			if (p->dead) {
				remove_peer(srv, p);
				again = true; /* others got a new message */
			}
		}
	}
}

int ivshm_server_run(struct ivshm_server *srv)
{
	for (;;) {
		int n = build_pollfds(srv), rc;

		if (n < 0) {
			srv_log(true, "out of memory\n");
			return n;
		}
		rc = poll(srv->pfds, (nfds_t)n, -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			srv_log(true, "poll: %s\n", strerror(errno));
			return -errno;
		}
		if (srv->pfds[0].revents) {
			uint64_t v;
			ssize_t r = read(srv->stop_fd, &v, sizeof(v));

			(void)r;
			return 0;
		}
		for (int i = 2; i < n; i++) {
			struct peer *p = srv->pfd_peer[i];

			if (srv->pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
				handle_readable(p);
		}
		/* Departures first: they free room under the peer limit. */
		flush_and_reap(srv);
		/* A burst of joins is taken a few at a time, fairly. */
		for (int k = 0; k < 16 && (srv->pfds[1].revents & POLLIN); k++)
			if (handle_new_conn(srv))
				break;
		flush_and_reap(srv);
	}
}

void ivshm_server_close(struct ivshm_server *srv)
{
	if (!srv)
		return;
	/* Each departure is announced to the peers still connected. */
	while (srv->peers) {
		flush_and_reap(srv);
		if (srv->peers)
			remove_peer(srv, srv->peers);
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->cfg.socket_path);
	}
	/* The region holds users' data: closed, never unlinked. */
	if (srv->region.fd >= 0)
		close(srv->region.fd);
	close(srv->stop_fd);
	free(srv->pfds);
	free(srv->pfd_peer);
	free(srv);
}
