/*
 * The handshake under attack (issue 12): a relay splicing two listening
 * nodes, reflected and role-swapped proofs, frames and connections before
 * authentication, a duplicate node id, an old protocol version, and the
 * log lines all of these cause. The attackers are raw sockets
 * (tests/rawpeer.h); the nodes run on epoll, and on io_uring where the
 * transport matters.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"
#include "tests/uring.h"
#include "tests/rawpeer.h"
#include "transport/transport.h"

#define SEC 1000000000ull
#define MS 1000000ull

static const char cookie[] = "test-cookie-0123456789";

/* What the nodes said: node_event ups, and log lines. */
static _Atomic int ups, lines, suppressed_lines, version_lines, cookie_lines;

static void reset(void)
{
	atomic_store(&ups, 0);
	atomic_store(&lines, 0);
	atomic_store(&suppressed_lines, 0);
	atomic_store(&version_lines, 0);
	atomic_store(&cookie_lines, 0);
}

static void on_event(void *arg, uint32_t node, const char *name, bool up, int reason)
{
	if (up)
		atomic_fetch_add(&ups, 1);
}

static void on_log(void *arg, const char *line)
{
	if (strstr(line, "suppressed") != NULL) {
		atomic_fetch_add(&suppressed_lines, 1);
		return;
	}
	atomic_fetch_add(&lines, 1);
	if (strstr(line, "protocol version 1 (this node speaks 2)") != NULL)
		atomic_fetch_add(&version_lines, 1);
	if (strstr(line, "wrong cookie") != NULL)
		atomic_fetch_add(&cookie_lines, 1);
}

static void config(actor_node_config_t *cfg, const char *transport, const char *name)
{
	actor_node_config_init(cfg);
	cfg->name = name;
	cfg->cookie = cookie;
	cfg->cookie_len = sizeof cookie - 1;
	cfg->transport = transport;
	cfg->handshake_timeout_ns = 2 * SEC;
	cfg->heartbeat_timeout_ns = 30 * SEC;	/* raw peers send no PING */
	cfg->node_event = on_event;
	cfg->log = on_log;
}

static actor_system_t *start(const actor_node_config_t *cfg)
{
	actor_system_t *s;

	if (strcmp(cfg->transport, "uring") == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	cr_assert_eq(actor_system_create(&s, NULL), 0);
	cr_assert_eq(actor_node_start(s, cfg), 0);
	return s;
}

static actor_system_t *node(const char *transport, const char *name)
{
	actor_node_config_t cfg;

	config(&cfg, transport, name);
	return start(&cfg);
}

static uint16_t port_of(actor_system_t *s)
{
	return (uint16_t)actor_node_port(s);
}

static actor_node_stats_t stats(actor_system_t *s)
{
	actor_node_stats_t st;

	cr_assert_eq(actor_node_stats(s, &st), 0);
	return st;
}

/* Waits for a counter of node s (the node counts after the peer sees the
 * close). */
#define STAT_REACHES(s, field, want)                                            \
	do {                                                                    \
		for (int i_ = 0; i_ < 5000 && stats(s).field < (want); i_++)   \
			usleep(1000);                                           \
		cr_assert_eq(stats(s).field, (want));                           \
	} while (0)

static struct rawpeer *dial(actor_system_t *s)
{
	struct rawpeer *rp = rawpeer_connect(port_of(s));

	cr_assert_not_null(rp);
	return rp;
}

/* The node's HELLO, which it sends first. */
static void read_hello(struct rawpeer *rp, struct actor__frame *f)
{
	cr_assert_eq(rawpeer_recv(rp, f, 5000), 0);
	cr_assert_eq(f->kind, ACTOR__F_HELLO);
	rp->node = f->hello.node;
}

static bool waits_for(_Atomic int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	return atomic_load(v) >= want;
}

/* --- splicing and reflection ------------------------------------------------ */

/*
 * Relays bytes between connections to two listening nodes that share the
 * cookie, as an attacker without it would. Version 1 brought both up,
 * each believing the other had dialed it; now both wait for a dialer's
 * AUTH that never comes, and time out.
 */
static void splice(const char *transport)
{
	actor_node_config_t cfg;
	actor_system_t *a, *b;
	struct rawpeer *ra, *rb;
	struct pollfd pfd[2];
	unsigned char buf[4096];
	bool open[2] = { true, true };
	int rounds = 0;

	config(&cfg, transport, "a");
	cfg.handshake_timeout_ns = 500 * MS;
	a = start(&cfg);
	cfg.name = "b";
	b = start(&cfg);
	ra = dial(a);
	rb = dial(b);
	pfd[0] = (struct pollfd){ .fd = ra->fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = rb->fd, .events = POLLIN };
	/* Version 1 stayed up, relaying heartbeats: give up after 5 s. */
	while ((open[0] || open[1]) && rounds++ < 500 && poll(pfd, 2, 10) >= 0) {
		for (int i = 0; i < 2; i++) {
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, buf, sizeof buf);
			if (r <= 0) {
				open[i] = false;
				pfd[i].fd = -1;
				continue;
			}
			if (open[!i])
				send(pfd[!i].fd, buf, (size_t)r, MSG_NOSIGNAL);
		}
	}
	cr_assert(!open[0] && !open[1], "the nodes kept the spliced connections");
	cr_assert_eq(stats(a).peers_up, 0);
	cr_assert_eq(stats(b).peers_up, 0);
	cr_assert_eq(atomic_load(&ups), 0);
	rawpeer_close(ra);
	rawpeer_close(rb);
	actor_system_destroy(a);
	actor_system_destroy(b);
	assert_no_leaks();
}

/*
 * The acceptor gives no proof to a peer that has not proven the cookie;
 * its own HELLO sent back is refused (its own id); a MAC made with the
 * cookie but for the acceptor's role is refused (the role is bound).
 */
static void reflection(const char *transport)
{
	actor_system_t *a = node(transport, "a");
	struct actor__frame f, hello, out;
	struct rawpeer *rp = dial(a);
	unsigned char own[ACTOR__CTRL_FRAME_MAX];
	uint8_t nonce[ACTOR__NONCE_LEN];
	size_t own_len;

	read_hello(rp, &hello);
	own_len = actor__frame_encode(&hello, own, sizeof own);
	cr_assert_gt(own_len, 0);
	memcpy(nonce, hello.hello.nonce, sizeof nonce);
	cr_assert_eq(actor__handshake_start(&rp->hs, true, 0x5eed, "mallory", &f), 0);
	cr_assert(rawpeer_send(rp, &f));
	cr_assert_eq(rawpeer_recv(rp, &f, 300), -EAGAIN, "the acceptor proved itself first");
	/* The cookie, but the acceptor's label: what a reflected AUTH would be. */
	cr_assert_eq(actor__handshake_mac(cookie, sizeof cookie - 1, false, nonce, rp->hs.nonce,
					  0x5eed, rp->node, rp->hs.mac), 0);
	out = (struct actor__frame){ .kind = ACTOR__F_AUTH, .auth.mac = rp->hs.mac };
	cr_assert(rawpeer_send(rp, &out));
	cr_assert(rawpeer_closed(rp, 5000));
	STAT_REACHES(a, refused, 1);
	rawpeer_close(rp);

	rp = dial(a);
	read_hello(rp, &f);
	cr_assert(rawpeer_write(rp, own, own_len));	/* its first HELLO, back */
	cr_assert(rawpeer_closed(rp, 5000));
	STAT_REACHES(a, refused, 2);
	rawpeer_close(rp);

	/* With the cookie and the dialer's role, the same peer gets in. */
	rp = dial(a);
	cr_assert_eq(rawpeer_handshake(rp, cookie, sizeof cookie - 1, 0x5eed, "mallory"), 0);
	cr_assert(waits_for(&ups, 1));
	cr_assert_eq(stats(a).peers_up, 1);
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- before authentication ---------------------------------------------------- */

/* A length prefix above what HELLO and AUTH need closes the connection at
 * once: version 1 waited for up to max_frame (4 MiB) of body. */
static void preauth_frame_cap(const char *transport)
{
	actor_system_t *a = node(transport, "a");
	static const unsigned char big[] = { 0x00, 0x40, 0x00, 0x00, 0x95, 0x01 };
	static const unsigned char just_over[] = { 0x00, 0x00, 0x02, 0x01, 0x95, 0x01 };
	struct rawpeer *rp = dial(a);

	cr_assert(rawpeer_write(rp, big, sizeof big));
	cr_assert(rawpeer_closed(rp, 1000), "a 4 MiB frame before the handshake was awaited");
	rawpeer_close(rp);
	rp = dial(a);
	cr_assert(rawpeer_write(rp, just_over, sizeof just_over));	/* 513 bytes */
	cr_assert(rawpeer_closed(rp, 1000));
	rawpeer_close(rp);
	STAT_REACHES(a, bad_frames, 2);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* More connections in the handshake than max_handshakes: the excess ones
 * are closed at once and counted; the node still admits a real peer once
 * the others are gone. */
static void bounded_handshakes(const char *transport)
{
	actor_node_config_t cfg;
	actor_system_t *a, *b;
	struct rawpeer *rp[10];
	int closed = 0;
	uint32_t id;

	config(&cfg, transport, "a");
	cfg.max_handshakes = 4;
	a = start(&cfg);
	for (int i = 0; i < 10; i++)
		rp[i] = dial(a);
	for (int i = 0; i < 10; i++)
		closed += rawpeer_closed(rp[i], 300);
	cr_assert_eq(closed, 6, "%d of 10 closed", closed);
	STAT_REACHES(a, handshakes_busy, 6);
	for (int i = 0; i < 10; i++)
		rawpeer_close(rp[i]);
	usleep(100 * 1000);	/* the node sees the four close */
	b = node(transport, "b");
	cr_assert_eq(actor_node_connect(b, "127.0.0.1", port_of(a), 5 * SEC, &id), 0);
	actor_system_destroy(b);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- a node that is up already ------------------------------------------------- */

/* A second connection claiming the id of a node that is up goes on past
 * HELLO (a proven one would take the first one's place: tests/test_dial),
 * but without the cookie it is refused, logged and counted, and the
 * first connection stays. */
static void duplicate_refused(const char *transport)
{
	actor_system_t *a = node(transport, "a");
	struct rawpeer *first = dial(a), *second;
	static const char wrong[] = "not-the-cookie-0123456789";
	struct actor__frame f;

	cr_assert_eq(rawpeer_handshake(first, cookie, sizeof cookie - 1, 0xd0d0, "twin"), 0);
	cr_assert(waits_for(&ups, 1));
	second = dial(a);
	cr_assert_eq(rawpeer_handshake(second, wrong, sizeof wrong - 1, 0xd0d0, "twin"), -EPIPE);
	cr_assert_eq(stats(a).refused, 1);
	cr_assert_eq(atomic_load(&cookie_lines), 1);
	cr_assert_eq(stats(a).peers_up, 1);
	cr_assert_eq(atomic_load(&ups), 1);
	/* The first connection still works. */
	f = (struct actor__frame){ .kind = ACTOR__F_PING };
	cr_assert(rawpeer_send(first, &f));
	cr_assert(!rawpeer_closed(first, 100));
	rawpeer_close(second);
	rawpeer_close(first);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* What a node of version 1 meets: its HELLO is refused for its version,
 * with a line that says so. */
static void old_version(const char *transport)
{
	actor_system_t *a = node(transport, "a");
	struct rawpeer *rp = dial(a);
	uint8_t nonce[ACTOR__NONCE_LEN] = { 1 };
	struct actor__frame f = { .kind = ACTOR__F_HELLO };

	f.hello.version = 1;
	f.hello.node = 0x01d;
	f.hello.name = "old";
	f.hello.name_len = 3;
	f.hello.nonce = nonce;
	cr_assert(rawpeer_send(rp, &f));
	cr_assert(rawpeer_closed(rp, 5000));
	STAT_REACHES(a, refused, 1);
	cr_assert_eq(stats(a).bad_frames, 0);
	cr_assert(waits_for(&version_lines, 1));
	rawpeer_close(rp);
	actor_system_destroy(a);
	assert_no_leaks();
}

/* --- log flooding ---------------------------------------------------------------- */

/* Forty bad connections make at most a burst of lines; the rest are
 * counted, and said in one line once the second is over. */
static void log_rate_limited(const char *transport)
{
	actor_system_t *a = node(transport, "a");
	static const unsigned char garbage[] = { 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
	actor_node_stats_t st;

	for (int i = 0; i < 40; i++) {
		struct rawpeer *rp = dial(a);

		cr_assert(rawpeer_write(rp, garbage, sizeof garbage));
		cr_assert(rawpeer_closed(rp, 5000));
		rawpeer_close(rp);
	}
	STAT_REACHES(a, bad_frames, 40);
	st = stats(a);
	cr_assert_gt(st.log_suppressed, 0);
	cr_assert_eq((uint64_t)atomic_load(&lines) + st.log_suppressed, 40);
	cr_assert(waits_for(&suppressed_lines, 1), "no line told of the suppressed ones");
	actor_system_destroy(a);
	assert_no_leaks();
}

#define FOR_EACH_TCP(suite, name, body)                                       \
	Test(suite, name##_epoll) { body("epoll"); }                          \
	Test(suite, name##_uring) { body("uring"); }

TestSuite(handshake, .init = reset, .timeout = 60);

FOR_EACH_TCP(handshake, splice_between_two_acceptors_fails, splice)
FOR_EACH_TCP(handshake, acceptor_proves_nothing_first_and_reflections_fail, reflection)
FOR_EACH_TCP(handshake, frames_before_auth_are_capped, preauth_frame_cap)
FOR_EACH_TCP(handshake, handshakes_at_once_are_bounded, bounded_handshakes)
Test(handshake, duplicate_node_without_the_cookie_refused) { duplicate_refused("epoll"); }
Test(handshake, old_version_refused_for_its_version) { old_version("epoll"); }
Test(handshake, log_lines_rate_limited) { log_rate_limited("epoll"); }

/* --- both nodes dial at once ---------------------------------------------------- */

struct dialer {
	actor_system_t *from, *to;
	int err;
};

static void *dial_thread(void *arg)
{
	struct dialer *d = arg;
	uint32_t id;

	d->err = actor_node_connect(d->from, "127.0.0.1", port_of(d->to), 5 * SEC, &id);
	return NULL;
}

/*
 * Two nodes that dial each other at the same moment: both connects
 * succeed, and the nodes agree on one connection and stay up. (With the
 * acceptor finishing its handshake first, each node used to keep the
 * connection the other dialed, and both closed the other's.)
 */
static void crossing_dials(const char *transport)
{
	for (int round = 0; round < 10; round++) {
		actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
		struct dialer da = { a, b, 1 }, db = { b, a, 1 };
		pthread_t ta, tb;

		cr_assert_eq(pthread_create(&ta, NULL, dial_thread, &da), 0);
		cr_assert_eq(pthread_create(&tb, NULL, dial_thread, &db), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		cr_assert_eq(da.err, 0, "round %d: a's connect gave %d", round, da.err);
		cr_assert_eq(db.err, 0, "round %d: b's connect gave %d", round, db.err);
		usleep(300 * 1000);
		cr_assert_eq(stats(a).peers_up, 1, "round %d", round);
		cr_assert_eq(stats(b).peers_up, 1, "round %d", round);
		cr_assert_eq(stats(a).nodes_down, 0, "round %d", round);
		cr_assert_eq(stats(b).nodes_down, 0, "round %d", round);
		actor_system_destroy(a);
		actor_system_destroy(b);
	}
	assert_no_leaks();
}

FOR_EACH_TCP(handshake, crossing_dials_agree_on_one_connection, crossing_dials)
