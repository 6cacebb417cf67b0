/*
 * A one-for-one supervisor, built from the public API only: an actor that
 * traps exits, spawns and links its children, and restarts a child that
 * stops abnormally with fresh state from its spec, re-registering its name.
 * More than max_restarts restarts within period_ns stop the supervisor
 * itself with the last child's reason; its links then take the remaining
 * children down, as in Erlang/OTP.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <actor/actor.h>

struct supervisor {
	const actor_supervisor_spec_t *spec;
	actor_ref_t *children;		/* none: stopped for good */
	uint64_t *restarts;		/* times of the last max_restarts + 1, a ring */
	unsigned nrestarts, next;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int start_child(actor_ctx_t *ctx, struct supervisor *s, size_t i)
{
	const actor_child_spec_t *c = &s->spec->children[i];
	int err = actor_spawn(ctx, c->spec, c->arg, &s->children[i]);

	if (err == 0)
		err = actor_link(ctx, s->children[i]);
	if (err == 0 && c->name != NULL) {
		actor_unregister(actor_ctx_system(ctx), c->name);
		err = actor_register(actor_ctx_system(ctx), c->name, s->children[i]);
	}
	return err;
}

static int supervisor_init(actor_ctx_t *ctx, void *arg)
{
	struct supervisor *s = actor_self_state(ctx);
	int err;

	s->spec = arg;
	s->children = calloc(s->spec->nchildren, sizeof(*s->children));
	s->restarts = calloc((size_t)s->spec->max_restarts + 1, sizeof(*s->restarts));
	if (s->children == NULL || s->restarts == NULL)
		return -ENOMEM;
	actor_trap_exit(ctx, true);
	for (size_t i = 0; i < s->spec->nchildren; i++)
		if ((err = start_child(ctx, s, i)) != 0)
			return err;
	return 0;
}

/* Records a restart; false when it is one too many for the period. */
static bool may_restart(struct supervisor *s)
{
	unsigned cap = s->spec->max_restarts + 1;
	uint64_t now = now_ns();

	s->restarts[s->next] = now;
	s->next = (s->next + 1) % cap;
	if (s->nrestarts < cap)
		s->nrestarts++;
	/* The oldest of the last max_restarts + 1 restarts, if that many. */
	return s->nrestarts < cap || now - s->restarts[s->next] > s->spec->period_ns;
}

static void supervisor(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct supervisor *s = actor_self_state(ctx);
	const actor_signal_t *sig = actor_msg_data(msg);

	/* Anyone may send mail of this type: only the runtime's has this size. */
	if (actor_msg_type(msg) != ACTOR_MSG_EXIT || actor_msg_size(msg) != sizeof *sig)
		return;
	for (size_t i = 0; i < s->spec->nchildren; i++) {
		if (!actor_ref_equal(s->children[i], sig->from))
			continue;
		s->children[i] = ACTOR_REF_NONE;
		if (sig->reason == ACTOR_EXIT_NORMAL || sig->reason == ACTOR_EXIT_SHUTDOWN)
			return;		/* finished: not restarted */
		if (!may_restart(s) || start_child(ctx, s, i) != 0)
			actor_stop(ctx, sig->reason);
		return;
	}
	/* An exit from elsewhere (actor_exit, a link of our own): obey it. */
	actor_stop(ctx, sig->reason);
}

static void supervisor_cleanup(actor_ctx_t *ctx)
{
	struct supervisor *s = actor_self_state(ctx);

	for (size_t i = 0; s->children != NULL && i < s->spec->nchildren; i++)
		if (!actor_ref_is_none(s->children[i]))
			actor_exit(actor_ctx_system(ctx), s->children[i], ACTOR_EXIT_SHUTDOWN);
	free(s->children);
	free(s->restarts);
}

static const actor_spec_t supervisor_spec = {
	.name = "supervisor", .handler = supervisor, .state_size = sizeof(struct supervisor),
	.init = supervisor_init, .cleanup = supervisor_cleanup,
};

int actor_supervisor_spawn(actor_system_t *sys, const actor_supervisor_spec_t *spec,
			   actor_ref_t *out)
{
	if (spec == NULL || (spec->nchildren != 0 && spec->children == NULL) ||
	    spec->period_ns == 0)
		return -EINVAL;
	for (size_t i = 0; i < spec->nchildren; i++)
		if (spec->children[i].spec == NULL)
			return -EINVAL;
	return actor_system_spawn(sys, &supervisor_spec, (void *)spec, out);
}
