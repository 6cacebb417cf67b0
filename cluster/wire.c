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
#include "sched/seam.h"
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

/* A member's fields are what the decoder accepts (the types sorted). */
static bool member_ok(const struct actor__wire_member *m)
{
	if (m->node == 0 || m->node == ACTOR__NODE_VIRTUAL || m->incarnation == 0 || m->name_len == 0 ||
	    m->name_len > ACTOR__NODE_NAME_MAX || m->host_len > ACTOR__HOST_MAX ||
	    (m->host_len == 0) != (m->port == 0) || m->ntypes > ACTOR__MEMBER_TYPES_MAX ||
	    memchr(m->name, '\0', m->name_len) != NULL ||
	    (m->host_len > 0 && memchr(m->host, '\0', m->host_len) != NULL))
		return false;
	for (size_t i = 1; i < m->ntypes; i++)
		if (actor__wire_type(m, i - 1) >= actor__wire_type(m, i))
			return false;
	return true;
}

/* A member's six fields (VIEW) or a JOIN's (after its kind). */
static void pack_member(msgpack_packer *pk, const struct actor__wire_member *m)
{
	msgpack_pack_uint32(pk, m->node);
	msgpack_pack_uint32(pk, m->incarnation);
	msgpack_pack_str_with_body(pk, m->name, m->name_len);
	msgpack_pack_str(pk, m->host_len);
	if (m->host_len > 0)
		msgpack_pack_str_body(pk, m->host, m->host_len);
	msgpack_pack_uint16(pk, m->port);
	msgpack_pack_bin(pk, 8 * (size_t)m->ntypes);
	for (size_t i = 0; i < m->ntypes; i++) {
		uint64_t v = actor__wire_type(m, i);
		unsigned char be[8];

		for (int k = 7; k >= 0; k--, v >>= 8)
			be[k] = (unsigned char)v;
		msgpack_pack_bin_body(pk, be, sizeof be);
	}
}

/* The i-th member (departure) of an encoded or decoded VIEW, in order;
 * *cursor follows a decoded one. */
static void view_member(const struct actor__frame *f, size_t i, const void **cursor,
			struct actor__wire_member *m)
{
	if (f->view.members != NULL)
		*m = f->view.members[i];
	else
		*cursor = actor__frame_view_member(f, *cursor, m);
}

static void view_departure(const struct actor__frame *f, size_t i, const void **cursor,
			   struct actor__wire_departure *d)
{
	if (f->view.departed != NULL)
		*d = f->view.departed[i];
	else
		*cursor = actor__frame_view_departure(f, *cursor, d);
}

static bool pack_view(msgpack_packer *pk, const struct actor__frame *f)
{
	const void *mc = f->view.members_at, *dc = f->view.departed_at;
	struct actor__wire_member m;
	struct actor__wire_departure d;
	uint32_t prev = 0;

	if (f->view.epoch == 0 || f->view.nmembers == 0 ||
	    f->view.nmembers > ACTOR__VIEW_MEMBERS_MAX ||
	    f->view.ndeparted > ACTOR__VIEW_DEPARTED_MAX ||
	    (f->view.members == NULL && mc == NULL) ||
	    (f->view.ndeparted > 0 && f->view.departed == NULL && dc == NULL))
		return false;
	msgpack_pack_array(pk, 3 + 6 * (size_t)f->view.nmembers + 1 + 3 * (size_t)f->view.ndeparted);
	msgpack_pack_uint8(pk, ACTOR__F_VIEW);
	msgpack_pack_uint64(pk, f->view.epoch);
	msgpack_pack_uint32(pk, f->view.nmembers);
	for (size_t i = 0; i < f->view.nmembers; i++) {
		view_member(f, i, &mc, &m);
		if (!member_ok(&m) || m.node <= prev)
			return false;
		prev = m.node;
		pack_member(pk, &m);
	}
	msgpack_pack_uint32(pk, f->view.ndeparted);
	for (size_t i = 0; i < f->view.ndeparted; i++) {
		view_departure(f, i, &dc, &d);
		if (d.node == 0 || d.incarnation == 0 ||
		    (d.cause != ACTOR__DEPART_DEAD && d.cause != ACTOR__DEPART_LEFT))
			return false;
		msgpack_pack_uint32(pk, d.node);
		msgpack_pack_uint32(pk, d.incarnation);
		msgpack_pack_uint8(pk, (uint8_t)d.cause);
	}
	return true;
}

/* What a member takes packed at most: six fields' headers and bodies. */
static size_t member_max(const struct actor__wire_member *m)
{
	return 5 + 5 + 5 + m->name_len + 5 + m->host_len + 3 + 5 + 8 * (size_t)m->ntypes;
}

size_t actor__frame_max(const struct actor__frame *f)
{
	const void *mc;
	struct actor__wire_member m;
	size_t n;

	switch (f->kind) {
	case ACTOR__F_MSG:
		return ACTOR__MSG_FRAME_MAX(f->msg.size);
	case ACTOR__F_JOIN:
		return ACTOR__FRAME_PREFIX + 1 + 1 + member_max(&f->join);
	case ACTOR__F_VIEW:
		mc = f->view.members_at;
		if (f->view.members == NULL && mc == NULL)
			return ACTOR__CTRL_FRAME_MAX;
		n = ACTOR__FRAME_PREFIX + 5 + 1 + 9 + 5 + 5 + 11 * (size_t)f->view.ndeparted;
		for (size_t i = 0; i < f->view.nmembers && i < ACTOR__VIEW_MEMBERS_MAX; i++) {
			view_member(f, i, &mc, &m);
			n += member_max(&m);
		}
		return n;
	default:
		return ACTOR__CTRL_FRAME_MAX;
	}
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
		if (f->hello.node == 0 || f->hello.node == ACTOR__NODE_VIRTUAL || f->hello.name_len == 0 ||
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
	case ACTOR__F_VIEW:
		if (!pack_view(&pk, f))
			return 0;
		break;
	case ACTOR__F_JOIN:
		if (!member_ok(&f->join))
			return 0;
		msgpack_pack_array(&pk, 7);
		msgpack_pack_uint8(&pk, ACTOR__F_JOIN);
		pack_member(&pk, &f->join);
		break;
	case ACTOR__F_PROBE:
	case ACTOR__F_ACK:
		if (f->probe.epoch == 0)
			return 0;
		if (f->probe.sealed > f->probe.epoch)
			return 0;
		msgpack_pack_array(&pk, 6);
		msgpack_pack_uint8(&pk, (uint8_t)f->kind);
		msgpack_pack_uint64(&pk, f->probe.seq);
		msgpack_pack_uint64(&pk, f->probe.epoch);
		msgpack_pack_uint64(&pk, f->probe.digest);
		msgpack_pack_uint32(&pk, f->probe.target);
		msgpack_pack_uint64(&pk, f->probe.sealed);
		break;
	case ACTOR__F_PULL:
		if (f->pull.epoch == 0)
			return 0;
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint8(&pk, ACTOR__F_PULL);
		msgpack_pack_uint64(&pk, f->pull.epoch);
		break;
	case ACTOR__F_LEAVE:
		if (f->leave.node == 0 || f->leave.incarnation == 0)
			return 0;
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint8(&pk, ACTOR__F_LEAVE);
		msgpack_pack_uint32(&pk, f->leave.node);
		msgpack_pack_uint32(&pk, f->leave.incarnation);
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

#define FAIL(msg)            \
	do {                 \
		*why = (msg); \
		return 0;    \
	} while (0)

/* The element count of the array header at *p (moved past it), or 0 with
 * *why set. */
static size_t read_header(const unsigned char **pp, const unsigned char *end, const char **why)
{
	const unsigned char *p = *pp;
	size_t n, hdr;
	unsigned b;

	if (p == end)
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
	*pp = p;
	return n;
}

/* One element at *pp (moved past it) into it, within end: 1, or 0 with
 * *why set. */
static int read_item(const unsigned char **pp, const unsigned char *end, struct item *it,
		     const char **why)
{
	const unsigned char *p = *pp;
	size_t hdr = 0, w;
	unsigned b;

	if (p == end)
		FAIL("truncated");
	b = *p++;
	if (b <= 0x7f) {
		it->type = IT_UINT;
		it->u = b;
		*pp = p;
		return 1;
	}
	if (b >= 0xe0) {
		it->type = IT_NINT;
		it->i = (int64_t)b - 0x100;
		*pp = p;
		return 1;
	}
	if (b >= 0xcc && b <= 0xd3) {	/* uint8..64, int8..64 */
		w = (size_t)1 << (b & 0x3);
		if ((size_t)(end - p) < w)
			FAIL("truncated");
		read_int(it, b, p, w);
		*pp = p + w;
		return 1;
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
	*pp = p + it->len;
	return 1;
}

/*
 * Reads a body that must be exactly one array of 1..FIELDS_MAX integers,
 * str and bin, each within the bytes that remain, into items. Returns the
 * element count, or 0 with *why set.
 */
static size_t scan(const unsigned char *p, size_t len, struct item *items, const char **why)
{
	const unsigned char *end = p + len;
	size_t n;

	if ((n = read_header(&p, end, why)) == 0)
		return 0;
	if (n > FIELDS_MAX)
		FAIL("array too long for any frame");
	for (size_t k = 0; k < n; k++)
		if (!read_item(&p, end, &items[k], why))
			return 0;
	if (p != end)
		FAIL("trailing bytes after the array");
	return n;
}
#undef FAIL

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
	/* 0 is "this node" in a reference, ACTOR__NODE_VIRTUAL marks virtual
	 * references: no node has either id (sched/system.c). */
	CHECK(a[2].u != 0 && a[2].u != ACTOR__NODE_VIRTUAL, "HELLO: node is 0 or 0xffffffff");
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

/* A member's six fields (VIEW, JOIN) in a[0..5], as what (for *why). */
static int decode_member(const struct item *a, struct actor__wire_member *m, bool view,
			 const char **why)
{
#define M(join_msg, view_msg) (view ? (view_msg) : (join_msg))
	CHECK(is_uint(&a[0], UINT32_MAX) && a[0].u != 0 && a[0].u != ACTOR__NODE_VIRTUAL,
	      M("JOIN: node is not a uint32 other than 0 and 0xffffffff",
		"VIEW: a node is not a uint32 other than 0 and 0xffffffff"));
	CHECK(is_uint(&a[1], UINT32_MAX) && a[1].u != 0,
	      M("JOIN: incarnation is not a uint32 other than 0",
		"VIEW: an incarnation is not a uint32 other than 0"));
	CHECK(a[2].type == IT_STR && a[2].len >= 1 && a[2].len <= ACTOR__NODE_NAME_MAX &&
		      memchr(a[2].p, '\0', a[2].len) == NULL,
	      M("JOIN: name is not a str of 1..255 bytes without NUL",
		"VIEW: a name is not a str of 1..255 bytes without NUL"));
	CHECK(a[3].type == IT_STR && a[3].len <= ACTOR__HOST_MAX &&
		      (a[3].len == 0 || memchr(a[3].p, '\0', a[3].len) == NULL),
	      M("JOIN: host is not a str of 0..255 bytes without NUL",
		"VIEW: a host is not a str of 0..255 bytes without NUL"));
	CHECK(is_uint(&a[4], UINT16_MAX), M("JOIN: port is not a uint16", "VIEW: a port is not a uint16"));
	CHECK((a[3].len == 0) == (a[4].u == 0),
	      M("JOIN: port 0 with a host, or a host without a port",
		"VIEW: port 0 with a host, or a host without a port"));
	CHECK(a[5].type == IT_BIN && a[5].len % 8 == 0 &&
		      a[5].len / 8 <= ACTOR__MEMBER_TYPES_MAX,
	      M("JOIN: types is not a bin of 8 x 0..64 bytes",
		"VIEW: types is not a bin of 8 x 0..64 bytes"));
	for (size_t i = 8; i < a[5].len; i += 8)
		CHECK(memcmp(a[5].p + i - 8, a[5].p + i, 8) < 0,
		      M("JOIN: types are not sorted strictly", "VIEW: types are not sorted strictly"));
#undef M
	m->node = (uint32_t)a[0].u;
	m->incarnation = (uint32_t)a[1].u;
	m->name = (const char *)a[2].p;
	m->name_len = a[2].len;
	m->host = (const char *)a[3].p;
	m->host_len = a[3].len;
	m->port = (uint16_t)a[4].u;
	m->ntypes = (uint32_t)(a[5].len / 8);
	m->types = NULL;
	m->types_be = a[5].p;
	return 0;
}

static int decode_departure(const struct item *a, struct actor__wire_departure *dp,
			    const char **why)
{
	CHECK(is_uint(&a[0], UINT32_MAX) && a[0].u != 0,
	      "VIEW: a departed node is not a uint32 other than 0");
	CHECK(is_uint(&a[1], UINT32_MAX) && a[1].u != 0,
	      "VIEW: a departed incarnation is not a uint32 other than 0");
	CHECK(a[2].type == IT_UINT && (a[2].u == ACTOR__DEPART_DEAD || a[2].u == ACTOR__DEPART_LEFT),
	      "VIEW: a departure's cause is unknown");
	dp->node = (uint32_t)a[0].u;
	dp->incarnation = (uint32_t)a[1].u;
	dp->cause = (uint32_t)a[2].u;
	return 0;
}

/*
 * The rest of a VIEW of n elements after its kind, from p: read and checked
 * whole in one pass, with no more room than one member's fields. The
 * cursors point at the first member and departure.
 */
static int decode_view(const unsigned char *p, const unsigned char *end, size_t n,
		       struct actor__frame *f, const char **why)
{
	struct item a[6];
	struct actor__wire_member m;
	struct actor__wire_departure dp;
	uint64_t members, departed;
	uint32_t prev = 0;
	int err;

#define READ(k)                                   \
	do {                                      \
		for (size_t i_ = 0; i_ < (k); i_++) \
			if (!read_item(&p, end, &a[i_], why)) \
				return -EBADMSG;  \
	} while (0)
	CHECK(n >= 4, "VIEW: fewer than 4 elements");
	READ(2);
	CHECK(is_uint(&a[0], UINT64_MAX) && a[0].u != 0, "VIEW: epoch is not a uint64 other than 0");
	CHECK(a[1].type == IT_UINT && a[1].u >= 1 && a[1].u <= ACTOR__VIEW_MEMBERS_MAX,
	      "VIEW: not 1..1024 members");
	f->view.epoch = a[0].u;
	members = a[1].u;
	CHECK(n >= 3 + 6 * members + 1, "VIEW: fewer elements than its members take");
	f->view.members_at = p;
	for (uint64_t i = 0; i < members; i++) {
		READ(6);
		if ((err = decode_member(a, &m, true, why)) != 0)
			return err;
		CHECK(m.node > prev, "VIEW: members are not sorted strictly by node");
		prev = m.node;
	}
	READ(1);
	CHECK(a[0].type == IT_UINT && a[0].u <= ACTOR__VIEW_DEPARTED_MAX,
	      "VIEW: not 0..1024 departures");
	departed = a[0].u;
	CHECK(n == 3 + 6 * members + 1 + 3 * departed,
	      "VIEW: the element count is not that of its members and departures");
	f->view.departed_at = p;
	for (uint64_t i = 0; i < departed; i++) {
		READ(3);
		if ((err = decode_departure(a, &dp, why)) != 0)
			return err;
	}
#undef READ
	CHECK(p == end, "trailing bytes after the array");
	f->view.nmembers = (uint32_t)members;
	f->view.ndeparted = (uint32_t)departed;
	f->view.members = NULL;
	f->view.departed = NULL;
	f->view.end = end;
	return 0;
}

const void *actor__frame_view_member(const struct actor__frame *f, const void *cursor,
				     struct actor__wire_member *m)
{
	const unsigned char *p = cursor;
	struct item a[6];
	const char *why;

	/* Checked whole at decode. */
	for (size_t i = 0; i < 6; i++)
		read_item(&p, f->view.end, &a[i], &why);
	decode_member(a, m, true, &why);
	return p;
}

const void *actor__frame_view_departure(const struct actor__frame *f, const void *cursor,
					struct actor__wire_departure *d)
{
	const unsigned char *p = cursor;
	struct item a[3];
	const char *why;

	for (size_t i = 0; i < 3; i++)
		read_item(&p, f->view.end, &a[i], &why);
	decode_departure(a, d, &why);
	return p;
}

static int decode_probe(const struct item *a, struct actor__frame *f, const char **why)
{
	bool ack = a[0].u == ACTOR__F_ACK;

	CHECK(is_uint(&a[1], UINT64_MAX), ack ? "ACK: seq is not a uint64" : "PROBE: seq is not a uint64");
	CHECK(is_uint(&a[2], UINT64_MAX) && a[2].u != 0,
	      ack ? "ACK: epoch is not a uint64 other than 0" : "PROBE: epoch is not a uint64 other than 0");
	CHECK(is_uint(&a[3], UINT64_MAX), ack ? "ACK: digest is not a uint64" : "PROBE: digest is not a uint64");
	CHECK(is_uint(&a[4], UINT32_MAX), ack ? "ACK: target is not a uint32" : "PROBE: target is not a uint32");
	CHECK(is_uint(&a[5], a[2].u), ack ? "ACK: sealed is not a uint64 up to epoch" :
					    "PROBE: sealed is not a uint64 up to epoch");
	f->probe.seq = a[1].u;
	f->probe.epoch = a[2].u;
	f->probe.digest = a[3].u;
	f->probe.target = (uint32_t)a[4].u;
	f->probe.sealed = a[5].u;
	return 0;
}

static bool known_kind(uint64_t kind)
{
	return (kind >= ACTOR__F_HELLO && kind <= ACTOR__F_VIRTUAL) ||
	       (kind >= ACTOR__F_VIEW && kind <= ACTOR__F_LEAVE);
}

int actor__frame_decode(struct actor__frame_decoder *d, const void *body, size_t len,
			struct actor__frame *f, const char **why)
{
	static const uint8_t arity[] = {
		[ACTOR__F_HELLO] = 5, [ACTOR__F_AUTH] = 2, [ACTOR__F_MSG] = 9,
		[ACTOR__F_SIGNAL] = 8, [ACTOR__F_PING] = 1, [ACTOR__F_VIRTUAL] = 11,
		[ACTOR__F_VIEW] = 0, [ACTOR__F_JOIN] = 7, [ACTOR__F_PROBE] = 6,
		[ACTOR__F_ACK] = 6, [ACTOR__F_PULL] = 2, [ACTOR__F_LEAVE] = 3,
	};
	static const char *const wrong_arity[] = {
		[ACTOR__F_HELLO] = "HELLO: not 5 elements",
		[ACTOR__F_AUTH] = "AUTH: not 2 elements",
		[ACTOR__F_MSG] = "MSG: not 9 elements",
		[ACTOR__F_SIGNAL] = "SIGNAL: not 8 elements",
		[ACTOR__F_PING] = "PING: not 1 element",
		[ACTOR__F_VIRTUAL] = "VIRTUAL: not 11 elements",
		[ACTOR__F_VIEW] = "VIEW: fewer than 10 elements",
		[ACTOR__F_JOIN] = "JOIN: not 7 elements",
		[ACTOR__F_PROBE] = "PROBE: not 6 elements",
		[ACTOR__F_ACK] = "ACK: not 6 elements",
		[ACTOR__F_PULL] = "PULL: not 2 elements",
		[ACTOR__F_LEAVE] = "LEAVE: not 3 elements",
	};
	const unsigned char *p = body, *end = p + len;
	const struct item *a = d->items;
	size_t n;
	uint64_t kind;
	int err;

	*why = NULL;
	/* A VIEW (10 elements or more) is decoded in a pass of its own, and
	 * only a VIEW is longer than FIELDS_MAX: its kind first. */
	if ((n = read_header(&p, end, why)) == 0)
		return -EBADMSG;
	if (n >= 10) {
		CHECK(n <= 3 + 6 * (size_t)ACTOR__VIEW_MEMBERS_MAX + 1 +
				   3 * (size_t)ACTOR__VIEW_DEPARTED_MAX,
		      "array too long for any frame");
		if (!read_item(&p, end, &d->items[0], why))
			return -EBADMSG;
		if (a[0].type == IT_UINT && a[0].u == ACTOR__F_VIEW) {
			f->kind = ACTOR__F_VIEW;
			return decode_view(p, end, n, f, why);
		}
		CHECK(n <= FIELDS_MAX, "array too long for any frame");
	}
	n = scan(body, len, d->items, why);
	if (n == 0)
		return -EBADMSG;
	CHECK(a[0].type == IT_UINT, "kind is not a uint");
	kind = a[0].u;
	CHECK(known_kind(kind), "unknown frame kind");
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
	case ACTOR__F_JOIN:
		err = decode_member(a + 1, &f->join, false, why);
		return err;
	case ACTOR__F_PROBE:
	case ACTOR__F_ACK:
		return decode_probe(a, f, why);
	case ACTOR__F_PULL:
		CHECK(is_uint(&a[1], UINT64_MAX) && a[1].u != 0,
		      "PULL: epoch is not a uint64 other than 0");
		f->pull.epoch = a[1].u;
		return 0;
	case ACTOR__F_LEAVE:
		CHECK(is_uint(&a[1], UINT32_MAX) && a[1].u != 0,
		      "LEAVE: node is not a uint32 other than 0");
		CHECK(is_uint(&a[2], UINT32_MAX) && a[2].u != 0,
		      "LEAVE: incarnation is not a uint32 other than 0");
		f->leave.node = (uint32_t)a[1].u;
		f->leave.incarnation = (uint32_t)a[2].u;
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
