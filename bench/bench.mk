# Hosted microbenchmarks (not part of `make test`: run `make bench`).
BENCH_BINS := $(BUILD)/hosted/bench/walk_bench

$(BUILD)/hosted/bench/%: bench/%.c $(ENGINE_LIB) $(TESTSUPPORT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(TEST_INC) $< $(TESTSUPPORT_OBJS) $(ENGINE_LIB) -o $@

all: $(BENCH_BINS)

.PHONY: bench
bench: $(BENCH_BINS)
	$(BUILD)/hosted/bench/walk_bench
