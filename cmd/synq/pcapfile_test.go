package main

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapFile is a pcap file's records, read whole (testdata's captures are
// small), for tests that make other captures of them: cut, thinned,
// split, doubled.
type pcapFile struct {
	snaplen uint32
	lt      layers.LinkType
	recs    []pcapRecord
}

type pcapRecord struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readPcapFile(t *testing.T, path string) pcapFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	pf := pcapFile{snaplen: r.Snaplen(), lt: r.LinkType()}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pf
		}
		if err != nil {
			t.Fatal(err)
		}
		pf.recs = append(pf.recs, pcapRecord{ci, data})
	}
}

// write writes recs to a pcap file at path with f's header.
func (f pcapFile) write(t *testing.T, path string, recs []pcapRecord) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(f.snaplen, f.lt); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WritePacket(r.ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
