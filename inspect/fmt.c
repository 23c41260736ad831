// SPDX-License-Identifier: MIT
/* Text for people (fmt.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"
#include "json.h"
#include "format.h"
#include "units.h"

char *fmt_size(uint64_t n, char *buf)
{
	return ivshm_format_size(n, buf, 32);
}

char *fmt_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || !localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
	return buf;
}

char *fmt_rdev(uint64_t rdev, char *buf)
{
	unsigned long long major = ((rdev >> 8) & 0xfff) |
				   ((rdev >> 32) & 0xfffff000ull);
	unsigned long long minor = (rdev & 0xff) |
				   ((rdev >> 12) & 0xffffff00ull);

	snprintf(buf, 32, "%llu:%llu", major, minor);
	return buf;
}

char *fmt_mode(uint32_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	char t;

	switch (mode & IVSHM_S_IFMT) {
	case IVSHM_S_IFDIR:
		t = 'd';
		break;
	case IVSHM_S_IFLNK:
		t = 'l';
		break;
	case IVSHM_S_IFCHR:
		t = 'c';
		break;
	case IVSHM_S_IFBLK:
		t = 'b';
		break;
	case IVSHM_S_IFIFO:
		t = 'p';
		break;
	case IVSHM_S_IFSOCK:
		t = 's';
		break;
	case IVSHM_S_IFREG:
		t = '-';
		break;
	default:
		t = '?';
	}
	buf[0] = t;
	for (int i = 0; i < 9; i++)
		buf[1 + i] = mode & (0400u >> i) ? rwx[i] : '-';
	if (mode & 04000)
		buf[3] = mode & 0100 ? 's' : 'S';
	if (mode & 02000)
		buf[6] = mode & 0010 ? 's' : 'S';
	if (mode & 01000)
		buf[9] = mode & 0001 ? 't' : 'T';
	buf[10] = 0;
	return buf;
}

const char *fmt_type(uint32_t mode)
{
	switch (mode & IVSHM_S_IFMT) {
	case IVSHM_S_IFDIR:
		return "dir";
	case IVSHM_S_IFREG:
		return "reg";
	case IVSHM_S_IFLNK:
		return "lnk";
	case IVSHM_S_IFCHR:
		return "chr";
	case IVSHM_S_IFBLK:
		return "blk";
	case IVSHM_S_IFIFO:
		return "fifo";
	case IVSHM_S_IFSOCK:
		return "sock";
	}
	return "?";
}

const char *fmt_dtype(unsigned int dtype)
{
	/* DT_* values are the mode's type bits shifted down by 12. */
	return fmt_type((uint32_t)dtype << 12);
}

const char *fmt_rec_type(unsigned int type)
{
	static const char *const names[] = {
		[IVSHM_REC_LINK] = "LINK",	 [IVSHM_REC_INODE] = "INODE",
		[IVSHM_REC_DIRENT] = "DIRENT",	 [IVSHM_REC_EXTENT] = "EXTENT",
		[IVSHM_REC_PUNCH] = "PUNCH",	 [IVSHM_REC_XATTR] = "XATTR",
		[IVSHM_REC_DELETE] = "DELETE",	 [IVSHM_REC_MOVE] = "MOVE",
		[IVSHM_REC_INLINE] = "INLINE",
		[IVSHM_REC_CKPT_MARK] = "CKPT_MARK",
	};

	return type && type <= IVSHM_REC_TYPE_MAX ? names[type] : "?";
}

const char *fmt_seg_state(uint32_t state)
{
	switch (state) {
	case IVSHM_SEG_FREE:
		return "free";
	case IVSHM_SEG_META:
		return "meta";
	case IVSHM_SEG_DATA:
		return "data";
	case IVSHM_SEG_CKPT:
		return "checkpoint";
	case IVSHM_SEG_FREEING:
		return "freeing";
	}
	return "?";
}

const char *fmt_slot_state(unsigned int state)
{
	switch (state) {
	case IVSHM_SLOT_FREE:
		return "free";
	case IVSHM_SLOT_ALIVE:
		return "alive";
	case IVSHM_SLOT_DEAD:
		return "dead";
	}
	return "?";
}

/*
 * The bytes at @s that a terminal may show as themselves: a printable
 * ASCII character other than the backslash, or a whole valid UTF-8
 * sequence (beyond ASCII). 0: escape the byte.
 */
static size_t plain_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];

	if (c < 0x80)
		return c >= 0x20 && c != 0x7f && c != '\\';
	return json_utf8_seq((const unsigned char *)s, n);
}

void fmt_put_name(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = plain_len(s + i, n - i);

		if (l) {
			fwrite(s + i, 1, l, f);
			i += l;
			continue;
		}
		if (s[i] == '\\')
			fputs("\\\\", f);
		else
			fprintf(f, "\\x%02x", (unsigned char)s[i]);
		i++;
	}
}

char *fmt_name(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < len;) {
		size_t l = plain_len(s + i, n - i);

		if (l && o + l < len) {
			memcpy(buf + o, s + i, l);
			o += l;
			i += l;
			continue;
		}
		if (s[i] == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\\\");
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x",
					      (unsigned char)s[i]);
		i++;
	}
	buf[o] = 0;
	return buf;
}

bool fmt_is_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = plain_len(s + i, n - i);

		if (!l && s[i] != '\\')
			return false;
		i += l ? l : 1;
	}
	return true;
}

/* ---- tables ---- */

void table_init(struct table *t, unsigned int ncols, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->align = align;
	t->col = ncols;
}

void table_row(struct table *t)
{
	/* Pad an unfinished row so that every row has ncols cells. */
	while (t->nrows && t->col < t->ncols)
		table_cell(t, "%s", "");
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));

		if (!c) {
			perror("ivshm-inspect");
			exit(1);
		}
		t->cells = c;
		t->cap = cap;
	}
	memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof(char *));
	t->nrows++;
	t->col = 0;
}

void table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!t->nrows || t->col >= t->ncols)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	t->cells[(t->nrows - 1) * t->ncols + t->col++] = s;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; s && *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void table_print(struct table *t, FILE *f, const char *indent)
{
	size_t w[32] = { 0 };
	unsigned int nc = t->ncols < 32 ? t->ncols : 32;

	for (size_t r = 0; r < t->nrows; r++)
		for (unsigned int c = 0; c < nc; c++) {
			size_t l = width(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		unsigned int last = nc;

		/* Empty cells at the end of a row print nothing at all. */
		while (last > 1 && !width(t->cells[r * t->ncols + last - 1]))
			last--;
		fputs(indent ? indent : "", f);
		for (unsigned int c = 0; c < last; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t pad = w[c] - width(s);
			bool end = c + 1 == last;

			if (!s)
				s = "";
			if (t->align[c] == 'r')
				fprintf(f, "%*s%s", (int)pad, "", s);
			else
				fprintf(f, "%s%*s", s, end ? 0 : (int)pad, "");
			if (!end)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
