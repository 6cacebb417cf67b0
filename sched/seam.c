/*
 * The calls of seam.h that need sched/'s private structures: cluster/ sees
 * a system and a worker only through these.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>

#include "sched/internal.h"

int actor__router_install(struct actor_system *sys, struct actor__router *r)
{
	struct actor__router *none = NULL;

	return atomic_compare_exchange_strong(&sys->router, &none, r) ? 0 : -EALREADY;
}

struct actor__router *actor__router_of(const struct actor_system *sys)
{
	return atomic_load_explicit(&sys->router, memory_order_acquire);
}

int actor__driver_install(struct actor_system *sys, struct actor__driver *d)
{
	struct actor__driver *none = NULL;

	if (!atomic_compare_exchange_strong(&sys->driver, &none, d))
		return -EALREADY;
	actor__workers_unpin(sys);
	return 0;
}

void actor__driver_remove(struct actor_system *sys)
{
	struct actor__driver *d = atomic_load(&sys->driver);

	if (d == NULL)
		return;
	/* No worker takes it from here on (worker.c:driver_take wants 0). */
	atomic_fetch_or(&sys->drv_state, ACTOR__DRV_GONE);
	while (atomic_load(&sys->drv_state) & ACTOR__DRV_HELD) {
		d->wake(d);
		sched_yield();
	}
	while (atomic_load(&sys->drv_wakers) != 0)
		sched_yield();
}

uint32_t actor__node_id(const struct actor_system *sys)
{
	return sys->node_id;
}

bool actor__system_closing(const struct actor_system *sys)
{
	return atomic_load(&sys->closing);
}

struct actor__pool *actor__worker_pool(const struct actor__worker *w)
{
	return actor__pool_of(w);
}

int actor__binder_install(struct actor_system *sys, struct actor__binder *b)
{
	struct actor__binder *none = NULL;

	return atomic_compare_exchange_strong(&sys->binder, &none, b) ? 0 : -EALREADY;
}

struct actor__binder *actor__binder_of(const struct actor_system *sys)
{
	return atomic_load_explicit(&sys->binder, memory_order_acquire);
}

int actor__spawn_bound(struct actor_system *sys, struct actor__worker *w, const actor_spec_t *spec,
		       void *bound, actor_ref_t *out)
{
	return actor__spawn_with(sys, w, spec, bound, bound, out);
}

void *actor__ctx_bound(const actor_ctx_t *ctx)
{
	return ctx->a->bound;
}

struct actor__worker *actor__ctx_worker(const actor_ctx_t *ctx)
{
	return ctx->w;
}

int actor__ctx_exit_reason(const actor_ctx_t *ctx)
{
	return ctx->a->exit_reason;
}

struct actor__env *actor__ctx_close(actor_ctx_t *ctx)
{
	return actor__mbox_close(&ctx->a->mb);
}

int actor__stop_later(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		      int reason)
{
	return actor__send_system(sys, w, to, ACTOR__SYS_STOP, &reason, sizeof reason);
}

void actor__bounce(struct actor_system *sys, struct actor__worker *w, actor_ref_t to,
		   struct actor__env *e, int error)
{
	if (e->flags & ACTOR__ENV_REQUEST)
		actor__request_failed(sys, w, e, error);
	if (e->flags & ACTOR__ENV_SYSTEM)
		actor__env_free(actor__pool_of(w), e);
	else
		actor__dead_letter(sys, w, to, e, error);
}
