# util/: small helpers written once (lists, hash tables, growable arrays,
# time); the lowest layer beside mailbox/, with no threads of their own.
libactor_core_la_SOURCES += \
	util/list.h \
	util/array.h util/array.c \
	util/htab.h util/htab.c \
	util/time.h util/time.c \
	util/spin.h \
	util/siphash.h util/siphash.c

if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_util
TESTS += tests/test_util
endif
endif
tests_test_util_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_util_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
