/*
 * The x86 instruction emulator: runs one decoded guest instruction against
 * the guest's registers and, through callbacks, its memory, ports and
 * control registers.
 *
 * What it emulates is what a shadow-paging hypervisor meets at exits:
 *   - writes to monitored page tables and accesses to MMIO/handled pages:
 *     MOV (8-64 bit, register, immediate, moffs), MOVZX/MOVSX/MOVSXD,
 *     MOVNTI, STOS/MOVS/LODS (REP, DF, chunked), XCHG, XADD, CMPXCHG,
 *     CMPXCHG8B/16B, ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC/DEC/NOT/NEG
 *     (LOCKed or not), BT/BTS/BTR/BTC (register and immediate offsets);
 *   - intercepted system instructions: MOV to/from CR0/CR2/CR3/CR4/CR8
 *     (and AMD's LOCK MOV CR0 for CR8), CLTS, LMSW, SMSW, INVLPG, INVPCID;
 *   - I/O: IN/OUT and INS/OUTS with REP, in the guest's own address size;
 *   - LEA, NOP, PAUSE (they only move RIP).
 * Everything else is refused with X86_EMU_UNSUPPORTED and a message naming
 * the instruction's bytes and RIP: never skipped silently.
 *
 * Flags are computed as the hardware computes them: every flag the
 * manuals define exactly; of the ones they leave undefined, AF is cleared
 * by AND/OR/XOR/TEST and BT* change only CF (what Intel and AMD CPUs, and
 * QEMU, do).  tests/decode/test_emulate_flags.c checks this against the
 * host CPU.
 *
 * Freestanding C11 like the decoder; no allocation, no global state.
 *
 * Use at an exit (e.g. UMBRA_PF_EMULATE_WRITE, a CR or INVLPG intercept,
 * string I/O), with regs filled from the VMCB (segment attributes are the
 * VMCB's own packed format, CPL from its CPL field) and the guest's own
 * control registers:
 *
 *     struct x86_insn insn;
 *     struct x86_emu_ctx ctx = { .opaque = vcpu, .rep_page_chunks = true };
 *     int rc = x86_fetch_decode(&regs, &ops, &ctx, &insn);
 *     if (rc == X86_EMU_DONE)
 *             rc = x86_emulate(&insn, &regs, &ops, &ctx);
 *     switch (rc) {
 *     case X86_EMU_DONE:        // RIP advanced: copy regs back, resume
 *     case X86_EMU_REP_PARTIAL: // RIP unchanged: resume, the guest
 *             break;            //   re-executes the rest natively
 *     case X86_EMU_FAULT:       // inject ctx.fault (CR2 for #PF)
 *             break;
 *     case X86_EMU_UNSUPPORTED: // stop the guest, log ctx.message
 *             break;
 *     }
 *
 * With rep_page_chunks a REP STOS/MOVS that faulted on one monitored page
 * is emulated up to the end of that page only; the rest runs natively.
 * A write callback that learns the page stopped being monitored sets
 * ctx->rep_stop, and the rest runs natively from the next iteration.
 */
#ifndef UMBRA_HV_EMULATE_H
#define UMBRA_HV_EMULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

/* ---- guest registers ------------------------------------------------------- */

/* RFLAGS bits. */
#define X86_FLAG_CF   0x0001u
#define X86_FLAG_PF   0x0004u
#define X86_FLAG_AF   0x0010u
#define X86_FLAG_ZF   0x0040u
#define X86_FLAG_SF   0x0080u
#define X86_FLAG_TF   0x0100u
#define X86_FLAG_IF   0x0200u
#define X86_FLAG_DF   0x0400u
#define X86_FLAG_OF   0x0800u
#define X86_FLAG_RF   0x10000u
#define X86_FLAG_VM   0x20000u
#define X86_FLAG_AC   0x40000u
/* The six arithmetic flags. */
#define X86_FLAGS_ARITH (X86_FLAG_CF | X86_FLAG_PF | X86_FLAG_AF | \
			 X86_FLAG_ZF | X86_FLAG_SF | X86_FLAG_OF)

/* Control register bits the emulator itself checks. */
#define X86_EMU_CR0_PE 0x00000001ull
#define X86_EMU_CR0_TS 0x00000008ull
#define X86_EMU_CR0_AM 0x00040000ull
#define X86_EMU_CR0_NW 0x20000000ull
#define X86_EMU_CR0_CD 0x40000000ull
#define X86_EMU_CR0_PG 0x80000000ull
#define X86_EMU_CR4_PAE   0x00000020ull
#define X86_EMU_CR4_LA57  0x00001000ull
#define X86_EMU_CR4_UMIP  0x00000800ull
#define X86_EMU_CR4_PCIDE 0x00020000ull
#define X86_EMU_EFER_LME  0x00000100ull
#define X86_EMU_EFER_LMA  0x00000400ull

/*
 * Segment attributes in the VMCB's packed form (AMD APM vol. 2, 15.5.1):
 * descriptor bits 40-47 in attr bits 0-7 and bits 52-55 in attr 8-11.
 */
#define X86_SEG_TYPE   0x000Fu /* with S: bit 3 code, bit 1 W (data) / R (code),
				  bit 2 E (expand-down data) */
#define X86_SEG_S      0x0010u /* code or data (not system) */
#define X86_SEG_DPL    0x0060u
#define X86_SEG_P      0x0080u
#define X86_SEG_AVL    0x0100u
#define X86_SEG_L      0x0200u
#define X86_SEG_DB     0x0400u
#define X86_SEG_G      0x0800u

struct x86_segment {
	uint16_t selector;
	uint16_t attr;     /* X86_SEG_*; 0 (P clear) marks an unusable segment */
	uint32_t limit;    /* in bytes, granularity applied */
	uint64_t base;
};

/* The guest's registers as the guest sees them (not the shadow values). */
struct x86_regs {
	uint64_t gpr[16];  /* enum x86_gpr */
	uint64_t rip;
	uint64_t rflags;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	struct x86_segment seg[6]; /* enum x86_sreg */
	uint8_t cpl;
};

/*
 * The code size the guest runs in: 64 in 64-bit mode (EFER.LMA and CS.L),
 * 16 in real mode, virtual-8086 mode or a 16-bit code segment, else 32.
 */
enum x86_cpu_mode x86_regs_mode(const struct x86_regs *regs);

/* ---- results and callbacks ----------------------------------------------------- */

enum x86_emu_result {
	/* The instruction completed: registers, flags and RIP updated. */
	X86_EMU_DONE = 0,
	/* An exception for the guest: inject ctx->fault.  The registers are
	 * as the CPU leaves them at the fault (RIP at the instruction; for
	 * REP string instructions the completed iterations are kept). */
	X86_EMU_FAULT,
	/* Not emulated: ctx->message says what and where.  Nothing changed
	 * (for REP string instructions: completed chunks are kept). */
	X86_EMU_UNSUPPORTED,
	/* A REP string instruction stopped after ctx->rep_limit iterations,
	 * at a page boundary (ctx->rep_page_chunks), or because a callback
	 * set ctx->rep_stop, with iterations left: rCX, rSI, rDI are
	 * updated, RIP still points at the instruction.  Call x86_emulate()
	 * again, or let the guest re-execute it. */
	X86_EMU_REP_PARTIAL,
};

/* An exception to inject. */
struct x86_fault {
	uint8_t vector;        /* X86_EMU_VEC_* */
	bool has_error_code;
	uint32_t error_code;
	uint64_t cr2;          /* #PF: the faulting linear address */
};

#define X86_EMU_VEC_DE 0
#define X86_EMU_VEC_UD 6
#define X86_EMU_VEC_SS 12
#define X86_EMU_VEC_GP 13
#define X86_EMU_VEC_PF 14
#define X86_EMU_VEC_AC 17

/*
 * What the hypervisor provides.  Every callback returns X86_EMU_DONE on
 * success, X86_EMU_FAULT after filling *fault (e.g. the #PF the guest's
 * own page tables raise for the access, with its error code and CR2), or
 * X86_EMU_UNSUPPORTED (e.g. MMIO it cannot complete); the emulator stops
 * and returns the same.  `opaque` is ctx->opaque.
 *
 * Memory accesses are at guest-linear addresses (segment base added,
 * segment limits and canonical form already checked), 1-16 bytes, and may
 * cross a page boundary: the callback translates each page.  A write must
 * reach guest memory through umbra_emulated_write() whenever the frame
 * may hold a shadowed page table.
 */
struct x86_emu_ops {
	int (*read)(void *opaque, uint64_t la, void *buf, unsigned size,
		    struct x86_fault *fault);
	int (*write)(void *opaque, uint64_t la, const void *buf, unsigned size,
		     struct x86_fault *fault);
	/*
	 * Atomically compare the `size` bytes at `la` with *expected and, if
	 * equal, replace them with *desired; in either case store the bytes
	 * found in *expected and set *swapped.  The access is a write (the
	 * CPU checks write permission even when the comparison fails).  May
	 * be NULL: then a read and a write are used (enough for one vCPU).
	 */
	int (*cmpxchg)(void *opaque, uint64_t la, void *expected,
		       const void *desired, unsigned size, bool *swapped,
		       struct x86_fault *fault);
	/* Instruction fetches for x86_fetch_decode (NULL: read is used). */
	int (*fetch)(void *opaque, uint64_t la, void *buf, unsigned size,
		     struct x86_fault *fault);
	/* Port I/O of 1, 2 or 4 bytes (the value in the low bytes). */
	int (*io_in)(void *opaque, uint16_t port, unsigned size,
		     uint32_t *value);
	int (*io_out)(void *opaque, uint16_t port, unsigned size,
		      uint32_t value);
	/*
	 * A guest write of CR0, CR3, CR4 or CR8 (MOV, LMSW, CLTS) that passed
	 * the architecture's fixed checks (see x86_emulate).  The callback
	 * checks what depends on the virtual CPU (reserved CR4 bits, CR3
	 * bits above MAXPHYADDR), tells the shadow engine (umbra_set_paging,
	 * which may refuse a PAE CR3 with #GP) and may adjust *value (bits
	 * that read as fixed); the emulator then stores *value in regs
	 * (for CR3 under CR4.PCIDE without bit 63, the no-flush hint the
	 * callback sees).  Setting EFER.LMA when CR0.PG turns on with
	 * EFER.LME is the callback's work too.
	 */
	int (*write_cr)(void *opaque, unsigned cr, uint64_t *value,
			struct x86_fault *fault);
	/* INVLPG of a linear address (umbra_invlpg). */
	void (*invlpg)(void *opaque, uint64_t la);
	/* INVPCID that passed its checks: type X86_EMU_INVPCID_* and, for
	 * the individual-address type, the linear address. */
	void (*invpcid)(void *opaque, unsigned type, uint64_t la);
};

/* INVPCID types (SDM vol. 2, INVPCID). */
#define X86_EMU_INVPCID_ADDRESS     0 /* one address of one PCID */
#define X86_EMU_INVPCID_SINGLE      1 /* one PCID, globals kept */
#define X86_EMU_INVPCID_ALL_GLOBAL  2 /* every PCID, globals too */
#define X86_EMU_INVPCID_ALL         3 /* every PCID, globals kept */

/* Per-call settings and results. */
struct x86_emu_ctx {
	/* In. */
	void *opaque;          /* passed to every callback */
	/* REP string instructions: at most this many iterations per call
	 * (0: no limit) ... */
	uint64_t rep_limit;
	/* ... and, when set, stop before an iteration whose memory operands
	 * lie in another 4 KiB page than the first iteration's. */
	bool rep_page_chunks;
	/* Set by a callback during x86_emulate() (cleared on entry): end a
	 * REP string instruction after the current iteration, e.g. because
	 * the page it writes no longer needs emulation and the guest can
	 * finish the rest natively.  Other instructions ignore it. */
	bool rep_stop;
	/* Out. */
	struct x86_fault fault;    /* X86_EMU_FAULT */
	uint64_t rep_done;         /* iterations completed in this call */
	char message[160];         /* X86_EMU_UNSUPPORTED (and FAULT: why) */
};

/*
 * Emulate `insn`, decoded at regs->rip in x86_regs_mode(regs).  Checks,
 * as the CPU would: LOCK validity (#UD), CPL 0 for system instructions
 * (#GP), segment limits, types and canonical addresses (#GP/#SS), #AC for
 * misaligned data under CR0.AM + RFLAGS.AC at CPL 3, CMPXCHG16B alignment
 * (#GP), and for CR writes: reserved CR0 bits 63-32, PG without PE, NW
 * without CD, clearing PG in 64-bit mode, setting PG with EFER.LME and
 * without CR4.PAE, clearing CR4.PAE in long mode, CR8 bits 63-4 (#GP).
 * IOPL and the TSS I/O bitmap are not checked (the CPU checks them before
 * the IOIO intercept).  RFLAGS.TF is not acted on: after X86_EMU_DONE the
 * caller injects the single-step #DB if TF was set.
 */
enum x86_emu_result x86_emulate(const struct x86_insn *insn,
				struct x86_regs *regs,
				const struct x86_emu_ops *ops,
				struct x86_emu_ctx *ctx);

/*
 * Fetch the instruction at CS:RIP through ops->fetch (or ops->read) and
 * decode it in x86_regs_mode(regs).  The bytes are read up to the end of
 * RIP's page first, the next page only when the instruction continues
 * there (so a fault on the next page is raised only when the CPU would
 * raise it).  X86_EMU_DONE with *insn filled, X86_EMU_FAULT (#PF, #GP for
 * a limit or canonical violation, #UD for an invalid encoding, #GP for one
 * longer than 15 bytes), or X86_EMU_UNSUPPORTED.
 */
enum x86_emu_result x86_fetch_decode(const struct x86_regs *regs,
				     const struct x86_emu_ops *ops,
				     struct x86_emu_ctx *ctx,
				     struct x86_insn *insn);

/* A readable name of a result. */
const char *x86_emu_result_name(enum x86_emu_result r);

#endif
