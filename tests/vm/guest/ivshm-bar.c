// SPDX-License-Identifier: MIT
/*
 * ivshm-bar: reach an ivshmem PCI device from guest userspace without a
 * driver, through its sysfs resource files: BAR0 (registers) and BAR2 (the
 * shared region). Linked statically so that it runs in the test guests'
 * busybox initramfs; the /test.sh scripts of tests/vm use it.
 *
 * Memory BARs must be mmapped: read() and write() on resourceN files only
 * work for I/O port BARs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define IVSHM_VENDOR 0x1af4
#define IVSHM_DEVICE 0x1110
#define REG_IVPOSITION 8
#define REG_DOORBELL 12

static const char *prog = "ivshm-bar";

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static unsigned long long number(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		die("bad %s", what);
	return v;
}

/* First line of a small sysfs file, as a number. */
static unsigned long long sysfs_number(const char *dir, const char *file)
{
	char path[512], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ~0ull;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return ~0ull;
	buf[n] = 0;
	return strtoull(buf, NULL, 0);
}

/*
 * The sysfs directory of the @index-th ivshmem device (in bus order, which
 * is the order of the -device options), or NULL; @count gets how many there
 * are.
 */
static char *find_device(unsigned int index, unsigned int *count)
{
	struct dirent **ents;
	char *found = NULL;
	int n;

	*count = 0;
	n = scandir(PCI_DEVICES, &ents, NULL, alphasort);
	if (n < 0)
		die("cannot list %s: %s", PCI_DEVICES, strerror(errno));
	for (int i = 0; i < n; i++) {
		char dir[512];

		snprintf(dir, sizeof(dir), "%s/%s", PCI_DEVICES,
			 ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' &&
		    sysfs_number(dir, "vendor") == IVSHM_VENDOR &&
		    sysfs_number(dir, "device") == IVSHM_DEVICE) {
			if (*count == index)
				found = strdup(dir);
			(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return found;
}

/* Memory decoding may be off when no driver enabled the device. */
static void enable_device(const char *dir)
{
	char path[512];
	int fd;

	if (sysfs_number(dir, "enable") != 0)
		return;
	snprintf(path, sizeof(path), "%s/enable", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		die("cannot enable %s: %s", dir, strerror(errno));
	close(fd);
}

/* Physical start of BAR @bar, from the "resource" table. */
static unsigned long long bar_start(const char *dir, int bar)
{
	char path[512], line[128];
	unsigned long long start = ~0ull;
	FILE *f;

	snprintf(path, sizeof(path), "%s/resource", dir);
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	for (int i = 0; i <= bar && fgets(line, sizeof(line), f); i++)
		start = strtoull(line, NULL, 0);
	fclose(f);
	return start;
}

struct bar {
	volatile uint8_t *p;	/* first byte of the BAR */
	size_t size;		/* BAR size */
};

/*
 * Map BAR @bar. The kernel maps whole pages starting with the page that
 * holds the BAR, so a small BAR (BAR0 is 256 bytes) that does not start on
 * a page boundary sits at the BAR's offset within the mapping.
 */
static struct bar map_bar(const char *dir, int bar)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bar b;
	char path[512];
	struct stat st;
	size_t in_page, len;
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/resource%d", dir, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st))
		die("cannot open %s: %s", path, strerror(errno));
	b.size = (size_t)st.st_size;
	in_page = (size_t)(bar_start(dir, bar) & (unsigned long long)(page - 1));
	len = (in_page + b.size + (size_t)page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("cannot mmap %s: %s", path, strerror(errno));
	close(fd);
	b.p = (volatile uint8_t *)p + in_page;
	return b;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "deadbeef" -> bytes; returns the length. */
static size_t parse_hex(const char *s, uint8_t **out)
{
	size_t n = strlen(s) / 2;
	uint8_t *b;

	if (!n || strlen(s) % 2)
		die("bad hex bytes '%s'", s);
	b = malloc(n);
	if (!b)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			die("bad hex bytes '%s'", s);
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	return n;
}

static void check_range(const struct bar *b, unsigned long long off,
			unsigned long long len)
{
	if (off > b->size || len > b->size - off)
		die("range 0x%llx+%llu is beyond the end of BAR2 (%zu bytes)",
		    off, len, b->size);
}

static void print_hex(const struct bar *b, size_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", b->p[off + i]);
	putchar('\n');
}

/* Index of the first byte that differs, or -1 when BAR2 holds @want. */
static long mismatch(const struct bar *b, size_t off, const uint8_t *want,
		     size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b->p[off + i] != want[i])
			return (long)i;
	return -1;
}

static int cmd_expect(const struct bar *b, size_t off, const char *hex,
		      double secs)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	long waited_ms = 0;
	uint8_t *want;
	size_t len = parse_hex(hex, &want);
	long bad;

	check_range(b, off, len);
	while ((bad = mismatch(b, off, want, len)) >= 0 &&
	       waited_ms < (long)(secs * 1000)) {
		nanosleep(&nap, NULL);
		waited_ms += 10;
	}
	if (bad < 0)
		return 0;
	fprintf(stderr, "%s: BAR2 at 0x%zx: byte 0x%zx is %02x, expected %02x"
		"\n  expected %s\n  found    ", prog, off, off + (size_t)bad,
		b->p[off + (size_t)bad], want[bad], hex);
	fflush(stderr);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%02x", b->p[off + i]);
	fputc('\n', stderr);
	return 1;
}

static void usage(void)
{
	fprintf(stderr,
"usage: %s [-i INDEX] COMMAND [ARG]...\n"
"Access ivshmem device INDEX (default 0, in PCI bus order) via sysfs.\n"
"  find               print the device's sysfs directory\n"
"  count              print how many ivshmem devices there are\n"
"  size               print the size of BAR2 (the shared region)\n"
"  ivposition         print our peer id (BAR0 offset 8)\n"
"  read OFF LEN       print LEN bytes of BAR2 at OFF as hex\n"
"  write OFF HEX      store the bytes HEX (e.g. deadbeef) at BAR2+OFF\n"
"  expect OFF HEX     fail, showing both, unless BAR2+OFF holds HEX\n"
"  wait OFF HEX SECS  like expect, polling for up to SECS seconds\n"
"  ring PEER VECTOR   ring a doorbell: (PEER<<16)|VECTOR to BAR0 offset 12\n"
"Numbers may be decimal or 0x hex. Exit status 1 on any failure.\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int index = 0, count;
	struct bar regs, mem;
	const char *cmd;
	char *dir;
	int opt;

	while ((opt = getopt(argc, argv, "i:h")) != -1) {
		if (opt == 'i')
			index = (unsigned int)number(optarg, "index");
		else
			usage();
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	argv += optind + 1;
	argc -= optind + 1;

	dir = find_device(index, &count);
	if (!strcmp(cmd, "count") && !argc) {
		printf("%u\n", count);
		return 0;
	}
	if (!dir)
		die("no ivshmem device (PCI 1af4:1110) with index %u: found %u",
		    index, count);
	if (!strcmp(cmd, "find") && !argc) {
		printf("%s\n", dir);
		return 0;
	}
	enable_device(dir);
	regs = map_bar(dir, 0);
	mem = map_bar(dir, 2);

	if (!strcmp(cmd, "size") && !argc) {
		printf("%zu\n", mem.size);
	} else if (!strcmp(cmd, "ivposition") && !argc) {
		printf("%u\n", *(volatile uint32_t *)(regs.p + REG_IVPOSITION));
	} else if (!strcmp(cmd, "read") && argc == 2) {
		unsigned long long off = number(argv[0], "offset");
		unsigned long long len = number(argv[1], "length");

		check_range(&mem, off, len);
		print_hex(&mem, (size_t)off, (size_t)len);
	} else if (!strcmp(cmd, "write") && argc == 2) {
		unsigned long long off = number(argv[0], "offset");
		uint8_t *b;
		size_t len = parse_hex(argv[1], &b);

		check_range(&mem, off, len);
		for (size_t i = 0; i < len; i++)
			mem.p[off + i] = b[i];
	} else if (!strcmp(cmd, "expect") && argc == 2) {
		return cmd_expect(&mem, (size_t)number(argv[0], "offset"),
				  argv[1], 0);
	} else if (!strcmp(cmd, "wait") && argc == 3) {
		return cmd_expect(&mem, (size_t)number(argv[0], "offset"),
				  argv[1], (double)number(argv[2], "seconds"));
	} else if (!strcmp(cmd, "ring") && argc == 2) {
		unsigned long long peer = number(argv[0], "peer");
		unsigned long long vec = number(argv[1], "vector");

		if (peer > 0xffff || vec > 0xffff)
			die("peer and vector are 16-bit numbers");
		/* Earlier stores to BAR2 must reach memory before the ring. */
		__sync_synchronize();
		*(volatile uint32_t *)(regs.p + REG_DOORBELL) =
			(uint32_t)(peer << 16 | vec);
	} else {
		usage();
	}
	return 0;
}
