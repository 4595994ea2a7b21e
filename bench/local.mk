# Benchmarks: built with the tree, run by hand (see docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/obol_bench
bench_obol_bench_SOURCES = bench/obol_bench.c tests/tmpdir.c tests/tmpdir.h
bench_obol_bench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
bench_obol_bench_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(SODIUM_CFLAGS)
bench_obol_bench_LDADD = lib/libobolcore.la $(LMDB_LIBS) $(SODIUM_LIBS) $(URIPARSER_LIBS) \
	$(PTHREAD_LIBS)

.PHONY: bench
bench: bench/obol_bench $(driver_LTLIBRARIES)
	OBOL_DRIVER_PATH='$(BUILD_DRIVER_PATH)' ./bench/obol_bench 20000 full
	OBOL_DRIVER_PATH='$(BUILD_DRIVER_PATH)' ./bench/obol_bench 200000 off

# The non-blocking API next to raw pipelined hiredis and the synchronous
# calls, on a private redis-server, and on LMDB; run by hand:
# bench/async_bench [-n OPS] [-r ROUNDS] [-d DEPTH] (docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/async_bench
bench_async_bench_SOURCES = bench/async_bench.c \
	tests/redis_harness.c tests/redis_harness.h \
	tests/tmpdir.c tests/tmpdir.h \
	drivers/redis/redis_lua.c drivers/redis/redis_lua.h
bench_async_bench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
bench_async_bench_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(SODIUM_CFLAGS)
bench_async_bench_LDADD = lib/libobolcore.la $(HIREDIS_LIBS) $(SODIUM_LIBS) \
	$(URIPARSER_LIBS) $(PTHREAD_LIBS)
EXTRA_bench_async_bench_DEPENDENCIES = drivers/redis.la drivers/lmdb.la
