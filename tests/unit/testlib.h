/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the unit suites: unique names that teardown removes, the
 * server library running in a thread, and a raw protocol client that reads
 * the server's 8-byte messages exactly as QEMU does (one fd at most).
 */
#ifndef IVSHM_UT_TESTLIB_H
#define IVSHM_UT_TESTLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ivshm_server.h"

/* Names: /tmp/ivshm-ut-PID-N.sock and shm ivshm-ut-PID-N, removed by
 * ut_cleanup_names() whatever the test's outcome. */
void ut_new_socket_path(char *buf, size_t len);
void ut_new_shm_name(char *buf, size_t len);
/* Register an extra path (file or empty directory) to remove at teardown. */
void ut_track_path(const char *path);
void ut_cleanup_names(void);

/* The server library serving from a thread of its own. */
struct ut_server {
	struct ivshm_server_config cfg;
	struct ivshm_server *srv;
	pthread_t thread;
	bool used, running;
	int run_rc;
	char sock[108];
	char shm[64];
};

/*
 * A server slot from a static pool (so that teardown still reaches it after
 * a fatal assertion left the test), its config filled with fresh names,
 * @vectors and @size (size_given). Not started.
 */
struct ut_server *ut_server_new(unsigned int vectors, uint64_t size);
/* ivshm_server_start(@s->cfg) then run it in a thread. 0, or -1. */
int ut_server_start(struct ut_server *s);
/* Stop the thread but keep the server (peers stay connected). */
void ut_server_pause(struct ut_server *s);
void ut_server_resume(struct ut_server *s);
/* Stop, join and close (no-op when not started); the slot stays. */
void ut_server_stop(struct ut_server *s);
/* Stop every server and free every slot. */
void ut_server_stop_all(void);
/* ut_server_new() and ut_server_start(): the server, or NULL. */
struct ut_server *ut_server_started(unsigned int vectors, uint64_t size);
/* The server's peer count reaches @n within 2 s. */
bool ut_peers_become(struct ut_server *s, unsigned int n);

/* The per-test teardown for CUnit suites: servers, then names. */
void ut_teardown(void);

/* A received message; fd is -1 when none came. */
struct ut_msg {
	int64_t val;
	int fd;
	int nfds;	/* fds that came with it: must be 0 or 1 */
};

int ut_connect(const char *path); /* blocking socket, or -errno */
/*
 * Receive one message within @timeout_ms: 1, 0 on EOF, -ETIMEDOUT, or
 * -errno. Reads 8 bytes at most so that messages are never merged.
 */
int ut_recv(int sock, struct ut_msg *m, int timeout_ms);
/* True when @sock shows nothing (no data, no EOF) for @ms. */
bool ut_quiet(int sock, int ms);
/* Read until EOF within @timeout_ms: true on EOF, closing any fds read. */
bool ut_wait_eof(int sock, int timeout_ms, unsigned int *extra);

/*
 * Expect the next message to be @val with (@with_fd) or without an fd.
 * On success the fd goes to *@fd_out if given, else is closed. False with a
 * line on stderr otherwise.
 */
bool ut_expect(int sock, int64_t val, bool with_fd, int *fd_out);

/* A raw peer after its handshake (first 3 messages only). */
struct ut_raw {
	int sock;
	int64_t id;
	int shm_fd;
};

/* Connect and read version, id, region; 0, or -1 with a line on stderr. */
int ut_raw_join(const char *path, struct ut_raw *r);
/* Read @n messages @val+fd, closing the fds (or keeping them in @fds). */
bool ut_expect_fds(int sock, int64_t val, unsigned int n, int *fds);
void ut_raw_close(struct ut_raw *r);

uint64_t ut_fd_size(int fd);	/* fstat size, 0 on error */
int64_t ut_now_ms(void);
unsigned int ut_count_fds(void); /* entries of /proc/self/fd */
/* The count is back to @n within @ms (other threads close theirs late). */
bool ut_fds_return_to(unsigned int n, int ms);

#endif
