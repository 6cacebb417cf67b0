/*
 * cluster/route.c and cluster/node.c: a peer's outbound queue (a mailbox of
 * frames), the node's ready stack, flush and drain on the I/O thread, and
 * the peer going down (flush, close) and up again (reopen).
 *
 * Two senders on workers each read `up` and push a frame; the one whose
 * push saw WOKE puts the peer on the ready stack (ready_push) and wakes
 * the I/O thread, maybe long after its CAS. The I/O thread flushes when
 * woken, and takes the peer down and up again once.
 *
 * Checked: the peer is on the stack at most once (twice, its ready_next
 * pointed to itself and flush looped for ever); a drain that finds nothing
 * ends (the old try_block failed on a BLOCKED queue and the drain spun);
 * one WOKE per blocked period; and no frame is left in an open queue once
 * everyone is done (no lost wake-up).
 * -DBUG_NO_QUEUED_FLAG: ready_push without the per-peer flag.
 * -DBUG_TRY_BLOCK: try_block without "BLOCKED already is idle".
 */
#define SENDERS 2
#define DRAIN_BATCHES 2

#define EMPTY 0
#define BLOCKED 1
#define CLOSED 2
#define STACK 3

byte tag = BLOCKED;		/* the queue's head word */
byte stacked, fetched;		/* frames on the head's stack, in the lanes */
bool woke_in_period = false;	/* a WOKE since the queue last blocked */
bool up = true, conn = true;	/* up: any thread; conn: the I/O thread's */
bool queued = false;		/* the peer's flag */
byte onstack = 0;		/* entries of the peer on the ready stack */
bool woken = false;		/* a wake-up for the I/O thread is pending */
byte senders_done = 0, sent = 0, failed = 0, refused = 0;

inline ready_push()
{
#ifndef BUG_NO_QUEUED_FLAG
	/* On the stack already: the flush that takes it drains our frame. */
	atomic { was_queued = queued; queued = true };
#else
	was_queued = false;
#endif
	if
	:: !was_queued ->
		atomic {
			onstack++;
			assert(onstack <= 1)
		};
		woken = true
	:: else -> skip
	fi
}

proctype sender()
{
	bool woke = false, was_queued;

	if
	:: up ->
		/* The CAS. */
		atomic {
			if
			:: tag == CLOSED -> refused++
			:: else ->
				stacked++;
				if
				:: tag == BLOCKED ->
					assert(!woke_in_period);
					woke_in_period = true;
					woke = true
				:: else -> skip
				fi;
				tag = STACK
			fi
		};
		/* Any delay here: the test hook holds a sender at this point. */
		if
		:: woke -> ready_push()
		:: else -> skip
		fi
	:: else -> refused++	/* down: -EHOSTUNREACH */
	fi;
	senders_done++
}

/* The I/O thread hands the peer's frames to its connection. */
inline drain()
{
	rounds = 0;
	do
	:: !conn -> break
	:: conn && rounds == DRAIN_BATCHES ->
		ready_push();	/* the rest after the next look around */
		break
	:: conn && rounds < DRAIN_BATCHES ->
		atomic {
			if
			:: tag == STACK -> fetched = fetched + stacked; stacked = 0; tag = EMPTY
			:: else -> skip
			fi;
			k = fetched;
			sent = sent + fetched;
			fetched = 0
		};
		if
		:: k == 0 ->
			atomic {
				if
				:: tag == EMPTY ->
					tag = BLOCKED; woke_in_period = false; blocked = true
#ifndef BUG_TRY_BLOCK
				:: tag == BLOCKED -> blocked = true
#else
				:: tag == BLOCKED ->
					/* A drain that can never end. */
					assert(false)
#endif
				:: else -> blocked = false
				fi
			};
			if
			:: blocked -> break
			:: else -> skip
			fi
		:: else -> skip
		fi;
		rounds++
	od
}

inline flush()
{
	atomic { entries = onstack; onstack = 0 };
	do
	:: entries > 0 ->
		entries--;
#ifndef BUG_NO_QUEUED_FLAG
		queued = false;
#endif
		drain()
	:: else -> break
	od
}

active proctype io()
{
	byte entries, rounds, k;
	bool blocked, cycled = false, was_queued;

	do
	:: woken -> woken = false; flush()
	:: up && !cycled ->
		/* peer down */
		up = false;
		conn = false;
		flush();
		atomic {
			failed = failed + stacked + fetched;
			stacked = 0; fetched = 0;
			tag = CLOSED
		};
		/* a second connection's handshake completes: peer up */
		atomic {
			tag = BLOCKED;
			woke_in_period = false
		};
		conn = true;
		up = true;
		cycled = true
	:: !woken && senders_done == SENDERS -> break
	od;
	/* Nothing may wait in an open queue with nobody to drain it. */
	assert(!up || stacked + fetched == 0);
	assert(sent + failed + refused == SENDERS)
}

init {
	atomic {
		run sender();
		run sender()
	}
}
