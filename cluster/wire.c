/*
 * The wire protocol's codec (wire.h). Encoding packs with msgpack-c straight into the
 * caller's buffer; decoding reads the flat array itself (scan() says why)
 * and checks every field.
 */
#include "config.h"

#include <errno.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"
#include "transport/transport.h"

/* Elements of the longest frame (VIRTUAL). */
#define FIELDS_MAX 11

/* --- encoding ------------------------------------------------------------ */

/* A fixed buffer for msgpack_packer; once a write does not fit, the frame is
 * lost, so a flag checked at the end replaces a check after every field. */
struct wbuf {
	unsigned char *p, *end;
	bool full;
};

static int wbuf_write(void *data, const char *src, size_t len)
{
	struct wbuf *w = data;

	if ((size_t)(w->end - w->p) < len) {
		w->full = true;
		return -1;
	}
	memcpy(w->p, src, len);
	w->p += len;
	return 0;
}

/* msgpack_pack_bin_with_body() would memcpy from a NULL payload when empty. */
static void pack_bin(msgpack_packer *pk, const void *b, size_t len)
{
	msgpack_pack_bin(pk, len);
	if (len > 0)
		msgpack_pack_bin_body(pk, b, len);
}

/*
 * Refuses what the decoder would refuse, except a HELLO's version: writing
 * another version is how a test plays a peer that speaks one.
 */
size_t actor__frame_encode(const struct actor__frame *f, void *buf, size_t cap)
{
	unsigned char *start = buf;
	struct wbuf w;
	msgpack_packer pk;
	size_t body;

	if (cap < ACTOR__FRAME_PREFIX)
		return 0;
	w.p = start + ACTOR__FRAME_PREFIX;
	w.end = start + cap;
	w.full = false;
	msgpack_packer_init(&pk, &w, wbuf_write);

	switch (f->kind) {
	case ACTOR__F_MSG:
		if ((f->msg.flags & ~(uint32_t)ACTOR__WIRE_FLAGS) != 0 || f->msg.size > UINT32_MAX)
			return 0;
		msgpack_pack_array(&pk, 9);
		msgpack_pack_uint8(&pk, ACTOR__F_MSG);
		msgpack_pack_uint64(&pk, f->msg.to_id);
		msgpack_pack_uint32(&pk, f->msg.to_node);
		msgpack_pack_uint64(&pk, f->msg.from_id);
		msgpack_pack_uint32(&pk, f->msg.from_node);
		msgpack_pack_uint32(&pk, f->msg.type);
		msgpack_pack_uint8(&pk, (uint8_t)f->msg.flags);
		msgpack_pack_uint32(&pk, f->msg.request_id);
		pack_bin(&pk, f->msg.payload, f->msg.size);
		break;
	case ACTOR__F_SIGNAL:
		if (f->signal.op < ACTOR__SIG_EXIT || f->signal.op > ACTOR__SIG_MAX)
			return 0;
		msgpack_pack_array(&pk, 8);
		msgpack_pack_uint8(&pk, ACTOR__F_SIGNAL);
		msgpack_pack_uint8(&pk, (uint8_t)f->signal.op);
		msgpack_pack_uint64(&pk, f->signal.to_id);
		msgpack_pack_uint32(&pk, f->signal.to_node);
		msgpack_pack_uint64(&pk, f->signal.ref_id);
		msgpack_pack_uint32(&pk, f->signal.ref_node);
		msgpack_pack_int32(&pk, f->signal.reason);
		msgpack_pack_uint32(&pk, f->signal.request_id);
		break;
	case ACTOR__F_VIRTUAL:
		if ((f->virt.flags & ~(uint32_t)ACTOR__WIRE_VFLAGS) != 0 ||
		    f->virt.hops > ACTOR__WIRE_HOPS_MAX || f->virt.name_len == 0 ||
		    f->virt.name_len > ACTOR__VTYPE_NAME_MAX || f->virt.key_len > ACTOR__VKEY_MAX ||
		    f->virt.size > UINT32_MAX)
			return 0;
		msgpack_pack_array(&pk, 11);
		msgpack_pack_uint8(&pk, ACTOR__F_VIRTUAL);
		msgpack_pack_uint64(&pk, f->virt.epoch);
		msgpack_pack_uint8(&pk, (uint8_t)f->virt.hops);
		msgpack_pack_str_with_body(&pk, f->virt.name, f->virt.name_len);
		pack_bin(&pk, f->virt.key, f->virt.key_len);
		msgpack_pack_uint64(&pk, f->virt.from_id);
		msgpack_pack_uint32(&pk, f->virt.from_node);
		msgpack_pack_uint32(&pk, f->virt.type);
		msgpack_pack_uint8(&pk, (uint8_t)f->virt.flags);
		msgpack_pack_uint32(&pk, f->virt.request_id);
		pack_bin(&pk, f->virt.payload, f->virt.size);
		break;
	case ACTOR__F_PING:
		msgpack_pack_array(&pk, 1);
		msgpack_pack_uint8(&pk, ACTOR__F_PING);
		break;
	case ACTOR__F_HELLO:
		if (f->hello.node == 0 || f->hello.name_len == 0 ||
		    f->hello.name_len > ACTOR__NODE_NAME_MAX)
			return 0;
		msgpack_pack_array(&pk, 5);
		msgpack_pack_uint8(&pk, ACTOR__F_HELLO);
		msgpack_pack_uint32(&pk, f->hello.version);
		msgpack_pack_uint32(&pk, f->hello.node);
		msgpack_pack_str_with_body(&pk, f->hello.name, f->hello.name_len);
		msgpack_pack_bin_with_body(&pk, f->hello.nonce, ACTOR__NONCE_LEN);
		break;
	case ACTOR__F_AUTH:
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint8(&pk, ACTOR__F_AUTH);
		msgpack_pack_bin_with_body(&pk, f->auth.mac, ACTOR__MAC_LEN);
		break;
	default:
		return 0;
	}
	if (w.full)
		return 0;
	body = (size_t)(w.p - start) - ACTOR__FRAME_PREFIX;
	if (body > UINT32_MAX)
		return 0;
	actor__frame_prefix(start, (uint32_t)body);
	return (size_t)(w.p - start);
}

size_t actor__frame_ref_encode(uint64_t id, uint32_t node, void *buf, size_t cap)
{
	struct wbuf w = { buf, (unsigned char *)buf + cap, false };
	msgpack_packer pk;

	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, id);
	msgpack_pack_uint32(&pk, node);
	return w.full ? 0 : (size_t)(w.p - (unsigned char *)buf);
}

/* --- decoding ------------------------------------------------------------ */

/*
 * msgpack-c's unpacker trusts the lengths it reads (an array32 or map32
 * header of five bytes makes it reserve room for 2^32 objects before it
 * notices that the body is short), and a frame is a flat array of at most
 * FIELDS_MAX scalars anyway. So the decoder reads that subset of msgpack
 * itself, in one bounded pass with no allocation, into these; msgpack-c
 * stays the codec of record: it writes every frame, and the fuzz target
 * checks each accepted body against its unpacker.
 */
enum { IT_UINT, IT_NINT, IT_STR, IT_BIN };

struct item {
	unsigned type;
	uint64_t u;			/* IT_UINT */
	int64_t i;			/* IT_NINT, always < 0 */
	const unsigned char *p;		/* IT_STR, IT_BIN */
	size_t len;
};

struct actor__frame_decoder {
	struct item items[FIELDS_MAX];
};

struct actor__frame_decoder *actor__frame_decoder_create(void)
{
	return malloc(sizeof(struct actor__frame_decoder));
}

void actor__frame_decoder_destroy(struct actor__frame_decoder *d)
{
	free(d);
}

static uint64_t load_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* An integer of w bytes at p: uint8..64 if b is 0xcc..0xcf, else int8..64. */
static void read_int(struct item *it, unsigned b, const unsigned char *p, size_t w)
{
	uint64_t v = load_be(p, w);

	if (b <= 0xcf || (v >> (8 * w - 1) & 1) == 0) {
		it->type = IT_UINT;
		it->u = v;
	} else {
		it->type = IT_NINT;
		/* Sign-extended (a shift by 64 would be undefined). */
		it->i = (int64_t)(w == 8 ? v : v | ~(uint64_t)0 << 8 * w);
	}
}

/*
 * Reads a body that must be exactly one array of 1..FIELDS_MAX integers,
 * str and bin, each within the bytes that remain, into items. Returns the
 * element count, or 0 with *why set.
 */
static size_t scan(const unsigned char *p, size_t len, struct item *items, const char **why)
{
	const unsigned char *end = p + len;
	size_t n, k, hdr, w;
	unsigned b;

#define FAIL(msg)            \
	do {                 \
		*why = (msg); \
		return 0;    \
	} while (0)
	if (len == 0)
		FAIL("empty body");
	b = *p++;
	if (b >= 0x90 && b <= 0x9f) {
		n = b & 0x0f;
	} else if (b == 0xdc || b == 0xdd) {
		hdr = b == 0xdc ? 2 : 4;
		if ((size_t)(end - p) < hdr)
			FAIL("truncated array header");
		n = load_be(p, hdr);
		p += hdr;
	} else {
		FAIL("body is not an array");
	}
	if (n == 0)
		FAIL("empty array");
	if (n > FIELDS_MAX)
		FAIL("array too long for any frame");

	for (k = 0; k < n; k++) {
		struct item *it = &items[k];

		if (p == end)
			FAIL("truncated");
		b = *p++;
		if (b <= 0x7f) {
			it->type = IT_UINT;
			it->u = b;
			continue;
		}
		if (b >= 0xe0) {
			it->type = IT_NINT;
			it->i = (int64_t)b - 0x100;
			continue;
		}
		if (b >= 0xcc && b <= 0xd3) {	/* uint8..64, int8..64 */
			w = (size_t)1 << (b & 0x3);
			if ((size_t)(end - p) < w)
				FAIL("truncated");
			read_int(it, b, p, w);
			p += w;
			continue;
		}
		if (b >= 0xa0 && b <= 0xbf) {	/* fixstr */
			it->type = IT_STR;
			it->len = b & 0x1f;
		} else if (b == 0xd9 || b == 0xda || b == 0xdb) {	/* str8..32 */
			it->type = IT_STR;
			hdr = (size_t)1 << (b - 0xd9);
		} else if (b == 0xc4 || b == 0xc5 || b == 0xc6) {	/* bin8..32 */
			it->type = IT_BIN;
			hdr = (size_t)1 << (b - 0xc4);
		} else if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)) {
			FAIL("nested array or map");
		} else {
			FAIL("nil, bool, float or ext element");
		}
		if (b > 0xbf) {
			if ((size_t)(end - p) < hdr)
				FAIL("truncated");
			it->len = (size_t)load_be(p, hdr);
			p += hdr;
		}
		if ((size_t)(end - p) < it->len)
			FAIL("truncated");
		it->p = p;
		p += it->len;
	}
	if (p != end)
		FAIL("trailing bytes after the array");
#undef FAIL
	return n;
}

static bool is_uint(const struct item *it, uint64_t max)
{
	return it->type == IT_UINT && it->u <= max;
}

static bool is_int32(const struct item *it)
{
	if (it->type == IT_UINT)
		return it->u <= INT32_MAX;
	return it->type == IT_NINT && it->i >= INT32_MIN;
}

static bool is_bin(const struct item *it, size_t len)
{
	return it->type == IT_BIN && it->len == len;
}

#define CHECK(cond, msg)                 \
	do {                             \
		if (!(cond)) {           \
			*why = (msg);    \
			return -EBADMSG; \
		}                        \
	} while (0)

static int decode_msg(const struct item *a, struct actor__frame *f, const char **why)
{
	CHECK(is_uint(&a[1], UINT64_MAX), "MSG: to_id is not a uint64");
	CHECK(is_uint(&a[2], UINT32_MAX), "MSG: to_node is not a uint32");
	CHECK(is_uint(&a[3], UINT64_MAX), "MSG: from_id is not a uint64");
	CHECK(is_uint(&a[4], UINT32_MAX), "MSG: from_node is not a uint32");
	CHECK(is_uint(&a[5], UINT32_MAX), "MSG: type is not a uint32");
	CHECK(a[6].type == IT_UINT, "MSG: flags is not a uint");
	CHECK((a[6].u & ~(uint64_t)ACTOR__WIRE_FLAGS) == 0, "MSG: flags has unknown bits");
	CHECK(is_uint(&a[7], UINT32_MAX), "MSG: request_id is not a uint32");
	CHECK(a[8].type == IT_BIN, "MSG: payload is not a bin");
	f->msg.to_id = a[1].u;
	f->msg.to_node = (uint32_t)a[2].u;
	f->msg.from_id = a[3].u;
	f->msg.from_node = (uint32_t)a[4].u;
	f->msg.type = (uint32_t)a[5].u;
	f->msg.flags = (uint32_t)a[6].u;
	f->msg.request_id = (uint32_t)a[7].u;
	f->msg.payload = a[8].p;
	f->msg.size = a[8].len;
	return 0;
}

static int decode_signal(const struct item *a, struct actor__frame *f, const char **why)
{
	CHECK(a[1].type == IT_UINT, "SIGNAL: op is not a uint");
	CHECK(a[1].u >= ACTOR__SIG_EXIT && a[1].u <= ACTOR__SIG_MAX, "SIGNAL: unknown op");
	CHECK(is_uint(&a[2], UINT64_MAX), "SIGNAL: to_id is not a uint64");
	CHECK(is_uint(&a[3], UINT32_MAX), "SIGNAL: to_node is not a uint32");
	CHECK(is_uint(&a[4], UINT64_MAX), "SIGNAL: ref_id is not a uint64");
	CHECK(is_uint(&a[5], UINT32_MAX), "SIGNAL: ref_node is not a uint32");
	CHECK(is_int32(&a[6]), "SIGNAL: reason is not an int32");
	CHECK(is_uint(&a[7], UINT32_MAX), "SIGNAL: request_id is not a uint32");
	f->signal.op = (uint32_t)a[1].u;
	f->signal.to_id = a[2].u;
	f->signal.to_node = (uint32_t)a[3].u;
	f->signal.ref_id = a[4].u;
	f->signal.ref_node = (uint32_t)a[5].u;
	f->signal.reason = a[6].type == IT_UINT ? (int32_t)a[6].u : (int32_t)a[6].i;
	f->signal.request_id = (uint32_t)a[7].u;
	return 0;
}

static int decode_virtual(const struct item *a, struct actor__frame *f, const char **why)
{
	CHECK(is_uint(&a[1], UINT64_MAX), "VIRTUAL: epoch is not a uint64");
	CHECK(is_uint(&a[2], ACTOR__WIRE_HOPS_MAX), "VIRTUAL: hops is not 0..2");
	CHECK(a[3].type == IT_STR, "VIRTUAL: type name is not a str");
	CHECK(a[3].len >= 1 && a[3].len <= ACTOR__VTYPE_NAME_MAX,
	      "VIRTUAL: type name is not 1..255 bytes");
	CHECK(a[4].type == IT_BIN, "VIRTUAL: key is not a bin");
	CHECK(a[4].len <= ACTOR__VKEY_MAX, "VIRTUAL: key longer than 1024 bytes");
	CHECK(is_uint(&a[5], UINT64_MAX), "VIRTUAL: from_id is not a uint64");
	CHECK(is_uint(&a[6], UINT32_MAX), "VIRTUAL: from_node is not a uint32");
	CHECK(is_uint(&a[7], UINT32_MAX), "VIRTUAL: type is not a uint32");
	CHECK(a[8].type == IT_UINT, "VIRTUAL: flags is not a uint");
	CHECK((a[8].u & ~(uint64_t)ACTOR__WIRE_VFLAGS) == 0, "VIRTUAL: flags has unknown bits");
	CHECK(is_uint(&a[9], UINT32_MAX), "VIRTUAL: request_id is not a uint32");
	CHECK(a[10].type == IT_BIN, "VIRTUAL: payload is not a bin");
	f->virt.epoch = a[1].u;
	f->virt.hops = (uint32_t)a[2].u;
	f->virt.name = (const char *)a[3].p;
	f->virt.name_len = a[3].len;
	f->virt.key = a[4].p;
	f->virt.key_len = a[4].len;
	f->virt.from_id = a[5].u;
	f->virt.from_node = (uint32_t)a[6].u;
	f->virt.type = (uint32_t)a[7].u;
	f->virt.flags = (uint32_t)a[8].u;
	f->virt.request_id = (uint32_t)a[9].u;
	f->virt.payload = a[10].p;
	f->virt.size = a[10].len;
	return 0;
}

static int decode_hello(const struct item *a, struct actor__frame *f, const char **why)
{
	CHECK(a[1].type == IT_UINT, "HELLO: version is not a uint");
	CHECK(is_uint(&a[2], UINT32_MAX), "HELLO: node is not a uint32");
	CHECK(a[2].u != 0, "HELLO: node is 0");
	CHECK(a[3].type == IT_STR, "HELLO: name is not a str");
	CHECK(a[3].len >= 1 && a[3].len <= ACTOR__NODE_NAME_MAX, "HELLO: name is not 1..255 bytes");
	CHECK(is_bin(&a[4], ACTOR__NONCE_LEN), "HELLO: nonce is not a bin of 32 bytes");
	f->hello.version = ACTOR__PROTO_VERSION;
	f->hello.node = (uint32_t)a[2].u;
	f->hello.name = (const char *)a[3].p;
	f->hello.name_len = a[3].len;
	f->hello.nonce = a[4].p;
	return 0;
}

int actor__frame_decode(struct actor__frame_decoder *d, const void *body, size_t len,
			struct actor__frame *f, const char **why)
{
	static const uint8_t arity[] = {
		[ACTOR__F_HELLO] = 5, [ACTOR__F_AUTH] = 2, [ACTOR__F_MSG] = 9,
		[ACTOR__F_SIGNAL] = 8, [ACTOR__F_PING] = 1, [ACTOR__F_VIRTUAL] = 11,
	};
	static const char *const wrong_arity[] = {
		[ACTOR__F_HELLO] = "HELLO: not 5 elements",
		[ACTOR__F_AUTH] = "AUTH: not 2 elements",
		[ACTOR__F_MSG] = "MSG: not 9 elements",
		[ACTOR__F_SIGNAL] = "SIGNAL: not 8 elements",
		[ACTOR__F_PING] = "PING: not 1 element",
		[ACTOR__F_VIRTUAL] = "VIRTUAL: not 11 elements",
	};
	const struct item *a = d->items;
	size_t n;
	uint64_t kind;

	*why = NULL;
	n = scan(body, len, d->items, why);
	if (n == 0)
		return -EBADMSG;
	CHECK(a[0].type == IT_UINT, "kind is not a uint");
	kind = a[0].u;
	CHECK(kind >= ACTOR__F_HELLO && kind <= ACTOR__F_VIRTUAL, "unknown frame kind");
	f->kind = (uint32_t)kind;
	/* The version before the arity, so that any later HELLO that starts
	 * [1, version, ...] is refused as a version, not as garbage. */
	if (kind == ACTOR__F_HELLO && n >= 2 && a[1].type == IT_UINT &&
	    a[1].u != ACTOR__PROTO_VERSION) {
		f->hello.version = a[1].u > UINT32_MAX ? UINT32_MAX : (uint32_t)a[1].u;
		*why = "HELLO: unsupported protocol version";
		return -EPROTONOSUPPORT;
	}
	CHECK(n == arity[kind], wrong_arity[kind]);

	switch (kind) {
	case ACTOR__F_MSG:
		return decode_msg(a, f, why);
	case ACTOR__F_SIGNAL:
		return decode_signal(a, f, why);
	case ACTOR__F_HELLO:
		return decode_hello(a, f, why);
	case ACTOR__F_VIRTUAL:
		return decode_virtual(a, f, why);
	case ACTOR__F_AUTH:
		CHECK(is_bin(&a[1], ACTOR__MAC_LEN), "AUTH: mac is not a bin of 32 bytes");
		f->auth.mac = a[1].p;
		return 0;
	default:	/* PING */
		return 0;
	}
}

int actor__frame_ref_decode(const void *p, size_t len, uint64_t *id, uint32_t *node)
{
	struct item a[FIELDS_MAX];
	const char *why;

	if (scan(p, len, a, &why) != 2 || !is_uint(&a[0], UINT64_MAX) ||
	    !is_uint(&a[1], UINT32_MAX))
		return -EBADMSG;
	*id = a[0].u;
	*node = (uint32_t)a[1].u;
	return 0;
}
