# cluster/: nodes, the handshake, remote references and failure detection.
libactor_core_la_SOURCES += \
	cluster/internal.h \
	cluster/view.h \
	cluster/node.c \
	cluster/io.c \
	cluster/peer.c \
	cluster/handshake.h cluster/handshake.c \
	cluster/admit.c \
	cluster/log.c \
	cluster/loopback.c \
	cluster/route.c \
	cluster/direct.c \
	cluster/drive.c \
	cluster/lookup.c \
	cluster/track.c \
	cluster/virtual.h cluster/virtual.c \
	cluster/activation.c \
	cluster/persist.c \
	cluster/once.c \
	cluster/placement.c \
	cluster/vroute.c \
	cluster/member.c

if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_node
TESTS += tests/test_node
endif
endif
tests_test_node_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_node_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# The same traffic as a plain TAP program, for ThreadSanitizer.
check_PROGRAMS += tests/stress_node
TESTS += tests/stress_node
tests_stress_node_LDADD = $(TEST_LIBS)

# Peers forgotten: servers restarted, clients come and go (issue 18).
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_forget
TESTS += tests/test_forget
endif
endif
tests_test_forget_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_forget_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# The same while other threads send, as a plain TAP program for
# ThreadSanitizer.
check_PROGRAMS += tests/stress_forget
TESTS += tests/stress_forget
tests_stress_forget_LDADD = $(TEST_LIBS)

# The handshake and the protocol's rules against raw-socket peers.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_handshake
TESTS += tests/test_handshake
endif
endif
tests_test_handshake_SOURCES = tests/test_handshake.c tests/rawpeer.h tests/rawpeer.c
tests_test_handshake_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_handshake_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_wire
TESTS += tests/test_wire
endif
endif
tests_test_wire_SOURCES = tests/test_wire.c tests/rawpeer.h tests/rawpeer.c
tests_test_wire_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_wire_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# The handshake's libFuzzer target and seeds (.ci/fuzz, make fuzz).
handshake_corpus = \
	tests/fuzz/corpus/handshake/hello-injected \
	tests/fuzz/corpus/handshake/honest-dial \
	tests/fuzz/corpus/handshake/inject-hello-auth \
	tests/fuzz/corpus/handshake/reflect \
	tests/fuzz/corpus/handshake/splice
EXTRA_DIST += tests/fuzz/fuzz_handshake.c $(handshake_corpus)

# Remote mail to a full bounded mailbox.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_remote_full
TESTS += tests/test_remote_full
endif
endif
tests_test_remote_full_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_remote_full_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Virtual actors (issue 14).
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_virtual
TESTS += tests/test_virtual
endif
endif
tests_test_virtual_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_virtual_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# The same races as a plain TAP program, for ThreadSanitizer.
check_PROGRAMS += tests/stress_virtual
TESTS += tests/stress_virtual
tests_stress_virtual_LDADD = $(TEST_LIBS)

# Two connections to one peer: simultaneous dials, a peer connecting again.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_dial
TESTS += tests/test_dial
endif
endif
tests_test_dial_SOURCES = tests/test_dial.c tests/rawpeer.c tests/rawpeer.h
tests_test_dial_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_dial_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# The control lane: replies and signals past a full peer queue.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_lane
TESTS += tests/test_lane
endif
endif
tests_test_lane_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_lane_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Faults between nodes for a bounded time (CHAOS_SECONDS, default 5): node
# processes killed, stopped, restarted under load.
check_PROGRAMS += tests/chaos
TESTS += tests/chaos
tests_chaos_LDADD = $(TEST_LIBS)

# Mail lost with a connection is counted: sent = handled + lost.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_lost
TESTS += tests/test_lost
endif
endif
tests_test_lost_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_lost_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
# Membership: views, joins through seeds, failure detection, fencing,
# leaves (issue 14), over loopback and TCP.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_member
TESTS += tests/test_member
endif
endif
tests_test_member_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_member_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Mail to a member whose connection is not up yet waits for it.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_pending
TESTS += tests/test_pending
endif
endif
tests_test_pending_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_pending_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Views read on other threads while they change, for ThreadSanitizer.
check_PROGRAMS += tests/stress_member
TESTS += tests/stress_member
tests_stress_member_LDADD = $(TEST_LIBS)

# Virtual actors while members join and leave under traffic, for
# ThreadSanitizer: one activation per key, every message accounted for.
check_PROGRAMS += tests/stress_handover
TESTS += tests/stress_handover
tests_stress_handover_LDADD = $(TEST_LIBS)

# Virtual actors on real membership: a member destroyed, partitioned,
# leaving (issue 14).
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_virtual_member
TESTS += tests/test_virtual_member
endif
endif
tests_test_virtual_member_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_virtual_member_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
