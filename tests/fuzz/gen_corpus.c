/*
 * Writes the seed corpus of fuzz_frame into the folder given: one body per
 * file (no length prefix), valid frames of each kind plus a few that the
 * decoder must refuse, and "stream", frames with their prefixes end to end.
 * .ci/fuzz runs it so that the seeds follow the encoder; the committed copy
 * in tests/fuzz/corpus/frame/ is its output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"
#include "transport/transport.h"

static const char *dir;
static unsigned char stream[4096];
static size_t stream_len;

static void put(const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

/* Writes f's body to name, and the whole frame to the stream. */
static void frame(const char *name, const struct actor__frame *f)
{
	unsigned char buf[2048];
	size_t n = actor__frame_encode(f, buf, sizeof(buf));

	if (n == 0 || stream_len + n > sizeof(stream)) {
		fprintf(stderr, "gen_corpus: %s does not encode\n", name);
		exit(1);
	}
	put(name, buf + ACTOR__FRAME_PREFIX, n - ACTOR__FRAME_PREFIX);
	memcpy(stream + stream_len, buf, n);
	stream_len += n;
}

int main(int argc, char **argv)
{
	static const unsigned char key[32] = "fuzz-nonce-fuzz-nonce-fuzz-nonc";
	static const unsigned char nested[] = { 0x92, 0x03, 0x91, 0x05 };
	static const unsigned char array32[] = { 0xdd, 0x10, 0, 0, 0, 0x05 };
	static const unsigned char map32[] = { 0xdf, 0x10, 0, 0, 0, 0x05, 0x05 };
	struct actor__frame f = { .kind = ACTOR__F_HELLO };

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	dir = argv[1];

	f.hello.version = ACTOR__PROTO_VERSION;
	f.hello.node = 0x9e3779b9;
	f.hello.name = "node-a@host";
	f.hello.name_len = strlen(f.hello.name);
	f.hello.nonce = key;
	frame("hello", &f);
	f.hello.version = 1;	/* an old node's */
	frame("hello-v1", &f);

	f = (struct actor__frame){ .kind = ACTOR__F_AUTH, .auth.mac = key };
	frame("auth", &f);

	f = (struct actor__frame){ .kind = ACTOR__F_MSG };
	f.msg.to_id = 1;
	f.msg.to_node = 2;
	frame("msg-empty", &f);
	f.msg.from_id = 3;
	f.msg.from_node = 4;
	f.msg.type = 0xffffff03;
	f.msg.flags = ACTOR__WIRE_REQUEST;
	f.msg.request_id = 5;
	f.msg.payload = "name";
	f.msg.size = 4;
	frame("msg-small", &f);
	f.msg.to_id = f.msg.from_id = UINT64_MAX;
	f.msg.to_node = f.msg.from_node = f.msg.type = f.msg.request_id = UINT32_MAX;
	f.msg.flags = ACTOR__WIRE_FLAGS;
	f.msg.payload = key;
	f.msg.size = sizeof(key);
	frame("msg-max", &f);

	f = (struct actor__frame){ .kind = ACTOR__F_SIGNAL };
	f.signal.op = ACTOR__SIG_EXIT;
	f.signal.to_id = 1;
	f.signal.to_node = 2;
	f.signal.ref_id = 3;
	f.signal.ref_node = 4;
	f.signal.reason = 0x7fff0004;
	frame("signal", &f);
	f.signal.op = ACTOR__SIG_MAX;
	f.signal.to_id = f.signal.ref_id = UINT64_MAX;
	f.signal.to_node = f.signal.ref_node = f.signal.request_id = UINT32_MAX;
	f.signal.reason = INT32_MIN;
	frame("signal-min", &f);

	f = (struct actor__frame){ .kind = ACTOR__F_PING };
	frame("ping", &f);

	/* Membership: a view of three (one not dialable) with a departure. */
	{
		static const uint64_t types[] = { 3, 0x8000000000000000ull };
		const struct actor__wire_member ms[] = {
			{ .node = 7, .incarnation = 1, .port = 4370, .name = "a", .name_len = 1,
			  .host = "10.0.0.1", .host_len = 8, .ntypes = 2, .types = types },
			{ .node = 9, .incarnation = 2, .name = "b", .name_len = 1 },
			{ .node = UINT32_MAX - 1, .incarnation = UINT32_MAX, .port = UINT16_MAX,
			  .name = "c", .name_len = 1, .host = "::1", .host_len = 3, .ntypes = 1,
			  .types = types },
		};
		const struct actor__wire_departure gone = { 8, 1, ACTOR__DEPART_DEAD };

		f = (struct actor__frame){ .kind = ACTOR__F_VIEW };
		f.view.epoch = 12;
		f.view.nmembers = 3;
		f.view.members = ms;
		f.view.ndeparted = 1;
		f.view.departed = &gone;
		frame("view", &f);
		f = (struct actor__frame){ .kind = ACTOR__F_JOIN, .join = ms[0] };
		frame("join", &f);
	}
	f = (struct actor__frame){ .kind = ACTOR__F_PROBE, .probe = { 1, 12, UINT64_MAX, 9, 11 } };
	frame("probe", &f);
	f = (struct actor__frame){ .kind = ACTOR__F_ACK, .probe = { UINT64_MAX, 1, 0, 0 } };
	frame("ack", &f);
	f = (struct actor__frame){ .kind = ACTOR__F_PULL, .pull.epoch = 12 };
	frame("pull", &f);
	f = (struct actor__frame){ .kind = ACTOR__F_LEAVE, .leave = { 7, 1 } };
	frame("leave", &f);

	put("stream", stream, stream_len);
	put("nested", nested, sizeof(nested));
	put("array32-huge", array32, sizeof(array32));
	put("map32-huge", map32, sizeof(map32));
	return 0;
}
