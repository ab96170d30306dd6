/*
 * The decoder against Zydis on real code: the executable sections of the
 * ELF programs and libraries on this machine (64-bit ones in 64-bit mode,
 * 32-bit ones from /usr/lib32 in 32-bit mode) and the 16-bit firmware
 * images QEMU ships (SeaBIOS, VGA BIOS) in 16-bit mode.  Each section is
 * walked linearly with Zydis as the reference of where instructions start:
 * where Zydis decodes an instruction both decoders must agree (length,
 * memory operand and effective address, semantic operands), where it does
 * not (data in code) the walk moves on one byte.
 *
 *   test_decode_binaries [--max-bytes N] [--max-files N] [--per-file N]
 *                        [--examples K] [--path FILE-OR-DIR]...
 *
 * N bytes of code in all (default 48 MiB; 4 MiB under the sanitizers),
 * at most --per-file bytes (default 256 KiB) from each file, in sorted
 * order, at most --max-files files.  --path replaces the default places;
 * ELF64 files are then walked in 64-bit mode, ELF32 in 32-bit, and every
 * file as a raw image in 16-bit mode.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <elf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "zydis_compare.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_MAX_BYTES (4ull << 20)
#else
#define DEFAULT_MAX_BYTES (48ull << 20)
#endif

static uint64_t opt_max_bytes = DEFAULT_MAX_BYTES;
static unsigned opt_max_files = 100000;
static uint64_t opt_per_file = 256 << 10;
static unsigned opt_examples = 5;
#define MAX_PATHS 16
static const char *opt_paths[MAX_PATHS];
static unsigned n_opt_paths;

/* The default places to look, by mode. */
static const char *const paths_64[] = {
	"/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu",
	"/usr/lib/gcc/x86_64-linux-gnu", "/usr/libexec", NULL };
static const char *const paths_32[] = { "/usr/lib32", NULL };
static const char *const paths_16[] = { "/usr/share/seabios", NULL };

struct walk {
	struct zc *zc;
	enum x86_cpu_mode mode;
	uint64_t budget;      /* bytes of code left to walk */
	uint64_t file_budget; /* ... in the current file */
	unsigned files;
	uint64_t code_bytes;  /* walked */
	uint64_t insns;       /* instructions Zydis found */
	uint64_t skipped;     /* bytes Zydis did not decode */
	/* Inodes already walked (symlinks and hard links). */
	ino_t *seen;
	size_t n_seen, cap_seen;
};

static bool seen_before(struct walk *w, ino_t ino)
{
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] == ino)
			return true;
	if (w->n_seen == w->cap_seen) {
		size_t cap = w->cap_seen ? w->cap_seen * 2 : 1024;
		ino_t *p = realloc(w->seen, cap * sizeof(*p));
		if (!p)
			return true;
		w->seen = p;
		w->cap_seen = cap;
	}
	w->seen[w->n_seen++] = ino;
	return false;
}

/* Walk code[0..n) linearly, Zydis deciding where instructions start. */
static void walk_code(struct walk *w, const uint8_t *code, size_t n)
{
	size_t pos = 0;
	if (n > w->budget)
		n = (size_t)w->budget;
	if (n > w->file_budget)
		n = (size_t)w->file_budget;
	while (pos < n) {
		unsigned len;
		size_t avail = n - pos;
		enum zc_outcome o = zc_compare(w->zc, code + pos, avail, &len);
		if (o == ZC_BOTH_REJECT || o == ZC_ONLY_US || len == 0) {
			pos++;
			w->skipped++;
			continue;
		}
		w->insns++;
		pos += len;
	}
	w->code_bytes += n;
	w->budget -= n;
	w->file_budget -= n;
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long len = ftell(f);
		if (len > 0 && len < (1l << 30) && fseek(f, 0, SEEK_SET) == 0) {
			buf = malloc((size_t)len);
			if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
				free(buf);
				buf = NULL;
			}
			*size = (size_t)len;
		}
	}
	fclose(f);
	return buf;
}

/* The executable sections of an ELF image of the walk's class. */
static void walk_elf(struct walk *w, const uint8_t *img, size_t size)
{
	if (size < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return;
	if (w->mode == X86_MODE_64) {
		if (img[EI_CLASS] != ELFCLASS64 || size < sizeof(Elf64_Ehdr))
			return;
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
		if (eh->e_machine != EM_X86_64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
		    eh->e_shoff > size ||
		    (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
			return;
		const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
		for (unsigned i = 0; i < eh->e_shnum && w->budget && w->file_budget; i++) {
			if (sh[i].sh_type != SHT_PROGBITS || !(sh[i].sh_flags & SHF_EXECINSTR) ||
			    sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset)
				continue;
			walk_code(w, img + sh[i].sh_offset, (size_t)sh[i].sh_size);
		}
	} else {
		if (img[EI_CLASS] != ELFCLASS32 || size < sizeof(Elf32_Ehdr))
			return;
		const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;
		if (eh->e_machine != EM_386 || eh->e_shentsize != sizeof(Elf32_Shdr) ||
		    eh->e_shoff > size ||
		    (size - eh->e_shoff) / sizeof(Elf32_Shdr) < eh->e_shnum)
			return;
		const Elf32_Shdr *sh = (const Elf32_Shdr *)(img + eh->e_shoff);
		for (unsigned i = 0; i < eh->e_shnum && w->budget && w->file_budget; i++) {
			if (sh[i].sh_type != SHT_PROGBITS || !(sh[i].sh_flags & SHF_EXECINSTR) ||
			    sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset)
				continue;
			walk_code(w, img + sh[i].sh_offset, sh[i].sh_size);
		}
	}
}

static void walk_path(struct walk *w, const char *path);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(struct walk *w, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s/%s", dir, names[i]);
		if (w->budget && w->files < opt_max_files)
			walk_path(w, full);
		free(names[i]);
	}
	free(names);
}

static void walk_path(struct walk *w, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return;
	if (S_ISDIR(st.st_mode)) {
		walk_dir(w, path);
		return;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 64 || seen_before(w, st.st_ino))
		return;
	size_t size;
	uint8_t *img = read_file(path, &size);
	if (!img)
		return;
	uint64_t before = w->code_bytes;
	w->file_budget = opt_per_file;
	if (w->mode == X86_MODE_16)
		walk_code(w, img, size); /* raw firmware image */
	else
		walk_elf(w, img, size);
	if (w->code_bytes != before)
		w->files++;
	free(img);
}

static void run_mode(enum x86_cpu_mode mode, const char *const *defaults,
		     uint64_t budget)
{
	struct walk w = { .mode = mode, .budget = budget };
	w.zc = zc_create(mode, 0xb1a5ull + (uint64_t)mode, opt_examples);
	assert_non_null(w.zc);
	if (n_opt_paths) {
		for (unsigned i = 0; i < n_opt_paths && w.budget; i++)
			walk_path(&w, opt_paths[i]);
	} else {
		for (unsigned i = 0; defaults[i] && w.budget; i++)
			walk_path(&w, defaults[i]);
	}
	char title[128];
	snprintf(title, sizeof(title),
		 "code of %u files, %llu bytes, %llu instructions, %llu bytes not code",
		 w.files, (unsigned long long)w.code_bytes,
		 (unsigned long long)w.insns, (unsigned long long)w.skipped);
	zc_report(w.zc, stdout, title);
	uint64_t failures = zc_failures(w.zc);
	zc_destroy(w.zc);
	free(w.seen);
	if (w.code_bytes == 0)
		print_message("no code found for %d-bit mode (skipped)\n", mode);
	assert_int_equal(failures, 0);
}

/* 64-bit code gets most of the budget; the others what they find. */
static void binaries_64(void **state)
{
	(void)state;
	run_mode(X86_MODE_64, paths_64, opt_max_bytes * 3 / 4);
}

static void binaries_32(void **state)
{
	(void)state;
	run_mode(X86_MODE_32, paths_32, opt_max_bytes / 8);
}

static void firmware_16(void **state)
{
	(void)state;
	run_mode(X86_MODE_16, paths_16, opt_max_bytes / 8);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc)
			opt_max_bytes = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--per-file") && i + 1 < argc)
			opt_per_file = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--max-files") && i + 1 < argc)
			opt_max_files = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--examples") && i + 1 < argc)
			opt_examples = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--path") && i + 1 < argc &&
			 n_opt_paths < MAX_PATHS)
			opt_paths[n_opt_paths++] = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--max-bytes N] [--max-files N] "
				"[--per-file N] [--examples K] [--path P]...\n", argv[0]);
			return 2;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(binaries_64),
		cmocka_unit_test(binaries_32),
		cmocka_unit_test(firmware_16),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
