package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synq/synq/reassemble"
)

var (
	nodePort = netip.MustParseAddrPort("10.0.0.2:30080")
	podA     = netip.MustParseAddrPort("10.1.0.2:8080")
	podB     = netip.MustParseAddrPort("10.1.0.3:8080")
	nodeAddr = netip.MustParseAddr("10.1.0.1") // the node's address towards the pods
)

// copyTo is a's copy after destination NAT to server, seen after delay
// (and its SYN-ACK 5 µs before a's: it reaches the node first);
// masq also rewrites the client to the node's address and port.
func copyTo(a reassemble.Attempt, server netip.AddrPort, delay time.Duration, masq bool) reassemble.Attempt {
	b := a
	d := int64(delay)
	b.Server = server
	b.FirstSYN, b.LastSYN, b.SYNBeforeSYNACK, b.FirstPacket = a.FirstSYN+d, a.LastSYN+d, a.SYNBeforeSYNACK+d, a.FirstPacket+d
	if a.SYNACKs > 0 {
		back := int64(5 * time.Microsecond)
		b.FirstSYNACK, b.LastSYNACK = a.FirstSYNACK-back, a.LastSYNACK-back
	}
	if masq {
		b.Client = netip.AddrPortFrom(nodeAddr, a.Client.Port()^0x5a5a)
	}
	return b
}

// conn is connection i to the node port: established or unanswered, with
// a TCP timestamp or without, from one of three clients.
func conn(i int, ok, ts bool) reassemble.Attempt {
	var a reassemble.Attempt
	if ok {
		a = established(nthClient(i%3), 10+i)
		a.ServerISN, a.HasServerISN = uint32(i)*7919+3, true
		// a SYN-ACK after the backend copy's (copyTo moves it earlier)
		a.FirstSYNACK, a.LastSYNACK = a.FirstSYN+int64(time.Millisecond), a.FirstSYN+int64(time.Millisecond)
	} else {
		a = unanswered(nthClient(i%3), 10+i)
	}
	a.Client = netip.AddrPortFrom(a.Client.Addr(), uint16(40000+i))
	a.Server = nodePort
	a.ClientISN = uint32(i)*2654435761 + 17
	a.SYNOpts.HasTS, a.SYNOpts.TSval = ts, uint32(i)*1000+5
	return a
}

// TestForwardedConnectionsCountOnce: a capture on a host that forwards
// with DNAT holds every connection twice. The front is told from the
// backend whichever copy finishes first, with and without masquerade,
// answered or not, to one backend or two; its attempts are judged and
// counted at the backends, and each client once. SYNs that only look
// alike (one ISN from a tool without timestamps, the same SYNs replayed
// to two ports) make no front.
func TestForwardedConnectionsCountOnce(t *testing.T) {
	const n = 12
	tests := []struct {
		name       string
		ok, ts     bool
		masq       bool
		backends   int
		backFirst  bool          // the backend copy is added first
		delay      time.Duration // backend copy after the front's
		unlike     bool          // the backends answer with other ISNs than the front saw
		unlikeHalf bool          // half of them do, the other half show no answer's ISN
		reordered  int           // this many backend copies captured before their front's
		wantFronts bool
	}{
		{name: "DNAT, answered", ok: true, ts: true, backends: 1, delay: 20 * time.Microsecond, wantFronts: true},
		{name: "DNAT, backend copy first", ok: true, ts: true, backends: 1, backFirst: true, delay: 20 * time.Microsecond, wantFronts: true},
		{name: "DNAT, never answered", ts: true, backends: 1, delay: 20 * time.Microsecond, wantFronts: true},
		{name: "DNAT, no timestamps", ok: true, backends: 1, delay: 20 * time.Microsecond, wantFronts: true},
		{name: "masquerade, random ports", ok: true, ts: true, masq: true, backends: 1, delay: 30 * time.Microsecond, wantFronts: true},
		{name: "masquerade, never answered", ts: true, masq: true, backends: 1, delay: 30 * time.Microsecond, wantFronts: true},
		{name: "two endpoints", ok: true, ts: true, masq: true, backends: 2, delay: 30 * time.Microsecond, wantFronts: true},
		{name: "same microsecond, told by the SYN-ACKs", ok: true, ts: true, backends: 1, delay: 0, wantFronts: true},
		{name: "merged from two hosts, 50 ms apart", ok: true, ts: true, backends: 1, delay: 50 * time.Millisecond, wantFronts: true},
		{name: "one ISN without timestamps, other ports", ok: true, masq: true, backends: 1, delay: 30 * time.Microsecond},
		{name: "the same SYNs replayed to two ports", ok: true, ts: true, backends: 1, delay: 30 * time.Microsecond, unlike: true},
		{name: "replayed, half the answers unlike", ok: true, ts: true, backends: 1, delay: 30 * time.Microsecond, unlikeHalf: true},
		{name: "reordered, answered", ok: true, ts: true, backends: 1, delay: 20 * time.Microsecond, reordered: 3, wantFronts: true},
		{name: "reordered, never answered", ts: true, backends: 1, delay: 20 * time.Microsecond, reordered: 3, wantFronts: true},
		{name: "a second apart", ok: true, ts: true, backends: 1, delay: 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewAggregator()
			g.CaptureEnd = int64(100 * time.Second)
			want := map[netip.AddrPort]int{}
			clients := map[netip.Addr]int{}
			for i := range n {
				a := conn(i, tt.ok, tt.ts)
				back := podA
				if tt.backends == 2 && i%2 == 1 {
					back = podB
				}
				b := copyTo(a, back, tt.delay, tt.masq)
				if i < tt.reordered {
					b = copyTo(a, back, -tt.delay, tt.masq)
				}
				if tt.unlike || tt.unlikeHalf && i%2 == 1 {
					b.ServerISN++
				}
				if tt.unlikeHalf && i%2 == 0 {
					b.HasServerISN = false
				}
				want[back]++
				clients[a.Client.Addr()]++
				if tt.backFirst {
					g.Add(&b)
					g.Add(&a)
				} else {
					g.Add(&a)
					g.Add(&b)
				}
			}
			r := g.Result()
			Diagnose(&r, nil)
			var front *Listener
			for i := range r.Listeners {
				if r.Listeners[i].Server == nodePort {
					front = &r.Listeners[i]
				}
			}
			if front == nil {
				t.Fatal("no listener for the node port")
			}
			if !tt.wantFronts {
				if front.Forwards != nil || front.Diagnosis.Verdict.Kind == KindForwarded || r.Attempts != 2*n {
					t.Errorf("a front where none is: forwards %v, verdict %s, %d attempts (want %d)", front.Forwards, front.Diagnosis.Verdict.Kind, r.Attempts, 2*n)
				}
				return
			}
			var got []Forward
			for to, k := range want {
				got = append(got, Forward{To: to, Attempts: k})
			}
			slices.SortFunc(got, func(a, b Forward) int { return a.To.Compare(b.To) })
			fw := slices.Clone(front.Forwards)
			slices.SortFunc(fw, func(a, b Forward) int { return a.To.Compare(b.To) })
			if !slices.Equal(fw, got) {
				t.Errorf("forwards %v, want %v", front.Forwards, got)
			}
			if v := front.Diagnosis.Verdict; v.Kind != KindForwarded || v.Confidence != High {
				t.Errorf("front's verdict %s/%s, want forwarded/high", v.Kind, v.Confidence)
			}
			if front.NotForwarded != (OutcomeCounts{}) {
				t.Errorf("not forwarded: %v, want none", front.NotForwarded)
			}
			if r.Attempts != n || r.Totals.Failed() != front.Outcomes.Failed() {
				t.Errorf("result: %d attempts, %d failed; want %d, %d (each connection once)", r.Attempts, r.Totals.Failed(), n, front.Outcomes.Failed())
			}
			if r.VerdictListener == nodePort {
				t.Errorf("the verdict is the front's")
			}
			if last := r.Listeners[len(r.Listeners)-1]; last.Server != nodePort {
				t.Errorf("listed last: %s, want the front", last.Server)
			}
			for _, c := range r.WorstClients {
				if c.Attempts != clients[c.Addr] {
					t.Errorf("client %s: %d attempts, want %d (the real client, once)", c.Addr, c.Attempts, clients[c.Addr])
				}
			}
			if !tt.ok && len(r.WorstClients) != len(clients) {
				t.Errorf("worst clients %v, want the %d real ones", r.WorstClients, len(clients))
			}
		})
	}
}

// throughNode is n connections to the node port, the first forwarded of
// them (DNAT, to podA) and the first answered of them established, the
// rest unanswered, aggregated and diagnosed.
func throughNode(n, forwarded, answered int) Result {
	g := NewAggregator()
	g.CaptureEnd = int64(100 * time.Second)
	for i := range n {
		a := conn(i, i < answered, true)
		g.Add(&a)
		if i < forwarded {
			b := copyTo(a, podA, 20*time.Microsecond, false)
			g.Add(&b)
		}
	}
	r := g.Result()
	Diagnose(&r, nil)
	return r
}

// TestFrontWithAttemptsNotForwarded: attempts to a front that were never
// seen forwarded (dropped on the forwarding host, or forwarded where the
// capture did not look) are said, and the front is no longer sure.
func TestFrontWithAttemptsNotForwarded(t *testing.T) {
	r := throughNode(8, 6, 8)
	for _, l := range r.Listeners {
		if l.Server != nodePort {
			continue
		}
		v := l.Diagnosis.Verdict
		if v.Kind != KindForwarded || v.Confidence != Medium || !mentionsAll(v.Evidence, "6 of its 8 attempts", "2 attempts were not seen forwarded") {
			t.Errorf("front: %s/%s %q", v.Kind, v.Confidence, v.Evidence)
		}
		return
	}
	t.Fatal("no front")
}

// TestFrontThatDroppedSYNs: a forwarding host that dropped most SYNs to
// a port before forwarding them (a full conntrack table) still has the
// port as a front: every attempt that got an answer went on. Its dropped
// SYNs are its verdict, which leads over the healthy backend's, and the
// totals count them; two are too few to be sure.
func TestFrontThatDroppedSYNs(t *testing.T) {
	for _, dropped := range []int{7, 2} {
		r := throughNode(3+dropped, 3, 3)
		want := Medium
		if dropped < 3 {
			want = Low
		}
		v := r.Verdict
		if r.VerdictListener != nodePort || v.Kind != KindFiltered || v.Mode != "before_forwarding" || v.Confidence != want || v.Affected != dropped {
			t.Errorf("%d dropped: verdict on %s %s/%s/%s affecting %d, want on %s filtered_before_tcp/before_forwarding/%s affecting %d",
				dropped, r.VerdictListener, v.Kind, v.Mode, v.Confidence, v.Affected, nodePort, want, dropped)
		}
		if r.Attempts != 3+dropped || r.Totals[UnansweredSYN] != dropped || r.Totals[Established] != 3 {
			t.Errorf("%d dropped: totals %d attempts %v, want %d, %d unanswered, 3 established", dropped, r.Attempts, r.Totals, 3+dropped, dropped)
		}
	}
}

func mentionsAll(lines []string, words ...string) bool {
	for _, w := range words {
		found := false
		for _, l := range lines {
			if strings.Contains(l, w) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestForwardPairsWithinAFamily: copies are paired within an address
// family, so a dual-stack server's two listeners need no pairing table.
// A front's attempt held while the family had one listener is still
// paired when its backend copy comes after another family's attempt;
// the same SYN to an IPv4 and an IPv6 listener is not a pair.
func TestForwardPairsWithinAFamily(t *testing.T) {
	v6 := netip.MustParseAddrPort("[2001:db8::2]:8080")
	other := netip.MustParseAddrPort("[2001:db8::2]:443")
	for _, tt := range []struct {
		name      string
		back      netip.AddrPort
		wantPairs int
	}{
		{"DNAT within IPv4, another family's attempt between", podA, 1},
		{"the same SYN to an IPv6 listener", v6, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewAggregator()
			g.CaptureEnd = int64(100 * time.Second)
			a := conn(0, true, true)
			g.Add(&a)
			between := established(nthClient(1), 9)
			between.Server = other
			g.Add(&between)
			b := copyTo(a, tt.back, 20*time.Microsecond, false)
			g.Add(&b)
			r := g.Result()
			pairs := 0
			for _, l := range r.Listeners {
				for _, f := range l.Forwards {
					pairs += f.Attempts
				}
			}
			if pairs != tt.wantPairs {
				t.Errorf("%d pairs, want %d", pairs, tt.wantPairs)
			}
		})
	}
}
