/*
 * An open-addressing hash table with linear probing and backward-shift
 * deletion (no tombstones: a removal moves back the entries that probed
 * past the hole, so lookups stop at the first empty slot). Entries are
 * stored by value, of one fixed size; an all-zero entry is an empty slot,
 * so the key must never be all zero. The capacity is a power of two, and
 * the table doubles before it is half full.
 *
 * The type describes the entries: their size, the hash of one (the table
 * takes its low bits), whether a slot holds one, and whether one matches a
 * key. The functions below are inline so that, with a constant type, the
 * compiler calls these directly.
 *
 * Not thread-safe: a table belongs to whoever guards it. Pointers to
 * entries stay valid until the next add (which may grow the table) or del
 * (which may move entries).
 */
#ifndef ACTOR_UTIL_HTAB_H
#define ACTOR_UTIL_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct actor__htab_type {
	size_t size;					/* bytes per entry */
	size_t (*hash)(const void *entry);
	bool (*used)(const void *entry);		/* false for all zero */
	bool (*match)(const void *entry, const void *key);
};

struct actor__htab {
	unsigned char *slots;		/* NULL until the first add */
	size_t mask;			/* capacity - 1 */
	size_t count;
};

/* Room for one more entry: doubles the table (from 16 slots) when it
 * would be more than half full. 0 or -ENOMEM (the table is unchanged). */
int actor__htab_reserve(struct actor__htab *h, const struct actor__htab_type *ty);

/* Frees the slots; the table is empty and may be used again. */
void actor__htab_free(struct actor__htab *h);

/* Empties the table and keeps its slots, for the entries to come. */
void actor__htab_clear(struct actor__htab *h, const struct actor__htab_type *ty);

/* Slots, used or not: for i < actor__htab_cap(h), actor__htab_slot(h, ty, i). */
static inline size_t actor__htab_cap(const struct actor__htab *h)
{
	return h->slots != NULL ? h->mask + 1 : 0;
}

static inline void *actor__htab_slot(const struct actor__htab *h, const struct actor__htab_type *ty,
				     size_t i)
{
	return h->slots + i * ty->size;
}

/* The entry that matches key (whose hash is given), or NULL. */
static inline void *actor__htab_find(const struct actor__htab *h, const struct actor__htab_type *ty,
				     size_t hash, const void *key)
{
	if (h->count == 0)
		return NULL;
	for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
		void *e = actor__htab_slot(h, ty, i);

		if (!ty->used(e))
			return NULL;
		if (ty->match(e, key))
			return e;
	}
}

/* The slot for a new entry of the given hash, counted at once: the caller
 * fills it in (with a key that is not in the table yet). Only after
 * actor__htab_reserve() succeeded. */
static inline void *actor__htab_add(struct actor__htab *h, const struct actor__htab_type *ty,
				    size_t hash)
{
	size_t i;

	for (i = hash & h->mask; ty->used(actor__htab_slot(h, ty, i)); i = (i + 1) & h->mask)
		;
	h->count++;
	return actor__htab_slot(h, ty, i);
}

/* Removes entry (a pointer into the table). The entries that probed past
 * it shift back, so its slot may hold another entry afterwards. */
static inline void actor__htab_del(struct actor__htab *h, const struct actor__htab_type *ty,
				   void *entry)
{
	size_t i = (size_t)((unsigned char *)entry - h->slots) / ty->size;

	for (size_t j = (i + 1) & h->mask;; j = (j + 1) & h->mask) {
		void *e = actor__htab_slot(h, ty, j);
		size_t home;

		if (!ty->used(e))
			break;
		home = ty->hash(e) & h->mask;
		if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
			memcpy(actor__htab_slot(h, ty, i), e, ty->size);
			i = j;
		}
	}
	memset(actor__htab_slot(h, ty, i), 0, ty->size);
	h->count--;
}

#endif /* ACTOR_UTIL_HTAB_H */
