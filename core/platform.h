/* SPDX-License-Identifier: MIT */
/*
 * The one header that every freestanding core/ file includes. It maps types,
 * errno values, atomics, allocation, logging and crc32 to the host: libc,
 * pthreads and zlib in userspace, <linux/...> in the guest kernel module.
 * No other core/ file (outside core/platform/) may include a system header.
 */
#ifndef IVSHM_PLATFORM_H
#define IVSHM_PLATFORM_H

#ifdef __KERNEL__
#include "platform/kernel.h"
#else
#include "platform/user.h"
#endif

#endif
