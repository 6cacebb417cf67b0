# sched/: the runtime (actor system, workers, actors).
libactor_core_la_SOURCES += \
	sched/version.c
