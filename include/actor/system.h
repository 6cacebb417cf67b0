/*
 * libactor: actor systems, their configuration and their counters.
 */
#ifndef ACTOR_SYSTEM_H
#define ACTOR_SYSTEM_H

#include <actor/types.h>

ACTOR_BEGIN_DECLS

/* Called for every message that cannot be delivered. */
typedef void (*actor_dead_letter_t)(void *arg, actor_ref_t to, uint32_t type,
				    const void *data, size_t size);

/* A message that cannot be delivered, for the dead_letter_info hook; valid
 * during the call. A struct, so that it can tell more later. */
typedef struct actor_dead_letter_info {
	actor_ref_t to;
	actor_ref_t sender;		/* ACTOR_REF_NONE: from outside the actors */
	uint32_t type;
	const void *data;
	size_t size;
	/* Why, a negative errno: -ESRCH (no such actor, or it stopped with
	 * the message queued), -EHOSTUNREACH (its node is down or unknown),
	 * -EAGAIN (mail from another node found a bounded mailbox full),
	 * -ECONNRESET (mail for another node lost with its connection),
	 * -EPROTONOSUPPORT (a message with no form on the wire). */
	int reason;
} actor_dead_letter_info_t;

/*
 * Configuration; fill in with actor_config_init() and change what you need.
 * The idle tiers are CAF's, with CAF's defaults, followed by parking.
 */
typedef struct actor_config {
	unsigned workers;		/* 0: one per online CPU */
	bool pin_workers;		/* one worker per core (default: yes;
					 * lifted for a node whose workers
					 * read inbound mail) */
	unsigned max_throughput;	/* messages per actor turn, >= 1 */
	unsigned aggressive_polls;	/* tier 1: spin */
	unsigned aggressive_steal_interval;
	unsigned moderate_polls;	/* tier 2: short sleeps */
	unsigned moderate_steal_interval;
	unsigned moderate_sleep_us;	/* > 0 */
	unsigned relaxed_polls;		/* tier 3: long sleeps, then park */
	unsigned relaxed_steal_interval;
	unsigned relaxed_sleep_us;	/* > 0 */
	/* Live actors at once; each worker may also hold up to 256 free
	 * slots in a cache of its own. */
	uint32_t max_actors;
	actor_dead_letter_t dead_letter;	/* optional hook */
	void *dead_letter_arg;
	/* Optional hook that also gets the sender; with dead_letter_arg.
	 * Either hook, or both, may be set. */
	void (*dead_letter_info)(void *arg, const actor_dead_letter_info_t *letter);
} actor_config_t;

/* Per-worker counters; each is monotonic. */
typedef struct actor_worker_stats {
	uint64_t messages;		/* messages handled */
	uint64_t turns;			/* actor turns run */
	uint64_t steal_attempts;
	uint64_t steals;		/* successful steals */
	uint64_t parks;			/* sleeps in the moderate tier or deeper */
	uint64_t wakeups;		/* times another thread woke it */
} actor_worker_stats_t;

typedef struct actor_system_stats {
	uint64_t spawned;
	uint64_t stopped;
	uint64_t live;			/* spawned - stopped */
	uint64_t dead_letters;
	uint64_t late_replies;		/* replies after a timeout or a failure */
} actor_system_stats_t;

ACTOR_API void actor_config_init(actor_config_t *cfg);

/* Creates and starts a system. cfg NULL: defaults. 0 or a negative errno. */
ACTOR_API int actor_system_create(actor_system_t **sys, const actor_config_t *cfg);

/*
 * Stops every actor (each gets exit reason ACTOR_EXIT_SHUTDOWN ahead of its
 * queued mail, which becomes dead letters), then joins the workers. From
 * then on spawns, and sends from outside the actors, fail with -ESHUTDOWN.
 * Blocks; call from a thread that is not one of the system's workers. A
 * second call returns at once; calls from two threads at once are not
 * supported.
 */
ACTOR_API void actor_system_shutdown(actor_system_t *sys);

/* Shuts down if needed, then frees everything. */
ACTOR_API void actor_system_destroy(actor_system_t *sys);

ACTOR_API unsigned actor_system_workers(const actor_system_t *sys);
ACTOR_API int actor_system_worker_stats(const actor_system_t *sys, unsigned worker,
					actor_worker_stats_t *out);
ACTOR_API void actor_system_stats(const actor_system_t *sys, actor_system_stats_t *out);

ACTOR_END_DECLS

#endif /* ACTOR_SYSTEM_H */
