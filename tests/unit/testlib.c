// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define MAX_TRACKED 512
#define MAX_SERVERS 8

/* "s:" prefix marks a shm name, anything else is a path. */
static char tracked[MAX_TRACKED][160];
static unsigned int ntracked;
static unsigned int name_seq;
static struct ut_server servers[MAX_SERVERS];

void ut_track_path(const char *path)
{
	if (ntracked < MAX_TRACKED)
		snprintf(tracked[ntracked++], sizeof(tracked[0]), "%s", path);
}

void ut_new_socket_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/ivshm-ut-%d-%u.sock", (int)getpid(),
		 name_seq++);
	ut_track_path(buf);
}

void ut_new_shm_name(char *buf, size_t len)
{
	char t[160];

	snprintf(buf, len, "ivshm-ut-%d-%u", (int)getpid(), name_seq++);
	snprintf(t, sizeof(t), "s:%s", buf);
	ut_track_path(t);
}

void ut_cleanup_names(void)
{
	/* Newest first: files inside a tracked directory go before it. */
	while (ntracked) {
		const char *t = tracked[--ntracked];

		if (!strncmp(t, "s:", 2))
			shm_unlink(t + 2);
		else if (unlink(t) && (errno == EISDIR || errno == EPERM))
			rmdir(t);
	}
}

struct ut_server *ut_server_new(unsigned int vectors, uint64_t size)
{
	for (unsigned int i = 0; i < MAX_SERVERS; i++) {
		struct ut_server *s = &servers[i];

		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		ut_new_socket_path(s->sock, sizeof(s->sock));
		ut_new_shm_name(s->shm, sizeof(s->shm));
		ivshm_server_config_init(&s->cfg);
		s->cfg.socket_path = s->sock;
		s->cfg.shm_name = s->shm;
		s->cfg.size = size;
		s->cfg.size_given = true;
		s->cfg.vectors = vectors;
		s->cfg.foreground = true;
		return s;
	}
	return NULL;
}

static void *run_thread(void *arg)
{
	struct ut_server *s = arg;

	s->run_rc = ivshm_server_run(s->srv);
	return NULL;
}

void ut_server_resume(struct ut_server *s)
{
	if (s->srv && !s->running &&
	    !pthread_create(&s->thread, NULL, run_thread, s))
		s->running = true;
}

int ut_server_start(struct ut_server *s)
{
	s->srv = ivshm_server_start(&s->cfg);
	if (!s->srv)
		return -1;
	ut_server_resume(s);
	return s->running ? 0 : -1;
}

void ut_server_pause(struct ut_server *s)
{
	if (!s->running)
		return;
	ivshm_server_stop(s->srv);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void ut_server_stop(struct ut_server *s)
{
	if (!s)
		return;
	ut_server_pause(s);
	ivshm_server_close(s->srv);
	s->srv = NULL;
}

void ut_server_stop_all(void)
{
	for (unsigned int i = 0; i < MAX_SERVERS; i++) {
		if (servers[i].used)
			ut_server_stop(&servers[i]);
		servers[i].used = false;
	}
}

struct ut_server *ut_server_started(unsigned int vectors, uint64_t size)
{
	struct ut_server *s = ut_server_new(vectors, size);

	if (s && ut_server_start(s)) {
		fprintf(stderr, "  cannot start a server on %s\n", s->sock);
		return NULL;
	}
	return s;
}

bool ut_peers_become(struct ut_server *s, unsigned int n)
{
	int64_t deadline = ut_now_ms() + 2000;

	while (ivshm_server_peer_count(s->srv) != n) {
		if (ut_now_ms() > deadline) {
			fprintf(stderr, "  server has %u peers, want %u\n",
				ivshm_server_peer_count(s->srv), n);
			return false;
		}
		usleep(1000);
	}
	return true;
}

void ut_teardown(void)
{
	ut_server_stop_all();
	ut_cleanup_names();
}

int ut_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int64_t ut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep the first fd of a control message, close and count the rest. */
static void take_fds(struct msghdr *mh, struct ut_msg *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c;
	     c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (m->fd < 0)
				m->fd = f;
			else
				close(f);
			m->nfds++;
		}
	}
}

int ut_recv(int sock, struct ut_msg *m, int timeout_ms)
{
	int64_t deadline = ut_now_ms() + timeout_ms;
	unsigned char b[8];
	unsigned int got = 0;
	int rc = 1;

	m->val = 0;
	m->fd = -1;
	m->nfds = 0;
	while (got < 8) {
		union {
			char buf[CMSG_SPACE(8 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { b + got, 8 - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int64_t left = deadline - ut_now_ms();
		ssize_t n;

		if (poll(&p, 1, left > 0 ? (int)left : 0) == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		take_fds(&mh, m);
		if (n == 0) {
			rc = got ? -EPROTO : 0;
			break;
		}
		got += (unsigned int)n;
	}
	if (rc != 1) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		return rc;
	}
	for (int i = 7; i >= 0; i--)
		m->val = (int64_t)(((uint64_t)m->val << 8) | b[i]);
	return 1;
}

bool ut_quiet(int sock, int ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

bool ut_wait_eof(int sock, int timeout_ms, unsigned int *extra)
{
	int64_t deadline = ut_now_ms() + timeout_ms;
	struct ut_msg m;
	int rc;

	if (extra)
		*extra = 0;
	for (;;) {
		int64_t left = deadline - ut_now_ms();

		rc = ut_recv(sock, &m, left > 0 ? (int)left : 0);
		if (rc != 1)
			return rc == 0;
		if (m.fd >= 0)
			close(m.fd);
		if (extra)
			(*extra)++;
	}
}

bool ut_expect(int sock, int64_t val, bool with_fd, int *fd_out)
{
	struct ut_msg m;
	int rc = ut_recv(sock, &m, 3000);

	if (rc != 1) {
		fprintf(stderr, "  expected %lld%s, got %s\n", (long long)val,
			with_fd ? "+fd" : "", rc == 0 ? "EOF" : strerror(-rc));
		return false;
	}
	if (m.val != val || (m.fd >= 0) != with_fd || m.nfds > 1) {
		fprintf(stderr, "  expected %lld%s, got %lld with %d fd(s)\n",
			(long long)val, with_fd ? "+fd" : "",
			(long long)m.val, m.nfds);
		if (m.fd >= 0)
			close(m.fd);
		return false;
	}
	if (fd_out)
		*fd_out = m.fd;
	else if (m.fd >= 0)
		close(m.fd);
	return true;
}

bool ut_expect_fds(int sock, int64_t val, unsigned int n, int *fds)
{
	for (unsigned int i = 0; i < n; i++)
		if (!ut_expect(sock, val, true, fds ? &fds[i] : NULL))
			return false;
	return true;
}

int ut_raw_join(const char *path, struct ut_raw *r)
{
	struct ut_msg m;

	r->shm_fd = -1;
	r->id = -1;
	r->sock = ut_connect(path);
	if (r->sock < 0) {
		fprintf(stderr, "  connect %s: %s\n", path, strerror(-r->sock));
		return -1;
	}
	if (!ut_expect(r->sock, 0, false, NULL))
		goto fail;
	if (ut_recv(r->sock, &m, 3000) != 1 || m.fd >= 0 || m.val < 0) {
		fprintf(stderr, "  bad id message\n");
		if (m.fd >= 0)
			close(m.fd);
		goto fail;
	}
	r->id = m.val;
	if (!ut_expect(r->sock, -1, true, &r->shm_fd))
		goto fail;
	return 0;
fail:
	close(r->sock);
	r->sock = -1;
	return -1;
}

void ut_raw_close(struct ut_raw *r)
{
	if (r->sock >= 0)
		close(r->sock);
	if (r->shm_fd >= 0)
		close(r->shm_fd);
	r->sock = r->shm_fd = -1;
}

uint64_t ut_fd_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_size;
}

unsigned int ut_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

bool ut_fds_return_to(unsigned int n, int ms)
{
	int64_t deadline = ut_now_ms() + ms;
	unsigned int now;

	while ((now = ut_count_fds()) != n && ut_now_ms() < deadline)
		usleep(2000);
	if (now != n)
		fprintf(stderr, "  %u fds open, want %u\n", now, n);
	return now == n;
}
