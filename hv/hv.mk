# The hypervisor: build/hv/umbra.elf, a multiboot v1 kernel.
#
# Every hv/*.c and hv/*.S is linked in (the decoder, emulator and loader
# sources included), together with the shadow engine, compiled here with the
# same flags as the rest of the image (the top Makefile's freestanding build
# checks it for outside symbols).  Everything is -mgeneral-regs-only: the
# guest's x87/SSE/AVX registers stay live in the CPU while Umbra handles an
# exit (VMRUN does not switch them), so no host code may touch vector
# registers.  The image is linked
# as ELF64 at 1 MiB, identity addresses (hv/layout.h), then converted to
# ELF32 because QEMU's multiboot loader refuses ELF64 (GRUB takes either).

HV_BUILD := $(BUILD)/hv
HV_CFLAGS := $(CSTD) $(WARN) -O2 -g -ffreestanding -fno-builtin \
	-nostdinc -isystem $(GCC_INC) $(INC) -Ihv -mno-red-zone \
	-mgeneral-regs-only -fno-pic -fno-pie -fno-stack-protector \
	-mcmodel=kernel -fno-asynchronous-unwind-tables -fcf-protection=none \
	-fno-tree-loop-distribute-patterns
HV_LDFLAGS := -m elf_x86_64 -nostdlib --build-id=none -z max-page-size=0x1000 \
	-z noexecstack --no-warn-rwx-segments

HV_C_SRCS := $(wildcard hv/*.c)
HV_S_SRCS := $(wildcard hv/*.S)
HV_HDRS := $(wildcard hv/*.h) $(ENGINE_HDRS)
HV_OBJS := $(HV_C_SRCS:hv/%.c=$(HV_BUILD)/%.o) $(HV_S_SRCS:hv/%.S=$(HV_BUILD)/%.o)
HV_ENGINE_OBJS := $(ENGINE_SRCS:engine/%.c=$(HV_BUILD)/engine/%.o)
HV_ELF := $(HV_BUILD)/umbra.elf

.PHONY: hv
hv: $(HV_ELF)
all: hv

$(HV_BUILD)/%.o: hv/%.c $(HV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS) -c $< -o $@
$(HV_BUILD)/%.o: hv/%.S $(HV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS) -c $< -o $@
$(HV_BUILD)/engine/%.o: engine/%.c $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS) -c $< -o $@

# umbra.elf64 keeps the symbols for gdb (`-s -S`, then
# `gdb build/hv/umbra.elf64 -ex 'target remote :1234'`).
$(HV_ELF): $(HV_OBJS) $(HV_ENGINE_OBJS) hv/link.ld
	$(LD) $(HV_LDFLAGS) -T hv/link.ld -o $@64 $(HV_OBJS) $(HV_ENGINE_OBJS)
	objcopy -O elf32-i386 $@64 $@

# tests/hv/<name>/: guests that check the hypervisor from the inside, built
# like guests/<name> on the shared guest library (guests/guests.mk) into
# build/guests/<name>32.elf and <name>64.elf.
HV_TEST_GUESTS := $(patsubst tests/hv/%/main.c,%,$(wildcard tests/hv/*/main.c))
hv_tguest_srcs = $(wildcard tests/hv/$(1)/*.c)

define HV_TEST_GUEST_RULES
$(GUEST_BUILD)/32/hvtests/$(1)/%.o: tests/hv/$(1)/%.c $(GUEST_LIB_HDRS)
	@mkdir -p $$(@D)
	$(CC) $(GUEST_CFLAGS32) -c $$< -o $$@
$(GUEST_BUILD)/64/hvtests/$(1)/%.o: tests/hv/$(1)/%.c $(GUEST_LIB_HDRS)
	@mkdir -p $$(@D)
	$(CC) $(GUEST_CFLAGS64) -c $$< -o $$@
$(GUEST_BUILD)/$(1)32.elf: $(patsubst tests/hv/$(1)/%.c,$(GUEST_BUILD)/32/hvtests/$(1)/%.o,$(call hv_tguest_srcs,$(1))) $(GUEST_LIB32_OBJS) guests/lib/link32.ld
	$(LD) -m elf_i386 $(GUEST_LDFLAGS) -T guests/lib/link32.ld -o $$@ \
		$$(filter %.o,$$^) $(GUEST_LIBGCC32)
$(GUEST_BUILD)/$(1)64.elf: $(patsubst tests/hv/$(1)/%.c,$(GUEST_BUILD)/64/hvtests/$(1)/%.o,$(call hv_tguest_srcs,$(1))) $(GUEST_LIB64_OBJS) guests/lib/link64.ld
	$(LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T guests/lib/link64.ld -o $$@.elf64 \
		$$(filter %.o,$$^)
	objcopy -O elf32-i386 $$@.elf64 $$@
hv: $(GUEST_BUILD)/$(1)32.elf $(GUEST_BUILD)/$(1)64.elf
endef
$(foreach g,$(HV_TEST_GUESTS),$(eval $(call HV_TEST_GUEST_RULES,$(g))))
