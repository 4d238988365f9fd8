# ringroom build.
#
#   make                 the programs, optimised: build/ringroom, build/ringload
#   make units           the test programs: cmocka unit tests and helpers in build/tests/
#                        (needs the test packages: ./build.sh deps --test)
#   make check           units, then run the unit tests
#   make VARIANT=asan    the same targets with ASan + UBSan, in build/asan/
#   make fuzz            libFuzzer targets (clang): build/fuzz/*
#   make layers          the objects of src/, then tests/build/layers.py: src/LAYERS holds
#                        (no upward, peer or cyclic include or call, no file over 800 lines,
#                        every header opens with its contract); exits 1 on a violation
#
# The default target needs only the server's packages (build.sh's BUILD_PACKAGES): a fresh
# machine builds and runs the programs without cmocka, jansson, clang or node
# (tests/build/fresh_build.py proves it).
#
# What links what:
#   libringbase.a   the code shared by the server, ringload, the tests and the fuzzers:
#                   log, utf8, json, ws, http, ot, doc, outq, config, wire, shard, stats. Needs only
#                   http-parser, OpenSSL's libcrypto and libm.
#   libringserver.a the rest of src/ except main.c (rooms, connections, cores, the stores).
#   ringroom        main.o + both archives + liburing, libmongoc, libbson, pthreads.
#   libringload.a   loadgen/*.o except rl_main.o, for the unit tests (test_ringload).
#   ringload        loadgen/*.o + libringbase.a + liburing: no server code, no libmongoc.
#   libunit.a       what unit tests share: tests/unit/vectors.o (ot.js's vectors) and rig.o
#                   (a real core, transport, application and store, for test_room, test_proto).
#   unit tests      test_X.o + libunit.a + libringload.a + both archives: the linker takes from
#                   an archive only the objects a test calls, and --as-needed drops the libraries
#                   it does not (test_ringload: rl_hist, rl_track, rl_slo, rl_report and what
#                   rl_report calls, rl_opts and rl_stats; json.o and config.o from the base).
#   helpers         tests/helpers/X.c + libringbase.a: programs the integration tests run.
#   fuzz targets    their source + the base sources (clang, -fsanitize=fuzzer).

VARIANT ?= release
CC ?= cc
ifeq ($(VARIANT),asan)
  OUT := build/asan
  VFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  OUT := build
  VFLAGS := -O2 -g
endif

CFLAGS_BASE := -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers \
               -D_GNU_SOURCE -Isrc -Iloadgen -MMD -MP
CFLAGS_ALL := $(CFLAGS_BASE) $(VFLAGS) $(CFLAGS)
MONGO_CFLAGS := $(shell pkg-config --cflags libmongoc-1.0 2>/dev/null)

BASE_LIBS := -lhttp_parser -lcrypto -lm
SERVER_LIBS := -luring -lmongoc-1.0 -lbson-1.0 -lhiredis -lpthread $(BASE_LIBS)
LOADGEN_LIBS := -luring $(BASE_LIBS)
TEST_LIBS := -Wl,--as-needed $(SERVER_LIBS) -lcmocka -ljansson

BASE_SRC := $(addprefix src/,log.c utf8.c json.c ws.c http.c ot.c doc.c outq.c config.c wire.c shard.c stats.c)
SERVER_SRC := $(filter-out src/main.c $(BASE_SRC),$(shell find src -name '*.c' | sort))
BASE_LIB := $(OUT)/libringbase.a
SERVER_LIB := $(OUT)/libringserver.a
LOADGEN_SRC := $(shell find loadgen -name '*.c' 2>/dev/null | sort)
LOADGEN_OBJ := $(LOADGEN_SRC:%.c=$(OUT)/obj/%.o)
LOADGEN_LIB := $(OUT)/libringload.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
UNIT_LIB := $(OUT)/libunit.a          # shared by the unit tests: vectors.o, rig.o
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(OUT)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

GIT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

.PHONY: all programs units check fuzz layers clean
all: programs
programs: $(OUT)/ringroom $(if $(LOADGEN_SRC),$(OUT)/ringload)
units: $(UNIT_BIN) $(HELPER_BIN)
check: units
	@rc=0; for t in $(UNIT_BIN); do echo "--- $$t"; $$t || rc=1; done; exit $$rc

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MONGO_CFLAGS) -c $< -o $@

$(BASE_LIB): $(BASE_SRC:%.c=$(OUT)/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(SERVER_LIB): $(SERVER_SRC:%.c=$(OUT)/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(LOADGEN_LIB): $(filter-out $(OUT)/obj/loadgen/rl_main.o,$(LOADGEN_OBJ))
	@rm -f $@
	$(AR) rcs $@ $^

# The version is compiled into main.o only (a new commit does not rebuild everything), and
# main.o is rebuilt whenever `git describe` changes.
VERSION_STAMP := $(OUT)/version.stamp
$(shell mkdir -p $(OUT) && echo '$(GIT_VERSION)' | cmp -s - $(VERSION_STAMP) || echo '$(GIT_VERSION)' > $(VERSION_STAMP))
$(OUT)/obj/src/main.o: src/main.c $(VERSION_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MONGO_CFLAGS) -DRINGROOM_VERSION='"$(GIT_VERSION)"' -c $< -o $@

$(OUT)/ringroom: $(OUT)/obj/src/main.o $(SERVER_LIB) $(BASE_LIB)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(SERVER_LIBS)

$(OUT)/ringload: $(LOADGEN_OBJ) $(BASE_LIB)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LOADGEN_LIBS)

$(UNIT_LIB): $(OUT)/obj/tests/unit/vectors.o $(OUT)/obj/tests/unit/rig.o
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/tests/%: $(OUT)/obj/tests/unit/%.o $(UNIT_LIB) $(LOADGEN_LIB) $(SERVER_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(TEST_LIBS)

$(OUT)/tests/%: $(OUT)/obj/tests/helpers/%.o $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(BASE_LIBS)

# libFuzzer targets: clang only, ASan + UBSan, every parser the fuzzers reach is in the base.
FUZZ_FLAGS := $(filter-out -MMD -MP,$(CFLAGS_BASE)) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/%: tests/fuzz/%.c $(BASE_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(filter %.c,$^) -o $@ $(BASE_LIBS)
fuzz: $(FUZZ_BIN)

# The one-way layers of src/ (issue 12): includes from the sources, calls and data references
# from the objects (nm), so it needs every object of src/ built, main.o included.
layers: $(SERVER_SRC:%.c=$(OUT)/obj/%.o) $(BASE_SRC:%.c=$(OUT)/obj/%.o) $(OUT)/obj/src/main.o
	/usr/bin/python3 tests/build/layers.py --obj $(OUT)/obj/src

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
