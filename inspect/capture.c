// SPDX-License-Identifier: MIT
/* Messages of the core library, captured (capture.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture.h"

#define CAPTURE_MAX (64u << 10)

void capture_begin(struct capture *c)
{
	c->saved = -1;
	c->fd = memfd_create("ivshm-inspect-log", MFD_CLOEXEC);
	if (c->fd < 0)
		return;
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	if (c->saved < 0 || dup2(c->fd, STDERR_FILENO) < 0) {
		if (c->saved >= 0)
			close(c->saved);
		close(c->fd);
		c->saved = c->fd = -1;
	}
}

char *capture_end(struct capture *c)
{
	char *buf, *out, *o;
	ssize_t n;

	if (c->saved < 0)
		return NULL;
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	c->saved = -1;
	buf = malloc(CAPTURE_MAX + 1);
	n = buf ? pread(c->fd, buf, CAPTURE_MAX, 0) : -1;
	close(c->fd);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	/* Drop the "ivshm: " prefix of every line. */
	out = o = buf;
	for (char *line = buf; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);

		if (!strncmp(line, "ivshm: ", 7)) {
			line += 7;
			len -= 7;
		}
		memmove(o, line, len);
		o += len;
		line += len;
	}
	*o = 0;
	return out;
}
