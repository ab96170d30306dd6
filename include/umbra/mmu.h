/*
 * The shadow paging engine: what a hypervisor calls on every paging event.
 *
 * The guest believes it owns the MMU.  Its page tables stay in its memory;
 * the CPU walks shadow tables that this engine builds from them on demand
 * (on #PF exits), keeps coherent by write-protecting every guest frame that
 * holds a shadowed table, and caches across CR3 switches in a bounded pool.
 *
 * One struct umbra_mmu serves one guest with one vCPU.  It holds no global
 * state; everything it needs from the outside comes through struct
 * umbra_env.  The embedder serialises calls into one umbra_mmu.
 */
#ifndef UMBRA_MMU_H
#define UMBRA_MMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umbra/walk.h"
/* struct umbra_range_node, embedded in struct umbra_handler.  (Its natural
 * home is include/umbra/: the engine and embedders share the type.) */
#include "umbra/rangetree.h"

/* ---- the environment the embedder provides -------------------------------- */

struct umbra_env {
	void *ctx;
	/* Host-physical memory through the embedder's direct map; NULL when
	 * the address is not host memory. */
	void *(*hpa_to_ptr)(void *ctx, uint64_t hpa);
	/* Memory for the engine's own bookkeeping (descriptors, hash, extents,
	 * dirty-log bitmaps); called only from umbra_mmu_create(), slot
	 * registration and umbra_dirty_log_start(). */
	void *(*alloc_meta)(void *ctx, size_t size);
	void (*free_meta)(void *ctx, void *ptr, size_t size);
	/* Shadow translations that may be cached in the hardware TLB are gone:
	 * one guest-virtual address, or everything. */
	void (*flush_tlb_va)(void *ctx, uint64_t va);
	void (*flush_tlb_all)(void *ctx);
	/* A monotonic tick count for the statistics' time accumulators (e.g.
	 * the TSC); may be NULL, and then times read as zero. */
	uint64_t (*now)(void *ctx);
};

/* The sizes the embedder chooses. */
struct umbra_config {
	/* The shadow page pool: pool_pages contiguous 4 KiB host pages at
	 * pool_hpa.  With 32-bit, PAE or paging-off guests the shadow runs in
	 * PAE mode, whose root must lie below 4 GiB: keep the pool there. */
	uint64_t pool_hpa;
	uint32_t pool_pages;
	/* Extents for reverse-map and parent lists beyond the inline case: at
	 * least UMBRA_MIN_REF_EXTENTS (one shadow page's worth, so a fault can
	 * always complete after evicting everything else); pool_pages * 64
	 * covers guests that share frames heavily without evicting. */
	uint32_t ref_extents;
	struct umbra_cpu_caps caps; /* what the guest's virtual CPU offers */
};

/* ---- guest memory --------------------------------------------------------- */

enum umbra_slot_type {
	UMBRA_SLOT_RAM,  /* readable and writable */
	UMBRA_SLOT_ROM,  /* mapped read-only; writes go to the embedder */
	UMBRA_SLOT_MMIO, /* never mapped; every access goes to the embedder */
};

#define UMBRA_MAX_SLOTS 16
/* Every entry of one shadow page may need its own extent, plus the parent
 * links of the pages a fault pins. */
#define UMBRA_MIN_REF_EXTENTS (512u + 64u)

/* ---- results ----------------------------------------------------------------- */

enum umbra_status {
	UMBRA_OK,
	UMBRA_ERR_NOMEM,    /* alloc_meta failed */
	UMBRA_ERR_INVALID,  /* a malformed argument; the message says which */
	UMBRA_ERR_GP,       /* the register write raises #GP in the guest */
	UMBRA_ERR_NOT_RAM,  /* an address is not guest RAM */
	UMBRA_ERR_POOL,     /* the pool cannot hold even one walk's pages */
	UMBRA_ERR_FULL,     /* a fixed-size table is full */
	UMBRA_ERR_NOT_FOUND,
};

/* What the embedder does after a #PF exit. */
enum umbra_pf_action {
	/* The shadow now allows the access: re-run the instruction. */
	UMBRA_PF_FIXED,
	/* The guest's own tables forbid it: inject the exception in `vector`
	 * (#PF with error_code and CR2 = fault_addr). */
	UMBRA_PF_REFLECT,
	/* Emulate the instruction and pass its write to
	 * umbra_emulated_write(): a write to a guest frame that holds a
	 * shadowed page table, or a supervisor write that only the guest's
	 * CR0.WP = 0 allows while SMEP or SMAP is on. */
	UMBRA_PF_EMULATE_WRITE,
	/* The access reaches memory that is not plain RAM (MMIO, unbacked, or
	 * a write to ROM): the embedder emulates the device or discards. */
	UMBRA_PF_MMIO,
	/* An access handler claims the access: `handler` (and `addr`, the
	 * address in the handler's own space: gpa for a physical handler, va
	 * for a virtual one).  The embedder decodes the instruction and calls
	 * umbra_handler_invoke() for its access.  `handler` is NULL when the
	 * access falls in a 4 KiB page a handler claims but outside every
	 * handler's range (or in another address space's alias of such a page):
	 * then the embedder emulates the access plainly, reading guest memory
	 * at `gpa` and passing writes to umbra_emulated_write(). */
	UMBRA_PF_HANDLER,
	/* Engine failure; `message` says why.  The guest cannot go on. */
	UMBRA_PF_ERROR,
};

#define UMBRA_PF_UNBACKED 0xff /* slot_type of an address in no slot */

struct umbra_pf_result {
	uint8_t action;     /* enum umbra_pf_action */
	uint8_t vector;     /* REFLECT: X86_VEC_PF, _GP or _SS */
	uint8_t kind;       /* enum umbra_access_kind of the faulting access */
	uint8_t slot_type;  /* MMIO: enum umbra_slot_type, or UMBRA_PF_UNBACKED */
	uint32_t error_code;
	uint64_t fault_addr;
	uint64_t gpa;       /* the guest-physical address accessed, when known */
	const char *message;
	/* HANDLER: the handler claiming the access (NULL: emulate plainly),
	 * and the address it claims (gpa or va, by the handler's kind). */
	const struct umbra_handler *handler;
	uint64_t addr;
};

/* A #PF exit as the hardware reports it against the shadow tables. */
struct umbra_fault {
	uint64_t va;         /* EXITINFO2 */
	uint32_t error_code; /* EXITINFO1 */
	uint8_t cpl;
	bool ac;             /* guest EFLAGS.AC */
	/* The embedder knows the access was an implicit supervisor access
	 * (e.g. EXITINTINFO shows an event being delivered).  Without it the
	 * engine infers it where it matters (SMAP with EFLAGS.AC set). */
	bool implicit;
};

/* The registers the embedder loads into the hardware (the VMCB) so that the
 * CPU walks the shadow tables. */
struct umbra_shadow_regs {
	uint64_t cr0, cr3, cr4, efer;
};

/* Hints about an emulated write to a monitored page table. */
#define UMBRA_WRITE_REP UMBRA_WRITE_BIT(0) /* part of a REP STOS/MOVS */
#define UMBRA_WRITE_BIT(n) (1u << (n))

struct umbra_mmu;

enum umbra_status umbra_mmu_create(struct umbra_mmu **out,
				   const struct umbra_env *env,
				   const struct umbra_config *cfg);
void umbra_mmu_destroy(struct umbra_mmu *mmu);
/* A human-readable reason for the last UMBRA_ERR_* or UMBRA_PF_ERROR. */
const char *umbra_mmu_last_error(const struct umbra_mmu *mmu);
/* The engine's counters, timers and gauges (umbra/stats.h prints them). */
struct umbra_stats;
const struct umbra_stats *umbra_mmu_stats(const struct umbra_mmu *mmu);
/* Start a measurement window: counters and timers to zero, gauges keep
 * their current values (see umbra_stats_reset). */
void umbra_mmu_stats_reset(struct umbra_mmu *mmu);

/* Guest memory: [gpa, gpa + size) backed by host memory at hpa.  Both
 * 4 KiB aligned; slots never overlap. */
enum umbra_status umbra_slot_add(struct umbra_mmu *mmu, uint64_t gpa,
				 uint64_t size, uint64_t hpa,
				 enum umbra_slot_type type);
enum umbra_status umbra_slot_remove(struct umbra_mmu *mmu, uint64_t gpa);

/* Which paging registers a guest instruction wrote. */
#define UMBRA_WROTE_CR0  UMBRA_WROTE_BIT(0)
#define UMBRA_WROTE_CR3  UMBRA_WROTE_BIT(1)
#define UMBRA_WROTE_CR4  UMBRA_WROTE_BIT(2)
#define UMBRA_WROTE_EFER UMBRA_WROTE_BIT(3)
#define UMBRA_WROTE_PKRU UMBRA_WROTE_BIT(4)
#define UMBRA_WROTE_ALL  (UMBRA_WROTE_BIT(5) - 1)
#define UMBRA_WROTE_BIT(n) (1u << (n))

/*
 * The guest wrote some of CR0, CR3, CR4, EFER or PKRU (`wrote`, UMBRA_WROTE_*;
 * the embedder intercepts them all and passes the full new set).  The engine
 * reloads the PAE PDPTEs exactly when the architecture does, switches to the
 * cached shadow root of the new address space (or starts one), and returns
 * UMBRA_ERR_GP when the write must raise #GP instead (e.g. a PDPTE with
 * reserved bits), leaving the state as it was.
 */
enum umbra_status umbra_set_paging(struct umbra_mmu *mmu,
				   const struct umbra_paging_regs *regs,
				   unsigned wrote);
void umbra_get_shadow_regs(const struct umbra_mmu *mmu,
			   struct umbra_shadow_regs *out);

void umbra_page_fault(struct umbra_mmu *mmu, const struct umbra_fault *f,
		      struct umbra_pf_result *out);

/* Apply a guest write to guest-physical memory that may hold shadowed page
 * tables, and bring every dependent shadow entry up to date. */
enum umbra_status umbra_emulated_write(struct umbra_mmu *mmu, uint64_t gpa,
				       const void *bytes, unsigned len,
				       unsigned flags);

/* Does the frame holding gpa hold a shadowed page table, so that the
 * guest's writes to it exit (UMBRA_PF_EMULATE_WRITE)?  A write can end
 * that: the flood, fork and reuse heuristics unshadow a frame the guest
 * rewrites wholesale (every UMBRA_WRITE_REP write to a table not in use
 * as a root does).  An embedder emulating a REP STOS/MOVS asks before and
 * after each write, and once the frame stopped being monitored lets the
 * guest run the remaining iterations natively. */
bool umbra_frame_monitored(struct umbra_mmu *mmu, uint64_t gpa);

/* INVLPG, and guest TLB flushes (MOV CR3 to the same value, CR4.PGE or
 * PCIDE toggles, INVPCID): global says whether global pages go too.  Both
 * only ask the embedder to flush (the shadow never lags the guest's
 * tables), so an embedder may instead let the guest's INVLPG run on the
 * hardware, which drops the same translation itself. */
void umbra_invlpg(struct umbra_mmu *mmu, uint64_t va);
void umbra_flush_guest_tlb(struct umbra_mmu *mmu, bool global);

/* Guest-virtual to guest-physical through the guest's own tables, as the
 * CPU would for `acc` (without setting A/D bits). */
void umbra_translate(const struct umbra_mmu *mmu,
		     const struct umbra_access *acc,
		     struct umbra_walk_result *res);

/* ---- access handlers --------------------------------------------------------- */

/*
 * An access handler claims the guest's accesses to a range of addresses:
 * physical handlers a range of guest-physical addresses (device registers
 * over RAM or MMIO, write monitoring of RAM or ROM), virtual handlers a
 * range of guest-virtual addresses of one address space or of all of them.
 * ALL handlers claim reads, writes and fetches; WRITE handlers claim writes
 * only and let reads and fetches run at full speed.
 *
 * The shadow works in 4 KiB pages: a page any part of which a handler
 * covers is never mapped (ALL) or mapped read-only (WRITE).  The #PF path
 * returns UMBRA_PF_HANDLER with the handler whose range holds the faulting
 * address, or with NULL for the rest of such a page (emulate plainly).
 * When a virtual and a physical handler both cover an access, the virtual
 * one claims it.
 *
 * Handlers are the caller's memory: zero the structure, set kind, fn and
 * ctx, register it; it stays linked into the engine (do not move or free
 * it) until deregistered.  Registration and removal may happen at any
 * time, also from a handler's callback; shadow entries that would bypass a
 * new handler are invalidated at once.
 */
enum umbra_handler_kind {
	UMBRA_HANDLER_ALL,   /* reads, writes and fetches */
	UMBRA_HANDLER_WRITE, /* writes only */
};

/* The `space` of a virtual handler for every address space. */
#define UMBRA_HANDLER_ALL_SPACES UINT64_MAX

struct umbra_handler;
/*
 * One access of `size` bytes (1..8) at `addr` (gpa or va) of kind `kind`.
 * A write passes the bytes written in *value (little-endian, low `size`
 * bytes); a read or fetch stores the bytes read there (*value is zero on
 * entry).  The access may straddle the range's edges.
 */
typedef void umbra_handler_fn(void *ctx, const struct umbra_handler *h,
			      uint64_t addr, unsigned size,
			      enum umbra_access_kind kind, uint64_t *value);

struct umbra_handler {
	/* Set by the caller before registering; not changed while registered. */
	uint8_t kind;             /* enum umbra_handler_kind */
	umbra_handler_fn *fn;
	void *ctx;
	/* Set by registration; the caller only reads them.  The range is
	 * [node.start, node.last]. */
	struct umbra_range_node node;
	uint64_t space;           /* virtual: see umbra_virt_handler_register */
	uint8_t registered;       /* 0, or which kind of handler: 1 physical,
				     2 virtual */
};

/*
 * [gpa, gpa + size) of guest-physical memory, in RAM, ROM, MMIO or no slot.
 * UMBRA_ERR_INVALID when the range is empty or wraps, the handler is
 * malformed or already registered, or the range overlaps another physical
 * handler's.
 */
enum umbra_status umbra_phys_handler_register(struct umbra_mmu *mmu,
					      struct umbra_handler *h,
					      uint64_t gpa, uint64_t size);
enum umbra_status umbra_phys_handler_deregister(struct umbra_mmu *mmu,
						struct umbra_handler *h);

/*
 * [va, va + size) of the guest-virtual addresses of address space `space`:
 * the guest-physical address of its top-level table, i.e. CR3 with the
 * bits outside X86_CR3_ADDR_32 / _PAE / _LONG (by the guest's mode)
 * cleared; or UMBRA_HANDLER_ALL_SPACES for every address space, also
 * with paging off (where va = gpa).  Long-mode ranges are given in
 * canonical form.  At most UMBRA_MAX_HANDLER_SPACES distinct spaces hold
 * handlers at once (UMBRA_ERR_FULL).  Ranges of handlers that can apply to
 * the same access (same space, or one of them for all spaces) never
 * overlap (UMBRA_ERR_INVALID).
 *
 * A guest page table shared by several address spaces has one shadow
 * table, so a per-space handler also makes the other spaces' accesses to
 * the pages it covers exit (as UMBRA_PF_HANDLER with a NULL handler: plain
 * emulation); the handler itself only ever sees its own space's accesses.
 */
#define UMBRA_MAX_HANDLER_SPACES 16
enum umbra_status umbra_virt_handler_register(struct umbra_mmu *mmu,
					      struct umbra_handler *h,
					      uint64_t space, uint64_t va,
					      uint64_t size);
enum umbra_status umbra_virt_handler_deregister(struct umbra_mmu *mmu,
						struct umbra_handler *h);

/*
 * Run h's callback for one decoded access of the instruction that faulted
 * with UMBRA_PF_HANDLER: [addr, addr + size) must touch h's range, size is
 * 1..8.  For reads and fetches *value is zeroed, then set by the callback;
 * for writes it holds the bytes written.  A handler that wants the write
 * to reach guest RAM as well passes it to umbra_emulated_write() (never a
 * plain store: the frame may hold a shadowed page table, and the dirty log
 * must see the write).
 */
enum umbra_status umbra_handler_invoke(struct umbra_mmu *mmu,
				       const struct umbra_handler *h,
				       uint64_t addr, unsigned size,
				       enum umbra_access_kind kind,
				       uint64_t *value);

/* ---- dirty logging ------------------------------------------------------------ */

/*
 * A bitmap per RAM slot of the frames the guest wrote since the last fetch.
 * While logging, a shadow leaf is writable only once its frame's bit is
 * set: the first write to a clean frame faults, sets the bit and maps the
 * frame writable.  Writes the engine makes for the guest (emulated writes,
 * accessed/dirty bits in guest page tables) set bits too.
 */
/* Start logging the RAM slot that begins at slot_gpa: every frame clean. */
enum umbra_status umbra_dirty_log_start(struct umbra_mmu *mmu,
					uint64_t slot_gpa);
/* Stop logging it; its frames become writable again on their next write. */
enum umbra_status umbra_dirty_log_stop(struct umbra_mmu *mmu,
				       uint64_t slot_gpa);
/*
 * Copy the slot's bitmap to out_bits (bit i of word w: frame w * 64 + i of
 * the slot; `words` must cover every frame, the rest is zeroed) and clear
 * it; the frames that were dirty are write-protected again.
 */
enum umbra_status umbra_dirty_log_fetch(struct umbra_mmu *mmu,
					uint64_t slot_gpa, uint64_t *out_bits,
					size_t words);

/* ---- audit -------------------------------------------------------------------- */

enum umbra_audit_kind {
	UMBRA_AUDIT_FRAME,       /* a leaf maps another frame than the guest */
	UMBRA_AUDIT_PERM,        /* a leaf allows more than the guest */
	UMBRA_AUDIT_NOT_RAM,     /* a leaf maps memory the guest does not own */
	UMBRA_AUDIT_WRITABLE,    /* writable though clean, monitored or ROM */
	UMBRA_AUDIT_GUEST_ENTRY, /* the guest entry is absent or invalid */
	UMBRA_AUDIT_LINK,        /* a non-leaf entry names the wrong child */
	UMBRA_AUDIT_RMAP,        /* reverse map and shadow entries disagree */
	UMBRA_AUDIT_PARENT,      /* parent list and shadow entries disagree */
	UMBRA_AUDIT_MONITOR,     /* a shadowed frame's protection count */
	UMBRA_AUDIT_POOL,        /* pool lists, hash or counts inconsistent */
	UMBRA_AUDIT_HANDLER,     /* a leaf bypasses an access handler or the
				    dirty log, or their bookkeeping is wrong */
};

struct umbra_audit_violation {
	uint8_t kind;      /* enum umbra_audit_kind */
	uint8_t level;     /* of the shadow page */
	uint16_t index;    /* entry index in the shadow page */
	uint32_t sp;       /* shadow page id */
	uint64_t gfn;      /* the shadow page's guest frame */
	uint64_t spte;     /* the shadow entry */
	uint64_t expected; /* what the guest justifies (kind-specific) */
	const char *what;
};

/* Check every live shadow page; store up to `max` violations, return how
 * many there are in all. */
uint32_t umbra_audit(struct umbra_mmu *mmu,
		     struct umbra_audit_violation *out, uint32_t max);

#endif
