/*
 * The handshake of libactor-protocol(7), version 2, as a state machine that
 * knows nothing about nodes or sockets: frames in, frames out. node.c runs
 * one per connection and adds the node's own rules (a peer already up);
 * tests/fuzz/fuzz_handshake.c plays frame sequences against it.
 *
 * Both sides send HELLO at once. The dialer answers the acceptor's HELLO
 * with its AUTH; the acceptor proves nothing until it has checked that
 * AUTH, then sends its own and is up; the dialer is up once it has checked
 * the acceptor's. Each MAC covers a label naming the sender's role, both
 * nonces and both ids, so no AUTH a node sends answers any challenge of
 * another connection, nor one of the other role (a splice between two
 * acceptors, or a reflection, has nothing to relay).
 */
#ifndef ACTOR_CLUSTER_HANDSHAKE_H
#define ACTOR_CLUSTER_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/wire.h"

enum { ACTOR__HS_HELLO, ACTOR__HS_AUTH, ACTOR__HS_UP, ACTOR__HS_FAILED };

struct actor__handshake {
	int state;
	bool dialer;
	uint32_t self, peer;
	uint8_t nonce[ACTOR__NONCE_LEN], peer_nonce[ACTOR__NONCE_LEN];
	uint8_t mac[ACTOR__MAC_LEN];	/* the AUTH being sent */
};

/*
 * Starts a handshake for node self (name: a C string of 1..255 bytes) on a
 * new connection: draws the nonce and fills *hello, the frame to send now
 * (it points into h and name). 0 or -EIO (no randomness).
 */
int actor__handshake_start(struct actor__handshake *h, bool dialer, uint32_t self,
			   const char *name, struct actor__frame *hello);

/*
 * One frame from the peer. *out gets a frame to send (kind 0: none; it
 * points into h). Returns 1 when the connection is up, 0 to go on, or
 * -EPROTO (a frame out of turn, a NUL in the peer's name), -EEXIST (the
 * peer claims this node's id) or -EACCES (a wrong MAC): close it. Once it
 * returned anything but 0, every later call returns -EPROTO.
 */
int actor__handshake_step(struct actor__handshake *h, const void *cookie, size_t cookie_len,
			  const struct actor__frame *in, struct actor__frame *out);

/*
 * The MAC that a side in role `dialer` sends: HMAC-SHA-256 keyed with the
 * cookie over its role's label, the receiver's nonce, the sender's nonce,
 * the sender's id and the receiver's id. 0 or -EIO.
 */
int actor__handshake_mac(const void *cookie, size_t cookie_len, bool dialer,
			 const uint8_t *receiver_nonce, const uint8_t *sender_nonce,
			 uint32_t sender, uint32_t receiver, uint8_t out[ACTOR__MAC_LEN]);

#endif /* ACTOR_CLUSTER_HANDSHAKE_H */
