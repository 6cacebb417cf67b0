/*
 * mailbox/mpsc.c: the head word's tags (EMPTY, BLOCKED, CLOSED, a stack),
 * close and reopen, and the count against the capacity.
 *
 * Two senders push two envelopes each while the consumer, scheduled only
 * by a push that saw WOKE, pops, blocks, or closes its incarnation; a
 * closed mailbox is reopened for a new incarnation, alternately bounded
 * (capacity 1) and unbounded, as sched/actor.c does with a reused slot and
 * cluster/node.c with a peer's queue. A sender reads the capacity and adds
 * to the count before its CAS: across a reopen that is a stale sender.
 *
 * Checked: exactly one WOKE per blocked period (one scheduling), the count
 * never below zero nor above what is queued or being pushed, and zero once
 * everything is closed; every envelope popped, returned by close, or
 * refused. -DBUG_RESET_COUNT: the old code (reopen resets the count, pop
 * subtracts whenever the mailbox is bounded now): the count wraps.
 */
#define SENDERS 2
#define PER_SENDER 2
#define REOPENS 2

#define EMPTY 0
#define BLOCKED 1
#define CLOSED 2
#define STACK 3

byte tag = BLOCKED;		/* the head word: a tag or a stack */
byte stack_marked, stack_plain;	/* envelopes on the stack, counted or not */
byte lane_marked, lane_plain;	/* fetched by the consumer, not popped */
byte capacity = 0;
int count = 0;
bool scheduled = false;		/* the consumer holds the mailbox */
byte pushed = 0, refused = 0, taken = 0, senders_done = 0;

inline push_one()
{
	cap = capacity;
	marked = false;
	at_cap = false;
	if
	:: cap != 0 ->
		d_step {
			if
			:: count >= cap -> refused++; at_cap = true	/* -EAGAIN */
			:: else -> count++; marked = true
			fi
		}
	:: else -> skip
	fi;
	/* The CAS: on CLOSED give the count back, else link onto the stack. */
	atomic {
		if
		:: at_cap -> skip
		:: !at_cap && tag == CLOSED ->
			if
			:: marked -> count--
			:: else -> skip
			fi;
			refused++
		:: !at_cap && tag != CLOSED ->
			if
			:: marked -> stack_marked++
			:: else -> stack_plain++
			fi;
			pushed++;
			if
			:: tag == BLOCKED ->	/* WOKE: this sender schedules it */
				assert(!scheduled);
				scheduled = true
			:: else -> skip
			fi;
			tag = STACK
		fi
	}
}

proctype sender()
{
	byte i, cap;
	bool marked, at_cap;

	for (i : 1 .. PER_SENDER) {
		push_one()
	}
	senders_done++
}

/* One envelope out of the lanes (after a fetch when they are empty). */
inline pop_one()
{
	atomic {
		if
		:: lane_marked + lane_plain == 0 && tag == STACK ->
			lane_marked = stack_marked; lane_plain = stack_plain;
			stack_marked = 0; stack_plain = 0; tag = EMPTY
		:: else -> skip
		fi
	};
	d_step {
		if
		:: lane_marked > 0 ->
			lane_marked--; taken++;
#ifdef BUG_RESET_COUNT
			if :: capacity != 0 -> count-- :: else -> skip fi
#else
			count--
#endif
		:: lane_plain > 0 ->
			lane_plain--; taken++;
#ifdef BUG_RESET_COUNT
			if :: capacity != 0 -> count-- :: else -> skip fi
#endif
		:: else -> skip
		fi
	}
}

inline close_all()
{
	d_step {
		if
		:: tag == STACK ->
			lane_marked = lane_marked + stack_marked;
			lane_plain = lane_plain + stack_plain;
			stack_marked = 0; stack_plain = 0
		:: else -> skip
		fi;
		tag = CLOSED;
		taken = taken + lane_marked + lane_plain;
#ifndef BUG_RESET_COUNT
		count = count - lane_marked;
#endif
		lane_marked = 0; lane_plain = 0
	}
}

active proctype consumer()
{
	byte reopens = 0;

	do
	:: scheduled ->
		if
		:: pop_one()
		:: lane_marked + lane_plain == 0 ->
			/* try_block: EMPTY -> BLOCKED, or BLOCKED already */
			atomic {
				if
				:: tag == EMPTY || tag == BLOCKED -> tag = BLOCKED; scheduled = false
				:: else -> skip
				fi
			}
		:: reopens < REOPENS ->
			close_all();
			scheduled = false;
			reopens++;
			/* A new incarnation, bounded every other time. */
			atomic {
				capacity = reopens % 2;
#ifdef BUG_RESET_COUNT
				count = 0;
#endif
				tag = BLOCKED
			}
		fi
	:: !scheduled && senders_done == SENDERS -> break
	od;
	close_all();
	assert(count == 0);
	assert(pushed + refused == SENDERS * PER_SENDER);
	assert(taken == pushed)
}

init {
	atomic {
		run sender();
		run sender()
	}
}

/* The count is never below zero (it wrapped in the C code), and never
 * above what is queued or being pushed. */
active proctype count_bounds()
{
end:	do
	:: atomic { !(count >= 0 && count <= SENDERS * PER_SENDER) -> assert(false) }
	od
}
