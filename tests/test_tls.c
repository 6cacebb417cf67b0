/*
 * TLS between nodes, over epoll and io_uring, with records encrypted in
 * user space ($ACTOR_KTLS=0) and by the kernel (kTLS). Certificates come
 * from a throwaway CA made with the openssl command in a temporary folder.
 * Skipped where that command cannot run (the aarch64 leg under qemu), where
 * io_uring cannot be set up, and, for kTLS, where the kernel has no "tls"
 * module.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"
#include "tests/uring.h"
#include "tests/tls_certs.h"
#include "transport/tls.h"

#define SEC 1000000000ull
#define MS 1000000ull

enum { ECHO = 1, COUNT };

static const char cookie[] = "tls-test-cookie-0123456789";
static char dir[64];			/* the certificates */
static bool ktls;			/* this test's variant */
static _Atomic long got, order_errors;

/* A connected pair of loopback TCP sockets; *b is the accepted one. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(*a, (struct sockaddr *)&sa, sizeof sa), 0);
	*b = accept(l, NULL, NULL);
	close(l);
}

static bool kernel_has_ktls(void)
{
	int a, b, r;

	tcp_pair(&a, &b);
	r = setsockopt(a, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls");
	close(a);
	close(b);
	return r == 0;
}

/* TCP sockets of this process with the kernel's TLS attached. */
static int ktls_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		char ulp[16] = "";
		socklen_t len = sizeof ulp;

		if (getsockopt(atoi(e->d_name), IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 &&
		    strcmp(ulp, "tls") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void setup(const char *transport, bool kernel)
{
	if (!tls_certs_possible())
		cr_skip_test("the openssl command cannot run here");
	if (strcmp(transport, "uring") == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	if (kernel && !kernel_has_ktls())
		cr_skip_test("the kernel has no kTLS (no \"tls\" module)");
	ktls = kernel;
	setenv("ACTOR_KTLS", kernel ? "1" : "0", 1);
	cr_assert_eq(tls_certs_make(dir), 0, "making the certificates failed (see %s/make-certs.log)",
		     dir);
}

static void teardown(void)
{
	if (dir[0] != '\0')
		tls_certs_remove(dir);
}

static char *path(const char *name, const char *ext)
{
	static char buf[8][128];
	static int i;
	char *p = buf[i++ % 8];

	snprintf(p, sizeof buf[0], "%s/%s.%s", dir, name, ext);
	return p;
}

/* A node whose certificate is `cert` (signed by "ca" or "other"), trusting
 * "ca"; NULL: no TLS. */
static int start_node(actor_system_t **s, const char *transport, const char *name,
		      const char *cert, uint64_t handshake_timeout)
{
	actor_node_config_t cfg;
	int err;

	cr_assert_eq(actor_system_create(s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.reconnect_max_ns = 0;	/* a refused peer stays refused */
	if (handshake_timeout != 0)
		cfg.handshake_timeout_ns = handshake_timeout;
	if (cert != NULL) {
		cfg.tls_ca_file = path("ca", "pem");
		cfg.tls_cert_file = path(cert, "pem");
		cfg.tls_key_file = path(cert, "key");
	}
	err = actor_node_start(*s, &cfg);
	if (err != 0)
		actor_system_destroy(*s);
	return err;
}

static actor_system_t *node(const char *transport, const char *name, const char *cert)
{
	actor_system_t *s;

	cr_assert_eq(start_node(&s, transport, name, cert, 0), 0);
	return s;
}

static int connect_to(actor_system_t *from, actor_system_t *to, uint32_t *id)
{
	return actor_node_connect(from, "127.0.0.1", (uint16_t)actor_node_port(to), 5 * SEC, id);
}

static void echo_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	uint64_t *next = actor_self_state(ctx);
	uint64_t seq;

	if (actor_msg_type(m) == ECHO) {
		actor_reply(ctx, m, ECHO, actor_msg_data(m), actor_msg_size(m));
	} else if (actor_msg_type(m) == COUNT) {
		memcpy(&seq, actor_msg_data(m), sizeof seq);
		if (seq != (*next)++)
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(&got, 1);
	}
}

static const actor_spec_t echo_spec = { .name = "echo", .handler = echo_handler,
					.state_size = sizeof(uint64_t) };

static bool reaches(_Atomic long *v, long want, int seconds)
{
	for (int i = 0; i < seconds * 1000 && atomic_load(v) < want; i++)
		usleep(1000);
	return atomic_load(v) >= want;
}

static uint64_t stat_of(actor_system_t *s, bool refused)
{
	actor_node_stats_t st;

	cr_assert_eq(actor_node_stats(s, &st), 0);
	return refused ? st.refused : st.peers_up;
}

/* --- good certificates ------------------------------------------------------- */

static void exchange(const char *transport)
{
	actor_system_t *a = node(transport, "a", "node"), *b = node(transport, "b", "peer");
	static unsigned char big[1 << 20];
	const size_t sizes[] = { 1, 1000, 20000, sizeof big };
	actor_ref_t echo, there;
	uint32_t id;

	cr_assert_eq(actor_system_spawn(a, &echo_spec, NULL, &echo), 0);
	cr_assert_eq(actor_register(a, "echo", echo), 0);
	cr_assert_eq(connect_to(b, a, &id), 0);
	cr_assert_eq(id, actor_node_id(a));
	cr_assert_eq(actor_node_whereis(b, id, "echo", 5 * SEC, &there), 0);
	/* Payloads within one record, across several, and across many. */
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *reply = NULL;
		size_t size = 0;

		cr_assert_eq(actor_system_ask(b, there, ECHO, big, sizes[i], 10 * SEC, NULL, &reply,
					      &size), 0, "size %zu", sizes[i]);
		cr_assert_eq(size, sizes[i]);
		cr_assert_eq(memcmp(reply, big, size), 0, "size %zu: reply differs", sizes[i]);
		free(reply);
	}
	/* Many small frames, sealed many to a record: all there, in order. */
	for (uint64_t i = 0; i < 200000; i++) {
		int err;

		while ((err = actor_system_send(b, there, COUNT, &i, sizeof i)) == -EAGAIN)
			usleep(100);
		cr_assert_eq(err, 0);
	}
	cr_assert(reaches(&got, 200000, 30), "%ld of 200000 arrived", atomic_load(&got));
	cr_assert_eq(atomic_load(&order_errors), 0);
	if (ktls)
		cr_assert_geq(ktls_sockets(), 2, "kTLS was not used");
	else
		cr_assert_eq(ktls_sockets(), 0, "kTLS used although ACTOR_KTLS=0");
	actor_system_destroy(a);
	actor_system_destroy(b);
	assert_no_leaks();
}

/* --- refusals ----------------------------------------------------------------- */

/*
 * The dialer presents `dialer_cert`, the listener `listener_cert`; one of
 * them is bad. Neither comes up, the refusing side counts it. A dialer that
 * refuses the listener's certificate says -EKEYREJECTED; one refused by the
 * listener learns it from an alert after its side of the handshake, so it
 * may see the reset first (or, with kTLS, -EIO for the alert record).
 */
static void refused(const char *transport, const char *listener_cert, const char *dialer_cert,
		    bool dialer_refuses)
{
	actor_system_t *l = node(transport, "listener", listener_cert);
	actor_system_t *d = node(transport, "dialer", dialer_cert);
	int err = connect_to(d, l, NULL);

	if (dialer_refuses)
		cr_assert_eq(err, -EKEYREJECTED, "connect gave %d", err);
	else
		cr_assert(err == -EKEYREJECTED || err == -ECONNRESET || (ktls && err == -EIO),
			  "connect gave %d", err);
	usleep(100 * 1000);
	cr_assert_eq(stat_of(l, false), 0);
	cr_assert_eq(stat_of(d, false), 0);
	cr_assert_geq(stat_of(dialer_refuses ? d : l, true), 1);
	actor_system_destroy(l);
	actor_system_destroy(d);
	assert_no_leaks();
}

static void other_ca(const char *transport)
{
	refused(transport, "node", "stranger", false);
	refused(transport, "stranger", "node", true);
}

static void expired(const char *transport)
{
	refused(transport, "node", "old", false);
	refused(transport, "old", "node", true);
}

/* Plaintext to a TLS node, and TLS to a plaintext node. */
static void plaintext(const char *transport)
{
	for (int tls_listens = 0; tls_listens < 2; tls_listens++) {
		actor_system_t *l = node(transport, "listener", tls_listens ? "node" : NULL);
		actor_system_t *d = node(transport, "dialer", tls_listens ? NULL : "node");
		int err = connect_to(d, l, NULL);

		cr_assert(err < 0 && err != -ETIMEDOUT, "connect gave %d", err);
		usleep(100 * 1000);
		cr_assert_eq(stat_of(l, false), 0);
		cr_assert_eq(stat_of(d, false), 0);
		/* The TLS side saw no TLS. */
		cr_assert_geq(stat_of(tls_listens ? l : d, true), 1);
		actor_system_destroy(l);
		actor_system_destroy(d);
	}
	assert_no_leaks();
}

/* --- hostile bytes ---------------------------------------------------------------- */

static int raw_connect(actor_system_t *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)actor_node_port(s)) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Whether the node closes fd (EOF or reset) within 5 s. */
static bool closed_by_node(int fd)
{
	char buf[4096];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
		;
	close(fd);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* A good client certificate, then a record that does not decrypt; TLS 1.2;
 * handshakes that never end: each connection is closed, the node stays.
 * The handshake timeout (2 s) must outlast a TLS handshake under qemu, or
 * it, not the bad record, closes the first connection. */
static void hostile(const char *transport)
{
	actor_system_t *a, *b;
	static const unsigned char bad_record[5 + 32] = { 0x17, 0x03, 0x03, 0x00, 0x20 };
	static const unsigned char half_hello[] = { 0x16, 0x03, 0x01, 0x01, 0x00, 0x01 };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd;

	cr_assert_eq(start_node(&a, transport, "a", "node", 2 * SEC), 0);
	cr_assert_not_null(ctx);
	cr_assert_eq(SSL_CTX_load_verify_locations(ctx, path("ca", "pem"), NULL), 1);
	cr_assert_eq(SSL_CTX_use_certificate_file(ctx, path("peer", "pem"), SSL_FILETYPE_PEM), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, path("peer", "key"), SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = raw_connect(a);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1, "TLS handshake with the node failed");
	cr_assert_eq(send(fd, bad_record, sizeof bad_record, MSG_NOSIGNAL), sizeof bad_record);
	cr_assert(closed_by_node(fd), "a bad record did not close the connection");
	SSL_free(ssl);

	/* The same certificate, but no more than TLS 1.2. */
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	fd = raw_connect(a);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	cr_assert_neq(SSL_connect(ssl), 1, "TLS 1.2 was accepted");
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	ERR_clear_error();

	fd = raw_connect(a);		/* says nothing */
	cr_assert(closed_by_node(fd), "a silent connection outlived the handshake timeout");
	fd = raw_connect(a);
	cr_assert_eq(send(fd, half_hello, sizeof half_hello, MSG_NOSIGNAL), sizeof half_hello);
	cr_assert(closed_by_node(fd), "half a ClientHello outlived the handshake timeout");
	fd = raw_connect(a);
	cr_assert_eq(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
	cr_assert(closed_by_node(fd), "HTTP was not refused");

	b = node(transport, "b", "peer");
	cr_assert_eq(connect_to(b, a, NULL), 0, "the node no longer accepts good peers");
	actor_system_destroy(a);
	actor_system_destroy(b);
	assert_no_leaks();
}

/* --- the kernel's keys -------------------------------------------------------------- */

/* The kernel's TLS cannot run here, but what it would be given can be
 * checked: the parameters made from a client's traffic secret must open
 * the first record that OpenSSL seals with it. */
static unsigned char secret[48];
static size_t secret_len;

static void keylog(const SSL *ssl, const char *line)
{
	const char *p = strrchr(line, ' ');

	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) != 0 || p == NULL)
		return;
	for (secret_len = 0, p++; p[0] != '\0' && secret_len < sizeof secret; p += 2)
		sscanf(p, "%2hhx", &secret[secret_len++]);
}

/* Moves what one side wrote to the other. */
static void pump(SSL *from, SSL *to)
{
	char buf[16384];
	int n;

	while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof buf)) > 0)
		BIO_write(SSL_get_rbio(to), buf, n);
}

static void opens_first_record(const char *suite_name, unsigned suite, const EVP_CIPHER *cipher)
{
	static const char text[] = "to the kernel";
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()), *sctx = SSL_CTX_new(TLS_server_method());
	SSL *c, *sv;
	unsigned char rec[256], out[256], nonce[12];
	const unsigned char *key;
	union actor__tls_kernel ci;
	socklen_t len;
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	int n, outl, fin;

	cr_assert_eq(SSL_CTX_use_certificate_file(sctx, path("node", "pem"), SSL_FILETYPE_PEM), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey_file(sctx, path("node", "key"), SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(cctx, suite_name);
	SSL_CTX_set_keylog_callback(cctx, keylog);
	c = SSL_new(cctx);
	sv = SSL_new(sctx);
	SSL_set_bio(c, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_bio(sv, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_connect_state(c);
	SSL_set_accept_state(sv);
	for (int i = 0; i < 10 && (!SSL_is_init_finished(c) || !SSL_is_init_finished(sv)); i++) {
		SSL_do_handshake(c);
		pump(c, sv);
		SSL_do_handshake(sv);
		pump(sv, c);
	}
	cr_assert(SSL_is_init_finished(c) && SSL_is_init_finished(sv), "%s: no handshake",
		  suite_name);
	cr_assert_eq(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(c)), suite);

	cr_assert_eq(actor__tls_kernel_params(suite, secret, secret_len, &ci, &len), 0);
	cr_assert_eq(ci.info.version, TLS_1_3_VERSION);
	if (suite == 0x1303) {
		cr_assert_eq(len, sizeof ci.chacha);
		memcpy(nonce, ci.chacha.iv, 12);
		key = ci.chacha.key;
	} else if (suite == 0x1302) {
		cr_assert_eq(len, sizeof ci.gcm256);
		memcpy(nonce, ci.gcm256.salt, 4);
		memcpy(nonce + 4, ci.gcm256.iv, 8);
		key = ci.gcm256.key;
	} else {
		cr_assert_eq(len, sizeof ci.gcm128);
		memcpy(nonce, ci.gcm128.salt, 4);
		memcpy(nonce + 4, ci.gcm128.iv, 8);
		key = ci.gcm128.key;
	}

	/* Sequence 0: the nonce is the IV itself. The record: a 5-byte
	 * header (the additional data), the text and its type byte (23)
	 * sealed, a 16-byte tag. */
	cr_assert_eq(SSL_write(c, text, sizeof text - 1), sizeof text - 1);
	n = BIO_read(SSL_get_wbio(c), rec, sizeof rec);
	cr_assert_eq(n, 5 + (int)sizeof text - 1 + 1 + 16);
	cr_assert_eq(EVP_DecryptInit_ex(e, cipher, NULL, key, nonce), 1);
	cr_assert_eq(EVP_DecryptUpdate(e, NULL, &outl, rec, 5), 1);
	cr_assert_eq(EVP_DecryptUpdate(e, out, &outl, rec + 5, n - 5 - 16), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_SET_TAG, 16, rec + n - 16), 1);
	cr_assert_eq(EVP_DecryptFinal_ex(e, out + outl, &fin), 1, "%s: the tag does not match",
		     suite_name);
	cr_assert_eq(outl, (int)sizeof text);
	cr_assert_eq(memcmp(out, text, sizeof text - 1), 0);
	cr_assert_eq(out[sizeof text - 1], 23, "not application data");

	cr_assert_eq(actor__tls_kernel_params(0x1304, secret, secret_len, &ci, &len), -ENOTSUP);
	cr_assert_eq(actor__tls_kernel_params(suite, secret, secret_len - 1, &ci, &len), -EINVAL);
	EVP_CIPHER_CTX_free(e);
	SSL_free(c);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

Test(tls_keys, kernel_parameters_open_openssl_records, .fini = teardown)
{
	setup("epoll", false);
	opens_first_record("TLS_AES_128_GCM_SHA256", 0x1301, EVP_aes_128_gcm());
	opens_first_record("TLS_AES_256_GCM_SHA384", 0x1302, EVP_aes_256_gcm());
	opens_first_record("TLS_CHACHA20_POLY1305_SHA256", 0x1303, EVP_chacha20_poly1305());
	assert_no_leaks();
}

/* --- configuration ---------------------------------------------------------------- */

TestSuite(tls_config, .fini = teardown);
TestSuite(tls, .timeout = 120, .fini = teardown);
TestSuite(ktls, .timeout = 120, .fini = teardown);

Test(tls_config, all_or_nothing_and_readable)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	setup("epoll", false);
	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cr_assert_null(cfg.tls_ca_file);
	cr_assert_null(cfg.tls_cert_file);
	cr_assert_null(cfg.tls_key_file);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.tls_ca_file = path("ca", "pem");
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "a CA without a certificate");
	cfg.tls_cert_file = path("node", "pem");
	cfg.tls_key_file = path("peer", "key");
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "a key that is not the certificate's");
	cfg.tls_key_file = path("nothing", "key");
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "a key file that is not there");
	cfg.tls_key_file = path("node", "key");
	cfg.transport = "loopback";
	cr_assert_eq(actor_node_start(s, &cfg), -EINVAL, "TLS on loopback");
	cfg.transport = "epoll";
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	actor_system_destroy(s);
	assert_no_leaks();
}

/* io_uring with provided buffers and with plain recv (ACTOR_URING_PBUF=0),
 * epoll; each with records in user space (tls) and in the kernel (ktls). */
#define VARIANTS(name, body)                                                          \
	Test(tls, name##_epoll) { setup("epoll", false), body("epoll"); }               \
	Test(tls, name##_uring) { setup("uring", false), body("uring"); }               \
	Test(tls, name##_uring_plain)                                                   \
	{                                                                               \
		setenv("ACTOR_URING_PBUF", "0", 1);                                     \
		setup("uring", false), body("uring");                                   \
	}                                                                               \
	Test(ktls, name##_epoll) { setup("epoll", true), body("epoll"); }               \
	Test(ktls, name##_uring) { setup("uring", true), body("uring"); }               \
	Test(ktls, name##_uring_plain)                                                  \
	{                                                                               \
		setenv("ACTOR_URING_PBUF", "0", 1);                                     \
		setup("uring", true), body("uring");                                    \
	}

VARIANTS(good_certificates_exchange_messages, exchange)
VARIANTS(certificate_from_another_ca_refused, other_ca)
VARIANTS(expired_certificate_refused, expired)
VARIANTS(plaintext_and_tls_do_not_meet, plaintext)
VARIANTS(bad_record_or_stalled_handshake_closes_only_that_connection, hostile)
