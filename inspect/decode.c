// SPDX-License-Identifier: MIT
/* Records decoded (decode.h). */
#include <string.h>

#include "decode.h"
#include "fmt.h"

static bool get(const void *p, uint32_t plen, void *dst, size_t n)
{
	if (plen < n)
		return false;
	memcpy(dst, p, n);
	return true;
}

/* Bytes after a fixed part, clipped to the payload. */
static const char *tail(const void *p, uint32_t plen, size_t fixed,
			uint64_t want, uint32_t *got)
{
	uint64_t room = plen > fixed ? plen - fixed : 0;

	*got = (uint32_t)(want < room ? want : room);
	return (const char *)p + fixed;
}

static void quoted(FILE *f, const char *s, uint32_t n)
{
	fputc('"', f);
	fmt_put_name(f, s, n);
	fputc('"', f);
}

static void text_inode(FILE *f, const struct ivshm_rec_inode *a)
{
	char t[32];

	fprintf(f, "%s %04o uid=%u gid=%u nlink=%u size=%llu",
		fmt_type(a->mode), a->mode & 07777, a->uid, a->gid, a->nlink,
		(unsigned long long)a->size);
	if ((a->mode & IVSHM_S_IFMT) == IVSHM_S_IFCHR ||
	    (a->mode & IVSHM_S_IFMT) == IVSHM_S_IFBLK)
		fprintf(f, " rdev=%s", fmt_rdev(a->rdev, t));
	fprintf(f, " mtime=%s", fmt_time(a->mtime, t, sizeof(t)));
	if (a->generation)
		fprintf(f, " gen=%llu", (unsigned long long)a->generation);
	if (a->flags)
		fprintf(f, " flags=0x%x", a->flags);
}

void dec_text(FILE *f, const struct ivshm_rec_hdr *h, const void *p,
	      uint32_t plen)
{
	union {
		struct ivshm_rec_link link;
		struct ivshm_rec_inode inode;
		struct ivshm_rec_dirent dirent;
		struct ivshm_rec_extent extent;
		struct ivshm_rec_punch punch;
		struct ivshm_rec_xattr xattr;
		struct ivshm_rec_move move;
		struct ivshm_rec_inline inl;
		struct ivshm_rec_ckpt_mark mark;
	} u;
	const char *s;
	uint32_t n;

	switch (h->type) {
	case IVSHM_REC_LINK:
		if (!get(p, plen, &u.link, sizeof(u.link)))
			break;
		fprintf(f, "-> segment %u", u.link.next_seg);
		return;
	case IVSHM_REC_INODE:
		if (!get(p, plen, &u.inode, sizeof(u.inode)))
			break;
		text_inode(f, &u.inode);
		return;
	case IVSHM_REC_DIRENT:
		if (!get(p, plen, &u.dirent, sizeof(u.dirent)))
			break;
		s = tail(p, plen, sizeof(u.dirent), u.dirent.name_len, &n);
		if (!u.dirent.child) {
			fputs("remove ", f);
			quoted(f, s, n);
		} else {
			quoted(f, s, n);
			fprintf(f, " -> %llu (%s)",
				(unsigned long long)u.dirent.child,
				fmt_dtype(u.dirent.dtype));
		}
		if (n < u.dirent.name_len)
			fputs(" (name cut short)", f);
		return;
	case IVSHM_REC_EXTENT:
		if (!get(p, plen, &u.extent, sizeof(u.extent)))
			break;
		fprintf(f, "[%llu, +%u) ",
			(unsigned long long)u.extent.file_off, u.extent.len);
		if (u.extent.flags & IVSHM_EXTENT_ZERO)
			fputs("zeroes", f);
		else
			fprintf(f, "-> segment %u offset 0x%x", u.extent.seg,
				u.extent.seg_off);
		return;
	case IVSHM_REC_PUNCH:
		if (!get(p, plen, &u.punch, sizeof(u.punch)))
			break;
		fprintf(f, "[%llu, +%llu) hole",
			(unsigned long long)u.punch.off,
			(unsigned long long)u.punch.len);
		return;
	case IVSHM_REC_XATTR:
		if (!get(p, plen, &u.xattr, sizeof(u.xattr)))
			break;
		s = tail(p, plen, sizeof(u.xattr), u.xattr.name_len, &n);
		fputs(u.xattr.flags & IVSHM_XATTR_REMOVE ? "remove " : "set ",
		      f);
		quoted(f, s, n);
		if (!(u.xattr.flags & IVSHM_XATTR_REMOVE))
			fprintf(f, " (%u bytes)", u.xattr.value_len);
		return;
	case IVSHM_REC_DELETE:
		fputs("inode deleted", f);
		return;
	case IVSHM_REC_MOVE:
		if (!get(p, plen, &u.move, sizeof(u.move)))
			break;
		fprintf(f, "[%llu, +%u) segment %u offset 0x%x -> segment %u "
			"offset 0x%x", (unsigned long long)u.move.file_off,
			u.move.len, u.move.old_seg, u.move.old_off,
			u.move.new_seg, u.move.new_off);
		return;
	case IVSHM_REC_INLINE:
		if (!get(p, plen, &u.inl, sizeof(u.inl)))
			break;
		s = tail(p, plen, sizeof(u.inl), u.inl.len, &n);
		quoted(f, s, n);
		fprintf(f, " (%u bytes)", u.inl.len);
		return;
	case IVSHM_REC_CKPT_MARK:
		if (!get(p, plen, &u.mark, sizeof(u.mark)))
			break;
		fprintf(f, "checkpoint up to seq %llu",
			(unsigned long long)u.mark.ckpt_seq);
		return;
	default:
		fputs("(unknown type)", f);
		return;
	}
	fprintf(f, "(payload of %u bytes is too short)", plen);
}

static void json_inode(struct json *j, const struct ivshm_rec_inode *a)
{
	json_u64(j, "mode", a->mode);
	json_str(j, "file_type", fmt_type(a->mode));
	json_strf(j, "perm", "%04o", a->mode & 07777);
	json_u64(j, "uid", a->uid);
	json_u64(j, "gid", a->gid);
	json_u64(j, "nlink", a->nlink);
	json_u64(j, "size", a->size);
	json_u64(j, "rdev", a->rdev);
	json_i64(j, "atime_ns", a->atime);
	json_i64(j, "mtime_ns", a->mtime);
	json_i64(j, "ctime_ns", a->ctime);
	json_i64(j, "btime_ns", a->btime);
	json_u64(j, "generation", a->generation);
	json_u64(j, "flags", a->flags);
}

void dec_json(struct json *j, const struct ivshm_rec_hdr *h, const void *p,
	      uint32_t plen)
{
	union {
		struct ivshm_rec_link link;
		struct ivshm_rec_inode inode;
		struct ivshm_rec_dirent dirent;
		struct ivshm_rec_extent extent;
		struct ivshm_rec_punch punch;
		struct ivshm_rec_xattr xattr;
		struct ivshm_rec_move move;
		struct ivshm_rec_inline inl;
		struct ivshm_rec_ckpt_mark mark;
	} u;
	const char *s;
	uint32_t n;
	bool ok = true;

	json_obj_begin(j, "fields");
	switch (h->type) {
	case IVSHM_REC_LINK:
		if ((ok = get(p, plen, &u.link, sizeof(u.link))))
			json_u64(j, "next_seg", u.link.next_seg);
		break;
	case IVSHM_REC_INODE:
		if ((ok = get(p, plen, &u.inode, sizeof(u.inode))))
			json_inode(j, &u.inode);
		break;
	case IVSHM_REC_DIRENT:
		if (!(ok = get(p, plen, &u.dirent, sizeof(u.dirent))))
			break;
		s = tail(p, plen, sizeof(u.dirent), u.dirent.name_len, &n);
		json_u64(j, "child", u.dirent.child);
		json_bool(j, "remove", !u.dirent.child);
		json_name(j, "name", s, n);
		json_u64(j, "name_len", u.dirent.name_len);
		json_u64(j, "dtype", u.dirent.dtype);
		json_str(j, "file_type", fmt_dtype(u.dirent.dtype));
		break;
	case IVSHM_REC_EXTENT:
		if (!(ok = get(p, plen, &u.extent, sizeof(u.extent))))
			break;
		json_u64(j, "file_off", u.extent.file_off);
		json_u64(j, "len", u.extent.len);
		json_u64(j, "seg", u.extent.seg);
		json_u64(j, "seg_off", u.extent.seg_off);
		json_u64(j, "flags", u.extent.flags);
		json_bool(j, "zero", u.extent.flags & IVSHM_EXTENT_ZERO);
		break;
	case IVSHM_REC_PUNCH:
		if (!(ok = get(p, plen, &u.punch, sizeof(u.punch))))
			break;
		json_u64(j, "off", u.punch.off);
		json_u64(j, "len", u.punch.len);
		break;
	case IVSHM_REC_XATTR:
		if (!(ok = get(p, plen, &u.xattr, sizeof(u.xattr))))
			break;
		s = tail(p, plen, sizeof(u.xattr), u.xattr.name_len, &n);
		json_name(j, "name", s, n);
		json_bool(j, "remove", u.xattr.flags & IVSHM_XATTR_REMOVE);
		json_u64(j, "value_len", u.xattr.value_len);
		s = tail(p, plen, sizeof(u.xattr) + n, u.xattr.value_len, &n);
		json_hex(j, "value_hex", s, n);
		break;
	case IVSHM_REC_DELETE:
		break;
	case IVSHM_REC_MOVE:
		if (!(ok = get(p, plen, &u.move, sizeof(u.move))))
			break;
		json_u64(j, "file_off", u.move.file_off);
		json_u64(j, "len", u.move.len);
		json_u64(j, "old_seg", u.move.old_seg);
		json_u64(j, "old_off", u.move.old_off);
		json_u64(j, "new_seg", u.move.new_seg);
		json_u64(j, "new_off", u.move.new_off);
		break;
	case IVSHM_REC_INLINE:
		if (!(ok = get(p, plen, &u.inl, sizeof(u.inl))))
			break;
		s = tail(p, plen, sizeof(u.inl), u.inl.len, &n);
		json_u64(j, "len", u.inl.len);
		json_name(j, "data", s, n);
		break;
	case IVSHM_REC_CKPT_MARK:
		if ((ok = get(p, plen, &u.mark, sizeof(u.mark))))
			json_u64(j, "ckpt_seq", u.mark.ckpt_seq);
		break;
	}
	if (!ok)
		json_str(j, "malformed", "payload too short");
	json_obj_end(j);
}
