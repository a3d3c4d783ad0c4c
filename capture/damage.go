package capture

import (
	"encoding/binary"
	"fmt"
)

// Checks on pcapng block headers before pcapgo reads them (readPcapRecord
// does the same for pcap records). pcapgo reads a block's data into a
// buffer as long as its header says (or as the bytes arrive beyond 256
// KiB): a damaged length makes it read the rest of the file as one block,
// or, through gzip, allocate as much as a small file can inflate to. The
// checks peek at the headers in the source's bufio.Reader, which pcapgo
// reads from, so they cost no copy and no allocation.

// pcapng block types and byte-order magic.
const (
	ngSectionHeader  = 0x0A0D0D0A // the same in either byte order
	ngPacket         = 2          // obsolete Packet Block
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1A2B3C4D
)

// errRecordSize is the error for a record longer than MaxRecordSize.
func errRecordSize(record int64, n int) error {
	return fmt.Errorf("record %d claims %d captured bytes, more than any capture tool writes (%d): the file is damaged from there on",
		record, n, MaxRecordSize)
}

// checkNgBlocks looks at the pcapng blocks before the next packet block
// (as far as the read buffer holds them) and at that packet block: a block
// length below 12 or not a multiple of 4, or a captured length longer than
// its block or than MaxRecordSize, is damage. It follows section headers'
// byte order: pcapgo reads every block up to the next packet block in the
// same call.
func (s *source) checkNgBlocks() error {
	off := 0
	for range 64 {
		h, _ := s.br.Peek(off + 12)
		if len(h) < off+12 {
			return nil // the end, or cut off: pcapgo says which
		}
		b := h[off:]
		typ := s.order.Uint32(b[0:4])
		if typ == ngSectionHeader {
			switch {
			case binary.BigEndian.Uint32(b[8:12]) == ngByteOrderMagic:
				s.order = binary.BigEndian
			case binary.LittleEndian.Uint32(b[8:12]) == ngByteOrderMagic:
				s.order = binary.LittleEndian
			default:
				return nil // pcapgo reports the bad byte-order magic
			}
		}
		n := s.order.Uint32(b[4:8])
		if n < 12 || n%4 != 0 {
			return fmt.Errorf("pcapng block %d bytes after record %d has a bad length %d: the file is damaged from there on",
				off, s.fs.Packets, n)
		}
		if typ == ngEnhancedPacket || typ == ngPacket {
			h, _ := s.br.Peek(off + 28)
			if len(h) < off+28 {
				return nil
			}
			caplen := s.order.Uint32(h[off+20 : off+24])
			if caplen > MaxRecordSize {
				return errRecordSize(s.fs.Packets+1, int(caplen))
			}
			if n < 32 || caplen > n-32 {
				return fmt.Errorf("record %d claims %d captured bytes in a %d-byte block: the file is damaged from there on",
					s.fs.Packets+1, caplen, n)
			}
			return nil
		}
		if off+int(n) > readBufSize-28 {
			return nil // beyond what the buffer holds: pcapgo reads on
		}
		off += int(n)
	}
	return nil
}

// Duplicate detection: a fixed-size table of recent packets' keys, indexed
// by the key. A slot holds the last packet kept that hashed there; an older
// one with the same slot is forgotten, which at worst lets a duplicate
// through.

const dupSlots = 4096

type dupKey uint64

type dupEntry struct {
	key   dupKey
	where uint64
	t     int64
}

type dupTable [dupSlots]dupEntry

// makeDupKey hashes what is the same in two captures of one packet and
// differs between a packet and its retransmission (IP ID, timestamps
// option). TTL and IP checksum are left out: a routed copy has them
// changed. So is the TCP checksum: a host with transmit checksum offload
// (the default on most NICs and on veth) captures its own packets before
// the NIC fills the checksum in, and every other point captures them
// after, so no packet sent by a capturing host had the same checksum in
// both files (two-capture-points recorded with LAB_OFFLOADS=on counted
// every packet twice). A retransmission with the same headers comes
// 200 ms later at the earliest, outside both windows.
func makeDupKey(p *Packet, ipID uint16) dupKey {
	a, b := p.Src.Addr().As16(), p.Dst.Addr().As16()
	var flags uint64
	if p.Src.Addr().Is4() {
		flags = 1
	}
	if p.OptionsCut {
		flags |= 2
	}
	if p.ICMP.IsSet() { // not the SYN it quotes
		flags |= 4 | uint64(p.ICMP.Type)<<8 | uint64(p.ICMP.Code)<<16
	}
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [...]uint64{
		binary.LittleEndian.Uint64(a[0:8]), binary.LittleEndian.Uint64(a[8:16]),
		binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16]),
		uint64(p.Src.Port())<<48 | uint64(p.Dst.Port())<<32 | uint64(p.Seq),
		uint64(p.Ack)<<32 | uint64(p.Window)<<16 | uint64(ipID),
		uint64(p.Flags)<<40 | flags<<32 | uint64(p.PayloadLen),
		uint64(p.Opts.TSval)<<32 | uint64(p.Opts.TSecr),
	} {
		h = (h ^ v) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	return dupKey(h | 1) // never 0, the empty slot's key
}

// seen reports whether the packet with key k captured at point where at
// time t is a copy of one kept at another point less than DuplicateWindow
// from t, or CrossFileWindow when the two came from different files (see
// OpenOptions.KeepDuplicates); across says they did. If not, it is the one
// kept for its slot.
func (d *dupTable) seen(k dupKey, where uint64, t int64) (dup, across bool) {
	e := &d[uint64(k)>>52] // top 12 bits: dupSlots = 1<<12
	if e.key == k && e.where != where {
		window := int64(DuplicateWindow)
		if across = e.where>>whereFileShift != where>>whereFileShift; across {
			window = CrossFileWindow
		}
		if dt := t - e.t; dt < window && dt > -window {
			return true, across
		}
	}
	*e = dupEntry{key: k, where: where, t: t}
	return false, false
}

// whereFileShift puts a packet's file index above the rest of where it
// was captured (pcapng interface, cooked header): see Reader.nextAt.
const whereFileShift = 48
