/*
 * The calls of seam.h that need sched/'s private structures: cluster/ sees
 * a system and a worker only through these.
 */
#include "config.h"

#include <errno.h>

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
