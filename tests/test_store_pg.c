/*
 * The PostgreSQL store against a real server this program starts
 * (tests/pg_server.c): the contract (tests/store_contract.h), threads
 * racing on one counter, two stores (two "nodes") on one table, and the
 * server killed mid-run: calls fail with an error, then work again after
 * the restart (reconnect), and what was committed is still there. Skips
 * (a TAP plan of 0: the TAP driver takes exit status 77 for an error) only
 * where the server's binaries are missing, libactor was built without
 * libpq, or root cannot become another user to run the server.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/store.h>

#include "tests/pg_server.h"
#include "tests/store_contract.h"
#include "tests/store_helpers.h"

static struct pg_server pg;

static int open_pg(actor_store_t **s, const char *table)
{
	actor_store_pg_config_t cfg;

	actor_store_pg_config_init(&cfg);
	cfg.conninfo = pg.conninfo;
	cfg.table = table;
	return actor_store_pg_open(s, &cfg);
}

/* Two stores, as two nodes would have, on one table: one counter. */
static const char *two_stores(void)
{
	actor_store_t *a, *b;
	const char *e;
	int rc;

	rc = open_pg(&a, "shared");
	CHECK(rc == 0, "open a: %d", rc);
	rc = open_pg(&b, "shared");
	if (rc != 0) {
		actor_store_destroy(a);
		CHECK(0, "open b: %d", rc);
	}
	/* Alternate which store adds: each sees the other's versions. */
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = store_counter_add(i % 2 ? a : b, "nodes", NULL);
	e = rc == 0 ? store_counter_race(a, "nodes2", 2, 50) : NULL;
	actor_store_destroy(a);
	actor_store_destroy(b);
	CHECK(rc == 0, "add: %d", rc);
	return e;
}

/*
 * The server is killed (pg_ctl stop -m immediate: no shutdown, like a
 * crash): a load and a save fail with an error, not silently. Restarted,
 * the same store works again, and the committed record is there.
 */
static const char *server_killed(void)
{
	actor_store_t *s;
	uint64_t v = 0;
	void *data = NULL;
	size_t size;
	int rc;

	rc = open_pg(&s, "actor_state");
	CHECK(rc == 0, "open: %d", rc);
	/* Several connections in the pool, so that all of them go stale. */
	rc = store_counter_race(s, "restart", 4, 10) == NULL ? 0 : -1;
	if (rc == 0)
		rc = actor_store_save(s, "restart", "k", 1, "before", 6, 0, &v);
	if (rc != 0) {
		actor_store_destroy(s);
		CHECK(0, "before the kill: %d", rc);
	}
	if (pg_server_stop(&pg, "immediate") != 0) {
		actor_store_destroy(s);
		CHECK(0, "pg_ctl stop -m immediate failed");
	}
	rc = actor_store_save(s, "restart", "k", 1, "during", 6, 1, NULL);
	if (rc >= 0 || rc == -ESTALE) {
		actor_store_destroy(s);
		CHECK(0, "save with the server down: %d, want an error", rc);
	}
	printf("# save with the server down: %d (%s)\n", rc, strerror(-rc));
	rc = actor_store_load(s, "restart", "k", 1, &data, &size, &v);
	free(data);
	data = NULL;
	if (rc >= 0) {
		actor_store_destroy(s);
		CHECK(0, "load with the server down: %d, want an error", rc);
	}
	printf("# load with the server down: %d (%s)\n", rc, strerror(-rc));
	if (pg_server_start(&pg) != 0) {
		actor_store_destroy(s);
		CHECK(0, "restart failed");
	}
	/*
	 * The pool's connections all died with the server: the first write
	 * must notice that before sending, connect again and succeed (version
	 * 1, written before the kill, is intact).
	 */
	rc = actor_store_save(s, "restart", "k", 1, "after", 5, 1, &v);
	if (rc == 0)
		rc = actor_store_load(s, "restart", "k", 1, &data, &size, &v);
	if (rc == 0 && !(v == 2 && size == 5 && memcmp(data, "after", 5) == 0))
		rc = -1000;
	free(data);
	actor_store_destroy(s);
	CHECK(rc == 0, "after the restart, first save then load: %d (-1000: wrong record)", rc);
	return NULL;
}

struct hammer {
	actor_store_t *store;
	atomic_int *stop, *restarted;
	int ok, ok_after, unknown, failed, load_failed;
};

/*
 * Adds 1 to a counter until told to stop, and counts the outcomes of its
 * saves: committed (0), unknown (-ECONNRESET: the commit may have
 * happened), or not committed (any other error).
 */
static void *hammer(void *p)
{
	struct hammer *h = p;

	while (!atomic_load(h->stop)) {
		void *data;
		size_t size;
		uint64_t v, n = 0;
		int rc = actor_store_load(h->store, "hammer", "c", 1, &data, &size, &v);

		if (rc != 0) {
			h->load_failed++;
			usleep(2000);
			continue;
		}
		if (size == sizeof n)
			memcpy(&n, data, sizeof n);
		free(data);
		n++;
		rc = actor_store_save(h->store, "hammer", "c", 1, &n, sizeof n, v, NULL);
		if (rc == 0) {
			h->ok++;
			h->ok_after += atomic_load(h->restarted);
		} else if (rc == -ECONNRESET) {
			h->unknown++;
		} else if (rc != -ESTALE) {
			h->failed++;
			usleep(2000);
		}
	}
	return NULL;
}

/*
 * The server killed while 4 threads save: no write is lost silently. The
 * counter ends between the saves that returned 0 and those plus the ones
 * whose outcome was unknown; and saves succeed again after the restart.
 */
static const char *killed_under_load(void)
{
	enum { T = 4 };
	struct hammer h[T];
	pthread_t t[T];
	atomic_int stop = 0, restarted = 0;
	actor_store_t *s;
	int i, ok = 0, ok_after = 0, unknown = 0, failed = 0, load_failed = 0, rc;
	void *data = NULL;
	size_t size;
	uint64_t v, count = 0;

	rc = open_pg(&s, "actor_state");
	CHECK(rc == 0, "open: %d", rc);
	for (i = 0; i < T; i++) {
		h[i] = (struct hammer){ s, &stop, &restarted, 0, 0, 0, 0, 0 };
		pthread_create(&t[i], NULL, hammer, &h[i]);
	}
	usleep(300000);
	rc = pg_server_stop(&pg, "immediate");
	usleep(300000);
	if (rc == 0)
		rc = pg_server_start(&pg);
	atomic_store(&restarted, 1);
	usleep(500000);
	atomic_store(&stop, 1);
	for (i = 0; i < T; i++) {
		pthread_join(t[i], NULL);
		ok += h[i].ok;
		ok_after += h[i].ok_after;
		unknown += h[i].unknown;
		failed += h[i].failed;
		load_failed += h[i].load_failed;
	}
	if (rc == 0)
		rc = actor_store_load(s, "hammer", "c", 1, &data, &size, &v);
	if (rc == 0 && size == sizeof count)
		memcpy(&count, data, sizeof count);
	free(data);
	actor_store_destroy(s);
	printf("# saves: %d committed (%d after the restart), %d unknown, %d failed; "
	       "%d loads failed; counter %" PRIu64 "\n", ok, ok_after, unknown, failed,
	       load_failed, count);
	CHECK(rc == 0, "stop, restart or the last load: %d", rc);
	CHECK(unknown + failed + load_failed > 0, "no call saw the server go down");
	CHECK(ok_after > 0, "no save succeeded after the restart");
	CHECK(count >= (uint64_t)ok && count <= (uint64_t)(ok + unknown),
	      "counter %" PRIu64 " outside [%d, %d]: a write lost or invented", count, ok,
	      ok + unknown);
	return NULL;
}

static const char *bad_config(void)
{
	actor_store_pg_config_t cfg;
	actor_store_t *s;
	char conninfo[200];
	int rc;

	actor_store_pg_config_init(&cfg);
	cfg.conninfo = pg.conninfo;
	cfg.table = "x; DROP TABLE actor_state";
	rc = actor_store_pg_open(&s, &cfg);
	CHECK(rc == -EINVAL, "a table name that is no identifier: %d", rc);
	snprintf(conninfo, sizeof conninfo, "host=%s port=1 user=test dbname=postgres", pg.dir);
	cfg.conninfo = conninfo;
	cfg.table = "actor_state";
	rc = actor_store_pg_open(&s, &cfg);
	CHECK(rc == -ECONNREFUSED, "no server at that port: %d, want -ECONNREFUSED", rc);
	return NULL;
}

int main(void)
{
	actor_store_pg_config_t cfg;
	actor_store_t *s;
	int rc;

	actor_store_pg_config_init(&cfg);
	if (actor_store_pg_open(&s, &cfg) == -ENOTSUP) {
		printf("1..0 # SKIP libactor was configured without libpq (Debian: libpq-dev)\n");
		return 0;
	}
	if (pg_server_find(&pg) != 0) {
		printf("1..0 # SKIP PostgreSQL server binaries (initdb, pg_ctl) not found "
		       "(Debian: postgresql; or set PG_BINDIR)\n");
		return 0;
	}
	rc = pg_server_init(&pg);
	if (rc == -EPERM) {
		printf("1..0 # SKIP running as root, and unable to become an unprivileged user "
		       "for the server (a user namespace?)\n");
		pg_server_destroy(&pg);
		return 0;
	}
	tap_plan(STORE_CONTRACT_TESTS + 5);
	printf("# PostgreSQL from %s\n", pg.bindir);
	if (rc != 0) {
		printf("Bail out! could not start a PostgreSQL server in %s\n", pg.dir);
		pg_server_destroy(&pg);
		return 1;
	}
	rc = open_pg(&s, "actor_state");
	if (rc != 0) {
		printf("Bail out! actor_store_pg_open(%s): %d\n", pg.conninfo, rc);
		pg_server_destroy(&pg);
		return 1;
	}
	store_contract(s, "pg");
	tap_result("4 threads x 100 increments of one counter lose no update",
		   store_counter_race(s, "race", 4, 100));
	actor_store_destroy(s);
	tap_result("two stores on one table see each other's versions", two_stores());
	tap_result("the server killed: calls fail; restarted: the first save works again", server_killed());
	tap_result("the server killed under 4 saving threads: no write lost or invented",
		   killed_under_load());
	tap_result("a bad table name is -EINVAL, no server -ECONNREFUSED", bad_config());
	pg_server_destroy(&pg);
	return tap_exit();
}
