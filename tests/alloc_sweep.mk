# The allocation-failure sweep (tests/test_alloc_sweep.c): every allocation
# of a whole store cycle, on the memory and LMDB drivers, made to fail in
# turn by the interposed allocator of tests/alloc_fail.c.
check_PROGRAMS += tests/test_alloc_sweep
TESTS += tests/test_alloc_sweep
tests_test_alloc_sweep_SOURCES = tests/test_alloc_sweep.c \
	tests/alloc_fail.c tests/alloc_fail.h tests/tmpdir.c tests/tmpdir.h
tests_test_alloc_sweep_CFLAGS = $(TEST_CFLAGS)
tests_test_alloc_sweep_LDADD = $(TEST_LIBS)
