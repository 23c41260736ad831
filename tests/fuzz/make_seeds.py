#!/usr/bin/env python3
"""Seed inputs for fuzz_region: patches aimed at the structures of a 1 MiB
store (superblock, peer and segment tables, the first records, data)."""
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
SEG0 = 64 << 10          # 1 MiB regions use 64 KiB segments, table fits one


def patch(off, data):
    return struct.pack("<IB", off, len(data)) + data


seeds = {
    "empty": b"",
    "magic": patch(0, b"X"),
    "version": patch(8, struct.pack("<I", 2)),
    "seg_size": patch(24, struct.pack("<I", 1 << 30)),
    "seg_count": patch(28, struct.pack("<I", 0xFFFFFFFF)),
    "head_seq": patch(576, struct.pack("<Q", 1 << 40)),
    "head_small": patch(576, struct.pack("<Q", 3)),
    "lock": patch(512, struct.pack("<Q", 0xFFFF)),
    "ckpt_desc": patch(768, b"\xff" * 16),
    "slot0": patch(4096, b"\x01" * 8),
    "segtab": patch(4096 + 64 * 128, struct.pack("<II", 9, 0)),
    "seghdr": patch(SEG0, b"\0\0\0\0"),
    "rec1_len": patch(SEG0 + 64 + 8, struct.pack("<I", 0xFFF8)),
    "rec1_type": patch(SEG0 + 64 + 4, struct.pack("<H", 99)),
    "rec2_seq": patch(SEG0 + 64 + 112 + 16, struct.pack("<Q", 7)),
    "data": patch(SEG0 * 2, b"\xaa" * 64),
    "two": patch(576, struct.pack("<Q", 1 << 40)) + patch(SEG0 + 70, b"\x00"),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
