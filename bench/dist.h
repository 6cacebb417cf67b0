/*
 * The distributed modes' plumbing, shared by bench/pingpong and bench/big:
 * node processes forked from the benchmark (or started by hand with --role),
 * the cookie, the exchange of ports and node ids over pipes, the full mesh
 * of connections, and getting every process to exit.
 *
 * Nodes are numbered 0 .. nodes-1; 0 is the process the user started (it
 * measures and prints the result line), 1 .. nodes-1 are its forked
 * children. A child dies with its parent (PR_SET_PDEATHSIG, and it leaves
 * when its lifeline pipe reads end-of-file); the parent leaves no child
 * behind (dist_finish() waits for them and kills what does not go).
 *
 *   struct dist d;
 *   dist_init(&d, flags, 2);	       // from --nodes/--role/--port/--cookie/--transport
 *   if (dist_fork(&d) != 0) {	       // a child: node d.index
 *       dist_start(&d);	       // system + node; spawn, actor_register ...
 *       dist_child_run(&d);	       // hello, mesh, serve until told to go; exits
 *   }
 *   dist_start(&d);  ...  dist_mesh(&d);  ...  dist_wait(&d, &sem);  dist_finish(&d);
 *
 * With members set (before dist_fork) the nodes also form one cluster view
 * (<actor/node.h>'s membership, for virtual actors): node 0 listens on a
 * port picked before the fork, the others name it as their seed, and the
 * mesh is up only when every node's view has every node and no node is
 * fenced (a joining node is until a quorum answers its probes, and mail
 * for its keys is refused meanwhile); membership makes the connections,
 * without actor_node_connect. prestart, if
 * set, runs in every process between making its system and making it a
 * node (register virtual types there: the view then carries them from the
 * first join).
 */
#ifndef ACTOR_BENCH_DIST_H
#define ACTOR_BENCH_DIST_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/common.h"

#define DIST_MAX_NODES 16
#define DIST_COOKIE_MAX 64

/* The flags the distributed modes add to a benchmark's table. */
#define DIST_FLAGS                                                                         \
	{ "transport", "auto", "distributed: uring, epoll or auto" },                     \
	{ "nodes", "0", "distributed: node processes, this one included (0: 2; virtual: 1)" }, \
	{ "role", "", "distributed by hand: server or client (empty: fork the nodes)" },  \
	{ "host", "127.0.0.1", "distributed client: the server's address" },              \
	{ "port", "0", "distributed: the server's port (the server: 0 = any)" },          \
	{ "cookie", "", "distributed: the cookie in hex, >= 16 bytes (empty: random; "   \
			"needed with --role)" },                                          \
	{ "tls", "", "distributed: TLS with DIR/ca.pem, DIR/node.pem and DIR/node.key " \
		     "(empty: none; ACTOR_KTLS=0 keeps the records out of the kernel)" }, \
	{ "worker-io", "on", "distributed: idle workers read inbound mail (epoll, io_uring), " \
			    "or off: the I/O thread does (actor_node_config_t.no_worker_io)" }

/* What a node tells the others about itself. */
struct dist_node {
	uint32_t node;		/* actor_node_id() */
	uint16_t port;		/* where it listens */
};

struct dist {
	int nodes;		/* processes, this one included */
	int index;		/* this process's number; 0: the one that measures */
	const char *role;	/* "", "server" or "client" */
	const char *host;
	uint16_t port;		/* --port */
	const char *transport;	/* NULL: auto */
	const char *transport_name;	/* for the result line */
	const char *tls_dir;		/* --tls; "": none */
	const char *tls_mode;		/* for the result line: off, kernel or user */
	bool no_worker_io;		/* --worker-io off */
	unsigned char cookie[DIST_COOKIE_MAX];
	size_t cookie_len;
	actor_system_t *sys;
	struct dist_node table[DIST_MAX_NODES];
	/* parent: per child (index 1..), its pid and pipe ends */
	pid_t pid[DIST_MAX_NODES];
	int up_fd[DIST_MAX_NODES];	/* child -> parent */
	int down_fd[DIST_MAX_NODES];	/* parent -> child; closing it tells the child to go */
	/* child: its ends */
	int up, down;
	/* any: told by the ctl actor or a node-down event */
	int wake_fd[2];
	_Atomic int quit;
	_Atomic int peer_down;
	_Atomic uint32_t peer_down_node;
	_Atomic int peer_down_reason;
	/* set by the caller before dist_fork */
	bool members;			/* join one membership view */
	uint64_t member_dead_ns;	/* 0: the default; the other member_*
					 * timeouts keep their default ratios */
	void (*prestart)(struct dist *d);
	void *arg;			/* for prestart and the caller */
	_Atomic int fenced;		/* members: this node runs no virtual turn now */
};

/* From the DIST_FLAGS in flags; max_nodes: what the benchmark supports. */
void dist_init(struct dist *d, const struct bench_flag *flags, int max_nodes);

/* Forks nodes 1 .. nodes-1 (none with --role). Returns the index of the
 * calling process: 0 in the parent, the child's in a child. Call before
 * any thread exists (before dist_start). */
int dist_fork(struct dist *d);

/* The actor system (from the common flags) made a node with the cookie,
 * the transport and, for a server, --port; a child also registers the
 * control actor "bench.ctl", which ends dist_child_run() when it gets a
 * message. Exits on failure. */
actor_system_t *dist_start(struct dist *d);

/* A child, after spawning and registering its actors: tells the parent its
 * port and node id, gets everyone's, connects to nodes with a higher index,
 * waits until every other node is up, tells the parent, then serves until
 * the parent lets go (lifeline closed) or bench.ctl gets a message; then
 * destroys its system and exits. With --role server: prints the port and
 * serves until bench.ctl gets a message. Never returns. */
_Noreturn void dist_child_run(struct dist *d);

/* The parent, after dist_start: gets the children's ports and node ids,
 * hands out the table, connects to every child and waits until every child
 * has its mesh up. With --role client: connects to --host:--port.
 * Afterwards d->table[i].node is node i's id. Exits on failure. */
void dist_mesh(struct dist *d);

/* actor_node_whereis with a generous timeout; exits on failure. */
actor_ref_t dist_whereis(struct dist *d, int index, const char *name);

/* Waits for sem, exiting with a message if a child dies, a peer goes down
 * or timeout_s passes (0: no limit). */
void dist_wait(struct dist *d, sem_t *sem, double timeout_s);

/* The parent: tells every child to go, destroys the system, reaps the
 * children (killing any that does not exit within a few seconds). */
void dist_finish(struct dist *d);

#endif
