/*
 * counters: a counter per key as a virtual actor, on 3 nodes in one
 * process (the loopback transport). Node n0 starts the cluster and the
 * others join it with n0 as their seed; main waits until every node's view
 * has the 3 members. Every node registers the type "counter"; each node adds to the counters of 12 users by name, without
 * knowing where they live; placement puts each key on one node, which
 * activates it on its first message (the activation hook runs first) and
 * deactivates it after 2 s without mail. main then asks every counter its
 * total from node 0, and prints where the activations ran. Uses only the
 * public API.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#define SEC 1000000000ull
#define NODES 3
#define USERS 12

enum { ADD = 1, TOTAL };

static const char *const users[USERS] = {
	"alice", "bob", "carol", "dave", "erin", "frank",
	"grace", "heidi", "ivan", "judy", "mallory", "oscar",
};

static int on_activate(actor_ctx_t *ctx)
{
	size_t len;
	const char *key = actor_virtual_key(ctx, &len);

	/* Where state would be loaded from a store. */
	printf("  activated %s/%.*s\n", actor_virtual_type(ctx), (int)len, key);
	return 0;
}

static void counter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	long *total = actor_self_state(ctx);

	if (actor_msg_type(m) == ADD && actor_msg_size(m) == sizeof(long))
		*total += *(const long *)actor_msg_data(m);
	else if (actor_msg_type(m) == TOTAL)
		actor_reply(ctx, m, TOTAL, total, sizeof *total);
}

static const actor_spec_t counter_spec = {
	.name = "counter", .handler = counter, .state_size = sizeof(long),
};

/* Whether each node runs virtual actors now: a node that joins through a
 * seed is fenced until it has heard the others answer (member_event). */
static _Atomic bool runs[NODES];

static void on_member(void *arg, const actor_member_event_t *ev)
{
	if (ev->kind == ACTOR_MEMBER_FENCED || ev->kind == ACTOR_MEMBER_UNFENCED)
		atomic_store(&runs[(intptr_t)arg], ev->kind == ACTOR_MEMBER_UNFENCED);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "counters: %s: %s\n", what, actor_reason_string(err));
	exit(1);
}

int main(void)
{
	static const char cookie[] = "counters-example-cookie";
	actor_virtual_options_t opts = { .idle_timeout_ns = 2 * SEC, .activate = on_activate };
	actor_system_t *nodes[NODES];
	actor_loopback_t *hub;
	char seed[32];
	const char *seeds[1] = { seed };
	int err, joined = 0;

	if ((err = actor_loopback_create(&hub)) != 0)
		die("actor_loopback_create", err);
	for (int i = 0; i < NODES; i++) {
		actor_node_config_t cfg;
		char name[8];

		snprintf(name, sizeof name, "n%d", i);
		if ((err = actor_system_create(&nodes[i], NULL)) != 0)
			die("actor_system_create", err);
		if ((err = actor_virtual_register(nodes[i], "counter", &counter_spec, &opts)) != 0)
			die("actor_virtual_register", err);
		actor_node_config_init(&cfg);
		cfg.name = name;
		cfg.cookie = cookie;
		cfg.cookie_len = sizeof cookie - 1;
		cfg.transport = "loopback";
		cfg.loopback = hub;
		cfg.member_event = on_member;
		cfg.member_event_arg = (void *)(intptr_t)i;
		atomic_store(&runs[i], i == 0);	/* n0, with no seeds, is never fenced */
		if (i > 0) {	/* n0 is the seed of the others */
			snprintf(seed, sizeof seed, "127.0.0.1:%d", actor_node_port(nodes[0]));
			cfg.seeds = seeds;
			cfg.nseeds = 1;
		}
		if ((err = actor_node_start(nodes[i], &cfg)) != 0)
			die("actor_node_start", err);
	}
	/* Placement needs the same view everywhere: wait (30 s at most: CI runs
	 * this under ThreadSanitizer on a loaded machine) until no node is
	 * fenced (a fenced owner refuses virtual mail) and
	 * every node has all the members and is connected to them (mail for a
	 * member not connected yet is a dead letter). */
	for (int t = 0; t < 3000 && joined < NODES; t++) {
		usleep(10 * 1000);
		joined = 0;
		for (int i = 0; i < NODES; i++) {
			bool up = actor_cluster_members(nodes[i], NULL, 0, NULL) == NODES &&
				  atomic_load(&runs[i]);

			for (int j = 0; j < NODES && up; j++)
				up = j == i || actor_node_is_up(nodes[i], actor_node_id(nodes[j]));
			joined += up;
		}
	}
	if (joined < NODES)
		die("joining the cluster", -ETIMEDOUT);

	/* Every node adds i + 1 to every user's counter: no lookup. */
	for (int i = 0; i < NODES; i++) {
		for (int u = 0; u < USERS; u++) {
			actor_ref_t r;
			long add = i + 1;

			if ((err = actor_virtual_ref(nodes[i], "counter", users[u], strlen(users[u]),
						     &r)) != 0)
				die("actor_virtual_ref", err);
			/* -EAGAIN: the owner is fenced for a moment (a node
			 * that just joined, until its probes are answered). */
			for (int t = 0; (err = actor_system_send(nodes[i], r, ADD, &add,
								 sizeof add)) == -EAGAIN &&
					t < 3000; t++)
				usleep(10 * 1000);
			if (err != 0)
				die("send", err);
		}
	}
	for (int u = 0; u < USERS; u++) {
		actor_ref_t r;
		uint32_t type;
		void *reply;
		size_t size;

		actor_virtual_ref(nodes[0], "counter", users[u], strlen(users[u]), &r);
		long total = 0;

		/* The other nodes' adds may still be on their way: mail from
		 * different senders has no order. Ask until all three are in
		 * (3 s at most). */
		for (int t = 0; t < 300 && total != 6; t++) {
			if (t > 0)
				usleep(10 * 1000);
			err = actor_system_ask(nodes[0], r, TOTAL, NULL, 0, 30 * SEC, &type, &reply,
					       &size);
			if (err == -EAGAIN)
				continue;
			if (err != 0)
				die("actor_system_ask", err);
			total = *(long *)reply;
			free(reply);
		}
		printf("%-8s %ld\n", users[u], total);	/* 1 + 2 + 3 = 6 */
	}
	for (int i = 0; i < NODES; i++) {
		actor_virtual_stats_t st;

		actor_virtual_stats(nodes[i], "counter", &st);
		printf("node n%d: %llu activations\n", i, (unsigned long long)st.activations);
	}
	for (int i = 0; i < NODES; i++)
		actor_system_destroy(nodes[i]);
	actor_loopback_destroy(hub);
	return 0;
}
