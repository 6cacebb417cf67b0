# examples/: small programs that show the API; built by make, not installed.
noinst_PROGRAMS += examples/ring examples/mailbox-demo
# The ring uses only the public API and links the shared library, as users do.
examples_ring_LDADD = libactor.la
# The mailbox demo shows the lock-free building blocks underneath.
examples_mailbox_demo_LDADD = libactor-core.la
# Two nodes exchange msgpack-encoded transfers (include/actor/msgpack.h).
noinst_PROGRAMS += examples/transfer
examples_transfer_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
examples_transfer_LDADD = libactor.la $(MSGPACK_LIBS)
# A counter per key as a virtual actor on 3 nodes (include/actor/virtual.h).
noinst_PROGRAMS += examples/counters
examples_counters_LDADD = libactor.la
# The bank: accounts as persistent virtual actors on 3 node processes
# sharing one LMDB environment; transfers exactly once (bank_account.h).
noinst_PROGRAMS += examples/bank
examples_bank_SOURCES = examples/bank.c examples/bank_account.c examples/bank_client.c \
	examples/bank_account.h
examples_bank_LDADD = libactor.la
