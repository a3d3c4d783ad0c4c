package capture

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
)

// Classic pcap records are read straight out of the source's bufio.Reader
// instead of through pcapgo's ZeroCopyReadPacketData, which copies every
// record twice (header and data through io.ReadFull out of the bufio.Reader,
// the data into a buffer of its own): a CPU profile of synq analyze on a
// 5-million-packet capture put those copies at half of the reading
// goroutine's time. Here a record is peeked at where it lies in the buffer
// and handed out from there; Decode copies what it keeps. pcapgo still reads
// the file header and stays the reference for records:
// TestPcapRecordsMatchPcapgo and the reader fuzz targets read every input
// both ways, so results and errors, on good and damaged files, are pcapgo's.

const pcapRecordHeader = 16

// readPcapRecord returns the next record of a classic pcap as pcapgo's
// ZeroCopyReadPacketData would, after a check of its own: a record longer
// than MaxRecordSize is damage (errRecordSize). The data is valid until the
// next read from s.br.
func (s *source) readPcapRecord() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	h, err := s.br.Peek(pcapRecordHeader)
	if len(h) < pcapRecordHeader {
		return nil, ci, readFullErr(len(h), err)
	}
	caplen := s.order.Uint32(h[8:12])
	if caplen > MaxRecordSize {
		// pcapgo would read what the header claims (through gzip, as
		// much as a small file inflates to): the file is damaged.
		return nil, ci, errRecordSize(s.fs.Packets+1, int(caplen))
	}
	// pcapgo multiplies the fraction by 1000 (microsecond files) as a
	// uint32, which wraps above 4294967 µs; a damaged file's timestamps
	// must come out the same.
	ci.Timestamp = time.Unix(int64(s.order.Uint32(h[0:4])), int64(s.order.Uint32(h[4:8])*s.tsUnit)).UTC()
	ci.CaptureLength = int(caplen)
	ci.Length = int(s.order.Uint32(h[12:16]))
	// pcapgo also refuses a record longer than the snap length or 256 KiB,
	// whichever is more: never below MaxRecordSize, checked above.
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	n := pcapRecordHeader + ci.CaptureLength
	if n > s.br.Size() {
		return s.readBigRecord(ci)
	}
	rec, err := s.br.Peek(n)
	if len(rec) < n {
		return nil, ci, readFullErr(len(rec)-pcapRecordHeader, err)
	}
	s.br.Discard(n)
	return rec[pcapRecordHeader:], ci, nil
}

// readBigRecord reads a record too long to be peeked at in s.br (jumbo
// frames, TSO super-segments) into a buffer of the source's own, allocated
// once, as pcapgo reads every record.
func (s *source) readBigRecord(ci gopacket.CaptureInfo) ([]byte, gopacket.CaptureInfo, error) {
	if s.big == nil {
		s.big = make([]byte, MaxRecordSize)
	}
	s.br.Discard(pcapRecordHeader)
	data := s.big[:ci.CaptureLength]
	if _, err := io.ReadFull(s.br, data); err != nil {
		return nil, ci, err
	}
	return data, ci, nil
}

// readFullErr is io.ReadFull's error for a read that got got bytes before
// err. Only a read that got nothing ends cleanly with io.EOF: a file ending
// between records (or, as with pcapgo, right after a record header) is
// whole, one ending inside a header or record is cut off.
func readFullErr(got int, err error) error {
	if err == io.EOF && got > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}
