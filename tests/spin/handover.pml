/*
 * The driver's hand-over of one connection on io_uring
 * (transport/tcp_uring.c, transport/tcp.c "The driver"; issue 16): the
 * I/O thread reads the socket through a multishot recv on its ring; once
 * drive() asked for it, it cancels the recv ("cancel pending"), handles
 * the recv's CQEs up to the last one (no F_MORE), then reads the socket
 * with recv() until drained and arms it, one-shot and level-triggered, in
 * the driver's epoll set; the holder reads it from there and re-arms it,
 * or refuses a frame (kept in the connection's buffer) and hands it back;
 * the I/O thread then delivers what the buffer holds, drains the socket
 * and hands it over again.
 *
 * The network brings CHUNKS numbered chunks (frames). Checked: never two
 * readers of the socket at once (the ring's recv, the I/O thread's
 * recv(), the holder), every chunk delivered once and in order, none left
 * unread when nothing can move (timeout).
 * -DBUG_HAND_OVER_AT_CANCEL: the I/O thread hands over when it asks for
 * the cancel instead of at the recv's last CQE.
 * -DBUG_DRAIN_BEFORE_BUFFER: back from the holder, the socket is read
 * before the refused frame in the buffer is delivered.
 */
#define CHUNKS 3
#define REFUSALS 2

#define DATA 1
#define FINAL 2

byte sock = 0;			/* chunks in the socket, not read */
byte arrived = 0;
byte next_read = 0;		/* the id the next read gets */
byte delivered = 0;		/* the id the next delivery must have */

bool ring_armed = true;		/* the multishot recv, until its last CQE */
bool cancel_req = false;	/* the cancel SQE, not processed yet */
bool ended = false;		/* the recv ended by itself once */
chan cq = [CHUNKS + 2] of { byte, byte };

bool io_reading = false;	/* the I/O thread in its recv() loop */
bool dfd_armed = false;		/* armed in the driver's set */
bool holding = false;		/* the holder reading it */
bool back = false;		/* on the back stack */
bool has_buf = false;		/* a refused frame in the buffer */
byte buf = 0;
byte refusals = 0;

inline deliver(id)
{
	assert(id == delivered);
	delivered++
}

proctype net()
{
	do
	:: arrived < CHUNKS -> atomic { sock++; arrived++ }
	:: else -> break
	od
}

/* The kernel's side of the multishot recv and of the cancel. */
proctype kernel()
{
end:	do
	:: atomic {
		ring_armed && sock > 0 ->
		assert(!io_reading && !holding);
		sock--;
		cq!DATA,next_read;
		next_read++
	   }
	:: atomic { ring_armed && cancel_req -> ring_armed = false; cancel_req = false; cq!FINAL,0 }
	:: atomic { !ring_armed && cancel_req -> cancel_req = false }	/* -ENOENT */
	/* The recv ends by itself (-ENOBUFS), before or after the cancel. */
	:: atomic { ring_armed && !ended -> ring_armed = false; ended = true; cq!FINAL,0 }
	od
}

/* ur_read: recv() until drained, then actor__tcp_drive_now. */
inline drain_and_hand()
{
	io_reading = true;
	do
	:: atomic {
		sock > 0 ->
		assert(!ring_armed && !holding);
		sock--;
		deliver(next_read);
		next_read++
	   }
	:: else -> break
	od;
	io_reading = false;
	dfd_armed = true
}

proctype io()
{
	byte kind, id;
	bool cancel_pending = false;

	/* drive() with the recv armed: ur_drive_check. */
	cancel_pending = true;
	cancel_req = true;
end:	do
	:: cq?kind,id ->
		if
		:: kind == DATA ->
			deliver(id);
#ifdef BUG_HAND_OVER_AT_CANCEL
			if
			:: !dfd_armed && !holding && !back -> drain_and_hand()
			:: else -> skip
			fi
#endif
		:: kind == FINAL ->
			cancel_pending = false;
#ifdef BUG_HAND_OVER_AT_CANCEL
			if
			:: !dfd_armed && !holding && !back -> drain_and_hand()
			:: else -> skip
			fi
#else
			drain_and_hand()
#endif
		fi
	:: back ->
		/* actor__tcp_back_run, then ur_read */
		back = false;
#ifdef BUG_DRAIN_BEFORE_BUFFER
		io_reading = true;
		if
		:: atomic { sock > 0 -> assert(!ring_armed && !holding); sock--; deliver(next_read); next_read++ }
		:: else -> skip
		fi;
		io_reading = false;
#endif
		if
		:: has_buf -> deliver(buf); has_buf = false
		:: else -> skip
		fi;
		drain_and_hand()
	od
}

/* The driver's holder: drv_wait on the level-triggered one-shot event,
 * drv_read, re-arm or hand back. */
proctype holder()
{
end:	do
	:: atomic { dfd_armed && sock > 0 -> dfd_armed = false; holding = true };
		do
		:: atomic {
			sock > 0 ->
			assert(!ring_armed && !io_reading);
			sock--;
			if
			:: refusals < REFUSALS -> refusals++; buf = next_read; has_buf = true
			:: deliver(next_read)
			fi;
			next_read++
		   };
			if
			:: has_buf -> break
			:: else -> skip
			fi
		:: else -> break
		od;
		if
		:: has_buf -> holding = false; back = true
		:: else -> holding = false; dfd_armed = true
		fi
	od
}

/* Nothing can move: every chunk must have been delivered. */
proctype done()
{
	timeout -> assert(delivered == CHUNKS)
}

init
{
	atomic {
		run net();
		run kernel();
		run io();
		run holder();
		run done()
	}
}
