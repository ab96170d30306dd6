/*
 * The guest page-table walker: what an x86 CPU does for one memory access
 * under the guest's own page tables.
 *
 * The walker is pure: it reads guest-physical memory through a callback,
 * never writes it, and returns one result structure that says everything the
 * access did or would do: the translation, the effective permissions, the
 * fault with its exact error code, and the accessed/dirty bit updates the CPU
 * would make.  The shadow engine consumes the result to build shadow entries;
 * hosted tests consume it as a "hardware" reference.  umbra_walk_commit()
 * applies the A/D updates when the caller wants them in guest memory.
 *
 * Levels are numbered as the manuals do: 1 = page table, 2 = page directory,
 * 3 = PDPT, 4 = PML4, 5 = PML5.  Arrays indexed by level have
 * UMBRA_LEVELS_MAX + 1 slots; slot 0 is unused.
 */
#ifndef UMBRA_WALK_H
#define UMBRA_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UMBRA_LEVELS_MAX 5

enum umbra_mode {
	UMBRA_MODE_NONE,   /* CR0.PG = 0: linear = physical */
	UMBRA_MODE_32,     /* 2-level, 4-byte entries, optional PSE 4 MiB */
	UMBRA_MODE_PAE,    /* 3-level, PDPTEs held in registers */
	UMBRA_MODE_LONG4,  /* 4-level long mode */
	UMBRA_MODE_LONG5,  /* 5-level long mode (CR4.LA57) */
	UMBRA_MODE_INVALID /* a register combination no CPU accepts */
};

enum umbra_access_kind {
	UMBRA_ACCESS_READ,
	UMBRA_ACCESS_WRITE,
	UMBRA_ACCESS_FETCH,
};

/* One memory access as the CPU would perform it. */
struct umbra_access {
	uint64_t va;      /* linear address (truncated to 32 bits outside long mode) */
	uint8_t kind;     /* enum umbra_access_kind */
	uint8_t cpl;      /* current privilege level, 0..3 */
	bool ac;          /* EFLAGS.AC at the time of the access */
	/* An implicit supervisor access: descriptor-table, TSS or event-delivery
	 * access.  Supervisor-mode even at CPL 3, and EFLAGS.AC never relaxes
	 * SMAP for it. */
	bool implicit_supervisor;
	/* A stack access (SS segment): a non-canonical address raises #SS, not
	 * #GP. */
	bool stack;
};

/* The guest's own paging registers, as the guest believes them to be. */
struct umbra_paging_regs {
	uint64_t cr0, cr3, cr4, efer;
	uint32_t pkru;
};

/* What the virtual CPU implements (CPUID-derived). */
struct umbra_cpu_caps {
	uint8_t maxphyaddr; /* CPUID 0x80000008 EAX[7:0]; 32..52 */
	bool gbpages;       /* 1 GiB pages (CPUID 0x80000001 EDX[26]) */
	bool pse36;         /* 32-bit paging 4 MiB pages reach above 4 GiB */
};

/*
 * Guest-physical memory as the walker sees it.  read() returns false when
 * the address is not backed by guest memory.  cmpxchg() is used only by
 * umbra_walk_commit(); it returns false when the entry no longer holds `old`
 * (or is not backed), which tells the caller to walk again.
 */
struct umbra_gmem {
	bool (*read)(void *ctx, uint64_t gpa, unsigned size, uint64_t *val);
	bool (*cmpxchg)(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
			uint64_t new_val);
	void *ctx;
};

/*
 * Everything the walker derives from the registers once, so that each walk
 * only indexes and masks.  Built by umbra_walk_init(); rebuild it whenever
 * CR0, CR3, CR4, EFER or PKRU changes.
 */
struct umbra_walker {
	struct umbra_paging_regs regs;
	struct umbra_cpu_caps caps;
	struct umbra_gmem mem;
	uint8_t mode;          /* enum umbra_mode */
	uint8_t levels;        /* levels walked from CR3 (PAE: 3, of which the
				  top one comes from pdpte[]) */
	uint64_t pdpte[4];     /* PAE only: the loaded PDPTE registers */
	uint64_t pdpte_gpa[4]; /* where each PDPTE was loaded from */
	/* Reserved-bit masks by level, for a non-leaf entry [0] and for an
	 * entry with PS set [1]; an all-ones PS mask means PS is itself
	 * reserved at that level. */
	uint64_t rsvd[UMBRA_LEVELS_MAX + 1][2];
	bool ps_allowed[UMBRA_LEVELS_MAX + 1];
};

/* Result status of a walk. */
enum umbra_walk_status {
	UMBRA_WALK_OK,       /* translated; the access is allowed */
	UMBRA_WALK_PF,       /* #PF with error_code, CR2 = fault_addr */
	UMBRA_WALK_GP,       /* non-canonical address: #GP(0) */
	UMBRA_WALK_SS,       /* non-canonical stack address: #SS(0) */
	UMBRA_WALK_BADMEM,   /* a paging entry lies outside guest memory:
				bad_gpa says where; the embedder decides */
};

/* Effective permissions accumulated over every level of the walk. */
#define UMBRA_PERM_W UMBRA_PERM_BIT(0) /* R/W set at every level */
#define UMBRA_PERM_U UMBRA_PERM_BIT(1) /* U/S set at every level */
#define UMBRA_PERM_X UMBRA_PERM_BIT(2) /* no level sets NX (or NXE off) */
#define UMBRA_PERM_BIT(n) ((uint8_t)(1u << (n)))

/* One accessed/dirty bit update the CPU makes to a paging entry. */
struct umbra_ad_update {
	uint64_t gpa;     /* address of the entry */
	uint64_t old_val; /* value read during the walk */
	uint64_t new_val; /* value with A (and D) set */
	uint8_t size;     /* 4 or 8 bytes */
	uint8_t level;
};

struct umbra_walk_entry {
	uint64_t gpa; /* where the entry was read (PAE level 3: loaded from) */
	uint64_t val; /* its value (zero-extended for 4-byte entries) */
};

struct umbra_walk_result {
	uint8_t status;       /* enum umbra_walk_status */
	uint8_t mode;         /* enum umbra_mode of the walk */
	uint8_t top_level;    /* first level read (0 with paging off) */
	uint8_t level;        /* level of the leaf, or where the walk stopped */
	uint8_t page_shift;   /* 12, 21, 22 or 30 when status == OK */
	uint8_t perm;         /* UMBRA_PERM_* over the levels walked */
	uint8_t pkey;         /* protection key of the leaf (long mode) */
	uint8_t n_updates;
	uint32_t error_code;  /* X86_PFEC_* when status == PF */
	uint64_t fault_addr;  /* CR2 for #PF */
	uint64_t gpa;         /* translation when status == OK */
	uint64_t bad_gpa;     /* when status == BADMEM */
	/* Entries read, by level: valid for level <= l <= top_level only
	 * (the walker does not clear the rest, to keep walks cheap). */
	struct umbra_walk_entry entry[UMBRA_LEVELS_MAX + 1];
	struct umbra_ad_update update[UMBRA_LEVELS_MAX]; /* [0, n_updates) */
};

/* Outcome of loading CR3 (PAE PDPTE load). */
enum umbra_load_status {
	UMBRA_LOAD_OK,
	UMBRA_LOAD_GP,     /* a present PDPTE has reserved bits: #GP(0) */
	UMBRA_LOAD_BADMEM, /* the PDPT is not in guest memory */
	UMBRA_LOAD_INVALID_MODE, /* the registers select no paging mode */
};

/* The paging mode the registers select (UMBRA_MODE_INVALID for e.g. LMA
 * without PAE). */
enum umbra_mode umbra_paging_mode(const struct umbra_paging_regs *regs);

/*
 * Prepare a walker for the given registers.  In PAE mode this performs the
 * PDPTE load a MOV to CR3 (or the paging-mode change) performs, and fails
 * with UMBRA_LOAD_GP exactly when that instruction would raise #GP.
 */
enum umbra_load_status umbra_walk_init(struct umbra_walker *w,
				       const struct umbra_paging_regs *regs,
				       const struct umbra_cpu_caps *caps,
				       const struct umbra_gmem *mem);

/* Reload the PAE PDPTE registers from CR3 (a MOV to CR3 in PAE mode). */
enum umbra_load_status umbra_walk_load_pdptes(struct umbra_walker *w);

/* Walk the guest tables for one access.  Never writes guest memory. */
void umbra_walk(const struct umbra_walker *w, const struct umbra_access *acc,
		struct umbra_walk_result *res);

/*
 * Apply the result's A/D updates to guest memory with cmpxchg, as the CPU's
 * locked updates do.  Returns false if an entry changed since the walk; the
 * caller walks again.
 */
bool umbra_walk_commit(const struct umbra_walker *w,
		       const struct umbra_walk_result *res);

const char *umbra_mode_name(enum umbra_mode mode);

#endif
