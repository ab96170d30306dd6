/*
 * The loader on the real test guests that `make all` builds:
 * build/guests/<name>32.elf (ELF32), <name>64.elf (ELF64 converted to
 * ELF32 for QEMU) and the ELF64 originals <name>64.elf.elf64, which QEMU's
 * -kernel refuses but Umbra loads.
 *
 * What the loader must find is taken from binutils, not from the loader's
 * own parsing: `readelf -hlW` gives the class, the entry point and the
 * LOAD program headers; the multiboot header is located by a scan written
 * here.  Then guest memory is compared with the file byte for byte:
 * p_filesz bytes from p_offset, zeroes to p_memsz, and nothing outside the
 * segments, the information block and the modules.
 *
 * The directory is build/guests (LOADER_TEST_GUEST_DIR), or
 * $UMBRA_GUEST_DIR.
 */
#define _POSIX_C_SOURCE 200809L /* popen, strdup */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldtest.h"

#ifndef LOADER_TEST_GUEST_DIR
#define LOADER_TEST_GUEST_DIR "build/guests"
#endif

#define MIB (1024u * 1024u)
#define MAX_LOADS 16

struct rd_load {
	unsigned long long offset, vaddr, paddr, filesz, memsz;
};

struct rd_info {
	int class; /* 32 or 64 */
	unsigned long long entry;
	int nload;
	struct rd_load load[MAX_LOADS];
};

/* Runs readelf on path; false if it is missing or fails. */
static bool readelf(const char *path, struct rd_info *ri)
{
	char cmd[4200], line[512];
	FILE *p;
	bool in_phdrs = false;
	int rc;

	memset(ri, 0, sizeof(*ri));
	snprintf(cmd, sizeof(cmd), "readelf -hlW '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p)) {
		struct rd_load l;

		if (strstr(line, "Class:"))
			ri->class = strstr(line, "ELF64") ? 64 :
				    strstr(line, "ELF32") ? 32 : 0;
		else if (strstr(line, "Entry point address:"))
			sscanf(strstr(line, ":") + 1, "%llx", &ri->entry);
		else if (strstr(line, "Program Headers:"))
			in_phdrs = true;
		else if (in_phdrs &&
			 sscanf(line, " LOAD %llx %llx %llx %llx %llx", &l.offset,
				&l.vaddr, &l.paddr, &l.filesz, &l.memsz) == 5 &&
			 ri->nload < MAX_LOADS)
			ri->load[ri->nload++] = l;
	}
	rc = pclose(p);
	return rc == 0 && ri->class != 0 && ri->nload > 0;
}

/* Guest RAM for loading the bundled guests: enough for the largest of
 * them (pagemodes keeps a 12 MiB data pool in its bss, up to ~20 MiB). */
#define GUEST_RAM (64 * MIB)

static bool read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return false;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc(n > 0 ? (size_t)n : 1);
	*len = (size_t)n;
	if (!*data || fread(*data, 1, *len, f) != *len) {
		fclose(f);
		return false;
	}
	fclose(f);
	return true;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static long find_mb_header(const uint8_t *d, size_t len)
{
	for (size_t off = 0; off + 12 <= len && off + 12 <= 8192; off += 4)
		if (le32(d + off) == 0x1BADB002u &&
		    le32(d + off) + le32(d + off + 4) + le32(d + off + 8) == 0)
			return (long)off;
	return -1;
}

static uint64_t page_up(uint64_t v)
{
	return (v + 4095) & ~(uint64_t)4095;
}

static void check_guest(const char *path, const char *name, int *classes)
{
	struct rd_info ri;
	uint8_t *file = NULL;
	size_t len = 0;
	struct fakemem f;
	struct loader_boot *out = calloc(1, sizeof(*out));
	struct loader_error err;
	struct loader_args a;
	char cmdline[300];
	static const uint8_t modbytes[3000] = { 0x4d, 0x4f, 0x44 };
	struct loader_module mod = { modbytes, sizeof(modbytes), "extra.bin v=1" };
	unsigned long long entry, end = 0, start = ~0ull, written = 0;
	enum loader_err r;
	int seg = 0;
	long hdr;

	assert_non_null(out);
	if (!readelf(path, &ri)) {
		print_error("%s: readelf -hlW failed\n", path);
		fail();
	}
	assert_true(read_file(path, &file, &len));
	hdr = find_mb_header(file, len);
	assert_true(hdr >= 0);

	fakemem_init(&f, GUEST_RAM, GUEST_RAM, true, false);
	snprintf(cmdline, sizeof(cmdline), "%s key=value", name);
	a = (struct loader_args){
		.image = file, .image_len = len, .cmdline = cmdline,
		.modules = &mod, .nmodules = 1, .mem = &f.gm,
	};
	r = loader_load_multiboot(&a, out, &err);
	if (r != LOADER_OK) {
		print_error("%s: %s\n", path, err.msg);
		fail();
	}
	print_message("%-24s ELF%d entry %#llx, %d LOAD, info at %#x\n", name,
		      ri.class, ri.entry, ri.nload, out->info_addr);

	assert_int_equal(out->header_offset, hdr);
	assert_int_equal(out->header_flags, le32(file + hdr + 4));
	assert_false(out->aout_kludge);
	assert_int_equal(out->elf_class, ri.class == 64 ? 2 : 1);
	classes[ri.class == 64]++;

	/* Segments: readelf's LOADs with p_memsz > 0, in order. */
	entry = ri.entry;
	for (int i = 0; i < ri.nload; i++) {
		const struct rd_load *l = &ri.load[i];

		if (l->memsz == 0)
			continue;
		assert_true(seg < (int)out->nsegments);
		assert_int_equal(out->segments[seg].paddr, l->paddr);
		assert_int_equal(out->segments[seg].vaddr, l->vaddr);
		assert_int_equal(out->segments[seg].memsz, l->memsz);
		assert_int_equal(out->segments[seg].filesz, l->filesz);
		assert_int_equal(out->segments[seg].offset, l->offset);
		seg++;
		if (ri.entry >= l->vaddr && ri.entry < l->vaddr + l->memsz)
			entry = ri.entry - l->vaddr + l->paddr;
		/* Memory: the file's bytes, then zeroes. */
		assert_memory_equal(f.buf + l->paddr, file + l->offset, l->filesz);
		for (unsigned long long b = l->filesz; b < l->memsz; b++)
			assert_int_equal(f.buf[l->paddr + b], 0);
		if (l->paddr < start)
			start = l->paddr;
		if (l->paddr + l->memsz > end)
			end = l->paddr + l->memsz;
		written += l->memsz;
	}
	assert_int_equal(seg, out->nsegments);
	assert_int_equal(out->entry, entry);
	assert_int_equal(out->cpu.eip, entry);
	assert_int_equal(out->cpu.eax, 0x2BADB002u);
	assert_int_equal(out->kernel_start, start);
	assert_int_equal(out->kernel_end, end);

	/* The information right after the kernel, the module after it. */
	assert_int_equal(out->info_addr, page_up(end));
	assert_int_equal(out->cpu.ebx, out->info_addr);
	assert_string_equal((char *)f.buf + le32(f.buf + out->info_addr + 16),
			    cmdline);
	assert_int_equal(le32(f.buf + out->info_addr + 20), 1);
	assert_int_equal(out->modules[0].start,
			 page_up(out->info_addr + out->info_size));
	assert_memory_equal(f.buf + out->modules[0].start, modbytes,
			    sizeof(modbytes));
	written += out->info_size + sizeof(modbytes);

	/* Nothing else. */
	assert_true(fakemem_untouched(&f, 0, start));
	assert_true(fakemem_untouched(&f, out->modules[0].end,
				      f.size - out->modules[0].end));
	assert_int_equal(fakemem_written_bytes(&f), written);
	assert_false(f.stray);

	fakemem_free(&f);
	free(file);
	free(out);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_guest(const char *n)
{
	size_t l = strlen(n);

	return (l > 4 && strcmp(n + l - 4, ".elf") == 0) ||
	       (l > 6 && strcmp(n + l - 6, ".elf64") == 0);
}

struct guest {
	char path[4096];
	char name[256];
};

static int classes[2]; /* guests loaded per class: ELF32, ELF64 */

static void test_guest(void **state)
{
	const struct guest *g = *state;

	check_guest(g->path, g->name, classes);
}

/* At least two guests of each class (libcheck and walkprobe). */
static void test_guest_count(void **state)
{
	(void)state;
	if (classes[0] < 2 || classes[1] < 2) {
		print_error("%d ELF32 and %d ELF64 guests loaded, want 2 of each "
			    "(run `make all` first)\n", classes[0], classes[1]);
		fail();
	}
}

int main(void)
{
	const char *dir = getenv("UMBRA_GUEST_DIR");
	static struct guest guests[64];
	struct CMUnitTest tests[64 + 1];
	char *names[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (!dir)
		dir = LOADER_TEST_GUEST_DIR;
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d)) && n < 64)
			if (is_guest(de->d_name))
				names[n++] = strdup(de->d_name);
		closedir(d);
	} else {
		fprintf(stderr, "cannot open %s: run `make all` first\n", dir);
	}
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (int i = 0; i < n; i++) {
		snprintf(guests[i].path, sizeof(guests[i].path), "%s/%s", dir,
			 names[i]);
		snprintf(guests[i].name, sizeof(guests[i].name), "%s", names[i]);
		free(names[i]);
		tests[i] = (struct CMUnitTest){
			.name = guests[i].name, .test_func = test_guest,
			.initial_state = &guests[i],
		};
	}
	tests[n] = (struct CMUnitTest)cmocka_unit_test(test_guest_count);
	return _cmocka_run_group_tests("real guests", tests, (size_t)n + 1,
				       NULL, NULL);
}
