# The device guests (guests/devices/<name>/): interrupts and devices passed
# through by Umbra.  Each <name> with *.c files is one guest, built in both
# flavours as $(BUILD)/guests/<name>32.elf and <name>64.elf from its own
# files and the guest library (whose irq.h has the PIC, the IRQ gates and
# the PIT).  guests/guests.mk's pattern rules compile the objects (into
# $(DEV_BUILD)/32|64/devices/...); guests/devices itself has no *.c, so
# guests.mk does not take it for a guest.
#   timeruart: PIT ticks with HLT, IF masking, COM1 by THRE/RDA interrupts
#   ide:       the primary IDE disk by PIO, polled and by IRQ 14
#
# This fragment is included before guests/guests.mk (sorted names), so
# everything expanded at parse time is computed here; recipes use
# guests.mk's variables, which are expanded later.

DEV_BUILD := $(BUILD)/guests
DEV_LIB_C := $(wildcard guests/lib/*.c)
DEV_LIB32 := $(DEV_LIB_C:guests/lib/%.c=$(DEV_BUILD)/32/lib/%.o) \
	$(DEV_BUILD)/32/lib/boot32.o $(DEV_BUILD)/32/lib/traps32.o
DEV_LIB64 := $(DEV_LIB_C:guests/lib/%.c=$(DEV_BUILD)/64/lib/%.o) \
	$(DEV_BUILD)/64/lib/boot64.o $(DEV_BUILD)/64/lib/traps64.o

DEV_GUEST_NAMES := $(foreach d,$(wildcard guests/devices/*/),\
	$(if $(wildcard $(d)*.c),$(notdir $(d:/=))))
dev_objs = $(patsubst guests/%,$(DEV_BUILD)/$(2)/%,\
	$(patsubst %.c,%.o,$(patsubst %.S,%.o,\
	$(wildcard guests/devices/$(1)/*.c guests/devices/$(1)/*.S))))

define DEV_GUEST_RULES
$(DEV_BUILD)/$(1)32.elf: $(call dev_objs,$(1),32) $(DEV_LIB32) guests/lib/link32.ld
	$(LD) -m elf_i386 $$(GUEST_LDFLAGS) -T guests/lib/link32.ld -o $$@ \
		$(call dev_objs,$(1),32) $(DEV_LIB32) $$(GUEST_LIBGCC32)
$(DEV_BUILD)/$(1)64.elf: $(call dev_objs,$(1),64) $(DEV_LIB64) guests/lib/link64.ld
	$(LD) -m elf_x86_64 $$(GUEST_LDFLAGS) -T guests/lib/link64.ld -o $$@.elf64 \
		$(call dev_objs,$(1),64) $(DEV_LIB64)
	objcopy -O elf32-i386 $$@.elf64 $$@
endef
$(foreach g,$(DEV_GUEST_NAMES),$(eval $(call DEV_GUEST_RULES,$(g))))

DEV_GUEST_ELFS := $(foreach g,$(DEV_GUEST_NAMES),$(DEV_BUILD)/$(g)32.elf $(DEV_BUILD)/$(g)64.elf)
.PHONY: device-guests
device-guests: $(DEV_GUEST_ELFS)
guests: $(DEV_GUEST_ELFS)
all: device-guests
