# Umbra build.  `make` builds everything; `make test` runs every test;
# `make run` runs the default job.  Each area may add rules in its own
# fragment (*.mk), included below, so the areas stay independent.

CC      := gcc
CLANG   := clang
BUILD   := build
WARN    := -Wall -Wextra -Werror
CSTD    := -std=c11
INC     := -Iinclude

# Hosted builds of the engine (tests, tools, benchmarks).
HOSTED_CFLAGS := $(CSTD) $(WARN) $(INC) -O2 -g
# The same under AddressSanitizer and UndefinedBehaviorSanitizer.
SAN_FLAGS     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                 -fno-omit-frame-pointer
SAN_CFLAGS    := $(CSTD) $(WARN) $(INC) -O1 -g $(SAN_FLAGS)
# Freestanding: only the compiler's own headers (stdint, stddef, stdbool),
# no libc, no builtins that could turn into libc calls, and no SSE/x87
# registers: inside a hypervisor they still hold the guest's state while an
# exit is handled, so host code must not touch them.
GCC_INC       := $(shell $(CC) -print-file-name=include)
FREE_CFLAGS   := $(CSTD) $(WARN) -O2 -ffreestanding -fno-builtin -nostdinc \
                 -isystem $(GCC_INC) $(INC) -mno-red-zone -fno-pic \
                 -fno-stack-protector -mcmodel=kernel -mgeneral-regs-only

ENGINE_SRCS := $(wildcard engine/*.c)
ENGINE_HDRS := $(wildcard engine/*.h include/umbra/*.h)

ENGINE_LIB      := $(BUILD)/hosted/libumbra.a
ENGINE_SAN_LIB  := $(BUILD)/san/libumbra.a
ENGINE_FREE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/free/%.o)

CMOCKA_LIBS := -lcmocka

.PHONY: all test run clean deps
all: $(ENGINE_LIB) $(ENGINE_SAN_LIB) $(BUILD)/free/engine.checked

# The freestanding engine may reference only what GCC requires of every
# freestanding environment (GCC documents that it may emit calls to memcpy,
# memmove, memset and memcmp), which the hypervisor provides.
FREE_ALLOWED_UNDEF := memcpy memmove memset memcmp
$(BUILD)/free/engine.o: $(ENGINE_FREE_OBJS)
	ld -r -o $@ $^
$(BUILD)/free/engine.checked: $(BUILD)/free/engine.o
	@undef=$$(nm -u $< | awk '{print $$NF}' | sort -u | \
		grep -vxE '$(subst $(eval) ,|,$(FREE_ALLOWED_UNDEF))' || true); \
	if [ -n "$$undef" ]; then \
		echo "freestanding engine references outside symbols: $$undef" >&2; \
		exit 1; \
	fi; touch $@

$(BUILD)/hosted/engine/%.o: engine/%.c $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@
$(BUILD)/san/engine/%.o: engine/%.c $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -c $< -o $@
$(BUILD)/free/engine/%.o: engine/%.c $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(FREE_CFLAGS) -c $< -o $@

$(ENGINE_LIB): $(ENGINE_SRCS:%.c=$(BUILD)/hosted/%.o)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(ENGINE_SAN_LIB): $(ENGINE_SRCS:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Area fragments (tests, guests, tools, benchmarks) add to `all`.
include tests/support/support.mk
include $(sort $(filter-out tests/support/support.mk,$(wildcard */*.mk */*/*.mk)))

deps:
	tools/deps.sh

JOBS := $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(MAKE) -j$(JOBS) all
	tests/run

# The default guest under Umbra, its output and a summary of what Umbra did;
# COMPARE=1 also runs it natively (identical output, Umbra/native time).
run: deps
	$(MAKE) -j$(JOBS) all
	tools/demo $(if $(COMPARE),--compare)

# The walker against QEMU's MMU, then the probes under Umbra vs natively.
.PHONY: conformance
conformance: deps
	$(MAKE) -j$(JOBS) all
	tools/conformance-report
	tests/hv/walkprobe-compare

clean:
	rm -rf $(BUILD)
