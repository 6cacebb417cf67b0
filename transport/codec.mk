# transport/: the msgpack frame codec, its tests and fuzz target.
libactor_core_la_SOURCES += transport/frame.h transport/frame.c

if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_frame
TESTS += tests/test_frame
endif
endif
tests_test_frame_CFLAGS = $(CRITERION_TEST_CFLAGS) $(MSGPACK_CFLAGS)
tests_test_frame_LDADD = $(TEST_LIBS) $(CRITERION_LIBS) $(MSGPACK_LIBS)
