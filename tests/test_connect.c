/*
 * actor_node_connect()'s answers when there is nothing new to connect:
 * a node that is up already (0, either way round) and the node itself
 * (-EEXIST, quietly).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

#define SEC 1000000000ull

static const char cookie[] = "test-cookie-0123456789";

/* hub NULL: TCP on epoll. */
static actor_system_t *node(actor_loopback_t *hub, const char *name)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = hub != NULL ? "loopback" : "epoll";
	cfg.loopback = hub;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static int connect_to(actor_system_t *from, actor_system_t *to, uint32_t *id)
{
	return actor_node_connect(from, "127.0.0.1", (uint16_t)actor_node_port(to), 5 * SEC, id);
}

Test(connect, to_a_node_up_already_is_0_either_way)
{
	actor_loopback_t *hub;
	actor_system_t *a, *b;
	uint32_t id = 0;

	cr_assert_eq(actor_loopback_create(&hub), 0);
	a = node(hub, "a");
	b = node(hub, "b");
	cr_assert_eq(connect_to(a, b, &id), 0);
	id = 0;
	cr_assert_eq(connect_to(a, b, &id), 0);
	cr_assert_eq(id, actor_node_id(b));
	id = 0;
	cr_assert_eq(connect_to(b, a, &id), 0);
	cr_assert_eq(id, actor_node_id(a));
	actor_system_destroy(a);
	actor_system_destroy(b);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

static void connect_to_itself(actor_loopback_t *hub)
{
	actor_system_t *a = node(hub, "a");
	uint32_t id = 0;
	int r = connect_to(a, a, &id);

	cr_assert_eq(r, -EEXIST, "%d", r);
	cr_assert_eq(id, 0);
	actor_system_destroy(a);
	fflush(stderr);
	cr_assert_stderr_eq_str("");
}

Test(connect, to_itself_is_eexist_and_quiet, .init = cr_redirect_stderr)
{
	actor_loopback_t *hub;

	cr_assert_eq(actor_loopback_create(&hub), 0);
	connect_to_itself(hub);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

Test(connect, to_itself_over_tcp_is_eexist_and_quiet, .init = cr_redirect_stderr)
{
	connect_to_itself(NULL);
	assert_no_leaks();
}
