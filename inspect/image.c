// SPDX-License-Identifier: MIT
/* Region files and gzip images in private memory (image.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fmt.h"
#include "image.h"
#include "progress.h"
#include "units.h"

#define CHUNK (1u << 20)
/* A gzip image that is not a store is read up to this size. */
#define GZ_FOREIGN_MAX (1ull << 32)

bool img_is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	return !n || (!c[0] && !memcmp(c, c + 1, n - 1));
}

const char *img_source(const struct img *im)
{
	return im->gz ? "gzip image" : "region file";
}

static void *anon(uint64_t size)
{
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Segments are copied whole: fewer faults with huge pages. */
	madvise(p, (size_t)size, MADV_HUGEPAGE);
	return p;
}

/* Read up to @n bytes; the count, or -1 on a decompression error. */
static int64_t gz_read_full(gzFile z, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int r = gzread(z, (char *)buf + got, (unsigned int)(n - got));

		if (r < 0)
			return -1;
		if (!r)
			break;
		got += (size_t)r;
	}
	return (int64_t)got;
}

/* The region size a superblock claims, or 0 when it does not look like one. */
static uint64_t claimed_size(const void *sb, size_t n)
{
	const struct ivshm_sb *s = sb;

	if (n < IVSHM_SB_SIZE || memcmp(s->magic, IVSHM_MAGIC, 8) ||
	    s->region_size < IVSHM_MIN_REGION ||
	    s->region_size > IVSHM_MAX_REGION ||
	    !ivshm_is_pow2(s->region_size))
		return 0;
	return s->region_size;
}

static int gz_fail(gzFile z, const char *path, char *err, size_t errlen)
{
	int zerr;
	const char *m = gzerror(z, &zerr);

	snprintf(err, errlen, "%s: gzip image unreadable: %s", path,
		 zerr == Z_ERRNO ? strerror(errno) : m);
	return -EIO;
}

/*
 * A store's image is as large as its superblock says: decompress straight
 * into a region-sized private mapping, skipping zero chunks so that the
 * free space of a sparse image costs no memory.
 */
static int gz_load_store(struct img *im, gzFile z, const uint8_t *sb,
			 uint64_t size, off_t zsize, char *err, size_t errlen)
{
	uint8_t *buf = malloc(CHUNK);
	struct progress pg;
	uint64_t off = IVSHM_SB_SIZE;
	int rc = 0;

	im->mem = anon(size);
	if (!buf || !im->mem) {
		free(buf);
		snprintf(err, errlen, "%s: no memory for a %llu-byte image",
			 im->path, (unsigned long long)size);
		return -ENOMEM;
	}
	im->size = size;
	memcpy(im->mem, sb, IVSHM_SB_SIZE);
	progress_start(&pg, "reading image", (uint64_t)zsize);
	for (;;) {
		int64_t n = gz_read_full(z, buf, CHUNK);

		if (n < 0) {
			rc = gz_fail(z, im->path, err, errlen);
			break;
		}
		if (!n)
			break;
		if ((uint64_t)n > size - off) {
			snprintf(err, errlen, "%s: the image holds more than "
				 "the %llu bytes its superblock says",
				 im->path, (unsigned long long)size);
			rc = -EINVAL;
			break;
		}
		if (!img_is_zero(buf, (size_t)n))
			memcpy(im->mem + off, buf, (size_t)n);
		off += (uint64_t)n;
		progress_update(&pg, (uint64_t)gzoffset(z), true);
	}
	progress_end(&pg);
	free(buf);
	if (!rc && off != size) {
		snprintf(err, errlen, "%s: image truncated: %llu of %llu bytes",
			 im->path, (unsigned long long)off,
			 (unsigned long long)size);
		rc = -EINVAL;
	}
	return rc;
}

/* Anything else: read it all, whatever its size (up to a limit). */
static int gz_load_other(struct img *im, gzFile z, const uint8_t *head,
			 size_t nhead, char *err, size_t errlen)
{
	size_t cap = nhead > CHUNK ? nhead : CHUNK, len = nhead;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, head, nhead);
	for (;;) {
		int64_t n;

		if (len == cap) {
			uint8_t *b;

			if (cap >= GZ_FOREIGN_MAX) {
				free(buf);
				snprintf(err, errlen, "%s: the image is larger "
					 "than 4 GiB and holds no ivshm store",
					 im->path);
				return -EFBIG;
			}
			b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
		n = gz_read_full(z, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return gz_fail(z, im->path, err, errlen);
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	im->mem = buf;
	im->mem_malloced = true;
	im->size = len;
	return 0;
}

static int gz_load(struct img *im, off_t zsize, char *err, size_t errlen)
{
	int fd = fcntl(im->fd, F_DUPFD_CLOEXEC, 3);
	gzFile z = fd >= 0 ? gzdopen(fd, "rb") : NULL;
	uint8_t sb[IVSHM_SB_SIZE];
	uint64_t size;
	int64_t n;
	int rc;

	if (!z) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "%s: %s", im->path, strerror(errno));
		return -EIO;
	}
	gzbuffer(z, 1u << 18);
	n = gz_read_full(z, sb, sizeof(sb));
	if (n < 0) {
		rc = gz_fail(z, im->path, err, errlen);
	} else if ((size = claimed_size(sb, (size_t)n))) {
		rc = gz_load_store(im, z, sb, size, zsize, err, errlen);
	} else {
		rc = gz_load_other(im, z, sb, (size_t)n, err, errlen);
		if (!rc && !im->size) {
			snprintf(err, errlen, "%s: the gzip image is empty",
				 im->path);
			rc = -EINVAL;
		}
	}
	gzclose(z);
	return rc;
}

int img_open(struct img *im, const char *path, char *err, size_t errlen)
{
	unsigned char magic[2] = { 0 };
	struct stat st;
	int rc;

	memset(im, 0, sizeof(*im));
	im->path = path;
	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (im->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(-rc));
		return rc;
	}
	if (fstat(im->fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file (a region file "
			 "or a saved image)", path);
		rc = -EINVAL;
		goto fail;
	}
	if (!st.st_size) {
		snprintf(err, errlen, "%s is empty", path);
		rc = -EINVAL;
		goto fail;
	}
	if (pread(im->fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
	    magic[1] == 0x8b) {
		im->gz = true;
		rc = gz_load(im, st.st_size, err, errlen);
		if (rc)
			goto fail;
		return 0;
	}
	im->size = (uint64_t)st.st_size;
	im->live = mmap(NULL, (size_t)im->size, PROT_READ, MAP_SHARED, im->fd,
			0);
	if (im->live == MAP_FAILED) {
		rc = -errno;
		im->live = NULL;
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(-rc));
		goto fail;
	}
	im->mem = anon(im->size);
	if (!im->mem) {
		rc = -ENOMEM;
		snprintf(err, errlen, "no memory for a copy of %s", path);
		goto fail;
	}
	return 0;
fail:
	img_close(im);
	return rc;
}

void img_close(struct img *im)
{
	if (im->live)
		munmap(im->live, (size_t)im->size);
	if (im->mem_malloced)
		free(im->mem);
	else if (im->mem)
		munmap(im->mem, (size_t)im->size);
	if (im->fd >= 0)
		close(im->fd);
	free(im->have);
	memset(im, 0, sizeof(*im));
	im->fd = -1;
}

static int alloc_have(struct img *im)
{
	free(im->have);
	im->have = calloc(im->g.seg_count ? im->g.seg_count : 1, 1);
	return im->have ? 0 : -ENOMEM;
}

static void classify(struct img *im)
{
	im->kind = ivshm_classify(im->mem, im->size, &im->g, im->why,
				  sizeof(im->why));
	if (im->kind != IVSHM_REGION_VALID)
		memset(&im->g, 0, sizeof(im->g));
}

static uint64_t live_gen(const struct img *im)
{
	return ivshm_load_acquire(
		&((const struct ivshm_sb *)(const void *)im->live)->ckpt_gen);
}

/* One attempt: 0, -EAGAIN when something moved under us. */
static int snapshot_once(struct img *im)
{
	const struct ivshm_sb *ls = (const void *)im->live;
	uint64_t gen1, gen2;

	gen1 = live_gen(im);
	memcpy(im->mem, im->live, IVSHM_SB_SIZE);
	ivshm_fence();
	gen2 = live_gen(im);
	classify(im);
	if (im->kind != IVSHM_REGION_VALID)
		return 0; /* nothing more to copy: commands say what it is */
	if (gen1 != gen2 || img_sb(im)->ckpt_gen != gen1)
		return -EAGAIN;
	if (alloc_have(im))
		return -ENOMEM;
	memcpy(im->mem + IVSHM_SB_SIZE, im->live + IVSHM_SB_SIZE,
	       (size_t)(im->g.seg0_off - IVSHM_SB_SIZE));
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		uint32_t state = img_seg(im, i)->state;

		if (state != IVSHM_SEG_META && state != IVSHM_SEG_CKPT)
			continue;
		memcpy(im->mem + img_seg_off(im, i),
		       im->live + img_seg_off(im, i), im->g.seg_size);
		im->have[i] = 1;
	}
	ivshm_fence();
	/* A new checkpoint may have retired what we copied; a new format
	 * changes the uuid. */
	if (live_gen(im) != gen1 || memcmp(ls->uuid, img_sb(im)->uuid, 16))
		return -EAGAIN;
	im->head = img_sb(im)->head_seq;
	im->gen = gen1;
	return 0;
}

int img_snapshot(struct img *im, char *err, size_t errlen)
{
	int rc;

	if (!im->live) {
		classify(im);
		if (im->kind == IVSHM_REGION_VALID) {
			if (alloc_have(im))
				return -ENOMEM;
			memset(im->have, 1, im->g.seg_count);
			im->head = img_sb(im)->head_seq;
			im->gen = img_sb(im)->ckpt_gen;
		}
		return 0;
	}
	if (im->size < IVSHM_SB_SIZE) {
		memcpy(im->mem, im->live, (size_t)im->size);
		classify(im);
		return 0;
	}
	while (im->tries < IMG_TRIES) {
		im->tries++;
		rc = snapshot_once(im);
		if (rc != -EAGAIN)
			return rc;
		/* Let the writer that got in the way finish. */
		poll(NULL, 0, (int)im->tries);
	}
	snprintf(err, errlen, "%s changed %u times while it was being read "
		 "(checkpoints or segment reuse in quick succession): no "
		 "consistent view; try again", im->path, im->tries);
	return -EAGAIN;
}

/* The live segment table entry @i, as one atomic word and alloc_seq. */
static void live_entry(const struct img *im, uint32_t i, uint64_t *word,
		       uint64_t *alloc_seq)
{
	const struct ivshm_seg_entry *e = ivshm_seg_entry_at(im->live, &im->g,
							     i);

	*word = ivshm_load_acquire((const uint64_t *)(const void *)e);
	*alloc_seq = ivshm_load_acquire(&e->alloc_seq);
}

/* Segment @i still holds what the snapshot says it held. */
static bool seg_unchanged(const struct img *im, uint32_t i)
{
	const struct ivshm_seg_entry *e = img_seg(im, i);
	uint64_t word, alloc;

	live_entry(im, i, &word, &alloc);
	if ((uint32_t)word != e->state)
		return false;
	if (e->state != IVSHM_SEG_DATA)
		return true;
	/* Claimed after the snapshot's head: not what the log refers to. */
	return alloc == e->alloc_seq && e->alloc_seq <= im->head + 1;
}

bool img_data_unchanged(struct img *im, uint32_t *which)
{
	ivshm_fence();
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		const struct ivshm_seg_entry *e = img_seg(im, i);

		/* Claimed after the snapshot's head: nothing it refers to. */
		if (e->state != IVSHM_SEG_DATA || e->alloc_seq > im->head + 1)
			continue;
		if (!seg_unchanged(im, i)) {
			if (which)
				*which = i;
			return false;
		}
	}
	return true;
}

int img_fetch(struct img *im, const uint8_t *want, char *err, size_t errlen)
{
	if (!im->live || im->kind != IVSHM_REGION_VALID)
		return 0;
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		if (!want[i] || im->have[i])
			continue;
		memcpy(im->mem + img_seg_off(im, i),
		       im->live + img_seg_off(im, i), im->g.seg_size);
		im->have[i] = 2; /* to be checked */
	}
	ivshm_fence();
	for (uint32_t i = 0; i < im->g.seg_count; i++) {
		if (im->have[i] != 2)
			continue;
		if (!seg_unchanged(im, i)) {
			snprintf(err, errlen, "data segment %u of %s was "
				 "reused while it was being read", i,
				 im->path);
			return -EAGAIN;
		}
		im->have[i] = 1;
	}
	return 0;
}

unsigned int img_probe(struct img *im, unsigned int ms, uint8_t *moving)
{
	uint32_t slots = im->g.peer_slots;
	uint64_t *hb, *gs;
	unsigned int n = 0, alive = 0;

	if (moving && slots)
		memset(moving, 0, slots);
	if (!im->live || im->kind != IVSHM_REGION_VALID || !slots)
		return 0;
	hb = calloc(slots, sizeof(*hb));
	gs = calloc(slots, sizeof(*gs));
	if (!hb || !gs) {
		free(hb);
		free(gs);
		return 0;
	}
	for (uint32_t i = 0; i < slots; i++) {
		const struct ivshm_slot *s = ivshm_slot_at(im->live, i);

		gs[i] = ivshm_load_acquire(&s->gen_state);
		hb[i] = ivshm_load_acquire(&s->heartbeat);
		alive += (gs[i] & 3) == IVSHM_SLOT_ALIVE;
	}
	if (alive && ms)
		poll(NULL, 0, (int)ms);
	for (uint32_t i = 0; alive && i < slots; i++) {
		const struct ivshm_slot *s = ivshm_slot_at(im->live, i);
		uint64_t g = ivshm_load_acquire(&s->gen_state);
		bool moved = (gs[i] & 3) == IVSHM_SLOT_ALIVE &&
			     (g != gs[i] ||
			      ivshm_load_acquire(&s->heartbeat) != hb[i]);

		/* A slot claimed meanwhile is as live as can be. */
		if (!moved && g != gs[i] && (g & 3) == IVSHM_SLOT_ALIVE)
			moved = true;
		if (moving)
			moving[i] = moved;
		n += moved;
	}
	free(hb);
	free(gs);
	return n;
}
