#!/usr/bin/env python3
"""Check that the conformance comparer would catch walker bugs.

Builds the comparer against deliberately broken copies of engine/ (copies
under BUILD/conformance/mutants/, engine/ itself is never touched), replays
the logs of the last tools/conformance-report run (with the rest of the
engine from BUILD/hosted/libumbra.a), and reports each mutant
the logs fail to expose.  Run tools/conformance-report first.

    tests/conformance/mutation-check.py [MUTANT...]

Each mutant replaces one snippet of engine source; when the walker changes
and a snippet is no longer found, the mutant is reported as stale (update
or drop it).  Exit status 1 when a mutant survives.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get('BUILD', 'build'))
ENGINE_LIB = os.path.join(BUILD, 'hosted', 'libumbra.a')
LOGS = [os.path.join(BUILD, 'conformance', f'walkprobe-{m}.log')
        for m in ('32', 'pae', 'long4', 'long5')]

# (name, file in engine/, old snippet, new snippet)
MUTANTS = [
    ('wp_ignored', 'walk.c', 'acc->kind == UMBRA_ACCESS_WRITE && wp && !writable',
     'acc->kind == UMBRA_ACCESS_WRITE && !writable'),
    ('smap_ac_ignored', 'walk.c', '!(acc->ac && !acc->implicit_supervisor))', '1)'),
    ('smep_off', 'walk.c', 'if (user_addr && (w->regs.cr4 & X86_CR4_SMEP))', 'if (0)'),
    ('pk_wd_without_wp', 'walk.c', '(is_user_access(acc) || wp)', '1'),
    ('pk_outside_long_mode', 'walk.c', 'if (!long_mode || !(w->regs.cr4',
     'if ((void)long_mode, !(w->regs.cr4'),
    ('pk_on_fetch', 'walk.c',
     'acc->kind == UMBRA_ACCESS_FETCH || !(perm & UMBRA_PERM_U))', '!(perm & UMBRA_PERM_U))'),
    ('pk_only_without_other_fault', 'walk.c',
     'return check_paging_rights(w, acc, perm) | check_pkey(w, acc, perm, pkey);',
     'uint32_t r = check_paging_rights(w, acc, perm); '
     'return r ? r : check_pkey(w, acc, perm, pkey);'),
    ('id_bit_in_32bit_paging', 'walk.c',
     '(w->mode != UMBRA_MODE_32 && (w->regs.efer & X86_EFER_NXE))',
     '(w->regs.efer & X86_EFER_NXE)'),
    ('no_nonleaf_accessed', 'walk_tmpl.h',
     'if (!(PT_PDPTE_REGS && level == 3) && !(pte & X86_PTE_A))', 'if (0)'),
    ('pdpte_accessed', 'walk_tmpl.h',
     'if (!(PT_PDPTE_REGS && level == 3) && !(pte & X86_PTE_A))', 'if (!(pte & X86_PTE_A))'),
    ('no_dirty', 'walk_tmpl.h', 'set |= X86_PTE_D;', ';'),
    ('rsvd_without_p', 'walk_tmpl.h',
     'raise_pf(res, acc, w, va, X86_PFEC_P | X86_PFEC_RSVD);',
     'raise_pf(res, acc, w, va, X86_PFEC_RSVD);'),
    ('1g_low_rsvd_as_2m', 'walk.c', 'w->rsvd[3][1] = base | RSVD_1G_LOW;',
     'w->rsvd[3][1] = base | RSVD_2M_LOW;'),
    ('pml4_ps_allowed', 'walk.c', 'w->rsvd[5][1] = w->rsvd[4][1] = RSVD_ALL;', ';'),
    ('nx_never_reserved', 'walk.c', '(regs->efer & X86_EFER_NXE) ? 0 : X86_PTE_NX', '0'),
    ('nx_ignored', 'walk_tmpl.h', 'if (nx_enabled && (pte & X86_PTE_NX))', 'if (0)'),
    ('pdpte_low_bits_ok', 'walk.c', 'const uint64_t rsvd = PAE_PDPTE_RSVD_LOW |',
     'const uint64_t rsvd = 0 |'),
    ('pae_rsvd_only_to_51', 'walk.c', ': UMBRA_BITS(62, w->caps.maxphyaddr));',
     ': UMBRA_BITS(51, w->caps.maxphyaddr));'),
    ('maxphyaddr_off_by_one', 'walk.c',
     'return maxphyaddr >= 52 ? 0 : UMBRA_BITS(51, maxphyaddr);',
     'return maxphyaddr >= 52 ? 0 : UMBRA_BITS(51, maxphyaddr + 1);'),
    ('la57_sign_bit', 'walk.c', '#define LA57_SIGN_BIT 56', '#define LA57_SIGN_BIT 47'),
    ('no_stack_fault', 'walk_tmpl.h', 'acc->stack ? UMBRA_WALK_SS : UMBRA_WALK_GP',
     'UMBRA_WALK_GP'),
    ('pse_always', 'walk.c', 'w->ps_allowed[2] = (w->regs.cr4 & X86_CR4_PSE) != 0;',
     'w->ps_allowed[2] = 1;'),
    ('4m_bit21_ok', 'walk.c', 'w->rsvd[2][1] = X86_PTE32_4M_RSVD_BIT;', 'w->rsvd[2][1] = 0;'),
    ('us_leaf_only', 'walk_tmpl.h', 'if (!(pte & X86_PTE_US))',
     'if (level == 1 && !(pte & X86_PTE_US))'),
    ('rw_leaf_only', 'walk_tmpl.h', 'if (!(pte & X86_PTE_RW))',
     'if (level == 1 && !(pte & X86_PTE_RW))'),
    ('pse36_shift', 'walk_tmpl.h', '<< (32 - X86_PTE32_PSE36_SHIFT));',
     '<< (31 - X86_PTE32_PSE36_SHIFT));'),
    ('large_page_pat_leaks', 'walk_tmpl.h', 'frame = pte & X86_PTE_ADDR_4K & ~offset_mask;',
     'frame = pte & X86_PTE_ADDR_4K & ~0xfffull;'),
]


def main():
    only = set(sys.argv[1:])
    for log in LOGS + [ENGINE_LIB]:
        if not os.path.exists(log):
            sys.exit(f'{log} missing: run tools/conformance-report first')
    conf = sorted(os.path.join(ROOT, 'tests/conformance', f)
                  for f in os.listdir(os.path.join(ROOT, 'tests/conformance'))
                  if f.endswith('.c'))
    survivors, stale = [], []
    for name, fname, old, new in MUTANTS:
        if only and name not in only:
            continue
        work = os.path.join(BUILD, 'conformance', 'mutants', name)
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, 'engine'), os.path.join(work, 'engine'))
        path = os.path.join(work, 'engine', fname)
        text = open(path).read()
        if old not in text:
            print(f'{name:28s} STALE (snippet not found in engine/{fname})')
            stale.append(name)
            continue
        open(path, 'w').write(text.replace(old, new))
        # The mutated walker first, then the real engine library for
        # anything else: the library's own walk.o is then never pulled in.
        binary = os.path.join(work, 'compare')
        cc = subprocess.run(['gcc', '-std=c11', '-O1', '-w', '-I' + os.path.join(ROOT, 'include'),
                             '-I' + os.path.join(ROOT, 'tests/support'),
                             '-I' + os.path.join(ROOT, 'tests/conformance'), '-o', binary,
                             os.path.join(work, 'engine', 'walk.c')]
                            + conf + [os.path.join(ROOT, 'tests/support/testmem.c'), ENGINE_LIB],
                            capture_output=True, text=True)
        if cc.returncode:
            print(f'{name:28s} BUILD FAILED: {cc.stderr.strip()[:200]}')
            stale.append(name)
            continue
        run = subprocess.run([binary, '--details', '0', '--no-coverage'] + LOGS,
                             capture_output=True, text=True)
        total = [l for l in run.stdout.splitlines() if l.startswith('conformance total')]
        verdict = 'caught' if run.returncode else 'SURVIVED'
        print(f'{name:28s} {verdict:8s} {total[0][len("conformance total: "):] if total else ""}')
        if not run.returncode:
            survivors.append(name)
    print(f'mutation-check: {len(survivors)} survivors {survivors}, {len(stale)} stale {stale}')
    return 1 if survivors else 0


if __name__ == '__main__':
    sys.exit(main())
