/*
 * Mail lost between nodes is counted (issue 18): a client floods a server's
 * actor with one-way sends, and the connection goes away mid-flood (the
 * client disconnects, or the server is destroyed). Every send that
 * returned 0 was either handled by the server's actor or is a dead letter
 * on one node or the other (counted, and told to the hook with its reason),
 * and the client's frames_lost counts its own losses:
 * sent = handled + lost, exactly. Two systems in one process, over
 * loopback and TCP on epoll.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

#define SEC 1000000000ull
#define MS 1000000ull

enum { MAIL = 7 };

static const char cookie[] = "test-cookie-0123456789";
static actor_loopback_t *hub;
static _Atomic long handled, sent, refused;
static _Atomic bool stop;

/* Dead letters of type MAIL, per system, but for the sends refused with
 * -EHOSTUNREACH (not sent), and how many of them were lost with a
 * connection (-ECONNRESET). */
struct letters {
	_Atomic long all, reset;
};

static struct letters client_letters, server_letters;

static void on_dead_letter(void *arg, const actor_dead_letter_info_t *d)
{
	struct letters *l = arg;

	if (d->type != MAIL || d->reason == -EHOSTUNREACH)
		return;
	atomic_fetch_add(&l->all, 1);
	if (d->reason == -ECONNRESET)
		atomic_fetch_add(&l->reset, 1);
}

static void sink(actor_ctx_t *ctx, const actor_msg_t *m)
{
	(void)ctx;
	if (actor_msg_type(m) == MAIL)
		atomic_fetch_add(&handled, 1);
}

static const actor_spec_t sink_spec = { .name = "sink", .handler = sink };

static actor_system_t *node(const char *transport, struct letters *l)
{
	actor_system_t *s;
	actor_config_t sc;
	actor_node_config_t cfg;

	actor_config_init(&sc);
	sc.workers = 2;
	sc.pin_workers = false;
	sc.dead_letter_info = on_dead_letter;
	sc.dead_letter_arg = l;
	cr_assert_eq(actor_system_create(&s, &sc), 0);
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.heartbeat_timeout_ns = 30 * SEC;	/* a loaded machine */
	cfg.reconnect_max_ns = 0;		/* no redial: one connection */
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg.loopback = hub;
	}
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

struct flood {
	actor_system_t *from;
	actor_ref_t to;
};

/* Sends MAIL until stop; counts what returned 0. */
static void *flood(void *arg)
{
	const struct flood *f = arg;
	long i = 0;

	while (!atomic_load(&stop)) {
		int err = actor_system_send(f->from, f->to, MAIL, &i, sizeof i);

		if (err == 0)
			atomic_fetch_add(&sent, 1);
		else if (err == -EAGAIN)
			atomic_fetch_add(&refused, 1);
		else
			usleep(100);	/* down: -EHOSTUNREACH */
		i++;
	}
	return NULL;
}

static long lost(void)
{
	return atomic_load(&client_letters.all) + atomic_load(&server_letters.all);
}

/* server_dies: the server is destroyed mid-flood; else the client
 * disconnects. */
static void lost_mid_flood(const char *transport, bool server_dies)
{
	actor_system_t *client = node(transport, &client_letters);
	actor_system_t *server = node(transport, &server_letters);
	actor_node_stats_t st;
	struct flood f = { client, ACTOR_REF_NONE };
	pthread_t t;
	uint32_t id = 0;
	long s, h;

	cr_assert_eq(actor_node_connect(client, "127.0.0.1", (uint16_t)actor_node_port(server),
					5 * SEC, &id), 0);
	cr_assert_eq(actor_system_spawn(server, &sink_spec, NULL, &f.to), 0);
	cr_assert_eq(pthread_create(&t, NULL, flood, &f), 0);
	for (int i = 0; i < 10000 && atomic_load(&sent) < 50000; i++)
		usleep(1000);
	if (server_dies) {
		actor_system_destroy(server);
		server = NULL;
	} else {
		cr_assert_eq(actor_node_disconnect(client, id), 0);
	}
	for (int i = 0; i < 10000 && actor_node_is_up(client, id); i++)
		usleep(1000);
	cr_assert(!actor_node_is_up(client, id));
	usleep(50 * 1000);	/* sends that saw it up finish */
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	/* What reached the server's mailbox is handled there (or, if it
	 * died, was a dead letter of its). */
	s = atomic_load(&sent);
	for (int i = 0; i < 10000 && atomic_load(&handled) + lost() < s; i++)
		usleep(1000);
	h = atomic_load(&handled);
	cr_assert_eq(actor_node_stats(client, &st), 0);
	cr_log_info("%s, %s: sent %ld, handled %ld, lost %ld (client %ld, %ld of them with the connection, frames_lost %lu; server %ld), refused %ld",
		    transport, server_dies ? "server destroyed" : "client disconnected", s, h, lost(),
		    atomic_load(&client_letters.all), atomic_load(&client_letters.reset),
		    (unsigned long)st.frames_lost, atomic_load(&server_letters.all),
		    atomic_load(&refused));
	cr_assert_eq(h + lost(), s, "sent %ld, handled %ld, lost %ld", s, h, lost());
	/* The client's losses are the connection's, and counted. */
	cr_assert_eq(atomic_load(&client_letters.reset), atomic_load(&client_letters.all));
	cr_assert_eq(st.frames_lost, (uint64_t)atomic_load(&client_letters.all));
	actor_system_destroy(client);
	if (server != NULL)
		actor_system_destroy(server);
	actor_loopback_destroy(hub);
	hub = NULL;
	assert_no_leaks();
}

TestSuite(lost, .timeout = 120);

Test(lost, client_disconnects_loopback) { lost_mid_flood("loopback", false); }
Test(lost, client_disconnects_epoll) { lost_mid_flood("epoll", false); }
Test(lost, server_destroyed_loopback) { lost_mid_flood("loopback", true); }
