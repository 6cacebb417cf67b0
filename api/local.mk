# api/: library code written on the public API alone (<actor/...>, plus
# util/): it could be a program's own. The supervisor and the version calls.
libactor_core_la_SOURCES += \
	api/supervisor.c \
	api/version.c
