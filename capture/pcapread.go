package capture

import (
	"encoding/binary"
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

const pcapHeaderLen = 16

// readPcapRecord reads the next record of a classic pcap as pcapgo's
// ZeroCopyReadPacketData would, after a check of its own: a record longer
// than MaxRecordSize is damage (errRecordSize). It sets *ci and returns
// the data, valid until the next call. (Returned by value, the 72-byte
// CaptureInfo was copied through the stack twice more, with a
// store-forwarding stall: a third of the time of reading a record.)
//
// Records are sliced out of s.win, what s.br held when last peeked at; only
// at its end are the records handed out discarded from s.br and the next
// peeked at, rather than a Peek and a Discard for each.
func (s *source) readPcapRecord(ci *gopacket.CaptureInfo) ([]byte, error) {
	// The common case, a good record wholly in s.win, here; anything else,
	// and every error, in peekPcapRecord.
	if rest := s.win[s.winOff:]; len(rest) >= pcapHeaderLen {
		// caplen is checked as a uint32 against MaxRecordSize so that n
		// cannot wrap where int has 32 bits.
		caplen, origlen := s.u32(rest[8:12]), int(s.u32(rest[12:16]))
		if n := pcapHeaderLen + int(caplen); caplen <= MaxRecordSize && int(caplen) <= origlen && n <= len(rest) {
			s.captureInfo(ci, rest, int(caplen), origlen)
			s.winOff += n
			return rest[pcapHeaderLen:n], nil
		}
	}
	return s.peekPcapRecord(ci)
}

// peekPcapRecord discards the records handed out from s.win, reads the next
// record from s.br, and peeks at what s.br holds after it.
func (s *source) peekPcapRecord(ci *gopacket.CaptureInfo) ([]byte, error) {
	s.br.Discard(s.winOff)
	s.win, s.winOff = nil, 0
	*ci = gopacket.CaptureInfo{}
	h, err := s.br.Peek(pcapHeaderLen)
	if len(h) < pcapHeaderLen {
		return nil, readFullErr(len(h), err)
	}
	if err := s.pcapRecordHeader(ci, h); err != nil {
		return nil, err
	}
	n := pcapHeaderLen + ci.CaptureLength
	if n > s.br.Size() {
		return s.readBigRecord(ci.CaptureLength)
	}
	rec, err := s.br.Peek(n)
	if len(rec) < n {
		return nil, readFullErr(len(rec)-pcapHeaderLen, err)
	}
	// Peeking at what is buffered reads nothing: rec stays where it is.
	s.win, _ = s.br.Peek(s.br.Buffered())
	s.winOff = n
	return rec[pcapHeaderLen:], nil
}

// pcapRecordHeader decodes record header h into *ci and checks it as pcapgo
// does, and against MaxRecordSize.
func (s *source) pcapRecordHeader(ci *gopacket.CaptureInfo, h []byte) error {
	caplen := s.u32(h[8:12])
	if caplen > MaxRecordSize {
		// pcapgo would read what the header claims (through gzip, as
		// much as a small file inflates to): the file is damaged.
		return errRecordSize(s.fs.Packets+1, int(caplen))
	}
	s.captureInfo(ci, h, int(caplen), int(s.u32(h[12:16])))
	// pcapgo also refuses a record longer than the snap length or 256 KiB,
	// whichever is more: never below MaxRecordSize, checked above.
	if ci.CaptureLength > ci.Length {
		return fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	return nil
}

// captureInfo sets *ci to what pcapgo makes of record header h.
func (s *source) captureInfo(ci *gopacket.CaptureInfo, h []byte, caplen, origlen int) {
	// pcapgo multiplies the fraction by 1000 (microsecond files) as a
	// uint32, which wraps above 4294967 µs; a damaged file's timestamps
	// must come out the same.
	ts := time.Unix(int64(s.u32(h[0:4])), int64(s.u32(h[4:8])*s.tsUnit)).UTC()
	*ci = gopacket.CaptureInfo{Timestamp: ts, CaptureLength: caplen, Length: origlen}
}

// u32 is s.order.Uint32 without the interface call, which does not inline.
func (s *source) u32(b []byte) uint32 {
	if s.order == binary.BigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// readBigRecord reads a record too long to be peeked at in s.br (jumbo
// frames, TSO super-segments) into a buffer of the source's own, allocated
// once, as pcapgo reads every record.
func (s *source) readBigRecord(caplen int) ([]byte, error) {
	if s.big == nil {
		s.big = make([]byte, MaxRecordSize)
	}
	s.br.Discard(pcapHeaderLen)
	data := s.big[:caplen]
	if _, err := io.ReadFull(s.br, data); err != nil {
		return nil, err
	}
	return data, nil
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
