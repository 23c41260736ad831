// SPDX-License-Identifier: MIT
/*
 * The server library against raw clients: the exact message sequence QEMU
 * expects, departures, ids, misbehaving and slow clients, limits, shutdown.
 * The region and socket files are test_server_files.c's.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"
#include "ut_run.h"

#define KIB 1024ull

static bool join(struct ut_server *s, struct ut_raw *r)
{
	return ut_raw_join(s->sock, r) == 0;
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
	struct ut_server *s = ut_server_started(3, 64 * KIB);
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
	struct ut_server *s = ut_server_started(2, 64 * KIB);
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
	CU_ASSERT_TRUE(ut_peers_become(s, 1));
	ut_raw_close(&c);
}

/* Ids only grow, even across departures (reuse crashes QEMU). */
static void test_ids_never_reused(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
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
	struct ut_server *s = ut_server_started(2, 64 * KIB);
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
	struct ut_server *s = ut_server_started(MANY_VEC, 64 * KIB);
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
			CU_ASSERT_TRUE(ut_peers_become(s, nlive));
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
	struct ut_server *s = ut_server_started(1, 64 * KIB);
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
	CU_ASSERT_TRUE(ut_peers_become(s, 1));

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
	struct ut_server *s = ut_server_started(2, 64 * KIB);
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
	CU_ASSERT_TRUE(ut_peers_become(s, 1));

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
	struct ut_server *s = ut_server_started(1, 64 * KIB);
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

/*
 * Read exactly @n messages (reading them all keeps the reader's own queue
 * short). A fd-less @watch among them is extra and sets *@seen. False on
 * EOF, a 2 s silence or a message with several fds.
 */
static bool drain(int sock, unsigned int n, int64_t watch, bool *seen)
{
	struct ut_msg m;

	while (n) {
		if (ut_recv(sock, &m, 2000) != 1) {
			fprintf(stderr, "  reader lost, %u short\n", n);
			return false;
		}
		if (m.fd >= 0)
			close(m.fd);
		if (m.nfds > 1)
			return false;
		if (m.val == watch && m.fd < 0)
			*seen = true;
		else
			n--;
	}
	return true;
}

/* A non-reader whose queue overflows is dropped; the server lives on. */
static void test_non_reader_overflow(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	unsigned int cycles = 0, extra = 0;
	bool gone = false, ok = true;
	struct ut_raw obs, z;
	int q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->cfg.max_peers = 1000;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_FATAL(join(s, &obs));
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 0, 1, NULL));
	q = ut_connect(s->sock);
	CU_ASSERT_FATAL(q >= 0);
	CU_ASSERT_TRUE(ut_expect_fds(obs.sock, 1, 1, NULL));
	/*
	 * Each connect-and-close queues a join (with an fd) and a leave for q,
	 * and the observer reads both, until it hears that q was dropped.
	 */
	while (ok && !gone && cycles < 3 * IVSHM_SERVER_QUEUE_MAX) {
		int x = ut_connect(s->sock);

		ok = x >= 0;
		close(x);
		if (++cycles % 64 == 0)
			ok = ok && drain(obs.sock, 2 * 64, 1, &gone);
	}
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_TRUE(gone);
	/* Not before its queue was really full. */
	CU_ASSERT(cycles >= IVSHM_SERVER_QUEUE_MAX / 2);
	CU_ASSERT_TRUE(ut_wait_eof(q, 5000, &extra));
	CU_ASSERT(extra > 0);
	close(q);

	/* The server still serves, without the dropped peer. */
	CU_ASSERT_TRUE(ut_peers_become(s, 1));
	CU_ASSERT_TRUE(ut_quiet(obs.sock, 30));
	CU_ASSERT_FATAL(join(s, &z));
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_expect_fds(z.sock, z.id, 1, NULL));
	CU_ASSERT_TRUE(ut_quiet(z.sock, 30));
	ut_raw_close(&z);
	ut_raw_close(&obs);
}

/*
 * After 65536 ids the server refuses newcomers rather than wrap around
 * (QEMU writes into freed memory when an id it saw leave comes back).
 */
static void test_ids_run_out(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	unsigned int extra = 99;
	struct ut_raw a, last;
	bool ok = true, unused;
	int x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->cfg.max_peers = 65536;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_FATAL(join(s, &a));
	CU_ASSERT_TRUE(ut_expect_fds(a.sock, 0, 1, NULL));
	/* Burn ids 1..65534 by connect-and-close; a reads 2 news each. */
	for (unsigned int i = 1; ok && i < 65535; i++) {
		x = ut_connect(s->sock);
		ok = x >= 0;
		close(x);
		if (i % 256 == 0 || i == 65534)
			ok = ok && drain(a.sock, 2 * (i % 256 ? i % 256 : 256),
					 -2, &unused);
	}
	CU_ASSERT_FATAL(ok);
	CU_ASSERT_FATAL(join(s, &last));
	CU_ASSERT_EQUAL(last.id, 65535);
	CU_ASSERT_TRUE(ut_expect(a.sock, 65535, true, NULL));
	CU_ASSERT_TRUE(ut_peers_become(s, 2));
	/* No id left: closed at once, no handshake at all. */
	x = ut_connect(s->sock);
	CU_ASSERT_FATAL(x >= 0);
	CU_ASSERT_TRUE(ut_wait_eof(x, 2000, &extra));
	CU_ASSERT_EQUAL(extra, 0);
	close(x);
	CU_ASSERT_TRUE(ut_quiet(a.sock, 30));
	/* The connected peers are fine: a still hears the last one leave. */
	ut_raw_close(&last);
	CU_ASSERT_TRUE(ut_expect(a.sock, 65535, false, NULL));
	ut_raw_close(&a);
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
	CU_ASSERT_TRUE(ut_peers_become(s, 2));
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

/*
 * Shutdown removes peers in connection order, announcing each to those
 * still connected: peer k hears of 0..k-1, then EOF.
 */
static void test_close_notifies(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
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
		{ "a non-reader's overflow drops it",
		  test_non_reader_overflow },
		{ "ids run out: refused, not wrapped", test_ids_run_out },
		{ "too many peers", test_too_many_peers },
		{ "full: a leave and a join together",
		  test_full_leave_and_join_together },
		{ "close notifies then EOF", test_close_notifies },
		{ NULL, NULL },
	};

	return ut_run("server_protocol", tests, argc, argv);
}
