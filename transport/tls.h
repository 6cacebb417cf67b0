/*
 * TLS 1.3 for the TCP transports, with OpenSSL: mutual, each side presents
 * a certificate signed by the configured CA and checks the other's (names
 * are not checked: the CA is the cluster's own). One context per transport
 * (no global state), one struct actor__tls per connection, I/O thread only.
 *
 * A connection goes through two stages:
 *
 * Handshake. OpenSSL reads and writes the nonblocking socket itself, through
 * a BIO that calls recv() and send() (MSG_NOSIGNAL). It reads exactly one
 * record at a time, so it never takes a byte of what follows the peer's
 * Finished out of the socket: that is what lets the kernel take over the
 * records afterwards. The transport calls actor__tls_handshake() whenever
 * the socket may have become readable or writable, holds queued frames back
 * and does not read until it returns 1. No timer here: the layer above
 * closes a connection whose handshake takes too long (cluster/ does, with
 * its handshake timeout, which starts when the socket connects).
 *
 * Records. Each direction goes to the kernel (kTLS: TCP_ULP "tls", then
 * TLS_TX or TLS_RX with keys derived from the traffic secrets) where it
 * can, and then carries plaintext on the socket, so that the transport's
 * batched sendmsg and io_uring receive paths work unchanged. OpenSSL 3.0
 * installs kTLS for TLS 1.3 in the sending direction only, and only on a
 * socket BIO, hence the keys are derived here (from the secrets OpenSSL
 * reports through its key log callback). A direction the kernel does not
 * take (no "tls" module, $ACTOR_KTLS=0, a cipher it lacks) stays with
 * OpenSSL, over memory: actor__tls_feed() and actor__tls_read() decrypt the
 * bytes the transport received, actor__tls_write() encrypts into a buffer
 * that the transport sends (actor__tls_out(), actor__tls_sent()).
 *
 * No session tickets (the server would send them as records after the
 * handshake, ahead of the kernel's sequence numbers) and no resumption.
 *
 * Errors: -EKEYREJECTED when a certificate was refused, by this side or (as
 * an alert) by the peer: unknown CA, expired, missing; -EPROTONOSUPPORT for
 * any other failed handshake (the peer does not speak TLS 1.3, or not TLS
 * at all); -EBADMSG for a bad record afterwards (as kTLS says too); -errno
 * from the socket; -ECONNRESET for an EOF or a close_notify.
 */
#ifndef ACTOR_TRANSPORT_TLS_H
#define ACTOR_TRANSPORT_TLS_H

#include <linux/tls.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "transport/transport.h"

struct actor__tls_ctx;
struct actor__tls;

/* What an unfinished handshake waits for. */
enum { ACTOR__TLS_WANT_READ = 1, ACTOR__TLS_WANT_WRITE = 2 };

/*
 * The context for cfg's CA, certificate and key (PEM files); kTLS is tried
 * unless $ACTOR_KTLS is "0". -EINVAL (said why on stderr) or -ENOMEM.
 */
int actor__tls_ctx_create(const struct actor__transport_config *cfg,
			  struct actor__tls_ctx **out);
/* After every connection made with it is freed. */
void actor__tls_ctx_destroy(struct actor__tls_ctx *x);

/* A connection on fd, as the server (accepted) or the client (dialed). */
int actor__tls_new(struct actor__tls_ctx *x, int fd, bool server, struct actor__tls **out);
void actor__tls_free(struct actor__tls *s);

/*
 * Advances the handshake: 0 and *want while it waits, 1 once it is done
 * (kTLS installed where it could be), or a negative error.
 */
int actor__tls_handshake(struct actor__tls *s, int *want);
bool actor__tls_handshaking(const struct actor__tls *s);
/* After the handshake: whether a direction's records are OpenSSL's; when
 * neither is, the connection needs its actor__tls no more. */
bool actor__tls_rx_user(const struct actor__tls *s);
bool actor__tls_tx_user(const struct actor__tls *s);

/* Inbound, user space: room for one receive of ciphertext (16 KiB). */
void actor__tls_rspace(struct actor__tls *s, unsigned char **p, size_t *len);
/* The next n bytes of ciphertext, read from until actor__tls_read() says 0;
 * p must stay valid until then. */
void actor__tls_feed(struct actor__tls *s, const unsigned char *p, size_t n);
/* Plaintext into p: bytes (> 0), 0 when the fed bytes are used up, or a
 * negative error. */
long actor__tls_read(struct actor__tls *s, unsigned char *p, size_t len);
/* Whether OpenSSL holds part of a record, or plaintext not yet read. */
bool actor__tls_input_pending(const struct actor__tls *s);

/*
 * Outbound, user space: encrypts n bytes (at most 16 KiB: one record) into
 * the outbound buffer, which holds ACTOR__TLS_ROUND bytes of plaintext
 * sealed, and is never moved: a send from it may be in flight while
 * OpenSSL appends an alert. Write only when actor__tls_out() is 0, and no
 * more than ACTOR__TLS_ROUND until it is again. 0, or -ENOBUFS.
 */
#define ACTOR__TLS_ROUND (64 * 1024)
int actor__tls_write(struct actor__tls *s, const void *p, size_t n);
/* The ciphertext not yet sent (*p valid until the next write or sent). */
size_t actor__tls_out(const struct actor__tls *s, const unsigned char **p);
void actor__tls_sent(struct actor__tls *s, size_t n);

/* What TLS_TX and TLS_RX take, per cipher. */
union actor__tls_kernel {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/*
 * The kernel's parameters for one direction of a TLS 1.3 connection at
 * record sequence 0, from its cipher suite (0x1301 to 0x1303) and its
 * traffic secret: key and IV by HKDF-Expand-Label (RFC 8446 7.3). *len
 * gets the size of the member used. -ENOTSUP for another suite, -EINVAL
 * for a secret of the wrong size. The caller wipes *ci.
 */
int actor__tls_kernel_params(unsigned suite, const unsigned char *secret, size_t slen,
			     union actor__tls_kernel *ci, socklen_t *len);

#endif /* ACTOR_TRANSPORT_TLS_H */
