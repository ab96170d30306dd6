/*
 * The multiboot v1 guest loader (see loader.h for the contract).
 *
 * Two phases: plan() parses and validates the image and decides where
 * every byte goes, touching nothing; commit() then writes the guest's
 * memory.  The image is read byte by byte (it need not be aligned), with
 * every offset checked against its length before it is read.
 */
#include "loader.h"

#include "elf.h"

#define PAGE      4096u
#define FOUR_GIB  0x100000000ull

/* Layout of the boot information block. */
#define BI_INFO    0                          /* struct multiboot_info */
#define BI_GDT     120                        /* 3 descriptors */
#define BI_GDT_LEN 24
#define BI_MMAP    (BI_GDT + BI_GDT_LEN)      /* 144: the memory map */

/* ---- bytes ------------------------------------------------------------- */

static uint32_t rd8(const uint8_t *p)
{
	return p[0];
}

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static void zero_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = 0;
}

/* Rounds up to a page, saturating instead of wrapping. */
static uint64_t page_up(uint64_t v)
{
	if (v > UINT64_MAX - (PAGE - 1))
		return UINT64_MAX;
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/* a + b, saturating (for messages about ranges that wrap). */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Length of a NUL-terminated string, or max if it has none in max bytes. */
static uint64_t bounded_strlen(const char *s, uint64_t max)
{
	uint64_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

/* ---- messages ----------------------------------------------------------- */

struct msgbuf {
	char *p;
	size_t len;
};

static void put_c(struct msgbuf *m, char c)
{
	if (m->len + 1 < LOADER_MSG_MAX)
		m->p[m->len++] = c;
	m->p[m->len] = '\0';
}

static void put_s(struct msgbuf *m, const char *s)
{
	while (*s)
		put_c(m, *s++);
}

static void put_u(struct msgbuf *m, uint64_t v, unsigned base)
{
	char d[20];
	int n = 0;

	do {
		d[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		put_c(m, d[--n]);
}

/*
 * Records an error.  fmt takes %x (0x-prefixed hex), %u (decimal) and %s
 * (a string passed as (uintptr_t)) from args, in order.
 */
static enum loader_err fail(struct loader_error *e, enum loader_err code,
			    const char *fmt, const uint64_t *args)
{
	struct msgbuf m = { e->msg, 0 };
	size_t ai = 0;

	e->code = code;
	e->msg[0] = '\0';
	for (; *fmt; fmt++) {
		if (*fmt != '%' || !fmt[1]) {
			put_c(&m, *fmt);
			continue;
		}
		fmt++;
		switch (*fmt) {
		case 'x':
			put_s(&m, "0x");
			put_u(&m, args[ai++], 16);
			break;
		case 'u':
			put_u(&m, args[ai++], 10);
			break;
		case 's':
			put_s(&m, (const char *)(uintptr_t)args[ai++]);
			break;
		default:
			put_c(&m, *fmt);
			break;
		}
	}
	return code;
}

#define ARGS(...) ((const uint64_t[]){ __VA_ARGS__ })
#define S(str) ((uint64_t)(uintptr_t)(str))

const char *loader_strerror(enum loader_err e)
{
	switch (e) {
	case LOADER_OK: return "success";
	case LOADER_EARG: return "invalid arguments";
	case LOADER_EEMPTY: return "zero-size image";
	case LOADER_ENOHEADER: return "no multiboot header";
	case LOADER_EHDRTRUNC: return "multiboot header truncated";
	case LOADER_ECHECKSUM: return "checksum wrong";
	case LOADER_EREQUIRED: return "unsupported multiboot requirement";
	case LOADER_EVIDEO: return "video mode requested";
	case LOADER_EAOUT: return "inconsistent a.out kludge addresses";
	case LOADER_ENOTELF: return "not an ELF image and no load addresses";
	case LOADER_EELFTRUNC: return "ELF header truncated";
	case LOADER_EBADELF: return "unsupported ELF file";
	case LOADER_EPHDR: return "program header table out of range";
	case LOADER_ENOLOAD: return "nothing to load";
	case LOADER_ETOOMANY: return "too many segments";
	case LOADER_EFILESZ: return "segment file size exceeds memory size";
	case LOADER_ESEGRANGE: return "segment extends past the image";
	case LOADER_EABOVE4G: return "segment above 4 GiB";
	case LOADER_ENOTRAM: return "load address is not guest RAM";
	case LOADER_EOVERLAP: return "segments overlap";
	case LOADER_EENTRY: return "entry point outside every loaded segment";
	case LOADER_ETOOMANYMODS: return "too many modules";
	case LOADER_ESTRING: return "string too long";
	case LOADER_ENOSPACE: return "no room in guest RAM";
	case LOADER_EWRITE: return "guest memory write failed";
	case LOADER_NERR: break;
	}
	return "unknown error";
}

/* ---- the plan ------------------------------------------------------------ */

struct ctx {
	const struct loader_args *a;
	const uint8_t *img;
	uint64_t len;
	const struct memmap *map;
	struct loader_boot *out;
	struct loader_error *err;
	uint64_t cmdline_len;                    /* without the NUL */
	uint64_t mod_string_len[LOADER_MAX_MODULES];
};

static bool overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end)
{
	return a < b_end && b < a_end;
}

/* Finds the multiboot header; records its offset and flags. */
static enum loader_err find_header(struct ctx *c)
{
	uint64_t limit = c->len < MULTIBOOT_SEARCH ? c->len : MULTIBOOT_SEARCH;
	uint64_t bad = UINT64_MAX, bad_sum = 0, trunc = UINT64_MAX;

	for (uint64_t off = 0; off + 4 <= limit; off += MULTIBOOT_HEADER_ALIGN) {
		const uint8_t *h = c->img + off;
		uint32_t sum;

		if (rd32(h) != MULTIBOOT_HEADER_MAGIC)
			continue;
		if (off + MULTIBOOT_HDR_MIN_SIZE > c->len) {
			if (trunc == UINT64_MAX)
				trunc = off;
			continue;
		}
		if (off + MULTIBOOT_HDR_MIN_SIZE > MULTIBOOT_SEARCH)
			continue; /* not contained in the first 8 KiB */
		sum = rd32(h) + rd32(h + MULTIBOOT_HDR_FLAGS) +
		      rd32(h + MULTIBOOT_HDR_CHECKSUM);
		if (sum == 0) {
			c->out->header_offset = (uint32_t)off;
			c->out->header_flags = rd32(h + MULTIBOOT_HDR_FLAGS);
			return LOADER_OK;
		}
		if (bad == UINT64_MAX) {
			bad = off;
			bad_sum = sum;
		}
	}
	if (bad != UINT64_MAX)
		return fail(c->err, LOADER_ECHECKSUM,
			    "multiboot header at offset %x: checksum wrong "
			    "(magic + flags + checksum = %x, must be 0)",
			    ARGS(bad, bad_sum));
	if (trunc != UINT64_MAX)
		return fail(c->err, LOADER_EHDRTRUNC,
			    "multiboot header at offset %x is truncated: the "
			    "image ends at %x, the header needs 12 bytes",
			    ARGS(trunc, c->len));
	return fail(c->err, LOADER_ENOHEADER,
		    "no multiboot header (magic 0x1badb002, 4-byte aligned) "
		    "in the first %u bytes", ARGS(limit));
}

static enum loader_err check_flags(struct ctx *c)
{
	uint32_t f = c->out->header_flags;
	uint32_t unsupported = f & MULTIBOOT_REQUIRED_MASK &
		~(MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_VIDEO_MODE);

	if (unsupported)
		return fail(c->err, LOADER_EREQUIRED,
			    "multiboot header flags %x: requirement bits %x are "
			    "not supported (Umbra meets bits 0 and 1)",
			    ARGS(f, unsupported));
	if ((f & MULTIBOOT_VIDEO_MODE) && !(c->a->flags & LOADER_IGNORE_VIDEO))
		return fail(c->err, LOADER_EVIDEO,
			    "multiboot header flags %x request a video mode "
			    "(bit 2): Umbra provides no framebuffer",
			    ARGS(f));
	return LOADER_OK;
}

/* Checks that [paddr, paddr + memsz) is below 4 GiB and guest RAM; phdr is
 * the program header index, or -1 for the a.out kludge. */
static enum loader_err check_place(struct ctx *c, int64_t phdr, uint64_t paddr,
				   uint64_t memsz, bool elf64)
{
	uint64_t end = sat_add(paddr, memsz);
	uint64_t i = (uint64_t)phdr;

	if (end > FOUR_GIB && phdr < 0)
		return fail(c->err, LOADER_EABOVE4G,
			    "a.out kludge: segment [%x, %x) goes past 4 GiB",
			    ARGS(paddr, end));
	if (end > FOUR_GIB && elf64)
		return fail(c->err, LOADER_EABOVE4G,
			    "ELF program header %u: ELF64 segment [%x, %x) is "
			    "above 4 GiB: the kernel starts in 32-bit mode and "
			    "cannot reach it", ARGS(i, paddr, end));
	if (end > FOUR_GIB)
		return fail(c->err, LOADER_EABOVE4G,
			    "ELF program header %u: segment [%x, %x) goes past "
			    "4 GiB", ARGS(i, paddr, end));
	if (memmap_is_ram(c->map, paddr, memsz))
		return LOADER_OK;
	if (phdr < 0)
		return fail(c->err, LOADER_ENOTRAM,
			    "a.out kludge: load address range [%x, %x) is not "
			    "guest RAM", ARGS(paddr, end));
	return fail(c->err, LOADER_ENOTRAM,
		    "ELF program header %u: load address range [%x, %x) is not "
		    "guest RAM", ARGS(i, paddr, end));
}

static enum loader_err plan_aout(struct ctx *c)
{
	uint64_t off = c->out->header_offset;
	const uint8_t *h = c->img + off;
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t file_off, load_size, memsz;
	enum loader_err r;

	if (off + MULTIBOOT_HDR_AOUT_SIZE > c->len)
		return fail(c->err, LOADER_EHDRTRUNC,
			    "multiboot header at offset %x is truncated: flag 16 "
			    "needs the address fields [%x, %x), the image ends "
			    "at %x", ARGS(off, off, off + MULTIBOOT_HDR_AOUT_SIZE,
					  c->len));
	header_addr = rd32(h + MULTIBOOT_HDR_HEADER_ADDR);
	load_addr = rd32(h + MULTIBOOT_HDR_LOAD_ADDR);
	load_end = rd32(h + MULTIBOOT_HDR_LOAD_END_ADDR);
	bss_end = rd32(h + MULTIBOOT_HDR_BSS_END_ADDR);
	c->out->entry = rd32(h + MULTIBOOT_HDR_ENTRY_ADDR);

	if (load_addr > header_addr)
		return fail(c->err, LOADER_EAOUT,
			    "a.out kludge: load_addr %x is above header_addr %x",
			    ARGS(load_addr, header_addr));
	if (header_addr - load_addr > off)
		return fail(c->err, LOADER_EAOUT,
			    "a.out kludge: load_addr %x lies before the file: "
			    "header_addr %x is %x bytes above it, but the header "
			    "is at file offset %x",
			    ARGS(load_addr, header_addr,
				 header_addr - load_addr, off));
	file_off = off - (header_addr - load_addr);
	if (load_end == 0) {
		load_size = c->len - file_off;
	} else {
		if (load_end < load_addr)
			return fail(c->err, LOADER_EAOUT,
				    "a.out kludge: load_end_addr %x is below "
				    "load_addr %x", ARGS(load_end, load_addr));
		load_size = load_end - load_addr;
		if (load_size > c->len - file_off)
			return fail(c->err, LOADER_ESEGRANGE,
				    "a.out kludge: segment [%x, %x) extends past "
				    "the image (length %x): its file bytes are "
				    "[%x, %x)",
				    ARGS(load_addr, load_end, c->len, file_off,
					 file_off + load_size));
	}
	memsz = load_size;
	if (bss_end != 0) {
		if (bss_end < load_addr + load_size)
			return fail(c->err, LOADER_EAOUT,
				    "a.out kludge: bss_end_addr %x is below the "
				    "end of the loaded text %x",
				    ARGS(bss_end, load_addr + load_size));
		memsz = bss_end - load_addr;
	}
	if (memsz == 0)
		return fail(c->err, LOADER_ENOLOAD,
			    "a.out kludge: nothing to load (load_addr %x, "
			    "load_end_addr %x, no bss)",
			    ARGS(load_addr, load_end));
	r = check_place(c, -1, load_addr, memsz, false);
	if (r)
		return r;
	c->out->aout_kludge = true;
	c->out->nsegments = 1;
	c->out->segments[0] = (struct loader_segment){
		.paddr = load_addr, .vaddr = load_addr, .memsz = memsz,
		.filesz = load_size, .offset = file_off, .phdr = 0,
	};
	return LOADER_OK;
}

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const uint8_t *p, bool elf64, struct phdr *ph)
{
	ph->type = rd32(p);
	if (elf64) {
		ph->offset = rd64(p + offsetof(struct elf64_phdr, p_offset));
		ph->vaddr = rd64(p + offsetof(struct elf64_phdr, p_vaddr));
		ph->paddr = rd64(p + offsetof(struct elf64_phdr, p_paddr));
		ph->filesz = rd64(p + offsetof(struct elf64_phdr, p_filesz));
		ph->memsz = rd64(p + offsetof(struct elf64_phdr, p_memsz));
	} else {
		ph->offset = rd32(p + offsetof(struct elf32_phdr, p_offset));
		ph->vaddr = rd32(p + offsetof(struct elf32_phdr, p_vaddr));
		ph->paddr = rd32(p + offsetof(struct elf32_phdr, p_paddr));
		ph->filesz = rd32(p + offsetof(struct elf32_phdr, p_filesz));
		ph->memsz = rd32(p + offsetof(struct elf32_phdr, p_memsz));
	}
}

static enum loader_err plan_elf(struct ctx *c)
{
	const uint8_t *img = c->img;
	uint32_t class, data, type, machine, want_machine, phentsize, phnum,
		 ehsize, phsize;
	uint64_t phoff, entry;
	bool elf64;
	struct loader_boot *out = c->out;

	if (c->len < 4 || img[0] != ELF_MAG0 || img[1] != ELF_MAG1 ||
	    img[2] != ELF_MAG2 || img[3] != ELF_MAG3)
		return fail(c->err, LOADER_ENOTELF,
			    "not an ELF image (no \\177ELF at offset 0) and the "
			    "multiboot header gives no load addresses (flag 16)",
			    NULL);
	if (c->len < ELF_NIDENT)
		return fail(c->err, LOADER_EELFTRUNC,
			    "ELF header truncated: the image is %u bytes, "
			    "e_ident alone needs %u", ARGS(c->len, ELF_NIDENT));
	class = rd8(img + ELF_EI_CLASS);
	data = rd8(img + ELF_EI_DATA);
	if (class != ELF_CLASS32 && class != ELF_CLASS64)
		return fail(c->err, LOADER_EBADELF,
			    "ELF class %u is neither ELFCLASS32 (1) nor "
			    "ELFCLASS64 (2)", ARGS(class));
	elf64 = class == ELF_CLASS64;
	ehsize = elf64 ? sizeof(struct elf64_ehdr) : sizeof(struct elf32_ehdr);
	phsize = elf64 ? sizeof(struct elf64_phdr) : sizeof(struct elf32_phdr);
	if (c->len < ehsize)
		return fail(c->err, LOADER_EELFTRUNC,
			    "ELF header truncated: the image is %u bytes, an "
			    "ELF%u header needs %u",
			    ARGS(c->len, elf64 ? 64 : 32, ehsize));
	if (data != ELF_DATA2LSB)
		return fail(c->err, LOADER_EBADELF,
			    "ELF data encoding %u is not little-endian (1)",
			    ARGS(data));
	type = rd16(img + offsetof(struct elf32_ehdr, e_type));
	machine = rd16(img + offsetof(struct elf32_ehdr, e_machine));
	want_machine = elf64 ? ELF_EM_X86_64 : ELF_EM_386;
	if (type != ELF_ET_EXEC)
		return fail(c->err, LOADER_EBADELF,
			    "ELF type %u is not an executable (ET_EXEC, 2)",
			    ARGS(type));
	if (machine != want_machine)
		return fail(c->err, LOADER_EBADELF,
			    "ELF%u machine %u is not %s (%u)",
			    ARGS(elf64 ? 64 : 32, machine,
				 S(elf64 ? "EM_X86_64" : "EM_386"),
				 want_machine));
	if (elf64) {
		entry = rd64(img + offsetof(struct elf64_ehdr, e_entry));
		phoff = rd64(img + offsetof(struct elf64_ehdr, e_phoff));
		phentsize = rd16(img + offsetof(struct elf64_ehdr, e_phentsize));
		phnum = rd16(img + offsetof(struct elf64_ehdr, e_phnum));
	} else {
		entry = rd32(img + offsetof(struct elf32_ehdr, e_entry));
		phoff = rd32(img + offsetof(struct elf32_ehdr, e_phoff));
		phentsize = rd16(img + offsetof(struct elf32_ehdr, e_phentsize));
		phnum = rd16(img + offsetof(struct elf32_ehdr, e_phnum));
	}
	if (phnum == ELF_PN_XNUM)
		return fail(c->err, LOADER_EBADELF,
			    "ELF e_phnum is PN_XNUM (0xffff): extended program "
			    "header numbering is not supported", NULL);
	if (phnum == 0)
		return fail(c->err, LOADER_ENOLOAD,
			    "ELF image has no program headers", NULL);
	if (phentsize < phsize)
		return fail(c->err, LOADER_EBADELF,
			    "ELF program header size e_phentsize %u is below %u",
			    ARGS(phentsize, phsize));
	if (phoff > c->len || (uint64_t)phnum * phentsize > c->len - phoff)
		return fail(c->err, LOADER_EPHDR,
			    "ELF program header table [%x, %x) (%u entries of %u "
			    "bytes) extends past the image (length %x)",
			    ARGS(phoff, sat_add(phoff, (uint64_t)phnum * phentsize),
				 phnum, phentsize, c->len));

	out->elf_class = class;
	for (uint32_t i = 0; i < phnum; i++) {
		struct phdr ph;
		enum loader_err r;
		uint64_t end;

		read_phdr(img + phoff + (uint64_t)i * phentsize, elf64, &ph);
		if (ph.type != ELF_PT_LOAD)
			continue;
		if (ph.filesz > ph.memsz)
			return fail(c->err, LOADER_EFILESZ,
				    "ELF program header %u: p_filesz %x exceeds "
				    "p_memsz %x", ARGS(i, ph.filesz, ph.memsz));
		if (ph.memsz == 0)
			continue;
		end = sat_add(ph.paddr, ph.memsz);
		if (ph.offset > c->len || ph.filesz > c->len - ph.offset)
			return fail(c->err, LOADER_ESEGRANGE,
				    "ELF program header %u: segment [%x, %x) "
				    "extends past the image (length %x): its file "
				    "bytes are [%x, %x)",
				    ARGS(i, ph.paddr, end, c->len, ph.offset,
					 sat_add(ph.offset, ph.filesz)));
		r = check_place(c, i, ph.paddr, ph.memsz, elf64);
		if (r)
			return r;
		if (out->nsegments == LOADER_MAX_SEGMENTS)
			return fail(c->err, LOADER_ETOOMANY,
				    "ELF program header %u: more than %u loadable "
				    "segments", ARGS(i, LOADER_MAX_SEGMENTS));
		out->segments[out->nsegments++] = (struct loader_segment){
			.paddr = ph.paddr, .vaddr = ph.vaddr,
			.memsz = ph.memsz, .filesz = ph.filesz,
			.offset = ph.offset, .phdr = i,
		};
	}
	if (out->nsegments == 0)
		return fail(c->err, LOADER_ENOLOAD,
			    "ELF image has no PT_LOAD program header with "
			    "p_memsz > 0", NULL);

	/* e_entry is virtual: translate it through the segment holding it. */
	for (uint32_t i = 0; i < out->nsegments; i++) {
		const struct loader_segment *s = &out->segments[i];

		if (entry >= s->vaddr && entry - s->vaddr < s->memsz) {
			entry = entry - s->vaddr + s->paddr;
			break;
		}
	}
	if (entry >= FOUR_GIB)
		return fail(c->err, LOADER_EENTRY,
			    "entry point %x is outside every loaded segment "
			    "(and above 4 GiB)", ARGS(entry));
	out->entry = (uint32_t)entry;
	return LOADER_OK;
}

static enum loader_err check_segments(struct ctx *c)
{
	struct loader_boot *out = c->out;
	bool in = false;

	for (uint32_t i = 0; i < out->nsegments; i++) {
		const struct loader_segment *a = &out->segments[i];

		for (uint32_t j = i + 1; j < out->nsegments; j++) {
			const struct loader_segment *b = &out->segments[j];

			if (overlaps(a->paddr, a->paddr + a->memsz,
				     b->paddr, b->paddr + b->memsz))
				return fail(c->err, LOADER_EOVERLAP,
					    "ELF program headers %u and %u: "
					    "segments [%x, %x) and [%x, %x) "
					    "overlap",
					    ARGS(a->phdr, b->phdr, a->paddr,
						 a->paddr + a->memsz, b->paddr,
						 b->paddr + b->memsz));
		}
		if (out->entry >= a->paddr && out->entry - a->paddr < a->memsz)
			in = true;
	}
	if (!in) {
		if (out->aout_kludge)
			return fail(c->err, LOADER_EENTRY,
				    "entry point %x (entry_addr) is outside the "
				    "loaded segment [%x, %x)",
				    ARGS(out->entry, out->segments[0].paddr,
					 out->segments[0].paddr +
					 out->segments[0].memsz));
		return fail(c->err, LOADER_EENTRY,
			    "entry point %x is outside every loaded segment",
			    ARGS(out->entry));
	}
	out->kernel_start = UINT64_MAX;
	out->kernel_end = 0;
	for (uint32_t i = 0; i < out->nsegments; i++) {
		const struct loader_segment *s = &out->segments[i];

		if (s->paddr < out->kernel_start)
			out->kernel_start = s->paddr;
		if (s->paddr + s->memsz > out->kernel_end)
			out->kernel_end = s->paddr + s->memsz;
	}
	return LOADER_OK;
}

/* Whether [pos, pos + n) touches the kernel or anything placed so far. */
static bool used(const struct ctx *c, uint64_t pos, uint64_t n,
		 uint32_t placed_mods, bool info_placed, uint64_t *skip_to)
{
	const struct loader_boot *out = c->out;

	for (uint32_t i = 0; i < out->nsegments; i++) {
		const struct loader_segment *s = &out->segments[i];

		if (overlaps(pos, pos + n, s->paddr, s->paddr + s->memsz)) {
			*skip_to = s->paddr + s->memsz;
			return true;
		}
	}
	if (info_placed &&
	    overlaps(pos, pos + n, out->info_addr,
		     (uint64_t)out->info_addr + out->info_size)) {
		*skip_to = (uint64_t)out->info_addr + out->info_size;
		return true;
	}
	for (uint32_t i = 0; i < placed_mods; i++) {
		const struct loader_placed_module *m = &out->modules[i];

		if (overlaps(pos, pos + n, m->start, m->end)) {
			*skip_to = m->end;
			return true;
		}
	}
	return false;
}

/* The lowest page-aligned pos >= from with [pos, pos + n) in one RAM range,
 * below 4 GiB, free. */
static bool find_free(const struct ctx *c, uint64_t from, uint64_t n,
		      uint32_t placed_mods, bool info_placed, uint64_t *at)
{
	uint64_t pos = page_up(from);

	for (;;) {
		const struct memmap_range *r = NULL;
		uint64_t skip;

		if (pos >= FOUR_GIB || n > FOUR_GIB - pos)
			return false;
		for (uint32_t i = 0; i < c->map->count; i++) {
			const struct memmap_range *q = &c->map->r[i];

			if (q->type == MEMMAP_RAM && q->base + q->len > pos) {
				r = q;
				break;
			}
		}
		if (!r)
			return false;
		if (r->base > pos) {
			pos = page_up(r->base);
			continue;
		}
		if (n > r->base + r->len - pos) {
			pos = page_up(r->base + r->len);
			continue;
		}
		if (used(c, pos, n, placed_mods, info_placed, &skip)) {
			pos = page_up(skip);
			continue;
		}
		*at = pos;
		return true;
	}
}

static bool place(const struct ctx *c, uint64_t from, uint64_t size,
		  uint32_t placed_mods, bool info_placed, uint64_t *at)
{
	uint64_t n = size ? size : 1; /* an empty module still gets a place */

	return find_free(c, from, n, placed_mods, info_placed, at) ||
	       find_free(c, PAGE, n, placed_mods, info_placed, at);
}

static enum loader_err plan_boot_info(struct ctx *c)
{
	const struct loader_args *a = c->a;
	struct loader_boot *out = c->out;
	uint64_t size, at, strings, prev_end;

	if (a->nmodules > LOADER_MAX_MODULES)
		return fail(c->err, LOADER_ETOOMANYMODS,
			    "%u further modules, at most %u are supported",
			    ARGS(a->nmodules, LOADER_MAX_MODULES));
	c->cmdline_len = a->cmdline ?
		bounded_strlen(a->cmdline, LOADER_MAX_STRING) : 0;
	if (c->cmdline_len == LOADER_MAX_STRING)
		return fail(c->err, LOADER_ESTRING,
			    "the command line is longer than %u bytes",
			    ARGS(LOADER_MAX_STRING - 1));
	for (uint32_t i = 0; i < a->nmodules; i++) {
		const struct loader_module *m = &a->modules[i];

		c->mod_string_len[i] = m->string ?
			bounded_strlen(m->string, LOADER_MAX_STRING) : 0;
		if (c->mod_string_len[i] == LOADER_MAX_STRING)
			return fail(c->err, LOADER_ESTRING,
				    "module %u's string is longer than %u bytes",
				    ARGS(i, LOADER_MAX_STRING - 1));
	}

	/* The block: info, GDT, mmap, module list, cmdline, name, strings. */
	out->mmap_length = c->map->count * MULTIBOOT_MMAP_ENTRY_SIZE;
	strings = BI_MMAP + out->mmap_length +
		  (uint64_t)a->nmodules * MULTIBOOT_MOD_ENTRY_SIZE;
	size = strings + c->cmdline_len + 1 + sizeof(LOADER_BOOTLOADER_NAME);
	for (uint32_t i = 0; i < a->nmodules; i++)
		size += c->mod_string_len[i] + 1;
	if (!place(c, out->kernel_end, size, 0, false, &at))
		return fail(c->err, LOADER_ENOSPACE,
			    "no room for the multiboot information (%x bytes) "
			    "in guest RAM below 4 GiB", ARGS(size));
	out->info_addr = (uint32_t)at;
	out->info_size = (uint32_t)size;
	out->gdt_addr = out->info_addr + BI_GDT;
	out->mmap_addr = out->info_addr + BI_MMAP;
	out->mods_addr = out->mmap_addr + out->mmap_length;
	out->cmdline_addr = (uint32_t)(at + strings);
	out->name_addr = out->cmdline_addr + (uint32_t)c->cmdline_len + 1;
	uint32_t s = out->name_addr + (uint32_t)sizeof(LOADER_BOOTLOADER_NAME);
	prev_end = at + size;
	out->end = prev_end > out->kernel_end ? prev_end : out->kernel_end;

	for (uint32_t i = 0; i < a->nmodules; i++) {
		uint64_t len = a->modules[i].len;

		if (len && !a->modules[i].data)
			return fail(c->err, LOADER_EARG,
				    "module %u has %x bytes but no data",
				    ARGS(i, len));
		if (!place(c, prev_end, len, i, true, &at))
			return fail(c->err, LOADER_ENOSPACE,
				    "no room for module %u (%x bytes) in guest "
				    "RAM below 4 GiB", ARGS(i, len));
		out->modules[i] = (struct loader_placed_module){
			.start = (uint32_t)at, .end = (uint32_t)(at + len),
			.string = s,
		};
		s += (uint32_t)c->mod_string_len[i] + 1;
		prev_end = at + len;
		if (prev_end > out->end)
			out->end = prev_end;
	}
	out->nmodules = a->nmodules;
	return LOADER_OK;
}

static enum loader_err check_args(struct ctx *c)
{
	const struct loader_args *a = c->a;
	const struct memmap *m;

	if (!a || !c->out)
		return fail(c->err, LOADER_EARG, "no arguments or no result", NULL);
	if (!a->mem || !a->mem->write || !a->mem->map)
		return fail(c->err, LOADER_EARG,
			    "guest memory needs a write callback and a map", NULL);
	if (a->nmodules && !a->modules)
		return fail(c->err, LOADER_EARG, "%u modules but no module array",
			    ARGS(a->nmodules));
	m = a->mem->map;
	if (m->count > MEMMAP_MAX)
		return fail(c->err, LOADER_EARG, "memory map has %u ranges, at "
			    "most %u", ARGS(m->count, MEMMAP_MAX));
	for (uint32_t i = 0; i < m->count; i++) {
		if (m->r[i].len == 0 || m->r[i].base + m->r[i].len < m->r[i].base ||
		    (i > 0 && m->r[i].base < m->r[i - 1].base + m->r[i - 1].len))
			return fail(c->err, LOADER_EARG,
				    "memory map range %u [%x, +%x) is empty, "
				    "wraps, or is out of order",
				    ARGS(i, m->r[i].base, m->r[i].len));
	}
	if (a->image_len == 0)
		return fail(c->err, LOADER_EEMPTY, "the kernel image is empty "
			    "(zero bytes)", NULL);
	if (!a->image)
		return fail(c->err, LOADER_EARG, "no kernel image", NULL);
	return LOADER_OK;
}

/* ---- writing -------------------------------------------------------------- */

static bool put_zero(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeros[512];

	if (mem->zero)
		return len == 0 || mem->zero(mem->ctx, gpa, len);
	while (len) {
		uint64_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		if (!mem->write(mem->ctx, gpa, zeros, n))
			return false;
		gpa += n;
		len -= n;
	}
	return true;
}

static bool put(const struct guest_mem *mem, uint64_t gpa, const void *src,
		uint64_t len)
{
	return len == 0 || mem->write(mem->ctx, gpa, src, len);
}

static enum loader_err write_failed(struct ctx *c, const char *what,
				    uint64_t gpa, uint64_t len)
{
	return fail(c->err, LOADER_EWRITE,
		    "writing %s to guest memory [%x, %x) failed",
		    ARGS(S(what), gpa, gpa + len));
}

static enum loader_err commit(struct ctx *c)
{
	const struct loader_args *a = c->a;
	const struct guest_mem *mem = a->mem;
	struct loader_boot *out = c->out;
	uint8_t info[BI_MMAP];
	uint8_t entry[MULTIBOOT_MMAP_ENTRY_SIZE > MULTIBOOT_MOD_ENTRY_SIZE ?
		      MULTIBOOT_MMAP_ENTRY_SIZE : MULTIBOOT_MOD_ENTRY_SIZE];
	uint32_t flags;

	for (uint32_t i = 0; i < out->nsegments; i++) {
		const struct loader_segment *s = &out->segments[i];

		if (!put(mem, s->paddr, c->img + s->offset, s->filesz))
			return write_failed(c, "a segment", s->paddr, s->filesz);
		if (!put_zero(mem, s->paddr + s->filesz, s->memsz - s->filesz))
			return write_failed(c, "a segment's zeroes",
					    s->paddr + s->filesz,
					    s->memsz - s->filesz);
	}

	/* The information structure and the GDT. */
	zero_bytes(info, sizeof(info));
	flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE |
		MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP |
		MULTIBOOT_INFO_BOOT_LOADER_NAME;
	wr32(info + MULTIBOOT_INFO_OFF_FLAGS, flags);
	wr32(info + MULTIBOOT_INFO_OFF_MEM_LOWER, memmap_mem_lower_kib(c->map));
	wr32(info + MULTIBOOT_INFO_OFF_MEM_UPPER, memmap_mem_upper_kib(c->map));
	wr32(info + MULTIBOOT_INFO_OFF_CMDLINE, out->cmdline_addr);
	wr32(info + MULTIBOOT_INFO_OFF_MODS_COUNT, out->nmodules);
	wr32(info + MULTIBOOT_INFO_OFF_MODS_ADDR, out->mods_addr);
	wr32(info + MULTIBOOT_INFO_OFF_MMAP_LENGTH, out->mmap_length);
	wr32(info + MULTIBOOT_INFO_OFF_MMAP_ADDR, out->mmap_addr);
	wr32(info + MULTIBOOT_INFO_OFF_BOOT_LOADER_NAME, out->name_addr);
	/* null; code: base 0, limit 0xfffff pages, 0x9b, G|D; data: 0x93 */
	wr64(info + BI_GDT + 8, 0x00CF9B000000FFFFull);
	wr64(info + BI_GDT + 16, 0x00CF93000000FFFFull);
	if (!put(mem, out->info_addr, info, sizeof(info)))
		return write_failed(c, "the multiboot information",
				    out->info_addr, sizeof(info));

	for (uint32_t i = 0; i < c->map->count; i++) {
		const struct memmap_range *r = &c->map->r[i];
		uint64_t gpa = out->mmap_addr + (uint64_t)i * MULTIBOOT_MMAP_ENTRY_SIZE;

		wr32(entry, MULTIBOOT_MMAP_SIZE_FIELD);
		wr64(entry + 4, r->base);
		wr64(entry + 12, r->len);
		wr32(entry + 20, r->type);
		if (!put(mem, gpa, entry, MULTIBOOT_MMAP_ENTRY_SIZE))
			return write_failed(c, "the memory map", gpa,
					    MULTIBOOT_MMAP_ENTRY_SIZE);
	}
	for (uint32_t i = 0; i < out->nmodules; i++) {
		const struct loader_placed_module *m = &out->modules[i];
		uint64_t gpa = out->mods_addr + (uint64_t)i * MULTIBOOT_MOD_ENTRY_SIZE;

		wr32(entry, m->start);
		wr32(entry + 4, m->end);
		wr32(entry + 8, m->string);
		wr32(entry + 12, 0);
		if (!put(mem, gpa, entry, MULTIBOOT_MOD_ENTRY_SIZE))
			return write_failed(c, "the module list", gpa,
					    MULTIBOOT_MOD_ENTRY_SIZE);
		if (!put(mem, m->string,
			 a->modules[i].string ? a->modules[i].string : "",
			 c->mod_string_len[i] + 1))
			return write_failed(c, "a module string", m->string,
					    c->mod_string_len[i] + 1);
		if (!put(mem, m->start, a->modules[i].data, a->modules[i].len))
			return write_failed(c, "a module", m->start,
					    a->modules[i].len);
	}
	if (!put(mem, out->cmdline_addr, a->cmdline ? a->cmdline : "",
		 c->cmdline_len + 1))
		return write_failed(c, "the command line", out->cmdline_addr,
				    c->cmdline_len + 1);
	if (!put(mem, out->name_addr, LOADER_BOOTLOADER_NAME,
		 sizeof(LOADER_BOOTLOADER_NAME)))
		return write_failed(c, "the boot loader name", out->name_addr,
				    sizeof(LOADER_BOOTLOADER_NAME));
	return LOADER_OK;
}

static void set_cpu_state(struct loader_boot *out)
{
	struct loader_cpu_state *s = &out->cpu;
	const struct loader_seg_reg code = {
		LOADER_SEL_CODE, LOADER_ATTR_CODE32, 0xFFFFFFFFu, 0
	};
	const struct loader_seg_reg data = {
		LOADER_SEL_DATA, LOADER_ATTR_DATA32, 0xFFFFFFFFu, 0
	};

	s->eax = MULTIBOOT_BOOTLOADER_MAGIC;
	s->ebx = out->info_addr;
	s->ecx = s->edx = s->esi = s->edi = s->ebp = s->esp = 0;
	s->eip = out->entry;
	s->eflags = 0x2;
	s->cr0 = 0x11; /* PE | ET */
	s->cr3 = s->cr4 = 0;
	s->efer = 0;
	s->dr6 = 0xFFFF0FF0u;
	s->dr7 = 0x400;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct loader_seg_reg){ 0, LOADER_ATTR_TSS32_BUSY, 0xFFFF, 0 };
	s->ldtr = (struct loader_seg_reg){ 0, LOADER_ATTR_LDT, 0xFFFF, 0 };
	s->gdtr_base = out->gdt_addr;
	s->gdtr_limit = BI_GDT_LEN - 1;
	s->idtr_base = 0;
	s->idtr_limit = 0;
}

enum loader_err loader_load_multiboot(const struct loader_args *a,
				      struct loader_boot *out,
				      struct loader_error *err)
{
	struct loader_error local;
	struct ctx c = { .a = a, .out = out, .err = err ? err : &local };
	enum loader_err r;

	c.err->code = LOADER_OK;
	c.err->msg[0] = '\0';
	r = check_args(&c);
	if (r)
		return r;
	c.img = a->image;
	c.len = a->image_len;
	c.map = a->mem->map;
	*out = (struct loader_boot){ 0 };

	if ((r = find_header(&c)) || (r = check_flags(&c)))
		return r;
	if (out->header_flags & MULTIBOOT_AOUT_KLUDGE)
		r = plan_aout(&c);
	else
		r = plan_elf(&c);
	if (r || (r = check_segments(&c)) || (r = plan_boot_info(&c)) ||
	    (r = commit(&c)))
		return r;
	set_cpu_state(out);
	return LOADER_OK;
}
