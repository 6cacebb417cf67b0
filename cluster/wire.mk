# cluster/: the wire protocol's msgpack codec, its tests and fuzz target.
libactor_core_la_SOURCES += cluster/wire.h cluster/wire.c

if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_frame
TESTS += tests/test_frame
endif
endif
tests_test_frame_CFLAGS = $(CRITERION_TEST_CFLAGS) $(MSGPACK_CFLAGS)
tests_test_frame_LDADD = $(TEST_LIBS) $(CRITERION_LIBS) $(MSGPACK_LIBS)

dist_man7_MANS += man/libactor-protocol.7

# The libFuzzer targets are built by .ci/fuzz with clang, outside automake.
frame_corpus = \
	tests/fuzz/corpus/frame/auth \
	tests/fuzz/corpus/frame/hello \
	tests/fuzz/corpus/frame/hello-v1 \
	tests/fuzz/corpus/frame/msg-empty \
	tests/fuzz/corpus/frame/msg-max \
	tests/fuzz/corpus/frame/msg-small \
	tests/fuzz/corpus/frame/nested \
	tests/fuzz/corpus/frame/array32-huge \
	tests/fuzz/corpus/frame/map32-huge \
	tests/fuzz/corpus/frame/ping \
	tests/fuzz/corpus/frame/signal \
	tests/fuzz/corpus/frame/signal-min \
	tests/fuzz/corpus/frame/stream \
	tests/fuzz/corpus/frame/view \
	tests/fuzz/corpus/frame/join \
	tests/fuzz/corpus/frame/probe \
	tests/fuzz/corpus/frame/ack \
	tests/fuzz/corpus/frame/pull \
	tests/fuzz/corpus/frame/leave
EXTRA_DIST += tests/fuzz/fuzz_frame.c tests/fuzz/gen_corpus.c .ci/fuzz $(frame_corpus)

fuzz:
	FUZZ_CC='$(FUZZ_CC)' FUZZ_DIR='$(abs_top_builddir)/fuzz' $(top_srcdir)/.ci/fuzz
.PHONY: fuzz
