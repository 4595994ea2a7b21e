# Examples use only the public API, linked like an application would be.
noinst_PROGRAMS += examples/demo
examples_demo_SOURCES = examples/demo.c
examples_demo_CPPFLAGS = -I$(top_srcdir)/include
examples_demo_LDADD = lib/libobol.la

# `make demo`: the demo on the embedded default, LMDB in ./obol-demo-data,
# with the drivers of this build.
.PHONY: demo
demo: examples/demo $(driver_LTLIBRARIES)
	OBOL_DRIVER_PATH='$(BUILD_DRIVER_PATH)' ./examples/demo

CLEANFILES += -r obol-demo-data

# The event-loop adapters, each with its program: built when configure
# found the library (the adapters are headers; only these programs link
# libuv or libevent), run by tests/test_examples.sh.
if HAVE_LIBUV
noinst_PROGRAMS += examples/uv_sessions
examples_uv_sessions_SOURCES = examples/uv_sessions.c
examples_uv_sessions_CPPFLAGS = -I$(top_srcdir)/include
examples_uv_sessions_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
examples_uv_sessions_LDADD = lib/libobol.la $(LIBUV_LIBS)
endif
if HAVE_LIBEVENT
noinst_PROGRAMS += examples/event_sessions
examples_event_sessions_SOURCES = examples/event_sessions.c
examples_event_sessions_CPPFLAGS = -I$(top_srcdir)/include
examples_event_sessions_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_event_sessions_LDADD = lib/libobol.la $(LIBEVENT_LIBS)
endif
# Which of them this build has, for the test.
AM_TESTS_ENVIRONMENT += OBOL_HAVE_LIBUV='$(HAVE_LIBUV)'; \
	export OBOL_HAVE_LIBUV; OBOL_HAVE_LIBEVENT='$(HAVE_LIBEVENT)'; \
	export OBOL_HAVE_LIBEVENT;
