// SPDX-License-Identifier: MIT
/*
 * The listening socket. A socket file left by a crashed server is replaced;
 * one with a live server behind it, or any other kind of file, is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server_int.h"

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		srv_log(true, "socket path %s is too long (max %zu bytes)\n",
			path, sizeof(sa->sun_path) - 1);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * Is someone listening on @path? /proc/net/unix answers without connecting:
 * a probing connect() would be taken by a live server as a joining peer.
 */
static bool proc_says_listening(const char *path)
{
	char line[4200], sockpath[4097];
	unsigned long flags;
	struct stat want, st;
	bool found = false;
	FILE *f;

	if (lstat(path, &want))
		return false;
	f = fopen("/proc/net/unix", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %4096s", &flags,
			   sockpath) != 2 || !(flags & 0x10000) /* listening */)
			continue;
		/* The same file under any spelling (/run vs /var/run). */
		found = !strcmp(sockpath, path) ||
			(!lstat(sockpath, &st) && st.st_dev == want.st_dev &&
			 st.st_ino == want.st_ino);
	}
	fclose(f);
	return found;
}

/* 0 if nothing is at @path now (stale socket removed), -1 if refused. */
static int clear_stale(const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : (srv_log(true, "cannot stat %s: "
						      "%s\n", path,
						      strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		srv_log(true, "%s exists and is not a socket; refusing to "
			"replace it\n", path);
		return -1;
	}
	if (proc_says_listening(path)) {
		srv_log(true, "another server is already listening on %s\n",
			path);
		return -1;
	}
	/* Bound under another spelling of the path? Ask the socket itself. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		srv_log(true, "another server is already listening on %s\n",
			path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		srv_log(true, "cannot tell whether %s is in use: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (unlink(path) && errno != ENOENT) {
		srv_log(true, "cannot remove stale socket %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	srv_log(false, "removed stale socket %s\n", path);
	return 0;
}

int srv_listen(const struct ivshm_server_config *cfg)
{
	struct sockaddr_un sa;
	mode_t old_mask;
	int fd, rc;

	if (fill_addr(cfg->socket_path, &sa) || clear_stale(&sa))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		srv_log(true, "socket: %s\n", strerror(errno));
		return -1;
	}
	/* Born owner-only: whoever connects receives the whole region. */
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (rc) {
		srv_log(true, "cannot bind %s: %s\n", sa.sun_path,
			strerror(errno));
		goto fail;
	}
	if (cfg->group_given && (chown(sa.sun_path, (uid_t)-1, cfg->group) ||
				 chmod(sa.sun_path, 0660))) {
		srv_log(true, "cannot grant group %u on %s: %s\n",
			(unsigned int)cfg->group, sa.sun_path, strerror(errno));
		unlink(sa.sun_path);
		goto fail;
	}
	if (listen(fd, 64)) {
		srv_log(true, "cannot listen on %s: %s\n", sa.sun_path,
			strerror(errno));
		unlink(sa.sun_path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
