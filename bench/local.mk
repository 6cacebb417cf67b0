# bench/: benchmark programs; each prints `result key=value ...` lines.
noinst_PROGRAMS += bench/mailbox
bench_mailbox_LDADD = libactor-core.la $(CK_LIBS)
