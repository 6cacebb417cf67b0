# tests/: Criterion tests and plain TAP stress programs, all run by make check.
# Under ThreadSanitizer only the plain programs run (Criterion issue #274).

check_LTLIBRARIES = tests/libstress.la
tests_libstress_la_SOURCES = \
	tests/stress/stress.h tests/stress/tap.h tests/stress/member.h tests/stress/traffic.h tests/leakcheck.h tests/find.h tests/uring.h \
	tests/store_helpers.h \
	tests/stress/stress_mpsc.c \
	tests/stress/stress_mpsc_reopen.c \
	tests/stress/stress_deque.c \
	tests/stress/stress_envelope.c \
	tests/stress/stress_sched.c \
	tests/stress/stress_ask.c
TEST_LIBS = tests/libstress.la libactor-core.la

stress_programs = tests/stress_mailbox tests/stress_sched
tests_stress_mailbox_LDADD = $(TEST_LIBS)
tests_stress_sched_LDADD = $(TEST_LIBS)

check_PROGRAMS += $(stress_programs)
TESTS += $(stress_programs) tests/exports.sh tests/includes.sh tests/man_errors.pl tests/headers.sh
EXTRA_DIST += tests/exports.sh tests/includes.sh tests/man_errors.pl tests/headers.sh tests/lsan.supp
# The virtual-actor example on 3 nodes (examples/counters).
TESTS += tests/example_counters.sh
EXTRA_DIST += tests/example_counters.sh
# README's bank demo, one command: 3 node processes, one killed (examples/bank).
TESTS += tests/example_bank.sh
EXTRA_DIST += tests/example_bank.sh
# tests/headers.sh compiles the public headers with both compilers.
AM_TESTS_ENVIRONMENT += CC='$(CC)'; export CC; CXX='$(CXX)'; export CXX; \
	MSGPACK_CFLAGS='$(MSGPACK_CFLAGS)'; export MSGPACK_CFLAGS;

if HAVE_CRITERION
if !TSAN
criterion_tests = \
	tests/test_version \
	tests/test_envelope \
	tests/test_mpsc \
	tests/test_deque \
	tests/test_actor
check_PROGRAMS += $(criterion_tests)
TESTS += $(criterion_tests)
endif
endif
CRITERION_TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_test_version_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_version_LDADD = libactor.la $(CRITERION_LIBS)
tests_test_envelope_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_envelope_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
tests_test_mpsc_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_mpsc_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
tests_test_deque_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_deque_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
tests_test_actor_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_actor_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Connecting to a node that is up already, or to oneself.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_connect
TESTS += tests/test_connect
endif
endif
tests_test_connect_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_connect_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Exit reasons as text and the dead-letter hooks.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_reason
TESTS += tests/test_reason
endif
endif
tests_test_reason_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_reason_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Periodic sends.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_timer
TESTS += tests/test_timer
endif
endif
tests_test_timer_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_timer_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Spawn arguments copied at the spawn.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_spawn
TESTS += tests/test_spawn
endif
endif
tests_test_spawn_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_spawn_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Supervisors.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_supervisor
TESTS += tests/test_supervisor
endif
endif
tests_test_supervisor_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_supervisor_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# Spin models of the lock-free protocols (tests/spin/): each verifies, and
# each with its fix taken out (-DBUG_...) fails. Run by the plain test
# driver, which reads exit 77 (no spin) as skipped.
TEST_EXTENSIONS = .test
TEST_LOG_COMPILER = $(SHELL)
TEST_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver
spin_models = tests/spin/mailbox.pml tests/spin/ready.pml tests/spin/park.pml \
	tests/spin/ask.pml tests/spin/tcp.pml tests/spin/forget.pml tests/spin/direct.pml \
	tests/spin/driver.pml tests/spin/driver_tick.pml tests/spin/handover.pml
TESTS += tests/spin/models.test
EXTRA_DIST += tests/spin/models.test $(spin_models)

# msgpack payloads (include/actor/msgpack.h), through the shared library
# like a program that uses them.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_msgpack
TESTS += tests/test_msgpack
endif
endif
tests_test_msgpack_CFLAGS = $(CRITERION_TEST_CFLAGS) $(MSGPACK_CFLAGS)
tests_test_msgpack_LDADD = libactor.la $(CRITERION_LIBS) $(MSGPACK_LIBS)

# Frames written by other threads than the I/O thread (issue 16); a plain
# program, so it runs under ThreadSanitizer too.
check_PROGRAMS += tests/stress_direct
TESTS += tests/stress_direct
tests_stress_direct_LDADD = $(TEST_LIBS)

# Idle workers reading inbound mail (issue 16); plain, for TSan too.
check_PROGRAMS += tests/stress_drive
TESTS += tests/stress_drive
tests_stress_drive_LDADD = $(TEST_LIBS)
