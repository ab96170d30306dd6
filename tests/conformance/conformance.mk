# QEMU ground truth for the walker: the host-side comparer of walkprobe
# logs (guests/walkprobe).  tools/conformance-report boots the probes and
# runs it; see tests/conformance/PROTOCOL.md and DEVIATIONS.md.
CONF_SRCS := $(wildcard tests/conformance/*.c)
CONF_HDRS := $(wildcard tests/conformance/*.h tests/support/*.h) $(ENGINE_HDRS)
CONF_OBJS := $(CONF_SRCS:tests/conformance/%.c=$(BUILD)/hosted/tests/conformance/obj/%.o)
CONF_BIN  := $(BUILD)/hosted/tests/conformance/compare

.PHONY: conformance-compare
conformance-compare: $(CONF_BIN)
all: conformance-compare

$(BUILD)/hosted/tests/conformance/obj/%.o: tests/conformance/%.c $(CONF_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(TEST_INC) -Itests/conformance -c $< -o $@

$(CONF_BIN): $(CONF_OBJS) $(TESTSUPPORT_OBJS) $(ENGINE_LIB)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -o $@ $(CONF_OBJS) $(TESTSUPPORT_OBJS) $(ENGINE_LIB)
