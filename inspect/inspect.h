/* SPDX-License-Identifier: MIT */
/*
 * ivshm-inspect: what the commands share. A command parses its own
 * arguments, prints text for people on stdout, or fills the JSON document
 * (--json) through insp_doc(); errors and warnings go through insp_fail()
 * and insp_warn() so that both outputs carry them.
 */
#ifndef IVSHM_INSPECT_H
#define IVSHM_INSPECT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

#define INSP_NAME "ivshm-inspect"
/* Version of the JSON output's schema ("schema" in every document). */
#define INSP_SCHEMA 1

/* Exit status. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,	/* a fault found, an operation refused or failed */
	EXIT_USAGE = 2,	/* bad command line */
	EXIT_BUSY = 3,	/* no consistent view: the region kept changing */
};

struct insp {
	const char *region;	/* REGION as given */
	const char *command;
	bool json;
	bool quiet;		/* no progress lines */
	bool doc_open;		/* the JSON document was started */
	bool stream;		/* the command writes its own output only */
	bool damaged;		/* read what could be read: exit non-zero */
	struct json j;
	char **warnings;
	unsigned int nwarn;
	char *error;
};

/* The JSON document, started on first use ({"schema", "command", ...). */
struct json *insp_doc(struct insp *in);

void insp_warn(struct insp *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Record the error (the first one is kept) and return @code. */
int insp_fail(struct insp *in, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * getopt_long() over a command's arguments (argv[0] is the command name),
 * with --json and -h/--help added: returns the next option of the
 * command's own, -1 at the end, or '?' after reporting a bad one.
 */
int insp_getopt(struct insp *in, int argc, char **argv, const char *shortopts,
		const struct option *longopts);
/* Report a usage error for the current command; returns EXIT_USAGE. */
int insp_usage(struct insp *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Strict unsigned numbers: decimal, or hex with 0x. */
bool insp_parse_u64(const char *s, uint64_t *out);

/* help.c */
void help_full(FILE *f);
void help_usage(FILE *f);
/* The help of one command; false when there is no such command. */
bool help_command(FILE *f, const char *name);

/* The commands (cmd_*.c): exit status. */
int cmd_info(struct insp *in, int argc, char **argv);
int cmd_peers(struct insp *in, int argc, char **argv);
int cmd_log(struct insp *in, int argc, char **argv);
int cmd_segments(struct insp *in, int argc, char **argv);
int cmd_ls(struct insp *in, int argc, char **argv);
int cmd_stat(struct insp *in, int argc, char **argv);
int cmd_cat(struct insp *in, int argc, char **argv);
int cmd_tree(struct insp *in, int argc, char **argv);
int cmd_verify(struct insp *in, int argc, char **argv);
int cmd_dump(struct insp *in, int argc, char **argv);
int cmd_restore(struct insp *in, int argc, char **argv);
int cmd_format(struct insp *in, int argc, char **argv);

#endif
