// SPDX-License-Identifier: MIT
/*
 * ivshm-vm-host-peer: the host side of the guest doorbell tests. It joins
 * ivshm-server through the device model (core/platform/dev_peer.c), like a
 * QEMU ivshmem-doorbell device, writes known bytes into the region, says
 * READY with its id, then waits for a guest to ring one of its vectors and
 * checks what the guest wrote before ringing. Every check that fails is
 * reported on stderr and makes the exit status 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_user.h"

#define MAX_PATTERNS 16

struct pattern {
	uint64_t off;
	size_t len;
	uint8_t bytes[256];
	const char *text;	/* as given, for messages */
};

struct patterns {
	unsigned int n;
	struct pattern p[MAX_PATTERNS];
};

struct watch {
	int want_peer;		/* peer id expected to join, or -1 */
	int joined;		/* it did */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "OFF:HEX", e.g. "0x1000:deadbeef". */
static int parse_pattern(const char *s, struct patterns *ps)
{
	struct pattern *p = &ps->p[ps->n];
	const char *hex;
	char *end;
	size_t n;

	if (ps->n >= MAX_PATTERNS)
		return -1;
	p->off = strtoull(s, &end, 0);
	if (end == s || *end != ':')
		return -1;
	hex = end + 1;
	n = strlen(hex);
	if (!n || n % 2 || n / 2 > sizeof(p->bytes))
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		p->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	p->len = n / 2;
	p->text = s;
	ps->n++;
	return 0;
}

static int in_region(const struct ivshm_device *dev, const struct pattern *p)
{
	if (p->off > dev->size || p->len > dev->size - p->off) {
		fprintf(stderr, "host-peer: FAIL: %s is beyond the %llu-byte "
			"region\n", p->text, (unsigned long long)dev->size);
		return 0;
	}
	return 1;
}

static int write_patterns(struct ivshm_device *dev, const struct patterns *ps)
{
	for (unsigned int i = 0; i < ps->n; i++) {
		if (!in_region(dev, &ps->p[i]))
			return -1;
		memcpy((uint8_t *)dev->region + ps->p[i].off, ps->p[i].bytes,
		       ps->p[i].len);
	}
	/* Publish before anyone is told (READY, or a guest's poll). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return 0;
}

static int check_patterns(struct ivshm_device *dev, const struct patterns *ps)
{
	int bad = 0;

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (unsigned int i = 0; i < ps->n; i++) {
		const struct pattern *p = &ps->p[i];
		const uint8_t *r = (const uint8_t *)dev->region + p->off;

		if (!in_region(dev, p)) {
			bad = 1;
			continue;
		}
		if (!memcmp(r, p->bytes, p->len)) {
			printf("host-peer: region holds %s\n", p->text);
			continue;
		}
		fprintf(stderr, "host-peer: FAIL: region at 0x%llx should hold "
			"%s\n  found ", (unsigned long long)p->off, p->text);
		for (size_t j = 0; j < p->len; j++)
			fprintf(stderr, "%02x", r[j]);
		fputc('\n', stderr);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void on_peer(void *arg, enum ivshm_peer_event ev, unsigned int peer)
{
	struct watch *w = arg;

	if (ev == IVSHM_PEER_JOINED) {
		printf("host-peer: peer %u joined\n", peer);
		if ((int)peer == w->want_peer)
			w->joined = 1;
	} else if (ev == IVSHM_PEER_LEFT) {
		printf("host-peer: peer %u left\n", peer);
	} else {
		printf("host-peer: the server closed our connection\n");
	}
	fflush(stdout);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for a ring of @vector; any other vector ringing is a failure. */
static int wait_doorbell(struct ivshm_device *dev, unsigned int vector,
			 int secs)
{
	int64_t deadline = now_ms() + (int64_t)secs * 1000;

	for (;;) {
		int64_t left = deadline - now_ms(), mask;

		if (left <= 0) {
			fprintf(stderr, "host-peer: FAIL: no doorbell on vector "
				"%u within %d s\n", vector, secs);
			return -1;
		}
		mask = ivshm_wait(dev, (int)left);
		if (mask < 0) {
			fprintf(stderr, "host-peer: FAIL: ivshm_wait: %s\n",
				strerror((int)-mask));
			return -1;
		}
		if (mask & ~(int64_t)(1ull << vector)) {
			fprintf(stderr, "host-peer: FAIL: doorbell on vectors "
				"0x%llx, expected only vector %u\n",
				(unsigned long long)mask, vector);
			return -1;
		}
		if (mask) {
			printf("host-peer: doorbell on vector %u\n", vector);
			return 0;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
"usage: ivshm-vm-host-peer -S SOCKET [OPTION]...\n"
"Join ivshm-server as a host peer for a guest test.\n"
"  -S SOCKET     the server's socket\n"
"  -n N          wait for at least N own vectors at join (default 1)\n"
"  -w OFF:HEX    write these bytes at region offset OFF before READY\n"
"  -V VECTOR     then wait for a doorbell on this own vector\n"
"  -t SECONDS    for at most this long (default 60)\n"
"  -P PEER       and require that peer PEER joined meanwhile\n"
"  -x OFF:HEX    after the doorbell, require these bytes at OFF\n"
"  -a OFF:HEX    after all checks passed, write these bytes (an ack)\n"
"Prints 'host-peer: READY id=ID' once joined and written; exits 0 when\n"
"every check passed, 1 otherwise. Options may repeat (up to %d each).\n",
		MAX_PATTERNS);
	exit(2);
}

int main(int argc, char **argv)
{
	struct patterns wr = { 0 }, ex = { 0 }, ack = { 0 };
	struct watch w = { .want_peer = -1 };
	struct ivshm_peer_opts o = { .timeout_ms = 5000, .min_vectors = 1,
				     .peer_cb = on_peer, .peer_cb_arg = &w };
	struct ivshm_device *dev;
	const char *sock = NULL;
	int vector = -1, secs = 60, opt, rc;

	while ((opt = getopt(argc, argv, "S:n:w:V:t:P:x:a:h")) != -1) {
		switch (opt) {
		case 'S':
			sock = optarg;
			break;
		case 'n':
			o.min_vectors = (unsigned int)atoi(optarg);
			break;
		case 'w':
		case 'x':
		case 'a':
			if (parse_pattern(optarg, opt == 'w' ? &wr :
					  opt == 'x' ? &ex : &ack))
				usage();
			break;
		case 'V':
			vector = atoi(optarg);
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'P':
			w.want_peer = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!sock || optind != argc || vector >= (int)IVSHM_MAX_VECTORS)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	rc = ivshm_peer_open(sock, &o, &dev);
	if (rc) {
		fprintf(stderr, "host-peer: FAIL: cannot join %s: %s\n", sock,
			strerror(-rc));
		return 1;
	}
	if (write_patterns(dev, &wr))
		goto fail;
	printf("host-peer: READY id=%d vectors=%u size=%llu\n", dev->id,
	       dev->vectors, (unsigned long long)dev->size);
	if (vector >= 0) {
		if ((unsigned int)vector >= dev->vectors) {
			fprintf(stderr, "host-peer: FAIL: vector %d, but the "
				"server gave us %u\n", vector, dev->vectors);
			goto fail;
		}
		if (wait_doorbell(dev, (unsigned int)vector, secs))
			goto fail;
	}
	/* Membership news queued behind the doorbell: take it too. */
	if (w.want_peer >= 0 && !w.joined)
		ivshm_wait(dev, 0);
	if (w.want_peer >= 0 && !w.joined) {
		fprintf(stderr, "host-peer: FAIL: peer %d never joined\n",
			w.want_peer);
		goto fail;
	}
	if (check_patterns(dev, &ex) || write_patterns(dev, &ack))
		goto fail;
	printf("host-peer: PASS\n");
	ivshm_device_close(dev);
	return 0;
fail:
	ivshm_device_close(dev);
	return 1;
}
