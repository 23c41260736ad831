/* SPDX-License-Identifier: MIT */
/*
 * ivshm-server as a library: the doorbell server of QEMU's ivshmem-server
 * protocol (docs/PROTOCOL.md), behind a thin main.c so that tests can run it
 * in a thread of their own.
 */
#ifndef IVSHM_SERVER_H
#define IVSHM_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define IVSHM_SERVER_DEFAULT_SOCKET "/tmp/ivshmem_socket"
#define IVSHM_SERVER_DEFAULT_SHM "ivshmem"
#define IVSHM_SERVER_DEFAULT_SIZE (4ull << 20)
#define IVSHM_SERVER_DEFAULT_PIDFILE "/var/run/ivshmem-server.pid"
#define IVSHM_SERVER_DEFAULT_MAX_PEERS 64u
#define IVSHM_SERVER_MAX_VECTORS 64u
/* Messages queued for one client before it counts as not reading at all. */
#define IVSHM_SERVER_QUEUE_MAX 16384u

struct ivshm_server_config {
	const char *socket_path; /* -S */
	const char *shm_name;	 /* -M: shm_open name, or file name in -m */
	const char *shm_dir;	 /* -m: directory holding the region file */
	uint64_t size;		 /* -l */
	bool size_given;	 /* -l was given: an existing region must match */
	unsigned int vectors;	 /* -n */
	unsigned int max_peers;	 /* -c */
	const char *pidfile;	 /* -p, NULL for none */
	bool foreground;	 /* -F */
	bool verbose;		 /* -v */
	bool group_given;	 /* -G: grant this group rw on socket+region */
	gid_t group;
};

struct ivshm_server;

void ivshm_server_config_init(struct ivshm_server_config *cfg);

/*
 * Parse the command line. Returns 0 to run, 1 when help was printed (exit
 * 0), or -1 after printing a clear message to @err (exit non-zero).
 */
int ivshm_server_parse_args(int argc, char **argv,
			    struct ivshm_server_config *cfg, FILE *out,
			    FILE *err);
void ivshm_server_usage(FILE *out);

/*
 * Open (or create) the region and listen on the socket. On failure returns
 * NULL and has printed why. The config strings must outlive the server.
 */
struct ivshm_server *ivshm_server_start(const struct ivshm_server_config *cfg);

/* Serve until ivshm_server_stop(); returns 0, or -errno on a fatal error. */
int ivshm_server_run(struct ivshm_server *srv);

/* From now on, messages go to syslog (a daemon has no terminal). */
void ivshm_server_log_to_syslog(void);

/* Ask run() to return; async-signal-safe and thread-safe. */
void ivshm_server_stop(struct ivshm_server *srv);

/* Tell every peer, remove the socket (never the region), free. */
void ivshm_server_close(struct ivshm_server *srv);

/* Introspection, for tests and logs (call from the run() thread or after). */
unsigned int ivshm_server_peer_count(struct ivshm_server *srv);
const char *ivshm_server_region_path(struct ivshm_server *srv);
uint64_t ivshm_server_region_size(struct ivshm_server *srv);

#endif
