// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-store: flags, the regions every part uses, and the table of
 * results printed at the end (one RESULT line per row).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_bench.h"
#include "units.h"

const char *const sb_part_name[SB_NPARTS] = {
	[SB_APPEND] = "append",
	[SB_ATTACH] = "attach",
	[SB_CLEAN] = "clean",
	[SB_LATENCY] = "latency",
	[SB_INDEX] = "index",
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ivshm-bench-store [-q] [-r SIZE] [-t SIZE] [-c SIZE] [-n RECORDS]\n"
"                         [-i ITERS] [-f FILES] [-e EXTENTS] [-s PARTS]\n"
"                         [-p CPUA,CPUB]\n"
"Figures of the ivshm store on regions in /dev/shm, each beside a baseline\n"
"measured in the same run:\n"
"  append   ivshm_fs_write() of 4 KiB (sequential, random overwrites) and\n"
"           1 MiB (sequential) vs memcpy() of the same bytes into a mapped\n"
"           /dev/shm region of the same size\n"
"  attach   ivshm_fs_open() of a new peer on a region of RECORDS records,\n"
"           before and after ivshm_fs_checkpoint(), vs reading and\n"
"           checking the same records (ivshm_log_next() alone)\n"
"  clean    write amplification and foreground latency of random 4 KiB\n"
"           overwrites (3x the region) of a file filling 50/75/90%% of the\n"
"           region, vs a greedy log-structured cleaner simulated on the same\n"
"           segments and the same writes\n"
"  latency  commit-to-replay between two processes joined to a doorbell\n"
"           server: woken by the doorbell, and polling the head, vs the\n"
"           bare doorbell and a bare shared-memory store\n"
"  index    heap bytes of a peer's index per file and per extent\n"
"           (mallinfo2), vs the bytes of the records describing them\n"
"\n"
"  -r SIZE     region for append, attach and index (default 1G)\n"
"  -t SIZE     bytes appended per append case (default 512M, <= half -r)\n"
"  -c SIZE     region of the cleaner part (default 1G)\n"
"  -n RECORDS  records in the attach region (default 1000000)\n"
"  -i ITERS    commit-to-replay samples per mode (default 5000)\n"
"  -f FILES    files for the index part (default 100000)\n"
"  -e EXTENTS  extents for the index part (default 1000000)\n"
"  -s PARTS    comma-separated parts to run (default: all of\n"
"              append,attach,clean,latency,index)\n"
"  -p A,B      CPUs of the writer and reader processes of the latency part\n"
"              (default 0,1 with two CPUs or more; -p -1,-1 to not pin)\n"
"  -q          quick: small sizes, a few seconds (explicit flags still win)\n"
"  -h          this help\n"
"\n"
"SIZE takes K, M, G suffixes; regions must be powers of two. Prints a table\n"
"and one 'RESULT key=value ...' line per row. Exit status: 0, 1 when a part\n"
"failed (the store returned an error), 2 for a bad command line.\n");
}

/* ---- flags ---- */

static int parse_parts(const char *s, unsigned int *parts)
{
	char buf[128], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*parts = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int p;

		for (p = 0; p < SB_NPARTS; p++)
			if (!strcmp(tok, sb_part_name[p]))
				break;
		if (p == SB_NPARTS)
			return -1;
		*parts |= 1u << p;
	}
	return *parts ? 0 : -1;
}

static int parse_cpu(const char *s, int *cpu)
{
	unsigned long v;

	if (!strcmp(s, "-1")) {
		*cpu = -1;
		return 0;
	}
	if (bench_parse_ulong(s, 0, 1023, &v))
		return -1;
	*cpu = (int)v;
	return 0;
}

static int parse_cpus(const char *s, int cpu[2])
{
	char buf[32], *comma;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	comma = strchr(buf, ',');
	if (!comma)
		return -1;
	*comma = '\0';
	return parse_cpu(buf, &cpu[0]) || parse_cpu(comma + 1, &cpu[1]) ?
		       -1 : 0;
}

static int parse_region(const char *s, uint64_t *v)
{
	return ivshm_parse_size(s, v) || !ivshm_is_pow2(*v) ||
			       *v < (16u << 20) || *v > (64ull << 30) ?
		       -1 : 0;
}

/* 0 to run, 1 after help, -1 after a message about a bad flag. */
static int parse_args(int argc, char **argv, struct sb_opts *o)
{
	bool given[128] = { false };
	struct sb_opts q;
	const char *why;
	int c;

	*o = (struct sb_opts){ .region = 1ull << 30, .total = 512u << 20,
			       .clean_region = 1ull << 30, .records = 1000000,
			       .iters = 5000, .files = 100000,
			       .extents = 1000000,
			       .parts = (1u << SB_NPARTS) - 1,
			       .cpu = { -2, -2 } };
	q = *o;
	opterr = 0;
	while ((c = getopt(argc, argv, ":r:t:c:n:i:f:e:s:p:qh")) != -1) {
		given[c & 127] = true;
		switch (c) {
		case 'r':
			why = "a power of two from 16M to 64G";
			if (parse_region(optarg, &q.region))
				goto bad_value;
			break;
		case 'c':
			why = "a power of two from 16M to 64G";
			if (parse_region(optarg, &q.clean_region))
				goto bad_value;
			break;
		case 't':
			why = "a multiple of 1M, at least 4M";
			if (ivshm_parse_size(optarg, &q.total) ||
			    q.total < (4u << 20) || q.total % (1u << 20))
				goto bad_value;
			break;
		case 'n':
			why = "1000..100000000";
			if (bench_parse_ulong(optarg, 1000, 100000000,
					      &q.records))
				goto bad_value;
			break;
		case 'i':
			why = "100..10000000";
			if (bench_parse_ulong(optarg, 100, 10000000, &q.iters))
				goto bad_value;
			break;
		case 'f':
			why = "1000..10000000";
			if (bench_parse_ulong(optarg, 1000, 10000000, &q.files))
				goto bad_value;
			break;
		case 'e':
			why = "1000..100000000";
			if (bench_parse_ulong(optarg, 1000, 100000000,
					      &q.extents))
				goto bad_value;
			break;
		case 's':
			why = "names among append,attach,clean,latency,index";
			if (parse_parts(optarg, &q.parts))
				goto bad_value;
			break;
		case 'p':
			why = "two CPU numbers like 0,1 (-1 for none)";
			if (parse_cpus(optarg, q.cpu))
				goto bad_value;
			break;
		case 'q':
			q.quick = true;
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
	*o = q;
	/* Quick mode changes the defaults, not what was asked for. */
	if (o->quick) {
		if (!given['r'])
			o->region = 64u << 20;
		if (!given['t'])
			o->total = o->region / 2 < (32u << 20) ?
					   o->region / 2 : (32u << 20);
		if (!given['c'])
			o->clean_region = 32u << 20;
		if (!given['n'])
			o->records = 100000;
		if (!given['i'])
			o->iters = 500;
		if (!given['f'])
			o->files = 10000;
		if (!given['e'])
			o->extents = 100000;
	}
	if (o->total > o->region / 2) {
		fprintf(stderr, "-t %llu MiB is more than half the region "
			"(-r %llu MiB): random overwrites and the log need the "
			"other half\n",
			(unsigned long long)(o->total >> 20),
			(unsigned long long)(o->region >> 20));
		goto hint;
	}
	return 0;
bad_value:
	fprintf(stderr, "bad value '%s' for -%c (%s)\n", optarg, c, why);
hint:
	fprintf(stderr, "try 'ivshm-bench-store -h'\n");
	return -1;
}

/* ---- the result table ---- */

#define MAX_ROWS 64

struct row {
	char key[40];
	char label[64];
	char unit[8];
	double value, base;
	enum sb_target kind;
	double target;
	char extra[320];
	char error[360];
};

static struct row rows[MAX_ROWS];
static unsigned int nrows;
static bool any_failed;

static struct row *new_row(void)
{
	if (nrows == MAX_ROWS) {
		fprintf(stderr, "too many result rows\n");
		return NULL;
	}
	memset(&rows[nrows], 0, sizeof(rows[0]));
	return &rows[nrows++];
}

void sb_row(const char *key, const char *label, const char *unit,
	    double value, double base, enum sb_target kind, double target,
	    const char *extra_fmt, ...)
{
	struct row *r = new_row();
	va_list ap;

	if (!r)
		return;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->label, sizeof(r->label), "%s", label);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->value = value;
	r->base = base;
	r->kind = kind;
	r->target = target;
	if (extra_fmt) {
		va_start(ap, extra_fmt);
		vsnprintf(r->extra, sizeof(r->extra), extra_fmt, ap);
		va_end(ap);
	}
}

void sb_fail(const char *key, const char *fmt, ...)
{
	struct row *r = new_row();
	va_list ap;

	any_failed = true;
	if (!r)
		return;
	snprintf(r->key, sizeof(r->key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", key, r->error);
}

static const char *verdict(const struct row *r)
{
	switch (r->kind) {
	case SB_T_MIN:
		return r->value >= r->target ? "met" : "MISSED";
	case SB_T_MAX:
		return r->value <= r->target ? "met" : "MISSED";
	case SB_T_MIN_RATIO:
		return r->base > 0 && r->value / r->base >= r->target ?
			       "met" : "MISSED";
	default:
		return "-";
	}
}

static void target_text(const struct row *r, char *buf, size_t len)
{
	switch (r->kind) {
	case SB_T_MIN:
		snprintf(buf, len, ">= %g", r->target);
		break;
	case SB_T_MAX:
		snprintf(buf, len, "<= %g", r->target);
		break;
	case SB_T_MIN_RATIO:
		snprintf(buf, len, ">= %gx base", r->target);
		break;
	default:
		snprintf(buf, len, "-");
	}
}

/* Figures from 0.001 to 10^9 in about six significant characters. */
static void fig(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else if (v == 0 || v >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (v >= 0.01)
		snprintf(buf, len, "%.3f", v);
	else
		snprintf(buf, len, "%.2e", v);
}

static void print_table(void)
{
	char v[24], b[24], ratio[24], t[32];

	printf("\n%-50s %-5s %10s %10s %8s %-14s %s\n", "figure", "unit",
	       "ivshm", "baseline", "ratio", "target", "status");
	for (unsigned int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		if (r->error[0]) {
			printf("%-50s FAILED: %s\n", r->key, r->error);
			continue;
		}
		fig(r->value, v, sizeof(v));
		fig(r->base, b, sizeof(b));
		if (r->base > 0)
			snprintf(ratio, sizeof(ratio), "%.3f",
				 r->value / r->base);
		else
			snprintf(ratio, sizeof(ratio), "-");
		target_text(r, t, sizeof(t));
		printf("%-50s %-5s %10s %10s %8s %-14s %s\n", r->label, r->unit,
		       v, b, ratio, t, verdict(r));
	}
	printf("\n");
	for (unsigned int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		if (r->error[0]) {
			printf("RESULT test=%s status=error error=\"%s\"\n",
			       r->key, r->error);
			continue;
		}
		printf("RESULT test=%s value=%.6g unit=%s", r->key, r->value,
		       r->unit);
		if (r->base >= 0)
			printf(" baseline=%.6g", r->base);
		if (r->base > 0)
			printf(" ratio=%.4f", r->value / r->base);
		if (r->kind != SB_T_NONE)
			printf(" target=%s%g met=%s",
			       r->kind == SB_T_MAX ? "max:" :
			       r->kind == SB_T_MIN ? "min:" : "min_ratio:",
			       r->target, r->kind != SB_T_NONE &&
			       !strcmp(verdict(r), "met") ? "yes" : "no");
		if (r->extra[0])
			printf(" %s", r->extra);
		printf("\n");
	}
}

/* ---- regions ---- */

void sb_shm_path(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/dev/shm/ivshm-bench-store-%d-%s", (int)getpid(),
		 tag);
	bench_cleanup_path(buf);
}

int sb_region_new(const char *path, uint64_t size, struct ivshm_device **dev)
{
	int fd, rc;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "cannot create %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	rc = posix_fallocate(fd, 0, (off_t)size);
	close(fd);
	if (rc) {
		fprintf(stderr, "cannot allocate %llu MiB for %s: %s\n",
			(unsigned long long)(size >> 20), path, strerror(rc));
		unlink(path);
		return -1;
	}
	if (sb_region_open(path, dev))
		return -1;
	/* Fault every page in; the region stays blank. */
	memset((*dev)->region, 0, (size_t)size);
	return 0;
}

int sb_region_open(const char *path, struct ivshm_device **dev)
{
	int rc = ivshm_plain_open(path, dev);

	if (rc) {
		fprintf(stderr, "cannot map %s: %s\n", path, strerror(-rc));
		return -1;
	}
	return 0;
}

int sb_fs_open(struct ivshm_device *dev, const char *name,
	       struct ivshm_fs **fs)
{
	struct ivshm_fs_opts o = { .attach = { .name = name,
					       .format_if_blank = true } };
	int rc = ivshm_fs_open(dev, &o, fs);

	if (rc) {
		fprintf(stderr, "ivshm_fs_open (%s): %s\n", name,
			strerror(-rc));
		return -1;
	}
	return 0;
}

uint64_t sb_create(struct ivshm_fs *fs, const char *name)
{
	struct ivshm_attr a;
	int rc = ivshm_fs_mknod(fs, IVSHM_ROOT_INO, name, IVSHM_S_IFREG | 0644,
				0, 0, 0, &a);

	if (rc) {
		fprintf(stderr, "ivshm_fs_mknod %s: %s\n", name, strerror(-rc));
		return 0;
	}
	return a.ino;
}

int sb_verify(const char *what, struct ivshm_device *dev,
	      struct ivshm_verify_report *rep)
{
	int rc = ivshm_verify(dev->region, dev->size, rep);

	if (rc) {
		fprintf(stderr, "ivshm_verify after %s: %s (%llu errors): %s\n",
			what, strerror(-rc), (unsigned long long)rep->errors,
			rep->first_error);
		return -1;
	}
	return 0;
}

uint64_t sb_heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* ---- main ---- */

typedef int (*part_fn)(const struct sb_opts *o);

static const part_fn part_fns[SB_NPARTS] = {
	[SB_APPEND] = sb_append,
	[SB_ATTACH] = sb_attach,
	[SB_CLEAN] = sb_clean,
	[SB_LATENCY] = sb_latency,
	[SB_INDEX] = sb_index,
};

int main(int argc, char **argv)
{
	struct sb_opts o;
	char r[32], c[32], t[32];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : BENCH_EXIT_USAGE;
	if (o.cpu[0] == -2) {
		o.cpu[0] = ncpu >= 2 ? 0 : -1;
		o.cpu[1] = ncpu >= 2 ? 1 : -1;
	}
	bench_cleanup_install();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ivshm-bench-store%s: region %s, appending %s, cleaner region "
	       "%s, %lu records, %lu samples, %lu files, %lu extents, %ld "
	       "CPUs\n", o.quick ? " (quick)" : "",
	       ivshm_format_size(o.region, r, sizeof(r)),
	       ivshm_format_size(o.total, t, sizeof(t)),
	       ivshm_format_size(o.clean_region, c, sizeof(c)), o.records,
	       o.iters, o.files, o.extents, ncpu);
	/* latency forks: it runs first, before any part started a thread. */
	if (o.parts & (1u << SB_LATENCY)) {
		printf("== latency\n");
		if (sb_latency(&o))
			any_failed = true;
	}
	for (int p = 0; p < SB_NPARTS; p++) {
		if (p == SB_LATENCY || !(o.parts & (1u << p)))
			continue;
		printf("== %s\n", sb_part_name[p]);
		if (part_fns[p](&o))
			any_failed = true;
		bench_cleanup_now();
	}
	print_table();
	if (any_failed) {
		fprintf(stderr,
			"ivshm-bench-store: a part failed (see above)\n");
		return BENCH_EXIT_FAIL;
	}
	return 0;
}
