/*
 * Actors: spawning, running a turn, and stopping.
 *
 * A turn: the worker pops up to max_throughput messages and calls the
 * handler for each (or acts on runtime messages itself). It ends when the
 * mailbox is empty and actor__mbox_try_block succeeds (the actor is idle,
 * and the next send will schedule it), when the budget is spent (the actor
 * goes to the back of the run queue), or when the actor stops.
 *
 * Stopping happens on the worker, at the end of the handler call that asked
 * for it: the cleanup hook runs (once, if init ran or there is none), the mailbox is closed and what was
 * still queued becomes dead letters, the state is freed, and the slot's
 * generation moves on so that every reference to the actor goes stale.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/internal.h"

/* copy: init gets a copy of arg_size bytes at arg, made now, rather than arg.
 * state0: the state's first value (spec->state_size bytes), or NULL for zeros. */
static int spawn(struct actor_system *sys, struct actor__worker *w, const actor_spec_t *spec,
		 void *arg, bool copy, size_t arg_size, const void *state0, void *bound,
		 actor_ref_t *out)
{
	struct actor__actor *a;
	struct actor__env *init = NULL;
	void *state = NULL;
	actor_ref_t ref;
	int err;

	if (spec == NULL || spec->handler == NULL || out == NULL)
		return -EINVAL;
	if (copy && arg == NULL && arg_size != 0)
		return -EINVAL;
	if (arg_size > UINT32_MAX)
		return -EMSGSIZE;
	if (atomic_load_explicit(&sys->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	/* Everything that can fail happens before the actor exists. */
	if (spec->state_size != 0 && (state = calloc(1, spec->state_size)) == NULL)
		return -ENOMEM;
	if (state0 != NULL && state != NULL)
		memcpy(state, state0, spec->state_size);
	/* The copy travels in the init message: nothing to free afterwards. */
	if (spec->init != NULL &&
	    (init = copy ? actor__system_env(w, ACTOR__SYS_INIT_COPY, arg, arg_size) :
			   actor__system_env(w, ACTOR__SYS_INIT, &arg, sizeof arg)) == NULL) {
		free(state);
		return -ENOMEM;
	}
	err = actor__slot_alloc(sys, w, &a);
	if (err != 0) {
		if (init != NULL)
			actor__env_free(actor__pool_of(w), init);
		free(state);
		return err;
	}
	a->flags = spec->init != NULL ? 0 : ACTOR__A_STARTED;
	a->exit_reason = ACTOR_EXIT_NORMAL;
	a->handler = spec->handler;
	a->spec = spec;
	a->state = state;
	a->pending = NULL;
	a->promised = NULL;
	a->relations = NULL;
	a->bound = bound;
	atomic_store_explicit(&a->names, 0, memory_order_relaxed);
	ref = actor__ref_of(sys, a);
	atomic_fetch_add_explicit(&sys->spawned, 1, memory_order_relaxed);
	actor__mbox_reopen(&a->mb, spec->mailbox_capacity);
	/* *out first: from an outside thread init may run on a worker before
	 * this call returns, and it may read what the caller's *out holds
	 * (the push below publishes it). init runs ahead of any message. */
	*out = ref;
	if (init != NULL)
		actor__deliver(sys, w, ref, init);
	return 0;
}

int actor_spawn(actor_ctx_t *ctx, const actor_spec_t *spec, void *arg, actor_ref_t *out)
{
	/* Inside a live actor's turn: shutdown counts the parent until it
	 * stops, and by then it sees the child too. */
	return spawn(ctx->sys, ctx->w, spec, arg, false, 0, NULL, NULL, out);
}

/*
 * From outside, spawn and shutdown exclude each other (a Dekker pair,
 * seq_cst on both sides): shutdown sets closing, then waits until no
 * outside spawn is in progress before its first sweep, so an actor spawned
 * here is either refused or seen by the sweep. Model: tests/spin/ask.pml.
 */
static int spawn_outside(struct actor_system *sys, const actor_spec_t *spec, void *arg,
			 bool copy, size_t arg_size, const void *state, void *bound,
			 actor_ref_t *out)
{
	int err = -ESHUTDOWN;

	atomic_fetch_add(&sys->spawning, 1);
	if (!atomic_load(&sys->closing))
		err = spawn(sys, NULL, spec, arg, copy, arg_size, state, bound, out);
	atomic_fetch_sub(&sys->spawning, 1);
	return err;
}

int actor__system_spawn(struct actor_system *sys, const actor_spec_t *spec, void *arg,
			const void *state, actor_ref_t *out)
{
	return spawn_outside(sys, spec, arg, false, 0, state, NULL, out);
}

int actor__spawn_with(struct actor_system *sys, struct actor__worker *w, const actor_spec_t *spec,
		      void *arg, void *bound, actor_ref_t *out)
{
	if (w != NULL)
		return spawn(sys, w, spec, arg, false, 0, NULL, bound, out);
	return spawn_outside(sys, spec, arg, false, 0, NULL, bound, out);
}

int actor_system_spawn(actor_system_t *sys, const actor_spec_t *spec, void *arg,
		       actor_ref_t *out)
{
	return spawn_outside(sys, spec, arg, false, 0, NULL, NULL, out);
}

int actor_spawn_copy(actor_ctx_t *ctx, const actor_spec_t *spec, const void *arg,
		     size_t arg_size, actor_ref_t *out)
{
	return spawn(ctx->sys, ctx->w, spec, (void *)arg, true, arg_size, NULL, NULL, out);
}

int actor_system_spawn_copy(actor_system_t *sys, const actor_spec_t *spec, const void *arg,
			    size_t arg_size, actor_ref_t *out)
{
	return spawn_outside(sys, spec, (void *)arg, true, arg_size, NULL, NULL, out);
}

void actor__stop(struct actor__actor *a, int reason)
{
	if (!(a->flags & ACTOR__A_STOPPING)) {
		a->flags |= ACTOR__A_STOPPING;
		a->exit_reason = reason;
	}
}

static void finalize(struct actor_ctx *ctx)
{
	struct actor_system *sys = ctx->sys;
	struct actor__actor *a = ctx->a;
	actor_ref_t self = actor__ref_of(sys, a);
	struct actor__env *e, *next;
	uint32_t gen;

	/* Not when an exit overtook init (at shutdown): nothing to clean. */
	if (a->spec->cleanup != NULL && (a->flags & ACTOR__A_STARTED))
		a->spec->cleanup(ctx);
	/* After the cleanup, which may still deliver a promise. */
	actor__promised_fail(sys, ctx->w, a);
	/* A virtual activation's mail goes to its next activation. */
	if (a->bound != NULL) {
		struct actor__binder *b = atomic_load_explicit(&sys->binder, memory_order_acquire);

		b->stopped(b, ctx, a->bound);
		a->bound = NULL;
	}
	for (e = actor__mbox_closed(&a->mb) ? NULL : actor__mbox_close(&a->mb); e != NULL;
	     e = next) {
		next = e->next;
		/* A requester hears at once that no reply will come, and a
		 * would-be monitor or link that we are down. */
		if (e->flags & ACTOR__ENV_REQUEST)
			actor__request_failed(sys, ctx->w, e, -ESRCH);
		if (e->flags & ACTOR__ENV_SYSTEM) {
			actor__link_queued(sys, ctx->w, e, self, a->exit_reason);
			actor__env_free(ctx->w->pool, e);
		} else {
			actor__dead_letter(sys, ctx->w, self, e, -ESRCH);
		}
	}
	actor__pending_free(sys, a);
	actor__link_notify(sys, ctx->w, a, self, a->exit_reason);
	free(a->state);
	a->state = NULL;
	if (atomic_load_explicit(&a->names, memory_order_relaxed) != 0)
		actor__registry_forget(sys, self);
	gen = atomic_load_explicit(&a->gen, memory_order_relaxed) + 1;
	atomic_store_explicit(&a->gen, gen != 0 ? gen : 1, memory_order_relaxed);
	actor__slot_release(sys, ctx->w, a);
	/* Release: whoever reads this count also sees the matching spawn. */
	atomic_fetch_add_explicit(&sys->stopped, 1, memory_order_release);
}

static void handle_system(struct actor_ctx *ctx, const struct actor__env *e)
{
	struct actor__actor *a = ctx->a;
	int r;

	switch (e->type) {
	case ACTOR__SYS_STOP:
		actor__stop(a, *(const int *)e->data);
		break;
	case ACTOR__SYS_INIT:
	case ACTOR__SYS_INIT_COPY:
		a->flags |= ACTOR__A_STARTED;
		r = a->spec->init(ctx, e->type == ACTOR__SYS_INIT ? *(void *const *)e->data :
				  e->size != 0 ? e->data : NULL);
		if (r < 0)
			actor__stop(a, r);
		break;
	default:
		actor__link_dispatch(ctx, e);
		break;
	}
}

/* A bound actor's binder sees each message first; false: it took e. */
static bool virtual_turn(struct actor_ctx *ctx, struct actor__env *e)
{
	struct actor__binder *b = atomic_load_explicit(&ctx->sys->binder, memory_order_acquire);

	return b->turn(b, ctx, ctx->a->bound, e);
}

void actor__run(struct actor__worker *w, struct actor__actor *a)
{
	struct actor_ctx ctx = { w->sys, w, a };
	uint32_t gen = atomic_load_explicit(&a->gen, memory_order_relaxed);
	unsigned handled = 0;
	struct actor__env *e;

	ACTOR__STAT_INC(w, turns);
	while (!(a->flags & ACTOR__A_STOPPING)) {
		e = actor__mbox_pop(&a->mb);
		if (e == NULL) {
			if (actor__mbox_try_block(&a->mb))
				return;
			continue;
		}
		if (actor__unlikely(e->to_gen != gen)) {
			/* Sent to an earlier incarnation of this slot. */
			actor_ref_t to = { .id = (uint64_t)e->to_gen << 32 | a->slot };

			if (e->flags & ACTOR__ENV_SYSTEM)
				actor__env_free(w->pool, e);
			else
				actor__dead_letter(w->sys, w, to, e, -ESRCH);
			continue;
		}
		if (e->flags & (ACTOR__ENV_SYSTEM | ACTOR__ENV_REPLY)) {
			if (!actor__request_dispatch(&ctx, e))
				handle_system(&ctx, e);
		} else {
			if (a->bound != NULL && !virtual_turn(&ctx, e))
				continue;
			a->handler(&ctx, (const actor_msg_t *)e);
			/* No one can answer it once the envelope is gone: the
			 * requester hears now (a broken promise), not at its
			 * timeout. One test of flags already in cache. */
			if (actor__unlikely((e->flags & (ACTOR__ENV_REQUEST | ACTOR__ENV_ANSWERED)) ==
					    ACTOR__ENV_REQUEST))
				actor__request_failed(w->sys, w, e, -EPIPE);
		}
		ACTOR__STAT_INC(w, messages);
		actor__env_free(w->pool, e);
		if (++handled == w->sys->cfg.max_throughput && !(a->flags & ACTOR__A_STOPPING)) {
			actor__yield(w->sys, a);
			return;
		}
	}
	finalize(&ctx);
}

actor_ref_t actor_self(const actor_ctx_t *ctx)
{
	return actor__ref_of(ctx->sys, ctx->a);
}

void *actor_self_state(const actor_ctx_t *ctx)
{
	return ctx->a->state;
}

actor_system_t *actor_ctx_system(const actor_ctx_t *ctx)
{
	return ctx->sys;
}

void actor_become(actor_ctx_t *ctx, actor_handler_t handler)
{
	if (handler != NULL)
		ctx->a->handler = handler;
}

void actor_stop(actor_ctx_t *ctx, int reason)
{
	actor__stop(ctx->a, reason);
}
