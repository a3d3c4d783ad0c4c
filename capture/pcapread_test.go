package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapRecord is what one read of a record returned; data only without err.
type pcapRecord struct {
	Data []byte
	CI   gopacket.CaptureInfo
	Err  string
	EOF  bool // Err is io.EOF itself: the clean end, no warning
	Cut  bool // Err is io.ErrUnexpectedEOF itself
}

// readRecord is readPcapRecord with pcapgo's signature. ci starts out
// filled: readPcapRecord must set all of it, as pcapgo returns a new one.
func readRecord(s *source) ([]byte, gopacket.CaptureInfo, error) {
	ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: -1, Length: -1, InterfaceIndex: -1}
	data, err := s.readPcapRecord(&ci)
	return data, ci, err
}

// pcapgoRecord is the reference for readPcapRecord: what advance did before
// it, pcapgo's ZeroCopyReadPacketData behind the MaxRecordSize check.
func pcapgoRecord(s *source) ([]byte, gopacket.CaptureInfo, error) {
	if h, _ := s.br.Peek(16); len(h) == 16 {
		if n := s.order.Uint32(h[8:12]); n > MaxRecordSize {
			return nil, gopacket.CaptureInfo{}, errRecordSize(s.fs.Packets+1, int(n))
		}
	}
	return s.pcap.ZeroCopyReadPacketData()
}

// pcapRecords opens data (gzip or not) as the Reader does and reads it with
// read up to its first error; ok is false if it is not a pcap that opens.
func pcapRecords(tb testing.TB, data []byte, read func(*source) ([]byte, gopacket.CaptureInfo, error)) (recs []pcapRecord, ok bool) {
	tb.Helper()
	r := &Reader{}
	s, err := r.openSource(0, "f", memFiles(map[string][]byte{"f": data}))
	if err != nil || s.pcap == nil {
		return nil, false
	}
	defer s.rc.Close()
	// A record takes 16 bytes at least, and deflate inflates 1032 times
	// at most.
	plain := len(data)
	if s.fs.Compressed {
		plain *= 1032
	}
	for limit := plain/16 + 2; ; limit-- {
		if limit == 0 {
			tb.Fatalf("more records than a %d-byte file holds", len(data))
		}
		d, ci, err := read(s)
		s.fs.Packets++ // numbers errRecordSize's record
		rec := pcapRecord{CI: ci}
		if err != nil {
			rec.Err, rec.EOF, rec.Cut = err.Error(), err == io.EOF, err == io.ErrUnexpectedEOF
		} else if len(d) > 0 { // nil or empty: the same to Decode
			rec.Data = bytes.Clone(d)
		}
		recs = append(recs, rec)
		if err != nil {
			return recs, true
		}
	}
}

// compareRecords reads data with readPcapRecord and with pcapgo and fails
// at the first record where they differ.
func compareRecords(tb testing.TB, name string, data []byte) {
	tb.Helper()
	want, ok := pcapRecords(tb, data, pcapgoRecord)
	if !ok {
		return
	}
	got, _ := pcapRecords(tb, data, readRecord)
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			tb.Fatalf("%s: %d records, pcapgo %d; missing %+v", name, len(got), len(want), want[i])
		case i >= len(want):
			tb.Fatalf("%s: %d records, pcapgo %d; extra %+v", name, len(got), len(want), got[i])
		case !reflect.DeepEqual(got[i], want[i]):
			tb.Fatalf("%s: record %d (-pcapgo +readPcapRecord):\n%s", name, i+1, diff(want[i], got[i]))
		}
	}
}

// pcapFiles are the classic pcap files (gzipped or not) under ../testdata
// and testdata.
func pcapFiles(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	for _, root := range []string{"../testdata", "testdata"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.Contains(d.Name(), ".pcap") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if isPcapMagic(gunzipped(t, b)) {
				files[path] = b
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d pcap files under testdata", len(files))
	}
	return files
}

// gunzipped is b, inflated if it is gzip.
func gunzipped(tb testing.TB, b []byte) []byte {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// recordOffsets are where the records of a whole pcap start, and its byte
// order.
func recordOffsets(p []byte) (offs []int, order binary.ByteOrder) {
	order = binary.LittleEndian
	if p[0] == 0xa1 {
		order = binary.BigEndian
	}
	for off := 24; off+16 <= len(p); off += 16 + int(order.Uint32(p[off+8:])) {
		offs = append(offs, off)
	}
	return offs, order
}

// damaged derives damaged files from a whole pcap p: cut at every offset of
// its first 300 bytes and around the headers of its first and last records;
// and with one record's header field set to values pcapgo treats specially.
func damaged(p []byte) map[string][]byte {
	out := map[string][]byte{}
	offs, order := recordOffsets(p)
	for n := range min(len(p), 300) {
		out[fmt.Sprintf("cut at %d", n)] = p[:n]
	}
	for _, off := range slices.Concat(offs[:min(len(offs), 10)], offs[max(0, len(offs)-6):]) {
		for _, d := range []int{-1, 0, 1, 8, 15, 16, 17} {
			if n := off + d; n >= 0 && n <= len(p) {
				out[fmt.Sprintf("cut at %d", n)] = p[:n]
			}
		}
	}
	set := func(name string, off, field int, v uint32) {
		b := bytes.Clone(p)
		order.PutUint32(b[off+field:], v)
		out[fmt.Sprintf("record at %d: %s", off, name)] = b
	}
	if len(offs) == 0 {
		return out
	}
	for _, off := range []int{offs[0], offs[len(offs)/2], offs[len(offs)-1]} {
		caplen := order.Uint32(p[off+8:])
		for _, v := range []uint32{999999, 1000000, 4294967, 4294968, 0xffffffff} {
			set(fmt.Sprintf("fraction %d", v), off, 4, v)
		}
		set("seconds 2^32-1", off, 0, 0xffffffff)
		set("original length one short", off, 12, caplen-1)
		set("original length 0", off, 12, 0)
		set("original length 2^32-1", off, 12, 0xffffffff)
		for _, v := range []uint32{caplen + 1, MaxRecordSize, MaxRecordSize + 1, 0x7fffffff, 0x80000000, 0xffffffff} {
			set(fmt.Sprintf("captured length %d", v), off, 8, v)
		}
	}
	snap := bytes.Clone(p)
	order.PutUint32(snap[16:], 40) // every record longer than the snap length
	out["snap length 40"] = snap
	return out
}

// bigRecords is a pcap (snap length 262144) of small records and records
// around the sizes where the read buffer cannot hold them.
func bigRecords(tb testing.TB, nanos bool) []byte {
	small := ether(0x0800, syn4.ip(tb))
	var frames []frame
	for i, n := range bigSizes {
		data := bytes.Repeat([]byte{byte(i + 1)}, n)
		copy(data, small)
		frames = append(frames, frame{ts: at(2*i, 0), data: small}, frame{ts: at(2*i+1, 0), data: data})
	}
	var b bytes.Buffer
	w := newPcapWriter(&b, nanos)
	if err := w.WriteFileHeader(MaxRecordSize, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WritePacket(f.ci(), f.data); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

// bigSizes are bigRecords' long records: the largest that fits the read
// buffer with its header, the smallest that does not, up to MaxRecordSize.
var bigSizes = []int{readBufSize - 17, readBufSize - 16, readBufSize - 15, readBufSize, 200000, MaxRecordSize - 1, MaxRecordSize}

func newPcapWriter(w io.Writer, nanos bool) *pcapgo.Writer {
	if nanos {
		return pcapgo.NewWriterNanos(w)
	}
	return pcapgo.NewWriter(w)
}

// TestPcapRecordsMatchPcapgo reads every pcap in testdata, synthetic ones in
// both byte orders and resolutions, and damaged files derived from them,
// plain and gzipped, with readPcapRecord and with pcapgo: the same records,
// timestamps, lengths and errors (io.EOF, the clean end, kept apart from
// io.ErrUnexpectedEOF).
func TestPcapRecordsMatchPcapgo(t *testing.T) {
	frames := mixFrames(t)
	le := pcapBytes(t, false, layers.LinkTypeEthernet, frames...)
	leNs := pcapBytes(t, true, layers.LinkTypeEthernet, frames...)
	bases := pcapFiles(t)
	bases["synthetic usec LE"] = le
	bases["synthetic usec BE"] = bigEndian(le)
	bases["synthetic nsec LE"] = leNs
	bases["synthetic nsec BE"] = bigEndian(leNs)
	bases["synthetic cut by snap length"] = pcapBytes(t, true, layers.LinkTypeEthernet, bigCapture(t, 64)...)
	// Several read buffers' worth: records straddle the buffer's refills.
	bases["synthetic 3000 frames"] = pcapBytes(t, false, layers.LinkTypeEthernet, bigCapture(t, 3000)...)
	bases["big records usec"] = bigRecords(t, false)
	bases["big records nsec BE"] = bigEndian(bigRecords(t, true))
	for name, b := range bases {
		t.Run(name, func(t *testing.T) {
			p := gunzipped(t, b)
			compareRecords(t, "whole", b)
			if p[0] == 0xd4 || p[0] == 0x4d { // little-endian: the other order too
				compareRecords(t, "big-endian", bigEndian(p))
			}
			gz := gzipBytes(t, p)
			compareRecords(t, "gzip", gz)
			for _, n := range []int{len(gz) / 3, len(gz) - 9, len(gz) - 1} {
				compareRecords(t, fmt.Sprintf("gzip cut at %d", n), gz[:n])
			}
			bad := bytes.Clone(gz)
			bad[len(bad)/2] ^= 0x55
			compareRecords(t, "gzip corrupt", bad)
			crc := bytes.Clone(gz)
			crc[len(crc)-8] ^= 1
			compareRecords(t, "gzip bad checksum", crc)
			for dname, d := range damaged(p) {
				compareRecords(t, dname, d)
				if strings.HasPrefix(dname, "record") {
					compareRecords(t, dname+", gzip", gzipBytes(t, d))
				}
			}
		})
	}
}

// TestPcapRecordsBig: records too long for the read buffer come out whole,
// through the source's own buffer, plain and gzipped.
func TestPcapRecordsBig(t *testing.T) {
	data := bigRecords(t, false)
	for name, b := range map[string][]byte{"plain": data, "gzip": gzipBytes(t, data)} {
		t.Run(name, func(t *testing.T) {
			r := &Reader{}
			s, err := r.openSource(0, "f", memFiles(map[string][]byte{"f": b}))
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range bigSizes {
				for j, want := range []int{len(ether(0x0800, syn4.ip(t))), n} {
					d, ci, err := readRecord(s)
					if err != nil {
						t.Fatal(err)
					}
					if len(d) != want || ci.CaptureLength != want || d[want-1] != byte(i+1) && j == 1 {
						t.Fatalf("record %d: %d bytes (CaptureLength %d), want %d", 2*i+j+1, len(d), ci.CaptureLength, want)
					}
					big := want+pcapHeaderLen > readBufSize
					if inBig := s.big != nil && &d[0] == &s.big[0]; inBig != big {
						t.Errorf("record %d, %d bytes: in the big-record buffer %v, want %v", 2*i+j+1, want, inBig, big)
					}
				}
			}
			if _, _, err := readRecord(s); err != io.EOF {
				t.Errorf("after the last record: %v, want io.EOF", err)
			}
		})
	}
}

// TestPcapRecordTimestamps pins the timestamp arithmetic against values
// worked out by hand, not only against pcapgo.
func TestPcapRecordTimestamps(t *testing.T) {
	cases := []struct {
		nanos     bool
		sec, frac uint32
		want      time.Time
	}{
		{false, 1714564800, 123456, time.Unix(1714564800, 123456000)},
		{false, 1714564800, 1000000, time.Unix(1714564801, 0)},              // a whole second in the fraction carries
		{false, 10, 4294968, time.Unix(10, 704)},                            // ×1000 wraps in 32 bits: 4294968000 - 2^32
		{false, 0xffffffff, 0xffffffff, time.Unix(0xffffffff+4, 294966296)}, // (2^32-1)×1000 mod 2^32 = 2^32-1000 ns
		{true, 1714564800, 999999999, time.Unix(1714564800, 999999999)},
		{true, 1714564800, 0xffffffff, time.Unix(1714564804, 294967295)},
	}
	for _, c := range cases {
		var b bytes.Buffer
		w := newPcapWriter(&b, c.nanos)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		p := b.Bytes()
		p = binary.LittleEndian.AppendUint32(p, c.sec)
		p = binary.LittleEndian.AppendUint32(p, c.frac)
		p = binary.LittleEndian.AppendUint32(p, 0)
		p = binary.LittleEndian.AppendUint32(p, 0)
		recs, ok := pcapRecords(t, p, readRecord)
		if !ok || recs[0].Err != "" {
			t.Fatalf("%+v: %+v", c, recs)
		}
		if got := recs[0].CI.Timestamp; got != c.want.UTC() {
			t.Errorf("nanos %v, %d s %d: %v, want %v", c.nanos, c.sec, c.frac, got, c.want.UTC())
		}
	}
}
