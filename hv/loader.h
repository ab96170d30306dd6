/*
 * The multiboot v1 guest loader.
 *
 * Umbra receives its guest as multiboot modules (QEMU: -initrd "guest.elf
 * args,module2,..."; GRUB: `module`).  loader_load_multiboot() does what a
 * multiboot boot loader does for that guest, inside the guest's physical
 * memory:
 *
 *  1. finds the multiboot header (first 8192 bytes, 4-byte aligned, magic
 *     0x1BADB002, magic + flags + checksum == 0) and refuses requirement
 *     bits it cannot meet;
 *  2. loads the kernel: with header flag 16 (the "a.out kludge") from the
 *     header's load_addr/load_end_addr/bss_end_addr/entry_addr, otherwise
 *     as an ELF32 (EM_386) or ELF64 (EM_X86_64) executable, each PT_LOAD
 *     program header at its p_paddr: p_filesz bytes copied from p_offset,
 *     p_memsz - p_filesz bytes zeroed;
 *  3. builds the multiboot information structure and copies the further
 *     modules (see "Placement" below);
 *  4. returns EAX, EBX, EIP and the rest of the initial CPU state.
 *
 * Everything is validated before anything is written: on an error the
 * guest's memory is untouched (unless a write callback itself fails
 * midway), and the error names the problem, e.g.
 *   "ELF program header 2: segment [0x100000, 0x180000) extends past the
 *    image (length 0x12345): its file bytes are [0x1000, 0x81000)".
 *
 * ELF entry point: e_entry is a virtual address.  If it lies in a PT_LOAD
 * segment's [p_vaddr, p_vaddr + p_memsz), it is translated to that
 * segment's physical address (as GRUB does; identical when p_vaddr ==
 * p_paddr); otherwise it is taken as physical.  Either way it must lie in a
 * loaded segment's [p_paddr, p_paddr + p_memsz) below 4 GiB.  ELF64
 * kernels are accepted (unlike QEMU's -kernel) but start in 32-bit mode
 * like any multiboot kernel, so all their segments must lie below 4 GiB.
 * Program headers are numbered from 0, as readelf numbers them.
 *
 * Header flags: bit 0 (page-aligned modules) and bit 1 (memory
 * information) are always honoured.  Bit 2 (a video mode) is refused with
 * LOADER_EVIDEO, because Umbra provides no framebuffer, unless the caller
 * passes LOADER_IGNORE_VIDEO: then the request is ignored and the
 * information has no video fields (QEMU's -kernel does the same, with a
 * warning).  Any other bit in 0-15 is refused (LOADER_EREQUIRED), as the
 * specification demands.  Bits 17-31 are ignored.
 *
 * Placement (all below 4 GiB, in MEMMAP_RAM, never overlapping the kernel
 * or each other): the boot information block (the information structure,
 * a flat GDT, the memory map, the module list, the strings) starts at the
 * first 4 KiB boundary at or above the kernel's end (the highest p_paddr +
 * p_memsz) where it fits, then each module at the next 4 KiB boundary
 * where it fits, in order; this is the order QEMU's -kernel uses.  If RAM
 * above the kernel is too small, the same search starts again at 4 KiB (a
 * kernel loaded high leaves low memory free).  Page 0 (real-mode IVT, BIOS
 * data area) is never used.
 *
 * Freestanding: only stdint/stddef/stdbool, no globals, no allocation.
 *
 * Usage (the hypervisor, after parsing its own multiboot information):
 *
 *   struct memmap map;       // the guest's layout, see platform_mem.h
 *   const char *e = memmap_pc(&map, &(struct pc_layout){
 *           .ram_size = opt_mem, .low_ram_end = host_ebda_base });
 *   if (e) panic("guest memory: %s", e);
 *   // ... back every MEMMAP_RAM range with zeroed host memory (slots) ...
 *   struct guest_mem gm = { vm, vm_write_gpa, vm_zero_gpa, &map };
 *   for (i = 1; i < mods_count; i++)      // the guest's further modules
 *           more[i - 1] = (struct loader_module){ va(mod[i].mod_start),
 *                   mod[i].mod_end - mod[i].mod_start, va(mod[i].string) };
 *   struct loader_args a = { va(mod[0].mod_start),
 *           mod[0].mod_end - mod[0].mod_start, va(mod[0].string), more,
 *           mods_count - 1, 0, &gm };
 *   if (loader_load_multiboot(&a, &boot, &err))   // boot: static, ~2 KiB
 *           panic("guest: %s: %s", loader_strerror(err.code), err.msg);
 *   vmcb_load_state(vmcb, &boot.cpu);
 *
 * What the hypervisor does besides:
 *  - Guest RAM: back every MEMMAP_RAM range, zeroed (the loader zeroes only
 *    bss); map nothing the map does not list.  Copy firmware areas (IVT and
 *    BIOS data area in page 0, which the loader never uses; the EBDA and
 *    0xE0000-0xFFFFF, reserved in the map) before or after loading: they
 *    never overlap what the loader writes.  Keep the host memory of the
 *    modules until the call returns.
 *  - VMCB from boot.cpu: CS/DS/ES/FS/GS/SS/TR/LDTR (selector, attrib,
 *    limit, base: the VMCB's own encoding), GDTR/IDTR, CPL = 0, RIP = eip,
 *    RAX = eax (the VMCB's RAX field), EBX and the other GPRs in the saved
 *    guest registers, RSP = 0, RFLAGS = 0x2, DR6/DR7.  The guest's own
 *    CR0 = 0x11 (PE|ET), CR3 = CR4 = EFER = 0 are kept in software and
 *    returned on intercepted reads; the VMCB's live CR0/CR4/CR3/EFER are
 *    the shadow mode's (QEMU-SVM-NOTES: paging off runs with PG|WP and
 *    CR4.PAE on a shadow root, EFER = SVME).
 *  - A20 stays enabled: the guest starts with it on (multiboot requires
 *    it), and the host runs in long mode.  Intercept port 0x92 (bit 1 is
 *    A20, bit 0 resets the machine) and the keyboard controller's output
 *    port writes (command 0xD1 on port 0x64, then the byte on 0x60; and
 *    0xDD/0xDF) so that a passed-through controller cannot switch the
 *    host's A20 off or reset it; reads of 0x92 report A20 on.
 *  - No interrupt is injected while the guest's IF = 0; it starts with
 *    IF = 0 and IDTR limit 0 (an early exception is a clean SHUTDOWN).
 */
#ifndef HV_LOADER_H
#define HV_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiboot.h"
#include "platform_mem.h"

#define LOADER_MAX_SEGMENTS 32     /* PT_LOAD program headers with p_memsz > 0 */
#define LOADER_MAX_MODULES  16     /* further modules for the guest */
#define LOADER_MAX_STRING   65536  /* command line and module strings, NUL included */
#define LOADER_BOOTLOADER_NAME "Umbra"

enum loader_err {
	LOADER_OK = 0,
	LOADER_EARG,       /* a NULL pointer or a missing callback */
	LOADER_EEMPTY,     /* zero-size image */
	LOADER_ENOHEADER,  /* no multiboot header in the first 8192 bytes */
	LOADER_EHDRTRUNC,  /* the header (or its address fields) past the image */
	LOADER_ECHECKSUM,  /* magic found, checksum wrong */
	LOADER_EREQUIRED,  /* unsupported requirement bits 3-15 */
	LOADER_EVIDEO,     /* flag 2: video mode requested */
	LOADER_EAOUT,      /* inconsistent a.out-kludge addresses */
	LOADER_ENOTELF,    /* no flag 16 and not an ELF image */
	LOADER_EELFTRUNC,  /* ELF file header past the image */
	LOADER_EBADELF,    /* class, byte order, machine, type, phentsize */
	LOADER_EPHDR,      /* program header table past the image */
	LOADER_ENOLOAD,    /* nothing to load */
	LOADER_ETOOMANY,   /* more than LOADER_MAX_SEGMENTS segments */
	LOADER_EFILESZ,    /* p_filesz > p_memsz */
	LOADER_ESEGRANGE,  /* a segment's file bytes past the image */
	LOADER_EABOVE4G,   /* a segment above (or wrapping past) 4 GiB */
	LOADER_ENOTRAM,    /* a segment outside guest RAM */
	LOADER_EOVERLAP,   /* two segments overlap */
	LOADER_EENTRY,     /* entry point outside every loaded segment */
	LOADER_ETOOMANYMODS, /* more than LOADER_MAX_MODULES modules */
	LOADER_ESTRING,    /* command line or module string too long */
	LOADER_ENOSPACE,   /* no room for the boot information or a module */
	LOADER_EWRITE,     /* the guest memory write callback failed */
	LOADER_NERR
};

/* A short fixed description of a code ("checksum wrong", ...). */
const char *loader_strerror(enum loader_err e);

#define LOADER_MSG_MAX 256
struct loader_error {
	enum loader_err code;
	char msg[LOADER_MSG_MAX]; /* NUL-terminated detail, empty on success */
};

/* The guest's physical memory, as the hypervisor's memory slots see it. */
struct guest_mem {
	void *ctx;
	/* Copy len bytes to guest-physical gpa.  Only ever called for ranges
	 * that memmap_is_ram() accepts.  Returns false on failure. */
	bool (*write)(void *ctx, uint64_t gpa, const void *src, uint64_t len);
	/* Optional: zero len bytes at gpa.  NULL: zeroes are written through
	 * `write` in chunks. */
	bool (*zero)(void *ctx, uint64_t gpa, uint64_t len);
	/* The guest's layout: RAM is where its MEMMAP_RAM ranges say; the
	 * whole map goes to the guest as its multiboot memory map. */
	const struct memmap *map;
};

struct loader_module {
	const void *data;
	uint64_t len;
	const char *string; /* NUL-terminated; NULL means "" */
};

#define LOADER_IGNORE_VIDEO 0x1u /* accept header flag 2 and ignore it */

struct loader_args {
	const void *image; /* the kernel: the first Umbra module */
	uint64_t image_len;
	/* The kernel's command line, NUL-terminated; NULL means "".  Pass the
	 * module's whole string ("guest.elf args"): GRUB and QEMU give the
	 * kernel its file name as the first word too. */
	const char *cmdline;
	const struct loader_module *modules; /* the further modules */
	uint32_t nmodules;
	uint32_t flags; /* LOADER_IGNORE_VIDEO */
	const struct guest_mem *mem;
};

/* A segment as loaded. */
struct loader_segment {
	uint64_t paddr;  /* < 4 GiB, and paddr + memsz <= 4 GiB */
	uint64_t vaddr;  /* p_vaddr (the load address for the kludge) */
	uint64_t memsz;  /* > 0 */
	uint64_t filesz; /* <= memsz */
	uint64_t offset; /* in the image */
	uint32_t phdr;   /* program header index; 0 for the a.out kludge */
};

/* A segment register as the VMCB holds it: attrib is the VMCB's 12-bit
 * packed form (descriptor bits 40-47 in 0-7, bits 52-55 in 8-11). */
struct loader_seg_reg {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
};

/*
 * The state of the CPU at the kernel's entry: multiboot's "machine state"
 * (specification section 3.2) with every register it leaves undefined
 * given a definite value.  These are the values the guest must observe;
 * the hypervisor's VMCB may hold different live control registers (shadow
 * paging: see the usage notes in hv/README or the loader's report).
 */
struct loader_cpu_state {
	uint32_t eax;    /* MULTIBOOT_BOOTLOADER_MAGIC */
	uint32_t ebx;    /* the information structure */
	uint32_t ecx, edx, esi, edi, ebp;
	uint32_t esp;    /* 0: undefined by multiboot, the kernel sets its own */
	uint32_t eip;    /* the entry point */
	uint32_t eflags; /* 0x2: IF and VM clear */
	uint32_t cr0;    /* PE | ET: protected mode, paging off, caches on */
	uint32_t cr3, cr4;
	uint64_t efer;   /* 0 (the VMCB also needs EFER.SVME) */
	uint64_t dr6, dr7;
	/* CS: 32-bit execute/read, base 0, limit 4 GiB, selector 0x08;
	 * DS, ES, FS, GS, SS: 32-bit read/write, base 0, limit 4 GiB,
	 * selector 0x10; both selectors valid in the GDT below. */
	struct loader_seg_reg cs, ds, es, fs, gs, ss;
	struct loader_seg_reg tr, ldtr; /* their reset values */
	/* A 3-entry flat GDT inside the boot information block (null, code
	 * 0x08, data 0x10): multiboot only says GDTR "may be invalid"; a
	 * valid one makes reloading the selectors harmless. */
	uint64_t gdtr_base;
	uint32_t gdtr_limit;
	/* IDTR base 0, limit 0: any exception before the kernel loads its
	 * own IDT is a triple fault (SHUTDOWN exit), never a wild jump. */
	uint64_t idtr_base;
	uint32_t idtr_limit;
};

#define LOADER_SEL_CODE 0x08
#define LOADER_SEL_DATA 0x10
#define LOADER_ATTR_CODE32 0xC9B /* G, D, P, S, type 0xB (exec/read, accessed) */
#define LOADER_ATTR_DATA32 0xC93 /* G, B, P, S, type 0x3 (read/write, accessed) */
#define LOADER_ATTR_TSS32_BUSY 0x08B
#define LOADER_ATTR_LDT 0x082

struct loader_placed_module {
	uint32_t start, end; /* mod_start, mod_end (exclusive) */
	uint32_t string;     /* the string's address */
};

struct loader_boot {
	struct loader_cpu_state cpu;
	bool aout_kludge; /* loaded by the header's addresses, not as ELF */
	uint32_t elf_class; /* 1 (ELF32), 2 (ELF64), 0 for the kludge */
	uint32_t header_offset; /* of the multiboot header in the image */
	uint32_t header_flags;
	uint32_t entry;
	uint32_t nsegments;
	struct loader_segment segments[LOADER_MAX_SEGMENTS];
	uint64_t kernel_start, kernel_end; /* lowest paddr, highest paddr + memsz */
	uint32_t info_addr;  /* the information structure: EBX */
	uint32_t info_size;  /* the whole boot information block */
	uint32_t gdt_addr, mmap_addr, mmap_length, mods_addr, cmdline_addr,
		 name_addr;
	uint32_t nmodules;
	struct loader_placed_module modules[LOADER_MAX_MODULES];
	uint64_t end; /* highest address used by kernel, information, modules */
};

/*
 * Loads a multiboot v1 kernel and its modules into guest memory.
 * Returns LOADER_OK and fills *out, or an error code with err->msg.
 * err may be NULL (then only the code is returned).
 */
enum loader_err loader_load_multiboot(const struct loader_args *a,
				      struct loader_boot *out,
				      struct loader_error *err);

#endif
