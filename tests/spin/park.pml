/*
 * sched/worker.c: idle workers searching, parking on their futex word and
 * being woken, the count of searching workers, and the wake at shutdown.
 *
 * A producer (an outside send) publishes two items of work, each followed
 * by notify(): a seq_cst fence, then, if no worker searches, it becomes
 * the one waker (nsearching 0 -> 1) and wakes one sleeping worker, which
 * inherits that count. Two workers search (counted), stop searching, and
 * sleep (park := SLEEPING; fence; look for work; futex wait). A worker that
 * finds work as the last searcher looks for more and wakes a successor. An
 * item's handler runs until no work is left (no 10 ms watcher here), so a
 * worker that sleeps through work it should have been woken for is caught
 * as a deadlock. At the end the producer stops the workers and wakes the
 * sleeping ones.
 *
 * Promela is sequentially consistent, which is what the seq_cst fences
 * give the C code; a -DBUG_ variant that drops one models the reordering.
 * Checked: no lost wake-up (no invalid end state), nsearching never below
 * zero and back at zero once all have stopped.
 * -DBUG_STOP_NOTIFIED: shutdown wakes with NOTIFIED, as if counted.
 * -DBUG_NO_SEARCHER_FENCE: the last searcher's look for work is satisfied
 * before its decrement is visible (ARMv8 without the fence).
 * -DBUG_SILENT_TIER_CHANGE: a worker that stops searching because it found
 * nothing (the end of the aggressive tier) just decrements: the producer
 * that saw it searching woke nobody, and it takes one item and leaves the
 * other to a sleeper (found by this model, fixed with the others).
 */
#define WORKERS 2
#define ITEMS 2

#define RUNNING 0
#define SLEEPING 1
#define NOTIFIED 2

byte work = 0;			/* published and not taken */
byte nsearching = 0;
byte park[WORKERS];
bool stopping = false;
byte published = 0, exited = 0;

inline dec_searching()
{
	atomic {
		assert(nsearching > 0);
		nsearching--
	}
}

/* notify(): after publishing, with the fence before it. */
inline notify()
{
	i = 0;
	do
	:: i == WORKERS || nsearching != 0 -> break
	:: i < WORKERS && nsearching == 0 ->
		if
		:: park[i] == SLEEPING ->
			atomic {
				if
				:: nsearching == 0 -> nsearching = 1; mine = true
				:: else -> mine = false
				fi
			};
			if
			:: !mine -> break
			:: else -> skip
			fi;
			atomic {
				if
				:: park[i] == SLEEPING -> park[i] = NOTIFIED; woke = true
				:: else -> woke = false
				fi
			};
			if
			:: woke -> break	/* the futex wake */
			:: else ->	/* it woke by itself: again from the first */
				dec_searching(); i = 255	/* i++ wraps */
			fi
		:: else -> skip
		fi;
		i++
	od
}

/* stop_searching(): the last searcher looks again and wakes a successor. */
inline stop_searching()
{
#ifdef BUG_NO_SEARCHER_FENCE
	seen = work;
	atomic { assert(nsearching > 0); was = nsearching; nsearching-- };
#else
	atomic { assert(nsearching > 0); was = nsearching; nsearching-- };
	seen = work;
#endif
	if
	:: was == 1 && seen > 0 -> notify()
	:: else -> skip
	fi
}

active proctype producer()
{
	byte i;
	bool mine, woke;

	do
	:: published < ITEMS ->
		atomic { work++; published++ };
		notify()
	:: published == ITEMS -> break
	od;
	(work == 0);		/* stuck here: a lost wake-up */
	stopping = true;
	for (i : 0 .. WORKERS - 1) {
		atomic {
#ifdef BUG_STOP_NOTIFIED
			park[i] = NOTIFIED
#else
			if
			:: park[i] == SLEEPING -> park[i] = RUNNING
			:: else -> skip
			fi
#endif
		}
	}
	(exited == WORKERS);
	assert(nsearching == 0)
}

proctype worker(byte me)
{
	byte i, was, seen;
	bool searching, mine, woke;

idle:
	atomic { nsearching++; searching = true };
	do
	:: atomic { work > 0 -> work-- }; goto found
	:: atomic { work == 0 && stopping } ->
		if
		:: searching -> dec_searching()
		:: else -> skip
		fi;
		goto out
	:: atomic { work == 0 && !stopping } ->
		if
		:: searching ->
			searching = false;
#ifdef BUG_SILENT_TIER_CHANGE
			dec_searching()
#else
			stop_searching()
#endif
		:: else -> skip
		fi;
		/* sleep_on: SLEEPING; fence; look; wait */
		park[me] = SLEEPING;
		if
		:: work > 0 || stopping ->
			atomic { was = park[me]; park[me] = RUNNING }
		:: else ->
end_wait:		(park[me] != SLEEPING);
			atomic { was = park[me]; park[me] = RUNNING }
		fi;
		if
		:: was == NOTIFIED ->
			searching = true;	/* the waker counted us */
			if
			:: stopping -> dec_searching(); goto out
			:: else -> skip
			fi
		:: else -> skip
		fi
	od;
found:
	if
	:: searching -> stop_searching()
	:: else -> skip
	fi;
	/* A long handler: busy until no work is left for the others. */
	(work == 0);
	goto idle;
out:
	exited++
}

init {
	atomic {
		run worker(0);
		run worker(1)
	}
}
