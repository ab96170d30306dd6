# Shared hosted test support, linked into every hosted test program.
TESTSUPPORT_SRCS := $(wildcard tests/support/*.c)
TESTSUPPORT_OBJS := $(TESTSUPPORT_SRCS:%.c=$(BUILD)/hosted/%.o)
TESTSUPPORT_SAN_OBJS := $(TESTSUPPORT_SRCS:%.c=$(BUILD)/san/%.o)
TEST_INC := -Itests/support

$(BUILD)/hosted/tests/support/%.o: tests/support/%.c $(wildcard tests/support/*.h) $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(TEST_INC) -c $< -o $@
$(BUILD)/san/tests/support/%.o: tests/support/%.c $(wildcard tests/support/*.h) $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(TEST_INC) -c $< -o $@
