driver_LTLIBRARIES += drivers/lmdb.la
drivers_lmdb_la_SOURCES = drivers/lmdb/lmdb_driver.c
drivers_lmdb_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LMDB_CFLAGS)
drivers_lmdb_la_LIBADD = $(LMDB_LIBS)
drivers_lmdb_la_LDFLAGS = -module -avoid-version -shared -no-undefined
