package gen

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/synq/synq/capture"
)

// TestChecksums: every segment the capture holds whole carries a right
// TCP checksum (synq's decoder verifies it, as --connections does), over
// IPv4 and IPv6, with and without payload.
func TestChecksums(t *testing.T) {
	cfg := Defaults()
	cfg.Packets, cfg.Snaplen = 20000, 0 // whole frames: every checksum can be checked
	var buf bytes.Buffer
	if _, err := Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	rd, err := capture.Open([]string{"gen"}, capture.OpenOptions{VerifyChecksums: true, KeepDuplicates: true,
		Open: func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	counts := map[capture.ChecksumState]int{}
	v6, data := 0, 0
	for {
		var p capture.Packet
		if err := rd.Next(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		counts[p.Checksum]++
		if p.Src.Addr().Is6() {
			v6++
		}
		if p.PayloadLen > 0 {
			data++
		}
	}
	if counts[capture.ChecksumGood] != cfg.Packets || v6 == 0 || data == 0 {
		t.Errorf("checksums %v of %d packets (IPv6 %d, with payload %d): want all good, some of each", counts, cfg.Packets, v6, data)
	}
}
