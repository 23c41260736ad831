#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Real applications on a real ivshm-fuse mount:
#   tar    /usr/include (thousands of files) archived, extracted onto the
#          mount, diff -r and a metadata listing against the original; a
#          small tree of hard links, symlinks, a fifo, xattrs, a sparse file
#          and awkward names, through tar --xattrs --sparse; cp -a of both
#          trees, then rm -rf; the extracted tree read through a SECOND mount
#          of the same region must be identical too
#   make   a small C project written on the mount: make, run, up-to-date
#          check, rebuild after touching a header, a static library, clean
#   sqlite 10,000 rows (big and single-row transactions), updates, VACUUM,
#          integrity_check, with a rollback journal and with WAL (shared
#          mmap) plus a concurrent reader; read again from the second mount
#   git    init, add, commit, status clean, log, mv/rm/modify, fsck, gc,
#          clone (hard links), checkout of the first commit
# At the end both daemons must exit 0, the region must verify
# (ivshm-inspect), and a fresh mount must still show the tree, database and
# repository intact.
#
# Usage: test_apps.sh BIN_DIR   (the build's bin/, with ivshm-fuse)
set -Eeuo pipefail

bin=${1:?usage: test_apps.sh BIN_DIR}
daemon=$bin/ivshm-fuse
inspect=$bin/ivshm-inspect
[[ -x $daemon ]] || { echo "fuse_apps: no $daemon" >&2; exit 1; }
for tool in tar diff sqlite3 git make cc fusermount3 setfattr getfattr; do
	command -v "$tool" >/dev/null ||
		{ echo "fuse_apps: $tool is not installed" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/ivshm-apps.XXXXXX)
region=/dev/shm/ivshm-apps-$$
mnt=$tmp/mnt
mnt2=$tmp/mnt2
declare -A pids=()	# mount point -> daemon pid
step_name=setup
t_start=$SECONDS
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
git=(git -c user.name=t -c user.email=t@t -c init.defaultBranch=main
     -c gc.auto=0)

step() {
	step_name=$*
	echo "fuse_apps: [$((SECONDS - t_start))s] $step_name"
}

die() {
	echo "fuse_apps: FAILED in step \"$step_name\": $*" >&2
	exit 1
}

on_err() {
	echo "fuse_apps: FAILED in step \"$step_name\": line $1: command" \
	     "exited $2: $3" >&2
	exit 1
}
trap 'on_err $LINENO $? "$BASH_COMMAND"' ERR

cleanup() {
	local rc=$? dir
	trap - ERR
	set +e
	for dir in "${!pids[@]}"; do
		fusermount3 -u "$dir" 2>/dev/null ||
			fusermount3 -uz "$dir" 2>/dev/null
		kill -KILL "${pids[$dir]}" 2>/dev/null
		wait "${pids[$dir]}" 2>/dev/null
	done
	if ((rc)) && [[ -s $tmp/daemon.log ]]; then
		echo "fuse_apps: daemon messages:" >&2
		tail -n 20 "$tmp/daemon.log" >&2
	fi
	# Nothing is mounted any more, but stay on this file system anyway.
	rm -rf --one-file-system "$tmp"
	rm -f "$region"
	exit "$rc"
}
trap cleanup EXIT

mount_fs() {
	local dir=$1 i
	mkdir -p "$dir"
	"$daemon" -f -o "region=$region" "$dir" 2>>"$tmp/daemon.log" &
	pids[$dir]=$!
	for ((i = 0; i < 1000; i++)); do
		case $(stat -f -c %T "$dir" 2>/dev/null) in
		fuse | fuseblk) return 0 ;;
		esac
		kill -0 "${pids[$dir]}" 2>/dev/null ||
			die "ivshm-fuse exited before mounting $dir"
		sleep 0.01
	done
	die "$dir not mounted after 10 s"
}

umount_fs() {
	local dir=$1 i rc=0
	for ((i = 0; i < 50; i++)); do
		fusermount3 -u "$dir" 2>/dev/null && break
		sleep 0.1
	done
	((i < 50)) || die "cannot unmount $dir (busy)"
	wait "${pids[$dir]}" || rc=$?
	unset "pids[$dir]"
	((rc == 0)) || die "ivshm-fuse of $dir exited with status $rc"
}

# Type, mode, owner, size, mtime (seconds) and link target of every entry.
listing() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %n ' \
		\( -type f -printf '%s %Ts\n' \) -o \
		\( -type l -printf '-> %l\n' \) -o \
		\( -type d -printf '%Ts\n' \) -o -printf '\n') | sort
}

same_tree() {
	local a=$1 b=$2 what=$3
	# (diff cannot compare fifos: the listing does)
	diff -r --no-dereference --exclude=fifo "$a" "$b" \
		>"$tmp/diff.out" 2>&1 ||
		die "$what: diff -r $a $b: $(head -c 600 "$tmp/diff.out")"
	listing "$a" >"$tmp/list.a"
	listing "$b" >"$tmp/list.b"
	if ! cmp -s "$tmp/list.a" "$tmp/list.b"; then
		local n line
		n=$(diff "$tmp/list.a" "$tmp/list.b" | grep -c '^<' || true)
		line=$(cmp "$tmp/list.a" "$tmp/list.b" |
			sed 's/.* line //' || true)
		die "$what: metadata (type mode owner links size mtime) of" \
		    "$n entries differs; first: \"$(sed -n "${line}p" \
		    "$tmp/list.a")\" in $a, \"$(sed -n "${line}p" \
		    "$tmp/list.b")\" in $b"
	fi
}

expect() {
	local what=$1 want=$2 got=$3
	[[ $got == "$want" ]] || die "$what: expected \"$want\", got \"$got\""
}

# ---------------------------------------------------------------- setup
step "setup: region and two mounts"
truncate -s "${IVSHM_APPS_REGION:-1G}" "$region"
mount_fs "$mnt"
mount_fs "$mnt2"
# The second mount looks at the (empty) root first: its caches must follow.
expect "second mount's root at start" "" "$(ls -A "$mnt2")"

# ---------------------------------------------------------------- tar
step "tar: archive /usr/include"
tar -C /usr -cf "$tmp/include.tar" include
nfiles=$(find /usr/include | wc -l)
((nfiles > 1000)) || die "/usr/include has only $nfiles entries"

step "tar: extract $nfiles entries onto the mount"
mkdir "$mnt/tar"
tar -C "$mnt/tar" -xf "$tmp/include.tar"

step "tar: diff -r and metadata against /usr/include"
same_tree /usr/include "$mnt/tar/include" "extracted /usr/include"

step "tar: the second mount sees the same tree"
ok=0
for ((i = 0; i < 50; i++)); do
	[[ -d $mnt2/tar/include ]] && { ok=1; break; }
	sleep 0.1
done
((ok)) || die "the second mount does not see tar/include after 5 s"
same_tree /usr/include "$mnt2/tar/include" "/usr/include via the second mount"

step "tar: special files (hard links, symlinks, fifo, xattrs, sparse, names)"
src=$tmp/special
mkdir -p "$src/deep/a/b/c/d/e/f/g/h" "$src/empty dir"
echo "one body, three names" >"$src/linked"
ln "$src/linked" "$src/deep/linked2"
ln "$src/linked" "$src/linked3"
ln -s linked "$src/sym"
ln -s ../../nowhere "$src/dangling"
ln -s "$(printf 'x%.0s' {1..200})" "$src/longtarget"
mkfifo "$src/fifo"
: >"$src/empty"
printf 'spaces\n' >"$src/name with spaces"
printf 'utf8\n' >"$src/é-ü-ß-日本"
printf 'newline\n' >"$src/new"$'\n'"line"
printf 'long\n' >"$src/$(printf 'L%.0s' {1..255})"
printf 'deep\n' >"$src/deep/a/b/c/d/e/f/g/h/leaf"
head -c 100000 /dev/urandom >"$src/random"
truncate -s 8M "$src/sparse"
printf 'middle' | dd of="$src/sparse" bs=1 seek=4194304 conv=notrunc \
	status=none
printf 'end' | dd of="$src/sparse" bs=1 seek=$((8 * 1048576 - 3)) \
	conv=notrunc status=none
chmod 4755 "$src/random"
chmod 1777 "$src/empty dir"
chmod 0600 "$src/empty"
touch -h -d '2001-02-03 04:05:06' "$src/sym"
setfattr -n user.color -v blue "$src/linked"
setfattr -n user.big -v "$(printf 'v%.0s' {1..2000})" "$src/random"
setfattr -n user.empty "$src/empty"
tar --xattrs --xattrs-include='user.*' --sparse -C "$tmp" \
	-cf "$tmp/special.tar" special
tar --xattrs --xattrs-include='user.*' -C "$mnt/tar" -xf "$tmp/special.tar"
dst=$mnt/tar/special
same_tree "$src" "$dst" "special tree"
expect "hard links (link count)" "3" "$(stat -c %h "$dst/linked")"
expect "hard links (same inode)" "$(stat -c %i "$dst/linked")" \
	"$(stat -c %i "$dst/deep/linked2")"
expect "fifo type" "fifo" "$(stat -c %F "$dst/fifo")"
expect "symlink mtime" "$(stat -c %Y "$src/sym")" "$(stat -c %Y "$dst/sym")"
for f in linked random empty; do
	expect "xattrs of $f" "$(cd "$src" && getfattr -d -m - "$f")" \
		"$(cd "$dst" && getfattr -d -m - "$f")"
done
blocks=$(stat -c %b "$dst/sparse")
((blocks * 512 < 1048576)) ||
	die "the sparse 8 MiB file takes $((blocks * 512)) bytes on the mount"

step "cp -a: copy both trees on the mount, compare, rm -rf"
cp -a "$mnt/tar" "$mnt/copy"
same_tree /usr/include "$mnt/copy/include" "cp -a of include"
same_tree "$src" "$mnt/copy/special" "cp -a of the special tree"
expect "cp -a keeps hard links" "$(stat -c %i "$mnt/copy/special/linked")" \
	"$(stat -c %i "$mnt/copy/special/linked3")"
rm -rf "$mnt/copy"
[[ ! -e $mnt/copy ]] || die "rm -rf left $mnt/copy"
expect "root after rm -rf" "tar" "$(ls -A "$mnt")"
# Deleting the copy must not have touched the original (shared names).
expect "link count after the copy went" "3" "$(stat -c %h "$dst/linked")"
same_tree /usr/include "$mnt/tar/include" "include after rm -rf of the copy"

# ---------------------------------------------------------------- make
step "make: build a C project on the mount"
proj=$mnt/proj
mkdir "$proj"
cat >"$proj/calc.h" <<'EOF'
#ifndef CALC_H
#define CALC_H
long fib(int n);
long sum_to(int n);
#define GREETING "hello from the ivshm mount"
#endif
EOF
cat >"$proj/fib.c" <<'EOF'
#include "calc.h"
long fib(int n)
{
	long a = 0, b = 1;

	while (n-- > 0) {
		long t = a + b;

		a = b;
		b = t;
	}
	return a;
}
EOF
cat >"$proj/sum.c" <<'EOF'
#include "calc.h"
long sum_to(int n)
{
	long s = 0;

	for (int i = 1; i <= n; i++)
		s += i;
	return s;
}
EOF
cat >"$proj/main.c" <<'EOF'
#include <stdio.h>
#include "calc.h"
int main(void)
{
	printf("%s: fib(50)=%ld sum(1000)=%ld\n", GREETING, fib(50),
	       sum_to(1000));
	return 0;
}
EOF
# shellcheck disable=SC2016 # make's variables, not the shell's
printf '%s\n' \
	'CFLAGS = -O2 -Wall -Wextra -Werror' \
	'calc: main.o libcalc.a' \
	'	$(CC) -o $@ main.o libcalc.a' \
	'libcalc.a: fib.o sum.o' \
	'	$(AR) rcs $@ fib.o sum.o' \
	'%.o: %.c calc.h' \
	'	$(CC) $(CFLAGS) -c -o $@ $<' \
	'clean:' \
	'	rm -f calc *.o *.a' \
	'.PHONY: clean' >"$proj/Makefile"
want="hello from the ivshm mount: fib(50)=12586269025 sum(1000)=500500"
make -s -C "$proj" -j2 >"$tmp/make.out" 2>&1 ||
	die "make: $(head -c 600 "$tmp/make.out")"
expect "the program built on the mount" "$want" "$("$proj/calc")"

step "make: up to date, then rebuild after touching the header"
make -q -C "$proj" calc || die "make -q: not up to date right after make"
sleep 0.05
touch "$proj/calc.h"
if make -q -C "$proj" calc; then
	die "make -q: up to date although calc.h is newer"
fi
sed -i 's/hello from/greetings from/' "$proj/calc.h"
make -s -C "$proj" >"$tmp/make.out" 2>&1 ||
	die "make: $(head -c 600 "$tmp/make.out")"
expect "the rebuilt program" "${want/hello from/greetings from}" \
	"$("$proj/calc")"

step "make: clean"
make -s -C "$proj" clean
expect "files after make clean" "Makefile calc.h fib.c main.c sum.c" \
	"$(cd "$proj" && echo *)"

# ---------------------------------------------------------------- sqlite3
# Concurrent connections wait for each other's locks, as applications do.
sq() {
	sqlite3 -cmd '.timeout 10000' "$@"
}

sql_fill() {	# 9 transactions of 1000 rows, then 1000 single-row ones
	local db=$1 tx i
	sq "$db" "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT,
		       body BLOB, n INTEGER); CREATE INDEX t_n ON t(n);"
	for ((tx = 0; tx < 9; tx++)); do
		sq "$db" "BEGIN;
			INSERT INTO t(name, body, n)
			WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL
				SELECT x + 1 FROM c WHERE x < 1000)
			SELECT 'row ' || ($tx * 1000 + x),
			       randomblob(50 + (x * 37) % 900), $tx * 1000 + x
			FROM c;
			COMMIT;"
	done
	for ((i = 9001; i <= 10000; i++)); do
		echo "INSERT INTO t(name, body, n) VALUES ('row $i'," \
		     "randomblob($((i % 300))), $i);"
	done | sq "$db"
}

sql_check() {	# db, what, expected count, expected sum
	local db=$1 what=$2
	expect "$what: integrity_check" "ok" \
		"$(sq "$db" 'PRAGMA integrity_check;')"
	expect "$what: rows" "$3|$4" \
		"$(sq "$db" 'SELECT count(*), sum(n) FROM t;')"
}

step "sqlite3: 10,000 rows with a rollback journal"
mkdir "$mnt/sql"
db=$mnt/sql/rollback.db
sql_fill "$db"
expect "journal mode" "delete" "$(sq "$db" 'PRAGMA journal_mode;')"
sql_check "$db" "rollback journal" 10000 50005000

step "sqlite3: updates, deletes, VACUUM (rollback journal)"
sq "$db" "BEGIN; UPDATE t SET body = randomblob(2000) WHERE n % 7 = 0;
	DELETE FROM t WHERE n % 10 = 0; COMMIT; VACUUM;"
sql_check "$db" "after VACUUM" 9000 45000000
[[ ! -e $db-journal ]] || die "a journal was left behind"

step "sqlite3: 10,000 rows in WAL mode with a concurrent reader"
wal=$mnt/sql/wal.db
expect "journal_mode=WAL" "wal" \
	"$(sq "$wal" 'PRAGMA journal_mode=WAL;')"
# A reader polls the count while rows go in; it must never go down.
(
	last=0
	while [[ ! -e $tmp/writer.done ]]; do
		c=$(sq "$wal" \
			"SELECT count(*) FROM sqlite_master WHERE name = 't';")
		if [[ $c == 1 ]]; then
			c=$(sq "$wal" \
				'SELECT count(*) FROM t;')
			((c >= last)) ||
				{ echo "count went $last -> $c"; exit 1; }
			last=$c
		fi
		sleep 0.02
	done
	echo "reader ok, last count $last"
) >"$tmp/reader.out" 2>&1 &
reader=$!
sql_fill "$wal"
touch "$tmp/writer.done"
wait "$reader" || die "WAL reader: $(cat "$tmp/reader.out")"
echo "fuse_apps:   WAL $(tail -n 1 "$tmp/reader.out")"
sql_check "$wal" "WAL" 10000 50005000
sq "$wal" "UPDATE t SET name = 'x' || name WHERE n % 3 = 0;
	PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
sql_check "$wal" "WAL after checkpoint" 10000 50005000
expect "journal mode persists" "wal" \
	"$(sq "$wal" 'PRAGMA journal_mode;')"

step "sqlite3: both databases through the second mount"
for f in rollback.db wal.db; do
	expect "$f via the second mount: integrity_check" "ok" \
		"$(sq "file:$mnt2/sql/$f?immutable=1" \
			'PRAGMA integrity_check;')"
done
expect "rows via the second mount" "10000|50005000" \
	"$(sq "file:$mnt2/sql/wal.db?immutable=1" \
		'SELECT count(*), sum(n) FROM t;')"

# ---------------------------------------------------------------- git
step "git: init, add, commit"
repo=$mnt/git/repo
mkdir -p "$repo"
"${git[@]}" init -q "$repo"
cp -a "$proj/." "$repo/"
cp -a /usr/include/linux "$repo/linux"
(cd "$repo" && "${git[@]}" add -A && "${git[@]}" commit -q -m "first")
expect "git status after the first commit" "" \
	"$("${git[@]}" -C "$repo" status --porcelain)"
expect "git log after the first commit" "first" \
	"$("${git[@]}" -C "$repo" log --format=%s)"

step "git: modify, rename, delete, commit"
(
	cd "$repo"
	echo "/* changed */" >>main.c
	"${git[@]}" mv sum.c summing.c
	sed -i 's/sum\.o/summing.o/' Makefile
	"${git[@]}" rm -q -r linux/netfilter
	"${git[@]}" commit -q -a -m "second"
)
expect "git status after the second commit" "" \
	"$("${git[@]}" -C "$repo" status --porcelain)"
expect "git log" "second first" \
	"$("${git[@]}" -C "$repo" log --format=%s | tr '\n' ' ' | sed 's/ $//')"
make -s -C "$repo" >"$tmp/make.out" 2>&1 ||
	die "make in the repository: $(head -c 600 "$tmp/make.out")"
expect "program built in the repository" \
	"${want/hello from/greetings from}" "$("$repo/calc")"
make -s -C "$repo" clean
expect "git status after build and clean" "" \
	"$("${git[@]}" -C "$repo" status --porcelain)"

step "git: fsck, gc, fsck"
"${git[@]}" -C "$repo" fsck --full --strict --no-progress 2>"$tmp/fsck.out" ||
	die "git fsck: $(head -c 600 "$tmp/fsck.out")"
"${git[@]}" -C "$repo" gc -q --prune=now
"${git[@]}" -C "$repo" fsck --full --strict --no-progress 2>"$tmp/fsck.out" ||
	die "git fsck after gc: $(head -c 600 "$tmp/fsck.out")"
expect "loose objects after gc" "0" \
	"$("${git[@]}" -C "$repo" count-objects | cut -d' ' -f1)"

step "git: clone (hard links), checkout of the first commit"
"${git[@]}" clone -q "$repo" "$mnt/git/clone"
diff -r --exclude=.git "$repo" "$mnt/git/clone" >"$tmp/diff.out" ||
	die "clone differs: $(head -c 600 "$tmp/diff.out")"
"${git[@]}" -C "$mnt/git/clone" checkout -q HEAD~1
diff -r /usr/include/linux "$mnt/git/clone/linux" >"$tmp/diff.out" ||
	die "linux/ at the first commit differs: $(head -c 600 "$tmp/diff.out")"
"${git[@]}" -C "$mnt/git/clone" fsck --no-progress 2>"$tmp/fsck.out" ||
	die "git fsck in the clone: $(head -c 600 "$tmp/fsck.out")"

# ---------------------------------------------------------------- the end
step "unmount both, verify the region"
umount_fs "$mnt2"
umount_fs "$mnt"
if [[ -x $inspect ]]; then
	"$inspect" "$region" verify >"$tmp/verify.out" 2>&1 ||
		die "ivshm-inspect verify: $(head -c 800 "$tmp/verify.out")"
fi

step "remount: everything is still there"
mount_fs "$mnt"
same_tree /usr/include "$mnt/tar/include" "include after remount"
same_tree "$src" "$mnt/tar/special" "special tree after remount"
sql_check "$mnt/sql/wal.db" "WAL database after remount" 10000 50005000
sql_check "$mnt/sql/rollback.db" "rollback database after remount" 9000 \
	45000000
"${git[@]}" -C "$repo" fsck --full --no-progress 2>"$tmp/fsck.out" ||
	die "git fsck after remount: $(head -c 600 "$tmp/fsck.out")"
expect "git status after remount" "" \
	"$("${git[@]}" -C "$repo" status --porcelain)"

step "rm -rf everything"
rm -rf "$mnt/tar" "$mnt/proj" "$mnt/sql" "$mnt/git"
expect "root after removing everything" "" "$(ls -A "$mnt")"
umount_fs "$mnt"

echo "fuse_apps: passed in $((SECONDS - t_start)) s"
