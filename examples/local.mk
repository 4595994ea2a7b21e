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
