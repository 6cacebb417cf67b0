/*
 * Supervisors (Erlang/OTP's), built from the public API only: an actor that
 * spawns and monitors its children, registers their names, and restarts
 * them when they stop, by restart type and strategy. Monitors, not links:
 * the supervisor stops children with ACTOR_EXIT_SHUTDOWN, which no actor
 * can trap, so through a link it would stop the supervisor as well. Its
 * cleanup stops the children instead, and it traps exits so that an exit
 * from a linked parent stops it (and so them) whatever the reason.
 *
 *  - A child that must be restarted (permanent: always; transient: after
 *    an abnormal exit; temporary: never, it is forgotten) takes with it
 *    itself (one-for-one), every child (one-for-all), or itself and the
 *    children started after it (rest-for-one). The others in that group
 *    are stopped with ACTOR_EXIT_SHUTDOWN, last started first, and the
 *    group is started again in order once all their down messages have
 *    arrived. A down message is sent after the child's cleanup has run,
 *    so an old child's cleanup always finishes before its successor's
 *    init.
 *  - More than max_restarts restarts (a group counts once) within
 *    period_ns make the supervisor stop with the last child's reason; its
 *    cleanup stops the children that are left.
 *
 * Requests (ACTOR_MSG_SUPERVISOR_*) list, start and stop children; a stop
 * is answered through a promise once the child's down message has arrived.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actor/actor.h>

#include "util/array.h"
#include "util/time.h"

/* actor_supervisor_spawn()'s request: start the children of the spec. */
#define SUP_START 0xffffff1fu

/* How long actor_supervisor_spawn() waits for the supervisor's first turn. */
#define START_TIMEOUT_NS (60 * ACTOR__NS_PER_S)

struct child {
	actor_child_spec_t spec;	/* spec.name: our copy */
	actor_ref_t ref;		/* none: not running */
	bool stopping;			/* stopped by us: not to be restarted alone */
	bool regroup;			/* to start again with the group */
	bool forget;			/* to remove once it has stopped */
	bool promised;			/* a stop request waits for it to stop */
	actor_promise_t promise;
};

struct supervisor {
	const actor_supervisor_spec_t *spec;
	struct child *c;
	size_t n, cap;
	size_t awaited;			/* down messages of stopped children to come */
	int last_reason;
	uint64_t *restarts;		/* times of the last max_restarts + 1, a ring */
	unsigned nrestarts, next;
};

static bool valid_child(const actor_child_spec_t *c)
{
	return c->spec != NULL && c->restart >= ACTOR_RESTART_TRANSIENT &&
	       c->restart <= ACTOR_RESTART_TEMPORARY;
}

static int add_child(struct supervisor *s, const actor_child_spec_t *spec)
{
	struct child *c;

	if ((c = actor__array_grow(s->c, &s->cap, s->n + 1, sizeof(*c), 4)) == NULL)
		return -ENOMEM;
	s->c = c;
	c = &s->c[s->n];
	memset(c, 0, sizeof(*c));
	c->spec = *spec;
	if (spec->name != NULL && (c->spec.name = strdup(spec->name)) == NULL)
		return -ENOMEM;
	s->n++;
	return 0;
}

static void remove_child(struct supervisor *s, size_t i)
{
	free((char *)s->c[i].spec.name);
	memmove(&s->c[i], &s->c[i + 1], (s->n - i - 1) * sizeof(*s->c));
	s->n--;
}

static int start_child(actor_ctx_t *ctx, struct child *c)
{
	actor_system_t *sys = actor_ctx_system(ctx);
	int err = actor_spawn(ctx, c->spec.spec, c->spec.arg, &c->ref);

	if (err != 0) {
		c->ref = ACTOR_REF_NONE;
		return err;
	}
	/* A child that stops before this monitor exists is reported with
	 * ACTOR_EXIT_NOPROC, after its cleanup all the same. */
	if ((err = actor_monitor(ctx, c->ref)) == 0 && c->spec.name != NULL)
		err = actor_register(sys, c->spec.name, c->ref);
	if (err != 0) {
		actor_demonitor(ctx, c->ref);
		actor_exit(sys, c->ref, ACTOR_EXIT_KILL);
		c->ref = ACTOR_REF_NONE;
	}
	return err;
}

/* Records a restart; false when it is one too many for the period. */
static bool may_restart(struct supervisor *s)
{
	unsigned cap = s->spec->max_restarts + 1;
	uint64_t now = actor__now_ns();

	s->restarts[s->next] = now;
	s->next = (s->next + 1) % cap;
	if (s->nrestarts < cap)
		s->nrestarts++;
	/* The oldest of the last max_restarts + 1 restarts, if that many. */
	return s->nrestarts < cap || now - s->restarts[s->next] > s->spec->period_ns;
}

/* Stops a child; its down message tells when it is gone. */
static void stop_child(actor_ctx_t *ctx, struct supervisor *s, struct child *c)
{
	if (!c->stopping) {
		c->stopping = true;
		s->awaited++;
		actor_exit(actor_ctx_system(ctx), c->ref, ACTOR_EXIT_SHUTDOWN);
	}
}

/* Every stopped child of a group is gone: start the group again, in order. */
static void restart_group(actor_ctx_t *ctx, struct supervisor *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct child *c = &s->c[i];
		int err;

		if (!c->regroup)
			continue;
		c->regroup = false;
		if (c->spec.restart == ACTOR_RESTART_TEMPORARY) {
			remove_child(s, i--);
		} else if ((err = start_child(ctx, c)) != 0) {
			actor_stop(ctx, err);
			return;
		}
	}
}

/* Child i must be restarted: with its group, once the group has stopped. */
static void restart(actor_ctx_t *ctx, struct supervisor *s, size_t i)
{
	size_t first = s->spec->strategy == ACTOR_ONE_FOR_ALL ? 0 : i;
	size_t end = s->spec->strategy == ACTOR_ONE_FOR_ONE ? i + 1 : s->n;

	if (!may_restart(s)) {
		actor_stop(ctx, s->last_reason);
		return;
	}
	/* Started again with the group, or with one already on its way. */
	s->c[i].regroup = true;
	for (size_t j = end; j-- > first;) {
		if (j != i && !actor_ref_is_none(s->c[j].ref)) {
			s->c[j].regroup = true;
			stop_child(ctx, s, &s->c[j]);
		}
	}
	if (s->awaited == 0)
		restart_group(ctx, s);
}

static bool abnormal(int reason)
{
	return reason != ACTOR_EXIT_NORMAL && reason != ACTOR_EXIT_SHUTDOWN;
}

/*
 * A stopped child's name leaves with the end of its last turn, just after
 * its down message: it goes now, so that it is absent once the supervisor
 * knows, but only if that child still holds it.
 */
static void release_name(actor_ctx_t *ctx, const struct child *c)
{
	actor_system_t *sys = actor_ctx_system(ctx);
	actor_ref_t held;

	if (c->spec.name != NULL && actor_lookup(sys, c->spec.name, &held) == 0 &&
	    actor_ref_equal(held, c->ref))
		actor_unregister(sys, c->spec.name);
}

static void child_exited(actor_ctx_t *ctx, struct supervisor *s, size_t i, int reason)
{
	struct child *c = &s->c[i];
	actor_supervisor_reply_t ok = { 0 };
	bool expected = c->stopping;

	release_name(ctx, c);
	c->ref = ACTOR_REF_NONE;
	c->stopping = false;
	if (c->promised) {
		c->promised = false;
		actor_promise_deliver(ctx, &c->promise, ACTOR_MSG_SUPERVISOR_STOP_CHILD, &ok,
				      sizeof ok);
	}
	if (c->forget) {
		remove_child(s, i);
	} else if (!expected) {
		int type = c->spec.restart;

		if (type == ACTOR_RESTART_PERMANENT ||
		    (type == ACTOR_RESTART_TRANSIENT && abnormal(reason))) {
			s->last_reason = reason;
			restart(ctx, s, i);
			return;
		}
		if (type == ACTOR_RESTART_TEMPORARY)
			remove_child(s, i);
	}
	if (expected && --s->awaited == 0)
		restart_group(ctx, s);
}

static int start_all(actor_ctx_t *ctx, struct supervisor *s)
{
	int err;

	for (size_t i = 0; i < s->n; i++)
		if ((err = start_child(ctx, &s->c[i])) != 0)
			return err;
	return 0;
}

static void on_start_child(actor_ctx_t *ctx, struct supervisor *s, const actor_msg_t *msg)
{
	actor_supervisor_reply_t r = { 0 };

	if (actor_msg_size(msg) != sizeof(actor_child_spec_t) || !valid_child(actor_msg_data(msg))) {
		r.error = -EINVAL;
	} else if ((r.error = add_child(s, actor_msg_data(msg))) == 0) {
		if ((r.error = start_child(ctx, &s->c[s->n - 1])) == 0)
			r.child = s->c[s->n - 1].ref;
		else
			remove_child(s, s->n - 1);
	}
	actor_reply(ctx, msg, ACTOR_MSG_SUPERVISOR_START_CHILD, &r, sizeof r);
}

static void on_stop_child(actor_ctx_t *ctx, struct supervisor *s, const actor_msg_t *msg)
{
	actor_supervisor_reply_t r = { .error = -ENOENT };

	for (size_t i = 0; actor_msg_size(msg) == sizeof(actor_ref_t) && i < s->n; i++) {
		struct child *c = &s->c[i];

		if (actor_ref_is_none(c->ref) ||
		    !actor_ref_equal(c->ref, *(const actor_ref_t *)actor_msg_data(msg)))
			continue;
		if (c->promised || actor_promise(ctx, msg, &c->promise) != 0)
			break;
		c->promised = c->forget = true;
		c->regroup = false;
		stop_child(ctx, s, c);
		return;
	}
	actor_reply(ctx, msg, ACTOR_MSG_SUPERVISOR_STOP_CHILD, &r, sizeof r);
}

static void on_children(actor_ctx_t *ctx, struct supervisor *s, const actor_msg_t *msg)
{
	actor_ref_t *refs = malloc((s->n ? s->n : 1) * sizeof(*refs));

	if (refs == NULL)
		return;		/* the requester times out */
	for (size_t i = 0; i < s->n; i++)
		refs[i] = s->c[i].ref;
	actor_reply(ctx, msg, ACTOR_MSG_SUPERVISOR_CHILDREN, refs, s->n * sizeof(*refs));
	free(refs);
}

static void supervisor(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct supervisor *s = actor_self_state(ctx);
	const actor_signal_t *sig = actor_msg_data(msg);
	int err;

	/* Anyone may send mail of these types: only the runtime's has a
	 * signal's size. */
	if ((actor_msg_type(msg) == ACTOR_MSG_DOWN || actor_msg_type(msg) == ACTOR_MSG_EXIT) &&
	    actor_msg_size(msg) != sizeof *sig)
		return;
	switch (actor_msg_type(msg)) {
	case SUP_START:
		if ((err = start_all(ctx, s)) != 0)
			actor_stop(ctx, err);
		actor_reply(ctx, msg, SUP_START, &err, sizeof err);	/* -EINVAL: a plain send */
		return;
	case ACTOR_MSG_SUPERVISOR_START_CHILD:
		on_start_child(ctx, s, msg);
		return;
	case ACTOR_MSG_SUPERVISOR_STOP_CHILD:
		on_stop_child(ctx, s, msg);
		return;
	case ACTOR_MSG_SUPERVISOR_CHILDREN:
		on_children(ctx, s, msg);
		return;
	case ACTOR_MSG_DOWN:
		for (size_t i = 0; i < s->n; i++) {
			if (!actor_ref_is_none(s->c[i].ref) &&
			    actor_ref_equal(s->c[i].ref, sig->from)) {
				child_exited(ctx, s, i, sig->reason);
				return;
			}
		}
		return;
	case ACTOR_MSG_EXIT:
		/* From actor_exit() or a link of its own: obey it. */
		actor_stop(ctx, sig->reason);
		return;
	}
}

static int supervisor_init(actor_ctx_t *ctx, void *arg)
{
	struct supervisor *s = actor_self_state(ctx);
	int err;

	s->spec = arg;
	s->restarts = calloc((size_t)s->spec->max_restarts + 1, sizeof(*s->restarts));
	if (s->restarts == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->spec->nchildren; i++)
		if ((err = add_child(s, &s->spec->children[i])) != 0)
			return err;
	actor_trap_exit(ctx, true);
	return 0;
}

static void supervisor_cleanup(actor_ctx_t *ctx)
{
	struct supervisor *s = actor_self_state(ctx);
	actor_supervisor_reply_t gone = { .error = -ESHUTDOWN };

	/* Last started, first stopped. */
	for (size_t i = s->n; i-- > 0;) {
		struct child *c = &s->c[i];

		if (!actor_ref_is_none(c->ref))
			actor_exit(actor_ctx_system(ctx), c->ref, ACTOR_EXIT_SHUTDOWN);
		if (c->promised)
			actor_promise_deliver(ctx, &c->promise, ACTOR_MSG_SUPERVISOR_STOP_CHILD,
					      &gone, sizeof gone);
		free((char *)c->spec.name);
	}
	free(s->c);
	free(s->restarts);
}

static const actor_spec_t supervisor_spec = {
	.name = "supervisor", .handler = supervisor, .state_size = sizeof(struct supervisor),
	.init = supervisor_init, .cleanup = supervisor_cleanup,
};

int actor_supervisor_spawn(actor_system_t *sys, const actor_supervisor_spec_t *spec,
			   actor_ref_t *out)
{
	actor_ref_t sup;
	void *reply = NULL;
	int err;

	if (spec == NULL || out == NULL || (spec->nchildren != 0 && spec->children == NULL) ||
	    spec->period_ns == 0 || spec->strategy < ACTOR_ONE_FOR_ONE ||
	    spec->strategy > ACTOR_REST_FOR_ONE)
		return -EINVAL;
	for (size_t i = 0; i < spec->nchildren; i++)
		if (!valid_child(&spec->children[i]))
			return -EINVAL;
	if ((err = actor_system_spawn(sys, &supervisor_spec, (void *)spec, &sup)) != 0)
		return err;
	/* Wait for the children, unless this is a handler that must not. */
	err = actor_system_ask(sys, sup, SUP_START, NULL, 0, START_TIMEOUT_NS, NULL, &reply, NULL);
	if (err == -EDEADLK)
		err = actor_system_send(sys, sup, SUP_START, NULL, 0);
	else if (err == 0)
		err = *(const int *)reply;
	free(reply);
	if (err == 0)
		*out = sup;
	return err;
}

/* A request to a supervisor from outside, with an actor_supervisor_reply_t
 * for an answer. */
static int ask_reply(actor_system_t *sys, actor_ref_t sup, uint32_t type, const void *data,
		     size_t size, uint64_t timeout_ns, actor_supervisor_reply_t *r)
{
	void *reply = NULL;
	size_t rsize = 0;
	int err = actor_system_ask(sys, sup, type, data, size, timeout_ns, NULL, &reply, &rsize);

	if (err == 0 && rsize != sizeof(*r))
		err = -EPROTO;
	if (err == 0)
		*r = *(const actor_supervisor_reply_t *)reply;
	free(reply);
	return err != 0 ? err : r->error;
}

int actor_supervisor_start_child(actor_system_t *sys, actor_ref_t sup,
				 const actor_child_spec_t *child, uint64_t timeout_ns,
				 actor_ref_t *out)
{
	actor_supervisor_reply_t r;
	int err;

	if (child == NULL || !valid_child(child))
		return -EINVAL;
	err = ask_reply(sys, sup, ACTOR_MSG_SUPERVISOR_START_CHILD, child, sizeof(*child),
			timeout_ns, &r);
	if (err == 0 && out != NULL)
		*out = r.child;
	return err;
}

int actor_supervisor_stop_child(actor_system_t *sys, actor_ref_t sup, actor_ref_t child,
				uint64_t timeout_ns)
{
	actor_supervisor_reply_t r;

	return ask_reply(sys, sup, ACTOR_MSG_SUPERVISOR_STOP_CHILD, &child, sizeof child,
			 timeout_ns, &r);
}

int actor_supervisor_children(actor_system_t *sys, actor_ref_t sup, actor_ref_t *children,
			      size_t max, size_t *n, uint64_t timeout_ns)
{
	void *reply = NULL;
	size_t size = 0, count;
	int err;

	if (n == NULL || (max != 0 && children == NULL))
		return -EINVAL;
	err = actor_system_ask(sys, sup, ACTOR_MSG_SUPERVISOR_CHILDREN, NULL, 0, timeout_ns, NULL,
			       &reply, &size);
	if (err != 0)
		return err;
	count = size / sizeof(actor_ref_t);
	if (count != 0 && max != 0)
		memcpy(children, reply, (count < max ? count : max) * sizeof(actor_ref_t));
	*n = count;
	free(reply);
	return 0;
}
