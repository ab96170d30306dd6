/*
 * Architectural constants of x86 paging, named once for the whole project.
 *
 * Bit positions follow the Intel SDM vol. 3A ch. 4 and the AMD APM vol. 2
 * ch. 5; where the two manuals disagree the walker's comments say which one
 * Umbra follows and why.
 */
#ifndef UMBRA_X86_H
#define UMBRA_X86_H

#include <stdint.h>

#define UMBRA_BIT(n) (1ull << (n))
/* Bits lo..hi inclusive. */
#define UMBRA_BITS(hi, lo) ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

/* ---- control registers ------------------------------------------------ */
#define X86_CR0_PE   UMBRA_BIT(0)
#define X86_CR0_WP   UMBRA_BIT(16)
#define X86_CR0_NW   UMBRA_BIT(29)
#define X86_CR0_CD   UMBRA_BIT(30)
#define X86_CR0_PG   UMBRA_BIT(31)

#define X86_CR4_PSE  UMBRA_BIT(4)
#define X86_CR4_PAE  UMBRA_BIT(5)
#define X86_CR4_PGE  UMBRA_BIT(7)
#define X86_CR4_LA57 UMBRA_BIT(12)
#define X86_CR4_PCIDE UMBRA_BIT(17)
#define X86_CR4_SMEP UMBRA_BIT(20)
#define X86_CR4_SMAP UMBRA_BIT(21)
#define X86_CR4_PKE  UMBRA_BIT(22)

#define X86_EFER_LME UMBRA_BIT(8)
#define X86_EFER_LMA UMBRA_BIT(10)
#define X86_EFER_NXE UMBRA_BIT(11)
#define X86_MSR_EFER 0xC0000080u

#define X86_RFLAGS_AC UMBRA_BIT(18)

/* CR3 address fields: 32-bit paging, PAE (32-byte aligned PDPT), long mode. */
#define X86_CR3_ADDR_32   0xFFFFF000ull
#define X86_CR3_ADDR_PAE  0xFFFFFFE0ull
#define X86_CR3_ADDR_LONG UMBRA_BITS(51, 12)

/* ---- page-table entry bits -------------------------------------------- */
#define X86_PTE_P     UMBRA_BIT(0)
#define X86_PTE_RW    UMBRA_BIT(1)
#define X86_PTE_US    UMBRA_BIT(2)
#define X86_PTE_PWT   UMBRA_BIT(3)
#define X86_PTE_PCD   UMBRA_BIT(4)
#define X86_PTE_A     UMBRA_BIT(5)
#define X86_PTE_D     UMBRA_BIT(6)
#define X86_PTE_PS    UMBRA_BIT(7)  /* in a directory entry: maps a large page */
#define X86_PTE_PAT4K UMBRA_BIT(7)  /* in a 4 KiB leaf: PAT index bit */
#define X86_PTE_G     UMBRA_BIT(8)
#define X86_PTE_PAT_LARGE UMBRA_BIT(12) /* in a 2/4 MiB or 1 GiB leaf */
#define X86_PTE_NX    UMBRA_BIT(63)
#define X86_PTE_PK_SHIFT 59
#define X86_PTE_PK_MASK  UMBRA_BITS(62, 59)

/* Frame address fields of a 64-bit entry (PAE and long mode); the walker
 * narrows them to MAXPHYADDR through its reserved-bit masks. */
#define X86_PTE_ADDR_4K  UMBRA_BITS(51, 12)
#define X86_PTE_ADDR_2M  UMBRA_BITS(51, 21)
#define X86_PTE_ADDR_1G  UMBRA_BITS(51, 30)
/* 32-bit paging: 4 KiB frame field, and the 4 MiB page fields (PSE-36). */
#define X86_PTE32_ADDR_4K  0xFFFFF000ull
#define X86_PTE32_ADDR_4M  0xFFC00000ull
#define X86_PTE32_PSE36_SHIFT 13          /* PDE bits 20:13 -> address 39:32 */
#define X86_PTE32_PSE36_MASK UMBRA_BITS(20, 13)
#define X86_PTE32_4M_RSVD_BIT UMBRA_BIT(21)

/* ---- #PF error code ------------------------------------------------------ */
#define X86_PFEC_P    UMBRA_BIT(0)
#define X86_PFEC_W    UMBRA_BIT(1)
#define X86_PFEC_U    UMBRA_BIT(2)
#define X86_PFEC_RSVD UMBRA_BIT(3)
#define X86_PFEC_ID   UMBRA_BIT(4)
#define X86_PFEC_PK   UMBRA_BIT(5)

/* ---- exception vectors ------------------------------------------------- */
#define X86_VEC_UD 6
#define X86_VEC_SS 12
#define X86_VEC_GP 13
#define X86_VEC_PF 14

/* ---- page sizes ---------------------------------------------------------- */
#define X86_PAGE_SHIFT_4K 12
#define X86_PAGE_SHIFT_2M 21
#define X86_PAGE_SHIFT_4M 22
#define X86_PAGE_SHIFT_1G 30
#define X86_PAGE_SIZE_4K  (1ull << X86_PAGE_SHIFT_4K)

/* PKRU: two bits per key, access-disable then write-disable. */
#define X86_PKRU_AD(key) (1u << (2 * (key)))
#define X86_PKRU_WD(key) (2u << (2 * (key)))

#endif
