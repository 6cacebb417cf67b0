# bench/: benchmark programs; each prints `result key=value ...` lines.
noinst_PROGRAMS += bench/mailbox bench/pingpong
bench_mailbox_LDADD = libactor-core.la $(CK_LIBS)

noinst_LTLIBRARIES += bench/libbench.la
bench_libbench_la_SOURCES = bench/common.c bench/common.h bench/dist.c bench/dist.h
BENCH_LIBS = bench/libbench.la libactor-core.la

bench_pingpong_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/big
bench_big_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/sort
bench_sort_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/idle
bench_idle_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/timers
bench_timers_LDADD = $(BENCH_LIBS)
# CAF's suite (actor_creation, mailbox_performance, mixed_case) and memory.
noinst_PROGRAMS += bench/actor_creation bench/mailbox_performance bench/mixed_case \
	bench/idle_actors
bench_actor_creation_LDADD = $(BENCH_LIBS)
bench_mailbox_performance_LDADD = $(BENCH_LIBS)
bench_mixed_case_LDADD = $(BENCH_LIBS)
bench_idle_actors_LDADD = $(BENCH_LIBS)
# Savina's counting, fork-join throughput, thread ring and chameneos.
noinst_PROGRAMS += bench/counting bench/fjthrput bench/threadring bench/chameneos
bench_counting_LDADD = $(BENCH_LIBS)
bench_fjthrput_LDADD = $(BENCH_LIBS) -lm
bench_threadring_LDADD = $(BENCH_LIBS)
bench_chameneos_LDADD = $(BENCH_LIBS)

# The peers (CAF, Erlang) and the side-by-side runner are built on demand,
# never by `make` or `make check`.
EXTRA_DIST += bench/compare bench/plot bench/RESULTS.md \
	bench/results/all-big.svg bench/results/all-pingpong.svg \
	bench/results/all-sort.svg bench/results/breadth-ratios.svg \
	bench/results/breadth-actor_creation.svg bench/results/breadth-mailbox_performance.svg \
	bench/results/breadth-mixed_case.svg bench/results/breadth-idle_actors.svg \
	bench/results/breadth-counting.svg bench/results/breadth-fjthrput.svg \
	bench/results/breadth-threadring.svg bench/results/breadth-chameneos.svg \
	bench/results/breadth-big.svg bench/results/breadth-pingpong.svg \
	bench/results/breadth-sort.svg \
	bench/peers/build bench/peers/caf/common.hpp bench/peers/caf/pingpong.cpp \
	bench/peers/caf/big.cpp bench/peers/caf/sort.cpp bench/peers/erlang/erlrun \
	bench/peers/erlang/pb_util.erl bench/peers/erlang/pb_pingpong.erl \
	bench/peers/erlang/pb_big.erl bench/peers/erlang/pb_sort.erl \
	bench/peers/caf/actor_creation.cpp bench/peers/caf/mailbox_performance.cpp \
	bench/peers/caf/mixed_case.cpp bench/peers/caf/idle_actors.cpp \
	bench/peers/erlang/pb_actor_creation.erl bench/peers/erlang/pb_mailbox_performance.erl \
	bench/peers/erlang/pb_mixed_case.erl bench/peers/erlang/pb_idle_actors.erl \
	bench/peers/caf/counting.cpp bench/peers/caf/fjthrput.cpp \
	bench/peers/caf/threadring.cpp bench/peers/caf/chameneos.cpp \
	bench/peers/erlang/pb_counting.erl bench/peers/erlang/pb_fjthrput.erl \
	bench/peers/erlang/pb_threadring.erl bench/peers/erlang/pb_chameneos.erl \
	docs/profiling.md

peers:
	$(srcdir)/bench/peers/build

# make perf BENCH=big ARGS="--actors 64 --rounds 600": profile one benchmark
# (configure with --enable-profiling for useful call graphs).
BENCH = pingpong
perf: all
	perf record -g -o perf.data bench/$(BENCH) $(ARGS)
	perf report -i perf.data --stdio | head -60

.PHONY: peers perf
# Virtual actors: memory per idle activation, activation rate, sweep cost.
noinst_PROGRAMS += bench/virtual_idle
bench_virtual_idle_LDADD = $(BENCH_LIBS)
# The state stores (<actor/store.h>): saves/s and load latency; with
# --store pg it starts a PostgreSQL server of its own (tests/pg_server.c).
noinst_PROGRAMS += bench/store
bench_store_SOURCES = bench/store.c tests/pg_server.c tests/pg_server.h
bench_store_LDADD = $(BENCH_LIBS)
# Virtual actors on a cluster of forked nodes: activation rate, failover.
noinst_PROGRAMS += bench/virtual_cluster
bench_virtual_cluster_LDADD = $(BENCH_LIBS)
# The bank (examples/bank_account.h): transfers/s on 1 or 3 nodes, LMDB
# (synced or not) or PostgreSQL (a server of its own: tests/pg_server.c),
# exactly-once or not, and activation latency with a state load.
noinst_PROGRAMS += bench/bank
bench_bank_SOURCES = bench/bank.c examples/bank_account.c examples/bank_client.c \
	examples/bank_account.h tests/pg_server.c tests/pg_server.h
bench_bank_LDADD = $(BENCH_LIBS)
# Exactly-once virtual actors against plain sends (turns/s, LMDB).
noinst_PROGRAMS += bench/once
bench_once_LDADD = $(BENCH_LIBS)
