/* SPDX-License-Identifier: MIT */
/* Internals shared by the server's files; not an API. */
#ifndef IVSHM_SERVER_INT_H
#define IVSHM_SERVER_INT_H

#include "ivshm_server.h"

/* The region: an fd to hand out, its path and size. */
struct srv_region {
	int fd;
	char path[4096];
	uint64_t size;
	bool created;	/* by this start: removable if the start fails */
};

int srv_region_open(const struct ivshm_server_config *cfg,
		    struct srv_region *r);

/* Listen on cfg->socket_path, replacing a stale socket file only. */
int srv_listen(const struct ivshm_server_config *cfg);

void srv_log(bool always, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
