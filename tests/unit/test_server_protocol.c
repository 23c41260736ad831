// SPDX-License-Identifier: MIT
/*
 * The server library against raw clients: the exact message sequence QEMU
 * expects, departures, ids, misbehaving clients, limits, the region file and
 * the socket file.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testlib.h"
#include "ut_run.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)

static struct ut_server *started(unsigned int vectors, uint64_t size)
{
	struct ut_server *s = ut_server_new(vectors, size);

	if (s && ut_server_start(s)) {
		fprintf(stderr, "  cannot start a server on %s\n", s->sock);
		return NULL;
	}
	return s;
}

static bool join(struct ut_server *s, struct ut_raw *r)
{
	return ut_raw_join(s->sock, r) == 0;
}

/* The server's peer count reaches @n within 2 s. */
static bool peers_become(struct ut_server *s, unsigned int n)
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

static bool is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void close_all(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Sequence for the first two peers, message by message. */
static void test_handshake_sequence(void)
{
	struct ut_server *s = started(3, 64 * KIB);
	int fds[3];
	struct ut_raw a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* First peer: 0, id 0, -1 + region, its own 3 vectors. */
	a.sock = ut_connect(s->sock);
	CU_ASSERT_FATAL(a.sock >= 0);
	CU_ASSERT_TRUE(ut_expect(a.sock, 0, false, NULL));
	CU_ASSERT_TRUE(ut_expect(a.sock, 0, false, NULL));
	a.shm_fd = -1;
	CU_ASSERT_TRUE(ut_expect(a.sock, -1, true, &a.shm_fd));
	CU_ASSERT_EQUAL(ut_fd_size(a.shm_fd), 64 * KIB);
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 0, 3, fds));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(is_eventfd(fds[i]));
	close_all(fds, 3);
	CU_ASSERT_TRUE(ut_quiet(a.sock, 30));

	/* Second: 0, 1, region, peer 0's vectors, then its own. */
	b.sock = ut_connect(s->sock);
	CU_ASSERT_FATAL(b.sock >= 0);
	CU_ASSERT_TRUE(ut_expect(b.sock, 0, false, NULL));
	CU_ASSERT_TRUE(ut_expect(b.sock, 1, false, NULL));
	b.shm_fd = -1;
	CU_ASSERT_TRUE(ut_expect(b.sock, -1, true, &b.shm_fd));
	CU_ASSERT_EQUAL(ut_fd_size(b.shm_fd), 64 * KIB);
	CU_ASSERT_TRUE(ut_expect_fds(b.sock, 0, 3, fds));
	close_all(fds, 3);
	CU_ASSERT_TRUE(ut_expect_fds(b.sock, 1, 3, fds));
	close_all(fds, 3);
	CU_ASSERT_TRUE(ut_quiet(b.sock, 30));

	/* The first learns of the second: 1 + fd, once per vector. */
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 1, 3, fds));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(is_eventfd(fds[i]));
	close_all(fds, 3);
	CU_ASSERT_TRUE(ut_quiet(a.sock, 30));
	CU_ASSERT_EQUAL(ivshm_server_peer_count(s->srv), 2);
	ut_raw_close(&a);
	ut_raw_close(&b);
}

/* A departure reaches every other peer as its id with no fd. */
static void test_disconnect_notice(void)
{
	struct ut_server *s = started(2, 64 * KIB);
	struct ut_raw a, b, c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 0, 2, NULL));
	CU_ASSERT_FATAL(join(s, &b));
	CU_ASSERT_TRUE(ut_expect_fds(b.sock, 0, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(b.sock, 1, 2, NULL));
	CU_ASSERT_FATAL(join(s, &c));
	CU_ASSERT_TRUE(ut_expect_fds(c.sock, 0, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(c.sock, 1, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(c.sock, 2, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 1, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 2, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(b.sock, 2, 2, NULL));

	ut_raw_close(&b);
	CU_ASSERT_TRUE(ut_expect(a.sock, 1, false, NULL));
	CU_ASSERT_TRUE(ut_expect(c.sock, 1, false, NULL));
	CU_ASSERT_TRUE(ut_quiet(a.sock, 30));
	CU_ASSERT_TRUE(ut_quiet(c.sock, 30));
	ut_raw_close(&a);
	CU_ASSERT_TRUE(ut_expect(c.sock, 0, false, NULL));
	CU_ASSERT_TRUE(ut_quiet(c.sock, 30));
	CU_ASSERT_TRUE(peers_become(s, 1));
	ut_raw_close(&c);
}

/* Ids only grow, even across departures (reuse crashes QEMU). */
static void test_ids_never_reused(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct ut_raw obs, x;
	int64_t last = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &obs));
	CU_ASSERT_EQUAL(obs.id, 0);
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 0, 1, NULL));
	for (int i = 0; i < 20; i++) {
		CU_ASSERT_FATAL(join(s, &x));
		CU_ASSERT(x.id > last);
		CU_ASSERT(x.id <= 65535);
		CU_ASSERT_TRUE(ut_expect_fds(x.sock, 0, 1, NULL));
		CU_ASSERT_TRUE(ut_expect_fds(x.sock, x.id, 1, NULL));
		last = x.id;
		ut_raw_close(&x);
		CU_ASSERT_TRUE(ut_expect(obs.sock, last, true, NULL));
		CU_ASSERT_TRUE(ut_expect(obs.sock, last, false, NULL));
	}
	CU_ASSERT_TRUE(ut_quiet(obs.sock, 30));
	ut_raw_close(&obs);
}

/* The eventfds handed out connect the peers: a ring reaches its target. */
static void test_eventfds_connect_peers(void)
{
	struct ut_server *s = started(2, 64 * KIB);
	int a_own[2], a_sees_b[2], b_own[2], b_sees_a[2];
	uint64_t one = 1, cnt = 0;
	struct ut_raw a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_FATAL(ut_expect_fds(a.sock, 0, 2, a_own));
	CU_ASSERT_FATAL(join(s, &b));
	CU_ASSERT_FATAL(ut_expect_fds(b.sock, 0, 2, b_sees_a));
	CU_ASSERT_FATAL(ut_expect_fds(b.sock, 1, 2, b_own));
	CU_ASSERT_FATAL(ut_expect_fds(a.sock, 1, 2, a_sees_b));

	/* A rings B's vector 1: only B's own vector 1 fires. */
	CU_ASSERT_FALSE(readable(b_own[0], 0) || readable(b_own[1], 0));
	CU_ASSERT_EQUAL(write(a_sees_b[1], &one, 8), 8);
	CU_ASSERT_TRUE(readable(b_own[1], 1000));
	CU_ASSERT_FALSE(readable(b_own[0], 0));
	CU_ASSERT_EQUAL(read(b_own[1], &cnt, 8), 8);
	CU_ASSERT_EQUAL(cnt, 1);
	/* B rings A's vector 0. */
	CU_ASSERT_EQUAL(write(b_sees_a[0], &one, 8), 8);
	CU_ASSERT_TRUE(readable(a_own[0], 1000));
	CU_ASSERT_FALSE(readable(a_own[1], 0));
	CU_ASSERT_FALSE(readable(b_own[0], 0));
	close_all(a_own, 2);
	close_all(a_sees_b, 2);
	close_all(b_own, 2);
	close_all(b_sees_a, 2);
	ut_raw_close(&a);
	ut_raw_close(&b);
}

/* Many peers: each survivor's stream is exactly the model's. */
#define MANY 40
#define MANY_VEC 2
#define MANY_MSGS (3 + MANY * (MANY_VEC + 1) + MANY_VEC)

struct sim {
	struct ut_raw r;
	bool live;
	unsigned int nexp, nrecv;
	int64_t exp_val[MANY_MSGS];
	bool exp_fd[MANY_MSGS];
	bool ok;
};

static void sim_push(struct sim *c, int64_t val, bool fd)
{
	if (c->nexp < MANY_MSGS) {
		c->exp_val[c->nexp] = val;
		c->exp_fd[c->nexp] = fd;
	}
	c->nexp++;
}

/* Compare what has arrived so far (or wait up to @ms for the rest). */
static void sim_drain(struct sim *c, int ms)
{
	struct ut_msg m;

	while (c->ok && c->nrecv < c->nexp && ut_recv(c->r.sock, &m, ms) == 1) {
		unsigned int i = c->nrecv++;

		if (m.fd >= 0)
			close(m.fd);
		if (i >= MANY_MSGS || m.val != c->exp_val[i] ||
		    (m.fd >= 0) != c->exp_fd[i] || m.nfds > 1) {
			fprintf(stderr, "  peer %lld msg %u: got %lld (%d fd), "
				"want %lld%s\n", (long long)c->r.id, i,
				(long long)m.val, m.nfds,
				(long long)c->exp_val[i],
				c->exp_fd[i] ? "+fd" : "");
			c->ok = false;
		}
	}
}

static void test_many_peers(void)
{
	struct ut_server *s = started(MANY_VEC, 64 * KIB);
	static struct sim c[MANY];
	unsigned int seed = 12345, nlive = 0, left = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(c, 0, sizeof(c));
	for (int i = 0; i < MANY; i++) {
		c[i].ok = true;
		CU_ASSERT_FATAL(join(s, &c[i].r));
		CU_ASSERT_EQUAL(c[i].r.id, i);
		/* Its handshake after the region: the live peers, then self. */
		for (int j = 0; j < i; j++)
			if (c[j].live)
				for (int v = 0; v < MANY_VEC; v++)
					sim_push(&c[i], c[j].r.id, true);
		for (int v = 0; v < MANY_VEC; v++)
			sim_push(&c[i], c[i].r.id, true);
		sim_drain(&c[i], 2000);
		CU_ASSERT_TRUE(c[i].ok && c[i].nrecv == c[i].nexp);
		for (int j = 0; j < i; j++)
			if (c[j].live)
				for (int v = 0; v < MANY_VEC; v++)
					sim_push(&c[j], c[i].r.id, true);
		c[i].live = true;
		nlive++;
		/* Now and then someone leaves, the newest one included. */
		if (rand_r(&seed) % 3 == 0) {
			int k = rand_r(&seed) % (i + 1);

			while (!c[k].live)
				k = (k + 1) % (i + 1);
			ut_raw_close(&c[k].r);
			c[k].live = false;
			nlive--;
			left++;
			for (int j = 0; j <= i; j++)
				if (c[j].live)
					sim_push(&c[j], c[k].r.id, false);
			c[k].r.id = -1;
			CU_ASSERT_TRUE(peers_become(s, nlive));
		}
		for (int j = 0; j <= i; j++)
			if (c[j].live)
				sim_drain(&c[j], 0);
	}
	CU_ASSERT(left >= 5);
	for (int j = 0; j < MANY; j++) {
		if (!c[j].live)
			continue;
		sim_drain(&c[j], 2000);
		CU_ASSERT_TRUE(c[j].ok);
		CU_ASSERT_EQUAL(c[j].nrecv, c[j].nexp);
		CU_ASSERT_TRUE(ut_quiet(c[j].r.sock, 0));
	}
	for (int j = 0; j < MANY; j++)
		if (c[j].live)
			ut_raw_close(&c[j].r);
}

/* A client writing anything is cut off; the others hear of it. */
static void test_writer_disconnected(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct ut_raw a, g, c;
	unsigned int extra;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 0, 1, NULL));
	CU_ASSERT_FATAL(join(s, &g));
	CU_ASSERT_TRUE(ut_expect_fds(g.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(g.sock, 1, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 1, 1, NULL));

	CU_ASSERT_EQUAL(send(g.sock, "hello", 5, MSG_NOSIGNAL), 5);
	CU_ASSERT_TRUE(ut_wait_eof(g.sock, 2000, &extra));
	CU_ASSERT_EQUAL(extra, 0);
	CU_ASSERT_TRUE(ut_expect(a.sock, 1, false, NULL));
	CU_ASSERT_TRUE(peers_become(s, 1));

	/* Still serving, and the writer's vectors are gone. */
	CU_ASSERT_FATAL(join(s, &c));
	CU_ASSERT_EQUAL(c.id, 2);
	CU_ASSERT_TRUE(ut_expect_fds(c.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(c.sock, 2, 1, NULL));
	CU_ASSERT_TRUE(ut_quiet(c.sock, 30));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 2, 1, NULL));
	ut_raw_close(&a);
	ut_raw_close(&g);
	ut_raw_close(&c);
}

/* Connect-and-close and a half-read handshake hurt nobody. */
static void test_early_disconnect(void)
{
	struct ut_server *s = started(2, 64 * KIB);
	struct ut_raw a, z;
	int x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 0, 2, NULL));

	x = ut_connect(s->sock);
	CU_ASSERT_FATAL(x >= 0);
	close(x);
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 1, 2, NULL));
	CU_ASSERT_TRUE(ut_expect(a.sock, 1, false, NULL));

	x = ut_connect(s->sock);
	CU_ASSERT_FATAL(x >= 0);
	CU_ASSERT_TRUE(ut_expect(x, 0, false, NULL));
	CU_ASSERT_TRUE(ut_expect(x, 2, false, NULL));
	close(x);
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 2, 2, NULL));
	CU_ASSERT_TRUE(ut_expect(a.sock, 2, false, NULL));
	CU_ASSERT_TRUE(peers_become(s, 1));

	CU_ASSERT_FATAL(join(s, &z));
	CU_ASSERT_EQUAL(z.id, 3);
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, 0, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, 3, 2, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 3, 2, NULL));
	CU_ASSERT_TRUE(ut_quiet(a.sock, 30));
	CU_ASSERT_TRUE(ut_quiet(z.sock, 0));
	ut_raw_close(&a);
	ut_raw_close(&z);
}

/*
 * A client that never reads delays nobody; when it reads at last, its
 * stream is complete and in order.
 */
static void test_non_reader_blocks_nobody(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	int64_t worst = 0, ids[30];
	struct ut_raw obs, x, q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &obs));
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 0, 1, NULL));
	q.sock = ut_connect(s->sock); /* and never read, for now */
	CU_ASSERT_FATAL(q.sock >= 0);
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 1, 1, NULL));
	for (int i = 0; i < 30; i++) {
		int64_t t0 = ut_now_ms(), dt;

		CU_ASSERT_FATAL(join(s, &x));
		CU_ASSERT_TRUE(ut_expect_fds(x.sock, 0, 1, NULL));
		CU_ASSERT_TRUE(ut_expect_fds(x.sock, 1, 1, NULL));
		CU_ASSERT_TRUE(ut_expect_fds(x.sock, x.id, 1, NULL));
		dt = ut_now_ms() - t0;
		worst = dt > worst ? dt : worst;
		ids[i] = x.id;
		ut_raw_close(&x);
		CU_ASSERT_TRUE(ut_expect(obs.sock, ids[i], true, NULL));
		CU_ASSERT_TRUE(ut_expect(obs.sock, ids[i], false, NULL));
	}
	CU_ASSERT(worst < 500);
	CU_ASSERT_EQUAL(ivshm_server_peer_count(s->srv), 2);

	/* Now the late reader gets everything, in order. */
	CU_ASSERT_TRUE(ut_expect(q.sock, 0, false, NULL));
	CU_ASSERT_TRUE(ut_expect(q.sock, 1, false, NULL));
	CU_ASSERT_TRUE(ut_expect(q.sock, -1, true, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(q.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(q.sock, 1, 1, NULL));
	for (int i = 0; i < 30; i++) {
		CU_ASSERT_TRUE(ut_expect(q.sock, ids[i], true, NULL));
		CU_ASSERT_TRUE(ut_expect(q.sock, ids[i], false, NULL));
	}
	CU_ASSERT_TRUE(ut_quiet(q.sock, 30));
	close(q.sock);
	ut_raw_close(&obs);
}

/* Read what the observer has now; true once it saw @id leave. */
static bool saw_leave(int sock, int64_t id, bool *bad)
{
	struct ut_msg m;

	while (ut_recv(sock, &m, 0) == 1) {
		if (m.fd >= 0)
			close(m.fd);
		if (m.nfds > 1)
			*bad = true;
		if (m.val == id && m.fd < 0)
			return true;
	}
	return false;
}

/* A non-reader whose queue overflows is dropped; the server lives on. */
static void test_non_reader_overflow(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	struct ut_raw obs, z;
	bool gone = false, bad = false;
	unsigned int cycles = 0, extra = 0;
	int q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->cfg.max_peers = 1000;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_FATAL(join(s, &obs));
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 0, 1, NULL));
	q = ut_connect(s->sock);
	CU_ASSERT_FATAL(q >= 0);
	/* Each connect-and-close queues a join and a leave for q. */
	while (!gone && cycles < 3 * IVSHM_SERVER_QUEUE_MAX) {
		int x = ut_connect(s->sock);

		CU_ASSERT_FATAL(x >= 0);
		close(x);
		if (++cycles % 64 == 0)
			gone = saw_leave(obs.sock, 1, &bad);
	}
	for (int64_t t = ut_now_ms(); !gone && ut_now_ms() - t < 3000;)
		gone = saw_leave(obs.sock, 1, &bad);
	CU_ASSERT_TRUE(gone);
	CU_ASSERT_FALSE(bad);
	/* Not before its queue was really full. */
	CU_ASSERT(cycles >= IVSHM_SERVER_QUEUE_MAX / 2);
	CU_ASSERT_TRUE(ut_wait_eof(q, 5000, &extra));
	CU_ASSERT(extra > 0);
	close(q);

	/* Let the backlog of connect-and-close clients pass. */
	while (!ut_quiet(obs.sock, 100))
		saw_leave(obs.sock, -2, &bad);
	CU_ASSERT_TRUE(peers_become(s, 1));
	/* The server still serves, without the dropped peer. */
	CU_ASSERT_FATAL(join(s, &z));
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, z.id, 1, NULL));
	CU_ASSERT_TRUE(ut_quiet(z.sock, 30));
	ut_raw_close(&z);
	ut_raw_close(&obs);
}

/* With -c 3 the fourth connection is closed before any handshake. */
static void test_too_many_peers(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	struct ut_raw p[3], e;
	unsigned int extra = 99;
	int d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->cfg.max_peers = 3;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(join(s, &p[i]));
		for (int j = 0; j <= i; j++)
			CU_ASSERT_TRUE(ut_expect_fds(p[i].sock, j, 1, NULL));
		for (int j = 0; j < i; j++)
			CU_ASSERT_TRUE(ut_expect_fds(p[j].sock, i, 1, NULL));
	}
	d = ut_connect(s->sock);
	CU_ASSERT_FATAL(d >= 0);
	CU_ASSERT_TRUE(ut_wait_eof(d, 2000, &extra));
	CU_ASSERT_EQUAL(extra, 0);
	close(d);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(ut_quiet(p[i].sock, 30));
	CU_ASSERT_EQUAL(ivshm_server_peer_count(s->srv), 3);

	/* Room again once one leaves. */
	ut_raw_close(&p[2]);
	CU_ASSERT_TRUE(ut_expect(p[0].sock, 2, false, NULL));
	CU_ASSERT_TRUE(ut_expect(p[1].sock, 2, false, NULL));
	CU_ASSERT_FATAL(join(s, &e));
	CU_ASSERT(e.id > 2);
	CU_ASSERT_TRUE(ut_expect_fds(e.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(e.sock, 1, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(e.sock, e.id, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(p[0].sock, e.id, 1, NULL));
	ut_raw_close(&e);
	ut_raw_close(&p[0]);
	ut_raw_close(&p[1]);
}

/*
 * At the limit, a peer leaving and another connecting in the same poll
 * round: the newcomer takes the freed place. The server thread is paused
 * so that both events are pending when it looks.
 */
static void test_full_leave_and_join_together(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	struct ut_raw a, b;
	struct ut_msg m;
	int c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->cfg.max_peers = 2;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_FATAL(join(s, &b));
	CU_ASSERT_TRUE(peers_become(s, 2));
	ut_server_pause(s);
	ut_raw_close(&b);
	c = ut_connect(s->sock);
	CU_ASSERT_FATAL(c >= 0);
	ut_server_resume(s);
	CU_ASSERT_EQUAL(ut_recv(c, &m, 2000), 1); /* not EOF: version 0 */
	CU_ASSERT_EQUAL(m.val, 0);
	close(c);
	ut_raw_close(&a);
}

/* The server's region and the one in /dev/shm. */
static bool shm_file(const char *name, struct stat *st)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return stat(path, st) == 0;
}

static bool write_shm(const char *name, off_t off, const char *text)
{
	int fd = shm_open(name, O_RDWR, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = pwrite(fd, text, strlen(text), off) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

static bool shm_says(const char *name, off_t off, const char *text)
{
	char buf[64] = "";
	int fd = shm_open(name, O_RDONLY, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, strlen(text), off) == (ssize_t)strlen(text) &&
	     !memcmp(buf, text, strlen(text));
	close(fd);
	return ok;
}

/* The region a new client receives holds @text at @off. */
static bool region_says(struct ut_server *s, uint64_t size, off_t off,
			const char *text)
{
	struct ut_raw r;
	char *p;
	bool ok;

	if (!join(s, &r))
		return false;
	ok = ut_fd_size(r.shm_fd) == size;
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, r.shm_fd, 0);
	if (p == MAP_FAILED)
		ok = false;
	else
		ok = ok && !memcmp(p + off, text, strlen(text));
	if (p != MAP_FAILED)
		munmap(p, size);
	ut_raw_close(&r);
	return ok;
}

static void test_region_new(void)
{
	struct ut_server *s = started(1, 64 * KIB), *d;
	char path[128];
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 64 * KIB);
	snprintf(path, sizeof(path), "/dev/shm/%s", s->shm);
	CU_ASSERT_STRING_EQUAL(ivshm_server_region_path(s->srv), path);
	CU_ASSERT_TRUE_FATAL(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, ""));

	/* No -l: the default 4 MiB. */
	d = ut_server_new(1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ivshm_server_config_init(&d->cfg);
	d->cfg.socket_path = d->sock;
	d->cfg.shm_name = d->shm;
	d->cfg.foreground = true;
	CU_ASSERT_FATAL(ut_server_start(d) == 0);
	CU_ASSERT_EQUAL(ivshm_server_region_size(d->srv), 4 * MIB);
	CU_ASSERT_TRUE(region_says(d, 4 * MIB, 0, ""));
}

/* An existing region is served as it is, data and size. */
static void test_region_reused(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(write_shm(s->shm, 0, "head of the data"));
	CU_ASSERT_TRUE(write_shm(s->shm, 64 * KIB - 4, "tail"));
	ut_server_stop(s);

	/* Restart without -l: the 4 MiB default does not apply. */
	s->cfg.size = 4 * MIB;
	s->cfg.size_given = false;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 64 * KIB);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, "head of the data"));
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 64 * KIB - 4, "tail"));
	ut_server_stop(s);

	/* With the matching -l. */
	s->cfg.size = 64 * KIB;
	s->cfg.size_given = true;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, "head of the data"));
	ut_server_stop(s);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
}

/* A conflicting -l is refused and the region left untouched. */
static void test_region_size_mismatch(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(write_shm(s->shm, 64 * KIB - 8, "keep me!"));
	ut_server_stop(s);
	s->cfg.size = 128 * KIB;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	s->cfg.size = 16 * KIB;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 64 * KIB - 8, "keep me!"));
	/* Nothing listens: the socket was not left behind either. */
	CU_ASSERT_NOT_EQUAL(access(s->sock, F_OK), 0);
}

/* An existing region of a size QEMU cannot take is refused, kept. */
static void test_region_bad_existing(void)
{
	struct ut_server *s = ut_server_new(1, 4 * MIB);
	struct stat st;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = shm_open(s->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 3 * MIB), 0);
	close(fd);
	CU_ASSERT_TRUE(write_shm(s->shm, 0, "three"));
	s->cfg.size_given = false;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	s->cfg.size_given = true;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 3 * MIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 0, "three"));

	/* A power of two below 4 KiB is no better. */
	fd = shm_open(s->shm, O_RDWR, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 1024), 0);
	close(fd);
	s->cfg.size_given = false;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 1024);
}

/* What ivshm_server_start() said on stderr, for the advice it gives. */
static int saved_stderr = -1, capture_fd = -1;
static char captured[4096];

static void capture_stderr(void)
{
	fflush(stderr);
	capture_fd = memfd_create("ivshm-ut-stderr", MFD_CLOEXEC);
	saved_stderr = dup(2);
	if (capture_fd >= 0 && saved_stderr >= 0)
		dup2(capture_fd, 2);
}

static const char *end_capture(void)
{
	ssize_t n = -1;

	fflush(stderr);
	if (saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
	}
	if (capture_fd >= 0) {
		n = pread(capture_fd, captured, sizeof(captured) - 1, 0);
		close(capture_fd);
	}
	captured[n > 0 ? n : 0] = 0;
	saved_stderr = capture_fd = -1;
	fputs(captured, stderr); /* still shown in the log */
	return captured;
}

/*
 * An existing 3 MiB region with -l 4M: the advice must be one that works.
 * "-l 3M" is refused by the command line itself.
 */
static void test_region_bad_existing_advice(void)
{
	struct ut_server *s = ut_server_new(1, 4 * MIB);
	const char *msg;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = shm_open(s->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 3 * MIB), 0);
	close(fd);
	capture_stderr();
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	msg = end_capture();
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "power of two"));
	CU_ASSERT_PTR_NULL(strstr(msg, "-l 3M"));
}

/* A refused start leaves nothing behind, no new region either. */
static void test_refused_start_creates_nothing(void)
{
	struct ut_server *a = started(1, 64 * KIB);
	struct ut_server *b = ut_server_new(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	b->cfg.socket_path = a->sock;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&b->cfg));
	CU_ASSERT_FALSE(shm_file(b->shm, &st));
}

/* Above 1 GiB (the contrib server's ceiling): sparse on tmpfs, cheap. */
static void test_region_2g(void)
{
	struct ut_server *s = started(1, 2ull << 30);
	struct ut_raw r;
	volatile char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 2ull << 30);
	CU_ASSERT_FATAL(join(s, &r));
	CU_ASSERT_EQUAL(ut_fd_size(r.shm_fd), 2ull << 30);
	p = mmap(NULL, 2ull << 30, PROT_READ | PROT_WRITE, MAP_SHARED,
		 r.shm_fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	p[(2ull << 30) - 1] = 'z'; /* the last byte is really there */
	CU_ASSERT_EQUAL(p[(2ull << 30) - 1], 'z');
	munmap((void *)p, 2ull << 30);
	ut_raw_close(&r);
}

/* A region in a directory (-m), e.g. hugetlbfs; here /tmp. */
static void test_region_in_dir(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	char dir[64], want[128];
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	snprintf(dir, sizeof(dir), "/tmp/ivshm-ut-%d-dir-XXXXXX",
		 (int)getpid());
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	ut_track_path(dir);
	snprintf(want, sizeof(want), "%s/%s", dir, s->shm);
	ut_track_path(want);
	s->cfg.shm_dir = dir;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_STRING_EQUAL(ivshm_server_region_path(s->srv), want);
	CU_ASSERT_EQUAL(stat(want, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, ""));
	ut_server_stop(s);
	CU_ASSERT_EQUAL(stat(want, &st), 0); /* kept */

	/* -m naming a file, not a directory. */
	s->cfg.shm_dir = want;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
}

/* Closing keeps the region and its data, and removes the socket. */
static void test_close_keeps_region(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct ut_raw r;
	struct stat st;
	char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &r));
	p = mmap(NULL, 64 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, r.shm_fd,
		 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	memcpy(p + 100, "written by a peer", 17);
	munmap(p, 64 * KIB);
	CU_ASSERT_EQUAL(access(s->sock, F_OK), 0);
	ut_server_stop(s);
	CU_ASSERT_TRUE(ut_wait_eof(r.sock, 2000, NULL));
	ut_raw_close(&r);
	CU_ASSERT_NOT_EQUAL(access(s->sock, F_OK), 0);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 100, "written by a peer"));
}

/* A socket file nobody listens on (a crashed server's) is replaced. */
static void test_stale_socket_replaced(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ut_raw r;
	struct stat st;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	strcpy(sa.sun_path, s->sock);
	for (int listened = 0; listened < 2; listened++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa,
				     sizeof(sa)) == 0);
		if (listened)
			CU_ASSERT_EQUAL(listen(fd, 1), 0);
		close(fd);
		CU_ASSERT_TRUE(lstat(s->sock, &st) == 0 &&
			       S_ISSOCK(st.st_mode));
		CU_ASSERT_FATAL(ut_server_start(s) == 0);
		CU_ASSERT_FATAL(join(s, &r));
		CU_ASSERT_EQUAL(r.id, 0);
		ut_raw_close(&r);
		ut_server_stop(s);
	}
}

/* A live server's socket is refused, and that server is not disturbed. */
static void test_live_socket_refused(void)
{
	struct ut_server *a = started(1, 64 * KIB);
	struct ut_server *b = ut_server_new(1, 64 * KIB);
	struct ut_raw r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	b->cfg.socket_path = a->sock;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&b->cfg));
	CU_ASSERT_EQUAL(access(a->sock, F_OK), 0);
	/* No probe joined a: its first peer still gets id 0. */
	CU_ASSERT_FATAL(join(a, &r));
	CU_ASSERT_EQUAL(r.id, 0);
	CU_ASSERT_TRUE(ut_expect_fds(r.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_quiet(r.sock, 30));
	ut_raw_close(&r);
}

/* Anything but a socket at the path is never removed. */
static void test_not_a_socket_refused(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	char buf[16] = "";
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = open(s->sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "precious", 8), 8);
	close(fd);
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	fd = open(s->sock, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), 8);
	CU_ASSERT_STRING_EQUAL(buf, "precious");
	close(fd);
	unlink(s->sock);

	CU_ASSERT_EQUAL(mkdir(s->sock, 0700), 0);
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_EQUAL(rmdir(s->sock), 0);
}

/* Owner-only by default; -G grants a group on socket and new region. */
static void test_permissions(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct ut_server *g = ut_server_new(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(stat(s->sock, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

	g->cfg.group_given = true;
	g->cfg.group = 12345;
	CU_ASSERT_FATAL(ut_server_start(g) == 0);
	CU_ASSERT_EQUAL(stat(g->sock, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, 12345);
	CU_ASSERT_TRUE(shm_file(g->shm, &st));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, 12345);
}

/*
 * Shutdown removes peers in connection order, announcing each to those
 * still connected: peer k hears of 0..k-1, then EOF.
 */
static void test_close_notifies(void)
{
	struct ut_server *s = started(1, 64 * KIB);
	struct ut_raw p[3];
	unsigned int extra = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(join(s, &p[i]));
		for (int j = 0; j <= i; j++)
			CU_ASSERT_TRUE(ut_expect_fds(p[i].sock, j, 1, NULL));
		for (int j = 0; j < i; j++)
			CU_ASSERT_TRUE(ut_expect_fds(p[j].sock, i, 1, NULL));
	}
	ut_server_stop(s);
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < i; j++)
			CU_ASSERT_TRUE(ut_expect(p[i].sock, j, false, NULL));
		CU_ASSERT_TRUE(ut_wait_eof(p[i].sock, 2000, &extra));
		CU_ASSERT_EQUAL(extra, 0);
		ut_raw_close(&p[i]);
	}
}

int main(int argc, char **argv)
{
	static const struct ut_test tests[] = {
		{ "handshake sequence", test_handshake_sequence },
		{ "disconnect notice", test_disconnect_notice },
		{ "ids never reused", test_ids_never_reused },
		{ "eventfds connect peers", test_eventfds_connect_peers },
		{ "40 peers join and leave", test_many_peers },
		{ "a writing client is dropped", test_writer_disconnected },
		{ "early disconnect", test_early_disconnect },
		{ "a non-reader blocks nobody", test_non_reader_blocks_nobody },
		{ "a non-reader's overflow drops it", test_non_reader_overflow },
		{ "too many peers", test_too_many_peers },
		{ "full: a leave and a join together",
		  test_full_leave_and_join_together },
		{ "new region", test_region_new },
		{ "existing region reused", test_region_reused },
		{ "existing region, other -l", test_region_size_mismatch },
		{ "existing region, bad size", test_region_bad_existing },
		{ "existing region, bad size: the advice",
		  test_region_bad_existing_advice },
		{ "2 GiB region", test_region_2g },
		{ "region in a directory", test_region_in_dir },
		{ "close keeps the region", test_close_keeps_region },
		{ "stale socket replaced", test_stale_socket_replaced },
		{ "live socket refused", test_live_socket_refused },
		{ "not a socket refused", test_not_a_socket_refused },
		{ "a refused start creates no region",
		  test_refused_start_creates_nothing },
		{ "permissions", test_permissions },
		{ "close notifies then EOF", test_close_notifies },
		{ NULL, NULL },
	};

	return ut_run("server_protocol", tests, argc, argv);
}
