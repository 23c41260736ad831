// SPDX-License-Identifier: MIT
/* ivshm-server's command line: QEMU contrib server's flags plus -c and -G. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>

#include "ivshm_server.h"
#include "../core/units.h"

void ivshm_server_config_init(struct ivshm_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = IVSHM_SERVER_DEFAULT_SOCKET;
	cfg->shm_name = IVSHM_SERVER_DEFAULT_SHM;
	cfg->size = IVSHM_SERVER_DEFAULT_SIZE;
	cfg->vectors = 1;
	cfg->max_peers = IVSHM_SERVER_DEFAULT_MAX_PEERS;
}

void ivshm_server_usage(FILE *out)
{
	fprintf(out,
"Usage: ivshm-server [OPTION]...\n"
"The ivshm doorbell server: hands QEMU ivshmem-doorbell devices (and ivshm\n"
"host peers) the shared region and each other's interrupt eventfds, using\n"
"QEMU's ivshmem-server protocol.\n"
"\n"
"  -S PATH   UNIX socket to listen on (default " IVSHM_SERVER_DEFAULT_SOCKET ").\n"
"            A stale socket file (nobody listening) is replaced; a live one\n"
"            is refused.\n"
"  -M NAME   POSIX shm object holding the region, /dev/shm/NAME\n"
"            (default " IVSHM_SERVER_DEFAULT_SHM "). With -m, the file name in DIR.\n"
"  -m DIR    keep the region as the file DIR/NAME instead, e.g. on a\n"
"            hugetlbfs mount (-m /dev/hugepages).\n"
"  -l SIZE   region size, with K, M, G or T suffix (default 4M). Must be a\n"
"            power of two, at least 4K (QEMU aborts otherwise). An existing\n"
"            region is reused as it is: its data survives; -l must then\n"
"            match its size or be left out.\n"
"  -n N      interrupt vectors per peer, 1..%u (default 1).\n"
"  -c N      most peers connected at once, 1..65536 (default %u); more\n"
"            are refused.\n"
"  -G GROUP  grant GROUP read/write on the socket and a new region\n"
"            (default: owner only; whoever can connect gets the region).\n"
"  -p FILE   write the pid to FILE, removed at exit (default in daemon\n"
"            mode: " IVSHM_SERVER_DEFAULT_PIDFILE ").\n"
"  -F        stay in the foreground, logging to stderr (default: become\n"
"            a daemon, logging to syslog).\n"
"  -v        verbose: log every connection and message.\n"
"  -h        show this help.\n"
"\n"
"SIGINT or SIGTERM stop the server: peers are told, the socket is removed,\n"
"the region is never deleted or truncated.\n"
"Example: ivshm-server -F -S /run/ivshm.sock -M ivshm -l 64M -n 4\n"
"then: qemu-system-x86_64 ... -chardev socket,path=/run/ivshm.sock,id=iv \\\n"
"        -device ivshmem-doorbell,chardev=iv,vectors=4\n",
		IVSHM_SERVER_MAX_VECTORS, IVSHM_SERVER_DEFAULT_MAX_PEERS);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

static int parse_group(const char *s, gid_t *gid)
{
	struct group *gr = getgrnam(s);
	unsigned int n;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_uint(s, 0, 0x7fffffff, &n))
		return -1;
	*gid = (gid_t)n;
	return 0;
}

static int check_size(uint64_t size, FILE *err)
{
	char a[32], b[32];

	if (size < 4096) {
		fprintf(err, "ivshm-server: -l %s is too small: QEMU needs at "
			"least 4K, try -l 4K\n", ivshm_format_size(size, a, 32));
		return -1;
	}
	if (size > (1ull << 62)) {
		fprintf(err, "ivshm-server: -l %s is larger than any region "
			"can be\n", ivshm_format_size(size, a, 32));
		return -1;
	}
	if (!ivshm_is_pow2(size)) {
		fprintf(err, "ivshm-server: -l %s is not a power of two: QEMU "
			"aborts on it, try -l %s\n",
			ivshm_format_size(size, a, 32),
			ivshm_format_size_flag(ivshm_pow2_ceil(size), b, 32));
		return -1;
	}
	return 0;
}

int ivshm_server_parse_args(int argc, char **argv,
			    struct ivshm_server_config *cfg, FILE *out,
			    FILE *err)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool pidfile_given = false;
	int c;

	optind = 0; /* 0, not 1: also resets glibc's position in a cluster */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hvFp:S:m:M:l:n:c:G:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			ivshm_server_usage(out);
			return 1;
		case 'v':
			cfg->verbose = true;
			break;
		case 'F':
			cfg->foreground = true;
			break;
		case 'p':
			cfg->pidfile = optarg;
			pidfile_given = true;
			break;
		case 'S':
			cfg->socket_path = optarg;
			break;
		case 'M':
			cfg->shm_name = optarg;
			break;
		case 'm':
			cfg->shm_dir = optarg;
			break;
		case 'l':
			if (ivshm_parse_size(optarg, &cfg->size)) {
				fprintf(err, "ivshm-server: -l '%s' is not a "
					"size (examples: 4096, 64K, 4M, 2G)\n",
					optarg);
				return -1;
			}
			if (check_size(cfg->size, err))
				return -1;
			cfg->size_given = true;
			break;
		case 'n':
			if (parse_uint(optarg, 1, IVSHM_SERVER_MAX_VECTORS,
				       &cfg->vectors)) {
				fprintf(err, "ivshm-server: -n '%s': vectors "
					"must be 1..%u\n", optarg,
					IVSHM_SERVER_MAX_VECTORS);
				return -1;
			}
			break;
		case 'c':
			if (parse_uint(optarg, 1, 65536, &cfg->max_peers)) {
				fprintf(err, "ivshm-server: -c '%s': peers "
					"must be 1..65536\n", optarg);
				return -1;
			}
			break;
		case 'G':
			if (parse_group(optarg, &cfg->group)) {
				fprintf(err, "ivshm-server: -G '%s': no such "
					"group\n", optarg);
				return -1;
			}
			cfg->group_given = true;
			break;
		case ':':
			fprintf(err, "ivshm-server: option -%c needs a value "
				"(see -h)\n", optopt);
			return -1;
		default:
			if (optopt)
				fprintf(err, "ivshm-server: unknown option "
					"'-%c' (see -h)\n", optopt);
			else
				fprintf(err, "ivshm-server: unknown option "
					"'%s' (see -h)\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(err, "ivshm-server: unexpected argument '%s' (see -h)\n",
			argv[optind]);
		return -1;
	}
	if (!*cfg->socket_path || !*cfg->shm_name) {
		fprintf(err, "ivshm-server: -S and -M must not be empty\n");
		return -1;
	}
	if (strchr(cfg->shm_name, '/')) {
		fprintf(err, "ivshm-server: -M '%s': a name, not a path (use "
			"-m DIR for a directory)\n", cfg->shm_name);
		return -1;
	}
	if (!cfg->foreground && !pidfile_given)
		cfg->pidfile = IVSHM_SERVER_DEFAULT_PIDFILE;
	return 0;
}
