/* SPDX-License-Identifier: MIT */
/*
 * On-media format, version 1: the structures of docs/SPEC.md, checked field
 * by field at compile time. Every value read through these structs comes
 * from the shared region and is untrusted until checked.
 */
#ifndef IVSHM_FORMAT_H
#define IVSHM_FORMAT_H

#include "platform.h"

#define IVSHM_MAGIC "IVSHMSTO"
#define IVSHM_FORMAT_VERSION 1u
#define IVSHM_SB_SIZE 4096u
#define IVSHM_SLOT_SIZE 128u
#define IVSHM_SEG_ENTRY_SIZE 32u
#define IVSHM_SEG_HDR_SIZE 64u
#define IVSHM_REC_HDR_SIZE 32u
#define IVSHM_SEG_MAGIC 0x47455349u /* "ISEG" */
#define IVSHM_NONE 0xffffffffu
#define IVSHM_MIN_REGION (1ull << 20)
#define IVSHM_MAX_REGION (1ull << 46)
#define IVSHM_MIN_SEG (64u << 10)
#define IVSHM_MAX_SEG (64u << 20)
#define IVSHM_MAX_SLOTS 1024u
#define IVSHM_ROOT_INO 1ull
#define IVSHM_NAME_MAX 255u
#define IVSHM_SYMLINK_MAX 4095u
#define IVSHM_XATTR_NAME_MAX 255u
#define IVSHM_XATTR_VALUE_MAX 65536u
#define IVSHM_MAX_FILE_SIZE (1ull << 62)

/* File types in mode, the values every Unix uses. */
#define IVSHM_S_IFMT 0170000u
#define IVSHM_S_IFSOCK 0140000u
#define IVSHM_S_IFLNK 0120000u
#define IVSHM_S_IFREG 0100000u
#define IVSHM_S_IFBLK 0060000u
#define IVSHM_S_IFDIR 0040000u
#define IVSHM_S_IFCHR 0020000u
#define IVSHM_S_IFIFO 0010000u

struct ivshm_ckpt_desc {
	uint64_t ckpt_seq;
	uint32_t ckpt_seg;
	uint32_t log_seg;
	uint32_t log_off;
	uint32_t reserved0;
	uint64_t ckpt_records;
	uint8_t reserved[28];
	uint32_t crc;
};

struct ivshm_sb {
	/* static, covered by static_crc */
	char magic[8];
	uint32_t version;
	uint32_t sb_size;
	uint64_t region_size;
	uint32_t seg_size;
	uint32_t seg_count;
	uint64_t seg0_off;
	uint64_t peer_table_off;
	uint32_t peer_slots;
	uint32_t peer_slot_size;
	uint64_t seg_table_off;
	uint32_t seg_entry_size;
	uint32_t features;
	uint8_t uuid[16];
	uint64_t format_time;
	uint8_t reserved0[156];
	uint32_t static_crc;
	uint8_t reserved1[256];
	/* dynamic, one hot word per cache line */
	uint64_t lock;
	uint64_t lock_count;
	uint8_t pad0[48];
	uint64_t head_seq;
	uint8_t pad1[56];
	uint64_t epoch;
	uint8_t pad2[56];
	uint64_t ckpt_gen;
	uint8_t pad3[56];
	struct ivshm_ckpt_desc ckpt[2];
	uint8_t reserved2[IVSHM_SB_SIZE - 896];
};

enum ivshm_slot_state {
	IVSHM_SLOT_FREE = 0,
	IVSHM_SLOT_ALIVE = 1,
	IVSHM_SLOT_DEAD = 2,
};

struct ivshm_slot {
	uint64_t gen_state;
	uint32_t dev_id;
	uint32_t pid;
	uint64_t heartbeat;
	uint64_t epoch;
	uint64_t replay_seq;
	uint64_t notified_seq;
	uint32_t data_seg;
	uint32_t flags;
	uint64_t attach_time;
	char name[32];
	uint8_t reserved[32];
};

enum ivshm_seg_state {
	IVSHM_SEG_FREE = 0,
	IVSHM_SEG_META = 1,
	IVSHM_SEG_DATA = 2,
	IVSHM_SEG_CKPT = 3,
	IVSHM_SEG_FREEING = 4,
};

struct ivshm_seg_entry {
	uint32_t state;
	uint32_t owner;
	uint64_t alloc_seq;
	uint64_t free_epoch;
	uint32_t used;
	uint32_t reserved;
};

struct ivshm_seg_hdr {
	uint32_t crc;
	uint32_t magic;
	uint32_t kind;
	uint32_t index;
	uint64_t first_seq;
	uint8_t uuid[16];
	uint8_t reserved[24];
};

enum ivshm_rec_type {
	IVSHM_REC_LINK = 1,
	IVSHM_REC_INODE = 2,
	IVSHM_REC_DIRENT = 3,
	IVSHM_REC_EXTENT = 4,
	IVSHM_REC_PUNCH = 5,
	IVSHM_REC_XATTR = 6,
	IVSHM_REC_DELETE = 7,
	IVSHM_REC_MOVE = 8,
	IVSHM_REC_INLINE = 9,
	IVSHM_REC_CKPT_MARK = 10,
	IVSHM_REC_TYPE_MAX = 10,
};

struct ivshm_rec_hdr {
	uint32_t crc;
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t slot;
	uint64_t seq;
	uint64_t ino;
};

struct ivshm_rec_link {
	uint32_t next_seg;
	uint32_t reserved;
};

struct ivshm_rec_inode {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t rdev;
	int64_t atime;
	int64_t mtime;
	int64_t ctime;
	int64_t btime;
	uint64_t generation;
	uint32_t flags;
	uint32_t reserved;
};

struct ivshm_rec_dirent {
	uint64_t child;
	uint16_t name_len;
	uint8_t dtype;
	uint8_t reserved[5];
	/* name bytes follow */
};

#define IVSHM_EXTENT_ZERO 1u

struct ivshm_rec_extent {
	uint64_t file_off;
	uint32_t len;
	uint32_t seg;
	uint32_t seg_off;
	uint32_t flags;
};

struct ivshm_rec_punch {
	uint64_t off;
	uint64_t len;
};

#define IVSHM_XATTR_REMOVE 1u

struct ivshm_rec_xattr {
	uint16_t name_len;
	uint16_t flags;
	uint32_t value_len;
	/* name, then value */
};

struct ivshm_rec_move {
	uint64_t file_off;
	uint32_t len;
	uint32_t old_seg;
	uint32_t old_off;
	uint32_t new_seg;
	uint32_t new_off;
	uint32_t reserved;
};

struct ivshm_rec_inline {
	uint32_t len;
	uint32_t reserved;
	/* bytes follow */
};

struct ivshm_rec_ckpt_mark {
	uint64_t ckpt_seq;
};

/* The layout is the ABI between VMs: any drift is a build error. */
#define IVSHM_CHECK_OFF(type, field, off) \
	ivshm_static_assert(offsetof(struct type, field) == (off), \
			    #type "." #field " moved")
#define IVSHM_CHECK_SIZE(type, size) \
	ivshm_static_assert(sizeof(struct type) == (size), \
			    #type " changed size")

IVSHM_CHECK_SIZE(ivshm_ckpt_desc, 64);
IVSHM_CHECK_OFF(ivshm_ckpt_desc, log_off, 16);
IVSHM_CHECK_OFF(ivshm_ckpt_desc, ckpt_records, 24);
IVSHM_CHECK_OFF(ivshm_ckpt_desc, crc, 60);
IVSHM_CHECK_SIZE(ivshm_sb, IVSHM_SB_SIZE);
IVSHM_CHECK_OFF(ivshm_sb, version, 8);
IVSHM_CHECK_OFF(ivshm_sb, region_size, 16);
IVSHM_CHECK_OFF(ivshm_sb, seg_size, 24);
IVSHM_CHECK_OFF(ivshm_sb, seg0_off, 32);
IVSHM_CHECK_OFF(ivshm_sb, peer_table_off, 40);
IVSHM_CHECK_OFF(ivshm_sb, peer_slots, 48);
IVSHM_CHECK_OFF(ivshm_sb, seg_table_off, 56);
IVSHM_CHECK_OFF(ivshm_sb, features, 68);
IVSHM_CHECK_OFF(ivshm_sb, uuid, 72);
IVSHM_CHECK_OFF(ivshm_sb, format_time, 88);
IVSHM_CHECK_OFF(ivshm_sb, static_crc, 252);
IVSHM_CHECK_OFF(ivshm_sb, lock, 512);
IVSHM_CHECK_OFF(ivshm_sb, lock_count, 520);
IVSHM_CHECK_OFF(ivshm_sb, head_seq, 576);
IVSHM_CHECK_OFF(ivshm_sb, epoch, 640);
IVSHM_CHECK_OFF(ivshm_sb, ckpt_gen, 704);
IVSHM_CHECK_OFF(ivshm_sb, ckpt, 768);
IVSHM_CHECK_SIZE(ivshm_slot, IVSHM_SLOT_SIZE);
IVSHM_CHECK_OFF(ivshm_slot, dev_id, 8);
IVSHM_CHECK_OFF(ivshm_slot, heartbeat, 16);
IVSHM_CHECK_OFF(ivshm_slot, epoch, 24);
IVSHM_CHECK_OFF(ivshm_slot, replay_seq, 32);
IVSHM_CHECK_OFF(ivshm_slot, notified_seq, 40);
IVSHM_CHECK_OFF(ivshm_slot, data_seg, 48);
IVSHM_CHECK_OFF(ivshm_slot, attach_time, 56);
IVSHM_CHECK_OFF(ivshm_slot, name, 64);
IVSHM_CHECK_SIZE(ivshm_seg_entry, IVSHM_SEG_ENTRY_SIZE);
IVSHM_CHECK_OFF(ivshm_seg_entry, alloc_seq, 8);
IVSHM_CHECK_OFF(ivshm_seg_entry, free_epoch, 16);
IVSHM_CHECK_OFF(ivshm_seg_entry, used, 24);
IVSHM_CHECK_SIZE(ivshm_seg_hdr, IVSHM_SEG_HDR_SIZE);
IVSHM_CHECK_OFF(ivshm_seg_hdr, first_seq, 16);
IVSHM_CHECK_OFF(ivshm_seg_hdr, uuid, 24);
IVSHM_CHECK_SIZE(ivshm_rec_hdr, IVSHM_REC_HDR_SIZE);
IVSHM_CHECK_OFF(ivshm_rec_hdr, type, 4);
IVSHM_CHECK_OFF(ivshm_rec_hdr, len, 8);
IVSHM_CHECK_OFF(ivshm_rec_hdr, slot, 12);
IVSHM_CHECK_OFF(ivshm_rec_hdr, seq, 16);
IVSHM_CHECK_OFF(ivshm_rec_hdr, ino, 24);
IVSHM_CHECK_SIZE(ivshm_rec_link, 8);
IVSHM_CHECK_SIZE(ivshm_rec_inode, 80);
IVSHM_CHECK_OFF(ivshm_rec_inode, size, 16);
IVSHM_CHECK_OFF(ivshm_rec_inode, atime, 32);
IVSHM_CHECK_OFF(ivshm_rec_inode, generation, 64);
IVSHM_CHECK_SIZE(ivshm_rec_dirent, 16);
IVSHM_CHECK_SIZE(ivshm_rec_extent, 24);
IVSHM_CHECK_SIZE(ivshm_rec_punch, 16);
IVSHM_CHECK_SIZE(ivshm_rec_xattr, 8);
IVSHM_CHECK_SIZE(ivshm_rec_move, 32);
IVSHM_CHECK_SIZE(ivshm_rec_inline, 8);
IVSHM_CHECK_SIZE(ivshm_rec_ckpt_mark, 8);

#endif
