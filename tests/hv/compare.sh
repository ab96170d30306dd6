# tests/hv/compare.sh: sourced by the guest scripts in tests/hv/ that run a
# guest natively and under Umbra and require the same result.
#
# The sourcing script sets: build (the build directory), limit (seconds per
# boot), out (log directory; created here).  It calls
#   hv_compare NAME GUEST [umbra-run options...] [-- guest args]
# which boots GUEST under Umbra (--stats json) and natively with the same
# options, and passes when both exit with status 33 and the guest's lines
# (everything but Umbra's "umbra: " lines) are identical.  An optional
# summary check: set HV_SUMMARY to an extended regex that one guest line
# must match (e.g. '^access: .* 0 failed$'); empty means none.  On success
# it prints one line with the exit counts by reason; on failure the diff
# and the tail of the Umbra log, sets failed=1 and returns 1.
# After hv_compare, the logs are $out/NAME.umbra.log and $out/NAME.native.log.

run=tools/umbra-run
failed=${failed:-0}
HV_SUMMARY=${HV_SUMMARY:-}
mkdir -p "$out"

hv_guest_lines() { tr -d '\r' <"$1" | grep -v '^umbra: '; }

# The exit counts of a run, from Umbra's exits-json line: "reason=N ...".
hv_exit_counts() {
	tr -d '\r' <"$1" | sed -n 's/^umbra: exits-json //p' | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(" ".join("%s=%d" % (k, v["count"]) for k, v in d["exits"].items()), "total=%d" % d["total"])
' 2>/dev/null
}

hv_compare() {
	local name=$1 guest=$2 s1 s2 why=
	shift 2
	[ -e "$guest" ] || { echo "$name: $guest is missing: run 'make all' first" >&2; failed=1; return 1; }
	BUILD=$build $run --timeout "$limit" --stats json "$guest" "$@" >"$out/$name.umbra.log" 2>&1
	s1=$?
	BUILD=$build $run --timeout "$limit" --native "$guest" "$@" >"$out/$name.native.log" 2>&1
	s2=$?
	if [ "$s1" != 33 ] || [ "$s2" != 33 ]; then
		why="status under Umbra $s1, native $s2 (want 33)"
	elif ! diff <(hv_guest_lines "$out/$name.umbra.log") <(hv_guest_lines "$out/$name.native.log") >"$out/$name.diff"; then
		why="guest output differs (< Umbra, > native), see $out/$name.diff"
	elif [ -n "$HV_SUMMARY" ] && ! hv_guest_lines "$out/$name.native.log" | grep -Eq "$HV_SUMMARY"; then
		why="no line matches the summary pattern '$HV_SUMMARY'"
	fi
	if [ -n "$why" ]; then
		printf '   %-12s FAILED: %s\n' "$name" "$why"
		head -20 "$out/$name.diff" 2>/dev/null | sed 's/^/     | /'
		tail -8 "$out/$name.umbra.log" | sed 's/^/     | umbra  /'
		failed=1
		return 1
	fi
	printf '   %-12s ok, %2d lines identical; exits: %s\n' "$name" \
		"$(hv_guest_lines "$out/$name.native.log" | wc -l)" "$(hv_exit_counts "$out/$name.umbra.log")"
}
