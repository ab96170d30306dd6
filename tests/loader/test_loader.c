/*
 * The multiboot loader on well-formed kernels: ELF32, ELF64 (identity and
 * higher-half), the a.out kludge (whole file, a slice, below 1 MiB, over
 * an ELF file), the header search, the information structure checked byte
 * for byte against a block built here from the specification's offsets,
 * module placement (including the fallback below the kernel), the memory
 * map handed to the guest, and the initial CPU state.
 *
 * Every test fills guest memory with 0xAA first and checks that the loader
 * wrote exactly the bytes it should: segments, zeroes, the information
 * block and the modules, and nothing else.
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

static uint64_t page_up(uint64_t v)
{
	return (v + 4095) & ~(uint64_t)4095;
}

/* A fresh 32 MiB guest (EBDA at 0x9FC00) and a standard image. */
struct fix {
	struct fakemem f;
	struct img im;
	struct loader_boot out;
	struct loader_error err;
};

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	fakemem_init(&x->f, 32 * MIB, 32 * MIB, true, true);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	fakemem_free(&x->f);
	free(x);
	return 0;
}

static void expect_ok(enum loader_err r, const struct loader_error *err)
{
	if (r != LOADER_OK)
		print_error("loader: %s: %s\n", loader_strerror(r), err->msg);
	assert_int_equal(r, LOADER_OK);
	assert_int_equal(err->code, LOADER_OK);
	assert_string_equal(err->msg, "");
}

/* Guest memory [gpa, gpa + len) holds image bytes [off, off + len). */
static void expect_image_bytes(const struct fakemem *f, uint64_t gpa,
			       const struct img *im, uint64_t off, uint64_t len)
{
	assert_memory_equal(f->buf + gpa, im->b + off, len);
}

static void expect_zero(const struct fakemem *f, uint64_t gpa, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (f->buf[gpa + i] != 0) {
			print_error("byte %#llx is %#x, not 0\n",
				    (unsigned long long)(gpa + i), f->buf[gpa + i]);
			fail();
		}
}

/* The standard image's two segments at 1 MiB, as loaded. */
static void expect_standard_memory(const struct fakemem *f, const struct img *im)
{
	assert_true(fakemem_untouched(f, 0, 0x100000));
	expect_image_bytes(f, 0x100000, im, 0x1000, 0x1000);
	assert_true(fakemem_untouched(f, 0x101000, 0x1000));
	expect_image_bytes(f, 0x102000, im, 0x2000, 0x800);
	expect_zero(f, 0x102800, 0x2800);
}

static void expect_standard_segments(const struct loader_boot *b, uint64_t vbias)
{
	assert_int_equal(b->nsegments, 2);
	assert_int_equal(b->segments[0].paddr, 0x100000);
	assert_int_equal(b->segments[0].vaddr, 0x100000 + vbias);
	assert_int_equal(b->segments[0].memsz, 0x1000);
	assert_int_equal(b->segments[0].filesz, 0x1000);
	assert_int_equal(b->segments[0].offset, 0x1000);
	assert_int_equal(b->segments[0].phdr, 0);
	assert_int_equal(b->segments[1].paddr, 0x102000);
	assert_int_equal(b->segments[1].vaddr, 0x102000 + vbias);
	assert_int_equal(b->segments[1].memsz, 0x3000);
	assert_int_equal(b->segments[1].filesz, 0x800);
	assert_int_equal(b->segments[1].offset, 0x2000);
	assert_int_equal(b->segments[1].phdr, 1);
	assert_int_equal(b->kernel_start, 0x100000);
	assert_int_equal(b->kernel_end, 0x105000);
	assert_int_equal(b->entry, STD_ENTRY);
	assert_int_equal(b->header_offset, 0x1000);
	assert_int_equal(b->header_flags, 0x3);
	assert_false(b->aout_kludge);
}

/* ---- ELF ------------------------------------------------------------ */

static void test_elf32_standard(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	expect_standard_segments(&x->out, 0);
	assert_int_equal(x->out.elf_class, 1);
	expect_standard_memory(&x->f, &x->im);
	assert_false(x->f.stray);
}

static void test_elf64_identity(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 2, 0);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	expect_standard_segments(&x->out, 0);
	assert_int_equal(x->out.elf_class, 2);
	expect_standard_memory(&x->f, &x->im);
}

/* A higher-half ELF64 kernel: p_vaddr in the top 2 GiB, p_paddr at 1 MiB;
 * e_entry is virtual and is translated through its segment. */
static void test_elf64_higher_half_entry_translated(void **state)
{
	struct fix *x = *state;
	const uint64_t bias = 0xFFFFFFFF80000000ull;

	img_standard(&x->im, 2, bias);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	expect_standard_segments(&x->out, bias);
	assert_int_equal(x->out.cpu.eip, STD_ENTRY);
	expect_standard_memory(&x->f, &x->im);
}

/* Same for ELF32: vaddr 0xC0000000 + paddr (a Linux-style split). */
static void test_elf32_higher_half_entry_translated(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0xC0000000u);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	expect_standard_segments(&x->out, 0xC0000000u);
	expect_standard_memory(&x->f, &x->im);
}

/* An entry point that is physical already (in no segment's virtual range). */
static void test_elf_physical_entry(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 2, 0xFFFFFFFF80000000ull);
	img_w64(&x->im, 24, 0x102ABC); /* e_entry: physical, in the bss */
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.entry, 0x102ABC);
}

/* Program headers in any order, touching segments, empty and foreign ones. */
static void test_elf_unordered_touching_and_ignored_phdrs(void **state)
{
	struct fix *x = *state;
	struct img *im = &x->im;
	size_t ph = 52;

	img_init(im, 0x3000);
	img_elf(im, 1, 0x200010, ph, 5);
	img_phdr(im, 1, ph, 0, 1, 0x2000, 0x201000, 0x201000, 0x1000, 0x1000);
	img_phdr(im, 1, ph, 1, 6, 0xFFFFFFF0, 0, 0, 0xFFFF, 0xFFFF); /* PT_PHDR */
	img_phdr(im, 1, ph, 2, 1, 0x1000, 0x200000, 0x200000, 0x1000, 0x1000);
	img_phdr(im, 1, ph, 3, 1, 0xFFFFFFF0, 0x300000, 0xFFFFF000, 0, 0); /* empty */
	img_phdr(im, 1, ph, 4, 0, 0, 0, 0, 0, 0);                          /* PT_NULL */
	img_mbhdr(im, 0x1000, 0x3);
	expect_ok(ld(im, &x->f, NULL, NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.nsegments, 2);
	assert_int_equal(x->out.segments[0].phdr, 0);
	assert_int_equal(x->out.segments[1].phdr, 2);
	assert_int_equal(x->out.kernel_start, 0x200000);
	assert_int_equal(x->out.kernel_end, 0x202000);
	expect_image_bytes(&x->f, 0x200000, im, 0x1000, 0x2000);
	assert_int_equal(x->out.info_addr, 0x202000);
}

/* The last byte of a segment is a valid entry point. */
static void test_elf_entry_last_byte(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0);
	img_w32(&x->im, 24, 0x104FFF);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.cpu.eip, 0x104FFF);
}

/* Zeroes through the write callback when there is no zero callback. */
static void test_zero_without_zero_callback(void **state)
{
	struct fix *x = *state;
	struct fakemem g;
	struct loader_boot out2;

	img_standard(&x->im, 1, 0);
	/* A bss larger than the loader's zero chunk. */
	img_w32(&x->im, 52 + 32 + 20, 0x13456);
	fakemem_init(&g, 32 * MIB, 32 * MIB, true, false);
	expect_ok(ld(&x->im, &g, "k", NULL, 0, 0, &out2, &x->err), &x->err);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(g.zero_calls, 0);
	assert_true(x->f.zero_calls > 0);
	assert_true(g.writes > x->f.writes);
	expect_zero(&g, 0x102800, 0x13456 - 0x800);
	assert_memory_equal(g.buf, x->f.buf, g.size);
	assert_memory_equal(g.written, x->f.written, g.size);
	fakemem_free(&g);
}

/* ---- the header --------------------------------------------------------- */

/* A raw a.out-kludge kernel with its header at `off`, loading the whole
 * file at 0x200000 with bss to 0x205000. */
static void raw_aout(struct img *im, size_t len, size_t off, uint32_t flags)
{
	img_init(im, len);
	img_mbhdr(im, off, flags | 0x10000);
	img_aout(im, off, 0x200000 + (uint32_t)off, 0x200000, 0, 0x205000,
		 0x200000 + (uint32_t)off + 32);
}

/* The header may sit anywhere 4-byte aligned whose 12 bytes end within
 * the first 8192 bytes: 8180 is the last place. */
static void test_header_last_aligned_place(void **state)
{
	struct fix *x = *state;

	raw_aout(&x->im, 0x3000, 8180, 0x3);
	/* Only 12 bytes of header are needed in the first 8 KiB; the address
	 * fields may follow. */
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.header_offset, 8180);
	assert_true(x->out.aout_kludge);
}

/* A magic with a wrong checksum is skipped when a good header follows. */
static void test_header_bad_candidate_then_good(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0);
	img_w32(&x->im, 0x800, 0x1BADB002u);
	img_w32(&x->im, 0x804, 0x3);
	img_w32(&x->im, 0x808, 0x12345678);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.header_offset, 0x1000);
}

/* Optional flag bits 17-31 are ignored; bit 2 with LOADER_IGNORE_VIDEO. */
static void test_header_optional_bits_and_ignored_video(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0);
	img_mbhdr(&x->im, 0x1000, 0xFFFE0007u);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, LOADER_IGNORE_VIDEO,
		     &x->out, &x->err), &x->err);
	assert_int_equal(x->out.header_flags, 0xFFFE0007u);
	/* No video information is claimed. */
	assert_int_equal(fakemem_rd32(&x->f, x->out.info_addr), 0x24D);
	expect_standard_memory(&x->f, &x->im);
}

/* ---- the a.out kludge ----------------------------------------------------- */

static void test_aout_whole_file_with_bss(void **state)
{
	struct fix *x = *state;

	raw_aout(&x->im, 0x3000, 0x40, 0x3);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_true(x->out.aout_kludge);
	assert_int_equal(x->out.elf_class, 0);
	assert_int_equal(x->out.nsegments, 1);
	assert_int_equal(x->out.segments[0].paddr, 0x200000);
	assert_int_equal(x->out.segments[0].filesz, 0x3000);
	assert_int_equal(x->out.segments[0].memsz, 0x5000);
	assert_int_equal(x->out.segments[0].offset, 0);
	assert_int_equal(x->out.entry, 0x200060);
	expect_image_bytes(&x->f, 0x200000, &x->im, 0, 0x3000);
	expect_zero(&x->f, 0x203000, 0x2000);
	assert_true(fakemem_untouched(&x->f, 0, 0x200000));
	assert_int_equal(x->out.info_addr, 0x205000);
}

/* The header 0x1040 bytes into the file, header_addr 0x300040: the file
 * offset of load_addr 0x300000 is 0x1040 - 0x40 = 0x1000; load_end_addr
 * cuts the load at 0x1800 bytes, no bss. */
static void test_aout_slice(void **state)
{
	struct fix *x = *state;
	struct img *im = &x->im;

	img_init(im, 0x3000);
	img_mbhdr(im, 0x1040, 0x10003);
	img_aout(im, 0x1040, 0x300040, 0x300000, 0x301800, 0, 0x3017FF);
	expect_ok(ld(im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.segments[0].offset, 0x1000);
	assert_int_equal(x->out.segments[0].filesz, 0x1800);
	assert_int_equal(x->out.segments[0].memsz, 0x1800);
	assert_int_equal(x->out.cpu.eip, 0x3017FF);
	expect_image_bytes(&x->f, 0x300000, im, 0x1000, 0x1800);
	assert_true(fakemem_untouched(&x->f, 0x301800, 0x800));
	assert_int_equal(x->out.info_addr, 0x302000);
}

/* A kernel below 1 MiB: the information follows it in low memory. */
static void test_aout_low_memory_kernel(void **state)
{
	struct fix *x = *state;
	struct img *im = &x->im;
	static const uint8_t mod[100] = { 1, 2, 3 };
	struct loader_module m = { mod, sizeof(mod), "m" };

	img_init(im, 0x2000);
	img_mbhdr(im, 0, 0x10003);
	img_aout(im, 0, 0x10000, 0x10000, 0x12000, 0x14000, 0x10020);
	expect_ok(ld(im, &x->f, "k", &m, 1, 0, &x->out, &x->err), &x->err);
	expect_image_bytes(&x->f, 0x10000, im, 0, 0x2000);
	expect_zero(&x->f, 0x12000, 0x2000);
	assert_int_equal(x->out.info_addr, 0x14000);
	assert_int_equal(x->out.modules[0].start, 0x15000);
	assert_memory_equal(x->f.buf + 0x15000, mod, sizeof(mod));
	assert_true(fakemem_untouched(&x->f, 0, 0x10000));
	assert_true(fakemem_untouched(&x->f, 0x15000 + sizeof(mod),
				      32 * MIB - 0x15000 - sizeof(mod)));
}

/* Flag 16 wins over the ELF headers: the file is loaded by the addresses. */
static void test_aout_kludge_over_elf(void **state)
{
	struct fix *x = *state;

	img_standard(&x->im, 1, 0);
	img_mbhdr(&x->im, 0x1000, 0x10003);
	img_aout(&x->im, 0x1000, 0x401000, 0x400000, 0x402800, 0x404000,
		 0x400000);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_true(x->out.aout_kludge);
	expect_image_bytes(&x->f, 0x400000, &x->im, 0, 0x2800);
	expect_zero(&x->f, 0x402800, 0x1800);
	assert_true(fakemem_untouched(&x->f, 0x100000, 0x300000));
}

/* ---- the information structure --------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_mmap(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	put32(p, 20);
	put32(p + 4, (uint32_t)base);
	put32(p + 8, (uint32_t)(base >> 32));
	put32(p + 12, (uint32_t)len);
	put32(p + 16, (uint32_t)(len >> 32));
	put32(p + 20, type);
}

/*
 * The standard ELF32 kernel with a command line and two modules in a
 * 32 MiB guest whose EBDA starts at 0x9FC00.  Expected, by the documented
 * placement: the block at page_up(0x105000) = 0x105000:
 *   +0x000 info (116 bytes) + 4 bytes padding
 *   +0x078 GDT: null, code 0x00CF9B000000FFFF, data 0x00CF93000000FFFF
 *   +0x090 mmap: 3 entries of 24 bytes
 *   +0x0D8 module list: 2 entries of 16 bytes
 *   +0x0F8 "kernel.elf a=1 b=2\0" (19)
 *   +0x10B "Umbra\0" (6)
 *   +0x111 "mod0.bin x\0" (11)
 *   +0x11C "\0" (module 1 has no string)
 *   = 0x11D bytes
 * module 0 (5000 bytes) at 0x106000, module 1 (empty) at page_up(0x107388)
 * = 0x108000.
 */
static void test_mbi_byte_exact(void **state)
{
	struct fix *x = *state;
	uint8_t *mod0 = malloc(5000);
	struct loader_module mods[2] = {
		{ mod0, 5000, "mod0.bin x" },
		{ NULL, 0, NULL },
	};
	uint8_t exp[0x11D];
	const uint32_t B = 0x105000;

	assert_non_null(mod0);
	for (int i = 0; i < 5000; i++)
		mod0[i] = (uint8_t)(i * 13 + 1);
	img_standard(&x->im, 1, 0);
	expect_ok(ld(&x->im, &x->f, "kernel.elf a=1 b=2", mods, 2, 0, &x->out,
		     &x->err), &x->err);

	memset(exp, 0, sizeof(exp));
	put32(exp + 0, 0x24D);          /* MEMORY|CMDLINE|MODS|MMAP|LOADER_NAME */
	put32(exp + 4, 639);            /* mem_lower: 0x9FC00 / 1024 */
	put32(exp + 8, 31 * 1024);      /* mem_upper: 1 MiB .. 32 MiB */
	put32(exp + 16, B + 0xF8);      /* cmdline */
	put32(exp + 20, 2);             /* mods_count */
	put32(exp + 24, B + 0xD8);      /* mods_addr */
	put32(exp + 44, 72);            /* mmap_length */
	put32(exp + 48, B + 0x90);      /* mmap_addr */
	put32(exp + 64, B + 0x10B);     /* boot_loader_name */
	put32(exp + 0x78 + 8, 0x0000FFFF);
	put32(exp + 0x78 + 12, 0x00CF9B00);
	put32(exp + 0x78 + 16, 0x0000FFFF);
	put32(exp + 0x78 + 20, 0x00CF9300);
	put_mmap(exp + 0x90, 0, 0x9FC00, 1);
	put_mmap(exp + 0x90 + 24, 0x9FC00, 0x60400, 2);
	put_mmap(exp + 0x90 + 48, 0x100000, 0x1F00000, 1);
	put32(exp + 0xD8, 0x106000);
	put32(exp + 0xDC, 0x106000 + 5000);
	put32(exp + 0xE0, B + 0x111);
	put32(exp + 0xE8, 0x108000);
	put32(exp + 0xEC, 0x108000);
	put32(exp + 0xF0, B + 0x11C);
	memcpy(exp + 0xF8, "kernel.elf a=1 b=2", 19);
	memcpy(exp + 0x10B, "Umbra", 6);
	memcpy(exp + 0x111, "mod0.bin x", 11);

	assert_memory_equal(x->f.buf + B, exp, sizeof(exp));
	assert_int_equal(x->out.info_addr, B);
	assert_int_equal(x->out.info_size, sizeof(exp));
	assert_int_equal(x->out.nmodules, 2);
	assert_int_equal(x->out.modules[0].start, 0x106000);
	assert_int_equal(x->out.modules[1].start, 0x108000);
	assert_int_equal(x->out.end, 0x108000);
	assert_memory_equal(x->f.buf + 0x106000, mod0, 5000);

	/* Nothing else was written. */
	expect_standard_memory(&x->f, &x->im);
	assert_true(fakemem_untouched(&x->f, B + sizeof(exp),
				      0x106000 - B - sizeof(exp)));
	assert_true(fakemem_untouched(&x->f, 0x106000 + 5000,
				      32 * MIB - 0x106000 - 5000));
	assert_int_equal(fakemem_written_bytes(&x->f),
			 0x1000 + 0x3000 + sizeof(exp) + 5000);
	assert_false(x->f.stray);
	free(mod0);
}

/* No command line, no modules: an empty string, mods_count 0, and the
 * flags still announce both (a kernel may rely on MODS being set). */
static void test_mbi_empty_cmdline_no_modules(void **state)
{
	struct fix *x = *state;
	uint32_t B;

	img_standard(&x->im, 1, 0);
	expect_ok(ld(&x->im, &x->f, NULL, NULL, 0, 0, &x->out, &x->err), &x->err);
	B = x->out.info_addr;
	assert_int_equal(B, 0x105000);
	assert_int_equal(fakemem_rd32(&x->f, B + 0), 0x24D);
	assert_int_equal(fakemem_rd32(&x->f, B + 20), 0);
	assert_int_equal(fakemem_rd32(&x->f, B + 24), B + 0x90 + 72);
	assert_int_equal(fakemem_rd32(&x->f, B + 16), B + 0x90 + 72);
	assert_int_equal(x->f.buf[B + 0x90 + 72], 0);
	assert_string_equal((char *)x->f.buf + B + 0x90 + 73, "Umbra");
	assert_int_equal(x->out.info_size, 0x90 + 72 + 1 + 6);
}

/* A guest with RAM above 4 GiB and a reserved ACPI range at the top of
 * low RAM: the whole map goes to the guest; mem_upper stops at the hole. */
static void test_mbi_mmap_high_ram_and_reserved(void **state)
{
	struct fix *x = *state;
	struct fakemem g;
	struct pc_layout l = { .ram_size = 20 * MIB, .hole_start = 16 * MIB };
	uint8_t exp[5 * 24];
	uint32_t B;

	(void)x;
	fakemem_init_layout(&g, &l, 16 * MIB, true);
	assert_true(memmap_set(&g.map, 15 * MIB, MIB, MEMMAP_ACPI));
	img_standard(&x->im, 1, 0);
	expect_ok(ld(&x->im, &g, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	B = x->out.info_addr;
	put_mmap(exp + 0, 0, 0xA0000, 1);
	put_mmap(exp + 24, 0xA0000, 0x60000, 2);
	put_mmap(exp + 48, 0x100000, 14 * MIB, 1);
	put_mmap(exp + 72, 15 * MIB, MIB, 3);
	put_mmap(exp + 96, 0x100000000ull, 4 * MIB, 1);
	assert_int_equal(fakemem_rd32(&g, B + 4), 640);
	assert_int_equal(fakemem_rd32(&g, B + 8), 14 * 1024);
	assert_int_equal(fakemem_rd32(&g, B + 44), sizeof(exp));
	assert_int_equal(fakemem_rd32(&g, B + 48), B + 0x90);
	assert_memory_equal(g.buf + B + 0x90, exp, sizeof(exp));
	fakemem_free(&g);
}

/* Sixteen modules of assorted sizes: page-aligned, in order, contents and
 * strings exact, none overlapping. */
static void test_modules_many(void **state)
{
	struct fix *x = *state;
	struct loader_module mods[LOADER_MAX_MODULES];
	static uint8_t data[LOADER_MAX_MODULES][9000];
	char names[LOADER_MAX_MODULES][32];
	uint64_t prev_end;

	for (int i = 0; i < LOADER_MAX_MODULES; i++) {
		size_t len = (size_t)(i * 577) % 9000;

		for (size_t j = 0; j < len; j++)
			data[i][j] = (uint8_t)(i + j * 3 + 7);
		snprintf(names[i], sizeof(names[i]), "mod%d arg=%d", i, i * i);
		mods[i] = (struct loader_module){ data[i], len, names[i] };
	}
	img_standard(&x->im, 2, 0);
	expect_ok(ld(&x->im, &x->f, "k", mods, LOADER_MAX_MODULES, 0, &x->out,
		     &x->err), &x->err);
	assert_int_equal(fakemem_rd32(&x->f, x->out.info_addr + 20),
			 LOADER_MAX_MODULES);
	prev_end = x->out.info_addr + x->out.info_size;
	for (int i = 0; i < LOADER_MAX_MODULES; i++) {
		uint32_t e = x->out.mods_addr + 16 * (uint32_t)i;
		uint32_t start = fakemem_rd32(&x->f, e);
		uint32_t end = fakemem_rd32(&x->f, e + 4);
		uint32_t str = fakemem_rd32(&x->f, e + 8);

		assert_int_equal(start, page_up(prev_end));
		assert_int_equal(end - start, mods[i].len);
		assert_int_equal(start, x->out.modules[i].start);
		assert_int_equal(fakemem_rd32(&x->f, e + 12), 0);
		assert_memory_equal(x->f.buf + start, data[i], mods[i].len);
		assert_string_equal((char *)x->f.buf + str, names[i]);
		prev_end = end;
	}
	assert_int_equal(x->out.end, prev_end);
}

/* A kernel whose bss runs to the top of RAM: no room above it, so the
 * information and the module go to low memory (from 4 KiB). */
static void test_placement_falls_back_below_kernel(void **state)
{
	struct fix *x = *state;
	struct img *im = &x->im;
	static const uint8_t mod[6000] = { 9 };
	struct loader_module m = { mod, sizeof(mod), "low" };

	img_init(im, 0x2000);
	img_elf(im, 1, 0x100000, 52, 1);
	img_phdr(im, 1, 52, 0, 1, 0x1000, 0x100000, 0x100000, 0x1000,
		 32 * MIB - 0x100000 - 0x100);
	img_mbhdr(im, 0x1000, 0x3);
	expect_ok(ld(im, &x->f, "k", &m, 1, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.info_addr, 0x1000);
	assert_int_equal(x->out.modules[0].start, 0x2000);
	assert_int_equal(x->out.cpu.ebx, 0x1000);
	assert_true(fakemem_untouched(&x->f, 0, 0x1000)); /* page 0 stays */
	assert_memory_equal(x->f.buf + 0x2000, mod, sizeof(mod));
	assert_true(fakemem_untouched(&x->f, 32 * MIB - 0x100, 0x100));
}

/*
 * The fallback search steps over segments, placed blocks and reserved
 * ranges.  A 2 MiB guest whose kernel leaves no room above it:
 *   segments [0x1000, 0x9E000), [0x100000, 0x101000), [0x102000, 0x200000)
 *   RAM      [0, 0x9FC00), [0x100000, 0x200000)
 * The information (241 bytes) lands at 0x9E000; the 4 KiB module does not
 * fit in [0x9F000, 0x9FC00), skips the reserved range and the segment at
 * 1 MiB, and fits the one-page gap at 0x101000.  A second page-sized
 * module has no room anywhere.
 */
static void test_placement_skips_segments_and_holes(void **state)
{
	struct fix *x = *state;
	struct img *im = &x->im;
	struct fakemem g;
	static const uint8_t mod[0x1000] = { 5 };
	struct loader_module m[2] = { { mod, sizeof(mod), "" },
				      { mod, sizeof(mod), "" } };

	fakemem_init(&g, 2 * MIB, 2 * MIB, true, true);
	img_init(im, 0x3000);
	img_elf(im, 1, 0x1000, 52, 3);
	img_phdr(im, 1, 52, 0, 1, 0x1000, 0x1000, 0x1000, 0x1000, 0x9D000);
	img_phdr(im, 1, 52, 1, 1, 0x2000, 0x100000, 0x100000, 0x1000, 0x1000);
	img_phdr(im, 1, 52, 2, 1, 0x2000, 0x102000, 0x102000, 0x1000, 0xFE000);
	img_mbhdr(im, 0x1000, 0x3);
	expect_ok(ld(im, &g, "k", m, 1, 0, &x->out, &x->err), &x->err);
	assert_int_equal(x->out.kernel_end, 0x200000);
	assert_int_equal(x->out.info_size, 241);
	assert_int_equal(x->out.info_addr, 0x9E000);
	assert_int_equal(x->out.modules[0].start, 0x101000);
	assert_int_equal(x->out.modules[0].end, 0x102000);
	assert_true(fakemem_untouched(&g, 0x9E000 + 241, 0x9FC00 - 0x9E000 - 241));
	fakemem_free(&g);

	fakemem_init(&g, 2 * MIB, 2 * MIB, true, true);
	assert_int_equal(ld(im, &g, "k", m, 2, 0, &x->out, &x->err),
			 LOADER_ENOSPACE);
	assert_string_equal(x->err.msg, "no room for module 1 (0x1000 bytes) "
			    "in guest RAM below 4 GiB");
	assert_int_equal(g.writes, 0);
	fakemem_free(&g);
}

/* ---- the initial CPU state ---------------------------------------------- */

/* Decodes a GDT descriptor into the VMCB's segment form. */
static void decode_desc(uint64_t d, uint16_t *attrib, uint32_t *limit,
			uint32_t *base)
{
	uint32_t lim = (uint32_t)(d & 0xFFFF) | (uint32_t)((d >> 48) & 0xF) << 16;

	*attrib = (uint16_t)(((d >> 40) & 0xFF) | ((d >> 52) & 0xF) << 8);
	*limit = (d >> 55) & 1 ? lim << 12 | 0xFFF : lim;
	*base = (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 56) & 0xFF) << 24;
}

static void test_cpu_state(void **state)
{
	struct fix *x = *state;
	const struct loader_cpu_state *s = &x->out.cpu;
	const struct loader_seg_reg *data[5];
	uint16_t attrib;
	uint32_t limit, base;

	img_standard(&x->im, 1, 0);
	expect_ok(ld(&x->im, &x->f, "k", NULL, 0, 0, &x->out, &x->err), &x->err);
	assert_int_equal(s->eax, 0x2BADB002);
	assert_int_equal(s->ebx, x->out.info_addr);
	assert_int_equal(s->eip, STD_ENTRY);
	assert_int_equal(s->eflags, 0x2);           /* IF = VM = 0 */
	assert_int_equal(s->cr0, 0x11);              /* PE | ET: no PG, caches on */
	assert_int_equal(s->cr4, 0);
	assert_int_equal(s->efer, 0);
	assert_int_equal(s->dr7, 0x400);

	/* CS: 32-bit code, flat. */
	assert_int_equal(s->cs.selector, 0x08);
	assert_int_equal(s->cs.base, 0);
	assert_int_equal(s->cs.limit, 0xFFFFFFFFu);
	assert_int_equal(s->cs.attrib & 0x1F, 0x1B); /* S, code, readable, accessed */
	assert_int_equal(s->cs.attrib & 0x80, 0x80); /* P */
	assert_int_equal(s->cs.attrib & 0x60, 0);    /* DPL 0 */
	assert_int_equal(s->cs.attrib & 0x600, 0x400); /* D = 1, L = 0 */
	data[0] = &s->ds; data[1] = &s->es; data[2] = &s->fs;
	data[3] = &s->gs; data[4] = &s->ss;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(data[i]->selector, 0x10);
		assert_int_equal(data[i]->base, 0);
		assert_int_equal(data[i]->limit, 0xFFFFFFFFu);
		assert_int_equal(data[i]->attrib, 0xC93);
	}

	/* The GDT in guest memory agrees with the segment registers. */
	assert_int_equal(s->gdtr_base, x->out.info_addr + 0x78);
	assert_int_equal(s->gdtr_limit, 23);
	assert_int_equal(fakemem_rd64(&x->f, s->gdtr_base), 0);
	decode_desc(fakemem_rd64(&x->f, s->gdtr_base + s->cs.selector),
		    &attrib, &limit, &base);
	assert_int_equal(attrib, s->cs.attrib);
	assert_int_equal(limit, s->cs.limit);
	assert_int_equal(base, s->cs.base);
	decode_desc(fakemem_rd64(&x->f, s->gdtr_base + s->ds.selector),
		    &attrib, &limit, &base);
	assert_int_equal(attrib, s->ds.attrib);
	assert_int_equal(limit, s->ds.limit);
	assert_int_equal(base, s->ds.base);
	assert_int_equal(s->idtr_limit, 0);
	assert_int_equal(s->tr.attrib & 0x9F, 0x8B);  /* present busy 32-bit TSS */
	assert_int_equal(s->ldtr.attrib & 0x9F, 0x82);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_elf32_standard),
		T(test_elf64_identity),
		T(test_elf64_higher_half_entry_translated),
		T(test_elf32_higher_half_entry_translated),
		T(test_elf_physical_entry),
		T(test_elf_unordered_touching_and_ignored_phdrs),
		T(test_elf_entry_last_byte),
		T(test_zero_without_zero_callback),
		T(test_header_last_aligned_place),
		T(test_header_bad_candidate_then_good),
		T(test_header_optional_bits_and_ignored_video),
		T(test_aout_whole_file_with_bss),
		T(test_aout_slice),
		T(test_aout_low_memory_kernel),
		T(test_aout_kludge_over_elf),
		T(test_mbi_byte_exact),
		T(test_mbi_empty_cmdline_no_modules),
		T(test_mbi_mmap_high_ram_and_reserved),
		T(test_modules_many),
		T(test_placement_falls_back_below_kernel),
		T(test_placement_skips_segments_and_holes),
		T(test_cpu_state),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
