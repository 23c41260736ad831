// SPDX-License-Identifier: MIT
/* Progress lines on a terminal (progress.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "progress.h"

static bool enabled;
/* Our own stream on the terminal: stderr itself may be captured. */
static FILE *tty;

void progress_enable(bool on)
{
	int fd;

	enabled = false;
	if (!on || !isatty(STDERR_FILENO))
		return;
	fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	tty = fd >= 0 ? fdopen(fd, "w") : NULL;
	enabled = tty != NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_start(struct progress *p, const char *what, uint64_t total)
{
	p->on = enabled;
	p->what = what;
	p->total = total;
	p->start_ms = now_ms();
	/* Nothing for quick jobs: the first line comes after 200 ms. */
	p->last_ms = p->start_ms + 100;
	p->shown = false;
}

void progress_update(struct progress *p, uint64_t done, bool bytes)
{
	int64_t t;
	char a[32], b[32];
	unsigned int pct;

	if (!p->on)
		return;
	t = now_ms();
	if (t - p->last_ms < 100)
		return;
	p->last_ms = t;
	pct = p->total ? (unsigned int)(done * 100 / p->total) : 0;
	if (bytes)
		fprintf(tty, "\r%s: %3u%% (%s of %s)\033[K", p->what, pct,
			fmt_size(done, a), fmt_size(p->total, b));
	else
		fprintf(tty, "\r%s: %3u%% (%" PRIu64 " of %" PRIu64 ")\033[K",
			p->what, pct, done, p->total);
	fflush(tty);
	p->shown = true;
}

void progress_label(struct progress *p)
{
	if (!p->on)
		return;
	fprintf(tty, "\r%s...\033[K", p->what);
	fflush(tty);
	p->shown = true;
}

void progress_end(struct progress *p)
{
	if (p->on && p->shown) {
		fputs("\r\033[K", tty);
		fflush(tty);
	}
	p->shown = false;
}
