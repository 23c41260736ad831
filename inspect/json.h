/* SPDX-License-Identifier: MIT */
/*
 * A tiny streaming JSON writer: objects and arrays nest, commas come by
 * themselves, strings are escaped (control characters, quotes, invalid
 * UTF-8 as U+FFFD). Integers are written exactly (64-bit).
 */
#ifndef IVSHM_INSPECT_JSON_H
#define IVSHM_INSPECT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 64

struct json {
	FILE *f;
	bool pretty;		/* indented, one member per line */
	int depth;		/* open objects and arrays */
	bool first[JSON_MAX_DEPTH + 1];	/* nothing written yet at a level */
	bool array[JSON_MAX_DEPTH + 1];	/* the level is an array */
	unsigned char b64[3];	/* base64 bytes waiting for a group */
	unsigned int nb64;
};

void json_init(struct json *j, FILE *f, bool pretty);

/* @key is the member name inside an object, NULL inside an array. */
void json_obj_begin(struct json *j, const char *key);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
/* Close everything down to @depth (0: the whole document). */
void json_close_to(struct json *j, int depth);
/* After the outermost value: a newline, and flush. */
void json_end_doc(struct json *j);

void json_str(struct json *j, const char *key, const char *s);
void json_strn(struct json *j, const char *key, const char *s, size_t n);
void json_strf(struct json *j, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void json_hex(struct json *j, const char *key, const void *p, size_t n);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_dbl(struct json *j, const char *key, double v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);

/* A base64 string written in pieces (file contents). */
void json_b64_begin(struct json *j, const char *key);
void json_b64_write(struct json *j, const void *p, size_t n);
void json_b64_end(struct json *j);

/* The length of the valid UTF-8 sequence at @s, or 0 when it is not one. */
size_t json_utf8_seq(const unsigned char *s, size_t n);

/* Bytes that are valid UTF-8 (no overlong forms, no surrogates). */
bool json_utf8_valid(const char *s, size_t n);

/*
 * A name read from the store: "key" as a string, plus "key_hex" with the
 * exact bytes when they are not valid UTF-8 (the string then has U+FFFD).
 */
void json_name(struct json *j, const char *key, const char *s, size_t n);

#endif
