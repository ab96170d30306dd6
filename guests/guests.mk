# Freestanding test guests, booted by QEMU's multiboot loader.
#
# guests/lib is the shared library, built in two flavours: 32-bit (boot32.S,
# traps32.S) and 64-bit (boot64.S, traps64.S; linked as ELF64, then converted
# to ELF32 because QEMU's multiboot loader refuses ELF64).  Every other
# directory guests/<name> is one guest, built in both flavours as
# build/guests/<name>32.elf and build/guests/<name>64.elf: its *.c files and
# *.S files go into both, except that files ending in 32.S / 64.S go only into
# their flavour.

GUEST_BUILD := $(BUILD)/guests
GUEST_CFLAGS := -std=c11 $(WARN) -O2 -g -ffreestanding -fno-builtin \
	-fno-tree-loop-distribute-patterns -nostdinc -isystem $(GCC_INC) \
	$(INC) -Iguests/lib -fno-pic -fno-pie -fno-stack-protector \
	-mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fcf-protection=none
GUEST_CFLAGS32 := $(GUEST_CFLAGS) -m32 -march=i686
GUEST_CFLAGS64 := $(GUEST_CFLAGS) -m64 -mno-red-zone -mcmodel=small
GUEST_LDFLAGS := -nostdlib --build-id=none -z max-page-size=0x1000 \
	-z noexecstack --no-warn-rwx-segments
GUEST_LIBGCC32 := $(shell $(CC) -m32 -print-libgcc-file-name)

GUEST_LIB_HDRS := $(wildcard guests/lib/*.h) $(wildcard include/umbra/x86.h)
GUEST_LIB_C    := $(wildcard guests/lib/*.c)
GUEST_LIB32_OBJS := $(GUEST_LIB_C:guests/lib/%.c=$(GUEST_BUILD)/32/lib/%.o) \
	$(GUEST_BUILD)/32/lib/boot32.o $(GUEST_BUILD)/32/lib/traps32.o
GUEST_LIB64_OBJS := $(GUEST_LIB_C:guests/lib/%.c=$(GUEST_BUILD)/64/lib/%.o) \
	$(GUEST_BUILD)/64/lib/boot64.o $(GUEST_BUILD)/64/lib/traps64.o

GUEST_NAMES := $(filter-out lib,$(notdir $(wildcard guests/*)))
GUEST_NAMES := $(foreach g,$(GUEST_NAMES),$(if $(wildcard guests/$(g)/*.c),$(g)))
GUEST_ELFS := $(foreach g,$(GUEST_NAMES),$(GUEST_BUILD)/$(g)32.elf $(GUEST_BUILD)/$(g)64.elf)

.PHONY: guests
guests: $(GUEST_ELFS)
all: guests

# Objects of flavour 32 / 64, from any guests/<dir>.
$(GUEST_BUILD)/32/%.o: guests/%.c $(GUEST_LIB_HDRS) $(wildcard guests/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_BUILD)/64/%.o: guests/%.c $(GUEST_LIB_HDRS) $(wildcard guests/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS64) -c $< -o $@
$(GUEST_BUILD)/32/%.o: guests/%.S $(GUEST_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_BUILD)/64/%.o: guests/%.S $(GUEST_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS64) -c $< -o $@

# guest_objs(name,flavour): the objects of guests/<name> for that flavour.
guest_srcs = $(wildcard guests/$(1)/*.c) \
	$(filter-out %32.S %64.S,$(wildcard guests/$(1)/*.S)) \
	$(wildcard guests/$(1)/*$(2).S)
guest_objs = $(patsubst guests/%,$(GUEST_BUILD)/$(2)/%,\
	$(patsubst %.c,%.o,$(patsubst %.S,%.o,$(call guest_srcs,$(1),$(2)))))

define GUEST_RULES
$(GUEST_BUILD)/$(1)32.elf: $(call guest_objs,$(1),32) $(GUEST_LIB32_OBJS) guests/lib/link32.ld
	$(LD) -m elf_i386 $(GUEST_LDFLAGS) -T guests/lib/link32.ld -o $$@ \
		$(call guest_objs,$(1),32) $(GUEST_LIB32_OBJS) $(GUEST_LIBGCC32)
$(GUEST_BUILD)/$(1)64.elf: $(call guest_objs,$(1),64) $(GUEST_LIB64_OBJS) guests/lib/link64.ld
	$(LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T guests/lib/link64.ld -o $$@.elf64 \
		$(call guest_objs,$(1),64) $(GUEST_LIB64_OBJS)
	objcopy -O elf32-i386 $$@.elf64 $$@
endef
$(foreach g,$(GUEST_NAMES),$(eval $(call GUEST_RULES,$(g))))
