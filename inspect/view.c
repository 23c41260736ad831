// SPDX-License-Identifier: MIT
/* Consistent views of a region for the read-only commands (view.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

int view_open(struct insp *in, struct view *v, enum view_level lvl)
{
	char err[512];
	int rc;

	memset(v, 0, sizeof(*v));
	rc = img_open(&v->im, in->region, err, sizeof(err));
	if (rc)
		return insp_fail(in, EXIT_FAIL, "%s", err);
	v->opened = true;
	rc = img_snapshot(&v->im, err, sizeof(err));
	if (rc == -EAGAIN)
		return insp_fail(in, EXIT_BUSY, "%s", err);
	if (rc)
		return insp_fail(in, EXIT_FAIL, "%s: %s", in->region,
				 strerror(-rc));
	if (lvl == VIEW_ANY)
		return 0;
	if (v->im.kind != IVSHM_REGION_VALID)
		return insp_fail(in, EXIT_FAIL, "%s holds no valid ivshm "
				 "store: %s: %s", in->region,
				 ivshm_region_kind_name(v->im.kind), v->im.why);
	if (lvl == VIEW_STORE)
		return 0;
	v->rp.im = &v->im;
	v->rp.build = true;
	v->rp.quiet = in->quiet;
	v->rp_rc = replay_run(&v->rp);
	if (v->rp_rc == -ENOMEM)
		return insp_fail(in, EXIT_FAIL, "out of memory");
	if (v->rp_rc) {
		insp_warn(in, "the store is damaged, what follows is what "
			  "comes before the fault: %s", v->rp.fault.msg);
		in->damaged = true;
	}
	return 0;
}

void view_close(struct view *v)
{
	replay_free(&v->rp);
	if (v->opened)
		img_close(&v->im);
	memset(v, 0, sizeof(*v));
}

int view_fetch(struct insp *in, struct view *v, const uint8_t *want)
{
	char err[512];
	int rc = img_fetch(&v->im, want, err, sizeof(err));

	if (rc == -EAGAIN)
		return rc;
	return rc ? insp_fail(in, EXIT_FAIL, "%s", err) : 0;
}

void view_core_warnings(struct insp *in, const char *msgs)
{
	while (msgs && *msgs) {
		const char *nl = strchr(msgs, '\n');
		int len = nl ? (int)(nl - msgs) : (int)strlen(msgs);

		if (len)
			insp_warn(in, "core: %.*s", len, msgs);
		msgs += len + (nl ? 1 : 0);
	}
}
