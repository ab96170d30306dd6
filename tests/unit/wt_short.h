/*
 * Short names for the walker unit tests' table rows, so that a row reads
 * like the rule it states: modes, walk outcomes and #PF error-code bits.
 * Include after walktest.h; for test sources only.
 */
#ifndef UMBRA_WT_SHORT_H
#define UMBRA_WT_SHORT_H

#include "umbra/walk.h"
#include "umbra/x86.h"

#define L32  UMBRA_MODE_32
#define LPAE UMBRA_MODE_PAE
#define L4   UMBRA_MODE_LONG4
#define L5   UMBRA_MODE_LONG5
#define OK   UMBRA_WALK_OK
#define PF   UMBRA_WALK_PF
#define P    X86_PFEC_P
#define W    X86_PFEC_W
#define U    X86_PFEC_U
#define RSVD X86_PFEC_RSVD
#define ID   X86_PFEC_ID
#define PK   X86_PFEC_PK

#endif
