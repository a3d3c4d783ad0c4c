package kernel

import (
	"net/netip"
	"testing"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/reassemble"
)

var (
	srv  = netip.MustParseAddrPort("10.0.0.2:8080")
	cli1 = netip.MustParseAddrPort("10.0.0.1:40001")
	cli2 = netip.MustParseAddrPort("10.0.0.1:40002")
)

func attempt(client netip.AddrPort, isn uint32, first, last int64) *reassemble.Attempt {
	a := &reassemble.Attempt{}
	a.Client, a.Server, a.ClientISN, a.FirstPacket, a.LastPacket = client, srv, isn, first, last
	a.ServerISN, a.HasServerISN = 5000, true
	return a
}

func in(client netip.AddrPort, seq uint32, t int64, reason string) Drop {
	return Drop{Time: t, Reason: reason, Src: client, Dst: srv, Seq: seq, Inbound: true}
}

// TestMatcherJoinsReportsToAttempts: reports join the attempt of their
// 4-tuple, span and sequence space; a reused port's later attempt takes
// only its own; what no attempt claims is unmatched.
func TestMatcherJoinsReportsToAttempts(t *testing.T) {
	const s = int64(1e9)
	m := NewMatcher()
	// Two ACKs of cli1's first attempt ignored at a full accept queue.
	m.Drop(in(cli1, 101, 10*s, analyze.ReasonListenOverflow))
	m.Drop(in(cli1, 101, 11*s, analyze.ReasonListenOverflow))
	// cli1 reuses its port 30 s later: a SYN dropped by a rule.
	m.Drop(in(cli1, 9000, 40*s, analyze.ReasonNetfilter))
	// The server's SYN-ACK to cli2 dropped on its way out.
	m.Drop(Drop{Time: 20 * s, Reason: "NEIGH_FAILED", Src: srv, Dst: cli2, Seq: 5000})
	// An ACK for a connection older than the capture.
	m.Drop(in(netip.MustParseAddrPort("10.0.0.9:1234"), 1, 5*s, "TCP_FLAGS"))

	m.Attempt(attempt(cli1, 100, 9*s, 12*s), analyze.ACKIgnored)
	m.Attempt(attempt(cli2, 700, 19*s, 21*s), analyze.UnansweredSYN)
	m.Attempt(attempt(cli1, 9000, 40*s, 47*s), analyze.UnansweredSYN)
	m.Finish()

	k := m.For(srv)
	// The outbound drop counts under its own name: a SYN-ACK dropped on
	// the way out proves the opposite of a SYN dropped on the way in.
	wantReasons := []analyze.ReasonCount{{Reason: analyze.ReasonListenOverflow, Packets: 2}, {Reason: "NEIGH_FAILED (outbound)", Packets: 1}, {Reason: analyze.ReasonNetfilter, Packets: 1}, {Reason: "TCP_FLAGS", Packets: 1}}
	if len(k.Reasons) != len(wantReasons) {
		t.Fatalf("reasons %v, want %v", k.Reasons, wantReasons)
	}
	for i := range wantReasons {
		if k.Reasons[i] != wantReasons[i] {
			t.Errorf("reason %d: %v, want %v", i, k.Reasons[i], wantReasons[i])
		}
	}
	if k.Attempts != 3 || k.Unmatched != 1 {
		t.Errorf("attempts %d unmatched %d, want 3 and 1", k.Attempts, k.Unmatched)
	}
	want := map[analyze.OutcomeReason]bool{
		{Outcome: analyze.ACKIgnored, Reason: analyze.ReasonListenOverflow, Packets: 2, Attempts: 1}: true,
		{Outcome: analyze.UnansweredSYN, Reason: analyze.ReasonNetfilter, Packets: 1, Attempts: 1}:   true,
		{Outcome: analyze.UnansweredSYN, Reason: "NEIGH_FAILED (outbound)", Packets: 1, Attempts: 1}: true,
	}
	for _, o := range k.ByOutcome {
		if !want[o] {
			t.Errorf("unexpected %+v", o)
		}
		delete(want, o)
	}
	for o := range want {
		t.Errorf("missing %+v", o)
	}
	if m.nPending != 0 || len(m.pending) != 0 {
		t.Errorf("%d reports still pending after Finish", m.nPending)
	}
}

// TestMatcherIsBounded: past maxPending, reports count unmatched at once.
func TestMatcherIsBounded(t *testing.T) {
	m := NewMatcher()
	for i := range maxPending + 10 {
		m.Drop(in(netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(i)), 1, int64(i), "NO_SOCKET"))
	}
	if m.nPending != maxPending {
		t.Fatalf("%d pending, want %d", m.nPending, maxPending)
	}
	if k := m.For(srv); k.Unmatched != 10 || k.Reasons[0].Packets != maxPending+10 {
		t.Errorf("unmatched %d, reasons %v", k.Unmatched, k.Reasons)
	}
}
