/* SPDX-License-Identifier: MIT */
/* Userspace half of core/platform.h: libc, C11 atomics, zlib. */
#ifndef IVSHM_PLATFORM_USER_H
#define IVSHM_PLATFORM_USER_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ivshm_alloc(n) calloc(1, (n))
#define ivshm_free(p) free(p)

/* Messages go to stderr, prefixed so that a user can tell who spoke. */
#define ivshm_log_err(...) fprintf(stderr, "ivshm: " __VA_ARGS__)
#define ivshm_log_info(...) fprintf(stderr, "ivshm: " __VA_ARGS__)

#endif
