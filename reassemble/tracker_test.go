package reassemble

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/synth"
)

func run(t *testing.T, cfg Config, script string) ([]Attempt, *Tracker) {
	t.Helper()
	pkts := synth.MustScript(script)
	var out []Attempt
	tr := NewTracker(cfg, func(a *Attempt) { out = append(out, *a) })
	tr.parkAbove = 0 // small scripts: park as a busy server would
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	return out, tr
}

func TestPortReuseStartsANewAttempt(t *testing.T) {
	atts, _ := run(t, Config{}, `
		0 c S
		0.001 s S.
		0.002 c .
		0.003 c F.
		0.004 s F. ack=1002
		0.005 c . seq=1002 ack=5002
		0.5 c S seq=90000
		0.501 s S. seq=70000 ack=90001
		0.502 c . seq=90001 ack=70001`)
	if len(atts) != 2 {
		t.Fatalf("got %d attempts, want 2: %+v", len(atts), atts)
	}
	isns := map[uint32]bool{atts[0].ClientISN: true, atts[1].ClientISN: true}
	if !isns[1000] || !isns[90000] {
		t.Errorf("client ISNs = %v, want 1000 and 90000", isns)
	}
	for _, a := range atts {
		if a.ClientISN == 1000 && a.End != EndReused {
			t.Errorf("first attempt ended %v, want reused", a.End)
		}
	}
}

func TestSameISNIsARetransmission(t *testing.T) {
	atts, _ := run(t, Config{}, `
		0 c S
		1 c S
		2 c S`)
	if len(atts) != 1 || atts[0].SYNs != 3 {
		t.Fatalf("got %+v, want one attempt with 3 SYNs", atts)
	}
}

func TestSYNACKRetransmissionBySeverISN(t *testing.T) {
	atts, _ := run(t, Config{}, `
		0 c S
		0.001 s S.
		1 s S.
		1.5 s S. seq=6000
		2 s S. seq=6000`)
	a := atts[0]
	if a.SYNACKs != 4 || a.SYNACKRetransmits != 2 || a.ServerISN != 6000 {
		t.Errorf("SYN-ACKs %d, retransmits %d, server ISN %d; want 4, 2, 6000", a.SYNACKs, a.SYNACKRetransmits, a.ServerISN)
	}
}

func TestMidStreamIsCountedApart(t *testing.T) {
	atts, tr := run(t, Config{}, `
		0 c P. len=100
		0.001 s . ack=1101
		0.002 s P. len=50`)
	if len(atts) != 1 || !atts[0].MidStream {
		t.Fatalf("got %+v, want one mid-stream record", atts)
	}
	if atts[0].Server != synth.Server {
		t.Errorf("server guessed %v, want %v (lower port)", atts[0].Server, synth.Server)
	}
	if tr.Stats().MidStream != 1 {
		t.Errorf("stats mid-stream %d, want 1", tr.Stats().MidStream)
	}
}

func TestMidStreamSYNACKSenderIsServer(t *testing.T) {
	// A capture that starts after the SYN: the SYN-ACK's sender is the
	// server even though its port is the higher one.
	atts, _ := run(t, Config{}, `0 s S. from=10.0.0.1:1`)
	if len(atts) != 1 || atts[0].Server != synth.Server {
		t.Fatalf("got %+v, want server %v", atts, synth.Server)
	}
}

func TestPortFilter(t *testing.T) {
	script := `
		0 c S
		0.001 s S.
		0.1 c S from=10.0.0.7:5555`
	atts, tr := run(t, Config{Ports: []uint16{443}}, script)
	if len(atts) != 0 || tr.Stats().SkippedPackets != 3 {
		t.Errorf("port 443: %d attempts, %d skipped; want 0 and 3", len(atts), tr.Stats().SkippedPackets)
	}
	atts, _ = run(t, Config{Ports: []uint16{80}}, script)
	if len(atts) != 2 {
		t.Errorf("port 80: %d attempts, want 2", len(atts))
	}
}

func TestServerFlagSkipsOutboundAndOthers(t *testing.T) {
	// The SYN goes from the --server address outwards: an outbound
	// connection, not an attempt on a listener.
	atts, tr := run(t, Config{Server: netip.MustParseAddr("10.0.0.1")}, `
		0 c S
		0.001 s S.`)
	if len(atts) != 0 || tr.Stats().SkippedPackets != 2 {
		t.Errorf("got %d attempts, %d skipped; want 0 and 2", len(atts), tr.Stats().SkippedPackets)
	}
	atts, _ = run(t, Config{Server: netip.MustParseAddr("10.0.0.2"), ServerPort: 80}, `
		0 c P. len=10
		0.1 s P. len=10`)
	if len(atts) != 1 || atts[0].Server != synth.Server || atts[0].Client != synth.Client {
		t.Errorf("got %+v, want one mid-stream attempt with server %v", atts, synth.Server)
	}
}

func TestClosedAttemptsLeaveDuringTheCapture(t *testing.T) {
	// Memory must follow attempts in flight: a closed attempt is emitted
	// once its linger has passed, before the capture ends.
	pkts := synth.MustScript(`
		0 c S
		0.001 s R. seq=0 ack=1001
		30 c S from=10.0.0.9:1`)
	var emitted int
	tr := NewTracker(Config{}, func(*Attempt) { emitted++ })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	if emitted != 1 {
		t.Errorf("before Flush: %d attempts emitted, want 1", emitted)
	}
	tr.Flush()
	if emitted != 2 || tr.Stats().PeakInFlight != 1 {
		t.Errorf("after Flush: %d emitted, peak in flight %d; want 2 and 1", emitted, tr.Stats().PeakInFlight)
	}
}

// TestClosedAttemptsLeaveOnTime pins when a closed attempt goes: as soon
// as a packet shows its linger (3 s) has passed, not at the next periodic
// sweep (every 5 s of capture time), so that a busy server's closed
// connections do not pile up in memory.
func TestClosedAttemptsLeaveOnTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   int // attempts emitted before Flush
	}{
		{"before the linger", `
			0 c S
			0.001 s R. seq=0 ack=1001
			3.0005 c S from=10.0.0.9:1`, 0},
		{"right after the linger", `
			0 c S
			0.001 s R. seq=0 ack=1001
			3.002 c S from=10.0.0.9:1`, 1},
		{"closed by FIN both ways", `
			0 c S
			0.001 s S.
			0.002 c .
			0.003 c F.
			0.004 s F. ack=1002
			0.005 c . seq=1002 ack=5002
			3.0041 c S from=10.0.0.9:1`, 1},
		{"reopened by a retransmitted SYN", `
			0 c S
			0.001 s R. seq=0 ack=1001
			1 c S
			3.002 c S from=10.0.0.9:1`, 0},
		{"reopened and closed again, before the second linger", `
			0 c S
			0.001 s R. seq=0 ack=1001
			1 c S
			1.001 s R. seq=0 ack=1001
			3.5 c S from=10.0.0.9:1`, 0},
		{"reopened and closed again, after the second linger", `
			0 c S
			0.001 s R. seq=0 ack=1001
			1 c S
			1.001 s R. seq=0 ack=1001
			3.5 c S from=10.0.0.9:1
			4.002 c S from=10.0.0.9:2`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := synth.MustScript(tc.script)
			var emitted []Attempt
			tr := NewTracker(Config{}, func(a *Attempt) { emitted = append(emitted, *a) })
			for i := range pkts {
				tr.Add(&pkts[i])
			}
			if len(emitted) != tc.want {
				t.Fatalf("%d attempts emitted before the end, want %d: %+v", len(emitted), tc.want, emitted)
			}
			for _, a := range emitted {
				if a.End != EndClosed || a.Client.Port() == 1 || a.Client.Port() == 2 {
					t.Errorf("emitted %v ended %v, want the first attempt, closed", a.Client, a.End)
				}
			}
		})
	}
}

func TestIdleAttemptsLeave(t *testing.T) {
	pkts := synth.MustScript(`
		0 c S
		200 c S from=10.0.0.9:1`)
	var ends []EndReason
	tr := NewTracker(Config{}, func(a *Attempt) { ends = append(ends, a.End) })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	if len(ends) != 1 || ends[0] != EndIdle {
		t.Errorf("ends = %v, want [idle]", ends)
	}
}

func TestFactsForInference(t *testing.T) {
	atts, _ := run(t, Config{}, `
		0 c S ts=100/0
		0.001 s S. ts=5000/100
		0.05 c . ts=150/5000
		0.05 c P. len=10 ts=150/5000
		1.001 s S. ts=6000/150
		1.05 c . ts=1150/6000
		1.1 s . ack=1011 ts=6100/1150
		1.2 s P. len=7 ts=6200/1150`)
	a := atts[0]
	if a.IgnoredSegments != 2 || a.IgnoredDataSegments != 1 {
		t.Errorf("ignored %d (data %d), want 2 (1)", a.IgnoredSegments, a.IgnoredDataSegments)
	}
	if !a.HasServerTSAfter || a.ServerTSAfter != 6100 {
		t.Errorf("server TS after SYN-ACK = %d (%v), want 6100", a.ServerTSAfter, a.HasServerTSAfter)
	}
	if !a.HasServed || a.Served != synth.Base+int64(1.2e9) {
		t.Errorf("served at %d (%v), want t=1.2s", a.Served-synth.Base, a.HasServed)
	}
	if !a.HasClientTS || a.LastClientTSval != 1150 {
		t.Errorf("last client TSval %d, want 1150", a.LastClientTSval)
	}
	if a.SYNBeforeSYNACK != synth.Base {
		t.Errorf("SYN before SYN-ACK at %d, want t=0", a.SYNBeforeSYNACK-synth.Base)
	}
}

// TestMaxAttemptsBoundsAFlood: a generated spoofed SYN flood (synthetic:
// 20,000 sources, one SYN each, every one answered by a SYN-ACK that is
// never acknowledged) stays under the attempt limit, and every attempt is
// still emitted exactly once.
func TestMaxAttemptsBoundsAFlood(t *testing.T) {
	const sources, limit = 20000, 1000
	server := netip.MustParseAddrPort("10.0.0.2:80")
	emitted, evicted := 0, 0
	tr := NewTracker(Config{MaxAttempts: limit}, func(a *Attempt) {
		emitted++
		if a.End == EndEvicted {
			evicted++
		}
	})
	for i := 0; i < sources; i++ {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 1024+uint16(i%50000))
		now := synth.Base + int64(i)*int64(50*time.Microsecond)
		syn := capture.Packet{Time: now, Src: client, Dst: server, Flags: capture.FlagSYN, Seq: uint32(i)}
		synack := capture.Packet{Time: now + 1000, Src: server, Dst: client, Flags: capture.FlagSYN | capture.FlagACK, Seq: 7, Ack: uint32(i) + 1}
		tr.Add(&syn)
		tr.Add(&synack)
	}
	tr.Flush()
	st := tr.Stats()
	if st.PeakInFlight > limit {
		t.Errorf("peak %d attempts in flight, limit %d", st.PeakInFlight, limit)
	}
	if emitted != sources || st.Evicted != evicted || evicted < sources-limit-limit/10 {
		t.Errorf("emitted %d (want %d), evicted %d (stats %d), want about %d evicted", emitted, sources, evicted, st.Evicted, sources-limit)
	}
}

func TestInFlightDoesNotFinish(t *testing.T) {
	pkts := synth.MustScript(`
		0 c S
		1 c S`)
	var emitted int
	tr := NewTracker(Config{}, func(*Attempt) { emitted++ })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	var seen []Attempt
	tr.InFlight(func(a *Attempt) { seen = append(seen, *a) })
	if emitted != 0 || len(seen) != 1 || seen[0].DroppedSYNs != 2 || seen[0].End != EndCaptureEnd {
		t.Fatalf("emitted %d, in flight %+v; want none emitted and one attempt with 2 dropped SYNs", emitted, seen)
	}
	tr.Flush()
	if emitted != 1 {
		t.Errorf("after Flush: %d emitted, want 1 (InFlight must leave the attempt in place)", emitted)
	}
}

// TestInFlightUnsettled: InFlight books a last SYN nothing answered yet
// as dropped and pending client segments as ignored; InFlightUnsettled
// says which, so that a live capture can wait for the server's answer.
func TestInFlightUnsettled(t *testing.T) {
	tests := []struct {
		name         string
		script       string
		dropped      int
		ignored      int
		want         Unsettled
		segmentsTime float64 // seconds into the script, when want.Segments > 0
	}{
		{"retransmitted SYN, last one pending", `
			0 c S
			1 c S`, 2, 0, Unsettled{SYN: true}, 0},
		{"SYN answered", `
			0 c S
			0.001 s S.`, 0, 0, Unsettled{}, 0},
		{"ACK after a SYN-ACK retransmission, not answered yet", `
			0 c S
			0.001 s S.
			0.002 c .
			1.002 s S.
			1.003 c .`, 0, 2, Unsettled{Segments: 1}, 1.003},
		{"data never acknowledged", `
			0 c S
			0.001 s S.
			0.002 c .
			0.003 c P. len=10`, 0, 2, Unsettled{Segments: 2, Data: 1}, 0.003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkts := synth.MustScript(tc.script)
			tr := NewTracker(Config{}, nil)
			for i := range pkts {
				tr.Add(&pkts[i])
			}
			n := 0
			tr.InFlightUnsettled(func(a *Attempt, u Unsettled) {
				n++
				want := tc.want
				if want.Segments > 0 {
					want.SegmentsTime = synth.Base + int64(math.Round(tc.segmentsTime*float64(time.Second)))
				}
				if a.DroppedSYNs != tc.dropped || a.IgnoredSegments != tc.ignored || u != want {
					t.Errorf("dropped %d, ignored %d, unsettled %+v; want %d, %d, %+v", a.DroppedSYNs, a.IgnoredSegments, u, tc.dropped, tc.ignored, want)
				}
				// Judged 0.1 s after its last packet, an attempt's
				// unanswered segments are not ignored yet, unless a
				// SYN-ACK retransmission followed the ACK; 2 s after, they
				// are.
				soon, late := u.Waiting(a, a.LastPacket+int64(100*time.Millisecond)), u.Waiting(a, a.LastPacket+int64(2*time.Second))
				wantSoon, wantSoonData := tc.ignored, a.IgnoredDataSegments
				if a.SYNACKRetransAfterACK == 0 {
					wantSoon, wantSoonData = wantSoon-want.Segments, wantSoonData-want.Data
				}
				if soon.IgnoredSegments != wantSoon || soon.IgnoredDataSegments != wantSoonData || late.IgnoredSegments != tc.ignored {
					t.Errorf("waiting: %d (%d with data) ignored 0.1 s on, %d 2 s on; want %d, %d", soon.IgnoredSegments, soon.IgnoredDataSegments, late.IgnoredSegments, wantSoon, tc.ignored)
				}
			})
			if n != 1 {
				t.Fatalf("%d attempts in flight, want 1", n)
			}
		})
	}
}

// TestTunnelsSeparateFlows: the same inner 4-tuple in two VXLAN segments
// is two connections (synthetic packets); a GRE tunnel whose outer
// addresses swap with the direction, and whose key differs per direction,
// stays one connection, and so does one seen tunnelled one way and plain
// the other.
func TestTunnelsSeparateFlows(t *testing.T) {
	vtep1, vtep2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	vx := func(vni uint32) capture.Tunnel {
		return capture.Tunnel{Kind: capture.TunnelVXLAN, Depth: 1, Kinds: 1 << capture.TunnelVXLAN,
			ID: vni, HasID: true, Src: vtep1, Dst: vtep2}
	}
	gre := func(fromClient bool) capture.Tunnel {
		tun := capture.Tunnel{Kind: capture.TunnelGRE, Depth: 1, Kinds: 1 << capture.TunnelGRE,
			ID: 7, HasID: true, Src: vtep1, Dst: vtep2}
		if !fromClient {
			tun.Src, tun.Dst, tun.ID = vtep2, vtep1, 8
		}
		return tun
	}
	tests := []struct {
		name         string
		tunnels      []capture.Tunnel // per packet of the script, in order
		wantAttempts int
	}{
		{"one VNI", []capture.Tunnel{vx(42), vx(42), vx(42), vx(42), vx(42), vx(42)}, 1},
		{"two VNIs", []capture.Tunnel{vx(42), vx(43), vx(42), vx(43), vx(42), vx(43)}, 2},
		// tcpdump -i any on a VXLAN host: the copy kept differs by direction.
		{"tunnelled one way only", []capture.Tunnel{vx(42), vx(42), {}, {}, vx(42), vx(42)}, 1},
		{"untunnelled first", []capture.Tunnel{{}, {}, vx(42), vx(42), {}, {}}, 1},
		{"GRE both ways", []capture.Tunnel{gre(true), gre(true), gre(false), gre(false), gre(true), gre(true)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each SYN sent twice, so that with two tunnels each has its
			// own complete handshake with the same ISNs.
			pkts := synth.MustScript(`
				0 c S
				0 c S
				0.001 s S.
				0.001 s S.
				0.002 c .
				0.002 c .`)
			var out []Attempt
			tr := NewTracker(Config{}, func(a *Attempt) { out = append(out, *a) })
			for i := range pkts {
				pkts[i].Tunnel = tc.tunnels[i]
				tr.Add(&pkts[i])
			}
			tr.Flush()
			if len(out) != tc.wantAttempts {
				t.Fatalf("got %d attempts, want %d: %+v", len(out), tc.wantAttempts, out)
			}
			for _, a := range out {
				if a.SYNACKs*tc.wantAttempts != 2 || !a.ClientAcked {
					t.Errorf("attempt in %v: %d SYN-ACKs, client acked %v", a.Tunnel, a.SYNACKs, a.ClientAcked)
				}
			}
			seen := map[uint64]bool{}
			for _, a := range out {
				seen[a.Tunnel.Key()] = true
			}
			if len(seen) != tc.wantAttempts {
				t.Errorf("attempts carry %d distinct tunnels, want %d", len(seen), tc.wantAttempts)
			}
		})
	}
}

func TestClosingQueue(t *testing.T) {
	var q closingQueue
	for i := range int32(100) {
		q.push(i, int64(i))
	}
	q.moved(99, 1099, 99) // the last: changed in place
	q.moved(40, 1040, 40) // 60 back: in place
	q.moved(20, 1020, 20) // 80 back: a second entry
	q.moved(7, 1007, 8)   // no such closing: a second entry
	if len(q.q) != 102 || q.q[99].ref != 1099 || q.q[40].ref != 1040 || q.q[20].ref != 20 ||
		q.q[100] != (closed{1020, 20}) || q.q[101] != (closed{1007, 8}) {
		t.Fatalf("after moved: %d entries, %v %v %v, tail %v", len(q.q), q.q[99], q.q[40], q.q[20], q.q[100:])
	}
	// The fronts: park runs ahead, finish catches up; a finish past the
	// park front (a linger shorter than parkAfter) drags it along.
	for range 10 {
		q.parked()
	}
	for range 12 {
		q.finished()
	}
	if c := q.toPark(); c == nil || c.ref != 12 {
		t.Fatalf("next to park %v, want ref 12", c)
	}
	if c := q.toFinish(); c == nil || c.ref != 12 {
		t.Fatalf("next to finish %v, want ref 12", c)
	}
	// Pushing once half is consumed moves the rest to the front.
	for range 50 {
		q.finished()
	}
	q.push(500, 500)
	if q.head != 0 || q.park != 0 || len(q.q) != 41 || q.toFinish().ref != 62 || q.q[40].ref != 500 {
		t.Fatalf("after compaction: head %d park %d len %d first %v last %v", q.head, q.park, len(q.q), q.toFinish(), q.q[len(q.q)-1])
	}
}

// TestICMPErrorAnswersTheSYN: an ICMP error quoting the client's SYN (its
// 4-tuple and ISN) is booked on the attempt and answers that SYN, so it is
// not counted dropped; errors quoting anything else are counted apart.
// The second attempt's error comes late enough for it to be in the light
// form by then.
func TestICMPErrorAnswersTheSYN(t *testing.T) {
	pkts := synth.MustScript(`
		0 c S
		0.1 c S seq=5000 from=10.0.0.1:40001`)
	refuse := func(syn capture.Packet, after time.Duration) capture.Packet {
		return capture.Packet{Time: syn.Time + int64(after), Src: syn.Src, Dst: syn.Dst, Seq: syn.Seq, Flags: capture.FlagSYN,
			ICMP: capture.ICMPError{Type: 3, Code: 13, FromDst: true}}
	}
	early, late := refuse(pkts[0], time.Millisecond), refuse(pkts[1], 2*time.Second)
	wrongISN := early
	wrongISN.Seq++
	stranger := early
	stranger.Src = netip.AddrPortFrom(stranger.Src.Addr(), 9)
	script := []capture.Packet{pkts[0], wrongISN, stranger, early, pkts[1], late}

	var out []Attempt
	tr := NewTracker(Config{}, func(a *Attempt) { out = append(out, *a) })
	for i := range script {
		tr.Add(&script[i])
	}
	tr.Flush()
	if len(out) != 2 {
		t.Fatalf("got %d attempts, want 2", len(out))
	}
	for i, a := range out {
		want := []capture.Packet{early, late}[i]
		if a.ICMPErrors != 1 || a.FirstICMP != want.Time || a.ICMP != want.ICMP || a.DroppedSYNs != 0 || a.Packets != 1 {
			t.Errorf("attempt %d: ICMPErrors %d at %d (%+v), DroppedSYNs %d, Packets %d; want 1 at %d, 0 dropped, the SYN only",
				i, a.ICMPErrors, a.FirstICMP, a.ICMP, a.DroppedSYNs, a.Packets, want.Time)
		}
	}
	if n := tr.Stats().ICMPUnmatched; n != 2 {
		t.Errorf("ICMPUnmatched = %d, want 2 (wrong ISN, unknown flow)", n)
	}
	if tr.lightsMade == 0 {
		t.Error("no attempt was light: the late error did not test the light form")
	}
}

// TestMidStreamServerFINFirstCloses: a connection seen without its
// handshake, closed by the server first, then by the client, is closed
// (it used to stay open until the idle timeout: the client's FIN took the
// mid-stream early return before the close check).
func TestMidStreamServerFINFirstCloses(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"server first", `
			0 c P. seq=1001 ack=5001 len=10
			0.001 s P. seq=5001 ack=1011 len=10
			0.002 s F. seq=5011 ack=1011
			0.003 c F. seq=1011 ack=5012
			0.004 s . seq=5012 ack=1012
			30 c S seq=777 from=10.0.0.9:40009`},
		{"client first", `
			0 c P. seq=1001 ack=5001 len=10
			0.001 s P. seq=5001 ack=1011 len=10
			0.002 c F. seq=1011 ack=5011
			0.003 s F. seq=5011 ack=1012
			0.004 c . seq=1012 ack=5012
			30 c S seq=777 from=10.0.0.9:40009`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			atts, _ := run(t, Config{}, tc.script)
			for _, a := range atts {
				if a.MidStream && a.End != EndClosed {
					t.Errorf("mid-stream connection ended %v, want closed", a.End)
				}
			}
		})
	}
}

// TestRequestAtTheEndIsNotIgnored: client segments the server has not
// answered when the capture ends are ignored only if the last came
// AnswerGrace or more before the end, or a SYN-ACK retransmission after
// the client's ACK showed the server still held only a request.
func TestRequestAtTheEndIsNotIgnored(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		ignored      int
	}{
		{"request as the capture ends", `
			0 c S
			0.001 s S.
			0.002 c .
			0.3 c P. len=5`, 0},
		{"request unanswered for 2 s", `
			0 c S
			0.001 s S.
			0.002 c .
			0.3 c P. len=5
			2.3 c S from=10.0.0.9:5000`, 2},
		{"request after a SYN-ACK retransmission", `
			0 c S
			0.001 s S.
			0.002 c .
			1.001 s S.
			1.002 c .
			1.3 c P. len=5`, 3},
		// The application reset the connection before the request came
		// (app-reset-after-accept cut after 37 packets).
		{"request the application's reset overtook", `
			0 c S
			0.001 s S.
			0.002 c .
			0.0021 s R. seq=5001 ack=1001
			0.0022 c P. len=5`, 0},
		{"the same, the capture going on", `
			0 c S
			0.001 s S.
			0.002 c .
			0.0021 s R. seq=5001 ack=1001
			0.0022 c P. len=5
			2.3 c S from=10.0.0.9:5000`, 0},
	} {
		atts, _ := run(t, Config{}, tc.script)
		for _, a := range atts {
			if a.Client.Port() == 5000 {
				continue // the other client, only there to move the capture's end
			}
			if a.IgnoredSegments != tc.ignored {
				t.Errorf("%s: %d segments ignored, want %d", tc.name, a.IgnoredSegments, tc.ignored)
			}
		}
	}
}

// TestSYNACKMissingFromTheCapture: a server segment that acknowledges the
// client's SYN (and no more than the client sent) before any SYN-ACK in
// the capture means the capture missed the SYN-ACK; one acknowledging
// other sequence numbers is an answer for an old connection.
func TestSYNACKMissingFromTheCapture(t *testing.T) {
	for _, tc := range []struct {
		name, script              string
		missed, bareACK, accepted bool
		dropped                   int
	}{
		{"SYN-ACK not captured, data acknowledged", `
			0 c S
			0.002 c .
			0.003 c P. len=5
			0.004 s . ack=1006`, true, false, true, 0},
		{"SYN-ACK not captured, the SYN acknowledged", `
			0 c S
			0.004 s P. len=3`, true, false, true, 0},
		{"SYN-ACK not captured, the client's ACK of it", `
			0 c S
			0.002 c .
			1.001 s S.
			1.002 c .`, true, false, false, 0},
		{"a reset at the SYN's next sequence number: the SYN-ACK's", `
			0 c S
			0.002 c R seq=1001`, true, false, false, 0},
		{"a reset elsewhere: nothing answered", `
			0 c S
			0.002 c R seq=5000`, false, false, false, 1},
		{"SYN retransmitted: dropped, not missed", `
			0 c S
			1 c S
			1.001 s S.
			1.002 c .`, false, false, false, 1},
		{"challenge ACK of an old connection", `
			0 c S
			0.001 s . seq=9000 ack=777777
			0.002 c R seq=777777`, false, true, false, 0},
		{"acknowledges more than the client sent", `
			0 c S
			0.001 s . ack=1500`, false, true, false, 0},
	} {
		atts, _ := run(t, Config{}, tc.script)
		if len(atts) != 1 {
			t.Fatalf("%s: %d attempts", tc.name, len(atts))
		}
		a := atts[0]
		if a.SYNACKNotCaptured != tc.missed || a.BareACKAnswer != tc.bareACK || a.ServerAccepted != tc.accepted || a.DroppedSYNs != tc.dropped {
			t.Errorf("%s: SYN-ACK not captured %v, bare ACK answer %v, accepted %v, %d SYNs dropped; want %v, %v, %v, %d",
				tc.name, a.SYNACKNotCaptured, a.BareACKAnswer, a.ServerAccepted, a.DroppedSYNs, tc.missed, tc.bareACK, tc.accepted, tc.dropped)
		}
	}
}

// TestLateBareResetIsNoAbort: a bare reset that answers the handshake ACK
// at once is tcp_abort_on_overflow's; one that comes a request's lifetime
// (1 s) after the SYN-ACK, with no SYN-ACK sent again (tcp_synack_retries
// =0, testdata/accept-overflow-synack-retries-0), answers a segment that
// met an expired request: the ones before it were ignored. A reset with
// ACK is a connected socket's whenever it comes.
func TestLateBareResetIsNoAbort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rst     string
		abort   bool
		ignored int
	}{
		{"bare, at the ACK", "0.1001 s R seq=5001", true, 2},
		{"bare, 1.3 s after the SYN-ACK", "1.3 s R seq=5001", false, 3},
		{"with ACK, 1.3 s after the SYN-ACK", "1.3 s R. seq=5001 ack=1006", true, 0},
	} {
		script := `
			0 c S
			0.001 s S.
			0.1 c .
			0.1 c P. len=5`
		if !tc.abort || tc.ignored == 0 {
			script += `
			0.4 c P. len=5
			0.9 c P. len=5`
		}
		atts, _ := run(t, Config{}, script+"\n"+tc.rst)
		if len(atts) != 1 {
			t.Fatalf("%s: %d attempts", tc.name, len(atts))
		}
		if a := atts[0]; a.AbortRST != tc.abort || (tc.ignored > 0 && a.IgnoredSegments != tc.ignored) {
			t.Errorf("%s: AbortRST %v, ignored %d; want %v, %d", tc.name, a.AbortRST, a.IgnoredSegments, tc.abort, tc.ignored)
		}
	}
}

// TestSecondResetJudgesNothing: an application that takes a connection and
// resets it (RST+ACK) while the client's request is in flight draws a
// second, bare reset for that request; both answer segments the first
// already judged (a fresh recording of testdata/app-reset-after-accept
// counted one ignored segment, and an overflow the kernel never saw).
func TestSecondResetJudgesNothing(t *testing.T) {
	atts, _ := run(t, Config{}, `
		0 c S
		0.001 s S.
		0.002 c .
		0.0021 c P. len=5
		0.0022 s R. seq=5001 ack=1001
		0.0023 s R seq=5001`)
	if len(atts) != 1 {
		t.Fatalf("%d attempts", len(atts))
	}
	if a := atts[0]; !a.AbortRST || !a.AbortRSTAcked || a.IgnoredSegments != 0 {
		t.Errorf("AbortRST %v (acked %v), ignored %d; want true, true, 0", a.AbortRST, a.AbortRSTAcked, a.IgnoredSegments)
	}
}

// TestResentWithoutTheServer: in a capture of the clients' packets only,
// a client that sends its data (or FIN) again shows that nothing it took
// acknowledged it; a first sending, or one after a SYN-ACK, does not.
func TestResentWithoutTheServer(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         bool
	}{
		{"data sent again, no server packet", `
			0 c S
			0.002 c .
			0.003 c P. len=5
			0.250 c P. len=5`, true},
		{"FIN sent again, no server packet", `
			0 c S
			0.002 c .
			0.003 c F.
			0.250 c F.`, true},
		{"data sent once, then more", `
			0 c S
			0.002 c .
			0.003 c P. len=5
			0.004 c P. seq=1006 len=5`, false},
		{"data sent again after a SYN-ACK", `
			0 c S
			0.001 s S.
			0.002 c .
			0.003 c P. len=5
			0.250 c P. len=5`, false},
	} {
		atts, _ := run(t, Config{}, tc.script)
		if len(atts) != 1 {
			t.Fatalf("%s: %d attempts", tc.name, len(atts))
		}
		if got := atts[0].ResentUnanswered; got != tc.want {
			t.Errorf("%s: resent unanswered %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestClientDataTheCaptureMissed: a server that acknowledges client
// sequence numbers past what the capture showed the client send shows
// the capture missed packets; data or a FIN it did show, and data in a
// SYN (TCP Fast Open), do not.
func TestClientDataTheCaptureMissed(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		missed       bool
	}{
		{"data acknowledged, never captured", `
			0 c S
			0.001 s S.
			0.002 c .
			0.010 s . ack=1006`, true},
		{"data captured, then acknowledged", `
			0 c S
			0.001 s S.
			0.002 c .
			0.003 c P. len=5
			0.010 s . ack=1006`, false},
		{"a FIN acknowledged", `
			0 c S
			0.001 s S.
			0.002 c .
			0.003 c F.
			0.010 s F. ack=1002`, false},
		{"Fast Open: the SYN's data acknowledged", `
			0 c S len=5
			0.001 s S. ack=1006
			0.002 c . seq=1006
			0.003 s P. ack=1006 len=3`, false},
		{"Fast Open: answered before the client's ACK", `
			0 c S len=5
			0.001 s S. ack=1006
			0.002 s P. ack=1006 len=3
			0.003 c . seq=1006`, false},
	} {
		atts, _ := run(t, Config{}, tc.script)
		if len(atts) != 1 {
			t.Fatalf("%s: %d attempts", tc.name, len(atts))
		}
		if got := atts[0].ClientDataNotCaptured; got != tc.missed {
			t.Errorf("%s: client data not captured %v, want %v", tc.name, got, tc.missed)
		}
	}
}
