# accmatrix: oracle.c includes the engine's walker (engine/walk.c), so its
# objects depend on the walker's sources too.  guests/guests.mk builds them
# like any other guest object.  This file is read before guests.mk (the
# fragments are included in sorted order), so it names the paths itself.
ACCMATRIX_ORACLE_DEPS := engine/walk.c engine/walk_tmpl.h include/umbra/walk.h
$(BUILD)/guests/32/accmatrix/oracle.o: $(ACCMATRIX_ORACLE_DEPS)
$(BUILD)/guests/64/accmatrix/oracle.o: $(ACCMATRIX_ORACLE_DEPS)
