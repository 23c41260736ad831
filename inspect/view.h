/* SPDX-License-Identifier: MIT */
/*
 * A consistent view of REGION for the read-only commands: a snapshot of
 * the image (image.h), and, when asked, the index replayed from it
 * (replay.h). Errors are reported through insp_fail().
 */
#ifndef IVSHM_INSPECT_VIEW_H
#define IVSHM_INSPECT_VIEW_H

#include "image.h"
#include "inspect.h"
#include "replay.h"

enum view_level {
	VIEW_ANY,	/* whatever the region holds */
	VIEW_STORE,	/* a valid store, metadata copied */
	VIEW_INDEX,	/* ... and the index replayed */
};

struct view {
	struct img im;
	struct replay rp;
	bool opened;
	int rp_rc;		/* replay_run's result */
};

/*
 * Open in->region at @lvl: 0, or an exit status after insp_fail(). A
 * damaged log (VIEW_INDEX) is a warning: the index holds what came before
 * the fault and in->damaged is set.
 */
int view_open(struct insp *in, struct view *v, enum view_level lvl);
void view_close(struct view *v);

/*
 * Copy the data segments marked in @want: 0, -EAGAIN when one was reused
 * meanwhile and the view must be taken again (view_close + view_open; the
 * caller gives up after IMG_TRIES attempts), or an exit status.
 */
int view_fetch(struct insp *in, struct view *v, const uint8_t *want);

/* Messages the core logged during the replay, line by line, as warnings. */
void view_core_warnings(struct insp *in, const char *msgs);

#endif
