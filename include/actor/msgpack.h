/*
 * libactor: payloads encoded with msgpack-c, for programs that want them.
 *
 * A payload is bytes; a struct sent as it is has the sender's layout, byte
 * order and padding, which another node's architecture may not share.
 * msgpack is a portable encoding: pack with msgpack-c's packer into a
 * msgpack_sbuffer, send it with actor_send_sbuffer(), and read it in the
 * handler with actor_msg_unpack(). Neither call copies the payload. The
 * rest of the API does not need this header, nor msgpack-c's. Compile and
 * link with msgpack-c too (pkg-config: libactor msgpack). See
 * actor_msg_unpack(3) and actor_send_sbuffer(3).
 */
#ifndef ACTOR_MSGPACK_H
#define ACTOR_MSGPACK_H

#include <msgpack.h>

#include <actor/actor.h>

ACTOR_BEGIN_DECLS

/*
 * Unpacks a payload that is exactly one msgpack object into *out, without
 * copying it: strings, binaries and ext data in *out point into the
 * payload (valid while it is: in a handler, until the handler returns);
 * arrays and maps are allocated from zone, which the caller owns and frees
 * (msgpack_zone_destroy) or reuses (msgpack_zone_clear). The bytes are
 * checked before msgpack-c reads them: counts must fit in the bytes that
 * remain, nesting is at most ACTOR_MSGPACK_MAX_DEPTH. 0, or -EBADMSG
 * (empty, malformed, truncated, trailing bytes, too deep), -ENOMEM,
 * -EINVAL (zone or out NULL). actor_msgpack_unpack() takes any bytes: a
 * reply from actor_system_ask(), a claimed payload.
 */
#define ACTOR_MSGPACK_MAX_DEPTH 32
ACTOR_API int actor_msg_unpack(const actor_msg_t *msg, msgpack_zone *zone,
			       msgpack_object *out);
ACTOR_API int actor_msgpack_unpack(const void *data, size_t size, msgpack_zone *zone,
				   msgpack_object *out);

/*
 * Sends what a packer wrote into sbuf without copying it: the sbuffer's
 * memory becomes the message's payload (actor_send_moved() with free()),
 * and sbuf is left empty (msgpack_sbuffer_release()), ready for the next
 * message, whether or not the send succeeds. The errors of actor_send()
 * and actor_system_send().
 */
ACTOR_API int actor_send_sbuffer(actor_ctx_t *ctx, actor_ref_t to, uint32_t type,
				 msgpack_sbuffer *sbuf);
ACTOR_API int actor_system_send_sbuffer(actor_system_t *sys, actor_ref_t to, uint32_t type,
					msgpack_sbuffer *sbuf);

ACTOR_END_DECLS

#endif /* ACTOR_MSGPACK_H */
