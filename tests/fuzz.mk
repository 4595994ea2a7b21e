# Fuzz targets: tests/fuzz_<name>.c, each a libFuzzer LLVMFuzzerTestOneInput()
# (codec: the session decoder; config: the config string through
# obol_store_open; read: a planted record through obol_get, obol_get_all and
# obol_scan; json: the CLI's JSON reader). docs/FUZZING.md says how to run
# them and how the corpus is kept.
#
# `make check` replays each target's committed corpus, tests/corpus/<name>/,
# through the same entry point without the fuzzer: tests/test_fuzz_<name>
# is the target linked with a replay main(), built like every test.
FUZZ_TARGETS = codec config read json
FUZZ_REPLAY_SOURCES = tests/test_fuzz_replay.c tests/fuzz.h tests/fuzz_util.c
FUZZ_REPLAY_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests

check_PROGRAMS += tests/test_fuzz_codec tests/test_fuzz_config \
	tests/test_fuzz_read tests/test_fuzz_json
TESTS += tests/test_fuzz_codec tests/test_fuzz_config \
	tests/test_fuzz_read tests/test_fuzz_json
EXTRA_DIST += tests/corpus

tests_test_fuzz_codec_SOURCES = $(FUZZ_REPLAY_SOURCES) tests/fuzz_codec.c
tests_test_fuzz_codec_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) -DFUZZ_TARGET='"codec"'
tests_test_fuzz_codec_CFLAGS = $(TEST_CFLAGS)
tests_test_fuzz_codec_LDADD = $(TEST_LIBS)

# The memory driver is linked in and registered, never loaded.
tests_test_fuzz_config_SOURCES = $(FUZZ_REPLAY_SOURCES) tests/fuzz_config.c \
	drivers/memory/memory_driver.c
tests_test_fuzz_config_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) -DFUZZ_TARGET='"config"'
tests_test_fuzz_config_CFLAGS = $(TEST_CFLAGS) $(URIPARSER_CFLAGS)
tests_test_fuzz_config_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

tests_test_fuzz_read_SOURCES = $(FUZZ_REPLAY_SOURCES) tests/fuzz_read.c \
	drivers/memory/memory_driver.c
tests_test_fuzz_read_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) -DFUZZ_TARGET='"read"'
tests_test_fuzz_read_CFLAGS = $(TEST_CFLAGS)
tests_test_fuzz_read_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

tests_test_fuzz_json_SOURCES = $(FUZZ_REPLAY_SOURCES) tests/fuzz_json.c \
	tools/obol/json.c tools/obol/times.c
tests_test_fuzz_json_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-I$(top_srcdir)/tools/obol -DFUZZ_TARGET='"json"'
tests_test_fuzz_json_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_test_fuzz_json_LDADD = $(TEST_LIBS) $(JANSSON_LIBS)

# `make fuzz`: the targets built with clang's libFuzzer, AddressSanitizer
# and UndefinedBehaviorSanitizer, as $(FUZZ_BUILD)/fuzz_<name>. The rest of
# the build may use another compiler, so the core's sources (and the memory
# driver's, and the CLI's JSON reader) are compiled here again with clang:
# libFuzzer only sees the coverage of code it instrumented. Any clang with
# the libFuzzer runtime serves: make fuzz FUZZ_CC=clang-15.
#
# `make fuzz-run` runs each target in turn for FUZZ_SECONDS (default 60;
# FUZZ_RUN=config to run one), starting from the committed corpus and
# keeping what it finds in $(FUZZ_BUILD)/corpus/<name>/, crashes in
# $(FUZZ_BUILD)/crashes/<name>/. FUZZ_FLAGS passes more libFuzzer flags.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_RUN = $(FUZZ_TARGETS)
FUZZ_FLAGS =
FUZZ_BUILD = tests/fuzz-build
FUZZ_SANITIZERS = address,undefined
FUZZ_COMPILE = $(FUZZ_CC) -std=c11 -g -O1 -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -pthread \
	-I$(top_srcdir)/include -I$(top_srcdir)/lib -I$(top_builddir) \
	-I$(top_srcdir)/tests -I$(top_srcdir)/tools/obol \
	-DOBOL_DRIVER_DIR='"$(driverdir)"' \
	$(SODIUM_CFLAGS) $(URIPARSER_CFLAGS) $(JANSSON_CFLAGS)
FUZZ_LINK_LIBS = $(SODIUM_LIBS) $(URIPARSER_LIBS) $(PTHREAD_LIBS) $(LIBS)
FUZZ_CORE = $(FUZZ_BUILD)/libobolcore-fuzz.a
FUZZ_BINARIES = $(FUZZ_BUILD)/fuzz_codec $(FUZZ_BUILD)/fuzz_config \
	$(FUZZ_BUILD)/fuzz_read $(FUZZ_BUILD)/fuzz_json
FUZZ_COMMON = $(srcdir)/tests/fuzz_util.c $(srcdir)/tests/fuzz.h
FUZZ_MEMORY = $(srcdir)/drivers/memory/memory_driver.c

.PHONY: fuzz fuzz-run fuzz-clean
# The check comes first, and on every run (it takes a second), so that a
# missing clang or runtime is named before anything is compiled.
fuzz: fuzz-cc-check
	@$(MAKE) $(AM_MAKEFLAGS) fuzz-binaries

.PHONY: fuzz-binaries
fuzz-binaries: $(FUZZ_BINARIES)
	@:

# Says what is missing: clang itself, or its libFuzzer and sanitizer
# runtimes (a package of their own on Debian).
.PHONY: fuzz-cc-check
fuzz-cc-check:
	@$(MKDIR_P) $(FUZZ_BUILD)
	@if ! command -v '$(FUZZ_CC)' >/dev/null 2>&1; then \
	  echo "make fuzz: no '$(FUZZ_CC)': the fuzz targets need clang with" \
	    "libFuzzer (Debian: apt-get install clang libclang-rt-14-dev)," \
	    "or name another clang with FUZZ_CC=..." >&2; \
	  exit 1; \
	fi
	@printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	  '{ (void)d; (void)n; return 0; }' > $(FUZZ_BUILD)/cc-probe.c
	@if ! $(FUZZ_CC) -fsanitize=fuzzer,$(FUZZ_SANITIZERS) \
	    $(FUZZ_BUILD)/cc-probe.c -o $(FUZZ_BUILD)/cc-probe \
	    >$(FUZZ_BUILD)/cc-probe.log 2>&1; then \
	  cat $(FUZZ_BUILD)/cc-probe.log >&2; \
	  echo "make fuzz: '$(FUZZ_CC)' cannot link -fsanitize=fuzzer,$(FUZZ_SANITIZERS):" \
	    "it is not clang, or its libFuzzer and sanitizer runtimes are" \
	    "missing (Debian: apt-get install libclang-rt-14-dev for clang 14)" >&2; \
	  exit 1; \
	fi

# The core, instrumented but without libFuzzer's main().
$(FUZZ_CORE): $(lib_libobolcore_la_SOURCES) \
		include/obol/obol.h include/obol/driver.h config.h
	@$(MKDIR_P) $(FUZZ_BUILD)/core
	@rm -f $@ $(FUZZ_BUILD)/core/*.o
	$(AM_V_GEN)for src in $(lib_libobolcore_la_SOURCES); do \
	  case $$src in *.c) ;; *) continue ;; esac; \
	  obj=$(FUZZ_BUILD)/core/`basename $$src .c`.o; \
	  $(FUZZ_COMPILE) -fsanitize=fuzzer-no-link,$(FUZZ_SANITIZERS) \
	    -c $(srcdir)/$$src -o $$obj || exit 1; \
	done
	$(AM_V_at)$(AR) cr $@ $(FUZZ_BUILD)/core/*.o

FUZZ_TARGET_LINK = $(FUZZ_COMPILE) -fsanitize=fuzzer,$(FUZZ_SANITIZERS)

$(FUZZ_BUILD)/fuzz_codec: $(srcdir)/tests/fuzz_codec.c $(FUZZ_COMMON) $(FUZZ_CORE)
	$(AM_V_CCLD)$(FUZZ_TARGET_LINK) $(srcdir)/tests/fuzz_codec.c \
	  $(srcdir)/tests/fuzz_util.c $(FUZZ_CORE) $(FUZZ_LINK_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_config: $(srcdir)/tests/fuzz_config.c $(FUZZ_COMMON) \
		$(FUZZ_MEMORY) $(FUZZ_CORE)
	$(AM_V_CCLD)$(FUZZ_TARGET_LINK) $(srcdir)/tests/fuzz_config.c \
	  $(srcdir)/tests/fuzz_util.c $(FUZZ_MEMORY) $(FUZZ_CORE) \
	  $(FUZZ_LINK_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_read: $(srcdir)/tests/fuzz_read.c $(FUZZ_COMMON) \
		$(FUZZ_MEMORY) $(FUZZ_CORE)
	$(AM_V_CCLD)$(FUZZ_TARGET_LINK) $(srcdir)/tests/fuzz_read.c \
	  $(srcdir)/tests/fuzz_util.c $(FUZZ_MEMORY) $(FUZZ_CORE) \
	  $(FUZZ_LINK_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_json: $(srcdir)/tests/fuzz_json.c $(FUZZ_COMMON) \
		$(srcdir)/tools/obol/json.c $(srcdir)/tools/obol/times.c \
		$(srcdir)/tools/obol/json.h $(srcdir)/tools/obol/cli.h $(FUZZ_CORE)
	$(AM_V_CCLD)$(FUZZ_TARGET_LINK) $(srcdir)/tests/fuzz_json.c \
	  $(srcdir)/tests/fuzz_util.c $(srcdir)/tools/obol/json.c \
	  $(srcdir)/tools/obol/times.c $(FUZZ_CORE) $(JANSSON_LIBS) \
	  $(FUZZ_LINK_LIBS) -o $@

# One target at a time, so that each gets the whole of a core.
fuzz-run: fuzz
	@for name in $(FUZZ_RUN); do \
	  $(MKDIR_P) $(FUZZ_BUILD)/corpus/$$name $(FUZZ_BUILD)/crashes/$$name \
	    || exit 1; \
	  echo "fuzz-run: $$name for $(FUZZ_SECONDS) s; new inputs in" \
	    "$(FUZZ_BUILD)/corpus/$$name, crashes in $(FUZZ_BUILD)/crashes/$$name"; \
	  $(FUZZ_BUILD)/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$name/ $(FUZZ_FLAGS) \
	    $(FUZZ_BUILD)/corpus/$$name $(srcdir)/tests/corpus/$$name || exit 1; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

clean-local: fuzz-clean
