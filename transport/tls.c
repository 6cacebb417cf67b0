/*
 * TLS 1.3 for the TCP transports: see tls.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "transport/tls.h"

#define RSPACE (16 * 1024)
/* A round of plaintext sealed (22 bytes a record) and room for alerts. */
#define OUT_CAP (ACTOR__TLS_ROUND + 4096)
#define SECRET_MAX 48			/* SHA-384 */

struct actor__tls_ctx {
	SSL_CTX *ctx;
	BIO_METHOD *bio;
	bool ktls;			/* worth trying: allowed, and the kernel has not said no */
};

struct actor__tls {
	struct actor__tls_ctx *x;
	SSL *ssl;
	int fd;
	int err;			/* errno of the socket call that failed */
	bool done, rx_user, tx_user;
	/* Application traffic secrets from the key log: [0] the client's,
	 * [1] the server's. Wiped once kTLS is set up. */
	unsigned char secret[2][SECRET_MAX];
	size_t secret_len[2];
	/* User space records: the ciphertext being fed, the ciphertext to
	 * send ([out_off, out_len) of out), room for one receive. */
	const unsigned char *in;
	size_t in_len;
	unsigned char *out;
	size_t out_off, out_len;
	unsigned char *rbuf;
};

/* --- the BIO: the socket during the handshake, memory afterwards ---------- */

static int bio_read(BIO *b, char *buf, int len)
{
	struct actor__tls *s = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (!s->done) {
		ssize_t r;

		while ((r = recv(s->fd, buf, (size_t)len, MSG_DONTWAIT)) < 0 && errno == EINTR)
			;
		if (r >= 0)
			return (int)r;		/* 0: EOF */
		if (errno == EAGAIN)
			BIO_set_retry_read(b);
		else
			s->err = errno;
		return -1;
	}
	if (s->in_len == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = s->in_len < (size_t)len ? s->in_len : (size_t)len;
	memcpy(buf, s->in, n);
	s->in += n;
	s->in_len -= n;
	return (int)n;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	struct actor__tls *s = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (!s->done) {
		ssize_t r;

		while ((r = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 &&
		       errno == EINTR)
			;
		if (r >= 0)
			return (int)r;
		if (errno == EAGAIN)
			BIO_set_retry_write(b);
		else
			s->err = errno;
		return -1;
	}
	if (OUT_CAP - s->out_len < (size_t)len) {
		s->err = ENOBUFS;
		return -1;
	}
	memcpy(s->out + s->out_len, buf, (size_t)len);
	s->out_len += (size_t)len;
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH;
}

/* --- the context ------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Keeps the application traffic secrets for kTLS: "LABEL <client random>
 * <secret>", in hex. */
static void keylog(const SSL *ssl, const char *line)
{
	static const char *const labels[2] = { "CLIENT_TRAFFIC_SECRET_0 ",
					       "SERVER_TRAFFIC_SECRET_0 " };
	struct actor__tls *s = SSL_get_app_data(ssl);
	const char *p = NULL;
	size_t n = 0;
	int i;

	for (i = 0; i < 2; i++)
		if (strncmp(line, labels[i], strlen(labels[i])) == 0)
			break;
	if (i == 2 || s == NULL || (p = strchr(line + strlen(labels[i]), ' ')) == NULL)
		return;
	for (p++; n < SECRET_MAX && hexval(p[0]) >= 0 && hexval(p[1]) >= 0; p += 2, n++)
		s->secret[i][n] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
	if (*p == '\0')
		s->secret_len[i] = n;
}

int actor__tls_ctx_create(const struct actor__transport_config *cfg,
			  struct actor__tls_ctx **out)
{
	struct actor__tls_ctx *x = calloc(1, sizeof(*x));
	const char *env = getenv("ACTOR_KTLS"), *what = NULL, *file = NULL;
	int err = -ENOMEM;

	if (x == NULL)
		return -ENOMEM;
	x->ktls = env == NULL || strcmp(env, "0") != 0;
	ERR_clear_error();
	x->ctx = SSL_CTX_new(TLS_method());
	/* No BIO_get_new_index(): OpenSSL has about a hundred, for the process. */
	x->bio = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "libactor");
	if (x->ctx == NULL || x->bio == NULL)
		goto fail;
	BIO_meth_set_read(x->bio, bio_read);
	BIO_meth_set_write(x->bio, bio_write);
	BIO_meth_set_ctrl(x->bio, bio_ctrl);
	SSL_CTX_set_min_proto_version(x->ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(x->ctx, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(x->ctx, 0);
	SSL_CTX_set_options(x->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(x->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (x->ktls)
		SSL_CTX_set_keylog_callback(x->ctx, keylog);
	if (SSL_CTX_load_verify_locations(x->ctx, cfg->tls_ca, NULL) != 1)
		what = "CA file", file = cfg->tls_ca;
	else if (SSL_CTX_use_certificate_chain_file(x->ctx, cfg->tls_cert) != 1)
		what = "certificate", file = cfg->tls_cert;
	else if (SSL_CTX_use_PrivateKey_file(x->ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
		 SSL_CTX_check_private_key(x->ctx) != 1)
		what = "key", file = cfg->tls_key;
	if (what != NULL) {
		char why[256];

		ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
		fprintf(stderr, "libactor: TLS: cannot use the %s %s: %s\n", what, file, why);
		err = -EINVAL;
		goto fail;
	}
	*out = x;
	return 0;
fail:
	ERR_clear_error();
	actor__tls_ctx_destroy(x);
	return err;
}

void actor__tls_ctx_destroy(struct actor__tls_ctx *x)
{
	if (x == NULL)
		return;
	SSL_CTX_free(x->ctx);
	BIO_meth_free(x->bio);
	free(x);
}

/* --- connections ------------------------------------------------------------- */

int actor__tls_new(struct actor__tls_ctx *x, int fd, bool server, struct actor__tls **out)
{
	struct actor__tls *s = calloc(1, sizeof(*s));
	BIO *b;

	if (s == NULL)
		return -ENOMEM;
	s->x = x;
	s->fd = fd;
	s->ssl = SSL_new(x->ctx);
	b = BIO_new(x->bio);
	if (s->ssl == NULL || b == NULL) {
		BIO_free(b);
		SSL_free(s->ssl);
		free(s);
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	SSL_set_bio(s->ssl, b, b);	/* one reference for both */
	SSL_set_app_data(s->ssl, s);
	if (server)
		SSL_set_accept_state(s->ssl);
	else
		SSL_set_connect_state(s->ssl);
	*out = s;
	return 0;
}

void actor__tls_free(struct actor__tls *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);
	OPENSSL_cleanse(s->secret, sizeof(s->secret));
	free(s->out);
	free(s->rbuf);
	free(s);
}

/* Alerts by which the peer refused a certificate (ours). */
static bool cert_alert(int reason)
{
	switch (reason - SSL_AD_REASON_OFFSET) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return true;
	}
	return false;
}

static bool unexpected_eof(int reason)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING	/* OpenSSL 3.0 */
	return reason == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
	return false;
#endif
}

/* The error for what SSL_get_error() said (tls.h lists them). */
static int failure(struct actor__tls *s, int e)
{
	unsigned long code = ERR_peek_error();
	int reason = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
	int err;

	if (e == SSL_ERROR_SYSCALL && s->err != 0)
		err = -s->err;
	else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN || unexpected_eof(reason))
		err = -ECONNRESET;
	else if (SSL_get_verify_result(s->ssl) != X509_V_OK || cert_alert(reason) ||
		 reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		err = -EKEYREJECTED;
	else
		err = s->done ? -EBADMSG : -EPROTONOSUPPORT;
	ERR_clear_error();
	return err;
}

/* --- kTLS ---------------------------------------------------------------------- */

/* HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1, for len no
 * more than the hash: one HMAC block. */
static int expand_label(const EVP_MD *md, const unsigned char *secret, size_t slen,
			const char *label, unsigned char *out, size_t len)
{
	unsigned char info[2 + 1 + 6 + 8 + 1 + 1], mac[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0;
	unsigned int mlen = 0;
	int err = 0;

	info[n++] = (unsigned char)(len >> 8);
	info[n++] = (unsigned char)len;
	info[n++] = (unsigned char)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0;			/* no context */
	info[n++] = 1;			/* HKDF's counter */
	if (HMAC(md, secret, (int)slen, info, n, mac, &mlen) == NULL || mlen < len)
		err = -EIO;
	else
		memcpy(out, mac, len);
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}

int actor__tls_kernel_params(unsigned suite, const unsigned char *secret, size_t slen,
			     union actor__tls_kernel *ci, socklen_t *len)
{
	unsigned char key[32], iv[12];
	const EVP_MD *md;
	size_t klen;
	int err;

	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	switch (suite) {
	case 0x1301:			/* TLS_AES_128_GCM_SHA256 */
		md = EVP_sha256(), klen = 16, *len = sizeof(ci->gcm128);
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		break;
	case 0x1302:			/* TLS_AES_256_GCM_SHA384 */
		md = EVP_sha384(), klen = 32, *len = sizeof(ci->gcm256);
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		break;
	case 0x1303:			/* TLS_CHACHA20_POLY1305_SHA256 */
		md = EVP_sha256(), klen = 32, *len = sizeof(ci->chacha);
		ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		break;
	default:
		return -ENOTSUP;
	}
	if (slen != (size_t)EVP_MD_size(md))
		return -EINVAL;
	if ((err = expand_label(md, secret, slen, "key", key, klen)) < 0 ||
	    (err = expand_label(md, secret, slen, "iv", iv, sizeof(iv))) < 0)
		goto out;
	/* The kernel splits the 12-byte IV of GCM into a 4-byte salt and the
	 * rest; ChaCha20 takes it whole. rec_seq stays 0. */
	switch (ci->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		memcpy(ci->gcm128.salt, iv, 4);
		memcpy(ci->gcm128.iv, iv + 4, 8);
		memcpy(ci->gcm128.key, key, klen);
		break;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->gcm256.salt, iv, 4);
		memcpy(ci->gcm256.iv, iv + 4, 8);
		memcpy(ci->gcm256.key, key, klen);
		break;
	default:
		memcpy(ci->chacha.iv, iv, 12);
		memcpy(ci->chacha.key, key, klen);
		break;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return err;
}

/* Hands one direction (TLS_TX or TLS_RX) to the kernel, at sequence 0:
 * nothing was sent or received under the application keys yet. */
static int ktls_direction(struct actor__tls *s, int dir)
{
	int mine = SSL_is_server(s->ssl) ? 1 : 0;
	int i = dir == TLS_TX ? mine : 1 - mine;
	unsigned suite = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(s->ssl));
	union actor__tls_kernel ci;
	socklen_t len;
	int err = actor__tls_kernel_params(suite, s->secret[i], s->secret_len[i], &ci, &len);

	if (err == 0 && setsockopt(s->fd, SOL_TLS, dir, &ci, len) < 0)
		err = -errno;
	OPENSSL_cleanse(&ci, sizeof(ci));
	return err;
}

/* Each direction the kernel takes is no longer OpenSSL's. With the ULP in
 * place and no keys a direction stays plain TCP, so a failed direction
 * simply stays in user space. */
static void ktls_install(struct actor__tls *s)
{
	s->rx_user = s->tx_user = true;
	if (s->x->ktls && s->secret_len[0] != 0 && s->secret_len[1] != 0) {
		if (setsockopt(s->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0) {
			s->tx_user = ktls_direction(s, TLS_TX) != 0;
			s->rx_user = ktls_direction(s, TLS_RX) != 0;
		} else if (errno == ENOENT) {
			s->x->ktls = false;	/* no "tls" module: do not ask again */
		}
	}
	OPENSSL_cleanse(s->secret, sizeof(s->secret));
}

/* --- the two stages ---------------------------------------------------------- */

int actor__tls_handshake(struct actor__tls *s, int *want)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->done = true;
		ktls_install(s);
		if ((s->rx_user && (s->rbuf = malloc(RSPACE)) == NULL) ||
		    (s->tx_user && (s->out = malloc(OUT_CAP)) == NULL))
			return -ENOMEM;
		return 1;
	}
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e == SSL_ERROR_WANT_READ ? ACTOR__TLS_WANT_READ : ACTOR__TLS_WANT_WRITE;
		return 0;
	}
	return failure(s, e);
}

bool actor__tls_handshaking(const struct actor__tls *s)
{
	return !s->done;
}

bool actor__tls_rx_user(const struct actor__tls *s)
{
	return s->done && s->rx_user;
}

bool actor__tls_tx_user(const struct actor__tls *s)
{
	return s->done && s->tx_user;
}

void actor__tls_rspace(struct actor__tls *s, unsigned char **p, size_t *len)
{
	*p = s->rbuf;
	*len = RSPACE;
}

void actor__tls_feed(struct actor__tls *s, const unsigned char *p, size_t n)
{
	s->in = p;
	s->in_len = n;
}

long actor__tls_read(struct actor__tls *s, unsigned char *p, size_t len)
{
	int r, e;

	ERR_clear_error();
	r = SSL_read(s->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	return failure(s, e);
}

bool actor__tls_input_pending(const struct actor__tls *s)
{
	return SSL_has_pending(s->ssl);
}

int actor__tls_write(struct actor__tls *s, const void *p, size_t n)
{
	int r;

	ERR_clear_error();
	r = SSL_write(s->ssl, p, (int)n);
	if (r == (int)n)
		return 0;
	if (s->err == ENOBUFS) {
		ERR_clear_error();
		return -ENOBUFS;
	}
	return failure(s, SSL_get_error(s->ssl, r));
}

size_t actor__tls_out(const struct actor__tls *s, const unsigned char **p)
{
	*p = s->out + s->out_off;
	return s->out_len - s->out_off;
}

void actor__tls_sent(struct actor__tls *s, size_t n)
{
	s->out_off += n;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
}
