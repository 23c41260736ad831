// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-handshake: how fast peers join and leave the doorbell server
 * (in a thread of this process), beside bare UNIX-socket connect + accept +
 * close for the same number of clients. Rounds of the two alternate so that
 * both see the same machine state.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "hs.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ivshm-bench-handshake [-p PEERS] [-r ROUNDS] [-v VECTORS]\n"
"PEERS ivshm device peers join the doorbell server one after another, then\n"
"all leave; repeated ROUNDS times after one warm-up round. Beside it, the\n"
"same with bare UNIX-socket connect + accept + close.\n"
"\n"
"  -p PEERS    peers per round (default 64)\n"
"  -r ROUNDS   measured rounds (default 20)\n"
"  -v VECTORS  interrupt vectors per peer (default 1)\n"
"  -h          this help\n"
"\n"
"Figures are medians over the rounds. A peer is up when ivshm_peer_open()\n"
"returned and an already joined observer peer was told of it; it is gone\n"
"when the observer was told of its departure. Exit status: 0, 1 when the\n"
"run failed, 2 for a bad command line.\n");
}

struct opts {
	unsigned long peers, rounds, vectors;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	unsigned long *dst;
	unsigned long max;
	int c;

	*o = (struct opts){ .peers = 64, .rounds = 20, .vectors = 1 };
	opterr = 0;
	while ((c = getopt(argc, argv, ":p:r:v:h")) != -1) {
		switch (c) {
		case 'p':
			dst = &o->peers;
			max = 1024;
			break;
		case 'r':
			dst = &o->rounds;
			max = 10000;
			break;
		case 'v':
			dst = &o->vectors;
			max = IVSHM_SERVER_MAX_VECTORS;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "option -%c needs a value\n", optopt);
			goto hint;
		default:
			fprintf(stderr, "unknown option -%c\n", optopt);
			goto hint;
		}
		if (bench_parse_ulong(optarg, 1, max, dst)) {
			fprintf(stderr, "bad value '%s' for -%c (1..%lu)\n",
				optarg, c, max);
			goto hint;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		goto hint;
	}
	/* Server ids are never reused: every join of the run takes one. */
	if ((o->rounds + 1) * o->peers + 1 > 65536) {
		fprintf(stderr, "-p %lu x (-r %lu + 1 warm-up) joins need more "
			"than the server's 65536 peer ids\n", o->peers,
			o->rounds);
		goto hint;
	}
	return 0;
hint:
	fprintf(stderr, "try 'ivshm-bench-handshake -h'\n");
	return -1;
}

/*
 * Every peer keeps the eventfds of those that joined before it, and the
 * server keeps a dup of each announcement that a peer (which never reads
 * after joining) has no room for: fds grow with peers^2 x vectors. Refuse
 * clearly rather than fail halfway.
 */
static int check_fds(const struct opts *o)
{
	unsigned long need = o->vectors * o->peers * (o->peers + 1) +
			     o->peers * (2 * o->vectors + 6) + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		fprintf(stderr, "-p %lu -v %lu needs about %lu open files; the "
			"limit is %lu (ulimit -n)\n", o->peers, o->vectors,
			need, (unsigned long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Per-flavour results: one entry per measured round. */
struct series {
	double *joins_ps, *up_ms, *leaves_ps, *gone_ms;
	uint64_t *lat; /* every join's latency, ns */
	struct bench_stats lat_st;
	double m_joins_ps, m_up_ms, m_leaves_ps, m_gone_ms;
};

static int series_init(struct series *s, const struct opts *o)
{
	s->joins_ps = calloc(o->rounds, sizeof(double));
	s->up_ms = calloc(o->rounds, sizeof(double));
	s->leaves_ps = calloc(o->rounds, sizeof(double));
	s->gone_ms = calloc(o->rounds, sizeof(double));
	s->lat = calloc((o->rounds + 1) * o->peers, sizeof(uint64_t));
	return s->joins_ps && s->up_ms && s->leaves_ps && s->gone_ms &&
	       s->lat ? 0 : -1;
}

static void series_free(struct series *s)
{
	free(s->joins_ps);
	free(s->up_ms);
	free(s->leaves_ps);
	free(s->gone_ms);
	free(s->lat);
}

static void series_add(struct series *s, unsigned long i, unsigned long peers,
		       const struct hs_round *r)
{
	s->joins_ps[i] = (double)peers / r->join_s;
	s->up_ms[i] = r->up_s * 1e3;
	s->leaves_ps[i] = (double)peers / r->leave_s;
	s->gone_ms[i] = r->leave_s * 1e3;
}

static void series_sum(struct series *s, const struct opts *o)
{
	/* lat[0..peers) holds the warm-up round's joins: skipped. */
	bench_stats(s->lat + o->peers, o->rounds * o->peers, &s->lat_st);
	bench_stats_scale(&s->lat_st, 1e-3);
	s->m_joins_ps = bench_median(s->joins_ps, o->rounds);
	s->m_up_ms = bench_median(s->up_ms, o->rounds);
	s->m_leaves_ps = bench_median(s->leaves_ps, o->rounds);
	s->m_gone_ms = bench_median(s->gone_ms, o->rounds);
}

static void print_row(const char *name, const struct series *s)
{
	printf("%-20s %9.0f %10.3f %10.1f %10.1f %9.0f %10.3f\n", name,
	       s->m_joins_ps, s->m_up_ms, s->lat_st.median, s->lat_st.p99,
	       s->m_leaves_ps, s->m_gone_ms);
}

static void report(const struct opts *o, const struct series *iv,
		   const struct series *raw)
{
	printf("handshake: %lu peers x %lu rounds (+1 warm-up), %lu "
	       "vector(s); medians over rounds\n", o->peers, o->rounds,
	       o->vectors);
	printf("%-20s %9s %10s %10s %10s %9s %10s\n", "", "joins/s",
	       "all up ms", "join p50us", "join p99us", "leaves/s",
	       "all gone ms");
	print_row("ivshm peer", iv);
	print_row("raw unix socket", raw);
	printf("%-20s %9.2f %10.2f %10.2f %10.2f %9.2f %10.2f\n",
	       "ivshm cost (x raw)", raw->m_joins_ps / iv->m_joins_ps,
	       iv->m_up_ms / raw->m_up_ms,
	       iv->lat_st.median / raw->lat_st.median,
	       iv->lat_st.p99 / raw->lat_st.p99,
	       raw->m_leaves_ps / iv->m_leaves_ps,
	       iv->m_gone_ms / raw->m_gone_ms);
	printf("RESULT handshake_joins_per_s=%.0f handshake_all_up_ms=%.3f "
	       "handshake_join_p50_us=%.1f handshake_leaves_per_s=%.0f "
	       "handshake_all_gone_ms=%.3f baseline_joins_per_s=%.0f "
	       "baseline_all_up_ms=%.3f baseline_join_p50_us=%.1f "
	       "baseline_leaves_per_s=%.0f baseline_all_gone_ms=%.3f "
	       "join_ratio=%.2f leave_ratio=%.2f peers=%lu rounds=%lu "
	       "vectors=%lu\n", iv->m_joins_ps, iv->m_up_ms,
	       iv->lat_st.median, iv->m_leaves_ps, iv->m_gone_ms,
	       raw->m_joins_ps, raw->m_up_ms, raw->lat_st.median,
	       raw->m_leaves_ps, raw->m_gone_ms,
	       iv->m_up_ms / raw->m_up_ms, iv->m_gone_ms / raw->m_gone_ms,
	       o->peers, o->rounds, o->vectors);
}

/* Round 0 is the warm-up; its figures are dropped. */
static int run(const struct opts *o, struct hs_ivshm *hi, struct hs_raw *hr,
	       struct series *iv, struct series *raw)
{
	for (unsigned long i = 0; i <= o->rounds; i++) {
		unsigned long at = i ? i * o->peers : 0;
		struct hs_round r;

		if (hs_ivshm_round(hi, &r, iv->lat + at))
			return -1;
		if (i)
			series_add(iv, i - 1, o->peers, &r);
		if (hs_raw_round(hr, &r, raw->lat + at))
			return -1;
		if (i)
			series_add(raw, i - 1, o->peers, &r);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct series iv = { 0 }, raw = { 0 };
	struct hs_ivshm *hi = NULL;
	struct hs_raw *hr = NULL;
	struct bench_server bs;
	char raw_sock[108];
	struct opts o;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : BENCH_EXIT_USAGE;
	if (check_fds(&o))
		return BENCH_EXIT_USAGE;
	bench_cleanup_install();
	if (series_init(&iv, &o) || series_init(&raw, &o)) {
		fprintf(stderr, "out of memory\n");
		series_free(&iv);
		series_free(&raw);
		return BENCH_EXIT_FAIL;
	}
	bench_sock_path(raw_sock, sizeof(raw_sock), "hsraw");
	/* +1: the observer peer. */
	rc = bench_server_listen(&bs, "hs", (unsigned int)o.vectors,
				 (unsigned int)o.peers + 1);
	if (!rc)
		rc = bench_server_run(&bs);
	if (!rc) {
		hi = hs_ivshm_new(bs.sock, (unsigned int)o.peers,
				  (unsigned int)o.vectors);
		hr = hs_raw_new(raw_sock, (unsigned int)o.peers);
		rc = hi && hr ? run(&o, hi, hr, &iv, &raw) : -1;
	}
	hs_ivshm_free(hi);
	hs_raw_free(hr);
	bench_server_finish(&bs);
	if (rc) {
		fprintf(stderr, "ivshm-bench-handshake: the run failed\n");
	} else {
		series_sum(&iv, &o);
		series_sum(&raw, &o);
		report(&o, &iv, &raw);
	}
	series_free(&iv);
	series_free(&raw);
	return rc ? BENCH_EXIT_FAIL : 0;
}
