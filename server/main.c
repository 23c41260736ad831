// SPDX-License-Identifier: MIT
/* ivshm-server: parse, start, (daemonize), serve until SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivshm_server.h"

static struct ivshm_server *the_server;

static void on_signal(int sig)
{
	(void)sig;
	if (the_server)
		ivshm_server_stop(the_server);
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, len;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ivshm-server: cannot write pidfile %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		fprintf(stderr, "ivshm-server: cannot write pidfile %s\n",
			path);
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* Remove the pidfile only if it still names us. */
static void remove_pidfile(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (read(fd, buf, sizeof(buf) - 1) > 0 && atoi(buf) == (int)getpid())
		unlink(path);
	close(fd);
}

int main(int argc, char **argv)
{
	struct ivshm_server_config cfg;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	ivshm_server_config_init(&cfg);
	rc = ivshm_server_parse_args(argc, argv, &cfg, stdout, stderr);
	if (rc)
		return rc > 0 ? 0 : 1;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Start first, so that a bad region or socket is reported here. */
	the_server = ivshm_server_start(&cfg);
	if (!the_server)
		return 1;
	/*
	 * A daemon lets go of the caller's terminal and pipes (or a shell
	 * pipeline that started it would never end); it logs to syslog.
	 */
	if (!cfg.foreground) {
		if (daemon(1, 0)) {
			fprintf(stderr, "ivshm-server: daemon: %s\n",
				strerror(errno));
			ivshm_server_close(the_server);
			return 1;
		}
		ivshm_server_log_to_syslog();
	}
	if (cfg.pidfile && write_pidfile(cfg.pidfile)) {
		ivshm_server_close(the_server);
		return 1;
	}
	rc = ivshm_server_run(the_server);
	ivshm_server_close(the_server);
	if (cfg.pidfile)
		remove_pidfile(cfg.pidfile);
	return rc ? 1 : 0;
}
