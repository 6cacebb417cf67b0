/*
 * Persistent virtual actors (actor_virtual_state(3)): a counter per key
 * whose state is loaded before its first message, written after its turns
 * and at its deactivation, on a real LMDB; survives idle deactivation and
 * a new system; two activations of one key (two systems sharing one LMDB
 * environment, each owning every key) are fenced by the version; and a
 * store that fails is heard by the handler and the senders.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>
#include <actor/store.h>

#include "tests/store_helpers.h"

#define SEC 1000000000ull
#define MS 1000000ull

enum { ADD = 1, GET, SAVED };

/* What the handlers saw, by test. */
static atomic_long adds, saved_ok, saved_err, saved_stale;

static int64_t value_of(actor_ctx_t *ctx)
{
	size_t len;
	const void *st = actor_virtual_state(ctx, &len);
	int64_t v = 0;

	if (len == sizeof v)
		memcpy(&v, st, sizeof v);
	return v;
}

static void counter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	int64_t v = value_of(ctx), add;
	actor_virtual_saved_t s;

	switch (actor_msg_type(m)) {
	case ADD:
		memcpy(&add, actor_msg_data(m), sizeof add);
		v += add;
		atomic_fetch_add(&adds, 1);
		actor_virtual_set_state(ctx, &v, sizeof v);
		break;
	case GET:
		actor_reply(ctx, m, GET, &v, sizeof v);
		break;
	case SAVED:
		memcpy(&s, actor_msg_data(m), sizeof s);
		if (s.error == 0)
			atomic_fetch_add(&saved_ok, 1);
		else if (s.error == -ESTALE)
			atomic_fetch_add(&saved_stale, 1);
		else
			atomic_fetch_add(&saved_err, 1);
		break;
	}
}

static const actor_spec_t counter_spec = { .name = "counter", .handler = counter };

static int open_store(actor_store_t **s)
{
	return store_lmdb_open(s, store_dir, 0, ACTOR_STORE_NOSYNC);
}

static int make_system(actor_system_t **sys, actor_store_exec_t *ex, uint64_t idle_ns)
{
	actor_virtual_options_t o = { 0 };
	actor_config_t cfg;
	int rc;

	o.idle_timeout_ns = idle_ns;
	o.store = ex;
	o.write_policy = ACTOR_WRITE_AFTER_TURN;
	o.saved_type = SAVED;
	actor_config_init(&cfg);
	cfg.workers = 2;
	if ((rc = actor_system_create(sys, &cfg)) != 0)
		return rc;
	if ((rc = actor_virtual_register(*sys, "counter", &counter_spec, &o)) != 0)
		actor_system_destroy(*sys);
	return rc;
}

static int send_add(actor_system_t *sys, const char *key, int64_t n)
{
	actor_ref_t r;
	int rc = actor_virtual_ref(sys, "counter", key, strlen(key), &r);

	return rc != 0 ? rc : actor_system_send(sys, r, ADD, &n, sizeof n);
}

/* The counter's value (a request: it activates the key), or an error. */
static int get(actor_system_t *sys, const char *key, int64_t *out)
{
	actor_ref_t r;
	uint32_t type;
	void *reply = NULL;
	size_t size;
	int rc = actor_virtual_ref(sys, "counter", key, strlen(key), &r);

	if (rc == 0)
		rc = actor_system_ask(sys, r, GET, NULL, 0, 20 * SEC, &type, &reply, &size);
	if (rc == 0 && size == sizeof *out)
		memcpy(out, reply, sizeof *out);
	else if (rc == 0)
		rc = -EPROTO;
	free(reply);
	return rc;
}

/* The stored record of key: value and version (0, 0 when none). */
static int stored(actor_store_t *s, const char *key, int64_t *value, uint64_t *version)
{
	void *data;
	size_t size;
	int rc = actor_store_load(s, "counter", key, strlen(key), &data, &size, version);

	*value = 0;
	if (rc == 0 && size == sizeof *value)
		memcpy(value, data, sizeof *value);
	free(data);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static bool wait_for(atomic_long *c, long want)
{
	for (int i = 0; i < 20000 && atomic_load(c) < want; i++)
		sleep_ms(1);
	return atomic_load(c) >= want;
}

static void reset_counts(void)
{
	atomic_store(&adds, 0);
	atomic_store(&saved_ok, 0);
	atomic_store(&saved_err, 0);
	atomic_store(&saved_stale, 0);
}

/* --- survives idle deactivation and a new system ------------------------- */

static const char *survives(void)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_virtual_stats_t st;
	int64_t v = -1, sv;
	uint64_t ver;
	int rc, i;

	reset_counts();
	CHECK(open_store(&s) == 0, "open");
	CHECK(actor_store_exec_create(&ex, s, NULL) == 0, "executor");
	CHECK(make_system(&sys, ex, 200 * MS) == 0, "system");
	for (i = 0; i < 100; i++)
		CHECK((rc = send_add(sys, "a", 1)) == 0, "send: %d", rc);
	CHECK((rc = get(sys, "a", &v)) == 0 && v == 100, "get: %d, %" PRId64, rc, v);
	/* Deactivated when idle: its last write is in the store. */
	for (i = 0; i < 20000; i++) {
		actor_virtual_stats(sys, "counter", &st);
		if (st.deactivations[ACTOR_DEACT_IDLE] == 1)
			break;
		sleep_ms(1);
	}
	CHECK(st.deactivations[ACTOR_DEACT_IDLE] == 1, "not deactivated");
	CHECK(stored(s, "a", &sv, &ver) == 0 && sv == 100, "stored %" PRId64, sv);
	CHECK(ver >= 1 && ver <= 101, "version %" PRIu64, ver);
	/* Reactivated: loads what it wrote. */
	CHECK((rc = get(sys, "a", &v)) == 0 && v == 100, "get again: %d, %" PRId64, rc, v);
	CHECK(send_add(sys, "a", 5) == 0, "send");
	CHECK((rc = get(sys, "a", &v)) == 0 && v == 105, "get: %d, %" PRId64, rc, v);
	actor_virtual_stats(sys, "counter", &st);
	CHECK(st.loads == 2 && st.activations == 2 && st.load_failures == 0 &&
		      st.save_failures == 0 && st.stale == 0,
	      "loads %" PRIu64 " activations %" PRIu64 " failures %" PRIu64 "/%" PRIu64
	      " stale %" PRIu64, st.loads, st.activations, st.load_failures, st.save_failures,
	      st.stale);
	/* A new system: shutdown wrote the state, the new one loads it. */
	actor_system_destroy(sys);
	CHECK(stored(s, "a", &sv, &ver) == 0 && sv == 105, "stored after shutdown %" PRId64, sv);
	CHECK(make_system(&sys, ex, 0) == 0, "system");
	CHECK((rc = get(sys, "a", &v)) == 0 && v == 105, "after restart: %d, %" PRId64, rc, v);
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	CHECK(atomic_load(&saved_err) == 0 && atomic_load(&saved_stale) == 0,
	      "saved: %ld errors, %ld stale", atomic_load(&saved_err), atomic_load(&saved_stale));
	CHECK(atomic_load(&adds) == 101, "adds %ld", atomic_load(&adds));
	return NULL;
}

/* --- two activations of one key ---------------------------------------------- */

static const char *duplicate(void)
{
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *a, *b;
	actor_virtual_stats_t sb;
	int64_t v = -1, sv;
	uint64_t ver;
	int rc;

	reset_counts();
	CHECK(open_store(&s) == 0, "open");
	CHECK(actor_store_exec_create(&ex, s, NULL) == 0, "executor");
	/* Two systems, each the owner of every key: both activate "d". */
	CHECK(make_system(&a, ex, UINT64_MAX) == 0 && make_system(&b, ex, UINT64_MAX) == 0,
	      "systems");
	CHECK(get(a, "d", &v) == 0 && v == 0, "a: %" PRId64, v);
	CHECK(get(b, "d", &v) == 0 && v == 0, "b: %" PRId64, v);
	/* a writes first (version 1); b's write still expects 0. */
	CHECK(send_add(a, "d", 10) == 0, "send");
	CHECK(wait_for(&saved_ok, 1), "a's write");
	CHECK(send_add(b, "d", 5) == 0, "send");
	CHECK(wait_for(&saved_stale, 1), "b's write was not refused");
	/* b's activation ended (its add is lost: the write of its turn was
	 * refused); its next message activates the key again with a's state. */
	for (int i = 0; i < 20000; i++) {
		actor_virtual_stats(b, "counter", &sb);
		if (sb.deactivations[ACTOR_DEACT_STALE] == 1)
			break;
		sleep_ms(1);
	}
	CHECK(sb.deactivations[ACTOR_DEACT_STALE] == 1 && sb.stale == 1,
	      "b: %" PRIu64 " stale deactivations, %" PRIu64 " stale writes",
	      sb.deactivations[ACTOR_DEACT_STALE], sb.stale);
	CHECK((rc = get(b, "d", &v)) == 0 && v == 10, "b after: %d, %" PRId64, rc, v);
	CHECK(send_add(b, "d", 7) == 0, "send");
	CHECK(wait_for(&saved_ok, 2), "b's second write");
	CHECK(stored(s, "d", &sv, &ver) == 0 && sv == 17 && ver == 2,
	      "stored %" PRId64 " version %" PRIu64, sv, ver);
	/* Now a is the stale one. */
	CHECK(send_add(a, "d", 1) == 0, "send");
	CHECK(wait_for(&saved_stale, 2), "a's write was not refused");
	actor_system_destroy(a);
	actor_system_destroy(b);
	CHECK(stored(s, "d", &sv, &ver) == 0 && sv == 17 && ver == 2,
	      "stored at the end %" PRId64 " version %" PRIu64, sv, ver);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	CHECK(atomic_load(&saved_err) == 0, "errors %ld", atomic_load(&saved_err));
	return NULL;
}

/* --- a store that fails ---------------------------------------------------------- */

/* LMDB under a struct flaky (tests/store_helpers.h) that fails when told. */
static const char *failing(void)
{
	struct flaky f = { 0 };
	actor_store_t *s;
	actor_store_exec_t *ex;
	actor_system_t *sys;
	actor_virtual_stats_t st;
	int64_t v = -1, sv;
	uint64_t ver;
	int rc;

	reset_counts();
	CHECK(open_store(&f.real) == 0, "open");
	CHECK(actor_store_create(&s, &flaky_ops, &f) == 0, "create");
	CHECK(actor_store_exec_create(&ex, s, NULL) == 0, "executor");
	CHECK(make_system(&sys, ex, UINT64_MAX) == 0, "system");
	/* A load that fails: the request fails with its error. */
	atomic_store(&f.fail_loads, 1);
	rc = get(sys, "f", &v);
	CHECK(rc == -EIO, "get with the load failing: %d", rc);
	atomic_store(&f.fail_loads, 0);
	CHECK((rc = get(sys, "f", &v)) == 0 && v == 0, "get: %d", rc);
	/* A write that fails: the handler hears it; the change is kept and
	 * goes with the next write. */
	atomic_store(&f.fail_writes, 1);
	CHECK(send_add(sys, "f", 3) == 0, "send");
	CHECK(wait_for(&saved_err, 1), "no error heard");
	CHECK(stored(f.real, "f", &sv, &ver) == 0 && ver == 0, "written: %" PRIu64, ver);
	atomic_store(&f.fail_writes, 0);
	CHECK(send_add(sys, "f", 4) == 0, "send");
	CHECK(wait_for(&saved_ok, 1), "no write");
	CHECK(stored(f.real, "f", &sv, &ver) == 0 && sv == 7 && ver == 1,
	      "stored %" PRId64 " version %" PRIu64, sv, ver);
	actor_virtual_stats(sys, "counter", &st);
	CHECK(st.load_failures == 1 && st.save_failures == 1 && st.saves == 1,
	      "load failures %" PRIu64 " save failures %" PRIu64 " saves %" PRIu64,
	      st.load_failures, st.save_failures, st.saves);
	actor_system_destroy(sys);
	actor_store_exec_destroy(ex);
	actor_store_destroy(s);
	actor_store_destroy(f.real);
	return NULL;
}

int main(void)
{
	int status = store_lmdb_start("vstore", ACTOR_STORE_NOSYNC, NULL, NULL);

	if (status >= 0)
		return status;
	tap_plan(3);
	tap_result("a persistent counter loads before its first message, writes after its "
		   "turns, and survives idle deactivation and a new system", survives());
	tap_result("two activations of one key (two systems, one LMDB): the second writer "
		   "gets -ESTALE and deactivates; only accepted writes remain", duplicate());
	tap_result("a failed load fails the request; a failed write is heard by the handler "
		   "and goes with the next write", failing());
	store_dir_done();
	return tap_exit();
}
