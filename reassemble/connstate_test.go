package reassemble

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// Synthetic scripts, one per Zeek conn_state. The expected conn_state is
// the definition in Zeek's base/protocols/conn/main.zeek, and the
// histories follow the letters it documents (upper case originator, lower
// case responder), e.g. the "ShADadFf" of a normal connection.
func TestConnStateSynthetic(t *testing.T) {
	cases := []struct {
		name, script string
		state, hist  string
		origBytes    uint64
		respBytes    uint64
	}{
		{"S0: attempt, no reply (retransmissions keep one S)", `
			0 c S
			1 c S
			3 c S`, "S0", "S", 0, 0},
		{"S1: established, not terminated", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c P. len=100
			0.04 s P. len=200 ack=1101`, "S1", "ShADd", 100, 200},
		{"SF: normal establishment and termination", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c P. len=100
			0.04 s P. len=200 ack=1101
			0.05 c F. seq=1101 ack=5201
			0.06 s F. seq=5201 ack=1102
			0.07 c . seq=1102 ack=5202`, "SF", "ShADdFf", 100, 200},
		{"REJ: rejected", `
			0 c S
			0.01 s R. seq=0 ack=1001`, "REJ", "Sr", 0, 0},
		{"S2: originator closed, no reply", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c F.`, "S2", "ShAF", 0, 0},
		{"S3: responder closed, no reply", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 s F.`, "S3", "ShAf", 0, 0},
		{"RSTO: established, originator aborted", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c P. len=10
			0.04 c R. seq=1011`, "RSTO", "ShADR", 10, 0},
		{"RSTO: client resets the SYN-ACK", `
			0 c S
			0.01 s S.
			0.02 c R seq=1001`, "RSTO", "ShR", 0, 0},
		{"RSTR: responder sent a RST", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c P. len=10
			0.04 s R. seq=5001 ack=1011`, "RSTR", "ShADr", 10, 0},
		{"RSTOS0: SYN then RST, no SYN-ACK", `
			0 c S
			0.5 c R seq=1001`, "RSTOS0", "SR", 0, 0},
		{"RSTRH: SYN-ACK then RST, no SYN", `
			0 s S.
			0.01 s R. seq=5001`, "RSTRH", "^hr", 0, 0},
		{"SH: SYN then FIN, no SYN-ACK", `
			0 c S
			0.01 c F seq=1001`, "SH", "SF", 0, 0},
		{"SHR: SYN-ACK then FIN, no SYN", `
			0 s S.
			0.01 s F. seq=5001`, "SHR", "^hf", 0, 0},
		{"OTH: midstream, no SYN", `
			0 c P. seq=7001 ack=9001 len=50
			0.01 s P. seq=9001 ack=7051 len=60`, "OTH", "Dd", 50, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := one(t, c.script)
			if got := a.Conn.State(); got != c.state {
				t.Errorf("conn_state %s, want %s (history %s)", got, c.state, a.Conn.History())
			}
			if got := a.Conn.History(); got != c.hist {
				t.Errorf("history %q, want %q", got, c.hist)
			}
			if o, r := a.Conn.OrigBytes(), a.Conn.RespBytes(); o != c.origBytes || r != c.respBytes {
				t.Errorf("bytes %d/%d, want %d/%d", o, r, c.origBytes, c.respBytes)
			}
		})
	}
}

// one runs a script that makes exactly one attempt.
func one(t *testing.T, script string) Attempt {
	t.Helper()
	atts, _ := run(t, Config{ConnState: true}, script)
	if len(atts) != 1 {
		t.Fatalf("got %d attempts, want 1", len(atts))
	}
	return atts[0]
}

// Letters other than the handshake's, from the rules in Zeek's TCP.cc and
// Conn.cc: T, C and W at the 1st, 10th, 100th occurrence; I and Q once;
// S, F, R again only with a new sequence number; D and A once.
func TestHistoryLetters(t *testing.T) {
	repeat := func(n int, line string) string {
		s := ""
		for i := 0; i < n; i++ {
			s += line + "\n"
		}
		return s
	}
	hs := "0 c S\n0.01 s S.\n0.02 c .\n"
	cases := []struct{ name, script, hist string }{
		{"retransmitted payload: T once, again at the 10th", hs +
			"0.1 c P. len=100\n" + repeat(9, "0.2 c P. len=100"), "ShADT"},
		{"ten retransmissions: TT", hs +
			"0.1 c P. len=100\n" + repeat(10, "0.2 c P. len=100"), "ShADTT"},
		{"a hundred retransmissions: TTT", hs +
			"0.1 c P. len=100\n" + repeat(100, "0.2 c P. len=100"), "ShADTTT"},
		{"ninety-nine: still TT", hs +
			"0.1 c P. len=100\n" + repeat(99, "0.2 c P. len=100"), "ShADTT"},
		{"bad checksums from the server (offload): c, cc at 10", `
			0 c S
			0.01 s S. sum=bad
			0.02 c .` + "\n" + repeat(9, "0.1 s . sum=bad"), "SchAac"},
		{"zero window from the client: W", hs + "0.1 c . win=0", "ShAW"},
		{"zero window with a RST is not W", hs + "0.1 c R. seq=1001 win=0", "ShAR"},
		{"FIN+RST: I", hs + "0.1 c FR. seq=1001", "ShAI"},
		{"SYN+FIN: Q", "0 c SF", "Q"},
		{"a FIN retransmitted keeps one F, a new one repeats it", hs +
			"0.1 c F.\n0.2 c F.\n0.3 c F. seq=1001 len=5", "ShAFF"},
		{"a new RST sequence number repeats R", hs +
			"0.1 s R. seq=5001\n0.2 s R. seq=5001\n0.3 s R. seq=6001", "ShArr"},
		{"data acknowledged but never captured: G from the sender", hs +
			"0.1 c P. len=100\n0.2 s . ack=1101\n0.3 s . ack=1301", "ShADaG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := one(t, c.script)
			if got := a.Conn.History(); got != c.hist {
				t.Errorf("history %q, want %q", got, c.hist)
			}
		})
	}
}

func TestMissedBytesAndIPBytes(t *testing.T) {
	a := one(t, `
		0 c S
		0.01 s S.
		0.02 c .
		0.1 c P. len=100
		0.2 s . ack=1301 # 200 bytes never captured`)
	if got := a.Conn.MissedBytes(); got != 200 {
		t.Errorf("missed bytes %d, want 200", got)
	}
	if o := a.Conn.OrigBytes(); o != 300 {
		t.Errorf("orig bytes %d, want 300 (from the acknowledgement)", o)
	}
	// synth sets IPLen to 40 + payload.
	if o, r := a.Conn.OrigIPBytes(), a.Conn.RespIPBytes(); o != 3*40+100 || r != 2*40 {
		t.Errorf("ip bytes %d/%d, want %d/%d", o, r, 3*40+100, 2*40)
	}
	if o, r := a.Conn.OrigPkts(), a.Conn.RespPkts(); o != 3 || r != 2 {
		t.Errorf("packets %d/%d, want 3/2", o, r)
	}
}

// Sequence numbers that wrap past 2^32, in the handshake and later, and a
// connection of more than 4 GiB: byte counts from sequence numbers keep
// counting, and nothing is taken for a retransmission.
func TestSequenceWrap(t *testing.T) {
	cases := []struct {
		name, script string
		orig, resp   uint64
		hist         string
	}{
		{"client ISN wraps in the handshake", `
			0 c S seq=4294967295
			0.01 s S. ack=0
			0.02 c . seq=0 ack=5001
			0.03 c P. seq=0 ack=5001 len=100
			0.04 s . ack=100
			0.05 c F. seq=100 ack=5001
			0.06 s F. ack=101
			0.07 c . seq=101 ack=5002`, 100, 0, "ShADaFf"},
		{"data wraps mid-connection", `
			0 c S seq=4294967000
			0.01 s S. ack=4294967001
			0.02 c . seq=4294967001 ack=5001
			0.03 c P. seq=4294967001 ack=5001 len=200
			0.04 c P. seq=4294967201 ack=5001 len=200
			0.05 c P. seq=105 ack=5001 len=200
			0.06 s . ack=305
			0.07 c F. seq=305 ack=5001
			0.08 s F. ack=306
			0.09 c . seq=306 ack=5002`, 600, 0, "ShADaFf"},
		{"server ISN wraps", `
			0 c S
			0.01 s S. seq=4294967290
			0.02 c . ack=4294967291
			0.03 s P. seq=4294967291 len=20
			0.04 c . ack=15
			0.05 s F. seq=15
			0.06 c F. ack=16
			0.07 s . seq=16 ack=1002`, 0, 20, "ShAdfFa"},
		{"more than 4 GiB", `
			0 c S seq=0
			0.01 s S. ack=1
			0.02 c . seq=1
			1 c P. seq=1 len=1500000000
			2 c P. seq=1500000001 len=1500000000
			3 c P. seq=3000000001 len=1500000000
			4 c P. seq=205032705 len=1500000000
			5 s . ack=1705032705
			6 c F. seq=1705032705
			7 s F. ack=1705032706
			8 c . seq=1705032706 ack=5002`, 6000000000, 0, "ShADaFf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := one(t, c.script)
			if o, r := a.Conn.OrigBytes(), a.Conn.RespBytes(); o != c.orig || r != c.resp {
				t.Errorf("bytes %d/%d, want %d/%d", o, r, c.orig, c.resp)
			}
			if h := a.Conn.History(); h != c.hist {
				t.Errorf("history %q, want %q", h, c.hist)
			}
			if s := a.Conn.State(); s != "SF" {
				t.Errorf("conn_state %s, want SF", s)
			}
		})
	}
}

func TestDurationLeavesOutTheLastACK(t *testing.T) {
	a := one(t, `
		0 c S
		0.01 s S.
		0.02 c .
		0.05 c F.
		0.06 s F. ack=1002
		0.5 c . seq=1002 ack=5002`)
	if d := a.Conn.LastTime() - a.FirstPacket; d != 60_000_000 {
		t.Errorf("duration %d ns, want 60 ms (to the second FIN)", d)
	}
}

func TestHistoryCapped(t *testing.T) {
	s := "0 c S\n0.01 s S.\n0.02 c .\n"
	for i := 0; i < 40; i++ {
		s += "0.1 s R. seq=" + itoa(6000+i) + "\n"
	}
	a := one(t, s)
	if h := a.Conn.History(); len(h) != MaxHistory {
		t.Errorf("history %q: %d letters, want %d", h, len(h), MaxHistory)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Without Config.ConnState the tracker leaves Attempt.Conn alone: the
// analysis without --connections pays nothing for it.
func TestConnStateOff(t *testing.T) {
	atts, _ := run(t, Config{}, "0 c S\n0.01 s S.\n0.02 c .")
	if len(atts) != 1 || atts[0].Conn != (ConnState{}) {
		t.Errorf("Conn filled with ConnState off: %+v", atts)
	}
}

// TestGapBelowAFIN: data lost below a FIN is a gap when the FIN is
// acknowledged (Zeek's miss_end_data trace: ShADafgF, missed_bytes 2902),
// and a FIN right after the data seen is none (ShADdfFa: no g).
func TestGapBelowAFIN(t *testing.T) {
	a := one(t, `
		0 c S
		0.01 s S.
		0.02 c .
		0.03 c P. len=538
		0.04 s . ack=1539
		10 s F. seq=8000 ack=1539 # 2999 bytes from the server never captured
		10.01 c . seq=1539 ack=8001
		10.02 c F. seq=1539 ack=8001
		10.03 s . seq=8001 ack=1540`)
	if h, m := a.Conn.History(), a.Conn.MissedBytes(); h != "ShADafgF" || m != 2999 {
		t.Errorf("history %s, missed %d; want ShADafgF, 2999", h, m)
	}
	b := one(t, `
		0 c S
		0.01 s S.
		0.02 c .
		0.03 c P. len=100
		0.04 s P. len=200 ack=1101
		0.05 s F. seq=5201 ack=1101
		0.06 c . seq=1101 ack=5202
		0.07 c F. seq=1101 ack=5202
		0.08 s . seq=5202 ack=1102`)
	if h, m := b.Conn.History(), b.Conn.MissedBytes(); m != 0 || h != "ShADdfFa" {
		t.Errorf("history %s, missed %d; want no gap", h, m)
	}
}

// TestHolesBelowTheHighestData: data lost while later data was captured
// (a segment missing from the middle of a burst) is a gap once the peer
// acknowledges over it, as Zeek's reassembler reports it; the same
// segment arriving late, before that acknowledgement, is reordering, not
// a gap. Client ISN 1000: its data starts at 1001.
func TestHolesBelowTheHighestData(t *testing.T) {
	cases := []struct {
		name, burst string
		hist        string
		missed      uint64
	}{
		{"a segment lost", `
			0.03 c . seq=1001 len=100
			0.031 c . seq=1201 len=100
			0.04 s . ack=1301`, "ShADaGFf", 100},
		{"reordered", `
			0.03 c . seq=1001 len=100
			0.031 c . seq=1201 len=100
			0.032 c . seq=1101 len=100
			0.04 s . ack=1301`, "ShADTaFf", 0},
		{"half of it retransmitted", `
			0.03 c . seq=1001 len=100
			0.031 c . seq=1201 len=100
			0.032 c . seq=1101 len=40
			0.04 s . ack=1301`, "ShADTaGFf", 60},
		// Two holes are remembered: the third merges into the second,
		// and the 100 bytes seen between them count as missed too.
		{"three holes, one acknowledgement", `
			0.03 c . seq=1001 len=100
			0.031 c . seq=1201 len=100
			0.032 c . seq=1401 len=100
			0.033 c . seq=1601 len=100
			0.04 s . ack=1701`, "ShADaGFf", 400},
		{"acknowledged in two steps", `
			0.03 c . seq=1001 len=100
			0.031 c . seq=1201 len=100
			0.032 c . seq=1401 len=100
			0.04 s . ack=1201
			0.05 s . ack=1501`, "ShADaGFf", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := one(t, `
				0 c S
				0.01 s S.
				0.02 c .`+tc.burst+`
				1 c F. seq=5000 ack=5001
				1.01 s F. seq=5001 ack=5001
				1.02 c . seq=5001 ack=5002`)
			if h, m := a.Conn.History(), a.Conn.MissedBytes(); h != tc.hist || m != tc.missed {
				t.Errorf("history %s, missed %d; want %s, %d", h, m, tc.hist, tc.missed)
			}
		})
	}
}

// TestHoleAcrossTheSequenceWrap: a segment lost right after the client's
// sequence numbers wrap past 2^32 is a gap of its length, like any other.
func TestHoleAcrossTheSequenceWrap(t *testing.T) {
	a := one(t, `
		0 c S seq=4294967000
		0.01 s S. ack=4294967001
		0.02 c . seq=4294967001 ack=5001
		0.03 c . seq=4294967001 ack=5001 len=200
		0.031 c . seq=5 ack=5001 len=100 # 4294967201 to 4 lost: 100 bytes
		0.04 s . ack=105`)
	if h, m := a.Conn.History(), a.Conn.MissedBytes(); h != "ShADaG" || m != 100 {
		t.Errorf("history %s, missed %d; want ShADaG, 100", h, m)
	}
}

// TestHolePastFourGigabytes: offsets count past 2^32 (a long transfer),
// and a hole there is found like any other. Three jumps of 2, 2 and 1 GB
// (acknowledged at once: gaps too) take the stream past 4 GB; then 100
// bytes are lost between two segments and acknowledged over.
func TestHolePastFourGigabytes(t *testing.T) {
	seq := uint32(1001)
	var script strings.Builder
	script.WriteString("0 c S\n0.01 s S.\n0.02 c .\n")
	at := 0.03
	send := func(skip uint32) {
		seq += skip
		fmt.Fprintf(&script, "%.3f c . seq=%d ack=5001 len=100\n", at, seq)
		seq += 100
		at += 0.001
	}
	ack := func() {
		fmt.Fprintf(&script, "%.3f s . ack=%d\n", at, seq)
		at += 0.001
	}
	send(0)
	ack()
	for _, jump := range []uint32{2_000_000_000, 2_000_000_000, 1_000_000_000} {
		send(jump)
		ack()
	}
	send(0)
	send(100) // the lost 100 bytes
	ack()
	a := one(t, script.String())
	if h, m := a.Conn.History(), a.Conn.MissedBytes(); h != "ShADaG" || m != 5_000_000_100 {
		t.Errorf("history %s, missed %d; want ShADaG, 5000000100", h, m)
	}
}

// TestDropBadChecksums: as Zeek without -C, a segment with a bad checksum
// leaves its 'C' (here the server's: 'c') and goes no further: the
// retransmitted SYN-ACK after it is the attempt's only one. Recorded but
// not dropped (the default), it counts as a SYN-ACK and the good one as
// its retransmission.
func TestDropBadChecksums(t *testing.T) {
	const script = `
		0 c S
		0.01 s S. sum=bad
		1.01 s S.
		1.02 c .`
	for _, c := range []struct {
		drop       bool
		hist       string
		synacks    int
		badCounted int
	}{
		{true, "SchA", 1, 1},
		{false, "SchA", 2, 0},
	} {
		atts, tr := run(t, Config{ConnState: true, DropBadChecksums: c.drop}, script)
		st := tr.Stats()
		if len(atts) != 1 {
			t.Fatalf("drop=%v: %d attempts", c.drop, len(atts))
		}
		a := atts[0]
		if h := a.Conn.History(); h != c.hist || a.SYNACKs != c.synacks || st.BadChecksums != c.badCounted {
			t.Errorf("drop=%v: history %s, %d SYN-ACKs, %d dropped; want %s, %d, %d", c.drop, h, a.SYNACKs, st.BadChecksums, c.hist, c.synacks, c.badCounted)
		}
	}
}

// Under ZeekParity a 4-tuple's packets split into the records Zeek's
// timers make of them (Zeek's TCPSessionAdapter: AttemptTimer,
// ConnectionClosed's delete timer, IsReuse); without it they stay one
// attempt. Each case is checked both ways.
func TestZeekParitySplits(t *testing.T) {
	cases := []struct {
		name, script string
		zeek         []string // state/history of each record, in order
		plain        int      // records without ZeekParity
	}{
		{"attempt timer: a SYN 5 s unanswered, then its retransmission", `
			0 c S
			6 c S`, []string{"S0/S", "S0/S"}, 1},
		{"SYN retransmitted within the attempt delay", `
			0 c S
			3 c S`, []string{"S0/S"}, 1},
		{"server FIN on an idle connection, client FIN past the close delay", `
			0 s F. seq=5001 ack=1001
			0.001 c . seq=1001 ack=5002
			7 c F. seq=1001 ack=5002
			7.08 s . seq=5002 ack=1002`, []string{"SHR/^fA", "SH/Fa"}, 1},
		{"the same, client FIN within the close delay", `
			0 s F. seq=5001 ack=1001
			0.001 c . seq=1001 ack=5002
			3 c F. seq=1001 ack=5002
			3.08 s . seq=5002 ack=1002`, []string{"SF/^fAFa"}, 1},
		{"a RST, then the peer's RST past the close delay", `
			0 c P. seq=1001 ack=5001 len=10
			0.001 s . seq=5001 ack=1011
			1 c R. seq=1011 ack=5001
			4 s R. seq=5001 ack=1011
			8 s R. seq=5001 ack=1011`, []string{"RSTR/DaRr", "RSTRH/^r"}, 3},
		{"a SYN with the closed connection's ISN", `
			0 c S
			0.01 s S.
			0.02 c .
			0.03 c F. seq=1001 ack=5001
			0.04 s F. seq=5001 ack=1002
			0.05 c . seq=1002 ack=5002
			1 c S`, []string{"SF/ShAFf", "S0/S"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, parity := range []bool{true, false} {
				atts, _ := run(t, Config{ConnState: true, ZeekParity: parity}, tc.script)
				var got []string
				for _, a := range atts {
					got = append(got, a.Conn.State()+"/"+a.Conn.History())
				}
				if parity && !slices.Equal(got, tc.zeek) {
					t.Errorf("with ZeekParity: %q, want %q", got, tc.zeek)
				}
				if !parity && len(got) != tc.plain {
					t.Errorf("without ZeekParity: %d records %q, want %d", len(got), got, tc.plain)
				}
			}
		})
	}
}

// cmd/synq/memory.go sizes --max-attempts from these two (448 + 280 bytes
// plus index and queue entries, under 768): a field added here must be
// paid for there.
func TestAttemptStateSizes(t *testing.T) {
	if s, c := unsafe.Sizeof(state{}), unsafe.Sizeof(ConnState{}); s > 448 || c > 280 {
		t.Errorf("state %d bytes (budget 448), ConnState %d (budget 280): update cmd/synq/memory.go", s, c)
	}
}
