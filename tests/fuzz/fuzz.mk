# libFuzzer targets (clang, ASan + UBSan + coverage), built apart from the
# gcc libraries: the engine, the test support and the engine harness are
# compiled again under build/fuzz with the same flags as the target.
# tests/fuzz/run-fuzz runs them for a bounded time.
FUZZ_CC      := $(CLANG)
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(CSTD) -g -O1 $(FUZZ_SAN) $(INC) -Itests/support -Itests/engine
# Our own sources build with -Werror; the others keep clang's warnings
# visible without failing on a compiler their authors do not build with.
FUZZ_WARN    := -Wall -Wextra

FUZZ_LIB_SRCS := $(ENGINE_SRCS) $(wildcard tests/support/*.c) \
                 tests/engine/harness.c tests/engine/guestpt.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_LIB_HDRS := $(ENGINE_HDRS) $(wildcard tests/support/*.h tests/engine/*.h)
# Comparison tracing (trace-cmp, part of -fsanitize=fuzzer) only in the
# targets, where the input is decoded.  In the engine and the checkers it
# guides nothing useful (their comparisons are of derived values, and the
# audit's are invariants that hold) and costs two thirds of the run time:
# the audit runs after every event.  Edge coverage stays everywhere.
FUZZ_LIB_COV := -fno-sanitize-coverage=trace-cmp
FUZZ_TARGETS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

.SECONDARY: $(FUZZ_LIB_OBJS) \
	$(FUZZ_TARGETS:$(BUILD)/fuzz/%=$(BUILD)/fuzz/obj/tests/fuzz/%.o)
.PHONY: fuzz
fuzz: $(FUZZ_TARGETS)
all: fuzz

$(BUILD)/fuzz/obj/%.o: %.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIB_COV) $(FUZZ_WARN) -c $< -o $@

$(BUILD)/fuzz/obj/tests/fuzz/%.o: tests/fuzz/%.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -Werror -c $< -o $@

# The targets may replace the harness's host-memory allocation (see
# fuzz_shadow.c, "host memory").
FUZZ_LDFLAGS := -Wl,--wrap=testmem_init -Wl,--wrap=testmem_free

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ $(FUZZ_LDFLAGS) -o $@
