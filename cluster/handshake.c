/*
 * The handshake (libactor-protocol(7)): both sides send HELLO with a fresh
 * random nonce, then AUTH, an HMAC-SHA-256 keyed with the cookie over both
 * nonces and both node ids in the sender's order. A side that verified the
 * peer's AUTH and sent its own has proven the cookie both ways without
 * sending it; the nonces make every AUTH good for one connection only, and
 * the order of the fields makes a reflected AUTH useless.
 *
 * Why OpenSSL's libcrypto rather than libsodium: it is on every Linux
 * system already, its HMAC and RAND_bytes are all this needs, and TLS,
 * the next step for untrusted networks, would come from the same library.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "cluster/internal.h"

static const char auth_label[16] = "libactor-auth-v1";

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* The MAC that `sender` sends to `receiver`. */
static int mac_of(const struct actor__node *n, const uint8_t *receiver_nonce,
		  const uint8_t *sender_nonce, uint32_t sender, uint32_t receiver,
		  uint8_t out[ACTOR__MAC_LEN])
{
	unsigned char msg[sizeof auth_label + 2 * ACTOR__NONCE_LEN + 8];
	unsigned int len = 0;

	memcpy(msg, auth_label, sizeof auth_label);
	memcpy(msg + 16, receiver_nonce, ACTOR__NONCE_LEN);
	memcpy(msg + 16 + ACTOR__NONCE_LEN, sender_nonce, ACTOR__NONCE_LEN);
	put_be32(msg + 16 + 2 * ACTOR__NONCE_LEN, sender);
	put_be32(msg + 20 + 2 * ACTOR__NONCE_LEN, receiver);
	if (HMAC(EVP_sha256(), n->cookie, (int)n->cfg.cookie_len, msg, sizeof msg, out, &len) ==
		    NULL ||
	    len != ACTOR__MAC_LEN)
		return -EIO;
	return 0;
}

int actor__handshake_begin(struct actor__node *n, struct actor__conn *c, struct actor__link *l)
{
	struct actor__frame f = { .kind = ACTOR__F_HELLO };

	if (RAND_bytes(l->nonce, sizeof l->nonce) != 1)
		return -EIO;
	f.hello.version = ACTOR__PROTO_VERSION;
	f.hello.node = n->sys->node_id;
	f.hello.name = n->cfg.name;
	f.hello.name_len = strlen(n->cfg.name);
	f.hello.nonce = l->nonce;
	l->state = LINK_HELLO;
	actor__node_send_now(n, c, &f);
	return 0;
}

static int on_hello(struct actor__node *n, struct actor__conn *c, struct actor__link *l,
		    const struct actor__frame *f)
{
	struct actor__frame auth = { .kind = ACTOR__F_AUTH };
	struct actor__peer *p = actor__peer_find(n, f->hello.node);
	uint8_t mac[ACTOR__MAC_LEN];

	l->peer_node = f->hello.node;
	if (memchr(f->hello.name, '\0', f->hello.name_len) != NULL) {
		actor__node_log(n, "refused node %08x: a NUL in its name", f->hello.node);
		return -EPROTO;
	}
	/* This node dialed itself (ids are random per system): the dialing
	 * end fails the call with -EEXIST and closes both ends. The accepting
	 * end waits for that rather than closing first, which would reach the
	 * dialer as a reset before it had read this HELLO. Nothing to log. */
	if (f->hello.node == n->sys->node_id)
		return l->host[0] != '\0' ? -EEXIST : 0;
	/* Dialing a node that is up already: done (the caller hears 0). The
	 * accepting side leaves it to the dialer, so both see the same end. */
	if (l->host[0] != '\0' && p != NULL && atomic_load_explicit(&p->up, memory_order_relaxed))
		return -EEXIST;
	memcpy(l->peer_name, f->hello.name, f->hello.name_len);
	l->peer_name[f->hello.name_len] = '\0';
	memcpy(l->peer_nonce, f->hello.nonce, ACTOR__NONCE_LEN);
	if (mac_of(n, l->peer_nonce, l->nonce, n->sys->node_id, l->peer_node, mac) != 0)
		return -EIO;
	auth.auth.mac = mac;
	actor__node_send_now(n, c, &auth);
	l->state = LINK_AUTH;
	return 0;
}

static int on_auth(struct actor__node *n, struct actor__link *l, const struct actor__frame *f)
{
	uint8_t want[ACTOR__MAC_LEN];

	if (mac_of(n, l->nonce, l->peer_nonce, l->peer_node, n->sys->node_id, want) != 0)
		return -EIO;
	if (CRYPTO_memcmp(want, f->auth.mac, ACTOR__MAC_LEN) != 0) {
		actor__node_log(n, "refused node %08x (%s): wrong cookie", l->peer_node,
				l->peer_name);
		atomic_fetch_add_explicit(&n->refused, 1, memory_order_relaxed);
		return -EACCES;
	}
	return 1;
}

int actor__handshake_frame(struct actor__node *n, struct actor__conn *c, struct actor__link *l,
			   const struct actor__frame *f)
{
	if (l->state == LINK_HELLO && f->kind == ACTOR__F_HELLO)
		return on_hello(n, c, l, f);
	if (l->state == LINK_AUTH && f->kind == ACTOR__F_AUTH)
		return on_auth(n, l, f);
	actor__node_log(n, "closed a connection: frame kind %u during the handshake", f->kind);
	return -EPROTO;
}
