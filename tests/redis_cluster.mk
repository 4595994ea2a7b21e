# A private Redis Cluster for tests and benchmarks (tests/redis_cluster.h),
# built on tests/redis_harness.h, and the program that proves it. Another
# program that needs a cluster adds $(REDIS_CLUSTER_SOURCES) to its sources.
REDIS_CLUSTER_SOURCES = tests/redis_cluster.c tests/redis_cluster.h \
	tests/redis_harness.c tests/redis_harness.h \
	drivers/redis/redis_slot.c drivers/redis/redis_slot.h

check_PROGRAMS += tests/test_redis_cluster
TESTS += tests/test_redis_cluster
tests_test_redis_cluster_SOURCES = tests/test_redis_cluster.c \
	$(REDIS_CLUSTER_SOURCES)
tests_test_redis_cluster_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_cluster_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
