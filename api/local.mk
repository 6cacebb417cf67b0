# api/: library code written on the public API alone (<actor/...>, plus
# util/): it could be a program's own. The supervisor, the version calls and
# the msgpack payload calls (<actor/msgpack.h>).
libactor_core_la_SOURCES += \
	api/supervisor.c \
	api/version.c \
	api/msgpack.c
