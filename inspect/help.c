// SPDX-License-Identifier: MIT
/* The help of ivshm-inspect: the manual page, and per command. */
#include <string.h>

#include "inspect.h"

struct cmd_help {
	const char *name;
	const char *synopsis;
	const char *body;
};

static const struct cmd_help helps[] = {
	{ "info", "info",
"    The store at a glance: format version and uuid, geometry, capacity;\n"
"    used, free, live and reclaimable space (segments retired but not yet\n"
"    free, plus dead bytes in data segments); log head, checkpoint and\n"
"    where the log resumes; record counts by type; the namespace (inodes,\n"
"    files, directories, orphans, extents); peer slots and the lock.\n" },
	{ "peers", "peers [-a|--all] [-w|--wait MS]",
"    The peer table: slot, state, generation, doorbell id, pid, name,\n"
"    heartbeat, epoch, replay position, notified sequence, open data\n"
"    segment, attach time; and whether the store lock is held, by whom.\n"
"    On a region file the heartbeats of alive slots are watched for MS\n"
"    milliseconds (default 300, 0: not at all): LIVE says whether each\n"
"    moved. Slots never used are left out unless --all.\n" },
	{ "log", "log [--from SEQ] [--checkpoint] [--limit N] [--follow "
		 "[--interval MS]]",
"    The records of the meta log, one per line: sequence, writer's slot,\n"
"    type, inode, length, checksum state, and what the record says (names\n"
"    for DIRENT, byte ranges for EXTENT, PUNCH and MOVE, attributes for\n"
"    INODE, ...). LINK records, which chain the log's segments, are shown\n"
"    too. Reading stops at the first record that fails its checks; it is\n"
"    shown with CRC \"BAD\" when its bytes allow, and the exit status is 1.\n"
"    --from SEQ       start at sequence SEQ\n"
"    --checkpoint     show the current checkpoint's records first\n"
"                     (numbered #1, #2, ...: they summarise the log up to\n"
"                     the checkpoint's sequence, which was then freed)\n"
"    --limit N        stop after N records\n"
"    --follow         then keep reading a live region as records are\n"
"                     committed (head_seq is polled every --interval MS,\n"
"                     default 100) until interrupted; a checkpoint that\n"
"                     frees records before they were read is reported\n" },
	{ "segments", "segments [-a|--all] [-m|--map]",
"    The segment table: state, owner, allocation sequence, used and live\n"
"    bytes (live: what the replayed index still maps there), offset, and a\n"
"    note (log, log tail, checkpoint, open by a slot, retired at an\n"
"    epoch, not on the log, ...), after a map with one character per\n"
"    segment:\n"
"        .  free        ~  freeing     M  meta (on the log)\n"
"        m  meta not on the log        C  checkpoint\n"
"        c  checkpoint segment of no current checkpoint\n"
"        0-9  data, by tenths of live bytes    ?  unknown state\n"
"    Free segments are left out of the table unless --all; --map shows\n"
"    the map alone.\n" },
	{ "ls", "ls [-l|--long] [PATH]",
"    The entries of directory PATH (default /), sorted by name; for\n"
"    anything else, PATH itself. -l adds mode, links, owner, group, size\n"
"    (device numbers for devices), modification time and link targets.\n" },
	{ "stat", "stat [-L|--follow] PATH",
"    Everything the index holds about PATH: inode number, type, mode,\n"
"    owner, size, times to the nanosecond, generation, flags, the record\n"
"    that changed it last, xattrs, symlink target, parent and entry count\n"
"    of a directory, and the extent map of a file (file offset, length,\n"
"    segment, offset in the segment and in the region). A symbolic link\n"
"    is described itself unless -L.\n" },
	{ "cat", "cat PATH",
"    The contents of the regular file PATH on stdout: its extents copied\n"
"    out of the region, holes and zero extents as zeroes, up to its size.\n"
"    Symbolic links are followed. With --json the bytes come base64-\n"
"    encoded in \"data_base64\".\n" },
	{ "tree", "tree [PATH]",
"    The namespace under PATH (default /), names sorted, directories with\n"
"    a trailing /, symbolic links with their targets; then the counts,\n"
"    and the orphans (files unlinked while open, link count 0).\n" },
	{ "verify", "verify",
"    A full check, without attaching: the superblock (checksum,\n"
"    geometry), the checkpoint descriptor, every segment header and every\n"
"    record of the checkpoint and the log (bounds, sequence, checksum),\n"
"    then ivshm_verify() (core/verify.h): the namespace the records build\n"
"    (names point at inodes, link counts agree, each directory is named\n"
"    once) and space accounting (extents lie in data segments, the log in\n"
"    meta segments). Each fault is printed with what is wrong, where (the\n"
"    region offset; segment and offset; the record's sequence) and why;\n"
"    the exit status is then 1. Doubtful but harmless findings (a leaked\n"
"    meta segment, an orphan checkpoint segment, non-zero reserved bytes)\n"
"    are warnings.\n" },
	{ "dump", "dump [--level N] OUT",
"    A consistent snapshot of the region into the file OUT, gzip-\n"
"    compressed (level N, 1..9, default 1) when OUT ends in .gz, else a\n"
"    sparse copy. On a live region the metadata is taken first and every\n"
"    data segment the log refers to is checked afterwards to be the very\n"
"    same one; otherwise the dump starts over. OUT is written under a\n"
"    temporary name and renamed when complete.\n" },
	{ "restore", "restore [--force] [--reset-peers] IN",
"    Write the image IN (plain or gzip) into the region file REGION,\n"
"    created if it does not exist. Refused unless --force when: IN holds\n"
"    no valid store; REGION has another size (--force resizes it); or\n"
"    REGION is live, that is some alive peer slot's heartbeat moves\n"
"    (watched for 350 ms). While it is written the region cannot be taken\n"
"    for a store: the superblock comes back last, magic last of all.\n"
"    --reset-peers frees every peer slot and the lock in the restored\n"
"    region (a new generation fences their old owners).\n" },
	{ "format", "format [--segment-size N] [--slots N] [--size SIZE] "
		    "[--force]",
"    Format REGION as an empty store (ivshm_format): superblock, tables,\n"
"    the first meta segment and the root directory. The file must be a\n"
"    power of two from 1 MiB to 64 TiB large; --size creates it or, with\n"
"    --force, resizes it. --segment-size (a power of two from 64K to 64M;\n"
"    default: about 512 segments, at most 4M) and --slots (1..1024,\n"
"    default 64) shape it. A region that is not blank (a store, or any\n"
"    other data) is refused unless --force.\n" },
};

#define NHELP (sizeof(helps) / sizeof(helps[0]))

static const char head[] =
"NAME\n"
"    ivshm-inspect - look into an ivshm region without attaching to it\n"
"\n"
"SYNOPSIS\n"
"    ivshm-inspect [--json] [--quiet] REGION COMMAND [ARGS]\n"
"    ivshm-inspect --help | --version | help [COMMAND]\n"
"\n"
"DESCRIPTION\n"
"    Reads the log-structured store that ivshm keeps in QEMU ivshmem\n"
"    shared memory (docs/SPEC.md), as peers would see it, without joining\n"
"    them: no peer slot is claimed, nothing is written, and the region is\n"
"    only parsed, never trusted. A private index is built by replaying the\n"
"    checkpoint and the meta log, as a peer does when it attaches.\n"
"\n"
"    It is safe on a live region while peers write: what is needed is\n"
"    first copied into private memory in an order that makes the copy\n"
"    consistent (the superblock with head_seq, the tables, the log and\n"
"    checkpoint segments; the checkpoint generation checked again after),\n"
"    and data segments are checked, once copied, to be the ones the log\n"
"    refers to. Whatever moved meanwhile is taken again; after 50 attempts\n"
"    the command gives up with exit status 3.\n"
"\n"
"REGION\n"
"    A region file: /dev/shm/NAME (the POSIX shared memory object of\n"
"    ivshm-server -M NAME), a file on hugetlbfs (-m DIR), or any file\n"
"    holding a region, such as a plain image saved by dump; or a gzip-\n"
"    compressed image (recognised by its content, read through zlib).\n"
"    format and restore write REGION, which they may create.\n"
"\n"
"OPTIONS\n"
"    --json, -j   machine-readable output (below); also accepted after\n"
"                 COMMAND\n"
"    --quiet, -q  no progress lines (they are shown on stderr, only when\n"
"                 it is a terminal, for verify, dump, restore and large\n"
"                 images)\n"
"    -h, --help   this manual; COMMAND --help: that command's part\n"
"    -V, --version\n"
"\n"
"COMMANDS\n";

static const char tail[] =
"\n"
"OUTPUT\n"
"    Plain output is meant for people: aligned columns, sizes in binary\n"
"    units (KiB, MiB), local times. Names stored in the region are shown\n"
"    with control bytes and backslashes escaped (\\xNN, \\\\).\n"
"\n"
"    --json prints one JSON document on stdout (schema version 1):\n"
"        {\"schema\": 1, \"command\": \"info\", \"region\": \"...\",\n"
"         ...the command's members...,\n"
"         \"ok\": true, \"exit_status\": 0, \"warnings\": [...],\n"
"         \"error\": null | {\"message\": \"...\"}}\n"
"    Numbers are exact integers (64-bit; sizes in bytes, times in ns since\n"
"    the epoch). Names that are not valid UTF-8 come with a \"NAME_hex\"\n"
"    member holding their exact bytes. log --follow --json prints one\n"
"    compact document per line instead: a record, or an {\"event\": ...}\n"
"    (checkpoint, error). Members are only ever added to a schema\n"
"    version, never renamed or removed.\n"
"\n"
"EXIT STATUS\n"
"    0  success (verify: the store is sound)\n"
"    1  a fault was found, or the command failed or was refused; also when\n"
"       the store is damaged and only what precedes the fault was shown\n"
"    2  bad command line\n"
"    3  no consistent view: the region kept changing; try again\n"
"\n"
"EXAMPLES\n"
"    ivshm-inspect /dev/shm/ivshm info\n"
"    ivshm-inspect /dev/shm/ivshm log --follow\n"
"    ivshm-inspect /dev/shm/ivshm ls -l /docs\n"
"    ivshm-inspect --json /dev/shm/ivshm verify | python3 -m json.tool\n"
"    ivshm-inspect /dev/shm/ivshm dump /var/backups/ivshm.img.gz\n"
"    ivshm-inspect /dev/shm/copy restore /var/backups/ivshm.img.gz\n"
"    ivshm-inspect /dev/shm/new format --size 256M --segment-size 1M\n"
"\n"
"SEE ALSO\n"
"    ivshm-server(1), ivshm-fuse(1), docs/SPEC.md, docs/DESIGN.md\n";

static const struct cmd_help *find(const char *name)
{
	for (size_t i = 0; i < NHELP; i++)
		if (!strcmp(helps[i].name, name))
			return &helps[i];
	return NULL;
}

void help_full(FILE *f)
{
	fputs(head, f);
	for (size_t i = 0; i < NHELP; i++)
		fprintf(f, "  %s\n%s\n", helps[i].synopsis, helps[i].body);
	fputs(tail, f);
}

void help_usage(FILE *f)
{
	fprintf(f, "Usage: %s [--json] [--quiet] REGION COMMAND [ARGS]\n"
		"Commands:", INSP_NAME);
	for (size_t i = 0; i < NHELP; i++)
		fprintf(f, " %s", helps[i].name);
	fprintf(f, "\nTry '%s --help' for the manual.\n", INSP_NAME);
}

bool help_command(FILE *f, const char *name)
{
	const struct cmd_help *h = find(name);

	if (!h)
		return false;
	fprintf(f, "%s [--json] REGION %s\n%s", INSP_NAME, h->synopsis,
		h->body);
	return true;
}
