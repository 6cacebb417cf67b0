actorinclude_HEADERS += \
	include/actor/actor.h \
	include/actor/common.h \
	include/actor/version.h
