#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of ivshm-inspect, one group per CTest test (label "inspect").

    test_inspect.py --inspect BIN --fixture BIN [--fuse BIN] GROUP

Regions are written through the store by inspect_fixture (core/fs.h) or
through ivshm-fuse, read back by ivshm-inspect without attaching, and
compared with what the fixture reads attached (the oracle). Every --json
output is parsed with the json module. Exit status: 0 pass, 1 fail, 77 the
group cannot run here.
"""
import argparse
import base64
import gzip
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
MiB = 1 << 20


class Failed(Exception):
    pass


class T:
    """Helpers shared by the groups: processes, regions, checks."""

    def __init__(self, args):
        self.inspect = args.inspect
        self.fixture = args.fixture
        self.fuse = args.fuse
        self.tmp = tempfile.mkdtemp(prefix="ivshm-inspect-test-")
        self.shm = []
        self.procs = []
        self.failures = 0
        self.checks = 0

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for path in self.shm:
            try:
                os.unlink(path)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- checks ----

    def check(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures += 1
            print("FAIL: " + what, flush=True)
        return cond

    def require(self, cond, what):
        if not self.check(cond, what):
            raise Failed(what)

    # ---- processes ----

    def run(self, argv, timeout=120, input=None):
        return subprocess.run(argv, capture_output=True, timeout=timeout,
                              input=input)

    def insp(self, region, *args, js=False, timeout=120):
        argv = [self.inspect] + (["--json"] if js else []) + [region]
        return self.run(argv + list(args), timeout=timeout)

    def ok(self, region, *args, timeout=120):
        """Plain output of a command that must succeed."""
        r = self.insp(region, *args, timeout=timeout)
        self.require(r.returncode == 0, "%s %s: exit %d, stderr %r" %
                     (region, " ".join(args), r.returncode, r.stderr[-500:]))
        return r.stdout

    def js(self, region, *args, rc=0, timeout=120):
        """The JSON document of a command, checked for the common frame."""
        r = self.insp(region, *args, js=True, timeout=timeout)
        what = "%s --json %s" % (region, " ".join(args))
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            raise Failed("%s: not JSON (%s): %r" % (what, e, r.stdout[:300]))
        self.require(r.returncode == rc, "%s: exit %d, wanted %d: %r" %
                     (what, r.returncode, rc, r.stderr[-500:]))
        for k in ("schema", "command", "region", "ok", "exit_status",
                  "warnings", "error"):
            self.require(k in doc, "%s: no '%s' member" % (what, k))
        self.check(doc["schema"] == 1, what + ": schema 1")
        self.check(doc["ok"] == (rc == 0), what + ": ok member")
        self.check(doc["exit_status"] == rc, what + ": exit_status member")
        return doc

    def fix(self, *args, timeout=120):
        r = self.run([self.fixture] + list(args), timeout=timeout)
        self.require(r.returncode == 0, "inspect_fixture %s: %d %r" %
                     (" ".join(args), r.returncode, r.stderr[-500:]))
        return r.stdout

    def spawn(self, argv):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def peer(self, *args):
        """A fixture peer that says "ready" once attached."""
        p = self.spawn([self.fixture] + list(args))
        line = p.stdout.readline()
        self.require(line.strip() == b"ready", "fixture peer %r: %r" %
                     (args, line))
        return p

    # ---- regions ----

    def region(self, name):
        path = "/dev/shm/ivshm-inspect-test-%d-%s" % (os.getpid(), name)
        self.shm.append(path)
        try:
            os.unlink(path)
        except OSError:
            pass
        return path

    def file(self, name):
        return os.path.join(self.tmp, name)

    def populated(self, name, size="8M"):
        path = self.region(name)
        self.fix("populate", path, size)
        return path

    def copy(self, src, name):
        dst = self.region(name)
        shutil.copyfile(src, dst)
        return dst

    @staticmethod
    def flip(path, off, mask=0x5a):
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ mask]))

    @staticmethod
    def poke(path, off, data):
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(data)

    @staticmethod
    def peek(path, off, n):
        with open(path, "rb") as f:
            f.seek(off)
            return f.read(n)

    # ---- the namespace, both ways ----

    @staticmethod
    def enc(b):
        """A path as the fixture prints it."""
        return "".join(chr(c) if 0x20 < c < 0x7f and c != 0x25 else
                       "%%%02X" % c for c in b)

    def oracle(self, region):
        """{path: (type, size, nlink)} read by an attached peer."""
        out = {}
        for line in self.fix("list", region).decode().splitlines():
            path, typ, size, nlink = line.rsplit(" ", 3)
            out[path] = (typ, int(size), int(nlink))
        return out

    def tree_json(self, region):
        """{path: (type, size)} from ivshm-inspect tree --json."""
        doc = self.js(region, "tree")
        out = {}

        def name_bytes(e):
            if "name_hex" in e:
                return bytes.fromhex(e["name_hex"])
            return e["name"].encode("utf-8")

        def walk(node, prefix):
            for e in node.get("children", []):
                p = prefix + b"/" + name_bytes(e)
                t = e["type"]
                out[self.enc(p)] = (t if t in ("dir", "reg", "lnk")
                                    else "other", e["size"])
                if t == "dir":
                    walk(e, p)
        walk(doc["tree"], b"")
        return out, doc

    def same_namespace(self, region, what):
        want = self.oracle(region)
        got, _ = self.tree_json(region)
        self.check(set(got) == set(want), "%s: names differ: only inspect "
                   "%s, only the store %s" % (what, sorted(set(got) -
                                                           set(want))[:5],
                                              sorted(set(want) -
                                                     set(got))[:5]))
        for p in set(got) & set(want):
            self.check(got[p] == want[p][:2], "%s: %s is %r, the store "
                       "says %r" % (what, p, got[p], want[p][:2]))
        return want

    def same_content(self, region, path, what, oracle_path=None):
        mine = self.insp(region, "cat", path)
        theirs = self.fix("read", region, oracle_path or path)
        self.check(mine.returncode == 0 and mine.stdout == theirs,
                   "%s: cat %s: exit %d, %d bytes vs %d" %
                   (what, path, mine.returncode, len(mine.stdout),
                    len(theirs)))


def fixture_files():
    return ["/docs/readme.txt", "/docs/big.bin", "/docs/sparse.bin",
            "/docs/hard", "/docs/after.txt", "/a/b/c/deep.txt", "/trunc",
            "/renamed.txt", "/many/f0050", "/many/g1150", "/xattr"]


# ---------------------------------------------------------------- usage

def group_usage(t):
    r = t.run([t.inspect])
    t.check(r.returncode == 2 and b"Usage:" in r.stderr,
            "no arguments: usage, exit 2")
    r = t.run([t.inspect, "--help"])
    t.check(r.returncode == 0, "--help exits 0")
    for word in (b"NAME", b"SYNOPSIS", b"DESCRIPTION", b"EXIT STATUS",
                 b"EXAMPLES", b"--json", b"--follow", b"--segment-size"):
        t.check(word in r.stdout, "--help mentions %r" % word)
    for c in ("info", "peers", "log", "segments", "ls", "stat", "cat",
              "tree", "verify", "dump", "restore", "format"):
        t.check(("\n  " + c).encode() in r.stdout, "--help has " + c)
        h = t.run([t.inspect, "help", c])
        t.check(h.returncode == 0 and c.encode() in h.stdout,
                "help " + c)
        h = t.run([t.inspect, "/dev/null", c, "--help"])
        t.check(h.returncode == 0 and c.encode() in h.stdout,
                c + " --help")
    r = t.run([t.inspect, "-V"])
    t.check(r.returncode == 0 and b"ivshm-inspect" in r.stdout, "-V")
    region = t.populated("u")
    bad = [
        ([region], b"no command"),
        ([region, "bogus"], b"unknown command"),
        (["info", region], b"region comes first"),
        (["--bogus", region, "info"], b"unknown option"),
        ([region, "ls", "-x"], b"unknown option"),
        ([region, "ls", "/", "/docs"], b"one PATH"),
        ([region, "stat"], b"which PATH"),
        ([region, "cat"], b"which PATH"),
        ([region, "log", "--from", "abc"], b"--from"),
        ([region, "log", "--limit", "0"], b"--limit"),
        ([region, "log", "--from"], b"needs a value"),
        ([region, "peers", "--wait", "-1"], b"--wait"),
        ([region, "info", "extra"], b"unexpected argument"),
        ([region, "dump"], b"OUT is missing"),
        ([region, "restore"], b"IN is missing"),
        ([region, "format", "--slots", "0"], b"--slots"),
        ([region, "format", "--size", "12Q"], b"--size"),
        ([region, "dump", "--level", "10", "x.gz"], b"--level"),
    ]
    for argv, msg in bad:
        r = t.run([t.inspect] + argv)
        t.check(r.returncode == 2, "%r: exit %d, wanted 2" %
                (argv, r.returncode))
        t.check(msg in r.stderr, "%r: stderr %r lacks %r" %
                (argv, r.stderr, msg))
        t.check(b"Usage:" in r.stderr, "%r: usage shown" % (argv,))
    # Not usage errors, but failures with a message and exit 1.
    r = t.run([t.inspect, "/nonexistent/region", "info"])
    t.check(r.returncode == 1 and b"cannot open" in r.stderr,
            "missing region: exit 1, says why")
    r = t.run([t.inspect, "--json", "/nonexistent/region", "info"])
    doc = json.loads(r.stdout)
    t.check(r.returncode == 1 and doc["ok"] is False and
            "cannot open" in doc["error"]["message"],
            "missing region, --json: an error document")
    t.js(region, "info")
    # --json is also taken after the command.
    r = t.run([t.inspect, region, "info", "--json"])
    t.check(r.returncode == 0 and json.loads(r.stdout)["command"] == "info",
            "--json after the command")


# ---------------------------------------------------------------- read

def group_read(t):
    region = t.populated("r")
    want = t.same_namespace(region, "populated region")
    t.check("/docs/readme.txt" in want and "/many/g1199" in want,
            "the oracle sees the tree")
    for p in fixture_files():
        t.same_content(region, p, "cat")
    t.same_content(region, "/docs/link", "cat through a symlink",
                   "/docs/readme.txt")
    t.same_content(region, "/docs/abs-link", "cat through an absolute link",
                   "/a/b/c/deep.txt")
    t.same_content(region, "/odd/nl\nname", "cat of a name with a newline")
    t.same_content(region, "/odd/bad-\udcff\udcfe-utf8",
                   "cat of a name that is not UTF-8")

    # info
    info = t.js(region, "info")
    geo, sp, ns = info["geometry"], info["space"], info["namespace"]
    t.check(geo["region_size"] == 8 * MiB, "info: region size")
    t.check(sp["capacity"] == geo["seg_count"] * geo["seg_size"],
            "info: capacity is the segments")
    t.check(sp["used"] + sp["free"] == sp["capacity"], "info: used + free")
    segs = sp["segments"]
    t.check(sum(segs.values()) == geo["seg_count"], "info: segment states")
    t.check(sp["free"] == segs["free"] * geo["seg_size"], "info: free")
    t.check(sp["reclaimable"] == sp["freeing"] + sp["dead_data"],
            "info: reclaimable")
    t.check(ns["orphans"] == 1, "info: one orphan")
    t.check(ns["symlinks"] == 2 and ns["other"] == 2, "info: types")
    t.check(ns["files"] == sum(1 for v in want.values() if v[0] == "reg")
            - 1 + 1, "info: files (a hard link counted once, the orphan "
            "too)")
    t.check(info["log"]["checkpoint"]["seq"] > 0 and
            info["records"]["checkpoint"]["records"] ==
            info["log"]["checkpoint"]["records"], "info: checkpoint")
    t.check(info["records"]["log"]["by_type"]["LINK"] > 0,
            "info: the log spans segments")
    t.check(info["peers"]["alive"] == 0 and info["lock"]["state"] == "free",
            "info: no peer, lock free")
    t.check(info["damaged"] is False and info["fault"] is None,
            "info: not damaged")
    text = t.ok(region, "info").decode()
    rows = text.splitlines()
    t.check(len(rows) >= 12, "info: plain rows")
    col = len("reclaimable") + 2
    t.check(all(r[col - 2:col] == "  " and r[col] != " " for r in rows),
            "info: values aligned in one column")
    t.check(re.search(r"^capacity\s+7\.9 MiB$", text, re.M) is not None,
            "info: human sizes")

    # peers
    doc = t.js(region, "peers")
    t.check(doc["slots_total"] == 64, "peers: slots")
    names = [s["name"] for s in doc["slots"]]
    t.check("inspect-fixture" in names, "peers: the fixture's slot")
    t.check(all(s["state"] == "free" for s in doc["slots"]),
            "peers: all detached")
    t.check(doc["lock"]["state"] == "free", "peers: lock free")
    text = t.ok(region, "peers").decode()
    t.check("inspect-fixture" in text and "lock: free" in text,
            "peers: plain")

    # log
    doc = t.js(region, "log")
    recs = doc["records"]
    ck = info["log"]["checkpoint"]["seq"]
    t.check(recs[0]["seq"] == ck + 1 and recs[-1]["seq"] == doc["head_seq"],
            "log: from the checkpoint to the head")
    t.check(all(b["seq"] == a["seq"] + 1 for a, b in zip(recs, recs[1:])),
            "log: consecutive")
    t.check(all(r["crc"] == "ok" and not r["in_checkpoint"] for r in recs),
            "log: checksums")
    links = [r for r in recs if r["type"] == "LINK"]
    t.check(links and all(r["fields"]["next_seg"] < geo["seg_count"]
                          for r in links), "log: LINK records")
    names = [r["fields"].get("name") for r in recs if r["type"] == "DIRENT"]
    t.check("after.txt" in names and "renamed.txt" in names,
            "log: DIRENT names")
    bad = [r for r in recs if r["type"] == "DIRENT" and
           "name_hex" in r["fields"]]
    t.check(bad and bytes.fromhex(bad[0]["fields"]["name_hex"]) ==
            b"bad-\xff\xfe-utf8", "log: invalid UTF-8 name kept exactly")
    ext = [r for r in recs if r["type"] == "EXTENT"]
    t.check(ext and all("file_off" in r["fields"] and "seg" in r["fields"]
                        for r in ext), "log: EXTENT ranges")
    xa = [r for r in recs if r["type"] == "XATTR"]
    t.check(any(r["fields"]["name"] == "user.bin" and
                r["fields"]["value_hex"] == bytes(range(256)).hex()
                for r in xa), "log: XATTR values")
    t.check(any(r["fields"].get("remove") for r in xa), "log: xattr removal")
    t.check(any(r["type"] == "DELETE" for r in recs), "log: DELETE")
    inode = [r for r in recs if r["type"] == "INODE"][0]["fields"]
    t.check({"mode", "uid", "gid", "nlink", "size", "mtime_ns"} <=
            set(inode), "log: INODE attributes")
    doc = t.js(region, "log", "--checkpoint")
    crecs = [r for r in doc["records"] if r["in_checkpoint"]]
    t.check(len(crecs) == info["log"]["checkpoint"]["records"],
            "log --checkpoint: every checkpoint record")
    t.check(any(r["type"] == "INLINE" and r["fields"]["data"] ==
                "readme.txt" for r in crecs), "log: INLINE (symlink target)")
    t.check(len(doc["records"]) == len(crecs) + len(recs),
            "log --checkpoint: then the log")
    doc = t.js(region, "log", "--checkpoint", "--limit", "5")
    t.check([r["seq"] for r in doc["records"]] == [1, 2, 3, 4, 5] and
            all(r["in_checkpoint"] for r in doc["records"]),
            "log --checkpoint")
    text = t.ok(region, "log", "--from", str(ck + 10), "--limit", "3")
    lines = text.decode().splitlines()
    t.check(len(lines) == 4 and lines[0].split()[:3] == ["SEQ", "SLOT",
                                                         "TYPE"],
            "log --from --limit: a header and three lines")
    t.check(lines[1].split()[0] == str(ck + 10), "log --from: first seq")
    text = t.ok(region, "log").decode()
    t.check('"nl\\x0aname"' in text and '"tab\\x09here"' in text,
            "log: names escaped for the terminal")
    t.check("\n" not in text.split("nl\\x0aname")[0][-40:], "log: one line")
    t.check(re.search(r"EXTENT .*\[\d+, \+\d+\) -> segment \d+ offset 0x",
                      text), "log: extent text")

    # segments
    doc = t.js(region, "segments")
    t.check(len(doc["map"]) == geo["seg_count"] and
            len(doc["segments"]) == geo["seg_count"], "segments: all")
    t.check(set(doc["map"]) <= set(".~MmCc0123456789?"), "segments: map")
    t.check(doc["map"].count(".") == segs["free"], "segments: free in map")
    on_log = [s for s in doc["segments"] if s["on_log"]]
    t.check(len(on_log) == info["records"]["log"]["segments"],
            "segments: the log's segments")
    live = sum(s["live"] for s in doc["segments"])
    t.check(live == sp["live_data"], "segments: live bytes")
    text = t.ok(region, "segments").decode()
    t.check("free" in text and "NOTE" in text and "log tail" in text,
            "segments: plain")

    # ls, stat
    doc = t.js(region, "ls", "/docs")
    names = [e["name"] for e in doc["entries"]]
    t.check(names == sorted(names) and "readme.txt" in names,
            "ls: sorted entries")
    sizes = {e["name"]: e["size"] for e in doc["entries"]}
    t.check(sizes["big.bin"] == want["/docs/big.bin"][1], "ls: sizes")
    text = t.ok(region, "ls", "-l", "/docs").decode().splitlines()
    t.check(len(text) == len(names), "ls -l: one line per entry")
    t.check(len({len(re.match(r"(\S+\s+){6}", l).group(0)) for l in text})
            == 1, "ls -l: aligned columns")
    t.check(any(l.endswith("link -> readme.txt") for l in text),
            "ls -l: link targets")
    t.check(any("MiB" in l for l in text), "ls -l: human sizes")
    doc = t.js(region, "ls", "/docs/readme.txt")
    t.check(len(doc["entries"]) == 1 and doc["directory"] is False,
            "ls of a file")
    r = t.insp(region, "ls", "/docs/nope")
    t.check(r.returncode == 1 and b"no such file" in r.stderr,
            "ls: missing path")
    doc = t.js(region, "stat", "/docs/sparse.bin")
    ino = doc["inode"]
    t.check(ino["size"] == MiB + 4096 and ino["type"] == "reg",
            "stat: size")
    t.check(ino["extents"] and ino["extents"][-1]["off"] == MiB,
            "stat: extents")
    t.check(all(e["region_off"] is None or e["region_off"] ==
                geo["seg0_off"] + e["seg"] * geo["seg_size"] + e["seg_off"]
                for e in ino["extents"]), "stat: extent region offsets")
    doc = t.js(region, "stat", "/docs/link")
    t.check(doc["inode"]["type"] == "lnk" and
            doc["inode"]["target"] == "readme.txt", "stat of a link")
    doc = t.js(region, "stat", "-L", "/docs/link")
    t.check(doc["inode"]["type"] == "reg" and doc["inode"]["nlink"] == 2,
            "stat -L follows")
    doc = t.js(region, "stat", "/xattr")
    xs = {x["name"]: x["value_hex"] for x in doc["inode"]["xattrs"]}
    t.check(xs == {"user.color": b"blue".hex(),
                   "user.bin": bytes(range(256)).hex()}, "stat: xattrs")
    doc = t.js(region, "stat", "/chr")
    t.check(doc["inode"]["type"] == "chr" and
            doc["inode"]["rdev"] == (1 << 8) | 3, "stat: device")
    text = t.ok(region, "stat", "/docs/big.bin").decode()
    t.check("extents:" in text and "REGION_OFF" in text, "stat: plain")
    doc = t.js(region, "stat", "/a/b/../b/./c/deep.txt")
    t.check(doc["inode"]["size"] == 5, "stat: . and .. in paths")

    # cat
    doc = t.js(region, "cat", "/docs/readme.txt")
    t.check(base64.b64decode(doc["data_base64"]) ==
            b"hello from ivshm\n" * 100, "cat --json: base64")
    r = t.insp(region, "cat", "/docs")
    t.check(r.returncode == 1 and b"is a directory" in r.stderr,
            "cat of a directory")
    r = t.insp(region, "cat", "/fifo")
    t.check(r.returncode == 1 and b"not a regular file" in r.stderr,
            "cat of a fifo")

    # tree
    text = t.ok(region, "tree").decode()
    t.check(text.startswith("/\n|-- a/\n|   `-- b/\n"), "tree: drawing")
    t.check("link -> readme.txt" in text, "tree: link targets")
    t.check(re.search(r"^\d+ directories, \d+ files$", text, re.M),
            "tree: counts")
    t.check("orphan: inode" in text, "tree: orphans")
    t.check("nl\\x0aname" in text, "tree: escaped names")
    _, doc = t.tree_json(region)
    t.check(len(doc["orphans"]) == 1, "tree --json: the orphan")
    doc = t.js(region, "tree", "/a")
    t.check(doc["tree"]["children"][0]["name"] == "b", "tree PATH")

    # A gzip image reads the same.
    gz = t.file("r.img.gz")
    with open(region, "rb") as f, gzip.open(gz, "wb", 1) as g:
        shutil.copyfileobj(f, g)
    doc = t.js(gz, "info")
    t.check(doc["source"] == "gzip image" and
            doc["log"]["head_seq"] == info["log"]["head_seq"],
            "info of a gzip image")
    t.check(t.ok(gz, "tree") == t.ok(region, "tree"), "tree of a gzip image")
    t.check(t.ok(gz, "cat", "/docs/big.bin") ==
            t.ok(region, "cat", "/docs/big.bin"), "cat from a gzip image")
    r = t.insp(gz, "log", "--follow")
    t.check(r.returncode == 1 and b"region file" in r.stderr,
            "log --follow on an image: refused")


# ---------------------------------------------------------------- verify

def records(t, region, *args):
    return t.js(region, "log", *args)["records"]


def expect_fault(t, region, pattern, what, area=None):
    r = t.insp(region, "verify")
    out = r.stdout.decode(errors="replace")
    t.check(r.returncode == 1, "%s: verify exit %d" % (what, r.returncode))
    t.check(re.search(pattern, out) is not None,
            "%s: verify says %r, wanted /%s/" % (what, out[:600], pattern))
    doc = t.js(region, "verify", rc=1)
    t.check(doc["sound"] is False and doc["faults"], what + ": JSON faults")
    if doc["faults"]:
        t.check(re.search(pattern, doc["faults"][0]["message"]) is not None,
                "%s: JSON fault %r" % (what, doc["faults"][0]["message"]))
        if area:
            t.check(doc["faults"][0]["area"] == area, "%s: area %r" %
                    (what, doc["faults"][0]["area"]))
    return doc


def rewrite_record(path, rec, payload):
    """Replace a record's payload and give it a valid checksum again."""
    off = rec["region_off"]
    hdr = bytearray(t_peek(path, off, 32))
    body = bytes(hdr[4:]) + payload
    crc = zlib.crc32(body) & 0xffffffff
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack("<I", crc) + body)


def t_peek(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def group_verify(t):
    region = t.populated("v")
    r = t.insp(region, "verify")
    t.check(r.returncode == 0 and b"a sound ivshm store" in r.stdout,
            "verify of a sound store: %r" % r.stdout[-300:])
    doc = t.js(region, "verify")
    t.check(doc["sound"] is True and doc["faults"] == [] and
            doc["report"]["orphans"] == 1, "verify --json: sound")
    info = t.js(region, "info")
    geo = info["geometry"]
    ck = info["log"]["checkpoint"]
    recs = records(t, region)

    def seg_off(i):
        return geo["seg0_off"] + i * geo["seg_size"]

    # One byte of a record in the log.
    rec = [r for r in recs if r["type"] == "DIRENT"][5]
    bad = t.copy(region, "v-rec")
    t.flip(bad, rec["region_off"] + 40)
    doc = expect_fault(
        t, bad, r"log: record seq %d at segment %d offset 0x%x \(region "
        r"offset 0x%x\): bad checksum" % (rec["seq"], rec["seg"], rec["off"],
                                          rec["region_off"]),
        "a record's byte", "log")
    f = doc["faults"][0]
    t.check((f["seq"], f["seg"], f["off"], f["region_off"]) ==
            (rec["seq"], rec["seg"], rec["off"], rec["region_off"]),
            "record fault: position members")
    r = t.insp(bad, "log")
    lines = r.stdout.decode(errors="replace").splitlines()
    t.check(r.returncode == 1 and any(" BAD " in l for l in lines) and
            lines[-1].strip().startswith("!!"), "log shows the bad record")
    doc = t.js(bad, "log", rc=1)
    t.check(doc["records"][-1]["crc"] == "bad" and
            doc["records"][-1]["seq"] == rec["seq"], "log --json: bad")
    r = t.insp(bad, "ls", "/")
    t.check(r.returncode == 1 and b"damaged" in r.stderr and
            b"docs" in r.stdout, "ls on a damaged store: what can be read")

    # One byte of a checkpoint record.
    crec = records(t, region, "--checkpoint", "--limit", "30")[20]
    bad = t.copy(region, "v-crec")
    t.flip(bad, crec["region_off"] + 33)
    expect_fault(t, bad, r"checkpoint: record #%d at segment %d offset "
                 r"0x%x \(region offset 0x%x\): bad checksum" %
                 (crec["seq"], crec["seg"], crec["off"], crec["region_off"]),
                 "a checkpoint record's byte", "checkpoint")

    # The header of a segment the log links to.
    link = [r for r in recs if r["type"] == "LINK"][0]
    nxt = link["fields"]["next_seg"]
    bad = t.copy(region, "v-link")
    t.flip(bad, seg_off(nxt) + 20)
    expect_fault(t, bad, r"record seq %d at segment %d offset 0x%x .*links "
                 r"to segment %d \(region offset 0x%x\), whose header is "
                 r"wrong: bad header checksum" %
                 (link["seq"], link["seg"], link["off"], nxt, seg_off(nxt)),
                 "a linked segment's header", "log")
    bad = t.copy(region, "v-link-magic")
    t.flip(bad, seg_off(nxt) + 4)
    expect_fault(t, bad, r"whose header is wrong: no segment magic",
                 "a linked segment's magic")

    # The header of the segment the log resumes in (core/verify.c does
    # not look at it: ivshm-inspect does).
    bad = t.copy(region, "v-logseg")
    t.flip(bad, seg_off(ck["log_seg"]) + 12)
    expect_fault(t, bad, r"log: segment %d header \(region offset 0x%x\): "
                 r"bad header checksum" % (ck["log_seg"],
                                           seg_off(ck["log_seg"])),
                 "the log's first segment header", "log")

    # The header of the first checkpoint segment.
    bad = t.copy(region, "v-ckseg")
    t.flip(bad, seg_off(ck["seg"]) + 30)
    expect_fault(t, bad, r"checkpoint: segment %d header \(region offset "
                 r"0x%x\): bad header checksum" % (ck["seg"],
                                                   seg_off(ck["seg"])),
                 "the checkpoint's segment header", "checkpoint")

    # The superblock: static bytes, covered by its checksum.
    for off in (24, 100, 250):
        bad = t.copy(region, "v-sb%d" % off)
        t.flip(bad, off)
        doc = expect_fault(t, bad, r"superblock: corrupted ivshm store: "
                           r"superblock checksum 0x[0-9a-f]+, stored "
                           r"0x[0-9a-f]+ \(offset 252\)",
                           "superblock byte %d" % off, "superblock")
        t.check(doc["faults"][0]["region_off"] == 0, "superblock offset")
    bad = t.copy(region, "v-magic")
    t.flip(bad, 0)
    expect_fault(t, bad, r"superblock: foreign data: no ivshm magic",
                 "superblock magic")
    bad = t.copy(region, "v-version")
    t.poke(bad, 8, struct.pack("<I", 2))
    expect_fault(t, bad, r"another format version: format version 2",
                 "format version")

    # The checkpoint descriptor in use.
    gen = info["log"]["ckpt_gen"]
    bad = t.copy(region, "v-desc")
    t.flip(bad, 768 + 64 * (gen & 1) + 3)
    expect_fault(t, bad, r"checkpoint descriptor %d \(superblock offset "
                 r"%d, ckpt_gen %d\): bad checksum" %
                 (gen & 1, 768 + 64 * (gen & 1), gen),
                 "the checkpoint descriptor", "checkpoint descriptor")

    # A descriptor with a valid checksum but a sequence past head_seq
    # (core/verify.c accepts it and skips the whole log).
    bad = t.copy(region, "v-descseq")
    off = 768 + 64 * (gen & 1)
    d = bytearray(t.peek(bad, off, 64))
    d[0:8] = struct.pack("<Q", info["log"]["head_seq"] + 5)
    d[60:64] = struct.pack("<I", zlib.crc32(bytes(d[:60])) & 0xffffffff)
    t.poke(bad, off, bytes(d))
    expect_fault(t, bad, r"checkpoint descriptor %d \(superblock offset "
                 r"%d, ckpt_gen %d\): checkpoint sequence %d is past "
                 r"head_seq %d" % (gen & 1, off, gen,
                                   info["log"]["head_seq"] + 5,
                                   info["log"]["head_seq"]),
                 "a descriptor past the head", "checkpoint descriptor")

    # head_seq past the last record.
    bad = t.copy(region, "v-head")
    head = info["log"]["head_seq"]
    t.poke(bad, 576, struct.pack("<Q", head + 3))
    expect_fault(t, bad, r"log: record seq %d at segment %d offset 0x%x .*"
                 r"no record there \(zeroes\), but the log goes on to "
                 r"head_seq %d" % (head + 1, info["log"]["tail"]["seg"],
                                   info["log"]["tail"]["off"], head + 3),
                 "head_seq past the log")

    # Well-formed records that make no sense: the core's checks.
    bad = t.copy(region, "v-dirent")
    rec = [r for r in recs if r["type"] == "DIRENT" and
           r["fields"]["name"] == "renamed.txt"][0]
    name = b"renamed.txt"
    payload = struct.pack("<QHB5x", 999999, len(name), 8) + name
    payload += b"\0" * (rec["len"] - 32 - len(payload))
    rewrite_record(bad, rec, payload)
    doc = expect_fault(t, bad, r"consistency: inode \d+ has link count 1 but "
                       r"0 names \(\d+ errors in all\)",
                       "a name for a missing inode", "consistency")
    t.check(any("name for a missing inode" in m and
                "seq %d" % rec["seq"] in m for m in doc["core_messages"]),
            "the core says which record: %r" % doc["core_messages"][:3])
    bad = t.copy(region, "v-extent")
    rec = [r for r in recs if r["type"] == "EXTENT" and
           not r["fields"]["zero"]][0]
    free = [s["index"] for s in t.js(region, "segments")["segments"]
            if s["state"] == "free"][0]
    fl = rec["fields"]
    payload = struct.pack("<QIIII", fl["file_off"], fl["len"], free, 0,
                          fl["flags"])
    payload += b"\0" * (rec["len"] - 32 - len(payload))
    rewrite_record(bad, rec, payload)
    expect_fault(t, bad, r"lies in segment %d, which is not a data segment "
                 r"\(state 0\)" % free, "an extent in a free segment")

    # Not a store at all.
    blank = t.region("v-blank")
    with open(blank, "wb") as f:
        f.truncate(4 * MiB)
    expect_fault(t, blank, r"superblock: blank: superblock is all zero",
                 "a blank region")
    r = t.insp(blank, "info")
    t.check(r.returncode == 1 and b"holds no valid ivshm store" in r.stderr,
            "info on a blank region")


# ---------------------------------------------------------------- image

def group_image(t):
    region = t.populated("i")
    info = t.js(region, "info")
    tree = t.ok(region, "tree")
    for gz in (False, True):
        out = t.file("dump.img" + (".gz" if gz else ""))
        doc = t.js(region, "dump", out)
        t.check(doc["compressed"] == gz and doc["size"] == 8 * MiB and
                doc["head_seq"] == info["log"]["head_seq"],
                "dump --json (gz %s)" % gz)
        t.check(os.path.exists(out) and not [f for f in os.listdir(t.tmp)
                                             if ".tmp" in f],
                "dump: the file, no temporary left")
        with open(out, "rb") as f:
            magic = f.read(2)
        t.check((magic == b"\x1f\x8b") == gz, "dump: gzip when .gz")
        if not gz:
            t.check(os.path.getsize(out) == 8 * MiB, "dump: full size")
            t.check(os.stat(out).st_blocks * 512 < 8 * MiB,
                    "dump: a sparse file")
        back = t.region("i-back-%d" % gz)
        r = t.insp(back, "restore", out)
        t.check(r.returncode == 0 and b"restored" in r.stdout,
                "restore (gz %s): %r" % (gz, r.stderr[-300:]))
        t.check(t.insp(back, "verify").returncode == 0,
                "verify after dump and restore")
        t.check(t.ok(back, "tree") == tree, "same tree after restore")
        for p in fixture_files():
            t.check(t.ok(back, "cat", p) == t.ok(region, "cat", p),
                    "same cat %s after restore" % p)
        t.same_namespace(back, "restored region")
        t.check(t.ok(out, "tree") == tree, "tree of the dump itself")
        t.check(t.js(back, "info")["log"]["head_seq"] ==
                info["log"]["head_seq"], "same head after restore")
    r = t.insp(region, "dump", region)
    t.check(r.returncode == 1 and b"region itself" in r.stderr,
            "dump onto the region: refused")
    r = t.insp(region, "dump", "/nonexistent-dir/x.img")
    t.check(r.returncode == 1, "dump into a missing directory fails")

    # A live target is refused, unless --force.
    img = t.file("dump.img.gz")
    target = t.copy(region, "i-live")
    p = t.peer("hold", target, "30")
    r = t.insp(target, "restore", img)
    t.check(r.returncode == 1 and b"is live" in r.stderr and
            b"inspect-fixture" in r.stderr, "restore onto a live region: "
            "refused: %r" % r.stderr)
    doc = t.js(target, "peers")
    t.check(any(s["state"] == "alive" and s["heartbeat_moving"] is True
                for s in doc["slots"]), "peers: the live peer's heartbeat")
    text = t.ok(target, "peers").decode()
    t.check(re.search(r"alive\s.*inspect-fixture\s+\d+\s+yes", text),
            "peers: LIVE yes")
    r = t.insp(target, "restore", "--force", img)
    t.check(r.returncode == 0 and b"live peer" in r.stderr,
            "restore --force onto a live region, with a warning")
    p.kill()
    p.wait()
    # A dead slot (killed peer) does not make a region live.
    r = t.insp(target, "restore", img)
    t.check(r.returncode == 0, "restore once the peer is gone: %r" %
            r.stderr)

    # Another size: --force resizes.
    other = t.region("i-size")
    with open(other, "wb") as f:
        f.truncate(16 * MiB)
    r = t.insp(other, "restore", img)
    t.check(r.returncode == 1 and b"--force resizes" in r.stderr,
            "restore into another size: refused")
    doc = t.js(other, "restore", "--force", img)
    t.check(doc["resized"] is True and os.path.getsize(other) == 8 * MiB,
            "restore --force resizes")
    t.check(t.insp(other, "verify").returncode == 0, "verify after resize")

    # Not a store: refused.
    junk = t.file("junk.gz")
    with gzip.open(junk, "wb") as g:
        g.write(os.urandom(MiB))
    r = t.insp(t.region("i-junk"), "restore", junk)
    t.check(r.returncode == 1 and b"holds no valid ivshm store" in r.stderr,
            "restore of junk: refused")
    trunc = t.file("trunc.img.gz")
    with open(region, "rb") as f, gzip.open(trunc, "wb", 1) as g:
        g.write(f.read(5 * MiB))
    r = t.insp(trunc, "info")
    t.check(r.returncode == 1 and b"truncated" in r.stderr,
            "a truncated gzip image: %r" % r.stderr)

    # --reset-peers: an image taken with a peer attached.
    live = t.copy(region, "i-peer")
    p = t.peer("hold", live, "30")
    img2 = t.file("with-peer.img")
    t.ok(live, "dump", img2)
    p.kill()
    p.wait()
    a = t.region("i-keep")
    t.ok(a, "restore", img2)
    t.check(t.js(a, "info")["peers"]["alive"] == 1,
            "restore keeps the peer table")
    b = t.region("i-reset")
    t.ok(b, "restore", "--reset-peers", img2)
    info_b = t.js(b, "info")
    t.check(info_b["peers"]["alive"] == 0 and
            info_b["lock"]["state"] == "free", "restore --reset-peers")
    t.fix("list", b)


# ---------------------------------------------------------------- format

def group_format(t):
    path = t.region("f")
    r = t.insp(path, "format")
    t.check(r.returncode == 1 and b"--size creates it" in r.stderr,
            "format of a missing file: says --size")
    doc = t.js(path, "format", "--size", "8M")
    t.check(doc["region_size"] == 8 * MiB and doc["created"] is True,
            "format --size creates")
    t.check(t.insp(path, "verify").returncode == 0, "verify after format")
    info = t.js(path, "info")
    t.check(info["log"]["head_seq"] == 1 and
            info["namespace"]["inodes"] == 1, "a new store: the root only")
    t.fix("list", path)
    r = t.insp(path, "format")
    t.check(r.returncode == 1 and b"holds a valid ivshm store" in r.stderr
            and b"--force" in r.stderr, "format of a store: refused")
    t.fix("populate", path, "8M")
    uuid = t.js(path, "info")["format"]["uuid"]
    doc = t.js(path, "format", "--force", "--segment-size", "128K",
               "--slots", "8")
    t.check(doc["seg_size"] == 128 << 10 and doc["peer_slots"] == 8 and
            doc["uuid"] != uuid, "format --force with geometry")
    info = t.js(path, "info")
    t.check(info["namespace"]["inodes"] == 1 and
            info["geometry"]["seg_size"] == 128 << 10, "formatted again")
    t.check(t.insp(path, "verify").returncode == 0, "verify after reformat")

    odd = t.region("f-odd")
    with open(odd, "wb") as f:
        f.truncate(3 * MiB)
    r = t.insp(odd, "format")
    t.check(r.returncode == 1 and re.search(
        rb"is 3 MiB \(3145728 bytes\): an ivshm region must be a power of "
        rb"two from 1 MiB to 64 TiB", r.stderr), "format of 3 MiB: %r" %
        r.stderr)
    r = t.insp(t.region("f-odd2"), "format", "--size", "3M")
    t.check(r.returncode == 1 and b"not a power of two" in r.stderr,
            "format --size 3M")
    r = t.insp(path, "format", "--force", "--segment-size", "96K")
    t.check(r.returncode == 1 and re.search(
        rb"segment size 96 KiB \(98304 bytes\) is not a power of two from "
        rb"64 KiB to 64 MiB", r.stderr), "segment size 96K: %r" % r.stderr)
    r = t.insp(path, "format", "--force", "--segment-size", "4M")
    t.check(r.returncode == 1 and b"too few" in r.stderr,
            "segments too large for the region: %r" % r.stderr)
    r = t.insp(path, "format", "--size", "16M")
    t.check(r.returncode == 1 and b"--force resizes" in r.stderr,
            "format --size of another size: refused")
    foreign = t.region("f-foreign")
    with open(foreign, "wb") as f:
        f.write(b"not a store" * 100)
        f.truncate(MiB)
    r = t.insp(foreign, "format")
    t.check(r.returncode == 1 and b"foreign data" in r.stderr,
            "format of foreign data: refused")
    t.check(t.insp(foreign, "format", "--force").returncode == 0,
            "format --force of foreign data")
    gz = t.file("f.gz")
    with gzip.open(gz, "wb") as g:
        g.write(b"\0" * MiB)
    r = t.insp(gz, "format")
    t.check(r.returncode == 1 and b"gzip image" in r.stderr,
            "format of a gzip image: refused")
    text = t.ok(t.region("f-plain"), "format", "--size", "2M").decode()
    t.check(text.startswith("formatted ") and "segments of 64 KiB" in text,
            "format: plain output %r" % text)


# ---------------------------------------------------------------- live

def group_live(t):
    region = t.populated("l", "16M")
    big = t.fix("read", region, "/docs/big.bin")
    info = t.js(region, "info")
    head = info["log"]["head_seq"]
    follow = t.spawn([t.inspect, "--json", region, "log", "--follow",
                      "--from", str(head + 1), "--limit", "200",
                      "--interval", "20"])
    writer = t.peer("writer", region, "400", "5")
    busy = 0
    for i in range(12):
        r = t.insp(region, "verify")
        busy += r.returncode == 3
        t.check(r.returncode in (0, 3), "verify while a peer writes: "
                "exit %d %r" % (r.returncode, r.stdout[-400:] +
                                r.stderr[-400:]))
        r = t.insp(region, "cat", "/docs/big.bin")
        t.check(r.returncode in (0, 3), "cat while a peer writes")
        if r.returncode == 0:
            t.check(r.stdout == big, "cat while a peer writes: same bytes")
        running = writer.poll() is None
        r = t.insp(region, "info", js=True)
        if r.returncode == 0 and running and writer.poll() is None:
            doc = json.loads(r.stdout)
            t.check(doc["peers"]["alive"] >= 1, "info: the writer is alive")
        r = t.insp(region, "tree")
        t.check(r.returncode in (0, 3) and (r.returncode or
                                            b"live/" in r.stdout),
                "tree while a peer writes")
        if i == 6:
            img = t.file("live.img.gz")
            r = t.insp(region, "dump", img, timeout=300)
            t.check(r.returncode == 0, "dump of a live region: %r" %
                    r.stderr)
            back = t.region("l-back")
            t.ok(back, "restore", img)
            r = t.insp(back, "verify")
            t.check(r.returncode == 0, "the live dump verifies: %r" %
                    r.stdout[-500:])
            t.check(t.ok(back, "cat", "/docs/big.bin") == big,
                    "the live dump: file data")
    t.check(busy < 12, "verify got a consistent view at least once")
    try:
        out, _ = follow.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        follow.kill()
        out, _ = follow.communicate()
        t.check(False, "log --follow --limit 200 did not finish")
    lines = [json.loads(l) for l in out.decode().splitlines()]
    recs = [l for l in lines if "seq" in l]
    t.check(len(recs) == 200, "log --follow: 200 records, got %d" %
            len(recs))
    t.check(recs and recs[0]["seq"] == head + 1, "log --follow: from head")
    prev = None
    for l in lines:
        if "event" in l:
            t.check(l["event"] == "checkpoint", "follow: events %r" % l)
            if l["lost_from"] is not None:
                prev = l["lost_to"]
            continue
        if prev is not None:
            t.check(l["seq"] == prev + 1, "log --follow: consecutive, "
                    "%d after %d" % (l["seq"], prev))
        prev = l["seq"]
    t.check(any(r["type"] == "DIRENT" and
                r["fields"]["name"].startswith("w") for r in recs),
            "log --follow: the writer's records")
    writer.wait(timeout=120)
    t.check(writer.returncode == 0, "the writer finished")
    t.check(t.insp(region, "verify").returncode == 0, "verify afterwards")
    t.same_namespace(region, "after the writer")
    # Cleaning and checkpoints reuse segments: the data still reads back.
    t.fix("churn", region, "40")
    t.check(t.insp(region, "verify").returncode == 0, "verify after churn")
    for i in range(4):
        t.same_content(region, "/churn/c%d" % i, "after churn")
    t.same_content(region, "/docs/big.bin", "after churn")
    doc = t.js(region, "segments")
    t.check("~" in doc["map"] or "." in doc["map"], "segments after churn")


# ---------------------------------------------------------------- hostile

def group_hostile(t):
    """Random bytes over the metadata: clean answers, never a crash."""
    import random
    region = t.populated("h")
    info = t.js(region, "info")
    geo = info["geometry"]
    segs = t.js(region, "segments")["segments"]
    meta = [s["region_off"] for s in segs
            if s["state"] in ("meta", "checkpoint")]
    rnd = random.Random(int(os.environ.get("IVSHM_INSPECT_SEED", "1234")))
    cmds = [["info"], ["peers", "--wait", "0"], ["log"],
            ["log", "--checkpoint"], ["segments"], ["ls", "-l", "/docs"],
            ["stat", "/docs/sparse.bin"], ["cat", "/docs/big.bin"],
            ["tree"], ["verify"]]
    rounds = int(os.environ.get("IVSHM_INSPECT_ROUNDS", "40"))
    for i in range(rounds):
        bad = t.copy(region, "h-%d" % (i % 4))
        for _ in range(rnd.randint(1, 4)):
            where = rnd.random()
            if where < 0.15:
                off = rnd.randrange(0, 1024)
            elif where < 0.3:
                off = rnd.randrange(4096, geo["seg0_off"])
            else:
                off = rnd.choice(meta) + rnd.randrange(0, geo["seg_size"])
            n = rnd.choice([1, 1, 2, 4, 8])
            data = bytes(rnd.randrange(256) for _ in range(n))
            if rnd.random() < 0.3:
                data = rnd.choice([b"\xff" * n, b"\0" * n])
            t.poke(bad, off, data)
        for c in cmds:
            for js in (False, True):
                r = t.insp(bad, *c, js=js, timeout=60)
                t.check(r.returncode in (0, 1, 3) and
                        b"AddressSanitizer" not in r.stderr and
                        b"runtime error" not in r.stderr,
                        "round %d: %s: exit %d %r" %
                        (i, " ".join(c), r.returncode, r.stderr[-800:]))
                if js and r.returncode in (0, 1):
                    try:
                        json.loads(r.stdout)
                    except ValueError:
                        t.check(False, "round %d: %s --json: not JSON" %
                                (i, " ".join(c)))


# ---------------------------------------------------------------- fuse

def group_fuse(t):
    if not t.fuse or not os.path.exists(t.fuse):
        return SKIP
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        return SKIP
    region = t.region("fuse")
    with open(region, "wb") as f:
        f.truncate(16 * MiB)
    mnt = t.file("mnt")
    os.mkdir(mnt)
    d = t.spawn([t.fuse, "-f", "-o", "region=" + region, mnt])
    for _ in range(500):
        if os.path.ismount(mnt) or d.poll() is not None:
            break
        time.sleep(0.02)
    if not os.path.ismount(mnt):
        return SKIP
    try:
        os.makedirs(os.path.join(mnt, "x/y"))
        data = os.urandom(300000)
        with open(os.path.join(mnt, "x/y/file.bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(mnt, "hello.txt"), "w") as f:
            f.write("hello through fuse\n")
        os.symlink("x/y/file.bin", os.path.join(mnt, "ln"))
        os.rename(os.path.join(mnt, "hello.txt"),
                  os.path.join(mnt, "hi.txt"))
        # Mounted: the daemon is a live peer.
        doc = t.js(region, "peers")
        t.check(any(s["name"] == "ivshm-fuse" and s["state"] == "alive"
                    for s in doc["slots"]), "peers: ivshm-fuse alive")
        t.check(t.insp(region, "verify").returncode == 0,
                "verify while mounted")
        t.check(t.ok(region, "cat", "/x/y/file.bin") == data,
                "cat of a file written through fuse")
        t.check(t.ok(region, "cat", "/ln") == data, "cat through a link")
        t.check(t.ok(region, "cat", "/hi.txt") == b"hello through fuse\n",
                "cat after a rename")
        text = t.ok(region, "tree").decode()
        t.check("hi.txt" in text and "hello.txt" not in text and
                "ln -> x/y/file.bin" in text, "tree of a fuse mount")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
    t.check(t.insp(region, "verify").returncode == 0, "verify after umount")
    doc = t.js(region, "peers")
    t.check(not any(s["state"] == "alive" for s in doc["slots"]),
            "peers: detached after umount")
    return 0


GROUPS = {
    "usage": group_usage,
    "read": group_read,
    "verify": group_verify,
    "image": group_image,
    "format": group_format,
    "live": group_live,
    "hostile": group_hostile,
    "fuse": group_fuse,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inspect", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--fuse")
    ap.add_argument("group", choices=sorted(GROUPS))
    args = ap.parse_args()
    t = T(args)
    rc = 0
    try:
        rc = GROUPS[args.group](t) or 0
    except Failed as e:
        print("FAIL (fatal): %s" % e, flush=True)
    except subprocess.TimeoutExpired as e:
        t.failures += 1
        print("FAIL: timeout: %s" % e, flush=True)
    finally:
        t.cleanup()
    if rc == SKIP:
        print("SKIP: %s cannot run here" % args.group)
        return SKIP
    print("%s: %d checks, %d failed" % (args.group, t.checks, t.failures))
    return 1 if t.failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
