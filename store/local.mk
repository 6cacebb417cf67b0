# store/: persistent state stores (<actor/store.h>): the handle over a
# vtable, the executor that runs store calls on its own threads, and the
# LMDB and PostgreSQL stores (each built when configure finds its library;
# otherwise its open call fails with -ENOTSUP). store/ includes util/ and
# <actor/...> only; cluster/ may include store/.
libactor_core_la_SOURCES += \
	store/store.c \
	store/exec.c \
	store/lmdb.c \
	store/pg.c
libactor_core_la_CFLAGS += $(LMDB_CFLAGS) $(PQ_CFLAGS)
libactor_core_la_LIBADD += $(LMDB_LIBS) $(PQ_LIBS)
actorinclude_HEADERS += include/actor/store.h

# The same contract tests (tests/store_contract.c) run against each store:
# plain TAP programs, so that they run under TSan too. The PostgreSQL one
# starts a server of its own (tests/pg_server.c).
store_tests = tests/test_store_lmdb tests/test_store_pg tests/test_store_exec \
	tests/test_store_actor tests/test_virtual_store tests/test_bank \
	tests/test_virtual_once tests/stress_lmdb_kill
check_PROGRAMS += $(store_tests)
TESTS += $(store_tests)
tests_test_store_lmdb_SOURCES = tests/test_store_lmdb.c tests/store_contract.h
# Its full-map retry test leaves a reader dead inside LMDB itself.
tests_test_store_lmdb_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_test_store_lmdb_LDADD = $(TEST_LIBS) $(LMDB_LIBS)
tests_test_store_pg_SOURCES = tests/test_store_pg.c tests/store_contract.h \
	tests/pg_server.c tests/pg_server.h
tests_test_store_pg_LDADD = $(TEST_LIBS)
tests_test_store_exec_LDADD = $(TEST_LIBS)
# Processes sharing one environment killed over and over: survivors commit.
tests_stress_lmdb_kill_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_stress_lmdb_kill_LDADD = $(TEST_LIBS) $(LMDB_LIBS)
tests_test_store_actor_LDADD = $(TEST_LIBS)
tests_test_virtual_store_LDADD = $(TEST_LIBS)
# Both kill one of 3 node processes (tests/node_proc.c: the process's body).
tests_test_virtual_once_SOURCES = tests/test_virtual_once.c tests/node_proc.c \
	tests/node_proc.h
tests_test_virtual_once_LDADD = $(TEST_LIBS)
# The bank (examples/bank_account.h) on 3 nodes, LMDB and PostgreSQL.
tests_test_bank_SOURCES = tests/test_bank.c tests/pg_server.c tests/pg_server.h \
	tests/node_proc.c tests/node_proc.h \
	examples/bank_account.c examples/bank_client.c examples/bank_account.h
tests_test_bank_LDADD = $(TEST_LIBS)
