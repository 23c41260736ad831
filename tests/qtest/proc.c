// SPDX-License-Identifier: MIT
/* Children and temp files of a qtest run, cleaned up whatever happens. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MAX_PIDS 64
#define MAX_FILES 128
#define PREFIX "ivshm-qt-"

static pid_t pids[MAX_PIDS];
static char files[MAX_FILES][128];
static unsigned int seq;

static void on_fatal_signal(int sig)
{
	/* Only kill, waitpid and unlink run here: all async-signal-safe. */
	proc_cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_cleanup(void)
{
	static bool armed;

	if (armed)
		return;
	armed = true;
	atexit(proc_cleanup_all);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	/* A write to a QEMU that died must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

static void forget_pid(pid_t pid)
{
	for (int i = 0; i < MAX_PIDS; i++)
		if (pids[i] == pid)
			pids[i] = 0;
}

pid_t proc_spawn(char *const argv[])
{
	pid_t parent = getpid(), pid;
	int slot = -1;

	arm_cleanup();
	for (int i = 0; i < MAX_PIDS && slot < 0; i++)
		if (!pids[i])
			slot = i;
	if (slot < 0) {
		fprintf(stderr, "qtest: too many children\n");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("qtest: fork");
		return -1;
	}
	if (pid == 0) {
		/* Die with the test even if it is SIGKILLed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "qtest: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	pids[slot] = pid;
	return pid;
}

int proc_wait(pid_t pid, int timeout_ms, int *status)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	int st = 0;

	for (int waited = 0;; waited += 5) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			forget_pid(pid);
			if (status)
				*status = st;
			return 0;
		}
		if (waited >= timeout_ms)
			return -1;
		nanosleep(&tick, NULL);
	}
}

bool proc_alive(pid_t pid)
{
	siginfo_t si = { 0 };

	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return false;
	return si.si_pid != pid;
}

void proc_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	forget_pid(pid);
}

void tmp_name(char *buf, size_t len, const char *dir, const char *what)
{
	snprintf(buf, len, "%s%s" PREFIX "%d-%u-%s", dir ? dir : "",
		 dir ? "/" : "", (int)getpid(), seq++, what);
}

void tmp_register(const char *path)
{
	arm_cleanup();
	for (int i = 0; i < MAX_FILES; i++)
		if (!files[i][0]) {
			snprintf(files[i], sizeof(files[i]), "%s", path);
			return;
		}
	fprintf(stderr, "qtest: too many temp files, %s will stay\n", path);
}

void tmp_remove(const char *path)
{
	unlink(path);
	for (int i = 0; i < MAX_FILES; i++)
		if (!strcmp(files[i], path))
			files[i][0] = '\0';
}

void proc_cleanup_all(void)
{
	for (int i = 0; i < MAX_PIDS; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
	for (int i = 0; i < MAX_FILES; i++)
		if (files[i][0]) {
			unlink(files[i]);
			files[i][0] = '\0';
		}
}

static void sweep_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)))
			continue;
		pid = strtol(e->d_name + strlen(PREFIX), &end, 10);
		if (end == e->d_name + strlen(PREFIX) || *end != '-' ||
		    pid <= 0)
			continue;
		if (!kill((pid_t)pid, 0) || errno != ESRCH)
			continue; /* its run is still going */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

void proc_sweep_stale(void)
{
	sweep_dir("/tmp");
	sweep_dir("/dev/shm");
}
