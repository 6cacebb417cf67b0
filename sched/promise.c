/*
 * Promised requests: the ones a stopping actor still owes an answer.
 *
 * actor_promise() notes (requester, request id) in a->promised, and
 * actor_promise_deliver() takes the note away. Whatever is left when the
 * actor stops is failed with -EPIPE (a broken promise) after its cleanup,
 * which may still deliver. Only promised requests are noted: a request
 * answered or forwarded inside the handler costs nothing here, and one left
 * unanswered when the handler returns is failed by actor.c at once.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sched/internal.h"
#include "util/htab.h"

struct promised_entry {
	actor_ref_t to;			/* the requester */
	uint32_t id;			/* its request id; 0: empty */
};

struct actor__promised {
	struct actor__htab table;	/* of struct promised_entry */
};

struct promised_key {
	actor_ref_t to;
	uint32_t id;
};

static size_t key_hash(actor_ref_t to, uint32_t id)
{
	uint64_t h = (to.id ^ (uint64_t)to.node << 40 ^ id) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32);
}

static size_t entry_hash(const void *e)
{
	const struct promised_entry *p = e;

	return key_hash(p->to, p->id);
}

static bool entry_used(const void *e)
{
	return ((const struct promised_entry *)e)->id != 0;
}

static bool entry_match(const void *e, const void *key)
{
	const struct promised_entry *p = e;
	const struct promised_key *k = key;

	return p->id == k->id && p->to.id == k->to.id && p->to.node == k->to.node;
}

static const struct actor__htab_type promised_type = {
	sizeof(struct promised_entry), entry_hash, entry_used, entry_match,
};

int actor__promised_add(struct actor__actor *a, actor_ref_t to, uint32_t id)
{
	struct actor__promised *p = a->promised;
	struct promised_entry *e;

	if (p == NULL && (p = a->promised = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	if (actor__htab_reserve(&p->table, &promised_type) != 0)
		return -ENOMEM;
	e = actor__htab_add(&p->table, &promised_type, key_hash(to, id));
	*e = (struct promised_entry){ .to = to, .id = id };
	return 0;
}

void actor__promised_take(struct actor__actor *a, actor_ref_t to, uint32_t id)
{
	struct promised_key k = { to, id };
	void *e;

	if (a->promised != NULL &&
	    (e = actor__htab_find(&a->promised->table, &promised_type, key_hash(to, id), &k)) != NULL)
		actor__htab_del(&a->promised->table, &promised_type, e);
}

void actor__promised_fail(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a)
{
	struct actor__promised *p = a->promised;

	if (p == NULL)
		return;
	for (size_t i = 0; i < actor__htab_cap(&p->table); i++) {
		const struct promised_entry *e = actor__htab_slot(&p->table, &promised_type, i);

		if (e->id != 0)
			actor__request_fail(sys, w, e->to, e->id, -EPIPE);
	}
	actor__htab_free(&p->table);
	free(p);
	a->promised = NULL;
}
