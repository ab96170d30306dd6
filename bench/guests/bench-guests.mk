# `make bench-guests`: the paging workloads of the benchmark guest
# (guests/benchguest), natively and under Umbra (bench/guests/run).  Not part
# of `make all` or `make test`: benchmarks are not timed tests.
.PHONY: bench-guests
bench-guests: all
	bench/guests/run
