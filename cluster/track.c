/*
 * What crosses to one peer and must be undone if the peer goes down:
 * requests waiting for its reply, monitors of its actors, links to them.
 * A hash set on the I/O thread: open addressing, backward-shift deletion.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "cluster/internal.h"

static size_t home(uint32_t kind, uint64_t local, uint64_t remote, size_t mask)
{
	uint64_t h = (local * 0x9e3779b97f4a7c15ull) ^ (remote + kind) * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h >> 32) & mask;
}

static bool same(const struct actor__track_entry *e, uint32_t kind, uint64_t local,
		 uint64_t remote)
{
	return e->kind == kind && e->local == local && e->remote == remote;
}

static int grow(struct actor__track *t)
{
	size_t cap = t->slots != NULL ? 2 * (t->mask + 1) : 16;
	struct actor__track_entry *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
		const struct actor__track_entry *e = &t->slots[i];
		size_t j;

		if (e->kind == 0)
			continue;
		for (j = home(e->kind, e->local, e->remote, cap - 1); slots[j].kind != 0;
		     j = (j + 1) & (cap - 1))
			;
		slots[j] = *e;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

int actor__track_add(struct actor__track *t, uint32_t kind, uint64_t local, uint64_t remote,
		     uint64_t now)
{
	size_t i;

	if (t->slots == NULL || 2 * (t->count + 1) > t->mask + 1) {
		int err = grow(t);

		if (err != 0)
			return err;
	}
	for (i = home(kind, local, remote, t->mask); t->slots[i].kind != 0; i = (i + 1) & t->mask)
		if (same(&t->slots[i], kind, local, remote))
			return 0;
	t->slots[i] = (struct actor__track_entry){ local, remote, kind, now };
	t->count++;
	return 0;
}

static void remove_at(struct actor__track *t, size_t i)
{
	for (size_t j = (i + 1) & t->mask; t->slots[j].kind != 0; j = (j + 1) & t->mask) {
		const struct actor__track_entry *e = &t->slots[j];
		size_t h = home(e->kind, e->local, e->remote, t->mask);

		if (((j - h) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = *e;
			i = j;
		}
	}
	t->slots[i].kind = 0;
	t->count--;
}

bool actor__track_del(struct actor__track *t, uint32_t kind, uint64_t local, uint64_t remote)
{
	if (t->count == 0)
		return false;
	for (size_t i = home(kind, local, remote, t->mask); t->slots[i].kind != 0;
	     i = (i + 1) & t->mask)
		if (same(&t->slots[i], kind, local, remote)) {
			remove_at(t, i);
			return true;
		}
	return false;
}

void actor__track_drain(struct actor__track *t,
			void (*fn)(void *arg, const struct actor__track_entry *e), void *arg)
{
	for (size_t i = 0; t->count != 0 && i <= t->mask; i++)
		if (t->slots[i].kind != 0) {
			fn(arg, &t->slots[i]);
			t->slots[i].kind = 0;
			t->count--;
		}
}

void actor__track_expire(struct actor__track *t, uint64_t now, uint64_t max_age_ns)
{
	size_t i = 0;

	/* A removal may shift a later entry into slot i: look at i again. */
	while (t->count != 0 && i <= t->mask) {
		const struct actor__track_entry *e = &t->slots[i];

		if (e->kind == ACTOR__TRACK_REQUEST && now - e->since_ns > max_age_ns)
			remove_at(t, i);
		else
			i++;
	}
}

void actor__track_free(struct actor__track *t)
{
	free(t->slots);
	t->slots = NULL;
	t->count = 0;
}
