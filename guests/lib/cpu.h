/*
 * Thin wrappers around the privileged x86 instructions guests use.
 * Works in both flavours: control registers are `unsigned long` (32 or 64
 * bits, the natural width of MOV CRn), MSRs and CPUID are fixed width.
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include <stdbool.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define DEFINE_CR(n)                                                        \
	static inline unsigned long read_cr##n(void)                        \
	{                                                                   \
		unsigned long v;                                            \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));          \
		return v;                                                   \
	}                                                                   \
	static inline void write_cr##n(unsigned long v)                     \
	{                                                                   \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
			 :
			 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/* RDPKRU / WRPKRU (need CR4.PKE = 1, else #UD). */
static inline uint32_t rdpkru(void)
{
	uint32_t eax, edx;
	__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline void wrpkru(uint32_t v)
{
	__asm__ volatile(".byte 0x0f, 0x01, 0xef"
			 :
			 : "a"(v), "c"(0), "d"(0)
			 : "memory");
}

static inline unsigned long read_flags(void)
{
	unsigned long f;
	__asm__ volatile("pushf; pop %0" : "=r"(f));
	return f;
}

static inline void write_flags(unsigned long f)
{
	__asm__ volatile("push %0; popf" : : "r"(f) : "memory", "cc");
}

static inline void invlpg(unsigned long va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

__attribute__((noreturn)) static inline void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
