# The paging-mode guest (guests/pagemodes/src/): builds its own page tables
# in every paging mode of its flavour and runs a deterministic workload
# (aliases, large pages, in-place PTE changes with INVLPG and CR3 reloads,
# two address spaces, CR0.WP, #PF vector/error/CR2, A/D bits, checksum).
#   pagemodes32: 32-bit paging (4 KiB + 4 MiB pages), then PAE (2 MiB)
#   pagemodes64: 4-level, then 5-level when CPUID offers LA57
# The sources sit in src/ so that guests/guests.mk (which takes every
# guests/<name>/*.c for a guest) does not build them a second time; its
# pattern rules compile the objects into $(GUEST_BUILD)/32|64/pagemodes/src/.
# Included after guests/guests.mk (sorted names), so its variables exist.

PM_SRCS := $(wildcard guests/pagemodes/src/*.c)
PM_OBJS32 := $(PM_SRCS:guests/%.c=$(GUEST_BUILD)/32/%.o)
PM_OBJS64 := $(PM_SRCS:guests/%.c=$(GUEST_BUILD)/64/%.o)

$(GUEST_BUILD)/pagemodes32.elf: $(PM_OBJS32) $(GUEST_LIB32_OBJS) guests/lib/link32.ld
	$(LD) -m elf_i386 $(GUEST_LDFLAGS) -T guests/lib/link32.ld -o $@ \
		$(PM_OBJS32) $(GUEST_LIB32_OBJS) $(GUEST_LIBGCC32)
$(GUEST_BUILD)/pagemodes64.elf: $(PM_OBJS64) $(GUEST_LIB64_OBJS) guests/lib/link64.ld
	$(LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T guests/lib/link64.ld -o $@.elf64 \
		$(PM_OBJS64) $(GUEST_LIB64_OBJS)
	objcopy -O elf32-i386 $@.elf64 $@

.PHONY: pagemodes-guests
pagemodes-guests: $(GUEST_BUILD)/pagemodes32.elf $(GUEST_BUILD)/pagemodes64.elf
guests: pagemodes-guests
all: pagemodes-guests
