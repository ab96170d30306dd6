# The benchmark guest (guests/benchguest/src/): a tiny 64-bit kernel with its
# own 4-level page tables, demand-zero and copy-on-write faults, that runs one
# workload chosen on its command line (fresh, touch1g, mprotect, ctxsw,
# forkwait) and reports per-operation figures.  64-bit flavour only:
# build/guests/bench64.elf.  Run by bench/guests/run (`make bench-guests`).
# The sources sit in src/ so guests/guests.mk does not build them itself.

# This fragment is included before guests/guests.mk (sorted names), so it
# names the library objects itself rather than using guests.mk's variables
# in rule lines (the recipes, expanded later, may use them).
BG_BUILD := $(BUILD)/guests
BG_SRCS := $(wildcard guests/benchguest/src/*.c)
BG_OBJS64 := $(BG_SRCS:guests/%.c=$(BG_BUILD)/64/%.o)
BG_LIB64 := $(patsubst guests/lib/%.c,$(BG_BUILD)/64/lib/%.o,$(wildcard guests/lib/*.c)) \
	$(BG_BUILD)/64/lib/boot64.o $(BG_BUILD)/64/lib/traps64.o

$(BG_BUILD)/bench64.elf: $(BG_OBJS64) $(BG_LIB64) guests/lib/link64.ld
	$(LD) -m elf_x86_64 $(GUEST_LDFLAGS) -T guests/lib/link64.ld -o $@.elf64 \
		$(BG_OBJS64) $(BG_LIB64)
	objcopy -O elf32-i386 $@.elf64 $@

.PHONY: bench-guest
bench-guest: $(BG_BUILD)/bench64.elf
guests: bench-guest
all: bench-guest
