package connlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/golden"
	"github.com/synq/synq/internal/synth"
	"github.com/synq/synq/reassemble"
)

// script is synthetic: several clients (from=), covering what the real
// captures do not: an attempt cut by the end of the capture (incomplete),
// a connection without its handshake (midstream, flipped), missing
// options, a retransmitted SYN, a sequence-number wrap.
const script = `
	# established, closed normally; client ISN wraps after the SYN
	0 c S seq=4294967295 ts=100/0 from=10.0.0.1:40001
	0.010 s S. ack=0 ts=900/100 from=10.0.0.1:40001
	0.020 c . seq=0 ack=5001 from=10.0.0.1:40001
	0.030 c P. seq=0 ack=5001 len=300 from=10.0.0.1:40001
	0.040 s P. ack=300 len=1000 from=10.0.0.1:40001
	0.050 c F. seq=300 ack=6001 from=10.0.0.1:40001
	0.060 s F. seq=6001 ack=301 from=10.0.0.1:40001
	0.070 c . seq=301 ack=6002 from=10.0.0.1:40001
	# unanswered, retransmitted: failed even though the capture ends
	# before the client gives up (only a lone SYN can be incomplete)
	0.1 c S from=10.0.0.2:40002
	1.1 c S from=10.0.0.2:40002
	# a midstream connection: the server speaks first
	0.2 s P. seq=7001 ack=9001 len=50 from=10.0.0.3:40003
	0.21 c . seq=9001 ack=7051 from=10.0.0.3:40003
	# rejected
	0.3 c S from=10.0.0.4:40004
	0.3001 s R. seq=0 ack=1001 from=10.0.0.4:40004
	# a SYN just before the end: incomplete, not failed
	9.5 c S from=10.0.0.5:40005
	10 c . seq=1 ack=1 from=10.0.0.9:40009
`

// export runs the script through the tracker into a Writer and an
// aggregator, as synq analyze does.
func export(t *testing.T, f Format) ([]byte, analyze.Result) {
	t.Helper()
	pkts := synth.MustScript(script)
	var buf bytes.Buffer
	w := NewWriter(&buf, f)
	agg := analyze.NewAggregator()
	tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, func(a *reassemble.Attempt) {
		agg.Add(a)
		w.Add(a)
	})
	for i := range pkts {
		w.Begin(pkts[i].Time)
		tr.Add(&pkts[i])
	}
	end := pkts[len(pkts)-1].Time
	agg.CaptureEnd = end
	w.SetCaptureEnd(end)
	tr.Flush()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), agg.Result()
}

func TestSyntheticGolden(t *testing.T) {
	for _, c := range []struct {
		f    Format
		file string
	}{{JSONL, "testdata/synthetic.jsonl"}, {Zeek, "testdata/synthetic.log"}} {
		out, _ := export(t, c.f)
		golden.Check(t, c.file, out)
	}
}

// The outcomes in the export are the aggregator's, incomplete included:
// both classify each attempt once, with the capture end only for those
// the final Flush finishes.
func TestOutcomesAgreeWithAggregator(t *testing.T) {
	out, res := export(t, JSONL)
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		_, rest, _ := strings.Cut(line, `"outcome":"`)
		o, _, _ := strings.Cut(rest, `"`)
		got[o]++
	}
	for _, o := range analyze.AllOutcomes() {
		if got[o.String()] != res.Totals[o] {
			t.Errorf("%s: %d exported, %d aggregated", o, got[o.String()], res.Totals[o])
		}
	}
	if got["incomplete"] != 1 || got["midstream"] != res.MidStream || res.MidStream != 2 {
		t.Errorf("incomplete %d (want 1), midstream %d (aggregator %d, want 2)", got["incomplete"], got["midstream"], res.MidStream)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteErrorIsKept(t *testing.T) {
	w := NewWriter(&failWriter{n: 100}, JSONL)
	pkts := synth.MustScript("0 c S\n0.01 s R. seq=0 ack=1001")
	tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, func(a *reassemble.Attempt) {
		for i := 0; i < 1000; i++ { // past the 64 KiB buffer
			w.Add(a)
		}
	})
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	if w.Err() == nil {
		t.Fatal("no error after 1000 records into a 100-byte writer")
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close: %v, want the write error", err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, c := range []struct {
		flag, file string
		want       Format
		bad        bool
	}{
		{"", "conns.jsonl", JSONL, false},
		{"", "out", JSONL, false},
		{"", "conn.log", Zeek, false},
		{"jsonl", "conn.log", JSONL, false},
		{"zeek", "x.jsonl", Zeek, false},
		{"csv", "x", 0, true},
	} {
		f, err := ParseFormat(c.flag, c.file)
		if (err != nil) != c.bad || f != c.want {
			t.Errorf("ParseFormat(%q, %q) = %v, %v", c.flag, c.file, f, err)
		}
	}
}

func TestUIDs(t *testing.T) {
	out, _ := export(t, Zeek)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		uid := strings.Split(line, "\t")[1]
		if len(uid) < 10 || uid[0] != 'C' || seen[uid] {
			t.Errorf("uid %q: want C + base62, unique", uid)
		}
		seen[uid] = true
	}
}

// A real-kernel capture with checksum offload on (testdata/README.md):
// every segment's checksum is bad as captured, and Zeek's history marks
// both sides with C.
func TestOffloadCapture(t *testing.T) {
	rd, err := capture.Open([]string{"testdata/offload-veth.pcap"}, capture.OpenOptions{VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var buf bytes.Buffer
	w := NewWriter(&buf, Zeek)
	tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, w.Add)
	var p capture.Packet
	for rd.Next(&p) == nil {
		w.Begin(p.Time)
		tr.Add(&p)
	}
	w.SetCaptureEnd(rd.Summary().End)
	tr.Flush()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/offload-veth.log", buf.Bytes())
	rows := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		rows++
		h := strings.Split(line, "\t")[15]
		if !strings.Contains(h, "C") || !strings.Contains(h, "c") {
			t.Errorf("history %q: want C and c (bad checksums both ways)", h)
		}
	}
	if rows != 3 {
		t.Errorf("%d connections, want 3", rows)
	}
}

// TestZeekDocumentedExample replays, as a synthetic script, the HTTP
// connection of Zeek's manual ("Zeek Log Formats and Inspection",
// zeek-docs log-formats.rst: tm1t.pcap, shown there packet by packet with
// tcpdump) and checks synq's row against the conn.log row the manual
// shows Zeek wrote for it:
//
//	0.254115  77  295  SF  -  -  0  ShADadFf  6  397  4  511
//
// (duration, orig/resp bytes, conn_state, local_orig/resp, missed_bytes,
// history, orig pkts/IP bytes, resp pkts/IP bytes).
func TestZeekDocumentedExample(t *testing.T) {
	const c, s uint32 = 3723031366, 2993782376 // the ISNs in the manual
	pkts := synth.MustScript(fmt.Sprintf(`
		0        c S  seq=%[1]d ts=3137978796/0
		0.082066 s S. seq=%[2]d ack=%[3]d ts=346747623/3137978796
		0.082118 c .  seq=%[3]d ack=%[4]d ts=3137978878/346747623
		0.082427 c P. seq=%[3]d ack=%[4]d len=77 ts=3137978878/346747623
		0.170322 s .  seq=%[4]d ack=%[5]d ts=346747711/3137978878
		0.173834 s P. seq=%[4]d ack=%[5]d len=295 ts=346747713/3137978878
		0.173854 c .  seq=%[5]d ack=%[6]d ts=3137978970/346747713
		0.174327 c F. seq=%[5]d ack=%[6]d ts=3137978970/346747713
		0.254115 s F. seq=%[6]d ack=%[7]d ts=346747796/3137978970
		0.254180 c .  seq=%[7]d ack=%[8]d ts=3137979050/346747796`,
		c, s, c+1, s+1, c+78, s+296, c+79, s+297))
	// The SYN and SYN-ACK also carry MSS, SACK-permitted and window
	// scale: 20 bytes of options, not the 12 of timestamps alone.
	pkts[0].IPLen, pkts[1].IPLen = 60, 60
	var buf bytes.Buffer
	w := NewWriter(&buf, Zeek)
	tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, w.Add)
	feed(t, w, tr, pkts)
	var row []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if line != "" && line[0] != '#' {
			row = strings.Split(line, "\t")
		}
	}
	if len(row) != len(zeekFields) {
		t.Fatalf("row %q", row)
	}
	// Columns from duration to resp_ip_bytes.
	got := strings.Join(row[8:20], " ")
	if want := "0.254115 77 295 SF - - 0 ShADadFf 6 397 4 511"; got != want {
		t.Errorf("got  %s\nwant %s (Zeek's manual)", got, want)
	}
}

// TestUIDsDistinct: attempts that differ in one field only (port, ISN,
// first packet time, address), as a busy server's do, get distinct uids.
// feed tracks pkts into w, as synq analyze does (Begin at the first
// packet, the capture's end before the last attempts), and closes w.
func feed(t *testing.T, w *Writer, tr *reassemble.Tracker, pkts []capture.Packet) {
	t.Helper()
	for i := range pkts {
		w.Begin(pkts[i].Time)
		tr.Add(&pkts[i])
	}
	w.SetCaptureEnd(pkts[len(pkts)-1].Time)
	tr.Flush()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUIDsDistinct(t *testing.T) {
	seen := map[string]int{}
	n := 0
	add := func(a *reassemble.Attempt) {
		uid := string(appendUID(nil, a))
		if len(uid) < 10 || uid[0] != 'C' {
			t.Fatalf("uid %q: want C and base62", uid)
		}
		seen[uid]++
		n++
	}
	server := netip.MustParseAddrPort("10.0.0.2:443")
	for i := range 50000 {
		a := reassemble.Attempt{Handshake: reassemble.Handshake{
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000),
			Server: server, ClientISN: 1000, FirstPacket: 1_700_000_000_000_000_000,
		}}
		add(&a)
		a.Client = netip.AddrPortFrom(a.Client.Addr(), uint16(i%1000))
		add(&a)
		a.ClientISN = uint32(i) + 2_000_000
		add(&a)
		a.FirstPacket += int64(i+1) * 1000
		add(&a)
	}
	if len(seen) != n {
		t.Errorf("%d distinct uids for %d attempts", len(seen), n)
	}
}

// TestBase62 checks appendBase62 against math/big on edge values (chunk
// boundaries, zero digits inside and at the top of a chunk) and random
// 96-bit numbers.
func TestBase62(t *testing.T) {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	want := func(hi, lo uint64) string {
		n := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		n.Or(n, new(big.Int).SetUint64(lo))
		var out []byte
		base, r := big.NewInt(62), new(big.Int)
		for n.Sign() > 0 {
			n.QuoRem(n, base, r)
			out = append([]byte{digits[r.Int64()]}, out...)
		}
		return string(out)
	}
	p5 := uint64(62 * 62 * 62 * 62 * 62)
	cases := [][2]uint64{{0, 0}, {0, 1}, {0, 61}, {0, 62}, {0, p5 - 1}, {0, p5}, {0, p5 + 1},
		{0, p5 * p5}, {0, p5 * 62}, {0, ^uint64(0)}, {1, 0}, {0xffffffff, ^uint64(0)}, {0xffffffff, 0}}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		cases = append(cases, [2]uint64{rng.Uint64() >> 32, rng.Uint64()})
	}
	for _, c := range cases {
		if got, w := string(appendBase62(nil, c[0], c[1])), want(c[0], c[1]); got != w {
			t.Fatalf("appendBase62(%#x, %#x) = %q, want %q", c[0], c[1], got, w)
		}
	}
}

// BenchmarkWriterAdd writes the script's attempts (established, rejected,
// unanswered, mid-stream) over and over, as JSON Lines and as a conn.log.
func BenchmarkWriterAdd(b *testing.B) {
	pkts := synth.MustScript(script)
	var atts []reassemble.Attempt
	tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, func(a *reassemble.Attempt) { atts = append(atts, *a) })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	for _, f := range []Format{JSONL, Zeek} {
		b.Run(Formats()[f], func(b *testing.B) {
			w := NewWriter(io.Discard, f)
			w.SetCaptureEnd(pkts[len(pkts)-1].Time)
			n := 0
			for b.Loop() {
				w.Add(&atts[n%len(atts)])
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
}

// TestNumbers checks the export's number writers against strconv.
func TestNumbers(t *testing.T) {
	for _, v := range []uint64{0, 1, 9, 10, 11, 99, 100, 65535, 1e9, 1<<63 - 1, ^uint64(0)} {
		if got, want := string(appendUint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %q", v, got)
		}
	}
	for _, c := range []struct {
		ns      int64
		seconds string
		millis  string
	}{
		{0, "0.000000", "0.000"},
		{499, "0.000000", "0.000"},
		{500, "0.000001", "0.001"},
		{1_234_567_890, "1.234568", "1234.568"},
		{-1_500, "-0.000002", "-0.002"},
		{1_700_000_000_123_456_789, "1700000000.123457", "1700000000123.457"},
	} {
		if got := string(appendSeconds(nil, c.ns)); got != c.seconds {
			t.Errorf("appendSeconds(%d) = %q, want %q", c.ns, got, c.seconds)
		}
		if got := string(appendMillis(nil, c.ns)); got != c.millis {
			t.Errorf("appendMillis(%d) = %q, want %q", c.ns, got, c.millis)
		}
	}
}

// TestKernelDrops: kernel_drops is null for Add (not traced), [] for an
// attempt the kernel dropped nothing of, and its reasons otherwise, in
// JSON Lines and in Parquet (where "none" and "not traced" are both an
// empty list).
func TestKernelDrops(t *testing.T) {
	pkts := synth.MustScript(script)
	reasons := func(a *reassemble.Attempt) []analyze.ReasonCount {
		switch a.Client.Port() {
		case 40002:
			return []analyze.ReasonCount{{Reason: "NETFILTER_DROP", Packets: 2}}
		case 40001:
			return nil // written with Add
		}
		return []analyze.ReasonCount{}
	}
	for _, f := range []Format{JSONL, Parquet} {
		var buf bytes.Buffer
		w := NewWriter(&buf, f)
		tr := reassemble.NewTracker(reassemble.Config{ConnState: true}, func(a *reassemble.Attempt) {
			if r := reasons(a); r == nil {
				w.Add(a)
			} else {
				w.AddKernel(a, r)
			}
		})
		feed(t, w, tr, pkts)
		got := map[uint16]string{}
		if f == JSONL {
			for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				var rec struct {
					OrigP       uint16          `json:"orig_p"`
					KernelDrops json.RawMessage `json:"kernel_drops"`
				}
				if err := json.Unmarshal(line, &rec); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				got[rec.OrigP] = string(rec.KernelDrops)
			}
			want := map[uint16]string{40001: "null", 40002: `[{"reason":"NETFILTER_DROP","packets":2}]`, 40004: "[]"}
			for p, w := range want {
				if got[p] != w {
					t.Errorf("JSON Lines, client port %d: kernel_drops %s, want %s", p, got[p], w)
				}
			}
			continue
		}
		rows, err := parquet.Read[ParquetRecord](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[uint16(r.OrigP)] = fmt.Sprint(r.KernelDrops)
		}
		if got[40002] != "[{NETFILTER_DROP 2}]" || got[40001] != "[]" || got[40004] != "[]" {
			t.Errorf("Parquet kernel_drops by client port: %v", got)
		}
	}
}

// TestTunnelUID: tunnel_parents names the tunnel the same way from both
// directions, and two tunnels (another VNI) differently.
func TestTunnelUID(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	vxlan := func(src, dst netip.Addr, vni uint32) string {
		return string(appendTunnelUID(nil, capture.Tunnel{Kind: capture.TunnelVXLAN, Depth: 1, Src: src, Dst: dst, ID: vni, HasID: true}))
	}
	if x, y := vxlan(a, b, 42), vxlan(b, a, 42); x != y || !strings.HasPrefix(x, "C") || len(x) < 10 {
		t.Errorf("one tunnel, two directions: %s and %s", x, y)
	}
	if vxlan(a, b, 42) == vxlan(a, b, 43) {
		t.Error("two VNIs, one uid")
	}
}
