/* SPDX-License-Identifier: MIT */
/*
 * Progress of long operations on stderr, only when stderr is a terminal
 * (and not turned off): one line rewritten at most ten times a second.
 */
#ifndef IVSHM_INSPECT_PROGRESS_H
#define IVSHM_INSPECT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool on;
	const char *what;
	uint64_t total;
	int64_t last_ms, start_ms;
	bool shown;
};

/* Whether progress may be shown at all (set once by main). */
void progress_enable(bool on);
void progress_start(struct progress *p, const char *what, uint64_t total);
/* @done out of total, in bytes when @bytes, else in items. */
void progress_update(struct progress *p, uint64_t done, bool bytes);
/* A step whose progress cannot be measured: its name alone. */
void progress_label(struct progress *p);
/* Clear the line. */
void progress_end(struct progress *p);

#endif
