/* SPDX-License-Identifier: MIT */
/*
 * Child processes and temporary files of one qtest run. Everything spawned
 * or created here is killed or removed at exit, and children die with us
 * even when we are SIGKILLed (a CTest timeout), so no QEMU is ever left
 * behind. Names are /tmp/ivshm-qt-PID-SEQ-WHAT so that a later run can
 * sweep what a killed run left.
 */
#ifndef QT_PROC_H
#define QT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Start @argv[0] (searched in PATH); -1 on failure. */
pid_t proc_spawn(char *const argv[]);

/*
 * Wait up to @timeout_ms for @pid to exit and reap it. Returns 0 with the
 * wait status in @status, or -1 if it is still running.
 */
int proc_wait(pid_t pid, int timeout_ms, int *status);

/* True while @pid has not exited (does not reap). */
bool proc_alive(pid_t pid);

/* SIGKILL and reap @pid, if it is still ours. */
void proc_kill(pid_t pid);

/* A fresh name "DIR/ivshm-qt-PID-SEQ-WHAT" (DIR NULL: a bare shm name). */
void tmp_name(char *buf, size_t len, const char *dir, const char *what);

/* Remove @path at exit (or at tmp_remove); @path is copied. */
void tmp_register(const char *path);
void tmp_remove(const char *path);

/* Kill every child and remove every file now (also runs at exit). */
void proc_cleanup_all(void);

/* Remove leftovers of earlier runs whose process is gone. */
void proc_sweep_stale(void);

#endif
