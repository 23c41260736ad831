// SPDX-License-Identifier: MIT
/*
 * Torture: several peers on one region, each doing random operations in its
 * own subdirectory, checked against a model that applies the same
 * operations in memory; plus a shared directory where only contention-safe
 * facts are checked (O_EXCL races, rename races that preserve a multiset of
 * inodes), and cross-peer linearizability (a change another peer announced
 * as done is seen by the next operation). Peers are threads with their own
 * device and fs, or forked processes. A fresh peer checks everything at the
 * end, then ivshm_verify.
 *
 * Below them, "regressions": the bugs this torture found, each reduced to
 * a few steps. Run one part with "test_model threads|fork|regressions".
 *
 * IVSHM_SEED=n replays with another seed (the interleaving of peers is not
 * reproducible, each peer's operations are); IVSHM_PEERS=n uses fewer
 * peers; IVSHM_KEEP=1 keeps the region of a failed run in /dev/shm.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_int.h"	/* white-box regressions: reclaim, segment hint */
#include "torture.h"

#define REGION (8ull << 20)
#define PEERS 8		/* at most; $IVSHM_PEERS may ask for fewer */
#define BUDGET (192u << 10)	/* live bytes per peer (a fifth in all) */
#define CHURN (6 * REGION)	/* written in all before stopping */
#define MIN_CHURN (2 * REGION)	/* less than that when time is up: fail */
#define MAX_MS 15000		/* per form */
#define MIN_OPS 300		/* per peer */
#define CHECK_EVERY 40		/* model ops between self-checks */
#define RACE_MAX 2048		/* O_EXCL rounds; names stay, never reused */
#define REN_NAMES 24
#define REN_INIT 12
#define REN_MAX 4096
#define HIST 12

struct ident {
	uint64_t ino, gen;
};

/* Everything peers share: in a MAP_SHARED mapping, for threads and forks. */
struct shared {
	uint64_t seed;
	int npeers;
	char path[64];
	int64_t deadline_ms;
	uint64_t failed, written, ops;
	uint64_t shared_ino, ren_ino, lin_ino;
	/* O_EXCL races: x<round> in shared/ */
	uint64_t round, losses, max_lost;
	uint64_t wins[RACE_MAX];
	uint64_t win_ino[RACE_MAX];
	/* rename races in shared/ren: created = survivors + replaced */
	uint64_t ncreated, nreplaced, renames;
	struct ident created[REN_MAX];
	uint64_t replaced[REN_MAX];
	/* linearizability: values and names announced once done */
	uint64_t lin_try[PEERS], lin_pub[PEERS], name_pub[PEERS];
	uint64_t lin_checks;
	struct t_model model[PEERS];
};

struct peer {
	struct shared *sh;
	int k;
	struct t_rng r;
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct t_model *m;
	uint64_t nops, lin_val, lin_name;
	char cur[480];
	char hist[HIST][480];
	unsigned int nhist;
};

static const struct t_mix mix = { .w = {
	[T_CREATE] = 12, [T_MKDIR] = 4, [T_WRITE] = 26, [T_TRUNC] = 5,
	[T_READ] = 10, [T_UNLINK] = 8, [T_RMDIR] = 3, [T_RENAME] = 10,
	[T_LINK] = 4, [T_SETX] = 5, [T_GETX] = 3, [T_REMX] = 2,
	[T_STALE] = 1, [T_CKPT] = 1, [T_CLEAN] = 1,
} };

static uint64_t ld(uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint64_t add(uint64_t *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

static void peer_fail(struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Say what broke, with the seed and the last operations, and stop all. */
static void peer_fail(struct peer *p, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	flockfile(stderr);
	fprintf(stderr, "\nFAIL seed %llu peer %d op #%llu: %s\n  during: %s\n",
		(unsigned long long)p->sh->seed, p->k,
		(unsigned long long)p->nops, msg, p->cur);
	for (unsigned int i = p->nhist > HIST ? p->nhist - HIST : 0;
	     i < p->nhist; i++)
		fprintf(stderr, "  before: %s\n", p->hist[i % HIST]);
	if (p->dev) {
		/* Not quiescent: a hint only. */
		t_seg_summary(p->dev, msg, sizeof(msg));
		fprintf(stderr, "  %s\n", msg);
		if (t_verify(p->dev, msg, sizeof(msg)))
			fprintf(stderr, "  live %s\n", msg);
	}
	funlockfile(stderr);
	add(&p->sh->failed, 1);
}

static void note(struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct peer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nhist)
		memcpy(p->hist[(p->nhist - 1) % HIST], p->cur, sizeof(p->cur));
	p->nhist++;
	va_start(ap, fmt);
	vsnprintf(p->cur, sizeof(p->cur), fmt, ap);
	va_end(ap);
}

/*
 * ---- O_EXCL: exactly one peer creates each x<round> ----
 * Peers read the round, then race to create its name; the winner moves the
 * round on. A peer may read a stale round: the name still exists then, so
 * it must lose.
 */

static int race_op(struct peer *p)
{
	struct shared *sh = p->sh;
	uint64_t r = ld(&sh->round), expect = r;
	struct ivshm_attr a;
	char name[32];
	int rc;

	if (r >= RACE_MAX)
		return 0;
	snprintf(name, sizeof(name), "x%llu", (unsigned long long)r);
	note(p, "O_EXCL race: create shared/%s", name);
	rc = ivshm_fs_mknod(p->fs, sh->shared_ino, name, IVSHM_S_IFREG | 0600,
			    0, 0, 0, &a);
	if (rc == -EEXIST) {
		add(&sh->losses, 1);
		for (uint64_t m = ld(&sh->max_lost); m < r + 1 &&
		     !__atomic_compare_exchange_n(&sh->max_lost, &m, r + 1,
						  false, __ATOMIC_SEQ_CST,
						  __ATOMIC_SEQ_CST);)
			;
		return 0;
	}
	if (rc) {
		peer_fail(p, "O_EXCL create returned %d", rc);
		return -1;
	}
	st(&sh->win_ino[r], a.ino);
	if (add(&sh->wins[r], 1)) {
		peer_fail(p, "a second peer created %s", name);
		return -1;
	}
	if (!__atomic_compare_exchange_n(&sh->round, &expect, r + 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		peer_fail(p, "round %llu moved on without its winner",
			  (unsigned long long)r);
		return -1;
	}
	return 0;
}

/* ---- rename races in shared/ren, files only ---- */

static void ren_name(char *buf, size_t n, uint64_t i)
{
	snprintf(buf, n, "r%llu", (unsigned long long)(i % REN_NAMES));
}

static int ren_create(struct peer *p)
{
	struct shared *sh = p->sh;
	struct ivshm_attr a;
	char name[16];
	uint64_t i;
	int rc;

	ren_name(name, sizeof(name), t_rand(&p->r));
	note(p, "rename race: create ren/%s", name);
	if (ld(&sh->ncreated) >= REN_MAX - PEERS)
		return 0;
	rc = ivshm_fs_mknod(p->fs, sh->ren_ino, name, IVSHM_S_IFREG | 0600, 0,
			    0, 0, &a);
	if (rc == -EEXIST)
		return 0;
	if (rc) {
		peer_fail(p, "create returned %d", rc);
		return -1;
	}
	i = add(&sh->ncreated, 1);
	sh->created[i] = (struct ident){ a.ino, a.generation };
	return 0;
}

static int ren_rename(struct peer *p)
{
	static const unsigned int fl[] = { 0, IVSHM_RENAME_NOREPLACE,
					   IVSHM_RENAME_EXCHANGE };
	struct shared *sh = p->sh;
	unsigned int f = fl[t_below(&p->r, 3)];
	uint64_t replaced = 0;
	char a[16], b[16];
	int rc;

	ren_name(a, sizeof(a), t_rand(&p->r));
	ren_name(b, sizeof(b), t_rand(&p->r));
	note(p, "rename race: ren/%s -> ren/%s flags %u", a, b, f);
	rc = ivshm_fs_rename(p->fs, sh->ren_ino, a, sh->ren_ino, b, f, false,
			     &replaced);
	if (rc == -ENOENT || (rc == -EEXIST && f == IVSHM_RENAME_NOREPLACE))
		return 0;
	if (rc || (replaced && f)) {
		peer_fail(p, "rename returned %d, replaced %llu", rc,
			  (unsigned long long)replaced);
		return -1;
	}
	add(&sh->renames, 1);
	if (replaced)
		sh->replaced[add(&sh->nreplaced, 1)] = replaced;
	return 0;
}

/* ---- linearizability across peers ---- */

static int lin_write(struct peer *p)
{
	struct shared *sh = p->sh;
	uint64_t v = ++p->lin_val;
	int64_t rc;

	note(p, "lin: write %llu at slot %d", (unsigned long long)v, p->k);
	st(&sh->lin_try[p->k], v);
	rc = ivshm_fs_write(p->fs, sh->lin_ino, 8u * (unsigned int)p->k, &v,
			    8, NULL);
	if (rc != 8) {
		peer_fail(p, "write returned %lld", (long long)rc);
		return -1;
	}
	st(&sh->lin_pub[p->k], v); /* only now: the write has returned */
	return 0;
}

static int lin_read(struct peer *p)
{
	struct shared *sh = p->sh;
	int j = (int)t_below(&p->r, (uint64_t)p->sh->npeers);
	uint64_t pub = ld(&sh->lin_pub[j]), v = 0, tried;
	int64_t rc;

	note(p, "lin: read slot %d, announced %llu", j,
	     (unsigned long long)pub);
	rc = ivshm_fs_read(p->fs, sh->lin_ino, 8u * (unsigned int)j, &v, 8);
	tried = ld(&sh->lin_try[j]);
	add(&sh->lin_checks, 1);
	if (rc != 8 || v < pub || v > tried) {
		peer_fail(p, "stale or bad read: %lld bytes, value %llu; peer "
			  "%d announced %llu done, tried up to %llu",
			  (long long)rc, (unsigned long long)v, j,
			  (unsigned long long)pub, (unsigned long long)tried);
		return -1;
	}
	return 0;
}

/* Names: create l<k>_<n>, announce n, then remove l<k>_<n-1>. */
static int lin_name(struct peer *p)
{
	struct shared *sh = p->sh;
	uint64_t n = ++p->lin_name;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "l%d_%llu", p->k, (unsigned long long)n);
	note(p, "lin: create shared/%s", name);
	rc = ivshm_fs_mknod(p->fs, sh->shared_ino, name, IVSHM_S_IFREG | 0600,
			    0, 0, 0, NULL);
	if (rc) {
		peer_fail(p, "create returned %d", rc);
		return -1;
	}
	st(&sh->name_pub[p->k], n);
	if (n == 1)
		return 0;
	snprintf(name, sizeof(name), "l%d_%llu", p->k,
		 (unsigned long long)(n - 1));
	rc = ivshm_fs_unlink(p->fs, sh->shared_ino, name, false, NULL);
	if (rc)
		peer_fail(p, "unlink of %s returned %d", name, rc);
	return rc ? -1 : 0;
}

static int lin_lookup(struct peer *p)
{
	struct shared *sh = p->sh;
	int j = (int)t_below(&p->r, (uint64_t)p->sh->npeers);
	uint64_t n = ld(&sh->name_pub[j]);
	struct ivshm_attr a;
	char name[32];
	int rc;

	if (!n)
		return 0;
	snprintf(name, sizeof(name), "l%d_%llu", j, (unsigned long long)n);
	note(p, "lin: lookup shared/%s", name);
	rc = ivshm_fs_lookup(p->fs, sh->shared_ino, name, &a);
	add(&sh->lin_checks, 1);
	/* Gone only once the next one was announced. */
	if (rc == -ENOENT && ld(&sh->name_pub[j]) == n)
		rc = -ESTALE;
	if (rc && rc != -ENOENT) {
		peer_fail(p, "lookup of a name announced as created returned "
			  "%d", rc == -ESTALE ? -ENOENT : rc);
		return -1;
	}
	return 0;
}

/* ---- one peer ---- */

static int shared_op(struct peer *p)
{
	switch (t_below(&p->r, 8)) {
	case 0:
	case 1:
		return race_op(p);
	case 2:
		return ren_create(p);
	case 3:
	case 4:
		return ren_rename(p);
	case 5:
		return lin_write(p);
	case 6:
		return t_below(&p->r, 2) ? lin_read(p) : lin_lookup(p);
	default:
		return t_below(&p->r, 2) ? lin_name(p) : lin_lookup(p);
	}
}

static int model_op(struct peer *p)
{
	char why[400], desc[440];
	struct t_op op;

	t_op_random(p->m, &p->r, &mix, &op);
	t_op_desc(p->m, &op, desc, sizeof(desc));
	note(p, "%s", desc);
	if (t_exec(p->fs, p->m, &op, why, sizeof(why))) {
		peer_fail(p, "%s", why);
		return -1;
	}
	if (op.kind == T_WRITE)
		add(&p->sh->written, op.len);
	return 0;
}

static int self_check(struct peer *p)
{
	char why[400];

	note(p, "check of own subtree p%d", p->k);
	if (t_check(p->fs, p->m, false, why, sizeof(why))) {
		peer_fail(p, "%s", why);
		return -1;
	}
	return 0;
}

static bool time_to_stop(struct peer *p)
{
	struct shared *sh = p->sh;

	if (ld(&sh->failed))
		return true;
	if (t_now_ms() > sh->deadline_ms)
		return true;
	return p->nops >= MIN_OPS && ld(&sh->written) >= CHURN;
}

static int peer_loop(struct peer *p)
{
	unsigned int since_check = 0;

	while (!time_to_stop(p)) {
		int rc;

		p->nops++;
		add(&p->sh->ops, 1);
		if (t_below(&p->r, 5) == 0) {
			rc = shared_op(p);
		} else {
			rc = model_op(p);
			if (!rc && ++since_check == CHECK_EVERY) {
				since_check = 0;
				rc = self_check(p);
			}
		}
		if (rc)
			return -1;
	}
	return ld(&p->sh->failed) ? 0 : self_check(p);
}

static void peer_main(struct shared *sh, int k)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct ivshm_attr a;
	char name[16];
	int rc;

	if (!p)
		abort();
	p->sh = sh;
	p->k = k;
	p->m = &sh->model[k];
	t_rng_init(&p->r, sh->seed * 1000003u + (uint64_t)k);
	snprintf(name, sizeof(name), "p%d", k);
	note(p, "attach and mkdir /%s", name);
	rc = t_open(sh->path, name, 0, false, &p->dev, &p->fs);
	if (!rc)
		rc = ivshm_fs_mknod(p->fs, IVSHM_ROOT_INO, name,
				    IVSHM_S_IFDIR | 0755, 0, 0, 0, &a);
	if (rc) {
		peer_fail(p, "returned %d", rc);
	} else {
		t_model_init(p->m, a.ino, BUDGET);
		peer_loop(p);
	}
	t_close(p->dev, p->fs);
	free(p);
}

/* ---- the parent ---- */

static struct shared *shared_new(const char *path)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const char *np = getenv("IVSHM_PEERS");

	if (sh == MAP_FAILED)
		return NULL;
	sh->seed = t_seed(20240611);
	sh->npeers = np && atoi(np) > 0 && atoi(np) < PEERS ? atoi(np) : PEERS;
	snprintf(sh->path, sizeof(sh->path), "%s", path);
	return sh;
}

static int mk(struct ivshm_fs *fs, uint64_t dir, const char *name,
	      uint32_t mode, struct ivshm_attr *a)
{
	return ivshm_fs_mknod(fs, dir, name, mode, 0, 0, 0, a);
}

/* Format, and lay out shared/, shared/ren/r0.. and shared/lin. */
static int layout(struct shared *sh)
{
	uint8_t zero[8 * PEERS] = { 0 };
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	struct ivshm_attr a = { 0 };
	char name[16];
	int rc = t_open(sh->path, "layout", 0, true, &dev, &fs);

	if (rc)
		return rc;
	rc = mk(fs, IVSHM_ROOT_INO, "shared", IVSHM_S_IFDIR | 0777, &a);
	sh->shared_ino = a.ino;
	if (!rc)
		rc = mk(fs, sh->shared_ino, "ren", IVSHM_S_IFDIR | 0777, &a);
	sh->ren_ino = a.ino;
	for (int i = 0; !rc && i < REN_INIT; i++) {
		ren_name(name, sizeof(name), (uint64_t)i);
		rc = mk(fs, sh->ren_ino, name, IVSHM_S_IFREG | 0600, &a);
		sh->created[sh->ncreated++] = (struct ident){ a.ino,
							      a.generation };
	}
	if (!rc)
		rc = mk(fs, sh->shared_ino, "lin", IVSHM_S_IFREG | 0600, &a);
	sh->lin_ino = a.ino;
	if (!rc && ivshm_fs_write(fs, sh->lin_ino, 0, zero, sizeof(zero),
				  NULL) != sizeof(zero))
		rc = -EIO;
	t_close(dev, fs);
	return rc;
}

static int final_fail(struct shared *sh, const char *what, const char *why)
{
	fprintf(stderr, "\nFAIL seed %llu, final check: %s: %s\n",
		(unsigned long long)sh->seed, what, why);
	return -1;
}

static int check_races(struct shared *sh, struct ivshm_fs *fs)
{
	uint64_t rounds = sh->round;
	struct ivshm_attr a;
	char name[32], why[160];

	if (sh->max_lost > rounds) {
		snprintf(why, sizeof(why), "EEXIST on round %llu, which nobody "
			 "won", (unsigned long long)sh->max_lost - 1);
		return final_fail(sh, "O_EXCL", why);
	}
	for (uint64_t r = 0; r < rounds; r++) {
		int rc;

		snprintf(name, sizeof(name), "x%llu", (unsigned long long)r);
		rc = ivshm_fs_lookup(fs, sh->shared_ino, name, &a);
		if (sh->wins[r] != 1 || rc || a.ino != sh->win_ino[r]) {
			snprintf(why, sizeof(why), "%s: %llu winners, lookup "
				 "%d", name, (unsigned long long)sh->wins[r],
				 rc);
			return final_fail(sh, "O_EXCL", why);
		}
	}
	return 0;
}

struct ren_list {
	uint64_t ino[REN_NAMES + 4];
	unsigned int n;
};

static int ren_entry(void *arg, const char *name, uint64_t ino, uint32_t dt,
		     uint64_t next)
{
	struct ren_list *l = arg;

	(void)dt, (void)next;
	if (name[0] != '.' && l->n < REN_NAMES + 4)
		l->ino[l->n++] = ino;
	return 0;
}

static unsigned int count_of(const uint64_t *v, uint64_t n, uint64_t ino)
{
	unsigned int c = 0;

	for (uint64_t i = 0; i < n; i++)
		c += v[i] == ino;
	return c;
}

/* Each created inode either survives under one name or was replaced once. */
static int check_renames(struct shared *sh, struct ivshm_fs *fs)
{
	struct ren_list l = { .n = 0 };
	uint64_t *made = calloc(REN_MAX, sizeof(*made));
	char why[200] = "";

	if (!made)
		abort();
	for (uint64_t i = 0; i < sh->ncreated; i++)
		made[i] = sh->created[i].ino;
	if (ivshm_fs_readdir(fs, sh->ren_ino, 0, ren_entry, &l))
		snprintf(why, sizeof(why), "readdir failed");
	for (unsigned int i = 0; !why[0] && i < l.n; i++) {
		struct ivshm_attr a;
		bool known = false;

		if (count_of(l.ino, l.n, l.ino[i]) != 1 ||
		    ivshm_fs_getattr(fs, l.ino[i], &a))
			snprintf(why, sizeof(why), "inode %llu listed twice "
				 "or missing", (unsigned long long)l.ino[i]);
		for (uint64_t j = 0; j < sh->ncreated; j++)
			known |= sh->created[j].ino == a.ino &&
				 sh->created[j].gen == a.generation;
		if (!why[0] && !known)
			snprintf(why, sizeof(why), "inode %llu was never "
				 "created", (unsigned long long)l.ino[i]);
	}
	for (uint64_t i = 0; !why[0] && i < sh->ncreated; i++) {
		uint64_t ino = made[i];

		if (count_of(made, sh->ncreated, ino) !=
		    count_of(l.ino, l.n, ino) +
			    count_of(sh->replaced, sh->nreplaced, ino))
			snprintf(why, sizeof(why), "inode %llu: created %u "
				 "times, survives %u, replaced %u times",
				 (unsigned long long)ino,
				 count_of(made, sh->ncreated, ino),
				 count_of(l.ino, l.n, ino),
				 count_of(sh->replaced, sh->nreplaced, ino));
	}
	free(made);
	return why[0] ? final_fail(sh, "rename races", why) : 0;
}

static int check_lin(struct shared *sh, struct ivshm_fs *fs)
{
	uint64_t v[PEERS];
	char why[160];

	if (ivshm_fs_read(fs, sh->lin_ino, 0, v, sizeof(v)) != sizeof(v))
		return final_fail(sh, "lin", "short read");
	for (int k = 0; k < PEERS; k++)
		if (v[k] != sh->lin_pub[k]) {
			snprintf(why, sizeof(why), "slot %d holds %llu, last "
				 "written %llu", k, (unsigned long long)v[k],
				 (unsigned long long)sh->lin_pub[k]);
			return final_fail(sh, "lin", why);
		}
	return 0;
}

/* A fresh peer attaching last checks every model and invariant. */
static int final_check(struct shared *sh)
{
	struct ivshm_device *dev;
	struct ivshm_fs *fs;
	char why[400];
	int bad = 0, rc = t_open(sh->path, "final", 0, false, &dev, &fs);

	if (rc) {
		snprintf(why, sizeof(why), "attach returned %d", rc);
		return final_fail(sh, "attach", why);
	}
	for (int k = 0; k < sh->npeers && !bad; k++)
		if (t_check(fs, &sh->model[k], false, why, sizeof(why))) {
			char what[32];

			snprintf(what, sizeof(what), "subtree p%d", k);
			bad = final_fail(sh, what, why);
		}
	if (!bad)
		bad = check_races(sh, fs) || check_renames(sh, fs) ||
		      check_lin(sh, fs);
	if (t_verify(dev, why, sizeof(why)))
		bad = final_fail(sh, "verify", why);
	printf("\n  seed %llu: %llu ops, %llu MiB written (%llux the region), "
	       "%llu checkpoints, %llu O_EXCL rounds (%llu lost), %llu "
	       "renames, %llu lin checks\n",
	       (unsigned long long)sh->seed, (unsigned long long)sh->ops,
	       (unsigned long long)(sh->written >> 20),
	       (unsigned long long)(sh->written / REGION),
	       (unsigned long long)t_ckpt_gen(dev),
	       (unsigned long long)sh->round, (unsigned long long)sh->losses,
	       (unsigned long long)sh->renames,
	       (unsigned long long)sh->lin_checks);
	if (!bad && (sh->written < MIN_CHURN || t_ckpt_gen(dev) < 2))
		bad = final_fail(sh, "churn", "too little done in the time");
	t_close(dev, fs);
	return bad;
}

static void run_form(const char *tag, void (*run)(struct shared *sh))
{
	struct t_region rg;
	struct shared *sh;
	bool bad = true;

	CU_ASSERT_FATAL(t_region_create(&rg, tag, REGION) == 0);
	sh = shared_new(rg.path);
	CU_ASSERT_FATAL(sh != NULL);
	if (layout(sh) == 0) {
		sh->deadline_ms = t_now_ms() + MAX_MS;
		run(sh);
		CU_ASSERT(sh->failed == 0);
		/* After a failure too: what a fresh peer sees tells more. */
		bad = final_check(sh) || sh->failed;
		CU_ASSERT(!bad);
	} else {
		CU_FAIL("cannot format and lay out the region");
	}
	if (bad)
		fprintf(stderr, "rerun with IVSHM_SEED=%llu\n",
			(unsigned long long)sh->seed);
	t_region_drop(&rg, bad);
	munmap(sh, sizeof(*sh));
}

static void *thread_main(void *arg)
{
	struct shared **a = arg;

	peer_main(a[0], (int)(intptr_t)a[1]);
	return NULL;
}

static void run_threads(struct shared *sh)
{
	pthread_t t[PEERS];
	void *args[PEERS][2];

	for (int k = 0; k < sh->npeers; k++) {
		args[k][0] = sh;
		args[k][1] = (void *)(intptr_t)k;
		CU_ASSERT_FATAL(pthread_create(&t[k], NULL, thread_main,
					       args[k]) == 0);
	}
	for (int k = 0; k < sh->npeers; k++)
		pthread_join(t[k], NULL);
}

/* We hold no fs here (no ticker thread): fork is safe. */
static void run_forks(struct shared *sh)
{
	pid_t pid[PEERS];

	fflush(NULL);
	for (int k = 0; k < sh->npeers; k++) {
		pid[k] = fork();
		CU_ASSERT_FATAL(pid[k] >= 0);
		if (!pid[k]) {
			peer_main(sh, k);
			_exit(0);
		}
	}
	for (int k = 0; k < sh->npeers; k++) {
		int status;

		if (waitpid(pid[k], &status, 0) != pid[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "\nFAIL seed %llu: peer %d died "
				"(status 0x%x)\n", (unsigned long long)sh->seed,
				k, status);
			add(&sh->failed, 1);
		}
	}
}

static void test_threads(void)
{
	run_form("tm-thr", run_threads);
}

static void test_forks(void)
{
	run_form("tm-fork", run_forks);
}

/*
 * ---- regressions: bugs the torture found, each reduced to a few steps ----
 */

struct two {
	struct t_region rg;
	struct ivshm_device *da, *db;
	struct ivshm_fs *A, *B;
};

static void two_open_sized(struct two *t, const char *tag, uint64_t size)
{
	CU_ASSERT_FATAL(t_region_create(&t->rg, tag, size) == 0);
	CU_ASSERT_FATAL(t_open(t->rg.path, "A", 0, true, &t->da, &t->A) == 0);
	CU_ASSERT_FATAL(t_open(t->rg.path, "B", 0, false, &t->db, &t->B) == 0);
}

static void two_open(struct two *t, const char *tag)
{
	two_open_sized(t, tag, REGION);
}

static void two_close(struct two *t)
{
	t_close(t->da, t->A);
	t_close(t->db, t->B);
	t_region_drop(&t->rg, false);
}

/*
 * rename("d", "d") of a non-empty directory must succeed doing nothing
 * (POSIX: old and new name the same file); the store says ENOTEMPTY.
 */
static void test_rename_onto_itself(void)
{
	struct ivshm_attr d, f;
	struct two t;

	two_open(&t, "tm-r1");
	CU_ASSERT_FATAL(mk(t.A, IVSHM_ROOT_INO, "d", IVSHM_S_IFDIR | 0755,
			   &d) == 0);
	CU_ASSERT_FATAL(mk(t.A, d.ino, "x", IVSHM_S_IFREG | 0644, &f) == 0);
	CU_ASSERT(ivshm_fs_rename(t.A, IVSHM_ROOT_INO, "d", IVSHM_ROOT_INO,
				  "d", 0, false, NULL) == 0);
	CU_ASSERT(ivshm_fs_lookup(t.B, d.ino, "x", &f) == 0);
	two_close(&t);
}

/* Take the store lock as if live peer @fs held it: nobody breaks it. */
static void hold_lock_as(struct ivshm_device *dev, struct ivshm_fs *fs)
{
	uint32_t slot = (uint32_t)ivshm_store_slot(ivshm_fs_store(fs));
	struct ivshm_slot *sl = ivshm_slot_at(dev->region, slot);
	uint64_t gen = (ivshm_load_acquire(&sl->gen_state) >> 2) &
		       0xffffffffffffull;
	uint64_t zero = 0;

	CU_ASSERT_FATAL(ivshm_cas(&ivshm_sb_of(dev->region)->lock, &zero,
				  gen << 16 | (slot + 1)));
}

struct inflight {
	struct ivshm_fs *fs;
	uint64_t ino;
	int64_t rc;
};

static void *write_8k(void *arg)
{
	struct inflight *w = arg;
	uint8_t buf[8192];

	memset(buf, 0xb5, sizeof(buf));
	w->rc = ivshm_fs_write(w->fs, w->ino, 0, buf, sizeof(buf), NULL);
	return NULL;
}

struct clean_job {
	struct ivshm_fs *fs;
	int rc;
};

static void *clean_thread(void *arg)
{
	struct clean_job *j = arg;

	j->rc = ivshm_fs_clean(j->fs, 8);
	return NULL;
}

/*
 * A write whose bytes straddle the end of the writer's data segment S
 * moves the writer on to a new open segment before it commits. Until the
 * commit, S holds none of its live bytes and is no longer "open": another
 * peer's cleaner must not retire it under the write, or the write commits
 * extents into a freed segment (lost data once S is reused). The write is
 * held before its commit by a third peer H "holding" the store lock.
 */
static void test_clean_under_write(void)
{
	struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = 0 };
	struct clean_job job = { .rc = -1 };
	struct inflight w = { .rc = -1 };
	struct ivshm_device *dh;
	struct ivshm_fs *H;
	uint8_t big[61440], out[8192];
	struct ivshm_attr f1, f2;
	pthread_t tw, tc;
	char why[300];
	struct two t;

	two_open(&t, "tm-r2");
	CU_ASSERT_FATAL(t_open(t.rg.path, "H", 0, false, &dh, &H) == 0);
	memset(big, 0x11, sizeof(big));
	CU_ASSERT_FATAL(mk(t.B, IVSHM_ROOT_INO, "f1", IVSHM_S_IFREG | 0644,
			   &f1) == 0);
	CU_ASSERT_FATAL(mk(t.B, IVSHM_ROOT_INO, "f2", IVSHM_S_IFREG | 0644,
			   &f2) == 0);
	/* B's segment S: 60 KiB used, none of it live. */
	CU_ASSERT_FATAL(ivshm_fs_write(t.B, f1.ino, 0, big, sizeof(big),
				       NULL) == sizeof(big));
	CU_ASSERT_FATAL(ivshm_fs_setattr(t.B, f1.ino, &sa, NULL) == 0);
	/* B's next write fills S, opens S2, copies, waits for the lock. */
	hold_lock_as(dh, H);
	w.fs = t.B;
	w.ino = f2.ino;
	CU_ASSERT_FATAL(pthread_create(&tw, NULL, write_8k, &w) == 0);
	usleep(100 * 1000);
	/* A cleans meanwhile: S looks empty and closed. */
	job.fs = t.A;
	CU_ASSERT_FATAL(pthread_create(&tc, NULL, clean_thread, &job) == 0);
	usleep(100 * 1000);
	ivshm_store_release(&ivshm_sb_of(t.da->region)->lock, 0);
	pthread_join(tc, NULL);
	pthread_join(tw, NULL);
	CU_ASSERT(job.rc >= 0);
	CU_ASSERT(w.rc == 8192);
	CU_ASSERT(t_verify(t.da, why, sizeof(why)) == 0);
	if (t_verify(t.da, why, sizeof(why)))
		fprintf(stderr, "\n  %s\n", why);
	CU_ASSERT(ivshm_fs_read(t.A, f2.ino, 0, out, sizeof(out)) == 8192);
	CU_ASSERT(out[0] == 0xb5 && out[8191] == 0xb5);
	t_close(dh, H);
	two_close(&t);
}

/* A peer whose change callback can be made to wait: a pause inside clean. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool armed, inside, open;
};

static void gate_cb(void *arg, const struct ivshm_change *c, unsigned int n,
		    bool overflow)
{
	struct gate *g = arg;

	(void)c, (void)n, (void)overflow;
	pthread_mutex_lock(&g->mu);
	if (g->armed) {
		g->armed = false;
		g->inside = true;
		pthread_cond_broadcast(&g->cv);
		while (!g->open)
			pthread_cond_wait(&g->cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

static void gate_wait_inside(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->inside)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Write @len bytes of @v at 0 of a new file @name; its inode number. */
static uint64_t put(struct ivshm_fs *fs, const char *name, uint32_t len,
		    int v)
{
	uint8_t *buf = malloc(len);
	struct ivshm_attr a;

	CU_ASSERT_FATAL(buf != NULL);
	memset(buf, v, len);
	CU_ASSERT_FATAL(mk(fs, IVSHM_ROOT_INO, name, IVSHM_S_IFREG | 0644,
			   &a) == 0);
	CU_ASSERT_FATAL(ivshm_fs_write(fs, a.ino, 0, buf, len, NULL) ==
			(int64_t)len);
	free(buf);
	return a.ino;
}

/*
 * Two cleaners pick the same empty segment V. The first retires it, V is
 * reclaimed and a writer fills it again; the second then retires V from
 * its stale index (it checks only that V is a data segment): the writer's
 * committed bytes now lie in a freed segment. The second cleaner is held
 * between picking and retiring by its change callback.
 */
static void test_two_cleaners(void)
{
	struct ivshm_setattr sa = { .valid = IVSHM_SET_SIZE, .size = 0 };
	struct gate g = { .mu = PTHREAD_MUTEX_INITIALIZER,
			  .cv = PTHREAD_COND_INITIALIZER };
	struct ivshm_fs_opts oc = { .attach = { .name = "C" },
				    .on_change = gate_cb,
				    .on_change_arg = &g };
	const uint32_t seg = 64u << 10;
	struct ivshm_device *dc;
	struct ivshm_fs *C;
	struct clean_job job = { .rc = -1 };
	struct ivshm_attr a;
	uint64_t f1, f3;
	uint32_t v;
	char why[300];
	pthread_t th;
	struct two t;
	uint8_t out;

	two_open(&t, "tm-r3");
	CU_ASSERT_FATAL(ivshm_plain_open(t.rg.path, &dc) == 0);
	CU_ASSERT_FATAL(ivshm_fs_open(dc, &oc, &C) == 0);
	/* V: one whole segment of B's, emptied, no longer B's open one. */
	f1 = put(t.B, "f1", seg, 1);
	v = ivshm_slot_at(t.db->region,
			  (uint32_t)ivshm_store_slot(ivshm_fs_store(t.B)))
		    ->data_seg;
	CU_ASSERT_FATAL(ivshm_fs_setattr(t.B, f1, &sa, NULL) == 0);
	put(t.B, "f2", 1, 2);
	/* C picks V, then waits in its callback (B's xattr is news to C). */
	CU_ASSERT_FATAL(ivshm_fs_setxattr(t.B, f1, "user.x", "1", 1, 0) == 0);
	g.armed = true;
	job.fs = C;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, clean_thread, &job) == 0);
	gate_wait_inside(&g);
	/* A retires V too; it is reclaimed and B fills it again. */
	CU_ASSERT(ivshm_fs_clean(t.A, 8) >= 1);
	CU_ASSERT(ivshm_seg_reclaim(ivshm_fs_store(t.A)) >= 1);
	ivshm_fs_store(t.B)->next_seg_hint = v;
	f3 = put(t.B, "f3", seg, 3);
	CU_ASSERT(ivshm_seg_entry_at(t.db->region,
				     ivshm_store_geom(ivshm_fs_store(t.B)), v)
			  ->state == IVSHM_SEG_DATA);
	/* C goes on and must not free B's new bytes. */
	gate_open(&g);
	pthread_join(th, NULL);
	CU_ASSERT(job.rc >= 0);
	CU_ASSERT(t_verify(t.da, why, sizeof(why)) == 0);
	if (t_verify(t.da, why, sizeof(why)))
		fprintf(stderr, "\n  %s\n", why);
	CU_ASSERT(ivshm_fs_read(t.A, f3, seg - 1, &out, 1) == 1 && out == 3);
	CU_ASSERT(ivshm_fs_getattr(t.A, f3, &a) == 0);
	t_close(dc, C);
	two_close(&t);
}

struct churn {
	struct ivshm_fs *fs;
	uint64_t dir;
	volatile int stop;
	int bad;
};

static void *unlinker(void *arg)
{
	struct churn *ch = arg;

	while (!ch->stop)
		ivshm_fs_unlink(ch->fs, ch->dir, "a", false, NULL);
	return NULL;
}

/*
 * mknod commits, then reads the new inode's attributes in a second step:
 * when another peer removes the file in between, mknod reports ENOENT for
 * a file it did create (O_EXCL callers then retry or give up wrongly).
 * link and setattr do the same.
 */
static void test_create_then_gone(void)
{
	struct churn ch = { 0 };
	struct ivshm_attr d, a;
	int enoent = 0, ok = 0;
	pthread_t th;
	struct two t;

	two_open(&t, "tm-r4");
	CU_ASSERT_FATAL(mk(t.A, IVSHM_ROOT_INO, "d", IVSHM_S_IFDIR | 0755,
			   &d) == 0);
	ch.fs = t.B;
	ch.dir = d.ino;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, unlinker, &ch) == 0);
	for (int64_t end = t_now_ms() + 3000; t_now_ms() < end && !enoent;) {
		int rc = ivshm_fs_mknod(t.A, d.ino, "a", IVSHM_S_IFREG | 0644,
					0, 0, 0, &a);

		enoent += rc == -ENOENT;
		ok += rc == 0;
		CU_ASSERT(rc == 0 || rc == -EEXIST || rc == -ENOENT);
	}
	ch.stop = 1;
	pthread_join(th, NULL);
	CU_ASSERT(ok > 0);
	CU_ASSERT(enoent == 0);
	if (enoent)
		fprintf(stderr, "\n  mknod returned ENOENT for a file it "
			"created (after %d successes)\n", ok);
	two_close(&t);
}

struct space_loop {
	struct ivshm_fs *fs;
	int64_t until;
	bool writer;
	int64_t rc;
	unsigned int n;
};

/* Checkpoints, or 64 KiB files written and removed: segments churn. */
static void *space_thread(void *arg)
{
	static const uint8_t buf[64 << 10];
	struct space_loop *l = arg;
	struct ivshm_attr a;

	while (!l->rc && t_now_ms() < l->until) {
		l->n++;
		if (!l->writer) {
			l->rc = ivshm_fs_checkpoint(l->fs);
			continue;
		}
		l->rc = mk(l->fs, IVSHM_ROOT_INO, "w", IVSHM_S_IFREG | 0644,
			   &a);
		if (!l->rc)
			l->rc = ivshm_fs_write(l->fs, a.ino, 0, buf,
					       sizeof(buf), NULL);
		if (l->rc == (int64_t)sizeof(buf))
			l->rc = ivshm_fs_unlink(l->fs, IVSHM_ROOT_INO, "w",
						false, NULL);
	}
	return NULL;
}

/*
 * One peer checkpoints in a loop, another writes and removes a 64 KiB
 * file: a 1 MiB store with nothing in it. A claim that finds nothing free
 * retries only if its own reclaim freed something: when the other peer
 * reclaimed everything just before, it gives up with ENOSPC on a store
 * that is mostly free (seen in the concurrent kills).
 */
static void test_reclaim_race(void)
{
	struct space_loop la = { .rc = 0 }, lb = { .rc = 0, .writer = true };
	char segs[200];
	pthread_t th;
	struct two t;

	two_open_sized(&t, "tm-r5", 1 << 20);
	la.fs = t.A;
	lb.fs = t.B;
	la.until = lb.until = t_now_ms() + 3000;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, space_thread, &lb) == 0);
	space_thread(&la);
	pthread_join(th, NULL);
	CU_ASSERT(la.rc == 0 && lb.rc == 0);
	if (la.rc || lb.rc) {
		t_seg_summary(t.da, segs, sizeof(segs));
		fprintf(stderr, "\n  checkpoint %lld after %u, write %lld "
			"after %u (%s)\n", (long long)la.rc, la.n,
			(long long)lb.rc, lb.n, segs);
	}
	two_close(&t);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	unsigned int fails;
	CU_pSuite s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("model", NULL, NULL);
	if (!only || !strcmp(only, "threads"))
		CU_add_test(s, "peers as threads against the model",
			    test_threads);
	if (!only || !strcmp(only, "fork"))
		CU_add_test(s, "peers as processes against the model",
			    test_forks);
	s = CU_add_suite("regressions", NULL, NULL);
	if (!only || !strcmp(only, "regressions")) {
		CU_add_test(s, "rename of a non-empty directory onto itself",
			    test_rename_onto_itself);
		CU_add_test(s, "cleaner retires a segment a write is filling",
			    test_clean_under_write);
		CU_add_test(s, "second cleaner retires a reused segment",
			    test_two_cleaners);
		CU_add_test(s, "mknod reports ENOENT for a file it created",
			    test_create_then_gone);
		CU_add_test(s, "claim gives up when another peer reclaimed",
			    test_reclaim_race);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
