/*
 * A peer written against libactor-protocol(7) with plain sockets, for the
 * tests that play a misbehaving or hostile node: it speaks frames through
 * the codec and the handshake machine, and asserts nothing itself.
 */
#ifndef ACTOR_TESTS_RAWPEER_H
#define ACTOR_TESTS_RAWPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/handshake.h"
#include "cluster/wire.h"

struct rawpeer {
	int fd;
	struct actor__frame_decoder *d;
	struct actor__handshake hs;
	uint32_t node;			/* the node's id, from its HELLO */
	unsigned char buf[64 << 10];	/* the last body read */
};

/* Connects to 127.0.0.1:port; NULL if it cannot. */
struct rawpeer *rawpeer_connect(uint16_t port);
void rawpeer_close(struct rawpeer *rp);

/* Writes all n bytes; false if the node closed the connection. */
bool rawpeer_write(struct rawpeer *rp, const void *p, size_t n);
bool rawpeer_send(struct rawpeer *rp, const struct actor__frame *f);
/* The next frame within timeout_ms: 0, -EAGAIN (none came), -EPIPE (the
 * node closed the connection), -EBADMSG (it sent something else). */
int rawpeer_recv(struct rawpeer *rp, struct actor__frame *f, int timeout_ms);
/* Whether the node closes the connection within timeout_ms (frames before
 * the end are skipped). */
bool rawpeer_closed(struct rawpeer *rp, int timeout_ms);

/* A whole handshake as the dialer, as node self named name: 0 when both
 * sides are up, else the step that failed (-errno). */
int rawpeer_handshake(struct rawpeer *rp, const void *cookie, size_t cookie_len, uint32_t self,
		      const char *name);

#endif
