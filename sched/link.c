/*
 * Monitors and links (Erlang's semantics).
 *
 * An actor's relations (who monitors it, whom it is linked to) are part of
 * its state, so only its own turns change them: monitoring, linking and
 * their undoing send the target urgent runtime messages, and the target's
 * turn records them. A target that is gone already answers at once: the
 * push into its closed mailbox fails, and the caller gets the down or exit
 * signal with ACTOR_EXIT_NOPROC. A target that stops with such a message
 * still queued answers it from its last turn, with its real exit reason.
 *
 * When an actor stops, each monitor gets one ACTOR_MSG_DOWN message and
 * each linked actor an exit signal. An exit signal whose reason is not
 * normal stops the receiver with the same reason, unless the receiver
 * traps exits: it then gets an ACTOR_MSG_EXIT message instead. A normal
 * exit reaches only actors that trap exits. actor_exit() stops an actor
 * whatever the reason, unless it traps exits; ACTOR_EXIT_KILL and
 * ACTOR_EXIT_SHUTDOWN cannot be trapped.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/internal.h"
#include "util/array.h"

struct ref_set {
	actor_ref_t *refs;
	size_t n, cap;
};

struct actor__relations {
	struct ref_set monitors;	/* who gets a down message */
	struct ref_set links;
	bool trap_exit;
};

static struct actor__relations *relations(struct actor__actor *a)
{
	if (a->relations == NULL)
		a->relations = calloc(1, sizeof(*a->relations));
	return a->relations;
}

static bool set_add(struct ref_set *s, actor_ref_t r)
{
	actor_ref_t *refs;

	for (size_t i = 0; i < s->n; i++)
		if (actor_ref_equal(s->refs[i], r))
			return true;
	if ((refs = actor__array_grow(s->refs, &s->cap, s->n + 1, sizeof(*refs), 4)) == NULL)
		return false;
	s->refs = refs;
	s->refs[s->n++] = r;
	return true;
}

static bool set_remove(struct ref_set *s, actor_ref_t r)
{
	for (size_t i = 0; i < s->n; i++)
		if (actor_ref_equal(s->refs[i], r)) {
			s->refs[i] = s->refs[--s->n];
			return true;
		}
	return false;
}

void actor__send_signal(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
			uint32_t type, bool system, actor_ref_t from, int reason)
{
	actor_signal_t sig = { .from = from, .reason = reason };
	struct actor__env *e = actor__env_make(actor__pool_of(w), from, type, &sig, sizeof sig,
					       ACTOR__ENV_URGENT | (system ? ACTOR__ENV_SYSTEM : 0),
					       0);

	if (e != NULL)
		actor__deliver(sys, w, to, e);
}

/* Asks `target` to record the caller: -ESRCH if it is gone. */
static int ask_target(actor_ctx_t *ctx, actor_ref_t target, uint32_t type)
{
	actor_ref_t self = actor__ref_of(ctx->sys, ctx->a);
	struct actor__env *e = actor__system_env(ctx->w, type, &self, sizeof self);

	return e != NULL ? actor__deliver(ctx->sys, ctx->w, target, e) : -ENOMEM;
}

static bool traps(const struct actor__actor *a, int reason)
{
	return a->relations != NULL && a->relations->trap_exit && reason != ACTOR_EXIT_KILL &&
	       reason != ACTOR_EXIT_SHUTDOWN;
}

/* A trapped exit comes back as an ordinary (urgent) message to the handler. */
static void trapped(struct actor_ctx *ctx, actor_ref_t from, int reason)
{
	actor__send_signal(ctx->sys, ctx->w, actor__ref_of(ctx->sys, ctx->a), ACTOR_MSG_EXIT, false,
			   from, reason);
}

/* An exit signal from a linked actor. */
static void link_exit(struct actor_ctx *ctx, actor_ref_t from, int reason)
{
	if (ctx->a->relations != NULL)
		set_remove(&ctx->a->relations->links, from);
	if (traps(ctx->a, reason))
		trapped(ctx, from, reason);
	else if (reason != ACTOR_EXIT_NORMAL)
		actor__stop(ctx->a, reason);
}

/* actor_exit(): stops the actor, whatever the reason, unless it traps. */
static void direct_exit(struct actor_ctx *ctx, actor_ref_t from, int reason)
{
	if (traps(ctx->a, reason))
		trapped(ctx, from, reason);
	else
		actor__stop(ctx->a, reason);
}

int actor_monitor(actor_ctx_t *ctx, actor_ref_t target)
{
	int err = ask_target(ctx, target, ACTOR__SYS_MONITOR);

	if (err == -ESRCH)	/* down already: say so, in a later turn */
		actor__send_signal(ctx->sys, ctx->w, actor__ref_of(ctx->sys, ctx->a), ACTOR_MSG_DOWN,
				   false, target, ACTOR_EXIT_NOPROC);
	return err == -ESRCH ? 0 : err;
}

int actor_demonitor(actor_ctx_t *ctx, actor_ref_t target)
{
	int err = ask_target(ctx, target, ACTOR__SYS_DEMONITOR);

	return err == -ESRCH ? 0 : err;
}

int actor_link(actor_ctx_t *ctx, actor_ref_t other)
{
	struct actor__relations *r = relations(ctx->a);
	int err;

	if (r == NULL || !set_add(&r->links, other))
		return -ENOMEM;
	err = ask_target(ctx, other, ACTOR__SYS_LINK);
	if (err == -ESRCH) {	/* gone already: an exit signal, in a later turn */
		actor__send_signal(ctx->sys, ctx->w, actor__ref_of(ctx->sys, ctx->a),
				   ACTOR__SYS_LINK_EXIT, true, other, ACTOR_EXIT_NOPROC);
		return 0;
	}
	if (err != 0)
		set_remove(&r->links, other);
	return err;
}

int actor_unlink(actor_ctx_t *ctx, actor_ref_t other)
{
	struct actor__relations *r = ctx->a->relations;

	if (r == NULL || !set_remove(&r->links, other))
		return -ENOENT;
	ask_target(ctx, other, ACTOR__SYS_UNLINK);
	return 0;
}

void actor_trap_exit(actor_ctx_t *ctx, bool trap)
{
	struct actor__relations *r = relations(ctx->a);

	if (r != NULL)
		r->trap_exit = trap;
}

/* The actor_ref_t a system message carries; none if it has no such payload. */
static actor_ref_t ref_in(const struct actor__env *e)
{
	actor_ref_t who = ACTOR_REF_NONE;

	if (e->size == sizeof who)
		memcpy(&who, e->data, sizeof who);
	return who;
}

bool actor__link_dispatch(struct actor_ctx *ctx, const struct actor__env *e)
{
	struct actor__relations *r;
	actor_ref_t who = ref_in(e);

	switch (e->type) {
	case ACTOR__SYS_MONITOR:
		if ((r = relations(ctx->a)) == NULL || !set_add(&r->monitors, who))
			actor__send_signal(ctx->sys, ctx->w, who, ACTOR_MSG_DOWN, false,
					   actor__ref_of(ctx->sys, ctx->a), -ENOMEM);
		return true;
	case ACTOR__SYS_DEMONITOR:
		if ((r = ctx->a->relations) != NULL)
			set_remove(&r->monitors, who);
		return true;
	case ACTOR__SYS_LINK:
		if ((r = relations(ctx->a)) == NULL || !set_add(&r->links, who))
			actor__send_signal(ctx->sys, ctx->w, who, ACTOR__SYS_LINK_EXIT, true,
					   actor__ref_of(ctx->sys, ctx->a), -ENOMEM);
		return true;
	case ACTOR__SYS_UNLINK:
		if ((r = ctx->a->relations) != NULL)
			set_remove(&r->links, who);
		return true;
	case ACTOR__SYS_LINK_EXIT: {
		actor_signal_t sig;

		if (e->size == sizeof sig) {
			memcpy(&sig, e->data, sizeof sig);
			link_exit(ctx, sig.from, sig.reason);
		}
		return true;
	}
	case ACTOR__SYS_EXIT: {
		int reason;

		if (e->size == sizeof reason) {
			memcpy(&reason, e->data, sizeof reason);
			direct_exit(ctx, actor__sender_of(e), reason);
		}
		return true;
	}
	}
	return false;
}

void actor__link_queued(struct actor_system *sys, struct actor__worker *w,
			const struct actor__env *e, actor_ref_t self, int reason)
{
	actor_ref_t who = ref_in(e);

	if (e->type == ACTOR__SYS_MONITOR)
		actor__send_signal(sys, w, who, ACTOR_MSG_DOWN, false, self, reason);
	else if (e->type == ACTOR__SYS_LINK)
		actor__send_signal(sys, w, who, ACTOR__SYS_LINK_EXIT, true, self, reason);
}

void actor__link_notify(struct actor_system *sys, struct actor__worker *w, struct actor__actor *a,
			actor_ref_t self, int reason)
{
	struct actor__relations *r = a->relations;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->monitors.n; i++)
		actor__send_signal(sys, w, r->monitors.refs[i], ACTOR_MSG_DOWN, false, self, reason);
	for (size_t i = 0; i < r->links.n; i++)
		actor__send_signal(sys, w, r->links.refs[i], ACTOR__SYS_LINK_EXIT, true, self, reason);
	free(r->monitors.refs);
	free(r->links.refs);
	free(r);
	a->relations = NULL;
}
