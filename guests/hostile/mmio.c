/*
 * Phase "mmio": window PTEs aimed at devices and firmware: the local APIC
 * (through two aliases, a register written and read back), the I/O APIC's
 * index/data pair, legacy VGA memory and the BIOS ROM (a write must not
 * stick).  What each read gave is printed: the native run is the reference.
 */
#include "hostile.h"

#define MSR_APIC_BASE    0x1Bu
#define APIC_BASE_ADDR   0xFFFFFF000ull
#define LAPIC_VERSION    0x30u
#define LAPIC_TPR        0x80u
#define TPR_TEST         0x20u
#define IOAPIC_BASE      0xFEC00000u
#define IOAPIC_REGSEL    0x00u
#define IOAPIC_WIN       0x10u
#define IOAPIC_VERSION   0x01u
#define VGA_MEMORY       0xA0000u
#define BIOS_RESET_PAGE  0xFF000u /* the page of the reset vector */
#define BIOS_RESET_OFF   0xFF0u
#define MMIO_FLAGS       (X86_PTE_RW | X86_PTE_PCD | X86_PTE_PWT)

enum { SLOT_LAPIC, SLOT_LAPIC_ALIAS, SLOT_IOAPIC, SLOT_VGA, SLOT_BIOS };

/* Read through a slot; a fault is a failed check. */
static uint32_t read_at(struct hctx *h, uintptr_t va, const char *what)
{
	struct outcome o = load32(va);

	check(h, o.vector == TRAP_NONE, "reading %s faulted", what);
	return o.value;
}

static void lapic(struct hctx *h)
{
	uint64_t base = rdmsr(MSR_APIC_BASE) & APIC_BASE_ADDR;
	uintptr_t a = window_map(h, SLOT_LAPIC, base, MMIO_FLAGS);
	uintptr_t b = window_map(h, SLOT_LAPIC_ALIAS, base, MMIO_FLAGS);
	uint32_t version = read_at(h, a + LAPIC_VERSION, "the LAPIC version");
	uint32_t tpr;

	check(h, store32(a + LAPIC_TPR, TPR_TEST).vector == TRAP_NONE,
	      "writing the LAPIC TPR faulted");
	tpr = read_at(h, b + LAPIC_TPR, "the LAPIC TPR");
	store32(b + LAPIC_TPR, 0);
	kprintf("hostile: %s: mmio: LAPIC version %x, TPR written through one alias reads %x through the other\n",
		h->name, version, tpr);
	check(h, tpr == TPR_TEST && version ==
	      read_at(h, b + LAPIC_VERSION, "the LAPIC version"),
	      "the two LAPIC aliases disagree");
}

static void ioapic(struct hctx *h)
{
	uintptr_t va = window_map(h, SLOT_IOAPIC, IOAPIC_BASE, MMIO_FLAGS);

	check(h, store32(va + IOAPIC_REGSEL, IOAPIC_VERSION).vector == TRAP_NONE,
	      "writing IOREGSEL faulted");
	kprintf("hostile: %s: mmio: IOAPIC version %x\n", h->name,
		read_at(h, va + IOAPIC_WIN, "the IOAPIC version"));
}

static void legacy(struct hctx *h)
{
	uintptr_t vga = window_map(h, SLOT_VGA, VGA_MEMORY, X86_PTE_RW);
	uintptr_t rom = window_map(h, SLOT_BIOS, BIOS_RESET_PAGE, X86_PTE_RW) +
			BIOS_RESET_OFF;
	uint32_t before = read_at(h, rom, "the BIOS ROM"), after;

	store32(rom, ~before);
	after = read_at(h, rom, "the BIOS ROM");
	kprintf("hostile: %s: mmio: VGA memory reads %x; BIOS reset vector reads %x, %s after a write\n",
		h->name, read_at(h, vga, "VGA memory"), before,
		after == before ? "unchanged" : "changed");
	check(h, after == before, "a write to the BIOS ROM stuck");
}

void phase_mmio(struct hctx *h)
{
	lapic(h);
	ioapic(h);
	legacy(h);
}
