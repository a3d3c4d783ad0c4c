package main

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/synq/synq/internal/floor"
	"github.com/synq/synq/internal/gen"
)

// benchCapture is a generated server-side capture (internal/gen, labelled
// synthetic): interleaved handshakes with data and close, unanswered SYNs,
// ignored ACKs, RSTs, 20% IPv6, timestamps; deterministic by seed.
var benchCapture = sync.OnceValues(func() ([]byte, error) {
	cfg := gen.Defaults()
	cfg.Packets = 400_000
	var buf bytes.Buffer
	_, err := gen.Write(&buf, cfg)
	return buf.Bytes(), err
})

// floorRate measures the floor (package floor: pcapgo read, gopacket
// decode, one map lookup per packet, single core) on data: the best of
// three runs, in packets per second.
func floorRate(b *testing.B, data []byte) float64 {
	best := 0.0
	for range 3 {
		start := time.Now()
		n, _, err := floor.Run(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		best = max(best, float64(n)/time.Since(start).Seconds())
	}
	return best
}

// benchAnalyze runs synq analyze end to end on the generated capture, with
// extra flags, and reports packets/s, the ratio to the floor measured in
// the same run, and allocations per packet.
func benchAnalyze(b *testing.B, args ...string) {
	data, err := benchCapture()
	if err != nil {
		b.Fatal(err)
	}
	fl := floorRate(b, data)
	open := func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	const packets = 400_000
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	b.ResetTimer()
	for b.Loop() {
		ios := &IOStreams{In: bytes.NewReader(nil), Out: io.Discard, ErrOut: io.Discard}
		cmd := NewCmdAnalyze(ios, open, nil)
		cmd.SetArgs(append(append([]string{"--max-attempts", "1000000"}, args...), "bench.pcap"))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	rate := float64(packets) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "pkts/s")
	b.ReportMetric(rate/fl, "x-floor")
	b.ReportMetric(fl, "floor-pkts/s")
	b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(b.N)/packets, "allocs/pkt")
}

// BenchmarkAnalyze is the whole of synq analyze: read, decode, track,
// classify, infer and render the table.
func BenchmarkAnalyze(b *testing.B) { benchAnalyze(b) }

// BenchmarkAnalyzeJSON renders JSON instead of the table.
func BenchmarkAnalyzeJSON(b *testing.B) { benchAnalyze(b, "--format", "json") }
