// SPDX-License-Identifier: MIT
/*
 * The inodes the kernel holds: lookup counts (released by FORGET) and open
 * files. Nothing else is kept per inode: the store's index has the rest.
 * Invalidations go only to inodes listed here (the kernel knows no other).
 */
#include <stdlib.h>
#include <string.h>

#include "ivfuse.h"

static size_t slot_of(struct ivfuse *f, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (f->ino_cap - 1);
}

static struct ivf_ino *find(struct ivfuse *f, uint64_t ino)
{
	for (size_t i = slot_of(f, ino);; i = (i + 1) & (f->ino_cap - 1)) {
		struct ivf_ino *e = f->ino_tab[i];

		if (!e || e->ino == ino)
			return e;
	}
}

static void put(struct ivf_ino **tab, size_t cap, struct ivf_ino *e,
		struct ivfuse *f)
{
	size_t i;

	for (i = slot_of(f, e->ino); tab[i]; i = (i + 1) & (cap - 1))
		;
	tab[i] = e;
}

static struct ivf_ino *get(struct ivfuse *f, uint64_t ino)
{
	struct ivf_ino *e = find(f, ino);

	if (e)
		return e;
	if ((f->ino_count + 1) * 4 > f->ino_cap * 3) {
		size_t old = f->ino_cap;
		struct ivf_ino **tab = calloc(old * 2, sizeof(*tab)), **prev;

		if (!tab)
			return NULL;
		prev = f->ino_tab;
		f->ino_tab = tab;
		f->ino_cap = old * 2;
		for (size_t i = 0; i < old; i++)
			if (prev[i])
				put(tab, f->ino_cap, prev[i], f);
		free(prev);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ino = ino;
	put(f->ino_tab, f->ino_cap, e, f);
	f->ino_count++;
	return e;
}

/* Drop @e once the kernel neither references nor has it open. */
static void maybe_drop(struct ivfuse *f, struct ivf_ino *e)
{
	size_t i, j, mask = f->ino_cap - 1;

	if (e->nlookup || e->nopen)
		return;
	for (i = slot_of(f, e->ino); f->ino_tab[i] != e; i = (i + 1) & mask)
		;
	f->ino_tab[i] = NULL;
	for (j = (i + 1) & mask; f->ino_tab[j]; j = (j + 1) & mask) {
		size_t home = slot_of(f, f->ino_tab[j]->ino);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			f->ino_tab[i] = f->ino_tab[j];
			f->ino_tab[j] = NULL;
			i = j;
		}
	}
	f->ino_count--;
	free(e);
}

int ivf_ino_init(struct ivfuse *f)
{
	f->ino_cap = 1024;
	f->ino_tab = calloc(f->ino_cap, sizeof(*f->ino_tab));
	return f->ino_tab ? pthread_mutex_init(&f->ino_mu, NULL) : -1;
}

void ivf_ino_release(struct ivfuse *f)
{
	for (size_t i = 0; i < f->ino_cap; i++)
		free(f->ino_tab[i]);
	free(f->ino_tab);
	pthread_mutex_destroy(&f->ino_mu);
}

void ivf_ino_lookup(struct ivfuse *f, uint64_t ino)
{
	struct ivf_ino *e;

	pthread_mutex_lock(&f->ino_mu);
	e = get(f, ino);
	if (e)
		e->nlookup++;
	pthread_mutex_unlock(&f->ino_mu);
}

void ivf_ino_forget(struct ivfuse *f, uint64_t ino, uint64_t n)
{
	struct ivf_ino *e;

	pthread_mutex_lock(&f->ino_mu);
	e = find(f, ino);
	if (e) {
		e->nlookup = n > e->nlookup ? 0 : e->nlookup - n;
		maybe_drop(f, e);
	}
	pthread_mutex_unlock(&f->ino_mu);
}

void ivf_ino_open(struct ivfuse *f, uint64_t ino)
{
	struct ivf_ino *e;

	pthread_mutex_lock(&f->ino_mu);
	e = get(f, ino);
	if (e)
		e->nopen++;
	pthread_mutex_unlock(&f->ino_mu);
}

bool ivf_ino_close(struct ivfuse *f, uint64_t ino)
{
	struct ivf_ino *e;
	bool last = false;

	pthread_mutex_lock(&f->ino_mu);
	e = find(f, ino);
	if (e && e->nopen) {
		last = --e->nopen == 0;
		maybe_drop(f, e);
	}
	pthread_mutex_unlock(&f->ino_mu);
	return last;
}

bool ivf_ino_is_open(struct ivfuse *f, uint64_t ino)
{
	struct ivf_ino *e;
	bool open;

	pthread_mutex_lock(&f->ino_mu);
	e = find(f, ino);
	open = e && e->nopen;
	pthread_mutex_unlock(&f->ino_mu);
	return open;
}

bool ivf_ino_known(struct ivfuse *f, uint64_t ino)
{
	bool known;

	pthread_mutex_lock(&f->ino_mu);
	known = find(f, ino) != NULL;
	pthread_mutex_unlock(&f->ino_mu);
	return known;
}

uint64_t *ivf_ino_all(struct ivfuse *f, size_t *n)
{
	uint64_t *all;

	pthread_mutex_lock(&f->ino_mu);
	all = malloc((f->ino_count + 1) * sizeof(*all));
	*n = 0;
	for (size_t i = 0; all && i < f->ino_cap; i++)
		if (f->ino_tab[i])
			all[(*n)++] = f->ino_tab[i]->ino;
	pthread_mutex_unlock(&f->ino_mu);
	return all;
}
