/*
 * Virtual actors while members join and leave under traffic, as a plain
 * TAP program so that it also runs under ThreadSanitizer: two threads
 * send to 64 keys through the two stable members of a loopback cluster
 * while a third member joins (keys move to it: the old owners seal them,
 * it waits for their seals) and leaves again (it hands them back), round
 * after round. No key may ever be active on two nodes at once, and every
 * send that returned 0 must be counted once by an activation, or as a dead
 * letter, or as a frame lost with a connection (a send refused at once is
 * a dead letter too, reported before it returns: it counts as neither).
 * STRESS_SCALE multiplies the rounds.
 *
 * It found, each fixed: keys active on a leaving member and on the member
 * taking them over (the others did not wait for its seals), an activation
 * made from a view read before the seal pass passed its stripe, the gate
 * published after the view it is for, and mail held by entries waiting
 * for a handover freed without a trace at shutdown.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/stress/member.h"
#include "tests/stress/tap.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define KEYS 64
#define SENDERS 2
#define NODES 3

enum { INC = 1 };

static const char cookie[] = "handover-cookie-0123456789";
static actor_loopback_t *hub;
static actor_system_t *nodes[NODES];	/* 0 and 1 stay; 2 comes and goes */
static actor_ref_t refs[2][KEYS];
static char seed[32];
static const char *seeds[1] = { seed };
static _Atomic uintptr_t active_on[KEYS];	/* the system it is active on */
static _Atomic bool stop;
static _Atomic long sent, counted, dead, doubles, lost, refused, accepted_and_dead;
/* A send refused at once returns its error and is a dead letter too
 * (actor_send(3)), reported by the hook on the sending thread before the
 * send returns: counted apart, it is neither sent nor dead. */
static _Thread_local bool sending;
static _Thread_local long dead_while_sending;

static int key_of(actor_ctx_t *ctx)
{
	size_t len;
	const char *key = actor_virtual_key(ctx, &len);
	char buf[8];

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, key, len);
	buf[len] = '\0';
	return atoi(buf);
}

static int on_activate(actor_ctx_t *ctx)
{
	int k = key_of(ctx);
	uintptr_t none = 0;

	if (k >= 0 && !atomic_compare_exchange_strong(&active_on[k], &none,
						      (uintptr_t)actor_ctx_system(ctx)))
		atomic_fetch_add(&doubles, 1);
	return 0;
}

static void on_deactivate(actor_ctx_t *ctx, int reason)
{
	int k = key_of(ctx);

	(void)reason;
	atomic_fetch_add(&counted, *(long *)actor_self_state(ctx));
	if (k >= 0)
		atomic_store(&active_on[k], 0);
}

static void counter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) == INC)
		++*(long *)actor_self_state(ctx);
}

static const actor_spec_t counter_spec = { .handler = counter, .state_size = sizeof(long) };

static void on_dead_letter(void *arg, actor_ref_t to, uint32_t type, const void *data, size_t size)
{
	(void)arg;
	(void)to;
	(void)data;
	(void)size;
	if (type != INC)
		return;
	if (sending)
		dead_while_sending++;
	else
		atomic_fetch_add(&dead, 1);
}

static actor_system_t *start(int i)
{
	actor_virtual_options_t o = { .idle_timeout_ns = 30 * MS, .activate = on_activate,
				      .deactivate = on_deactivate };
	actor_node_config_t cfg;
	actor_config_t sc;
	actor_system_t *s;
	char name[8];

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	sc.dead_letter = on_dead_letter;
	if (actor_system_create(&s, &sc) != 0)
		return NULL;
	nodes[i] = s;
	snprintf(name, sizeof name, "h%d", i);
	stress_member_config(&cfg, name, cookie, hub, seeds, i > 0 ? 1 : 0);
	if (actor_virtual_register(s, "counter", &counter_spec, &o) != 0 ||
	    actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		nodes[i] = NULL;
		return NULL;
	}
	return s;
}

/* Frames lost with connections, on the way out of s: never delivered. */
static void count_lost(actor_system_t *s)
{
	actor_node_stats_t st;

	if (actor_node_stats(s, &st) == 0)
		atomic_fetch_add(&lost, (long)st.frames_lost);
}

/* Until s has no activation left and nothing queued for its peers. */
static void settle(actor_system_t *s)
{
	for (int t = 0; t < 5000; t++) {
		actor_virtual_stats_t vs;
		actor_node_stats_t ns;

		if (actor_virtual_stats(s, "counter", &vs) == 0 && vs.active == 0 &&
		    actor_node_stats(s, &ns) == 0 && ns.queued_bytes == 0)
			return;
		usleep(1000);
	}
}

static void *sender(void *arg)
{
	unsigned r = (unsigned)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		int via = (int)(rand_r(&r) % 2), k = (int)(rand_r(&r) % KEYS), err;

		sending = true;
		dead_while_sending = 0;
		err = actor_system_send(nodes[via], refs[via][k], INC, NULL, 0);
		sending = false;
		if (err == 0)
			atomic_fetch_add(&sent, 1);
		else
			atomic_fetch_add(&refused, 1);
		/* Given to the hook, yet queued: it would be counted twice. */
		if (err == 0 && dead_while_sending != 0)
			atomic_fetch_add(&accepted_and_dead, 1);
		if (rand_r(&r) % 64 == 0)
			usleep(1000);
	}
	return NULL;
}

static bool members_are(int n, int want)
{
	for (int i = 0; i < n; i++)
		if (actor_cluster_members(nodes[i], NULL, 0, NULL) != want)
			return false;
	return true;
}

static bool wait_members(int n, int want)
{
	for (int t = 0; t < 60000; t += 5) {
		if (members_are(n, want))
			return true;
		usleep(5000);
	}
	return false;
}

static const char *run(unsigned long rounds)
{
	static char err[160];
	pthread_t th[SENDERS];
	const char *fail = NULL;

	if (actor_loopback_create(&hub) != 0 || start(0) == NULL)
		return "the first member did not start";
	snprintf(seed, sizeof seed, "127.0.0.1:%d", actor_node_port(nodes[0]));
	if (start(1) == NULL || !wait_members(2, 2))
		return "the first two did not form a cluster";
	for (int v = 0; v < 2; v++)
		for (int k = 0; k < KEYS; k++) {
			char key[8];

			snprintf(key, sizeof key, "%d", k);
			if (actor_virtual_ref(nodes[v], "counter", key, strlen(key), &refs[v][k]) != 0)
				return "actor_virtual_ref failed";
		}
	for (int i = 0; i < SENDERS; i++)
		pthread_create(&th[i], NULL, sender, (void *)(uintptr_t)(i + 1));
	for (unsigned long r = 0; r < rounds && fail == NULL; r++) {
		if (start(2) == NULL) {
			fail = "the third member did not start";
			break;
		}
		if (!wait_members(3, 3))
			fail = "the third member did not join";
		usleep(50 * 1000);	/* traffic to the keys it took */
		if (fail == NULL && actor_cluster_leave(nodes[2], 30 * SEC) != 0)
			fail = "the third member could not leave";
		if (fail == NULL && !wait_members(2, 2))
			fail = "the others did not drop it";
		/* Mail the others sent it before they installed the view
		 * without it may still be on its way in: a system destroyed
		 * at once loses it (actor_cluster_leave(3)). */
		settle(nodes[2]);
		usleep(300 * 1000);
		count_lost(nodes[2]);
		actor_system_destroy(nodes[2]);
		nodes[2] = NULL;
		usleep(20 * 1000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < SENDERS; i++)
		pthread_join(th[i], NULL);
	/* Every key goes idle (30 ms) and reports its count. */
	for (int t = 0; t < 30000; t += 10) {
		long l = 0;
		actor_node_stats_t st;

		for (int i = 0; i < 2; i++)
			if (actor_node_stats(nodes[i], &st) == 0)
				l += (long)st.frames_lost;
		if (atomic_load(&counted) + atomic_load(&dead) + atomic_load(&lost) + l >=
		    atomic_load(&sent))
			break;
		usleep(10 * 1000);
	}
	count_lost(nodes[0]);
	count_lost(nodes[1]);
	printf("# %lu rounds: %ld sent, %ld counted by activations, %ld dead letters, %ld frames "
	       "lost; active on two nodes at once: %ld; %ld sends refused at once\n",
	       rounds, atomic_load(&sent), atomic_load(&counted), atomic_load(&dead),
	       atomic_load(&lost), atomic_load(&doubles), atomic_load(&refused));
	actor_system_destroy(nodes[1]);
	actor_system_destroy(nodes[0]);
	actor_loopback_destroy(hub);
	if (fail != NULL)
		return fail;
	if (atomic_load(&doubles) != 0)
		return "a key was active on two nodes at once";
	if (atomic_load(&accepted_and_dead) != 0)
		return "a send returned 0 and its message was a dead letter at once";
	if (atomic_load(&counted) + atomic_load(&dead) + atomic_load(&lost) != atomic_load(&sent)) {
		snprintf(err, sizeof err, "%ld sent, but %ld counted + %ld dead letters + %ld lost",
			 atomic_load(&sent), atomic_load(&counted), atomic_load(&dead),
			 atomic_load(&lost));
		return err;
	}
	return NULL;
}

int main(void)
{
	tap_plan(1);
	tap_result("members join and leave while keys get mail: one activation per key, "
		   "every message accounted for",
		   run(4 * stress_scale()));
	return tap_exit();
}
