# bench/: benchmark programs; each prints `result key=value ...` lines.
noinst_PROGRAMS += bench/mailbox bench/pingpong
bench_mailbox_LDADD = libactor-core.la $(CK_LIBS)

noinst_LTLIBRARIES += bench/libbench.la
bench_libbench_la_SOURCES = bench/common.c bench/common.h
BENCH_LIBS = bench/libbench.la libactor-core.la

bench_pingpong_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/big
bench_big_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/sort
bench_sort_LDADD = $(BENCH_LIBS)
noinst_PROGRAMS += bench/idle
bench_idle_LDADD = $(BENCH_LIBS)
