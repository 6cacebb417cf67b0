/*
 * Sending: envelope in, mailbox push, and scheduling the receiver when the
 * push found it idle. Also dead letters. The message accessors are in
 * msg.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/internal.h"

void actor__dead_letter_report(struct actor_system *sys, actor_ref_t to, actor_ref_t sender,
			       uint32_t type, const void *data, size_t size, int reason)
{
	atomic_fetch_add_explicit(&sys->dead_letters, 1, memory_order_relaxed);
	if (sys->cfg.dead_letter != NULL)
		sys->cfg.dead_letter(sys->cfg.dead_letter_arg, to, type, data, size);
	if (sys->cfg.dead_letter_info != NULL) {
		actor_dead_letter_info_t info = {
			.to = to, .sender = sender, .type = type, .data = data, .size = size,
			.reason = reason,
		};

		sys->cfg.dead_letter_info(sys->cfg.dead_letter_arg, &info);
	}
}

void actor__dead_letter(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
			struct actor__env *e, int reason)
{
	actor__dead_letter_report(sys, to, actor__sender_of(e), e->type, e->data, e->size, reason);
	actor__env_free(actor__pool_of(w), e);
}

int actor__deliver(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		   struct actor__env *e)
{
	struct actor__actor *a = actor__lookup(sys, to);
	bool system = (e->flags & ACTOR__ENV_SYSTEM) != 0;
	int r;

	if (actor__unlikely(to.node == ACTOR__NODE_VIRTUAL)) {
		struct actor__binder *b = atomic_load_explicit(&sys->binder, memory_order_acquire);

		if (b != NULL)
			return b->route(b, w, to, e);
		r = -ESRCH;
	} else if (a == NULL && to.node != 0 && (to.id == 0 || to.node != sys->node_id)) {
		struct actor__router *router =
			atomic_load_explicit(&sys->router, memory_order_acquire);

		if (router != NULL)
			return router->route(router, w, to, e);
		r = -EHOSTUNREACH;
	} else if (a == NULL) {
		r = -ESRCH;
	} else {
		e->to_gen = (uint32_t)(to.id >> 32);
		r = actor__mbox_push(&a->mb, e);
		if (r == ACTOR__MBOX_WOKE)
			actor__schedule(sys, w, a);
		if (r >= 0)
			return 0;
		if (r == -EPIPE)
			r = -ESRCH;
	}
	if ((r == -ESRCH || r == -EHOSTUNREACH) && !system)
		actor__dead_letter(sys, w, to, e, r);
	else
		actor__env_free(actor__pool_of(w), e);
	return r;
}

struct actor__env *actor__env_make(struct actor__pool *pool, actor_ref_t sender, uint32_t type,
				   const void *data, size_t size, uint16_t flags,
				   uint32_t request_id)
{
	struct actor__env *e = actor__env_alloc(pool, size);

	if (e == NULL)
		return NULL;
	if (size != 0)
		memcpy(e->data, data, size);
	e->type = type;
	e->sender = sender.id;
	e->sender_node = sender.id != 0 ? sender.node : 0;
	e->request_id = request_id;
	e->flags = flags;
	return e;
}

struct actor__env *actor__system_env(struct actor__worker *w, uint32_t type, const void *data,
				     size_t size)
{
	return actor__env_make(actor__pool_of(w), ACTOR_REF_NONE, type, data, size,
			       ACTOR__ENV_SYSTEM | ACTOR__ENV_URGENT, 0);
}

int actor__send_system(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		       uint32_t type, const void *data, size_t size)
{
	struct actor__env *e = actor__system_env(w, type, data, size);

	return e != NULL ? actor__deliver(sys, w, to, e) : -ENOMEM;
}

static int send_copy(struct actor_system *sys, struct actor__worker *w, actor_ref_t sender,
		     actor_ref_t to, uint32_t type, const void *data, size_t size)
{
	struct actor__env *e;

	if (size > UINT32_MAX)
		return -EMSGSIZE;
	e = actor__env_make(actor__pool_of(w), sender, type, data, size, 0, 0);
	return e != NULL ? actor__deliver(sys, w, to, e) : -ENOMEM;
}

static int send_moved(struct actor_system *sys, struct actor__worker *w, actor_ref_t sender,
		      actor_ref_t to, uint32_t type, void *buf, size_t size,
		      void (*buf_free)(void *))
{
	struct actor__env *e = NULL;

	if (size <= UINT32_MAX)
		e = actor__env_alloc_moved(actor__pool_of(w), buf, size, buf_free);
	if (e == NULL) {
		if (buf_free != NULL)
			buf_free(buf);
		return size > UINT32_MAX ? -EMSGSIZE : -ENOMEM;
	}
	e->type = type;
	e->sender = sender.id;
	e->sender_node = sender.id != 0 ? sender.node : 0;
	e->request_id = 0;
	return actor__deliver(sys, w, to, e);
}

int actor_send(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, const void *data, size_t size)
{
	return send_copy(ctx->sys, ctx->w, actor__ref_of(ctx->sys, ctx->a), to, type, data, size);
}

int actor_send_moved(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, void *buf, size_t size,
		     void (*buf_free)(void *))
{
	return send_moved(ctx->sys, ctx->w, actor__ref_of(ctx->sys, ctx->a), to, type, buf, size,
			  buf_free);
}

int actor_system_send(actor_system_t *sys, actor_ref_t to, uint32_t type, const void *data,
		      size_t size)
{
	if (atomic_load_explicit(&sys->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	return send_copy(sys, NULL, ACTOR_REF_NONE, to, type, data, size);
}

int actor_system_send_moved(actor_system_t *sys, actor_ref_t to, uint32_t type, void *buf,
			    size_t size, void (*buf_free)(void *))
{
	if (atomic_load_explicit(&sys->closing, memory_order_relaxed)) {
		if (buf_free != NULL)
			buf_free(buf);
		return -ESHUTDOWN;
	}
	return send_moved(sys, NULL, ACTOR_REF_NONE, to, type, buf, size, buf_free);
}

/* A delayed send (period_ns 0) or a periodic one. */
static int send_later(struct actor_system *sys, actor_ref_t sender, actor_ref_t to,
		      uint64_t delay_ns, uint64_t period_ns, uint32_t type, const void *data,
		      size_t size, actor_timer_t *timer)
{
	uint64_t id;
	int err;

	if (size > UINT32_MAX)
		return -EMSGSIZE;
	/* Only a local actor can be checked now; a remote one when it fires. */
	if (actor__is_local(sys, to) && actor__lookup(sys, to) == NULL) {
		actor__dead_letter_report(sys, to, sender, type, data, size, -ESRCH);
		return -ESRCH;
	}
	if (period_ns != 0)
		err = actor__timer_add_periodic(sys, period_ns, to, sender, type, data, size, &id);
	else
		err = actor__timer_add(sys, delay_ns, to, sender, type, data, size, 0, 0, &id);
	if (err == 0 && timer != NULL)
		timer->id = id;
	return err;
}

int actor_send_after(actor_ctx_t *ctx, actor_ref_t to, uint64_t delay_ns, uint32_t type,
		     const void *data, size_t size, actor_timer_t *timer)
{
	return send_later(ctx->sys, actor__ref_of(ctx->sys, ctx->a), to, delay_ns, 0, type, data,
			  size, timer);
}

int actor_system_send_after(actor_system_t *sys, actor_ref_t to, uint64_t delay_ns,
			    uint32_t type, const void *data, size_t size, actor_timer_t *timer)
{
	if (atomic_load_explicit(&sys->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	return send_later(sys, ACTOR_REF_NONE, to, delay_ns, 0, type, data, size, timer);
}

int actor_send_interval(actor_ctx_t *ctx, actor_ref_t to, uint64_t period_ns, uint32_t type,
			const void *data, size_t size, actor_timer_t *timer)
{
	if (period_ns == 0)
		return -EINVAL;
	return send_later(ctx->sys, actor__ref_of(ctx->sys, ctx->a), to, 0, period_ns, type, data,
			  size, timer);
}

int actor_system_send_interval(actor_system_t *sys, actor_ref_t to, uint64_t period_ns,
			       uint32_t type, const void *data, size_t size, actor_timer_t *timer)
{
	if (period_ns == 0)
		return -EINVAL;
	if (atomic_load_explicit(&sys->closing, memory_order_relaxed))
		return -ESHUTDOWN;
	return send_later(sys, ACTOR_REF_NONE, to, 0, period_ns, type, data, size, timer);
}

int actor_timer_cancel(actor_system_t *sys, actor_timer_t timer)
{
	return actor__timer_cancel(sys, timer.id);
}

int actor_exit(actor_system_t *sys, actor_ref_t to, int reason)
{
	return actor__send_system(sys, NULL, to, ACTOR__SYS_EXIT, &reason, sizeof reason);
}
