// SPDX-License-Identifier: MIT
/* ivshm-server's command line: QEMU contrib's flags, defaults and errors. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ivshm_server.h"
#include "testlib.h"
#include "ut_run.h"

#define MAX_ARGS 32

/* Output of the last parse(): what went to out and to err. */
static char out_text[8192], err_text[8192];

static int vparse(struct ivshm_server_config *cfg, va_list ap)
{
	static char *argv[MAX_ARGS + 2];
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *out = open_memstream(&obuf, &olen);
	FILE *err = open_memstream(&ebuf, &elen);
	int argc = 1, rc;

	argv[0] = (char *)"ivshm-server";
	while (argc <= MAX_ARGS && (argv[argc] = va_arg(ap, char *)))
		argc++;
	argv[argc] = NULL;
	ivshm_server_config_init(cfg);
	rc = ivshm_server_parse_args(argc, argv, cfg, out, err);
	fclose(out);
	fclose(err);
	snprintf(out_text, sizeof(out_text), "%s", obuf ? obuf : "");
	snprintf(err_text, sizeof(err_text), "%s", ebuf ? ebuf : "");
	free(obuf);
	free(ebuf);
	return rc;
}

/* Forget glibc getopt's state (optind = 0 is its full reset). */
static void reset_getopt(void)
{
	static char *none[] = { (char *)"x", NULL };

	optind = 0;
	while (getopt(1, none, "") != -1)
		;
}

/*
 * Parse "ivshm-server" plus the NULL-terminated arguments into a fresh
 * config, capturing both streams. Each call starts from a clean getopt so
 * that one test's leftovers never leak into the next one's.
 */
static int parse(struct ivshm_server_config *cfg, ...)
{
	va_list ap;
	int rc;

	reset_getopt();
	va_start(ap, cfg);
	rc = vparse(cfg, ap);
	va_end(ap);
	return rc;
}

/* The same without the reset: what a second call in a program gets. */
static int parse_again(struct ivshm_server_config *cfg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, cfg);
	rc = vparse(cfg, ap);
	va_end(ap);
	return rc;
}

/* The last error message mentions @what. */
static bool said(const char *what)
{
	if (!strstr(err_text, what)) {
		fprintf(stderr, "  error '%s' does not mention '%s'\n",
			err_text, what);
		return false;
	}
	return true;
}

/* Returns -1, said something on err (one line), nothing on out. */
#define CHECK_ERROR(rc)                                                  \
	do {                                                             \
		CU_ASSERT_EQUAL(rc, -1);                                 \
		CU_ASSERT_STRING_EQUAL(out_text, "");                    \
		CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "ivshm-server: ")); \
		CU_ASSERT_PTR_NOT_NULL(strchr(err_text, '\n'));          \
	} while (0)

static void test_defaults(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, NULL), 0);
	CU_ASSERT_STRING_EQUAL(c.socket_path, "/tmp/ivshmem_socket");
	CU_ASSERT_STRING_EQUAL(c.shm_name, "ivshmem");
	CU_ASSERT_PTR_NULL(c.shm_dir);
	CU_ASSERT_EQUAL(c.size, 4ull << 20);
	CU_ASSERT_FALSE(c.size_given);
	CU_ASSERT_EQUAL(c.vectors, 1);
	CU_ASSERT_EQUAL(c.max_peers, 64);
	CU_ASSERT_FALSE(c.foreground);
	CU_ASSERT_FALSE(c.verbose);
	CU_ASSERT_FALSE(c.group_given);
	/* Daemon mode by default, hence the default pidfile. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.pidfile);
	CU_ASSERT_STRING_EQUAL(c.pidfile, "/var/run/ivshmem-server.pid");
	CU_ASSERT_STRING_EQUAL(err_text, "");
	CU_ASSERT_STRING_EQUAL(out_text, "");
}

static void test_pidfile_only_in_daemon_mode(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, "-F", NULL), 0);
	CU_ASSERT_TRUE(c.foreground);
	CU_ASSERT_PTR_NULL(c.pidfile);

	CU_ASSERT_EQUAL(parse(&c, "-F", "-p", "/tmp/x.pid", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.pidfile);
	CU_ASSERT_STRING_EQUAL(c.pidfile, "/tmp/x.pid");

	CU_ASSERT_EQUAL(parse(&c, "-p", "/tmp/y.pid", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.pidfile);
	CU_ASSERT_STRING_EQUAL(c.pidfile, "/tmp/y.pid");
}

static void test_every_flag(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, "-v", "-F", "-p", "/run/p", "-S", "/run/s",
			      "-m", "/dev/hugepages", "-M", "reg", "-l", "8M",
			      "-n", "4", "-c", "10", "-G", "0", NULL), 0);
	CU_ASSERT_TRUE(c.verbose);
	CU_ASSERT_TRUE(c.foreground);
	CU_ASSERT_STRING_EQUAL(c.pidfile, "/run/p");
	CU_ASSERT_STRING_EQUAL(c.socket_path, "/run/s");
	CU_ASSERT_STRING_EQUAL(c.shm_dir, "/dev/hugepages");
	CU_ASSERT_STRING_EQUAL(c.shm_name, "reg");
	CU_ASSERT_EQUAL(c.size, 8ull << 20);
	CU_ASSERT_TRUE(c.size_given);
	CU_ASSERT_EQUAL(c.vectors, 4);
	CU_ASSERT_EQUAL(c.max_peers, 10);
	CU_ASSERT_TRUE(c.group_given);
	CU_ASSERT_EQUAL(c.group, 0);
	CU_ASSERT_STRING_EQUAL(err_text, "");
}

static void test_flag_values(void)
{
	struct ivshm_server_config c;

	/* Clustered flags, and values glued to their flag. */
	CU_ASSERT_EQUAL(parse(&c, "-vF", "-n64", "-l4096", NULL), 0);
	CU_ASSERT_TRUE(c.verbose && c.foreground);
	CU_ASSERT_EQUAL(c.vectors, 64);
	CU_ASSERT_EQUAL(c.size, 4096);
	/* -n takes base 0 like the contrib server (hex, octal). */
	CU_ASSERT_EQUAL(parse(&c, "-n", "0x10", NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 16);
	CU_ASSERT_EQUAL(parse(&c, "-n", "010", NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 8);
	CU_ASSERT_EQUAL(parse(&c, "-c", "65536", "-l", "2G", NULL), 0);
	CU_ASSERT_EQUAL(c.max_peers, 65536);
	CU_ASSERT_EQUAL(c.size, 2ull << 30);
	CU_ASSERT_EQUAL(parse(&c, "-l", "64KiB", "-c", "1", NULL), 0);
	CU_ASSERT_EQUAL(c.size, 65536);
	CU_ASSERT_EQUAL(c.max_peers, 1);
	/* A group by name. */
	CU_ASSERT_EQUAL(parse(&c, "-G", "root", NULL), 0);
	CU_ASSERT_TRUE(c.group_given);
	CU_ASSERT_EQUAL(c.group, 0);
	CU_ASSERT_EQUAL(parse(&c, "-G", "12345", NULL), 0);
	CU_ASSERT_EQUAL(c.group, 12345);
}

static void test_size_not_pow2(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-l", "3M", NULL));
	CU_ASSERT_TRUE(said("power of two"));
	CU_ASSERT_TRUE(said("-l 4M"));
	CHECK_ERROR(parse(&c, "-l", "4097", NULL));
	CU_ASSERT_TRUE(said("power of two"));
	CU_ASSERT_TRUE(said("-l 8K"));
	CHECK_ERROR(parse(&c, "-l", "1536M", NULL));
	CU_ASSERT_TRUE(said("-l 2G"));
}

static void test_size_too_small(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-l", "1K", NULL));
	CU_ASSERT_TRUE(said("too small"));
	CU_ASSERT_TRUE(said("4K"));
	CHECK_ERROR(parse(&c, "-l", "0", NULL));
	CU_ASSERT_TRUE(said("too small"));
	CHECK_ERROR(parse(&c, "-l", "2048", NULL));
	CU_ASSERT_TRUE(said("too small"));
}

static void test_size_junk(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-l", "lots", NULL));
	CU_ASSERT_TRUE(said("'lots'"));
	CU_ASSERT_TRUE(said("not a size"));
	CHECK_ERROR(parse(&c, "-l", "1.5G", NULL));
	CU_ASSERT_TRUE(said("not a size"));
	CHECK_ERROR(parse(&c, "-l", "99999999999999999999", NULL));
	CU_ASSERT_TRUE(said("not a size"));
}

/* Child: parse one -l value; exit 0 if refused, 1 if accepted. */
static bool refused_promptly(const char *size)
{
	int64_t deadline = ut_now_ms() + 500; /* it takes microseconds */
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct ivshm_server_config c;

		_exit(parse(&c, "-l", size, NULL) == -1 ? 0 : 1);
	}
	if (pid < 0)
		return false;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ut_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "  -l %s: parse_args still running "
				"after 0.5 s (killed)\n", size);
			return false;
		}
		usleep(10000);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * Sizes above 2^63 that are not powers of two: the "try -l" suggestion
 * must not spin forever looking for a power of two above them.
 */
static void test_size_huge_not_pow2(void)
{
	CU_ASSERT_TRUE(refused_promptly("16777215T"));
	CU_ASSERT_TRUE(refused_promptly("9223372036854775809"));
	CU_ASSERT_TRUE(refused_promptly("12582912T"));
}

static void test_vectors_range(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-n", "0", NULL));
	CU_ASSERT_TRUE(said("-n '0'"));
	CU_ASSERT_TRUE(said("1..64"));
	CHECK_ERROR(parse(&c, "-n", "65", NULL));
	CU_ASSERT_TRUE(said("-n '65'"));
	CU_ASSERT_TRUE(said("1..64"));
	CHECK_ERROR(parse(&c, "-n", "-1", NULL));
	CU_ASSERT_TRUE(said("1..64"));
	CHECK_ERROR(parse(&c, "-n", "4x", NULL));
	CU_ASSERT_TRUE(said("1..64"));
	CHECK_ERROR(parse(&c, "-n", "", NULL));
	CU_ASSERT_TRUE(said("1..64"));
}

static void test_peers_range(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-c", "0", NULL));
	CU_ASSERT_TRUE(said("-c '0'"));
	CU_ASSERT_TRUE(said("1..65536"));
	CHECK_ERROR(parse(&c, "-c", "65537", NULL));
	CU_ASSERT_TRUE(said("1..65536"));
	CHECK_ERROR(parse(&c, "-c", "many", NULL));
	CU_ASSERT_TRUE(said("1..65536"));
}

static void test_names(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-M", "dir/name", NULL));
	CU_ASSERT_TRUE(said("'dir/name'"));
	CU_ASSERT_TRUE(said("not a path"));
	CU_ASSERT_TRUE(said("-m"));
	CHECK_ERROR(parse(&c, "-M", "/name", NULL));
	CU_ASSERT_TRUE(said("not a path"));
	CHECK_ERROR(parse(&c, "-S", "", NULL));
	CU_ASSERT_TRUE(said("must not be empty"));
	CHECK_ERROR(parse(&c, "-M", "", NULL));
	CU_ASSERT_TRUE(said("must not be empty"));
	CHECK_ERROR(parse(&c, "-G", "no-such-group-ivshm-ut", NULL));
	CU_ASSERT_TRUE(said("no-such-group-ivshm-ut"));
}

static void test_unknown_option(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-x", NULL));
	CU_ASSERT_TRUE(said("unknown option"));
	CU_ASSERT_TRUE(said("-x"));
	CHECK_ERROR(parse(&c, "--bogus", NULL));
	CU_ASSERT_TRUE(said("--bogus"));
	CHECK_ERROR(parse(&c, "-F", "-q", NULL));
	CU_ASSERT_TRUE(said("-q"));
}

/* An unknown letter at the front of a cluster must still be named. */
static void test_unknown_option_in_cluster(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-xF", NULL));
	CU_ASSERT_TRUE(said("unknown option"));
	CU_ASSERT_TRUE(said("x"));
	CU_ASSERT_FALSE(strstr(err_text, "'ivshm-server'") != NULL);
}

static void test_missing_value(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "-l", NULL));
	CU_ASSERT_TRUE(said("-l needs a value"));
	CHECK_ERROR(parse(&c, "-F", "-S", NULL));
	CU_ASSERT_TRUE(said("-S needs a value"));
	CHECK_ERROR(parse(&c, "-n", NULL));
	CU_ASSERT_TRUE(said("-n needs a value"));
}

static void test_stray_argument(void)
{
	struct ivshm_server_config c;

	CHECK_ERROR(parse(&c, "stray", NULL));
	CU_ASSERT_TRUE(said("unexpected argument 'stray'"));
	CHECK_ERROR(parse(&c, "-F", "4M", "-n", "2", NULL));
	CU_ASSERT_TRUE(said("'4M'"));
}

static void test_help(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, "-h", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "Usage: ivshm-server"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "-l SIZE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "-c N"));
	CU_ASSERT_STRING_EQUAL(err_text, "");
	CU_ASSERT_EQUAL(parse(&c, "--help", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "Usage: ivshm-server"));
	/* Help wins over what follows, even a bad value. */
	CU_ASSERT_EQUAL(parse(&c, "-F", "-h", "-n", "0", NULL), 1);
}

/* getopt's state is reset: a second parse sees its own arguments. */
static void test_parse_twice(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, "-n", "3", NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 3);
	CU_ASSERT_EQUAL(parse(&c, "-n", "5", NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 5);
	CHECK_ERROR(parse(&c, "-n", "99", NULL));
	CU_ASSERT_EQUAL(parse(&c, NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 1);
}

/*
 * A parse that stopped inside a cluster ("-hF", "-xF") must not leave
 * getopt's position behind: the next parse in the same process has to see
 * all of its own arguments.
 */
static void test_parse_after_cluster(void)
{
	struct ivshm_server_config c;

	CU_ASSERT_EQUAL(parse(&c, "-hF", NULL), 1);
	CU_ASSERT_EQUAL(parse_again(&c, "-n", "3", NULL), 0);
	CU_ASSERT_EQUAL(c.vectors, 3);
	CU_ASSERT_FALSE(c.foreground);

	CU_ASSERT_EQUAL(parse(&c, "-xF", NULL), -1);
	CHECK_ERROR(parse_again(&c, "-l", NULL));
	CU_ASSERT_TRUE(said("-l needs a value"));
}

int main(int argc, char **argv)
{
	static const struct ut_test tests[] = {
		{ "defaults", test_defaults },
		{ "pidfile default only in daemon mode",
		  test_pidfile_only_in_daemon_mode },
		{ "every flag", test_every_flag },
		{ "flag value forms", test_flag_values },
		{ "-l not a power of two", test_size_not_pow2 },
		{ "-l too small", test_size_too_small },
		{ "-l junk", test_size_junk },
		{ "-l huge non power of two", test_size_huge_not_pow2 },
		{ "-n range", test_vectors_range },
		{ "-c range", test_peers_range },
		{ "-M, -S, -G names", test_names },
		{ "unknown option", test_unknown_option },
		{ "unknown option in a cluster",
		  test_unknown_option_in_cluster },
		{ "missing value", test_missing_value },
		{ "stray argument", test_stray_argument },
		{ "-h", test_help },
		{ "parse twice", test_parse_twice },
		{ "parse after a parse stopped in a cluster",
		  test_parse_after_cluster },
		{ NULL, NULL },
	};

	return ut_run("server_options", tests, argc, argv);
}
