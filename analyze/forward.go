package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
	"github.com/synq/synq/reassemble"
)

// Forward is one listener a front's connections went on to, and how many
// of its attempts were seen again there.
type Forward struct {
	To       netip.AddrPort
	Attempts int
}

// forwardTable finds the connections a capture holds twice because the
// capturing host forwarded them with destination NAT: a Kubernetes
// NodePort or Service (kube-proxy's iptables, nftables or IPVS rules), a
// DNAT rule, a load balancer in the kernel. `tcpdump -i any` on such a
// host sees the client's SYN arrive for the front (node:30080) and leave,
// translated, for the backend (pod:8080); judged apart, the front looked
// like a listener of its own, headlined with an `ss` check for a port
// nothing listens on, and every connection counted twice against the
// backend's kernel counters. NAT rewrites addresses and ports, never
// sequence numbers or options, so both copies carry the client's ISN and
// SYN options, and the backend's first SYN follows the front's by
// microseconds (or is one of its retransmissions).
//
// It is a direct-mapped cache keyed by the client ISN, as closerTable is
// by 4-tuple: the two copies of one connection have the same packets and
// timers, so they finish together and the first is still held when the
// second comes; memory is fixed whatever the capture. Copies are paired
// within an address family only: DNAT keeps the family (NAT64 does not,
// but it may rewrite the MSS too, and synq does not pair it). With one
// listener of a family there is nothing to pair, and only its last
// attempt is held: the family's table is made when a second listener of
// it appears. A dual-stack server's one port, an IPv4 and an IPv6
// listener, needs no table: the lookup, a cache miss per attempt in a
// table of 896 KB, was 3-4% of the CPU time on the generated captures.
type forwardTable struct {
	fams  [2]forwardFamily // IPv4, IPv6
	pairs map[forwardPair]int
	// unlike counts the pairs whose SYNs matched but whose servers
	// answered with different ISNs: two servers answering one SYN each,
	// not one connection forwarded (NAT leaves the SYN-ACK's sequence
	// number alone too). The same SYNs replayed to two ports do that.
	unlike map[forwardPair]int
	// copies counts, by (listener, the other's), the outcomes of the
	// listener's copies in pairs with the other, front or back.
	copies map[forwardPair]*OutcomeCounts
}

type forwardPair struct{ front, back int32 }

// forwardFamily is the pairing table of one address family.
type forwardFamily struct {
	slots     []forwardSlot
	last      forwardSlot // the last attempt, until there are slots
	listeners int
}

// familyOf is a's family's index in forwardTable.fams.
func familyOf(a netip.AddrPort) int {
	if a.Addr().Is4() {
		return 0
	}
	return 1
}

// listenerAdded counts a new listener of server's family.
func (t *forwardTable) listenerAdded(server netip.AddrPort) { t.fams[familyOf(server)].listeners++ }

type forwardSlot struct {
	firstSYN, lastSYN, firstSYNACK int64
	print                          reassemble.SYNPrint
	serverISN                      uint32
	listener                       int32 // listener id + 1; 0: empty
	client                         int32 // clientTable index + 1 of the attempt; 0: not counted there
	hasServerISN                   bool
	outcome                        Outcome
}

const forwardBits = 14

// forwardSlack is how long after the front copy's last SYN the backend
// copy's first may be captured: forwarding takes microseconds, but two
// hosts' captures merged differ by their clocks' offset.
const forwardSlack = int64(100 * time.Millisecond)

// add holds a (an attempt of listener id, counted in the client table at
// client, 0 if not, with outcome o) and, when a held attempt of another listener is the other copy of the
// same connection, counts the pair. It returns the client-table record
// and outcome of the pair's backend copy, which the client table counted
// twice (client 0: no pair). The backend copy's is the one to take back:
// behind a masquerading node its client is the node, the front's is the
// real one. (A pair the capture reordered gives back the front's, and a
// pair later found no forwarding, replayed SYNs, is taken back all the
// same: the worst-clients list may be off by those.)
func (t *forwardTable) add(a *reassemble.Attempt, id, client int32, o Outcome) (int32, Outcome) {
	if a.MidStream || a.SYNs == 0 {
		return 0, 0
	}
	cur := forwardSlot{firstSYN: a.FirstSYN, lastSYN: a.LastSYN, firstSYNACK: a.FirstSYNACK,
		print: a.SYNPrint(), serverISN: a.ServerISN, hasServerISN: a.HasServerISN,
		listener: id + 1, client: client, outcome: o}
	f := &t.fams[familyOf(a.Server)]
	if f.slots == nil {
		if f.listeners < 2 {
			f.last = cur
			return 0, 0
		}
		f.slots = make([]forwardSlot, 1<<forwardBits)
		if t.pairs == nil {
			t.pairs, t.unlike = make(map[forwardPair]int), make(map[forwardPair]int)
			t.copies = make(map[forwardPair]*OutcomeCounts)
		}
		if f.last.listener != 0 {
			f.slots[f.last.print.Slot(forwardBits)] = f.last
		}
	}
	s := &f.slots[cur.print.Slot(forwardBits)]
	held := *s
	*s = cur
	if held.listener == 0 || held.listener == cur.listener || !held.print.Same(cur.print) {
		return 0, 0
	}
	front, back := &held, &cur
	switch {
	case cur.firstSYN < held.firstSYN:
		front, back = &cur, &held
	case cur.firstSYN > held.firstSYN:
	// Captured in the same microsecond: the backend's SYN-ACK reaches
	// the capture first on its way back.
	case cur.firstSYNACK != 0 && held.firstSYNACK != 0 && cur.firstSYNACK > held.firstSYNACK:
		front, back = &cur, &held
	case cur.firstSYNACK != 0 && held.firstSYNACK != 0 && cur.firstSYNACK < held.firstSYNACK:
	default:
		return 0, 0
	}
	if back.firstSYN > front.lastSYN+forwardSlack {
		return 0, 0
	}
	p := forwardPair{front.listener - 1, back.listener - 1}
	if front.hasServerISN && back.hasServerISN && front.serverISN != back.serverISN {
		t.unlike[p]++
		return 0, 0
	}
	t.pairs[p]++
	t.copy(p, front.outcome)
	t.copy(forwardPair{p.back, p.front}, back.outcome)
	return back.client, back.outcome
}

func (t *forwardTable) copy(p forwardPair, o Outcome) {
	oc := t.copies[p]
	if oc == nil {
		oc = new(OutcomeCounts)
		t.copies[p] = oc
	}
	oc[o]++
}

// markFronts sets Forwards and NotForwarded on the listeners (by id)
// that are fronts. Of two listeners whose attempts paired, the front is
// the one whose copy came first in most pairs (a capture that reorders
// packets turns a few the other way). A listener is a front when such
// pairs are at least half its attempts or every one that got an answer (a
// listener answers for itself; a front's answers come from where it
// forwarded, so a front whose host dropped many SYNs before forwarding
// them is still one). A listener with a pair answered unlike is no front.
func (t *forwardTable) markFronts(ls []*Listener) {
	unlike := map[int32]int{}
	for p, n := range t.unlike {
		unlike[p.front] += n
		unlike[p.back] += n
	}
	seen := map[int32]int{}
	var fronts []forwardPair
	for p, n := range t.pairs {
		if back := t.pairs[forwardPair{p.back, p.front}]; n > back {
			seen[p.front] += n + back
			fronts = append(fronts, p)
		}
	}
	for _, p := range fronts {
		l := ls[p.front]
		answered := l.Attempts - l.Outcomes[UnansweredSYN] - l.Outcomes[Incomplete]
		if s := seen[p.front]; unlike[p.front] > 0 || s*2 < l.Attempts && s < answered {
			continue
		}
		l.Forwards = append(l.Forwards, Forward{To: ls[p.back].Server, Attempts: t.pairs[p] + t.pairs[forwardPair{p.back, p.front}]})
		l.NotForwarded = addOutcomes(l.NotForwarded, t.copies[p])
	}
	for _, l := range ls {
		if !l.Front() {
			continue
		}
		slices.SortFunc(l.Forwards, func(a, b Forward) int {
			return cmp.Or(cmp.Compare(b.Attempts, a.Attempts), a.To.Compare(b.To))
		})
		// NotForwarded held the forwarded ones' outcomes so far.
		for o := range l.NotForwarded {
			l.NotForwarded[o] = max(0, l.Outcomes[o]-l.NotForwarded[o])
		}
	}
}

func addOutcomes(a OutcomeCounts, b *OutcomeCounts) OutcomeCounts {
	for o := range a {
		a[o] += b[o]
	}
	return a
}

// forwardedDiagnosis is a front's: where its connections went, and what
// the capture did not see forwarded. Its attempts are judged at the
// backends.
func forwardedDiagnosis(l *Listener, h *host.Host) Diagnosis {
	seen := 0
	var to []string
	for _, fw := range l.Forwards {
		seen += fw.Attempts
		to = append(to, fw.To.String())
	}
	seen = min(seen, l.Attempts)
	f := Finding{Kind: KindForwarded, Confidence: High, Affected: seen,
		Summary: prose.Sayf("%s is not where the connections ended: this host translated and forwarded them to %s (a Kubernetes NodePort or Service, a DNAT rule, IPVS), so the capture holds each twice; they are judged there, and counted once.",
			l.Server, joinAnd(to)),
		Signs:  []Sign{},
		Remedy: []string{prose.Sayf("See the verdict of %s; its ss and nstat are those of the host or container it runs in (nsenter -t <its PID> -n nstat -az).", joinAnd(to))},
	}
	for _, fw := range l.Forwards {
		f.Evidence = append(f.Evidence, prose.Sayf("%d of its %d attempt{s} came again, translated, to %s: the same client SYN (sequence number and options) right after.", fw.Attempts, l.Attempts, fw.To))
	}
	if rest := l.Attempts - seen; rest > 0 {
		f.Confidence = Medium
		f.Evidence = append(f.Evidence, prose.Sayf("%d attempt{s} {was|were} not seen forwarded: dropped on this host before the translation (a full conntrack table: conntrack -S; a firewall rule), forwarded where the capture did not look, or too many at once to pair.", rest))
	}
	n := l.NotForwarded[UnansweredSYN]
	if n == 0 {
		return Diagnosis{Verdict: f, Findings: []Finding{f}, RuledOut: []Finding{}}
	}
	// SYNs that reached this host, were never answered and never went
	// on, while others to the same port did: dropped here, before or at
	// the translation. Nothing behind it counts them, so the backend's
	// verdict (healthy, maybe) says nothing about them.
	conf := Low
	if n >= 3 {
		conf = Medium
	}
	drop := Finding{Kind: KindFiltered, Mode: "before_forwarding", Confidence: conf, Affected: n, Signs: []Sign{},
		Summary: prose.Sayf("SYNs to %s reached this host and were dropped before it forwarded them to %s: a full conntrack table, a firewall rule ahead of the translation, or reverse-path filtering.", l.Server, joinAnd(to)),
		Evidence: []string{
			prose.Sayf("%d attempt{s} to %s got no answer and never went on to %s, while this host forwarded %d other{s} there (the capture sees where they go).", n, l.Server, joinAnd(to), seen),
			"No TCP counter counts these drops: nstat -az shows nothing for them, on this host or behind it (the SYNs never reached a socket); conntrack -S and the rules' drop counters decide it.",
		},
		Remedy: []string{
			"Check conntrack on this host: conntrack -S (insert_failed, drop, early_drop); sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max; dmesg | grep 'table full'.",
			"List the rules ahead of the translation: nft list ruleset; iptables -t raw -nvL; iptables -t mangle -nvL; iptables -nvL (their drop counters).",
			"Check reverse-path filtering: sysctl net.ipv4.conf.all.rp_filter.",
		}}
	// The translation needs a conntrack entry: a full table (the
	// forwarding host's sysctls) drops the SYN before it, the commonest
	// cause on a Kubernetes node.
	if ct, ok := conntrackFill(h); ok && ct.full() {
		drop.Mode = "conntrack_full"
		drop.Confidence = High
		if n < 3 {
			drop.Confidence = Medium
		}
		drop.Summary = prose.Sayf("SYNs to %s reached this host and were dropped by connection tracking before it forwarded them to %s: its table was full (%d of %d entries), and the translation needs an entry for every new connection.", l.Server, joinAnd(to), ct.count, ct.max)
		drop.Evidence = append(drop.Evidence, prose.Sayf("The connection-tracking table was full when the sysctls were read (net.netfilter.nf_conntrack_count %d, nf_conntrack_max %d).", ct.count, ct.max))
		drop.Remedy = append(ct.remedy(), "On Kubernetes, kube-proxy sets the limit from --conntrack-max-per-core and --conntrack-min (its conntrack settings in the kube-proxy configuration): raise those, or the node's sysctl is set back when kube-proxy restarts.")
	}
	return Diagnosis{Verdict: drop, Findings: []Finding{drop, f}, RuledOut: []Finding{}}
}

// forwardedFrom is the note a backend's findings get: which fronts its
// connections came through.
func forwardedFrom(fronts []netip.AddrPort) string {
	var s []string
	for _, f := range fronts {
		s = append(s, f.String())
	}
	return "Its connections came through " + joinAnd(s) + ", translated on this host (a NodePort, DNAT): the capture holds each twice and counts it once, here. It listens on another host or in a container: run ss and nstat there (nsenter -t <server PID> -n ss -lnt)."
}
