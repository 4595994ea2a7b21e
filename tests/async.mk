# The non-blocking API (obol_queue_*, obol_*_async), on real libuv loops
# (include/obol/uv.h): built and run when configure found libuv.
if HAVE_LIBUV

# The store suite through the queues: its own sources, compiled once into
# a convenience library, linked again with --wrap for every synchronous
# call that has an async twin (tests/async_wrap.c). Each case's call then
# goes through a queue and a libuv loop and must return exactly what the
# synchronous call returns. ASYNC_WRAP_MODE picks the queue's mode: AUTO
# is inline on memory and LMDB and native on Redis; WORKERS is the worker
# pool, which AUTO never reaches on this tree's drivers.
check_LTLIBRARIES += tests/libstore_suite_async.la
tests_libstore_suite_async_la_SOURCES = $(STORE_SUITE_SOURCES)
tests_libstore_suite_async_la_CFLAGS = $(TEST_CFLAGS)

ASYNC_WRAP_LINK = -Wl,--wrap=obol_get -Wl,--wrap=obol_upsert \
	-Wl,--wrap=obol_delete -Wl,--wrap=obol_delete_counted \
	-Wl,--wrap=obol_get_all -Wl,--wrap=obol_delete_all \
	-Wl,--wrap=obol_delete_all_counted -Wl,--wrap=obol_refresh \
	-Wl,--wrap=obol_store_close -Wl,--wrap=store_suite_run
ASYNC_SUITE_FLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS)
ASYNC_WORKERS_FLAGS = $(ASYNC_SUITE_FLAGS) \
	-DASYNC_WRAP_MODE=OBOL_QUEUE_WORKERS
ASYNC_SUITE_LINKED = tests/libstore_suite_async.la $(TEST_LIBS) $(LIBUV_LIBS) \
	$(PTHREAD_LIBS)

check_PROGRAMS += tests/test_store_memory_async
TESTS += tests/test_store_memory_async
tests_test_store_memory_async_SOURCES = tests/test_store_memory.c \
	tests/async_wrap.c
tests_test_store_memory_async_CFLAGS = $(ASYNC_SUITE_FLAGS)
tests_test_store_memory_async_LDADD = $(ASYNC_SUITE_LINKED)
tests_test_store_memory_async_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_memory_async_DEPENDENCIES = drivers/memory.la

check_PROGRAMS += tests/test_store_memory_workers
TESTS += tests/test_store_memory_workers
tests_test_store_memory_workers_SOURCES = tests/test_store_memory.c \
	tests/async_wrap.c
tests_test_store_memory_workers_CFLAGS = $(ASYNC_WORKERS_FLAGS)
tests_test_store_memory_workers_LDADD = $(ASYNC_SUITE_LINKED)
tests_test_store_memory_workers_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_memory_workers_DEPENDENCIES = drivers/memory.la

check_PROGRAMS += tests/test_store_lmdb_async
TESTS += tests/test_store_lmdb_async
tests_test_store_lmdb_async_SOURCES = tests/test_store_lmdb.c \
	tests/async_wrap.c
tests_test_store_lmdb_async_CFLAGS = $(ASYNC_SUITE_FLAGS)
tests_test_store_lmdb_async_LDADD = $(ASYNC_SUITE_LINKED)
tests_test_store_lmdb_async_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_lmdb_async_DEPENDENCIES = drivers/lmdb.la

check_PROGRAMS += tests/test_store_lmdb_workers
TESTS += tests/test_store_lmdb_workers
tests_test_store_lmdb_workers_SOURCES = tests/test_store_lmdb.c \
	tests/async_wrap.c
tests_test_store_lmdb_workers_CFLAGS = $(ASYNC_WORKERS_FLAGS)
tests_test_store_lmdb_workers_LDADD = $(ASYNC_SUITE_LINKED)
tests_test_store_lmdb_workers_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_lmdb_workers_DEPENDENCIES = drivers/lmdb.la

check_PROGRAMS += tests/test_store_redis_async
TESTS += tests/test_store_redis_async
tests_test_store_redis_async_SOURCES = tests/test_store_redis.c \
	tests/redis_harness.c tests/redis_harness.h tests/async_wrap.c
tests_test_store_redis_async_CFLAGS = $(ASYNC_SUITE_FLAGS) $(HIREDIS_CFLAGS)
tests_test_store_redis_async_LDADD = $(ASYNC_SUITE_LINKED) $(HIREDIS_LIBS)
tests_test_store_redis_async_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_redis_async_DEPENDENCIES = drivers/redis.la

check_PROGRAMS += tests/test_store_redis_workers
TESTS += tests/test_store_redis_workers
tests_test_store_redis_workers_SOURCES = tests/test_store_redis.c \
	tests/redis_harness.c tests/redis_harness.h tests/async_wrap.c
tests_test_store_redis_workers_CFLAGS = $(ASYNC_WORKERS_FLAGS) \
	$(HIREDIS_CFLAGS)
tests_test_store_redis_workers_LDADD = $(ASYNC_SUITE_LINKED) $(HIREDIS_LIBS)
tests_test_store_redis_workers_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_redis_workers_DEPENDENCIES = drivers/redis.la

check_PROGRAMS += tests/test_store_redis_cluster_async
TESTS += tests/test_store_redis_cluster_async
tests_test_store_redis_cluster_async_SOURCES = \
	tests/test_store_redis_cluster.c $(REDIS_CLUSTER_SOURCES) \
	tests/async_wrap.c
tests_test_store_redis_cluster_async_CFLAGS = $(ASYNC_SUITE_FLAGS) \
	$(HIREDIS_CFLAGS)
tests_test_store_redis_cluster_async_LDADD = $(ASYNC_SUITE_LINKED) \
	$(HIREDIS_LIBS)
tests_test_store_redis_cluster_async_LDFLAGS = $(ASYNC_WRAP_LINK)
EXTRA_tests_test_store_redis_cluster_async_DEPENDENCIES = drivers/redis.la

# The API's own tests, each on a redis-server of its own (tests/
# redis_harness.h) and LMDB in a fresh directory, on libuv loops.
ASYNC_TEST_SOURCES = tests/async_loop.c tests/async_loop.h \
	tests/redis_harness.c tests/redis_harness.h \
	tests/tmpdir.c tests/tmpdir.h
ASYNC_TEST_FLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS) $(LIBUV_CFLAGS)
ASYNC_TEST_LINKED = $(TEST_LIBS) $(HIREDIS_LIBS) $(LIBUV_LIBS) $(PTHREAD_LIBS)
ASYNC_TEST_DRIVERS = drivers/memory.la drivers/lmdb.la drivers/redis.la

# Refusals, the descriptor, obol_queue_wait(), sync and async at once.
check_PROGRAMS += tests/test_async_api
TESTS += tests/test_async_api
tests_test_async_api_SOURCES = tests/test_async_api.c $(ASYNC_TEST_SOURCES)
tests_test_async_api_CFLAGS = $(ASYNC_TEST_FLAGS)
tests_test_async_api_LDADD = $(ASYNC_TEST_LINKED)
EXTRA_tests_test_async_api_DEPENDENCIES = $(ASYNC_TEST_DRIVERS)

# 10,000 in flight; the loop stays free under load.
check_PROGRAMS += tests/test_async_load
TESTS += tests/test_async_load
tests_test_async_load_SOURCES = tests/test_async_load.c $(ASYNC_TEST_SOURCES)
tests_test_async_load_CFLAGS = $(ASYNC_TEST_FLAGS)
tests_test_async_load_LDADD = $(ASYNC_TEST_LINKED)
tests_test_async_load_LDFLAGS = -Wl,--wrap=obol_queue_dispatch
EXTRA_tests_test_async_load_DEPENDENCIES = $(ASYNC_TEST_DRIVERS)

# A stalled server: every operation times out at its deadline.
check_PROGRAMS += tests/test_async_stall
TESTS += tests/test_async_stall
tests_test_async_stall_SOURCES = tests/test_async_stall.c $(ASYNC_TEST_SOURCES)
tests_test_async_stall_CFLAGS = $(ASYNC_TEST_FLAGS)
tests_test_async_stall_LDADD = $(ASYNC_TEST_LINKED)
EXTRA_tests_test_async_stall_DEPENDENCIES = $(ASYNC_TEST_DRIVERS)

# Closing with operations in flight.
check_PROGRAMS += tests/test_async_close
TESTS += tests/test_async_close
tests_test_async_close_SOURCES = tests/test_async_close.c $(ASYNC_TEST_SOURCES)
tests_test_async_close_CFLAGS = $(ASYNC_TEST_FLAGS)
tests_test_async_close_LDADD = $(ASYNC_TEST_LINKED)
EXTRA_tests_test_async_close_DEPENDENCIES = $(ASYNC_TEST_DRIVERS)
endif
