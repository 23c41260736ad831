// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

#define FUSE_SUPER_MAGIC 0x65735546

const char *mnt_daemon(void)
{
	const char *p = getenv("IVSHM_FUSE");

	return p ? p : IVSHM_FUSE_BIN;
}

int mnt_region(const char *path, unsigned long long size)
{
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static bool is_mounted(const char *dir)
{
	struct statfs s;

	return !statfs(dir, &s) && s.f_type == FUSE_SUPER_MAGIC;
}

int mnt_start(struct mnt *m, const char *source, const char *opts)
{
	static int seq;
	char o[512];
	int status;

	snprintf(m->dir, sizeof(m->dir), "/tmp/ivshm-mnt-%d-%d", (int)getpid(),
		 seq++);
	mkdir(m->dir, 0755);
	snprintf(o, sizeof(o), "%s%s%s", source, opts ? "," : "",
		 opts ? opts : "");
	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (m->pid == 0) {
		execl(mnt_daemon(), "ivshm-fuse", "-f", "-o", o, m->dir,
		      (char *)NULL);
		perror(mnt_daemon());
		_exit(127);
	}
	/* The mount appears when the daemon is ready; give it 10 s. */
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = { 0, 10000000 };

		if (is_mounted(m->dir))
			return 0;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			fprintf(stderr, "mnt: ivshm-fuse exited (%d) before "
				"mounting %s\n", status, m->dir);
			m->pid = 0;
			rmdir(m->dir);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "mnt: %s not mounted after 10 s\n", m->dir);
	mnt_kill(m);
	return -1;
}

static int run(const char *prog, const char *arg1, const char *arg2)
{
	int status;
	pid_t p = fork();

	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		execlp(prog, prog, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &status, 0) != p)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int mnt_stop(struct mnt *m)
{
	int status = -1;

	if (!m->pid)
		return -1;
	/* Busy (a test left a file open)? Retry a little, then detach. */
	for (int i = 0; i < 50 && run("fusermount3", "-u", m->dir); i++)
		usleep(100000);
	if (is_mounted(m->dir))
		run("fusermount3", "-uz", m->dir);
	if (waitpid(m->pid, &status, 0) != m->pid)
		status = -1;
	m->pid = 0;
	rmdir(m->dir);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

void mnt_kill(struct mnt *m)
{
	if (m->pid) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
	}
	/* The connection is dead: a lazy unmount detaches it. */
	run("fusermount3", "-uz", m->dir);
	rmdir(m->dir);
}
