# The driver conformance suite as an installed program, for authors of
# drivers outside this tree (see docs/DRIVERS.md).
bin_PROGRAMS += tools/obol-driver-check
tools_obol_driver_check_SOURCES = tools/obol-driver-check.c $(STORE_SUITE_SOURCES)
tools_obol_driver_check_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tools_obol_driver_check_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS)
tools_obol_driver_check_LDADD = lib/libobolcore.la $(CMOCKA_LIBS) $(SODIUM_LIBS) \
	$(URIPARSER_LIBS) $(PTHREAD_LIBS)
dist_man_MANS += tools/obol-driver-check.1
