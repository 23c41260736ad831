// SPDX-License-Identifier: MIT
/*
 * The daemon killed with SIGKILL in the middle of a workload: every
 * operation that had returned (the writer reported it through a pipe)
 * survives in full, the one in flight is all-or-nothing (or a prefix of
 * its data), the region passes ivshm_verify, a new daemon mounts it, and
 * a peer that stayed mounted throughout carries on. Also a clean unmount
 * and remount with every kind of object.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "futil.h"

#define NFILES 32
#define MAXLEN (32 * 1024)
#define ROUNDS 20	/* IVSHM_ROUNDS=N for more */
#define MAX_ROUNDS 1000

static char region[64], src[96];
static struct mnt M, O; /* the victim, and an observer that stays */

enum { OP_CREATE = 1, OP_REPLACE, OP_UNLINK, OP_EXTEND, OP_MKDIR,
       OP_RMDIR, OP_ERROR };

/* Written to the pipe before (begin = 1) and after (begin = 0) an op. */
struct rec {
	uint8_t op, begin;
	uint16_t idx;
	uint32_t len;	/* the file's length after the op */
	uint32_t seed;
	int32_t err;	/* OP_ERROR: errno */
};

struct file {
	bool exists;
	uint32_t len, seed;
};

/* snprintf for paths: long ones are cut (and never happen here). */
static void mkpath(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void mkpath(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static void say(int fd, const struct rec *r)
{
	if (write(fd, r, sizeof(*r)) != sizeof(*r))
		_exit(9);
}

static int fail_op(int out, int idx)
{
	struct rec r = { .op = OP_ERROR, .idx = (uint16_t)idx, .err = errno };

	say(out, &r);
	return 1;
}

static int put_file(const char *path, uint32_t len, uint32_t seed, int flags)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644), rc = -1;

	fu_fill(buf, len, seed, 0);
	if (fd >= 0 && fu_pwrite_all(fd, buf, len, 0) == (ssize_t)len &&
	    !fsync(fd))
		rc = 0;
	if (fd >= 0 && close(fd))
		rc = -1;
	free(buf);
	return rc;
}

/* The writer: random operations until the mount dies under it. */
static int writer(const char *dir, unsigned int seed, int out)
{
	struct file f[NFILES] = { { 0 } };
	char path[512], tmp[512];
	bool subdir = false;

	for (uint32_t n = 0;; n++) {
		int idx = (int)(rand_r(&seed) % NFILES), dice =
			(int)(rand_r(&seed) % 100);
		struct rec r = { .begin = 1, .idx = (uint16_t)idx };

		mkpath(path, sizeof(path), "%s/f%02d", dir, idx);
		r.seed = seed ^ n;
		r.len = 1 + rand_r(&seed) % MAXLEN;
		if (dice < 8) {
			mkpath(tmp, sizeof(tmp), "%s/sub", dir);
			r.op = subdir ? OP_RMDIR : OP_MKDIR;
			say(out, &r);
			if (subdir ? rmdir(tmp) : mkdir(tmp, 0755))
				return fail_op(out, idx);
			subdir = !subdir;
		} else if (!f[idx].exists) {
			r.op = OP_CREATE;
			say(out, &r);
			if (put_file(path, r.len, r.seed, O_EXCL))
				return fail_op(out, idx);
		} else if (dice < 50) {
			r.op = OP_REPLACE;
			say(out, &r);
			mkpath(tmp, sizeof(tmp), "%s/tmp", dir);
			if (put_file(tmp, r.len, r.seed, O_EXCL) ||
			    rename(tmp, path))
				return fail_op(out, idx);
		} else if (dice < 75) {
			r.op = OP_UNLINK;
			say(out, &r);
			if (unlink(path))
				return fail_op(out, idx);
		} else {
			uint32_t add = 1 + r.len % 20000;
			unsigned char *buf = malloc(add);
			int fd = open(path, O_WRONLY);
			bool ok;

			r.op = OP_EXTEND;
			r.seed = f[idx].seed;
			r.len = f[idx].len + add;
			say(out, &r);
			fu_fill(buf, add, r.seed, f[idx].len);
			ok = fd >= 0 && fu_pwrite_all(fd, buf, add,
						      f[idx].len) ==
						(ssize_t)add && !fdatasync(fd);
			if (fd >= 0 && close(fd))
				ok = false;
			free(buf);
			if (!ok)
				return fail_op(out, idx);
		}
		if (r.op != OP_MKDIR && r.op != OP_RMDIR) {
			f[idx].exists = r.op != OP_UNLINK;
			f[idx].len = r.len;
			f[idx].seed = r.seed;
		}
		r.begin = 0;
		say(out, &r);
	}
}

/* ------------------------------------------------------------ checking */

/* Read @path: -errno, or its length with the data in *@data (free it). */
static long slurp(const char *path, unsigned char **data)
{
	struct stat st;
	long n;

	*data = NULL;
	if (lstat(path, &st))
		return -errno;
	*data = malloc((size_t)st.st_size + 1);
	n = (long)fu_get(path, *data, (size_t)st.st_size + 1);
	if (n != st.st_size && n >= 0) {
		fprintf(stderr, "\n  %s: stat says %lld bytes, read %ld\n",
			path, (long long)st.st_size, n);
		return -EIO;
	}
	return n;
}

static bool exact(const unsigned char *d, long n, const struct file *f)
{
	return f->exists && n == (long)f->len &&
	       fu_check(d, (size_t)n, f->seed, 0) == -1;
}

/* Every byte is the pattern's or zero (data not yet reached). */
static bool prefixish(const unsigned char *d, long n, uint32_t seed,
		      uint32_t max)
{
	if (n > (long)max)
		return false;
	for (long i = 0; i < n; i++)
		if (d[i] && d[i] != fu_pat(seed, (uint64_t)i))
			return false;
	return true;
}

/* Check @dir against the state the reports give. */
static int check_dir(const char *dir, const struct file *f,
		     const struct rec *inflight, const char *who)
{
	int bad = 0;

	for (int i = 0; i < NFILES; i++) {
		const struct rec *r = inflight && inflight->idx == i &&
				      inflight->op != OP_MKDIR &&
				      inflight->op != OP_RMDIR ?
					      inflight : NULL;
		char path[512];
		unsigned char *d;
		long n;
		bool ok;

		mkpath(path, sizeof(path), "%s/f%02d", dir, i);
		n = slurp(path, &d);
		if (n < 0 && n != -ENOENT) {
			ok = false;
		} else if (!r) {
			ok = n == -ENOENT ? !f[i].exists : exact(d, n, &f[i]);
		} else {
			struct file after = { true, r->len, r->seed };

			switch (r->op) {
			case OP_CREATE:
				ok = n == -ENOENT ||
				     prefixish(d, n, r->seed, r->len);
				break;
			case OP_REPLACE:
				ok = exact(d, n, &f[i]) || exact(d, n, &after);
				break;
			case OP_UNLINK:
				ok = n == -ENOENT || exact(d, n, &f[i]);
				break;
			default: /* OP_EXTEND */
				ok = n >= (long)f[i].len &&
				     prefixish(d, n, r->seed, r->len) &&
				     fu_check(d, f[i].len, r->seed, 0) == -1;
				break;
			}
		}
		if (!ok) {
			fprintf(stderr, "\n  %s: %s: %s%ld bytes; reported "
				"%s, %u bytes of pattern %u; in flight: op "
				"%d\n", who, path, n < 0 ? "error " : "", n,
				f[i].exists ? "present" : "absent", f[i].len,
				f[i].seed, r ? r->op : 0);
			bad++;
		}
		free(d);
	}
	return bad;
}

/* ----------------------------------------------------------- the round */

static unsigned int base_seed;
static int enospc_rounds;
static int64_t max_remount_ms, max_observer_ms;

/* rm -r of a directory of plain files and empty subdirectories. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		mkpath(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) && errno == EISDIR)
			rmdir(path);
	}
	if (d)
		closedir(d);
	EXPECT_OK(rmdir(dir));
}

/*
 * Run the writer on a fresh daemon and kill the daemon after a random
 * time; @f gets what the writer reported, @inflight the op it was in.
 * Returns the kill time.
 */
static unsigned int crash_writer(int round, struct file *f,
				 struct rec *inflight, int *done)
{
	unsigned int seed = base_seed + (unsigned int)round * 7919;
	unsigned int kill_ms = 10 + rand_r(&seed) % 240;
	int pfd[2], status, unexpected = 0;
	char dir[512];
	struct rec r;
	pid_t w;

	memset(f, 0, NFILES * sizeof(*f));
	memset(inflight, 0, sizeof(*inflight));
	*done = 0;
	mkpath(dir, sizeof(dir), "%s/r%02d", M.dir, round);
	EXPECT_OK(mkdir(dir, 0755));
	if (pipe(pfd))
		return 0;
	fflush(NULL);
	w = fork();
	if (w == 0) {
		close(pfd[0]);
		_exit(writer(dir, seed, pfd[1]));
	}
	close(pfd[1]);
	fu_sleep_ms(kill_ms);
	fu_kill(&M); /* SIGKILL, then a lazy unmount */
	kill(w, SIGKILL);
	waitpid(w, &status, 0);
	while (read(pfd[0], &r, sizeof(r)) == sizeof(r)) {
		if (r.op == OP_ERROR) {
			/*
			 * Only the errors of a dead mount are expected.
			 * ENOSPC (dead peers holding space back) is the
			 * business of "space after crashes": noted only.
			 */
			if (r.err == ENOSPC) {
				enospc_rounds++;
				fprintf(stderr, "(round %d: ENOSPC) ", round);
			} else if (r.err != ENOTCONN && r.err != ECONNABORTED &&
				   r.err != ENOENT && unexpected++ < 3) {
				fprintf(stderr, "\n  round %d: the writer "
					"failed: %s\n", round,
					strerror(r.err));
			}
			continue;
		}
		if (r.begin) {
			*inflight = r;
			continue;
		}
		inflight->op = 0;
		(*done)++;
		if (r.op == OP_MKDIR || r.op == OP_RMDIR)
			continue;
		f[r.idx].exists = r.op != OP_UNLINK;
		f[r.idx].len = r.len;
		f[r.idx].seed = r.seed;
	}
	close(pfd[0]);
	EXPECT_EQ(unexpected, 0);
	return kill_ms;
}

static void test_kill_rounds(void)
{
	static struct file f[MAX_ROUNDS][NFILES];
	static struct rec inflight[MAX_ROUNDS];
	const char *env = getenv("IVSHM_ROUNDS");
	int rounds = env ? atoi(env) : ROUNDS, done, total = 0;
	int stuck = 0; /* rounds whose observer waited for the lock */
	char dir[512];

	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = ROUNDS;
	for (int round = 0; round < rounds; round++) {
		const struct rec *fl;
		unsigned int kill_ms;
		int64_t t0;

		CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
		kill_ms = crash_writer(round, f[round], &inflight[round],
				       &done);
		total += done;
		EXPECT_TRUE(done > 0 || enospc_rounds, "round %d: nothing done",
			    round);
		fl = inflight[round].op ? &inflight[round] : NULL;

		/* the region as the dead daemon left it */
		EXPECT_EQ(fu_verify(region, NULL, NULL), 0);

		/* the observer carries on: the dead peer's lock is broken */
		t0 = fu_ms();
		mkpath(dir, sizeof(dir), "%s/observer-%02d", O.dir, round);
		EXPECT_EQ(fu_put(dir, "observer", 8), 0);
		if (fu_ms() - t0 > max_observer_ms)
			max_observer_ms = fu_ms() - t0;
		stuck += fu_ms() - t0 > 500;
		mkpath(dir, sizeof(dir), "%s/r%02d", O.dir, round);
		EXPECT_EQ(check_dir(dir, f[round], fl, "observer"), 0);

		/* a new daemon on the region: everything reported is there */
		t0 = fu_ms();
		CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
		mkpath(dir, sizeof(dir), "%s/r%02d", M.dir, round);
		EXPECT_EQ(check_dir(dir, f[round], fl, "remounted"), 0);
		if (fu_ms() - t0 > max_remount_ms)
			max_remount_ms = fu_ms() - t0;
		/* the round before survived a second crash too */
		if (round > 0) {
			fl = inflight[round - 1].op ? &inflight[round - 1] :
						      NULL;
			mkpath(dir, sizeof(dir), "%s/r%02d", M.dir,
				 round - 1);
			EXPECT_EQ(check_dir(dir, f[round - 1], fl,
					    "a round before"), 0);
			remove_dir(dir); /* keep the store from filling */
		}
		fprintf(stderr, "[%d: %u ms, %d ops, in flight %d] ", round,
			kill_ms, done, inflight[round].op);
		CU_ASSERT(fu_umount(&M) == 0);
		EXPECT_EQ(fu_verify(region, NULL, NULL), 0);
	}
	fprintf(stderr, "\n%d operations in %d rounds; remount and check "
		"took up to %lld ms, the observer's first write after a kill "
		"up to %lld ms (%d rounds waited for a dead lock holder, %d "
		"ended in ENOSPC)\n", total, rounds,
		(long long)max_remount_ms, (long long)max_observer_ms, stuck,
		enospc_rounds);
}

/* ---------------------------------------------------- clean remounts */

static void test_clean_remount(void)
{
	unsigned char *buf = malloc(3 << 20);
	char p[512], lnk[64], x[16];
	struct stat st, st2;
	ino_t ino;

	CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
	mkpath(p, sizeof(p), "%s/clean", M.dir);
	EXPECT_OK_FATAL(mkdir(p, 0750));
	for (int i = 0; i < 50; i++) {
		mkpath(p, sizeof(p), "%s/clean/f%02d", M.dir, i);
		fu_fill(buf, (size_t)i * 20000 + 1, 500u + (uint32_t)i, 0);
		EXPECT_EQ(fu_put(p, buf, (size_t)i * 20000 + 1), 0);
	}
	mkpath(p, sizeof(p), "%s/clean/big", M.dir);
	fu_fill(buf, 3 << 20, 600, 0);
	EXPECT_EQ(fu_put(p, buf, 3 << 20), 0);
	mkpath(p, sizeof(p), "%s/clean/sparse", M.dir);
	{
		int fd = open(p, O_CREAT | O_WRONLY, 0600);

		EXPECT_EQ(pwrite(fd, "end", 3, 1 << 30), 3);
		close(fd);
	}
	mkpath(p, sizeof(p), "%s/clean/f01", M.dir);
	EXPECT_EQ(setxattr(p, "user.kept", "yes", 3, 0), 0);
	EXPECT_EQ(chown(p, 77, 88), 0);
	EXPECT_EQ(chmod(p, 0604), 0);
	EXPECT_EQ(stat(p, &st), 0);
	ino = st.st_ino;
	mkpath(lnk, sizeof(lnk), "f01");
	mkpath(p, sizeof(p), "%s/clean/sym", M.dir);
	EXPECT_EQ(symlink(lnk, p), 0);
	mkpath(p, sizeof(p), "%s/clean/f01", M.dir);
	{
		char q[512];

		mkpath(q, sizeof(q), "%s/clean/hard", M.dir);
		EXPECT_EQ(link(p, q), 0);
		mkpath(q, sizeof(q), "%s/clean/sub/deeper", M.dir);
		EXPECT_EQ(mkdir(q, 0755) == -1 && errno == ENOENT, 1);
		mkpath(q, sizeof(q), "%s/clean/sub", M.dir);
		EXPECT_EQ(mkdir(q, 0755), 0);
		mkpath(q, sizeof(q), "%s/clean/sub/deeper", M.dir);
		EXPECT_EQ(mkdir(q, 0700), 0);
	}
	CU_ASSERT(fu_umount(&M) == 0);
	EXPECT_EQ(fu_verify(region, NULL, NULL), 0);

	/* twice: a remount of a remount */
	for (int pass = 0; pass < 2; pass++) {
		CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
		for (int i = 0; i < 50; i++) {
			size_t len = (size_t)i * 20000 + 1;

			mkpath(p, sizeof(p), "%s/clean/f%02d", M.dir, i);
			EXPECT_EQ(fu_get(p, buf, 3 << 20), (ssize_t)len);
			EXPECT_EQ(fu_check(buf, len, 500u + (uint32_t)i, 0),
				  -1);
		}
		mkpath(p, sizeof(p), "%s/clean/big", M.dir);
		EXPECT_EQ(fu_get(p, buf, 3 << 20), 3 << 20);
		EXPECT_EQ(fu_check(buf, 3 << 20, 600, 0), -1);
		mkpath(p, sizeof(p), "%s/clean/sparse", M.dir);
		EXPECT_EQ(stat(p, &st), 0);
		EXPECT_EQ(st.st_size, (1 << 30) + 3);
		EXPECT_EQ(st.st_mode, S_IFREG | 0600);
		mkpath(p, sizeof(p), "%s/clean/f01", M.dir);
		EXPECT_EQ(stat(p, &st), 0);
		EXPECT_EQ(st.st_ino, ino);
		EXPECT_EQ(st.st_uid, 77);
		EXPECT_EQ(st.st_gid, 88);
		EXPECT_EQ(st.st_mode, S_IFREG | 0604);
		EXPECT_EQ(st.st_nlink, 2);
		EXPECT_EQ(getxattr(p, "user.kept", x, sizeof(x)), 3);
		mkpath(p, sizeof(p), "%s/clean/hard", M.dir);
		EXPECT_EQ(stat(p, &st2), 0);
		EXPECT_EQ(st2.st_ino, ino);
		mkpath(p, sizeof(p), "%s/clean/sym", M.dir);
		EXPECT_EQ(readlink(p, x, sizeof(x)), 3);
		mkpath(p, sizeof(p), "%s/clean", M.dir);
		EXPECT_EQ(stat(p, &st), 0);
		EXPECT_EQ(st.st_mode, S_IFDIR | 0750);
		EXPECT_EQ(st.st_nlink, 3);
		mkpath(p, sizeof(p), "%s/clean/sub/deeper", M.dir);
		EXPECT_EQ(stat(p, &st), 0);
		EXPECT_EQ(st.st_mode, S_IFDIR | 0700);
		CU_ASSERT(fu_umount(&M) == 0);
		EXPECT_EQ(fu_verify(region, NULL, NULL), 0);
	}
	free(buf);
}

/* A kill right after a burst of writes, with nothing else going on. */
static void test_kill_idle(void)
{
	unsigned char buf[4096];
	char p[512];

	CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
	for (int i = 0; i < 20; i++) {
		mkpath(p, sizeof(p), "%s/idle-%02d", M.dir, i);
		fu_fill(buf, sizeof(buf), 700u + (uint32_t)i, 0);
		EXPECT_EQ(fu_put(p, buf, sizeof(buf)), 0);
	}
	fu_kill(&M);
	EXPECT_EQ(fu_verify(region, NULL, NULL), 0);
	CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
	for (int i = 0; i < 20; i++) {
		mkpath(p, sizeof(p), "%s/idle-%02d", M.dir, i);
		EXPECT_EQ(fu_get(p, buf, sizeof(buf)), (ssize_t)sizeof(buf));
		EXPECT_EQ(fu_check(buf, sizeof(buf), 700u + (uint32_t)i, 0),
			  -1);
		/* and from the observer */
		mkpath(p, sizeof(p), "%s/idle-%02d", O.dir, i);
		EXPECT_EQ(fu_get(p, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	CU_ASSERT(fu_umount(&M) == 0);
}

/*
 * Space after crashes: peers killed in the middle of their operations
 * must not leave the store full for the survivors. A 64 MiB store with
 * a few MiB live, kept near full of garbage (the cleaner runs on demand);
 * each round kills a busy daemon, then the observer replaces 8 MiB.
 */
static int churn(const char *dir, uint32_t len, int times, uint32_t seed)
{
	char tmp[512], path[512];

	mkpath(tmp, sizeof(tmp), "%s/tmp-%u", dir, seed);
	mkpath(path, sizeof(path), "%s/file-%u", dir, seed);
	for (int i = 0; i < times; i++)
		if (put_file(tmp, len, seed + (uint32_t)i, O_TRUNC) ||
		    rename(tmp, path))
			return -errno;
	return 0;
}

/* Names made and removed as fast as the daemon takes them. */
static int meta_churn(const char *dir, int id)
{
	char p[512];

	for (unsigned int i = 0;; i++) {
		mkpath(p, sizeof(p), "%s/m%d-%u", dir, id, i % 64);
		if (mknod(p, S_IFREG | 0644, 0) && errno != EEXIST)
			return 1;
		mkpath(p, sizeof(p), "%s/m%d-%u", dir, id, (i + 32) % 64);
		if (unlink(p) && errno != ENOENT)
			return 1;
	}
}

/*
 * @so: the source to mount; @rounds kills; @stall_ms: how long the
 * observer may take for its 8 MiB after a kill (the lease in plain mode).
 */
static void space_after_crashes(const char *so, int rounds,
				unsigned int stall_ms)
{
	struct mnt o = { 0 }, m = { 0 };
	int enospc = 0, other = 0, slow = 0, rc;
	unsigned int seed = base_seed;
	int64_t t0, tk, worst = 0;
	char dir[512];

	CU_ASSERT_FATAL(fu_mount(&o, so, NULL) == 0);
	mkpath(dir, sizeof(dir), "%s/churn", o.dir);
	EXPECT_OK_FATAL(mkdir(dir, 0755));
	/* about 80 MiB through a 64 MiB store: it is full of garbage now */
	EXPECT_EQ(churn(dir, 4 << 20, 20, 1000), 0);
	for (int round = 0; round < rounds; round++) {
		pid_t w[4];

		CU_ASSERT_FATAL(fu_mount(&m, so, NULL) == 0);
		mkpath(dir, sizeof(dir), "%s/churn", m.dir);
		fflush(NULL);
		for (int k = 0; k < 4; k++) {
			w[k] = fork();
			if (w[k] == 0)
				_exit(k ? meta_churn(dir, k) :
					  churn(dir, 64 << 10, 1 << 30, 1) ?
					  1 : 0);
		}
		tk = fu_ms();
		fu_sleep_ms(40 + rand_r(&seed) % 60);
		fu_kill(&m);
		for (int k = 0; k < 4; k++) {
			kill(w[k], SIGKILL);
			waitpid(w[k], NULL, 0);
		}
		mkpath(dir, sizeof(dir), "%s/churn", o.dir);
		t0 = fu_ms();
		rc = churn(dir, 4 << 20, 2, 1000);
		if (fu_ms() - t0 > worst)
			worst = fu_ms() - t0;
		slow += fu_ms() - t0 > stall_ms;
		if (getenv("FU_VERBOSE"))
			fprintf(stderr, "[round %d: killed after %lld ms, the "
				"observer's 8 MiB took %lld ms: %s] ", round,
				(long long)(t0 - tk), (long long)(fu_ms() - t0),
				strerror(-rc));
		if (rc == -ENOSPC && enospc++ < 3)
			fprintf(stderr, "\n  round %d: ENOSPC on the observer "
				"after a peer was killed\n", round);
		else if (rc && rc != -ENOSPC && other++ < 3)
			fprintf(stderr, "\n  round %d: the observer failed: "
				"%s\n", round, strerror(-rc));
	}
	fprintf(stderr, "[the observer's 8 MiB after a kill: up to %lld "
		"ms] ", (long long)worst);
	EXPECT_EQ(enospc, 0);
	EXPECT_EQ(other, 0);
	EXPECT_TRUE(!slow, "%d of %d rounds: the observer stalled more than "
		    "%u ms (up to %lld ms)", slow, rounds, stall_ms,
		    (long long)worst);
	/* a lease later, space is back in any case */
	fu_sleep_ms(3500);
	EXPECT_EQ(churn(dir, 4 << 20, 2, 1000), 0);
	CU_ASSERT(fu_umount(&o) == 0);
}

static void test_space_after_crashes(void)
{
	static char rg[64];
	char so[96];

	/* a store of its own: 64 MiB, no server (the lease: 3 s) */
	mkpath(rg, sizeof(rg), "/dev/shm/ivshm-crash-space-%d", getpid());
	mkpath(so, sizeof(so), "region=%s", rg);
	CU_ASSERT_FATAL(fu_region(rg, 64ull << 20) == 0);
	space_after_crashes(so, 4, 3500);
	EXPECT_EQ(fu_verify(rg, NULL, NULL), 0);
	fu_unlink(rg);
}

static void test_space_after_crashes_server(void)
{
	char so[96], sock[96], name[64];
	pid_t srv;

	/* with a server, a killed peer's departure is announced at once */
	mkpath(name, sizeof(name), "ivshm-crash-srv-%d", getpid());
	mkpath(sock, sizeof(sock), "/tmp/ivshm-crash-%d.sock", getpid());
	srv = fu_server(sock, name, "64M");
	CU_ASSERT_FATAL(srv > 0);
	mkpath(so, sizeof(so), "socket=%s", sock);
	space_after_crashes(so, 3, 1000);
	mkpath(so, sizeof(so), "/dev/shm/%s", name);
	EXPECT_EQ(fu_verify(so, NULL, NULL), 0);
	EXPECT_EQ(fu_server_stop(srv, sock, name), 0);
}

/*
 * Peer slots of killed daemons are found dead and reused: more crashes
 * than the store has slots (64), then one more daemon still mounts.
 */
static void test_slots_reclaimed(void)
{
	char p[512];
	int64_t t0;
	int i;

	for (i = 0; i < 72; i++) {
		if (fu_mount(&M, src, NULL)) {
			fprintf(stderr, "\n  mount %d after %d killed daemons "
				"failed\n", i + 1, i);
			break;
		}
		mkpath(p, sizeof(p), "%s/slot-%02d", M.dir, i);
		EXPECT_EQ(fu_put(p, "x", 1), 0);
		fu_sleep_ms(30); /* killed idle, between two operations */
		fu_kill(&M);
	}
	EXPECT_EQ(i, 72);
	t0 = fu_ms();
	CU_ASSERT_FATAL(fu_mount(&M, src, NULL) == 0);
	fprintf(stderr, "[mounted after %d kills in %lld ms] ", i,
		(long long)(fu_ms() - t0));
	for (int k = 0; k < i; k++) {
		mkpath(p, sizeof(p), "%s/slot-%02d", M.dir, k);
		EXPECT_EQ(access(p, F_OK), 0);
	}
	CU_ASSERT(fu_umount(&M) == 0);
}

static int suite_init(void)
{
	const char *s = getenv("IVSHM_SEED");

	base_seed = s ? (unsigned int)strtoul(s, NULL, 0) :
			(unsigned int)time(NULL);
	fprintf(stderr, "crash: seed %u (IVSHM_SEED=%u repeats it)\n",
		base_seed, base_seed);
	mkpath(region, sizeof(region), "/dev/shm/ivshm-crash-%d", getpid());
	mkpath(src, sizeof(src), "region=%s", region);
	if (fu_region(region, 256ull << 20))
		return 1;
	return fu_mount(&O, src, NULL) ? 1 : 0;
}

static int suite_clean(void)
{
	int rc = 0;

	if (M.pid)
		fu_kill(&M);
	if (O.pid && fu_umount(&O))
		rc = 1;
	if (fu_verify(region, NULL, NULL))
		rc = 1;
	fu_unlink(region);
	return rc;
}

int main(void)
{
	const char *only = getenv("FU_ONLY");
	CU_pSuite s;
	unsigned int failed;

	umask(022);
	fu_guard(170);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("crash", suite_init, suite_clean);
	if (!only || strstr("clean unmount and remount", only))
		CU_add_test(s, "clean unmount and remount", test_clean_remount);
	if (!only || strstr("kill after writes", only))
		CU_add_test(s, "kill after writes", test_kill_idle);
	if (!only || strstr("kill -9 mid-workload, 20 rounds", only))
		CU_add_test(s, "kill -9 mid-workload, 20 rounds",
			    test_kill_rounds);
	if (!only || strstr("space after crashes", only))
		CU_add_test(s, "space after crashes",
			    test_space_after_crashes);
	if (!only || strstr("space after crashes, with a server", only))
		CU_add_test(s, "space after crashes, with a server",
			    test_space_after_crashes_server);
	if (!only || strstr("slots of killed daemons are reused", only))
		CU_add_test(s, "slots of killed daemons are reused",
			    test_slots_reclaimed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
