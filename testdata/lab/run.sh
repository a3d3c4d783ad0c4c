#!/usr/bin/env bash
# Reproduces TCP connection-drop scenarios in network namespaces and captures
# them (on the server side, except path-loss-client and
# synqueue-no-cookies-client), for synq's test data.
#
# usage: testdata/lab/run.sh [scenario...]    (no arguments: all scenarios)
#        SYNQ_LAB_OUT=/tmp/x testdata/lab/run.sh ...  (write there, not testdata/)
#        LAB_OFFLOADS=on testdata/lab/run.sh ...  (leave the interfaces'
#            offloads as the kernel sets them: a capture as most hosts take
#            one, with TSO super-segments and unfinished checksums on what
#            the host sends; testdata's captures are made with them off)
#        LAB_CLIENT_TIMESTAMPS=0 testdata/lab/run.sh ...  (clients without
#            TCP timestamps, as Windows sends its SYNs by default)
#
# Needs root, iproute2 (ip, ss, nstat), tcpdump, ethtool, Go; dumpcap (package
# tshark) for the pcapng scenario, nft for the firewall-* scenarios, python3
# for slow-http-server. Checked before anything starts.
#
# Writes testdata/<scenario>/{capture.pcap|capture.pcapng,nstat-before.txt,
# nstat-after.txt,sysctl.txt,ss.txt,README.md} (the client-side captures also
# nstat-client-before.txt, nstat-client-after.txt; the vxlan scenarios also
# inner.pcap, and args.txt with the flags synq needs; two-capture-points
# also client.pcap; snapshot-formats also
# nstat-a-before/after.txt and netstat-before/after.txt). Everything runs in
# namespaces named synqlab-* that this script creates and deletes; only
# 10.88.0.0/16 and fd88::/64 addresses inside them are used (10.89.0.0/24
# inside the VXLAN scenarios' tunnels).
set -euo pipefail

ALL_SCENARIOS=(healthy accept-overflow-syn-drops accept-overflow-ack-ignored
	abort-on-overflow app-reset-after-accept no-listener ipv6 any-sll2 pcapng vlan
	syncookies-flood synflood-no-cookies firewall-drop synack-dropped-on-egress synack-dropped-on-egress-ipv6 rp-filter synack-other-route tc-ingress-drop tc-egress-drop path-loss path-loss-synack path-loss-client
	defer-accept vxlan vxlan-ipv6-8472 vxlan-any
	accept-overflow-idle accept-overflow-slow-accept somaxconn-clamp
	accept-overflow-capture-late short-capture-cookies firewall-reject-rst
	firewall-reject-icmp synqueue-no-cookies-client forced-cookies
	three-quarters-rule syn-answered-by-ack listener-restart reuseport-stuck
	two-listeners-idle-and-talking snapshot-formats slow-http-server
	nodeport nodeport-masquerade nodeport-dropped-on-node nodeport-capture-late
	accept-overflow-long accept-overflow-pool loopback fastopen
	wildcard-local-and-remote two-capture-points firewall-drops-acks
	accept-overflow-synack-retries-0 v6only-wildcard
	synproxy-accept-overflow synproxy-slow-accept synproxy-no-listener
	defer-accept-overflow one-direction syncookies-flood-slow-accept half-open-checks
	firewall-drops-requests long-round-trip
	long-round-trip-no-timestamps firewall-drops-requests-ipv6 conntrack-full connlimit-drop ratelimit-drop
	nodeport-conntrack-full no-route-back blackhole-route-ipv6 mixed-listeners no-route-beside-overflow
	dual-stack-one-queue split-stack-v6-filtered proxy-backend-overflow service-address-moved
	ecn-syn-dropped synqueue-no-cookies-burst synack-egress-limit
	ratelimit-beside-overflow ratelimit-client-side)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[[ $(id -u) == 0 ]] || { echo "run.sh: must run as root" >&2; exit 1; }
# What every scenario needs, checked up front: a missing ethtool used to
# pass silently (offloads stayed on, and the capture showed TSO super-
# segments the kernel never sent on the wire).
need=(ip ss nstat tcpdump ethtool go)
for s in "${@:-${ALL_SCENARIOS[@]}}"; do
	case $s in
	firewall-* | nodeport* | synack-dropped-on-egress* | conntrack-* | connlimit-* | ratelimit-* | split-stack-* | ecn-* | synack-egress-* | ratelimit-*) need+=(nft) ;;
	pcapng) need+=(dumpcap) ;;
	slow-http-server) need+=(python3) ;;
	esac
done
for c in "${need[@]}"; do
	command -v "$c" >/dev/null || { echo "run.sh: $c is missing (apt-get install iproute2 tcpdump ethtool nftables tshark python3)" >&2; exit 1; }
done

NS_C=synqlab-cli # clients
NS_R=synqlab-rtr # delay/loss relay (only in relay topologies)
NS_S=synqlab-srv # server; captures (unless CAP_NS says otherwise) and nstat snapshots are taken here
MAC_C=02:88:00:00:00:01
MAC_S=02:88:00:00:00:02
IP_C=10.88.0.1
IP_C2=10.88.0.3
IP_S=10.88.0.2
IP6_C=fd88::1
IP6_S=fd88::2
SPOOF_NET=10.88.9.0/24
IP_FAR=10.88.7.1 # a client address on a network the server has no route to
IP6_FAR=fd77::1

tmp=$(mktemp -d /tmp/synqlab.XXXXXX)
export NSTAT_HISTORY=$tmp/nstat.history # never touch the user's nstat history
PIDS=()
declare -A SNAP_T=() # unix time of each nstat snapshot (before, after)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

kill_pids() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

del_namespaces() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep '^synqlab-' || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
}

# restore_conntrack_max : undo set_conntrack_max (conntrack-full), at the
# scenario's end and on any exit.
CONNTRACK_MAX_WAS=
restore_conntrack_max() {
	if [[ -n $CONNTRACK_MAX_WAS ]]; then
		echo "$CONNTRACK_MAX_WAS" >/proc/sys/net/netfilter/nf_conntrack_max
		CONNTRACK_MAX_WAS=
	fi
}

cleanup() {
	local rc=$?
	set +e
	kill_pids
	del_namespaces
	restore_conntrack_max
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# bg NAME NS CMD... : start CMD in namespace NS in the background, logging to
# $tmp/NAME.log; remembers the pid for cleanup.
bg() {
	local name=$1 ns=$2; shift 2
	ip netns exec "$ns" "$@" >"$tmp/$name.log" 2>&1 &
	PIDS+=($!)
}

LABTOOL=$tmp/labtool
log "building labtool"
(cd "$repo" && go build -o "$LABTOOL" ./testdata/lab/labtool)

# ---------------------------------------------------------------- topology

new_ns() {
	local ns=$1
	ip netns add "$ns"
	nsx "$ns" ip link set lo up
	# IPv6 off unless a scenario turns it on: no RS/MLD/DAD chatter.
	nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

quiet_if() { # ns ifname: no offloads (correct checksums, MTU-sized segments)
	[[ ${LAB_OFFLOADS:-off} == on ]] && return
	nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 ||
		log "warning: ethtool -K $2 in $1 failed: its offloads may stay on"
}

# configure an endpoint's eth0 (client or server side)
setup_end() {
	local ns=$1 mac=$2 ip=$3 peer_ip=$4 peer_mac=$5 ip6=$6 peer_ip6=$7
	nsx "$ns" ip link set eth0 address "$mac"
	quiet_if "$ns" eth0
	if [[ $V6 == 1 ]]; then
		nsx "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.addr_gen_mode=1 \
			net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.dad_transmits=0
	fi
	nsx "$ns" ip link set eth0 up
	nsx "$ns" ip addr add "$ip/24" dev eth0
	nsx "$ns" ip neigh replace "$peer_ip" lladdr "$peer_mac" dev eth0 nud permanent
	if [[ $V6 == 1 ]]; then
		nsx "$ns" ip -6 addr add "$ip6/64" dev eth0 nodad
		nsx "$ns" ip -6 neigh replace "$peer_ip6" lladdr "$peer_mac" dev eth0 nud permanent
	fi
}

# topo direct|relay : client ns <-> server ns over one veth pair, or via a
# middle namespace where labtool relay bridges two veth pairs at layer 2.
topo() {
	TOPO=$1
	new_ns $NS_C
	new_ns $NS_S
	if [[ $TOPO == direct ]]; then
		ip -n $NS_C link add eth0 type veth peer name eth0 netns $NS_S
	else
		new_ns $NS_R
		ip -n $NS_C link add eth0 type veth peer name cli netns $NS_R
		ip -n $NS_S link add eth0 type veth peer name srv netns $NS_R
		local i
		for i in cli srv; do
			quiet_if $NS_R $i
			nsx $NS_R ip link set $i up
		done
	fi
	setup_end $NS_C $MAC_C $IP_C $IP_S $MAC_S $IP6_C $IP6_S
	setup_end $NS_S $MAC_S $IP_S $IP_C $MAC_C $IP6_S $IP6_C
	# Fixed, short retry budgets so runs end quickly and identically.
	nsx $NS_C sysctl -qw net.ipv4.tcp_syn_retries=2
	if [[ ${LAB_CLIENT_TIMESTAMPS:-1} == 0 ]]; then
		nsx $NS_C sysctl -qw net.ipv4.tcp_timestamps=0
	fi
	nsx $NS_S sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_syncookies=1 \
		net.ipv4.tcp_synack_retries=2 net.ipv4.tcp_abort_on_overflow=0
	# Adding IPv6 addresses sends unsolicited MLD reports (repeated within
	# 1 s); let them pass before the capture starts.
	if [[ $V6 == 1 ]]; then sleep 2; fi
}

second_client_addr() { # a second client address, $IP_C2, on the client's eth0
	EXTRA_ADDR_NOTE=" and $IP_C2"
	nsx $NS_C ip addr add $IP_C2/24 dev eth0
	nsx $NS_S ip neigh replace $IP_C2 lladdr $MAC_C dev eth0 nud permanent
}

far_client_addr() { # a client address, $IP_FAR, on a network the server has no route to; rp_filter 0, so its SYNs reach TCP
	nsx $NS_C ip addr add $IP_FAR/32 dev eth0
	nsx $NS_S sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
}

second_client_addr6() { # a second IPv6 client address, fd88::3, on the client's eth0
	EXTRA_ADDR_NOTE=" and fd88::3"
	nsx $NS_C ip -6 addr add fd88::3/64 dev eth0 nodad
	nsx $NS_S ip -6 neigh replace fd88::3 lladdr $MAC_C dev eth0 nud permanent
}

relay() { # relay ARGS... : start the L2 relay in the middle namespace
	bg relay $NS_R "$LABTOOL" relay -a cli -b srv -duration 60s "$@"
	RELAY_DESC="labtool relay $* (between veths cli and srv in $NS_R)"
	sleep 0.3
}

# serve PORT_OR_ADDR ARGS... : start a listener in the server namespace and
# wait until it is listening.
serve() {
	local addr=$1; shift
	local port=${addr##*:}
	local rows0
	rows0=$(nsx $NS_S ss -Hltn "sport = :$port" | wc -l)
	bg "serve-$port-${#LISTENERS[@]}" $NS_S "$LABTOOL" serve -addr "$addr" -duration 60s "$@"
	SERVE_PID=${PIDS[-1]}
	LISTENERS+=("$addr: labtool serve $*")
	local i
	for i in $(seq 250); do
		# one more LISTEN row than before (SO_REUSEPORT listeners share the port)
		if (($(nsx $NS_S ss -Hltn "sport = :$port" | wc -l) > rows0)); then return; fi
		sleep 0.02
	done
	echo "listener $addr did not come up" >&2
	cat "$tmp/serve-$port-$((${#LISTENERS[@]} - 1)).log" >&2
	return 1
}

clients() { # clients ARGS... : run labtool connect in the client namespace (foreground, bounded)
	CLIENT_CMDS+=("labtool connect $*")
	nsx $NS_C "$LABTOOL" connect "$@" >>"$tmp/clients.log" 2>&1
}

clients_bg() {
	CLIENT_CMDS+=("labtool connect $* (in background)")
	ip netns exec $NS_C "$LABTOOL" connect "$@" >>"$tmp/clients-bg.log" 2>&1 &
	BG_CLIENTS+=($!)
	PIDS+=($!)
}

wait_clients_bg() {
	local p
	for p in "${BG_CLIENTS[@]}"; do wait "$p"; done
	BG_CLIENTS=()
	cat "$tmp/clients-bg.log" >>"$tmp/clients.log"
	: >"$tmp/clients-bg.log"
}

# ---------------------------------------------------------------- capture

# capture_start tcpdump|any|pcapng
capture_start() {
	CAP_MODE=$1
	: >"$tmp/capture.err"
	case $CAP_MODE in
	tcpdump | any | lo)
		local ifc=eth0 extra=()
		[[ $CAP_MODE == any ]] && { ifc=any; extra=(-y LINUX_SLL2); }
		[[ $CAP_MODE == lo ]] && ifc=lo
		# Immediate mode: without it libpcap hands packets over per ring
		# block (1 s timeout), and a capture stopped less than a second
		# after its packets loses them.
		[[ $CAP_IMMEDIATE == 1 ]] && extra+=(--immediate-mode)
		# One direction only (tcpdump -Q in), as a capture filtered with
		# 'dst port', or a one-way mirror, holds it.
		[[ -n $CAP_DIRECTION ]] && extra+=(-Q "$CAP_DIRECTION")
		CAP_FILE=capture.pcap
		CAP_CMD="tcpdump -i $ifc${extra[*]:+ ${extra[*]}} -n -s 200 -U -w capture.pcap"
		ip netns exec "$CAP_NS" tcpdump -i $ifc "${extra[@]}" -n -s 200 -U -Z root \
			-w "$tmp/$CAP_FILE" 2>"$tmp/capture.err" &
		;;
	pcapng)
		CAP_FILE=capture.pcapng
		CAP_CMD="dumpcap -i eth0 -s 200 -n -w capture.pcapng"
		ip netns exec "$CAP_NS" dumpcap -q -i eth0 -s 200 -n -w "$tmp/$CAP_FILE" 2>"$tmp/capture.err" &
		;;
	esac
	CAP_PID=$!
	PIDS+=($CAP_PID)
	local i
	for i in $(seq 100); do
		if grep -qE 'listening on|Capturing on' "$tmp/capture.err"; then
			# (short-capture-cookies keeps its window short: in immediate
			# mode the socket is bound once tcpdump says it is listening)
			if [[ $CAP_IMMEDIATE == 1 ]]; then sleep 0.05; else sleep 0.2; fi
			return
		fi
		sleep 0.1
	done
	echo "capture did not start" >&2
	cat "$tmp/capture.err" >&2
	return 1
}

capture_stop() {
	if ! kill -0 "$CAP_PID" 2>/dev/null; then
		echo "capture process exited early:" >&2
		cat "$tmp/capture.err" >&2
		return 1
	fi
	kill -INT "$CAP_PID"
	wait "$CAP_PID" || true
	cat "$tmp/capture.err" >&2
	if [[ $CAP_MODE == pcapng ]]; then
		if grep -E "dropped on interface" "$tmp/capture.err" | grep -vqE "/0 \(pcap:0/dumpcap:0/flushed:0"; then
			echo "capture dropped packets" >&2
			return 1
		fi
	else
		if ! grep -qE '^0 packets dropped by kernel' "$tmp/capture.err"; then
			echo "capture dropped packets" >&2
			return 1
		fi
	fi
}

# side_capture_start NAME NS IF : a second tcpdump beside the main one, in
# namespace NS on interface IF, into $tmp/NAME.pcap: the server's tunnel
# interface (inner.pcap: what the server itself sees, to compare with the
# tunnelled underlay capture), or the client's eth0 (client.pcap: the same
# connections from the other end of the path).
declare -A SIDE_PIDS=()
side_capture_start() {
	local name=$1 ns=$2 ifc=$3
	ip netns exec "$ns" tcpdump -i "$ifc" -n -s 200 -U -Z root -w "$tmp/$name.pcap" 2>"$tmp/$name.err" &
	SIDE_PIDS[$name]=$!
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		if grep -q 'listening on' "$tmp/$name.err"; then return; fi
		sleep 0.1
	done
	echo "$name capture did not start" >&2
	cat "$tmp/$name.err" >&2
	return 1
}

side_capture_stop() {
	local name=$1
	kill -INT "${SIDE_PIDS[$name]}"
	wait "${SIDE_PIDS[$name]}" || true
	cat "$tmp/$name.err" >&2
	if ! grep -qE '^0 packets dropped by kernel' "$tmp/$name.err"; then
		echo "$name capture dropped packets" >&2
		return 1
	fi
}

# snap before|after : nstat of the server namespace (and of the client
# namespace when CLIENT_NSTAT=1, of the forwarding node's when NODE_NSTAT=1).
snap() {
	nsx $NS_S nstat -asz >"$tmp/nstat-$1.txt"
	SNAP_T[$1]=$EPOCHREALTIME
	if [[ $CLIENT_NSTAT == 1 ]]; then nsx $NS_C nstat -asz >"$tmp/nstat-client-$1.txt"; fi
	if [[ $NODE_NSTAT == 1 ]]; then nsx $NS_R nstat -asz >"$tmp/nstat-node-$1.txt"; fi
	if [[ $EXTRA_SNAPS == 1 ]]; then
		# the same moment in the formats users paste: nstat without -z
		# (zero counters left out) and net-tools' netstat -s (prose)
		nsx $NS_S nstat -as >"$tmp/nstat-a-$1.txt"
		nsx $NS_S netstat -s >"$tmp/netstat-$1.txt"
	fi
}

# ss_start / ss_stop : sample `ss -lnt` in the server namespace every 200 ms
# into ss.txt (a "# t=<unix time>" line before each raw sample): the LISTEN
# rows' Recv-Q (current accept-queue length) against Send-Q (its limit).
ss_start() {
	: >"$tmp/ss.txt"
	rm -f "$tmp/ss.stop"
	(
		while [[ ! -e $tmp/ss.stop ]]; do
			echo "# t=$EPOCHREALTIME"
			ip netns exec $NS_S ss -lnt
			sleep 0.2
		done
	) >>"$tmp/ss.txt" 2>&1 &
	SS_PID=$!
	PIDS+=($SS_PID)
}

ss_stop() {
	touch "$tmp/ss.stop"
	wait "$SS_PID" 2>/dev/null || true
	SS_SAMPLES=$(grep -c '^# t=' "$tmp/ss.txt" || true)
}

# ---------------------------------------------------------------- reporting

KEY_COUNTERS=(TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop
	TcpExtTCPReqQFullDoCookies TcpExtSyncookiesSent TcpExtSyncookiesRecv
	TcpExtSyncookiesFailed TcpExtEmbryonicRsts TcpExtTCPDeferAcceptDrop
	TcpOutRsts TcpAttemptFails TcpPassiveOpens TcpRetransSegs TcpExtTCPSynRetrans
	IcmpOutDestUnreachs)

# deltas [nstat|nstat-client]: "name delta" for every counter that changed,
# key counters first
deltas() {
	local pre=${1:-nstat}
	awk -v keys="${KEY_COUNTERS[*]}" '
		FNR == 1 { f++ }
		/^#/ { next }
		f == 1 { b[$1] = $2; next }
		f == 2 { a[$1] = $2; order[++n] = $1 }
		END {
			k = split(keys, key, " ")
			for (i = 1; i <= k; i++) { printf "%s %d\n", key[i], a[key[i]] - b[key[i]]; seen[key[i]] = 1 }
			for (i = 1; i <= n; i++) { c = order[i]; if (!(c in seen) && a[c] != b[c]) printf "%s %d\n", c, a[c] - b[c] }
		}' "$tmp/$pre-before.txt" "$tmp/$pre-after.txt"
}

sysctl_vals() {
	local ns=$1; shift
	local k
	for k in "$@"; do printf '%s=%s; ' "$k" "$(nsx "$ns" sysctl -n "$k")"; done
}

# handcount FILE : counts, from the capture's packets alone (IPv4, port
# agnostic, server $IP_S), "syns synacks rsts icmp unanswered ignored":
# unanswered = client SYN packets that got no SYN-ACK, RST or ICMP
# unreachable before the same 4-tuple's next SYN or the end of the capture;
# ignored = client segments (ACK, data, FIN) sent after a SYN-ACK and
# followed by a retransmission of that SYN-ACK, with no other server segment
# in between (visibly ignored; an ignored segment of a connection whose
# SYN-ACK is never retransmitted, e.g. a cookie ACK, cannot be seen).
handcount() {
	tcpdump -nr "$1" -tt 2>/dev/null | awk -v srv="$IP_S" '
		function cli(a) { return index(a, srv ".") != 1 }
		$2 == "IP" && $6 == "Flags" {
			src = $3; dst = $5; sub(/:$/, "", dst); fl = $7; sub(/,$/, "", fl)
			if (cli(src) && !cli(dst)) {
				k = src ">" dst
				if (fl ~ /S/ && fl !~ /\./) { syns++; if (k in wait) unans++; wait[k] = 1; next }
				if (fl ~ /R/) { delete seg[k]; delete sa[k]; next }
				if (k in sa) seg[k]++
			} else if (!cli(src) && cli(dst)) {
				k = dst ">" src
				if (fl ~ /S/ && fl ~ /\./) { synacks++; delete wait[k]; if (k in sa) ign += seg[k]; sa[k] = 1; seg[k] = 0; next }
				if (fl ~ /R/) { rsts++; delete wait[k]; delete sa[k]; next }
				delete sa[k]; seg[k] = 0
			}
			next
		}
		$2 == "IP" && $6 == "ICMP" && $0 ~ / tcp port [0-9]+ unreachable/ {
			dst = $5; sub(/:$/, "", dst); icmp++
			for (k in wait) if (index(k, dst ".") == 1 && k ~ (">" srv "\\." $10 "$")) { delete wait[k]; break }
		}
		END {
			for (k in wait) unans++
			printf "%d %d %d %d %d %d\n", syns, synacks, rsts, icmp, unans, ign
		}'
}

finish() {
	local name=$1 out=${SYNQ_LAB_OUT:-$repo/testdata}/$1
	mkdir -p "$out"
	rm -f "$out"/capture.pcap "$out"/capture.pcapng
	cp "$tmp/$CAP_FILE" "$out/$CAP_FILE"
	cp "$tmp/nstat-before.txt" "$out/nstat-before.txt"
	cp "$tmp/nstat-after.txt" "$out/nstat-after.txt"
	rm -f "$out"/nstat-client-before.txt "$out"/nstat-client-after.txt "$out"/inner.pcap "$out"/client.pcap "$out"/args.txt
	rm -f "$out"/nstat-node-before.txt "$out"/nstat-node-after.txt
	rm -f "$out"/nstat-a-before.txt "$out"/nstat-a-after.txt "$out"/netstat-before.txt "$out"/netstat-after.txt
	if [[ $EXTRA_SNAPS == 1 ]]; then
		local f
		for f in nstat-a-before nstat-a-after netstat-before netstat-after; do cp "$tmp/$f.txt" "$out/$f.txt"; done
	fi
	nsx $NS_S sysctl -a 2>/dev/null | grep -E '^(kernel\.osrelease|net\.core\.somaxconn|net\.ipv4\.tcp_|net\.netfilter\.nf_conntrack_(count|max) )' >"$out/sysctl.txt" || true
	rm -f "$out"/sysctl-node.txt
	if [[ $NODE_NSTAT == 1 ]]; then
		nsx $NS_R sysctl -a 2>/dev/null | grep -E '^(kernel\.osrelease|net\.netfilter\.nf_conntrack_(count|max) )' >"$out/sysctl-node.txt" || true
	fi
	restore_conntrack_max
	rm -f "$out"/ss.txt
	local f
	for f in conntrack-stat-before conntrack-stat-after nft-ruleset-after; do
		rm -f "$out/$f.txt"
		if [[ -s $tmp/$f.txt ]]; then cp "$tmp/$f.txt" "$out/$f.txt"; fi
	done
	if [[ -s $tmp/ss.txt ]]; then cp "$tmp/ss.txt" "$out/ss.txt"; fi
	if [[ $HANDCOUNT == 1 ]]; then
		local hc lo ld
		read -r -a hc < <(handcount "$tmp/$CAP_FILE")
		lo=$(deltas | awk '$1 == "TcpExtListenOverflows" { print $2 }')
		ld=$(deltas | awk '$1 == "TcpExtListenDrops" { print $2 }')
		NOTES+=("Hand count (run.sh \`handcount\`, from capture.pcap alone): ${hc[0]} client SYN packets, ${hc[1]} SYN-ACKs, ${hc[2]} RSTs and ${hc[3]} ICMP port-unreachables from the server; **${hc[4]} SYN packets unanswered** (no SYN-ACK, RST or ICMP before the same 4-tuple's next SYN or the end of the capture); **${hc[5]} client segments visibly ignored** (sent after a SYN-ACK and followed by a retransmission of it). Server counters over the same window: TcpExtListenOverflows $lo, TcpExtListenDrops $ld.")
	fi
	if [[ -n $INNER_IF ]]; then
		cp "$tmp/inner.pcap" "$out/inner.pcap"
		NOTES+=("Inner capture: \`tcpdump -i $INNER_IF -n -s 200 -U -w inner.pcap\` in $NS_S at the same time as capture.pcap: the same connections as the server's own stack sees them, without the tunnel ($(stat -c %s "$out/inner.pcap") bytes, $(tcpdump --count -nr "$out/inner.pcap" 2>/dev/null | awk '{print $1}') packets).")
	fi
	if [[ $CLIENT_CAP == 1 ]]; then
		cp "$tmp/client.pcap" "$out/client.pcap"
		NOTES+=("Client capture: \`tcpdump -i eth0 -n -s 200 -U -w client.pcap\` in $NS_C at the same time as capture.pcap: the same connections from the client's end ($(stat -c %s "$out/client.pcap") bytes, $(tcpdump --count -nr "$out/client.pcap" 2>/dev/null | awk '{print $1}') packets).")
	fi
	if [[ -n $SYNQ_ARGS ]]; then
		echo "$SYNQ_ARGS" >"$out/args.txt"
		NOTES+=("synq needs \`$SYNQ_ARGS\` for this capture (args.txt; the golden tests pass it).")
	fi
	if [[ $CLIENT_NSTAT == 1 ]]; then
		cp "$tmp/nstat-client-before.txt" "$out/nstat-client-before.txt"
		cp "$tmp/nstat-client-after.txt" "$out/nstat-client-after.txt"
	fi
	if [[ $NODE_NSTAT == 1 ]]; then
		cp "$tmp/nstat-node-before.txt" "$out/nstat-node-before.txt"
		cp "$tmp/nstat-node-after.txt" "$out/nstat-node-after.txt"
	fi
	local size linktype npkts
	size=$(stat -c %s "$out/$CAP_FILE")
	if ((size >= 1000000)); then
		echo "$name: capture is $size bytes (>= 1 MB)" >&2
		return 1
	fi
	linktype=$(tcpdump -nr "$out/$CAP_FILE" -c 1 2>&1 >/dev/null | sed -n 's/.*link-type \([^,]*\),.*/\1/p' | head -1)
	# --count, not a line count: tcpdump prints a tunnelled packet on two lines.
	npkts=$(tcpdump --count -nr "$out/$CAP_FILE" 2>/dev/null | awk '{print $1}')
	{
		echo "# $name"
		echo
		echo "$DESC"
		echo
		echo "## Expected outcome"
		echo
		echo "$EXPECT"
		echo
		echo "## Setup"
		echo
		echo "- Made by \`testdata/lab/run.sh $name\` on Linux kernel $(uname -r) ($(. /etc/os-release && echo "$PRETTY_NAME"), $(tcpdump --version 2>&1 | head -1 | sed 's/ version//'))."
		if [[ $TOPO == direct ]]; then
			echo "- Topology: namespace $NS_C (eth0 $MAC_C) <-> veth <-> namespace $NS_S (eth0 $MAC_S)."
		elif [[ $TOPO == nat ]]; then
			echo "- Topology: $NS_C (eth0 $MAC_C, $IP_C/24) <-> veth <-> $NS_R, the node (cli $MAC_S, $IP_S/24; srv $MAC_NODE_POD, $IP_NODE_POD/24; ip_forward=1) <-> veth <-> $NS_S, the pod (eth0 $MAC_POD, $IP_POD/24, default route via $IP_NODE_POD)."
		else
			echo "- Topology: $NS_C (eth0 $MAC_C) <-> veth <-> $NS_R <-> veth <-> $NS_S (eth0 $MAC_S); in $NS_R: $RELAY_DESC."
		fi
		local server="server $IP_S"
		[[ $TOPO == nat ]] && server="node $IP_S (the address clients connect to), pod $IP_POD (the listeners)"
		echo "- Addresses: client $IP_C${EXTRA_ADDR_NOTE:-}, $server$([[ $V6 == 1 ]] && echo "; IPv6 client $IP6_C, server $IP6_S (nodad)"). Static neighbour entries, $([[ ${LAB_OFFLOADS:-off} == on ]] && echo "offloads as the kernel set them (LAB_OFFLOADS=on)" || echo "offloads off (ethtool -K tx/tso/gso/gro off)"), IPv6 disabled unless noted: nothing else talks."
		echo "- Server-namespace sysctls: \`$(sysctl_vals $NS_S net.core.somaxconn net.ipv4.tcp_syncookies net.ipv4.tcp_synack_retries net.ipv4.tcp_abort_on_overflow net.ipv4.tcp_max_syn_backlog)\`"
		echo "- Client-namespace sysctls: \`$(sysctl_vals $NS_C net.ipv4.tcp_syn_retries net.ipv4.tcp_syn_linear_timeouts)\`"
		local l
		for l in "${LISTENERS[@]}"; do echo "- Listener $l"; done
		for l in "${CLIENT_CMDS[@]}"; do echo "- Clients: \`$l\`"; done
		for l in "${NOTES[@]}"; do echo "- $l"; done
		if [[ $CAP_NS == "$NS_R" ]]; then
			echo "- Capture: \`$CAP_CMD\` in $NS_R (on the FORWARDING NODE, every interface: each forwarded packet appears twice, before and after translation), started (and confirmed listening) before \`nstat -asz\` was saved to nstat-before.txt, stopped with SIGINT after nstat-after.txt; 0 packets dropped."
		elif [[ $CAP_NS == "$NS_S" ]]; then
			echo "- Capture: \`$CAP_CMD\` in $NS_S, started (and confirmed listening) before \`nstat -asz\` was saved to nstat-before.txt, stopped with SIGINT after nstat-after.txt; 0 packets dropped."
		else
			echo "- Capture: \`$CAP_CMD\` in $CAP_NS (CLIENT-SIDE capture, on the client's own interface), started (and confirmed listening) before \`nstat -asz\` was saved to nstat-before.txt, stopped with SIGINT after nstat-after.txt; 0 packets dropped."
		fi
		if [[ $EXTRA_SNAPS == 1 ]]; then
			echo "- Snapshot formats: at each of the two moments (before the load, after the settle delay) three files were written one right after the other in $NS_S: \`nstat -asz\` (nstat-before.txt / nstat-after.txt: absolute values, zero counters included), \`nstat -as\` (nstat-a-before.txt / nstat-a-after.txt: absolute values, counters that are 0 left out) and \`netstat -s\` from net-tools $(netstat --version 2>&1 | awk 'NR==1{print $2}') (netstat-before.txt / netstat-after.txt: the same /proc/net/snmp and /proc/net/netstat counters in prose, zero ones mostly left out). The three snapshots of one moment are a few ms apart; nothing but this scenario's traffic runs in the namespace, so they agree."
		fi
		if [[ $NODE_NSTAT == 1 ]]; then
			echo "- nstat: \`nstat -asz\` in $NS_S (the pod, where the listeners are) saved to nstat-before.txt/nstat-after.txt, and in $NS_R (the node) to nstat-node-before.txt/nstat-node-after.txt, at the same moments."
			echo "- sysctl-node.txt: kernel.osrelease and net.netfilter.nf_conntrack_{count,max} in $NS_R (the node, whose connection tracking the translation uses), saved with sysctl.txt."
		fi
		if [[ $CLIENT_NSTAT == 1 ]]; then
			echo "- nstat: \`nstat -asz\` in $NS_S saved to nstat-before.txt/nstat-after.txt (server), and in $NS_C to nstat-client-before.txt/nstat-client-after.txt (client), at the same moments."
		fi
		echo "- File: $CAP_FILE, $size bytes, $npkts packets, link type $linktype."
		echo "- sysctl.txt: \`sysctl -a\` in $NS_S restricted to kernel.osrelease, net.core.somaxconn, net.ipv4.tcp_* and net.netfilter.nf_conntrack_{count,max} (when nf_conntrack is loaded), saved after nstat-after.txt."
		if [[ -s $tmp/conntrack-stat-before.txt ]]; then
			echo "- conntrack-stat-before.txt, conntrack-stat-after.txt: /proc/net/stat/nf_conntrack in $NS_S just before the capture and after the settle time (one row per CPU, hexadecimal; the drop column counts packets dropped for want of a table entry)."
		fi
		if [[ -s $tmp/nft-ruleset-after.txt ]]; then
			echo "- nft-ruleset-after.txt: \`nft list ruleset\` in $NS_S after the settle time, with the rules' counters."
		fi
		if [[ -s $tmp/ss.txt ]]; then
			echo "- ss.txt: \`ss -lnt\` in $NS_S every 200 ms from just before nstat-before.txt to just after nstat-after.txt ($SS_SAMPLES samples, each after a \`# t=<unix time>\` line); on a LISTEN row Recv-Q is the accept queue's current length, Send-Q its limit min(backlog, somaxconn)."
		fi
		echo
		echo "## Client log"
		echo
		echo '```'
		cat "$tmp/clients.log"
		echo '```'
		echo
		echo "## Counter deltas (server namespace, nstat-after minus nstat-before)"
		echo
		echo "| counter | delta |"
		echo "|---|---|"
		deltas | awk '{printf "| %s | %d |\n", $1, $2}'
		if [[ $CLIENT_NSTAT == 1 ]]; then
			echo
			echo "## Counter deltas (client namespace, nstat-client-after minus nstat-client-before)"
			echo
			echo "| counter | delta |"
			echo "|---|---|"
			deltas nstat-client | awk '{printf "| %s | %d |\n", $1, $2}'
		fi
	} >"$out/README.md"
	log "$name: $CAP_FILE $size bytes, $npkts packets, $linktype; $(deltas | awk '$2 != 0 && NR <= 14 {printf "%s=%d ", $1, $2}')"
	if [[ $CLIENT_NSTAT == 1 ]]; then
		log "$name: client namespace: $(deltas nstat-client | awk '$2 != 0 && NR <= 14 {printf "%s=%d ", $1, $2}')"
	fi
}

# reset per-scenario state
begin() {
	kill_pids
	del_namespaces
	: >"$tmp/clients.log"
	: >"$tmp/clients-bg.log"
	LISTENERS=() CLIENT_CMDS=() NOTES=() BG_CLIENTS=()
	V6=0 TOPO= RELAY_DESC= EXTRA_ADDR_NOTE= DESC= EXPECT=
	CAP_NS=$NS_S CLIENT_NSTAT=0 NODE_NSTAT=0 FLOOD_END=
	INNER_IF= SYNQ_ARGS= CLIENT_CAP=0
	SIDE_PIDS=()
	PRELOAD= HANDCOUNT=0 CAP_IMMEDIATE=0 CAP_DIRECTION= SS_PID= SS_SAMPLES=0 LOAD_T0=
	EXTRA_SNAPS=0 SERVE_PID= FLOOD_N=300 FLOOD_OVER=1s
	SNAP_T=()
	rm -f "$tmp/ss.txt" "$tmp/conntrack-stat-before.txt" "$tmp/conntrack-stat-after.txt" "$tmp/nft-ruleset-after.txt"
}

# run_capture CAPMODE LOADFN SETTLE : capture around LOADFN, then wait SETTLE
# seconds for retransmissions/timeouts to finish before the after-snapshot.
# If PRELOAD names a function, it runs first, before the capture and
# nstat-before.txt (traffic the capture and the counters must not see).
run_capture() {
	local mode=$1 fn=$2 settle=$3
	if [[ -n $PRELOAD ]]; then "$PRELOAD"; fi
	capture_start "$mode"
	if [[ -n $INNER_IF ]]; then side_capture_start inner $NS_S "$INNER_IF"; fi
	if [[ $CLIENT_CAP == 1 ]]; then side_capture_start client $NS_C eth0; fi
	ss_start
	snap before
	"$fn"
	sleep "$settle"
	snap after
	capture_stop
	ss_stop
	if [[ -n $INNER_IF ]]; then side_capture_stop inner; fi
	if [[ $CLIENT_CAP == 1 ]]; then side_capture_stop client; fi
}

# ---------------------------------------------------------------- scenarios

sc_healthy() {
	DESC="Healthy server: a listener with a large backlog that accepts every connection, reads the request, answers \"ok\" and closes. 20 clients (at most 5 at a time, started 20 ms apart) connect, send \"hello\", read the answer until EOF and close."
	EXPECT="Every handshake completes at once; no SYN or SYN-ACK retransmissions, no resets, all listen-drop counters stay 0. The server closes first (FIN from the server)."
	topo direct
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 20 -parallel 5 -interval 20ms -send hello -read -hold 3s -timeout 5s; }
	run_capture tcpdump load 1
}

sc_accept_overflow_syn_drops() {
	DESC="Accept-queue overflow seen as dropped SYNs: a listener with listen(fd, 2) that never calls accept(). 10 clients start 100 ms apart (so each handshake completes before the next SYN arrives, and the SYN queue never holds more than one request), each connects, sends \"hello\", holds the connection 4 s and closes (FIN). tcp_syncookies stays 1: the SYN queue never fills because clients are staggered, so no cookies are involved."
	EXPECT="The accept queue holds backlog+1 = 3 connections: clients 0-2 complete their handshakes (their data is ACKed by the kernel; their FINs too). Clients 3-9 get no answer: each SYN and its 5 retransmissions (same ISN, 1 s apart: with tcp_syn_retries=2 and the default tcp_syn_linear_timeouts=4 this kernel sends 6 SYNs) is dropped, and connect() fails with ETIMEDOUT after about 7 s. 7 clients x 6 SYNs = 42 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops; no ignored ACKs, no cookies, no resets."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -send hello -hold 4s -timeout 8s; }
	NOTES+=("Hand count on the reference capture: 7 clients x 6 SYNs with no SYN-ACK = 42 = TcpExtListenOverflows; no client segment after a SYN-ACK is ignored.")
	run_capture tcpdump load 1
}

# Shared by accept-overflow-ack-ignored and abort-on-overflow.
ack_overflow_load() {
	# Phase 1: 2 connections fill the accept queue to backlog (2 of 3 slots).
	clients -label filler -addr $IP_S:8080 -n 2 -interval 100ms -send hello -hold 1s -timeout 8s
	# Phase 2: a burst of 3 (fits the SYN queue: 3 <= backlog+1). All 3 SYNs
	# are answered before the first ACK arrives 100 ms later; the first ACK
	# takes the last accept-queue slot, the other two meet a full queue.
	clients -label burst -addr $IP_S:8080 -n 3 -send hello -hold "$BURST_HOLD" -timeout 8s
}

sc_accept_overflow_ack_ignored() {
	DESC="Accept-queue overflow seen as ignored handshake ACKs: listen(fd, 2), never accept(), 50 ms one-way delay (100 ms RTT) added by a userspace relay. First 2 filler clients connect (100 ms apart), send \"hello\", and close after 1 s: their connections sit in the accept queue (2 of 3 slots). Then 3 clients connect at once, send \"hello\" right after connect() returns and hold the socket 12 s (long enough for the server to give up on the request and the RST below to arrive before the client closes)."
	EXPECT="All 3 burst SYNs are answered (accept queue not yet full, SYN queue holds up to 3). The first burst ACK takes the last accept-queue slot (its data is ACKed). The other two clients believe they are connected, but the server ignores their ACK, their data and every retransmission of it, and the dup-ACKs they send in answer to the server's SYN-ACK retransmissions (server retransmits the SYN-ACK at about +1 s and +3 s, tcp_synack_retries=2, then drops the request silently at about +7 s). The client's next data retransmission after that meets no request and is answered with RST (counted in TcpOutRsts, not in ListenOverflows). TcpExtListenOverflows = TcpExtListenDrops = number of ignored client segments (ACKs, data, retransmissions, dup-ACKs) of those two connections; no SYN is dropped; no cookies."
	topo relay
	relay -delay 50ms
	serve $IP_S:8080 -backlog 2 -accept=false
	BURST_HOLD=12s
	NOTES+=("Hand count on the reference capture: each of the two ignored connections has 10 client segments after the SYN-ACK: handshake ACK, data, 5 data retransmissions and 2 dup-ACKs answering the SYN-ACK retransmissions are ignored (9), and the 6th data retransmission, after the request expired, is answered by RST (not an overflow). 2 x 9 = 18 = TcpExtListenOverflows; 0 unanswered SYNs.")
	run_capture tcpdump ack_overflow_load 1
}

sc_accept_overflow_synack_retries_0() {
	DESC="accept-overflow-ack-ignored with net.ipv4.tcp_synack_retries=0 on the server (a SYN-flood tuning some guides give): listen(fd, 2), never accept(), 50 ms one-way delay via the relay, 2 filler connections, then a burst of 3 that send \"hello\" at once and hold 12 s."
	EXPECT="As in accept-overflow-ack-ignored the first burst ACK takes the last accept-queue slot and the other two are ignored, but the server never sends its SYN-ACK again: the request expires on the SYN-ACK timer's first expiry, 1 s after the SYN-ACK, silently. Until then every client segment (ACK, data, data retransmissions) is ignored (TcpExtListenOverflows = TcpExtListenDrops each); the next data retransmission meets no request and is answered with a bare RST, 1 s or more after the ACK (TcpOutRsts, not TcpExtEmbryonicRsts: no abort). No SYN-ACK or SYN retransmission."
	topo relay
	relay -delay 50ms
	nsx $NS_S sysctl -qw net.ipv4.tcp_synack_retries=0
	serve $IP_S:8080 -backlog 2 -accept=false
	BURST_HOLD=12s
	run_capture tcpdump ack_overflow_load 1
}

sc_abort_on_overflow() {
	DESC="Like accept-overflow-ack-ignored (listen(fd, 2), never accept(), 50 ms one-way delay via relay, 2 filler connections then a burst of 3), but with net.ipv4.tcp_abort_on_overflow=1 in the server namespace."
	EXPECT="The first burst ACK takes the last accept-queue slot. The other two burst clients' handshake ACKs are answered with RST (request dropped: TcpExtListenOverflows +1, TcpExtEmbryonicRsts +1 each). Their \"hello\" data segment, already in flight, then reaches the listener with no request and gets a second RST (TcpOutRsts only). TcpExtListenOverflows = 2, TcpExtEmbryonicRsts = 2, TcpOutRsts = 4; no SYN-ACK retransmissions."
	topo relay
	nsx $NS_S sysctl -qw net.ipv4.tcp_abort_on_overflow=1
	relay -delay 50ms
	serve $IP_S:8080 -backlog 2 -accept=false
	BURST_HOLD=2s
	NOTES+=("Hand count on the reference capture: per aborted connection the handshake ACK is answered by RST (an overflow, TcpExtEmbryonicRsts) and the data segment right behind it by a second, identical-looking RST (seq = server ISN+1; no request left, not an overflow). 2 overflows = TcpExtListenOverflows; 0 unanswered SYNs, 0 ignored segments.")
	run_capture tcpdump ack_overflow_load 1
}

sc_no_listener() {
	DESC="Clients connect to port 8080 on the server where nothing listens (5 clients, 100 ms apart)."
	EXPECT="Each SYN is answered at once with RST+ACK; connect() fails with ECONNREFUSED; TcpOutRsts = 5; listen counters stay 0."
	topo direct
	load() { clients -addr $IP_S:8080 -n 5 -interval 100ms -send hello -timeout 5s; }
	run_capture tcpdump load 1
}

# healthy + accept-overflow mix used by ipv6, any-sll2, pcapng, vlan.
mix_servers() { # host (IP or [IPv6])
	serve "$1:8080" -backlog 4096 -accept=true
	serve "$1:8081" -backlog 2 -accept=false
}
mix_load() {
	clients -label healthy -addr "$MIX_HOST:8080" -n 5 -interval 50ms -send hello -read -hold 3s -timeout 5s
	clients -label overflow -addr "$MIX_HOST:8081" -n 6 -interval 100ms -send hello -hold 4s -timeout 8s
}
MIX_EXPECT="Port 8080: 5 healthy request/answer exchanges. Port 8081 (backlog 2, never accepted): clients 0-2 complete; clients 3-5 send 6 SYNs each (original + 5 retransmissions 1 s apart) that are all dropped: 18 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops."

sc_ipv6() {
	DESC="IPv6 (fd88::1 -> fd88::2, addresses added with nodad, addr_gen_mode=1 so no link-local address and no RS/DAD traffic). Port 8080: accepting listener, 5 clients 50 ms apart send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$MIX_EXPECT"
	V6=1
	topo direct
	mix_servers "[$IP6_S]"
	MIX_HOST="[$IP6_S]"
	run_capture tcpdump mix_load 1
}

sc_any_sll2() {
	DESC="The healthy + accept-overflow mix (IPv4) captured with \`tcpdump -i any -y LINUX_SLL2\` in the server namespace (interfaces there: lo, eth0; lo carries nothing). Port 8080: accepting listener, 5 clients send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$MIX_EXPECT Link type LINUX_SLL2 (276): each packet carries the interface index (eth0) and direction; no duplicates."
	topo direct
	mix_servers $IP_S
	MIX_HOST=$IP_S
	NOTES+=("tcpdump 4.99.3 / libpcap 1.10.3 already pick LINUX_SLL2 (276) for -i any when writing a file; -y LINUX_SLL2 only pins it (-y LINUX_SLL would give 113). The SLL2 header records ifindex 2 (eth0 in $NS_S); \`tcpdump -e -r\` prints the name of whatever interface has that index on the reading host, so do not trust the printed name.")
	run_capture any mix_load 1
}

sc_pcapng() {
	DESC="The healthy + accept-overflow mix (IPv4) written as pcapng by dumpcap (Wireshark's capture engine) on the server's eth0. Port 8080: accepting listener, 5 clients send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$MIX_EXPECT The file is pcapng (Section Header, Interface Description with if_name eth0 and snaplen 200, Enhanced Packet Blocks, an Interface Statistics block at the end)."
	topo direct
	mix_servers $IP_S
	MIX_HOST=$IP_S
	run_capture pcapng mix_load 1
}

sc_vlan() {
	DESC="The healthy + accept-overflow mix (IPv4) on 802.1Q VLAN 100. The kernel has neither the 8021q module nor act_vlan, so \`labtool vlantag\` attaches two tcx BPF programs to eth0 in both namespaces: egress pushes tag 100 (bpf_skb_vlan_push), ingress pops it (bpf_skb_vlan_pop). Packet taps run before tcx ingress and after tcx egress, so the server-side capture shows every frame tagged, in both directions, while the IP stacks see untagged frames."
	EXPECT="$MIX_EXPECT Every frame in the capture carries an 802.1Q header with VLAN id 100, priority 0 (libpcap re-inserts the tag from the packet's auxiliary data)."
	topo direct
	bg vlantag-c $NS_C "$LABTOOL" vlantag -dev eth0 -id 100 -duration 60s
	bg vlantag-s $NS_S "$LABTOOL" vlantag -dev eth0 -id 100 -duration 60s
	sleep 0.5
	mix_servers $IP_S
	MIX_HOST=$IP_S
	run_capture tcpdump mix_load 1
}

# flood : the spoofed SYN flood shared by syncookies-flood and
# synflood-no-cookies; records when its last SYN left (FLOOD_END).
flood() {
	CLIENT_CMDS+=("labtool synflood -src-net $SPOOF_NET -dst $IP_S:8080 -n $FLOOD_N -over $FLOOD_OVER")
	nsx $NS_C "$LABTOOL" synflood -src-net $SPOOF_NET -dst $IP_S:8080 -n $FLOOD_N -over $FLOOD_OVER >>"$tmp/clients.log" 2>&1
	FLOOD_END=$EPOCHREALTIME
}

# wait_after_flood SECS : sleep until SECS seconds after the last flood SYN
# (no-op if that moment has passed).
wait_after_flood() {
	local rest
	rest=$(awk -v end="$FLOOD_END" -v now="$EPOCHREALTIME" -v s="$1" 'BEGIN { r = end + s - now; printf "%.3f", (r > 0 ? r : 0) }')
	sleep "$rest"
}

# The half-open requests the flood creates (the first backlog+1 spoofed SYNs)
# get SYN-ACK retransmissions at +1 s and +3 s and are dropped at about +7 s
# (tcp_synack_retries=2). The capture runs until 8 s after the last flood SYN
# plus the 1 s settle delay (about 9 s) so that they expire inside it.
FLOOD_TAIL=8
FLOOD_NOTE="Tail: after the legitimate clients (and the fixed sleep), the script waits until $FLOOD_TAIL s after the last flood SYN left, then the 1 s settle delay, so nstat-after.txt is taken and the capture stopped about 9 s after the last flood SYN: every half-open request the flood created has expired (SYN-ACK retransmissions at +1 s and +3 s, dropped at about +7 s) inside the capture. The expiry itself sends no packet, and a pcap file records no stop time: the capture's last packet is still the last SYN-ACK retransmission (or legitimate client SYN), several seconds before the capture was stopped; only nstat (TcpExtTCPTimeouts = 3 per expired request) shows the expiry."

sc_syncookies_flood() {
	DESC="SYN flood from spoofed sources with tcp_syncookies=1. Listener with listen(fd, 16) that accepts. From the client namespace, \`labtool synflood\` sends 300 SYNs (raw socket, IP_HDRINCL) from 10.88.9.1-10.88.9.254 (a range the server routes via the client namespace, which does not own it and does not forward, so nobody answers the SYN-ACKs) over 1 s; SYN options MSS 1460, SACK-permitted, timestamps, window scale 7. Right after, 5 legitimate clients (100 ms apart) connect, send \"hello\" and read the answer."
	EXPECT="The first 17 spoofed SYNs (backlog+1) get normal SYN-ACKs that are retransmitted (+1 s, +3 s; tcp_synack_retries=2) and expire at about +7 s, before nstat-after.txt is taken: TcpRetransSegs = TcpExtTCPSynRetrans = 17 x 2 = 34, TcpExtTCPTimeouts = 17 x 3 = 51. Every later spoofed SYN while the SYN queue is full (300 - 17 = 283) gets a syncookie SYN-ACK (never retransmitted; TSval low bits encode the options). Legitimate clients arriving while the queue is full also get cookie SYN-ACKs and complete via the cookie: TcpExtSyncookiesSent = TcpExtTCPReqQFullDoCookies = 283 + 5 = 288, TcpExtSyncookiesRecv = TcpPassiveOpens = 5; no listen drops."
	topo direct
	nsx $NS_S ip route add $SPOOF_NET via $IP_C
	serve $IP_S:8080 -backlog 16 -accept=true
	NOTES+=("$FLOOD_NOTE")
	load() {
		flood
		clients -addr $IP_S:8080 -n 5 -interval 100ms -send hello -read -hold 3s -timeout 8s
		sleep 3
		wait_after_flood $FLOOD_TAIL
	}
	run_capture tcpdump load 1
}

sc_syncookies_flood_slow_accept() {
	DESC="Two incidents at once: the SYN flood of syncookies-flood (300 spoofed SYNs over 1 s, tcp_syncookies=1) on a listener with listen(fd, 16) that accepts one connection a second (\`labtool serve -accept-delay 1s\`; each accepted connection is read, answered with \"ok\" and closed). 30 real clients, 100 ms apart from just before the flood, send \"hello\" and read the answer."
	EXPECT="The flood fills the SYN queue (17 requests, their SYN-ACKs retransmitted at +1 s, +3 s: TcpExtTCPSynRetrans 34) and the kernel answers later SYNs with cookies, the real clients' too; their cookie ACKs complete while the accept queue (17) has room, and it fills, since the application takes one a second: from then on SYNs are dropped at the full accept queue (TcpExtListenOverflows = TcpExtListenDrops = unanswered SYN packets + ignored handshake segments), some clients get in on a retry, some time out. tcp_conn_request decides on a cookie, and counts it in TcpExtTCPReqQFullDoCookies, before it looks at the accept queue: a SYN dropped at the full accept queue while the SYN queue was full counts there too, so TcpExtTCPReqQFullDoCookies = TcpExtSyncookiesSent + such drops (at most the unanswered SYN packets)."
	topo direct
	nsx $NS_S ip route add $SPOOF_NET via $IP_C
	serve $IP_S:8080 -backlog 16 -accept=true -accept-delay 1s
	NOTES+=("$FLOOD_NOTE")
	load() {
		clients_bg -label real -addr $IP_S:8080 -n 30 -interval 100ms -send hello -read -hold 3s -timeout 8s
		flood
		wait_clients_bg
		wait_after_flood $FLOOD_TAIL
	}
	run_capture tcpdump load 1
}

sc_half_open_checks() {
	DESC="Half-open health checks (an F5 tcp_half_open monitor, a SYN scan): \`labtool synflood -src $IP_C\` sends 20 SYNs over 2 s by raw socket from the client's own address, and the client's kernel, which knows no such connection, resets each SYN-ACK. A healthy accepting listener; 10 real clients (200 ms apart) send \"hello\" and read the answer."
	EXPECT="Every SYN is answered at once. The 20 probes: SYN, SYN-ACK, the client's RST (TcpExtEmbryonicRsts 20, one per reset request); the 10 real clients complete (TcpPassiveOpens 10). No drop counter moves, nothing is retransmitted: a healthy listener whose failed attempts are the clients' own doing."
	topo direct
	serve $IP_S:8080 -backlog 128 -accept=true
	load() {
		clients_bg -label real -addr $IP_S:8080 -n 10 -interval 200ms -send hello -read -hold 1s -timeout 8s
		CLIENT_CMDS+=("labtool synflood -src $IP_C -dst $IP_S:8080 -n 20 -over 2s")
		nsx $NS_C "$LABTOOL" synflood -src $IP_C -dst $IP_S:8080 -n 20 -over 2s >>"$tmp/clients.log" 2>&1
		wait_clients_bg
		sleep 1
	}
	run_capture tcpdump load 1
}

sc_synflood_no_cookies() {
	DESC="Same SYN flood as syncookies-flood (300 spoofed SYNs over 1 s, listen(fd, 16), accepting) but with tcp_syncookies=0; 5 legitimate clients (100 ms apart) right after the flood."
	EXPECT="The first 17 spoofed SYNs fill the SYN queue (SYN-ACKs retransmitted at +1 s, +3 s, then the requests expire at about +7 s, before nstat-after.txt is taken: TcpRetransSegs = TcpExtTCPSynRetrans = 17 x 2 = 34, TcpExtTCPTimeouts = 17 x 3 = 51). All later SYNs while the queue is full are dropped silently: TcpExtTCPReqQFullDrop and TcpExtListenDrops rise, TcpExtListenOverflows does not. Legitimate clients' SYNs are dropped until requests expire; they retransmit their SYNs 1 s apart and give up after about 7 s: their 6th and last SYN (about 6.5 s after the flood began) still arrives before the first request expires (about 7 s after the flood began), so none is answered. 283 spoofed + 5 x 6 client SYNs = 313 = TcpExtTCPReqQFullDrop = TcpExtListenDrops; TcpPassiveOpens 0."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syncookies=0
	nsx $NS_S ip route add $SPOOF_NET via $IP_C
	serve $IP_S:8080 -backlog 16 -accept=true
	NOTES+=("$FLOOD_NOTE")
	load() {
		flood
		clients -addr $IP_S:8080 -n 5 -interval 100ms -send hello -read -hold 3s -timeout 8s
		sleep 4
		wait_after_flood $FLOOD_TAIL
	}
	run_capture tcpdump load 1
}

sc_firewall_drop() {
	DESC="An nftables rule in the server namespace drops SYNs from $IP_C2 (\`nft add rule inet synqlab input ip saddr $IP_C2 tcp flags & (syn|ack) == syn drop\`, input hook, priority 0). Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally. SYNs from $IP_C2 appear in the capture (the tap sits before netfilter) and are never answered: original + 5 retransmissions each, connect() fails with ETIMEDOUT. No TCP counter moves for them (ListenDrops/ListenOverflows stay 0)."
	topo direct
	second_client_addr
	nft_one_rule input "ip saddr $IP_C2 tcp flags & (syn|ack) == syn drop"
	two_address_run
}

sc_conntrack_full() {
	DESC="A full connection-tracking table: conntrack is in use in the server namespace (\`nft add rule inet synqlab input ct state invalid drop\`, a rule any stateful firewall has) and the host's net.netfilter.nf_conntrack_max is 4 (a global limit; the count is per namespace). Healthy accepting listener that reads one request and times idle connections out after 5 s. 10 idle clients start 100 ms apart, connect, send nothing and hold the connection 8 s."
	EXPECT="The first 4 connections each take a conntrack entry, assured once their handshake completes, and are accepted (TcpPassiveOpens 4). From then on the table is full and no entry can be evicted (early_drop takes only entries not yet assured, and looks only in the few hash buckets next to the new one's): the first SYN of every later client is dropped in netfilter's prerouting hook before TCP (\"nf_conntrack: table full, dropping packet\"), and so is each retransmission (original + 5 retransmissions 1 s apart, same ISN), until connect() fails with ETIMEDOUT. 6 clients x 6 SYNs = 36 unanswered SYN packets; no TCP counter moves (ListenOverflows 0); IpInReceives minus IpInDelivers = the dropped SYNs = the sum of /proc/net/stat/nf_conntrack's drop column (notes). sysctl.txt reads nf_conntrack_count 4 = nf_conntrack_max 4 (the entries outlive the capture: closed connections keep theirs for nf_conntrack_tcp_timeout_time_wait, 120 s)."
	topo direct
	nft_one_rule input "ct state invalid drop"
	set_conntrack_max 4
	serve $IP_S:8080 -backlog 4096 -accept=true
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -hold 8s -timeout 8s; }
	conntrack_counted_run $NS_S tcpdump
}

# conntrack_counted_run NS CAPMODE : run_capture CAPMODE load 1, with the
# conntrack statistics of namespace NS saved just before and after
# (conntrack-stat-before.txt, conntrack-stat-after.txt: the referee for
# what a full table dropped).
conntrack_counted_run() {
	nsx "$1" cat /proc/net/stat/nf_conntrack >"$tmp/conntrack-stat-before.txt"
	run_capture "$2" load 1
	nsx "$1" cat /proc/net/stat/nf_conntrack >"$tmp/conntrack-stat-after.txt"
}

sc_connlimit_drop() {
	DESC="A connection limit in the firewall: an nftables rule in the server namespace drops new connections to 8080 while 3 are open (\`nft add rule inet synqlab input tcp dport 8080 ct state new ct count over 3 counter drop\`, iptables' -m connlimit --connlimit-above 3 --connlimit-mask 0). Healthy accepting listener that reads one request and times idle connections out after 5 s. 10 idle clients start 100 ms apart, connect, send nothing and hold the connection 8 s."
	EXPECT="The first 3 connections are accepted (TcpPassiveOpens 3). From then on every SYN to 8080 is dropped by the rule before TCP (original + 5 retransmissions 1 s apart) until the server's 5 s read timeout closes the first connections; a SYN arriving after that gets in. The rule's counter (nft-ruleset-after.txt) = the unanswered SYN packets; no TCP counter moves (ListenOverflows 0); IpInReceives minus IpInDelivers = the dropped SYNs. Until the server closes its idle connections, the wire is that of accept-overflow-idle."
	new_connection_limit_run "ct count over 3" -n 10 -interval 100ms -hold 8s -timeout 8s
}

sc_ratelimit_drop() {
	DESC="A rate limit on new connections in the firewall: an nftables rule in the server namespace drops new connections to 8080 beyond 2 a second (\`nft add rule inet synqlab input tcp dport 8080 ct state new limit rate over 2/second burst 2 packets counter drop\`, iptables' -m hashlimit or -m limit in front of a DROP). Healthy accepting listener. 20 clients start 50 ms apart, send \"hello\" and read the answer."
	EXPECT="About 2 connections a second get through (plus the burst) and are served at once; every other SYN is dropped by the rule before TCP, and the clients send theirs again (1 s apart), some of them getting in on a later try, others still trying when the capture stops. The rule's counter (nft-ruleset-after.txt) = the unanswered SYN packets; no TCP counter moves (ListenOverflows 0); IpInReceives minus IpInDelivers = the dropped SYNs. No connection ever waits for the application, so nothing on the wire points at a queue."
	new_connection_limit_run "limit rate over 2/second burst 2 packets" -n 20 -interval 50ms -send hello -read -hold 1s -timeout 12s
}

sc_ecn_syn_dropped() {
	DESC="A rule that drops only the first SYN of each connection: the clients ask for ECN (net.ipv4.tcp_ecn=1 in their namespace, as Apple's and some Linux clients do), and an nftables rule in the server namespace drops SYNs carrying ECE and CWR (\`nft add rule inet synqlab input tcp dport 8080 tcp flags & (syn|ack|ecn|cwr) == syn|ecn|cwr counter drop\`: an ECN-intolerant firewall). Healthy accepting listener. 10 clients start 200 ms apart, send \"hello\" and read the answer."
	EXPECT="Every first SYN (flags SEW) is dropped by the rule before TCP. Linux sends the SYN again 1 s later without ECE and CWR (tcp_ecn_fallback, on by default), and that one is answered: every connection is established, each a second late. The rule's counter (nft-ruleset-after.txt) = 10 = the unanswered SYN packets; no TCP counter moves (ListenOverflows, ListenDrops 0); IpInReceives minus IpInDelivers = the dropped SYNs. No connection ever waits for the application."
	topo direct
	nsx $NS_C sysctl -qw net.ipv4.tcp_ecn=1
	nft_one_rule input "tcp dport 8080 tcp flags & (syn|ack|ecn|cwr) == syn|ecn|cwr counter drop"
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 10 -interval 200ms -send hello -read -hold 1s -timeout 8s; }
	rule_counted_run load
}

# new_connection_limit_run LIMIT CLIENT-ARGS... : a healthy listener on 8080
# behind an nftables rule that drops new connections to it past LIMIT
# (with a counter, saved in nft-ruleset-after.txt as the referee), and
# clients run with CLIENT-ARGS.
new_connection_limit_run() {
	local limit=$1
	shift
	CLIENT_ARGS=("$@")
	topo direct
	nft_one_rule input "tcp dport 8080 ct state new $limit counter drop"
	serve $IP_S:8080 -backlog 4096 -accept=true
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 "${CLIENT_ARGS[@]}"; }
	rule_counted_run load
}

# set_conntrack_max N : the host's nf_conntrack_max (global: only the
# initial namespace may write it; each namespace counts its own entries
# against it) set to N until the scenario ends. Refused when the initial
# namespace tracks connections itself: a small limit would drop its new
# connections too.
set_conntrack_max() {
	local f=/proc/sys/net/netfilter/nf_conntrack_max n
	n=$(cat /proc/sys/net/netfilter/nf_conntrack_count)
	if ((n > 0)); then
		echo "run.sh: the host's own namespace tracks $n connections; setting nf_conntrack_max to $1 would drop its new ones too. Run this scenario on a machine whose initial namespace does not use conntrack." >&2
		exit 1
	fi
	CONNTRACK_MAX_WAS=$(cat $f)
	echo "$1" >$f
	NOTES+=("net.netfilter.nf_conntrack_max set to $1 for the run (was $CONNTRACK_MAX_WAS, restored after).")
}

sc_firewall_drops_acks() {
	DESC="An nftables rule in the server namespace lets SYNs from $IP_C2 through but drops everything else it sends to 8080 (\`nft add rule inet synqlab input ip saddr $IP_C2 tcp dport 8080 tcp flags & syn == 0 drop\`, input hook: a stateless allow-SYN rule, or conntrack calling a connection's segments INVALID). Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete and are served. Clients from $IP_C2 get a SYN-ACK, believe they are connected and send their ACK and request, which the rule drops before TCP: the server retransmits its SYN-ACK (+1 s, +3 s; tcp_synack_retries=2) and expires the request; the clients retransmit their request and give up. On the wire this is an overflowing accept queue's ignored ACKs, but TcpExtListenOverflows stays 0, and IP received every dropped segment without delivering it (IpInReceives minus IpInDelivers = the ignored segments)."
	topo direct
	second_client_addr
	nft_one_rule input "ip saddr $IP_C2 tcp dport 8080 tcp flags & syn == 0 drop"
	two_address_run
}

sc_firewall_drops_requests() {
	DESC="An nftables rule in the server namespace drops segments over 1000 bytes from $IP_C2 to 8080 (\`nft add rule inet synqlab input ip saddr $IP_C2 tcp dport 8080 meta length > 1000 drop\`, input hook): a length match, an IPS signature, or a tunnel's MTU on a middlebox that drops oversize segments. Healthy accepting listener that reads 1400 bytes before it answers. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send a 1400-byte request and read the answer."
	EXPECT="Clients from $IP_C complete and are served. Clients from $IP_C2 complete their handshake: the bare ACK is small and reaches TCP, which takes the connection (no SYN-ACK is sent again, the application accepts it and waits for the request). Their 1400-byte requests are dropped before TCP, again at every retransmission (200 ms, 400 ms, 800 ms, 1.6 s): the server acknowledges none of them and sends nothing. TcpExtListenOverflows stays 0; IP received every dropped segment without delivering it (IpInReceives minus IpInDelivers = the requests' segments)."
	topo direct
	second_client_addr
	nft_one_rule input "ip saddr $IP_C2 tcp dport 8080 meta length > 1000 drop"
	serve $IP_S:8080 -backlog 4096 -accept=true -read-bytes 1400
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 6 -interval 100ms -bind $IP_C,$IP_C2 -send-size 1400 -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_firewall_drops_requests_ipv6() {
	DESC="IPv6 (fd88::1 and fd88::3 -> fd88::2, nodad). An nftables rule in the server namespace drops segments over 1000 bytes from fd88::3 to 8080 (\`ip6 saddr fd88::3 tcp dport 8080 meta length > 1000 drop\`, input hook). Healthy accepting listener that reads 1400 bytes before it answers, and gives up after 5 s (labtool serve's read timeout). 8 clients alternate fd88::1 and fd88::3, 150 ms apart, send a 1400-byte request, read the answer and hold 6 s: longer than the server waits."
	EXPECT="As firewall-drops-requests, on IPv6's counters: the handshakes from fd88::3 complete (TcpPassiveOpens 8), their requests are dropped before TCP at every retransmission and never acknowledged (Ip6InReceives minus Ip6InDelivers = the requests' segments). After 5 s the server's application gives up and closes those connections: its FIN, which acknowledges nothing of the request, makes them look taken."
	V6=1
	topo direct
	second_client_addr6
	nft_one_rule input "ip6 saddr fd88::3 tcp dport 8080 meta length > 1000 drop"
	serve "[$IP6_S]:8080" -backlog 4096 -accept=true -read-bytes 1400
	load() { clients -addr "[$IP6_S]:8080" -n 8 -interval 150ms -bind $IP6_C,fd88::3 -send-size 1400 -read -hold 6s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_synack_dropped_on_egress() {
	DESC="An nftables rule in the server namespace drops SYN-ACKs to $IP_C2 on their way out (\`nft add rule inet synqlab output ip daddr $IP_C2 tcp flags & (syn|ack) == syn|ack drop\`, output hook, priority 0): a host firewall's egress policy, a tc egress filter or a full qdisc look the same. Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). SYNs from $IP_C2 reach TCP, which makes a request and answers: the SYN-ACK is dropped in the output hook, before the capture tap (tcpdump sees egress after netfilter), so on the wire those SYNs look exactly like firewall-drop's: original + 5 retransmissions each, never answered, connect() fails with ETIMEDOUT. But TCP saw them: TcpInSegs counts them (IpInReceives = IpInDelivers), no listen counter moves, and every SYN-ACK it handed to IP is counted in IpOutRequests (before the output hook) and not in IpOutTransmits (after it): IpOutRequests - IpOutTransmits = the SYN-ACKs dropped. A send the hook refuses is an error to TCP: the request's timer does not retry it (TcpExtTCPSynRetrans stays 0, TcpExtTCPTimeouts counts each expiry) and the request is dropped, so each retransmitted SYN makes a new request and a new SYN-ACK, dropped again."
	topo direct
	second_client_addr
	nft_one_rule output "ip daddr $IP_C2 tcp flags & (syn|ack) == syn|ack drop"
	two_address_run
}

sc_synack_egress_limit() {
	DESC="A rate limit on the server's answers: an nftables rule in the server namespace drops SYN-ACKs from 8080 past 2 a second (\`nft add rule inet synqlab output tcp sport 8080 tcp flags & (syn|ack) == syn|ack limit rate over 2/second burst 2 packets counter drop\`, output hook): an egress policy, or a full egress queue under load, dropping some answers. Healthy accepting listener. 12 clients start 100 ms apart, send \"hello\" and read the answer (connect timeout 20 s)."
	EXPECT="SYNs reach TCP (IpInReceives = IpInDelivers), which answers each; past the limit the SYN-ACK is dropped in the output hook, before the tap, so the SYN looks unanswered on the wire. The server's SYN-ACK timer (1 s) and the client's SYN timer (1 s) fire together: a SYN-ACK the limit lets through comes a second late, just before or after the client's SYN sent again, and every client gets in, some a second or two late. No listen counter moves; IpOutRequests - IpOutTransmits = the rule's counter (every SYN-ACK dropped, timer's included, more than the unanswered SYN packets on the wire)."
	topo direct
	nft_one_rule output "tcp sport 8080 tcp flags & (syn|ack) == syn|ack limit rate over 2/second burst 2 packets counter drop"
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 12 -interval 100ms -send hello -read -hold 1s -timeout 20s; }
	rule_counted_run load
}

sc_ratelimit_beside_overflow() {
	DESC="Two listeners, one namespace's counters: 8080 listen(fd, 2) and never accept(), 8 idle clients 100 ms apart hold 8 s; 8081 a healthy accepting listener behind a rate limit on new connections (\`nft add rule inet synqlab input tcp dport 8081 ct state new limit rate over 3/second burst 3 packets counter drop\`), 12 clients 100 ms apart send \"hello\", read the answer, connect timeout 20 s. Both series run together, all from $IP_C."
	EXPECT="8080: 3 connections fill the queue, 5 clients get no answer (6 SYNs each: TcpExtListenOverflows = TcpExtListenDrops = 30). 8081: past the limit the rule drops SYNs before TCP; every client gets in on a retry, some late: the rule's counter = 8081's unanswered SYN packets = IpInReceives minus IpInDelivers (10 in the reference run). No 8081 SYN is a listen drop."
	topo direct
	nft_one_rule input "tcp dport 8081 ct state new limit rate over 3/second burst 3 packets counter drop"
	serve $IP_S:8080 -backlog 2 -accept=false
	serve $IP_S:8081 -backlog 4096 -accept=true
	load() {
		clients_bg -label full -addr $IP_S:8080 -n 8 -interval 100ms -hold 8s -timeout 8s
		clients -addr $IP_S:8081 -n 12 -interval 100ms -send hello -read -hold 1s -timeout 20s
		wait_clients_bg
	}
	rule_counted_run load
}

sc_ratelimit_client_side() {
	DESC="ratelimit-drop's rule with clients that all get in, captured on the CLIENT side: a relay adds 5 ms each way; an nftables rule in the server namespace drops new connections to 8080 past 3 a second (\`nft add rule inet synqlab input tcp dport 8080 ct state new limit rate over 3/second burst 3 packets counter drop\`). Healthy accepting listener. 12 clients start 100 ms apart, send \"hello\" and read the answer (connect timeout 20 s). tcpdump runs in $NS_C; nstat is the server's."
	EXPECT="Past the limit the rule drops SYNs at the server, before TCP; the clients send them again 1 s later and every one gets in, some late. From the client a SYN lost on the way and one the server dropped look the same; the server's counters tell: no listen counter moves, and IpInReceives minus IpInDelivers = the rule's counter = the unanswered SYN packets in the client's capture (10 in the reference run)."
	topo relay
	relay -delay 5ms
	CAP_NS=$NS_C
	nft_one_rule input "tcp dport 8080 ct state new limit rate over 3/second burst 3 packets counter drop"
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 12 -interval 100ms -send hello -read -hold 1s -timeout 20s; }
	rule_counted_run load
}

sc_tc_ingress_drop() {
	DESC="A tcx BPF program on the server's eth0 ingress drops SYNs from $IP_C2 (\`labtool tcdrop -dev eth0 -src $IP_C2\`: the kernel has no cls_flower nor act_gact), as a tc policer or an eBPF network policy (Cilium, Calico's eBPF data plane) does. No netfilter rule. Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). SYNs from $IP_C2 appear in the capture (packet taps run before tcx on ingress) and are never answered: original + 5 retransmissions each. IP never sees them: IpInReceives counts only $IP_C's packets (fewer than the SYN packets in the capture), and no IP or TCP counter moves for the dropped SYNs."
	topo direct
	second_client_addr
	bg tcdrop $NS_S "$LABTOOL" tcdrop -dev eth0 -src $IP_C2 -duration 60s
	sleep 0.5
	two_address_run
}

sc_synack_dropped_on_egress_ipv6() {
	DESC="IPv6 (fd88::1 and fd88::3 -> fd88::2, nodad, no link-local addresses). An nftables rule in the server namespace drops SYN-ACKs to fd88::3 on their way out (\`ip6 daddr fd88::3 tcp flags & (syn|ack) == syn|ack\` in an output-hook chain). Healthy accepting listener on [fd88::2]:8080. 6 clients alternate source addresses fd88::1 and fd88::3, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="As synack-dropped-on-egress, on IPv6's counters: clients from fd88::1 complete (TcpPassiveOpens 3); SYNs from fd88::3 reach TCP (Ip6InReceives = Ip6InDelivers) and are answered, and every SYN-ACK is counted in Ip6OutRequests (before the output hook) and not in Ip6OutTransmits (after it)."
	V6=1
	topo direct
	second_client_addr6
	nft_one_rule output "ip6 daddr fd88::3 tcp flags & (syn|ack) == syn|ack drop"
	serve "[$IP6_S]:8080" -backlog 4096 -accept=true
	load() { clients -addr "[$IP6_S]:8080" -n 6 -interval 100ms -bind $IP6_C,fd88::3 -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_tc_egress_drop() {
	DESC="A tcx BPF program on the server's eth0 egress drops SYN-ACKs to $IP_C2 (\`labtool tcdrop -egress -dev eth0 -dst $IP_C2\`), as a tc egress filter or policer, an eBPF policy or a dropping qdisc does: after IP, before the packet taps. No netfilter rule. Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). SYNs from $IP_C2 reach TCP (IpInReceives = IpInDelivers) and are answered; IP counts every SYN-ACK transmitted (IpOutRequests = IpOutTransmits) and tcx drops it before the tap: on the wire the same as firewall-drop. TCP takes the refused send as an error: TcpExtTCPSynRetrans does not count it, the request is dropped at its first timer (TcpExtTCPTimeouts = the 18 unanswered SYN packets), and each retransmitted SYN makes a new request."
	topo direct
	second_client_addr
	bg tcdrop $NS_S "$LABTOOL" tcdrop -egress -dev eth0 -dst $IP_C2 -duration 60s
	sleep 0.5
	two_address_run
}

# rule_counted_run LOAD : run_capture tcpdump LOAD 1, then the server
# namespace's ruleset with its rules' counters (nft-ruleset-after.txt: the
# referee for what a rule dropped).
rule_counted_run() {
	run_capture tcpdump "$1" 1
	nsx $NS_S nft list ruleset >"$tmp/nft-ruleset-after.txt"
}

# nft_one_rule HOOK RULE : an inet table in the server namespace with one
# filter chain on HOOK (input, output) holding RULE; the ruleset goes into
# the scenario's notes.
nft_one_rule() {
	nsx $NS_S nft -f - <<EOF
table inet synqlab {
	chain $1 {
		type filter hook $1 priority 0; policy accept;
		$2
	}
}
EOF
	NOTES+=("nftables ruleset in $NS_S: \`$(nsx $NS_S nft -s list ruleset | tr -s ' \t\n' ' ')\`")
}

# two_address_run [SERVER NEAR FAR] : firewall-drop's run, which the
# scenarios that look the same on the wire share: a healthy accepting
# listener on SERVER (default $IP_S:8080), 6 clients alternating source
# addresses NEAR and FAR (default $IP_C and $IP_C2, second_client_addr),
# 100 ms apart, sending "hello" and reading the answer.
two_address_run() {
	TWO_ADDR=("${1:-$IP_S:8080}" "${2:-$IP_C}" "${3:-$IP_C2}")
	serve "${TWO_ADDR[0]}" -backlog 4096 -accept=true
	HANDCOUNT=1
	load() { clients -addr "${TWO_ADDR[0]}" -n 6 -interval 100ms -bind "${TWO_ADDR[1]},${TWO_ADDR[2]}" -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

# route_c2_elsewhere : the server's route back to $IP_C2 leaves by a second
# interface, eth1 (a veth whose peer, eth1-sink, sits in the same namespace
# and answers nothing), while $IP_C2's SYNs arrive on eth0.
route_c2_elsewhere() {
	ip -n $NS_S link add eth1 type veth peer name eth1-sink
	quiet_if $NS_S eth1
	nsx $NS_S ip link set eth1 up
	nsx $NS_S ip link set eth1-sink up
	nsx $NS_S ip addr add 10.88.7.1/24 dev eth1
	nsx $NS_S ip neigh replace 10.88.7.2 lladdr 02:88:00:00:07:02 dev eth1 nud permanent
	nsx $NS_S ip route add $IP_C2/32 via 10.88.7.2 dev eth1
	NOTES+=("Server routes in $NS_S: \`$(nsx $NS_S ip -4 route show | tr '\n' ';' | sed 's/;$//')\`; eth1's peer eth1-sink is up in the same namespace with no address, so what leaves by eth1 goes nowhere.")
}

sc_rp_filter() {
	DESC="Reverse-path filtering: the server's route back to $IP_C2 leaves by another interface (eth1) than the one its SYNs arrive on (eth0), and net.ipv4.conf.{all,eth0}.rp_filter=1 (strict). Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). Each SYN from $IP_C2 fails the reverse-path check in IP's input route lookup (the best route to its source is not via eth0) and is dropped before netfilter's input hook and before TCP: original + 5 retransmissions each, never answered. TcpExtIPReversePathFilter counts every one of them (18); IpInReceives counts them and IpInDelivers does not; no TCP counter moves for them."
	topo direct
	second_client_addr
	route_c2_elsewhere
	nsx $NS_S sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1
	two_address_run
}

sc_no_route_back() {
	DESC="No route back: the client also sends from $IP_FAR, on a network the server has no route to (the server namespace has only its own /24, no default route; rp_filter 0, so the SYNs are taken). Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_FAR, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). Each SYN from $IP_FAR reaches TCP, which looks up the route for its SYN-ACK before it answers (tcp_conn_request, inet_csk_route_req), finds none and drops the SYN: IpOutNoRoutes +1 and TcpExtListenDrops +1 (no ListenOverflows, no TCPReqQFullDrop: no queue was full), no SYN-ACK. Original + 5 retransmissions each, connect() fails with ETIMEDOUT: 3 x 6 = 18 = IpOutNoRoutes = TcpExtListenDrops. This is netstat -s's \"SYNs to LISTEN sockets dropped\" with no queue involved."
	topo direct
	far_client_addr
	two_address_run $IP_S:8080 $IP_C $IP_FAR
}

sc_blackhole_route_ipv6() {
	DESC="IPv6, a blackhole route: the server has a default route via the client namespace and \`ip -6 route add blackhole fd77::/64\` (as a null route against an abusive network is set). The client also sends from $IP6_FAR, inside it. Healthy accepting listener. 6 clients alternate $IP6_C and $IP6_FAR, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP6_C complete normally (TcpPassiveOpens 3). Each SYN from $IP6_FAR reaches TCP, whose route lookup for the SYN-ACK meets the blackhole route and fails: the SYN is dropped and counted in TcpExtListenDrops only (no ListenOverflows, no TCPReqQFullDrop). Unlike IPv4, and unlike an IPv6 address with no route at all (ENETUNREACH), a blackhole route's failure is not counted in Ip6OutNoRoutes: only ListenDrops beyond the queues' counts shows it. 3 x 6 = 18 = TcpExtListenDrops, Ip6OutNoRoutes 0."
	V6=1
	topo direct
	nsx $NS_C ip -6 addr add $IP6_FAR/128 dev eth0 nodad
	nsx $NS_S ip -6 route add default via $IP6_C
	nsx $NS_S ip -6 route add blackhole fd77::/64
	two_address_run "[$IP6_S]:8080" $IP6_C $IP6_FAR
}

sc_mixed_listeners() {
	DESC="Three listeners, three fates, one namespace's counters: 8080 listen(fd, 2) and never accept(), 8 idle clients (100 ms apart, hold 8 s); 8081 a healthy accepting listener whose SYNs an nftables rule drops (\`tcp dport 8081 tcp flags & (syn|ack) == syn counter drop\`, input hook), 5 clients 150 ms apart; 8082 healthy, 10 clients 100 ms apart. The three series run together, all from $IP_C. The rules with their counters are saved after the run (nft-ruleset-after.txt)."
	EXPECT="8080: the accept queue holds backlog+1 = 3, clients 3-7 have all 6 SYNs dropped at it (TcpExtListenOverflows = TcpExtListenDrops = 5 x 6 = 30). 8081: every SYN is dropped by the rule before TCP (its counter = 5 x 6 = 30, no TCP counter moves for them). 8082: 10 connections served. TcpPassiveOpens 3 + 10 = 13. The counters are namespace-wide: ListenOverflows 30 is less than the 60 SYN packets the capture shows unanswered; only 8080's packets show connections waiting when its drops began, so the overflows are its."
	topo direct
	nft_one_rule input "tcp dport 8081 tcp flags & (syn|ack) == syn counter drop"
	serve $IP_S:8080 -backlog 2 -accept=false
	serve $IP_S:8081 -backlog 128 -accept=true
	serve $IP_S:8082 -backlog 128 -accept=true
	HANDCOUNT=1
	load() {
		clients_bg -label idle -addr $IP_S:8080 -n 8 -interval 100ms -hold 8s -timeout 8s
		clients_bg -label filtered -addr $IP_S:8081 -n 5 -interval 150ms -send hello -read -hold 2s -timeout 8s
		clients_bg -label served -addr $IP_S:8082 -n 10 -interval 100ms -send hello -read -hold 2s -timeout 8s
		wait_clients_bg
	}
	rule_counted_run load
}

# families_load: dual-stack-one-queue's and split-stack-v6-filtered's
# clients: 3 IPv4 connections that hold port 8080's queue, then 4 IPv6
# clients, then 2 more IPv4.
families_load() {
	clients_bg -label v4fill -addr $IP_S:8080 -n 3 -interval 100ms -hold 9s -timeout 12s
	sleep 1
	clients_bg -label v6 -addr "[$IP6_S]:8080" -n 4 -interval 150ms -hold 2s -timeout 12s
	sleep 1
	clients -label v4late -addr $IP_S:8080 -n 2 -interval 150ms -hold 2s -timeout 12s
	wait_clients_bg
}

sc_dual_stack_one_queue() {
	DESC="One dual-stack socket on [::]:8080 (IPV6_V6ONLY off, as Go's \":8080\", Java and nginx's ipv6only=off listen), listen(fd, 2), never accept(). 3 IPv4 clients to $IP_S:8080 connect 100 ms apart, send nothing and hold 9 s; 1 s later 4 IPv6 clients to [$IP6_S]:8080, 150 ms apart; 1 s after that 2 more IPv4 clients. tcpdump on eth0 in the server namespace."
	EXPECT="One accept queue for both families: the 3 IPv4 connections fill it (backlog+1 = 3) and every later SYN, IPv6 or IPv4, is dropped at it: TcpExtListenOverflows = TcpExtListenDrops = (4 + 2) x the SYNs each client sends. No IPv6 connection ever completes: the capture shows the IPv6 listener's SYNs unanswered with nothing of its own waiting; only its IPv4 sibling on the same port shows the queue full. ss.txt shows one socket, *:8080."
	V6=1
	topo direct
	serve "[::]:8080" -backlog 2 -accept=false -dual-stack
	run_capture tcpdump families_load 1
}

sc_split_stack_v6_filtered() {
	DESC="Two sockets on port 8080, one a family (nginx's \"listen 8080; listen [::]:8080;\"): 0.0.0.0:8080 and [::]:8080 with IPV6_V6ONLY, both listen(fd, 2), never accept(). An nftables rule drops IPv6 SYNs to 8080 (\`meta nfproto ipv6 tcp dport 8080 tcp flags & (syn|ack) == syn counter drop\`, input hook). The clients of dual-stack-one-queue: 3 IPv4 hold the IPv4 queue, 4 IPv6, 2 more IPv4. The rules with their counters are saved after the run (nft-ruleset-after.txt)."
	EXPECT="The IPv4 socket's queue holds 3; the 2 late IPv4 clients' SYNs are dropped at it (TcpExtListenOverflows = TcpExtListenDrops = theirs alone). The IPv6 SYNs never reach TCP: the rule's counter counts them, and Ip6InReceives exceeds Ip6InDelivers by as many. On the wire the IPv6 listener looks as in dual-stack-one-queue: unanswered SYNs while its IPv4 sibling's queue is full; the counters and ss.txt (0.0.0.0:8080 and [::]:8080, separate queues) tell the two apart."
	V6=1
	topo direct
	nft_one_rule input "meta nfproto ipv6 tcp dport 8080 tcp flags & (syn|ack) == syn counter drop"
	serve 0.0.0.0:8080 -backlog 2 -accept=false
	serve "[::]:8080" -backlog 2 -accept=false
	rule_counted_run families_load
}

sc_proxy_backend_overflow() {
	DESC="A reverse proxy captured on its own host, with that host's counters: labtool proxy in the server namespace listens on $IP_S:8080, accepts every client at once and connects to its backend for each (4 s connect timeout, then a 502 and close), as nginx or HAProxy does. The backend is another host's listener: $IP_C2:8081 in the client namespace (its second address), listen(fd, 2), never accept(). 8 clients from $IP_C connect to the proxy 200 ms apart, send \"hello\", read the answer and hold 3 s. tcpdump on the proxy's eth0; nstat, sysctl and ss in the proxy's namespace, as an on-call engineer on the proxy takes them."
	EXPECT="The proxy's listener is healthy: 8 connections, TcpPassiveOpens 8. Its 8 connects to the backend (TcpActiveOpens 8): 3 fill the backend's accept queue (backlog+1), 5 get no answer, their SYNs sent again until the proxy's 4 s timeout (TcpExtTCPSynRetrans counts them, on the proxy). The backend's overflows count in the client namespace, not in these counters: TcpExtListenOverflows stays 0 here."
	topo direct
	second_client_addr
	bg backend $NS_C "$LABTOOL" serve -addr $IP_C2:8081 -backlog 2 -accept=false -duration 60s
	LISTENERS+=("$IP_C2:8081 (in $NS_C): labtool serve -backlog 2 -accept=false")
	bg proxy $NS_S "$LABTOOL" proxy -addr $IP_S:8080 -backend $IP_C2:8081 -timeout 4s -duration 60s
	LISTENERS+=("$IP_S:8080: labtool proxy -backend $IP_C2:8081 -timeout 4s")
	local i
	for i in $(seq 250); do
		if nsx $NS_S ss -Hltn 'sport = :8080' | grep -q . && nsx $NS_C ss -Hltn 'sport = :8081' | grep -q .; then break; fi
		sleep 0.02
	done
	load() { clients -label c -addr $IP_S:8080 -n 8 -interval 200ms -send hello -read -hold 3s -timeout 10s; }
	run_capture tcpdump load 5
}

sc_service_address_moved() {
	DESC="Connections to a service address the server does not hold, as after a failover whose new holder's gratuitous ARP did not reach everyone: the client's neighbour entry for 10.88.0.9 names the server's MAC (ip neigh replace ... nud permanent), the server has no such address and does not forward (net.ipv4.ip_forward 0). A healthy listener on 0.0.0.0:8080. 6 clients connect to 10.88.0.9:8080 (100 ms apart), and at the same time 4 to $IP_S:8080; each sends \"hello\" and reads the answer."
	EXPECT="IP drops every packet to 10.88.0.9, silently (no ICMP: ip_error sends none when forwarding is off), and counts it in IpInAddrErrors: the 6 clients' SYN packets, retransmissions included. TCP never sees them: no listen counter moves, IpInReceives - IpInDelivers = IpInAddrErrors. The 4 clients of $IP_S are served."
	topo direct
	nsx $NS_C ip neigh replace 10.88.0.9 lladdr $MAC_S dev eth0 nud permanent
	nsx $NS_S sysctl -qw net.ipv4.ip_forward=0
	serve 0.0.0.0:8080 -backlog 128
	load() {
		clients_bg -label moved -addr 10.88.0.9:8080 -n 6 -interval 100ms -send hello -read -hold 1s -timeout 8s
		clients -label real -addr $IP_S:8080 -n 4 -interval 100ms -send hello -read -hold 1s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

sc_no_route_beside_overflow() {
	DESC="Two listeners, two kinds of listen drop: 8080 listen(fd, 2) and never accept(), 8 clients from $IP_C (100 ms apart) send \"hello\" and hold 8 s; 8081 a healthy accepting listener, 6 clients alternating $IP_C and $IP_FAR (100 ms apart), on a network the server has no route to (rp_filter 0)."
	EXPECT="8080: clients 0-2 fill the accept queue (backlog+1 = 3), clients 3-7 have all 6 SYNs dropped at it: TcpExtListenOverflows 30. 8081: the clients from $IP_C are served; each SYN from $IP_FAR is dropped by TCP for want of a route for its SYN-ACK: IpOutNoRoutes 18. TcpExtListenDrops counts both: 30 + 18 = 48; TCPReqQFullDrop 0. Only 8080's packets show connections waiting when its drops began."
	topo direct
	far_client_addr
	serve $IP_S:8080 -backlog 2 -accept=false
	serve $IP_S:8081 -backlog 4096 -accept=true
	HANDCOUNT=1
	load() {
		clients_bg -label overflow -addr $IP_S:8080 -n 8 -interval 100ms -send hello -hold 8s -timeout 8s
		clients_bg -label routes -addr $IP_S:8081 -n 6 -interval 100ms -bind $IP_C,$IP_FAR -send hello -read -hold 3s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

sc_synack_other_route() {
	DESC="Asymmetric routing: the server's route back to $IP_C2 leaves by another interface (eth1, which leads nowhere) than the one its SYNs arrive on and the capture watches (eth0); rp_filter=0, so the SYNs are taken. Healthy accepting listener. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). SYNs from $IP_C2 reach TCP, which answers; the SYN-ACKs leave by eth1 and never reach the client, and the capture on eth0 never sees them: on the wire the same as firewall-drop (original + 5 retransmissions each, never answered). The kernel counts them as sent: TcpExtTCPSynRetrans = TcpRetransSegs = the SYN-ACKs TCP sent again (on its timer and on each retransmitted SYN), none in the capture; no listen counter moves; IpInReceives = IpInDelivers, and nothing is dropped on the way out (IpOutRequests = IpOutTransmits)."
	topo direct
	second_client_addr
	route_c2_elsewhere
	nsx $NS_S sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0
	two_address_run
}

sc_long_round_trip() {
	DESC="A healthy listener behind a slow path: the relay delays every frame 700 ms each way, a 1.4 s round trip, longer than the clients' 1 s SYN timer (a saturated queue, a satellite link, a distant region over a VPN). Nothing is dropped. 8 clients 200 ms apart send \"hello\" and read the answer. capture.pcap on the server, client.pcap on the client at the same time."
	EXPECT="Every client sends its SYN again 1 s after the first, while the server's SYN-ACK is still on its way; the server answers that SYN with its SYN-ACK again, and its own timer, 1 s after the first SYN-ACK, may send one more just before (TcpExtTCPSynRetrans 8 or more). The clients' ACKs, 1.4 s after the first SYN-ACK, echo its timestamp: it arrived, nothing was lost (the relay dropped nothing), no drop counter moves, and all 8 connections are served."
	CLIENT_CAP=1
	long_round_trip_run
}

# long_round_trip_run [no-timestamps] : a healthy listener behind a relay
# that delays every frame 700 ms each way; 8 clients 200 ms apart.
long_round_trip_run() {
	topo relay
	if [[ ${1:-} == no-timestamps ]]; then
		nsx $NS_C sysctl -qw net.ipv4.tcp_timestamps=0
	fi
	relay -delay 700ms
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 8 -interval 200ms -send hello -read -hold 5s -timeout 12s; }
	run_capture tcpdump load 1
}

sc_long_round_trip_no_timestamps() {
	DESC="long-round-trip with clients that send no TCP timestamps (net.ipv4.tcp_timestamps=0 in the client namespace, as Windows sends its SYNs): the relay delays every frame 700 ms each way, nothing is dropped. 8 clients 200 ms apart send \"hello\" and read the answer."
	EXPECT="As long-round-trip: every client sends its SYN again while the answer is on its way and the server answers it again (TcpExtTCPSynRetrans 8); no drop counter moves. Without timestamps no echo says which SYN-ACK a client acknowledged: on the wire a first SYN-ACK lost on the way back looks the same."
	long_round_trip_run no-timestamps
}

sc_path_loss() {
	DESC="Healthy accepting listener behind a relay (5 ms one-way delay) that drops every 3rd client SYN travelling towards the server (counted across all SYNs, retransmissions included). 9 clients 100 ms apart send \"hello\" and read the answer."
	EXPECT="Seen from the server, SYNs that the relay dropped are simply absent; their clients retransmit the SYN (same ISN) about 1 s later, and the retransmission is answered. On the server side it looks like a late SYN, every handshake completes, and no listen counter moves."
	topo relay
	relay -delay 5ms -drop-syn-every 3
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 9 -interval 100ms -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_app_reset_after_accept() {
	DESC="An application that accepts every connection and closes it at once with a reset (\`labtool serve -reset\`: SO_LINGER 0, then close, before reading), as a server at its connection limit or refusing by an access rule does. Backlog 4096, tcp_abort_on_overflow=0. 8 clients 100 ms apart connect, send \"hello\" and read the answer."
	EXPECT="Every handshake completes (TcpPassiveOpens 8) and the application resets each connection right after: RST+ACK from the server (a connected socket's reset, tcp_send_active_reset; TcpOutRsts 8), the client's read fails with ECONNRESET. No listen counter moves (ListenOverflows 0, EmbryonicRsts 0). Compare abort-on-overflow, whose resets answer the ACK as bare RSTs from the listener."
	topo direct
	serve $IP_S:8080 -backlog 4096 -accept=true -reset
	load() { clients -addr $IP_S:8080 -n 8 -interval 100ms -send hello -read -hold 2s -timeout 5s; }
	run_capture tcpdump load 1
}

sc_path_loss_synack() {
	DESC="Healthy accepting listener behind a relay (5 ms one-way delay) that drops every 3rd SYN-ACK travelling towards the clients (counted across all SYN-ACKs, retransmissions included): loss on the return path, captured on the server. 9 clients 100 ms apart send \"hello\" and read the answer."
	EXPECT="The server answers every SYN at once; the SYN-ACKs the relay drops are in the capture (it is taken on the server, before the loss). Their clients retransmit the SYN (same ISN) about 1 s later and the server answers it again with the same SYN-ACK (a SYN-ACK retransmission, TcpExtTCPSynRetrans and TcpRetransSegs +1 each), which gets through unless it is itself a 3rd one. Every handshake completes; no listen counter moves."
	topo relay
	relay -delay 5ms -drop-synack-every 3
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 9 -interval 100ms -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_path_loss_client() {
	DESC="Like path-loss, but captured on the CLIENT side: healthy accepting listener behind a relay that adds 20 ms one-way delay in each direction (40 ms RTT) and drops every 3rd client SYN travelling towards the server (counted across all SYNs, retransmissions included). 9 clients 100 ms apart send \"hello\" and read the answer. tcpdump runs in $NS_C on the client's eth0, so the capture shows what the client sent and received, not what reached the server. nstat is saved in both namespaces."
	EXPECT="Vantage point: every SYN -> SYN-ACK gap is a full round trip (about 40 ms plus relay overhead), while the client's handshake ACK follows the SYN-ACK immediately (microseconds): a client-side capture (on a server-side capture the SYN -> SYN-ACK gap would be immediate and SYN-ACK -> ACK a round trip). SYNs that the relay dropped ARE in this capture, unanswered; each is retransmitted (same ISN) about 1 s later and the retransmission is answered (except when it is itself the 3rd SYN, then it is retried 1 s later again). Every handshake completes. Server namespace: TcpPassiveOpens 9, no listen counter moves, no retransmissions (the dropped SYNs never reached it). Client namespace: TcpActiveOpens 9, TcpExtTCPSynRetrans = TcpRetransSegs = number of SYNs the relay dropped."
	topo relay
	CAP_NS=$NS_C
	CLIENT_NSTAT=1
	relay -delay 20ms -drop-syn-every 3
	serve $IP_S:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:8080 -n 9 -interval 100ms -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_defer_accept() {
	DESC="Listener with TCP_DEFER_ACCEPT = 2 s (setsockopt value 2; the kernel turns it into 2 SYN-ACK retransmission periods) that accepts, reads and answers. 3 \"fast\" clients send \"hello\" 200 ms after connect() returns; 3 \"slow\" clients send it 4 s after connect(); all read the answer. The two groups run concurrently."
	EXPECT="Every client's bare handshake ACK is dropped on purpose (TcpExtTCPDeferAcceptDrop +1 each); the request stays in the SYN queue, marked acked, and is NOT retransmitted while the defer period lasts. Fast clients: the data at 200 ms creates the connection, which is accepted and answered. Slow clients: no SYN-ACK retransmission at +1 s; at about +3 s (end of the defer period) the server retransmits the SYN-ACK once, the client's answering ACK is no longer deferred and creates the connection (accepted without data); the data at +4 s is then answered normally. No ListenOverflows."
	topo direct
	serve $IP_S:8080 -backlog 4096 -accept=true -defer-accept 2s
	load() {
		clients_bg -label fast -addr $IP_S:8080 -n 3 -send hello -send-delay 200ms -read -hold 3s -timeout 8s
		clients_bg -label slow -addr $IP_S:8080 -n 3 -send hello -send-delay 4s -read -hold 3s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

sc_defer_accept_overflow() {
	DESC="Accept-queue overflow on a listener with TCP_DEFER_ACCEPT (nginx's \`listen ... deferred\`): TCP_DEFER_ACCEPT = 2 s, listen(fd, 2), never accept(). 10 clients start 100 ms apart, connect, send \"hello\" 200 ms after connect() returns, hold the connection 5 s and close."
	EXPECT="Every client's bare handshake ACK is dropped on purpose (TcpExtTCPDeferAcceptDrop +1 each) and its SYN-ACK held back. Clients 0-2: the data 200 ms later makes the connection, which waits in the accept queue (backlog+1 = 3; the server's kernel ACKs the data). A client whose handshake completes before the queue is full but whose data comes after (client 3; client 4 too when its SYN beats client 2's data) is ignored: each data segment and retransmission is dropped at the full queue (TcpExtListenOverflows + TcpExtListenDrops each); its SYN-ACK comes again only at +3 s (the defer period's end), the client's ACK to it is no longer deferred and is dropped too; the request expires and a later segment draws a RST. Later clients' SYNs meet the full queue and are dropped (6 each). TcpExtListenOverflows = TcpExtListenDrops = unanswered SYN packets + the ignored clients' segments after their deferred handshake ACK; TcpExtTCPDeferAcceptDrop = one deferred ACK per client that completed a handshake (the capture shows only the ignored clients': the others were followed by data in time); TcpPassiveOpens 3."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false -defer-accept 2s
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -send hello -send-delay 200ms -hold 5s -timeout 8s; }
	run_capture tcpdump load 1
}

# vxlan_dev NS LOCAL REMOTE VNI PORT MAC INNER_IP PEER_INNER_IP PEER_MAC :
# a point-to-point VXLAN device vx0 over eth0, with a static neighbour
# entry for the peer's inner address so no ARP crosses the tunnel.
vxlan_dev() {
	local ns=$1 local=$2 remote=$3 vni=$4 port=$5 mac=$6 ip=$7 peer_ip=$8 peer_mac=$9
	nsx "$ns" ip link add vx0 type vxlan id "$vni" local "$local" remote "$remote" dstport "$port" dev eth0
	nsx "$ns" ip link set vx0 address "$mac"
	quiet_if "$ns" vx0
	nsx "$ns" ip link set vx0 up
	nsx "$ns" ip addr add "$ip/24" dev vx0
	nsx "$ns" ip neigh replace "$peer_ip" lladdr "$peer_mac" dev vx0 nud permanent
}

IN_C=10.89.0.1 # inner (overlay) addresses of the VXLAN scenarios
IN_S=10.89.0.2
IN_MAC_C=02:89:00:00:00:01
IN_MAC_S=02:89:00:00:00:02

VXLAN_EXPECT="Inside the tunnel (server 10.89.0.2): $MIX_EXPECT capture.pcap, taken on the server's underlay eth0, holds every packet wrapped in VXLAN (outer Ethernet/IP/UDP/VXLAN header, then the inner Ethernet frame); inner.pcap, taken at the same time on the server's vx0, holds the same packets as the server's stack sees them. synq must give both the same listeners, outcomes and verdict, and report the tunnel."

# vxlan_mix sets up a VXLAN tunnel (VNI $3, UDP port $4) between the client
# ($1) and server ($2) underlay addresses, the healthy + accept-overflow mix
# on the overlay, and the capture of the server's vx0 beside the underlay.
vxlan_mix() {
	local ip_c=$1 ip_s=$2 vni=$3 port=$4
	topo direct
	vxlan_dev $NS_C "$ip_c" "$ip_s" "$vni" "$port" $IN_MAC_C $IN_C $IN_S $IN_MAC_S
	vxlan_dev $NS_S "$ip_s" "$ip_c" "$vni" "$port" $IN_MAC_S $IN_S $IN_C $IN_MAC_C
	NOTES+=("VXLAN: \`ip link add vx0 type vxlan id $vni local $ip_s remote $ip_c dstport $port dev eth0\` in $NS_S (mirrored in $NS_C), MACs $IN_MAC_C/$IN_MAC_S, static neighbour entries on vx0.")
	mix_servers $IN_S
	MIX_HOST=$IN_S
	INNER_IF=vx0
}

sc_vxlan() {
	DESC="The healthy + accept-overflow mix carried in a real kernel VXLAN tunnel (VNI 42, UDP 4789) over an IPv4 veth underlay ($IP_C <-> $IP_S), as AWS VPC Traffic Mirroring or an overlay network delivers it. Overlay addresses: client $IN_C, server $IN_S on vx0. Port 8080: accepting listener, 5 clients send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$VXLAN_EXPECT"
	vxlan_mix $IP_C $IP_S 42 4789
	run_capture tcpdump mix_load 1
}

sc_vxlan_ipv6_8472() {
	DESC="Like vxlan, but the VXLAN tunnel (VNI 4242) runs over an IPv6 underlay ($IP6_C <-> $IP6_S) on UDP port 8472, Linux's own default before IANA assigned 4789 (Flannel uses it): synq decodes it only with --vxlan-port 8472. Overlay addresses: client $IN_C, server $IN_S on vx0. Port 8080: accepting listener, 5 clients send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$VXLAN_EXPECT Without --vxlan-port 8472 the capture holds no TCP at all (UDP only)."
	V6=1
	vxlan_mix $IP6_C $IP6_S 4242 8472
	SYNQ_ARGS="--vxlan-port 8472"
	run_capture tcpdump mix_load 1
}

sc_vxlan_any() {
	DESC="The vxlan scenario (healthy + accept-overflow mix in a kernel VXLAN tunnel, VNI 42, UDP 4789, IPv4 underlay $IP_C <-> $IP_S, overlay $IN_C -> $IN_S) captured with \`tcpdump -i any -y LINUX_SLL2\` in the server namespace, as an SRE does on a Kubernetes node: every packet appears twice, wrapped on eth0 and plain on vx0. Port 8080: accepting listener, 5 clients send \"hello\" and read the answer. Port 8081: listen(fd, 2), never accept(), 6 clients 100 ms apart connect, send \"hello\", hold 4 s."
	EXPECT="$VXLAN_EXPECT Here capture.pcap holds each packet twice (eth0, ifindex 2, tunnelled; vx0, ifindex 3, plain): synq skips the second copy as a duplicate, so it keeps the tunnelled copy of what the client sends (eth0 sees it first) and the plain copy of what the server sends (vx0 sees it first); both halves must still make one connection."
	vxlan_mix $IP_C $IP_S 42 4789
	run_capture any mix_load 1
}

# ---------------------------------------------------------------- more listen-queue scenarios

sc_accept_overflow_idle() {
	DESC="Accept-queue overflow with idle clients: a listener with listen(fd, 2) that never calls accept(). 10 clients start 100 ms apart, connect and send NOTHING (no request), hold the connection 8 s and close (FIN). tcp_syncookies stays 1; the clients are staggered, so the SYN queue never holds more than one request and no cookies are involved."
	EXPECT="The accept queue holds backlog+1 = 3 connections: clients 0-2 complete their handshakes, then neither side sends anything until the clients close at about +8 s (their FINs are ACKed by the kernel: a queued connection is a full socket, only not yet accept()ed). Clients 3-9: every SYN (original + 5 retransmissions 1 s apart, same ISN) is dropped at the full accept queue (tcp_conn_request: sk_acceptq_is_full, TcpExtListenOverflows + TcpExtListenDrops per SYN) and connect() fails with ETIMEDOUT after about 7 s. 7 x 6 = 42 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops; TcpPassiveOpens 3; no ignored segments, no SYN-ACK retransmissions, no cookies, no resets. From packets alone the 3 completed, silent connections look like accepted idle ones: only the drops that start at the 4th client (and the counters, or ss.txt: Recv-Q 3 > Send-Q 2) show the full accept queue."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -hold 8s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_accept_overflow_slow_accept() {
	DESC="Accept-queue overflow with a slow application: listen(fd, 2), and the server does accept(), but one at a time: after each accept() it sleeps 1 s before calling accept() again (\`labtool serve -accept-delay 1s\`; the first connection is taken at once). Each accepted connection is read, answered with \"ok\" and closed by the server. 12 clients start 100 ms apart, send \"hello\" right after connect() and read the answer until EOF."
	EXPECT="Client 0 is accepted at once; clients 1-3 fill the accept queue (backlog+1 = 3). From then on every SYN that arrives while 3 connections wait is dropped silently (TcpExtListenOverflows + TcpExtListenDrops per SYN, no SYN-ACK). Once a second (about +1, +2, ... s after client 0) accept() takes one connection (the server then answers it at once: \"ok\" + FIN), freeing one slot, and the next SYN to arrive, a new client's or a retransmission (same ISN, 1 s after the previous one), is answered and its connection fills the slot at once (direct veth: the ACK follows within microseconds, so no ACK is ignored). Clients whose SYNs keep landing just before the slots free up exhaust their 6 SYNs and fail with ETIMEDOUT after about 7 s. ListenOverflows = ListenDrops = unanswered SYN packets; TcpPassiveOpens = clients that connected; no cookies (the SYN queue never holds more than one request), no SYN-ACK retransmissions, no resets."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=true -accept-delay 1s
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 12 -interval 100ms -send hello -read -hold 10s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_accept_overflow_long() {
	DESC="A long capture of a slow application: listen(fd, 2), accept() one connection every 600 ms (\`labtool serve -accept-delay 600ms\`; each accepted connection is read, answered with \"ok\" and closed), while 300 clients arrive 500 ms apart for 2.5 minutes, each sending \"hello\" right after connect() and reading the answer until EOF. The same incident as accept-overflow-slow-accept, sustained: the variation of length the other scenarios (seconds) lack."
	EXPECT="Arrivals (2 a second) outrun accepts (1.67 a second): the accept queue (backlog+1 = 3) fills within seconds and stays full most of the time; from then on a SYN that meets the full queue is dropped (TcpExtListenOverflows + TcpExtListenDrops), its client retries (1 s, 2 s, ... apart) and mostly gets in later, some time out. Over the run TcpExtListenOverflows = TcpExtListenDrops = unanswered SYN packets (+ any handshake ACK ignored when the queue filled between SYN-ACK and ACK: the direct veth makes that rare); no cookies (the SYN queue never holds more than one request), no resets."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=true -accept-delay 600ms -duration 200s
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 300 -interval 500ms -send hello -read -hold 10s -timeout 8s; }
	run_capture tcpdump load 2
}

sc_accept_overflow_pool() {
	DESC="A connection pool meeting a slow application, captured for 11 minutes: listen(fd, 2), accept() one connection a second (\`labtool serve -accept-delay 1s\`, each accepted connection then read with a 700 s timeout); 12 clients start 50 ms apart, connect, send nothing and hold their connections 640 s, kept alive by TCP keepalive probes every 30 s (\`labtool connect -keepalive 30s\`), then close. The attempts whose SYNs were dropped at the start end more than 10 minutes later: the variation of length that makes synq estimate the queue levels at the first drop instead of counting them (its exact window is the last 10 minutes)."
	EXPECT="The accept queue (backlog+1 = 3) fills in the first 150 ms; accept() frees one slot a second, so the later clients' SYNs are dropped (TcpExtListenOverflows + TcpExtListenDrops) and retried 1 s apart (tcp_syn_retries=2 with tcp_syn_linear_timeouts=4: 6 SYNs over 7 s): clients 3-8 get in as accept() frees slots, on their first to sixth SYN; the last 3 find the queue full at every try and time out (ETIMEDOUT after 7 s). Then 10 minutes of keepalive probes and their ACKs, and at about 640 s the clients' FINs. Over the run TcpExtListenOverflows = TcpExtListenDrops = unanswered SYN packets (+ any handshake ACK ignored when the queue filled between SYN-ACK and ACK); no cookies, no resets before the close."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=true -accept-delay 1s -read-timeout 700s -duration 720s
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 12 -interval 50ms -hold 640s -timeout 60s -keepalive 30s; }
	run_capture tcpdump load 2
}

sc_somaxconn_clamp() {
	DESC="The listen backlog silently clamped by net.core.somaxconn: the server namespace's somaxconn is set to 8 BEFORE the listener starts (the kernel applies min(backlog, somaxconn) at listen() time), then the listener calls listen(fd, 1024) and never accept()s. 14 clients start 100 ms apart, connect, send nothing, hold 8 s and close."
	EXPECT="The accept queue limit is min(1024, 8) = 8 (ss.txt: Send-Q 8 on the LISTEN row, not 1024) and the queue holds limit+1 = 9: clients 0-8 complete their handshakes and sit idle in the queue. Clients 9-13: every SYN (6 each, 1 s apart) is dropped at the full accept queue, connect() fails with ETIMEDOUT after about 7 s. 5 x 6 = 30 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops; TcpPassiveOpens 9; no cookies, no resets. sysctl.txt records net.core.somaxconn = 8."
	topo direct
	nsx $NS_S sysctl -qw net.core.somaxconn=8
	serve $IP_S:8080 -backlog 1024 -accept=false
	NOTES+=("net.core.somaxconn=8 was set in $NS_S before the listener called listen(fd, 1024).")
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 14 -interval 100ms -hold 8s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_loopback() {
	DESC="Clients on the server's own host, captured on lo (a php-fpm pool or a sidecar's app behind 127.0.0.1): in the server namespace, a listener on 127.0.0.1:9000 with listen(fd, 2) that never accept()s, and a healthy one on the namespace's own address $IP_S:8080. From the same namespace (tcp_syn_retries=2 set there), 8 clients start 100 ms apart, connect to 127.0.0.1:9000, send a request, hold 4 s and close; and 6 clients connect to $IP_S:8080 (which Linux routes through lo, from $IP_S itself), send, read the answer and close. tcpdump -i lo in the server namespace; the namespace's counters count both ends."
	EXPECT="127.0.0.1:9000 holds backlog+1 = 3 connections; clients 3-7 get no answer: 5 x 6 SYNs = 30 unanswered SYN packets = TcpExtListenOverflows = TcpExtListenDrops. $IP_S:8080: 6 established. TcpPassiveOpens 3 + 6 = 9, TcpActiveOpens 14; TcpExtTCPSynRetrans 25 = the clients' SYN retransmissions (5 x 5), counted by this namespace's TCP because the clients are in it; no SYN-ACK is sent again."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syn_retries=2
	serve 127.0.0.1:9000 -backlog 2 -accept=false
	serve $IP_S:8080 -backlog 4096 -accept=true
	NOTES+=("The clients ran in $NS_S, the server's namespace (labtool connect there); $NS_C and the veth are unused. No hand count: its awk tells clients from the server by address, and here they share one.")
	load() {
		NS_C=$NS_S clients_bg -label local-ok -addr $IP_S:8080 -n 6 -interval 50ms -send hello -read -hold 2s -timeout 8s
		NS_C=$NS_S clients -label php -addr 127.0.0.1:9000 -n 8 -interval 100ms -send 'GET / HTTP/1.0' -hold 4s -timeout 8s
		wait_clients_bg
	}
	run_capture lo load 1
}

sc_fastopen() {
	DESC="TCP Fast Open (net.ipv4.tcp_fastopen=3 in the server namespace, 1 in the client's, the default): a listener on $IP_S:8080 with TCP_FASTOPEN (queue 16) and listen(fd, 2) that never accept()s, and a healthy one on $IP_S:8081 with TCP_FASTOPEN. Before the capture one client connects to 8081 and gets the server's cookie (per server address, so it serves 8080 too). In the capture 8 clients (100 ms apart, TCP_FASTOPEN_CONNECT) send a request in their SYN to 8080 and wait 3 s for an answer; then 10 do the same to 8081 (50 ms apart) and read the answer."
	EXPECT="8080: the first 3 SYNs (backlog+1) create Fast Open children at once, straight into the accept queue (the SYN-ACK acknowledges the SYN's data); the next 5 are dropped at the full accept queue, and their clients send the SYN again without data (1 s, 2 s later) until they give up after 3 s: 5 x 3 = 15 unanswered SYN packets = TcpExtListenOverflows = TcpExtListenDrops. Their connect() succeeded at once (Fast Open defers the SYN to the first write), so the client log shows them connected and reading nothing. 8081: 10 established with the request in the SYN. TcpPassiveOpens 13 = TcpExtTCPFastOpenPassive."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_fastopen=3
	nsx $NS_C sysctl -qw net.ipv4.tcp_fastopen=1
	serve $IP_S:8080 -backlog 2 -accept=false -fastopen 16
	serve $IP_S:8081 -backlog 4096 -fastopen 16
	preload() { clients -label cookie -addr $IP_S:8081 -fastopen -send warm -read -hold 1s -timeout 5s; }
	PRELOAD=preload
	load() {
		clients -label full -addr $IP_S:8080 -fastopen -n 8 -interval 100ms -send 'GET / HTTP/1.0' -read -hold 3s -timeout 8s
		clients -label ok -addr $IP_S:8081 -fastopen -n 10 -interval 50ms -send 'GET / HTTP/1.0' -read -hold 3s -timeout 8s
	}
	NOTES+=("The cookie client's connection to 8081 (before nstat-before.txt and the capture) is not in capture.pcap; it taught the client namespace the server's Fast Open cookie.")
	run_capture tcpdump load 1
}

sc_wildcard_local_and_remote() {
	DESC="One socket on 0.0.0.0:8080 with listen(fd, 2) that never accept()s, reached two ways at once, as a pod's application is by its sidecar and by remote clients: 4 clients in the server namespace itself connect to 127.0.0.1:8080 (150 ms apart; tcp_syn_retries=2 set there too), and 8 in the client namespace to $IP_S:8080 (100 ms apart); each sends a request, holds 4 s and closes. tcpdump -i any in the server namespace (the local clients go through lo, the remote ones through eth0)."
	EXPECT="The one accept queue holds backlog+1 = 3 connections, whichever address they came to: the first three to arrive (about a remote one at 0 ms, a local one at 0 ms, a remote one at 100 ms) complete, every later SYN to either address is dropped (6 SYNs a client, tcp_syn_retries=2 on both sides). 9 x 6 = 54 unanswered SYN packets = TcpExtListenOverflows = TcpExtListenDrops; TcpPassiveOpens 3; TcpExtTCPSynRetrans = the local clients' SYNs sent again (5 each), counted by this namespace because they run in it. synq sees two listeners, 127.0.0.1:8080 and $IP_S:8080: at each one's first drop the connections waiting on the other count in the same queue, and ss.txt shows the one socket, 0.0.0.0:8080, with Send-Q 2."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syn_retries=2
	serve 0.0.0.0:8080 -backlog 2 -accept=false
	NOTES+=("The local clients ran in $NS_S (labtool connect there). No hand count: its awk tells clients from the server by address, and the local clients' replies come from 127.0.0.1.")
	load() {
		NS_C=$NS_S clients_bg -label local -addr 127.0.0.1:8080 -n 4 -interval 150ms -send hello -hold 4s -timeout 8s
		clients -label remote -addr $IP_S:8080 -n 8 -interval 100ms -send hello -hold 4s -timeout 8s
		wait_clients_bg
	}
	run_capture any load 1
}

sc_two_capture_points() {
	DESC="The same accept-queue overflow captured at both ends of the path: listen(fd, 2), never accept(), a relay adding 10 ms each way; 10 clients 100 ms apart send \"hello\", hold 4 s and close. capture.pcap is taken on the server's eth0, client.pcap at the same time on the client's: a user with both files may give synq both."
	EXPECT="The accept queue holds backlog+1 = 3; clients 3-9 get no answer: 7 x 6 = 42 unanswered SYN packets = TcpExtListenOverflows = TcpExtListenDrops, TcpPassiveOpens 3. Every packet is in both files, about 10 ms apart (it crosses the relay once). Read together they must still count each packet once: 42 dropped SYNs, not 84."
	topo relay
	relay -delay 10ms
	CLIENT_CAP=1
	serve $IP_S:8080 -backlog 2 -accept=false
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -send hello -hold 4s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_v6only_wildcard() {
	DESC="One IPv6 socket on [::]:8080 with IPV6_V6ONLY (labtool serve sets it for an IPv6 address, as Go's tcp6 and many servers do), listen(fd, 2), never accept(): 3 clients in the server namespace connect to [::1]:8080 (150 ms apart), 4 from the client namespace to [$IP6_S]:8080 (120 ms apart) and 2 to $IP_S:8080 (100 ms apart); each sends a request and holds 4 s. tcp_syn_retries=2 on both sides. tcpdump -i any in the server namespace."
	EXPECT="The IPv6 clients share one accept queue of backlog+1 = 3 (whichever address they came to); later IPv6 SYNs are dropped (TcpExtListenOverflows = TcpExtListenDrops). The 2 IPv4 clients find no IPv4 socket: each SYN is answered with a RST by the kernel (TcpOutRsts), connect() fails at once. ss.txt shows only [::]:8080, which an IPv4 client could reach only without IPV6_V6ONLY."
	V6=1
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syn_retries=2 net.ipv6.conf.lo.disable_ipv6=0
	serve "[::]:8080" -backlog 2 -accept=false
	NOTES+=("The local clients ran in $NS_S (labtool connect there).")
	load() {
		NS_C=$NS_S clients_bg -label local -addr "[::1]:8080" -n 3 -interval 150ms -send hello -hold 4s -timeout 8s
		clients_bg -label remote6 -addr "[$IP6_S]:8080" -n 4 -interval 120ms -send hello -hold 4s -timeout 8s
		clients -label remote4 -addr $IP_S:8080 -n 2 -interval 100ms -send hello -hold 4s -timeout 8s
		wait_clients_bg
	}
	run_capture any load 1
}

sc_accept_overflow_capture_late() {
	DESC="Accept-queue overflow that began before the capture: listen(fd, 2), never accept(). BEFORE tcpdump and nstat-before.txt start, 3 \"prefill\" clients (100 ms apart) connect, send nothing and hold their connections 14 s, filling the accept queue; 1 s later the capture starts. Inside the capture, 5 \"late\" clients start 100 ms apart and try to connect (sending nothing). The prefill connections close only after the capture has stopped."
	EXPECT="The accept queue is already full (3 = backlog+1) for the whole capture, so every SYN in it is dropped: 5 late clients x 6 SYNs (original + 5 retransmissions 1 s apart) = 30 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops; TcpPassiveOpens 0 (the 3 handshakes that fill the queue happened before nstat-before.txt); connect() fails with ETIMEDOUT after about 7 s. The capture holds ONLY unanswered SYNs: no completed handshake, no SYN-ACK, nothing from the server at all, so packets alone cannot tell a full accept queue from a SYN-queue drop without cookies or a firewall drop; the counters (ListenOverflows = ListenDrops, TCPReqQFullDrop 0) and ss.txt (LISTEN row Recv-Q 3 > Send-Q 2 in every sample) decide it."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false
	preload() {
		clients_bg -label prefill -addr $IP_S:8080 -n 3 -interval 100ms -hold 14s -timeout 8s
		sleep 1
		NOTES+=("Before the capture: \`ss -lnt\` in $NS_S showed $(nsx $NS_S ss -Hlnt 'sport = :8080' | awk '{print "Recv-Q " $2 ", Send-Q " $3}') on the LISTEN row (the 3 prefill connections, never accepted).")
	}
	PRELOAD=preload
	HANDCOUNT=1
	load() { clients -label late -addr $IP_S:8080 -n 5 -interval 100ms -hold 8s -timeout 8s; }
	run_capture tcpdump load 1
	wait_clients_bg
	NOTES+=("The prefill clients' lines in the client log come last: they ran in the background from before the capture until after it (their handshakes and FINs are not in capture.pcap).")
}

sc_short_capture_cookies() {
	DESC="SYN-queue overflow with syncookies (tcp_syncookies=1) and a SHORT capture in the middle of it. listen(fd, 2), never accept(); a relay adds 300 ms one-way delay (600 ms RTT), so a handshake stays half-open for 600 ms. 60 clients start 20 ms apart (all in flight together), connect, send nothing, and hold 3 s. The load starts BEFORE the capture; tcpdump is started about 0.3 s later, then nstat-before.txt, 0.4 s of load, nstat-after.txt, and the capture is stopped: capture and counters cover only about 0.5 s in the middle of the overflow (times in the notes, relative to the start of the clients)."
	EXPECT="Server-side timeline (client start + 0.3 s): the first 3 SYNs get normal SYN-ACKs and fill the SYN queue (it holds backlog+1 = 3). Every SYN after that while those 3 are half-open (until their ACKs arrive 600 ms later) finds the SYN queue full and gets a syncookie SYN-ACK (TcpExtTCPReqQFullDoCookies + TcpExtSyncookiesSent each; never retransmitted). At about +0.9 s the 3 normal ACKs arrive and fill the accept queue (TcpPassiveOpens 3). After that every new SYN is dropped at the full accept queue (TcpExtListenOverflows + ListenDrops; the SYN queue is empty again, so no DoCookies), and every cookie ACK is validated (TcpExtSyncookiesRecv +1) and then dropped at the full accept queue (TcpExtListenOverflows + ListenDrops): the cookie clients believe they are connected, but the server holds no state for them and sends nothing (no SYN-ACK retransmission: on the wire such a connection looks like an accepted idle one). In the ~0.4 s nstat window, expect: DoCookies = SyncookiesSent = cookie SYN-ACKs in it; SyncookiesRecv = cookie ACKs in it; ListenOverflows = ListenDrops = cookie ACKs + SYNs dropped in it; TcpPassiveOpens 3 if the window includes the 3 normal ACKs. The capture (started ~0.2 s before nstat-before) holds handshake halves: ACKs whose SYN came before the capture, and cookie SYN-ACKs whose ACK comes after it. Exact numbers depend on where the window fell; they are in the table and notes below."
	topo relay
	relay -delay 300ms
	serve $IP_S:8080 -backlog 2 -accept=false
	preload() {
		LOAD_T0=$EPOCHREALTIME
		clients_bg -label burst -addr $IP_S:8080 -n 60 -interval 20ms -hold 3s -timeout 8s
		sleep "${SHORT_CAP_WAIT:-0.5}"
	}
	PRELOAD=preload
	HANDCOUNT=1
	CAP_IMMEDIATE=1
	load() { sleep 0.4; }
	run_capture tcpdump load 0
	local cap_first cap_last
	cap_first=$(tcpdump -nr "$tmp/$CAP_FILE" -tt -c 1 2>/dev/null | awk '{print $1}')
	cap_last=$(tcpdump -nr "$tmp/$CAP_FILE" -tt 2>/dev/null | tail -1 | awk '{print $1}')
	NOTES+=("Timing, relative to the start of the first client (in $NS_C; it reaches the server 0.3 s later): nstat-before.txt at +$(awk -v a="${SNAP_T[before]}" -v b="$LOAD_T0" 'BEGIN{printf "%.3f", a-b}') s, nstat-after.txt at +$(awk -v a="${SNAP_T[after]}" -v b="$LOAD_T0" 'BEGIN{printf "%.3f", a-b}') s; first captured packet at +$(awk -v a="$cap_first" -v b="$LOAD_T0" 'BEGIN{printf "%.3f", a-b}') s, last at +$(awk -v a="$cap_last" -v b="$LOAD_T0" 'BEGIN{printf "%.3f", a-b}') s. Clients kept going after the capture (their FINs, the dropped clients' later SYN retransmissions); the script waits for them before writing this README.")
	local acks
	acks=$(tcpdump -nr "$tmp/$CAP_FILE" "src host $IP_C and tcp[tcpflags] == tcp-ack" 2>/dev/null | wc -l)
	NOTES+=("Handshake ACKs in capture.pcap: $acks pure ACKs from the clients (the clients send nothing else inside the capture). The first 3 clients' ACKs (their SYNs, at about +0.3 s, came before the capture) complete normal requests and fill the accept queue; every later one answers a cookie SYN-ACK and meets the full accept queue: SyncookiesRecv +1 and ListenOverflows + ListenDrops +1, then dropped with no answer and no SYN-ACK retransmission, so these ignored ACKs are invisible in the packets (each looks like an accepted idle connection). ListenOverflows = cookie ACKs dropped (= SyncookiesRecv) + SYNs dropped at the full accept queue, counted inside the nstat window only.")
	wait_clients_bg
}

# firewall_reject RULE : the firewall-drop set-up with a REJECT rule.
firewall_reject() {
	topo direct
	second_client_addr
	nft_one_rule input "ip saddr $IP_C2 tcp flags & (syn|ack) == syn $1"
	two_address_run
}

sc_firewall_reject_rst() {
	DESC="An nftables rule in the server namespace REJECTS SYNs from $IP_C2 with a TCP reset (\`ip saddr $IP_C2 tcp flags & (syn|ack) == syn reject with tcp reset\`, inet table, input hook, priority 0). Healthy accepting listener on 8080. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). Each SYN from $IP_C2 is answered at once by RST+ACK (seq 0, ack = ISN+1) that netfilter builds itself (nf_send_reset): connect() fails with ECONNREFUSED, no retransmission. On the wire the RST is identical to this kernel's own no-listener answer (IP ID 0, DF, TTL 64, window 0, RST+ACK; compare no-listener/capture.pcap), but TCP never saw the SYN: TcpOutRsts does NOT count it (stays 0; the RSTs show only in IpOutRequests, and the rejected SYNs in IpInReceives but not IpInDelivers/TcpInSegs), no listen counter moves. 3 SYNs answered by RST; 0 unanswered SYNs."
	firewall_reject "reject with tcp reset"
}

sc_firewall_reject_icmp() {
	DESC="An nftables rule in the server namespace REJECTS SYNs from $IP_C2 with an ICMP port unreachable (\`ip saddr $IP_C2 tcp flags & (syn|ack) == syn reject with icmp type port-unreachable\`, inet table, input hook, priority 0). Healthy accepting listener on 8080. 6 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer. The capture has no filter: the ICMP packets are in it."
	EXPECT="Clients from $IP_C complete normally (TcpPassiveOpens 3). Each SYN from $IP_C2 is answered at once by an ICMP destination unreachable (type 3, code 3, port unreachable) from $IP_S that quotes the whole SYN (IP header, TCP header with options: the 4-tuple and ISN are visible); the client treats it as a hard error in SYN-SENT: connect() fails with ECONNREFUSED, no SYN retransmission. The server counts IcmpOutDestUnreachs +3 (IcmpOutMsgs +3); no TCP counter moves for those SYNs (TcpOutRsts 0, no listen counters). 3 SYNs answered by ICMP; 0 unanswered SYNs."
	firewall_reject "reject with icmp type port-unreachable"
}

sc_synqueue_no_cookies_client() {
	DESC="SYN-queue overflow WITHOUT syncookies (server tcp_syncookies=0), captured on the CLIENT side. Listener with listen(fd, 2) that accepts, reads, answers \"ok\" and closes. A relay adds 100 ms one-way delay (200 ms RTT), so each answered SYN stays a half-open request for 200 ms. 10 clients connect at the same moment (one burst), send \"hello\" and read the answer. tcpdump runs in $NS_C on the client's eth0; nstat is saved in both namespaces."
	EXPECT="The 10 SYNs reach the server within a few ms. The SYN queue holds backlog+1 = 3: 3 get SYN-ACKs, the other 7 find it full and, with cookies off, are dropped silently (TcpExtTCPReqQFullDrop + TcpExtListenDrops each). The accept queue never fills (the server accepts at once): TcpExtListenOverflows stays 0. Each dropped client retransmits its SYN (same ISN) 1 s later, all within a few ms again: 3 answered, 4 dropped; at +2 s 3 answered, 1 dropped; at +3 s the last one is answered. Server: TcpExtTCPReqQFullDrop = TcpExtListenDrops = 7 + 4 + 1 = 12, ListenOverflows 0, TcpPassiveOpens 10. Client: TcpExtTCPSynRetrans = TcpRetransSegs = 12, TcpActiveOpens 10. In this client-side capture the dropped SYNs are present and unanswered (12), each followed by a retransmission about 1 s later; SYN -> SYN-ACK takes a round trip (~200 ms): from the client this looks exactly like path loss; only the server's counters (TCPReqQFullDrop) show it was the server's SYN queue."
	topo relay
	CAP_NS=$NS_C
	CLIENT_NSTAT=1
	nsx $NS_S sysctl -qw net.ipv4.tcp_syncookies=0
	relay -delay 100ms
	serve $IP_S:8080 -backlog 2 -accept=true
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 10 -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_synqueue_no_cookies_burst() {
	DESC="synqueue-no-cookies-client's burst, captured on the server, beside a healthy listener: server tcp_syncookies=0, a relay adds 100 ms one-way delay (each answered SYN stays a half-open request for a 200 ms round trip). 8080: listen(fd, 2) that accepts, reads, answers \"ok\" and closes; 10 clients connect at the same moment, send \"hello\" and read the answer. 8081: a healthy accepting listener (backlog 128); 6 idle clients 300 ms apart, at the same time, connect and hold the connection 3 s."
	EXPECT="The SYN queue of 8080 holds backlog+1 = 3: 3 of the burst get SYN-ACKs, the other 7 find it full and, with cookies off, are dropped silently (TcpExtTCPReqQFullDrop + TcpExtListenDrops each); each retransmits its SYN 1 s later and some are answered, the rest a second later again, until every one of the 10 is established, a second or more late (TcpExtTCPReqQFullDrop = TcpExtListenDrops = the unanswered SYN packets, 12 in the reference run). ListenOverflows stays 0. 8081 is served at once (TcpPassiveOpens 16 in all)."
	topo relay
	nsx $NS_S sysctl -qw net.ipv4.tcp_syncookies=0
	relay -delay 100ms
	serve $IP_S:8080 -backlog 2 -accept=true
	serve $IP_S:8081 -backlog 128 -accept=true
	load() {
		clients_bg -label idle -addr $IP_S:8081 -n 6 -interval 300ms -hold 3s -timeout 8s
		clients -addr $IP_S:8080 -n 10 -send hello -read -hold 3s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

# ---------------------------------------------------------------- configuration, restarts, several listeners

sc_forced_cookies() {
	DESC="Syncookies forced for every SYN: server net.ipv4.tcp_syncookies=2. Healthy listener, listen(fd, 4096), that accepts, reads, answers \"ok\" and closes. 10 clients start 100 ms apart, send \"hello\" and read the answer until EOF."
	EXPECT="With tcp_syncookies=2, tcp_conn_request() takes the cookie path for EVERY SYN, with the SYN queue empty: tcp_syn_flood_action() counts TcpExtTCPReqQFullDoCookies although nothing is full (and, for syncookies=2, logs no \"Possible SYN flooding\" line), cookie_init_sequence() counts TcpExtSyncookiesSent, and each handshake ACK is validated as a cookie (TcpExtSyncookiesRecv) and creates the connection (TcpPassiveOpens). Measured on this 6.18 kernel: TcpExtTCPReqQFullDoCookies = TcpExtSyncookiesSent = TcpExtSyncookiesRecv = TcpPassiveOpens = 10, SyncookiesFailed 0, ListenOverflows = ListenDrops = TCPReqQFullDrop = 0, no retransmissions; all 10 clients read \"ok\". On the wire nothing looks wrong: the cookie SYN-ACKs carry the full option set (MSS, SACK-permitted, timestamps, window scale 10: with timestamps the cookie keeps the options in the TSval's low bits), and no SYN-ACK is retransmitted because every ACK arrives within microseconds. From packets alone this is a healthy server; DoCookies without any drop or half-open backlog, and tcp_syncookies = 2 in sysctl.txt, show cookies forced by configuration, not a SYN-queue overflow."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syncookies=2
	serve $IP_S:8080 -backlog 4096 -accept=true
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -send hello -read -hold 3s -timeout 5s; }
	run_capture tcpdump load 1
}

sc_three_quarters_rule() {
	DESC="The tcp_max_syn_backlog 3/4 rule (syncookies off): server tcp_syncookies=0, net.ipv4.tcp_max_syn_backlog=16 (the kernel accepts 16), listener with listen(fd, 1024) that accepts, reads, answers \"ok\" and closes, so the SYN queue limit (1024+1) and the accept queue are never reached. Before the capture one \"prove\" client from $IP_C2 completes an exchange (the server keeps a tcp_metrics entry with an RTT for $IP_C2: a proven peer). Inside the capture \`labtool synflood\` sends 20 spoofed SYNs from 10.88.9.1-10.88.9.20 over 0.2 s (nobody answers their SYN-ACKs); right after, 3 \"proven\" clients from $IP_C2 (200 ms apart, in the background) and, 100 ms behind them, 3 \"unproven\" clients from $IP_C (never seen, 200 ms apart) connect, send \"hello\" and read the answer."
	EXPECT="tcp_conn_request() (cookies off, no TIME_WAIT ISN): a SYN is dropped when tcp_max_syn_backlog - qlen < tcp_max_syn_backlog/4, i.e. 16 - qlen < 4, qlen >= 13, unless tcp_peer_is_proven() (a tcp_metrics RTT for the source). The first 13 spoofed SYNs are answered and stay half-open (SYN-ACK retransmissions at +1 s and +3 s, expiry at about +7 s: TcpRetransSegs = TcpExtTCPSynRetrans = 13 x 2 = 26, TcpExtTCPTimeouts = 13 x 3 = 39); the other 7 are dropped silently. While the 13 are pending, every SYN from the unproven $IP_C is dropped too (3 clients x 6 SYNs = 18; connect() fails with ETIMEDOUT after about 7 s, before the requests expire), while the proven $IP_C2 is answered at once (3 exchanges, TcpPassiveOpens 3). Each drop goes through tcp_listendrop() only: TcpExtListenDrops = 7 + 18 = 25 = unanswered SYNs, TcpExtTCPReqQFullDrop 0, TcpExtListenOverflows 0, no cookies (none allowed). Measured on this 6.18 kernel: exactly that (ListenDrops 25, ReqQFullDrop 0, ListenOverflows 0, PassiveOpens 3, TCPSynRetrans 26, TCPTimeouts 39). In the packets: drops selective by source address at the same moment (the proven source answered, the never-seen one not) while 13 spoofed handshakes sit half-open."
	topo direct
	nsx $NS_S sysctl -qw net.ipv4.tcp_syncookies=0 net.ipv4.tcp_max_syn_backlog=16
	nsx $NS_S ip route add $SPOOF_NET via $IP_C
	second_client_addr
	serve $IP_S:8080 -backlog 1024 -accept=true
	preload() {
		clients -label prove -addr $IP_S:8080 -n 1 -bind $IP_C2 -send hello -read -hold 2s -timeout 5s
		sleep 0.3
		NOTES+=("Before the capture and nstat-before.txt, one \"prove\" client from $IP_C2 completed a request/answer exchange (its lines come first in the client log); afterwards \`ip tcp_metrics show\` in $NS_S listed: \`$(nsx $NS_S ip tcp_metrics show | tr -s ' \n' ' ')\` ($IP_C has no entry: never seen).")
	}
	PRELOAD=preload
	FLOOD_N=20 FLOOD_OVER=200ms
	NOTES+=("$FLOOD_NOTE")
	HANDCOUNT=1
	load() {
		flood
		clients_bg -label proven -addr $IP_S:8080 -n 3 -interval 200ms -bind $IP_C2 -send hello -read -hold 3s -timeout 8s
		sleep 0.1
		clients -label unproven -addr $IP_S:8080 -n 3 -interval 200ms -bind $IP_C -send hello -read -hold 3s -timeout 8s
		wait_clients_bg
		wait_after_flood $FLOOD_TAIL
	}
	run_capture tcpdump load 1
}

sc_syn_answered_by_ack() {
	DESC="SYNs answered by a bare ACK, in two ways. Client timestamps are off (client net.ipv4.tcp_timestamps=0). (1) TIME_WAIT on port 8080: listener listen(fd, 16) that accepts and reads until it has 1000000 bytes (\`serve -read-bytes 1000000\`), then answers \"ok\" and closes first (so the server keeps the TIME_WAIT). Client \"tw\" 0 from fixed port 40000 sends 1000000 bytes, reads \"ok\" + EOF and closes; client \"tw\" 1 reconnects from port 40000 at once. Linux's ISN for the same 4-tuple grows with time (one per 64 ns, about 15.6 per microsecond), so the new ISN, about 10 ms later, is about 150 000 above the old one: below the TIME_WAIT's rcv_nxt (old ISN + 1000002), and without timestamps nothing else can prove the SYN new. (2) A live connection on port 8081 (listen(fd, 16), never accept()): client \"ghost\" from fixed port 40002 connects, holds 300 ms and closes with SO_LINGER 0, but an nftables rule in the CLIENT namespace drops its RST (output hook, \`tcp dport 8081 tcp flags & rst == rst drop\`, removed right after), so the server's connection stays ESTABLISHED (queued, never accepted); client \"reconnect\" then connects from port 40002 again."
	EXPECT="(1) The new SYN hits the TIME_WAIT (tcp_timewait_state_process: not after rcv_nxt, no timestamp) and is answered by a bare ACK (seq = the old connection's next sequence, ack = old rcv_nxt, i.e. ack 1000002 relative to the old ISN); the client, in SYN-SENT, sees an unacceptable ACK and answers with RST (seq = that ack); the RST, exactly at rcv_nxt, kills the TIME_WAIT (\"TIME_WAIT assassination\", tcp_rfc1337=0). The client retransmits its SYN (same ISN) after about 10 ms, not 1 s (this kernel re-arms the SYN timer at its minimum after such a reset), and this time the listener answers; the exchange completes. No counter is specific to this: TcpExtTW counts the TIME_WAITs entered (2: both tw connections), TWKilled, PAWSTimewait and TCPACKSkippedTimeWait stay 0 (the ACK was not rate-limited), TcpOutRsts 0. (2) The SYN reaches the ESTABLISHED socket: tcp_validate_incoming() answers with a challenge ACK (TcpExtTCPSYNChallenge +1, TcpExtTCPChallengeACK +1, and TcpInErrs +1); the client answers with RST (seq = the ACK's ack = rcv_nxt), which resets the old connection (TcpEstabResets +1); the SYN retransmitted about 10 ms later is answered by the listener and completes. Measured: TcpPassiveOpens 4, TCPSYNChallenge 1, TCPChallengeACK 1, TcpInErrs 1, TcpEstabResets 1, TcpExtTW 2, all listen counters 0. On the wire both cases are SYN -> bare ACK -> client RST -> same SYN again -> SYN-ACK, the classic sign of old state for the 4-tuple (TIME_WAIT or a connection the client forgot); only the counters tell the challenge ACK from the TIME_WAIT ACK."
	topo direct
	nsx $NS_C sysctl -qw net.ipv4.tcp_timestamps=0
	NOTES+=("Client namespace: net.ipv4.tcp_timestamps=0 (no TCP timestamps on any connection, so TIME_WAIT can judge a new SYN only by its sequence number).")
	serve $IP_S:8080 -backlog 16 -accept=true -read-bytes 1000000
	serve $IP_S:8081 -backlog 16 -accept=false
	NOTES+=("The hand count below takes only a SYN-ACK, RST or ICMP as an answer to a SYN: its \"unanswered\" SYNs are the 2 SYNs answered by a bare ACK (one per case), each followed by the client's RST and the same SYN again.")
	HANDCOUNT=1
	load() {
		clients -label tw -addr $IP_S:8080 -n 2 -parallel 1 -sport 40000 -send-size 1000000 -read -hold 3s -timeout 5s
		nsx $NS_C nft -f - <<EOT
table inet synqlab {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport 8081 tcp flags & rst == rst drop
	}
}
EOT
		clients -label ghost -addr $IP_S:8081 -n 1 -sport 40002 -hold 300ms -linger0
		nsx $NS_C nft delete table inet synqlab
		clients -label reconnect -addr $IP_S:8081 -n 1 -sport 40002 -hold 1s -timeout 5s
	}
	run_capture tcpdump load 1
}

sc_listener_restart() {
	DESC="A listener restarted while clients connect. Inside the capture the first listener (listen(fd, 4096), accepts, reads, answers \"ok\" and closes) runs for 1 s (\`serve -duration 1s\`: the process exits, closing the listening socket and every connection it holds); 0.5 s after it exited a second one starts on the same port (SO_REUSEADDR). 25 clients start 100 ms apart from the moment the first listener is up; each connects, waits 300 ms, sends \"hello\" and reads the answer until EOF."
	EXPECT="Clients whose exchange finished before the first listener exited complete (7). The 3 clients that connected in the 300 ms before the exit were accepted, but had not sent yet: at the exit the kernel closes their sockets (no unread data: FIN, not RST); their \"hello\" then reaches an orphaned FIN_WAIT2 socket and is answered by a RST (no ACK flag, seq = server's next sequence; new data after a half-close); the client reads \"\" then EOF (the FIN came first). SYNs arriving in the 0.5 s gap find no listener and get RST+ACK (seq 0, ack ISN+1): connect() fails with ECONNREFUSED at once (5 clients). After the restart everything completes (10). Measured: TcpOutRsts = 3 + 5 = 8, TcpPassiveOpens = 20, no listen-drop counter, no TCPAbortOnData (the FIN_WAIT2 socket was already a timewait mini-socket, which resets without counting), TcpExtTW 20 (17 normal server-side TIME_WAITs + 3 FIN_WAIT2). On the wire: SYN -> RST+ACK for a stretch, between normal exchanges on the same port, the listener-restart window."
	topo direct
	HANDCOUNT=1
	load() {
		serve $IP_S:8080 -backlog 4096 -accept=true -duration 1s
		local first=$SERVE_PID t_up=$EPOCHREALTIME
		clients_bg -addr $IP_S:8080 -n 25 -interval 100ms -send hello -send-delay 300ms -read -hold 3s -timeout 5s
		wait "$first" || true
		local t_down=$EPOCHREALTIME
		sleep 0.5
		serve $IP_S:8080 -backlog 4096 -accept=true
		local t_up2=$EPOCHREALTIME
		NOTES+=("Listener timeline (relative to the first listener being up, clients start right after): first listener exits at +$(awk -v a="$t_down" -v b="$t_up" 'BEGIN{printf "%.3f", a-b}') s, second one listening at +$(awk -v a="$t_up2" -v b="$t_up" 'BEGIN{printf "%.3f", a-b}') s.")
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

sc_reuseport_stuck() {
	DESC="Two SO_REUSEPORT listeners on the same port 8080 (\`serve -reuseport\`): one with listen(fd, 4096) that accepts, reads, answers \"ok\" and closes; one with listen(fd, 2) that never accepts (a stuck worker). 20 clients start 100 ms apart (each from a new ephemeral port), send \"hello\" and read the answer (3 s hold)."
	EXPECT="The kernel picks the listener by a hash of the 4-tuple (reuseport_select_sock, no BPF program), so each client's SYNs and retransmissions always go to the same socket. Clients hashed to the healthy socket complete. The first 3 hashed to the stuck one complete their handshakes and fill its accept queue (backlog+1 = 3; their \"hello\" is ACKed but never answered: they read \"\" until the hold expires); every later client hashed to it has all 6 SYNs dropped at the full accept queue (ListenOverflows + ListenDrops each) and fails with ETIMEDOUT after about 7 s, while the healthy socket on the same port keeps answering other clients. ss.txt shows two LISTEN rows for 10.88.0.2:8080: Recv-Q 3 / Send-Q 2 (stuck) and 0 / 4096. If k clients hash to the stuck socket (k > 3): (k - 3) x 6 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops, TcpPassiveOpens = 20 - (k - 3), no resets, no cookies (k for this run is in the notes). From packets alone: drops on a port that is answering other clients at the same time, with no per-source pattern."
	topo direct
	serve $IP_S:8080 -reuseport -backlog 4096 -accept=true
	serve $IP_S:8080 -reuseport -backlog 2 -accept=false
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 20 -interval 100ms -send hello -read -hold 3s -timeout 8s; }
	run_capture tcpdump load 1
	local queued timedout
	queued=$(grep -c 'hold expired' "$tmp/clients.log" || true)
	timedout=$(grep -c 'ETIMEDOUT' "$tmp/clients.log" || true)
	NOTES+=("This run: $((queued + timedout)) of 20 clients hashed to the stuck socket: $queued queued there (connected, \"hello\" ACKed, no answer until the hold expired) and $timedout timed out (all SYNs dropped); the other $((20 - queued - timedout)) were served by the accepting socket.")
}

sc_one_direction() {
	DESC="A capture of one direction only: tcpdump -Q in on the server's eth0 (what a capture filtered to 'dst port', or a one-way mirror or tap, holds: the clients' packets, none of the server's). Two listeners: $IP_S:8080 with listen(fd, 2) that never accept()s, and a healthy one on $IP_S:8081 that accepts, reads and answers \"ok\". 8 idle clients to 8080 (100 ms apart) connect and send nothing, holding 8 s; 8 talking clients to 8081 (100 ms apart, 50 ms behind the idle ones) send \"hello\" and read the answer."
	EXPECT="8080: the accept queue holds backlog+1 = 3: clients 0-2 complete their handshakes (their ACKs are in the capture; the SYN-ACKs are not), clients 3-7 have all 6 SYNs dropped at the full accept queue (5 x 6 = 30 SYN packets, each client's SYN sent again 1, 2, 4, ... s later) and fail with ETIMEDOUT. 8081: 8 established, each client's request and FIN in the capture, nothing of the server's. TcpExtListenOverflows = TcpExtListenDrops = 30 = the SYN packets the capture shows unanswered; TcpPassiveOpens 11; no cookies, no SYN-ACK retransmissions, no resets. From the capture alone a full queue, a firewall and SYN-ACKs lost on the way look the same: only the counters tell."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false
	serve $IP_S:8081 -backlog 4096
	# (No hand count: with no SYN-ACK in the capture it would take every
	# SYN for unanswered.)
	CAP_DIRECTION=in
	load() {
		clients_bg -label idle -addr $IP_S:8080 -n 8 -interval 100ms -hold 8s -timeout 8s
		sleep 0.05
		clients_bg -label talking -addr $IP_S:8081 -n 8 -interval 100ms -send hello -read -hold 2s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

sc_two_listeners_idle_and_talking() {
	DESC="Two listeners, ports 8080 and 8081, both listen(fd, 2) and never accept(). 8 \"idle\" clients to 8080 (100 ms apart) connect and send nothing; 8 \"talking\" clients to 8081 (100 ms apart, 50 ms behind the idle ones: the two series interleave) connect and send \"hello\". All hold 8 s and close."
	EXPECT="On each port the accept queue holds backlog+1 = 3: clients 0-2 complete their handshakes (the talking ones' \"hello\" is ACKed by the kernel: a queued connection is a full socket), clients 3-7 have all 6 SYNs dropped at the full accept queue and fail with ETIMEDOUT after about 7 s. Per port 5 x 6 = 30 unanswered SYNs; the counters are namespace-wide: TcpExtListenOverflows = TcpExtListenDrops = 30 + 30 = 60, TcpPassiveOpens 6, no ignored segments (no segment after a SYN-ACK meets a full queue: the handshakes completed before the queues filled), no resets, no cookies. Measured: exactly that. ss.txt shows both LISTEN rows at Recv-Q 3 > Send-Q 2."
	topo direct
	serve $IP_S:8080 -backlog 2 -accept=false
	serve $IP_S:8081 -backlog 2 -accept=false
	HANDCOUNT=1
	load() {
		clients_bg -label idle -addr $IP_S:8080 -n 8 -interval 100ms -hold 8s -timeout 8s
		sleep 0.05
		clients_bg -label talking -addr $IP_S:8081 -n 8 -interval 100ms -send hello -hold 8s -timeout 8s
		wait_clients_bg
	}
	run_capture tcpdump load 1
}

# synproxy_rules : netfilter's SYNPROXY in front of port 8080 in the server
# namespace, as the nftables wiki sets it up: client SYNs untracked in the
# raw hook, answered by the synproxy statement with a cookie SYN-ACK; the
# proxy checks the client's ACK, then sends the listener a SYN of its own
# (on lo, not on the captured eth0) and turns the listener's SYN-ACK into
# an ACK opening the client's window (the SYN-ACK offered a zero window).
synproxy_rules() {
	nsx $NS_S sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
	nsx $NS_S nft -f - <<EOF
table inet synqlab {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport 8080 tcp flags & (fin|syn|rst|ack) == syn notrack
	}
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 8080 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid drop
	}
}
EOF
	NOTES+=("nftables ruleset in $NS_S (net.netfilter.nf_conntrack_tcp_loose=0): \`$(nsx $NS_S nft -s list ruleset | tr -s ' \t\n' ' ')\`")
}

sc_synproxy_accept_overflow() {
	DESC="Accept-queue overflow behind netfilter's SYNPROXY (a DDoS protection: \`synproxy_rules\`, the nft synproxy statement on port 8080): listen(fd, 2), never accept(). 10 clients start 100 ms apart, connect, send \"hello\" as soon as they can, hold the connection 4 s and close."
	EXPECT="The proxy answers every SYN itself (a cookie SYN-ACK offering a zero window) and completes every client's handshake; only then does it send the listener a SYN of its own, on lo. Clients 0-2: the listener answers, the proxy opens the window (an ACK to the client right after its ACK), their data is ACKed, and they wait in the accept queue (backlog+1 = 3). Clients 3-9: the proxy's SYN meets the full accept queue and is dropped (TcpExtListenOverflows + TcpExtListenDrops, once each: the proxy never sends it again); the window stays shut, the client's zero-window probes go unanswered, and on the wire nothing but the proxy's SYN-ACK ever answers it. A client whose data overtakes the proxy's ACK to the listener (SYNPROXY's race) leaves the listener's handshake open: the listener's own SYN-ACK (a non-zero window) reaches the wire at +1 s and +3 s (TcpExtTCPSynRetrans), and each client segment after it meets the full queue (TcpExtListenOverflows + TcpExtListenDrops each). TcpExtListenOverflows = TcpExtListenDrops = the handshakes the proxy completed and never passed on (7 without the race) + the segments ignored after such a SYN-ACK; TcpPassiveOpens 3; no SYN unanswered on the wire, no syncookie counter (the proxy's cookies are netfilter's, not TCP's). The recording caught the race on client 0: 6 handshakes never passed on + 4 segments ignored = 10."
	topo direct
	synproxy_rules
	serve $IP_S:8080 -backlog 2 -accept=false
	load() { clients -addr $IP_S:8080 -n 10 -interval 100ms -send hello -hold 4s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_synproxy_slow_accept() {
	DESC="A slow application behind netfilter's SYNPROXY (\`synproxy_rules\`): listen(fd, 2), accept() one connection a second (\`labtool serve -accept-delay 1s\`; each accepted connection is read, answered with \"ok\" and closed). 12 clients start 100 ms apart, send \"hello\" as soon as they can and read the answer until EOF."
	EXPECT="As synproxy-accept-overflow while the queue is full: the proxy completes every client's handshake, and the SYN it then sends the listener is dropped whenever 3 connections wait for accept() (TcpExtListenOverflows + TcpExtListenDrops once per such handshake; the proxy does not retry, so those clients wait behind a shut window and time out); the handshakes passed on while there is room are served. TcpExtListenOverflows = TcpExtListenDrops = the handshakes never passed on; TcpPassiveOpens = the ones that were."
	topo direct
	synproxy_rules
	serve $IP_S:8080 -backlog 2 -accept=true -accept-delay 1s
	load() { clients -addr $IP_S:8080 -n 12 -interval 100ms -send hello -read -hold 10s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_synproxy_no_listener() {
	DESC="netfilter's SYNPROXY on port 8080 (\`synproxy_rules\`) and nothing listening there. 6 clients start 100 ms apart and connect."
	EXPECT="The proxy answers each SYN with its cookie SYN-ACK and the client completes the handshake; the proxy's SYN to the listener is answered by the kernel with a reset (TcpOutRsts + 1: no socket), which the proxy passes on to the client as RST+ACK right after its ACK. Every connect() succeeds and the first read or write fails with ECONNRESET. TcpOutRsts = 6; no listen counter moves; TcpPassiveOpens 0."
	topo direct
	synproxy_rules
	load() { clients -addr $IP_S:8080 -n 6 -interval 100ms -send hello -hold 2s -timeout 5s; }
	run_capture tcpdump load 1
}

# ---------------------------------------------------------------- forwarding node (NodePort)

IP_POD=10.88.1.2 # the pod (server) behind the node, on the node's second subnet
IP_NODE_POD=10.88.1.1
MAC_POD=02:88:00:00:01:02
MAC_NODE_POD=02:88:00:00:01:01

# nat_topo MASQ : client <-> node <-> pod, on two subnets; the node
# forwards and translates as kube-proxy does for a NodePort: TCP to
# $IP_S:30080 goes to $IP_POD:8080, :30081 to :8081 (DNAT in prerouting);
# with MASQ=1 it also masquerades what it sends to the pod, with random
# source ports (kube-proxy's MASQUERADE --random-fully). The capture is
# taken on the node, on every interface; nstat in the pod (and the node).
nat_topo() {
	TOPO=nat
	new_ns $NS_C
	new_ns $NS_R
	new_ns $NS_S
	ip -n $NS_C link add eth0 type veth peer name cli netns $NS_R
	ip -n $NS_S link add eth0 type veth peer name srv netns $NS_R
	setup_end $NS_C $MAC_C $IP_C $IP_S $MAC_S "" ""
	nsx $NS_R ip link set cli address $MAC_S
	nsx $NS_R ip link set srv address $MAC_NODE_POD
	nsx $NS_S ip link set eth0 address $MAC_POD
	local x
	for x in "$NS_R cli" "$NS_R srv" "$NS_S eth0"; do
		set -- $x
		quiet_if "$1" "$2"
		nsx "$1" ip link set "$2" up
	done
	nsx $NS_R ip addr add $IP_S/24 dev cli
	nsx $NS_R ip addr add $IP_NODE_POD/24 dev srv
	nsx $NS_R ip neigh replace $IP_C lladdr $MAC_C dev cli nud permanent
	nsx $NS_R ip neigh replace $IP_POD lladdr $MAC_POD dev srv nud permanent
	nsx $NS_S ip addr add $IP_POD/24 dev eth0
	nsx $NS_S ip neigh replace $IP_NODE_POD lladdr $MAC_NODE_POD dev eth0 nud permanent
	nsx $NS_S ip route add default via $IP_NODE_POD
	nsx $NS_R sysctl -qw net.ipv4.ip_forward=1
	nsx $NS_C sysctl -qw net.ipv4.tcp_syn_retries=2
	nsx $NS_S sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_syncookies=1 \
		net.ipv4.tcp_synack_retries=2 net.ipv4.tcp_abort_on_overflow=0
	local masq=""
	if [[ $1 == 1 ]]; then masq="ip daddr $IP_POD masquerade fully-random"; fi
	nsx $NS_R nft -f - <<EOF
table ip synqlab {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 30080 dnat to $IP_POD:8080
		tcp dport 30081 dnat to $IP_POD:8081
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		$masq
	}
}
EOF
	NOTES+=("nftables ruleset in $NS_R (the node): \`$(nsx $NS_R nft -s list ruleset | tr -s ' \t\n' ' ')\`")
	CAP_NS=$NS_R
	NODE_NSTAT=1
}

NODEPORT_EXPECT="On the pod: port 8080's accept queue holds backlog+1 = 3 connections; from the 4th client on every SYN (6 per client, retransmissions included) is dropped at the full queue (TcpExtListenOverflows = TcpExtListenDrops = unanswered SYNs); port 8081 completes every connection. In the capture (on the node, every interface) each connection appears twice, with the same client ISN and SYN options: to the node's $IP_S:30080/30081 on cli, and translated to the pod's $IP_POD:8080/8081 on srv microseconds later. synq must pair them: the node's ports are fronts (forwarded_to the pod's), the pod's ports carry the verdict and the only counts reconciled with the pod's counters (each drop once). The node's own TCP counters do not move for any of it (it only forwards): given them, synq must find they do not cover the capture."

sc_nodeport() {
	DESC="A Kubernetes NodePort without Kubernetes: clients in $NS_C connect to the node's address $IP_S, ports 30080 and 30081; the node ($NS_R) translates them (nftables DNAT, as kube-proxy does) to the pod ($NS_S) $IP_POD, ports 8080 and 8081, and forwards. Pod port 8080: listen(fd, 2), never accept(); 12 clients 100 ms apart connect, send \"hello\", hold 4 s. Pod port 8081: accepting listener; 5 clients 150 ms apart send \"hello\" and read the answer. Captured on the node with tcpdump -i any, as an SRE on a Kubernetes node does."
	EXPECT="$NODEPORT_EXPECT No masquerade: the pod sees the client's own address and port."
	nat_topo 0
	nodeport_mix -label stuck -n 12 -interval 100ms -send hello -hold 4s -timeout 8s
}

# nodeport_mix ARGS... : the nodeport scenarios' pod listeners (8080
# never accepts, 8081 does) and load: labtool connect ARGS to the node's
# 30080, 5 talking clients to its 30081; captured on the node.
nodeport_mix() {
	serve $IP_POD:8080 -backlog 2 -accept=false
	serve $IP_POD:8081 -backlog 4096 -accept=true
	STUCK_ARGS=("$@")
	load() {
		clients_bg -addr $IP_S:30080 "${STUCK_ARGS[@]}"
		clients_bg -label ok -addr $IP_S:30081 -n 5 -interval 150ms -send hello -read -hold 2s -timeout 8s
		wait_clients_bg
	}
	run_capture any load 1
}

sc_nodeport_masquerade() {
	DESC="The nodeport scenario with the node masquerading what it forwards (nftables \`masquerade fully-random\`, kube-proxy's MASQUERADE --random-fully, as for externalTrafficPolicy: Cluster): the pod sees every connection from the node's $IP_NODE_POD with a random source port. Pod port 8080: listen(fd, 2), never accept(); 10 IDLE clients 100 ms apart connect and send nothing, hold 6 s. Pod port 8081: accepting listener; 5 clients 150 ms apart send \"hello\" and read the answer. Captured on the node with tcpdump -i any."
	EXPECT="$NODEPORT_EXPECT Masqueraded: the two copies of a connection share only the client ISN and SYN options (timestamp included); the client's address and port differ."
	nat_topo 1
	nodeport_mix -label idle -n 10 -interval 100ms -hold 6s -timeout 8s
}

sc_nodeport_dropped_on_node() {
	DESC="The nodeport topology (the node $IP_S translates port 30080 to the pod's $IP_POD:8080 with nftables DNAT and forwards), with a rule on the node, ahead of the translation, that drops SYNs from the client's second address $IP_C2 (\`ip saddr $IP_C2 tcp dport 30080 tcp flags & (syn|ack) == syn drop\` in a prerouting chain at priority raw: as a full conntrack table or a stray rule does). Pod port 8080: an accepting listener. 8 clients alternate source addresses $IP_C and $IP_C2, 100 ms apart, send \"hello\" and read the answer. Captured on the node with tcpdump -i any."
	EXPECT="Clients from $IP_C connect through the node and are answered by the pod (each connection twice in the capture: to 30080 and, translated, to 8080). SYNs from $IP_C2 reach the node (the capture sees them on cli) and go no further: no translated copy, no answer; original + 5 retransmissions each, connect() fails with ETIMEDOUT. No TCP counter moves for them, in the pod or on the node. synq must say that SYNs to the node's port were dropped on the node before it forwarded them (filtered_before_tcp, before_forwarding), not call the pod's healthy listener the answer."
	nat_topo 0
	nsx $NS_C ip addr add $IP_C2/24 dev eth0
	nsx $NS_R ip neigh replace $IP_C2 lladdr $MAC_C dev cli nud permanent
	EXTRA_ADDR_NOTE=" and $IP_C2"
	nsx $NS_R nft -f - <<EOF
table ip synqlab_raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip saddr $IP_C2 tcp dport 30080 tcp flags & (syn|ack) == syn drop
	}
}
EOF
	NOTES+=("nftables ruleset in $NS_R (the node), after the drop rule: \`$(nsx $NS_R nft -s list ruleset | tr -s ' \t\n' ' ')\`")
	serve $IP_POD:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:30080 -n 8 -interval 100ms -bind $IP_C,$IP_C2 -send hello -read -hold 2s -timeout 8s; }
	run_capture any load 1
}

sc_nodeport_conntrack_full() {
	DESC="A Kubernetes node whose connection-tracking table is full: the nodeport topology (the node $IP_S translates port 30080 to the pod's $IP_POD:8080 with nftables DNAT, which needs a conntrack entry per connection, and forwards), the host's net.netfilter.nf_conntrack_max set to 4 (global; each namespace counts its own entries against it: the node's are the translated connections). Pod port 8080: an accepting listener that times idle connections out after 5 s. 10 idle clients start 100 ms apart, connect to the node's 30080, send nothing and hold 8 s. Captured on the node with tcpdump -i any."
	EXPECT="The first 4 connections take the node's table and are forwarded to the pod (each twice in the capture: to 30080 and, translated, to 8080; the pod's TcpPassiveOpens 4). Every later SYN is dropped by conntrack on the node, before the translation (original + 5 retransmissions 1 s apart): no translated copy, no answer, no counter in the pod. The node's /proc/net/stat/nf_conntrack (conntrack-stat-before.txt, conntrack-stat-after.txt) drop column = those SYN packets; sysctl-node.txt reads nf_conntrack_count 4 = nf_conntrack_max 4."
	nat_topo 0
	set_conntrack_max 4
	serve $IP_POD:8080 -backlog 4096 -accept=true
	load() { clients -addr $IP_S:30080 -n 10 -interval 100ms -hold 8s -timeout 8s; }
	conntrack_counted_run $NS_R any
}

sc_nodeport_capture_late() {
	DESC="accept-overflow-capture-late behind a node: the nodeport topology (the node $IP_S translates port 30080 to the pod's $IP_POD:8080 with nftables DNAT and forwards), the pod's 8080 listen(fd, 2), never accept(). BEFORE tcpdump (on the node, -i any) and nstat-before.txt start, 3 \"prefill\" clients connect through the node, send nothing and hold 14 s, filling the accept queue; 1 s later the capture starts. Inside it, 5 \"late\" clients start 100 ms apart and try to connect through the node (sending nothing)."
	EXPECT="Every SYN in the capture is dropped at the pod's full accept queue: 5 x 6 = 30 unanswered SYNs = TcpExtListenOverflows = TcpExtListenDrops in the pod; nothing from the server at all. Each SYN is in the capture twice (to 30080, then translated to 8080): with no SYN-ACK, only the client's ISN, timestamp and port pair them. synq must still count each attempt once, at the pod's listener (the node's port forwarded to it), and reconcile the pod's counters exactly."
	nat_topo 0
	serve $IP_POD:8080 -backlog 2 -accept=false
	preload() {
		clients_bg -label prefill -addr $IP_S:30080 -n 3 -interval 100ms -hold 14s -timeout 8s
		sleep 1
		NOTES+=("Before the capture: \`ss -lnt\` in $NS_S showed $(nsx $NS_S ss -Hlnt 'sport = :8080' | awk '{print "Recv-Q " $2 ", Send-Q " $3}') on the LISTEN row (the 3 prefill connections, never accepted).")
	}
	PRELOAD=preload
	load() { clients -label late -addr $IP_S:30080 -n 5 -interval 100ms -hold 8s -timeout 8s; }
	run_capture any load 1
	wait_clients_bg
}

sc_slow_http_server() {
	DESC="A real single-threaded HTTP server under load: Python's http.server.HTTPServer (one request at a time; listen(fd, 5), its request_queue_size), whose handler takes 200 ms per request (time.sleep) and answers \"HTTP/1.0 200 OK\" with a 3-byte body, then closes. 30 clients start 50 ms apart, send \"GET / HTTP/1.0\" right after connect() and read the answer until EOF."
	EXPECT="The server takes 5 requests a second while 20 arrive each second: the accept queue (backlog+1 = 6) fills within the first half second, and from then on every SYN that meets the full queue is dropped silently (TcpExtListenOverflows + TcpExtListenDrops, no SYN-ACK). Clients retransmit their SYNs (1 s apart); some get in as requests finish, the rest fail with ETIMEDOUT. Connections that wait in the queue have their request unanswered (but ACKed: a queued connection is a full socket) until the server reaches them. ListenOverflows = ListenDrops = unanswered SYN packets (+ any handshake ACK that met the full queue, then ignored with the SYN-ACK retransmitted); TcpPassiveOpens = clients that connected; no cookies, no resets."
	topo direct
	local code='
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("'$IP_S'", 8080), H).serve_forever()
'
	bg http $NS_S python3 -c "$code"
	LISTENERS+=("$IP_S:8080: python3 http.server.HTTPServer (single-threaded, listen(fd, 5)), 200 ms per request")
	local i
	for i in $(seq 250); do
		if (($(nsx $NS_S ss -Hltn "sport = :8080" | wc -l) > 0)); then break; fi
		sleep 0.02
	done
	HANDCOUNT=1
	load() { clients -addr $IP_S:8080 -n 30 -interval 50ms -send $'GET / HTTP/1.0\r\n\r\n' -read -hold 8s -timeout 8s; }
	run_capture tcpdump load 1
}

sc_snapshot_formats() {
	EXTRA_SNAPS=1
	sc_accept_overflow_idle
	DESC="The accept-overflow-idle set-up (listen(fd, 2), never accept(), 10 idle clients 100 ms apart, hold 8 s), with the server's counters saved in three formats at each snapshot moment: nstat-before.txt/nstat-after.txt (\`nstat -asz\`), nstat-a-before.txt/nstat-a-after.txt (\`nstat -as\`, no zero counters) and netstat-before.txt/netstat-after.txt (\`netstat -s\`). Set-up: ${DESC#Accept-queue overflow with idle clients: }"
	EXPECT="$EXPECT In nstat-a-*.txt a counter that is 0 is absent (TcpExtListenOverflows and TcpExtListenDrops are absent from nstat-a-before.txt: they were 0 there); in netstat-*.txt they are the lines \"N times the listen queue of a socket overflowed\" and \"N SYNs to LISTEN sockets dropped\" (absent while 0). All three formats give the same deltas."
}

# ---------------------------------------------------------------- main

scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
for s in "${scenarios[@]}"; do
	fn=sc_${s//-/_}
	if ! declare -F "$fn" >/dev/null; then
		echo "unknown scenario $s (known: ${ALL_SCENARIOS[*]})" >&2
		exit 2
	fi
done
for s in "${scenarios[@]}"; do
	log "scenario $s"
	begin
	SECONDS=0
	"sc_${s//-/_}"
	finish "$s"
	log "scenario $s done in ${SECONDS}s"
done
begin
log "all done"
