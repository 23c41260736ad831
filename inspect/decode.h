/* SPDX-License-Identifier: MIT */
/*
 * Records decoded for people (one line) and for programs (JSON), from a
 * private copy; every payload field is bounds-checked first.
 */
#ifndef IVSHM_INSPECT_DECODE_H
#define IVSHM_INSPECT_DECODE_H

#include <stdio.h>

#include "json.h"
#include "log.h"

/* The type-specific part of a record, as text (no newline). */
void dec_text(FILE *f, const struct ivshm_rec_hdr *h, const void *payload,
	      uint32_t plen);
/* The type-specific part as a "fields" object. */
void dec_json(struct json *j, const struct ivshm_rec_hdr *h,
	      const void *payload, uint32_t plen);

#endif
