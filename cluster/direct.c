/*
 * Frames written by the thread that sends them (issue 16). Without this,
 * every frame crosses to the I/O thread: the sender pushes it on the
 * peer's queue, wakes the I/O thread through its eventfd, and the I/O
 * thread writes it. On a two-core machine that wake-up and the context
 * switches around it were most of a remote round trip. When the peer's
 * queue is idle and its connection has nothing queued or in flight, the
 * sender writes the frame itself (the transport's try_send, a non-blocking
 * send()); otherwise, or if the socket takes only part of it (the
 * transport then writes the rest first), it is the queue's as before.
 *
 * Order per pair of actors: a frame goes direct only when the queue is
 * BLOCKED, i.e. the I/O thread has handed every frame queued before to the
 * connection, and the connection lets a direct writer in only once those
 * are written (transport/tcp.h, direct). An actor's earlier frame is
 * therefore either queued (and this one is too) or on the wire already.
 * Two threads writing to one peer at once never interleave bytes: the
 * transport lets one writer at a time hold the socket (a try-lock; the
 * loser queues its frame).
 *
 * One send() per frame is cheap next to a wake-up, but not next to the
 * I/O thread's batches (256 frames per sendmsg): a one-way stream written
 * frame by frame ran at a fifth of the queue's rate. So a frame goes
 * direct only when the last direct one for the peer left DIRECT_GAP_NS
 * ago or more; a sender faster than that (a stream, many actors at once)
 * queues, and the I/O thread batches as before. A round trip's frames
 * are a round trip apart, far more than the gap. Nor does a worker that
 * has other actors waiting write: the send() (with the wake-up of the
 * receiving thread inside it, which the kernel does on the sender's time)
 * would hold them up, while the I/O thread, on another core, can write
 * in parallel (8 ping-pong pairs lost 16% of their rate without this).
 *
 * Frames that promise something a node-down must break (requests,
 * monitors, links: ACTOR__FRAME_TRACKED) always go through the queue,
 * where the I/O thread notes them (route.c:note_outbound) before they
 * leave, so that a reply can never arrive before its request is noted.
 *
 * The connection's lifetime: p->wconn is set while the peer is up and
 * cleared before the connection's closed() callback returns, under
 * p->wbusy, which a writer holds while it uses the connection.
 */
#include "config.h"

#include <errno.h>

#include "cluster/internal.h"
#include "util/spin.h"
#include "util/time.h"

#define DIRECT_GAP_NS (10 * 1000)

void actor__direct_set(struct actor__peer *p, struct actor__conn *c)
{
	/* A writer holds it for one non-blocking send at most. */
	actor__spin_lock(&p->wbusy);
	p->wconn = c;
	actor__spin_unlock(&p->wbusy);
}

bool actor__route_direct(struct actor__node *n, struct actor__worker *w, struct actor__peer *p,
			 struct actor__env *fe)
{
	const struct actor__transport_ops *ops = n->t->ops;
	uint32_t size = fe->size;
	uint64_t now;
	int r;

	if (ops->try_send == NULL || (fe->flags & ACTOR__FRAME_TRACKED) ||
	    !actor__mbox_idle(&p->outq) || actor__worker_has_work(w))
		return false;
	now = actor__now_ns();
	if (now - atomic_load_explicit(&p->direct_last, memory_order_relaxed) < DIRECT_GAP_NS)
		return false;
	if (!actor__spin_trylock(&p->wbusy))
		return false;
	r = p->wconn != NULL ? ops->try_send(p->wconn, fe) : -EAGAIN;
	actor__spin_unlock(&p->wbusy);
	if (r < 0)
		return false;
	atomic_store_explicit(&p->direct_last, now, memory_order_relaxed);
	if (r == 1)
		actor__env_free(actor__worker_pool(w), fe);
	atomic_fetch_add_explicit(&n->frames_out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->bytes_out, size, memory_order_relaxed);
	return true;
}
