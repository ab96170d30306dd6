/*
 * The Virtual Machine Control Block (AMD APM vol. 2, appendix B): one 4 KiB
 * page, a control area (what to intercept, what happened at the last
 * #VMEXIT, what to inject) and a state save area (the guest's registers,
 * loaded by VMRUN and VMLOAD, stored by #VMEXIT and VMSAVE).
 *
 * Offsets are checked at compile time against the manual's table B-1 and
 * B-2.  Only the fields Umbra uses have names; the rest are padding.
 */
#ifndef HV_VMCB_H
#define HV_VMCB_H

#include <stddef.h>
#include <stdint.h>

#include "umbra/x86.h"

/* A segment register as the VMCB stores it.  attrib packs descriptor bits
 * 40-47 (type, S, DPL, P) into bits 0-7 and bits 52-55 (AVL, L, D/B, G)
 * into bits 8-11. */
struct vmcb_seg {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
};

#define SEG_ATTR_TYPE_MASK 0x00F
#define SEG_ATTR_S         0x010 /* code/data (not system) */
#define SEG_ATTR_DPL_SHIFT 5
#define SEG_ATTR_DPL_MASK  0x060
#define SEG_ATTR_P         0x080
#define SEG_ATTR_L         0x200 /* 64-bit code */
#define SEG_ATTR_DB        0x400 /* 32-bit default size */
#define SEG_ATTR_G         0x800

struct vmcb {
	/* ---- control area ---- */
	uint32_t intercept_cr;        /* 0x000: reads 0-15, writes 16-31 */
	uint32_t intercept_dr;        /* 0x004 */
	uint32_t intercept_exceptions; /* 0x008: one bit per vector */
	uint32_t intercept_misc1;     /* 0x00C: INTERCEPT1_* */
	uint32_t intercept_misc2;     /* 0x010: INTERCEPT2_* */
	uint32_t intercept_misc3;     /* 0x014 */
	uint8_t reserved_018[0x03C - 0x018];
	uint16_t pause_filter_threshold; /* 0x03C */
	uint16_t pause_filter_count;  /* 0x03E */
	uint64_t iopm_base_pa;        /* 0x040 */
	uint64_t msrpm_base_pa;       /* 0x048 */
	uint64_t tsc_offset;          /* 0x050 */
	uint32_t guest_asid;          /* 0x058 */
	uint8_t tlb_control;          /* 0x05C: TLB_CONTROL_* */
	uint8_t reserved_05d[3];
	uint64_t vintr;               /* 0x060: V_TPR, V_IRQ, V_INTR_MASKING... */
	uint64_t interrupt_shadow;    /* 0x068: bit 0: after STI/MOV SS */
	uint64_t exit_code;           /* 0x070 */
	uint64_t exit_info1;          /* 0x078 */
	uint64_t exit_info2;          /* 0x080 */
	uint64_t exit_int_info;       /* 0x088: event being delivered */
	uint64_t np_enable;           /* 0x090: nested paging (never set) */
	uint64_t avic_apic_bar;       /* 0x098 */
	uint64_t ghcb_pa;             /* 0x0A0 */
	uint64_t event_inj;           /* 0x0A8: EVENT_* */
	uint64_t n_cr3;               /* 0x0B0 */
	uint64_t lbr_virt_enable;     /* 0x0B8 */
	uint64_t vmcb_clean;          /* 0x0C0 */
	uint64_t next_rip;            /* 0x0C8: not written by QEMU */
	uint8_t insn_len;             /* 0x0D0: decode assists (not on QEMU) */
	uint8_t insn_bytes[15];       /* 0x0D1 */
	uint8_t reserved_0e0[0x400 - 0x0E0];

	/* ---- state save area ---- */
	struct vmcb_seg es, cs, ss, ds, fs, gs; /* 0x400 .. 0x45F */
	struct vmcb_seg gdtr, ldtr, idtr, tr;   /* 0x460 .. 0x49F */
	uint8_t reserved_4a0[0x4CB - 0x4A0];
	uint8_t cpl;                  /* 0x4CB */
	uint32_t reserved_4cc;
	uint64_t efer;                /* 0x4D0 */
	uint8_t reserved_4d8[0x548 - 0x4D8];
	uint64_t cr4;                 /* 0x548 */
	uint64_t cr3;                 /* 0x550 */
	uint64_t cr0;                 /* 0x558 */
	uint64_t dr7;                 /* 0x560 */
	uint64_t dr6;                 /* 0x568 */
	uint64_t rflags;              /* 0x570 */
	uint64_t rip;                 /* 0x578 */
	uint8_t reserved_580[0x5D8 - 0x580];
	uint64_t rsp;                 /* 0x5D8 */
	uint64_t s_cet, ssp, isst_addr; /* 0x5E0 */
	uint64_t rax;                 /* 0x5F8 */
	uint64_t star, lstar, cstar, sfmask; /* 0x600 */
	uint64_t kernel_gs_base;      /* 0x620 */
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip; /* 0x628 */
	uint64_t cr2;                 /* 0x640 */
	uint8_t reserved_648[0x668 - 0x648];
	uint64_t g_pat;               /* 0x668: nested paging only */
	uint64_t dbgctl;              /* 0x670 */
	uint64_t br_from, br_to;      /* 0x678 */
	uint64_t last_excp_from, last_excp_to; /* 0x688 */
	uint8_t reserved_698[0x1000 - 0x698];
} __attribute__((packed, aligned(4096)));

#define VMCB_OFFSET_CHECK(field, off) \
	_Static_assert(offsetof(struct vmcb, field) == (off), \
		       "VMCB field " #field " at the wrong offset")
VMCB_OFFSET_CHECK(iopm_base_pa, 0x040);
VMCB_OFFSET_CHECK(guest_asid, 0x058);
VMCB_OFFSET_CHECK(tlb_control, 0x05C);
VMCB_OFFSET_CHECK(exit_code, 0x070);
VMCB_OFFSET_CHECK(exit_int_info, 0x088);
VMCB_OFFSET_CHECK(event_inj, 0x0A8);
VMCB_OFFSET_CHECK(next_rip, 0x0C8);
VMCB_OFFSET_CHECK(es, 0x400);
VMCB_OFFSET_CHECK(tr, 0x490);
VMCB_OFFSET_CHECK(cpl, 0x4CB);
VMCB_OFFSET_CHECK(efer, 0x4D0);
VMCB_OFFSET_CHECK(cr4, 0x548);
VMCB_OFFSET_CHECK(rip, 0x578);
VMCB_OFFSET_CHECK(rsp, 0x5D8);
VMCB_OFFSET_CHECK(rax, 0x5F8);
VMCB_OFFSET_CHECK(kernel_gs_base, 0x620);
VMCB_OFFSET_CHECK(cr2, 0x640);
VMCB_OFFSET_CHECK(g_pat, 0x668);
_Static_assert(sizeof(struct vmcb) == 4096, "the VMCB is one page");

/* ---- intercepts ---- */
#define INTERCEPT_CR_READ(n)  (1u << (n))
#define INTERCEPT_CR_WRITE(n) (1u << (16 + (n)))
#define INTERCEPT_EXC(vec)    (1u << (vec))

/* Vector 3 (offset 0x00C). */
#define INTERCEPT1_INTR       (1u << 0)
#define INTERCEPT1_NMI        (1u << 1)
#define INTERCEPT1_SMI        (1u << 2)
#define INTERCEPT1_INIT       (1u << 3)
#define INTERCEPT1_VINTR      (1u << 4)
#define INTERCEPT1_CR0_SEL    (1u << 5)
#define INTERCEPT1_RDTSC      (1u << 14)
#define INTERCEPT1_CPUID      (1u << 18)
#define INTERCEPT1_RSM        (1u << 19)
#define INTERCEPT1_INVD       (1u << 22)
#define INTERCEPT1_HLT        (1u << 24)
#define INTERCEPT1_INVLPG     (1u << 25)
#define INTERCEPT1_INVLPGA    (1u << 26)
#define INTERCEPT1_IOIO_PROT  (1u << 27)
#define INTERCEPT1_MSR_PROT   (1u << 28)
#define INTERCEPT1_TASK_SWITCH (1u << 29)
#define INTERCEPT1_FERR_FREEZE (1u << 30)
#define INTERCEPT1_SHUTDOWN   (1u << 31)
/* Vector 4 (offset 0x010). */
#define INTERCEPT2_VMRUN      (1u << 0) /* must be set, or VMRUN fails */
#define INTERCEPT2_VMMCALL    (1u << 1)
#define INTERCEPT2_VMLOAD     (1u << 2)
#define INTERCEPT2_VMSAVE     (1u << 3)
#define INTERCEPT2_STGI       (1u << 4)
#define INTERCEPT2_CLGI       (1u << 5)
#define INTERCEPT2_SKINIT     (1u << 6)
#define INTERCEPT2_RDTSCP     (1u << 7)
#define INTERCEPT2_ICEBP      (1u << 8)
#define INTERCEPT2_WBINVD     (1u << 9)
#define INTERCEPT2_MONITOR    (1u << 10)
#define INTERCEPT2_MWAIT      (1u << 11)
#define INTERCEPT2_XSETBV     (1u << 13)

/* Vector 5 (offset 0x014). */
#define INTERCEPT3_INVPCID    (1u << 2)

/* ---- TLB control ---- */
#define TLB_CONTROL_NOTHING   0
#define TLB_CONTROL_FLUSH_ALL 1 /* every ASID; the only one QEMU honours */

/* ---- event injection and EXITINTINFO (same format) ---- */
#define EVENT_VECTOR_MASK   0xFFull
#define EVENT_TYPE_SHIFT    8
#define EVENT_TYPE_MASK     (7ull << EVENT_TYPE_SHIFT)
#define EVENT_TYPE_INTR     (0ull << EVENT_TYPE_SHIFT)
#define EVENT_TYPE_NMI      (2ull << EVENT_TYPE_SHIFT)
#define EVENT_TYPE_EXCEPTION (3ull << EVENT_TYPE_SHIFT)
#define EVENT_TYPE_SOFT_INT (4ull << EVENT_TYPE_SHIFT)
#define EVENT_ERROR_VALID   (1ull << 11)
#define EVENT_VALID         (1ull << 31)
#define EVENT_ERROR_SHIFT   32

/* ---- IOIO exit information (EXITINFO1) ---- */
#define IOIO_IN             (1u << 0) /* direction: 1 = IN */
#define IOIO_STRING         (1u << 2)
#define IOIO_REP            (1u << 3)
#define IOIO_SIZE8          (1u << 4)
#define IOIO_SIZE16         (1u << 5)
#define IOIO_SIZE32         (1u << 6)
#define IOIO_PORT_SHIFT     16

/* MSR exits: EXITINFO1 says which. */
#define MSR_EXIT_READ  0
#define MSR_EXIT_WRITE 1

/* ---- permission maps ---- */
#define IOPM_SIZE   (3 * 4096) /* one bit per port, plus spill-over */
#define MSRPM_SIZE  (2 * 4096) /* two bits (read, write) per MSR */

#endif
