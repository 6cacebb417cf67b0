actorinclude_HEADERS += \
	include/actor/actor.h \
	include/actor/common.h \
	include/actor/msgpack.h \
	include/actor/node.h \
	include/actor/system.h \
	include/actor/types.h \
	include/actor/version.h \
	include/actor/virtual.h
