package analyze

import (
	"fmt"
	"testing"

	"github.com/synq/synq/internal/synth"
	"github.com/synq/synq/reassemble"
)

// track runs a synthetic script through the tracker and returns the
// attempts with their outcomes, judged against the script's last packet.
func track(t *testing.T, script string) ([]reassemble.Attempt, []Outcome) {
	t.Helper()
	pkts := synth.MustScript(script)
	var atts []reassemble.Attempt
	tr := reassemble.NewTracker(reassemble.Config{}, func(a *reassemble.Attempt) { atts = append(atts, *a) })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	end := pkts[len(pkts)-1].Time
	outs := make([]Outcome, len(atts))
	for i := range atts {
		outs[i] = Classify(&atts[i], end)
	}
	return atts, outs
}

// The scripts are synthetic: each states the packet sequence that the
// domain notes (shared/docs/listen-queues.md) give for one outcome. The
// real-kernel versions of these are the scenario tests in cmd/synq.
// proxyRace is a handshake past a SYN proxy whose client data overtook
// the proxy's ACK to the listener: the listener's own SYN-ACK (a real
// window) comes again on its timer, and the client answers and resends.
const proxyRace = `0 c S
	0.00003 s S. win=0
	0.00005 c .
	0.00008 s . win=502
	0.0001 c P. len=5
	0.00012 s . ack=1001 win=502
	1 s S.
	1.0001 c . ack=5001
	1.7 c P. len=5
	`

func TestClassify(t *testing.T) {
	tests := []struct {
		name          string
		script        string
		want          Outcome
		syns, dropped int
		synacks, retx int
		ignored       int
	}{
		{
			name: "established with data and close",
			script: `0 c S
				0.0001 s S.
				0.0002 c .
				0.0003 c P. len=10
				0.0004 s . ack=1011
				0.0005 c F. seq=1011
				0.0006 s F. ack=1012
				0.0007 c . seq=1012 ack=5002`,
			want: Established, syns: 1, synacks: 1,
		},
		{
			name: "established, silent server, capture goes on",
			script: `0 c S
				0 s S.
				0.001 c .
				9 c S from=10.0.0.9:1`,
			want: Established, syns: 1, synacks: 1,
		},
		{
			name: "SYN retransmitted then answered",
			script: `0 c S
				1 c S
				1.0001 s S.
				1.0002 c .
				1.0003 s P. len=5`,
			want: Established, syns: 2, dropped: 1, synacks: 1,
		},
		{
			name: "unanswered SYN with retransmissions",
			script: `0 c S
				1 c S
				2 c S
				4 c S
				20 c S from=10.0.0.9:1`,
			want: UnansweredSYN, syns: 4, dropped: 4,
		},
		{
			name: "single SYN at the end of the capture is incomplete",
			script: `0 c S from=10.0.0.9:1
				0.5 s S. from=10.0.0.9:1
				9 c S`,
			want: Incomplete, syns: 1, dropped: 1,
		},
		{
			name: "no listener",
			script: `0 c S
				0.0001 s R. seq=0 ack=1001
				10 c S from=10.0.0.9:1`,
			want: Rejected, syns: 1,
		},
		{
			name: "SYN-ACK never acknowledged",
			script: `0 c S
				0.001 s S.
				1.001 s S.
				3.001 s S.
				20 c S from=10.0.0.9:1`,
			want: SYNACKUnacked, syns: 1, synacks: 3, retx: 2,
		},
		{
			name: "accept queue full: ACK and data ignored, SYN-ACK retransmitted",
			script: `0 c S
				0.001 s S.
				0.05 c .
				0.05 c P. len=10
				0.3 c P. len=10
				1.001 s S.
				1.05 c .
				3.001 s S.
				3.05 c .
				20 c S from=10.0.0.9:1`,
			want: ACKIgnored, syns: 1, synacks: 3, retx: 2, ignored: 5,
		},
		{
			// testdata/slow-http-server: the client's request right
			// after its ACK; both meet the full accept queue, and the
			// request's retransmission (200 ms) is taken before the
			// SYN-ACK timer (1 s) fires. The kernel counts 2 overflows.
			name: "accept queue full: ACK and request dropped, the request's retransmission taken",
			script: `0 c S
				0.001 s S.
				0.002 c .
				0.002 c P. len=18
				0.21 c P. len=18
				0.2101 s .
				1.5 s P. len=111`,
			want: Established, syns: 1, synacks: 1, ignored: 2,
		},
		{
			name: "ignored, then the request expired and a data retransmission got a reset",
			script: `0 c S
				0.001 s S.
				0.05 c .
				0.05 c P. len=10
				1.001 s S.
				1.05 c .
				5 c P. len=10
				12 c P. len=10
				12.0001 s R. seq=5001 ack=0`,
			want: ACKIgnored, syns: 1, synacks: 2, retx: 1, ignored: 4,
		},
		{
			name: "abort_on_overflow: RST answers the handshake ACK",
			script: `0 c S
				0.001 s S.
				0.05 c .
				0.0501 s R seq=5001
				0.0502 c P. len=10
				0.0503 s R seq=5001`,
			want: ResetAfterACK, syns: 1, synacks: 1, ignored: 1,
		},
		{
			name: "client resets after SYN-ACK",
			script: `0 c S
				0.001 s S.
				0.002 c R seq=1001`,
			want: ClientReset, syns: 1, synacks: 1,
		},
		{
			// A capture of the clients' packets only: the reset shows the
			// SYN-ACK it answers.
			name: "client resets a SYN-ACK the capture missed",
			script: `0 c S
				0.002 c R seq=1001`,
			want: ClientReset, syns: 1,
		},
		{
			name: "client resets a SYN-ACK the capture missed, after talking",
			script: `0 c S
				0.002 c .
				0.003 c P. len=5
				0.004 c R seq=1006`,
			want: Established, syns: 1,
		},
		{
			name: "challenge ACK, never a SYN-ACK",
			script: `0 c S
				0.001 s . seq=777 ack=99
				0.002 c R seq=99
				20 c S from=10.0.0.9:1`,
			want: SYNAnsweredByACK, syns: 1,
		},
		{
			name: "challenge ACK, client resets and retries, then SYN-ACK",
			script: `0 c S
				0.001 s . seq=777 ack=99
				0.002 c R seq=99
				1 c S
				1.001 s S.
				1.002 c .
				1.003 s P. len=5`,
			want: Established, syns: 2, synacks: 1,
		},
		{
			name: "accepted after a late queue drain is established",
			script: `0 c S
				0.001 s S.
				0.05 c .
				1.001 s S.
				1.05 c .
				1.06 s P. len=5`,
			want: Established, syns: 1, synacks: 2, retx: 1, ignored: 1,
		},
		{
			name: "sequence numbers wrap inside the handshake",
			script: `0 c S seq=4294967295
				0.001 s S. seq=4294967290 ack=0
				0.002 c . seq=0 ack=4294967291
				0.003 c P. seq=0 ack=4294967291 len=10
				0.004 s . seq=4294967291 ack=10`,
			want: Established, syns: 1, synacks: 1,
		},
		// A SYN proxy (netfilter's SYNPROXY) answers with a zero
		// window and opens it once the listener has answered the SYN
		// it passes on, off this wire (testdata/synproxy-*).
		{
			name: "SYN proxy, the listener answered: window opened",
			script: `0 c S
				0.00003 s S. win=0
				0.00005 c .
				0.00008 s . win=502
				0.0002 c P. len=5
				0.0003 s . ack=1006`,
			want: Established, syns: 1, synacks: 1,
		},
		{
			name: "SYN proxy, the listener never answered",
			script: `0 c S
				0.00003 s S. win=0
				0.00005 c .
				0.2 c .
				0.6 c .
				9 c S from=10.0.0.9:1`,
			want: ProxiedUnanswered, syns: 1, synacks: 1,
		},
		{
			name: "SYN proxy, capture ends just after the client's ACK",
			script: `0 c S
				0.00003 s S. win=0
				0.00005 c .
				0.1 c S from=10.0.0.9:1`,
			want: Incomplete, syns: 1, synacks: 1,
		},
		{
			name: "SYN proxy, the listener refused: its reset passed on",
			script: `0 c S
				0.00003 s S. win=0
				0.00005 c .
				0.00007 s R. seq=5001 ack=1001 win=0
				9 c S from=10.0.0.9:1`,
			want: Rejected, syns: 1, synacks: 1,
		},
		{
			// The client's data overtook the proxy's ACK to the
			// listener: the listener's own SYN-ACK (a real window)
			// comes on its timer, and what follows it meets a full
			// accept queue.
			name: "SYN proxy race, the listener's SYN-ACK sent again, then ignored",
			script: proxyRace + `3 s S.
				3.0001 c . ack=5001
				3.5 c P. len=5
				9 c S from=10.0.0.9:1`,
			want: ACKIgnored, syns: 1, synacks: 3, retx: 2, ignored: 4,
		},
		{
			name:   "SYN proxy race, the listener's SYN-ACK sent again, then taken",
			script: proxyRace + `1.7001 s . ack=1006`,
			want:   Established, syns: 1, synacks: 2, retx: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			atts, outs := track(t, tt.script)
			var a *reassemble.Attempt
			var got Outcome
			for i := range atts {
				if atts[i].Client == synth.Client {
					a, got = &atts[i], outs[i]
				}
			}
			if a == nil {
				t.Fatalf("no attempt for %v among %d", synth.Client, len(atts))
			}
			if got != tt.want {
				t.Errorf("outcome = %v, want %v (attempt %+v)", got, tt.want, *a)
			}
			type counts struct{ SYNs, Dropped, SYNACKs, Retx, Ignored int }
			gotC := counts{a.SYNs, a.DroppedSYNs, a.SYNACKs, a.SYNACKRetransmits, a.IgnoredSegments}
			wantC := counts{tt.syns, tt.dropped, tt.synacks, tt.retx, tt.ignored}
			if gotC != wantC {
				t.Errorf("counts (-want +got):\n- %+v\n+ %+v", wantC, gotC)
			}
		})
	}
}

// signsOf runs a script through the tracker and the aggregator and
// returns the one listener's signs.
func signsOf(t *testing.T, script string) Signs {
	t.Helper()
	atts, _ := track(t, script)
	g := NewAggregator()
	g.CaptureEnd = atts[len(atts)-1].LastPacket
	for i := range atts {
		g.Add(&atts[i])
	}
	r := g.Result()
	if len(r.Listeners) != 1 {
		t.Fatalf("%d listeners, want 1", len(r.Listeners))
	}
	return r.Listeners[0].Signs
}

// TestRetransTimingTellsOverflowFromDefer: a bare ACK ignored, then the
// connection taken. With the SYN-ACK retransmitted on its 1-s timer it
// was an accept queue full for a while (the kernel counts the ACK in
// ListenOverflows); held back to 3 s it was TCP_DEFER_ACCEPT (counted in
// TCPDeferAcceptDrop). Synthetic: the timings of defer-accept and
// accept-overflow-ack-ignored in testdata.
func TestRetransTimingTellsOverflowFromDefer(t *testing.T) {
	for _, tc := range []struct {
		retransAt                       string // the SYN-ACK retransmission, seconds
		thenAccepted, deferred, onTimer int
	}{
		{"1.001", 1, 0, 1}, // the SYN-ACK's own 1-s timer: an overflow
		{"3.001", 0, 1, 0}, // held back to 3 s: TCP_DEFER_ACCEPT
	} {
		sg := signsOf(t, fmt.Sprintf(`
			0 c S
			0.001 s S.
			0.002 c .
			%[1]s s S.
			%[1]s2 c .
			%[1]s3 s P. len=10
			%[1]s4 c . ack=5011`, tc.retransAt))
		if sg.IgnoredThenAccepted != tc.thenAccepted || sg.DeferAccepted != tc.deferred || sg.RetransOnTimer != tc.onTimer ||
			sg.RetransHeldBack != 1-tc.onTimer {
			t.Errorf("retransmitted at %s s: IgnoredThenAccepted %d, DeferAccepted %d, RetransOnTimer %d, RetransHeldBack %d; want %d, %d, %d, %d",
				tc.retransAt, sg.IgnoredThenAccepted, sg.DeferAccepted, sg.RetransOnTimer, sg.RetransHeldBack,
				tc.thenAccepted, tc.deferred, tc.onTimer, 1-tc.onTimer)
		}
	}
}

// TestOldStateRemembersWhoClosed: a SYN answered by a bare ACK on a
// 4-tuple whose previous connection the server closed first met the
// server's TIME_WAIT (syn-answered-by-ack in testdata, synthetic here).
func TestOldStateRemembersWhoClosed(t *testing.T) {
	sg := signsOf(t, `
		0 c S
		0.001 s S.
		0.002 c .
		0.003 s F.
		0.004 c F. ack=5002
		0.005 s . seq=5002 ack=1002
		10 c S seq=90000
		10.001 s . seq=5002 ack=1002
		10.002 c R seq=1002`)
	if sg.OldStateServerClosed != 1 || sg.OldStateClientClosed != 0 {
		t.Errorf("OldStateServerClosed %d, OldStateClientClosed %d; want 1, 0", sg.OldStateServerClosed, sg.OldStateClientClosed)
	}
}
