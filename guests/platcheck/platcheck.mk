# guests/platcheck: the platform check guest (tests/hv/platform).  The
# generic rules in guests/guests.mk build it, like every guests/<name>, as
# build/guests/platcheck32.elf and build/guests/platcheck64.elf; this
# fragment only names the pair.
.PHONY: platcheck
platcheck: $(GUEST_BUILD)/platcheck32.elf $(GUEST_BUILD)/platcheck64.elf
