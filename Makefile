# latte: one binary (build/latte), unit tests (build/test_*), a fuzz target.
#   make            release build into build/
#   make SAN=1      AddressSanitizer + UBSan build into build-san/
#   make CUDA=1     (BUILD_DIR=dir to build elsewhere) the same plus the CUDA ops (src/backend/cuda/*.cu, nvcc) into build-cuda/,
#                   with test_cuda_ops and the CUDA benchmarks; PCRE2, utf8proc and Jansson
#                   linked statically and cudart statically, so the binaries run on a GPU
#                   machine that lacks them (check with ldd)
#   make test       build and run the whole suite (tests/run_tests.py)
#   make fuzz       libFuzzer target for the GGUF reader (clang) into build-fuzz/
#   make setup      install dependencies, build, install the default model (scripts/setup.sh)
#   make install    build/latte and latte.h into $(PREFIX) (default /usr/local)
CC      ?= cc
SAN     ?= 0
CUDA    ?= 0
BUILD   := $(or $(BUILD_DIR),$(if $(filter 1,$(CUDA)),build-cuda,$(if $(filter 1,$(SAN)),build-san,build)))
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -g -Iinclude -Isrc
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif
LDLIBS  := -lmicrohttpd -lpcre2-8 -lutf8proc -ljansson -ledit -lm -lpthread
PREFIX  ?= /usr/local
GIT_REV := $(shell git describe --always --dirty 2>/dev/null || echo unknown)


# CUDA: sm_80, sm_86, sm_89, sm_90 machine code (CUDA_ARCHS=90 builds one, faster) plus
# sm_90 PTX; kernels needing Hopper guard themselves with __CUDA_ARCH__ >= 900
CUDA_HOME  ?= /usr/local/cuda
NVCC       ?= $(or $(shell command -v nvcc 2>/dev/null),$(CUDA_HOME)/bin/nvcc)
CUDA_ARCHS ?= 80 86 89 90
NVFLAGS    := -std=c++17 -O3 -Iinclude -Isrc -MMD -MP $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
              -gencode arch=compute_90,code=compute_90 -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter
ifeq ($(CUDA),1)
CFLAGS  += -DLATTE_CUDA -I$(CUDA_HOME)/include
LDLIBS  := -Wl,-Bstatic -lmicrohttpd -lpcre2-8 -lutf8proc -ljansson -ledit -ltinfo -lbsd -lmd -Wl,-Bdynamic -lgnutls \
           -L$(CUDA_HOME)/lib64 -lcudart_static \
           -lstdc++ -ldl -lrt -lm -lpthread
endif

# per-ISA kernels get their own -m flags and are chosen at run time by CPUID
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

LIB_SRC  := $(filter-out src/cli/%,$(shell find src -name '*.c' | sort))
ifneq ($(CUDA),1)
LIB_SRC  := $(filter-out src/backend/cuda/%,$(LIB_SRC))
endif
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
CU_SRC   := $(if $(filter 1,$(CUDA)),$(wildcard src/backend/cuda/*.cu))
ifneq ($(CUDA),1)
TEST_SRC := $(filter-out tests/test_cuda_%,$(TEST_SRC))
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/%)

BENCH_CUDA := $(if $(filter 1,$(CUDA)),$(patsubst bench/%.c,$(BUILD)/%,$(wildcard bench/bench_cuda_*.c)))

all: $(BUILD)/latte $(TESTS) $(BENCH_CUDA)
	@echo "built $(BUILD)/latte and $(words $(TESTS)) test programs ($(if $(filter 1,$(SAN)),ASan+UBSan,release)$(if $(filter 1,$(CUDA)), with CUDA for sm_$(CUDA_ARCHS)))"

$(BUILD)/liblatte.a: $(LIB_OBJ)
	@ar rcs $@ $^

$(BUILD)/latte: $(CLI_OBJ) $(BUILD)/liblatte.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_%: $(BUILD)/obj/tests/test_%.o $(BUILD)/liblatte.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench_cuda_%: $(BUILD)/obj/bench/bench_cuda_%.o $(BUILD)/liblatte.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

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
build-fuzz/fuzz_gguf: tests/fuzz/fuzz_gguf.c src/gguf/gguf.c src/base/err.c $(wildcard src/quant/*.c)
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
	rm -rf build build-san build-fuzz build-cuda

.PHONY: all test clean fuzz setup install FORCE
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
