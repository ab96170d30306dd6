/*
 * The oracle: Umbra's architectural page-table walker, compiled into the
 * guest with the guest's flags.  engine/walk.c (with walk_tmpl.h and
 * include/umbra/walk.h) is freestanding C11, the same walker the shadow
 * engine uses and the one proven against QEMU by tests/conformance.
 *
 * It is included rather than built by a rule of its own because
 * guests/guests.mk already compiles every C file of a guest directory in both
 * flavours with the right flags; accmatrix.mk only adds the dependency on
 * the engine's files.
 */
#include "../../engine/walk.c"
