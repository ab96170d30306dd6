/*
 * The host GDT, TSS and IDT.
 */
#include "traps.h"

#include "console.h"
#include "cpu.h"
#include "layout.h"
#include "panic.h"
#include "string.h"

#define IDT_VECTORS   256
#define TRAP_VECTORS  32
#define IST_EMERGENCY 1 /* TSS.IST1 */

/* Descriptor bits (APM vol. 2, 4.8). */
#define GDT_CODE64 0x00AF9A000000FFFFull /* present, DPL 0, L=1, exec/read */
#define GDT_DATA   0x00CF92000000FFFFull /* present, DPL 0, read/write */
#define TSS_TYPE_AVAILABLE 0x9
#define DESC_PRESENT (1ull << 47)
#define GATE_INTERRUPT 0x8E /* present, DPL 0, 64-bit interrupt gate */

#define VEC_NMI 2
#define VEC_DF  8
#define VEC_PF  14
#define VEC_MC  18

/* The 64-bit TSS (APM vol. 2, 12.2.5): only the IST pointers matter. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi, reserved;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* null, code, data, TSS (two slots). */
static uint64_t gdt[5] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));
static uint8_t ist_stack[HV_IST_STACK_SIZE] __attribute__((aligned(16)));
extern const uint64_t trap_stub_table[TRAP_VECTORS];
extern char boot_stack_guard[];

static void set_tss_descriptor(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;

	gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) |
		 ((uint64_t)TSS_TYPE_AVAILABLE << 40) | DESC_PRESENT |
		 (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
	gdt[4] = base >> 32;
}

static void set_gate(unsigned vector, uint64_t handler, uint8_t ist)
{
	idt[vector] = (struct idt_gate){
		.offset_lo = (uint16_t)handler,
		.selector = HOST_SEL_CODE,
		.ist = ist,
		.type_attr = GATE_INTERRUPT,
		.offset_mid = (uint16_t)(handler >> 16),
		.offset_hi = (uint32_t)(handler >> 32),
	};
}

void traps_init(void)
{
	struct desc_ptr gdtr = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
	struct desc_ptr idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	gdt[1] = GDT_CODE64;
	gdt[2] = GDT_DATA;
	tss.ist[IST_EMERGENCY - 1] =
		(uint64_t)(uintptr_t)(ist_stack + sizeof(ist_stack));
	tss.iomap_base = sizeof(tss); /* no I/O bitmap */
	set_tss_descriptor();
	for (unsigned v = 0; v < TRAP_VECTORS; v++) {
		bool emergency = v == VEC_NMI || v == VEC_DF || v == VEC_PF ||
				 v == VEC_MC;
		set_gate(v, trap_stub_table[v], emergency ? IST_EMERGENCY : 0);
	}
	__asm__ volatile(
		"lgdt %0\n\t"
		"pushq %[code]\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %[data], %%ax\n\t"
		"movw %%ax, %%ds\n\t"
		"movw %%ax, %%es\n\t"
		"movw %%ax, %%ss\n\t"
		"movw %[tss], %%ax\n\t"
		"ltr %%ax\n\t"
		"lidt %1"
		:
		: "m"(gdtr), "m"(idtr), [code] "i"(HOST_SEL_CODE),
		  [data] "i"(HOST_SEL_DATA), [tss] "i"(HOST_SEL_TSS)
		: "rax", "memory");
}

static const char *const vector_name[TRAP_VECTORS] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound", "#UD invalid opcode",
	"#NM device not available", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved 15",
	"#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25",
	"reserved 26", "reserved 27", "#HV hypervisor injection",
	"#VC VMM communication", "#SX security", "reserved 31",
};

void trap_report(struct trap_frame *f)
{
	panic_begin();
	kprintf("umbra: PANIC: host exception %s (vector %llu) error code %llx\n",
		vector_name[f->vector % TRAP_VECTORS],
		(unsigned long long)f->vector, (unsigned long long)f->error);
	if (f->vector == VEC_PF) {
		uint64_t cr2 = read_cr2();
		uint64_t guard = (uint64_t)(uintptr_t)boot_stack_guard;

		kprintf("umbra:   fault address (CR2) %llx%s\n",
			(unsigned long long)cr2,
			cr2 - guard < 4096 ? " (the stack guard page: stack overflow)"
					   : "");
	}
	kprintf("umbra:   rip %016llx cs %llx rflags %llx rsp %016llx ss %llx\n",
		(unsigned long long)f->rip, (unsigned long long)f->cs,
		(unsigned long long)f->rflags, (unsigned long long)f->rsp,
		(unsigned long long)f->ss);
	kprintf("umbra:   rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
		(unsigned long long)f->rax, (unsigned long long)f->rbx,
		(unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("umbra:   rsi %016llx rdi %016llx rbp %016llx\n",
		(unsigned long long)f->rsi, (unsigned long long)f->rdi,
		(unsigned long long)f->rbp);
	kprintf("umbra:   r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n",
		(unsigned long long)f->r8, (unsigned long long)f->r9,
		(unsigned long long)f->r10, (unsigned long long)f->r11);
	kprintf("umbra:   r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n",
		(unsigned long long)f->r12, (unsigned long long)f->r13,
		(unsigned long long)f->r14, (unsigned long long)f->r15);
	panic_end();
}
