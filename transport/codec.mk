# transport/: the msgpack frame codec, its tests and fuzz target.
libactor_core_la_SOURCES += transport/frame.h
