# The obol tool end to end on a private Redis Cluster:
# tests/test_cli_redis_cluster.sh, which installs the tool into a DESTDIR
# as tests/test_cli_redis.sh does (tests/cli_lib.sh). cluster_up keeps a
# cluster (tests/redis_cluster.h) up for as long as its standard input is
# open, so that a shell script can have one and cannot leave it running.
check_PROGRAMS += tests/cluster_up
tests_cluster_up_SOURCES = tests/cluster_up.c $(REDIS_CLUSTER_SOURCES)
tests_cluster_up_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
tests_cluster_up_LDADD = $(HIREDIS_LIBS)
TESTS += tests/test_cli_redis_cluster.sh
EXTRA_DIST += tests/test_cli_redis_cluster.sh
