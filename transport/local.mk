# transport/: the transport interface and the in-process loopback transport.
# The TCP transports (tcp.mk) list their own files.
libactor_core_la_SOURCES += \
	transport/transport.h \
	transport/loopback.c
