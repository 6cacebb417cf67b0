/*
 * Actor systems: configuration, start, shutdown, and the counters.
 *
 * Shutdown: refuse new spawns and outside sends, let the outside spawns in
 * progress finish, ask every live actor to exit (urgent, so ahead of its
 * queued mail), wait until none is left, then stop and join the workers. Actors that are still running a handler finish
 * it first: a handler that never returns makes shutdown wait for ever.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sched/internal.h"

#define SHUTDOWN_SWEEP_MS 20

void actor_config_init(actor_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 0;
	cfg->pin_workers = ACTOR_DEFAULT_PIN;
	/* CAF's is unlimited: one busy actor then starves its worker's queue. */
	cfg->max_throughput = 100;
	/* CAF's defaults, the same from 0.17 to 1.x. */
	cfg->aggressive_polls = 100;
	cfg->aggressive_steal_interval = 10;
	cfg->moderate_polls = 500;
	cfg->moderate_steal_interval = 5;
	cfg->moderate_sleep_us = 50;
	cfg->relaxed_steal_interval = 1;
	cfg->relaxed_sleep_us = 10000;
	/* Beyond CAF: after 10 relaxed polls (100 ms), park until woken. */
	cfg->relaxed_polls = 10;
	cfg->max_actors = 1u << 24;
}

/* A random node id for this incarnation: refs to an earlier one never
 * reach this one. Never 0, which means "this node" in a reference, nor
 * ACTOR__NODE_VIRTUAL, which marks virtual references. */
static uint32_t new_node_id(void)
{
	uint32_t id = 0;

	while (id == 0 || id == ACTOR__NODE_VIRTUAL)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = (uint32_t)(actor__now_ns() * 0x9e3779b97f4a7c15ull >> 32);
	return id;
}

static void system_free(struct actor_system *sys)
{
	struct actor__router *router = atomic_load(&sys->router);
	struct actor__binder *binder = atomic_load(&sys->binder);

	/* The binder may hold mail and a reference to the node. */
	if (binder != NULL)
		binder->free(binder);
	if (router != NULL)
		router->free(router);
	actor__timers_free(sys);
	actor__registry_free(sys);
	actor__workers_free(sys);
	if (sys->chunks != NULL)
		actor__table_destroy(sys);
	free(sys);
}

int actor_system_create(actor_system_t **out, const actor_config_t *cfg)
{
	struct actor_system *sys;
	long ncpu;
	int err;

	if (out == NULL)
		return -EINVAL;
	sys = aligned_alloc(ACTOR__CACHELINE, sizeof(*sys));
	if (sys == NULL)
		return -ENOMEM;
	memset(sys, 0, sizeof(*sys));
	if (cfg != NULL)
		sys->cfg = *cfg;
	else
		actor_config_init(&sys->cfg);
	/* A zero sleep would be a futex wait without a time limit. */
	if (sys->cfg.max_throughput == 0 || sys->cfg.max_actors == 0 ||
	    sys->cfg.moderate_sleep_us == 0 || sys->cfg.relaxed_sleep_us == 0) {
		free(sys);
		return -EINVAL;
	}
	sys->node_id = new_node_id();
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sys->nworkers = sys->cfg.workers != 0 ? sys->cfg.workers : (ncpu > 0 ? (unsigned)ncpu : 1);
	sys->cfg.workers = sys->nworkers;
	err = actor__table_init(sys);
	if (err == 0)
		err = actor__registry_init(sys);
	if (err == 0)
		err = actor__timers_init(sys);
	if (err == 0)
		err = actor__workers_start(sys);
	if (err != 0) {
		actor__timers_stop(sys);
		actor__workers_stop(sys);
		system_free(sys);
		return err;
	}
	*out = sys;
	return 0;
}

static uint64_t live_actors(const struct actor_system *sys)
{
	/* stopped first: an actor counted there was counted in spawned. */
	uint64_t stopped = atomic_load(&sys->stopped);

	return atomic_load(&sys->spawned) - stopped;
}

/* Sends an exit to every slot that holds a live actor. */
static void exit_all(struct actor_system *sys)
{
	uint32_t fresh;
	int reason = ACTOR_EXIT_SHUTDOWN;

	pthread_mutex_lock(&sys->table_lock);
	fresh = sys->fresh;
	pthread_mutex_unlock(&sys->table_lock);
	for (uint32_t slot = 0; slot < fresh; slot++) {
		struct actor__actor *a = actor__slot_at(sys, slot);

		if (a != NULL && !actor__mbox_closed(&a->mb))
			actor__send_system(sys, NULL, actor__ref_of(sys, a), ACTOR__SYS_EXIT, &reason,
					   sizeof reason);
	}
}

void actor_system_shutdown(actor_system_t *sys)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct actor__router *router;

	if (atomic_exchange(&sys->shut_down, true))
		return;
	atomic_store(&sys->closing, true);
	/* No timer fires into the actors that are about to stop. */
	actor__timers_stop(sys);
	/* An outside spawn that got past closing finishes before the first
	 * sweep, which then sees its actor (see actor__system_spawn; model:
	 * tests/spin/ask.pml). */
	while (atomic_load(&sys->spawning) != 0)
		nanosleep(&ms, NULL);
	/* Actors spawned by actors meanwhile are caught by the next sweep. */
	while (live_actors(sys) != 0) {
		exit_all(sys);
		for (int i = 0; i < SHUTDOWN_SWEEP_MS && live_actors(sys) != 0; i++)
			nanosleep(&ms, NULL);
	}
	router = atomic_load(&sys->router);
	if (router != NULL)
		router->stop(router);
	actor__workers_stop(sys);
}

void actor_system_destroy(actor_system_t *sys)
{
	if (sys == NULL)
		return;
	actor_system_shutdown(sys);
	system_free(sys);
}

unsigned actor_system_workers(const actor_system_t *sys)
{
	return sys->nworkers;
}

int actor_system_worker_stats(const actor_system_t *sys, unsigned worker,
			      actor_worker_stats_t *out)
{
	const struct actor__worker *w;

	if (worker >= sys->nworkers || out == NULL)
		return -EINVAL;
	w = &sys->workers[worker];
	out->messages = atomic_load_explicit(&w->messages, memory_order_relaxed);
	out->turns = atomic_load_explicit(&w->turns, memory_order_relaxed);
	out->steal_attempts = atomic_load_explicit(&w->steal_attempts, memory_order_relaxed);
	out->steals = atomic_load_explicit(&w->steals, memory_order_relaxed);
	out->parks = atomic_load_explicit(&w->parks, memory_order_relaxed);
	out->wakeups = atomic_load_explicit(&w->wakeups, memory_order_relaxed);
	return 0;
}

void actor_system_stats(const actor_system_t *sys, actor_system_stats_t *out)
{
	out->stopped = atomic_load(&sys->stopped);
	out->spawned = atomic_load(&sys->spawned);
	out->live = out->spawned - out->stopped;
	out->dead_letters = atomic_load_explicit(&sys->dead_letters, memory_order_relaxed);
	out->late_replies = atomic_load_explicit(&sys->late_replies, memory_order_relaxed);
}
