// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-doorbell: doorbell round trip between two device-model peers
 * in two processes, next to a raw eventfd ping-pong between two processes
 * (the floor any eventfd doorbell can reach). The server runs in a thread
 * of the parent, started only after both sides are forked so that no
 * child inherits a half-copied threaded process.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pingpong.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ivshm-bench-doorbell [-n ITERS] [-w WARMUP] [-k BLOCKS] [-b] [-d]\n"
"                            [-c CPUA,CPUB]\n"
"Doorbell round trip between two ivshm peers in two processes (A rings B,\n"
"B wakes and rings A back, A wakes), beside a raw eventfd ping-pong between\n"
"two processes that wake the same way (poll + read + write).\n"
"\n"
"  -n ITERS   measured round trips per mode (default 100000)\n"
"  -w WARMUP  unmeasured round trips before them (default 10000)\n"
"  -k BLOCKS  the modes take turns this many times, ITERS/BLOCKS round\n"
"             trips each, so that load changes hit them alike (default 10)\n"
"  -b         busy-poll: wait with a zero timeout in a loop instead of\n"
"             blocking (needs a CPU per side to mean anything)\n"
"  -d         also run the diagnostic modes: raw eventfd with epoll, and\n"
"             ivshm_ring() with poll() on ivshm_device_vector_fd()\n"
"  -c A,B     pin side A to CPU A and side B to CPU B\n"
"  -h         this help\n"
"\n"
"Prints a table in microseconds and a RESULT line. Exit status: 0, 1 when\n"
"the run failed, 2 for a bad command line.\n");
}

static int parse_cpus(const char *s, int cpu[2])
{
	unsigned long a, b;
	char buf[32], *comma;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	comma = strchr(buf, ',');
	if (!comma)
		return -1;
	*comma = '\0';
	if (bench_parse_ulong(buf, 0, CPU_SETSIZE - 1, &a) ||
	    bench_parse_ulong(comma + 1, 0, CPU_SETSIZE - 1, &b))
		return -1;
	cpu[0] = (int)a;
	cpu[1] = (int)b;
	return 0;
}

struct opts {
	unsigned long iters, warmup, blocks;
	bool busy, diag;
	int cpu[2];
};

/* 0 to run, 1 after help, -1 after a message about a bad flag. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .iters = 100000, .warmup = 10000, .blocks = 10,
			    .cpu = { -1, -1 } };
	opterr = 0;
	while ((c = getopt(argc, argv, ":n:w:k:bdc:h")) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_ulong(optarg, 1, 100000000, &o->iters))
				goto bad_value;
			break;
		case 'w':
			if (bench_parse_ulong(optarg, 0, 100000000,
					      &o->warmup))
				goto bad_value;
			break;
		case 'k':
			if (bench_parse_ulong(optarg, 1, 100000000, &o->blocks))
				goto bad_value;
			break;
		case 'b':
			o->busy = true;
			break;
		case 'd':
			o->diag = true;
			break;
		case 'c':
			if (parse_cpus(optarg, o->cpu))
				goto bad_value;
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
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		goto hint;
	}
	if (o->blocks > o->iters) {
		fprintf(stderr, "-k %lu is more blocks than -n %lu round "
			"trips\n", o->blocks, o->iters);
		goto hint;
	}
	return 0;
bad_value:
	fprintf(stderr, "bad value '%s' for -%c (%s)\n", optarg, c,
		c == 'c' ? "two CPU numbers like 0,1" :
		c == 'w' ? "0..100000000" : "1..100000000");
hint:
	fprintf(stderr, "try 'ivshm-bench-doorbell -h'\n");
	return -1;
}

/* Wait for both sides; if one fails, the other is killed. */
static int reap(pid_t pid[2])
{
	int left = 2, failed = 0;

	while (left) {
		int st;
		pid_t p = waitpid(-1, &st, 0);

		if (p < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p != pid[0] && p != pid[1])
			continue;
		left--;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			if (!failed && left)
				kill(p == pid[0] ? pid[1] : pid[0], SIGKILL);
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

static void print_row(const char *name, const struct bench_stats *st)
{
	printf("%-24s %9.2f %9.2f %9.2f %9.2f\n", name, st->median, st->p99,
	       st->p999, st->mean);
}

static void report(const struct opts *o, const struct pp_shared *sh)
{
	const struct bench_stats *iv = &sh->stats[PP_IVSHM];
	const struct bench_stats *raw = &sh->stats[PP_RAW_POLL];
	double ratio = iv->median / raw->median;

	printf("doorbell round trip: %lu iterations after %lu warm-up, in %lu "
	       "blocks per mode, %s wait", o->iters, o->warmup, o->blocks,
	       o->busy ? "busy-poll" : "blocking");
	if (o->cpu[0] >= 0)
		printf(", A on CPU %d, B on CPU %d", o->cpu[0], o->cpu[1]);
	printf("\n%-24s %9s %9s %9s %9s\n", "mode (us)", "median", "p99",
	       "p99.9", "mean");
	for (int m = 0; m < PP_NMODES; m++)
		if (sh->done[m])
			print_row(pp_mode_name[m], &sh->stats[m]);
	printf("%-24s %9.2f %9.2f %9.2f %9.2f\n", "ratio ivshm/raw", ratio,
	       iv->p99 / raw->p99, iv->p999 / raw->p999,
	       iv->mean / raw->mean);
	printf("target: ivshm median within 1.2x of raw eventfd: %s\n",
	       ratio <= 1.2 ? "met" : "MISSED");
	printf("RESULT doorbell_rtt_median_us=%.2f doorbell_rtt_p99_us=%.2f "
	       "doorbell_rtt_p999_us=%.2f doorbell_rtt_mean_us=%.2f "
	       "baseline_median_us=%.2f baseline_p99_us=%.2f "
	       "baseline_p999_us=%.2f baseline_mean_us=%.2f ratio=%.3f "
	       "iterations=%lu wait=%s\n", iv->median, iv->p99, iv->p999,
	       iv->mean, raw->median, raw->p99, raw->p999, raw->mean, ratio,
	       o->iters, o->busy ? "busy" : "block");
}

static struct pp_shared *shared_new(const struct opts *o)
{
	pthread_barrierattr_t ba;
	struct pp_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED)
		return NULL;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->barrier, &ba, 2);
	pthread_barrierattr_destroy(&ba);
	sh->run[PP_IVSHM] = sh->run[PP_RAW_POLL] = true;
	sh->run[PP_RAW_EPOLL] = sh->run[PP_IVSHM_FD] = o->diag;
	return sh;
}

int main(int argc, char **argv)
{
	struct bench_server bs;
	struct pp_cfg cfg;
	struct pp_shared *sh;
	pid_t pid[2];
	struct opts o;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : BENCH_EXIT_USAGE;
	if (o.busy && o.cpu[0] < 0)
		fprintf(stderr, "note: -b without -c: if both sides share a "
			"CPU, each wait spins out a time slice\n");
	bench_cleanup_install();
	sh = shared_new(&o);
	/* Created like the server's: non-blocking, so both sides match. */
	cfg.efd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cfg.efd[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!sh || cfg.efd[0] < 0 || cfg.efd[1] < 0) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	if (bench_server_listen(&bs, "db", 1, 4))
		return BENCH_EXIT_FAIL;
	cfg.iters = o.iters;
	cfg.warmup = o.warmup;
	cfg.blocks = o.blocks;
	cfg.busy = o.busy;
	cfg.sock = bs.sock;
	cfg.sh = sh;
	fflush(NULL);
	for (int i = 0; i < 2; i++) {
		pid[i] = bench_fork();
		if (pid[i] < 0) {
			fprintf(stderr, "fork: %s\n", strerror(errno));
			/* PDEATHSIG ends a side already forked. */
			return BENCH_EXIT_FAIL;
		}
		if (pid[i] == 0) {
			cfg.cpu = o.cpu[i];
			_exit(pp_side(&cfg, i == 0));
		}
	}
	rc = bench_server_run(&bs);
	if (rc) {
		kill(pid[0], SIGKILL);
		kill(pid[1], SIGKILL);
	}
	if (reap(pid))
		rc = -1;
	bench_server_finish(&bs);
	if (rc) {
		fprintf(stderr, "ivshm-bench-doorbell: the run failed\n");
		return BENCH_EXIT_FAIL;
	}
	report(&o, sh);
	return 0;
}
