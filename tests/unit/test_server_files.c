// SPDX-License-Identifier: MIT
/*
 * The server's files: the region (created, reused as it is, refused when
 * QEMU could not take it, never deleted) and the socket (stale replaced,
 * live or foreign refused, removed at close), and their permissions.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testlib.h"
#include "ut_run.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)

static bool join(struct ut_server *s, struct ut_raw *r)
{
	return ut_raw_join(s->sock, r) == 0;
}

/* /dev/shm/NAME as seen from outside the server. */
static bool shm_file(const char *name, struct stat *st)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return stat(path, st) == 0;
}

static bool write_shm(const char *name, off_t off, const char *text)
{
	int fd = shm_open(name, O_RDWR, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = pwrite(fd, text, strlen(text), off) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

static bool shm_says(const char *name, off_t off, const char *text)
{
	char buf[64] = "";
	int fd = shm_open(name, O_RDONLY, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, strlen(text), off) == (ssize_t)strlen(text) &&
	     !memcmp(buf, text, strlen(text));
	close(fd);
	return ok;
}

/* The region a new client receives holds @text at @off. */
static bool region_says(struct ut_server *s, uint64_t size, off_t off,
			const char *text)
{
	struct ut_raw r;
	char *p;
	bool ok;

	if (!join(s, &r))
		return false;
	ok = ut_fd_size(r.shm_fd) == size;
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, r.shm_fd, 0);
	if (p == MAP_FAILED)
		ok = false;
	else
		ok = ok && !memcmp(p + off, text, strlen(text));
	if (p != MAP_FAILED)
		munmap(p, size);
	ut_raw_close(&r);
	return ok;
}

static void test_region_new(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB), *d;
	char path[128];
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 64 * KIB);
	snprintf(path, sizeof(path), "/dev/shm/%s", s->shm);
	CU_ASSERT_STRING_EQUAL(ivshm_server_region_path(s->srv), path);
	CU_ASSERT_TRUE_FATAL(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, ""));

	/* No -l: the default 4 MiB. */
	d = ut_server_new(1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ivshm_server_config_init(&d->cfg);
	d->cfg.socket_path = d->sock;
	d->cfg.shm_name = d->shm;
	d->cfg.foreground = true;
	CU_ASSERT_FATAL(ut_server_start(d) == 0);
	CU_ASSERT_EQUAL(ivshm_server_region_size(d->srv), 4 * MIB);
	CU_ASSERT_TRUE(region_says(d, 4 * MIB, 0, ""));
}

/* An existing region is served as it is, data and size. */
static void test_region_reused(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(write_shm(s->shm, 0, "head of the data"));
	CU_ASSERT_TRUE(write_shm(s->shm, 64 * KIB - 4, "tail"));
	ut_server_stop(s);

	/* Restart without -l: the 4 MiB default does not apply. */
	s->cfg.size = 4 * MIB;
	s->cfg.size_given = false;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 64 * KIB);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, "head of the data"));
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 64 * KIB - 4, "tail"));
	ut_server_stop(s);

	/* With the matching -l. */
	s->cfg.size = 64 * KIB;
	s->cfg.size_given = true;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, "head of the data"));
	ut_server_stop(s);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
}

/* A conflicting -l is refused and the region left untouched. */
static void test_region_size_mismatch(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(write_shm(s->shm, 64 * KIB - 8, "keep me!"));
	ut_server_stop(s);
	s->cfg.size = 128 * KIB;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	s->cfg.size = 16 * KIB;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 64 * KIB - 8, "keep me!"));
	/* Nothing listens: the socket was not left behind either. */
	CU_ASSERT_NOT_EQUAL(access(s->sock, F_OK), 0);
}

/* An existing region of a size QEMU cannot take is refused, kept. */
static void test_region_bad_existing(void)
{
	struct ut_server *s = ut_server_new(1, 4 * MIB);
	struct stat st;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = shm_open(s->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 3 * MIB), 0);
	close(fd);
	CU_ASSERT_TRUE(write_shm(s->shm, 0, "three"));
	s->cfg.size_given = false;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	s->cfg.size_given = true;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 3 * MIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 0, "three"));

	/* A power of two below 4 KiB is no better. */
	fd = shm_open(s->shm, O_RDWR, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 1024), 0);
	close(fd);
	s->cfg.size_given = false;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 1024);
}

/* What ivshm_server_start() said on stderr, for the advice it gives. */
static int saved_stderr = -1, capture_fd = -1;
static char captured[4096];

static void capture_stderr(void)
{
	fflush(stderr);
	capture_fd = memfd_create("ivshm-ut-stderr", MFD_CLOEXEC);
	saved_stderr = dup(2);
	if (capture_fd >= 0 && saved_stderr >= 0)
		dup2(capture_fd, 2);
}

static const char *end_capture(void)
{
	ssize_t n = -1;

	fflush(stderr);
	if (saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
	}
	if (capture_fd >= 0) {
		n = pread(capture_fd, captured, sizeof(captured) - 1, 0);
		close(capture_fd);
	}
	captured[n > 0 ? n : 0] = 0;
	saved_stderr = capture_fd = -1;
	fputs(captured, stderr); /* still shown in the log */
	return captured;
}

/*
 * An existing 3 MiB region with -l 4M: the advice must be one that works.
 * "-l 3M" is refused by the command line itself.
 */
static void test_region_bad_existing_advice(void)
{
	struct ut_server *s = ut_server_new(1, 4 * MIB);
	const char *msg;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = shm_open(s->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 3 * MIB), 0);
	close(fd);
	capture_stderr();
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	msg = end_capture();
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "power of two"));
	CU_ASSERT_PTR_NULL(strstr(msg, "-l 3M"));
}

/* A refused start leaves nothing behind, no new region either. */
static void test_refused_start_creates_nothing(void)
{
	struct ut_server *a = ut_server_started(1, 64 * KIB);
	struct ut_server *b = ut_server_new(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	b->cfg.socket_path = a->sock;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&b->cfg));
	CU_ASSERT_FALSE(shm_file(b->shm, &st));
}

/* Above 1 GiB (the contrib server's ceiling): sparse on tmpfs, cheap. */
static void test_region_2g(void)
{
	struct ut_server *s = ut_server_started(1, 2ull << 30);
	struct ut_raw r;
	volatile char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(ivshm_server_region_size(s->srv), 2ull << 30);
	CU_ASSERT_FATAL(join(s, &r));
	CU_ASSERT_EQUAL(ut_fd_size(r.shm_fd), 2ull << 30);
	p = mmap(NULL, 2ull << 30, PROT_READ | PROT_WRITE, MAP_SHARED,
		 r.shm_fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	p[(2ull << 30) - 1] = 'z'; /* the last byte is really there */
	CU_ASSERT_EQUAL(p[(2ull << 30) - 1], 'z');
	munmap((void *)p, 2ull << 30);
	ut_raw_close(&r);
}

/* A region in a directory (-m), e.g. hugetlbfs; here /tmp. */
static void test_region_in_dir(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	char dir[64], want[128];
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	snprintf(dir, sizeof(dir), "/tmp/ivshm-ut-%d-dir-XXXXXX",
		 (int)getpid());
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	ut_track_path(dir);
	snprintf(want, sizeof(want), "%s/%s", dir, s->shm);
	ut_track_path(want);
	s->cfg.shm_dir = dir;
	CU_ASSERT_FATAL(ut_server_start(s) == 0);
	CU_ASSERT_STRING_EQUAL(ivshm_server_region_path(s->srv), want);
	CU_ASSERT_EQUAL(stat(want, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(region_says(s, 64 * KIB, 0, ""));
	ut_server_stop(s);
	CU_ASSERT_EQUAL(stat(want, &st), 0); /* kept */

	/* -m naming a file, not a directory. */
	s->cfg.shm_dir = want;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
}

/* Closing keeps the region and its data, and removes the socket. */
static void test_close_keeps_region(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
	struct ut_raw r;
	struct stat st;
	char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(join(s, &r));
	p = mmap(NULL, 64 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, r.shm_fd,
		 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	memcpy(p + 100, "written by a peer", 17);
	munmap(p, 64 * KIB);
	CU_ASSERT_EQUAL(access(s->sock, F_OK), 0);
	ut_server_stop(s);
	CU_ASSERT_TRUE(ut_wait_eof(r.sock, 2000, NULL));
	ut_raw_close(&r);
	CU_ASSERT_NOT_EQUAL(access(s->sock, F_OK), 0);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_size, 64 * KIB);
	CU_ASSERT_TRUE(shm_says(s->shm, 100, "written by a peer"));
}

/* A socket file nobody listens on (a crashed server's) is replaced. */
static void test_stale_socket_replaced(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ut_raw r;
	struct stat st;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	strcpy(sa.sun_path, s->sock);
	for (int listened = 0; listened < 2; listened++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa,
				     sizeof(sa)) == 0);
		if (listened)
			CU_ASSERT_EQUAL(listen(fd, 1), 0);
		close(fd);
		CU_ASSERT_TRUE(lstat(s->sock, &st) == 0 &&
			       S_ISSOCK(st.st_mode));
		CU_ASSERT_FATAL(ut_server_start(s) == 0);
		CU_ASSERT_FATAL(join(s, &r));
		CU_ASSERT_EQUAL(r.id, 0);
		ut_raw_close(&r);
		ut_server_stop(s);
	}
}

/* A live server's socket is refused, and that server is not disturbed. */
static void test_live_socket_refused(void)
{
	struct ut_server *a = ut_server_started(1, 64 * KIB);
	struct ut_server *b = ut_server_new(1, 64 * KIB);
	struct ut_raw r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	b->cfg.socket_path = a->sock;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&b->cfg));
	CU_ASSERT_EQUAL(access(a->sock, F_OK), 0);
	/* No probe joined a: its first peer still gets id 0. */
	CU_ASSERT_FATAL(join(a, &r));
	CU_ASSERT_EQUAL(r.id, 0);
	CU_ASSERT_TRUE(ut_expect_fds(r.sock, 0, 1, NULL));
	CU_ASSERT_TRUE(ut_quiet(r.sock, 30));
	ut_raw_close(&r);
}

/*
 * The same live socket under another spelling of its path (think
 * /var/run -> /run): refused too, and without a probe connection that the
 * live server's peers would see as a peer joining and leaving.
 */
static void test_live_socket_other_spelling(void)
{
	struct ut_server *a = ut_server_started(1, 64 * KIB);
	struct ut_server *b = ut_server_new(1, 64 * KIB);
	char alias[160];
	struct ut_raw r;
	struct ut_msg m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_FATAL(join(a, &r));
	CU_ASSERT_TRUE(ut_expect_fds(r.sock, 0, 1, NULL));
	snprintf(alias, sizeof(alias), "/tmp/../tmp/%s", a->sock + 5);
	b->cfg.socket_path = alias;
	CU_ASSERT_PTR_NULL(ivshm_server_start(&b->cfg));
	CU_ASSERT_EQUAL(access(a->sock, F_OK), 0);
	CU_ASSERT_TRUE(ut_quiet(r.sock, 100));
	while (ut_recv(r.sock, &m, 0) == 1) {
		fprintf(stderr, "  peer 0 was told: %lld%s\n",
			(long long)m.val, m.fd >= 0 ? " + fd" : "");
		if (m.fd >= 0)
			close(m.fd);
	}
	ut_raw_close(&r);
}

/* Anything but a socket at the path is never removed. */
static void test_not_a_socket_refused(void)
{
	struct ut_server *s = ut_server_new(1, 64 * KIB);
	char buf[16] = "";
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fd = open(s->sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "precious", 8), 8);
	close(fd);
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	fd = open(s->sock, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), 8);
	CU_ASSERT_STRING_EQUAL(buf, "precious");
	close(fd);
	unlink(s->sock);

	CU_ASSERT_EQUAL(mkdir(s->sock, 0700), 0);
	CU_ASSERT_PTR_NULL(ivshm_server_start(&s->cfg));
	CU_ASSERT_EQUAL(rmdir(s->sock), 0);
}

/* Owner-only by default; -G grants a group on socket and new region. */
static void test_permissions(void)
{
	struct ut_server *s = ut_server_started(1, 64 * KIB);
	struct ut_server *g = ut_server_new(1, 64 * KIB);
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(stat(s->sock, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_TRUE(shm_file(s->shm, &st));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

	g->cfg.group_given = true;
	g->cfg.group = 12345;
	CU_ASSERT_FATAL(ut_server_start(g) == 0);
	CU_ASSERT_EQUAL(stat(g->sock, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, 12345);
	CU_ASSERT_TRUE(shm_file(g->shm, &st));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, 12345);
}

int main(int argc, char **argv)
{
	static const struct ut_test tests[] = {
		{ "new region", test_region_new },
		{ "existing region reused", test_region_reused },
		{ "existing region, other -l", test_region_size_mismatch },
		{ "existing region, bad size", test_region_bad_existing },
		{ "existing region, bad size: the advice",
		  test_region_bad_existing_advice },
		{ "2 GiB region", test_region_2g },
		{ "region in a directory", test_region_in_dir },
		{ "close keeps the region", test_close_keeps_region },
		{ "stale socket replaced", test_stale_socket_replaced },
		{ "live socket refused", test_live_socket_refused },
		{ "live socket under another name refused quietly",
		  test_live_socket_other_spelling },
		{ "not a socket refused", test_not_a_socket_refused },
		{ "a refused start creates no region",
		  test_refused_start_creates_nothing },
		{ "permissions", test_permissions },
		{ NULL, NULL },
	};

	return ut_run("server_files", tests, argc, argv);
}
