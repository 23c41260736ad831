/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the suites on real mounts, on top of mnt.h: a guard process
 * that unmounts, kills and deletes whatever a suite left behind when it
 * dies or overruns its time, small file helpers, and running a piece of a
 * test as another user.
 */
#ifndef IVSHM_TEST_FUTIL_H
#define IVSHM_TEST_FUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mnt.h"

/*
 * Start the guard: after @timeout_s seconds it kills the daemons and
 * servers, then the test process; when the test process dies for any
 * reason, it removes the mounts and files still registered. Also
 * registers an atexit handler doing the same cleanup in-process.
 */
void fu_guard(unsigned int timeout_s);

/* Mount / unmount / kill through mnt.h, registered with the guard. */
int fu_mount(struct mnt *m, const char *source, const char *opts);
int fu_umount(struct mnt *m);
void fu_kill(struct mnt *m);
/* A blank region file at @path (registered: deleted at exit). */
int fu_region(const char *path, unsigned long long size);
/* Remove a file registered with fu_region or fu_file. */
void fu_unlink(const char *path);
/* Register any other file or socket to delete at exit. */
void fu_file(const char *path);
/* Register a helper process (a server) to kill at exit. */
void fu_proc(pid_t pid);
void fu_proc_done(pid_t pid);

/* Monotonic milliseconds and nanoseconds. */
int64_t fu_ms(void);
int64_t fu_ns(void);
void fu_sleep_ms(unsigned int ms);

/* The byte at offset @off of pattern @seed (never 0). */
static inline unsigned char fu_pat(uint32_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed * 0xff51afd7ull;

	x ^= x >> 29;
	return (unsigned char)(x % 255 + 1);
}

void fu_fill(unsigned char *buf, size_t len, uint32_t seed, uint64_t off);
/* Index of the first byte differing from the pattern, or -1. */
long fu_check(const unsigned char *buf, size_t len, uint32_t seed,
	      uint64_t off);

/* Whole-file helpers: 0 / bytes, or -errno. */
int fu_put(const char *path, const void *buf, size_t len);
ssize_t fu_get(const char *path, void *buf, size_t max);
/* Write/read exactly @len at @off (loops), or -errno. */
ssize_t fu_pwrite_all(int fd, const void *buf, size_t len, off_t off);
ssize_t fu_pread_all(int fd, void *buf, size_t len, off_t off);

/*
 * Run @fn in a child process as @uid/@gid (no supplementary groups).
 * @fn returns how many of its checks failed (it prints them). Returns
 * that count, or -1 if the child could not run or crashed.
 */
int fu_as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg);

/* For checks inside child processes: print and count a failure. */
#define FU_CK(fails, cond)                                                 \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "  child check failed %s:%d: %s "  \
				"(errno %d %s)\n", __FILE__, __LINE__,     \
				#cond, errno, strerror(errno));            \
			(fails)++;                                         \
		}                                                          \
	} while (0)

/*
 * Start an ivshm-server (the build's, or $IVSHM_SERVER) in the foreground
 * on socket @sock with region /dev/shm/@name of @size ("64M"); both are
 * registered for deletion, the server for killing. Returns its pid once
 * the socket exists, or -1.
 */
pid_t fu_server(const char *sock, const char *name, const char *size);
/* SIGTERM the server; 0 if it exited cleanly. Removes its files. */
int fu_server_stop(pid_t pid, const char *sock, const char *name);

/* Verify a region file with ivshm_verify(); 0 if sound (prints why not). */
int fu_verify(const char *region, uint64_t *orphans, uint64_t *inodes);

#endif
