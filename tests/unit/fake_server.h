/* SPDX-License-Identifier: MIT */
/*
 * A scripted, misbehaving ivshmem server for the device model's handshake:
 * it accepts one connection and sends the steps given, fragmented on
 * request, then keeps the connection open (or hangs up) until stopped.
 */
#ifndef IVSHM_UT_FAKE_SERVER_H
#define IVSHM_UT_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum fake_fd {
	FAKE_NO_FD,
	FAKE_REGION,	/* a memfd of fake_server.region_size bytes */
	FAKE_EVENTFD,
};

struct fake_step {
	int64_t val;
	enum fake_fd fd;
	unsigned int split;	/* bytes in a first fragment, 0: whole */
};

struct fake_server {
	char path[108];
	int lfd;
	const struct fake_step *steps;
	unsigned int nsteps;
	uint64_t region_size;
	bool accept;		/* false: listen only, never accept */
	bool hang_up;		/* close right after the steps */
	pthread_t thread;
	bool running;
	int stop_fd;		/* eventfd: stop waiting and close */
};

/* Listen on a fresh path and serve the script from a thread. 0 or -1. */
int fake_server_start(struct fake_server *f);
/* Stop the thread and close everything it holds. */
void fake_server_stop(struct fake_server *f);

#endif
