/*
 * cluster/direct.c and transport/tcp.c (issue 16): frames written by the
 * sending thread itself (try_send) next to the peer's queue and the I/O
 * thread's writes.
 *
 * Two senders each send FRAMES frames. A sender whose peer queue is
 * BLOCKED (idle) takes the connection's try-lock and, if `direct` is set,
 * writes its frame on the socket: whole, or only its first part (the
 * socket filled up: the rest heads the connection's queue and the
 * connection is handed to the I/O thread), or nothing (EAGAIN: all of it
 * is queued so). Otherwise it pushes the frame on the peer queue, and the
 * push that finds it BLOCKED wakes the I/O thread. The I/O thread drains
 * the peer queue into the connection's queue (send(): clears `direct`
 * under the lock first), queues a PING of its own, writes what the
 * connection's queue holds once it is on the flush list (send() and taking
 * a handed connection back put it there), and sets `direct` again when
 * nothing is queued (direct_maybe). A frame is two
 * parts on the wire.
 *
 * Checked: one writer on the socket at a time; no frame's parts are split
 * by another frame's (no torn frames); each sender's frames arrive in the
 * order sent; the I/O thread never writes while `direct` is set; and once
 * nothing can move, every frame has arrived (no lost wake-up or hand-over).
 * -DBUG_NO_IDLE_CHECK: a sender goes direct without looking at the queue.
 * -DBUG_NO_DIRECT_OFF: send() queues without clearing `direct`.
 * -DBUG_DIRECT_WHILE_HANDED: direct_maybe while a hand-over waits: taking
 * it back later clears direct_io with `direct` set, and the I/O thread
 * then queues and writes while a sender may write too.
 */
#define SENDERS 2
#define FRAMES 2
#define PING (SENDERS * FRAMES)		/* the I/O thread's frame */
#define TOTAL (SENDERS * FRAMES + 1)
#define NONE 255

chan outq = [4] of { byte };		/* the peer's queue */
bool blocked = true;			/* its BLOCKED tag */
bool woken = false;			/* ready stack and eventfd, folded */
chan cq = [6] of { byte, byte };	/* the connection's queue: frame, part */
bool lock = false;			/* wlock (and the peer's wbusy) */
bool direct = false;			/* under lock */
bool direct_io = false;			/* the I/O thread's note */
bool handed = false;			/* on t->handed */
bool flush = false;			/* on the flush list (I/O thread) */
byte onwire = 0;			/* threads inside a socket write */
/* The receiver, checking each part as it goes on the wire. */
byte cur = NONE;			/* the frame whose first part came */
byte next[SENDERS];			/* each sender's next frame */
byte delivered = 0;

inline write_part(f, p)
{
	atomic { onwire++; assert(onwire == 1) };
	atomic {
		if
		:: p == 1 -> assert(cur == NONE); cur = f
		:: else ->
			assert(cur == f);
			cur = NONE;
			delivered++;
			if
			:: f != PING ->
				assert(f % FRAMES == next[f / FRAMES]);
				next[f / FRAMES]++
			:: else -> skip
			fi
		fi
	};
	onwire--
}

inline lock_wait()
{
	atomic { !lock -> lock = true }
}

/* tcp.c:actor__tcp_send, on the I/O thread. */
inline tcp_send(f)
{
#ifndef BUG_NO_DIRECT_OFF
	if
	:: direct_io ->
		lock_wait();
		direct = false;
		lock = false;
		direct_io = false
	:: else -> skip
	fi;
#endif
	cq!f,1;
	flush = true
}

proctype sender(byte s)
{
	byte seq = 0, f;
	bool got;

	do
	:: seq < FRAMES ->
		f = s * FRAMES + seq;
		got = false;
#ifndef BUG_NO_IDLE_CHECK
		if
		:: blocked ->
#endif
			atomic {
				if
				:: !lock -> lock = true; got = true
				:: else -> skip
				fi
			};
			if
			:: got && direct ->
				if
				:: write_part(f, 1);
					if
					:: write_part(f, 2)		/* whole */
					:: direct = false;		/* the rest first */
						cq!f,2;
						handed = true
					fi
				:: direct = false;			/* EAGAIN */
					cq!f,1;
					handed = true
				fi;
				lock = false;
				goto sent
			:: got && !direct -> lock = false
			:: else -> skip
			fi;
#ifndef BUG_NO_IDLE_CHECK
		:: else -> skip
		fi;
#endif
		/* The queue; the push that finds it BLOCKED wakes the I/O thread. */
		atomic {
			outq!f;
			if
			:: blocked -> blocked = false; woken = true
			:: else -> skip
			fi
		};
sent:
		seq++
	:: else -> break
	od
}

proctype io()
{
	byte f, p;
	bool pinged = false;

end:
	do
	:: atomic { woken -> woken = false };
		/* route.c:actor__route_drain: hand over, then try_block. */
		do
		:: outq?f -> tcp_send(f)
		:: atomic { empty(outq) -> blocked = true }; break
		od
	:: !pinged -> pinged = true; tcp_send(PING)
	:: atomic { handed -> handed = false; direct_io = false; flush = true }
	:: flush && nempty(cq) ->
		/* The backend's write of the queue's head (tcp.c:settle). */
		assert(!direct);
		cq?f,p;
		write_part(f, p);
		if
		:: p == 1 -> write_part(f, 2)
		:: else -> skip
		fi
	:: flush && empty(cq) -> flush = false
	/* direct_maybe; anywhere, not only after a write as in tcp.c. */
#ifndef BUG_DIRECT_WHILE_HANDED
	:: atomic { !flush && empty(cq) && !direct_io && !handed && !lock -> lock = true };
#else
	:: atomic { !flush && empty(cq) && !direct_io && !lock -> lock = true };
#endif
		direct = true;
		lock = false;
		direct_io = true
	od
}

init
{
	atomic {
		run sender(0);
		run sender(1);
		run io()
	};
	timeout -> assert(delivered == TOTAL)
}
