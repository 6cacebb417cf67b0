/*
 * Views read while they change, as a plain TAP program so that it also
 * runs under ThreadSanitizer: plain threads take the view of two members
 * of a loopback cluster in read sections (actor__view_enter/_get/_exit,
 * actor__view_may_run, actor__view_takeover_at, actor_cluster_members)
 * without pause, while the main thread has a third member leave and a new
 * one join, and changes the members' hosted types (each a new view). Every
 * view a reader sees must be whole (sorted, types sorted) and no older than
 * the one it saw before; a view freed too early is a use after free for
 * ASan and TSan to see.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "cluster/view.h"
#include "tests/stress/member.h"
#include "tests/stress/tap.h"

#define SEC 1000000000ull
#define THREADS 3

static const char cookie[] = "stress-cookie-0123456789";
static actor_loopback_t *hub;
static actor_system_t *stable[2];
static _Atomic bool stop;
static _Atomic long reads, bad;
static _Atomic unsigned generation;	/* the types each system hosts */
static char seed[32];
static const char *seeds[1] = { seed };

static size_t types_hook(struct actor_system *sys, uint64_t *out, size_t cap)
{
	unsigned g = atomic_load(&generation) % 4;

	(void)sys;
	for (unsigned i = 0; i < g && i < cap; i++)
		out[i] = 1000 * (i + 1);
	return g;
}

static actor_system_t *start(const char *name, bool join)
{
	actor_system_t *s;
	actor_config_t sc;
	actor_node_config_t cfg;

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	if (actor_system_create(&s, &sc) != 0)
		return NULL;
	stress_member_config(&cfg, name, cookie, hub, seeds, join ? 1 : 0);
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static void *reader(void *arg)
{
	unsigned seed_r = (unsigned)(uintptr_t)arg;
	uint64_t last[2] = { 0, 0 };
	actor_member_t out[4];

	while (!atomic_load(&stop)) {
		int i = (int)(rand_r(&seed_r) % 2);
		struct actor__node *n = actor__node_of(stable[i]);
		unsigned sec = actor__view_enter(n);
		const struct actor__view *v = actor__view_get(n);
		bool ok = v != NULL && v->nmembers >= 1 && v->epoch >= last[i];
		uint64_t epoch = v != NULL ? v->epoch : 0;

		for (uint32_t k = 0; ok && k < v->nmembers; k++) {
			const struct actor__view_member *m = &v->members[k];

			ok = m->node != 0 && (k == 0 || v->members[k - 1].node < m->node) &&
			     m->ntypes <= ACTOR__MEMBER_TYPES_MAX;
			for (uint32_t t = 1; ok && t < m->ntypes; t++)
				ok = m->types[t - 1] < m->types[t];
		}
		if (ok && v->nmembers > 0)
			(void)actor__view_takeover_at(n, v->members[rand_r(&seed_r) % v->nmembers].node);
		actor__view_exit(n, sec);
		(void)actor__view_may_run(n, actor__now_ns());
		if (actor_cluster_members(stable[i], out, 4, NULL) < 1)
			ok = false;
		if (!ok)
			atomic_fetch_add(&bad, 1);
		last[i] = epoch;
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

static bool members_are(actor_system_t *s, int want)
{
	return actor_cluster_members(s, NULL, 0, NULL) == want &&
	       actor__view_may_run(actor__node_of(s), actor__now_ns());
}

static bool wait_for(actor_system_t **s, int k, int want)
{
	for (int t = 0; t < 60000; t += 5) {
		bool all = true;

		for (int i = 0; i < k; i++)
			all &= members_are(s[i], want);
		if (all)
			return true;
		usleep(5000);
	}
	return false;
}

static const char *churn(unsigned long rounds)
{
	pthread_t th[THREADS];
	actor_system_t *third, *all[3];
	const char *err = NULL;

	if (actor_loopback_create(&hub) != 0)
		return "no hub";
	atomic_store(&actor__member_types_hook, types_hook);
	stable[0] = start("s0", false);
	snprintf(seed, sizeof seed, "127.0.0.1:%d", actor_node_port(stable[0]));
	stable[1] = start("s1", true);
	if (stable[0] == NULL || stable[1] == NULL || !wait_for(stable, 2, 2))
		return "the first two did not form a cluster";
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1));
	for (unsigned long r = 0; r < rounds && err == NULL; r++) {
		if ((third = start("s2", true)) == NULL) {
			err = "a third member did not start";
			break;
		}
		all[0] = stable[0];
		all[1] = stable[1];
		all[2] = third;
		if (!wait_for(all, 3, 3))
			err = "the third member did not join";
		/* New types: each member's entry changes, in new views. */
		atomic_fetch_add(&generation, 1);
		for (int i = 0; i < 3; i++)
			actor__member_types_changed(actor__node_of(all[i]));
		usleep(20 * 1000);
		if (err == NULL && actor_cluster_leave(third, 30 * SEC) != 0)
			err = "the third member could not leave";
		if (err == NULL && !wait_for(stable, 2, 2))
			err = "the others did not drop it";
		actor_system_destroy(third);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	actor_system_destroy(stable[1]);
	actor_system_destroy(stable[0]);
	actor_loopback_destroy(hub);
	atomic_store(&actor__member_types_hook, NULL);
	if (err == NULL && atomic_load(&bad) != 0)
		err = "a reader saw a view that was not whole, or older than before";
	if (err == NULL && atomic_load(&reads) == 0)
		err = "the readers read nothing";
	return err;
}

int main(void)
{
	tap_plan(1);
	tap_result("views read on 3 threads while members join, leave and change types",
		   churn(8 * stress_scale()));
	return tap_exit();
}
