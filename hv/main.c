/*
 * Umbra's C entry: from boot.S's first long-mode instruction to the guest.
 *
 *   1. console, descriptor tables, the multiboot information, options;
 *   2. host memory: the page allocator, then Umbra's own page tables;
 *   3. SVM on; guest RAM allocated and the guest loaded from module 0;
 *   4. the shadow engine created over the guest's RAM, the vCPU set up,
 *      and the run loop, which never returns.
 */
#include "bootinfo.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "guestmem.h"
#include "hostmap.h"
#include "loader.h"
#include "mmu_env.h"
#include "panic.h"
#include "platform_fw.h"
#include "pmm.h"
#include "svm.h"
#include "traps.h"
#include "vcpu.h"

#define WHY_SIZE 160

void hv_main(uint32_t magic, uint32_t info);

struct hv_options hv_opt;
static struct guest_memory guest_mem;
static struct platform_fw platform_fw; /* snapshot before hostmap_init */
static struct vcpu vcpu0;

/* A configuration problem: say so and exit with UMBRA_EXIT_CONFIG. */
__attribute__((noreturn)) static void config_error(const char *what,
						   const char *why)
{
	log_error("%s: %s", what, why);
	debug_exit(UMBRA_EXIT_CONFIG);
}

static void panic_context(void)
{
	vcpu_print_state(&vcpu0);
	vcpu_print_stats(&vcpu0);
}

static void print_boot_summary(const struct boot_info *bi)
{
	log_info("Umbra shadow-paging hypervisor; host RAM %llu MiB, %llu MiB free",
		 (unsigned long long)(pmm_ram_end() >> 20),
		 (unsigned long long)((pmm_free_pages() << PAGE_SHIFT) >> 20));
	log_debug("options: mem=%lluK pool=%u log=%u stats=%u audit=%llu invlpg=%s",
		  (unsigned long long)(hv_opt.guest_mem >> 10),
		  hv_opt.pool_pages, hv_opt.log_level, hv_opt.stats,
		  (unsigned long long)hv_opt.audit_every,
		  hv_opt.invlpg_exit ? "exit" : "native");
	for (unsigned i = 0; i < bi->n_modules; i++)
		log_debug("module %u: [%#llx, %#llx) '%s'", i,
			  (unsigned long long)bi->module[i].start,
			  (unsigned long long)bi->module[i].end,
			  bi->module[i].cmdline);
	pmm_print();
}

/* The guest kernel is the first module; the others are its modules. */
static void load_guest(const struct boot_info *bi, struct loader_boot *boot)
{
	static struct loader_module mods[BOOT_MAX_MODULES];
	const struct guest_mem mem = {
		.ctx = &guest_mem,
		.write = guestmem_write,
		.zero = guestmem_zero,
		.map = &guest_mem.map,
	};
	const struct loader_args args = {
		.image = phys_to_virt(bi->module[0].start),
		.image_len = bi->module[0].end - bi->module[0].start,
		.cmdline = bi->module[0].cmdline,
		.modules = mods,
		.nmodules = bi->n_modules - 1,
		.flags = LOADER_IGNORE_VIDEO,
		.mem = &mem,
	};
	struct loader_error err;

	for (unsigned i = 1; i < bi->n_modules; i++)
		mods[i - 1] = (struct loader_module){
			.data = phys_to_virt(bi->module[i].start),
			.len = bi->module[i].end - bi->module[i].start,
			.string = bi->module[i].cmdline,
		};
	if (loader_load_multiboot(&args, boot, &err) != LOADER_OK) {
		log_error("cannot load the guest '%s': %s%s%s",
			  bi->module[0].cmdline, loader_strerror(err.code),
			  err.msg[0] ? ": " : "", err.msg);
		debug_exit(UMBRA_EXIT_CONFIG);
	}
	log_info("guest '%s': %lluK RAM, entry %#x, %u modules",
		 bi->module[0].cmdline,
		 (unsigned long long)(hv_opt.guest_mem >> 10), boot->entry,
		 boot->nmodules);
}

/* Protection keys: RDPKRU in the host needs CR4.PKE (exit_pf.c). */
static void enable_host_features(void)
{
	if (cpuid(CPUID_LEAF_EXT_FEATURES, 0).ecx & CPUID_7_ECX_PKU)
		write_cr4(read_cr4() | X86_CR4_PKE);
}

__attribute__((noreturn)) static void start_guest(const struct boot_info *bi)
{
	static struct loader_boot boot;
	struct svm_caps caps;
	struct umbra_mmu *mmu;
	const char *why = NULL;
	char why_buf[WHY_SIZE];

	if (bi->n_modules == 0)
		config_error("guest",
			     "no guest: pass it as the first multiboot module (QEMU: -initrd \"guest.elf args\")");
	if (!svm_init(&caps, &why)) {
		log_error("SVM: %s", why);
		debug_exit(UMBRA_EXIT_NO_SVM);
	}
	enable_host_features();
	platform_fw_print(&platform_fw);
	if (!guestmem_init(&guest_mem, hv_opt.guest_mem, &platform_fw, why_buf,
			   sizeof(why_buf)))
		config_error("guest memory", why_buf);
	guestmem_print(&guest_mem);
	load_guest(bi, &boot);
	mmu = mmu_env_create(&guest_mem, hv_opt.pool_pages);
	vcpu_init(&vcpu0, &guest_mem, mmu, &boot.cpu);
	mmu_env_attach(&vcpu0);
	panic_set_context(panic_context);
	vcpu_run(&vcpu0);
}

/* Deliberate failures, so tests can prove the report paths work. */
static unsigned recurse(volatile unsigned depth)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	if (depth < UINT32_MAX) /* always: the stack ends long before */
		return recurse(depth + 1) + frame[0];
	return frame[0];
}

static void run_selftest(void)
{
	switch (hv_opt.selftest) {
	case SELFTEST_PANIC:
		panic("selftest: a deliberate panic");
	case SELFTEST_FAULT:
		log_info("selftest: reading NULL");
		(void)*(volatile uint64_t *)0;
		break;
	case SELFTEST_STACK:
		log_info("selftest: overflowing the stack");
		recurse(0);
		break;
	default:
		break;
	}
}

void hv_main(uint32_t magic, uint32_t info)
{
	const struct boot_info *bi;
	const char *why = NULL;
	char why_buf[WHY_SIZE];

	console_init(COM1_PORT);
	traps_init();
	bi = bootinfo_parse(magic, info, &why);
	if (!bi)
		config_error("boot", why);
	if (!cmdline_parse(bi->cmdline, &hv_opt, why_buf, sizeof(why_buf)))
		config_error("command line", why_buf);
	log_level = hv_opt.log_level;
	if (hv_opt.console_port != COM1_PORT)
		console_init(hv_opt.console_port);
	if (!pmm_init(bi, image_start(), image_end(), &why))
		config_error("memory", why);
	/* Firmware memory is readable only through boot.S's identity map. */
	platform_fw_snapshot(&platform_fw);
	if (!hostmap_init(bi, &why))
		config_error("page tables", why);
	print_boot_summary(bi);
	run_selftest();
	start_guest(bi);
}
