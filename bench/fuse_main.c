// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-fuse: ivshm-fuse (plain region, and through the doorbell
 * server) beside a fresh tmpfs and libfuse's passthrough_ll over a tmpfs,
 * in one run; one table, one RESULT line per figure. See bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_util.h"
#include "fuse_bench.h"
#include "units.h"

const struct fb_rowdef fb_rows[FB_NROWS] = {
	[FB_SEQ_WRITE] = { "seq_write", "seq write 1M", "MiB/s", false,
			   false },
	[FB_SEQ_READ_COLD] = { "seq_read_cold", "seq read 1M cold", "MiB/s",
			       false, false },
	[FB_SEQ_READ_WARM] = { "seq_read_warm", "seq read 1M warm", "MiB/s",
			       false, true },
	[FB_RAND_WRITE] = { "rand_write", "rand write 4K", "IOPS", false,
			    false },
	[FB_RAND_READ_COLD] = { "rand_read_cold", "rand read 4K cold", "IOPS",
				false, false },
	[FB_RAND_READ_WARM] = { "rand_read_warm", "rand read 4K warm", "IOPS",
				false, true },
	[FB_CREATE] = { "files_create", "create+write 4K", "files/s", false,
			false },
	[FB_STAT_COLD] = { "files_stat_cold", "stat cold", "files/s", false,
			   false },
	[FB_READDIR_COLD] = { "files_readdir_cold", "readdir cold", "names/s",
			      false, false },
	[FB_READ_COLD] = { "files_read_cold", "open+read cold", "files/s",
			   false, false },
	[FB_STAT_WARM] = { "files_stat_warm", "stat warm", "files/s", false,
			   true },
	[FB_READDIR_WARM] = { "files_readdir_warm", "readdir warm", "names/s",
			      false, true },
	[FB_READ_WARM] = { "files_read_warm", "open+read warm", "files/s",
			   false, true },
	[FB_UNLINK] = { "files_unlink", "unlink", "files/s", false, false },
	[FB_TREE_COPY] = { "tree_copy", "cp -a tree", "s", true, false },
	[FB_TREE_REMOVE] = { "tree_remove", "rm -rf tree", "s", true, false },
	[FB_A2B_MEDIAN] = { "a2b_median", "A->B median", "us", true, false },
	[FB_A2B_P99] = { "a2b_p99", "A->B p99", "us", true, false },
};

const char *const fb_part_name[FB_NPARTS] = {
	[FB_P_SEQ] = "seq",
	[FB_P_RAND] = "rand",
	[FB_P_FILES] = "files",
	[FB_P_TREE] = "tree",
	[FB_P_A2B] = "a2b",
};

#define A2B_TARGET_US 1000.0
#define MAX_ROUNDS 20

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ivshm-bench-fuse [-q] [-k ROUNDS] [-C COLUMNS] [-s PARTS]\n"
"                        [-P PASSTHROUGH_LL] [-w WORKDIR] [-r SIZE]\n"
"                        [-t SIZE] [-R SIZE] [-o OPS] [-f FILES] [-T DIR]\n"
"                        [-n ITERS] [-b SECONDS]\n"
"ivshm-fuse beside tmpfs and libfuse's passthrough_ll, through the calls\n"
"applications make. Mounts everything itself (run as root) and unmounts it\n"
"at the end, on error and on SIGINT, SIGTERM or SIGHUP.\n"
"\n"
"Columns (-C, default all of them):\n"
"  ivshm       ivshm-fuse -o region=/dev/shm/... (no doorbells)\n"
"  ivshm-sock  ivshm-fuse -o socket=... on build/bin/ivshm-server\n"
"  tmpfs       a fresh tmpfs\n"
"  pt_ll       passthrough_ll -o source=(a fresh tmpfs); needs -P\n"
"Parts (-s, default all): seq rand files tree a2b\n"
"\n"
"  -k ROUNDS   rounds of seq,rand,files,tree; medians (default 3)\n"
"  -P BIN      the passthrough_ll binary (bench/fuse_bench.sh builds it)\n"
"  -w DIR      an existing directory for mount points, socket and logs\n"
"              (default: a new one in /tmp, removed at the end)\n"
"  -r SIZE     region of each ivshm column (default 1G, a power of two)\n"
"  -t SIZE     sequential file, 1 MiB writes and reads (default 512M)\n"
"  -R SIZE     random-access file (default 256M)\n"
"  -o OPS      4 KiB preads and pwrites per random row, each to a distinct\n"
"              page (default: every page of the file)\n"
"  -f FILES    small files of 4 KiB (default 5000)\n"
"  -T DIR      tree to copy in with cp -a and remove (default /usr/include)\n"
"  -n ITERS    A->B samples per column (default 2000)\n"
"  -b SECONDS  A->B time budget per column (default 20)\n"
"  -q          quick: 1 round, 64M, 32M, 1000 files, /usr/include/linux,\n"
"              300 samples in at most 3 s (explicit flags still win)\n"
"  -h          this help\n"
"\n"
"Prints a table (ratios are speed ratios: above 1 ivshm-fuse is faster)\n"
"and one 'RESULT key=value ...' line per figure. Exit status: 0 when every\n"
"figure was measured (whether or not targets were met), 1 when something\n"
"failed, 2 for a bad command line.\n");
}

static int parse_list(const char *s, const char *const *names, int n,
		      unsigned int *bits)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*bits = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < n && strcmp(tok, names[i]); i++)
			;
		if (i == n)
			return -1;
		*bits |= 1u << i;
	}
	return *bits ? 0 : -1;
}

static int parse_size(const char *s, uint64_t *out)
{
	return ivshm_parse_size(s, out) || !*out ? -1 : 0;
}

/* ---- results ---- */

struct ratio {
	int subj, base;		/* column indexes */
	bool warm_only;		/* target only on warm rows (vs tmpfs) */
	double min;		/* the target: speed ratio at least this */
};

static double vals[FB_NROWS][FB_NKINDS][MAX_ROUNDS];
static unsigned int nvals[FB_NROWS][FB_NKINDS];
static struct fb_err errs[FB_NROWS][FB_NKINDS];
static struct fb_a2b_info a2b_info[FB_NKINDS];
static double cell[FB_NROWS][FB_NKINDS];

static void fmt_val(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (v >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (v >= 0.1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

/* How many times faster @subj is than @base (whatever the unit). */
static double speed_ratio(int row, int subj, int base)
{
	double s = cell[row][subj], b = cell[row][base];

	if (isnan(s) || isnan(b))
		return NAN;
	if (fb_rows[row].lower_better)
		return s > 0 ? b / s : INFINITY;
	return b > 0 ? s / b : INFINITY;
}

static bool has_target(const struct ratio *r, int row)
{
	/* A->B is tmpfs's own page cache: no target against it. */
	return !r->warm_only || fb_rows[row].warm;
}

static bool a2b_target(const struct fb_col *cols, int col, int row)
{
	return (row == FB_A2B_P99) &&
	       !strcmp(cols[col].label, fb_kind_label[FB_K_IVSHM_SOCK]);
}

static void print_results(const struct fb_col *cols, unsigned int ncols,
			  const struct ratio *ratios, unsigned int nratios,
			  unsigned int rows_run)
{
	char head[64], v[32];
	unsigned int met = 0, missed = 0, errors = 0;

	printf("\n%-18s %-7s", "row", "unit");
	for (unsigned int c = 0; c < ncols; c++)
		printf(" %10s", cols[c].label);
	for (unsigned int r = 0; r < nratios; r++) {
		snprintf(head, sizeof(head), "%s/%s",
			 cols[ratios[r].subj].label,
			 cols[ratios[r].base].label);
		printf(" %17s", head);
	}
	printf("\n");
	for (int row = 0; row < FB_NROWS; row++) {
		if (!(rows_run & (1u << row)))
			continue;
		printf("%-18s %-7s", fb_rows[row].label, fb_rows[row].unit);
		for (unsigned int c = 0; c < ncols; c++) {
			if (errs[row][c].msg[0])
				snprintf(v, sizeof(v), "error");
			else
				fmt_val(cell[row][c], v, sizeof(v));
			if (a2b_target(cols, (int)c, row) && !isnan(cell[row][c]))
				strcat(v, cell[row][c] <= A2B_TARGET_US ? " "
									: "*");
			printf(" %10s", v);
		}
		for (unsigned int r = 0; r < nratios; r++) {
			double x = speed_ratio(row, ratios[r].subj,
					       ratios[r].base);
			char mark = ' ';

			fmt_val(x, v, sizeof(v));
			if (has_target(&ratios[r], row) && !isnan(x))
				mark = x >= ratios[r].min ? ' ' : '*';
			printf(" %16s%c", v, mark);
		}
		printf("\n");
	}
	printf("\nRatios are speed ratios (above 1: ivshm-fuse faster, "
	       "whatever the unit).\n"
	       "* = target missed: ahead of pt_ll on every row (>= 1); "
	       "within 2x of tmpfs on warm\n"
	       "rows (>= 0.5); A->B p99 of ivshm-sock <= %.0f us. The ivshm "
	       "column has no\ndoorbells: B notices by polling.\n\n",
	       A2B_TARGET_US);

	for (int row = 0; row < FB_NROWS; row++) {
		if (!(rows_run & (1u << row)))
			continue;
		for (unsigned int c = 0; c < ncols; c++) {
			if (errs[row][c].msg[0]) {
				errors++;
				printf("RESULT test=fuse row=%s fs=%s "
				       "status=error error=\"%s\"\n",
				       fb_rows[row].key, cols[c].label,
				       errs[row][c].msg);
				continue;
			}
			if (isnan(cell[row][c]))
				continue;
			printf("RESULT test=fuse row=%s fs=%s value=%.6g "
			       "unit=%s better=%s", fb_rows[row].key,
			       cols[c].label, cell[row][c], fb_rows[row].unit,
			       fb_rows[row].lower_better ? "lower" : "higher");
			if (row >= FB_A2B_MEDIAN) {
				const struct fb_a2b_info *i = &a2b_info[c];

				printf(" n=%lu early=%lu timeouts=%lu "
				       "p90_us=%.1f p999_us=%.1f max_us=%.1f "
				       "over_1ms=%lu over_10ms=%lu", i->n,
				       i->early, i->timeouts, i->p90_us,
				       i->p999_us, i->max_us, i->over_1ms,
				       i->over_10ms);
			} else {
				double lo = vals[row][c][0], hi = lo;

				for (unsigned int k = 1; k < nvals[row][c];
				     k++) {
					lo = fmin(lo, vals[row][c][k]);
					hi = fmax(hi, vals[row][c][k]);
				}
				printf(" rounds=%u min=%.6g max=%.6g",
				       nvals[row][c], lo, hi);
			}
			if (a2b_target(cols, (int)c, row)) {
				bool ok = cell[row][c] <= A2B_TARGET_US;

				printf(" target=max:%.0f met=%s",
				       A2B_TARGET_US, ok ? "yes" : "no");
				ok ? met++ : missed++;
			}
			printf("\n");
		}
		for (unsigned int r = 0; r < nratios; r++) {
			double x = speed_ratio(row, ratios[r].subj,
					       ratios[r].base);

			if (isnan(x))
				continue;
			printf("RESULT test=fuse row=%s ratio=%s/%s "
			       "value=%.4g", fb_rows[row].key,
			       cols[ratios[r].subj].label,
			       cols[ratios[r].base].label, x);
			if (has_target(&ratios[r], row)) {
				bool ok = x >= ratios[r].min;

				printf(" target=min_ratio:%g met=%s",
				       ratios[r].min, ok ? "yes" : "no");
				ok ? met++ : missed++;
			}
			printf("\n");
		}
	}
	printf("RESULT test=fuse_targets met=%u missed=%u errors=%u\n", met,
	       missed, errors);
}

/* ---- running ---- */

static int run_part(int part, const struct fb_cfg *cfg, const char *dir,
		    double *out, struct fb_err *e)
{
	switch (part) {
	case FB_P_SEQ:
		return fb_seq(cfg, dir, out, e);
	case FB_P_RAND:
		return fb_rand(cfg, dir, out, e);
	case FB_P_FILES:
		return fb_files(cfg, dir, out, e);
	case FB_P_TREE:
		return fb_tree(cfg, dir, out, e);
	}
	return -1;
}

static const int part_rows[FB_NPARTS][2] = {
	[FB_P_SEQ] = { FB_SEQ_WRITE, FB_SEQ_READ_WARM },
	[FB_P_RAND] = { FB_RAND_WRITE, FB_RAND_READ_WARM },
	[FB_P_FILES] = { FB_CREATE, FB_UNLINK },
	[FB_P_TREE] = { FB_TREE_COPY, FB_TREE_REMOVE },
	[FB_P_A2B] = { FB_A2B_MEDIAN, FB_A2B_P99 },
};

static void header(const struct fb_cfg *cfg, const struct fb_setup *s,
		   const struct fb_col *cols, unsigned int ncols)
{
	struct utsname u;
	char a[32], b[32], r[32];

	uname(&u);
	printf("ivshm-bench-fuse: kernel %s, %ld CPUs%s\n", u.release,
	       sysconf(_SC_NPROCESSORS_ONLN), cfg->quick ? ", quick" : "");
	printf("  seq %s, rand file %s x %lu ops, %lu files, tree %s, "
	       "%u round%s; region %s\n",
	       ivshm_format_size(cfg->seq_bytes, a, sizeof(a)),
	       ivshm_format_size(cfg->rand_bytes, b, sizeof(b)),
	       cfg->rand_ops, cfg->files, cfg->tree, cfg->rounds,
	       cfg->rounds == 1 ? "" : "s",
	       ivshm_format_size(s->region_size, r, sizeof(r)));
	printf("  A->B: %lu samples, at most %.0f s per column\n",
	       cfg->a2b_iters, cfg->a2b_budget_s);
	for (unsigned int c = 0; c < ncols; c++)
		printf("  %-10s %s%s%s%s\n", cols[c].label, cols[c].dir,
		       cols[c].has_b ? " (B: " : "",
		       cols[c].has_b ? cols[c].dir_b : "",
		       cols[c].has_b ? ")" : "");
	for (unsigned int c = 0; c < ncols; c++)
		if (cols[c].has_b) {
			printf("  (B mounts exist during the A->B part "
			       "only)\n");
			break;
		}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct fb_cfg cfg = { 0 };
	struct fb_setup setup = { .region_size = 1ull << 30 };
	struct fb_col cols[FB_NKINDS];
	struct ratio ratios[8];
	unsigned int ncols = 0, nratios = 0, kinds = (1u << FB_NKINDS) - 1;
	unsigned int rows_run = 0;
	bool own_work = false, failed = false;
	const char *work = NULL;
	uint64_t seq = 0, rnd = 0;
	unsigned long ops = 0, files = 0, iters = 0, rounds = 0, budget = 0;
	const char *tree = NULL;
	int opt;

	cfg.parts = (1u << FB_NPARTS) - 1;
	while ((opt = getopt(argc, argv, "qk:C:s:P:w:r:t:R:o:f:T:n:b:h")) !=
	       -1) {
		switch (opt) {
		case 'q':
			cfg.quick = true;
			break;
		case 'k':
			if (bench_parse_ulong(optarg, 1, MAX_ROUNDS, &rounds))
				goto bad;
			break;
		case 'C':
			if (parse_list(optarg, fb_kind_label, FB_NKINDS,
				       &kinds))
				goto bad;
			break;
		case 's':
			if (parse_list(optarg, fb_part_name, FB_NPARTS,
				       &cfg.parts))
				goto bad;
			break;
		case 'P':
			setup.passthrough = optarg;
			break;
		case 'w':
			work = optarg;
			break;
		case 'r':
			if (parse_size(optarg, &setup.region_size) ||
			    !ivshm_is_pow2(setup.region_size))
				goto bad;
			break;
		case 't':
			if (parse_size(optarg, &seq) || seq % (1u << 20))
				goto bad;
			break;
		case 'R':
			if (parse_size(optarg, &rnd) || rnd % (1u << 20) ||
			    rnd / 4096 > UINT32_MAX)
				goto bad;
			break;
		case 'o':
			if (bench_parse_ulong(optarg, 1, ~0ul, &ops))
				goto bad;
			break;
		case 'f':
			if (bench_parse_ulong(optarg, 1, 999999, &files))
				goto bad;
			break;
		case 'T':
			tree = optarg;
			break;
		case 'n':
			if (bench_parse_ulong(optarg, 1, 10000000, &iters))
				goto bad;
			break;
		case 'b':
			if (bench_parse_ulong(optarg, 1, 86400, &budget))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if ((kinds & (1u << FB_K_PT)) && !setup.passthrough &&
	    kinds != (1u << FB_NKINDS) - 1) {
		fprintf(stderr, "ivshm-bench-fuse: pt_ll needs -P BIN\n");
		return BENCH_EXIT_USAGE;
	}
	cfg.rounds = rounds ? (unsigned int)rounds : cfg.quick ? 1 : 3;
	cfg.seq_bytes = seq ? seq : cfg.quick ? 64ull << 20 : 512ull << 20;
	cfg.rand_bytes = rnd ? rnd : cfg.quick ? 32ull << 20 : 256ull << 20;
	cfg.rand_ops = ops ? ops : cfg.rand_bytes / 4096;
	if (cfg.rand_ops > cfg.rand_bytes / 4096)
		cfg.rand_ops = cfg.rand_bytes / 4096;
	cfg.files = files ? files : cfg.quick ? 1000 : 5000;
	cfg.tree = tree ? tree : cfg.quick ? "/usr/include/linux"
					   : "/usr/include";
	cfg.a2b_iters = iters ? iters : cfg.quick ? 300 : 2000;
	cfg.a2b_budget_s = budget ? (double)budget : cfg.quick ? 3 : 20;
	cfg.a2b_timeout_s = 5;
	cfg.a2b_gap_us = 1000;
	if (cfg.seq_bytes > setup.region_size / 2 ||
	    cfg.rand_bytes > setup.region_size / 2) {
		fprintf(stderr, "ivshm-bench-fuse: -t and -R must be at most "
			"half the region (-r)\n");
		return BENCH_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "ivshm-bench-fuse: run as root (it mounts "
			"file systems and drops caches)\n");
		return BENCH_EXIT_FAIL;
	}
	if (!setup.passthrough)
		fprintf(stderr, "ivshm-bench-fuse: no -P: no pt_ll column "
			"(bench/fuse_bench.sh builds passthrough_ll)\n");

	fb_setup_signals();
	if (work && strlen(work) >= FB_WORK_MAX - 32) {
		fprintf(stderr, "ivshm-bench-fuse: -w: path too long\n");
		return BENCH_EXIT_USAGE;
	}
	if (work) {
		snprintf(setup.work, sizeof(setup.work), "%s", work);
	} else {
		snprintf(setup.work, sizeof(setup.work),
			 "/tmp/ivshm-bench-fuse-XXXXXX");
		if (!mkdtemp(setup.work)) {
			perror("mkdtemp");
			return BENCH_EXIT_FAIL;
		}
		own_work = true;
	}
	snprintf(setup.region, sizeof(setup.region),
		 "/dev/shm/ivshm-bench-fuse-%d", (int)getpid());
	snprintf(setup.srv_shm, sizeof(setup.srv_shm),
		 "ivshm-bench-fuse-%d-srv", (int)getpid());
	snprintf(setup.sock, sizeof(setup.sock), "%s/ivshm.sock", setup.work);
	if (fb_setup_start(&setup, kinds, cols, &ncols) || !ncols) {
		failed = true;
		goto out;
	}
	for (unsigned int s = 0; s < ncols; s++) {
		if (strncmp(cols[s].label, "ivshm", 5))
			continue;
		for (unsigned int b = 0; b < ncols; b++) {
			if (!strcmp(cols[b].label, fb_kind_label[FB_K_PT]))
				ratios[nratios++] = (struct ratio){
					(int)s, (int)b, false, 1.0 };
			else if (!strcmp(cols[b].label,
					 fb_kind_label[FB_K_TMPFS]))
				ratios[nratios++] = (struct ratio){
					(int)s, (int)b, true, 0.5 };
		}
	}
	header(&cfg, &setup, cols, ncols);

	for (int row = 0; row < FB_NROWS; row++)
		for (unsigned int c = 0; c < FB_NKINDS; c++)
			cell[row][c] = NAN;
	for (unsigned int r = 0; r < cfg.rounds; r++) {
		for (int p = 0; p < FB_P_A2B; p++) {
			if (!(cfg.parts & (1u << p)))
				continue;
			/* Columns take turns, starting one later each round. */
			for (unsigned int k = 0; k < ncols; k++) {
				unsigned int c = (k + r) % ncols;
				double out[FB_NROWS];
				struct fb_err e = { { 0 } };
				double t = fb_now();

				for (int row = 0; row < FB_NROWS; row++)
					out[row] = NAN;
				printf("round %u: %-5s on %-10s", r + 1,
				       fb_part_name[p], cols[c].label);
				fflush(stdout);
				if (run_part(p, &cfg, cols[c].dir, out, &e)) {
					printf(" failed: %s\n", e.msg);
					for (int row = part_rows[p][0];
					     row <= part_rows[p][1]; row++)
						errs[row][c] = e;
					failed = true;
				} else {
					printf(" %.1f s\n", fb_now() - t);
				}
				for (int row = part_rows[p][0];
				     row <= part_rows[p][1]; row++) {
					rows_run |= 1u << row;
					if (!isnan(out[row]))
						vals[row][c][nvals[row][c]++] =
							out[row];
				}
			}
		}
	}
	for (int row = 0; row < FB_NROWS; row++)
		for (unsigned int c = 0; c < ncols; c++)
			if (nvals[row][c] && !errs[row][c].msg[0])
				cell[row][c] = bench_median(vals[row][c],
							    nvals[row][c]);

	if (cfg.parts & (1u << FB_P_A2B)) {
		rows_run |= 1u << FB_A2B_MEDIAN | 1u << FB_A2B_P99;
		if (fb_setup_mount_b(&setup, cols, ncols)) {
			failed = true;
			for (unsigned int c = 0; c < ncols; c++) {
				fb_fail(&errs[FB_A2B_MEDIAN][c],
					"cannot mount B");
				errs[FB_A2B_P99][c] = errs[FB_A2B_MEDIAN][c];
			}
		} else {
			for (unsigned int c = 0; c < ncols; c++) {
				double out[FB_NROWS];
				struct fb_err e = { { 0 } };

				out[FB_A2B_MEDIAN] = out[FB_A2B_P99] = NAN;
				printf("A->B on %-10s", cols[c].label);
				fflush(stdout);
				if (fb_a2b(&cfg, &cols[c], out, &a2b_info[c],
					   &e)) {
					printf(" failed: %s\n", e.msg);
					errs[FB_A2B_MEDIAN][c] = e;
					errs[FB_A2B_P99][c] = e;
					failed = true;
					continue;
				}
				printf(" %lu samples\n", a2b_info[c].n);
				cell[FB_A2B_MEDIAN][c] = out[FB_A2B_MEDIAN];
				cell[FB_A2B_P99][c] = out[FB_A2B_P99];
			}
		}
		fb_setup_unmount_b(&setup);
	}
	print_results(cols, ncols, ratios, nratios, rows_run);
out:
	fb_setup_stop(&setup);
	if (own_work)
		rmdir(setup.work);
	return failed ? BENCH_EXIT_FAIL : 0;
bad:
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
