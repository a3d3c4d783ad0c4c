package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

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
// second comes; memory is fixed whatever the capture. With one listener
// there is nothing to pair, and only the last attempt is held: the table
// is made when a second listener appears.
type forwardTable struct {
	slots []forwardSlot
	last  forwardSlot // the last attempt, until there are slots
	pairs map[forwardPair]int
	// unlike counts the pairs whose SYNs matched but whose servers
	// answered with different ISNs: two servers answering one SYN each,
	// not one connection forwarded (NAT leaves the SYN-ACK's sequence
	// number alone too). The same SYNs replayed to two ports do that.
	unlike map[forwardPair]int
}

type forwardPair struct{ front, back int32 }

type forwardSlot struct {
	firstSYN, lastSYN, firstSYNACK int64
	isn, tsval, serverISN          uint32
	listener                       int32 // listener id + 1; 0: empty
	client                         int32 // clientTable index + 1 of the attempt; 0: not counted there
	port                           uint16
	hasTS, hasServerISN            bool
	outcome                        Outcome
}

const forwardSlots = 1 << 14

// forwardSlack is how long after the front copy's last SYN the backend
// copy's first may be captured: forwarding takes microseconds, but two
// hosts' captures merged differ by their clocks' offset.
const forwardSlack = int64(100 * time.Millisecond)

// add holds a (an attempt of listener id, counted in the client table at
// client, 0 if not, with outcome o; listeners is how many there are) and, when a held attempt of another
// listener is the other copy of the same connection, counts the pair. It
// returns the client-table record and outcome of the pair's backend copy,
// which the client table counted twice (client 0: no pair). The backend
// copy's is the one to take back: behind a masquerading node its client
// is the node, the front's is the real one.
func (t *forwardTable) add(a *reassemble.Attempt, id, client int32, o Outcome, listeners int) (int32, Outcome) {
	if a.MidStream || a.SYNs == 0 {
		return 0, 0
	}
	cur := forwardSlot{firstSYN: a.FirstSYN, lastSYN: a.LastSYN, firstSYNACK: a.FirstSYNACK,
		isn: a.ClientISN, tsval: a.SYNOpts.TSval, hasTS: a.SYNOpts.HasTS, port: a.Client.Port(),
		serverISN: a.ServerISN, hasServerISN: a.HasServerISN,
		listener: id + 1, client: client, outcome: o}
	if t.slots == nil {
		if listeners < 2 {
			t.last = cur
			return 0, 0
		}
		t.slots = make([]forwardSlot, forwardSlots)
		t.pairs, t.unlike = make(map[forwardPair]int), make(map[forwardPair]int)
		if t.last.listener != 0 {
			t.slots[slotOf(t.last.isn)] = t.last
		}
	}
	s := &t.slots[slotOf(cur.isn)]
	held := *s
	*s = cur
	if held.listener == 0 || held.listener == cur.listener || !sameSYN(&held, &cur) {
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
	return back.client, back.outcome
}

func slotOf(isn uint32) uint32 { return (isn * 0x9E3779B1) >> (32 - 14) }

// sameSYN reports whether two attempts' first SYNs can be one SYN: the
// same ISN, and the same timestamp or the same client port (NAT keeps
// the port unless told to randomise it, as kube-proxy's masquerade
// does). A tool that sends every SYN with one ISN has other ports and
// no timestamps.
func sameSYN(x, y *forwardSlot) bool {
	if x.isn != y.isn {
		return false
	}
	if x.hasTS || y.hasTS {
		return x.hasTS && y.hasTS && x.tsval == y.tsval
	}
	return x.port == y.port
}

// fronts returns, by listener id, where the listeners whose attempts were
// mostly (at least half) seen again at other listeners forwarded them,
// most first; attempts gives each listener's attempts by id. A listener
// with a pair answered unlike is no front.
func (t *forwardTable) fronts(servers []netip.AddrPort, attempts []int) map[int32][]Forward {
	var out map[int32][]Forward
	seen, unlike := map[int32]int{}, map[int32]int{}
	for p, n := range t.pairs {
		seen[p.front] += n
	}
	for p, n := range t.unlike {
		unlike[p.front] += n
	}
	for p, n := range t.pairs {
		if f := p.front; seen[f]*2 >= attempts[f] && unlike[f] == 0 {
			if out == nil {
				out = map[int32][]Forward{}
			}
			out[f] = append(out[f], Forward{To: servers[p.back], Attempts: n})
		}
	}
	for _, fw := range out {
		slices.SortFunc(fw, func(a, b Forward) int {
			return cmp.Or(cmp.Compare(b.Attempts, a.Attempts), a.To.Compare(b.To))
		})
	}
	return out
}

// forwardedDiagnosis is a front's: where its connections went, and what
// the capture did not see forwarded. Its attempts are judged at the
// backends.
func forwardedDiagnosis(l *Listener) Diagnosis {
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
	return Diagnosis{Verdict: f, Findings: []Finding{f}, RuledOut: []Finding{}}
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
