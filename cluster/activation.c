/*
 * Virtual actors' activations on this node: the table (identity ->
 * activation) in stripes, activation on the first message with the hooks
 * run before any message, the bound on activations in progress, the turn
 * check (fencing, activity), deactivation without losing mail, and the
 * idle sweep.
 *
 * The rule that keeps mail: an entry's actor receives mail only under its
 * stripe's lock, and the actor's mailbox is closed (actor__vact_stopped,
 * from sched/'s finalize) under that lock too. So a message either went
 * into the mailbox before the close, and is in what the close returns, or
 * finds the entry after it, when it is gone or belongs to the next
 * activation. What the close returns goes, in order, to the next
 * activation (this node still owns the key) or to the owner.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "cluster/virtual.h"
#include "util/time.h"

/* The sweeper's messages: "sweep", with the generation of its chain;
 * "take over", with the identity whose takeover margin has passed. In the
 * runtime's range: a timer that fires after the sweeper stopped is a dead
 * letter, and the application's hook must not take it for its own mail. */
#define SWEEP_MSG (ACTOR_MSG_RESERVED + 0x40u)
#define TAKEOVER_MSG (ACTOR_MSG_RESERVED + 0x41u)

/* --- the table -------------------------------------------------------------- */

/* A 64-byte malloc chunk holds 56 bytes (bench/virtual_idle). */
_Static_assert(sizeof(struct actor__vact) <= 56, "struct actor__vact grew past 56 bytes");

/* The table's entries: the activation, keyed by its identity's id. */
struct vslot {
	struct actor__vact *act;	/* NULL: empty */
};

static size_t id_hash(uint32_t id);

static size_t vslot_hash(const void *e)
{
	return id_hash(((const struct vslot *)e)->act->ident->id);
}

static bool vslot_used(const void *e)
{
	return ((const struct vslot *)e)->act != NULL;
}

static bool vslot_match(const void *e, const void *key)
{
	return ((const struct vslot *)e)->act->ident->id == *(const uint32_t *)key;
}

static const struct actor__htab_type vslot_type = {
	sizeof(struct vslot), vslot_hash, vslot_used, vslot_match,
};

static size_t id_hash(uint32_t id)
{
	return (size_t)(id * 0x9e3779b97f4a7c15ull >> 16);
}

static struct actor__vstripe *stripe_of(struct actor__virtual *v, uint32_t id)
{
	return &v->stripes[id % ACTOR__VSTRIPES];
}

static struct vslot *slot_find(struct actor__vstripe *s, uint32_t id)
{
	return actor__htab_find(&s->tab, &vslot_type, id_hash(id), &id);
}

static void slot_remove(struct actor__vstripe *s, uint32_t id)
{
	struct vslot *slot = slot_find(s, id);

	if (slot != NULL)
		actor__htab_del(&s->tab, &vslot_type, slot);
}

static void hold(struct actor__vact *a, struct actor__env *e)
{
	e->next = a->held;
	a->held = e;
}

struct actor__env *actor__vact_held_take(struct actor__vact *a)
{
	struct actor__env *list = NULL, *e, *next;

	for (e = a->held; e != NULL; e = next) {
		next = e->next;
		e->next = list;
		list = e;
	}
	a->held = NULL;
	return list;
}

static actor_ref_t ref_of(struct actor__virtual *v, const struct actor__vact *a)
{
	return (actor_ref_t){ .id = a->ref_id, .node = actor__node_id(v->sys) };
}

static uint32_t now_us(void)
{
	return (uint32_t)(actor__now_ns() / 1000);
}

static void refuse_all(struct actor__virtual *v, struct actor__worker *w,
		       struct actor__vident *ident, struct actor__env *list, int err)
{
	struct actor__env *next;

	for (; list != NULL; list = next) {
		next = list->next;
		actor__vrefuse(v, w, ident, list, err, false);
	}
}

/* Mail for a key that moved: to its owner now, in order. */
static void requeue(struct actor__virtual *v, struct actor__worker *w, struct actor__vident *ident,
		    struct actor__env *list)
{
	struct actor__env *next;

	for (; list != NULL; list = next) {
		next = list->next;
		actor__vroute(v, w, ident, list, 0, false);
	}
}

/* --- activating ------------------------------------------------------------- */

/* Spawns a's actor and gives it the held mail, in order; under a's
 * stripe lock. A persistent type's state is loaded first (LOADING; the
 * load's end spawns it). 0 or the spawn's error (a is then left as it
 * was). */
static int spawn_locked(struct actor__virtual *v, struct actor__worker *w, struct actor__vact *a)
{
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__env *e, *next;
	actor_ref_t ref;
	int err;

	if (p != NULL && !p->loaded) {
		err = actor__vp_load(v, a);
		if (err == 0)
			a->state = ACTOR__VACT_LOADING;
		return err;
	}
	atomic_store_explicit(&a->activated, false, memory_order_relaxed);
	a->stop_sent = false;
	a->error = 0;
	atomic_store_explicit(&a->reason, 0, memory_order_relaxed);
	atomic_store_explicit(&a->last_tick, atomic_load(&v->tick), memory_order_relaxed);
	err = actor__spawn_bound(v->sys, w, &a->type->spec, a, &ref);
	if (err != 0)
		return err;
	a->ref_id = ref.id;
	a->state = ACTOR__VACT_ACTIVE;
	if (p != NULL) {
		p->live = true;
		p->final = false;
		p->error = 0;
	}
	atomic_fetch_add_explicit(&a->type->active, 1, memory_order_relaxed);
	for (e = actor__vact_held_take(a); e != NULL; e = next) {
		next = e->next;
		actor__deliver(v->sys, w, ref, e);
	}
	return 0;
}

int actor__vact_spawn_locked(struct actor__virtual *v, struct actor__worker *w,
			     struct actor__vact *a)
{
	return spawn_locked(v, w, a);
}

struct actor__vstripe *actor__vact_stripe(struct actor__virtual *v, const struct actor__vact *a)
{
	return stripe_of(v, a->ident->id);
}

void actor__vact_free(struct actor__vact *a)
{
	struct actor__vpstate *p = actor__vact_persist(a);

	if (p != NULL) {
		free(p->data);
		free(p->wbuf);
		actor__vo_free(p);
		if (p->done_env != NULL)
			actor__env_free(NULL, p->done_env);
	}
	free(a);
}

/*
 * Ends a wait (for a slot, or for the state's load) under s's lock, which
 * it releases: spawns a's actor if err is 0 and this node still owns the
 * key (a view change meanwhile may have moved it), else takes a out of the
 * table and sends its held mail on: to the owner after a view change, or
 * refused with err (shutting down, out of memory, the store failed).
 * Returns whether it spawned; if not, a is the caller's to free.
 */
static bool spawn_or_hand_off_unlock(struct actor__virtual *v, struct actor__worker *w,
				     struct actor__vstripe *s, struct actor__vact *a, int err)
{
	struct actor__env *list;

	if (err == 0 && actor__vplace(v, a->ident) != actor__node_id(v->sys))
		err = -ESTALE;
	if (err == 0 && (err = spawn_locked(v, w, a)) == 0) {
		pthread_mutex_unlock(&s->lock);
		return true;
	}
	slot_remove(s, a->ident->id);
	pthread_mutex_unlock(&s->lock);
	list = actor__vact_held_take(a);
	if (err == -ESTALE)
		requeue(v, w, a->ident, list);
	else
		refuse_all(v, w, a->ident, list, err);
	return false;
}

/* A slot of t->max_activating is free again: the oldest waiting
 * activation takes it, or it is given back. */
static void release_slot(struct actor__virtual *v, struct actor__worker *w, struct actor__vtype *t)
{
	for (;;) {
		struct actor__vact *a;
		struct actor__vstripe *s;

		pthread_mutex_lock(&t->wait_lock);
		a = t->wait_head;
		if (a != NULL) {
			t->wait_head = a->wait_next;
			if (t->wait_head == NULL)
				t->wait_tail = NULL;
		} else {
			t->activating--;
		}
		pthread_mutex_unlock(&t->wait_lock);
		if (a == NULL)
			return;
		s = stripe_of(v, a->ident->id);
		pthread_mutex_lock(&s->lock);
		a->started_us = now_us();
		if (spawn_or_hand_off_unlock(v, w, s, a, 0))
			return;
		actor__vact_free(a);	/* the slot goes to the next one */
	}
}

void actor__vact_loaded_unlock(struct actor__virtual *v, struct actor__vact *a, int err)
{
	if (spawn_or_hand_off_unlock(v, NULL, stripe_of(v, a->ident->id), a, err))
		return;
	/* The load held the slot that vact_init would have given back. */
	release_slot(v, NULL, a->type);
	actor__vact_free(a);
}

/* Starts a (new, or reactivated with its mail held) now, or queues it
 * behind the activations in progress; under its stripe lock. */
static int start_locked(struct actor__virtual *v, struct actor__worker *w, struct actor__vact *a)
{
	struct actor__vtype *t = a->type;
	bool now;
	int err;

	a->started_us = now_us();
	pthread_mutex_lock(&t->wait_lock);
	now = t->activating < t->opts.max_activating;
	if (now) {
		t->activating++;
	} else {
		a->state = ACTOR__VACT_WAITING;
		a->wait_next = NULL;
		if (t->wait_tail == NULL)
			t->wait_head = a;
		else
			t->wait_tail->wait_next = a;
		t->wait_tail = a;
	}
	pthread_mutex_unlock(&t->wait_lock);
	if (!now) {
		atomic_fetch_add_explicit(&t->waited, 1, memory_order_relaxed);
		return 0;
	}
	err = spawn_locked(v, w, a);
	if (err != 0) {
		pthread_mutex_lock(&t->wait_lock);
		t->activating--;
		pthread_mutex_unlock(&t->wait_lock);
	}
	return err;
}

/* Until when a key this node owns may not be activated: a dead member's
 * takeover margin, or a live handover that this node waits for (0 or a
 * time already past: now). */
static uint64_t hold_until(struct actor__virtual *v, struct actor__vident *ident, uint64_t now)
{
	struct actor__node *n = actor__node_of(v->sys);
	uint64_t until = actor__vtakeover_at(v, ident, now);
	uint64_t h = n != NULL ? actor__view_handover_until(n) : 0;

	return (int64_t)(h - now) > 0 && h > until ? h : until;
}

int actor__vact_deliver(struct actor__virtual *v, struct actor__worker *w,
			struct actor__vident *ident, struct actor__env *e, bool sync)
{
	struct actor__vtype *t = actor__vtype_find(v, ident->thash);
	struct actor__vstripe *s;
	struct actor__vact *a;
	struct actor__node *n = actor__node_of(v->sys);
	struct vslot *slot;
	uint64_t now, until;
	int err = 0;

	if (t == NULL)
		return actor__vrefuse(v, w, ident, e, -ESRCH, sync);
	/* Fenced: no activation would run a turn (actor__vact_turn). */
	if (n != NULL && !actor__view_may_run(n, actor__now_ns()))
		return actor__vrefuse(v, w, ident, e, -EAGAIN, sync);
	s = stripe_of(v, ident->id);
	pthread_mutex_lock(&s->lock);
	slot = slot_find(s, ident->id);
	if (slot != NULL) {
		a = slot->act;
		if (a->state == ACTOR__VACT_ACTIVE) {
			err = actor__deliver(v->sys, w, ref_of(v, a), e);
			pthread_mutex_unlock(&s->lock);
			return err;
		}
		hold(a, e);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	/* A view published since the caller placed the key may have moved
	 * it: its seal pass has been through this stripe, so an activation
	 * made here now would be sealed by nobody. */
	if (actor__vplace(v, ident) != actor__node_id(v->sys)) {
		pthread_mutex_unlock(&s->lock);
		return actor__vroute(v, w, ident, e, 0, sync);
	}
	if ((a = calloc(1, t->opts.store != NULL ? sizeof(struct actor__vpact) : sizeof *a)) ==
		    NULL ||
	    actor__htab_reserve(&s->tab, &vslot_type) != 0) {
		pthread_mutex_unlock(&s->lock);
		free(a);
		return actor__vrefuse(v, w, ident, e, -ENOMEM, sync);
	}
	a->ident = ident;
	a->type = t;
	hold(a, e);
	/* A key taken from a dead member waits for the takeover margin: by
	 * then its old activation has fenced itself. */
	now = actor__now_ns();
	until = hold_until(v, ident, now);
	if (until > now) {
		uint32_t id = ident->id;

		a->state = ACTOR__VACT_TAKEOVER;
		err = actor_system_send_after(v->sys, v->sweeper, until - now, TAKEOVER_MSG, &id,
					      sizeof id, NULL);
	} else {
		err = start_locked(v, w, a);
	}
	if (err != 0) {
		pthread_mutex_unlock(&s->lock);
		e = actor__vact_held_take(a);
		actor__vact_free(a);
		return actor__vrefuse(v, w, ident, e, err, sync);
	}
	slot = actor__htab_add(&s->tab, &vslot_type, id_hash(ident->id));
	slot->act = a;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* --- the activation's own hooks (its worker) --------------------------------- */

static int vact_init(actor_ctx_t *ctx, void *arg)
{
	struct actor__vact *a = arg;
	struct actor__vtype *t = a->type;
	struct actor__virtual *v = actor__virtual_of(actor_ctx_system(ctx), false);
	uint64_t ns, max;
	int err = 0;

	if (t->user->init != NULL)
		err = t->user->init(ctx, t->opts.arg);
	if (err >= 0 && t->opts.activate != NULL)
		err = t->opts.activate(ctx);
	if (err < 0) {
		uint8_t none = 0;

		/* errno values fit; anything else is said as -EIO. */
		a->error = (int16_t)(err >= -4095 ? err : -EIO);
		atomic_compare_exchange_strong(&a->reason, &none, ACTOR__DEACT_FAILED);
		atomic_fetch_add_explicit(&t->failures, 1, memory_order_relaxed);
	} else {
		atomic_store_explicit(&a->activated, true, memory_order_relaxed);
		if (t->opts.exactly_once)
			actor__vo_activated(ctx, a);
		ns = (uint64_t)(uint32_t)(now_us() - a->started_us) * 1000;
		atomic_fetch_add_explicit(&t->activations, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->act_ns_total, ns, memory_order_relaxed);
		max = atomic_load_explicit(&t->act_ns_max, memory_order_relaxed);
		while (ns > max && !atomic_compare_exchange_weak(&t->act_ns_max, &max, ns))
			;
	}
	release_slot(v, actor__ctx_worker(ctx), t);
	return err < 0 ? err : 0;
}

static int deact_reason(const actor_ctx_t *ctx, struct actor__vact *a)
{
	int r = atomic_load_explicit(&a->reason, memory_order_relaxed);

	if (r != 0)
		return r;
	return actor__ctx_exit_reason(ctx) == ACTOR_EXIT_SHUTDOWN ? ACTOR_DEACT_SHUTDOWN :
								    ACTOR_DEACT_EXPLICIT;
}

static void vact_cleanup(actor_ctx_t *ctx)
{
	struct actor__vact *a = actor__ctx_bound(ctx);
	struct actor__vtype *t = a->type;

	if (atomic_load_explicit(&a->activated, memory_order_relaxed)) {
		int r = deact_reason(ctx, a);

		if (t->opts.deactivate != NULL)
			t->opts.deactivate(ctx, r);
		atomic_fetch_add_explicit(&t->deact[r], 1, memory_order_relaxed);
	}
	if (t->user->cleanup != NULL)
		t->user->cleanup(ctx);
}

void actor__vact_turn_init(struct actor__vtype *t)
{
	t->spec = *t->user;
	t->spec.name = t->name;
	t->spec.init = vact_init;
	t->spec.cleanup = vact_cleanup;
}

bool actor__vact_turn(struct actor__binder *b, actor_ctx_t *ctx, void *bound,
		      struct actor__env *e)
{
	struct actor__virtual *v = (struct actor__virtual *)b;
	struct actor__vact *a = bound;
	struct actor__node *n = actor__node_of(v->sys);
	uint32_t tick;

	if (e->flags & ACTOR__ENV_VSTORE)
		return actor__vp_turn(v, ctx, a, e);
	/* A fenced node runs no virtual turn: the activation ends, and this
	 * message with the rest of its mail is refused (-EAGAIN). */
	if (n != NULL && !actor__view_may_run(n, actor__now_ns())) {
		uint8_t none = 0;

		atomic_compare_exchange_strong(&a->reason, &none, (uint8_t)ACTOR_DEACT_FENCED);
		hold(a, e);
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
		return false;
	}
	tick = atomic_load_explicit(&v->tick, memory_order_relaxed);
	if (atomic_load_explicit(&a->last_tick, memory_order_relaxed) != tick)
		atomic_store_explicit(&a->last_tick, tick, memory_order_relaxed);
	/* Exactly-once mail (its resend ticks too: an activation with an
	 * outbox stays until it is acknowledged). */
	if (actor__msg_is_once(e->type) && a->type->opts.exactly_once)
		return actor__vo_turn(ctx, a, actor__vact_persist(a), e);
	return true;
}

void actor__vact_stopped(struct actor__binder *b, actor_ctx_t *ctx, void *bound)
{
	struct actor__virtual *v = (struct actor__virtual *)b;
	struct actor__vact *a = bound;
	struct actor__worker *w = actor__ctx_worker(ctx);
	struct actor__vstripe *s = stripe_of(v, a->ident->id);
	struct actor__env *queued, *list;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	queued = actor__ctx_close(ctx);
	atomic_fetch_sub_explicit(&a->type->active, 1, memory_order_relaxed);
	/* What the turn check took back comes before what was queued. */
	list = actor__vact_held_take(a);
	if (list != NULL)
		list->next = queued;	/* it took one message at most */
	else
		list = queued;
	/* A persistent state's last write: its end finishes. */
	if (actor__vact_persist(a) != NULL && actor__vp_stopped(v, a, &list, &err)) {
		a->state = ACTOR__VACT_SAVING;
		for (struct actor__env *e = list, *next; e != NULL; e = next) {
			next = e->next;
			hold(a, e);
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	actor__vact_finish_unlock(v, w, a, list, err);
}

void actor__vact_finish_unlock(struct actor__virtual *v, struct actor__worker *w,
			       struct actor__vact *a, struct actor__env *list, int err)
{
	struct actor__vstripe *s = stripe_of(v, a->ident->id);
	struct actor__vpstate *p = actor__vact_persist(a);
	struct actor__env *next;
	int reason = atomic_load_explicit(&a->reason, memory_order_relaxed);
	uint32_t self = actor__node_id(v->sys);
	bool sealing = a->sealing;

	a->sealing = false;

	/* A stale state is loaded again by the next activation. */
	if (p != NULL && p->stale) {
		free(p->data);
		p->data = NULL;
		p->len = 0;
		actor__vo_free(p);
		p->loaded = p->stale = p->dirty = p->want = false;
	}
	if (err == 0 && list != NULL && !actor__system_closing(v->sys) &&
	    reason != ACTOR__DEACT_FAILED && reason != ACTOR_DEACT_FENCED &&
	    actor__vplace(v, a->ident) == self) {
		/* Mail came while it deactivated: the next activation has it. */
		for (; list != NULL; list = next) {
			next = list->next;
			hold(a, list);
		}
		err = start_locked(v, w, a);
		if (err == 0) {
			pthread_mutex_unlock(&s->lock);
			if (sealing)
				actor__vact_seal_done(v);
			return;
		}
		list = actor__vact_held_take(a);
	}
	slot_remove(s, a->ident->id);
	pthread_mutex_unlock(&s->lock);
	if (sealing)
		actor__vact_seal_done(v);
	if (actor__system_closing(v->sys))
		err = -ESRCH;
	else if (reason == ACTOR__DEACT_FAILED)
		err = a->error;
	else if (reason == ACTOR_DEACT_FENCED)
		err = -EAGAIN;
	if (err != 0)
		refuse_all(v, w, a->ident, list, err);
	else
		requeue(v, w, a->ident, list);	/* the key moved (or a write was stale) */
	actor__vact_free(a);
}

/* --- the idle sweep and seals ------------------------------------------------- */

/* Asks a to stop (under its stripe lock) with reason, once. */
static void ask_stop(struct actor__virtual *v, struct actor__worker *w, struct actor__vact *a,
		     uint8_t reason)
{
	uint8_t none = 0;

	if (a->state != ACTOR__VACT_ACTIVE || a->stop_sent)
		return;
	a->stop_sent = true;
	atomic_compare_exchange_strong(&a->reason, &none, reason);
	actor__stop_later(v->sys, w, ref_of(v, a), ACTOR_EXIT_NORMAL);
}

/*
 * One pass over every activation: those whose last message came more
 * than their type's idle timeout ago (in sweeps, rounded up, plus the one
 * in progress) are asked to stop. Cost: a look at each activation per
 * period, spread over the stripes' locks; nothing per message but a
 * relaxed store when the tick moved.
 */
static void sweep(struct actor__virtual *v, struct actor__worker *w, uint64_t period)
{
	uint32_t tick = atomic_fetch_add(&v->tick, 1) + 1;
	uint64_t t0 = actor__now_ns(), ns, max;
	uint64_t seen = 0;

	for (int i = 0; i < ACTOR__VSTRIPES; i++) {
		struct actor__vstripe *s = &v->stripes[i];

		pthread_mutex_lock(&s->lock);
		for (size_t k = 0; k < actor__htab_cap(&s->tab); k++) {
			struct vslot *slot = actor__htab_slot(&s->tab, &vslot_type, k);
			struct actor__vact *a;
			uint64_t idle;

			if (slot->act == NULL)
				continue;
			a = slot->act;
			seen++;
			if (a->type->opts.idle_timeout_ns == UINT64_MAX ||
			    !atomic_load_explicit(&a->activated, memory_order_relaxed))
				continue;
			idle = (a->type->opts.idle_timeout_ns + period - 1) / period + 1;
			if (tick - atomic_load_explicit(&a->last_tick, memory_order_relaxed) >= idle)
				ask_stop(v, w, a, ACTOR_DEACT_IDLE);
		}
		pthread_mutex_unlock(&s->lock);
	}
	ns = actor__now_ns() - t0;
	atomic_store(&v->sweep_ns_last, ns);
	atomic_store(&v->sweep_seen, seen);
	max = atomic_load(&v->sweep_ns_max);
	if (ns > max)
		atomic_store(&v->sweep_ns_max, ns);
}

/* The takeover margin for key `id` has passed: it may be activated. */
static void take_over(struct actor__virtual *v, struct actor__worker *w, uint32_t id)
{
	struct actor__vstripe *s = stripe_of(v, id);
	struct vslot *slot;
	struct actor__vact *a;
	int err;

	pthread_mutex_lock(&s->lock);
	slot = slot_find(s, id);
	a = slot != NULL ? slot->act : NULL;
	if (a == NULL || a->state != ACTOR__VACT_TAKEOVER) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	/* A view change while it waited may have moved the key, or given it
	 * to a member that died since, whose margin is later, or begun a live
	 * handover. */
	err = actor__vplace(v, a->ident) != actor__node_id(v->sys) ? -ESTALE : 0;
	if (err == 0) {
		uint64_t now = actor__now_ns(), until = hold_until(v, a->ident, now);

		err = until > now ? actor_system_send_after(v->sys, v->sweeper, until - now,
							    TAKEOVER_MSG, &id, sizeof id, NULL) :
				    start_locked(v, w, a);
	}
	if (err == 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	slot_remove(s, id);
	pthread_mutex_unlock(&s->lock);
	if (err == -ESTALE)
		requeue(v, w, a->ident, actor__vact_held_take(a));
	else
		refuse_all(v, w, a->ident, actor__vact_held_take(a), err);
	actor__vact_free(a);
}

static void sweeper(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct actor__virtual *v = actor__virtual_of(actor_ctx_system(ctx), false);
	uint32_t gen;
	uint64_t period;

	if (actor_msg_size(msg) != sizeof gen)
		return;
	if (actor_msg_type(msg) == TAKEOVER_MSG) {
		memcpy(&gen, actor_msg_data(msg), sizeof gen);
		take_over(v, actor__ctx_worker(ctx), gen);
		return;
	}
	if (actor_msg_type(msg) != SWEEP_MSG)
		return;
	memcpy(&gen, actor_msg_data(msg), sizeof gen);
	/* A later start began a faster chain: this one ends. */
	if (gen != atomic_load(&v->sweep_gen))
		return;
	pthread_mutex_lock(&v->lock);
	period = v->sweep_period_ns;
	pthread_mutex_unlock(&v->lock);
	sweep(v, actor__ctx_worker(ctx), period);
	actor_send_after(ctx, actor_self(ctx), period, SWEEP_MSG, &gen, sizeof gen, NULL);
}

static const actor_spec_t sweeper_spec = { .name = "virtual-sweep", .handler = sweeper };

int actor__vsweep_start(struct actor__virtual *v, uint64_t period_ns)
{
	actor_ref_t ref;
	uint32_t gen;
	int err = 0;

	pthread_mutex_lock(&v->lock);
	if (actor_ref_is_none(v->sweeper))
		err = actor__spawn_bound(v->sys, NULL, &sweeper_spec, NULL, &v->sweeper);
	if (err != 0 || period_ns == 0 ||
	    (v->sweep_period_ns != 0 && v->sweep_period_ns <= period_ns)) {
		pthread_mutex_unlock(&v->lock);
		return err;
	}
	v->sweep_period_ns = period_ns;
	ref = v->sweeper;
	gen = atomic_fetch_add(&v->sweep_gen, 1) + 1;
	pthread_mutex_unlock(&v->lock);
	return actor_system_send_after(v->sys, ref, period_ns, SWEEP_MSG, &gen, sizeof gen, NULL);
}

/* Calls one on every entry here under its stripe's lock; the sum of what
 * it returned. */
static size_t each_entry(struct actor__virtual *v,
			 size_t (*one)(struct actor__virtual *v, struct actor__vact *a))
{
	size_t sum = 0;

	for (int i = 0; i < ACTOR__VSTRIPES; i++) {
		struct actor__vstripe *s = &v->stripes[i];

		pthread_mutex_lock(&s->lock);
		for (size_t k = 0; k < actor__htab_cap(&s->tab); k++) {
			struct vslot *slot = actor__htab_slot(&s->tab, &vslot_type, k);

			if (slot->act != NULL)
				sum += one(v, slot->act);
		}
		pthread_mutex_unlock(&s->lock);
	}
	return sum;
}

/* Sends a waiting entry's TAKEOVER message: take_over() checks its key's
 * owner and margins again. */
static size_t kick(struct actor__virtual *v, struct actor__vact *a)
{
	uint32_t id = a->ident->id;

	if (a->state != ACTOR__VACT_TAKEOVER)
		return 0;
	actor_system_send(v->sys, v->sweeper, TAKEOVER_MSG, &id, sizeof id);
	return 1;
}

static size_t seal_one(struct actor__virtual *v, struct actor__vact *a)
{
	if (actor__vplace(v, a->ident) == actor__node_id(v->sys))
		return 0;
	/* Waiting for a takeover margin or a handover: its mail goes to the
	 * new owner now, not at its time. */
	if (a->state == ACTOR__VACT_TAKEOVER) {
		kick(v, a);
		return 0;
	}
	/* Active, or saving its state as it ends: the new owner waits until
	 * it has ended (seals_pending). */
	if (a->sealing || (a->state != ACTOR__VACT_ACTIVE && a->state != ACTOR__VACT_SAVING))
		return 0;
	ask_stop(v, NULL, a, ACTOR_DEACT_VIEW);
	a->sealing = true;
	atomic_fetch_add(&v->seals_pending, 1);
	return 1;
}

size_t actor__vact_seal(struct actor__virtual *v)
{
	return each_entry(v, seal_one);
}

void actor__vact_seal_done(struct actor__virtual *v)
{
	struct actor__node *n = actor__node_of(v->sys);

	if (atomic_fetch_sub(&v->seals_pending, 1) != 1)
		return;
	atomic_store(&v->sealed_epoch, atomic_load(&v->seal_target));
	if (n != NULL)
		actor__member_sealed(n);	/* the members hear it at once */
}

void actor__vact_handover_done(struct actor__virtual *v)
{
	each_entry(v, kick);
}

static size_t fence_one(struct actor__virtual *v, struct actor__vact *a)
{
	if (a->state != ACTOR__VACT_ACTIVE || a->stop_sent)
		return 0;
	ask_stop(v, NULL, a, ACTOR_DEACT_FENCED);
	return 1;
}

size_t actor__vact_fence(struct actor__virtual *v)
{
	return each_entry(v, fence_one);
}

void actor__vact_free_all(struct actor__virtual *v)
{
	for (int i = 0; i < ACTOR__VSTRIPES; i++) {
		struct actor__vstripe *s = &v->stripes[i];

		/* Only waiting entries are left: every actor has stopped. Their
		 * mail is dead letters, as any mail still queued at shutdown. */
		for (size_t k = 0; k < actor__htab_cap(&s->tab); k++) {
			struct vslot *slot = actor__htab_slot(&s->tab, &vslot_type, k);
			struct actor__env *e, *next;
			actor_ref_t to;

			if (slot->act == NULL)
				continue;
			to = (actor_ref_t){ .id = slot->act->ident->id, .node = ACTOR__NODE_VIRTUAL };
			for (e = slot->act->held; e != NULL; e = next) {
				next = e->next;
				actor__dead_letter(v->sys, NULL, to, e, -ESRCH);
			}
			actor__vact_free(slot->act);
		}
		actor__htab_free(&s->tab);
	}
}
