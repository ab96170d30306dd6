# Hosted microbenchmarks (not part of `make test`: run `make bench`).
#   walk_bench    the guest walker per paging mode, against a bare chase
#   engine_bench  the shadow engine's paths (faults, PT writes, CR3
#                 switches, INVLPG, fork), against a bare guest walk
BENCH_BINS := $(BUILD)/hosted/bench/walk_bench $(BUILD)/hosted/bench/engine_bench

$(BUILD)/hosted/bench/%: bench/%.c $(ENGINE_LIB) $(TESTSUPPORT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(TEST_INC) $< $(TESTSUPPORT_OBJS) $(ENGINE_LIB) -o $@

all: $(BENCH_BINS)

.PHONY: bench
bench: $(BENCH_BINS)
	$(BUILD)/hosted/bench/walk_bench
	$(BUILD)/hosted/bench/engine_bench
