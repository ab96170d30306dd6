/*
 * Umbra's host address space, shared by the linker script, boot.S and C.
 *
 *   0 .. 4 KiB             never mapped (a NULL dereference faults)
 *   image: 1 MiB ..        the Umbra image at its physical address,
 *                          identity-mapped with 4 KiB pages (so its stack
 *                          can have an unmapped guard page below it)
 *   DIRECT_MAP_BASE + pa   every byte of host RAM (the direct map), 2 MiB
 *                          pages, never executable
 *
 * Nothing else is mapped: a guest-physical address used by mistake as a
 * host pointer faults instead of silently touching host memory.
 */
#ifndef HV_LAYOUT_H
#define HV_LAYOUT_H

#define HV_IMAGE_BASE    0x100000          /* where the loader puts us */
#define HV_STACK_SIZE    (64 * 1024)       /* the one host stack */
#define HV_IST_STACK_SIZE (16 * 1024)      /* #DF, #PF, NMI, #MC stack */

#ifdef __ASSEMBLER__
#define DIRECT_MAP_BASE  0xFFFF800000000000
#else
#define DIRECT_MAP_BASE  0xFFFF800000000000ull
/* The direct map's reach: PML4 entries 256..(256 + 63): 32 TiB. */
#define DIRECT_MAP_SIZE  (32ull << 40)
#endif

#endif
