// SPDX-License-Identifier: GPL-2.0
/*
 * ivblk: the guest half of ivshm. For now this module proves that the
 * store in core/ builds and runs in the kernel: on load it checks its
 * platform mapping (crc32 equals zlib's) and formats and classifies a
 * scratch region in kernel memory. The PCI driver, /dev/ivblk and
 * /dev/ivshm0 come with the guest-driver issue.
 */
#include <linux/module.h>
#include <linux/vmalloc.h>

#include "../core/geom.h"
#include "../core/units.h"

static int __init ivblk_init(void)
{
	static const char probe[] = "123456789";
	struct ivshm_geom g;
	char why[160];
	void *region;
	int rc;

	/* The standard check value of CRC-32 (zlib's polynomial). */
	if (ivshm_crc32(0, probe, 9) != 0xcbf43926) {
		pr_err("ivblk: crc32 mapping is wrong\n");
		return -EINVAL;
	}
	region = vzalloc(IVSHM_MIN_REGION);
	if (!region)
		return -ENOMEM;
	rc = ivshm_format(region, IVSHM_MIN_REGION, NULL, why, sizeof(why));
	if (!rc && ivshm_classify(region, IVSHM_MIN_REGION, &g, why,
				  sizeof(why)) != IVSHM_REGION_VALID)
		rc = -EIO;
	vfree(region);
	if (rc) {
		pr_err("ivblk: store self-test failed: %s\n", why);
		return rc;
	}
	pr_info("ivblk: store core self-test passed (%u segments of %u "
		"bytes)\n", g.seg_count, g.seg_size);
	return 0;
}

static void __exit ivblk_exit(void)
{
}

module_init(ivblk_init);
module_exit(ivblk_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ivshm guest driver: block device over a shared store");
