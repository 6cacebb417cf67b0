/*
 * cluster/peer.c: forgetting peers. Readers (senders on any thread) count
 * themselves in one of two counters, by the parity of the epoch they read
 * (maybe stale), look a peer up in the table, use it (push a frame, and
 * maybe put it on the ready stack: a late WOKE), and leave. The I/O thread
 * takes two peers out of the table one after the other (a tombstone) and
 * retires them; its reclaim looks at the counter of the parity other than
 * the epoch's, and when it is 0 flips the epoch if it has newer retired
 * peers, then flushes the ready stack and frees the peers retired before
 * the last flip. All seq_cst in the C code, so Spin's interleavings are
 * its executions.
 *
 * Checked: no reader uses a freed peer, and no freed peer is on the ready
 * stack.
 * -DBUG_FREE_AT_ONCE: free the retired peers at the first look, with no flip.
 * -DBUG_FIND_FIRST: a reader looks the peer up before counting itself.
 * -DBUG_FLUSH_FIRST: flush the ready stack before the look, not after.
 * -DBUG_FORGET_BETWEEN: a peer forgotten between the look and the flip.
 */
#define READERS 2
#define PEERS 2

bool intable[PEERS] = true;	/* the slot holds the peer, not a tombstone */
bool freed[PEERS];
bool onstack[PEERS];		/* on the ready stack */
byte epoch = 0;			/* mod 4: its parity is what counts */
byte count[2];			/* readers in a section, by parity */
byte retired_old, retired_new;	/* bit masks of peers */
byte readers_done = 0;

proctype reader()
{
	byte e, which, rounds = 0;
	bool found;

	do
	:: rounds < 2 ->
		/* A peer to look up: either. */
		if
		:: which = 0
		:: which = 1
		fi;
#ifdef BUG_FIND_FIRST
		found = intable[which];
#endif
		e = epoch % 2;
		count[e]++;
#ifndef BUG_FIND_FIRST
		found = intable[which];
#endif
		if
		:: found ->
			assert(!freed[which]);	/* reads p->node, p->up, pushes */
			if
			:: onstack[which] = true	/* a late WOKE */
			:: skip
			fi;
			assert(!freed[which])
		:: else -> skip
		fi;
		count[e]--;
		rounds++
	:: else -> break
	od;
	readers_done++
}

inline flush()
{
	onstack[0] = false;
	onstack[1] = false
}

inline free_mask(m)
{
	i = 0;
	do
	:: i < PEERS ->
		if
		:: m & (1 << i) ->
			assert(!onstack[i]);
			freed[i] = true
		:: else -> skip
		fi;
		i++
	:: else -> break
	od
}

inline reclaim()
{
	e = epoch;
#ifdef BUG_FLUSH_FIRST
	flush();
#endif
	if
	:: count[(e + 1) % 2] == 0 ->
#ifdef BUG_FREE_AT_ONCE
		flush();
		free_mask(retired_old | retired_new);
		retired_old = 0;
		retired_new = 0
#else
		/* The move and the flip at once after the look, then the
		 * flush and the free. */
#ifdef BUG_FORGET_BETWEEN
		/* a peer forgotten between the look and the flip (as the
		 * flush could, when it came first) */
		if
		:: p < PEERS ->
			intable[p] = false;
			retired_new = retired_new | (1 << p);
			p++
		:: skip
		fi;
#endif
		old = retired_old;
		retired_old = retired_new;
		retired_new = 0;
		if
		:: retired_old != 0 -> epoch = (e + 1) % 4
		:: else -> skip
		fi;
#ifndef BUG_FLUSH_FIRST
		flush();
#endif
		free_mask(old)
#endif
	:: else -> skip
	fi
}

active proctype io()
{
	byte e, i, old, p = 0;

	do
	:: p < PEERS ->
		/* forget p: the tombstone, then the retired list */
		intable[p] = false;
		retired_new = retired_new | (1 << p);
		p++;
		reclaim()
	:: (retired_old | retired_new) != 0 -> reclaim()
	:: p >= PEERS && (retired_old | retired_new) == 0 -> break
	od;
	/* Both freed once the readers are gone. */
	readers_done == READERS;
	assert(freed[0] && freed[1])
}

init {
	atomic {
		run reader();
		run reader()
	}
}
