/*
 * hvcheck: a guest that checks what Umbra virtualizes, from the inside.
 *
 * Run natively it checks only what must hold on any x86 CPU (so the same
 * image is its own baseline); under a hypervisor that says it is Umbra
 * (CPUID leaf 0x40000000) it also checks Umbra's contract: SVM hidden and its
 * instructions #UD, VM_CR locked, EFER virtualized and checked, CR0/CR4
 * writes checked as the CPU checks them, the hypercalls.
 *
 * Command line: `end=halt` ends with HLT and interrupts off, `end=triple`
 * with a triple fault, `end=outs` reports through a REP OUTSB to
 * isa-debug-exit (string I/O, which Umbra emulates), instead of the plain
 * OUT (tests/hv/smoke checks Umbra's exit status for each).
 */
#include "guest.h"

#define HV_BIT          (1u << 31)
#define SVM_BIT         (1u << 2)
#define MSR_VM_CR       0xC0010114u
#define MSR_VM_HSAVE_PA 0xC0010117u
#define MSR_EFER        0xC0000080u
#define MSR_OUTSIDE_MAP 0x40000000u
#define EFER_SVME       (1u << 12)
#define EFER_NXE        (1u << 11)
#define EFER_RESERVED   (1u << 3)
#define CR4_VMXE        (1ul << 13)
#define CR4_PCIDE       (1ul << 17)
#define CR0_NW          (1ul << 29)
#define CR0_ET          (1ul << 4)
#define VEC_UD          6
#define VEC_GP          13

static int failures;
static bool umbra;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			kprintf("hvcheck: FAIL line %d: ", __LINE__);       \
			kprintf(__VA_ARGS__);                               \
			kprintf("\n");                                      \
			failures++;                                         \
		}                                                           \
	} while (0)

static void hc(uint32_t fn, uint32_t *eax, uint32_t *ebx, uint32_t *ecx)
{
	*eax = umbra_hypercall(fn, ebx, ecx);
}

/* Instructions that must fault, one per try_call. */
static void do_vmmcall_bad(void *arg)
{
	(void)arg;
	__asm__ volatile("xor %%eax, %%eax; .byte 0x0f, 0x01, 0xd9" ::: "eax", "memory");
}
static void do_vmrun(void *arg)
{
	(void)arg;
	__asm__ volatile("xor %%eax, %%eax; .byte 0x0f, 0x01, 0xd8" ::: "eax", "memory");
}
static void do_vmload(void *arg)
{
	(void)arg;
	__asm__ volatile("xor %%eax, %%eax; .byte 0x0f, 0x01, 0xda" ::: "eax", "memory");
}
static void do_stgi(void *arg)
{
	(void)arg;
	__asm__ volatile(".byte 0x0f, 0x01, 0xdc" ::: "memory");
}
static void do_clgi(void *arg)
{
	(void)arg;
	__asm__ volatile(".byte 0x0f, 0x01, 0xdd" ::: "memory");
}
static void do_wrmsr(void *arg)
{
	const uint64_t *mv = arg; /* { msr, value } */

	wrmsr((uint32_t)mv[0], mv[1]);
}
static void do_rdmsr(void *arg)
{
	uint64_t *mv = arg;

	mv[1] = rdmsr((uint32_t)mv[0]);
}
static void do_write_cr4(void *arg)
{
	write_cr4(*(unsigned long *)arg);
}
static void do_write_cr0(void *arg)
{
	write_cr0(*(unsigned long *)arg);
}

static uint32_t msr_write_vector(uint32_t msr, uint64_t value)
{
	uint64_t mv[2] = { msr, value };

	return try_call(do_wrmsr, mv, NULL);
}

static void check_cpuid(void)
{
	struct cpuid_regs r = cpuid(1, 0);
	char sig[13];

	/* QEMU's TCG sets the hypervisor bit too ("TCGTCGTCGTCG"). */
	if (!(r.ecx & HV_BIT))
		return;
	r = cpuid(0x40000000, 0);
	__builtin_memcpy(sig, &r.ebx, 4);
	__builtin_memcpy(sig + 4, &r.ecx, 4);
	__builtin_memcpy(sig + 8, &r.edx, 4);
	sig[12] = '\0';
	umbra = strncmp(sig, "UmbraShadow!", 12) == 0;
	if (!umbra)
		return;
	kprintf("hvcheck: running under Umbra\n");
	CHECK(!(cpuid(0x80000001, 0).ecx & SVM_BIT), "SVM visible");
	r = cpuid(0x8000000A, 0);
	CHECK(!r.eax && !r.ebx && !r.edx, "SVM leaf %x %x %x", r.eax, r.ebx, r.edx);
}

static void check_hypercalls(void)
{
	uint32_t a, b, c, before;
	uint32_t v;

	hc(0, &a, &b, &c);
	CHECK(a == 0 && b == 1, "probe: eax %#x ebx %#x", a, b);
	hc(4, &a, &before, &c);
	cpuid(0, 0);
	hc(4, &a, &b, &c);
	CHECK(a == 0 && b >= before + 2, "exit count %u -> %u", before, b);
	hc(3, &a, &b, &c);
	CHECK(a == 0 && b == 0, "audit: %u violations", b);
	hc(77, &a, &b, &c);
	CHECK(a == 0xFFFFFFFFu, "unknown hypercall: eax %#x", a);
	v = try_call(do_vmmcall_bad, NULL, NULL);
	CHECK(v == VEC_UD, "vmmcall without magic: vector %#x", v);
}

static void check_svm_hidden(void)
{
	uint64_t mv[2] = { MSR_VM_CR, 0 };
	uint32_t v;

	CHECK(try_call(do_vmrun, NULL, NULL) == VEC_UD, "vmrun");
	CHECK(try_call(do_vmload, NULL, NULL) == VEC_UD, "vmload");
	CHECK(try_call(do_stgi, NULL, NULL) == VEC_UD, "stgi");
	CHECK(try_call(do_clgi, NULL, NULL) == VEC_UD, "clgi");
	v = try_call(do_rdmsr, mv, NULL);
	CHECK(v == TRAP_NONE && mv[1] == 0x18, "VM_CR: vector %#x value %#llx",
	      v, (unsigned long long)mv[1]);
	CHECK(msr_write_vector(MSR_VM_CR, 0) == VEC_GP, "VM_CR write");
	CHECK(msr_write_vector(MSR_VM_HSAVE_PA, 0x1000) == VEC_GP, "HSAVE write");
	mv[0] = MSR_OUTSIDE_MAP;
	CHECK(try_call(do_rdmsr, mv, NULL) == VEC_GP, "MSR outside the map");
}

static void check_efer(void)
{
	uint64_t efer = rdmsr(MSR_EFER);

	CHECK(!(efer & EFER_SVME), "EFER.SVME visible: %#llx",
	      (unsigned long long)efer);
	CHECK(msr_write_vector(MSR_EFER, efer | EFER_SVME) == VEC_GP,
	      "EFER.SVME write");
	CHECK(msr_write_vector(MSR_EFER, efer | EFER_RESERVED) == VEC_GP,
	      "EFER reserved bit write");
	CHECK(msr_write_vector(MSR_EFER, efer ^ EFER_NXE) == TRAP_NONE,
	      "EFER.NXE toggle");
	CHECK(rdmsr(MSR_EFER) == (efer ^ EFER_NXE), "EFER read back %#llx",
	      (unsigned long long)rdmsr(MSR_EFER));
	wrmsr(MSR_EFER, efer);
	CHECK(rdmsr(MSR_EFER) == efer, "EFER restored");
}

static void check_control_registers(void)
{
	unsigned long cr0 = read_cr0(), cr4 = read_cr4(), bad;
	volatile uint16_t msw;

	CHECK(cr0 & CR0_ET, "CR0.ET clear: %#lx", cr0);
	if (umbra) {
		/* Umbra hides VMX: its CR4 bit raises #GP. */
		bad = cr4 | CR4_VMXE;
		CHECK(try_call(do_write_cr4, &bad, NULL) == VEC_GP, "CR4.VMXE");
#ifndef __x86_64__
		/* PCID is offered, but CR4.PCIDE needs long mode (and QEMU's
		 * TCG, without PCID, ignores the bit instead). */
		bad = cr4 | CR4_PCIDE;
		CHECK(try_call(do_write_cr4, &bad, NULL) == VEC_GP,
		      "CR4.PCIDE outside long mode");
#endif
		CHECK(read_cr4() == cr4, "CR4 changed: %#lx", read_cr4());
		/* The manuals' #GP, which QEMU's TCG does not raise (and a
		 * VMCB with NW but not CD fails VMRUN's checks). */
		bad = cr0 | CR0_NW;
		CHECK(try_call(do_write_cr0, &bad, NULL) == VEC_GP,
		      "CR0.NW without CD");
		CHECK(read_cr0() == cr0, "CR0 changed: %#lx", read_cr0());
	}
	__asm__ volatile("invd");
	__asm__ volatile("clts");
	CHECK(read_cr0() == (cr0 & ~8ul), "CLTS: %#lx", read_cr0());
	cr0 = read_cr0();
	/* The memory forms, which exit as CR0 reads/writes and need the
	 * instruction's memory operand. */
	msw = 0xAAAA;
	__asm__ volatile("smsw %0" : "=m"(msw));
	CHECK(msw == (uint16_t)cr0, "SMSW to memory: %#x, CR0 %#lx", msw, cr0);
	msw |= 8; /* TS */
	__asm__ volatile("lmsw %0" : : "m"(msw) : "memory");
	CHECK(read_cr0() == (cr0 | 8), "LMSW from memory: CR0 %#lx", read_cr0());
	__asm__ volatile("clts");
	__asm__ volatile("invlpg %0" : : "m"(msw) : "memory");
	CHECK(read_cr0() == cr0, "CR0 after CLTS: %#lx", read_cr0());
}

static void triple_fault(void)
{
	static const struct {
		uint16_t limit;
		unsigned long base;
	} __attribute__((packed)) empty = { 0, 0 };

	__asm__ volatile("lidt %0; int3" : : "m"(empty));
}

int guest_main(void)
{
	char end[16];

	check_cpuid();
	check_control_registers();
	if (umbra) {
		check_hypercalls();
		check_svm_hidden();
		check_efer();
	}
	kprintf("hvcheck: %s\n", failures ? "FAILED" : "ok");
	if (cmdline_get("end", end, sizeof(end))) {
		if (!strncmp(end, "halt", 5))
			__asm__ volatile("cli; hlt");
		if (!strncmp(end, "triple", 7))
			triple_fault();
		if (!strncmp(end, "outs", 5)) {
			static const uint8_t code[2] = { GUEST_EXIT_PASS,
							 GUEST_EXIT_FAIL };
			const uint8_t *p = &code[failures != 0];
			unsigned long n = 1;

			__asm__ volatile("rep outsb"
					 : "+S"(p), "+c"(n)
					 : "d"(GUEST_EXIT_PORT)
					 : "memory");
		}
	}
	return failures != 0;
}
