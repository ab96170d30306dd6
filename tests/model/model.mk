# The independent reference model of the paging rules (tests/model/).  Any
# hosted test may link it: add $(MODEL_OBJS) or $(MODEL_SAN_OBJS) and
# $(MODEL_INC).  It uses only include/umbra/x86.h, never engine/.
# (Fragments are included in sorted order, so a fragment sorted before this
# one must name the objects by path rather than through these variables.)
MODEL_SRCS     := $(wildcard tests/model/*.c)
MODEL_HDRS     := $(wildcard tests/model/*.h) include/umbra/x86.h
MODEL_OBJS     := $(MODEL_SRCS:%.c=$(BUILD)/hosted/%.o)
MODEL_SAN_OBJS := $(MODEL_SRCS:%.c=$(BUILD)/san/%.o)
MODEL_INC      := -Itests/model

$(BUILD)/hosted/tests/model/%.o: tests/model/%.c $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(MODEL_INC) -c $< -o $@
$(BUILD)/san/tests/model/%.o: tests/model/%.c $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(MODEL_INC) -c $< -o $@
