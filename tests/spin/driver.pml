/*
 * sched/worker.c with a driver (sched/seam.h, issue 16): idle workers park
 * on their futex, or one at a time (the driver token, drv_state) in the
 * driver's wait (park DRIVING), which returns on inbound frames or on the
 * driver's wake-up (an eventfd: a flag here, set by wake(), cleared by the
 * wait that reads it). Wakers of a DRIVING worker count themselves in
 * drv_wakers around the CAS and the wake (worker.c:wake_driving); the
 * driver is removed at node stop (seam.c:actor__driver_remove: GONE, wait
 * for the holder, wait for the wakers), after which nothing may call it.
 *
 * A producer publishes ITEMS items (each followed by notify()), the
 * network brings up to FRAMES frames, which only the driver's holder reads (its
 * own work: into its next slot), then the producer waits for all of it to
 * be handled, removes the driver, and stops the workers.
 *
 * With -DTICK (driver_tick.pml), the I/O thread's tick poll
 * (tcp.c:actor__tcp_drv_poll_io) reads the driven set whenever dlock is
 * free, which is also between a worker's taking the token and its wait
 * (dlock is held only inside the wait): a frame it reads becomes work for
 * the workers (published, then notify()); it leaves the wake-up unread,
 * for the worker that drv_wake() was for (tcp.c:drv_collect's take_wake).
 * The tick may always come late, so a frame no worker can read is still a
 * deadlock. Without TICK, a frame is read only by the holder.
 *
 * Checked: no invalid end state (no lost wake-up, no frame left unread),
 * no wake() after the removal, nsearching never below 0 and 0 at the end.
 * -DBUG_WAKE_UNCOUNTED: a waker does not count itself in drv_wakers.
 * -DBUG_GIVE_BEFORE_RUNNING: the holder gives the driver back before its
 * park word is RUNNING again.
 * -DBUG_NO_DRIVER_WAKE: notify() treats DRIVING as not asleep.
 * -DBUG_TICK_TAKES_WAKE (with TICK): the tick poll reads the wake-up
 * eventfd too (the lost wake-up fixed by commit 0d0e865).
 * -DBUG_NOTIFY_NO_RESTART: a notify() whose wake found the worker awake
 * goes on with the next worker instead of the first (worker.c before the
 * fix): a second notifier that saw its count and returned leaves work to
 * a worker it passed, now asleep. Only two notifiers with the holder in
 * between catch it: -DTICK -DITEMS1, by hand (20.0 M states, 28 s, fails;
 * fixed: 117 M states, 174 s, 8.6 GB, -w27), too big for make check.
 */
#define WORKERS 2
/* Checked with ITEMS 2 by hand too (11.4 M states, 13 s); make check's 1
 * (4.1 M) misses only BUG_NO_DRIVER_WAKE, which needs one worker in a long
 * handler while the other drives, hence a second item there. With TICK,
 * the frame the tick reads is the work (2.8 M states); ITEMS1 adds one. */
#if defined(BUG_NO_DRIVER_WAKE) || defined(ITEMS2)
#define ITEMS 2
#elif defined(TICK) && !defined(ITEMS1)
#define ITEMS 0
#else
#define ITEMS 1
#endif
#define FRAMES 1

#define RUNNING 0
#define SLEEPING 1
#define NOTIFIED 2
#define DRIVING 3

byte work = 0;			/* published and not taken */
byte nsearching = 0;
byte park[WORKERS];
bool stopping = false;
byte published = 0, exited = 0;

byte frames = 0;		/* arrived, not read */
byte arrived = 0;
bool net_done = false;
bool held = false;		/* drv_state's HELD */
bool gone = false;		/* drv_state's GONE */
byte wakers = 0;
bool dwake = false;		/* the eventfd */
bool dlock = false;		/* the holder inside its wait */
bool removed = false;		/* actor__driver_remove returned */
bool tick_done = false;		/* the I/O thread stopped */

inline dec_searching()
{
	atomic {
		assert(nsearching > 0);
		nsearching--
	}
}

inline drv_wake()
{
	assert(!removed);
	dwake = true
}

/* wake_driving(w, to) */
inline wake_driving(to)
{
#ifndef BUG_WAKE_UNCOUNTED
	wakers++;
#endif
	atomic {
		if
		:: park[i] == DRIVING -> park[i] = to; woke = true
		:: else -> woke = false
		fi
	};
	if
	:: woke -> drv_wake()
	:: else -> skip
	fi;
#ifndef BUG_WAKE_UNCOUNTED
	wakers--;
#endif
	skip
}

/* notify(): after publishing, with the fence before it. */
inline notify()
{
	i = 0;
	do
	:: i == WORKERS || nsearching != 0 -> break
	:: i < WORKERS && nsearching == 0 ->
		seen = park[i];
		if
#ifdef BUG_NO_DRIVER_WAKE
		:: seen == SLEEPING ->
#else
		:: seen == SLEEPING || seen == DRIVING ->
#endif
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
			if
			:: seen == DRIVING -> wake_driving(NOTIFIED)
			:: else ->
				atomic {
					if
					:: park[i] == SLEEPING -> park[i] = NOTIFIED; woke = true
					:: else -> woke = false
					fi
				}
			fi;
			if
			:: woke -> break
			:: else ->
				dec_searching();
#ifndef BUG_NOTIFY_NO_RESTART
				i = 255	/* again from the first (i++ wraps) */
#endif
				skip
			fi
		:: else -> skip
		fi;
		i++
	od;
	atomic { i = 0; seen = 0; mine = false; woke = false }	/* dead: fewer states */
}

inline stop_searching()
{
	atomic { assert(nsearching > 0); was = nsearching; nsearching-- };
	seen = work;
	if
	:: was == 1 && seen > 0 -> notify()
	:: else -> skip
	fi;
	atomic { was = 0; seen = 0 }
}

/* Up to FRAMES frames: maybe none. */
active proctype network()
{
	do
	:: arrived < FRAMES -> atomic { frames++; arrived++ }
	:: break
	od;
	net_done = true
}

#ifdef TICK
/* The I/O thread's ticks until the driver is removed (then it stops): each a trylock of
 * dlock and a poll with timeout 0, one step (its dlock section holds no
 * other lock, so the worker's lock never sees it taken). */
active proctype tick()
{
	byte i, seen;
	bool mine, woke, got;

end_tick:
	do
	:: atomic {
		!dlock && !removed ->
#ifdef BUG_TICK_TAKES_WAKE
		dwake = false;
#endif
		if
		/* frame_driven(w NULL): to the frame's actor, published */
		:: frames > 0 -> frames--; work++; got = true
		:: else -> skip
		fi
	   };
		if
		:: got -> got = false; notify()
		:: else -> skip
		fi
	:: removed -> break
	od;
	tick_done = true
}
#endif

active proctype producer()
{
	byte i, seen;
	bool mine, woke;

	do
	:: published < ITEMS ->
		atomic { work++; published++ };
		notify()
	:: published == ITEMS -> break
	od;
	(work == 0 && frames == 0 && net_done);	/* stuck: lost wake-up or frame */
	/* actor__driver_remove */
	gone = true;
	do
	:: held -> drv_wake()
	:: !held -> break
	od;
	(wakers == 0);
	removed = true;
	/* The router's stop ends the I/O thread (system.c), then
	 * actor__workers_stop */
#ifdef TICK
	tick_done;
#endif
	stopping = true;
	for (i : 0 .. WORKERS - 1) {
		atomic {
			if
			:: park[i] == SLEEPING -> park[i] = RUNNING
			:: else -> skip
			fi
		};
		wake_driving(RUNNING)
	}
	(exited == WORKERS);
	assert(nsearching == 0)
}

proctype worker(byte me)
{
	byte i, was, seen;
	bool searching, mine, woke, drv, got;

idle:
	atomic { nsearching++; searching = true; was = 0; seen = 0; drv = false; got = false };
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
			stop_searching()
		:: else -> skip
		fi;
		/* sleep_on: take the driver if free; park word; fence; look; wait */
		atomic {
			if
			:: !held && !gone -> held = true; drv = true
			:: else -> drv = false
			fi
		};
		if
		:: drv -> park[me] = DRIVING
		:: else -> park[me] = SLEEPING
		fi;
		got = false;
		if
		:: work > 0 || stopping ->
			atomic { was = park[me]; park[me] = RUNNING }
		:: else ->
			if
			:: drv ->
				dlock = true;	/* free: the tick's section is one step */
end_drive:			(dwake || frames > 0);
				atomic {
					dlock = false;
					dwake = false;	/* the wait reads the eventfd */
					if
					:: frames > 0 -> frames--; got = true
					:: else -> skip
					fi
				}
			:: else ->
end_wait:			(park[me] != SLEEPING)
			fi;
#ifdef BUG_GIVE_BEFORE_RUNNING
			if
			:: drv -> held = false
			:: else -> skip
			fi;
#endif
			atomic { was = park[me]; park[me] = RUNNING }
		fi;
#ifndef BUG_GIVE_BEFORE_RUNNING
		if
		:: drv -> held = false
		:: else -> skip
		fi;
#endif
		if
		:: was == NOTIFIED ->
			searching = true;	/* the waker counted us */
			if
			:: stopping -> dec_searching(); goto out
			:: else -> skip
			fi
		:: else -> skip
		fi;
		atomic { was = 0; drv = false };
		if
		:: got -> goto ran	/* the frame's actor, from our next slot */
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
ran:
	/* A short one: the frame's actor runs, then idle again. */
	if
	:: searching -> stop_searching()
	:: else -> skip
	fi;
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
