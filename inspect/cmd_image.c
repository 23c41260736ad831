// SPDX-License-Identifier: MIT
/*
 * dump and restore: a consistent snapshot of a region into a file (gzip-
 * compressed when its name ends in .gz), and an image written back into a
 * region file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fmt.h"
#include "inspect.h"
#include "progress.h"
#include "view.h"

#define CHUNK (1u << 20)
#define LOCK_FORMATTING UINT64_MAX /* as core/store_int.h */
#define PROBE_MS 350		   /* > 3 heartbeats (every 100 ms) */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- the output of dump: a plain (sparse) file or a gzip stream ---- */

struct out {
	int fd;
	gzFile z;
	uint64_t pos;		/* bytes of the image so far */
	uint64_t written;	/* bytes that went to the file */
	struct progress pg;
	char err[256];
};

static int out_open(struct out *o, int fd, bool gz, int level)
{
	char mode[8];
	int zfd;

	o->pos = o->written = 0;
	o->z = NULL;
	o->fd = fd;
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET)) {
		snprintf(o->err, sizeof(o->err), "%s", strerror(errno));
		return -1;
	}
	if (!gz)
		return 0;
	snprintf(mode, sizeof(mode), "wb%d", level);
	zfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	o->z = zfd >= 0 ? gzdopen(zfd, mode) : NULL;
	if (!o->z) {
		if (zfd >= 0)
			close(zfd);
		snprintf(o->err, sizeof(o->err), "cannot start gzip");
		return -1;
	}
	gzbuffer(o->z, 1u << 18);
	return 0;
}

static int out_write(struct out *o, const uint8_t *p, uint64_t n)
{
	while (n) {
		size_t k = n < CHUNK ? (size_t)n : CHUNK;

		if (o->z) {
			if (gzwrite(o->z, p, (unsigned int)k) != (int)k) {
				int e;

				snprintf(o->err, sizeof(o->err), "%s",
					 gzerror(o->z, &e));
				return -1;
			}
		} else if (img_is_zero(p, k)) {
			/* A hole: the file stays sparse. */
		} else {
			size_t done = 0;

			while (done < k) {
				ssize_t w = pwrite(o->fd, p + done, k - done,
						   (off_t)(o->pos + done));

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					snprintf(o->err, sizeof(o->err), "%s",
						 strerror(w < 0 ? errno :
								  ENOSPC));
					return -1;
				}
				done += (size_t)w;
			}
			o->written += k;
		}
		o->pos += k;
		p += k;
		n -= k;
		progress_update(&o->pg, o->pos, true);
	}
	return 0;
}

static int out_close(struct out *o)
{
	int rc = 0;

	if (o->z) {
		int e = gzclose(o->z);

		o->z = NULL;
		if (e != Z_OK) {
			snprintf(o->err, sizeof(o->err), "gzip: error %d", e);
			return -1;
		}
		o->written = (uint64_t)lseek(o->fd, 0, SEEK_END);
	} else if (ftruncate(o->fd, (off_t)o->pos)) {
		snprintf(o->err, sizeof(o->err), "%s", strerror(errno));
		rc = -1;
	}
	if (!rc && fsync(o->fd)) {
		snprintf(o->err, sizeof(o->err), "%s", strerror(errno));
		rc = -1;
	}
	return rc;
}

/* The whole region, in order: what the snapshot holds from private
 * memory, data segments straight from the region. */
static int dump_once(struct img *im, struct out *o)
{
	const uint8_t *src = im->live ? im->live : im->mem;
	uint64_t end;

	if (im->kind != IVSHM_REGION_VALID || !im->live)
		return out_write(o, src, im->size);
	if (out_write(o, im->mem, im->g.seg0_off))
		return -1;
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		uint64_t off = img_seg_off(im, i);

		if (out_write(o, (im->have[i] ? im->mem : im->live) + off,
			      im->g.seg_size))
			return -1;
	}
	end = img_seg_off(im, im->g.seg_count);
	return out_write(o, im->live + end, im->size - end);
}

static bool same_file(const char *a, const char *b)
{
	struct stat x, y;

	return !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

int cmd_dump(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "level", required_argument, NULL, 'l' },
		{ 0 },
	};
	uint64_t level = 1;
	struct out o = { .fd = -1 };
	char *tmp = NULL, err[512], a[32], b[32];
	const char *path;
	bool gz;
	double t0 = now_s();
	struct view v;
	unsigned int attempts = 0;
	int c, rc;

	while ((c = insp_getopt(in, argc, argv, "l:", lo)) != -1) {
		if (c == 'l' && insp_parse_u64(optarg, &level) && level >= 1 &&
		    level <= 9)
			continue;
		if (c == 'l')
			return insp_usage(in, "--level takes 1..9, not '%s'",
					  optarg);
		return EXIT_USAGE;
	}
	if (optind + 1 != argc)
		return insp_usage(in, optind < argc ? "one OUT file" :
				  "where to? (OUT is missing)");
	path = argv[optind];
	gz = ends_with(path, ".gz");
	if (same_file(path, in->region))
		return insp_fail(in, EXIT_FAIL, "%s is the region itself",
				 path);
	rc = view_open(in, &v, VIEW_ANY);
	if (rc) {
		view_close(&v);
		return rc;
	}
	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
		view_close(&v);
		return insp_fail(in, EXIT_FAIL, "out of memory");
	}
	o.fd = mkostemp(tmp, O_CLOEXEC);
	if (o.fd < 0) {
		rc = insp_fail(in, EXIT_FAIL, "cannot create %s: %s", tmp,
			       strerror(errno));
		free(tmp);
		view_close(&v);
		return rc;
	}
	for (;;) {
		uint32_t which = 0;

		attempts++;
		progress_start(&o.pg, gz ? "dumping (gzip)" : "dumping",
			       v.im.size);
		o.pg.on = o.pg.on && !in->quiet;
		if (out_open(&o, o.fd, gz, (int)level) ||
		    dump_once(&v.im, &o) || out_close(&o)) {
			progress_end(&o.pg);
			rc = insp_fail(in, EXIT_FAIL, "cannot write %s: %s",
				       path, o.err);
			break;
		}
		progress_end(&o.pg);
		if (!v.im.live || v.im.kind != IVSHM_REGION_VALID ||
		    img_data_unchanged(&v.im, &which))
			break;
		/* A data segment was reused while it was copied. */
		if (attempts >= IMG_TRIES) {
			rc = insp_fail(in, EXIT_BUSY, "data segment %u was "
				       "reused while it was being copied, %u "
				       "times: no consistent dump; try again",
				       which, attempts);
			break;
		}
		rc = img_snapshot(&v.im, err, sizeof(err));
		if (rc) {
			int code = rc == -EAGAIN ? EXIT_BUSY : EXIT_FAIL;

			rc = insp_fail(in, code, "%s", err);
			break;
		}
	}
	if (!rc && rename(tmp, path))
		rc = insp_fail(in, EXIT_FAIL, "cannot rename %s to %s: %s", tmp,
			       path, strerror(errno));
	if (rc)
		unlink(tmp);
	close(o.fd);
	if (!rc && in->json) {
		struct json *j = insp_doc(in);

		json_str(j, "out", path);
		json_bool(j, "compressed", gz);
		json_str(j, "kind", ivshm_region_kind_name(v.im.kind));
		json_u64(j, "size", v.im.size);
		json_u64(j, "bytes_written", o.written);
		if (v.im.kind == IVSHM_REGION_VALID)
			json_u64(j, "head_seq", v.im.head);
		else
			json_null(j, "head_seq");
		json_u64(j, "attempts", attempts);
		json_dbl(j, "seconds", now_s() - t0);
	} else if (!rc) {
		printf("dumped %s (%s, %s", in->region, fmt_size(v.im.size, a),
		       ivshm_region_kind_name(v.im.kind));
		if (v.im.kind == IVSHM_REGION_VALID)
			printf(", head_seq %llu",
			       (unsigned long long)v.im.head);
		printf(") to %s: %s written%s in %.2f s\n", path,
		       fmt_size(o.written, b), gz ? " (gzip)" : "",
		       now_s() - t0);
	}
	free(tmp);
	view_close(&v);
	return rc;
}

/* ---- restore ---- */

/* Whether [off, off + len) of @fd may hold data (not one hole). */
static bool may_hold_data(int fd, uint64_t off, uint64_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	if (d < 0)
		return errno != ENXIO; /* ENXIO: only a hole up to the end */
	return (uint64_t)d < off + len;
}

/* Copy @n bytes at @off from @src to @dst, leaving holes alone. */
static void copy_range(uint8_t *dst, const uint8_t *src, uint64_t off,
		       uint64_t n, int fd, struct progress *pg)
{
	for (uint64_t end = off + n; off < end;) {
		size_t k = end - off < CHUNK ? (size_t)(end - off) : CHUNK;

		if (!img_is_zero(src + off, k))
			memcpy(dst + off, src + off, k);
		else if (may_hold_data(fd, off, k) &&
			 !img_is_zero(dst + off, k))
			memset(dst + off, 0, k);
		off += k;
		progress_update(pg, off, true);
	}
}

/* Live peers of a region file about to be overwritten: their count. */
static unsigned int live_peers(const char *path, char *who, size_t len)
{
	char err[256];
	struct img im;
	unsigned int n = 0;
	uint8_t *moving;
	size_t o = 0;

	who[0] = 0;
	if (img_open(&im, path, err, sizeof(err)))
		return 0;
	if (img_snapshot(&im, err, sizeof(err)) ||
	    im.kind != IVSHM_REGION_VALID) {
		img_close(&im);
		return 0;
	}
	moving = calloc(im.g.peer_slots, 1);
	if (moving)
		n = img_probe(&im, PROBE_MS, moving);
	for (uint32_t i = 0; moving && i < im.g.peer_slots && o < len; i++) {
		const struct ivshm_slot *s = ivshm_slot_at(im.live, i);
		char name[64];

		if (!moving[i])
			continue;
		fmt_name(s->name, strnlen(s->name, sizeof(s->name)), name,
			 sizeof(name));
		o += (size_t)snprintf(who + o, len - o, "%sslot %u %s pid %u",
				      o ? ", " : "", i, name, s->pid);
	}
	free(moving);
	img_close(&im);
	return n;
}

static void reset_peers(uint8_t *dst, const struct ivshm_geom *g)
{
	struct ivshm_sb *sb = ivshm_sb_of(dst);

	for (uint32_t i = 0; i < g->peer_slots; i++) {
		struct ivshm_slot *s = ivshm_slot_at(dst, i);
		uint64_t gen = s->gen_state >> 2;

		if ((s->gen_state & 3) == IVSHM_SLOT_FREE)
			continue;
		/* A new generation fences whatever held the slot. */
		s->gen_state = ((gen + 1) << 2) | IVSHM_SLOT_FREE;
		s->epoch = 0;
		s->data_seg = IVSHM_NONE;
	}
	ivshm_store_release(&sb->lock, 0);
}

int cmd_restore(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "reset-peers", no_argument, NULL, 'r' },
		{ 0 },
	};
	bool force = false, reset = false, created = false, resized = false;
	char err[512], who[512], a[32], b[32];
	const char *src_path;
	struct progress pg;
	struct stat st;
	struct img im;
	uint8_t *dst;
	int fd, c, rc = EXIT_OK;
	unsigned int nlive;
	double t0 = now_s();

	while ((c = insp_getopt(in, argc, argv, "fr", lo)) != -1) {
		if (c == 'f')
			force = true;
		else if (c == 'r')
			reset = true;
		else
			return EXIT_USAGE;
	}
	if (optind + 1 != argc)
		return insp_usage(in, optind < argc ? "one IN image" :
				  "which image? (IN is missing)");
	src_path = argv[optind];
	if (same_file(src_path, in->region))
		return insp_fail(in, EXIT_FAIL, "%s is the region itself",
				 src_path);
	if (img_open(&im, src_path, err, sizeof(err)))
		return insp_fail(in, EXIT_FAIL, "%s", err);
	rc = img_snapshot(&im, err, sizeof(err));
	if (!rc && im.live && im.kind == IVSHM_REGION_VALID) {
		/* An image that is itself a live region: all of it. */
		uint8_t *all = malloc(im.g.seg_count);

		if (!all) {
			rc = -ENOMEM;
		} else {
			memset(all, 1, im.g.seg_count);
			rc = img_fetch(&im, all, err, sizeof(err));
			free(all);
		}
	}
	if (rc) {
		img_close(&im);
		return insp_fail(in, rc == -EAGAIN ? EXIT_BUSY : EXIT_FAIL,
				 "%s: %s", src_path,
				 rc == -ENOMEM ? "out of memory" : err);
	}
	if (im.kind != IVSHM_REGION_VALID && !force) {
		rc = insp_fail(in, EXIT_FAIL, "%s holds no valid ivshm store "
			       "(%s: %s); --force restores it anyway", src_path,
			       ivshm_region_kind_name(im.kind), im.why);
		img_close(&im);
		return rc;
	}
	fd = open(in->region, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = insp_fail(in, EXIT_FAIL, "%s: %s", in->region,
			       fd < 0 ? strerror(errno) :
				       "not a regular file (a region file)");
		goto out_img;
	}
	created = st.st_size == 0;
	if (st.st_size && (uint64_t)st.st_size != im.size && !force) {
		rc = insp_fail(in, EXIT_FAIL, "%s is %s, the image %s: --force "
			       "resizes it (restart the peers that map it)",
			       in->region, fmt_size((uint64_t)st.st_size, a),
			       fmt_size(im.size, b));
		goto out_fd;
	}
	nlive = st.st_size ? live_peers(in->region, who, sizeof(who)) : 0;
	if (nlive && !force) {
		rc = insp_fail(in, EXIT_FAIL, "%s is live: %u peer%s with a "
			       "moving heartbeat (%s); stop %s or use --force",
			       in->region, nlive, nlive == 1 ? "" : "s", who,
			       nlive == 1 ? "it" : "them");
		goto out_fd;
	}
	if ((uint64_t)st.st_size != im.size) {
		if (ftruncate(fd, (off_t)im.size)) {
			rc = insp_fail(in, EXIT_FAIL, "cannot make %s %s "
				       "large: %s", in->region,
				       fmt_size(im.size, a), strerror(errno));
			goto out_fd;
		}
		resized = !created;
	}
	dst = mmap(NULL, (size_t)im.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (dst == MAP_FAILED) {
		rc = insp_fail(in, EXIT_FAIL, "cannot map %s: %s", in->region,
			       strerror(errno));
		goto out_fd;
	}
	progress_start(&pg, "restoring", im.size);
	pg.on = pg.on && !in->quiet;
	if (im.size >= IVSHM_SB_SIZE) {
		struct ivshm_sb *sb = ivshm_sb_of(dst);
		const uint8_t *src = im.mem;
		size_t lk = offsetof(struct ivshm_sb, lock);

		/*
		 * Nobody may take the half-written region for a store: the
		 * lock says "formatting" (attach waits) and the magic goes
		 * first; the superblock comes back last, magic last of all.
		 */
		ivshm_store_release(&sb->lock, LOCK_FORMATTING);
		ivshm_fence();
		memset(dst, 0, 8);
		ivshm_fence();
		copy_range(dst, src, IVSHM_SB_SIZE, im.size - IVSHM_SB_SIZE, fd,
			   &pg);
		memcpy(dst + 8, src + 8, lk - 8);
		memcpy(dst + lk + 8, src + lk + 8, IVSHM_SB_SIZE - lk - 8);
		if (reset && im.kind == IVSHM_REGION_VALID)
			reset_peers(dst, &im.g);
		ivshm_fence();
		memcpy(dst, src, 8);
		ivshm_fence();
		ivshm_store_release(&sb->lock,
				    reset ? 0 : img_sb(&im)->lock);
	} else {
		memcpy(dst, im.mem, (size_t)im.size);
	}
	progress_end(&pg);
	if (msync(dst, (size_t)im.size, MS_SYNC))
		rc = insp_fail(in, EXIT_FAIL, "%s: %s", in->region,
			       strerror(errno));
	munmap(dst, (size_t)im.size);
	if (rc)
		goto out_fd;
	if (in->json) {
		struct json *j = insp_doc(in);

		json_str(j, "image", src_path);
		json_str(j, "image_source", img_source(&im));
		json_str(j, "kind", ivshm_region_kind_name(im.kind));
		json_u64(j, "size", im.size);
		if (im.kind == IVSHM_REGION_VALID)
			json_u64(j, "head_seq", im.head);
		else
			json_null(j, "head_seq");
		json_bool(j, "created", created);
		json_bool(j, "resized", resized);
		json_bool(j, "forced", force);
		json_bool(j, "peers_reset", reset);
		json_u64(j, "live_peers_overridden", nlive);
		json_dbl(j, "seconds", now_s() - t0);
	} else {
		printf("restored %s (%s, %s) into %s%s in %.2f s\n", src_path,
		       img_source(&im), fmt_size(im.size, a), in->region,
		       created ? " (created)" : resized ? " (resized)" : "",
		       now_s() - t0);
	}
	if (nlive)
		insp_warn(in, "%u live peer%s had %s mapped: restart %s",
			  nlive, nlive == 1 ? "" : "s", in->region,
			  nlive == 1 ? "it" : "them");
out_fd:
	if (fd >= 0)
		close(fd);
out_img:
	img_close(&im);
	return rc;
}
