# One redis-server with appendfsync always under a 4-thread load
# (tests/store_load.h) through a stall, a kill and a restart: every call
# within its documented time, nothing acknowledged lost.
check_PROGRAMS += tests/test_redis_faults
TESTS += tests/test_redis_faults
tests_test_redis_faults_SOURCES = tests/test_redis_faults.c \
	tests/store_load.c tests/store_load.h \
	tests/store_checks.c tests/store_checks.h \
	tests/redis_harness.c tests/redis_harness.h
tests_test_redis_faults_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_faults_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_redis_faults_DEPENDENCIES = drivers/redis.la
