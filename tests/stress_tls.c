/*
 * Remote actors over TLS under load, as a plain TAP program so that it also
 * runs under ThreadSanitizer: on epoll and on io_uring (both receive paths),
 * with records in user space, senders on one node send numbered messages
 * and requests to receivers on another; all must arrive, in order. Skipped
 * where the openssl command cannot make the certificates.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#define SENDERS 2
#define SEC 1000000000ull

#include "tests/stress/tap.h"
#include "tests/stress/traffic.h"
#include "tests/tls_certs.h"

static const char cookie[] = "stress-tls-cookie-0123456789";
static const char skip_uring[] = "io_uring is not available here";
static char dir[64];
static char files[3][128];

static actor_system_t *node(const char *transport)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	if (actor_system_create(&s, NULL) != 0)
		return NULL;
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.heartbeat_timeout_ns = 10 * SEC;	/* TSan is slow */
	cfg.handshake_timeout_ns = 30 * SEC;
	cfg.tls_ca_file = files[0];
	cfg.tls_cert_file = files[1];
	cfg.tls_key_file = files[2];
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static const char *run(const char *transport, uint64_t n)
{
	actor_system_t *a = node(transport), *b = node(transport);
	const char *error = NULL;
	actor_ref_t to, found;
	uint32_t id;

	traffic_reset();
	if (a == NULL || b == NULL) {
		error = strcmp(transport, "uring") == 0 ? skip_uring : "node_start failed";
		goto out;
	}
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 30 * SEC, &id) != 0) {
		error = "connect failed";
		goto out;
	}
	actor_system_spawn(a, &receiver_spec, NULL, &to);
	actor_register(a, "r", to);
	if (actor_node_whereis(b, id, "r", 30 * SEC, &found) != 0 || !actor_ref_equal(found, to)) {
		error = "whereis failed";
		goto out;
	}
	for (int i = 0; i < SENDERS; i++) {
		struct go g = { .to = found, .id = (uint64_t)i, .n = n };
		actor_ref_t s;

		actor_system_spawn(b, &sender_spec, NULL, &s);
		actor_system_send(b, s, GO, &g, sizeof g);
	}
	error = traffic_result(n);
out:
	if (b != NULL)
		actor_system_destroy(b);
	if (a != NULL)
		actor_system_destroy(a);
	return error;
}

int main(void)
{
	static const char *const names[] = { "epoll", "uring", "uring, plain recv" };
	uint64_t n = 20000 * stress_scale();

	if (!tls_certs_possible()) {
		printf("1..0 # SKIP the openssl command cannot run here\n");
		return 0;
	}
	if (tls_certs_make(dir) != 0) {
		tap_plan(1);
		tap_result("making the certificates", "failed (see make-certs.log in /tmp/actor-tls-*)");
		return tap_exit();
	}
	snprintf(files[0], sizeof files[0], "%s/ca.pem", dir);
	snprintf(files[1], sizeof files[1], "%s/node.pem", dir);
	snprintf(files[2], sizeof files[2], "%s/node.key", dir);
	setenv("ACTOR_KTLS", "0", 1);
	tap_plan(3);
	for (int i = 0; i < 3; i++) {
		char name[96];
		const char *error;

		setenv("ACTOR_URING_PBUF", i == 2 ? "0" : "1", 1);
		error = run(i == 0 ? "epoll" : "uring", n);
		if (error == skip_uring)
			snprintf(name, sizeof name, "%s # SKIP %s", names[i], skip_uring);
		else
			snprintf(name, sizeof name, "TLS on %s: %d senders x %llu messages", names[i],
				 SENDERS, (unsigned long long)n);
		tap_result(name, error == skip_uring ? NULL : error);
	}
	tls_certs_remove(dir);
	return tap_exit();
}
