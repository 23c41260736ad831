// SPDX-License-Identifier: MIT
/* The JSON writer (json.h). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
}

static void indent(struct json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/*
 * Decode one UTF-8 sequence at @s (@n bytes left): its length, or 0 when
 * it is not valid (truncated, overlong, surrogate, past U+10FFFF).
 */
size_t json_utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool json_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = json_utf8_seq(p + i, n - i);

		if (!l)
			return false;
		i += l;
	}
	return true;
}

static void put_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t l;

		switch (c) {
		case '"':
			fputs("\\\"", f);
			i++;
			continue;
		case '\\':
			fputs("\\\\", f);
			i++;
			continue;
		case '\b':
			fputs("\\b", f);
			i++;
			continue;
		case '\f':
			fputs("\\f", f);
			i++;
			continue;
		case '\n':
			fputs("\\n", f);
			i++;
			continue;
		case '\r':
			fputs("\\r", f);
			i++;
			continue;
		case '\t':
			fputs("\\t", f);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		l = json_utf8_seq(p + i, n - i);
		if (!l) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(p + i, 1, l, f);
		i += l;
	}
	fputc('"', f);
}

/* Separator, indentation and "key": before any value. */
static void member(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->depth)
		indent(j);
	if (key && j->depth && !j->array[j->depth]) {
		put_string(j->f, key, strlen(key));
		fputs(j->pretty ? ": " : ":", j->f);
	}
}

static void open_level(struct json *j, const char *key, bool array)
{
	member(j, key);
	fputc(array ? '[' : '{', j->f);
	if (j->depth < JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
	j->array[j->depth] = array;
}

static void close_level(struct json *j)
{
	bool array = j->array[j->depth], empty = j->first[j->depth];

	if (!j->depth)
		return;
	j->depth--;
	if (!empty)
		indent(j);
	fputc(array ? ']' : '}', j->f);
}

void json_obj_begin(struct json *j, const char *key)
{
	open_level(j, key, false);
}

void json_obj_end(struct json *j)
{
	close_level(j);
}

void json_arr_begin(struct json *j, const char *key)
{
	open_level(j, key, true);
}

void json_arr_end(struct json *j)
{
	close_level(j);
}

void json_close_to(struct json *j, int depth)
{
	while (j->depth > depth)
		close_level(j);
}

void json_end_doc(struct json *j)
{
	json_close_to(j, 0);
	fputc('\n', j->f);
	fflush(j->f);
	j->first[0] = true;
}

void json_strn(struct json *j, const char *key, const char *s, size_t n)
{
	member(j, key);
	put_string(j->f, s, n);
}

void json_str(struct json *j, const char *key, const char *s)
{
	if (!s) {
		json_null(j, key);
		return;
	}
	json_strn(j, key, s, strlen(s));
}

void json_strf(struct json *j, const char *key, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	json_strn(j, key, buf, (size_t)n < sizeof(buf) ? (size_t)n :
							 sizeof(buf) - 1);
}

void json_hex(struct json *j, const char *key, const void *p, size_t n)
{
	const unsigned char *b = p;

	member(j, key);
	fputc('"', j->f);
	for (size_t i = 0; i < n; i++)
		fprintf(j->f, "%02x", b[i]);
	fputc('"', j->f);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void json_dbl(struct json *j, const char *key, double v)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

void json_bool(struct json *j, const char *key, bool v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void json_name(struct json *j, const char *key, const char *s, size_t n)
{
	char hk[64];

	json_strn(j, key, s, n);
	if (json_utf8_valid(s, n))
		return;
	snprintf(hk, sizeof(hk), "%s_hex", key);
	json_hex(j, hk, s, n);
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_group(FILE *f, const unsigned char *b, unsigned int n)
{
	uint32_t v = (uint32_t)b[0] << 16 | (n > 1 ? (uint32_t)b[1] << 8 : 0) |
		     (n > 2 ? b[2] : 0);

	fputc(b64_alphabet[v >> 18], f);
	fputc(b64_alphabet[(v >> 12) & 63], f);
	fputc(n > 1 ? b64_alphabet[(v >> 6) & 63] : '=', f);
	fputc(n > 2 ? b64_alphabet[v & 63] : '=', f);
}

void json_b64_begin(struct json *j, const char *key)
{
	member(j, key);
	fputc('"', j->f);
	j->nb64 = 0;
}

void json_b64_write(struct json *j, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		if (j->nb64 || n < 3) {
			j->b64[j->nb64++] = *b++;
			n--;
			if (j->nb64 == 3) {
				b64_group(j->f, j->b64, 3);
				j->nb64 = 0;
			}
			continue;
		}
		b64_group(j->f, b, 3);
		b += 3;
		n -= 3;
	}
}

void json_b64_end(struct json *j)
{
	if (j->nb64)
		b64_group(j->f, j->b64, j->nb64);
	j->nb64 = 0;
	fputc('"', j->f);
}
