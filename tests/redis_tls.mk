# TLS of the Redis driver (rediss://, rediss+cluster://), against servers
# that speak TLS with certificates made per run (tests/redis_harness.h).

# The store suite on rediss://.
check_PROGRAMS += tests/test_store_rediss
TESTS += tests/test_store_rediss
tests_test_store_rediss_SOURCES = tests/test_store_rediss.c \
	$(STORE_SUITE_SOURCES) tests/redis_harness.c tests/redis_harness.h
tests_test_store_rediss_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_rediss_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_store_rediss_DEPENDENCIES = drivers/redis.la

# The store and driver suites on rediss+cluster://.
check_PROGRAMS += tests/test_store_rediss_cluster
TESTS += tests/test_store_rediss_cluster
tests_test_store_rediss_cluster_SOURCES = tests/test_store_rediss_cluster.c \
	$(STORE_SUITE_SOURCES) $(REDIS_CLUSTER_SOURCES)
tests_test_store_rediss_cluster_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_rediss_cluster_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_store_rediss_cluster_DEPENDENCIES = drivers/redis.la

# What TLS refuses and how it fails: certificates, names, client
# certificates, the wrong protocol on either side, stalls, SIGPIPE; the
# driver's TLS layer is also linked in for the tests that need a socket
# pair rather than a server.
check_PROGRAMS += tests/test_redis_tls
TESTS += tests/test_redis_tls
tests_test_redis_tls_SOURCES = tests/test_redis_tls.c \
	tests/redis_harness.c tests/redis_harness.h \
	drivers/redis/redis_tls.c drivers/redis/redis_tls.h
tests_test_redis_tls_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS) \
	$(OPENSSL_CFLAGS)
tests_test_redis_tls_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(OPENSSL_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_redis_tls_DEPENDENCIES = drivers/redis.la
