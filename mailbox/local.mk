# mailbox/: lock-free building blocks; no actors, no threads of their own.
libactor_core_la_SOURCES += \
	mailbox/arch.h \
	mailbox/envelope.c mailbox/envelope.h \
	mailbox/mpsc.c mailbox/mpsc.h \
	mailbox/deque.c mailbox/deque.h
