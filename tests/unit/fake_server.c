// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_server.h"
#include "testlib.h"

static int make_fd(const struct fake_server *f, enum fake_fd kind)
{
	int fd = -1;

	if (kind == FAKE_EVENTFD)
		fd = eventfd(0, EFD_CLOEXEC);
	if (kind == FAKE_REGION) {
		fd = memfd_create("ivshm-ut-fake-region", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)f->region_size)) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/* Send @len bytes of @b with @fd (if >= 0) attached to them. */
static bool send_part(int sock, const unsigned char *b, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)b, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

static void send_step(const struct fake_server *f, int sock,
		      const struct fake_step *s)
{
	unsigned int first = s->split && s->split < 8 ? s->split : 8;
	uint64_t u = (uint64_t)s->val;
	unsigned char b[8];
	int fd = make_fd(f, s->fd);

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(u >> (8 * i));
	/* The fd travels with the first byte, as ivshm-server sends it. */
	if (send_part(sock, b, first, fd) && first < 8) {
		usleep(5000); /* so that the reader sees two pieces */
		send_part(sock, b + first, 8 - first, -1);
	}
	if (fd >= 0)
		close(fd);
}

static void *serve(void *arg)
{
	struct fake_server *f = arg;
	struct pollfd p[2] = { { .fd = f->stop_fd, .events = POLLIN },
			       { .fd = f->lfd, .events = POLLIN } };
	int sock = -1;

	if (!f->accept)
		goto wait_stop;
	if (poll(p, 2, 5000) <= 0 || p[0].revents)
		return NULL;
	sock = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return NULL;
	for (unsigned int i = 0; i < f->nsteps; i++)
		send_step(f, sock, &f->steps[i]);
	if (f->hang_up) {
		close(sock);
		return NULL;
	}
wait_stop:
	poll(p, 1, 10000);
	if (sock >= 0)
		close(sock);
	return NULL;
}

int fake_server_start(struct fake_server *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	f->running = false;
	f->stop_fd = eventfd(0, EFD_CLOEXEC);
	ut_new_socket_path(f->path, sizeof(f->path));
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || f->stop_fd < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(f->lfd, 4) ||
	    pthread_create(&f->thread, NULL, serve, f)) {
		fake_server_stop(f);
		return -1;
	}
	f->running = true;
	return 0;
}

void fake_server_stop(struct fake_server *f)
{
	uint64_t one = 1;

	if (f->running) {
		if (write(f->stop_fd, &one, sizeof(one)) != sizeof(one))
			return; /* cannot happen: a fresh eventfd */
		pthread_join(f->thread, NULL);
		f->running = false;
	}
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	f->lfd = f->stop_fd = -1;
	unlink(f->path);
}
