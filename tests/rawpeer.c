/* A raw protocol peer for tests: see rawpeer.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/rawpeer.h"
#include "transport/transport.h"

struct rawpeer *rawpeer_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct rawpeer *rp = calloc(1, sizeof(*rp));

	if (rp == NULL)
		return NULL;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rp->d = actor__frame_decoder_create();
	if (rp->fd < 0 || rp->d == NULL ||
	    connect(rp->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rawpeer_close(rp);
		return NULL;
	}
	return rp;
}

void rawpeer_close(struct rawpeer *rp)
{
	if (rp == NULL)
		return;
	if (rp->fd >= 0)
		close(rp->fd);
	if (rp->d != NULL)
		actor__frame_decoder_destroy(rp->d);
	free(rp);
}

bool rawpeer_write(struct rawpeer *rp, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = send(rp->fd, b, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

bool rawpeer_send(struct rawpeer *rp, const struct actor__frame *f)
{
	unsigned char buf[ACTOR__MSG_FRAME_MAX(1024)];
	size_t n = actor__frame_encode(f, buf, sizeof buf);

	return n > 0 && rawpeer_write(rp, buf, n);
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes by the deadline: 0, -EAGAIN or -EPIPE. */
static int read_full(int fd, void *p, size_t n, int64_t deadline)
{
	unsigned char *b = p;

	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - ms_now();
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return -EAGAIN;
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int rawpeer_recv(struct rawpeer *rp, struct actor__frame *f, int timeout_ms)
{
	int64_t deadline = ms_now() + timeout_ms;
	unsigned char prefix[ACTOR__FRAME_PREFIX];
	const char *why;
	uint32_t len;
	int err;

	if ((err = read_full(rp->fd, prefix, sizeof prefix, deadline)) != 0)
		return err;
	len = actor__frame_body_len(prefix);
	if (len == 0 || len > sizeof rp->buf)
		return -EBADMSG;
	if ((err = read_full(rp->fd, rp->buf, len, deadline)) != 0)
		return err;
	return actor__frame_decode(rp->d, rp->buf, len, f, &why) == 0 ? 0 : -EBADMSG;
}

bool rawpeer_closed(struct rawpeer *rp, int timeout_ms)
{
	int64_t deadline = ms_now() + timeout_ms;
	struct actor__frame f;
	int err;

	while ((err = rawpeer_recv(rp, &f, (int)(deadline - ms_now()))) == 0 || err == -EBADMSG)
		;
	return err == -EPIPE;
}

int rawpeer_handshake(struct rawpeer *rp, const void *cookie, size_t cookie_len, uint32_t self,
		      const char *name)
{
	struct actor__frame f, out;
	int err;

	if (actor__handshake_start(&rp->hs, true, self, name, &f) != 0 || !rawpeer_send(rp, &f))
		return -EIO;
	do {
		if ((err = rawpeer_recv(rp, &f, 5000)) != 0)
			return err;
		if (f.kind == ACTOR__F_HELLO)
			rp->node = f.hello.node;
		err = actor__handshake_step(&rp->hs, cookie, cookie_len, &f, &out);
		if (out.kind != 0 && !rawpeer_send(rp, &out))
			return -EPIPE;
	} while (err == 0);
	return err == 1 ? 0 : err;
}
