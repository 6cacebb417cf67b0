/*
 * cluster/view.h: the membership view, as the virtual-actor layer sees it.
 *
 * Membership (cluster/member.c) owns views; the virtual-actor layer
 * (cluster/virtual.c) only reads them. A view is immutable once published:
 * an epoch that only grows and the live members, each an incarnation (the
 * node id, random per system, so a restarted process is a new member) with
 * the virtual types it hosts. Readers on any thread take the current view
 * inside a read section; membership frees a replaced view only after every
 * section that could have seen it has ended.
 *
 * Without a node (actor_node_start never called) there is no view: the
 * virtual layer places every key on this system, as in a view of {self}.
 */
#ifndef ACTOR_CLUSTER_VIEW_H
#define ACTOR_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct actor__node;
struct actor_system;

struct actor__view_member {
	uint32_t node;			/* the incarnation: actor_node_id() */
	uint32_t ntypes;
	const uint64_t *types;		/* hashes of the type names it hosts,
					 * sorted (actor__vtype_hash) */
};

/*
 * A member removed as dead whose keys wait for the takeover margin: the
 * view carries these records from the moment it is published, so that no
 * reader of a view without the member can activate its keys early.
 */
struct actor__view_takeover {
	uint32_t node;
	uint32_t ntypes;
	const uint64_t *types;		/* what it hosted, sorted */
	uint64_t at;			/* actor__view_takeover_at(node) */
};

/*
 * This node is a member of its view, except after it left the cluster
 * (actor_cluster_leave) or was removed by the others while cut off (it
 * then owns no key, is fenced, and joins again in a later view). A node
 * with seeds that has not joined yet has the view {itself}, fenced.
 */
struct actor__view {
	uint64_t epoch;			/* grows with every change */
	uint32_t nmembers;		/* >= 1 */
	const struct actor__view_member *members;	/* sorted by node */
	/* Members removed as dead whose margins may not have passed (compare
	 * .at with the clock), in no order. */
	uint32_t ntakeovers;
	const struct actor__view_takeover *takeovers;
};

/* A read section (any thread, short, no blocking): the view returned by
 * actor__view_get inside it stays valid until actor__view_exit. */
unsigned actor__view_enter(struct actor__node *n);
void actor__view_exit(struct actor__node *n, unsigned section);
const struct actor__view *actor__view_get(struct actor__node *n);

/*
 * Whether this node may run a virtual turn now (any thread, cheap: one
 * atomic load and the clock): false while it is fenced, i.e. it has not
 * heard from a majority of its last view within the fencing time, and
 * also right after a long stall (SIGSTOP, a pause) until the I/O thread
 * has heard from a majority again.
 */
bool actor__view_may_run(struct actor__node *n, uint64_t now_ns);

/*
 * When keys that were node's may be activated elsewhere: for a member that
 * left gracefully, at once (0); for one declared dead, the time it was
 * declared dead plus the takeover margin (> the fencing time). 0 for a
 * node that is in the view or was never seen. Any thread.
 */
uint64_t actor__view_takeover_at(struct actor__node *n, uint32_t node);

/*
 * A live handover: a view that gives this node keys that live members held
 * (it joined, rejoined or hosts a new type) takes effect for activations
 * only once every other member has reported, in a PROBE or ACK, that it
 * installed that view and finished its seals (the activations it lost
 * deactivated, their state saved). Until then this returns the time by
 * which membership stops waiting anyway (the takeover margin after the
 * view, for a member that never reports); 0 when nothing is pending. Any
 * thread.
 */
uint64_t actor__view_handover_until(struct actor__node *n);

/* The hash of a virtual type's name, the same on every node. */
uint64_t actor__vtype_hash(const char *name, size_t len);

/*
 * The virtual layer's side (cluster/virtual.c), called by membership on
 * the I/O thread:
 *  - the types this system hosts, for its own member entry: writes up to
 *    cap hashes into out, returns how many there are;
 *  - after a new view is published (old may be NULL at start): keys this
 *    node no longer owns are sealed and handed over (issue 14);
 *  - this node has just fenced itself (actor__view_may_run turned
 *    false): its activations end with ACTOR_DEACT_FENCED.
 */
size_t actor__virtual_local_types(struct actor_system *sys, uint64_t *out, size_t cap);
void actor__virtual_view_changed(struct actor_system *sys, const struct actor__view *old,
				 const struct actor__view *now);
void actor__virtual_fenced(struct actor_system *sys);
/*
 * Also on the I/O thread:
 *  - the latest epoch whose seals have finished here, given the epoch of
 *    this node's view (reported in PROBE and ACK): that epoch when no seal
 *    is in progress;
 *  - the live handover this node waited for is complete: activations
 *    held for it start.
 */
uint64_t actor__virtual_sealed_epoch(struct actor_system *sys, uint64_t view_epoch);
void actor__virtual_handover_done(struct actor_system *sys);

/* Membership's (any thread): this system's hosted types changed (a type
 * registered after actor_node_start); its member entry is republished. */
void actor__member_types_changed(struct actor__node *n);
/* Membership's (any thread): this system's seals of a view finished; its
 * members are told at once (a PROBE to each). */
void actor__member_sealed(struct actor__node *n);

#endif /* ACTOR_CLUSTER_VIEW_H */
