# sched/: the runtime (actor system, workers, actors).
libactor_core_la_SOURCES += \
	sched/internal.h sched/futex.h \
	sched/system.c \
	sched/table.c \
	sched/worker.c \
	sched/actor.c \
	sched/send.c \
	sched/msg.c \
	sched/timer.c \
	sched/registry.c \
	sched/request.c \
	sched/promise.c \
	sched/link.c \
	sched/reason.c
# The calls cluster/ may make into sched/ (seam.h).
libactor_core_la_SOURCES += sched/seam.h sched/seam.c
