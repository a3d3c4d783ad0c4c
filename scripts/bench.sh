#!/usr/bin/env bash
# Incident-scale measurement: synq analyze on a generated capture against
# the floor (package internal/floor: pcapgo read, gopacket decode, one map
# lookup per packet, single core), measured in the same run.
#
#   scripts/bench.sh [PACKETS]        default 5000000 (a ~480 MB capture)
#   FLOOD=1 RATE=100000 scripts/bench.sh 22000000
#                                     a spoofed SYN flood instead (11M sources,
#                                     all in flight at the peak): reports
#                                     resident bytes per attempt in flight
#
#   SHAPE=long-low-rate scripts/bench.sh
#                                     1M packets at 2 new attempts a second:
#                                     a capture 15 hours long
#   SHAPE=long-low-rate RATE=20 scripts/bench.sh 2000000
#                                     2M packets at 20 attempts a second:
#                                     a 3-hour capture (issue #14's row)
#   SHAPE=ten-minute scripts/bench.sh
#                                     5M packets at 500 attempts a second:
#                                     about 17 minutes of a busy server
#   SHAPE=many-listeners scripts/bench.sh
#                                     the dense mix spread over 1000
#                                     listener ports
#   SHAPE=minute | day | three-day scripts/bench.sh
#                                     1 attempt a second for 1 minute, 24
#                                     hours, and 3 days as 72 hourly files
#                                     (tcpdump -G 3600), read as one set:
#                                     memory at the same rate over spans
#
# Captures are generated once into ${BENCH_DIR:-/tmp/synq-bench} (delete it
# to regenerate). Each command runs RUNS times (default 3), in turn with
# the others; the best wall time counts, since these machines are shared
# and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
gen_extra=()
rotate=
case ${SHAPE:-} in
long-low-rate) RATE=${RATE:-2} default_packets=1000000 ;;
ten-minute) RATE=${RATE:-500} default_packets=5000000 ;;
many-listeners) default_packets=5000000 gen_extra=(-listeners 1000) ;;
minute) RATE=${RATE:-1} default_packets=560 ;;
day) RATE=${RATE:-1} default_packets=800000 ;;
three-day) RATE=${RATE:-1} default_packets=2400000 rotate=1h ;;
'') default_packets=5000000 ;;
*)
	echo "bench.sh: unknown SHAPE ${SHAPE} (long-low-rate, ten-minute, many-listeners, minute, day, three-day)" >&2
	exit 2
	;;
esac
packets=${1:-$default_packets}
runs=${RUNS:-3}
dir=${BENCH_DIR:-/tmp/synq-bench}
mkdir -p "$dir"
go build -o "$dir/synq" ./cmd/synq
go build -o "$dir/synqfloor" ./internal/floor/synqfloor

flood=()
name=mix
if [ -n "${FLOOD:-}" ]; then
	flood=(-flood)
	name=flood
fi
rate=${RATE:-20000} # new attempts per second of capture time
flood+=(-rate "$rate")
flood+=("${gen_extra[@]}")
tag=$name-$packets-$rate${SHAPE:+-$SHAPE}
capture="$dir/$tag.pcap"
inputs=("$capture")
if [ -n "$rotate" ]; then
	# synq reads the rotated files as one merged set; the floor reads the
	# same packets from the whole capture.
	capture="$dir/$tag.whole.pcap"
	if [ ! -s "$capture" ]; then
		go run ./internal/gen/synqgen "${flood[@]}" -packets "$packets" -rotate "$rotate" -o "$dir/$tag"
	fi
	inputs=("$dir/$tag"-[0-9]*.pcap)
	echo "capture: ${#inputs[@]} files $dir/$tag-NNN.pcap ($(du -ch "${inputs[@]}" | tail -1 | cut -f1))"
elif [ ! -s "$capture" ]; then
	go run ./internal/gen/synqgen "${flood[@]}" -packets "$packets" -o "$capture"
fi
[ -n "$rotate" ] || echo "capture: $capture ($(du -h "$capture" | cut -f1))"

# run LABEL COMMAND...: times one run into $dir/times ("LABEL SECONDS KB
# CPU-SECONDS": wall time, peak RSS, user plus system time).
run() {
	local label=$1
	shift
	# The previous run's writes (a 330 MB export) are flushed first: the
	# disk writing them back during this run cost it up to 3 s of system
	# time on these machines, whatever this run did.
	sync
	/usr/bin/time -f '%e %M %U %S' -o "$dir/time" "$@" >"$dir/out" 2>/dev/null
	echo "$label $(awk '{print $1, $2, $3 + $4}' "$dir/time")" >>"$dir/times"
}

# best LABEL: the best wall time of LABEL's runs, that run's peak RSS (KB)
# and CPU time: "SECONDS KB CPU-SECONDS".
best() {
	awk -v l="$1" '$1 == l && (b == "" || $2 < b) { b = $2; m = $3; c = $4 } END { print b, m, c }' "$dir/times"
}

floor_best=0
for _ in $(seq "$runs"); do
	r=$("$dir/synqfloor" "$capture" | sed 's/.*pkts_per_s=//')
	floor_best=$(awk "BEGIN{print ($r > $floor_best) ? $r : $floor_best}")
done
printf 'floor (single core): %.2f M packets/s\n' "$(awk "BEGIN{print $floor_best/1e6}")"

report() { # LABEL SECONDS KB CPU-SECONDS
	local pps
	pps=$(awk "BEGIN{print $packets/$2}")
	printf '%-28s %6.2f s  %6.2f M packets/s  %.2fx floor  peak RSS %d MB  %.1f cores busy\n' \
		"$1" "$2" "$(awk "BEGIN{print $pps/1e6}")" "$(awk "BEGIN{print $pps/$floor_best}")" "$(($3 / 1024))" \
		"$(awk "BEGIN{print $4/$2}")"
}

# The variants run in turn, RUNS rounds, so that the machine's drift
# (these machines are shared) falls on all of them alike. The export goes
# to a new file each time, as in an incident: truncating the previous
# run's 330 MB costs the file system 60-100 ms more.
: >"$dir/times"
for _ in $(seq "$runs"); do
	run table "$dir/synq" analyze "${inputs[@]}"
	if [ -z "${FLOOD:-}" ]; then
		rm -f "$dir/conns.jsonl"
		run conns "$dir/synq" analyze --connections "$dir/conns.jsonl" "${inputs[@]}"
		run html "$dir/synq" analyze --format html -o "$dir/report.html" "${inputs[@]}"
	fi
done
read -r t0 m0 c0 < <(best table)
report "synq analyze (table)" "$t0" "$m0" "$c0"
if [ -z "${FLOOD:-}" ]; then
	read -r t m c < <(best conns)
	report "  --connections conns.jsonl" "$t" "$m" "$c"
	printf '  %+.0f%% against the table run\n' "$(awk "BEGIN{print ($t/$t0-1)*100}")"
	read -r t m c < <(best html)
	report "  --format html" "$t" "$m" "$c"
	printf '  %+.0f%% against the table run\n' "$(awk "BEGIN{print ($t/$t0-1)*100}")"
else
	peak=$("$dir/synq" analyze --format json "${inputs[@]}" | sed -n 's/.*"peak_attempts_in_flight": \([0-9]*\).*/\1/p')
	printf 'peak attempts in flight: %d; %.0f bytes of peak RSS per attempt\n' "$peak" "$(awk "BEGIN{print $m0*1024/$peak}")"
fi
