# latte: one binary (build/latte), unit tests (build/test_*), a fuzz target.
#   make            release build into build/
#   make SAN=1      AddressSanitizer + UBSan build into build-san/
#   make test       build and run the whole suite (tests/run_tests.py)
#   make fuzz       libFuzzer target for the GGUF reader (clang) into build-fuzz/
#   make setup      install dependencies, build, install the default model (scripts/setup.sh)
#   make install    build/latte and latte.h into $(PREFIX) (default /usr/local)
CC      ?= cc
SAN     ?= 0
BUILD   := $(if $(filter 1,$(SAN)),build-san,build)
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -g -Iinclude -Isrc
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif
LDLIBS  := -lpcre2-8 -lutf8proc -ljansson -ledit -lm -lpthread
PREFIX  ?= /usr/local
GIT_REV := $(shell git describe --always --dirty 2>/dev/null || echo unknown)


# per-ISA kernels get their own -m flags and are chosen at run time by CPUID
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

LIB_SRC  := $(filter-out src/cli/%,$(shell find src -name '*.c' | sort))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/%)

all: $(BUILD)/latte $(TESTS)
	@echo "built $(BUILD)/latte and $(words $(TESTS)) test programs ($(if $(filter 1,$(SAN)),ASan+UBSan,release))"

$(BUILD)/liblatte.a: $(LIB_OBJ)
	@ar rcs $@ $^

$(BUILD)/latte: $(CLI_OBJ) $(BUILD)/liblatte.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_%: $(BUILD)/obj/tests/test_%.o $(BUILD)/liblatte.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/src/backend/cpu/avx2/%.o: src/backend/cpu/avx2/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/obj/src/backend/cpu/avx512/%.o: src/backend/cpu/avx512/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

# the version line names the commit: rebuilt when it changes
$(BUILD)/obj/src/cli/common.o: CFLAGS += -DLATTE_GIT='"$(GIT_REV)"'
$(BUILD)/obj/src/cli/common.o: $(BUILD)/git-rev
$(BUILD)/git-rev: FORCE
	@mkdir -p $(BUILD)
	@echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

fuzz: build-fuzz/fuzz_gguf
build-fuzz/fuzz_gguf: tests/fuzz/fuzz_gguf.c src/gguf/gguf.c src/base/err.c src/quant/quant.c
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer,address,undefined -o $@ $^ -lm

setup:
	bash scripts/setup.sh

# make install PREFIX=/opt/latte: the binary into $(PREFIX)/bin, the header into $(PREFIX)/include
install: $(BUILD)/latte
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/latte $(DESTDIR)$(PREFIX)/bin/latte
	install -m 644 include/latte.h $(DESTDIR)$(PREFIX)/include/latte.h

# the whole suite on the release build, then again on the ASan+UBSan build
test: all
	$(MAKE) SAN=1 all
	python3 tests/run_tests.py --san

clean:
	rm -rf build build-san build-fuzz

.PHONY: all test clean fuzz setup install FORCE
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
