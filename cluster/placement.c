/*
 * Where a virtual actor lives: rendezvous (highest random weight) hashing
 * of its keyed hash over the live members of the current view that host
 * its type (cluster/view.h). Every node computes the same owner from the
 * same view with no message; when a member joins or leaves, only the keys
 * that it wins or held move (about 1/N of them).
 *
 * The key's hash is SipHash-2-4 keyed with a secret derived from the
 * node's cookie (the same on every node of a cluster, never sent), so that
 * whoever picks keys cannot predict where they land and pile them on one
 * node. Without a node there is no view and every key is this node's.
 *
 * Also the virtual layer's side of view.h: the types this system hosts,
 * and the seal of the keys a new view takes away.
 */
#include "config.h"

#include <string.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "cluster/virtual.h"

/* Fixed keys to derive the secret from the cookie, and to hash type names
 * (which need no secret: they are the application's, not the peers'). */
static const uint8_t secret_key_lo[16] = "libactor-vplace0";
static const uint8_t secret_key_hi[16] = "libactor-vplace1";
static const uint8_t type_key[16] = "libactor-vtype-h";

uint64_t actor__vtype_hash(const char *name, size_t len)
{
	uint64_t h = actor__siphash24(type_key, name, len);

	return h != 0 ? h : 1;	/* 0 is no type */
}

/* 64-bit finalizer (splitmix64): the weight of a member for a key whose
 * keyed hash is already unpredictable needs mixing, not another PRF. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ x >> 31;
}

/* The placement key: SipHash of the cookie under two fixed keys. */
static void secret_of(struct actor__node *n, uint8_t out[16])
{
	uint64_t lo = actor__siphash24(secret_key_lo, n->cfg.cookie, n->cfg.cookie_len);
	uint64_t hi = actor__siphash24(secret_key_hi, n->cfg.cookie, n->cfg.cookie_len);

	memcpy(out, &lo, 8);
	memcpy(out + 8, &hi, 8);
}

static uint64_t khash_of(struct actor__node *n, struct actor__vident *ident)
{
	uint64_t h = atomic_load_explicit(&ident->khash, memory_order_relaxed);
	uint8_t secret[16];
	unsigned char buf[8 + ACTOR_VIRTUAL_KEY_MAX];

	if (h != 0)
		return h;
	/* The cookie never changes once the node started: computing it
	 * twice in a race gives the same value. */
	secret_of(n, secret);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(ident->thash >> (8 * i));
	memcpy(buf + 8, actor__vident_key(ident), ident->key_len);
	h = actor__siphash24(secret, buf, 8 + (size_t)ident->key_len);
	h = h != 0 ? h : 1;
	atomic_store_explicit(&ident->khash, h, memory_order_relaxed);
	return h;
}

static bool hosts_in(const uint64_t *types, size_t ntypes, uint64_t thash)
{
	size_t lo = 0, hi = ntypes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (types[mid] == thash)
			return true;
		if (types[mid] < thash)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool hosts(const struct actor__view_member *m, uint64_t thash)
{
	return hosts_in(m->types, m->ntypes, thash);
}

static uint32_t owner_in(const struct actor__view *view, uint64_t kh, uint64_t thash)
{
	uint32_t best = 0;
	uint64_t best_w = 0;

	for (uint32_t i = 0; i < view->nmembers; i++) {
		const struct actor__view_member *m = &view->members[i];
		uint64_t w;

		if (!hosts(m, thash))
			continue;
		w = mix(kh ^ mix(m->node));
		/* Ties (never in practice) go to the lower node id: members
		 * are sorted, so the first wins. */
		if (best == 0 || w > best_w) {
			best = m->node;
			best_w = w;
		}
	}
	return best;
}

uint32_t actor__vplace(struct actor__virtual *v, struct actor__vident *ident)
{
	struct actor__node *n = actor__node_of(v->sys);
	uint32_t self = actor__node_id(v->sys);
	struct actor__vtype *t;
	uint64_t kh;
	unsigned s;
	uint32_t owner;

	if (n == NULL)
		return self;
	t = actor__vtype_find(v, ident->thash);
	if (t != NULL && t->opts.placement == ACTOR_PLACE_LOCAL)
		return self;
	kh = khash_of(n, ident);
	s = actor__view_enter(n);
	owner = owner_in(actor__view_get(n), kh, ident->thash);
	actor__view_exit(n, s);
	return owner;
}

/*
 * A key this node owns now was the dead member d's if d hosted its type
 * and outweighed this node: with rendezvous hashing, the owner under the
 * view with d is the winner between d and the owner without it. The
 * records are the view's own, there from the moment it is published:
 * a key whose owner died is never activated here before the margin, even
 * before actor__virtual_view_changed has run.
 */
uint64_t actor__vtakeover_at(struct actor__virtual *v, struct actor__vident *ident,
			     uint64_t now_ns)
{
	struct actor__node *n = actor__node_of(v->sys);
	const struct actor__view *view;
	uint64_t kh, self_w, until = 0;
	unsigned s;

	if (n == NULL)
		return 0;
	kh = khash_of(n, ident);
	self_w = mix(kh ^ mix(actor__node_id(v->sys)));
	s = actor__view_enter(n);
	view = actor__view_get(n);
	for (uint32_t i = 0; view != NULL && i < view->ntakeovers; i++) {
		const struct actor__view_takeover *d = &view->takeovers[i];

		/* Signed: the records hold this node's clock. */
		if ((int64_t)(d->at - now_ns) > 0 && d->at > until &&
		    hosts_in(d->types, d->ntypes, ident->thash) && mix(kh ^ mix(d->node)) > self_w)
			until = d->at;
	}
	actor__view_exit(n, s);
	return until;
}

size_t actor__virtual_local_types(struct actor_system *sys, uint64_t *out, size_t cap)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);
	uint32_t k = v != NULL ? atomic_load_explicit(&v->ntypes, memory_order_acquire) : 0;

	for (uint32_t i = 0; i < k && i < cap; i++)
		out[i] = atomic_load_explicit(&v->types[i], memory_order_relaxed)->hash;
	return k;
}

void actor__virtual_view_changed(struct actor_system *sys, const struct actor__view *old,
				 const struct actor__view *now)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);
	struct actor__node *n = actor__node_of(sys);
	size_t sealed;

	/* The first view takes nothing away. Called on the I/O thread, where
	 * the node's log may be written. */
	if (v == NULL || n == NULL)
		return;
	if (old == NULL) {
		atomic_store(&v->seen_epoch, now->epoch);
		return;
	}
	/* The pass holds one count, so that seals ending meanwhile do not
	 * call the view sealed before every one of them is counted. */
	if (atomic_fetch_add(&v->seals_pending, 1) == 0)
		atomic_store(&v->sealed_epoch, old->epoch);
	atomic_store(&v->seal_target, now->epoch);
	sealed = actor__vact_seal(v);
	atomic_store(&v->seen_epoch, now->epoch);
	actor__vact_seal_done(v);
	if (sealed != 0)
		actor__node_log(n, "view %llu (was %llu): %zu virtual activation(s) sealed, their keys moved",
				(unsigned long long)now->epoch, (unsigned long long)old->epoch, sealed);
}

uint64_t actor__virtual_sealed_epoch(struct actor_system *sys, uint64_t view_epoch)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);
	uint64_t e;

	/* No virtual layer, or one made after the last view change: nothing
	 * of an earlier view to seal. */
	if (v == NULL || (e = atomic_load(&v->seen_epoch)) == 0)
		return view_epoch;
	if (atomic_load(&v->seals_pending) != 0)
		e = atomic_load(&v->sealed_epoch);
	return e < view_epoch ? e : view_epoch;
}

void actor__virtual_handover_done(struct actor_system *sys)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);

	if (v != NULL)
		actor__vact_handover_done(v);
}

void actor__virtual_fenced(struct actor_system *sys)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);
	struct actor__node *n = actor__node_of(sys);
	size_t stopped;

	if (v == NULL || n == NULL)
		return;
	stopped = actor__vact_fence(v);
	if (stopped != 0)
		actor__node_log(n, "fenced: %zu virtual activation(s) asked to stop", stopped);
}
