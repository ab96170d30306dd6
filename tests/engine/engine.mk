# Hosted tests of the shadow engine (tests/engine/test_*.c, cmocka), built
# hosted and under ASan+UBSan, each linked with the harness.
ENGINE_TEST_SRCS   := $(wildcard tests/engine/test_*.c)
ENGINE_TEST_HELPERS := $(filter-out $(ENGINE_TEST_SRCS),$(wildcard tests/engine/*.c))
ENGINE_TEST_HDRS   := $(wildcard tests/engine/*.h tests/support/*.h) $(ENGINE_HDRS)
ENGINE_TEST_INC    := $(TEST_INC) -Itests/engine

ENGINE_TEST_HELPER_OBJS     := $(ENGINE_TEST_HELPERS:tests/engine/%.c=$(BUILD)/hosted/tests/engine/obj/%.o)
ENGINE_TEST_HELPER_SAN_OBJS := $(ENGINE_TEST_HELPERS:tests/engine/%.c=$(BUILD)/san/tests/engine/obj/%.o)
ENGINE_TEST_BINS     := $(ENGINE_TEST_SRCS:tests/engine/%.c=$(BUILD)/hosted/tests/engine/%)
ENGINE_TEST_SAN_BINS := $(ENGINE_TEST_SRCS:tests/engine/%.c=$(BUILD)/san/tests/engine/%)

.SECONDARY: $(ENGINE_TEST_SRCS:tests/engine/%.c=$(BUILD)/hosted/tests/engine/obj/%.o) \
	$(ENGINE_TEST_SRCS:tests/engine/%.c=$(BUILD)/san/tests/engine/obj/%.o) \
	$(ENGINE_TEST_HELPER_OBJS) $(ENGINE_TEST_HELPER_SAN_OBJS)
.PHONY: engine-tests
engine-tests: $(ENGINE_TEST_BINS) $(ENGINE_TEST_SAN_BINS)
all: engine-tests

$(BUILD)/hosted/tests/engine/obj/%.o: tests/engine/%.c $(ENGINE_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(ENGINE_TEST_INC) -c $< -o $@
$(BUILD)/san/tests/engine/obj/%.o: tests/engine/%.c $(ENGINE_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(ENGINE_TEST_INC) -c $< -o $@

$(BUILD)/hosted/tests/engine/test_%: $(BUILD)/hosted/tests/engine/obj/test_%.o \
		$(ENGINE_TEST_HELPER_OBJS) $(TESTSUPPORT_OBJS) $(ENGINE_LIB)
	$(CC) $(HOSTED_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
$(BUILD)/san/tests/engine/test_%: $(BUILD)/san/tests/engine/obj/test_%.o \
		$(ENGINE_TEST_HELPER_SAN_OBJS) $(TESTSUPPORT_SAN_OBJS) $(ENGINE_SAN_LIB)
	$(CC) $(SAN_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
