// SPDX-License-Identifier: MIT
/*
 * ivshm-bench-inspect-fill: a region file filled through the file system
 * (core/fs.h), for bench/inspect_bench.sh: directories of files of mixed
 * sizes (4 KiB to 4 MiB) written until the live data reaches a share of the
 * capacity, with some files deleted and overwritten on the way so that the
 * cleaner and checkpoints run as in real use.
 *
 *   ivshm-bench-inspect-fill [-f PERCENT] [-z FILESIZE] [-s SEED] REGION SIZE
 *
 * -z writes files of one size only (4K: many small files, a long log).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dev_user.h"
#include "fs.h"
#include "units.h"

#define MAX_FILES 1000000

static uint64_t rng;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ivshm-bench-inspect-fill [-f PERCENT] [-z FILESIZE] "
		"[-s SEED] REGION SIZE\n"
		"Create REGION (a new file of SIZE bytes, e.g. 1G), format it\n"
		"and fill it through the file system until live file data is\n"
		"PERCENT (default 85) of the capacity: files of 4 KiB to\n"
		"4 MiB, or all of FILESIZE bytes (at most 4M) with -z.\n");
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 4096, 65536, 1u << 20, 4u << 20 };
	struct ivshm_fs_opts fo = { .attach = { .name = "inspect-fill",
						.format_if_blank = true } };
	uint64_t size, target, live = 0, pct = 85, fixed = 0, *ino, *len;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct ivshm_attr a;
	uint64_t dir = IVSHM_ROOT_INO, nfiles = 0, deleted = 0;
	char *buf, name[64], sz[32];
	double t0;
	int c, fd;

	rng = 0x2545f4914f6cdd1dull;
	while ((c = getopt(argc, argv, "f:s:z:h")) != -1) {
		if (c == 'f') {
			pct = strtoull(optarg, NULL, 10);
		} else if (c == 'z') {
			if (ivshm_parse_size(optarg, &fixed) || !fixed ||
			    fixed > (4u << 20)) {
				usage(stderr);
				return 2;
			}
		} else if (c == 's') {
			rng = strtoull(optarg, NULL, 10) | 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || ivshm_parse_size(argv[optind + 1], &size) ||
	    !pct || pct > 95) {
		usage(stderr);
		return 2;
	}
	unlink(argv[optind]);
	fd = open(argv[optind], O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		perror(argv[optind]);
		return 1;
	}
	close(fd);
	if (ivshm_plain_open(argv[optind], &dev) ||
	    ivshm_fs_open(dev, &fo, &fs))
		return 1;
	target = size / 100 * pct;
	buf = malloc(4u << 20);
	ino = calloc(MAX_FILES, sizeof(*ino));
	len = calloc(MAX_FILES, sizeof(*len));
	if (!buf || !ino || !len)
		return 1;
	for (size_t i = 0; i < (4u << 20); i++)
		buf[i] = (char)(i * 131 + (i >> 12));
	t0 = now_s();
	while (live < target && nfiles < MAX_FILES) {
		uint32_t n = fixed ? (uint32_t)fixed : sizes[next_rand() % 4];
		int64_t w;

		if (nfiles % 100 == 0) {
			snprintf(name, sizeof(name), "d%06llu",
				 (unsigned long long)nfiles / 100);
			if (ivshm_fs_mknod(fs, IVSHM_ROOT_INO, name,
					   IVSHM_S_IFDIR | 0755, 0, 0, 0, &a))
				break;
			dir = a.ino;
		}
		snprintf(name, sizeof(name), "f%06llu",
			 (unsigned long long)nfiles);
		if (ivshm_fs_mknod(fs, dir, name, IVSHM_S_IFREG | 0644, 0, 0,
				   0, &a))
			break;
		w = ivshm_fs_write(fs, a.ino, 0, buf, n, NULL);
		if (w < 0) {
			fprintf(stderr, "write: %s (store full)\n",
				strerror((int)-w));
			break;
		}
		ino[nfiles] = a.ino;
		len[nfiles++] = (uint64_t)w;
		live += (uint64_t)w;
		/* Now and then, overwrite a file (dead bytes for the
		 * cleaner) or delete one. */
		if (nfiles % 7 == 0) {
			uint64_t k = next_rand() % nfiles;

			if (ino[k] && len[k])
				ivshm_fs_write(fs, ino[k], 0, buf,
					       len[k] < 65536 ? len[k] : 65536,
					       NULL);
		}
		if (nfiles % 11 == 0) {
			uint64_t k = next_rand() % nfiles;
			char dn[32];
			struct ivshm_attr d;

			snprintf(dn, sizeof(dn), "d%06llu",
				 (unsigned long long)k / 100);
			snprintf(name, sizeof(name), "f%06llu",
				 (unsigned long long)k);
			if (ino[k] &&
			    !ivshm_fs_lookup(fs, IVSHM_ROOT_INO, dn, &d) &&
			    !ivshm_fs_unlink(fs, d.ino, name, false, NULL)) {
				live -= len[k];
				ino[k] = 0;
				deleted++;
			}
		}
	}
	printf("filled %s: %s, %llu files written (%llu deleted), %s live "
	       "in %.1f s\n", argv[optind], ivshm_format_size(size, sz, 32),
	       (unsigned long long)nfiles, (unsigned long long)deleted,
	       ivshm_format_size(live, name, sizeof(name)), now_s() - t0);
	ivshm_fs_close(fs);
	ivshm_device_close(dev);
	free(buf);
	free(ino);
	free(len);
	return 0;
}
