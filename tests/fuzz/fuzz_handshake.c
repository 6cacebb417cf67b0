/*
 * libFuzzer target for the handshake machine (cluster/handshake.h; .ci/fuzz
 * builds and runs it).
 *
 * Four machines share a cookie the input never holds: two accepting sides
 * and two dialing ones. The input is a list of moves: hand a machine a
 * frame another one sent (a relay, in any direction, any number of times),
 * a body of the fuzzer's own, or a HELLO with a chosen id and another
 * machine's nonce. The oracle: a machine is up only if the machine it
 * believes it talks to exists, has the other role, and believes the same
 * of it (ids and nonces both ways), as after an honest relay of a real
 * dial; a splice of two acceptors, a reflection, or any proof made
 * without the cookie aborts. An acceptor never sends AUTH before it is up.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/handshake.h"
#include "cluster/wire.h"
#include "transport/transport.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_handshake: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

#define MACHINES 4
#define OUTBOX 2			/* HELLO, then AUTH */

static const char cookie[] = "fuzz-cookie-never-in-the-input";

struct machine {
	struct actor__handshake hs;
	int result;			/* of the last step; 0 while it goes on */
	unsigned char out[OUTBOX][ACTOR__CTRL_FRAME_MAX];
	size_t out_len[OUTBOX];
	size_t nout;
};

static struct actor__frame_decoder *dec;

static void emit(struct machine *m, const struct actor__frame *f)
{
	REQUIRE(m->nout < OUTBOX);
	m->out_len[m->nout] = actor__frame_encode(f, m->out[m->nout], sizeof m->out[0]);
	REQUIRE(m->out_len[m->nout] > 0);
	m->nout++;
}

/* Whether m's belief about its peer is mirrored by another machine. */
static bool honest_pair(const struct machine *ms, const struct machine *m)
{
	for (int j = 0; j < MACHINES; j++) {
		const struct actor__handshake *o = &ms[j].hs;

		if (&ms[j] != m && o->dialer != m->hs.dialer && o->self == m->hs.peer &&
		    o->peer == m->hs.self &&
		    memcmp(o->nonce, m->hs.peer_nonce, ACTOR__NONCE_LEN) == 0 &&
		    memcmp(o->peer_nonce, m->hs.nonce, ACTOR__NONCE_LEN) == 0)
			return true;
	}
	return false;
}

/* Gives machine m the frame body b[0, n). */
static void feed(struct machine *ms, struct machine *m, const unsigned char *b, size_t n)
{
	struct actor__frame f, out;
	const char *why;
	int r;

	if (m->result != 0 || actor__frame_decode(dec, b, n, &f, &why) != 0)
		return;		/* closed, or a bad frame would close it */
	r = actor__handshake_step(&m->hs, cookie, sizeof cookie - 1, &f, &out);
	REQUIRE(r == 0 || r == 1 || r == -EPROTO || r == -EEXIST || r == -EACCES);
	if (out.kind != 0) {
		REQUIRE(out.kind == ACTOR__F_AUTH);
		REQUIRE(m->hs.dialer || r == 1);
		emit(m, &out);
	}
	if (r == 1) {
		REQUIRE(m->hs.state == ACTOR__HS_UP);
		REQUIRE(honest_pair(ms, m));
	}
	m->result = r;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const uint32_t ids[MACHINES] = { 0xa0000001, 0xa0000002, 0xd0000001, 0xd0000002 };
	struct machine ms[MACHINES];
	const unsigned char *p = data, *end = data + size;

	if (dec == NULL && (dec = actor__frame_decoder_create()) == NULL)
		abort();
	memset(ms, 0, sizeof ms);
	for (int i = 0; i < MACHINES; i++) {
		struct actor__frame hello;

		REQUIRE(actor__handshake_start(&ms[i].hs, i >= 2, ids[i], "fuzz", &hello) == 0);
		/* Fixed nonces, so that a crash replays; the fuzzer never
		 * guesses one anyway, it copies them. */
		memset(ms[i].hs.nonce, 0x11 * (i + 1), ACTOR__NONCE_LEN);
		emit(&ms[i], &hello);
	}
	/* A move is one byte: target (2 bits), kind (2), and for a relay the
	 * source machine (2) and which of its frames (1). */
	while (p < end) {
		unsigned b = *p++;
		struct machine *m = &ms[b & 3];
		unsigned kind = b >> 2 & 3;

		if (kind <= 1) {		/* relay */
			const struct machine *src = &ms[b >> 4 & 3];
			unsigned k = b >> 6 & 1;

			if (k < src->nout)
				feed(ms, m, src->out[k] + ACTOR__FRAME_PREFIX,
				     src->out_len[k] - ACTOR__FRAME_PREFIX);
		} else if (kind == 2) {		/* a body: length byte, bytes */
			size_t n;

			if (p == end)
				break;
			n = *p++;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
			feed(ms, m, p, n);
			p += n;
		} else {			/* HELLO: id (4 bytes), whose nonce (1) */
			unsigned char body[ACTOR__CTRL_FRAME_MAX];
			struct actor__frame f = { .kind = ACTOR__F_HELLO };
			size_t n;

			if (end - p < 5)
				break;
			f.hello.version = ACTOR__PROTO_VERSION;
			f.hello.node = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
				       (uint32_t)p[2] << 8 | p[3];
			f.hello.name = "x";
			f.hello.name_len = 1;
			f.hello.nonce = ms[p[4] & 3].hs.nonce;
			p += 5;
			n = actor__frame_encode(&f, body, sizeof body);
			if (n > 0)
				feed(ms, m, body + ACTOR__FRAME_PREFIX, n - ACTOR__FRAME_PREFIX);
		}
	}
	return 0;
}
