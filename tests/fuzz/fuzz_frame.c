/*
 * libFuzzer target for the frame decoder (.ci/fuzz builds and runs it).
 *
 * The input is decoded as one body, then split as a stream of length-prefixed
 * bodies and each decoded. Whatever decodes must read the same to msgpack-c's
 * unpacker, and survive a round trip: its encoding is no longer than the
 * input (msgpack-c writes the shortest forms), decodes to the same fields,
 * and encodes again to the same bytes.
 */
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"
#include "transport/transport.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static struct actor__frame_decoder *dec;
static msgpack_zone zone;

static int bytes_eq(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static int same_member(const struct actor__wire_member *a, const struct actor__wire_member *b)
{
	if (a->node != b->node || a->incarnation != b->incarnation || a->port != b->port ||
	    a->name_len != b->name_len || a->host_len != b->host_len || a->ntypes != b->ntypes ||
	    !bytes_eq(a->name, b->name, a->name_len) || !bytes_eq(a->host, b->host, a->host_len))
		return 0;
	for (size_t i = 0; i < a->ntypes; i++)
		if (actor__wire_type(a, i) != actor__wire_type(b, i))
			return 0;
	return 1;
}

static int same_view(const struct actor__frame *a, const struct actor__frame *b)
{
	const void *ca = a->view.members_at, *cb = b->view.members_at;

	if (a->view.epoch != b->view.epoch || a->view.nmembers != b->view.nmembers ||
	    a->view.ndeparted != b->view.ndeparted)
		return 0;
	for (size_t i = 0; i < a->view.nmembers; i++) {
		struct actor__wire_member x, y;

		ca = actor__frame_view_member(a, ca, &x);
		cb = actor__frame_view_member(b, cb, &y);
		if (!same_member(&x, &y))
			return 0;
	}
	ca = a->view.departed_at;
	cb = b->view.departed_at;
	for (size_t i = 0; i < a->view.ndeparted; i++) {
		struct actor__wire_departure x, y;

		ca = actor__frame_view_departure(a, ca, &x);
		cb = actor__frame_view_departure(b, cb, &y);
		if (x.node != y.node || x.incarnation != y.incarnation || x.cause != y.cause)
			return 0;
	}
	return 1;
}

static int same(const struct actor__frame *a, const struct actor__frame *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case ACTOR__F_HELLO:
		return a->hello.version == b->hello.version && a->hello.node == b->hello.node &&
		       a->hello.name_len == b->hello.name_len &&
		       bytes_eq(a->hello.name, b->hello.name, a->hello.name_len) &&
		       bytes_eq(a->hello.nonce, b->hello.nonce, ACTOR__NONCE_LEN);
	case ACTOR__F_AUTH:
		return bytes_eq(a->auth.mac, b->auth.mac, ACTOR__MAC_LEN);
	case ACTOR__F_MSG:
		return a->msg.to_id == b->msg.to_id && a->msg.to_node == b->msg.to_node &&
		       a->msg.from_id == b->msg.from_id && a->msg.from_node == b->msg.from_node &&
		       a->msg.type == b->msg.type && a->msg.flags == b->msg.flags &&
		       a->msg.request_id == b->msg.request_id && a->msg.size == b->msg.size &&
		       bytes_eq(a->msg.payload, b->msg.payload, a->msg.size);
	case ACTOR__F_SIGNAL:
		return a->signal.op == b->signal.op && a->signal.to_id == b->signal.to_id &&
		       a->signal.to_node == b->signal.to_node &&
		       a->signal.ref_id == b->signal.ref_id &&
		       a->signal.ref_node == b->signal.ref_node &&
		       a->signal.reason == b->signal.reason &&
		       a->signal.request_id == b->signal.request_id;
	case ACTOR__F_JOIN:
		return same_member(&a->join, &b->join);
	case ACTOR__F_PROBE:
	case ACTOR__F_ACK:
		return a->probe.seq == b->probe.seq && a->probe.epoch == b->probe.epoch &&
		       a->probe.digest == b->probe.digest && a->probe.target == b->probe.target &&
		       a->probe.sealed == b->probe.sealed;
	case ACTOR__F_PULL:
		return a->pull.epoch == b->pull.epoch;
	case ACTOR__F_LEAVE:
		return a->leave.node == b->leave.node && a->leave.incarnation == b->leave.incarnation;
	case ACTOR__F_VIEW:
		return same_view(a, b);
	default:
		return a->kind == ACTOR__F_PING;
	}
}

static uint64_t mp_uint(const msgpack_object *o)
{
	REQUIRE(o->type == MSGPACK_OBJECT_POSITIVE_INTEGER);
	return o->via.u64;
}

static int64_t mp_int(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)o->via.u64;
	REQUIRE(o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
	return o->via.i64;
}

/* A str or bin of n bytes, at exactly p unless empty. */
static int mp_raw(const msgpack_object *o, msgpack_object_type type, const void *p, size_t n)
{
	REQUIRE(o->type == type);
	return o->via.bin.size == n && (n == 0 || (const void *)o->via.bin.ptr == p);
}

/*
 * msgpack-c's unpacker, the reference, reads an accepted body as the same
 * fields. Only for accepted bodies: others may make it reserve GiBs.
 */
/* A member's six fields at a, as msgpack-c reads them. */
static void check_member(const msgpack_object *a, const struct actor__wire_member *m)
{
	REQUIRE(mp_uint(&a[0]) == m->node && mp_uint(&a[1]) == m->incarnation);
	REQUIRE(mp_raw(&a[2], MSGPACK_OBJECT_STR, m->name, m->name_len));
	REQUIRE(mp_raw(&a[3], MSGPACK_OBJECT_STR, m->host, m->host_len));
	REQUIRE(mp_uint(&a[4]) == m->port);
	REQUIRE(mp_raw(&a[5], MSGPACK_OBJECT_BIN, m->types_be, 8 * (size_t)m->ntypes));
}

static void check_with_msgpack(const unsigned char *body, size_t len, const struct actor__frame *f)
{
	static const uint32_t arity[] = { 0, 5, 2, 9, 8, 1, 0, 0, 7, 6, 6, 2, 3 };
	const msgpack_object *a;
	msgpack_object o;
	uint32_t want = f->kind == ACTOR__F_VIEW ?
				4 + 6 * f->view.nmembers + 3 * f->view.ndeparted : arity[f->kind];

	msgpack_zone_clear(&zone);
	REQUIRE(msgpack_unpack((const char *)body, len, NULL, &zone, &o) == MSGPACK_UNPACK_SUCCESS);
	REQUIRE(o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == want);
	a = o.via.array.ptr;
	REQUIRE(mp_uint(&a[0]) == f->kind);
	switch (f->kind) {
	case ACTOR__F_HELLO:
		REQUIRE(mp_uint(&a[1]) == f->hello.version && mp_uint(&a[2]) == f->hello.node);
		REQUIRE(mp_raw(&a[3], MSGPACK_OBJECT_STR, f->hello.name, f->hello.name_len));
		REQUIRE(mp_raw(&a[4], MSGPACK_OBJECT_BIN, f->hello.nonce, ACTOR__NONCE_LEN));
		break;
	case ACTOR__F_AUTH:
		REQUIRE(mp_raw(&a[1], MSGPACK_OBJECT_BIN, f->auth.mac, ACTOR__MAC_LEN));
		break;
	case ACTOR__F_MSG:
		REQUIRE(mp_uint(&a[1]) == f->msg.to_id && mp_uint(&a[2]) == f->msg.to_node);
		REQUIRE(mp_uint(&a[3]) == f->msg.from_id && mp_uint(&a[4]) == f->msg.from_node);
		REQUIRE(mp_uint(&a[5]) == f->msg.type && mp_uint(&a[6]) == f->msg.flags);
		REQUIRE(mp_uint(&a[7]) == f->msg.request_id);
		REQUIRE(mp_raw(&a[8], MSGPACK_OBJECT_BIN, f->msg.payload, f->msg.size));
		break;
	case ACTOR__F_SIGNAL:
		REQUIRE(mp_uint(&a[1]) == f->signal.op && mp_uint(&a[2]) == f->signal.to_id);
		REQUIRE(mp_uint(&a[3]) == f->signal.to_node && mp_uint(&a[4]) == f->signal.ref_id);
		REQUIRE(mp_uint(&a[5]) == f->signal.ref_node && mp_int(&a[6]) == f->signal.reason);
		REQUIRE(mp_uint(&a[7]) == f->signal.request_id);
		break;
	case ACTOR__F_JOIN:
		check_member(&a[1], &f->join);
		break;
	case ACTOR__F_PROBE:
	case ACTOR__F_ACK:
		REQUIRE(mp_uint(&a[1]) == f->probe.seq && mp_uint(&a[2]) == f->probe.epoch);
		REQUIRE(mp_uint(&a[3]) == f->probe.digest && mp_uint(&a[4]) == f->probe.target);
		REQUIRE(mp_uint(&a[5]) == f->probe.sealed && f->probe.sealed <= f->probe.epoch);
		break;
	case ACTOR__F_PULL:
		REQUIRE(mp_uint(&a[1]) == f->pull.epoch);
		break;
	case ACTOR__F_LEAVE:
		REQUIRE(mp_uint(&a[1]) == f->leave.node && mp_uint(&a[2]) == f->leave.incarnation);
		break;
	case ACTOR__F_VIEW: {
		const void *c = f->view.members_at;
		size_t k = 3;

		REQUIRE(mp_uint(&a[1]) == f->view.epoch && mp_uint(&a[2]) == f->view.nmembers);
		for (size_t i = 0; i < f->view.nmembers; i++, k += 6) {
			struct actor__wire_member m;

			c = actor__frame_view_member(f, c, &m);
			check_member(&a[k], &m);
		}
		REQUIRE(mp_uint(&a[k++]) == f->view.ndeparted);
		c = f->view.departed_at;
		for (size_t i = 0; i < f->view.ndeparted; i++, k += 3) {
			struct actor__wire_departure d;

			c = actor__frame_view_departure(f, c, &d);
			REQUIRE(mp_uint(&a[k]) == d.node && mp_uint(&a[k + 1]) == d.incarnation &&
				mp_uint(&a[k + 2]) == d.cause);
		}
		break;
	}
	}
}

static void roundtrip(const unsigned char *body, size_t len)
{
	struct actor__frame f, g;
	const char *why = NULL;
	unsigned char *out, *again;
	size_t cap, n;
	int r;

	r = actor__frame_decode(dec, body, len, &f, &why);
	if (r != 0) {
		REQUIRE(r == -EBADMSG || r == -EPROTONOSUPPORT);
		REQUIRE(why != NULL && why[0] != '\0');
		return;
	}
	check_with_msgpack(body, len, &f);
	cap = actor__frame_max(&f);
	out = malloc(cap);
	again = malloc(cap);
	REQUIRE(out != NULL && again != NULL);

	n = actor__frame_encode(&f, out, cap);
	REQUIRE(n > ACTOR__FRAME_PREFIX && n <= cap);
	REQUIRE(actor__frame_body_len(out) == n - ACTOR__FRAME_PREFIX);
	REQUIRE(n - ACTOR__FRAME_PREFIX <= len);
	/* f points into body, so dec can be reused for the copy. */
	REQUIRE(actor__frame_decode(dec, out + ACTOR__FRAME_PREFIX, n - ACTOR__FRAME_PREFIX, &g,
				    &why) == 0);
	REQUIRE(same(&f, &g));
	REQUIRE(actor__frame_encode(&g, again, cap) == n);
	REQUIRE(memcmp(out, again, n) == 0);
	REQUIRE(actor__frame_encode(&g, again, n - 1) == 0);
	free(out);
	free(again);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	size_t off = 0;

	if (dec == NULL) {
		dec = actor__frame_decoder_create();
		REQUIRE(dec != NULL && msgpack_zone_init(&zone, 1024));
	}
	roundtrip(data, size);
	while (size - off >= ACTOR__FRAME_PREFIX) {
		size_t len = actor__frame_body_len(data + off);

		off += ACTOR__FRAME_PREFIX;
		if (len == 0 || len > size - off)
			break;
		roundtrip(data + off, len);
		off += len;
	}
	return 0;
}
