#include <criterion/criterion.h>
#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/leakcheck.h"
#include "cluster/wire.h"
#include "transport/transport.h"

#ifdef ACTOR_TESTS_LSAN
/* ASan's (gcc ships no sanitizer/allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#define MIB (1u << 20)

static struct actor__frame_decoder *d;
static unsigned char *buf;		/* room for a MSG with 1 MiB of payload */
static const size_t buf_cap = ACTOR__MSG_FRAME_MAX(MIB);
static const uint8_t nonce[ACTOR__NONCE_LEN] = "0123456789abcdef0123456789abcdef";

static void setup(void)
{
	d = actor__frame_decoder_create();
	cr_assert_not_null(d);
	buf = malloc(buf_cap);
	cr_assert_not_null(buf);
}

static void teardown(void)
{
	actor__frame_decoder_destroy(d);
	free(buf);
	assert_no_leaks();
}

TestSuite(frame, .init = setup, .fini = teardown);

/* Encodes f into buf, checks the prefix, decodes the body into *out. */
static size_t roundtrip(const struct actor__frame *f, struct actor__frame *out)
{
	const char *why = "unset";
	size_t n = actor__frame_encode(f, buf, buf_cap);

	cr_assert_gt(n, ACTOR__FRAME_PREFIX, "kind %u encodes", f->kind);
	cr_assert_eq(actor__frame_body_len(buf), n - ACTOR__FRAME_PREFIX);
	memset(out, 0xa5, sizeof(*out));
	cr_assert_eq(actor__frame_decode(d, buf + ACTOR__FRAME_PREFIX, n - ACTOR__FRAME_PREFIX, out,
					 &why),
		     0, "kind %u decodes: %s", f->kind, why);
	cr_assert_eq(out->kind, f->kind);
	return n;
}

static struct actor__frame hello(uint32_t node, const char *name, size_t name_len)
{
	struct actor__frame f = { .kind = ACTOR__F_HELLO };

	f.hello.version = ACTOR__PROTO_VERSION;
	f.hello.node = node;
	f.hello.name = name;
	f.hello.name_len = name_len;
	f.hello.nonce = nonce;
	return f;
}

static struct actor__frame msg(uint64_t id, uint32_t node, uint32_t flags, const void *p, size_t size)
{
	struct actor__frame f = { .kind = ACTOR__F_MSG };

	f.msg.to_id = id;
	f.msg.to_node = node;
	f.msg.from_id = ~id;
	f.msg.from_node = ~node;
	f.msg.type = node ^ 0x5a5a5a5a;
	f.msg.flags = flags;
	f.msg.request_id = node;
	f.msg.payload = p;
	f.msg.size = size;
	return f;
}

static struct actor__frame signal_(uint32_t op, uint64_t id, uint32_t node, int32_t reason)
{
	struct actor__frame f = { .kind = ACTOR__F_SIGNAL };

	f.signal.op = op;
	f.signal.to_id = id;
	f.signal.to_node = node;
	f.signal.ref_id = ~id;
	f.signal.ref_node = ~node;
	f.signal.reason = reason;
	f.signal.request_id = ~node;
	return f;
}

static struct actor__frame virt(uint32_t flags, const char *name, size_t name_len,
				 const void *key, size_t key_len, const void *p, size_t size)
{
	struct actor__frame f = { .kind = ACTOR__F_VIRTUAL };

	f.virt.epoch = UINT64_MAX - 1;
	f.virt.hops = 2;
	f.virt.name = name;
	f.virt.name_len = name_len;
	f.virt.key = key;
	f.virt.key_len = key_len;
	f.virt.from_id = 0x123456789aull;
	f.virt.from_node = 0xfffffffe;
	f.virt.type = 77;
	f.virt.flags = flags;
	f.virt.request_id = flags & ACTOR__WIRE_REQUEST ? 9 : 0;
	f.virt.payload = p;
	f.virt.size = size;
	return f;
}

/* --- round trips --------------------------------------------------------- */

Test(frame, virtual_roundtrip)
{
	static char name[ACTOR__VTYPE_NAME_MAX], key[ACTOR__VKEY_MAX], payload[300];
	struct actor__frame f, g;

	memset(name, 'T', sizeof name);
	memset(key, 0, sizeof key);
	key[7] = 7;
	memset(payload, 'p', sizeof payload);
	for (uint32_t flags = 0; flags <= ACTOR__WIRE_VFLAGS; flags++) {
		f = virt(flags, name, sizeof name, key, sizeof key, payload, sizeof payload);
		cr_assert_leq(roundtrip(&f, &g), ACTOR__VMSG_FRAME_MAX(sizeof payload));
		cr_assert_eq(g.virt.epoch, f.virt.epoch);
		cr_assert_eq(g.virt.hops, 2);
		cr_assert_eq(g.virt.name_len, sizeof name);
		cr_assert_eq(memcmp(g.virt.name, name, sizeof name), 0);
		cr_assert_eq(g.virt.key_len, sizeof key);
		cr_assert_eq(memcmp(g.virt.key, key, sizeof key), 0);
		cr_assert_eq(g.virt.from_id, f.virt.from_id);
		cr_assert_eq(g.virt.from_node, f.virt.from_node);
		cr_assert_eq(g.virt.type, 77);
		cr_assert_eq(g.virt.flags, flags);
		cr_assert_eq(g.virt.request_id, f.virt.request_id);
		cr_assert_eq(g.virt.size, sizeof payload);
		cr_assert_eq(memcmp(g.virt.payload, payload, sizeof payload), 0);
	}
	/* The empty key and payload. */
	f = virt(0, "t", 1, NULL, 0, NULL, 0);
	roundtrip(&f, &g);
	cr_assert_eq(g.virt.key_len, 0);
	cr_assert_eq(g.virt.size, 0);
}

Test(frame, hello_roundtrip)
{
	char name[ACTOR__NODE_NAME_MAX];
	const size_t lens[] = { 1, 31, 32, ACTOR__NODE_NAME_MAX };
	const uint32_t nodes[] = { 1, 127, 128, 65536, UINT32_MAX - 1 };
	struct actor__frame f, g;

	memset(name, 'n', sizeof(name));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t j = 0; j < sizeof(nodes) / sizeof(nodes[0]); j++) {
			f = hello(nodes[j], name, lens[i]);
			cr_assert_leq(roundtrip(&f, &g), ACTOR__CTRL_FRAME_MAX);
			cr_assert_eq(g.hello.version, ACTOR__PROTO_VERSION);
			cr_assert_eq(g.hello.node, nodes[j]);
			cr_assert_eq(g.hello.name_len, lens[i]);
			cr_assert_arr_eq(g.hello.name, name, lens[i]);
			cr_assert_arr_eq(g.hello.nonce, nonce, ACTOR__NONCE_LEN);
			/* Pointers into the body, not copies. */
			cr_assert(g.hello.nonce > buf && g.hello.nonce < buf + buf_cap);
		}
	}
}

Test(frame, auth_roundtrip)
{
	struct actor__frame f = { .kind = ACTOR__F_AUTH }, g;

	f.auth.mac = nonce;
	cr_assert_leq(roundtrip(&f, &g), ACTOR__CTRL_FRAME_MAX);
	cr_assert_arr_eq(g.auth.mac, nonce, ACTOR__MAC_LEN);
}

Test(frame, ping_roundtrip)
{
	struct actor__frame f = { .kind = ACTOR__F_PING }, g;
	const unsigned char want[] = { 0, 0, 0, 2, 0x91, 0x05 };

	cr_assert_eq(roundtrip(&f, &g), sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));
}

Test(frame, msg_roundtrip_edge_values)
{
	/* Values on both sides of every msgpack integer width. */
	const uint64_t ids[] = { 0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
				 (uint64_t)UINT32_MAX + 1, UINT64_MAX };
	struct actor__frame f, g;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		for (uint32_t flags = 0; flags <= ACTOR__WIRE_FLAGS; flags++) {
			f = msg(ids[i], (uint32_t)ids[i], flags, NULL, 0);
			cr_assert_leq(roundtrip(&f, &g), ACTOR__MSG_FRAME_MAX(0));
			cr_assert_eq(g.msg.to_id, f.msg.to_id);
			cr_assert_eq(g.msg.to_node, f.msg.to_node);
			cr_assert_eq(g.msg.from_id, f.msg.from_id);
			cr_assert_eq(g.msg.from_node, f.msg.from_node);
			cr_assert_eq(g.msg.type, f.msg.type);
			cr_assert_eq(g.msg.flags, flags);
			cr_assert_eq(g.msg.request_id, f.msg.request_id);
			cr_assert_eq(g.msg.size, 0);
		}
	}
}

Test(frame, msg_roundtrip_payloads)
{
	const size_t sizes[] = { 1, 255, 256, 65535, 65536, MIB };
	unsigned char *p = malloc(MIB);
	struct actor__frame f, g;

	cr_assert_not_null(p);
	for (size_t i = 0; i < MIB; i++)
		p[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		f = msg(UINT64_MAX, UINT32_MAX, ACTOR__WIRE_FLAGS, p, sizes[i]);
		cr_assert_leq(roundtrip(&f, &g), ACTOR__MSG_FRAME_MAX(sizes[i]));
		cr_assert_eq(g.msg.size, sizes[i]);
		cr_assert_eq(memcmp(g.msg.payload, p, sizes[i]), 0);
	}
	free(p);
}

Test(frame, signal_roundtrip)
{
	const int32_t reasons[] = { INT32_MIN, -129, -33, -32, -1, 0, 127, 128, INT32_MAX,
				    -ECONNRESET, 0x7fff0001, 0x7fff0004 };
	struct actor__frame f, g;

	for (uint32_t op = ACTOR__SIG_EXIT; op <= ACTOR__SIG_MAX; op++) {
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
			f = signal_(op, UINT64_MAX - i, UINT32_MAX - (uint32_t)i, reasons[i]);
			cr_assert_leq(roundtrip(&f, &g), ACTOR__CTRL_FRAME_MAX);
			cr_assert_eq(g.signal.op, op);
			cr_assert_eq(g.signal.to_id, f.signal.to_id);
			cr_assert_eq(g.signal.to_node, f.signal.to_node);
			cr_assert_eq(g.signal.ref_id, f.signal.ref_id);
			cr_assert_eq(g.signal.ref_node, f.signal.ref_node);
			cr_assert_eq(g.signal.reason, reasons[i]);
			cr_assert_eq(g.signal.request_id, f.signal.request_id);
		}
	}
}

/* --- encoding limits ----------------------------------------------------- */

/* Every cap below the frame's size fails and writes nothing past cap. */
static void check_too_small(const struct actor__frame *f)
{
	size_t n = actor__frame_encode(f, buf, buf_cap);

	cr_assert_gt(n, 0);
	for (size_t cap = 0; cap < n; cap++) {
		memset(buf, 0xee, n + 1);
		cr_assert_eq(actor__frame_encode(f, buf, cap), 0, "kind %u, cap %zu", f->kind, cap);
		for (size_t i = cap; i <= n; i++)
			cr_assert_eq(buf[i], 0xee, "kind %u, cap %zu: byte %zu written", f->kind, cap,
				     i);
	}
	cr_assert_eq(actor__frame_encode(f, buf, n), n);
}

Test(frame, encode_into_too_small_buffers)
{
	static const unsigned char payload[300];
	struct actor__frame f = hello(7, "node", 4), a = { .kind = ACTOR__F_AUTH },
			    p = { .kind = ACTOR__F_PING };

	check_too_small(&f);
	a.auth.mac = nonce;
	check_too_small(&a);
	check_too_small(&p);
	f = msg(UINT64_MAX, UINT32_MAX, 0, payload, sizeof(payload));
	check_too_small(&f);
	f = msg(1, 1, 0, NULL, 0);
	check_too_small(&f);
	f = signal_(ACTOR__SIG_DOWN, UINT64_MAX, UINT32_MAX, INT32_MIN);
	check_too_small(&f);
}

Test(frame, encode_refuses_invalid_frames)
{
	char name[ACTOR__VKEY_MAX + 1];
	struct actor__frame f = { .kind = 0 };

	memset(name, 'n', sizeof(name));
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "kind 0");
	f.kind = ACTOR__F_LEAVE + 1;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "kind 13");
	f = virt(0, "t", 1, NULL, 0, NULL, 0);
	f.virt.hops = ACTOR__WIRE_HOPS_MAX + 1;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "VIRTUAL: 3 hops");
	f = virt(0, "t", 0, NULL, 0, NULL, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "VIRTUAL: empty type name");
	f = virt(0, "t", 1, name, ACTOR__VKEY_MAX + 1, NULL, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "VIRTUAL: key too long");
	f = virt(ACTOR__WIRE_REPLY, "t", 1, NULL, 0, NULL, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "VIRTUAL: REPLY");
	f = hello(7, name, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "empty name");
	f = hello(7, name, ACTOR__NODE_NAME_MAX + 1);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "name of 256 bytes");
	f = hello(0, name, 4);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "node 0");
	f = msg(1, 1, ACTOR__WIRE_FLAGS + 1, NULL, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "unknown flag");
	f = signal_(0, 1, 1, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "op 0");
	f = signal_(ACTOR__SIG_MAX + 1, 1, 1, 0);
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "op past the last");
}

/* --- malformed bodies ---------------------------------------------------- */

static int decode(const void *body, size_t len, const char **why)
{
	struct actor__frame f;

	*why = NULL;
	return actor__frame_decode(d, body, len, &f, why);
}

Test(frame, truncated_at_every_offset)
{
	static const unsigned char payload[40];
	char name[ACTOR__NODE_NAME_MAX];
	struct actor__frame fs[] = {
		hello(UINT32_MAX - 1, name, sizeof(name)),
		{ .kind = ACTOR__F_AUTH, .auth.mac = nonce },
		msg(UINT64_MAX, UINT32_MAX, ACTOR__WIRE_REQUEST, payload, sizeof(payload)),
		msg(1, 1, 0, NULL, 0),
		signal_(ACTOR__SIG_EXIT, UINT64_MAX, UINT32_MAX, INT32_MIN),
		{ .kind = ACTOR__F_PING },
	};
	const char *why;

	memset(name, 'n', sizeof(name));
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		size_t n = actor__frame_encode(&fs[i], buf, buf_cap) - ACTOR__FRAME_PREFIX;

		/* A copy of exactly len bytes, so that ASan sees any overread. */
		for (size_t len = 0; len < n; len++) {
			unsigned char *body = malloc(len + 1);

			memcpy(body, buf + ACTOR__FRAME_PREFIX, len);
			cr_assert_eq(decode(body, len, &why), -EBADMSG, "kind %u cut at %zu",
				     fs[i].kind, len);
			cr_assert_not_null(why);
			free(body);
		}
		cr_assert_eq(decode(buf + ACTOR__FRAME_PREFIX, n, &why), 0, "kind %u whole: %s",
			     fs[i].kind, why);
	}
}

#define RAW(...) (const unsigned char[]){ __VA_ARGS__ }, sizeof((const unsigned char[]){ __VA_ARGS__ })

static const struct {
	const char *what;
	const unsigned char *body;
	size_t len;
	const char *why;
} raw_cases[] = {
	{ "a bare int", RAW(0x05), "body is not an array" },
	{ "a map", RAW(0x81, 0x05, 0x05), "body is not an array" },
	{ "nil", RAW(0xc0), "body is not an array" },
	{ "array16 cut in its header", RAW(0xdc, 0x00), "truncated array header" },
	{ "array32 cut in its header", RAW(0xdd, 0x00, 0x00, 0x00), "truncated array header" },
	{ "empty fixarray", RAW(0x90), "empty array" },
	{ "empty array32", RAW(0xdd, 0, 0, 0, 0), "empty array" },
	{ "fixarray of 12", RAW(0x9c, 3, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0, 0, 0, 0),
	  "array too long for any frame" },
	{ "array16 of 12", RAW(0xdc, 0, 12, 3, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0, 0, 0, 0),
	  "array too long for any frame" },
	{ "array32 of 2^28", RAW(0xdd, 0x10, 0, 0, 0, 0x05), "array too long for any frame" },
	{ "array32 of 2^32-1", RAW(0xdd, 0xff, 0xff, 0xff, 0xff), "array too long for any frame" },
	{ "map32 of 2^28", RAW(0xdf, 0x10, 0, 0, 0, 0x05, 0x05), "body is not an array" },
	{ "nested array32 of 2^28", RAW(0x92, 0x03, 0xdd, 0x10, 0, 0, 0), "nested array or map" },
	{ "nested map32 of 2^28", RAW(0x92, 0x03, 0xdf, 0x10, 0, 0, 0), "nested array or map" },
	{ "nested fixarray", RAW(0x92, 0x05, 0x91, 0x05), "nested array or map" },
	{ "nested fixmap", RAW(0x92, 0x05, 0x80), "nested array or map" },
	{ "nested array16", RAW(0x92, 0x05, 0xdc, 0, 0), "nested array or map" },
	{ "nested map16", RAW(0x92, 0x05, 0xde, 0, 0), "nested array or map" },
	{ "nil element", RAW(0x92, 0x05, 0xc0), "nil, bool, float or ext element" },
	{ "never-used byte", RAW(0x92, 0x05, 0xc1), "nil, bool, float or ext element" },
	{ "false element", RAW(0x92, 0x05, 0xc2), "nil, bool, float or ext element" },
	{ "true element", RAW(0x92, 0x05, 0xc3), "nil, bool, float or ext element" },
	{ "float32", RAW(0x92, 0x05, 0xca, 0, 0, 0, 0), "nil, bool, float or ext element" },
	{ "float64", RAW(0x92, 0x05, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0),
	  "nil, bool, float or ext element" },
	{ "fixext1", RAW(0x92, 0x05, 0xd4, 1, 0), "nil, bool, float or ext element" },
	{ "fixext16", RAW(0x92, 0x05, 0xd8, 1, 0), "nil, bool, float or ext element" },
	{ "ext8", RAW(0x92, 0x05, 0xc7, 0, 1), "nil, bool, float or ext element" },
	{ "ext32", RAW(0x92, 0x05, 0xc9, 0xff, 0xff, 0xff, 0xff, 1),
	  "nil, bool, float or ext element" },
	{ "kind as nil", RAW(0x91, 0xc0), "nil, bool, float or ext element" },
	{ "bin8 past the end", RAW(0x92, 0x02, 0xc4, 0x20, 0), "truncated" },
	{ "bin32 of 2^32-1", RAW(0x92, 0x02, 0xc6, 0xff, 0xff, 0xff, 0xff), "truncated" },
	{ "str32 of 2^28", RAW(0x92, 0x02, 0xdb, 0x10, 0, 0, 0, 'x'), "truncated" },
	{ "str8 cut in its header", RAW(0x92, 0x02, 0xd9), "truncated" },
	{ "uint64 cut", RAW(0x92, 0x02, 0xcf, 0, 0, 0), "truncated" },
	{ "fewer elements than announced", RAW(0x93, 0x05, 0x05), "truncated" },
	{ "a trailing byte", RAW(0x91, 0x05, 0x00), "trailing bytes after the array" },
	{ "a second frame", RAW(0x91, 0x05, 0x91, 0x05), "trailing bytes after the array" },
	{ "kind 0", RAW(0x91, 0x00), "unknown frame kind" },
	{ "kind 13", RAW(0x91, 0x0d), "unknown frame kind" },
	{ "VIRTUAL of 1 element", RAW(0x91, 0x06), "VIRTUAL: not 11 elements" },
	{ "VIRTUAL with 3 hops",
	  RAW(0x9b, 6, 0, 3, 0xa1, 't', 0xc4, 0, 0, 0, 0, 0, 0, 0xc4, 0),
	  "VIRTUAL: hops is not 0..2" },
	{ "VIRTUAL with an empty type name",
	  RAW(0x9b, 6, 0, 0, 0xa0, 0xc4, 0, 0, 0, 0, 0, 0, 0xc4, 0),
	  "VIRTUAL: type name is not 1..255 bytes" },
	{ "VIRTUAL with the type name as bin",
	  RAW(0x9b, 6, 0, 0, 0xc4, 1, 't', 0xc4, 0, 0, 0, 0, 0, 0, 0xc4, 0),
	  "VIRTUAL: type name is not a str" },
	{ "VIRTUAL with the key as str",
	  RAW(0x9b, 6, 0, 0, 0xa1, 't', 0xa0, 0, 0, 0, 0, 0, 0xc4, 0),
	  "VIRTUAL: key is not a bin" },
	{ "VIRTUAL with REPLY",
	  RAW(0x9b, 6, 0, 0, 0xa1, 't', 0xc4, 0, 0, 0, 0, 4, 0, 0xc4, 0),
	  "VIRTUAL: flags has unknown bits" },
	{ "kind 2^64-1", RAW(0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	  "unknown frame kind" },
	{ "kind 2^32+5", RAW(0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 5), "unknown frame kind" },
	{ "kind -1", RAW(0x91, 0xff), "kind is not a uint" },
	{ "kind as str", RAW(0x91, 0xa1, '5'), "kind is not a uint" },
	{ "kind as bin", RAW(0x91, 0xc4, 1, 5), "kind is not a uint" },
	{ "PING with an argument", RAW(0x92, 0x05, 0x00), "PING: not 1 element" },
	{ "AUTH without mac", RAW(0x91, 0x02), "AUTH: not 2 elements" },
	{ "HELLO of 1 element", RAW(0x91, 0x01), "HELLO: not 5 elements" },
	{ "MSG of 1 element", RAW(0x91, 0x03), "MSG: not 9 elements" },
	{ "SIGNAL of 9", RAW(0x99, 4, 1, 1, 1, 1, 1, 0, 0, 0), "SIGNAL: not 8 elements" },
};

Test(frame, malformed_raw_bodies)
{
	const char *why;

	for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		/* A copy of exactly len bytes, so that ASan sees any overread. */
		unsigned char *body = malloc(raw_cases[i].len);

		memcpy(body, raw_cases[i].body, raw_cases[i].len);
		cr_assert_eq(decode(body, raw_cases[i].len, &why), -EBADMSG, "%s", raw_cases[i].what);
		cr_assert_str_eq(why, raw_cases[i].why, "%s", raw_cases[i].what);
		free(body);
	}
	cr_assert_eq(decode(buf, 0, &why), -EBADMSG, "empty body");
	cr_assert_str_eq(why, "empty body");
}

/*
 * Frames built element by element with msgpack-c, to put each wrong type
 * or out-of-range value in each field.
 */
struct el {
	char t;			/* u: uint, i: int, s: str, b: bin; 0 ends */
	uint64_t u;
	int64_t i;
	size_t len;		/* of s and b */
};

#define U(x) { 'u', .u = (x) }
#define I(x) { 'i', .i = (x) }
#define S(n) { 's', .len = (n) }
#define B(n) { 'b', .len = (n) }
#define FIELDS 10
#define U32_OVER ((uint64_t)UINT32_MAX + 1)

static size_t build(const struct el *els, unsigned char *out, size_t cap)
{
	static const char fill[300];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;

	while (n < FIELDS && els[n].t != 0)
		n++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		switch (els[i].t) {
		case 'u':
			msgpack_pack_uint64(&pk, els[i].u);
			break;
		case 'i':
			msgpack_pack_int64(&pk, els[i].i);
			break;
		case 's':
			msgpack_pack_str_with_body(&pk, fill, els[i].len);
			break;
		case 'b':
			msgpack_pack_bin_with_body(&pk, fill, els[i].len);
			break;
		}
	}
	cr_assert_leq(sb.size, cap);
	memcpy(out, sb.data, sb.size);
	n = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return n;
}

#define MSG_OK U(3), U(1), U(2), U(3), U(4), U(5), U(0), U(6), B(0)
#define SIG_OK U(4), U(1), U(1), U(2), U(3), U(4), I(-1), U(5)
#define HELLO_OK U(1), U(2), U(7), S(4), B(32)

static const struct {
	const char *what;
	struct el els[FIELDS];
	int err;
	const char *why;
} field_cases[] = {
	{ "valid MSG", { MSG_OK }, 0, NULL },
	{ "valid SIGNAL", { SIG_OK }, 0, NULL },
	{ "valid HELLO", { HELLO_OK }, 0, NULL },
	{ "valid AUTH", { U(2), B(32) }, 0, NULL },
	{ "MSG: to_id -1", { U(3), I(-1), U(2), U(3), U(4), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: to_id is not a uint64" },
	{ "MSG: to_id str", { U(3), S(1), U(2), U(3), U(4), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: to_id is not a uint64" },
	{ "MSG: to_node 2^32", { U(3), U(1), U(U32_OVER), U(3), U(4), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: to_node is not a uint32" },
	{ "MSG: to_node -1", { U(3), U(1), I(-1), U(3), U(4), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: to_node is not a uint32" },
	{ "MSG: from_id bin", { U(3), U(1), U(2), B(8), U(4), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: from_id is not a uint64" },
	{ "MSG: from_node 2^64-1", { U(3), U(1), U(2), U(3), U(UINT64_MAX), U(5), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: from_node is not a uint32" },
	{ "MSG: type 2^32", { U(3), U(1), U(2), U(3), U(4), U(U32_OVER), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: type is not a uint32" },
	{ "MSG: type -2^63", { U(3), U(1), U(2), U(3), U(4), I(INT64_MIN), U(0), U(6), B(0) },
	  -EBADMSG, "MSG: type is not a uint32" },
	{ "MSG: flags 8", { U(3), U(1), U(2), U(3), U(4), U(5), U(8), U(6), B(0) },
	  -EBADMSG, "MSG: flags has unknown bits" },
	{ "MSG: flags 2^32+1", { U(3), U(1), U(2), U(3), U(4), U(5), U(U32_OVER + 1), U(6), B(0) },
	  -EBADMSG, "MSG: flags has unknown bits" },
	{ "MSG: flags -1", { U(3), U(1), U(2), U(3), U(4), U(5), I(-1), U(6), B(0) },
	  -EBADMSG, "MSG: flags is not a uint" },
	{ "MSG: request_id 2^32", { U(3), U(1), U(2), U(3), U(4), U(5), U(0), U(U32_OVER), B(0) },
	  -EBADMSG, "MSG: request_id is not a uint32" },
	{ "MSG: payload str", { U(3), U(1), U(2), U(3), U(4), U(5), U(0), U(6), S(0) },
	  -EBADMSG, "MSG: payload is not a bin" },
	{ "MSG: payload int", { U(3), U(1), U(2), U(3), U(4), U(5), U(0), U(6), U(0) },
	  -EBADMSG, "MSG: payload is not a bin" },
	{ "MSG: 8 elements", { U(3), U(1), U(2), U(3), U(4), U(5), U(0), U(6) },
	  -EBADMSG, "MSG: not 9 elements" },
	{ "SIGNAL: op 0", { U(4), U(0), U(1), U(2), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: unknown op" },
	{ "SIGNAL: op 10", { U(4), U(ACTOR__SIG_MAX + 1), U(1), U(2), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: unknown op" },
	{ "SIGNAL: op 2^32+1", { U(4), U(U32_OVER + 1), U(1), U(2), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: unknown op" },
	{ "SIGNAL: op -1", { U(4), I(-1), U(1), U(2), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: op is not a uint" },
	{ "SIGNAL: to_id -1", { U(4), U(1), I(-1), U(2), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: to_id is not a uint64" },
	{ "SIGNAL: to_node 2^32", { U(4), U(1), U(1), U(U32_OVER), U(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: to_node is not a uint32" },
	{ "SIGNAL: ref_id str", { U(4), U(1), U(1), U(2), S(3), U(4), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: ref_id is not a uint64" },
	{ "SIGNAL: ref_node 2^32", { U(4), U(1), U(1), U(2), U(3), U(U32_OVER), I(-1), U(5) },
	  -EBADMSG, "SIGNAL: ref_node is not a uint32" },
	{ "SIGNAL: reason 2^31", { U(4), U(1), U(1), U(2), U(3), U(4), U(1u << 31), U(5) },
	  -EBADMSG, "SIGNAL: reason is not an int32" },
	{ "SIGNAL: reason -2^31-1", { U(4), U(1), U(1), U(2), U(3), U(4), I((int64_t)INT32_MIN - 1), U(5) },
	  -EBADMSG, "SIGNAL: reason is not an int32" },
	{ "SIGNAL: reason bin", { U(4), U(1), U(1), U(2), U(3), U(4), B(4), U(5) },
	  -EBADMSG, "SIGNAL: reason is not an int32" },
	{ "SIGNAL: request_id -1", { U(4), U(1), U(1), U(2), U(3), U(4), I(-1), I(-1) },
	  -EBADMSG, "SIGNAL: request_id is not a uint32" },
	{ "HELLO: version 1 (an old node)", { U(1), U(1), U(7), S(4), B(32) },
	  -EPROTONOSUPPORT, "HELLO: unsupported protocol version" },
	{ "HELLO: version 3", { U(1), U(3), U(7), S(4), B(32) },
	  -EPROTONOSUPPORT, "HELLO: unsupported protocol version" },
	{ "HELLO: version 0", { U(1), U(0), U(7), S(4), B(32) },
	  -EPROTONOSUPPORT, "HELLO: unsupported protocol version" },
	{ "HELLO: version 2^40", { U(1), U(1ull << 40), U(7), S(4), B(32) },
	  -EPROTONOSUPPORT, "HELLO: unsupported protocol version" },
	{ "HELLO: version 3, other shape", { U(1), U(3), S(10) },
	  -EPROTONOSUPPORT, "HELLO: unsupported protocol version" },
	{ "HELLO: version -1", { U(1), I(-1), U(7), S(4), B(32) },
	  -EBADMSG, "HELLO: version is not a uint" },
	{ "HELLO: version str", { U(1), S(1), U(7), S(4), B(32) },
	  -EBADMSG, "HELLO: version is not a uint" },
	{ "HELLO: version 2, 6 elements", { HELLO_OK, U(0) }, -EBADMSG, "HELLO: not 5 elements" },
	{ "HELLO: node 0", { U(1), U(2), U(0), S(4), B(32) }, -EBADMSG, "HELLO: node is 0 or 0xffffffff" },
	/* 0xffffffff marks virtual references: no node has it. */
	{ "HELLO: node 0xffffffff", { U(1), U(2), U(0xffffffff), S(4), B(32) }, -EBADMSG,
	  "HELLO: node is 0 or 0xffffffff" },
	{ "HELLO: node 2^32", { U(1), U(2), U(U32_OVER), S(4), B(32) },
	  -EBADMSG, "HELLO: node is not a uint32" },
	{ "HELLO: node -1", { U(1), U(2), I(-1), S(4), B(32) },
	  -EBADMSG, "HELLO: node is not a uint32" },
	{ "HELLO: name bin", { U(1), U(2), U(7), B(4), B(32) },
	  -EBADMSG, "HELLO: name is not a str" },
	{ "HELLO: name empty", { U(1), U(2), U(7), S(0), B(32) },
	  -EBADMSG, "HELLO: name is not 1..255 bytes" },
	{ "HELLO: name 256 bytes", { U(1), U(2), U(7), S(256), B(32) },
	  -EBADMSG, "HELLO: name is not 1..255 bytes" },
	{ "HELLO: nonce 31 bytes", { U(1), U(2), U(7), S(4), B(31) },
	  -EBADMSG, "HELLO: nonce is not a bin of 32 bytes" },
	{ "HELLO: nonce 33 bytes", { U(1), U(2), U(7), S(4), B(33) },
	  -EBADMSG, "HELLO: nonce is not a bin of 32 bytes" },
	{ "HELLO: nonce str", { U(1), U(2), U(7), S(4), S(32) },
	  -EBADMSG, "HELLO: nonce is not a bin of 32 bytes" },
	{ "AUTH: mac 31 bytes", { U(2), B(31) }, -EBADMSG, "AUTH: mac is not a bin of 32 bytes" },
	{ "AUTH: mac 33 bytes", { U(2), B(33) }, -EBADMSG, "AUTH: mac is not a bin of 32 bytes" },
	{ "AUTH: mac str", { U(2), S(32) }, -EBADMSG, "AUTH: mac is not a bin of 32 bytes" },
	{ "AUTH: mac int", { U(2), U(32) }, -EBADMSG, "AUTH: mac is not a bin of 32 bytes" },
	{ "AUTH: 3 elements", { U(2), B(32), B(32) }, -EBADMSG, "AUTH: not 2 elements" },
};

Test(frame, wrong_field_types_and_ranges)
{
	unsigned char body[512];
	const char *why;

	for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
		size_t n = build(field_cases[i].els, body, sizeof(body));

		cr_assert_eq(decode(body, n, &why), field_cases[i].err, "%s: %s",
			     field_cases[i].what, why ? why : "ok");
		if (field_cases[i].why != NULL)
			cr_assert_str_eq(why, field_cases[i].why, "%s", field_cases[i].what);
	}
}

/* Integers need not be in their shortest form, nor unsigned when >= 0. */
Test(frame, accepts_any_integer_encoding)
{
	const unsigned char body[] = {
		0x99, 0xcc, 0x03,		/* kind as uint8 */
		0xcf, 0, 0, 0, 0, 0, 0, 0, 0x05, /* to_id as uint64 */
		0xd0, 0x06,			/* to_node as a positive int8 */
		0xd3, 0, 0, 0, 0, 0, 0, 0, 0x07, /* from_id as int64 */
		0xce, 0, 0, 0, 0x08,		/* from_node as uint32 */
		0xcd, 0, 0x09,			/* type as uint16 */
		0xd1, 0, 0x02,			/* flags as int16 */
		0xd2, 0, 0, 0, 0x0a,		/* request_id as int32 */
		0xc6, 0, 0, 0, 1, 'x',		/* payload as bin32 */
	};
	struct actor__frame f;
	const char *why;

	cr_assert_eq(actor__frame_decode(d, body, sizeof(body), &f, &why), 0, "%s", why);
	cr_assert_eq(f.kind, ACTOR__F_MSG);
	cr_assert_eq(f.msg.to_id, 5);
	cr_assert_eq(f.msg.to_node, 6);
	cr_assert_eq(f.msg.from_id, 7);
	cr_assert_eq(f.msg.from_node, 8);
	cr_assert_eq(f.msg.type, 9);
	cr_assert_eq(f.msg.flags, ACTOR__WIRE_REQUEST);
	cr_assert_eq(f.msg.request_id, 10);
	cr_assert_eq(f.msg.size, 1);
	cr_assert_eq(*(const char *)f.msg.payload, 'x');
}

static size_t allocated(void)
{
#ifdef ACTOR_TESTS_LSAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
#endif
}

/*
 * Headers that claim 2^28 elements or bytes (msgpack-c's unpacker would
 * reserve GiBs for some) are refused without the decoder allocating
 * anything. Without ASan, which needs its terabytes of address space, a
 * tight RLIMIT_AS also catches what is freed before decode returns.
 */
Test(frame, huge_headers_do_not_allocate)
{
	static const unsigned char ping[] = { 0x91, 0x05 };
	static const unsigned char bodies[][8] = {
		{ 0xdd, 0x10, 0, 0, 0, 0x05, 0x05, 0x05 },	/* array32 */
		{ 0xdf, 0x10, 0, 0, 0, 0x05, 0x05, 0x05 },	/* map32 */
		{ 0x92, 0x03, 0xdd, 0x10, 0, 0, 0, 0x05 },	/* nested array32 */
		{ 0x92, 0x03, 0xdf, 0x10, 0, 0, 0, 0x05 },	/* nested map32 */
		{ 0x92, 0x03, 0xdb, 0x10, 0, 0, 0, 0x05 },	/* str32 */
		{ 0x92, 0x03, 0xc6, 0x10, 0, 0, 0, 0x05 },	/* bin32 */
		{ 0x92, 0x03, 0xc9, 0x10, 0, 0, 0, 0x05 },	/* ext32 */
	};
	const char *why;
	size_t before;

#ifndef ACTOR_TESTS_LSAN
	unsigned long pages;
	FILE *statm = fopen("/proc/self/statm", "r");

	cr_assert_not_null(statm);
	cr_assert_eq(fscanf(statm, "%lu", &pages), 1);
	fclose(statm);
	/* Criterion runs each test in a process of its own. */
	cr_assert_eq(setrlimit(RLIMIT_AS, &(struct rlimit){
					   .rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + 64 * MIB,
					   .rlim_max = RLIM_INFINITY,
				   }),
		     0);
#endif
	/* The zone's first chunk may be allocated by the first decode. */
	cr_assert_eq(decode(ping, sizeof(ping), &why), 0);
	before = allocated();
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		cr_assert_eq(decode(bodies[i], sizeof(bodies[i]), &why), -EBADMSG, "body %zu: %s", i,
			     why);
		cr_assert_lt(allocated(), before + 4096, "body %zu: %zu bytes allocated", i,
			     allocated() - before);
	}
}

Test(frame, decoder_is_reusable_after_errors)
{
	static const unsigned char bad[] = { 0x92, 0x05, 0xc0 };
	struct actor__frame f = msg(42, 7, ACTOR__WIRE_REPLY, "hi", 2), g;
	const char *why;

	for (int i = 0; i < 100; i++) {
		cr_assert_eq(decode(bad, sizeof(bad), &why), -EBADMSG);
		roundtrip(&f, &g);
		cr_assert_eq(g.msg.to_id, 42);
		cr_assert_eq(g.msg.size, 2);
	}
}

/* --- membership (VIEW, JOIN, PROBE, ACK, PULL, LEAVE) ---------------------- */

/* Member i of a test view: node 10 * (i + 1), i % 65 types. */
static uint64_t test_types[64];

static struct actor__wire_member test_member(size_t i, char *name, char *host)
{
	sprintf(name, "m%zu", i);
	sprintf(host, i % 3 == 2 ? "" : "10.0.%zu.%zu", i / 256, i % 256);
	return (struct actor__wire_member){
		.node = (uint32_t)(10 * (i + 1)), .incarnation = (uint32_t)(i % 4 + 1),
		.port = i % 3 == 2 ? 0 : (uint16_t)(4000 + i), .name = name,
		.name_len = strlen(name), .host = host, .host_len = strlen(host),
		.ntypes = (uint32_t)(i % 65), .types = test_types,
	};
}

static void check_view(size_t nmembers, size_t ndeparted)
{
	static char names[ACTOR__VIEW_MEMBERS_MAX][16], hosts[ACTOR__VIEW_MEMBERS_MAX][32];
	static struct actor__wire_member ms[ACTOR__VIEW_MEMBERS_MAX];
	static struct actor__wire_departure ds[ACTOR__VIEW_DEPARTED_MAX];
	struct actor__frame f = { .kind = ACTOR__F_VIEW }, g;
	size_t need, n;
	const void *c;
	unsigned char *big;

	for (size_t i = 0; i < 64; i++)
		test_types[i] = 0x0102030405060708ull * (i + 1);
	for (size_t i = 0; i < nmembers; i++)
		ms[i] = test_member(i, names[i], hosts[i]);
	for (size_t i = 0; i < ndeparted; i++)
		ds[i] = (struct actor__wire_departure){ (uint32_t)(7 + 10 * i), 3,
							i % 2 ? ACTOR__DEPART_LEFT : ACTOR__DEPART_DEAD };
	f.view.epoch = 1ull << 40;
	f.view.nmembers = (uint32_t)nmembers;
	f.view.members = ms;
	f.view.ndeparted = (uint32_t)ndeparted;
	f.view.departed = ds;
	need = actor__frame_max(&f);
	big = malloc(need);
	cr_assert_not_null(big);
	n = actor__frame_encode(&f, big, need);
	cr_assert_gt(n, 0, "a view of %zu members encodes", nmembers);
	cr_assert_eq(actor__frame_encode(&f, big, n - 1), 0, "one byte short");
	cr_assert_eq(actor__frame_decode(d, big + ACTOR__FRAME_PREFIX, n - ACTOR__FRAME_PREFIX, &g,
					 &(const char *){ NULL }),
		     0);
	cr_assert_eq(g.kind, ACTOR__F_VIEW);
	cr_assert_eq(g.view.epoch, 1ull << 40);
	cr_assert_eq(g.view.nmembers, nmembers);
	cr_assert_eq(g.view.ndeparted, ndeparted);
	c = g.view.members_at;
	for (size_t i = 0; i < nmembers; i++) {
		struct actor__wire_member m;

		c = actor__frame_view_member(&g, c, &m);
		cr_assert_eq(m.node, ms[i].node);
		cr_assert_eq(m.incarnation, ms[i].incarnation);
		cr_assert_eq(m.port, ms[i].port);
		cr_assert_eq(m.name_len, ms[i].name_len);
		cr_assert_arr_eq(m.name, ms[i].name, m.name_len);
		cr_assert_eq(m.host_len, ms[i].host_len);
		cr_assert_eq(memcmp(m.host, ms[i].host, m.host_len), 0);
		cr_assert_eq(m.ntypes, ms[i].ntypes);
		for (size_t k = 0; k < m.ntypes; k++)
			cr_assert_eq(actor__wire_type(&m, k), test_types[k]);
	}
	c = g.view.departed_at;
	for (size_t i = 0; i < ndeparted; i++) {
		struct actor__wire_departure dp;

		c = actor__frame_view_departure(&g, c, &dp);
		cr_assert_eq(dp.node, ds[i].node);
		cr_assert_eq(dp.incarnation, 3);
		cr_assert_eq(dp.cause, ds[i].cause);
	}
	/* A decoded VIEW encodes again to the same bytes. */
	cr_assert_leq(actor__frame_max(&g), need);
	{
		unsigned char *again = malloc(need);

		cr_assert_eq(actor__frame_encode(&g, again, need), n);
		cr_assert_eq(memcmp(again, big, n), 0);
		free(again);
	}
	free(big);
}

Test(frame, view_roundtrip)
{
	check_view(1, 0);
	check_view(3, 2);
	check_view(70, 5);
	check_view(ACTOR__VIEW_MEMBERS_MAX, ACTOR__VIEW_DEPARTED_MAX);
}

Test(frame, membership_roundtrip)
{
	char name[16], host[32];
	struct actor__frame f = { .kind = ACTOR__F_JOIN }, g;

	for (size_t i = 0; i < 64; i++)
		test_types[i] = 1000 + i;
	f.join = test_member(64, name, host);
	roundtrip(&f, &g);
	cr_assert_eq(g.join.node, f.join.node);
	cr_assert_eq(g.join.incarnation, f.join.incarnation);
	cr_assert_eq(g.join.port, f.join.port);
	cr_assert_eq(g.join.ntypes, 64);
	cr_assert_eq(actor__wire_type(&g.join, 63), 1063);
	cr_assert_arr_eq(g.join.host, host, strlen(host));
	cr_assert_leq(actor__frame_encode(&f, buf, buf_cap), actor__frame_max(&f));

	for (uint32_t kind = ACTOR__F_PROBE; kind <= ACTOR__F_ACK; kind++) {
		f = (struct actor__frame){ .kind = kind };
		f.probe.seq = UINT64_MAX;
		f.probe.epoch = 7;
		f.probe.digest = 0x8000000000000001ull;
		f.probe.target = UINT32_MAX;
		f.probe.sealed = 6;
		cr_assert_leq(roundtrip(&f, &g), ACTOR__CTRL_FRAME_MAX);
		cr_assert_eq(g.probe.sealed, 6);
		cr_assert_eq(g.probe.seq, UINT64_MAX);
		cr_assert_eq(g.probe.epoch, 7);
		cr_assert_eq(g.probe.digest, 0x8000000000000001ull);
		cr_assert_eq(g.probe.target, UINT32_MAX);
	}
	f = (struct actor__frame){ .kind = ACTOR__F_PULL, .pull.epoch = 9 };
	roundtrip(&f, &g);
	cr_assert_eq(g.pull.epoch, 9);
	f = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { 5, 2 } };
	roundtrip(&f, &g);
	cr_assert_eq(g.leave.node, 5);
	cr_assert_eq(g.leave.incarnation, 2);
}

Test(frame, membership_encode_refuses_what_decode_refuses)
{
	uint64_t down[2] = { 2, 1 };
	struct actor__wire_member ms[2] = {
		{ .node = 5, .incarnation = 1, .name = "a", .name_len = 1 },
		{ .node = 3, .incarnation = 1, .name = "b", .name_len = 1 },
	};
	struct actor__frame f = { .kind = ACTOR__F_VIEW };

	f.view.epoch = 1;
	f.view.members = ms;
	f.view.nmembers = 0;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "no members");
	f.view.nmembers = 2;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "not sorted");
	f.view.nmembers = 1;
	f.view.epoch = 0;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "epoch 0");
	f = (struct actor__frame){ .kind = ACTOR__F_JOIN, .join = ms[0] };
	f.join.host = "h";
	f.join.host_len = 1;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "a host without a port");
	f.join.port = 1;
	cr_assert_gt(actor__frame_encode(&f, buf, buf_cap), 0);
	f.join.types = down;
	f.join.ntypes = 2;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "types not sorted");
	f.join.ntypes = 0;
	f.join.name = "a\0b";
	f.join.name_len = 3;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "a NUL in the name");
	f = (struct actor__frame){ .kind = ACTOR__F_PROBE };
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "epoch 0");
	f.probe.epoch = 3;
	f.probe.sealed = 4;
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "sealed above epoch");
	f = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { 1, 0 } };
	cr_assert_eq(actor__frame_encode(&f, buf, buf_cap), 0, "incarnation 0");
}

/* A body from a format: u uint64, s str (a C string), n str with a NUL,
 * b bin of 8 * the next int bytes (descending if the int is negative),
 * x bin of the next int bytes. */
static size_t mp(unsigned char *out, const char *fmt, ...)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	va_list ap;
	size_t n;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, strlen(fmt));
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		switch (*p) {
		case 'u':
			msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			msgpack_pack_str_with_body(&pk, str, strlen(str));
			break;
		}
		case 'n':
			msgpack_pack_str_with_body(&pk, "a\0b", 3);
			break;
		case 'b': {
			int k = va_arg(ap, int);
			unsigned char t[8 * 70] = { 0 };

			for (int i = 0; i < (k < 0 ? -k : k); i++)
				t[8 * i + 7] = (unsigned char)(k < 0 ? 100 - i : i + 1);
			msgpack_pack_bin_with_body(&pk, t, 8 * (size_t)(k < 0 ? -k : k));
			break;
		}
		case 'x': {
			int k = va_arg(ap, int);
			unsigned char t[16] = { 0 };

			msgpack_pack_bin_with_body(&pk, t, (size_t)k);
			break;
		}
		}
	}
	va_end(ap);
	memcpy(out, sb.data, sb.size);
	n = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return n;
}

#define U64(x) ((uint64_t)(x))

Test(frame, malformed_membership_frames)
{
	static const struct {
		const char *what, *why;
	} cases[] = {
		{ "valid VIEW", NULL },
		{ "VIEW epoch 0", "VIEW: epoch is not a uint64 other than 0" },
		{ "VIEW of 1025", "VIEW: not 1..1024 members" },
		{ "VIEW claims 2 members", "VIEW: fewer elements than its members take" },
		{ "VIEW members unsorted", "VIEW: members are not sorted strictly by node" },
		{ "VIEW node 0", "VIEW: a node is not a uint32 other than 0 and 0xffffffff" },
		{ "VIEW name with NUL", "VIEW: a name is not a str of 1..255 bytes without NUL" },
		{ "VIEW host without port", "VIEW: port 0 with a host, or a host without a port" },
		{ "VIEW port without host", "VIEW: port 0 with a host, or a host without a port" },
		{ "VIEW types unsorted", "VIEW: types are not sorted strictly" },
		{ "VIEW 65 types", "VIEW: types is not a bin of 8 x 0..64 bytes" },
		{ "VIEW types of 7 bytes", "VIEW: types is not a bin of 8 x 0..64 bytes" },
		{ "VIEW cause 3", "VIEW: a departure's cause is unknown" },
		{ "VIEW one departure short",
		  "VIEW: the element count is not that of its members and departures" },
		{ "VIEW of 9", "VIEW: fewer than 10 elements" },
		{ "JOIN node 0", "JOIN: node is not a uint32 other than 0 and 0xffffffff" },
		{ "JOIN port 65536", "JOIN: port is not a uint16" },
		{ "JOIN of 6", "JOIN: not 7 elements" },
		{ "PROBE epoch 0", "PROBE: epoch is not a uint64 other than 0" },
		{ "ACK target 2^32", "ACK: target is not a uint32" },
		{ "ACK seq as str", "ACK: seq is not a uint64" },
		{ "PROBE sealed above epoch", "PROBE: sealed is not a uint64 up to epoch" },
		{ "ACK of 5 elements (before sealed)", "ACK: not 6 elements" },
		{ "PULL epoch 0", "PULL: epoch is not a uint64 other than 0" },
		{ "LEAVE incarnation 0", "LEAVE: incarnation is not a uint32 other than 0" },
		{ "kind 13", "unknown frame kind" },
		{ "kind 6 of 10", "VIRTUAL: not 11 elements" },
	};
	const char *why;

#define M1(node, name, host, port, types) U64(node), U64(1), name, host, U64(port), types
	{
		/* One buffer per case, packed in order. */
		unsigned char *bodies[sizeof cases / sizeof cases[0]];
		size_t n[sizeof cases / sizeof cases[0]], i = 0;

		for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++) {
			bodies[j] = malloc(4096);
			cr_assert_not_null(bodies[j]);
		}
#define ADD(...) (n[i] = mp(bodies[i], __VA_ARGS__), i++)
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(5, "a", "", 0, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(0), U64(1), M1(5, "a", "", 0, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1025), M1(5, "a", "", 0, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(2), M1(5, "a", "", 0, 0), U64(0));
		ADD("uuuuussubuussubu", U64(7), U64(1), U64(2), M1(5, "a", "", 0, 0),
		    M1(3, "b", "", 0, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(0, "a", "", 0, 0), U64(0));
		ADD("uuuuunsubu", U64(7), U64(1), U64(1), U64(5), U64(1), "", U64(0), 0, U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(5, "a", "h", 0, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(5, "a", "", 9, 0), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(5, "a", "", 0, -2), U64(0));
		ADD("uuuuussubu", U64(7), U64(1), U64(1), M1(5, "a", "", 0, 65), U64(0));
		ADD("uuuuussuxu", U64(7), U64(1), U64(1), U64(5), U64(1), "a", "", U64(0), 7, U64(0));
		ADD("uuuuussubuuuu", U64(7), U64(1), U64(1), M1(5, "a", "", 0, 0), U64(1), U64(9),
		    U64(1), U64(3));
		ADD("uuuuussubuuu", U64(7), U64(1), U64(1), M1(5, "a", "", 0, 0), U64(1), U64(9),
		    U64(1));
		ADD("uuuuussub", U64(7), U64(1), U64(1), M1(5, "a", "", 0, 0));
		ADD("uuussub", U64(8), U64(0), U64(1), "a", "", U64(0), 0);
		ADD("uuussub", U64(8), U64(5), U64(1), "a", "h", U64(65536), 0);
		ADD("uuuss", U64(8), U64(5), U64(1), "a", "");
		ADD("uuuuuu", U64(9), U64(1), U64(0), U64(0), U64(0), U64(0));
		ADD("uuuuuu", U64(10), U64(1), U64(1), U64(0), U64(1) << 32, U64(0));
		ADD("usuuuu", U64(10), "1", U64(1), U64(0), U64(0), U64(0));
		ADD("uuuuuu", U64(9), U64(1), U64(4), U64(0), U64(0), U64(5));
		ADD("uuuuu", U64(10), U64(1), U64(1), U64(0), U64(0));
		ADD("uu", U64(11), U64(0));
		ADD("uuu", U64(12), U64(5), U64(0));
		ADD("u", U64(13));
		ADD("uuuuuuuuuu", U64(6), U64(1), U64(1), U64(1), U64(1), U64(1), U64(1), U64(1),
		    U64(1), U64(1));
#undef ADD
		cr_assert_eq(i, sizeof cases / sizeof cases[0]);
		for (size_t j = 0; j < i; j++) {
			unsigned char *body = malloc(n[j]);	/* exactly: ASan sees overreads */

			memcpy(body, bodies[j], n[j]);
			cr_assert_eq(decode(body, n[j], &why), cases[j].why ? -EBADMSG : 0, "%s: %s",
				     cases[j].what, why ? why : "accepted");
			if (cases[j].why != NULL)
				cr_assert_str_eq(why, cases[j].why, "%s", cases[j].what);
			free(body);
			free(bodies[j]);
		}
	}
#undef M1
}

Test(frame, membership_truncated_at_every_offset)
{
	char names[3][16], hosts[3][32];
	struct actor__wire_member ms[3];
	struct actor__wire_departure dep = { 1, 1, ACTOR__DEPART_DEAD };
	struct actor__frame fs[6];
	const char *why;

	for (size_t i = 0; i < 64; i++)
		test_types[i] = i + 1;
	for (size_t i = 0; i < 3; i++)
		ms[i] = test_member(i + 1, names[i], hosts[i]);
	fs[0] = (struct actor__frame){ .kind = ACTOR__F_VIEW };
	fs[0].view.epoch = 3;
	fs[0].view.nmembers = 3;
	fs[0].view.members = ms;
	fs[0].view.ndeparted = 1;
	fs[0].view.departed = &dep;
	fs[1] = (struct actor__frame){ .kind = ACTOR__F_JOIN, .join = ms[1] };
	fs[2] = (struct actor__frame){ .kind = ACTOR__F_PROBE, .probe = { 1, 2, 3, 4 } };
	fs[3] = (struct actor__frame){ .kind = ACTOR__F_ACK, .probe = { 1, 2, 3, 0 } };
	fs[4] = (struct actor__frame){ .kind = ACTOR__F_PULL, .pull.epoch = UINT64_MAX };
	fs[5] = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { UINT32_MAX, 1 } };
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		size_t n = actor__frame_encode(&fs[i], buf, buf_cap);

		cr_assert_gt(n, 0, "kind %u encodes", fs[i].kind);
		n -= ACTOR__FRAME_PREFIX;
		for (size_t len = 0; len < n; len++) {
			unsigned char *body = malloc(len + 1);

			memcpy(body, buf + ACTOR__FRAME_PREFIX, len);
			cr_assert_eq(decode(body, len, &why), -EBADMSG, "kind %u cut at %zu",
				     fs[i].kind, len);
			free(body);
		}
		cr_assert_eq(decode(buf + ACTOR__FRAME_PREFIX, n, &why), 0, "kind %u whole: %s",
			     fs[i].kind, why);
	}
}
