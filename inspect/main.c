// SPDX-License-Identifier: MIT
/*
 * ivshm-inspect: look into an ivshm region without attaching to it.
 *
 *   ivshm-inspect [--json] REGION COMMAND [ARGS]
 *
 * main.c: the command line, dispatch, and the output every command shares
 * (the JSON document's frame, warnings, the error, the exit status).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "inspect.h"
#include "progress.h"

#ifndef IVSHM_VERSION
#define IVSHM_VERSION "unknown"
#endif

struct cmd {
	const char *name;
	int (*run)(struct insp *in, int argc, char **argv);
};

static const struct cmd cmds[] = {
	{ "info", cmd_info },	      { "peers", cmd_peers },
	{ "log", cmd_log },	      { "segments", cmd_segments },
	{ "ls", cmd_ls },	      { "stat", cmd_stat },
	{ "cat", cmd_cat },	      { "tree", cmd_tree },
	{ "verify", cmd_verify },     { "dump", cmd_dump },
	{ "restore", cmd_restore },   { "format", cmd_format },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

struct json *insp_doc(struct insp *in)
{
	if (!in->doc_open) {
		json_init(&in->j, stdout, true);
		json_obj_begin(&in->j, NULL);
		json_u64(&in->j, "schema", INSP_SCHEMA);
		json_str(&in->j, "command", in->command);
		json_str(&in->j, "region", in->region);
		in->doc_open = true;
	}
	return &in->j;
}

static void oom(void)
{
	fprintf(stderr, "%s: out of memory\n", INSP_NAME);
	exit(EXIT_FAIL);
}

void insp_warn(struct insp *in, const char *fmt, ...)
{
	char **w;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	if (!in->json) {
		/* What was printed so far comes first. */
		fflush(stdout);
		fprintf(stderr, "%s: warning: %s\n", INSP_NAME, s);
	}
	w = realloc(in->warnings, (in->nwarn + 1) * sizeof(*w));
	if (!w)
		oom();
	in->warnings = w;
	in->warnings[in->nwarn++] = s;
}

int insp_fail(struct insp *in, int code, const char *fmt, ...)
{
	va_list ap;

	if (in->error)
		return code;
	va_start(ap, fmt);
	if (vasprintf(&in->error, fmt, ap) < 0)
		oom();
	va_end(ap);
	return code;
}

int insp_usage(struct insp *in, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", INSP_NAME, in->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs("Usage: ", stderr);
	help_command(stderr, in->command);
	return EXIT_USAGE;
}

int insp_getopt(struct insp *in, int argc, char **argv, const char *shortopts,
		const struct option *longopts)
{
	static struct option all[48];
	static char sopts[64];
	static const struct option *built;
	int c;

	if (built != longopts) {
		size_t n = 0;

		for (; longopts && longopts[n].name && n < 44; n++)
			all[n] = longopts[n];
		all[n++] = (struct option){ "json", no_argument, NULL, 'J' };
		all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
		all[n] = (struct option){ 0 };
		snprintf(sopts, sizeof(sopts), ":h%s", shortopts);
		built = longopts;
		optind = 0; /* glibc: start over, with a new argv */
		opterr = 0;
	}
	for (;;) {
		c = getopt_long(argc, argv, sopts, all, NULL);
		switch (c) {
		case 'J':
			in->json = true;
			continue;
		case 'h':
			help_command(stdout, in->command);
			exit(EXIT_OK);
		case '?':
			if (optopt)
				insp_usage(in, "unknown option '-%c'", optopt);
			else
				insp_usage(in, "unknown option '%s'",
					   argv[optind - 1]);
			return '?';
		case ':':
			insp_usage(in, "option '%s' needs a value",
				   argv[optind - 1]);
			return '?';
		default:
			return c;
		}
	}
}

bool insp_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ?
				      16 : 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* The end of the JSON document, the error on stderr. */
static int finish(struct insp *in, int rc)
{
	if (in->json && !in->stream) {
		struct json *j = insp_doc(in);

		json_close_to(j, 1);
		json_bool(j, "ok", rc == EXIT_OK);
		json_u64(j, "exit_status", (uint64_t)rc);
		json_arr_begin(j, "warnings");
		for (unsigned int i = 0; i < in->nwarn; i++)
			json_str(j, NULL, in->warnings[i]);
		json_arr_end(j);
		if (in->error) {
			json_obj_begin(j, "error");
			json_str(j, "message", in->error);
			json_obj_end(j);
		} else {
			json_null(j, "error");
		}
		json_end_doc(j);
	} else if (in->json && in->error) {
		/* A stream of documents ends with one that says why. */
		struct json j;

		json_init(&j, stdout, false);
		json_obj_begin(&j, NULL);
		json_u64(&j, "schema", INSP_SCHEMA);
		json_str(&j, "command", in->command);
		json_str(&j, "event", "error");
		json_str(&j, "message", in->error);
		json_end_doc(&j);
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the output: %s\n", INSP_NAME,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (in->error)
		fprintf(stderr, "%s: %s\n", INSP_NAME, in->error);
	return rc;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", INSP_NAME);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	help_usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct insp in = { 0 };
	const struct cmd *c;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json") || !strcmp(a, "-j")) {
			in.json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			in.quiet = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help_full(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("%s %s (store format %u, JSON schema %u)\n",
			       INSP_NAME, IVSHM_VERSION, IVSHM_FORMAT_VERSION,
			       INSP_SCHEMA);
			return EXIT_OK;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (i < argc && !strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			help_full(stdout);
			return EXIT_OK;
		}
		if (!help_command(stdout, argv[i + 1]))
			return usage_error("no command '%s'", argv[i + 1]);
		return EXIT_OK;
	}
	if (i >= argc)
		return usage_error("%s", "no region and no command given");
	if (i + 1 >= argc)
		return find_cmd(argv[i]) ?
			usage_error("the region comes first: %s REGION "
				    "COMMAND", INSP_NAME) :
			usage_error("no command given after the region %s",
				    argv[i]);
	c = find_cmd(argv[i + 1]);
	if (!c) {
		if (find_cmd(argv[i]))
			return usage_error("the region comes first: %s REGION "
					   "COMMAND", INSP_NAME);
		return usage_error("unknown command '%s'", argv[i + 1]);
	}
	in.region = argv[i];
	in.command = c->name;
	progress_enable(!in.quiet);
	rc = c->run(&in, argc - i - 1, argv + i + 1);
	if (rc == EXIT_USAGE)
		return rc;
	if (rc == EXIT_OK && in.damaged)
		rc = EXIT_FAIL;
	rc = finish(&in, rc);
	for (unsigned int w = 0; w < in.nwarn; w++)
		free(in.warnings[w]);
	free(in.warnings);
	free(in.error);
	return rc;
}
