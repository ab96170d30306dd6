/* Shared helpers of the loader tests (see ldtest.h). */
#include "ldtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fake guest memory ------------------------------------------- */

static bool stray(const struct fakemem *f, uint64_t gpa, uint64_t len)
{
	/* Independent of the memory map: the buffer's bounds and the PC's
	 * VGA/BIOS hole, which no test map ever makes RAM. */
	if (gpa > f->size || len > f->size - gpa)
		return true;
	return gpa < 0x100000 && gpa + len > 0xA0000;
}

static bool fm_write(void *ctx, uint64_t gpa, const void *src, uint64_t len)
{
	struct fakemem *f = ctx;

	f->writes++;
	if (f->fail_at && f->writes == f->fail_at)
		return false;
	if (len == 0 || stray(f, gpa, len)) {
		f->stray = true; /* the loader never asks for empty writes */
		return false;
	}
	memcpy(f->buf + gpa, src, len);
	memset(f->written + gpa, 1, len);
	return true;
}

static bool fm_zero(void *ctx, uint64_t gpa, uint64_t len)
{
	struct fakemem *f = ctx;

	f->writes++;
	f->zero_calls++;
	if (f->fail_at && f->writes == f->fail_at)
		return false;
	if (len == 0 || stray(f, gpa, len)) {
		f->stray = true;
		return false;
	}
	memset(f->buf + gpa, 0, len);
	memset(f->written + gpa, 1, len);
	return true;
}

void fakemem_init(struct fakemem *f, uint64_t ram, uint64_t size,
		  bool low_ebda, bool use_zero_cb)
{
	struct pc_layout l = { .ram_size = ram, .low_ram_end = low_ebda ? 0x9FC00 : 0 };

	fakemem_init_layout(f, &l, size, use_zero_cb);
}

void fakemem_init_layout(struct fakemem *f, const struct pc_layout *l,
			 uint64_t size, bool use_zero_cb)
{
	const char *e;

	memset(f, 0, sizeof(*f));
	f->size = size;
	f->buf = malloc(size);
	f->written = calloc(size, 1);
	if (!f->buf || !f->written) {
		fprintf(stderr, "fakemem: out of memory\n");
		abort();
	}
	memset(f->buf, FILL, size);
	e = memmap_pc(&f->map, l);
	if (e) {
		fprintf(stderr, "fakemem: memmap_pc: %s\n", e);
		abort();
	}
	f->gm.ctx = f;
	f->gm.write = fm_write;
	f->gm.zero = use_zero_cb ? fm_zero : NULL;
	f->gm.map = &f->map;
}

void fakemem_free(struct fakemem *f)
{
	free(f->buf);
	free(f->written);
	f->buf = NULL;
	f->written = NULL;
}

bool fakemem_untouched(const struct fakemem *f, uint64_t gpa, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (f->buf[gpa + i] != FILL || f->written[gpa + i])
			return false;
	return true;
}

uint32_t fakemem_rd32(const struct fakemem *f, uint64_t gpa)
{
	const uint8_t *p = f->buf + gpa;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t fakemem_rd64(const struct fakemem *f, uint64_t gpa)
{
	return fakemem_rd32(f, gpa) | (uint64_t)fakemem_rd32(f, gpa + 4) << 32;
}

uint64_t fakemem_written_bytes(const struct fakemem *f)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < f->size; i++)
		n += f->written[i];
	return n;
}

/* ---- the image builder ---------------------------------------------- */

uint8_t img_pattern(size_t off)
{
	uint8_t v = (uint8_t)((off * 131) ^ (off >> 8) ^ 0x5c);

	return v == 0 || v == FILL ? 0x11 : v;
}

void img_init(struct img *im, size_t len)
{
	if (len > IMG_MAX)
		abort();
	memset(im->b, 0, sizeof(im->b));
	for (size_t i = 0; i < len; i++)
		im->b[i] = img_pattern(i);
	im->len = len;
}

void img_w16(struct img *im, size_t off, uint16_t v)
{
	im->b[off] = (uint8_t)v;
	im->b[off + 1] = (uint8_t)(v >> 8);
}

void img_w32(struct img *im, size_t off, uint32_t v)
{
	img_w16(im, off, (uint16_t)v);
	img_w16(im, off + 2, (uint16_t)(v >> 16));
}

void img_w64(struct img *im, size_t off, uint64_t v)
{
	img_w32(im, off, (uint32_t)v);
	img_w32(im, off + 4, (uint32_t)(v >> 32));
}

void img_mbhdr(struct img *im, size_t off, uint32_t flags)
{
	img_w32(im, off, 0x1BADB002u);
	img_w32(im, off + 4, flags);
	img_w32(im, off + 8, (uint32_t)-(0x1BADB002u + flags));
}

void img_aout(struct img *im, size_t off, uint32_t header_addr,
	      uint32_t load_addr, uint32_t load_end, uint32_t bss_end,
	      uint32_t entry)
{
	img_w32(im, off + 12, header_addr);
	img_w32(im, off + 16, load_addr);
	img_w32(im, off + 20, load_end);
	img_w32(im, off + 24, bss_end);
	img_w32(im, off + 28, entry);
}

size_t img_ehsize(int class)
{
	return class == 2 ? 64 : 52;
}

size_t img_phsize(int class)
{
	return class == 2 ? 56 : 32;
}

void img_elf(struct img *im, int class, uint64_t entry, uint64_t phoff,
	     uint16_t phnum)
{
	static const uint8_t ident[16] = { 0x7f, 'E', 'L', 'F', 0, 1, 1, 0 };

	memcpy(im->b, ident, sizeof(ident));
	im->b[4] = (uint8_t)class;
	img_w16(im, 16, 2);                      /* e_type: ET_EXEC */
	img_w16(im, 18, class == 2 ? 62 : 3);    /* e_machine */
	img_w32(im, 20, 1);                      /* e_version */
	if (class == 2) {
		img_w64(im, 24, entry);
		img_w64(im, 32, phoff);
		img_w64(im, 40, 0);              /* e_shoff */
		img_w32(im, 48, 0);              /* e_flags */
		img_w16(im, 52, 64);             /* e_ehsize */
		img_w16(im, 54, 56);             /* e_phentsize */
		img_w16(im, 56, phnum);
		img_w16(im, 58, 64);             /* e_shentsize */
		img_w16(im, 60, 0);
		img_w16(im, 62, 0);
	} else {
		img_w32(im, 24, (uint32_t)entry);
		img_w32(im, 28, (uint32_t)phoff);
		img_w32(im, 32, 0);
		img_w32(im, 36, 0);
		img_w16(im, 40, 52);
		img_w16(im, 42, 32);
		img_w16(im, 44, phnum);
		img_w16(im, 46, 40);
		img_w16(im, 48, 0);
		img_w16(im, 50, 0);
	}
}

void img_phdr(struct img *im, int class, uint64_t phoff, unsigned idx,
	      uint32_t type, uint64_t offset, uint64_t vaddr, uint64_t paddr,
	      uint64_t filesz, uint64_t memsz)
{
	size_t p = phoff + idx * img_phsize(class);

	img_w32(im, p, type);
	if (class == 2) {
		img_w32(im, p + 4, 7);           /* p_flags RWX */
		img_w64(im, p + 8, offset);
		img_w64(im, p + 16, vaddr);
		img_w64(im, p + 24, paddr);
		img_w64(im, p + 32, filesz);
		img_w64(im, p + 40, memsz);
		img_w64(im, p + 48, 0x1000);
	} else {
		img_w32(im, p + 4, (uint32_t)offset);
		img_w32(im, p + 8, (uint32_t)vaddr);
		img_w32(im, p + 12, (uint32_t)paddr);
		img_w32(im, p + 16, (uint32_t)filesz);
		img_w32(im, p + 20, (uint32_t)memsz);
		img_w32(im, p + 24, 7);
		img_w32(im, p + 28, 0x1000);
	}
}

void img_standard(struct img *im, int class, uint64_t vbias)
{
	size_t ph = STD_PHOFF(class);

	img_init(im, STD_LEN);
	img_elf(im, class, STD_ENTRY + vbias, ph, 3);
	img_phdr(im, class, ph, 0, 1, 0x1000, 0x100000 + vbias, 0x100000,
		 0x1000, 0x1000);
	img_phdr(im, class, ph, 1, 1, 0x2000, 0x102000 + vbias, 0x102000,
		 0x800, 0x3000);
	img_phdr(im, class, ph, 2, 4, 0x7777777, 0, 0, 0x12345, 0x12345);
	img_mbhdr(im, 0x1000, 0x3);
}

enum loader_err ld(const struct img *im, struct fakemem *f, const char *cmd,
		   const struct loader_module *mods, uint32_t nmods,
		   uint32_t flags, struct loader_boot *out,
		   struct loader_error *err)
{
	struct loader_args a = {
		.image = im->b, .image_len = im->len, .cmdline = cmd,
		.modules = mods, .nmodules = nmods, .flags = flags,
		.mem = &f->gm,
	};

	return loader_load_multiboot(&a, out, err);
}
