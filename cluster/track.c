/*
 * What crosses to one peer and must be undone if the peer goes down:
 * requests waiting for its reply, monitors of its actors, links to them.
 * A set of struct actor__track_entry on the I/O thread, on util/htab.h
 * (a slot is empty when its kind is 0).
 */
#include "config.h"

#include "cluster/internal.h"

static size_t entry_hash(const void *p)
{
	const struct actor__track_entry *e = p;
	uint64_t h = (e->local * 0x9e3779b97f4a7c15ull) ^ (e->remote + e->kind) * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h >> 32);
}

static bool entry_used(const void *p)
{
	return ((const struct actor__track_entry *)p)->kind != 0;
}

/* The key is an entry too; its since_ns does not count. */
static bool entry_match(const void *p, const void *key)
{
	const struct actor__track_entry *e = p, *k = key;

	return e->kind == k->kind && e->local == k->local && e->remote == k->remote;
}

static const struct actor__htab_type track_type = {
	sizeof(struct actor__track_entry), entry_hash, entry_used, entry_match,
};

int actor__track_add(struct actor__htab *t, uint32_t kind, uint64_t local, uint64_t remote,
		     uint64_t now)
{
	const struct actor__track_entry k = {
		.local = local, .remote = remote, .kind = kind, .since_ns = now,
	};
	size_t hash = entry_hash(&k);
	int err;

	if ((err = actor__htab_reserve(t, &track_type)) != 0)
		return err;
	if (actor__htab_find(t, &track_type, hash, &k) == NULL)
		*(struct actor__track_entry *)actor__htab_add(t, &track_type, hash) = k;
	return 0;
}

bool actor__track_del(struct actor__htab *t, uint32_t kind, uint64_t local, uint64_t remote)
{
	const struct actor__track_entry k = { .local = local, .remote = remote, .kind = kind };
	void *e = actor__htab_find(t, &track_type, entry_hash(&k), &k);

	if (e == NULL)
		return false;
	actor__htab_del(t, &track_type, e);
	return true;
}

void actor__track_drain(struct actor__htab *t,
			void (*fn)(void *arg, const struct actor__track_entry *e), void *arg)
{
	for (size_t i = 0; i < actor__htab_cap(t); i++) {
		const struct actor__track_entry *e = actor__htab_slot(t, &track_type, i);

		if (entry_used(e))
			fn(arg, e);
	}
	actor__htab_clear(t, &track_type);
}

void actor__track_expire(struct actor__htab *t, uint64_t now, uint64_t max_age_ns)
{
	size_t i = 0;

	/* A removal may shift a later entry into slot i: look at i again. */
	while (t->count != 0 && i < actor__htab_cap(t)) {
		struct actor__track_entry *e = actor__htab_slot(t, &track_type, i);

		if (e->kind == ACTOR__TRACK_REQUEST && now - e->since_ns > max_age_ns)
			actor__htab_del(t, &track_type, e);
		else
			i++;
	}
}
