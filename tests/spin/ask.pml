/*
 * sched/request.c and sched/system.c: actor_system_ask racing
 * actor_system_shutdown.
 *
 * An asker spawns its actor from outside (actor__system_spawn: counted in
 * `spawning` around its check of closing), sends it its first message and
 * waits on a semaphore that the actor's cleanup posts. The actor, run by a
 * worker until the workers stop, makes the request on its first message
 * and stops on the reply, or on an exit. Shutdown sets closing, waits for
 * the outside spawns in progress, then sweeps: an exit to every visible
 * live actor, until the live count is zero; then the workers stop.
 *
 * Checked: every ask ends (an asker waiting for ever is an invalid end
 * state), and a woken asker has an answer or -ECANCELED.
 * -DBUG_NO_EXCLUSION: spawn checks closing alone (the old code): a spawn
 * can finish after the last sweep, and its actor never runs.
 * -DBUG_STATE_LATE: the actor learns its caller from its first message
 * (the old code): an exit first, and its cleanup has nobody to wake.
 */
#define ASKERS 2

#define ECANCELED 1
#define ANSWERED 2

bool closing = false, workers_stopped = false;
byte spawning = 0, spawned = 0, stopped = 0;
bool visible[ASKERS], exiting[ASKERS], first[ASKERS], knows[ASKERS], done[ASKERS];
byte result[ASKERS];		/* what q holds: 0 (unset), ECANCELED, ANSWERED */

/* The ask actor, as run by the workers while they run. */
proctype ask_actor(byte me)
{
	bool asked = false;

	do
	:: atomic { !workers_stopped && exiting[me] } -> break
	:: atomic { !workers_stopped && !exiting[me] && first[me] && !asked } ->
		first[me] = false;
		asked = true;
		knows[me] = true	/* BUG_STATE_LATE: only now */
	:: atomic { !workers_stopped && !exiting[me] && asked } ->
		result[me] = ANSWERED;	/* the reply: ask_then stops it */
		break
	:: workers_stopped -> goto never_ran
	od;
	/* finalize: the cleanup wakes the caller if it knows it. */
	atomic {
		if
		:: knows[me] -> done[me] = true
		:: else -> skip
		fi;
		visible[me] = false;
		stopped++
	};
never_ran:
	skip
}

proctype asker(byte me)
{
	bool ok = false;

#ifndef BUG_NO_EXCLUSION
	spawning++;
#endif
	if
	:: !closing ->
		result[me] = ECANCELED;	/* q starts with it */
#ifndef BUG_STATE_LATE
		knows[me] = true;	/* the state is given before it is visible */
#endif
		spawned++;
		run ask_actor(me);
		visible[me] = true;
		ok = true
	:: else -> skip		/* -ESHUTDOWN */
	fi;
#ifndef BUG_NO_EXCLUSION
	spawning--;
#endif
	if
	:: ok ->
		atomic {
			if
			:: visible[me] -> first[me] = true
			:: else -> skip		/* stopped already: a dead letter */
			fi
		};
		(done[me]);		/* stuck here: an ask that never ends */
		assert(result[me] == ECANCELED || result[me] == ANSWERED)
	:: else -> skip
	fi
}

active proctype shutdown()
{
	byte i;

	closing = true;
#ifndef BUG_NO_EXCLUSION
	(spawning == 0);
#endif
	do
	:: spawned == stopped -> break
	:: spawned != stopped ->
		for (i : 0 .. ASKERS - 1) {
			atomic {
				if
				:: visible[i] -> exiting[i] = true
				:: else -> skip
				fi
			}
		}
	od;
	workers_stopped = true
}

init {
	atomic {
		run asker(0);
		run asker(1)
	}
}
