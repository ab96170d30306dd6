# Unit tests of the guest walker: every tests/unit/test_*.c is one cmocka
# program, built hosted and under ASan+UBSan.  Any other .c file here is a
# helper linked into every unit test.  Objects go to an obj/ subdirectory so
# that only the test programs themselves match build/*/tests/unit/test_*.
UNIT_TEST_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_HELPER_SRCS := $(filter-out $(UNIT_TEST_SRCS),$(wildcard tests/unit/*.c))
UNIT_HDRS        := $(wildcard tests/unit/*.h tests/support/*.h) $(ENGINE_HDRS)
UNIT_INC         := $(TEST_INC) -Itests/unit

UNIT_HELPER_OBJS     := $(UNIT_HELPER_SRCS:tests/unit/%.c=$(BUILD)/hosted/tests/unit/obj/%.o)
UNIT_HELPER_SAN_OBJS := $(UNIT_HELPER_SRCS:tests/unit/%.c=$(BUILD)/san/tests/unit/obj/%.o)
UNIT_BINS     := $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/hosted/tests/unit/%)
UNIT_SAN_BINS := $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/san/tests/unit/%)

.PHONY: unit
# All objects here are built through pattern rules, which would make them
# intermediate files that make deletes after linking; keep them.
.SECONDARY: $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/hosted/tests/unit/obj/%.o) \
	$(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/san/tests/unit/obj/%.o) \
	$(UNIT_HELPER_OBJS) $(UNIT_HELPER_SAN_OBJS)
unit: $(UNIT_BINS) $(UNIT_SAN_BINS)
all: unit

$(BUILD)/hosted/tests/unit/obj/%.o: tests/unit/%.c $(UNIT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(UNIT_INC) -c $< -o $@
$(BUILD)/san/tests/unit/obj/%.o: tests/unit/%.c $(UNIT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(UNIT_INC) -c $< -o $@

$(BUILD)/hosted/tests/unit/test_%: $(BUILD)/hosted/tests/unit/obj/test_%.o \
		$(UNIT_HELPER_OBJS) $(TESTSUPPORT_OBJS) $(ENGINE_LIB)
	$(CC) $(HOSTED_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
$(BUILD)/san/tests/unit/test_%: $(BUILD)/san/tests/unit/obj/test_%.o \
		$(UNIT_HELPER_SAN_OBJS) $(TESTSUPPORT_SAN_OBJS) $(ENGINE_SAN_LIB)
	$(CC) $(SAN_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
