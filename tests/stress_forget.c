/*
 * Peers forgotten while other threads look them up, as a plain TAP program
 * so that it also runs under ThreadSanitizer: a client node's plain
 * threads and an actor on its worker send without pause to the actors of
 * every server incarnation so far (most of them forgotten) and ask
 * actor_node_is_up, while the main thread restarts the server on one
 * loopback address and the client's redial reaches each new incarnation
 * (forgetting the one before). A send to a forgotten incarnation must fail
 * with -EHOSTUNREACH (or -EAGAIN, the newest one's queue full); every
 * incarnation must come up and answer a whereis.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/stress/tap.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define THREADS 2
#define MAX_REFS 4096

enum { ECHO = 1, SPRAY };

static const char cookie[] = "stress-cookie-0123456789";
static actor_loopback_t *hub;
static actor_ref_t refs[MAX_REFS];	/* an echo of each incarnation */
static _Atomic int nrefs;
static actor_system_t *client;
static _Atomic bool stop;
static _Atomic long sends, unreachable, bad;

static void echo_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) == ECHO)
		actor_reply(ctx, m, ECHO, actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t echo_spec = { .name = "echo", .handler = echo_handler };

static void spray_one(actor_system_t *sys, actor_ctx_t *ctx, unsigned *seed)
{
	int k = atomic_load(&nrefs), err, v = 7;
	actor_ref_t to;

	if (k == 0)
		return;
	/* Mostly the incarnations gone: the newest one's queue would hold
	 * the main thread's whereis behind tens of thousands of frames
	 * (under TSan, past its timeout). */
	to = refs[rand_r(seed) % (unsigned)k];
	if (to.node == refs[k - 1].node && rand_r(seed) % 64 != 0)
		return;
	err = ctx != NULL ? actor_send(ctx, to, ECHO, &v, sizeof v) :
			    actor_system_send(sys, to, ECHO, &v, sizeof v);
	actor_node_is_up(sys, to.node);
	atomic_fetch_add(&sends, 1);
	/* -EAGAIN: the newest incarnation's queue is full (max_queued). */
	if (err == -EHOSTUNREACH)
		atomic_fetch_add(&unreachable, 1);
	else if (err != 0 && err != -EAGAIN)
		atomic_store(&bad, err);
}

/* An actor that sends a burst a turn and sends itself the next turn. */
static void spray_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	unsigned seed = (unsigned)(uintptr_t)m;

	if (actor_msg_type(m) != SPRAY || atomic_load(&stop))
		return;
	for (int i = 0; i < 64; i++)
		spray_one(client, ctx, &seed);
	actor_send(ctx, actor_self(ctx), SPRAY, NULL, 0);
}

static const actor_spec_t spray_spec = { .name = "spray", .handler = spray_handler };

static void *spray_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	/* A pause now and then leaves the 2-core machine to the restarts. */
	for (unsigned i = 1; !atomic_load(&stop); i++) {
		spray_one(arg, NULL, &seed);
		if (i % 256 == 0)
			usleep(100);
	}
	return NULL;
}

static actor_system_t *node(const char *name, uint16_t port)
{
	actor_config_t sc;
	actor_node_config_t cfg;
	actor_system_t *s;

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	if (actor_system_create(&s, &sc) != 0)
		return NULL;
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = "loopback";
	cfg.loopback = hub;
	cfg.listen_port = port;
	cfg.reconnect_min_ns = 5 * MS;
	cfg.reconnect_max_ns = 20 * MS;
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static const char *restarts(int n, actor_node_stats_t *st)
{
	static char why[128];
	pthread_t t[THREADS];
	actor_system_t *server;
	actor_ref_t spray, r, echo;
	const char *error = NULL;
	uint16_t port = 0;

	if (actor_loopback_create(&hub) != 0 || (client = node("client", 0)) == NULL)
		return "no client node";
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, spray_thread, client);
	if (actor_system_spawn(client, &spray_spec, NULL, &spray) != 0 ||
	    actor_system_send(client, spray, SPRAY, NULL, 0) != 0)
		error = "no spray actor";
	for (int i = 0; i < n && error == NULL; i++) {
		uint32_t id;
		int err;

		if ((server = node("server", port)) == NULL) {
			error = "no server node";
			break;
		}
		port = (uint16_t)actor_node_port(server);
		actor_system_spawn(server, &echo_spec, NULL, &r);
		actor_register(server, "echo", r);
		/* The first by a connect, the others by the client's own
		 * redial of the address (an actor_node_connect could race
		 * it: the server refuses the second handshake, and the dial
		 * fails with -ECONNRESET or waits for the handshake timeout,
		 * a flaw of simultaneous dials noted in issue 18). */
		if (i == 0) {
			err = actor_node_connect(client, "127.0.0.1", port, 20 * SEC, &id);
		} else {
			id = actor_node_id(server);
			err = -ETIMEDOUT;
			for (int k = 0; k < 2000 && err != 0; k++)
				if (actor_node_is_up(client, id))
					err = 0;
				else
					usleep(10000);
		}
		if (err != 0 ||
		    (err = actor_node_whereis(client, id, "echo", 20 * SEC, &echo)) != 0) {
			snprintf(why, sizeof why, "restart %d: connect or whereis: %d", i, err);
			error = why;
		} else if (atomic_load(&nrefs) < MAX_REFS) {
			refs[atomic_load(&nrefs)] = echo;
			atomic_fetch_add(&nrefs, 1);
		}
		actor_system_destroy(server);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	actor_node_stats(client, st);
	actor_system_destroy(client);
	actor_loopback_destroy(hub);
	if (error == NULL && atomic_load(&bad) != 0) {
		snprintf(why, sizeof why, "a send failed with %ld", atomic_load(&bad));
		error = why;
	}
	if (error == NULL && st->peers_known > 2)
		error = "more than 2 peers known at the end";
	return error;
}

int main(void)
{
	int n = 100 * (int)stress_scale();
	actor_node_stats_t st = { 0 };
	const char *error;
	char name[160];

	tap_plan(1);
	error = restarts(n, &st);
	snprintf(name, sizeof name,
		 "loopback: %d server restarts under sends (%ld sent, %ld unreachable), %lu peers forgotten, %lu known",
		 n, atomic_load(&sends), atomic_load(&unreachable),
		 (unsigned long)st.peers_forgotten, (unsigned long)st.peers_known);
	tap_result(name, error);
	return tap_exit();
}
