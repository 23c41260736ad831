// SPDX-License-Identifier: MIT
/* QEMU qtest protocol client: one QEMU process, one text socket. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "qtest_client.h"

#ifndef QEMU_BIN
#define QEMU_BIN "qemu-system-x86_64"
#endif

#define CHUNK 4096		/* bytes per read/write command */
#define LINE_MAX_LEN (2 * CHUNK + 64)
#define MAX_ARGS 64

struct qtest {
	pid_t pid;
	int fd;
	int timeout_ms;
	bool failed;
	unsigned int irqs;
	size_t len;		/* bytes buffered in @buf */
	char buf[2 * LINE_MAX_LEN];
	char cmd[LINE_MAX_LEN];
	char reply[LINE_MAX_LEN];
};

static bool verbose(void)
{
	const char *v = getenv("IVSHM_QT_VERBOSE");

	return v && *v && strcmp(v, "0");
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1)) {
		perror("qtest: listen");
		close(fd);
		return -1;
	}
	return fd;
}

/* QEMU connects to us as soon as it creates its chardevs: accept it. */
static int accept_qemu(int lfd, pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 100) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int st;

		if (poll(&p, 1, 100) > 0)
			return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (!proc_wait(pid, 0, &st)) {
			fprintf(stderr, "qtest: QEMU exited at start-up "
				"(status 0x%x)\n", st);
			return -1;
		}
	}
	fprintf(stderr, "qtest: QEMU did not connect within %d ms\n",
		timeout_ms);
	return -1;
}

static pid_t spawn_qemu(const struct qtest_opts *o, const char *sock)
{
	const char *argv[MAX_ARGS];
	const char *qemu = getenv("IVSHM_QT_QEMU");
	char qtarg[160];
	int n = 0;

	snprintf(qtarg, sizeof(qtarg), "unix:%s", sock);
	for (int i = 0; o->wrapper && o->wrapper[i] && n < 8; i++)
		argv[n++] = o->wrapper[i];
	argv[n++] = qemu && *qemu ? qemu : QEMU_BIN;
	argv[n++] = "-M";
	argv[n++] = "q35";
	argv[n++] = "-S";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-nodefaults";
	argv[n++] = "-qtest";
	argv[n++] = qtarg;
	/* qtest logs every command to stderr unless told otherwise. */
	argv[n++] = "-qtest-log";
	argv[n++] = verbose() ? "/dev/stderr" : "/dev/null";
	for (int i = 0; o->args && o->args[i]; i++) {
		if (n >= MAX_ARGS - 1) {
			fprintf(stderr, "qtest: too many QEMU arguments\n");
			return -1;
		}
		argv[n++] = o->args[i];
	}
	argv[n] = NULL;
	return proc_spawn((char *const *)argv);
}

struct qtest *qtest_start(const struct qtest_opts *o)
{
	struct qtest_opts none = { 0 };
	struct qtest *q;
	char sock[108];
	int lfd;

	if (!o)
		o = &none;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->fd = -1;
	q->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	tmp_name(sock, sizeof(sock), "/tmp", "qtest.sock");
	tmp_register(sock);
	lfd = listen_on(sock);
	if (lfd < 0)
		goto fail;
	q->pid = spawn_qemu(o, sock);
	if (q->pid > 0)
		q->fd = accept_qemu(lfd, q->pid, q->timeout_ms);
	close(lfd);
	tmp_remove(sock);
	if (q->fd < 0)
		goto fail;
	return q;
fail:
	tmp_remove(sock);
	if (q->pid > 0)
		proc_kill(q->pid);
	free(q);
	return NULL;
}

int qtest_quit(struct qtest *q, int timeout_ms)
{
	int st = -1;

	if (!q)
		return -1;
	/* Closing our end first makes 7.2 print a GLib timer warning. */
	kill(q->pid, SIGTERM);
	if (proc_wait(q->pid, timeout_ms, &st)) {
		fprintf(stderr, "qtest: QEMU %d ignored SIGTERM for %d ms\n",
			(int)q->pid, timeout_ms);
		proc_kill(q->pid);
		st = -1;
	}
	close(q->fd);
	free(q);
	return st;
}

void qtest_kill(struct qtest *q)
{
	if (!q)
		return;
	close(q->fd);
	proc_kill(q->pid);
	free(q);
}

pid_t qtest_pid(const struct qtest *q)
{
	return q->pid;
}

bool qtest_ok(const struct qtest *q)
{
	return q && !q->failed;
}

unsigned int qtest_irq_lines(const struct qtest *q)
{
	return q->irqs;
}

static int send_all(struct qtest *q, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Next line without its '\n', in place in @buf; NULL on EOF/timeout. */
static char *read_line(struct qtest *q, size_t *consumed)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		ssize_t r;

		if (nl) {
			*nl = '\0';
			*consumed = (size_t)(nl - q->buf) + 1;
			return q->buf;
		}
		if (q->len == sizeof(q->buf)) {
			fprintf(stderr, "qtest: reply line too long\n");
			return NULL;
		}
		r = poll(&p, 1, q->timeout_ms);
		if (r == 0) {
			fprintf(stderr, "qtest: no reply within %d ms\n",
				q->timeout_ms);
			return NULL;
		}
		if (r < 0 && errno == EINTR)
			continue;
		r = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "qtest: QEMU %d closed the socket\n",
				(int)q->pid);
			return NULL;
		}
		q->len += (size_t)r;
	}
}

static void drop_line(struct qtest *q, size_t consumed)
{
	memmove(q->buf, q->buf + consumed, q->len - consumed);
	q->len -= consumed;
}

const char *qtest_cmd(struct qtest *q, const char *fmt, ...)
{
	va_list ap;
	size_t used;
	char *line;
	int n;

	if (!q || q->failed)
		return NULL;
	va_start(ap, fmt);
	n = vsnprintf(q->cmd, sizeof(q->cmd) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(q->cmd) - 1)
		goto fail;
	q->cmd[n] = '\n';
	if (send_all(q, q->cmd, (size_t)n + 1)) {
		fprintf(stderr, "qtest: cannot send to QEMU %d: %s\n",
			(int)q->pid, strerror(errno));
		goto fail;
	}
	q->cmd[n] = '\0';
	/* Asynchronous "IRQ raised/lowered N" lines may come first. */
	while ((line = read_line(q, &used)) && !strncmp(line, "IRQ", 3)) {
		q->irqs++;
		drop_line(q, used);
	}
	if (!line)
		goto fail;
	if (!strncmp(line, "OK", 2) && (line[2] == '\0' || line[2] == ' ')) {
		snprintf(q->reply, sizeof(q->reply), "%s",
			 line[2] ? line + 3 : "");
		drop_line(q, used);
		return q->reply;
	}
	fprintf(stderr, "qtest: '%s' -> '%s'\n", q->cmd, line);
fail:
	q->failed = true;
	return NULL;
}

/* The value of an "OK 0x..." reply, all-ones on failure. */
static uint64_t reply_value(const char *r)
{
	char *end;
	uint64_t v;

	if (!r)
		return UINT64_MAX;
	errno = 0;
	v = strtoull(r, &end, 0);
	return errno || end == r ? UINT64_MAX : v;
}

void qtest_outl(struct qtest *q, uint16_t port, uint32_t v)
{
	qtest_cmd(q, "outl 0x%x 0x%" PRIx32, port, v);
}

void qtest_outw(struct qtest *q, uint16_t port, uint16_t v)
{
	qtest_cmd(q, "outw 0x%x 0x%x", port, v);
}

uint32_t qtest_inl(struct qtest *q, uint16_t port)
{
	return (uint32_t)reply_value(qtest_cmd(q, "inl 0x%x", port));
}

uint16_t qtest_inw(struct qtest *q, uint16_t port)
{
	return (uint16_t)reply_value(qtest_cmd(q, "inw 0x%x", port));
}

uint32_t qtest_readl(struct qtest *q, uint64_t addr)
{
	return (uint32_t)reply_value(qtest_cmd(q, "readl 0x%" PRIx64, addr));
}

uint64_t qtest_readq(struct qtest *q, uint64_t addr)
{
	return reply_value(qtest_cmd(q, "readq 0x%" PRIx64, addr));
}

void qtest_writel(struct qtest *q, uint64_t addr, uint32_t v)
{
	qtest_cmd(q, "writel 0x%" PRIx64 " 0x%" PRIx32, addr, v);
}

void qtest_writeq(struct qtest *q, uint64_t addr, uint64_t v)
{
	qtest_cmd(q, "writeq 0x%" PRIx64 " 0x%" PRIx64, addr, v);
}

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

/* "read" replies with the bytes in memory order, as one hex number. */
int qtest_memread(struct qtest *q, uint64_t addr, void *buf, size_t len)
{
	unsigned char *out = buf;

	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;
		const char *r = qtest_cmd(q, "read 0x%" PRIx64 " 0x%zx",
					  addr, n);

		if (!r || strncmp(r, "0x", 2) || strlen(r) != 2 + 2 * n)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			int hi = hexval(r[2 + 2 * i]);
			int lo = hexval(r[3 + 2 * i]);

			if (hi < 0 || lo < 0)
				goto bad;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
bad:
	if (q && !q->failed)
		fprintf(stderr, "qtest: malformed read reply\n");
	if (q)
		q->failed = true;
	return -1;
}

int qtest_memwrite(struct qtest *q, uint64_t addr, const void *buf,
		   size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *in = buf;
	char hex[2 * CHUNK + 1];

	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;

		for (size_t i = 0; i < n; i++) {
			hex[2 * i] = digits[in[i] >> 4];
			hex[2 * i + 1] = digits[in[i] & 15];
		}
		hex[2 * n] = '\0';
		if (!qtest_cmd(q, "write 0x%" PRIx64 " 0x%zx 0x%s", addr, n,
			       hex))
			return -1;
		in += n;
		addr += n;
		len -= n;
	}
	return 0;
}
