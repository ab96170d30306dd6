/*
 * Shared helpers of the loader tests: a fake guest memory behind the
 * loader's callbacks, and a small builder of kernel images (ELF32, ELF64,
 * a.out-kludge binaries) written field by field at hard-coded offsets, so
 * that the images do not depend on the loader's own hv/elf.h.
 */
#ifndef LDTEST_H
#define LDTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../hv/loader.h"

#define FILL 0xAA /* untouched guest memory */

/* ---- the fake guest memory ------------------------------------------- */

struct fakemem {
	uint8_t *buf;       /* backs guest-physical [0, size) */
	uint64_t size;
	struct memmap map;
	struct guest_mem gm;
	unsigned writes;    /* write callback calls (zero callback included) */
	unsigned zero_calls;
	unsigned fail_at;   /* fail the n-th call (1-based); 0: never */
	bool stray;         /* a write outside [0, size) or into [0xA0000, 1 MiB) */
	uint8_t *written;   /* one flag per byte: written by the loader */
};

/* RAM of `ram` bytes in the PC layout (low end 0x9FC00 when low_ebda),
 * buffer of `size` bytes (>= the RAM below 4 GiB that tests touch), filled
 * with FILL. */
void fakemem_init(struct fakemem *f, uint64_t ram, uint64_t size,
		  bool low_ebda, bool use_zero_cb);
/* The same with any PC layout. */
void fakemem_init_layout(struct fakemem *f, const struct pc_layout *l,
			 uint64_t size, bool use_zero_cb);
void fakemem_free(struct fakemem *f);
/* Whether every byte of [gpa, gpa + len) is still FILL and unwritten. */
bool fakemem_untouched(const struct fakemem *f, uint64_t gpa, uint64_t len);
uint32_t fakemem_rd32(const struct fakemem *f, uint64_t gpa);
uint64_t fakemem_rd64(const struct fakemem *f, uint64_t gpa);
/* Number of bytes the loader wrote anywhere. */
uint64_t fakemem_written_bytes(const struct fakemem *f);

/* ---- the image builder ---------------------------------------------- */

#define IMG_MAX (64 * 1024)

struct img {
	uint8_t b[IMG_MAX];
	size_t len;
};

/* Fills [0, len) with a position-dependent pattern (never 0 or FILL). */
void img_init(struct img *im, size_t len);
uint8_t img_pattern(size_t off);
void img_w16(struct img *im, size_t off, uint16_t v);
void img_w32(struct img *im, size_t off, uint32_t v);
void img_w64(struct img *im, size_t off, uint64_t v);

/* A multiboot header at off: magic, flags, the right checksum. */
void img_mbhdr(struct img *im, size_t off, uint32_t flags);
/* The a.out-kludge fields after a header at off (flag 16 not set here). */
void img_aout(struct img *im, size_t off, uint32_t header_addr,
	      uint32_t load_addr, uint32_t load_end, uint32_t bss_end,
	      uint32_t entry);

/* An ELF file header: class 1 (ELF32, EM_386) or 2 (ELF64, EM_X86_64),
 * ET_EXEC, program headers at phoff. */
void img_elf(struct img *im, int class, uint64_t entry, uint64_t phoff,
	     uint16_t phnum);
size_t img_ehsize(int class);
size_t img_phsize(int class);
/* Program header idx of the table at phoff. */
void img_phdr(struct img *im, int class, uint64_t phoff, unsigned idx,
	      uint32_t type, uint64_t offset, uint64_t vaddr, uint64_t paddr,
	      uint64_t filesz, uint64_t memsz);

/*
 * The standard test kernel, 0x2800 bytes, of either class:
 *   ehdr at 0, 3 program headers right after it;
 *   phdr 0: PT_LOAD  off 0x1000 paddr 0x100000 filesz 0x1000 memsz 0x1000
 *           (holds the multiboot header, flags 0x3, at 0x1000)
 *   phdr 1: PT_LOAD  off 0x2000 paddr 0x102000 filesz 0x800  memsz 0x3000
 *   phdr 2: PT_NOTE  (ignored)
 *   entry 0x100020; vaddr == paddr + vbias (0 for identity).
 */
#define STD_LEN    0x2800u
#define STD_ENTRY  0x100020u
#define STD_PHOFF(class) img_ehsize(class)
void img_standard(struct img *im, int class, uint64_t vbias);

/* Loads with the given memory, command line and modules. */
enum loader_err ld(const struct img *im, struct fakemem *f, const char *cmd,
		   const struct loader_module *mods, uint32_t nmods,
		   uint32_t flags, struct loader_boot *out,
		   struct loader_error *err);

#endif
