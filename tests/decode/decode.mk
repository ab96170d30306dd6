# The instruction decoder and emulator (hv/decode.c, hv/emulate.c) and
# their hosted tests, built hosted and under ASan+UBSan:
#   test_decode_*   against Zydis (libzydis-dev), linked with zydis_compare.c
#   test_emulate_*  the emulator, with a small test machine (emutest.c)
# Objects go to obj/ so that only the programs match build/*/tests/decode/test_*.
# The two sources are also compiled freestanding and checked for outside
# symbols, as the engine is.
DECODE_SRCS      := hv/decode.c hv/emulate.c
DECODE_HDRS      := $(wildcard hv/decode.h hv/emulate.h hv/x86*.h tests/decode/*.h)
# -iquote: hv/ holds the hypervisor's own string.h, which must not shadow libc.
DECODE_INC       := -iquote hv -Itests/decode
ZYDIS_LIBS       := -lZydis -lZycore

DECODE_TEST_SRCS := $(wildcard tests/decode/test_decode_*.c)
EMU_TEST_SRCS    := $(wildcard tests/decode/test_emulate_*.c)

# name -> object, per flavour
decode_obj = $(patsubst %.c,$(BUILD)/$(1)/tests/decode/obj/%.o,$(notdir $(2)))

DECODE_BINS := $(DECODE_TEST_SRCS:tests/decode/%.c=$(BUILD)/hosted/tests/decode/%) \
	$(EMU_TEST_SRCS:tests/decode/%.c=$(BUILD)/hosted/tests/decode/%)
DECODE_SAN_BINS := $(DECODE_TEST_SRCS:tests/decode/%.c=$(BUILD)/san/tests/decode/%) \
	$(EMU_TEST_SRCS:tests/decode/%.c=$(BUILD)/san/tests/decode/%)

.SECONDARY: $(call decode_obj,hosted,$(wildcard tests/decode/*.c) $(DECODE_SRCS)) \
	$(call decode_obj,san,$(wildcard tests/decode/*.c) $(DECODE_SRCS))
.PHONY: decode-tests
decode-tests: $(DECODE_BINS) $(DECODE_SAN_BINS) $(BUILD)/free/tests/decode/decode.checked
all: decode-tests

$(BUILD)/hosted/tests/decode/obj/%.o: hv/%.c $(DECODE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(DECODE_INC) -c $< -o $@
$(BUILD)/san/tests/decode/obj/%.o: hv/%.c $(DECODE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(DECODE_INC) -c $< -o $@
$(BUILD)/hosted/tests/decode/obj/%.o: tests/decode/%.c $(DECODE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(DECODE_INC) -c $< -o $@
$(BUILD)/san/tests/decode/obj/%.o: tests/decode/%.c $(DECODE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(DECODE_INC) -c $< -o $@

DECODE_LIB_OBJS     = $(call decode_obj,hosted,$(DECODE_SRCS))
DECODE_LIB_SAN_OBJS = $(call decode_obj,san,$(DECODE_SRCS))

$(BUILD)/hosted/tests/decode/test_decode_%: $(BUILD)/hosted/tests/decode/obj/test_decode_%.o \
		$(BUILD)/hosted/tests/decode/obj/zydis_compare.o $(DECODE_LIB_OBJS)
	$(CC) $(HOSTED_CFLAGS) $^ $(CMOCKA_LIBS) $(ZYDIS_LIBS) -o $@
$(BUILD)/san/tests/decode/test_decode_%: $(BUILD)/san/tests/decode/obj/test_decode_%.o \
		$(BUILD)/san/tests/decode/obj/zydis_compare.o $(DECODE_LIB_SAN_OBJS)
	$(CC) $(SAN_CFLAGS) $^ $(CMOCKA_LIBS) $(ZYDIS_LIBS) -o $@
$(BUILD)/hosted/tests/decode/test_emulate_%: $(BUILD)/hosted/tests/decode/obj/test_emulate_%.o \
		$(BUILD)/hosted/tests/decode/obj/emutest.o $(DECODE_LIB_OBJS)
	$(CC) $(HOSTED_CFLAGS) $^ $(CMOCKA_LIBS) -o $@
$(BUILD)/san/tests/decode/test_emulate_%: $(BUILD)/san/tests/decode/obj/test_emulate_%.o \
		$(BUILD)/san/tests/decode/obj/emutest.o $(DECODE_LIB_SAN_OBJS)
	$(CC) $(SAN_CFLAGS) $^ $(CMOCKA_LIBS) -o $@

# Freestanding, as the hypervisor builds them: only memcpy/memset/memmove/
# memcmp may remain undefined.
$(BUILD)/free/tests/decode/obj/%.o: hv/%.c $(DECODE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(FREE_CFLAGS) -mgeneral-regs-only -c $< -o $@
$(BUILD)/free/tests/decode/decoder.o: $(DECODE_SRCS:hv/%.c=$(BUILD)/free/tests/decode/obj/%.o)
	ld -r -o $@ $^
$(BUILD)/free/tests/decode/decode.checked: $(BUILD)/free/tests/decode/decoder.o
	@undef=$$(nm -u $< | awk '{print $$NF}' | sort -u | \
		grep -vxE '$(subst $(eval) ,|,$(FREE_ALLOWED_UNDEF))' || true); \
	if [ -n "$$undef" ]; then \
		echo "freestanding decoder/emulator reference outside symbols: $$undef" >&2; \
		exit 1; \
	fi; touch $@
