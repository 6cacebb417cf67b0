/*
 * Idle workers wait where the mail arrives (issue 16): the node's driver
 * (sched/seam.h, struct actor__driver), over the transport's drive and
 * drv_ calls (transport/transport.h). Without it, an inbound frame wakes
 * the I/O thread, which delivers it and wakes a worker through its futex:
 * two more sleeping threads per hop. With it, a connection that is up
 * is read by the idle worker holding the driver (one at a time; the
 * others park on their futex), and mail it carries is delivered with
 * w = that worker, so its actor runs next on the same thread.
 *
 * What a worker may handle (frame_driven): MSG frames for an actor,
 * replies included (a reply clears the peer's tracking of its request,
 * under p->track_busy: route.c). Everything else (PING, SIGNAL and
 * VIRTUAL frames, mail for the name service, membership, anything the
 * decoder or broken_rule refuses) touches state the I/O thread owns, so
 * the frame is refused and the connection goes back to the I/O thread, which
 * handles it and what follows in order (the transport guarantees it),
 * then hands the connection over again.
 *
 * The holder decodes with n->drv_decoder: the transport lets one thread at
 * a time read driven connections (the holder, or the I/O thread on a tick
 * when no worker waits), so one decoder is enough. The peer (drive()'s
 * ctx) outlives the connection, which the transport takes back from the
 * holder before its closed() callback.
 *
 * Off (actor_node_config_t.no_worker_io, or a transport without a driver:
 * loopback): nothing here runs.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "cluster/internal.h"

static struct actor__node *node_of_driver(struct actor__driver *d)
{
	return (struct actor__node *)((char *)d - offsetof(struct actor__node, driver));
}

static int drv_wait(struct actor__driver *d, unsigned timeout_us)
{
	struct actor__node *n = node_of_driver(d);

	return n->t->ops->drv_wait(n->t, timeout_us);
}

static void drv_dispatch(struct actor__driver *d, struct actor__worker *w)
{
	struct actor__node *n = node_of_driver(d);

	n->t->ops->drv_dispatch(n->t, w);
}

static int drv_poll(struct actor__driver *d, struct actor__worker *w)
{
	struct actor__node *n = node_of_driver(d);

	return n->t->ops->drv_poll(n->t, w);
}

static void drv_wake(struct actor__driver *d)
{
	struct actor__node *n = node_of_driver(d);

	n->t->ops->drv_wake(n->t);
}

bool actor__drive_frame(void *arg, struct actor__conn *c, void *ctx, void *w, const void *body,
			size_t len)
{
	struct actor__node *n = arg;
	struct actor__peer *p = ctx;
	struct actor__frame f;
	const char *why;

	(void)c;
	if (actor__node_dropped(n, p->node) ||
	    actor__frame_decode(n->drv_decoder, body, len, &f, &why) != 0 ||
	    f.kind != ACTOR__F_MSG || !actor__route_inbound_driven(n, w, p, &f))
		return false;
	atomic_store_explicit(&p->heard_driven, true, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->bytes_in, len + ACTOR__FRAME_PREFIX, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->frames_in, 1, memory_order_release);
	if (w != NULL)
		atomic_fetch_add_explicit(&n->frames_driven, 1, memory_order_relaxed);
	return true;
}

int actor__drive_start(struct actor__node *n)
{
	const struct actor__transport_ops *ops = n->t->ops;

	if (n->cfg.no_worker_io || ops->drive == NULL)
		return 0;
	if ((n->drv_decoder = actor__frame_decoder_create()) == NULL)
		return -ENOMEM;
	n->driver = (struct actor__driver){ drv_wait, drv_dispatch, drv_poll, drv_wake };
	n->driving = true;
	return actor__driver_install(n->sys, &n->driver);
}

void actor__drive_conn(struct actor__node *n, struct actor__peer *p, struct actor__conn *c)
{
	if (n->driving)
		n->t->ops->drive(c, p);
}

void actor__drive_stop(struct actor__node *n)
{
	if (n->driving)
		actor__driver_remove(n->sys);
}
