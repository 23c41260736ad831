/* SPDX-License-Identifier: MIT */
/* Kernel half of core/platform.h: the same names mapped to <linux/...>. */
#ifndef IVSHM_PLATFORM_KERNEL_H
#define IVSHM_PLATFORM_KERNEL_H

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>

#define ivshm_alloc(n) kzalloc((n), GFP_KERNEL)
#define ivshm_free(p) kfree(p)
#define ivshm_log_err(...) pr_err("ivshm: " __VA_ARGS__)
#define ivshm_log_info(...) pr_info("ivshm: " __VA_ARGS__)

#endif
