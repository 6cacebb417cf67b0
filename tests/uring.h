/*
 * Whether a node can run on io_uring here: a kernel, seccomp or the
 * io_uring_disabled sysctl may refuse it, and the tests of the uring
 * transport then skip. For the node tests (test_node, test_handshake,
 * test_tls).
 */
#ifndef ACTOR_TESTS_URING_H
#define ACTOR_TESTS_URING_H

#include <criterion/criterion.h>
#include <stdbool.h>

#include <actor/actor.h>
#include <actor/node.h>

static bool uring_works(void)
{
	static const char cookie[] = "uring-probe-cookie-0123456789";
	actor_system_t *s;
	actor_node_config_t cfg;
	int err;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = "uring";
	err = actor_node_start(s, &cfg);
	actor_system_destroy(s);
	return err == 0;
}

#endif
