/*
 * The loader on malformed, truncated, overlapping and misplaced kernels and
 * on bad arguments: a table of cases, each built by mutating a good image,
 * each with its expected code and message (a substring, or the exact
 * message where the wording is the contract).  Every case also checks that
 * the loader wrote nothing to guest memory (the write callback was never
 * called), except the write-failure cases, and the table must cover every
 * error code.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldtest.h"

#define MIB (1024u * 1024u)

struct env {
	struct img im;
	struct fakemem f;
	const char *cmd;
	struct loader_module mods[LOADER_MAX_MODULES + 1];
	uint32_t nmods;
	uint32_t flags;
	bool null_args, null_out, null_mem, null_write, null_map, null_modules;
	bool null_image;
	bool expect_writes;
};

/* ---- builders ------------------------------------------------------------ */

static void std32(struct env *e) { img_standard(&e->im, 1, 0); }
static void std64(struct env *e) { img_standard(&e->im, 2, 0); }

/* Program header idx of the standard image, field at byte `fo`. */
static size_t ph32(unsigned idx, size_t fo) { return 52 + idx * 32 + fo; }
static size_t ph64(unsigned idx, size_t fo) { return 64 + idx * 56 + fo; }
#define P_OFFSET32 4
#define P_PADDR32  12
#define P_FILESZ32 16
#define P_MEMSZ32  20
#define P_OFFSET64 8
#define P_PADDR64  24
#define P_FILESZ64 32

/* A raw a.out image: header at 0x40 of a 0x3000-byte file. */
static void aout(struct env *e, uint32_t header_addr, uint32_t load_addr,
		 uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	img_init(&e->im, 0x3000);
	img_mbhdr(&e->im, 0x40, 0x10003);
	img_aout(&e->im, 0x40, header_addr, load_addr, load_end, bss_end, entry);
}

static void b_empty(struct env *e) { std32(e); e->im.len = 0; }
static void b_nohdr(struct env *e) { std32(e); img_w32(&e->im, 0x1000, 0); }
static void b_hdr_at_8k(struct env *e)
{
	img_init(&e->im, 0x3000);
	img_mbhdr(&e->im, 8192, 0x3);
}
static void b_hdr_straddles_8k(struct env *e)
{
	img_init(&e->im, 0x3000);
	img_mbhdr(&e->im, 8184, 0x3);
}
static void b_hdr_unaligned(struct env *e)
{
	std32(e);
	img_w32(&e->im, 0x1000, 0);
	img_mbhdr(&e->im, 0x1002, 0x3);
}
static void b_hdr_trunc(struct env *e) { std32(e); e->im.len = 0x1008; }
/* The right checksum for flags 3 is 0xE4524FFB. */
static void b_checksum(struct env *e) { std32(e); img_w32(&e->im, 0x1008, 0xE4524FFA); }
static void b_required(struct env *e) { std32(e); img_mbhdr(&e->im, 0x1000, 0x0000000B); }
static void b_video(struct env *e) { std32(e); img_mbhdr(&e->im, 0x1000, 0x7); }
static void b_aout_trunc(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0, 0, 0x200040);
	e->im.len = 0x40 + 20;
}
static void b_aout_load_above_hdr(struct env *e)
{
	aout(e, 0x200040, 0x200080, 0, 0, 0x200080);
}
static void b_aout_before_file(struct env *e)
{
	aout(e, 0x201040, 0x200000, 0, 0, 0x200000);
}
static void b_aout_end_below(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0x1FF000, 0, 0x200000);
}
static void b_aout_end_past(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0x203001, 0, 0x200000);
}
static void b_aout_bss_below(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0x202000, 0x201000, 0x200000);
}
static void b_aout_empty(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0x200000, 0, 0x200000);
}
static void b_aout_entry(struct env *e)
{
	aout(e, 0x200040, 0x200000, 0, 0x205000, 0x205000);
}
static void b_aout_not_ram(struct env *e)
{
	aout(e, 0xA0040, 0xA0000, 0, 0, 0xA0040);
}
static void b_aout_past_4g(struct env *e)
{
	aout(e, 0xFFFFF040, 0xFFFFF000, 0, 0, 0xFFFFF040);
}
static void b_not_elf(struct env *e)
{
	img_init(&e->im, 0x3000);
	img_mbhdr(&e->im, 0x40, 0x3);
}
/* Sixteen bytes: "\177ELF" then the multiboot header, whose magic's
 * first byte (0x02) reads as ELFCLASS64. */
static void b_elf_trunc_ident(struct env *e)
{
	img_init(&e->im, 16);
	memcpy(e->im.b, "\177ELF", 4);
	img_mbhdr(&e->im, 4, 0x3);
}
static void b_elf32_trunc(struct env *e)
{
	img_init(&e->im, 40);
	memcpy(e->im.b, "\177ELF\1\1\1", 7);
	img_mbhdr(&e->im, 24, 0x3);
}
static void b_class(struct env *e) { std32(e); e->im.b[4] = 3; }
static void b_bigendian(struct env *e) { std32(e); e->im.b[5] = 2; }
static void b_dyn(struct env *e) { std32(e); img_w16(&e->im, 16, 3); }
static void b_machine32(struct env *e) { std32(e); img_w16(&e->im, 18, 62); }
static void b_machine64(struct env *e) { std64(e); img_w16(&e->im, 18, 3); }
static void b_phentsize(struct env *e) { std32(e); img_w16(&e->im, 42, 16); }
static void b_pnxnum(struct env *e) { std64(e); img_w16(&e->im, 56, 0xFFFF); }
static void b_phnum0(struct env *e) { std32(e); img_w16(&e->im, 44, 0); }
static void b_noload(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(0, 0), 4);
	img_w32(&e->im, ph32(1, 0), 6);
}
static void b_phdr_past(struct env *e)
{
	std32(e);
	img_w32(&e->im, 28, STD_LEN - 3 * 32 + 1);
}
static void b_phdr_huge64(struct env *e)
{
	std64(e);
	img_w64(&e->im, 32, 0xFFFFFFFFFFFFFF00ull);
}
static void b_filesz(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(0, P_FILESZ32), 0x2000);
}
/* Even an empty PT_LOAD may not claim file bytes. */
static void b_filesz_memsz0(struct env *e)
{
	std32(e);
	img_phdr(&e->im, 1, 52, 2, 1, 0x1000, 0x300000, 0x300000, 0x10, 0);
}
static void b_segrange(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_FILESZ32), 0x1000);
}
static void b_segrange_offset(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_OFFSET32), 0x2801);
	img_w32(&e->im, ph32(1, P_FILESZ32), 0);
	img_w32(&e->im, ph32(1, P_FILESZ32), 1);
}
static void b_segrange64_wrap(struct env *e)
{
	std64(e);
	img_w64(&e->im, ph64(1, P_OFFSET64), 0xFFFFFFFFFFFFF000ull);
	img_w64(&e->im, ph64(1, P_FILESZ64), 0x2000);
	img_w64(&e->im, ph64(1, 40), 0x3000);
}
static void b_overlap01(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_PADDR32), 0x100800);
}
static void b_overlap02(struct env *e)
{
	std32(e);
	/* phdr 2 becomes a PT_LOAD of bss inside segment 0's last page */
	img_phdr(&e->im, 1, 52, 2, 1, 0, 0x100FFF, 0x100FFF, 0, 0x10);
}
static void b_overlap_contained(struct env *e)
{
	std64(e);
	img_phdr(&e->im, 2, 64, 2, 1, 0, 0x102100, 0x102100, 0, 0x10);
}
static void b_vga(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_PADDR32), 0xB8000);
}
static void b_ebda(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_PADDR32), 0x9F000);
}
static void b_past_ram(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_PADDR32), 32 * MIB - 0x2000);
}
static void b_entry_gap(struct env *e) { std32(e); img_w32(&e->im, 24, 0x101800); }
static void b_entry_end(struct env *e) { std32(e); img_w32(&e->im, 24, 0x105000); }
static void b_above4g(struct env *e)
{
	std64(e);
	img_w64(&e->im, ph64(1, P_PADDR64), 0x100000000ull);
}
static void b_straddle4g64(struct env *e)
{
	std64(e);
	img_w64(&e->im, ph64(1, P_PADDR64), 0xFFFFF000ull);
}
static void b_wrap32(struct env *e)
{
	std32(e);
	img_w32(&e->im, ph32(1, P_PADDR32), 0xFFFFF000u);
}
static void b_entry64_high(struct env *e)
{
	std64(e);
	img_w64(&e->im, 24, 0x100100020ull);
}
static void b_toomany(struct env *e)
{
	img_init(&e->im, 0x2000);
	img_elf(&e->im, 1, 0x200000, 52, LOADER_MAX_SEGMENTS + 1);
	for (unsigned i = 0; i <= LOADER_MAX_SEGMENTS; i++)
		img_phdr(&e->im, 1, 52, i, 1, 0x1000, 0x200000 + i * 0x1000,
			 0x200000 + i * 0x1000, 0x10, 0x100);
	img_mbhdr(&e->im, 0x1000, 0x3);
}
static void b_toomanymods(struct env *e)
{
	std32(e);
	e->nmods = LOADER_MAX_MODULES + 1;
}

static char long_string[LOADER_MAX_STRING + 1];
static void fill_long(void)
{
	memset(long_string, 'a', LOADER_MAX_STRING);
	long_string[LOADER_MAX_STRING] = '\0';
}
static void b_long_cmdline(struct env *e)
{
	std32(e);
	fill_long();
	e->cmd = long_string;
}
static void b_long_modstring(struct env *e)
{
	std32(e);
	fill_long();
	e->nmods = 2;
	e->mods[1].string = long_string;
}
/* A command line of exactly the maximum length (with its NUL) loads. */
static void b_max_cmdline_ok(struct env *e)
{
	std32(e);
	fill_long();
	long_string[LOADER_MAX_STRING - 1] = '\0';
	e->cmd = long_string;
	e->expect_writes = true;
}
static void b_nospace_module(struct env *e)
{
	std32(e);
	e->nmods = 1;
	e->mods[0].len = 32 * MIB;
	e->mods[0].data = e->im.b; /* never read: planning fails first */
}
/* RAM [0, 0x9FC00) and [1 MiB, 2 MiB) filled by the kernel. */
static void b_nospace_info(struct env *e)
{
	struct pc_layout l = { .ram_size = 2 * MIB, .low_ram_end = 0x9FC00 };

	fakemem_free(&e->f);
	fakemem_init_layout(&e->f, &l, 2 * MIB, true);
	img_init(&e->im, 0x2000);
	img_elf(&e->im, 1, 0x100000, 52, 2);
	img_phdr(&e->im, 1, 52, 0, 1, 0x1000, 0x100000, 0x100000, 0x1000, MIB);
	img_phdr(&e->im, 1, 52, 1, 1, 0x1000, 0x1000, 0x1000, 0, 0x9EC00);
	img_mbhdr(&e->im, 0x1000, 0x3);
}
static void b_module_no_data(struct env *e)
{
	std32(e);
	e->nmods = 1;
	e->mods[0].len = 10;
}
static void b_null_args(struct env *e) { std32(e); e->null_args = true; }
static void b_null_out(struct env *e) { std32(e); e->null_out = true; }
static void b_null_mem(struct env *e) { std32(e); e->null_mem = true; }
static void b_null_write(struct env *e) { std32(e); e->null_write = true; }
static void b_null_map(struct env *e) { std32(e); e->null_map = true; }
static void b_null_image(struct env *e) { std32(e); e->null_image = true; }
static void b_null_modules(struct env *e)
{
	std32(e);
	e->nmods = 1;
	e->null_modules = true;
}
static void b_unsorted_map(struct env *e)
{
	std32(e);
	struct memmap_range t = e->f.map.r[0];

	e->f.map.r[0] = e->f.map.r[1];
	e->f.map.r[1] = t;
}
static void b_map_count(struct env *e) { std32(e); e->f.map.count = MEMMAP_MAX + 1; }
static void b_write_fails_first(struct env *e)
{
	std32(e);
	e->f.fail_at = 1;
	e->expect_writes = true;
}
/* Writes: segment 0, segment 1, its zeroes, then the information. */
static void b_write_fails_info(struct env *e)
{
	std32(e);
	e->f.fail_at = 4;
	e->expect_writes = true;
}
static void b_write_fails_module(struct env *e)
{
	static const uint8_t d[8] = { 1 };

	std32(e);
	e->nmods = 1;
	e->mods[0] = (struct loader_module){ d, sizeof(d), "m" };
	/* segs (3), info, 3 mmap entries, module entry, string, data */
	e->f.fail_at = 10;
	e->expect_writes = true;
}

/* ---- the table -------------------------------------------------------------- */

struct ecase {
	const char *name;
	void (*build)(struct env *);
	enum loader_err code;
	const char *msg;  /* expected substring */
	bool exact;       /* msg is the whole message */
};

static const struct ecase cases[] = {
	{ "zero-size image", b_empty, LOADER_EEMPTY, "the kernel image is empty (zero bytes)", true },
	{ "no header", b_nohdr, LOADER_ENOHEADER,
	  "no multiboot header (magic 0x1badb002, 4-byte aligned) in the first 8192 bytes", true },
	{ "header at 8 KiB", b_hdr_at_8k, LOADER_ENOHEADER, "first 8192 bytes", false },
	{ "header straddles 8 KiB", b_hdr_straddles_8k, LOADER_ENOHEADER, "first 8192 bytes", false },
	{ "header unaligned", b_hdr_unaligned, LOADER_ENOHEADER, "4-byte aligned", false },
	{ "header truncated", b_hdr_trunc, LOADER_EHDRTRUNC,
	  "multiboot header at offset 0x1000 is truncated: the image ends at 0x1008, the header needs 12 bytes", true },
	{ "checksum wrong", b_checksum, LOADER_ECHECKSUM,
	  "multiboot header at offset 0x1000: checksum wrong (magic + flags + checksum = 0xffffffff, must be 0)", true },
	{ "requirement bit 3", b_required, LOADER_EREQUIRED, "requirement bits 0x8 are not supported", false },
	{ "video mode (bit 2)", b_video, LOADER_EVIDEO, "request a video mode (bit 2)", false },
	{ "a.out header truncated", b_aout_trunc, LOADER_EHDRTRUNC,
	  "multiboot header at offset 0x40 is truncated: flag 16 needs the address fields [0x40, 0x60), the image ends at 0x54", true },
	{ "a.out load_addr above header_addr", b_aout_load_above_hdr, LOADER_EAOUT,
	  "load_addr 0x200080 is above header_addr 0x200040", false },
	{ "a.out load before the file", b_aout_before_file, LOADER_EAOUT, "lies before the file", false },
	{ "a.out load_end below load_addr", b_aout_end_below, LOADER_EAOUT,
	  "load_end_addr 0x1ff000 is below load_addr 0x200000", false },
	{ "a.out load_end past the image", b_aout_end_past, LOADER_ESEGRANGE,
	  "a.out kludge: segment [0x200000, 0x203001) extends past the image (length 0x3000): its file bytes are [0x0, 0x3001)", true },
	{ "a.out bss_end below load_end", b_aout_bss_below, LOADER_EAOUT, "bss_end_addr 0x201000", false },
	{ "a.out nothing to load", b_aout_empty, LOADER_ENOLOAD, "nothing to load", false },
	{ "a.out entry outside", b_aout_entry, LOADER_EENTRY,
	  "entry point 0x205000 (entry_addr) is outside the loaded segment [0x200000, 0x205000)", true },
	{ "a.out not RAM", b_aout_not_ram, LOADER_ENOTRAM,
	  "a.out kludge: load address range [0xa0000, 0xa3000) is not guest RAM", true },
	{ "a.out past 4 GiB", b_aout_past_4g, LOADER_EABOVE4G,
	  "a.out kludge: segment [0xfffff000, 0x100002000) goes past 4 GiB", true },
	{ "not ELF, no kludge", b_not_elf, LOADER_ENOTELF, "not an ELF image", false },
	{ "ELF ident then header: ELF64 truncated", b_elf_trunc_ident, LOADER_EELFTRUNC,
	  "ELF header truncated: the image is 16 bytes, an ELF64 header needs 64", true },
	{ "ELF32 header truncated", b_elf32_trunc, LOADER_EELFTRUNC, "an ELF32 header needs 52", false },
	{ "ELF class 3", b_class, LOADER_EBADELF, "ELF class 3 is neither", false },
	{ "ELF big-endian", b_bigendian, LOADER_EBADELF, "not little-endian", false },
	{ "ELF ET_DYN", b_dyn, LOADER_EBADELF, "ELF type 3 is not an executable", false },
	{ "ELF32 for x86-64", b_machine32, LOADER_EBADELF, "ELF32 machine 62 is not EM_386 (3)", true },
	{ "ELF64 for i386", b_machine64, LOADER_EBADELF, "ELF64 machine 3 is not EM_X86_64 (62)", true },
	{ "e_phentsize too small", b_phentsize, LOADER_EBADELF, "e_phentsize 16 is below 32", false },
	{ "PN_XNUM", b_pnxnum, LOADER_EBADELF, "PN_XNUM", false },
	{ "no program headers", b_phnum0, LOADER_ENOLOAD, "no program headers", false },
	{ "no PT_LOAD", b_noload, LOADER_ENOLOAD, "no PT_LOAD", false },
	{ "phdr table past the image", b_phdr_past, LOADER_EPHDR,
	  "ELF program header table [0x27a1, 0x2801) (3 entries of 32 bytes) extends past the image (length 0x2800)", true },
	{ "phdr table offset near 2^64", b_phdr_huge64, LOADER_EPHDR, "extends past the image", false },
	{ "p_filesz > p_memsz", b_filesz, LOADER_EFILESZ,
	  "ELF program header 0: p_filesz 0x2000 exceeds p_memsz 0x1000", true },
	{ "p_filesz > p_memsz == 0", b_filesz_memsz0, LOADER_EFILESZ,
	  "ELF program header 2: p_filesz 0x10 exceeds p_memsz 0x0", true },
	{ "segment past the image", b_segrange, LOADER_ESEGRANGE,
	  "ELF program header 1: segment [0x102000, 0x105000) extends past the image (length 0x2800): its file bytes are [0x2000, 0x3000)", true },
	{ "segment offset past the image", b_segrange_offset, LOADER_ESEGRANGE, "its file bytes are [0x2801, 0x2802)", false },
	{ "segment offset wraps (ELF64)", b_segrange64_wrap, LOADER_ESEGRANGE,
	  "its file bytes are [0xfffffffffffff000, 0xffffffffffffffff)", false },
	{ "segments 0 and 1 overlap", b_overlap01, LOADER_EOVERLAP,
	  "ELF program headers 0 and 1: segments [0x100000, 0x101000) and [0x100800, 0x103800) overlap", true },
	{ "segments 0 and 2 overlap by a byte", b_overlap02, LOADER_EOVERLAP,
	  "ELF program headers 0 and 2: segments [0x100000, 0x101000) and [0x100fff, 0x10100f) overlap", true },
	{ "segment inside another (ELF64)", b_overlap_contained, LOADER_EOVERLAP, "ELF program headers 1 and 2", false },
	{ "segment in VGA memory", b_vga, LOADER_ENOTRAM,
	  "ELF program header 1: load address range [0xb8000, 0xbb000) is not guest RAM", true },
	{ "segment over the EBDA", b_ebda, LOADER_ENOTRAM, "[0x9f000, 0xa2000) is not guest RAM", false },
	{ "segment past the end of RAM", b_past_ram, LOADER_ENOTRAM, "[0x1ffe000, 0x2001000) is not guest RAM", false },
	{ "entry in a gap", b_entry_gap, LOADER_EENTRY, "entry point 0x101800 is outside every loaded segment", true },
	{ "entry one past a segment", b_entry_end, LOADER_EENTRY, "entry point 0x105000 is outside every loaded segment", true },
	{ "ELF64 segment above 4 GiB", b_above4g, LOADER_EABOVE4G,
	  "ELF program header 1: ELF64 segment [0x100000000, 0x100003000) is above 4 GiB: the kernel starts in 32-bit mode and cannot reach it", true },
	{ "ELF64 segment straddles 4 GiB", b_straddle4g64, LOADER_EABOVE4G, "ELF64 segment [0xfffff000, 0x100002000)", false },
	{ "ELF32 segment wraps past 4 GiB", b_wrap32, LOADER_EABOVE4G,
	  "ELF program header 1: segment [0xfffff000, 0x100002000) goes past 4 GiB", true },
	{ "ELF64 entry above 4 GiB", b_entry64_high, LOADER_EENTRY, "entry point 0x100100020 is outside every loaded segment (and above 4 GiB)", true },
	{ "too many segments", b_toomany, LOADER_ETOOMANY, "ELF program header 32: more than 32 loadable segments", true },
	{ "too many modules", b_toomanymods, LOADER_ETOOMANYMODS, "17 further modules, at most 16", false },
	{ "command line too long", b_long_cmdline, LOADER_ESTRING, "the command line is longer than 65535 bytes", true },
	{ "module string too long", b_long_modstring, LOADER_ESTRING, "module 1's string is longer than 65535 bytes", true },
	{ "longest command line loads", b_max_cmdline_ok, LOADER_OK, "", true },
	{ "no room for a module", b_nospace_module, LOADER_ENOSPACE, "no room for module 0 (0x2000000 bytes)", false },
	{ "no room for the information", b_nospace_info, LOADER_ENOSPACE, "no room for the multiboot information", false },
	{ "module without data", b_module_no_data, LOADER_EARG, "module 0 has 0xa bytes but no data", true },
	{ "NULL arguments", b_null_args, LOADER_EARG, "no arguments", false },
	{ "NULL result", b_null_out, LOADER_EARG, "no result", false },
	{ "NULL guest memory", b_null_mem, LOADER_EARG, "write callback", false },
	{ "NULL write callback", b_null_write, LOADER_EARG, "write callback", false },
	{ "NULL memory map", b_null_map, LOADER_EARG, "a map", false },
	{ "NULL image", b_null_image, LOADER_EARG, "no kernel image", true },
	{ "NULL module array", b_null_modules, LOADER_EARG, "1 modules but no module array", true },
	{ "unsorted memory map", b_unsorted_map, LOADER_EARG, "out of order", false },
	{ "memory map too long", b_map_count, LOADER_EARG, "memory map has 33 ranges", false },
	{ "first write fails", b_write_fails_first, LOADER_EWRITE,
	  "writing a segment to guest memory [0x100000, 0x101000) failed", true },
	{ "information write fails", b_write_fails_info, LOADER_EWRITE, "writing the multiboot information", false },
	{ "module write fails", b_write_fails_module, LOADER_EWRITE, "writing a module to guest memory", false },
};

static void run_case(const struct ecase *c)
{
	struct env *e = calloc(1, sizeof(*e));
	struct loader_boot *out = calloc(1, sizeof(*out));
	struct loader_error err;
	struct guest_mem gm;
	struct loader_args a;
	enum loader_err r;

	assert_non_null(e);
	assert_non_null(out);
	fakemem_init(&e->f, 32 * MIB, 32 * MIB, true, true);
	e->cmd = "kernel";
	c->build(e);
	gm = e->f.gm;
	if (e->null_write)
		gm.write = NULL;
	if (e->null_map)
		gm.map = NULL;
	a = (struct loader_args){
		.image = e->null_image ? NULL : e->im.b, .image_len = e->im.len,
		.cmdline = e->cmd,
		.modules = e->null_modules ? NULL : e->mods,
		.nmodules = e->nmods, .flags = e->flags,
		.mem = e->null_mem ? NULL : &gm,
	};
	memset(&err, 0x55, sizeof(err));
	r = loader_load_multiboot(e->null_args ? NULL : &a,
				  e->null_out ? NULL : out, &err);
	if (r != c->code || err.code != c->code ||
	    (c->exact ? strcmp(err.msg, c->msg) != 0 : !strstr(err.msg, c->msg))) {
		print_error("case \"%s\": got %d (%s) \"%s\"\n"
			    "          want %d \"%s\"\n", c->name, r,
			    loader_strerror(r), err.msg, c->code, c->msg);
		fail();
	}
	assert_true(strlen(err.msg) < LOADER_MSG_MAX);
	if (!e->expect_writes) {
		if (e->f.writes != 0) {
			print_error("case \"%s\": %u writes before the error\n",
				    c->name, e->f.writes);
			fail();
		}
	}
	assert_false(e->f.stray);
	/* The same call without an error record gives the same code. */
	if (!e->expect_writes) {
		r = loader_load_multiboot(e->null_args ? NULL : &a,
					  e->null_out ? NULL : out, NULL);
		assert_int_equal(r, c->code);
	}
	fakemem_free(&e->f);
	free(out);
	free(e);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* One cmocka test per case, its name the case's. */
static void test_case(void **state)
{
	run_case(*state);
}

/* Every error code is produced by some case and has its own description. */
static void test_every_code_covered(void **state)
{
	bool seen[LOADER_NERR] = { false };

	(void)state;
	for (size_t i = 0; i < NCASES; i++)
		seen[cases[i].code] = true;
	for (int c = 0; c < LOADER_NERR; c++) {
		if (!seen[c]) {
			print_error("no case produces error %d (%s)\n", c,
				    loader_strerror(c));
			fail();
		}
		assert_string_not_equal(loader_strerror(c), "unknown error");
		for (int d = 0; d < c; d++)
			assert_string_not_equal(loader_strerror(c),
						loader_strerror(d));
	}
	assert_string_equal(loader_strerror(LOADER_NERR), "unknown error");
	assert_string_equal(loader_strerror(LOADER_ECHECKSUM), "checksum wrong");
}

/* One-byte truncations of a good image never crash and never load a
 * segment past the image: every prefix of the standard ELF32 and ELF64
 * kernels either loads (no prefix shorter than the file can) or fails. */
static void test_every_truncation(void **state)
{
	struct img *im = malloc(sizeof(*im));
	struct fakemem f;
	struct loader_boot *out = malloc(sizeof(*out));
	struct loader_error err;

	(void)state;
	assert_non_null(im);
	assert_non_null(out);
	fakemem_init(&f, 4 * MIB, 4 * MIB, true, true);
	for (int class = 1; class <= 2; class++) {
		img_standard(im, class, 0);
		for (size_t len = 0; len < STD_LEN; len++) {
			struct img *t = im;
			size_t full = t->len;
			enum loader_err r;

			t->len = len;
			r = ld(t, &f, "k", NULL, 0, 0, out, &err);
			t->len = full;
			assert_int_not_equal(r, LOADER_OK);
			assert_int_equal(f.writes, 0);
			assert_true(strlen(err.msg) > 0);
		}
	}
	fakemem_free(&f);
	free(out);
	free(im);
}

int main(void)
{
	struct CMUnitTest tests[NCASES + 2];
	size_t n = 0;

	for (size_t i = 0; i < NCASES; i++)
		tests[n++] = (struct CMUnitTest){
			.name = cases[i].name, .test_func = test_case,
			.initial_state = (void *)&cases[i],
		};
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_every_code_covered);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_every_truncation);
	return _cmocka_run_group_tests("loader errors", tests, n, NULL, NULL);
}
