/*
 * The registry of names: a chained hash table from name to reference,
 * under a mutex (registering and looking up are not on the message path).
 *
 * A name is freed when its actor stops: the actor counts its names, and
 * its last turn removes them. A registration that races with the actor's
 * last turn can still leave an entry behind; a lookup that finds an entry
 * whose actor is gone removes it and reports no such name, so the race is
 * never visible.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/internal.h"

struct name_entry {
	struct name_entry *next;
	actor_ref_t ref;
	uint64_t hash;
	char name[];
};

struct actor__registry {
	pthread_mutex_t lock;
	struct name_entry **buckets;
	size_t nbuckets, count;		/* nbuckets: a power of two */
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

int actor__registry_init(struct actor_system *sys)
{
	struct actor__registry *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->nbuckets = 64;
	r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
	if (r->buckets == NULL) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	sys->registry = r;
	return 0;
}

void actor__registry_free(struct actor_system *sys)
{
	struct actor__registry *r = sys->registry;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nbuckets; i++)
		for (struct name_entry *e = r->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(r->buckets);
	pthread_mutex_destroy(&r->lock);
	free(r);
	sys->registry = NULL;
}

/* The link that points at name's entry (or the end of its chain); lock held. */
static struct name_entry **find(struct actor__registry *r, const char *name, uint64_t h)
{
	struct name_entry **p = &r->buckets[h & (r->nbuckets - 1)];

	while (*p != NULL && ((*p)->hash != h || strcmp((*p)->name, name) != 0))
		p = &(*p)->next;
	return p;
}

/* Doubles the table when it is full; lock held. Failure is harmless. */
static void grow(struct actor__registry *r)
{
	size_t n = r->nbuckets * 2;
	struct name_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < r->nbuckets; i++)
		for (struct name_entry *e = r->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = n;
}

/* Unlinks *p and drops the count its actor keeps; lock held. */
static void unlink_entry(struct actor_system *sys, struct name_entry **p)
{
	struct name_entry *e = *p;
	struct actor__actor *a = actor__lookup(sys, e->ref);

	if (a != NULL)
		atomic_fetch_sub_explicit(&a->names, 1, memory_order_relaxed);
	*p = e->next;
	sys->registry->count--;
	free(e);
}

static int check_name(const char *name)
{
	size_t len;

	if (name == NULL)
		return -EINVAL;
	len = strnlen(name, ACTOR_NAME_MAX + 1);
	return len == 0 || len > ACTOR_NAME_MAX ? -EINVAL : (int)len;
}

/*
 * Locks the registry and finds name's entry: *return is NULL if there is
 * none. A stale entry, left by an actor that stopped, is dropped on the way.
 */
static struct name_entry **lock_and_find(struct actor_system *sys, const char *name)
{
	struct actor__registry *r = sys->registry;
	uint64_t h = hash_name(name);
	struct name_entry **p;

	pthread_mutex_lock(&r->lock);
	p = find(r, name, h);
	if (*p != NULL && actor__lookup(sys, (*p)->ref) == NULL)
		unlink_entry(sys, p);
	return p;
}

int actor_register(actor_system_t *sys, const char *name, actor_ref_t ref)
{
	struct actor__registry *r = sys->registry;
	int len = check_name(name), err = 0;
	struct name_entry **p, *e;
	struct actor__actor *a;

	if (len < 0)
		return len;
	p = lock_and_find(sys, name);
	if (*p != NULL) {
		err = -EEXIST;
	} else if ((a = actor__lookup(sys, ref)) == NULL) {
		err = -ESRCH;
	} else if ((e = malloc(sizeof(*e) + (size_t)len + 1)) == NULL) {
		err = -ENOMEM;
	} else {
		e->next = NULL;
		e->ref = ref;
		e->hash = hash_name(name);
		memcpy(e->name, name, (size_t)len + 1);
		*p = e;
		atomic_fetch_add_explicit(&a->names, 1, memory_order_relaxed);
		if (++r->count > r->nbuckets)
			grow(r);
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

int actor_unregister(actor_system_t *sys, const char *name)
{
	struct name_entry **p;
	int err = check_name(name);

	if (err < 0)
		return err;
	p = lock_and_find(sys, name);
	err = *p != NULL ? 0 : -ENOENT;
	if (*p != NULL)
		unlink_entry(sys, p);
	pthread_mutex_unlock(&sys->registry->lock);
	return err;
}

int actor_lookup(actor_system_t *sys, const char *name, actor_ref_t *out)
{
	struct name_entry **p;
	int err = check_name(name);

	if (err < 0)
		return err;
	p = lock_and_find(sys, name);
	err = *p != NULL ? 0 : -ENOENT;
	if (*p != NULL)
		*out = (*p)->ref;
	pthread_mutex_unlock(&sys->registry->lock);
	return err;
}

void actor__registry_forget(struct actor_system *sys, actor_ref_t ref)
{
	struct actor__registry *r = sys->registry;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->nbuckets; i++)
		for (struct name_entry **p = &r->buckets[i]; *p != NULL;)
			if (actor_ref_equal((*p)->ref, ref))
				unlink_entry(sys, p);
			else
				p = &(*p)->next;
	pthread_mutex_unlock(&r->lock);
}
