# transport/: the transport interface and the in-process loopback transport.
# The codec (codec.mk) and the TCP transports (tcp.mk) list their own files.
libactor_core_la_SOURCES += \
	transport/transport.h \
	transport/loopback.c
