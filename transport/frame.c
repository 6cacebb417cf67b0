/*
 * The frame codec (frame.h) on msgpack-c. Encoding packs straight into the
 * caller's buffer. Decoding first scans the body (scan() says why), then
 * lets msgpack-c parse it into the decoder's zone and checks every field.
 */
#include <errno.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"
#include "transport/transport.h"

/* Elements of the longest frame (MSG). */
#define FIELDS_MAX 9
/* Room for one parsed frame: FIELDS_MAX objects, so the zone's first chunk
 * is all it ever uses. */
#define ZONE_CHUNK 1024

struct actor__frame_decoder {
	msgpack_zone zone;
};

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

/* --- decoding ------------------------------------------------------------ */

struct actor__frame_decoder *actor__frame_decoder_create(void)
{
	struct actor__frame_decoder *d = malloc(sizeof(*d));

	if (d == NULL)
		return NULL;
	if (!msgpack_zone_init(&d->zone, ZONE_CHUNK)) {
		free(d);
		return NULL;
	}
	return d;
}

void actor__frame_decoder_destroy(struct actor__frame_decoder *d)
{
	if (d == NULL)
		return;
	msgpack_zone_destroy(&d->zone);
	free(d);
}

static size_t load_be(const unsigned char *p, size_t n)
{
	size_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * msgpack-c trusts the lengths it reads: an array32 or map32 header of five
 * bytes makes it reserve room for up to 2^32 objects before it notices that
 * the body is short. So before it sees a body, this checks that the body is
 * exactly one array of 1..FIELDS_MAX scalars (integers, str, bin) whose
 * lengths fit in what remains. NULL if so, else why not.
 */
static const char *scan(const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	size_t n, hdr, skip;
	unsigned b;

	if (len == 0)
		return "empty body";
	b = *p++;
	if (b >= 0x90 && b <= 0x9f) {
		n = b & 0x0f;
	} else if (b == 0xdc || b == 0xdd) {
		hdr = b == 0xdc ? 2 : 4;
		if ((size_t)(end - p) < hdr)
			return "truncated array header";
		n = load_be(p, hdr);
		p += hdr;
	} else {
		return "body is not an array";
	}
	if (n == 0)
		return "empty array";
	if (n > FIELDS_MAX)
		return "array too long for any frame";

	while (n-- > 0) {
		if (p == end)
			return "truncated";
		b = *p++;
		hdr = 0;
		if (b <= 0x7f || b >= 0xe0) {	/* fixint */
			skip = 0;
		} else if (b >= 0xa0 && b <= 0xbf) {	/* fixstr */
			skip = b & 0x1f;
		} else if (b >= 0xcc && b <= 0xd3) {	/* uint8..64, int8..64 */
			skip = (size_t)1 << (b & 0x3);
		} else if (b == 0xd9 || b == 0xc4) {	/* str8, bin8 */
			hdr = 1;
		} else if (b == 0xda || b == 0xc5) {	/* str16, bin16 */
			hdr = 2;
		} else if (b == 0xdb || b == 0xc6) {	/* str32, bin32 */
			hdr = 4;
		} else if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)) {
			return "nested array or map";
		} else {
			return "nil, bool, float or ext element";
		}
		if (hdr > 0) {
			if ((size_t)(end - p) < hdr)
				return "truncated";
			skip = load_be(p, hdr);
			p += hdr;
		}
		if ((size_t)(end - p) < skip)
			return "truncated";
		p += skip;
	}
	return p == end ? NULL : "trailing bytes after the array";
}

static bool is_uint(const msgpack_object *o, uint64_t max)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max;
}

static bool is_int32(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64 <= INT32_MAX;
	return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN;
}

static bool is_bin(const msgpack_object *o, size_t len)
{
	return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == len;
}

#define CHECK(cond, msg)                 \
	do {                             \
		if (!(cond)) {           \
			*why = (msg);    \
			return -EBADMSG; \
		}                        \
	} while (0)

static int decode_msg(const msgpack_object *a, struct actor__frame *f, const char **why)
{
	CHECK(is_uint(&a[1], UINT64_MAX), "MSG: to_id is not a uint64");
	CHECK(is_uint(&a[2], UINT32_MAX), "MSG: to_node is not a uint32");
	CHECK(is_uint(&a[3], UINT64_MAX), "MSG: from_id is not a uint64");
	CHECK(is_uint(&a[4], UINT32_MAX), "MSG: from_node is not a uint32");
	CHECK(is_uint(&a[5], UINT32_MAX), "MSG: type is not a uint32");
	CHECK(a[6].type == MSGPACK_OBJECT_POSITIVE_INTEGER, "MSG: flags is not a uint");
	CHECK((a[6].via.u64 & ~(uint64_t)ACTOR__WIRE_FLAGS) == 0, "MSG: flags has unknown bits");
	CHECK(is_uint(&a[7], UINT32_MAX), "MSG: request_id is not a uint32");
	CHECK(a[8].type == MSGPACK_OBJECT_BIN, "MSG: payload is not a bin");
	f->msg.to_id = a[1].via.u64;
	f->msg.to_node = (uint32_t)a[2].via.u64;
	f->msg.from_id = a[3].via.u64;
	f->msg.from_node = (uint32_t)a[4].via.u64;
	f->msg.type = (uint32_t)a[5].via.u64;
	f->msg.flags = (uint32_t)a[6].via.u64;
	f->msg.request_id = (uint32_t)a[7].via.u64;
	f->msg.payload = a[8].via.bin.ptr;
	f->msg.size = a[8].via.bin.size;
	return 0;
}

static int decode_signal(const msgpack_object *a, struct actor__frame *f, const char **why)
{
	CHECK(a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER, "SIGNAL: op is not a uint");
	CHECK(a[1].via.u64 >= ACTOR__SIG_EXIT && a[1].via.u64 <= ACTOR__SIG_MAX,
	      "SIGNAL: unknown op");
	CHECK(is_uint(&a[2], UINT64_MAX), "SIGNAL: to_id is not a uint64");
	CHECK(is_uint(&a[3], UINT32_MAX), "SIGNAL: to_node is not a uint32");
	CHECK(is_uint(&a[4], UINT64_MAX), "SIGNAL: ref_id is not a uint64");
	CHECK(is_uint(&a[5], UINT32_MAX), "SIGNAL: ref_node is not a uint32");
	CHECK(is_int32(&a[6]), "SIGNAL: reason is not an int32");
	CHECK(is_uint(&a[7], UINT32_MAX), "SIGNAL: request_id is not a uint32");
	f->signal.op = (uint32_t)a[1].via.u64;
	f->signal.to_id = a[2].via.u64;
	f->signal.to_node = (uint32_t)a[3].via.u64;
	f->signal.ref_id = a[4].via.u64;
	f->signal.ref_node = (uint32_t)a[5].via.u64;
	f->signal.reason = a[6].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int32_t)a[6].via.u64
									: (int32_t)a[6].via.i64;
	f->signal.request_id = (uint32_t)a[7].via.u64;
	return 0;
}

static int decode_hello(const msgpack_object *a, struct actor__frame *f, const char **why)
{
	CHECK(is_uint(&a[2], UINT32_MAX), "HELLO: node is not a uint32");
	CHECK(a[2].via.u64 != 0, "HELLO: node is 0");
	CHECK(a[3].type == MSGPACK_OBJECT_STR, "HELLO: name is not a str");
	CHECK(a[3].via.str.size >= 1 && a[3].via.str.size <= ACTOR__NODE_NAME_MAX,
	      "HELLO: name is not 1..255 bytes");
	CHECK(is_bin(&a[4], ACTOR__NONCE_LEN), "HELLO: nonce is not a bin of 32 bytes");
	f->hello.node = (uint32_t)a[2].via.u64;
	f->hello.name = a[3].via.str.ptr;
	f->hello.name_len = a[3].via.str.size;
	f->hello.nonce = (const uint8_t *)a[4].via.bin.ptr;
	return 0;
}

int actor__frame_decode(struct actor__frame_decoder *d, const void *body, size_t len,
			struct actor__frame *f, const char **why)
{
	static const uint8_t arity[] = {
		[ACTOR__F_HELLO] = 5, [ACTOR__F_AUTH] = 2, [ACTOR__F_MSG] = 9,
		[ACTOR__F_SIGNAL] = 8, [ACTOR__F_PING] = 1,
	};
	msgpack_object top;
	const msgpack_object *a;
	msgpack_unpack_return r;
	size_t n;
	uint64_t kind;

	*why = scan(body, len);
	if (*why != NULL)
		return -EBADMSG;
	msgpack_zone_clear(&d->zone);
	r = msgpack_unpack(body, len, NULL, &d->zone, &top);
	if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
		*why = "out of memory";
		return -ENOMEM;
	}
	CHECK(r == MSGPACK_UNPACK_SUCCESS && top.type == MSGPACK_OBJECT_ARRAY,
	      "msgpack-c refused the body");
	a = top.via.array.ptr;
	n = top.via.array.size;

	CHECK(a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER, "kind is not a uint");
	kind = a[0].via.u64;
	CHECK(kind >= ACTOR__F_HELLO && kind <= ACTOR__F_PING, "unknown frame kind");
	f->kind = (uint32_t)kind;
	/* The version before the arity, so that any later HELLO that starts
	 * [1, version, ...] is refused as a version, not as garbage. */
	if (kind == ACTOR__F_HELLO && n >= 2 && a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    a[1].via.u64 != ACTOR__PROTO_VERSION) {
		f->hello.version = a[1].via.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)a[1].via.u64;
		*why = "HELLO: unsupported protocol version";
		return -EPROTONOSUPPORT;
	}
	if (n != arity[kind]) {
		static const char *const wrong[] = {
			[ACTOR__F_HELLO] = "HELLO: not 5 elements",
			[ACTOR__F_AUTH] = "AUTH: not 2 elements",
			[ACTOR__F_MSG] = "MSG: not 9 elements",
			[ACTOR__F_SIGNAL] = "SIGNAL: not 8 elements",
			[ACTOR__F_PING] = "PING: not 1 element",
		};
		*why = wrong[kind];
		return -EBADMSG;
	}

	switch (kind) {
	case ACTOR__F_MSG:
		return decode_msg(a, f, why);
	case ACTOR__F_SIGNAL:
		return decode_signal(a, f, why);
	case ACTOR__F_HELLO:
		CHECK(a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER, "HELLO: version is not a uint");
		f->hello.version = ACTOR__PROTO_VERSION;
		return decode_hello(a, f, why);
	case ACTOR__F_AUTH:
		CHECK(is_bin(&a[1], ACTOR__MAC_LEN), "AUTH: mac is not a bin of 32 bytes");
		f->auth.mac = (const uint8_t *)a[1].via.bin.ptr;
		return 0;
	default:	/* PING */
		return 0;
	}
}
