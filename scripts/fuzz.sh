#!/usr/bin/env bash
# Run every fuzz target of the capture package for a while each.
#
#   scripts/fuzz.sh [DURATION] [TARGET...]     e.g. scripts/fuzz.sh 5m
#
# DURATION is a go test -fuzztime value (default 1m); TARGETs default to
# every Fuzz* function in ./capture. go test -fuzz runs one target at a
# time, hence the loop. A failing input is written to
# capture/testdata/fuzz/<Target>/ (plain go test replays it from then on);
# the script stops at the first failure. FUZZ_PARALLEL sets -parallel
# (default: all CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-1m}
shift || true
pkg=./capture
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	mapfile -t targets < <(go test -list '^Fuzz' "$pkg" | grep '^Fuzz')
fi
par=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	par=(-parallel "$FUZZ_PARALLEL")
fi
for t in "${targets[@]}"; do
	echo "== $t for $time"
	go test "$pkg" -run '^$' -fuzz "^$t\$" -fuzztime "$time" -fuzzminimizetime 5s "${par[@]}"
done
