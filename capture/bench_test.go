package capture

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synq/synq/internal/tunnelwrap"
)

// Benchmarks over a synthetic 10,000-frame Ethernet capture (see
// bigCapture). Each reports pkts/s (frames per second).

const benchFrames = 10000

func BenchmarkDecode(b *testing.B) { benchDecode(b, false) }

// BenchmarkDecodeChecksums is BenchmarkDecode with TCP checksums verified
// (what synq analyze --connections turns on).
func BenchmarkDecodeChecksums(b *testing.B) { benchDecode(b, true) }

func benchDecode(b *testing.B, verify bool) {
	frames := bigCapture(b, benchFrames)
	d := NewDecoder()
	d.VerifyChecksums = verify
	var p Packet
	n := 0
	for b.Loop() {
		f := frames[n%len(frames)]
		d.Decode(layers.LinkTypeEthernet, f.data, 1, &p)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkDecodeTunnel decodes the same frames each wrapped in VXLAN
// (AWS VPC Traffic Mirroring's encapsulation).
func BenchmarkDecodeTunnel(b *testing.B) {
	frames := bigCapture(b, benchFrames)
	vx := make([][]byte, len(frames))
	for i, f := range frames {
		vx[i] = wrapped(b, tunnelwrap.VXLAN, f.data)
	}
	d := NewDecoder()
	var p Packet
	n := 0
	for b.Loop() {
		d.Decode(layers.LinkTypeEthernet, vx[n%len(vx)], 1, &p)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

// benchNext reads data with Reader.Next, reopening it at the end. For a
// pcap it also reads as many frames of data with pcapgo's
// ZeroCopyReadPacketData, what Next read records with before readPcapRecord,
// and reports the ratio of the two rates (x-pcapgo): measured in the same
// run, it holds better than two benchmarks' on a busy machine.
func benchNext(b *testing.B, data []byte) {
	opts := memFiles(map[string][]byte{"f": data})
	open := func() *Reader {
		r, err := Open([]string{"f"}, opts)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := open()
	var p Packet
	n := 0
	b.SetBytes(int64(len(data)) / benchFrames)
	for b.Loop() {
		if err := r.Next(&p); err == io.EOF {
			r.Close()
			r = open()
			continue
		}
		n++
	}
	r.Close()
	// Next returns TCP packets only; count frames read (7 in 8 are TCP).
	frames := n * 8 / 7
	rate := float64(frames) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "pkts/s")
	if isPcapMagic(gunzipped(b, data)) {
		b.ReportMetric(rate/pcapgoRate(b, data, frames), "x-pcapgo")
	}
}

// pcapgoRate reads frames frames of the pcap data (gzip or not), starting
// over at its end, with pcapgo's ZeroCopyReadPacketData, and returns frames
// per second.
func pcapgoRate(b *testing.B, data []byte, frames int) float64 {
	start := time.Now()
	for read := 0; read < frames; {
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for ; read < frames; read++ {
			if _, _, err := r.ZeroCopyReadPacketData(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	return float64(frames) / time.Since(start).Seconds()
}

// BenchmarkReadPcapRecord reads records only, as Next does before decoding,
// and compares with pcapgo reading the same bytes (x-pcapgo).
func BenchmarkReadPcapRecord(b *testing.B) {
	data := pcapBytes(b, true, layers.LinkTypeEthernet, bigCapture(b, benchFrames)...)
	open := func() *source {
		s, err := (&Reader{}).openSource(0, "f", memFiles(map[string][]byte{"f": data}))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s := open()
	n := 0
	var ci gopacket.CaptureInfo
	b.SetBytes(int64(len(data)) / benchFrames)
	for b.Loop() {
		if _, err := s.readPcapRecord(&ci); err == io.EOF {
			s = open()
			continue
		}
		n++
	}
	rate := float64(n) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "pkts/s")
	b.ReportMetric(rate/pcapgoRate(b, data, n), "x-pcapgo")
}

func BenchmarkReaderNext(b *testing.B) {
	benchNext(b, pcapBytes(b, true, layers.LinkTypeEthernet, bigCapture(b, benchFrames)...))
}

func BenchmarkReaderNextGzip(b *testing.B) {
	benchNext(b, gzipBytes(b, pcapBytes(b, true, layers.LinkTypeEthernet, bigCapture(b, benchFrames)...)))
}

func BenchmarkReaderNextPcapng(b *testing.B) {
	benchNext(b, ngSection(b, []layers.LinkType{layers.LinkTypeEthernet}, bigCapture(b, benchFrames)...))
}

// BenchmarkBaselinePcapgo only reads the same pcap with pcapgo's
// ZeroCopyReadPacketData: the floor under BenchmarkReaderNext.
func BenchmarkBaselinePcapgo(b *testing.B) {
	data := pcapBytes(b, true, layers.LinkTypeEthernet, bigCapture(b, benchFrames)...)
	open := func() *pcapgo.Reader {
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := open()
	n := 0
	b.SetBytes(int64(len(data)) / benchFrames)
	for b.Loop() {
		if _, _, err := r.ZeroCopyReadPacketData(); err == io.EOF {
			r = open()
			continue
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkBaselinePcapgoNg is the pcapng counterpart.
func BenchmarkBaselinePcapgoNg(b *testing.B) {
	data := ngSection(b, []layers.LinkType{layers.LinkTypeEthernet}, bigCapture(b, benchFrames)...)
	open := func() *pcapgo.NgReader {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := open()
	n := 0
	for b.Loop() {
		if _, _, err := r.ZeroCopyReadPacketData(); err == io.EOF {
			r = open()
			continue
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}
