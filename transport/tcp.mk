# transport/: TCP on io_uring and on epoll, and the transport factory.
libactor_core_la_SOURCES += \
	transport/tcp.h transport/tcp.c \
	transport/tls.h transport/tls.c \
	transport/tcp_epoll.c \
	transport/tcp_uring.c \
	transport/transport.c

# The wake-up and traffic scenarios as a plain TAP program, for TSan.
check_PROGRAMS += tests/stress_transport
TESTS += tests/stress_transport
tests_stress_transport_LDADD = $(TEST_LIBS)

if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_transport
TESTS += tests/test_transport
endif
endif
tests_test_transport_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_transport_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)

# TLS between nodes (certificates made at test time with openssl), and
# the same traffic as a plain TAP program, for TSan.
check_PROGRAMS += tests/stress_tls
TESTS += tests/stress_tls
tests_stress_tls_SOURCES = tests/stress_tls.c tests/tls_certs.h
tests_stress_tls_LDADD = $(TEST_LIBS)
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_tls
TESTS += tests/test_tls
endif
endif
tests_test_tls_SOURCES = tests/test_tls.c tests/tls_certs.h
tests_test_tls_CFLAGS = $(CRITERION_TEST_CFLAGS) $(CRYPTO_CFLAGS)
tests_test_tls_LDADD = $(TEST_LIBS) $(CRITERION_LIBS) $(CRYPTO_LIBS)

# Accepting out of file descriptors and restarting on the same port.
if HAVE_CRITERION
if !TSAN
check_PROGRAMS += tests/test_accept
TESTS += tests/test_accept
endif
endif
tests_test_accept_CFLAGS = $(CRITERION_TEST_CFLAGS)
tests_test_accept_LDADD = $(TEST_LIBS) $(CRITERION_LIBS)
