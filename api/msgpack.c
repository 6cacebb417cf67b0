/*
 * Payloads encoded with msgpack-c (include/actor/msgpack.h): unpacking a
 * payload in place and sending an sbuffer's memory as a moved payload.
 * Written on the public API alone (actor_msg_data, actor_send_moved): the
 * rest of the library does not depend on it.
 *
 * Unpacking: msgpack-c's unpacker has no limits of its own (a 5-byte
 * array32 header makes it allocate 24 bytes per declared element, and a
 * deep nest fails as "no memory"), so check() walks the bytes first in one
 * bounded pass: every declared count must fit in the bytes that remain,
 * nesting stops at ACTOR_MSGPACK_MAX_DEPTH (msgpack-c's own stack), and
 * the payload must be exactly one object. msgpack_unpack() then allocates
 * at most a few dozen bytes of zone per payload byte, and leaves strings,
 * binaries and ext data pointing into the payload.
 *
 * Any thread: nothing here is shared; the unpack calls do not block.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <actor/msgpack.h>

static uint64_t load_be(const unsigned char *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

/* 0 if p[0..len) is exactly one msgpack object within the limits above. */
static int check(const unsigned char *p, size_t len)
{
	uint64_t open[ACTOR_MSGPACK_MAX_DEPTH];	/* objects each open container still holds */
	unsigned depth = 0;
	uint64_t owed = 1;			/* objects still to read, at every level */
	size_t pos = 0;

	while (owed > 0) {
		unsigned width = 0;		/* bytes of a length field */
		uint64_t skip = 0;		/* bytes of data after the header */
		uint64_t n = 0;			/* objects in a container */
		bool container = false, map = false;
		unsigned char b;

		if (pos >= len)
			return -EBADMSG;
		b = p[pos++];
		owed--;
		if (depth > 0)
			open[depth - 1]--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			;				/* fixints, nil, booleans */
		else if (b <= 0x8f)
			n = b & 0x0f, container = map = true;	/* fixmap */
		else if (b <= 0x9f)
			n = b & 0x0f, container = true;	/* fixarray */
		else if (b <= 0xbf)
			skip = b & 0x1f;		/* fixstr */
		else if (b == 0xc1)
			return -EBADMSG;		/* never used */
		else if (b <= 0xc6)
			width = 1u << (b - 0xc4);	/* bin 8, 16, 32 */
		else if (b <= 0xc9)
			width = 1u << (b - 0xc7), skip = 1;	/* ext: also its type */
		else if (b <= 0xcb)
			skip = b == 0xca ? 4 : 8;	/* float 32, 64 */
		else if (b <= 0xd3)
			skip = 1u << ((b - 0xcc) & 3);	/* uint, int 8..64 */
		else if (b <= 0xd8)
			skip = 1 + (1u << (b - 0xd4));	/* fixext 1..16 */
		else if (b <= 0xdb)
			width = 1u << (b - 0xd9);	/* str 8, 16, 32 */
		else
			width = b & 1 ? 4 : 2, container = true, map = b >= 0xde;

		if (width != 0) {
			uint64_t v;

			if (len - pos < width)
				return -EBADMSG;
			v = load_be(p + pos, width);
			pos += width;
			if (b >= 0xdc)
				n = v;
			else
				skip += v;
		}
		if (skip > len - pos)
			return -EBADMSG;
		pos += skip;
		if (map)
			n *= 2;
		/* msgpack-c counts an empty container against its stack too. */
		if (container && depth == ACTOR_MSGPACK_MAX_DEPTH)
			return -EBADMSG;
		if (n > 0) {
			/* Every object takes a byte at least. */
			if (owed + n > len - pos)
				return -EBADMSG;
			open[depth++] = n;
			owed += n;
		}
		while (depth > 0 && open[depth - 1] == 0)
			depth--;
	}
	return pos == len ? 0 : -EBADMSG;
}

int actor_msgpack_unpack(const void *data, size_t size, msgpack_zone *zone,
			 msgpack_object *out)
{
	size_t off = 0;
	int err;

	if (zone == NULL || out == NULL)
		return -EINVAL;
	err = check(data, size);
	if (err < 0)
		return err;
	switch (msgpack_unpack(data, size, &off, zone, out)) {
	case MSGPACK_UNPACK_SUCCESS:
		return 0;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return -ENOMEM;
	default:
		return -EBADMSG;	/* check() let through what msgpack-c refuses */
	}
}

int actor_msg_unpack(const actor_msg_t *msg, msgpack_zone *zone, msgpack_object *out)
{
	return actor_msgpack_unpack(actor_msg_data(msg), actor_msg_size(msg), zone, out);
}

int actor_send_sbuffer(actor_ctx_t *ctx, actor_ref_t to, uint32_t type, msgpack_sbuffer *sbuf)
{
	size_t size = sbuf->size;

	return actor_send_moved(ctx, to, type, msgpack_sbuffer_release(sbuf), size, free);
}

int actor_system_send_sbuffer(actor_system_t *sys, actor_ref_t to, uint32_t type,
			      msgpack_sbuffer *sbuf)
{
	size_t size = sbuf->size;

	return actor_system_send_moved(sys, to, type, msgpack_sbuffer_release(sbuf), size, free);
}
