/*
 * Virtual actors: the public calls of include/actor/virtual.h, the types
 * registered on a system, and the interned identities that virtual
 * references name (cluster/virtual.h says who owns what).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "cluster/virtual.h"
#include "util/time.h"

#define DEFAULT_IDLE_NS (5ull * 60 * 1000 * 1000 * 1000)
#define DEFAULT_MAX_ACTIVATING 64
/* The sweep runs every idle timeout / 10, but not more often than this. */
#define SWEEP_MIN_NS (10ull * 1000 * 1000)

/* --- identities ------------------------------------------------------------ */

/* The interning table's entries: the identity and its (per-system) hash. */
struct islot {
	struct actor__vident *ident;
	uint64_t h;
};

struct ikey {
	const char *name;
	size_t name_len;
	const void *key;
	size_t key_len;
	uint64_t h;
};

static size_t islot_hash(const void *e)
{
	return (size_t)((const struct islot *)e)->h;
}

static bool islot_used(const void *e)
{
	return ((const struct islot *)e)->ident != NULL;
}

static bool islot_match(const void *e, const void *k)
{
	const struct islot *s = e;
	const struct ikey *key = k;
	const struct actor__vident *i = s->ident;

	return s->h == key->h && i->name_len == key->name_len && i->key_len == key->key_len &&
	       memcmp(i->bytes, key->name, key->name_len) == 0 &&
	       memcmp(actor__vident_key(i), key->key, key->key_len) == 0;
}

static const struct actor__htab_type islot_type = {
	sizeof(struct islot), islot_hash, islot_used, islot_match,
};

/* The interning hash: keyed with this system's random key, so that keys
 * chosen by an adversary cannot make the table's chains long. */
static uint64_t intern_hash(const struct actor__virtual *v, const char *name, size_t name_len,
			    const void *key, size_t key_len)
{
	return actor__siphash24(v->intern_key, name, name_len) ^
	       actor__siphash24(v->intern_key, key, key_len) * 0x9e3779b97f4a7c15ull;
}

struct actor__vident *actor__vident_at(struct actor__virtual *v, uint64_t id)
{
	struct actor__vident **chunk;

	if (id == 0 || id > atomic_load_explicit(&v->nidents, memory_order_acquire))
		return NULL;
	id--;
	chunk = atomic_load_explicit(&v->ident_chunks[id >> ACTOR__VIDENT_SHIFT],
				     memory_order_acquire);
	return chunk[id & ((1u << ACTOR__VIDENT_SHIFT) - 1)];
}

struct actor__vident *actor__vident_intern(struct actor__virtual *v, const char *name,
					   size_t name_len, const void *key, size_t key_len,
					   int *err)
{
	struct ikey k = { name, name_len, key, key_len, 0 };
	struct actor__vident *ident = NULL, **chunk;
	struct islot *s;
	uint32_t n;

	k.h = intern_hash(v, name, name_len, key, key_len);
	pthread_mutex_lock(&v->lock);
	s = actor__htab_find(&v->ident_tab, &islot_type, (size_t)k.h, &k);
	if (s != NULL) {
		ident = s->ident;
		goto out;
	}
	n = atomic_load_explicit(&v->nidents, memory_order_relaxed);
	*err = -ENOSPC;
	if (n == (uint32_t)ACTOR__VIDENT_CHUNKS << ACTOR__VIDENT_SHIFT)
		goto out;
	*err = -ENOMEM;
	chunk = atomic_load_explicit(&v->ident_chunks[n >> ACTOR__VIDENT_SHIFT],
				     memory_order_relaxed);
	if (chunk == NULL) {
		chunk = calloc((size_t)1 << ACTOR__VIDENT_SHIFT, sizeof *chunk);
		if (chunk == NULL)
			goto out;
		atomic_store_explicit(&v->ident_chunks[n >> ACTOR__VIDENT_SHIFT], chunk,
				      memory_order_release);
	}
	if (actor__htab_reserve(&v->ident_tab, &islot_type) != 0)
		goto out;
	ident = malloc(sizeof *ident + name_len + 1 + key_len);
	if (ident == NULL)
		goto out;
	ident->thash = actor__vtype_hash(name, name_len);
	atomic_init(&ident->khash, 0);
	ident->id = n + 1;
	ident->name_len = (uint16_t)name_len;
	ident->key_len = (uint16_t)key_len;
	memcpy(ident->bytes, name, name_len);
	ident->bytes[name_len] = '\0';
	if (key_len != 0)
		memcpy(ident->bytes + name_len + 1, key, key_len);
	chunk[n & ((1u << ACTOR__VIDENT_SHIFT) - 1)] = ident;
	s = actor__htab_add(&v->ident_tab, &islot_type, (size_t)k.h);
	s->ident = ident;
	s->h = k.h;
	/* Release: a reader that sees the count sees the identity. */
	atomic_store_explicit(&v->nidents, n + 1, memory_order_release);
out:
	pthread_mutex_unlock(&v->lock);
	return ident;
}

/* --- the layer ------------------------------------------------------------- */

static int binder_route(struct actor__binder *b, struct actor__worker *w, actor_ref_t to,
			struct actor__env *e)
{
	struct actor__virtual *v = (struct actor__virtual *)b;
	struct actor__vident *ident = actor__vident_at(v, to.id);

	if (ident == NULL || (e->flags & ACTOR__ENV_SYSTEM)) {
		/* Monitors, links and exits name activations, not keys. */
		actor__bounce(v->sys, w, to, e, -ESRCH);
		return -ESRCH;
	}
	return actor__vroute(v, w, ident, e, 0, true);
}

static void binder_free(struct actor__binder *b)
{
	struct actor__virtual *v = (struct actor__virtual *)b;

	/* A state's last write may still be out (on the executor's threads). */
	actor__vp_drain(v);
	actor__vact_free_all(v);
	for (uint32_t i = 0; i < ACTOR__VIDENT_CHUNKS; i++) {
		struct actor__vident **chunk = atomic_load(&v->ident_chunks[i]);

		if (chunk == NULL)
			break;
		for (uint32_t j = 0; j < 1u << ACTOR__VIDENT_SHIFT; j++)
			free(chunk[j]);
		free(chunk);
	}
	actor__htab_free(&v->ident_tab);
	for (uint32_t i = 0; i < atomic_load(&v->ntypes); i++) {
		struct actor__vtype *t = atomic_load(&v->types[i]);

		pthread_mutex_destroy(&t->wait_lock);
		free(t);
	}
	for (int i = 0; i < ACTOR__VSTRIPES; i++)
		pthread_mutex_destroy(&v->stripes[i].lock);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

struct actor__virtual *actor__virtual_of(struct actor_system *sys, bool create)
{
	struct actor__virtual *v = (struct actor__virtual *)actor__binder_of(sys);

	if (v != NULL || !create)
		return v;
	v = aligned_alloc(ACTOR__CACHELINE, (sizeof *v + ACTOR__CACHELINE - 1) / ACTOR__CACHELINE * ACTOR__CACHELINE);
	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof *v);
	v->binder.route = binder_route;
	v->binder.turn = actor__vact_turn;
	v->binder.stopped = actor__vact_stopped;
	v->binder.free = binder_free;
	v->sys = sys;
	if (getrandom(v->intern_key, sizeof v->intern_key, 0) != sizeof v->intern_key) {
		uint64_t t = actor__now_ns();

		memcpy(v->intern_key, &t, sizeof t);
	}
	pthread_mutex_init(&v->lock, NULL);
	for (int i = 0; i < ACTOR__VSTRIPES; i++)
		pthread_mutex_init(&v->stripes[i].lock, NULL);
	if (actor__binder_install(sys, &v->binder) == -EALREADY) {
		/* Another thread installed one first: use it. */
		binder_free(&v->binder);
		v = (struct actor__virtual *)actor__binder_of(sys);
	}
	return v;
}

struct actor__vtype *actor__vtype_find(struct actor__virtual *v, uint64_t hash)
{
	uint32_t n = atomic_load_explicit(&v->ntypes, memory_order_acquire);

	for (uint32_t i = 0; i < n; i++) {
		struct actor__vtype *t = atomic_load_explicit(&v->types[i], memory_order_relaxed);

		if (t->hash == hash)
			return t;
	}
	return NULL;
}

/* --- the public calls ------------------------------------------------------- */

static bool name_ok(const char *type, size_t *len)
{
	if (type == NULL)
		return false;
	*len = strnlen(type, ACTOR_NAME_MAX + 1);
	return *len >= 1 && *len <= ACTOR_NAME_MAX;
}

int actor_virtual_register(actor_system_t *sys, const char *type, const actor_spec_t *spec,
			   const actor_virtual_options_t *opts)
{
	struct actor__virtual *v;
	struct actor__vtype *t;
	struct actor__node *n;
	uint64_t period;
	size_t len;
	uint32_t k;
	int err;

	if (sys == NULL || !name_ok(type, &len) || spec == NULL || spec->handler == NULL ||
	    (opts != NULL && opts->placement != ACTOR_PLACE_HASH &&
	     opts->placement != ACTOR_PLACE_LOCAL) ||
	    (opts != NULL && opts->write_policy != ACTOR_WRITE_EXPLICIT &&
	     opts->write_policy != ACTOR_WRITE_AFTER_TURN) ||
	    (opts != NULL && opts->exactly_once && opts->store == NULL))
		return -EINVAL;
	if (actor__system_closing(sys))
		return -ESHUTDOWN;
	if ((v = actor__virtual_of(sys, true)) == NULL)
		return -ENOMEM;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return -ENOMEM;
	memcpy(t->name, type, len);
	t->name_len = len;
	t->hash = actor__vtype_hash(type, len);
	t->user = spec;
	if (opts != NULL)
		t->opts = *opts;
	if (t->opts.idle_timeout_ns == 0)
		t->opts.idle_timeout_ns = DEFAULT_IDLE_NS;
	if (t->opts.max_activating == 0)
		t->opts.max_activating = DEFAULT_MAX_ACTIVATING;
	actor__vact_turn_init(t);
	pthread_mutex_init(&t->wait_lock, NULL);
	/* The sweeper exists before the type can be found (activation.c
	 * reads v->sweeper without the lock). */
	period = t->opts.idle_timeout_ns == UINT64_MAX ? 0 : t->opts.idle_timeout_ns / 10;
	err = actor__vsweep_start(v, period == 0 ? 0 : period < SWEEP_MIN_NS ? SWEEP_MIN_NS : period);
	pthread_mutex_lock(&v->lock);
	k = atomic_load_explicit(&v->ntypes, memory_order_relaxed);
	if (err == 0)
		err = actor__vtype_find(v, t->hash) != NULL ? -EEXIST :
		      k == ACTOR__VTYPES		  ? -ENOSPC :
							    0;
	if (err == 0) {
		atomic_store_explicit(&v->types[k], t, memory_order_relaxed);
		atomic_store_explicit(&v->ntypes, k + 1, memory_order_release);
	}
	pthread_mutex_unlock(&v->lock);
	if (err != 0) {
		pthread_mutex_destroy(&t->wait_lock);
		free(t);
		return err;
	}
	/* Membership republishes this member's entry with the new type. */
	if ((n = actor__node_of(sys)) != NULL)
		actor__member_types_changed(n);
	return 0;
}

int actor_virtual_ref(actor_system_t *sys, const char *type, const void *key, size_t key_len,
		      actor_ref_t *out)
{
	struct actor__virtual *v;
	struct actor__vident *ident;
	size_t len;
	int err = 0;

	if (sys == NULL || out == NULL || !name_ok(type, &len) ||
	    key_len > ACTOR_VIRTUAL_KEY_MAX || (key == NULL && key_len != 0))
		return -EINVAL;
	if ((v = actor__virtual_of(sys, true)) == NULL)
		return -ENOMEM;
	if ((ident = actor__vident_intern(v, type, len, key, key_len, &err)) == NULL)
		return err;
	*out = (actor_ref_t){ .id = ident->id, .node = ACTOR__NODE_VIRTUAL };
	return 0;
}

const char *actor_virtual_type(const actor_ctx_t *ctx)
{
	const struct actor__vact *a = actor__ctx_bound(ctx);

	return a != NULL ? actor__vident_name(a->ident) : NULL;
}

const void *actor_virtual_key(const actor_ctx_t *ctx, size_t *len)
{
	const struct actor__vact *a = actor__ctx_bound(ctx);

	if (a == NULL)
		return NULL;
	if (len != NULL)
		*len = a->ident->key_len;
	return actor__vident_key(a->ident);
}

int actor_virtual_deactivate(actor_ctx_t *ctx)
{
	struct actor__vact *a = actor__ctx_bound(ctx);
	uint8_t none = 0;

	if (a == NULL)
		return -EINVAL;
	atomic_compare_exchange_strong(&a->reason, &none, ACTOR_DEACT_EXPLICIT);
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
	return 0;
}

int actor_virtual_stats(actor_system_t *sys, const char *type, actor_virtual_stats_t *out)
{
	struct actor__virtual *v;
	struct actor__vtype *t;
	size_t len;

	if (sys == NULL || out == NULL || !name_ok(type, &len))
		return -EINVAL;
	v = actor__virtual_of(sys, false);
	t = v != NULL ? actor__vtype_find(v, actor__vtype_hash(type, len)) : NULL;
	if (t == NULL)
		return -ENOENT;
	memset(out, 0, sizeof *out);
	out->activations = atomic_load(&t->activations);
	out->activation_failures = atomic_load(&t->failures);
	out->active = atomic_load(&t->active);
	out->waited = atomic_load(&t->waited);
	for (int i = 0; i <= ACTOR_DEACT_MAX; i++)
		out->deactivations[i] = atomic_load(&t->deact[i]);
	out->forwards = atomic_load(&t->forwards);
	out->wrong_owner = atomic_load(&t->wrong_owner);
	out->activation_ns_total = atomic_load(&t->act_ns_total);
	out->activation_ns_max = atomic_load(&t->act_ns_max);
	out->loads = atomic_load(&t->loads);
	out->load_failures = atomic_load(&t->load_failures);
	out->saves = atomic_load(&t->saves);
	out->save_failures = atomic_load(&t->save_failures);
	out->stale = atomic_load(&t->stale);
	out->once_applied = atomic_load(&t->once_applied);
	out->once_duplicates = atomic_load(&t->once_duplicates);
	out->once_resent = atomic_load(&t->once_resent);
	return 0;
}
