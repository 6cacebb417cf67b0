/*
 * actor_lookup_async from a handler, for the tests of local names
 * (test_actor) and of names across nodes (test_node): find_in() spawns an
 * actor that looks a name up and reports what its continuation got.
 */
#ifndef ACTOR_TESTS_FIND_H
#define ACTOR_TESTS_FIND_H

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/node.h>

/* actor_lookup_async from a handler: its message is a struct find. */
struct find {
	uint32_t node;
	char name[32];
};

static _Atomic int found_n, found_error, find_call_error;
static actor_ref_t found_ref;

static void on_found(actor_ctx_t *ctx, actor_ref_t ref, int error, void *arg)
{
	found_ref = ref;		/* read after found_n */
	atomic_store(&found_error, error);
	atomic_fetch_add(&found_n, (int)(intptr_t)arg);
}

static void finder(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct find *f = actor_msg_data(m);
	int err = actor_lookup_async(ctx, f->node, f->name[0] != '\0' ? f->name : NULL,
				     5000000000ull, on_found, (void *)(intptr_t)1);

	atomic_store(&find_call_error, err);
	if (err != 0)
		atomic_fetch_add(&found_n, 1);
}

static const actor_spec_t finder_spec = { .handler = finder };

/* Looks name up on node from a new actor of s; the outcome's error. */
static int find_in(actor_system_t *s, uint32_t node, const char *name)
{
	struct find f = { .node = node };
	int n = atomic_load(&found_n);
	actor_ref_t fr;

	strncpy(f.name, name != NULL ? name : "", sizeof f.name - 1);
	atomic_store(&find_call_error, 0);
	cr_assert_eq(actor_system_spawn(s, &finder_spec, NULL, &fr), 0);
	cr_assert_eq(actor_system_send(s, fr, 1, &f, sizeof f), 0);
	for (int i = 0; i < 10000 && atomic_load(&found_n) == n; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&found_n), n + 1, "no answer for %s", name);
	return atomic_load(&find_call_error) != 0 ? atomic_load(&find_call_error) :
						    atomic_load(&found_error);
}

#endif
