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
