// SPDX-License-Identifier: MIT
/* format: a new store in a region file (ivshm_format). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt.h"
#include "inspect.h"
#include "units.h"
#include "view.h"

#define LOCK_FORMATTING UINT64_MAX /* as core/store_int.h */
#define PROBE_MS 350

static bool size_ok(uint64_t n)
{
	return ivshm_is_pow2(n) && n >= IVSHM_MIN_REGION &&
	       n <= IVSHM_MAX_REGION;
}

/* What the region holds now, for the refusal message. */
static enum ivshm_region_kind holds(void *p, uint64_t size, char *buf,
				    size_t len, unsigned int *live)
{
	struct ivshm_geom g;
	char why[256];
	enum ivshm_region_kind k = ivshm_classify(p, size, &g, why,
						  sizeof(why));

	*live = 0;
	if (k == IVSHM_REGION_VALID) {
		const struct ivshm_sb *sb = p;
		uint32_t alive = 0;

		for (uint32_t i = 0; i < g.peer_slots; i++)
			alive += (ivshm_slot_at(p, i)->gen_state & 3) ==
				 IVSHM_SLOT_ALIVE;
		snprintf(buf, len, "a valid ivshm store (head_seq %llu, %u "
			 "slots alive)", (unsigned long long)sb->head_seq,
			 alive);
		*live = alive;
	} else {
		snprintf(buf, len, "%s (%s)", ivshm_region_kind_name(k), why);
	}
	return k;
}

static unsigned int moving_peers(struct insp *in)
{
	char err[256];
	struct img im;
	unsigned int n = 0;

	if (img_open(&im, in->region, err, sizeof(err)))
		return 0;
	if (!img_snapshot(&im, err, sizeof(err)) &&
	    im.kind == IVSHM_REGION_VALID)
		n = img_probe(&im, PROBE_MS, NULL);
	img_close(&im);
	return n;
}

int cmd_format(struct insp *in, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "segment-size", required_argument, NULL, 's' },
		{ "slots", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 'S' },
		{ "force", no_argument, NULL, 'f' },
		{ 0 },
	};
	struct ivshm_format_opts fo = { 0 };
	uint64_t seg = 0, slots = 0, want = 0, size;
	bool force = false, created = false;
	char why[256], what[320], a[32], b[32];
	unsigned char magic[2] = { 0 };
	struct ivshm_geom g;
	struct stat st;
	unsigned int alive = 0, moving = 0;
	enum ivshm_region_kind k;
	uint64_t cur;
	void *p;
	int fd, c, rc = EXIT_OK;

	while ((c = insp_getopt(in, argc, argv, "s:p:S:f", lo)) != -1) {
		switch (c) {
		case 's':
			if (ivshm_parse_size(optarg, &seg))
				return insp_usage(in, "--segment-size takes a "
						  "size (64K..64M), not '%s'",
						  optarg);
			break;
		case 'p':
			if (!insp_parse_u64(optarg, &slots) || !slots ||
			    slots > IVSHM_MAX_SLOTS)
				return insp_usage(in, "--slots takes 1..%u, "
						  "not '%s'", IVSHM_MAX_SLOTS,
						  optarg);
			break;
		case 'S':
			if (ivshm_parse_size(optarg, &want))
				return insp_usage(in, "--size takes a size "
						  "(e.g. 64M, 1G), not '%s'",
						  optarg);
			break;
		case 'f':
			force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return insp_usage(in, "unexpected argument '%s'", argv[optind]);
	if (seg && (!ivshm_is_pow2(seg) || seg < IVSHM_MIN_SEG ||
		    seg > IVSHM_MAX_SEG))
		return insp_fail(in, EXIT_FAIL, "segment size %s (%llu bytes) "
				 "is not a power of two from 64 KiB to 64 MiB",
				 fmt_size(seg, a), (unsigned long long)seg);
	if (want && !size_ok(want))
		return insp_fail(in, EXIT_FAIL, "region size %s (%llu bytes) "
				 "is not a power of two from 1 MiB to 64 TiB",
				 fmt_size(want, a), (unsigned long long)want);
	fd = open(in->region, O_RDWR | O_CLOEXEC | (want ? O_CREAT : 0),
		  0600);
	if (fd < 0)
		return insp_fail(in, EXIT_FAIL, "%s: %s%s", in->region,
				 strerror(errno), errno == ENOENT ?
				 " (--size creates it)" : "");
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = insp_fail(in, EXIT_FAIL, "%s is not a regular file",
			       in->region);
		goto out;
	}
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
	    magic[1] == 0x8b) {
		rc = insp_fail(in, EXIT_FAIL, "%s is a gzip image, not a "
			       "region file (restore it into one)", in->region);
		goto out;
	}
	created = !st.st_size;
	if (want && st.st_size && (uint64_t)st.st_size != want && !force) {
		rc = insp_fail(in, EXIT_FAIL, "%s is %s, not %s: --force "
			       "resizes it (restart the peers that map it)",
			       in->region, fmt_size((uint64_t)st.st_size, a),
			       fmt_size(want, b));
		goto out;
	}
	size = want ? want : (uint64_t)st.st_size;
	if (!size_ok(size)) {
		rc = insp_fail(in, EXIT_FAIL, "%s is %s (%llu bytes): an ivshm "
			       "region must be a power of two from 1 MiB to "
			       "64 TiB%s", in->region, fmt_size(size, a),
			       (unsigned long long)size,
			       st.st_size ? "" : " (--size SIZE makes it one)");
		goto out;
	}
	fo.seg_size = (uint32_t)seg;
	fo.peer_slots = (uint32_t)slots;
	if (ivshm_geom_plan(size, &fo, &g, why, sizeof(why))) {
		rc = insp_fail(in, EXIT_FAIL, "%s: %s", in->region, why);
		goto out;
	}
	if (st.st_size) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd,
			 0);
		if (p == MAP_FAILED) {
			rc = insp_fail(in, EXIT_FAIL, "cannot map %s: %s",
				       in->region, strerror(errno));
			goto out;
		}
		k = holds(p, (uint64_t)st.st_size, what, sizeof(what), &alive);
		munmap(p, (size_t)st.st_size);
		if (k != IVSHM_REGION_BLANK) {
			if (alive)
				moving = moving_peers(in);
			if (!force) {
				rc = insp_fail(in, EXIT_FAIL, "%s holds %s%s; "
					       "--force formats it anyway, "
					       "destroying what it holds",
					       in->region, what, moving ?
					       ", and live peers use it" : "");
				goto out;
			}
		}
	}
	if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size)) {
		rc = insp_fail(in, EXIT_FAIL, "cannot make %s %s large: %s",
			       in->region, fmt_size(size, a), strerror(errno));
		goto out;
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = insp_fail(in, EXIT_FAIL, "cannot map %s: %s", in->region,
			       strerror(errno));
		goto out;
	}
	/* Take the lock word as a formatting peer would (attach waits). */
	cur = ivshm_load_acquire(&ivshm_sb_of(p)->lock);
	if ((cur == LOCK_FORMATTING && !force) ||
	    !ivshm_cas(&ivshm_sb_of(p)->lock, &cur, LOCK_FORMATTING)) {
		munmap(p, (size_t)size);
		rc = insp_fail(in, EXIT_FAIL, "%s is being formatted by "
			       "someone else", in->region);
		goto out;
	}
	if (ivshm_format(p, size, &fo, why, sizeof(why))) {
		ivshm_store_release(&ivshm_sb_of(p)->lock, 0);
		munmap(p, (size_t)size);
		rc = insp_fail(in, EXIT_FAIL, "%s: %s", in->region, why);
		goto out;
	}
	ivshm_store_release(&ivshm_sb_of(p)->lock, 0);
	msync(p, (size_t)size, MS_SYNC);
	if (in->json) {
		struct json *j = insp_doc(in);

		json_u64(j, "region_size", size);
		json_u64(j, "seg_size", g.seg_size);
		json_u64(j, "seg_count", g.seg_count);
		json_u64(j, "seg0_off", g.seg0_off);
		json_u64(j, "peer_slots", g.peer_slots);
		json_hex(j, "uuid", ivshm_sb_of(p)->uuid, 16);
		json_bool(j, "created", created);
		json_bool(j, "forced", force);
	} else {
		printf("formatted %s%s: %s, %u segments of %s, %u peer slots\n",
		       in->region, created ? " (created)" : "",
		       fmt_size(size, a), g.seg_count, fmt_size(g.seg_size, b),
		       g.peer_slots);
	}
	if (moving)
		insp_warn(in, "%u live peer%s used %s: restart %s", moving,
			  moving == 1 ? "" : "s", in->region,
			  moving == 1 ? "it" : "them");
	munmap(p, (size_t)size);
out:
	close(fd);
	return rc;
}
