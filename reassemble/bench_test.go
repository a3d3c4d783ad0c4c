package reassemble_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/synth"
	"github.com/synq/synq/reassemble"
)

// benchCapture is a synthetic server-side capture (labelled synthetic): 20,000
// connection attempts from 5,000 client addresses, staggered 50 µs apart,
// nine in ten a full connection with data and close, one in ten three
// unanswered SYNs. About 150,000 packets.
var benchCapture = sync.OnceValues(func() ([]byte, error) {
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	var pkts []capture.Packet
	for i := 0; i < 20000; i++ {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 250 % 20), byte(i % 250)}), uint16(32768+i%28000))
		t0 := synth.Base + int64(i)*int64(50*time.Microsecond)
		isn, sisn := uint32(i)*7919, uint32(i)*104729
		add := func(dt time.Duration, fromClient bool, f capture.TCPFlags, seq, ack, n uint32) {
			p := capture.Packet{Time: t0 + int64(dt), Flags: f, Seq: seq, Ack: ack, PayloadLen: n, Window: 64240}
			if fromClient {
				p.Src, p.Dst = client, server
			} else {
				p.Src, p.Dst = server, client
			}
			if f&capture.FlagSYN != 0 {
				p.Opts = capture.TCPOptions{HasMSS: true, MSS: 1460, SACKPerm: true, HasTS: true, TSval: uint32(i), HasWScale: true, WScale: 7}
			}
			pkts = append(pkts, p)
		}
		const S, A, P, F = capture.FlagSYN, capture.FlagACK, capture.FlagPSH, capture.FlagFIN
		if i%10 == 9 {
			for k := 0; k < 3; k++ {
				add(time.Duration(k)*time.Second, true, S, isn, 0, 0)
			}
			continue
		}
		add(0, true, S, isn, 0, 0)
		add(20*time.Microsecond, false, S|A, sisn, isn+1, 0)
		add(200*time.Microsecond, true, A, isn+1, sisn+1, 0)
		add(210*time.Microsecond, true, P|A, isn+1, sisn+1, 100)
		add(250*time.Microsecond, false, P|A, sisn+1, isn+101, 300)
		add(450*time.Microsecond, true, F|A, isn+101, sisn+301, 0)
		add(470*time.Microsecond, false, F|A, sisn+301, isn+102, 0)
		add(670*time.Microsecond, true, A, isn+102, sisn+302, 0)
	}
	slices.SortStableFunc(pkts, func(a, b capture.Packet) int { return int(a.Time - b.Time) })
	var buf bytes.Buffer
	if err := synth.WritePcap(&buf, pkts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
})

func loadBench(b *testing.B) []byte {
	data, err := benchCapture()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func openBytes(data []byte) (*capture.Reader, error) {
	return openBytesOpts(data, false)
}

func openBytesOpts(data []byte, checksums bool) (*capture.Reader, error) {
	return capture.Open([]string{"bench.pcap"}, capture.OpenOptions{
		Open:            func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		VerifyChecksums: checksums,
	})
}

func reportRate(b *testing.B, packets int) {
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkBaselineRead is the floor: gopacket's pcapgo zero-copy read of
// the same bytes, no decoding. Compare the others to it in the same run.
func BenchmarkBaselineRead(b *testing.B) {
	data := loadBench(b)
	var n int
	for b.Loop() {
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for {
			_, _, err := r.ZeroCopyReadPacketData()
			if err != nil {
				break
			}
			n++
		}
	}
	reportRate(b, n)
}

// BenchmarkDecode reads and decodes every packet into capture.Packet.
func BenchmarkDecode(b *testing.B) {
	data := loadBench(b)
	var n int
	for b.Loop() {
		r, err := openBytes(data)
		if err != nil {
			b.Fatal(err)
		}
		var p capture.Packet
		n = 0
		for r.Next(&p) == nil {
			n++
		}
	}
	reportRate(b, n)
}

// BenchmarkDecodeTrack is the analysis pipeline without rendering: read,
// decode, track handshakes, classify and aggregate.
func BenchmarkDecodeTrack(b *testing.B) { benchDecodeTrack(b, false) }

// BenchmarkDecodeTrackConnState is BenchmarkDecodeTrack with what
// --connections adds before writing: checksums verified, Zeek's
// conn_state and history followed per attempt.
func BenchmarkDecodeTrackConnState(b *testing.B) { benchDecodeTrack(b, true) }

func benchDecodeTrack(b *testing.B, conns bool) {
	data := loadBench(b)
	var n int
	for b.Loop() {
		r, err := openBytesOpts(data, conns)
		if err != nil {
			b.Fatal(err)
		}
		agg := analyze.NewAggregator()
		tr := reassemble.NewTracker(reassemble.Config{ConnState: conns}, agg.Add)
		var p capture.Packet
		n = 0
		for {
			err := r.Next(&p)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			tr.Add(&p)
			n++
		}
		agg.CaptureEnd = r.Summary().End
		tr.Flush()
		if res := agg.Result(); res.Attempts != 20000 {
			b.Fatalf("attempts %d, want 20000", res.Attempts)
		}
	}
	reportRate(b, n)
}
