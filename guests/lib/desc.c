/*
 * Descriptor tables: the GDT (loaded by the boot code), the TSS with the
 * ring-0 stack for traps from CPL 3, and the IDT (exception stubs 0..31,
 * a DPL-3 gate at 0x80 through which user code hands control back, and
 * the IRQ gates 0x20..0x2F that irq_install() adds).
 */
#include "guest.h"
#include "internal.h"

#ifdef __x86_64__
#define KCODE_DESC 0x00AF9A000000FFFFull /* 64-bit code, DPL 0 */
#define UCODE_DESC 0x00AFFA000000FFFFull /* 64-bit code, DPL 3 */
#else
#define KCODE_DESC 0x00CF9A000000FFFFull /* 32-bit code, DPL 0 */
#define UCODE_DESC 0x00CFFA000000FFFFull /* 32-bit code, DPL 3 */
#endif
#define KDATA_DESC   0x00CF92000000FFFFull /* flat data, DPL 0 */
#define UDATA_DESC   0x00CFF2000000FFFFull /* flat data, DPL 3 */
#define KCODE32_DESC 0x00CF9A000000FFFFull

/* Indexes: 1 kcode, 2 kdata, 3 ucode, 4 udata, 5-6 TSS, 7 kcode32. */
uint64_t lib_gdt[8] __attribute__((aligned(16))) = {
	0, KCODE_DESC, KDATA_DESC, UCODE_DESC, UDATA_DESC, 0, 0, KCODE32_DESC,
};

struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uintptr_t base; /* 64-bit: boot64.S LGDTs it in 32-bit mode, reading 4 bytes */
};

struct desc_ptr lib_gdtr = { sizeof(lib_gdt) - 1, (uintptr_t)lib_gdt };

#ifdef __x86_64__
struct __attribute__((packed)) tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};
static uint64_t idt[256 * 2] __attribute__((aligned(16)));
#else
struct __attribute__((packed)) tss {
	uint16_t link, reserved0;
	uint32_t esp0;
	uint16_t ss0, reserved1;
	uint32_t unused[22];
	uint16_t trap, iomap_base;
};
static uint64_t idt[256] __attribute__((aligned(16)));
#endif

static struct tss tss __attribute__((aligned(16)));
static uint8_t trap_stack[16384] __attribute__((aligned(16)));

void idt_set_gate(unsigned vec, uintptr_t handler, unsigned dpl)
{
	uint64_t attr = 0x8E | (dpl << 5); /* present interrupt gate */
	uint64_t lo = (handler & 0xFFFF) | ((uint64_t)SEL_KCODE << 16) |
		      (attr << 40) | ((uint64_t)(handler >> 16 & 0xFFFF) << 48);
#ifdef __x86_64__
	idt[vec * 2] = lo;
	idt[vec * 2 + 1] = (uint64_t)handler >> 32;
#else
	idt[vec] = lo;
#endif
}

void set_kernel_stack(uintptr_t top)
{
#ifdef __x86_64__
	tss.rsp0 = top;
#else
	tss.esp0 = top;
	tss.ss0 = SEL_KDATA;
#endif
}

void desc_init(void)
{
	uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;
	struct desc_ptr idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	tss.iomap_base = sizeof(tss); /* no I/O bitmap: CPL 3 has no port access */
	set_kernel_stack((uintptr_t)trap_stack + sizeof(trap_stack));
	lib_gdt[SEL_TSS / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) |
			       (0x89ull << 40) | ((limit >> 16 & 0xF) << 48) |
			       ((base >> 24 & 0xFF) << 56);
	lib_gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS) : "memory");

	for (unsigned v = 0; v < 32; v++)
		idt_set_gate(v, trap_stubs[v], 0);
	idt_set_gate(TRAP_SYSCALL, trap_stub_syscall, 3);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}
