// SPDX-License-Identifier: MIT
/* Helpers for the suites on real mounts: see futil.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "futil.h"
#include "verify.h"

#define G_MOUNTS 32
#define G_FILES 32
#define G_PROCS 8

/* Shared with the guard process (an anonymous shared mapping). */
struct guard_tab {
	pid_t parent;
	pid_t daemon[G_MOUNTS];
	char dir[G_MOUNTS][128];
	char file[G_FILES][128];
	pid_t proc[G_PROCS];
};

static struct guard_tab *gt;

int64_t fu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fu_ms(void)
{
	return fu_ns() / 1000000;
}

void fu_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void run_quiet(const char *prog, const char *a1, const char *a2)
{
	pid_t p = fork();

	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp(prog, prog, a1, a2, (char *)NULL);
		_exit(127);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
}

/* Remove everything still registered (the daemons are killed first). */
static void sweep(void)
{
	for (int i = 0; i < G_PROCS; i++)
		if (gt->proc[i] > 0) {
			kill(gt->proc[i], SIGKILL);
			gt->proc[i] = 0;
		}
	for (int i = 0; i < G_MOUNTS; i++) {
		if (!gt->dir[i][0])
			continue;
		if (gt->daemon[i] > 0)
			kill(gt->daemon[i], SIGKILL);
		run_quiet("fusermount3", "-uz", gt->dir[i]);
		rmdir(gt->dir[i]);
		gt->dir[i][0] = 0;
		gt->daemon[i] = 0;
	}
	for (int i = 0; i < G_FILES; i++)
		if (gt->file[i][0]) {
			unlink(gt->file[i]);
			gt->file[i][0] = 0;
		}
}

static void at_exit(void)
{
	if (!gt || getpid() != gt->parent)
		return;
	/* Reap our own daemons first, then sweep what is left. */
	for (int i = 0; i < G_MOUNTS; i++)
		if (gt->dir[i][0] && gt->daemon[i] > 0) {
			kill(gt->daemon[i], SIGKILL);
			waitpid(gt->daemon[i], NULL, 0);
			gt->daemon[i] = 0;
		}
	for (int i = 0; i < G_PROCS; i++)
		if (gt->proc[i] > 0) {
			kill(gt->proc[i], SIGKILL);
			waitpid(gt->proc[i], NULL, 0);
			gt->proc[i] = 0;
		}
	sweep();
}

void fu_guard(unsigned int timeout_s)
{
	pid_t parent = getpid(), p;
	int64_t end;

	gt = mmap(NULL, sizeof(*gt), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (gt == MAP_FAILED) {
		perror("guard");
		exit(1);
	}
	memset(gt, 0, sizeof(*gt));
	gt->parent = parent;
	atexit(at_exit);
	end = fu_ms() + (int64_t)timeout_s * 1000;
	p = fork();
	if (p < 0) {
		perror("guard fork");
		exit(1);
	}
	if (p > 0)
		return;
	/* The guard: outlive the test, whatever kills it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	for (int i = 3; i < 1024; i++)
		close(i);
	while (getppid() == parent) {
		if (fu_ms() > end) {
			fprintf(stderr, "guard: test %d overran %u s: killing "
				"its daemons and itself\n", (int)parent,
				timeout_s);
			for (int i = 0; i < G_MOUNTS; i++)
				if (gt->daemon[i] > 0)
					kill(gt->daemon[i], SIGKILL);
			fu_sleep_ms(200);
			kill(parent, SIGKILL);
			break;
		}
		fu_sleep_ms(100);
	}
	sweep();
	_exit(0);
}

static void reg_mount(const struct mnt *m)
{
	if (!gt)
		return;
	for (int i = 0; i < G_MOUNTS; i++)
		if (!gt->dir[i][0]) {
			gt->daemon[i] = m->pid;
			snprintf(gt->dir[i], sizeof(gt->dir[i]), "%s", m->dir);
			return;
		}
}

static void unreg_mount(const char *dir)
{
	if (!gt)
		return;
	for (int i = 0; i < G_MOUNTS; i++)
		if (!strcmp(gt->dir[i], dir)) {
			gt->daemon[i] = 0;
			gt->dir[i][0] = 0;
		}
}

int fu_mount(struct mnt *m, const char *source, const char *opts)
{
	int rc = mnt_start(m, source, opts);

	if (!rc)
		reg_mount(m);
	return rc;
}

int fu_umount(struct mnt *m)
{
	char dir[sizeof(m->dir)];
	int rc;

	memcpy(dir, m->dir, sizeof(dir));
	if (!m->pid)
		return -1;
	rc = mnt_stop(m);
	unreg_mount(dir);
	return rc;
}

void fu_kill(struct mnt *m)
{
	char dir[sizeof(m->dir)];

	memcpy(dir, m->dir, sizeof(dir));
	if (!m->pid)
		return;
	mnt_kill(m);
	unreg_mount(dir);
}

void fu_file(const char *path)
{
	if (!gt)
		return;
	for (int i = 0; i < G_FILES; i++)
		if (!gt->file[i][0]) {
			size_t n = strnlen(path, sizeof(gt->file[i]) - 1);

			memcpy(gt->file[i], path, n);
			gt->file[i][n] = 0;
			return;
		}
}

int fu_region(const char *path, unsigned long long size)
{
	fu_file(path);
	return mnt_region(path, size);
}

void fu_unlink(const char *path)
{
	unlink(path);
	if (!gt)
		return;
	for (int i = 0; i < G_FILES; i++)
		if (!strcmp(gt->file[i], path))
			gt->file[i][0] = 0;
}

void fu_proc(pid_t pid)
{
	if (!gt)
		return;
	for (int i = 0; i < G_PROCS; i++)
		if (!gt->proc[i]) {
			gt->proc[i] = pid;
			return;
		}
}

void fu_proc_done(pid_t pid)
{
	if (!gt)
		return;
	for (int i = 0; i < G_PROCS; i++)
		if (gt->proc[i] == pid)
			gt->proc[i] = 0;
}

void fu_fill(unsigned char *buf, size_t len, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = fu_pat(seed, off + i);
}

long fu_check(const unsigned char *buf, size_t len, uint32_t seed,
	      uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != fu_pat(seed, off + i))
			return (long)i;
	return -1;
}

ssize_t fu_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t fu_pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int fu_put(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = fu_pwrite_all(fd, buf, len, 0);
	if (close(fd) && n >= 0)
		return -errno;
	return n < 0 ? (int)n : 0;
}

ssize_t fu_get(const char *path, void *buf, size_t max)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = fu_pread_all(fd, buf, max, 0);
	close(fd);
	return n;
}

int fu_as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
	int status;
	pid_t p;

	fflush(NULL);
	p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		int rc;

		if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
		    setresuid(uid, uid, uid)) {
			perror("as_user");
			_exit(101);
		}
		rc = fn(arg);
		fflush(NULL);
		_exit(rc > 100 ? 100 : rc);
	}
	if (waitpid(p, &status, 0) != p || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 101)
		return -1;
	return WEXITSTATUS(status);
}

int fu_verify(const char *region, uint64_t *orphans, uint64_t *inodes)
{
	struct ivshm_verify_report rep;
	struct stat st;
	void *p;
	int fd = open(region, O_RDONLY), rc;

	if (fd < 0 || fstat(fd, &st)) {
		perror(region);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		perror("mmap region");
		return -1;
	}
	rc = ivshm_verify(p, (uint64_t)st.st_size, &rep);
	munmap(p, (size_t)st.st_size);
	if (getenv("FU_VERBOSE"))
		fprintf(stderr, "verify %s: %d; segments free %u meta %u data "
			"%u ckpt %u; %llu inodes, %llu data bytes, %llu "
			"orphans\n", region, rc, rep.seg_free, rep.seg_meta,
			rep.seg_data, rep.seg_ckpt,
			(unsigned long long)rep.inodes,
			(unsigned long long)rep.data_bytes,
			(unsigned long long)rep.orphans);
	if (rc)
		fprintf(stderr, "verify %s: %d: %llu errors, first: %s\n",
			region, rc, (unsigned long long)rep.errors,
			rep.first_error);
	if (orphans)
		*orphans = rep.orphans;
	if (inodes)
		*inodes = rep.inodes;
	return rc;
}

static const char *server_bin(void)
{
	const char *p = getenv("IVSHM_SERVER");

	return p ? p : IVSHM_SERVER_BIN;
}

pid_t fu_server(const char *sock, const char *name, const char *size)
{
	char region[160];
	struct stat st;
	pid_t pid;

	snprintf(region, sizeof(region), "/dev/shm/%s", name);
	unlink(region);
	unlink(sock);
	fu_file(region);
	fu_file(sock);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(server_bin(), "ivshm-server", "-F", "-S", sock, "-M",
		      name, "-l", size, (char *)NULL);
		perror(server_bin());
		_exit(127);
	}
	fu_proc(pid);
	for (int i = 0; i < 500 && stat(sock, &st); i++)
		fu_sleep_ms(10);
	if (stat(sock, &st)) {
		fprintf(stderr, "ivshm-server did not make %s\n", sock);
		fu_server_stop(pid, sock, name);
		return -1;
	}
	return pid;
}

int fu_server_stop(pid_t pid, const char *sock, const char *name)
{
	char region[160];
	int status = -1;

	if (pid > 0) {
		kill(pid, SIGTERM);
		if (waitpid(pid, &status, 0) != pid)
			status = -1;
		fu_proc_done(pid);
	}
	snprintf(region, sizeof(region), "/dev/shm/%s", name);
	fu_unlink(region);
	fu_unlink(sock);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "ivshm-server: exit status %#x\n", status);
		return -1;
	}
	return 0;
}
