#!/usr/bin/env bash
# Re-records every lab scenario (or the ones named) with the real kernel
# into a scratch directory, puts those captures in place of testdata's in
# a scratch git worktree, and runs there the tests that hold synq to the
# kernel: verdicts with and without the counters and ss samples, dropped
# packets against ListenOverflows/ListenDrops, ICMP refusals against
# IcmpOutDestUnreachs, outcomes and timelines, and the same captures cut,
# thinned, reordered and set beside each other. The golden files are not
# compared (a new run has other timestamps); testdata/ is not touched.
#
#   sudo scripts/lab-check.sh [scenario...]
#   LAB_CAPTURES=DIR scripts/lab-check.sh
#                        test again the captures of an earlier run (DIR is
#                        its .../captures), without recording anew
#
# A run has other timings than the recorded one: this is how a fresh
# slow-http-server run showed overflows the capture did not count yet
# (2026-12-06). Needs what testdata/lab/run.sh needs; about 20 minutes
# (accept-overflow-pool alone takes 11: name the others to skip it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/synq-lab-check.XXXXXX)
wt="$out/worktree"
trap 'git worktree remove --force "$wt" 2>/dev/null || true' EXIT
captures=${LAB_CAPTURES:-$out/captures}
if [ -z "${LAB_CAPTURES:-}" ]; then
	SYNQ_LAB_OUT="$captures" testdata/lab/run.sh "$@"
fi
git worktree add -q --detach "$wt" HEAD
# The worktree is HEAD; test what is in this tree, committed or not.
git diff HEAD -- . ':!testdata' | (cd "$wt" && git apply --allow-empty)
for d in "$captures"/*/; do
	name=$(basename "$d")
	rm -f "$wt/testdata/$name"/capture.* "$wt/testdata/$name/ss.txt"
	cp -r "$d"/. "$wt/testdata/$name/"
done
cd "$wt"
go test ./cmd/synq -count=1 \
	-run 'TestScenarioVerdicts|MatchKernel|TestICMPRefusals|TestScenarioOutcomes|TestTimelineAddsUp|TestWindowsNeverContradictTheKernel|TestCuts|TestMissingPacketsChangeNoClaim|TestReorderedPacketsChangeNoClaim|TestShortSnaplenChangesNoClaim|TestSYNOnlyFilterChangesNoClaim|TestAnotherListenerChangesNoVerdict|TestFileBesideALongerOneJudgedAlone|TestCaptureBesideItsOwnStartClaimsNoMore|TestPathJitterMakesNoCookies|TestNodeCountersDoNotCoverForwardedCapture|TestPortKeepsWhereTheNodeForwards|TestClockSetBackClaimsNoMore|TestIPLedger|TestTwoCapturePointsCountOnce'
echo "lab-check: the captures in $captures pass"
