/* SPDX-License-Identifier: MIT */
/* Text for people: sizes, times, modes, names made safe for a terminal. */
#ifndef IVSHM_INSPECT_FMT_H
#define IVSHM_INSPECT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "4 MiB", "1.5 GiB" (core/units.h), into @buf of at least 32 bytes. */
char *fmt_size(uint64_t n, char *buf);
/* Nanoseconds since the epoch as local "YYYY-MM-DD HH:MM:SS", or "-". */
char *fmt_time(int64_t ns, char *buf, size_t len);
/* A device number as "major:minor" (Linux encoding), @buf >= 32 bytes. */
char *fmt_rdev(uint64_t rdev, char *buf);
/* "drwxr-xr-x" from a mode, into @buf of at least 11 bytes. */
char *fmt_mode(uint32_t mode, char *buf);
/* "dir", "reg", "lnk", "chr", "blk", "fifo", "sock" or "?" */
const char *fmt_type(uint32_t mode);
/* The same names for a directory entry's dtype (DT_* values). */
const char *fmt_dtype(unsigned int dtype);
/* Record type names: "LINK", "INODE", ... or "?" */
const char *fmt_rec_type(unsigned int type);
/* Segment states: "free", "meta", "data", "checkpoint", "freeing", "?" */
const char *fmt_seg_state(uint32_t state);
/* Peer slot states: "free", "alive", "dead", "?" */
const char *fmt_slot_state(unsigned int state);

/*
 * Write @n bytes of a stored name so that a terminal shows them and
 * nothing else: control bytes and backslashes as \xNN / \\.
 */
void fmt_put_name(FILE *f, const char *s, size_t n);
/* Whether fmt_put_name() would show @s with nothing but \\ escaped. */
bool fmt_is_text(const char *s, size_t n);
/* The same into @buf (at most @len bytes with the NUL); returns @buf. */
char *fmt_name(const char *s, size_t n, char *buf, size_t len);

/* A table printed with aligned columns (the last one is not padded). */
struct table {
	unsigned int ncols;
	const char *align;	/* per column: 'l' or 'r' */
	char **cells;		/* row-major, nrows * ncols */
	size_t nrows, cap;
	unsigned int col;	/* next cell of the current row */
};

void table_init(struct table *t, unsigned int ncols, const char *align);
/* Start a row, then fill it cell by cell. */
void table_row(struct table *t);
void table_cell(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void table_print(struct table *t, FILE *f, const char *indent);
void table_free(struct table *t);

#endif
