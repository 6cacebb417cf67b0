/*
 * A cluster node in a process of its own, for the tests that kill one with
 * SIGKILL (tests/test_bank, tests/test_virtual_once). The test program runs
 * itself again (exec of /proc/self/exe: a fresh process, not a fork of the
 * test's threads) as "PROG node STORE SEED_PORT [ARG]"; that process opens
 * STORE, registers the test's types, joins the cluster through
 * 127.0.0.1:SEED_PORT over TCP and serves until SIGTERM.
 *
 * STORE is "lmdb:PATH" (an environment shared by every node of the host)
 * or "pg:CONNINFO" (a PostgreSQL server they all reach).
 */
#ifndef ACTOR_TESTS_NODE_PROC_H
#define ACTOR_TESTS_NODE_PROC_H

#include <sys/types.h>

#include <actor/actor.h>
#include <actor/store.h>

/* What a test's node process needs from the test. */
struct node_proc {
	const char *cookie;		/* the cluster's secret */
	const char *pg_table;		/* the table of "pg:" stores */
	/* Registers the test's types on sys: 0 or a negative errno. arg is
	 * the command line's ARG ("" without one). */
	int (*reg)(actor_system_t *sys, actor_store_exec_t *ex, const char *arg);
};

/*
 * Membership with short timings, for a node joining through
 * 127.0.0.1:seed_port (0: it starts the cluster): a dead member's keys move
 * about 2 s after it went silent. seed_text (32 bytes) and seeds (one
 * entry) must outlive the start of the node.
 */
void node_proc_config(actor_node_config_t *cfg, const char *name, const char *cookie,
		      int seed_port, char *seed_text, const char **seeds);

/*
 * The same node in the test's own process: a system of 2 workers with the
 * types reg registers on ex, as node `name` of the loopback cluster hub
 * joining through seed_port (hub NULL: a system with no node). NULL on
 * failure.
 */
actor_system_t *node_proc_loopback(actor_loopback_t *hub, const char *name, const char *cookie,
				   int seed_port, actor_store_exec_t *ex,
				   int (*reg)(actor_system_t *sys, actor_store_exec_t *ex));

/* Opens STORE ("lmdb:PATH", without fsync: a process crash loses nothing,
 * only a machine crash would; or "pg:CONNINFO"): 0, -EINVAL or the open
 * call's error. */
int node_proc_store(const struct node_proc *np, const char *store, actor_store_t **out);

/* The node process's body (after "node"): returns its exit status. */
int node_proc_main(const struct node_proc *np, const char *store, int seed_port,
		   const char *arg);

/* Starts a node process (arg may be NULL): its pid, or -1. */
pid_t node_proc_spawn(const char *prog, const char *store, int seed_port, const char *arg);

#endif
