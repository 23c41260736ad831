/* SPDX-License-Identifier: MIT */
/*
 * The core library reports what it finds wrong on stderr ("ivshm: record
 * seq 12 at segment 0 offset 0x2c0: bad checksum"). Around calls into it,
 * stderr goes to a private file, and the messages come back as text that
 * the commands show where they belong (or put in the JSON output).
 */
#ifndef IVSHM_INSPECT_CAPTURE_H
#define IVSHM_INSPECT_CAPTURE_H

struct capture {
	int saved;	/* the real stderr, -1 when not capturing */
	int fd;		/* where stderr goes meanwhile */
};

void capture_begin(struct capture *c);
/*
 * Restore stderr; returns what was written meanwhile (malloc'd, NUL-
 * terminated, "ivshm: " prefixes removed; NULL when nothing was).
 */
char *capture_end(struct capture *c);

#endif
