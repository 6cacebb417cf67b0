# cluster/: nodes, the handshake, remote references and failure detection.
libactor_core_la_SOURCES += \
	cluster/internal.h \
	cluster/node.c \
	cluster/handshake.c \
	cluster/route.c \
	cluster/track.c
