/*
 * msgpack payloads (include/actor/msgpack.h): unpacking in place, the
 * checks before msgpack-c reads a payload, and a structured transfer and
 * its reply between a client and a bank actor, in one system and across
 * two nodes (loopback and TCP on epoll), sent with actor_send_sbuffer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <actor/msgpack.h>

#include "tests/leakcheck.h"

#define SEC 1000000000ull
#define MS 1000000ull

enum { GO = 1, TRANSFER, RESULT };
enum { SEND_GOOD, SEND_MALFORMED };

static const unsigned char transfer_id[16] = "0123456789abcdef";

/* What the bank saw and what the client got back; written by the actors
 * before sem_post(&done), read by the test after sem_wait. */
static struct {
	_Atomic(const void *) sent;	/* the client's sbuffer memory */
	int send_err;			/* the client's actor_send_sbuffer */
	bool sbuf_emptied;		/* sbuf empty after it */
	int unpack_err;			/* the bank's actor_msg_unpack */
	bool same_buffer;		/* actor_msg_data is the client's sbuffer */
	bool points_inside;		/* every str/bin/ext points into the payload */
	char from[16], to[16], memo[64];
	int64_t amount;
	bool id_ok;
	int reply_unpack_err;		/* the client's, on the reply */
	int reply_error;
	int64_t reply_amount;
	char reply_memo[64];
} seen;
static sem_t done;

static bool inside(const msgpack_object *o, const char *base, size_t size)
{
	const char *p = NULL;

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		p = o->via.str.ptr;
		break;
	case MSGPACK_OBJECT_BIN:
		p = o->via.bin.ptr;
		break;
	case MSGPACK_OBJECT_EXT:
		p = o->via.ext.ptr;
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!inside(&o->via.array.ptr[i], base, size))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!inside(&o->via.map.ptr[i].key, base, size) ||
			    !inside(&o->via.map.ptr[i].val, base, size))
				return false;
		return true;
	default:
		return true;
	}
	return p >= base && p < base + size;
}

static const msgpack_object *field(const msgpack_object *map, const char *key)
{
	size_t len = strlen(key);

	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    memcmp(k->via.str.ptr, key, len) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static void copy_str(char *dst, size_t cap, const msgpack_object *o)
{
	size_t n = 0;

	if (o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size < cap) {
		n = o->via.str.size;
		memcpy(dst, o->via.str.ptr, n);
	}
	dst[n] = '\0';
}

static int64_t get_int(const msgpack_object *o)
{
	if (o != NULL && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
			  o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
		return o->via.i64;
	return INT64_MIN;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_transfer(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 5);
	pack_str(pk, "from");
	pack_str(pk, "alice");
	pack_str(pk, "to");
	pack_str(pk, "bob");
	pack_str(pk, "amount");
	msgpack_pack_int64(pk, -2500);	/* a refund: negative on purpose */
	pack_str(pk, "memo");
	pack_str(pk, "rent, november");
	pack_str(pk, "id");
	msgpack_pack_bin_with_body(pk, transfer_id, sizeof transfer_id);
}

static void bank(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	msgpack_zone zone;
	msgpack_object t;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *id;

	if (actor_msg_type(msg) != TRANSFER)
		return;
	msgpack_zone_init(&zone, 1024);
	seen.unpack_err = actor_msg_unpack(msg, &zone, &t);
	seen.same_buffer = actor_msg_data(msg) == atomic_load(&seen.sent);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (seen.unpack_err == 0) {
		seen.points_inside = inside(&t, actor_msg_data(msg), actor_msg_size(msg));
		copy_str(seen.from, sizeof seen.from, field(&t, "from"));
		copy_str(seen.to, sizeof seen.to, field(&t, "to"));
		copy_str(seen.memo, sizeof seen.memo, field(&t, "memo"));
		seen.amount = get_int(field(&t, "amount"));
		id = field(&t, "id");
		seen.id_ok = id != NULL && id->type == MSGPACK_OBJECT_BIN &&
			     id->via.bin.size == sizeof transfer_id &&
			     memcmp(id->via.bin.ptr, transfer_id, sizeof transfer_id) == 0;
		msgpack_pack_map(&pk, 3);
		pack_str(&pk, "error");
		msgpack_pack_int(&pk, 0);
		pack_str(&pk, "amount");
		msgpack_pack_int64(&pk, seen.amount);
		pack_str(&pk, "memo");
		msgpack_pack_object(&pk, *field(&t, "memo"));
	} else {
		msgpack_pack_map(&pk, 1);
		pack_str(&pk, "error");
		msgpack_pack_int(&pk, seen.unpack_err);
	}
	msgpack_zone_destroy(&zone);
	actor_send_sbuffer(ctx, actor_msg_sender(msg), RESULT, &sb);
}

struct go {
	actor_ref_t bank;
	int what;
};

static void client(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	static const unsigned char malformed[] = { 0x82, 0xa4, 'f', 'r', 'o', 'm', 0xa5, 'a' };
	msgpack_zone zone;
	msgpack_object r;

	if (actor_msg_type(msg) == GO) {
		const struct go *go = actor_msg_data(msg);
		msgpack_sbuffer sb;
		msgpack_packer pk;

		if (go->what == SEND_MALFORMED) {
			actor_send(ctx, go->bank, TRANSFER, malformed, sizeof malformed);
			return;
		}
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		pack_transfer(&pk);
		atomic_store(&seen.sent, sb.data);
		seen.send_err = actor_send_sbuffer(ctx, go->bank, TRANSFER, &sb);
		seen.sbuf_emptied = sb.data == NULL && sb.size == 0 && sb.alloc == 0;
		return;
	}
	msgpack_zone_init(&zone, 256);
	seen.reply_unpack_err = actor_msg_unpack(msg, &zone, &r);
	if (seen.reply_unpack_err == 0) {
		seen.reply_error = (int)get_int(field(&r, "error"));
		seen.reply_amount = get_int(field(&r, "amount"));
		copy_str(seen.reply_memo, sizeof seen.reply_memo, field(&r, "memo"));
	}
	msgpack_zone_destroy(&zone);
	sem_post(&done);
}

static const actor_spec_t bank_spec = { .name = "bank", .handler = bank };
static const actor_spec_t client_spec = { .name = "client", .handler = client };

static void setup(void)
{
	memset(&seen, 0, sizeof seen);
	sem_init(&done, 0, 0);
}

static void wait_done(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 10;
	cr_assert_eq(sem_timedwait(&done, &t), 0, "no reply within 10 s");
}

/* Sends GO to a client on csys, for a bank on bsys; waits for the reply. */
static void exchange(actor_system_t *csys, actor_system_t *bsys, int what)
{
	struct go go = { .what = what };
	actor_ref_t c;

	cr_assert_eq(actor_system_spawn(bsys, &bank_spec, NULL, &go.bank), 0);
	cr_assert_eq(actor_system_spawn(csys, &client_spec, NULL, &c), 0);
	cr_assert_eq(actor_system_send(csys, c, GO, &go, sizeof go), 0);
	wait_done();
}

static void assert_transfer_seen(void)
{
	cr_assert_eq(seen.send_err, 0);
	cr_assert(seen.sbuf_emptied, "actor_send_sbuffer left the sbuffer empty");
	cr_assert_eq(seen.unpack_err, 0);
	cr_assert(seen.points_inside, "strings and binaries point into the message data");
	cr_assert_str_eq(seen.from, "alice");
	cr_assert_str_eq(seen.to, "bob");
	cr_assert_str_eq(seen.memo, "rent, november");
	cr_assert_eq(seen.amount, -2500);
	cr_assert(seen.id_ok);
	cr_assert_eq(seen.reply_unpack_err, 0);
	cr_assert_eq(seen.reply_error, 0);
	cr_assert_eq(seen.reply_amount, -2500);
	cr_assert_str_eq(seen.reply_memo, "rent, november");
}

/* --- unpacking ---------------------------------------------------------------- */

Test(msgpack, unpack_points_into_the_payload)
{
	static const unsigned char ext[] = { 1, 2, 3, 4, 5 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	pack_str(&pk, "hello");
	msgpack_pack_bin_with_body(&pk, transfer_id, sizeof transfer_id);
	msgpack_pack_ext_with_body(&pk, ext, sizeof ext, 7);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_nil(&pk);
	msgpack_zone_init(&zone, 64);

	cr_assert_eq(actor_msgpack_unpack(sb.data, sb.size, &zone, &o), 0);
	cr_assert_eq(o.type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(o.via.array.size, 4);
	cr_assert(inside(&o, sb.data, sb.size));
	cr_assert_eq(o.via.array.ptr[0].via.str.size, 5);
	cr_assert_eq(memcmp(o.via.array.ptr[0].via.str.ptr, "hello", 5), 0);
	cr_assert_eq(o.via.array.ptr[1].via.bin.ptr,
		     memmem(sb.data, sb.size, transfer_id, sizeof transfer_id),
		     "the binary is the payload's own bytes");
	cr_assert_eq(o.via.array.ptr[2].via.ext.type, 7);
	cr_assert_eq(memcmp(o.via.array.ptr[2].via.ext.ptr, ext, sizeof ext), 0);
	cr_assert_eq(o.via.array.ptr[3].via.array.ptr[0].via.f64, 0.5);

	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

static int unpack_bytes(const void *p, size_t n)
{
	msgpack_zone zone;
	msgpack_object o;
	int err;

	msgpack_zone_init(&zone, 64);
	err = actor_msgpack_unpack(p, n, &zone, &o);
	msgpack_zone_destroy(&zone);
	return err;
}

#define BYTES(...) ((const unsigned char[]){ __VA_ARGS__ }), sizeof((const unsigned char[]){ __VA_ARGS__ })

Test(msgpack, malformed_payloads_are_ebadmsg)
{
	struct { const char *what; const unsigned char *p; size_t n; } bad[] = {
		{ "empty", NULL, 0 },
		{ "never-used byte 0xc1", BYTES(0xc1) },
		{ "truncated fixstr", BYTES(0xa5, 'a', 'b') },
		{ "truncated uint32", BYTES(0xce, 0, 0) },
		{ "truncated str8 length", BYTES(0xd9) },
		{ "str32 longer than the payload", BYTES(0xdb, 0xff, 0xff, 0xff, 0xff, 'x') },
		{ "bin32 longer than the payload", BYTES(0xc6, 0x7f, 0xff, 0xff, 0xff) },
		{ "ext8 without its type", BYTES(0xc7, 0x01) },
		{ "array32 of 4G elements", BYTES(0xdd, 0xff, 0xff, 0xff, 0xff) },
		{ "map32 of 4G pairs", BYTES(0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02) },
		{ "array16 of 3 with 2", BYTES(0xdc, 0x00, 0x03, 0x01, 0x02) },
		{ "map with a key and no value", BYTES(0x81, 0x01) },
		{ "trailing bytes", BYTES(0x01, 0x02) },
		{ "two objects", BYTES(0x91, 0x01, 0xc0) },
	};
	unsigned char deep[ACTOR_MSGPACK_MAX_DEPTH + 2];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(unpack_bytes(bad[i].p, bad[i].n), -EBADMSG, "%s", bad[i].what);

	/* Nesting: as deep as msgpack-c's stack, and one more. */
	memset(deep, 0x91, sizeof deep);
	deep[ACTOR_MSGPACK_MAX_DEPTH] = 0x01;
	cr_expect_eq(unpack_bytes(deep, ACTOR_MSGPACK_MAX_DEPTH + 1), 0);
	deep[ACTOR_MSGPACK_MAX_DEPTH - 1] = 0x90;
	cr_expect_eq(unpack_bytes(deep, ACTOR_MSGPACK_MAX_DEPTH), 0);
	/* msgpack-c counts an empty container too (it would say ENOMEM). */
	deep[ACTOR_MSGPACK_MAX_DEPTH - 1] = 0x91;
	deep[ACTOR_MSGPACK_MAX_DEPTH] = 0x90;
	cr_expect_eq(unpack_bytes(deep, ACTOR_MSGPACK_MAX_DEPTH + 1), -EBADMSG);
	deep[ACTOR_MSGPACK_MAX_DEPTH] = 0x91;
	deep[ACTOR_MSGPACK_MAX_DEPTH + 1] = 0x01;
	cr_expect_eq(unpack_bytes(deep, sizeof deep), -EBADMSG);

	cr_expect_eq(actor_msgpack_unpack("\x01", 1, NULL, &(msgpack_object){ 0 }), -EINVAL);
}

/* Every prefix of a valid payload is refused, and random corruptions give 0
 * or -EBADMSG, never a crash; what passes the check msgpack-c accepts too. */
Test(msgpack, truncations_and_corruptions)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;
	unsigned char buf[256];
	unsigned seed = 17;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_transfer(&pk);
	cr_assert_lt(sb.size, sizeof buf);
	for (size_t n = 0; n < sb.size; n++)
		cr_assert_eq(unpack_bytes(sb.data, n), -EBADMSG, "prefix of %zu bytes", n);
	cr_assert_eq(unpack_bytes(sb.data, sb.size), 0);

	msgpack_zone_init(&zone, 256);
	for (int i = 0; i < 20000; i++) {
		size_t off = 0;
		int err;

		memcpy(buf, sb.data, sb.size);
		for (int k = 0; k < 1 + i % 3; k++)
			buf[rand_r(&seed) % sb.size] = (unsigned char)rand_r(&seed);
		err = actor_msgpack_unpack(buf, sb.size, &zone, &o);
		cr_assert(err == 0 || err == -EBADMSG, "error %d", err);
		if (err == 0)
			cr_assert_eq(msgpack_unpack((const char *)buf, sb.size, &off, &zone, &o),
				     MSGPACK_UNPACK_SUCCESS);
		msgpack_zone_clear(&zone);
	}
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

/* --- sending -------------------------------------------------------------------- */

Test(msgpack, send_sbuffer_frees_and_empties_on_error)
{
	actor_system_t *sys;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_transfer(&pk);
	cr_assert_eq(actor_system_send_sbuffer(sys, ACTOR_REF_NONE, TRANSFER, &sb), -ESRCH);
	cr_assert(sb.data == NULL && sb.size == 0 && sb.alloc == 0);
	/* The packer goes on writing into the emptied sbuffer. */
	msgpack_pack_int(&pk, 1);
	cr_assert_eq(sb.size, 1);
	/* An emptied but allocated sbuffer is freed too (size 0, memory kept). */
	msgpack_sbuffer_clear(&sb);
	cr_assert_eq(actor_system_send_sbuffer(sys, ACTOR_REF_NONE, TRANSFER, &sb), -ESRCH);
	cr_assert(sb.data == NULL && sb.alloc == 0);
	msgpack_sbuffer_destroy(&sb);
	actor_system_destroy(sys);
	assert_no_leaks();
}

Test(msgpack, round_trip_in_one_system, .init = setup)
{
	actor_system_t *sys;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	exchange(sys, sys, SEND_GOOD);
	assert_transfer_seen();
	cr_assert(seen.same_buffer, "the envelope carries the sbuffer's memory, not a copy");
	actor_system_destroy(sys);
	assert_no_leaks();
}

Test(msgpack, malformed_in_one_system, .init = setup)
{
	actor_system_t *sys;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	exchange(sys, sys, SEND_MALFORMED);
	cr_assert_eq(seen.unpack_err, -EBADMSG);
	cr_assert_eq(seen.reply_unpack_err, 0);
	cr_assert_eq(seen.reply_error, -EBADMSG);
	actor_system_destroy(sys);
	assert_no_leaks();
}

/* --- across nodes ------------------------------------------------------------- */

static const char cookie[] = "test-cookie-0123456789";
static actor_loopback_t *hub;

static actor_system_t *node(const char *transport, const char *name)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg.loopback = hub;
	}
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static void across_nodes(const char *transport, int what)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	uint32_t id;

	cr_assert_eq(actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), 5 * SEC,
					&id), 0);
	exchange(a, b, what);
	if (what == SEND_GOOD) {
		assert_transfer_seen();
	} else {
		cr_assert_eq(seen.unpack_err, -EBADMSG);
		cr_assert_eq(seen.reply_error, -EBADMSG);
	}
	actor_system_destroy(a);
	actor_system_destroy(b);
	if (hub != NULL)
		actor_loopback_destroy(hub);
	hub = NULL;
	assert_no_leaks();
}

Test(msgpack, round_trip_across_loopback_nodes, .init = setup)
{
	across_nodes("loopback", SEND_GOOD);
}

Test(msgpack, malformed_across_loopback_nodes, .init = setup)
{
	across_nodes("loopback", SEND_MALFORMED);
}

Test(msgpack, round_trip_across_tcp_nodes, .init = setup)
{
	across_nodes("epoll", SEND_GOOD);
}
