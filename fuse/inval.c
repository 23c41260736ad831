// SPDX-License-Identifier: MIT
/*
 * Coherence: other peers' changes become kernel cache invalidations.
 *
 * The store reports changes after every catch-up, including catch-ups
 * made inside request handlers, where calling the kernel's notify
 * functions could deadlock. So changes are only queued here; the doorbell
 * thread passes them on. It wakes on a doorbell (vector 0), when the queue
 * fills, and every POLL_MS in any case, so that a lost doorbell delays an
 * invalidation by POLL_MS at most.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ivfuse.h"

#define POLL_MS 20
#define QUEUE_MAX 4096

static int wake_fd = -1;

static void wake_bell(void)
{
	uint64_t one = 1;
	ssize_t rc = write(wake_fd, &one, sizeof(one));

	(void)rc; /* EAGAIN: it is awake already */
}

void ivf_on_change(void *arg, const struct ivshm_change *c, unsigned int n,
		   bool overflow)
{
	struct ivfuse *f = arg;

	pthread_mutex_lock(&f->q_mu);
	if (overflow || f->q_len + n > QUEUE_MAX) {
		f->q_all = true;
		f->q_len = 0;
	} else if (!f->q_all) {
		if (f->q_len + n > f->q_cap) {
			unsigned int cap = f->q_cap ? f->q_cap : 64;
			struct ivshm_change *q;

			while (cap < f->q_len + n)
				cap *= 2;
			q = realloc(f->q, cap * sizeof(*q));
			if (!q) {
				f->q_all = true;
				f->q_len = 0;
				goto out;
			}
			f->q = q;
			f->q_cap = cap;
		}
		memcpy(f->q + f->q_len, c, n * sizeof(*c));
		f->q_len += n;
	}
out:
	pthread_mutex_unlock(&f->q_mu);
	wake_bell();
}

/* The kernel may not know the inode (ENOENT): nothing to drop, fine. */
static void inval_inode(struct ivfuse *f, uint64_t ino, off_t off,
			off_t len)
{
	/* The root is never looked up, yet the kernel always has it. */
	if (ino == FUSE_ROOT_ID || ivf_ino_known(f, ino))
		fuse_lowlevel_notify_inval_inode(f->se, ino, off, len);
}

static void pass_on(struct ivfuse *f, const struct ivshm_change *c)
{
	switch (c->kind) {
	case IVSHM_CHG_ATTR:
		inval_inode(f, c->ino, -1, 0);
		break;
	case IVSHM_CHG_DATA:
		if (c->off > INT64_MAX || c->len > (uint64_t)INT64_MAX - c->off)
			inval_inode(f, c->ino, (off_t)(c->off & INT64_MAX), 0);
		else
			inval_inode(f, c->ino, (off_t)c->off, (off_t)c->len);
		break;
	case IVSHM_CHG_NAME:
		/* The name (positive or negative dentry), then the listing. */
		fuse_lowlevel_notify_inval_entry(f->se, c->ino, c->name,
						 c->name_len);
		inval_inode(f, c->ino, 0, 0);
		break;
	case IVSHM_CHG_GONE:
		inval_inode(f, c->ino, 0, 0);
		break;
	}
}

static void pass_on_all(struct ivfuse *f)
{
	size_t n;
	uint64_t *all = ivf_ino_all(f, &n);

	for (size_t i = 0; all && i < n; i++)
		fuse_lowlevel_notify_inval_inode(f->se, all[i], 0, 0);
	free(all);
}

static void drain(struct ivfuse *f)
{
	struct ivshm_change *q;
	unsigned int n;
	bool all;

	pthread_mutex_lock(&f->q_mu);
	q = f->q;
	n = f->q_len;
	all = f->q_all;
	f->q = NULL;
	f->q_len = f->q_cap = 0;
	f->q_all = false;
	pthread_mutex_unlock(&f->q_mu);
	if (all)
		pass_on_all(f);
	for (unsigned int i = 0; i < n; i++)
		pass_on(f, &q[i]);
	free(q);
}

static void *bell_main(void *arg)
{
	struct ivfuse *f = arg;
	struct pollfd p[2] = {
		{ .fd = wake_fd, .events = POLLIN },
		{ .fd = ivshm_device_pollfd(f->dev), .events = POLLIN },
	};

	while (!f->stop) {
		uint64_t v;
		int rc;

		poll(p, p[1].fd >= 0 ? 2 : 1, POLL_MS);
		if (p[0].revents && read(wake_fd, &v, sizeof(v)) < 0)
			(void)0;
		/* Take doorbells and membership news, then the log. */
		if (p[1].fd >= 0 && ivshm_wait(f->dev, 0) < 0)
			p[1].fd = -1; /* the server is gone: poll only */
		rc = ivshm_fs_refresh(f->fs);
		if (rc) {
			fprintf(stderr, "ivshm-fuse: cannot follow the store: "
				"%s\n", strerror(-rc));
			if (rc == -EIO)
				break;
		}
		drain(f);
	}
	return NULL;
}

int ivf_bell_start(struct ivfuse *f)
{
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
		return -errno;
	f->stop = false;
	if (pthread_create(&f->bell, NULL, bell_main, f))
		return -EAGAIN;
	f->bell_running = true;
	return 0;
}

void ivf_bell_stop(struct ivfuse *f)
{
	if (!f->bell_running)
		return;
	f->stop = true;
	wake_bell();
	pthread_join(f->bell, NULL);
	f->bell_running = false;
	close(wake_fd);
	wake_fd = -1;
}
