// SPDX-License-Identifier: MIT
/*
 * The device model: a host process joins ivshm-server as a peer, like a QEMU
 * ivshmem-doorbell device. It receives its id, the region fd (mapped here),
 * its own eventfd per vector and every other peer's eventfds, then follows
 * joins and departures. Rings write the peer's eventfd; like QEMU, a ring to
 * an unknown peer or vector is dropped, and rings to one vector coalesce.
 *
 * Threads: ring() and peers() from any thread; wait() from one thread at a
 * time. The table of peers is guarded by a rwlock so that a ring never
 * writes to an fd that a departure has just closed (and maybe reused).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dev_user.h"
#include "../units.h"

#define SOCK_TAG UINT64_MAX /* epoll tag of the server socket */

struct remote {
	unsigned int nfds;
	int fds[IVSHM_MAX_VECTORS];
};

struct peer_dev {
	struct ivshm_device dev;
	int sock;		/* -1 once the server is gone */
	int epfd;
	pthread_rwlock_t lock;	/* protects remotes, nremotes, own */
	pthread_mutex_t sock_mu; /* one reader of the socket at a time */
	struct remote **remotes; /* indexed by peer id, grown on demand */
	unsigned int nremotes;
	int own[IVSHM_MAX_VECTORS];
	/*
	 * wait() polls these (slot 0: the socket, -1 once gone; then own
	 * vectors): poll() wakes measurably faster than epoll_wait(). epfd
	 * stays for callers who want one fd (ivshm_device_pollfd).
	 */
	struct pollfd pfd[1 + IVSHM_MAX_VECTORS];
	/* Partial message being received: bytes and any fd that came early. */
	unsigned char rbuf[8];
	unsigned int rlen;
	int rfd;
};

static const struct ivshm_device_ops peer_ops;

static struct peer_dev *to_peer(struct ivshm_device *dev)
{
	return (struct peer_dev *)dev;
}

static void notify(struct peer_dev *pd, enum ivshm_peer_event ev,
		   unsigned int peer)
{
	if (pd->dev.peer_cb)
		pd->dev.peer_cb(pd->dev.peer_cb_arg, ev, peer);
}

/*
 * Receive at most one message. Returns 1 with @val/@fd filled, 0 when no
 * complete message is available yet, -EPIPE on EOF, or -errno.
 */
static int recv_msg(struct peer_dev *pd, int64_t *val, int *fd)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { pd->rbuf + pd->rlen, 8 - pd->rlen };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;

	n = recvmsg(pd->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			/* One fd per message: keep the first, as QEMU does. */
			if (pd->rfd < 0)
				pd->rfd = f;
			else
				close(f);
		}
	}
	if (n == 0)
		return -EPIPE;
	pd->rlen += (unsigned int)n;
	if (pd->rlen < 8)
		return 0;
	*val = 0;
	for (int i = 7; i >= 0; i--)
		*val = (int64_t)(((uint64_t)*val << 8) | pd->rbuf[i]);
	*fd = pd->rfd;
	pd->rlen = 0;
	pd->rfd = -1;
	return 1;
}

static struct remote *remote_get(struct peer_dev *pd, unsigned int id,
				 bool create)
{
	if (id >= pd->nremotes) {
		unsigned int n = pd->nremotes ? pd->nremotes : 16;
		struct remote **r;

		if (!create)
			return NULL;
		while (n <= id)
			n *= 2;
		r = realloc(pd->remotes, n * sizeof(*r));
		if (!r)
			return NULL;
		memset(r + pd->nremotes, 0, (n - pd->nremotes) * sizeof(*r));
		pd->remotes = r;
		pd->nremotes = n;
	}
	if (!pd->remotes[id] && create)
		pd->remotes[id] = calloc(1, sizeof(struct remote));
	return pd->remotes[id];
}

static int add_own_vector(struct peer_dev *pd, int fd)
{
	unsigned int v = pd->dev.vectors;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = v };

	if (v >= IVSHM_DEV_MAX_OWN_VECTORS) {
		ivshm_log_err("server sent more than %u own vectors; ignoring "
			      "the extra one\n", IVSHM_DEV_MAX_OWN_VECTORS);
		close(fd);
		return 0;
	}
	if (epoll_ctl(pd->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return -errno;
	}
	pd->own[v] = fd;
	pd->pfd[1 + v] = (struct pollfd){ .fd = fd, .events = POLLIN };
	pd->dev.vectors = v + 1;
	return 0;
}

/* Apply one protocol message after the handshake's first two. */
static int process_msg(struct peer_dev *pd, int64_t val, int fd)
{
	enum ivshm_peer_event ev = IVSHM_PEER_JOINED;
	bool tell = false;
	struct remote *r;
	int rc = 0;

	if (val < -1 || val > (int64_t)IVSHM_MAX_PEER_ID) {
		ivshm_log_err("server sent invalid message %lld\n",
			      (long long)val);
		if (fd >= 0)
			close(fd);
		return 0; /* QEMU only reports these, and so do we */
	}
	if (val == -1) {
		if (fd >= 0)
			close(fd);
		if (pd->dev.region) {
			ivshm_log_err("server sent a second region; ignored\n");
			return 0;
		}
		return -EPROTO; /* the handshake handles the first one */
	}
	pthread_rwlock_wrlock(&pd->lock);
	if (val == pd->dev.id) {
		if (fd >= 0)
			rc = add_own_vector(pd, fd);
		else
			ivshm_log_err("server announced our own departure\n");
	} else if (fd >= 0) {
		r = remote_get(pd, (unsigned int)val, true);
		if (!r) {
			close(fd);
			rc = -ENOMEM;
		} else if (r->nfds >= IVSHM_MAX_VECTORS) {
			close(fd);
		} else {
			r->fds[r->nfds++] = fd;
			tell = r->nfds == 1;
		}
	} else {
		r = remote_get(pd, (unsigned int)val, false);
		if (r) {
			for (unsigned int v = 0; v < r->nfds; v++)
				close(r->fds[v]);
			free(r);
			pd->remotes[val] = NULL;
			ev = IVSHM_PEER_LEFT;
			tell = true;
		}
	}
	pthread_rwlock_unlock(&pd->lock);
	if (tell)
		notify(pd, ev, (unsigned int)val);
	return rc;
}

/* Process every complete message available now. 0, or -errno. */
static int drain_socket(struct peer_dev *pd)
{
	int64_t val;
	int fd, rc;

	while (pd->sock >= 0) {
		rc = recv_msg(pd, &val, &fd);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			epoll_ctl(pd->epfd, EPOLL_CTL_DEL, pd->sock, NULL);
			close(pd->sock);
			pd->sock = -1;
			pd->pfd[0].fd = -1;
			notify(pd, IVSHM_SERVER_GONE, 0);
			return rc == -EPIPE ? 0 : rc;
		}
		rc = process_msg(pd, val, fd);
		if (rc)
			return rc;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for the next message until @deadline; 1, 0 on timeout, -errno. */
static int recv_sync(struct peer_dev *pd, int64_t deadline, int64_t *val,
		     int *fd)
{
	for (;;) {
		struct pollfd p = { .fd = pd->sock, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int rc = recv_msg(pd, val, fd);

		if (rc)
			return rc;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
	}
}

static int map_region(struct peer_dev *pd, int fd)
{
	char sz[32];
	struct stat st;
	void *p;

	if (fd < 0) {
		ivshm_log_err("server sent the region message without an fd\n");
		return -EPROTO;
	}
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	if (st.st_size < 4096 || !ivshm_is_pow2((uint64_t)st.st_size)) {
		ivshm_log_err("region from the server is %s: not a power of two "
			      "of at least 4 KiB (QEMU would abort)\n",
			      ivshm_format_size((uint64_t)st.st_size, sz, 32));
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	pd->dev.region = p;
	pd->dev.size = (uint64_t)st.st_size;
	return 0;
}

static int handshake(struct peer_dev *pd, const struct ivshm_peer_opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms, val;
	unsigned int want = o->min_vectors ? o->min_vectors : 1;
	int fd, rc;

	if (want > IVSHM_DEV_MAX_OWN_VECTORS)
		want = IVSHM_DEV_MAX_OWN_VECTORS;

	rc = recv_sync(pd, deadline, &val, &fd);
	if (rc < 0)
		goto err;
	if (val != 0 || fd >= 0) {
		if (fd >= 0)
			close(fd);
		ivshm_log_err("server speaks protocol version %lld%s, expected "
			      "0\n", (long long)val, fd >= 0 ? " with an fd" :
			      "");
		return -EPROTO;
	}
	rc = recv_sync(pd, deadline, &val, &fd);
	if (rc < 0)
		goto err;
	if (val < 0 || val > (int64_t)IVSHM_MAX_PEER_ID || fd >= 0) {
		if (fd >= 0)
			close(fd);
		ivshm_log_err("server sent invalid id message %lld\n",
			      (long long)val);
		return -EPROTO;
	}
	pd->dev.id = (int)val;
	/* Peer messages may precede the region; own vectors must not. */
	while (!pd->dev.region) {
		rc = recv_sync(pd, deadline, &val, &fd);
		if (rc < 0)
			goto err;
		if (val == -1)
			rc = map_region(pd, fd);
		else if (val == pd->dev.id && fd >= 0)
			rc = (close(fd), -EPROTO);
		else
			rc = process_msg(pd, val, fd);
		if (rc < 0)
			goto err;
	}
	while (pd->dev.vectors < want) {
		rc = recv_sync(pd, deadline, &val, &fd);
		if (rc >= 0)
			rc = process_msg(pd, val, fd);
		if (rc < 0)
			goto err;
	}
	/* The rest of the handshake is normally already here: take it. */
	return drain_socket(pd);
err:
	if (rc == -ETIMEDOUT)
		ivshm_log_err("server sent no complete handshake within %d ms\n",
			      o->timeout_ms);
	else if (rc == -EPIPE)
		ivshm_log_err("server closed the connection during the "
			      "handshake (too many peers? see its log)\n");
	else if (rc == -EPROTO)
		ivshm_log_err("server broke the protocol order during the "
			      "handshake\n");
	return rc;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int ivshm_peer_open(const char *socket_path, const struct ivshm_peer_opts *o,
		    struct ivshm_device **out)
{
	struct ivshm_peer_opts opts = { 0 };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SOCK_TAG };
	struct peer_dev *pd;
	int rc;

	if (o)
		opts = *o;
	if (opts.timeout_ms <= 0)
		opts.timeout_ms = 5000;
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	pd->dev.ops = &peer_ops;
	pd->dev.id = -1;
	pd->dev.peer_cb = opts.peer_cb;
	pd->dev.peer_cb_arg = opts.peer_cb_arg;
	pd->rfd = -1;
	pd->pfd[0].fd = -1;
	pthread_rwlock_init(&pd->lock, NULL);
	pthread_mutex_init(&pd->sock_mu, NULL);
	pd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pd->epfd < 0) {
		rc = -errno;
		goto fail_free;
	}
	pd->sock = connect_to(socket_path);
	if (pd->sock < 0) {
		rc = pd->sock;
		ivshm_log_err("cannot connect to the server at %s: %s\n",
			      socket_path, strerror(-rc));
		pd->sock = -1;
		goto fail;
	}
	if (epoll_ctl(pd->epfd, EPOLL_CTL_ADD, pd->sock, &ev)) {
		rc = -errno;
		goto fail;
	}
	pd->pfd[0] = (struct pollfd){ .fd = pd->sock, .events = POLLIN };
	rc = handshake(pd, &opts);
	if (rc)
		goto fail;
	*out = &pd->dev;
	return 0;
fail:
	peer_ops.close(&pd->dev);
	return rc;
fail_free:
	pthread_rwlock_destroy(&pd->lock);
	pthread_mutex_destroy(&pd->sock_mu);
	free(pd);
	return rc;
}

/* Ring if the peer and vector are known: 0, -ENOENT, or -errno. */
static int ring_known(struct peer_dev *pd, unsigned int peer,
		      unsigned int vector)
{
	uint64_t one = 1;
	int fd = -1, rc = -ENOENT;

	pthread_rwlock_rdlock(&pd->lock);
	if ((int)peer == pd->dev.id) {
		if (vector < pd->dev.vectors)
			fd = pd->own[vector];
	} else if (peer < pd->nremotes && pd->remotes[peer] &&
		   vector < pd->remotes[peer]->nfds) {
		fd = pd->remotes[peer]->fds[vector];
	}
	/* EAGAIN: the counter is saturated, an interrupt is pending anyway. */
	if (fd >= 0 && (write(fd, &one, sizeof(one)) == sizeof(one) ||
			errno == EAGAIN))
		rc = 0;
	else if (fd >= 0)
		rc = -errno;
	pthread_rwlock_unlock(&pd->lock);
	return rc;
}

static int peer_ring(struct ivshm_device *dev, unsigned int peer,
		     unsigned int vector)
{
	struct peer_dev *pd = to_peer(dev);
	int rc = ring_known(pd, peer, vector);

	/*
	 * Unknown: maybe it joined and the news waits in our socket because
	 * nobody called wait() yet. Take what is queued there and retry.
	 */
	if (rc == -ENOENT && !pthread_mutex_trylock(&pd->sock_mu)) {
		bool news = drain_socket(pd) == 0;

		pthread_mutex_unlock(&pd->sock_mu);
		if (news)
			rc = ring_known(pd, peer, vector);
	}
	return rc;
}

static int64_t peer_wait(struct ivshm_device *dev, int timeout_ms)
{
	struct peer_dev *pd = to_peer(dev);
	unsigned int nv = dev->vectors;
	int64_t mask = 0;
	int n, rc;

	n = poll(pd->pfd, 1 + nv, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (unsigned int v = 0; n && v < nv; v++) {
		uint64_t cnt;

		if (!pd->pfd[1 + v].revents)
			continue;
		/* Eventfds may have been made O_NONBLOCK by QEMU: fine. */
		if (read(pd->own[v], &cnt, sizeof(cnt)) == sizeof(cnt))
			mask |= (int64_t)(1ull << v);
	}
	if (pd->pfd[0].fd >= 0 && pd->pfd[0].revents) {
		pthread_mutex_lock(&pd->sock_mu);
		rc = drain_socket(pd);
		pthread_mutex_unlock(&pd->sock_mu);
		if (rc)
			return rc;
	}
	return mask;
}

static unsigned int peer_peers(struct ivshm_device *dev, uint16_t *ids,
			       unsigned int max)
{
	struct peer_dev *pd = to_peer(dev);
	unsigned int n = 0;

	pthread_rwlock_rdlock(&pd->lock);
	for (unsigned int i = 0; i < pd->nremotes; i++)
		if (pd->remotes[i] && pd->remotes[i]->nfds) {
			if (n < max)
				ids[n] = (uint16_t)i;
			n++;
		}
	pthread_rwlock_unlock(&pd->lock);
	return n;
}

static void peer_close(struct ivshm_device *dev)
{
	struct peer_dev *pd = to_peer(dev);

	for (unsigned int i = 0; i < pd->nremotes; i++) {
		struct remote *r = pd->remotes[i];

		for (unsigned int v = 0; r && v < r->nfds; v++)
			close(r->fds[v]);
		free(r);
	}
	free(pd->remotes);
	for (unsigned int v = 0; v < dev->vectors; v++)
		close(pd->own[v]);
	if (pd->rfd >= 0)
		close(pd->rfd);
	if (pd->sock >= 0)
		close(pd->sock);
	if (pd->epfd >= 0)
		close(pd->epfd);
	if (dev->region)
		munmap(dev->region, (size_t)dev->size);
	pthread_rwlock_destroy(&pd->lock);
	pthread_mutex_destroy(&pd->sock_mu);
	free(pd);
}

static const struct ivshm_device_ops peer_ops = {
	.ring = peer_ring,
	.wait = peer_wait,
	.peers = peer_peers,
	.close = peer_close,
};

int ivshm_device_pollfd(struct ivshm_device *dev)
{
	return dev->ops == &peer_ops ? to_peer(dev)->epfd : -1;
}

int ivshm_device_vector_fd(struct ivshm_device *dev, unsigned int v)
{
	if (dev->ops != &peer_ops || v >= dev->vectors)
		return -1;
	return to_peer(dev)->own[v];
}
