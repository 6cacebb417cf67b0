/*
 * transport/tcp.c: the wake pair between any thread and the I/O thread.
 *
 * A waker sets pending (an exchange; if it was set already the I/O thread
 * has not taken it and will run woken() after it) and then, if the I/O
 * thread is sleeping, writes the eventfd. The I/O thread sets sleeping,
 * fences, and blocks in epoll_wait only if nothing is pending; after the
 * wait it clears sleeping, and takes pending (an exchange) to run woken().
 *
 * Two wakers call wake() once each and wait until a woken() that began
 * after their call has run; the I/O thread loops for ever.
 * Checked: no lost wake-up (a waker waiting for ever is an invalid end
 * state; the I/O thread may block for ever once everyone is served).
 * -DBUG_NO_FENCE: the I/O thread's load of pending passes its store to
 * sleeping (what qemu-user did without the fence, issue 11's aarch64 leg).
 */
#define WAKERS 2

bool pending = false, sleeping = false;
byte efd = 0;			/* the eventfd's counter */
byte calls = 0;			/* wake() calls begun */
byte served = 0;		/* calls that a woken() has covered */

proctype waker()
{
	bool was;
	byte mine;

	atomic { was = pending; pending = true; calls++; mine = calls };
	if
	:: !was && sleeping -> efd++	/* kick */
	:: else -> skip
	fi;
	(served >= mine)		/* stuck here: a lost wake-up */
}

active proctype io()
{
	bool sleep, p, took;
	byte upto;

end:	do
	:: 
#ifdef BUG_NO_FENCE
		p = pending;
		sleeping = true;
#else
		sleeping = true;
		p = pending;
#endif
		if
		:: p -> sleeping = false; sleep = false
		:: else -> sleep = true
		fi;
		if
		:: sleep ->
			/* epoll_wait(-1): returns once the eventfd is readable */
end_wait:		(efd > 0);
			efd = 0;
			sleeping = false
		:: else -> skip
		fi;
		/* take: woken() covers every call begun before the exchange */
		atomic { took = pending; pending = false; upto = calls };
		if
		:: took -> served = upto	/* woken() */
		:: else -> skip
		fi
	od
}

init {
	atomic {
		run waker();
		run waker()
	}
}
