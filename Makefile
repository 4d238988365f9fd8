# ringroom build. Variants:
#   make                 optimised build:     build/ringroom, build/ringload, build/tests/*
#   make VARIANT=asan    ASan + UBSan build:  build/asan/ringroom, build/asan/ringload, build/asan/tests/*
#   make fuzz            libFuzzer targets (clang): build/fuzz/*
# Sources are discovered: every src/**/*.c except src/main.c is linked into the server and
# into every unit test; every tests/unit/test_*.c is one cmocka test binary (with the
# helpers of tests/unit/vectors.c).

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
LIBS := -luring -lhttp_parser -lcrypto -lhiredis -lmongoc-1.0 -lbson-1.0 -lpthread -lm
MONGO_CFLAGS := $(shell pkg-config --cflags libmongoc-1.0 2>/dev/null)

SRC := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
OBJ := $(SRC:%.c=$(OUT)/obj/%.o)
LOADGEN_SRC := $(shell find loadgen -name '*.c' 2>/dev/null | sort)
LOADGEN_OBJ := $(LOADGEN_SRC:%.c=$(OUT)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
UNIT_LIB_OBJ := $(OUT)/obj/tests/unit/vectors.o          # shared by the unit tests
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(OUT)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

GIT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

.PHONY: all units fuzz clean
all: $(OUT)/ringroom $(if $(LOADGEN_SRC),$(OUT)/ringload) units $(HELPER_BIN)
units: $(UNIT_BIN)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MONGO_CFLAGS) -c $< -o $@

# The version is compiled into main.o only (a new commit does not rebuild everything), and
# main.o is rebuilt whenever `git describe` changes.
VERSION_STAMP := $(OUT)/version.stamp
$(shell mkdir -p $(OUT) && echo '$(GIT_VERSION)' | cmp -s - $(VERSION_STAMP) || echo '$(GIT_VERSION)' > $(VERSION_STAMP))
$(OUT)/obj/src/main.o: src/main.c $(VERSION_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MONGO_CFLAGS) -DRINGROOM_VERSION='"$(GIT_VERSION)"' -c $< -o $@

$(OUT)/ringroom: $(OUT)/obj/src/main.o $(OBJ)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)

$(OUT)/ringload: $(LOADGEN_OBJ) $(OBJ)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)

$(OUT)/tests/%: $(OUT)/obj/tests/unit/%.o $(UNIT_LIB_OBJ) $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS) -lcmocka -ljansson

$(OUT)/tests/%: $(OUT)/obj/tests/helpers/%.o $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)

# libFuzzer targets: clang only, ASan + UBSan, linked against the sources they exercise.
FUZZ_FLAGS := $(filter-out -MMD -MP,$(CFLAGS_BASE)) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/%: tests/fuzz/%.c $(SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(MONGO_CFLAGS) $(filter %.c,$^) -o $@ $(LIBS)
fuzz: $(FUZZ_BIN)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
