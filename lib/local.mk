# libobol: everything is built once into a convenience library, so that the
# tests can reach internal functions that the shared library hides.
noinst_LTLIBRARIES += lib/libobolcore.la
lib_libobolcore_la_SOURCES = \
	lib/errors.c lib/errors_internal.h \
	lib/parse.c lib/parse_internal.h \
	lib/session.c lib/session_internal.h \
	lib/codec.c lib/codec_internal.h \
	lib/keys.c lib/keys_internal.h \
	lib/seal.c lib/seal_internal.h \
	lib/config.c lib/config_internal.h \
	lib/config_keys.c \
	lib/loader.c lib/loader_internal.h lib/loader_trust.c \
	lib/record.c lib/record_internal.h \
	lib/bulk.c \
	lib/rekey.c \
	lib/logout.c \
	lib/events.c \
	lib/token.c lib/token_internal.h \
	lib/refresh.c \
	lib/prefixes.c \
	lib/stats.c lib/stats_internal.h \
	lib/queue.c lib/queue_internal.h lib/queue_ops.c \
	lib/workers.c lib/workers_internal.h \
	lib/store.c lib/store_internal.h
lib_libobolcore_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DOBOL_DRIVER_DIR='"$(driverdir)"'
lib_libobolcore_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(SODIUM_CFLAGS) $(URIPARSER_CFLAGS) $(PTHREAD_CFLAGS)
lib_libobolcore_la_LIBADD = $(SODIUM_LIBS) $(URIPARSER_LIBS)

lib_LTLIBRARIES += lib/libobol.la
lib_libobol_la_SOURCES =
lib_libobol_la_LIBADD = lib/libobolcore.la
lib_libobol_la_LDFLAGS = -version-info $(OBOL_LT_VERSION) -no-undefined
