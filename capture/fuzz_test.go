package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// Fuzz targets. Plain `go test` replays the seeds below and the corpus in
// testdata/fuzz/<FuzzName>/; scripts/fuzz.sh runs each target with -fuzz.

// realCaptures returns the real-kernel captures in ../testdata, the first
// max bytes of each (the fuzzer mutates small inputs best).
func realCaptures(tb testing.TB, max int) [][]byte {
	tb.Helper()
	names, _ := filepath.Glob("../testdata/*/capture.pcap*")
	if len(names) == 0 {
		tb.Fatal("no captures in ../testdata")
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b[:min(len(b), max)])
	}
	return out
}

// FuzzDecode decodes arbitrary bytes as a frame of a link type.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases(f) {
		f.Add(uint16(c.lt), c.data)
	}
	for _, c := range malformedCases(f) {
		f.Add(uint16(c.lt), c.data)
	}
	for _, c := range tunnelCases(f) {
		f.Add(uint16(layers.LinkTypeEthernet), c.data)
	}
	shared := NewDecoder()
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		const ts int64 = 1_700_000_000_000_000_000
		var p, q Packet
		k := shared.Decode(layers.LinkType(lt), data, ts, &p)
		// A Decoder's state from earlier frames must not leak into this
		// one, except the fragments it holds: a fragment alone is
		// KindFragment to a fresh Decoder, and may complete a datagram
		// (or overlap one) in the shared one. That is what they are for.
		k2 := NewDecoder().Decode(layers.LinkType(lt), data, ts, &q)
		if k2 != KindFragment && k != KindFragment && (k2 != k || k == KindTCP && p != q) {
			t.Fatalf("shared decoder: %v %+v; fresh decoder: %v %+v", k, p, k2, q)
		}
		// The fast path, where it takes the frame, must agree with
		// gopacket's layers.
		compareFastGeneral(t, "fuzz input", rawFrame{layers.LinkType(lt), data})
		if k > KindUnsupportedLink {
			t.Fatalf("kind %v", k)
		}
		if k != KindTCP {
			return
		}
		checkPacket(t, &p, len(data))
		if p.Time != ts {
			t.Errorf("Time %d, want %d", p.Time, ts)
		}
	})
}

// FuzzReadPcap, FuzzReadPcapng and FuzzReadGzip read arbitrary bytes as a
// capture file; they differ in their seeds. FuzzReadGzip gzips what the
// fuzzer gives it, so that mutations reach the capture parsers rather than
// break the gzip checksum, and also tries it raw.

func FuzzReadPcap(f *testing.F) {
	for _, b := range realCaptures(f, 2048) {
		if isPcapMagic(b) {
			f.Add(b)
		}
	}
	for _, b := range syntheticFiles(f) {
		if isPcapMagic(b) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, data) })
}

func FuzzReadPcapng(f *testing.F) {
	for _, b := range realCaptures(f, 2048) {
		if !isPcapMagic(b) {
			f.Add(b)
		}
	}
	for _, b := range syntheticFiles(f) {
		if !isPcapMagic(b) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, data) })
}

func FuzzReadGzip(f *testing.F) {
	for _, b := range realCaptures(f, 2048)[:3] {
		f.Add(b)
	}
	for _, b := range syntheticFiles(f)[:4] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gz := gzipBytes(t, data)
		fuzzRead(t, gz, data)
		// A damaged gzip stream: cut and flipped.
		if len(gz) > 20 {
			bad := bytes.Clone(gz[:len(gz)-len(gz)/4])
			bad[len(bad)/2] ^= 0x55
			fuzzRead(t, bad, data)
		}
	})
}

// fuzzRead opens data as a capture, alone and twice over (a merge of two
// sources with identical packets), reads it to the end and checks the
// Reader's invariants; a pcap's records it also reads with pcapgo, which
// must give the same (see compareRecords). plain is data after gunzip,
// which bounds the work.
func fuzzRead(t *testing.T, data, plain []byte) {
	compareRecords(t, "fuzz input", data)
	for _, names := range [][]string{{"a"}, {"a", "b"}} {
		opts := memFiles(map[string][]byte{"a": data, "b": data})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := Open(names, opts)
		if err != nil {
			if r != nil {
				t.Fatal("Open returned a Reader and an error")
			}
			return
		}
		// Each frame takes at least 16 bytes of the file (pcapng: 12 for a
		// simple packet block), so the number of packets is bounded.
		limit := len(names) * (len(plain)/12 + 1)
		n := 0
		var p Packet
		for {
			err := r.Next(&p)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if n++; n > limit {
				t.Fatalf("more than %d packets from %d bytes", limit, len(plain))
			}
			checkPacket(t, &p, MaxRecordSize)
		}
		if err := r.Next(&p); err != io.EOF {
			t.Fatalf("Next after EOF: %v", err)
		}
		s := r.Summary()
		r.Close()
		runtime.ReadMemStats(&after)
		if s.TCPPackets+s.ICMPErrors != int64(n) {
			t.Fatalf("Summary.TCPPackets %d + ICMPErrors %d, Next returned %d", s.TCPPackets, s.ICMPErrors, n)
		}
		if sum := s.TCPPackets + s.ICMPErrors + s.Duplicates + s.NonTCP + s.Fragments + s.Truncated + s.UnsupportedLink; sum != s.Packets {
			t.Fatalf("counts add up to %d, Packets %d: %+v", sum, s.Packets, s)
		}
		var files int64
		for _, f := range s.Files {
			files += f.Packets
		}
		if files != s.Packets {
			t.Fatalf("files' Packets add up to %d, Packets %d", files, s.Packets)
		}
		// Memory: the read buffers, pcapgo's, at most MaxRecordSize per
		// source, and a bounded amount per byte of input.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(names))*(4<<20+64*uint64(len(plain))) {
			t.Fatalf("allocated %d bytes reading %d bytes (%d after gunzip)", alloc, len(data), len(plain))
		}
	}
}

// syntheticFiles are small capture files for the reader fuzzers' seeds:
// every format, and the damaged and odd files of TestMalformedFiles.
func syntheticFiles(tb testing.TB) [][]byte {
	frames := mixFrames(tb)
	le := pcapBytes(tb, false, layers.LinkTypeEthernet, frames...)
	out := [][]byte{
		le,
		bigEndian(pcapBytes(tb, true, layers.LinkTypeLinuxSLL2, frame{ts: t0, data: sll2(syn4.ip(tb))}, frame{ts: at(0, 5), data: sll2(syn4.ip(tb))})),
		ngSection(tb, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, 147},
			frame{ts: at(0, 0), data: ether(0x0800, syn4.ip(tb))},
			frame{ts: at(1, 0), data: synack6.ip(tb), ifc: 1},
			frame{ts: at(2, 0), data: []byte("x"), ifc: 2}),
	}
	for _, m := range malformedFiles(tb) {
		out = append(out, m.data)
	}
	return out
}
