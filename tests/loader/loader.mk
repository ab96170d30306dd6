# The multiboot guest loader (hv/loader.c, hv/platform_mem.c) and its
# hosted tests: every tests/loader/test_*.c is one cmocka program, built
# hosted and under ASan+UBSan into build/{hosted,san}/tests/loader/test_*,
# linked with the other tests/loader/*.c helpers and the two hv sources.
# The hv sources are also compiled freestanding here and checked for outside
# references (none allowed beyond what GCC may emit: memcpy, memset, ...).
#
# test_loader_guests loads the real test guests (build/guests/*.elf and the
# ELF64 intermediates *.elf.elf64), so it runs after `make all`.

LOADER_HV_SRCS   := hv/loader.c hv/platform_mem.c
LOADER_HV_HDRS   := hv/loader.h hv/multiboot.h hv/elf.h hv/platform_mem.h
LOADER_TEST_SRCS := $(wildcard tests/loader/test_*.c)
LOADER_HELPERS   := $(filter-out $(LOADER_TEST_SRCS),$(wildcard tests/loader/*.c))
LOADER_TEST_HDRS := $(wildcard tests/loader/*.h) $(LOADER_HV_HDRS)
LOADER_TEST_DEFS := -DLOADER_TEST_GUEST_DIR='"$(abspath $(BUILD))/guests"'

LOADER_OBJS = $(LOADER_HV_SRCS:hv/%.c=$(BUILD)/$(1)/tests/loader/obj/hv_%.o) \
	$(LOADER_HELPERS:tests/loader/%.c=$(BUILD)/$(1)/tests/loader/obj/%.o)
LOADER_BINS     := $(LOADER_TEST_SRCS:tests/loader/%.c=$(BUILD)/hosted/tests/loader/%)
LOADER_SAN_BINS := $(LOADER_TEST_SRCS:tests/loader/%.c=$(BUILD)/san/tests/loader/%)

.SECONDARY: $(call LOADER_OBJS,hosted) $(call LOADER_OBJS,san) \
	$(LOADER_TEST_SRCS:tests/loader/%.c=$(BUILD)/hosted/tests/loader/obj/%.o) \
	$(LOADER_TEST_SRCS:tests/loader/%.c=$(BUILD)/san/tests/loader/obj/%.o)
.PHONY: loader-tests
loader-tests: $(LOADER_BINS) $(LOADER_SAN_BINS) $(BUILD)/free/loader/loader.checked
all: loader-tests

$(BUILD)/hosted/tests/loader/obj/hv_%.o: hv/%.c $(LOADER_HV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@
$(BUILD)/san/tests/loader/obj/hv_%.o: hv/%.c $(LOADER_HV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -c $< -o $@
$(BUILD)/hosted/tests/loader/obj/%.o: tests/loader/%.c $(LOADER_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(LOADER_TEST_DEFS) -c $< -o $@
$(BUILD)/san/tests/loader/obj/%.o: tests/loader/%.c $(LOADER_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(LOADER_TEST_DEFS) -c $< -o $@

$(BUILD)/hosted/tests/loader/test_%: $(BUILD)/hosted/tests/loader/obj/test_%.o \
		$(call LOADER_OBJS,hosted)
	$(CC) $(HOSTED_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
$(BUILD)/san/tests/loader/test_%: $(BUILD)/san/tests/loader/obj/test_%.o \
		$(call LOADER_OBJS,san)
	$(CC) $(SAN_CFLAGS) $^ $(CMOCKA_LIBS) -o $@

# Freestanding, as the hypervisor compiles it.
LOADER_FREE_OBJS := $(LOADER_HV_SRCS:hv/%.c=$(BUILD)/free/loader/%.o)
$(BUILD)/free/loader/%.o: hv/%.c $(LOADER_HV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(FREE_CFLAGS) -c $< -o $@
$(BUILD)/free/loader/loader.checked: $(LOADER_FREE_OBJS)
	ld -r -o $(@D)/loader-all.o $^
	@undef=$$(nm -u $(@D)/loader-all.o | awk '{print $$NF}' | sort -u | \
		grep -vxE '$(subst $(eval) ,|,$(FREE_ALLOWED_UNDEF))' || true); \
	if [ -n "$$undef" ]; then \
		echo "freestanding loader references outside symbols: $$undef" >&2; \
		exit 1; \
	fi; \
	if nm $(@D)/loader-all.o | grep -E ' [BbDdCcGgSs] '; then \
		echo "freestanding loader has mutable globals (above)" >&2; \
		exit 1; \
	fi; touch $@
