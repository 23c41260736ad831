/* SPDX-License-Identifier: MIT */
/*
 * One round of the handshake benchmark: N clients join one after another,
 * then all leave. The ivshm flavour joins the doorbell server as device
 * peers; the raw flavour is a bare UNIX-socket connect, accept and close.
 */
#ifndef IVSHM_BENCH_HS_H
#define IVSHM_BENCH_HS_H

#include <stdint.h>

#include "bench_util.h"

struct hs_round {
	double join_s;	/* first join started .. last join returned */
	double up_s;	/* .. and the server side knows them all */
	double leave_s;	/* first close .. the server saw the last go */
};

/*
 * ivshm: an observer peer stays joined through all rounds; a peer counts
 * as up once the observer was told (the server's last step of a join) and
 * as gone once the observer heard of its departure.
 */
struct hs_ivshm;

struct hs_ivshm *hs_ivshm_new(const char *sock, unsigned int peers,
			      unsigned int vectors);
/* @lat gets each join's latency (ns). 0, or -1 after printing why. */
int hs_ivshm_round(struct hs_ivshm *h, struct hs_round *r, uint64_t *lat);
void hs_ivshm_free(struct hs_ivshm *h);

/*
 * raw: a thread accepts, writes one 8-byte message (as the ivshm server's
 * first), and closes on EOF; a client is up once it has read that message.
 */
struct hs_raw;

struct hs_raw *hs_raw_new(const char *sock, unsigned int peers);
int hs_raw_round(struct hs_raw *h, struct hs_round *r, uint64_t *lat);
void hs_raw_free(struct hs_raw *h);

#endif
