/*
 * The contract every store keeps (<actor/store.h>, actor_store(7)), written
 * once and run by tests/test_store_lmdb and tests/test_store_pg against a
 * real LMDB environment and a real PostgreSQL server. CHECK and the TAP
 * lines come from tests/store_helpers.h; include it in one file of a
 * program.
 */
#ifndef ACTOR_TESTS_STORE_CONTRACT_H
#define ACTOR_TESTS_STORE_CONTRACT_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actor/store.h>

#include "tests/store_helpers.h"

/* The number of TAP lines store_contract() prints. */
#define STORE_CONTRACT_TESTS 9

static char type_buf[128];

static const char *type_of(const char *prefix, const char *name)
{
	snprintf(type_buf, sizeof type_buf, "%s.%s", prefix, name);
	return type_buf;
}

/* The record is exactly (bytes, version). */
static const char *expect(actor_store_t *s, const char *type, const void *key, size_t klen,
			  const void *bytes, size_t size, uint64_t version)
{
	void *data = (void *)1;
	size_t got_size = 99;
	uint64_t got = 99;
	int rc = actor_store_load(s, type, key, klen, &data, &got_size, &got);
	int same;

	CHECK(rc == 0, "load: %d", rc);
	same = got == version && got_size == size &&
	       (size == 0 ? data == NULL : data != NULL && memcmp(data, bytes, size) == 0);
	free(data);
	CHECK(same, "load: version %" PRIu64 " size %zu, want version %" PRIu64 " size %zu", got,
	      got_size, version, size);
	return NULL;
}

static const char *t_missing(actor_store_t *s, const char *type)
{
	return expect(s, type, "nobody", 6, NULL, 0, 0);
}

static const char *t_save_load(actor_store_t *s, const char *type)
{
	uint64_t v = 0;
	const char *e;
	int rc;

	rc = actor_store_save(s, type, "k", 1, "hello", 5, 0, &v);
	CHECK(rc == 0 && v == 1, "first save: %d, version %" PRIu64, rc, v);
	if ((e = expect(s, type, "k", 1, "hello", 5, 1)) != NULL)
		return e;
	rc = actor_store_save(s, type, "k", 1, "world!", 6, 1, &v);
	CHECK(rc == 0 && v == 2, "second save: %d, version %" PRIu64, rc, v);
	return expect(s, type, "k", 1, "world!", 6, 2);
}

static const char *t_conflict(actor_store_t *s, const char *type)
{
	uint64_t v = 0;
	const char *e;
	int rc;

	rc = actor_store_save(s, type, "k", 1, "a", 1, 0, &v);
	CHECK(rc == 0 && v == 1, "save: %d", rc);
	rc = actor_store_save(s, type, "k", 1, "b", 1, 0, &v);
	CHECK(rc == -ESTALE, "insert over an existing record: %d, want -ESTALE", rc);
	rc = actor_store_save(s, type, "k", 1, "c", 1, 1, &v);
	CHECK(rc == 0 && v == 2, "save with the right version: %d", rc);
	rc = actor_store_save(s, type, "k", 1, "d", 1, 1, &v);
	CHECK(rc == -ESTALE, "save with a stale version: %d, want -ESTALE", rc);
	rc = actor_store_save(s, type, "k", 1, "d", 1, 5, &v);
	CHECK(rc == -ESTALE, "save with a future version: %d, want -ESTALE", rc);
	rc = actor_store_save(s, type, "absent", 6, "d", 1, 3, &v);
	CHECK(rc == -ESTALE, "update of a missing record: %d, want -ESTALE", rc);
	if ((e = expect(s, type, "absent", 6, NULL, 0, 0)) != NULL)
		return e;
	return expect(s, type, "k", 1, "c", 1, 2);
}

static const char *t_delete(actor_store_t *s, const char *type)
{
	uint64_t v;
	const char *e;
	int rc;

	rc = actor_store_delete(s, type, "k", 1, 0);
	CHECK(rc == 0, "delete of a missing record, expected 0: %d", rc);
	rc = actor_store_save(s, type, "k", 1, "x", 1, 0, &v);
	CHECK(rc == 0, "save: %d", rc);
	rc = actor_store_save(s, type, "k", 1, "y", 1, 1, &v);
	CHECK(rc == 0, "save: %d", rc);
	rc = actor_store_delete(s, type, "k", 1, 1);
	CHECK(rc == -ESTALE, "delete with a stale version: %d", rc);
	rc = actor_store_delete(s, type, "k", 1, 0);
	CHECK(rc == -ESTALE, "delete expecting no record: %d", rc);
	if ((e = expect(s, type, "k", 1, "y", 1, 2)) != NULL)
		return e;
	rc = actor_store_delete(s, type, "k", 1, 2);
	CHECK(rc == 0, "delete: %d", rc);
	if ((e = expect(s, type, "k", 1, NULL, 0, 0)) != NULL)
		return e;
	rc = actor_store_save(s, type, "k", 1, "z", 1, 0, &v);
	CHECK(rc == 0 && v == 1, "save after delete: %d, version %" PRIu64, rc, v);
	return NULL;
}

/* Binary keys with zero bytes, an empty key and state, types kept apart. */
static const char *t_names(actor_store_t *s, const char *prefix)
{
	static const char k1[] = { 0, 1, 0, (char)0xff }, k2[] = { 0, 1, 0 };
	char other[128];
	uint64_t v;
	const char *e;
	const char *type = type_of(prefix, "names");
	int rc;

	snprintf(other, sizeof other, "%s.names2", prefix);
	rc = actor_store_save(s, type, k1, sizeof k1, "one", 3, 0, &v);
	CHECK(rc == 0, "save k1: %d", rc);
	rc = actor_store_save(s, type, k2, sizeof k2, "two", 3, 0, &v);
	CHECK(rc == 0, "save k2 (a prefix of k1): %d", rc);
	rc = actor_store_save(s, other, k1, sizeof k1, "three", 5, 0, &v);
	CHECK(rc == 0, "save k1 under another type: %d", rc);
	rc = actor_store_save(s, type, NULL, 0, NULL, 0, 0, &v);
	CHECK(rc == 0 && v == 1, "empty key and state: %d", rc);
	if ((e = expect(s, type, k1, sizeof k1, "one", 3, 1)) ||
	    (e = expect(s, type, k2, sizeof k2, "two", 3, 1)) ||
	    (e = expect(s, other, k1, sizeof k1, "three", 5, 1)) ||
	    (e = expect(s, type, NULL, 0, NULL, 0, 1)))
		return e;
	return NULL;
}

static const char *t_batch(actor_store_t *s, const char *type)
{
	actor_store_op_t ops[3];
	size_t failed = 99;
	const char *e;
	uint64_t v;
	int rc;

	rc = actor_store_save(s, type, "gone", 4, "old", 3, 0, &v);
	CHECK(rc == 0, "save: %d", rc);
	memset(ops, 0, sizeof ops);
	ops[0] = (actor_store_op_t){ ACTOR_STORE_SAVE, type, "a", 1, "A", 1, 0, 0 };
	ops[1] = (actor_store_op_t){ ACTOR_STORE_SAVE, type, "b", 1, "B", 1, 0, 0 };
	ops[2] = (actor_store_op_t){ ACTOR_STORE_DELETE, type, "gone", 4, NULL, 0, 1, 7 };
	rc = actor_store_write(s, ops, 3, &failed);
	CHECK(rc == 0, "batch: %d", rc);
	CHECK(ops[0].version == 1 && ops[1].version == 1 && ops[2].version == 0,
	      "batch versions %" PRIu64 " %" PRIu64 " %" PRIu64, ops[0].version, ops[1].version,
	      ops[2].version);
	if ((e = expect(s, type, "a", 1, "A", 1, 1)) || (e = expect(s, type, "b", 1, "B", 1, 1)) ||
	    (e = expect(s, type, "gone", 4, NULL, 0, 0)))
		return e;
	return NULL;
}

/* A batch with one stale version writes nothing, whatever its position. */
static const char *t_batch_atomic(actor_store_t *s, const char *type)
{
	actor_store_op_t ops[4];
	size_t failed;
	const char *e;
	uint64_t v;
	int rc, stale;

	rc = actor_store_save(s, type, "x", 1, "x1", 2, 0, &v);
	CHECK(rc == 0, "save: %d", rc);
	rc = actor_store_save(s, type, "y", 1, "y1", 2, 0, &v);
	CHECK(rc == 0, "save: %d", rc);
	for (stale = 0; stale < 4; stale++) {
		ops[0] = (actor_store_op_t){ ACTOR_STORE_SAVE, type, "x", 1, "x2", 2, 1, 0 };
		ops[1] = (actor_store_op_t){ ACTOR_STORE_SAVE, type, "new", 3, "n", 1, 0, 0 };
		ops[2] = (actor_store_op_t){ ACTOR_STORE_DELETE, type, "y", 1, NULL, 0, 1, 0 };
		ops[3] = (actor_store_op_t){ ACTOR_STORE_SAVE, type, "z", 1, "z", 1, 0, 0 };
		ops[stale].expected = 42;
		failed = 99;
		rc = actor_store_write(s, ops, 4, &failed);
		CHECK(rc == -ESTALE && failed == (size_t)stale,
		      "stale op %d: %d, failed %zu, want -ESTALE and %d", stale, rc, failed, stale);
		if ((e = expect(s, type, "x", 1, "x1", 2, 1)) ||
		    (e = expect(s, type, "new", 3, NULL, 0, 0)) ||
		    (e = expect(s, type, "y", 1, "y1", 2, 1)) ||
		    (e = expect(s, type, "z", 1, NULL, 0, 0)))
			return e;
	}
	return NULL;
}

static const char *t_invalid(actor_store_t *s, const char *type)
{
	actor_store_op_t op = { 7, type, "k", 1, NULL, 0, 0, 0 };
	void *data;
	size_t size, failed;
	uint64_t v;
	int rc;

	CHECK(actor_store_load(s, "", "k", 1, &data, &size, &v) == -EINVAL, "empty type");
	CHECK(actor_store_load(s, NULL, "k", 1, &data, &size, &v) == -EINVAL, "NULL type");
	CHECK(actor_store_save(s, type, NULL, 3, "x", 1, 0, &v) == -EINVAL, "NULL key, length 3");
	CHECK(actor_store_save(s, type, "k", 1, NULL, 3, 0, &v) == -EINVAL, "NULL data, size 3");
	rc = actor_store_write(s, &op, 1, &failed);
	CHECK(rc == -EINVAL && failed == 0, "unknown kind: %d", rc);
	CHECK(actor_store_write(s, NULL, 0, NULL) == 0, "an empty write");
	return NULL;
}

/* The state can be larger than a page and binary. */
static const char *t_large(actor_store_t *s, const char *type)
{
	size_t n = 300000, i;
	unsigned char *big = malloc(n);
	const char *e;
	uint64_t v;
	int rc;

	CHECK(big != NULL, "malloc");
	for (i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 8));
	rc = actor_store_save(s, type, "big", 3, big, n, 0, &v);
	e = rc == 0 ? expect(s, type, "big", 3, big, n, 1) : "save failed";
	free(big);
	return e;
}

static void store_contract(actor_store_t *store, const char *prefix)
{
	tap_result("a missing record loads as version 0, no bytes",
		   t_missing(store, type_of(prefix, "missing")));
	tap_result("save and load: versions 1, 2 and the bytes",
		   t_save_load(store, type_of(prefix, "save")));
	tap_result("a save with another version than the stored one is -ESTALE, writes nothing",
		   t_conflict(store, type_of(prefix, "conflict")));
	tap_result("delete is versioned; after it the record is gone and starts again at 1",
		   t_delete(store, type_of(prefix, "delete")));
	tap_result("binary keys, prefixes of keys, empty key and state, types apart",
		   t_names(store, prefix));
	tap_result("a batch of saves and a delete commits together",
		   t_batch(store, type_of(prefix, "batch")));
	tap_result("a batch with one stale version writes nothing and names it",
		   t_batch_atomic(store, type_of(prefix, "atomic")));
	tap_result("bad arguments are -EINVAL", t_invalid(store, type_of(prefix, "invalid")));
	tap_result("a 300 kB binary state round-trips", t_large(store, type_of(prefix, "large")));
}

static int store_counter_add(actor_store_t *store, const char *type, unsigned *conflicts)
{
	for (;;) {
		void *data;
		size_t size;
		uint64_t v, count = 0;
		int rc = actor_store_load(store, type, "counter", 7, &data, &size, &v);

		if (rc != 0)
			return rc;
		if (size == sizeof count)
			memcpy(&count, data, sizeof count);
		free(data);
		count++;
		rc = actor_store_save(store, type, "counter", 7, &count, sizeof count, v, NULL);
		if (rc != -ESTALE)
			return rc;
		if (conflicts != NULL)
			(*conflicts)++;
	}
}

struct race {
	actor_store_t *store;
	const char *type;
	int rounds, rc;
	unsigned conflicts;
};

static void *racer(void *p)
{
	struct race *r = p;
	int i;

	for (i = 0; i < r->rounds && r->rc == 0; i++)
		r->rc = store_counter_add(r->store, r->type, &r->conflicts);
	return NULL;
}

static const char *store_counter_race(actor_store_t *store, const char *type, int threads, int rounds)
{
	struct race r[threads];
	pthread_t t[threads];
	unsigned conflicts = 0;
	void *data;
	size_t size;
	uint64_t v, count = 0;
	int i, rc;

	for (i = 0; i < threads; i++) {
		r[i] = (struct race){ store, type, rounds, 0, 0 };
		pthread_create(&t[i], NULL, racer, &r[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].rc == 0, "thread %d: %d", i, r[i].rc);
		conflicts += r[i].conflicts;
	}
	rc = actor_store_load(store, type, "counter", 7, &data, &size, &v);
	CHECK(rc == 0 && size == sizeof count, "load: %d", rc);
	memcpy(&count, data, sizeof count);
	free(data);
	CHECK(count == (uint64_t)threads * rounds && v == count,
	      "counter %" PRIu64 " version %" PRIu64 ", want %d (a lost update)", count, v,
	      threads * rounds);
	printf("# %d threads x %d increments: %u conflicts retried\n", threads, rounds, conflicts);
	return NULL;
}

#endif
