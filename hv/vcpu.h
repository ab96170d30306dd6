/*
 * The one virtual CPU: its VMCB, the guest's registers and its own view of
 * the paging registers, the engine instance that shadows its page tables,
 * and the run loop.
 *
 * Register ownership while Umbra handles an exit:
 *   - gpr[] holds all 16 general-purpose registers (RAX and RSP copied out
 *     of the VMCB at #VMEXIT and back before VMRUN);
 *   - RIP, RFLAGS, segments, CPL, CR2, DR6/DR7 stay in the VMCB;
 *   - `cr` holds the CR0, CR3, CR4, EFER and PKRU the guest believes it
 *     has; the VMCB holds the shadow values the engine derives from them
 *     (umbra_get_shadow_regs), which are what the CPU really uses.
 */
#ifndef HV_VCPU_H
#define HV_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "debug_exit.h"
#include "decode.h"
#include "exits.h"
#include "guestmem.h"
#include "umbra/mmu.h"
#include "vmcb.h"

struct loader_cpu_state;

/* The exit being handled, as it was reported (for panics and reports). */
struct exit_record {
	uint64_t code, info1, info2, int_info, rip;
	uint64_t number; /* exits so far, this one included */
};

struct vcpu {
	struct vmcb *vmcb;
	uint64_t vmcb_pa;
	uint64_t host_vmcb_pa;          /* VMSAVE/VMLOAD area for the host */
	uint64_t gpr[16];               /* enum x86_gpr order */
	struct umbra_paging_regs cr;    /* the guest's own */
	struct umbra_mmu *mmu;
	struct guest_memory *mem;
	struct exit_record last;
	struct exit_stats stats;
	uint64_t audit_every;
	bool host_pke;                  /* RDPKRU usable in the host */
	bool hlt_passthrough;           /* HLT runs natively for one VMRUN,
					 * INTR intercepted (exit_hlt) */
	uint64_t hlt_rip;               /* the HLT that exit took */
	uint8_t maxphyaddr;
};

/* Set up the VMCB for a guest entering in the state the loader chose. */
void vcpu_init(struct vcpu *v, struct guest_memory *mem, struct umbra_mmu *mmu,
	       const struct loader_cpu_state *s);
/* Run until the guest ends the run (never returns). */
__attribute__((noreturn)) void vcpu_run(struct vcpu *v);

/* ---- helpers for exit handlers -------------------------------------------- */

/* The CPU mode of the guest's code segment: 16, 32 or 64 (enum
 * x86_cpu_mode). */
unsigned vcpu_code_mode(const struct vcpu *v);
/* Whether the guest is in long mode with a 64-bit code segment. */
static inline bool vcpu_64bit(const struct vcpu *v)
{
	return vcpu_code_mode(v) == 64;
}

/* Fetch and decode the instruction at the guest's RIP.  On failure, end
 * the run with a report (an exit for an instruction Umbra cannot read). */
void vcpu_decode_at_rip(struct vcpu *v, struct x86_insn *insn);
/* Move RIP past an instruction of `len` bytes (and clear the interrupt
 * shadow, as completing an instruction does). */
void vcpu_skip(struct vcpu *v, unsigned len);
/* Decode the instruction at RIP only to skip it. */
void vcpu_skip_insn(struct vcpu *v);

/*
 * Deliver an exception to the guest at the next VMRUN, combined with an
 * event whose delivery the exit interrupted (EXITINTINFO) as the CPU would
 * combine them: #PF during #PF delivery, or a contributory fault during a
 * contributory or #PF delivery, becomes #DF; a fault during #DF delivery is
 * a triple fault (the run ends with UMBRA_EXIT_SHUTDOWN).
 */
void vcpu_inject_exception(struct vcpu *v, uint8_t vector, bool has_error,
			   uint32_t error_code);
#define VEC_DE 0
#define VEC_UD 6
#define VEC_DF 8
#define VEC_GP 13
#define VEC_PF 14
static inline void vcpu_inject_gp0(struct vcpu *v)
{
	vcpu_inject_exception(v, VEC_GP, true, 0);
}
static inline void vcpu_inject_ud(struct vcpu *v)
{
	vcpu_inject_exception(v, VEC_UD, false, 0);
}

/*
 * The guest wrote paging registers: `next` is the full new set, `wrote`
 * says which (UMBRA_WROTE_*).  Hands them to the engine and loads the
 * shadow registers into the VMCB.  Returns false when the write must
 * raise #GP (nothing changed); vcpu_set_paging also injects it.  Any
 * other engine failure ends the run.
 */
bool vcpu_try_set_paging(struct vcpu *v, const struct umbra_paging_regs *next,
			 unsigned wrote);
bool vcpu_set_paging(struct vcpu *v, const struct umbra_paging_regs *next,
		     unsigned wrote);
/* Reload the VMCB's CR0/CR3/CR4/EFER from the engine. */
void vcpu_load_shadow_regs(struct vcpu *v);

/*
 * Read guest-virtual memory as the guest's access `kind` at its current CPL
 * would, through the guest's own tables (no A/D updates).  Returns the
 * number of bytes read: fewer than len when a page is not mapped or not
 * RAM (*res then tells why).
 */
unsigned vcpu_read_virt(struct vcpu *v, uint64_t va, void *buf, unsigned len,
			enum umbra_access_kind kind,
			struct umbra_walk_result *res);

/* End the run: print the reason, the guest state and the statistics, and
 * exit with `code` (debug_exit.h). */
__attribute__((noreturn, format(printf, 3, 4)))
void vcpu_fatal(struct vcpu *v, uint8_t code, const char *fmt, ...);
/* The guest asked to end (isa-debug-exit): statistics, then exit. */
__attribute__((noreturn)) void vcpu_guest_exit(struct vcpu *v, uint8_t code);

/* Print the guest's registers and the last exit (panics use this too). */
void vcpu_print_state(struct vcpu *v);
/* Print exit and engine statistics in the configured formats. */
void vcpu_print_stats(struct vcpu *v);
/* Run the engine's audit; log the first VCPU_AUDIT_SHOWN violations and
 * return how many there are. */
#define VCPU_AUDIT_SHOWN 4u
uint32_t vcpu_audit(struct vcpu *v);

#endif
