/*
 * util/: the intrusive list, the hash table, growable arrays and time.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/htab.h"
#include "util/list.h"
#include "util/siphash.h"
#include "util/time.h"

/* --- list -------------------------------------------------------------- */

struct item {
	int v;
	struct actor__list node;
};

static int list_values(struct actor__list *head, int *out, int max)
{
	struct actor__list *n, *tmp;
	int k = 0;

	actor__list_each(n, tmp, head)
		if (k < max)
			out[k++] = actor__list_entry(n, struct item, node)->v;
	return k;
}

Test(list, push_append_del)
{
	struct actor__list head;
	struct item it[4];
	int v[8];

	actor__list_init(&head);
	cr_assert(actor__list_empty(&head));
	for (int i = 0; i < 4; i++)
		it[i].v = i;
	actor__list_push(&head, &it[1].node);
	actor__list_push(&head, &it[0].node);
	actor__list_append(&head, &it[2].node);
	actor__list_append(&head, &it[3].node);
	cr_assert_eq(list_values(&head, v, 8), 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(v[i], i);
	actor__list_del(&it[0].node);	/* first */
	actor__list_del(&it[2].node);	/* middle */
	actor__list_del(&it[3].node);	/* last */
	cr_assert_eq(it[2].node.next, &it[2].node, "an unlinked node points to itself");
	cr_assert_eq(list_values(&head, v, 8), 1);
	cr_assert_eq(v[0], 1);
	actor__list_del(&it[1].node);
	cr_assert(actor__list_empty(&head));
}

Test(list, each_survives_removal)
{
	struct actor__list head, *n, *tmp;
	struct item it[5];
	int v[8];

	actor__list_init(&head);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		actor__list_append(&head, &it[i].node);
	}
	actor__list_each(n, tmp, &head)
		if (actor__list_entry(n, struct item, node)->v % 2 == 0)
			actor__list_del(n);
	cr_assert_eq(list_values(&head, v, 8), 2);
	cr_assert_eq(v[0], 1);
	cr_assert_eq(v[1], 3);
}

/* --- hash table -------------------------------------------------------- */

struct kv {
	uint32_t key;			/* 0: empty */
	uint32_t value;
};

/* A poor hash on purpose: keys collide in runs, so deletions shift. */
static size_t kv_hash(const void *e)
{
	return ((const struct kv *)e)->key / 4;
}

static bool kv_used(const void *e)
{
	return ((const struct kv *)e)->key != 0;
}

static bool kv_match(const void *e, const void *key)
{
	return ((const struct kv *)e)->key == *(const uint32_t *)key;
}

static const struct actor__htab_type kv_type = { sizeof(struct kv), kv_hash, kv_used, kv_match };

static struct kv *kv_find(struct actor__htab *h, uint32_t key)
{
	return actor__htab_find(h, &kv_type, key / 4, &key);
}

static void kv_add(struct actor__htab *h, uint32_t key, uint32_t value)
{
	struct kv *e;

	cr_assert_eq(actor__htab_reserve(h, &kv_type), 0);
	e = actor__htab_add(h, &kv_type, key / 4);
	e->key = key;
	e->value = value;
}

Test(htab, empty)
{
	struct actor__htab h = { 0 };

	cr_assert_null(kv_find(&h, 1));
	cr_assert_eq(actor__htab_cap(&h), 0);
	actor__htab_free(&h);
}

Test(htab, add_find_grow)
{
	struct actor__htab h = { 0 };

	for (uint32_t k = 1; k <= 1000; k++)
		kv_add(&h, k, k * 7);
	cr_assert_eq(h.count, 1000);
	cr_assert_geq(actor__htab_cap(&h), 2000, "at most half full");
	for (uint32_t k = 1; k <= 1000; k++) {
		struct kv *e = kv_find(&h, k);

		cr_assert_not_null(e, "key %u", k);
		cr_assert_eq(e->value, k * 7);
	}
	cr_assert_null(kv_find(&h, 1001));
	actor__htab_free(&h);
	cr_assert_eq(h.count, 0);
}

/* Against a plain array, in a random order of adds and deletions: every
 * key present is found, every key deleted is not. */
Test(htab, delete_shifts_back)
{
	enum { N = 512 };
	struct actor__htab h = { 0 };
	uint32_t value[N + 1] = { 0 };
	unsigned seed = 12345;
	size_t live = 0;

	for (int round = 0; round < 20000; round++) {
		uint32_t k = 1 + (uint32_t)(rand_r(&seed) % N);
		struct kv *e = kv_find(&h, k);

		cr_assert_eq(e != NULL, value[k] != 0, "key %u", k);
		if (e != NULL) {
			cr_assert_eq(e->value, value[k]);
			actor__htab_del(&h, &kv_type, e);
			value[k] = 0;
			live--;
		} else {
			value[k] = (uint32_t)round + 1;
			kv_add(&h, k, value[k]);
			live++;
		}
		cr_assert_eq(h.count, live);
	}
	for (uint32_t k = 1; k <= N; k++) {
		struct kv *e = kv_find(&h, k);

		cr_assert_eq(e != NULL, value[k] != 0, "key %u", k);
		if (e != NULL)
			cr_assert_eq(e->value, value[k]);
	}
	actor__htab_free(&h);
}

/* Deleting while walking the slots: a shifted entry lands in the slot just
 * looked at, so the walk looks at it again. */
Test(htab, delete_while_walking)
{
	struct actor__htab h = { 0 };
	size_t i = 0;

	for (uint32_t k = 1; k <= 64; k++)
		kv_add(&h, k, k);
	while (i < actor__htab_cap(&h)) {
		struct kv *e = actor__htab_slot(&h, &kv_type, i);

		if (e->key != 0 && e->key % 3 == 0)
			actor__htab_del(&h, &kv_type, e);
		else
			i++;
	}
	cr_assert_eq(h.count, 64 - 21);
	for (uint32_t k = 1; k <= 64; k++)
		cr_assert_eq(kv_find(&h, k) != NULL, k % 3 != 0, "key %u", k);
	actor__htab_free(&h);
}

/* Emptying keeps the slots, and the table takes new entries. */
Test(htab, clear_keeps_slots)
{
	struct actor__htab h = { 0 };
	size_t cap;

	actor__htab_clear(&h, &kv_type);
	cr_assert_eq(actor__htab_cap(&h), 0);
	for (uint32_t k = 1; k <= 100; k++)
		kv_add(&h, k, k);
	cap = actor__htab_cap(&h);
	actor__htab_clear(&h, &kv_type);
	cr_assert_eq(h.count, 0);
	cr_assert_eq(actor__htab_cap(&h), cap);
	for (uint32_t k = 1; k <= 100; k++)
		cr_assert_null(kv_find(&h, k), "key %u", k);
	kv_add(&h, 7, 70);
	cr_assert_eq(kv_find(&h, 7)->value, 70);
	cr_assert_eq(h.count, 1);
	actor__htab_free(&h);
}

/* --- growable arrays --------------------------------------------------- */

Test(array, doubles_from_min)
{
	int *a = NULL, *p;
	size_t cap = 0;

	p = actor__array_grow(a, &cap, 1, sizeof(*a), 4);
	cr_assert_not_null(p);
	cr_assert_eq(cap, 4);
	a = p;
	cr_assert_eq(actor__array_grow(a, &cap, 4, sizeof(*a), 4), a, "no growth while it fits");
	for (int i = 0; i < 4; i++)
		a[i] = i;
	a = actor__array_grow(a, &cap, 5, sizeof(*a), 4);
	cr_assert_not_null(a);
	cr_assert_eq(cap, 8);
	a = actor__array_grow(a, &cap, 33, sizeof(*a), 4);
	cr_assert_eq(cap, 64);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(a[i], i, "contents kept");
	free(a);
}

Test(array, overflow_leaves_it)
{
	size_t cap = 4;
	char *a = malloc(4);

	cr_assert_null(actor__array_grow(a, &cap, SIZE_MAX / 2 + 2, 1, 4));
	cr_assert_null(actor__array_grow(a, &cap, SIZE_MAX / 8, 16, 4));
	cr_assert_eq(cap, 4);
	free(a);
}

/* --- time -------------------------------------------------------------- */

Test(time, monotonic_and_timespec)
{
	uint64_t a = actor__now_ns(), b = actor__now_ns();
	struct timespec ts = actor__timespec_of(3 * ACTOR__NS_PER_S + 42);

	cr_assert_leq(a, b);
	cr_assert_eq(ts.tv_sec, 3);
	cr_assert_eq(ts.tv_nsec, 42);
	ts = actor__timespec_of(999999999);
	cr_assert_eq(ts.tv_sec, 0);
	cr_assert_eq(ts.tv_nsec, 999999999);
}

Test(time, monotonic_cond_waits_on_monotonic_deadline)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	uint64_t start = actor__now_ns();
	struct timespec until = actor__timespec_of(start + 20 * 1000000ull);

	cr_assert_eq(actor__cond_init_monotonic(&c), 0);
	pthread_mutex_lock(&m);
	while (pthread_cond_timedwait(&c, &m, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&m);
	/* A CLOCK_REALTIME cond would see a deadline decades ago and return
	 * at once. */
	cr_assert_geq(actor__now_ns() - start, 20 * 1000000ull);
	pthread_cond_destroy(&c);
}

/* --- siphash ------------------------------------------------------------ */

/* The reference vectors (github.com/veorq/SipHash, vectors.h): key 00..0f,
 * messages 00, 00 01, ... of 0 to 63 bytes; these are lengths 0-15 and 63. */
static const uint64_t sip_vectors[16] = {
	0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
	0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
	0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
	0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
};

Test(siphash, reference_vectors)
{
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < 16; n++)
		cr_expect_eq(actor__siphash24(key, msg, n), sip_vectors[n], "length %zu", n);
	cr_expect_eq(actor__siphash24(key, msg, 63), 0x958a324ceb064572ull);
	cr_expect_eq(actor__siphash24(key, NULL, 0), sip_vectors[0]);
	/* Unaligned input hashes the same. */
	uint8_t shifted[65];

	memcpy(shifted + 1, msg, 63);
	cr_expect_eq(actor__siphash24(key, shifted + 1, 63), 0x958a324ceb064572ull);
}
