/*
 * The handshake (handshake.h, libactor-protocol(7)).
 *
 * Version 1 had both sides send AUTH on the peer's HELLO, under one label:
 * someone without the cookie could connect to two listening nodes and relay
 * each one's AUTH to the other (a splice). Now the labels differ by role
 * and the acceptor checks the dialer's proof before giving its own, so an
 * acceptor never answers anyone who has not shown the cookie first.
 *
 * Why OpenSSL's libcrypto rather than libsodium: it is on every Linux
 * system already, its HMAC and RAND_bytes are all this needs, and TLS
 * comes from the same library.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "cluster/handshake.h"

#define LABEL_LEN 16
static const char dialer_label[LABEL_LEN] = "libactor-dial-v2";
static const char acceptor_label[LABEL_LEN] = "libactor-acpt-v2";

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

int actor__handshake_mac(const void *cookie, size_t cookie_len, bool dialer,
			 const uint8_t *receiver_nonce, const uint8_t *sender_nonce,
			 uint32_t sender, uint32_t receiver, uint8_t out[ACTOR__MAC_LEN])
{
	unsigned char msg[LABEL_LEN + 2 * ACTOR__NONCE_LEN + 8];
	unsigned int len = 0;

	memcpy(msg, dialer ? dialer_label : acceptor_label, LABEL_LEN);
	memcpy(msg + LABEL_LEN, receiver_nonce, ACTOR__NONCE_LEN);
	memcpy(msg + LABEL_LEN + ACTOR__NONCE_LEN, sender_nonce, ACTOR__NONCE_LEN);
	put_be32(msg + LABEL_LEN + 2 * ACTOR__NONCE_LEN, sender);
	put_be32(msg + LABEL_LEN + 2 * ACTOR__NONCE_LEN + 4, receiver);
	if (HMAC(EVP_sha256(), cookie, (int)cookie_len, msg, sizeof msg, out, &len) == NULL ||
	    len != ACTOR__MAC_LEN)
		return -EIO;
	return 0;
}

int actor__handshake_start(struct actor__handshake *h, bool dialer, uint32_t self,
			   const char *name, struct actor__frame *hello)
{
	memset(h, 0, sizeof(*h));
	h->dialer = dialer;
	h->self = self;
	if (RAND_bytes(h->nonce, sizeof h->nonce) != 1)
		return -EIO;
	*hello = (struct actor__frame){ .kind = ACTOR__F_HELLO };
	hello->hello.version = ACTOR__PROTO_VERSION;
	hello->hello.node = self;
	hello->hello.name = name;
	hello->hello.name_len = strlen(name);
	hello->hello.nonce = h->nonce;
	h->state = ACTOR__HS_HELLO;
	return 0;
}

/* Sets *out to our AUTH for the peer. */
static int prove(struct actor__handshake *h, const void *cookie, size_t cookie_len,
		 struct actor__frame *out)
{
	if (actor__handshake_mac(cookie, cookie_len, h->dialer, h->peer_nonce, h->nonce, h->self,
				 h->peer, h->mac) != 0)
		return -EIO;
	out->kind = ACTOR__F_AUTH;
	out->auth.mac = h->mac;
	return 0;
}

static int on_hello(struct actor__handshake *h, const void *cookie, size_t cookie_len,
		    const struct actor__frame *in, struct actor__frame *out)
{
	if (memchr(in->hello.name, '\0', in->hello.name_len) != NULL)
		return -EPROTO;
	if (in->hello.node == h->self)
		return -EEXIST;
	h->peer = in->hello.node;
	memcpy(h->peer_nonce, in->hello.nonce, ACTOR__NONCE_LEN);
	h->state = ACTOR__HS_AUTH;
	return h->dialer ? prove(h, cookie, cookie_len, out) : 0;
}

static int on_auth(struct actor__handshake *h, const void *cookie, size_t cookie_len,
		   const struct actor__frame *in, struct actor__frame *out)
{
	uint8_t want[ACTOR__MAC_LEN];

	if (actor__handshake_mac(cookie, cookie_len, !h->dialer, h->nonce, h->peer_nonce, h->peer,
				 h->self, want) != 0)
		return -EIO;
	if (CRYPTO_memcmp(want, in->auth.mac, ACTOR__MAC_LEN) != 0)
		return -EACCES;
	if (!h->dialer && prove(h, cookie, cookie_len, out) != 0)
		return -EIO;
	h->state = ACTOR__HS_UP;
	return 1;
}

int actor__handshake_step(struct actor__handshake *h, const void *cookie, size_t cookie_len,
			  const struct actor__frame *in, struct actor__frame *out)
{
	int r = -EPROTO;

	out->kind = 0;
	if (h->state == ACTOR__HS_HELLO && in->kind == ACTOR__F_HELLO)
		r = on_hello(h, cookie, cookie_len, in, out);
	else if (h->state == ACTOR__HS_AUTH && in->kind == ACTOR__F_AUTH)
		r = on_auth(h, cookie, cookie_len, in, out);
	if (r < 0) {
		h->state = ACTOR__HS_FAILED;
		out->kind = 0;
	}
	return r;
}
