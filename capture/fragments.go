package capture

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// IP fragment reassembly, bounded. Fragments matter to synq mostly as the
// outer packets of tunnels: a full-size frame wrapped in VXLAN or GTP over
// a 1500-byte underlay is sent as two IP fragments, and without
// reassembly its connection loses that packet. Plain TCP is rarely
// fragmented (path MTU discovery), but it is reassembled alike.
//
// Bounds, as a kernel's own reassembly has them: at most fragMaxDatagrams
// datagrams and fragMaxBytes of payload wait at once (beyond, the oldest
// is dropped), and a datagram not complete FragTimeout after its first
// fragment is dropped (Linux's net.ipv4.ipfrag_time is 30 s). Overlapping
// fragments take the later bytes; a datagram whose fragments disagree on
// where it ends is dropped.
const (
	fragMaxDatagrams = 1024
	fragMaxBytes     = 8 << 20
	// FragTimeout is how long a datagram's fragments wait for the rest
	// (capture time).
	FragTimeout    = 30_000_000_000
	fragMaxPayload = 65535
)

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4's protocol; 0 for IPv6 (the ID is per address pair)
}

type fragDatagram struct {
	key   fragKey
	first int64  // capture time of its first fragment
	hdr   []byte // IP header of the fragment at offset 0 (nil until seen)
	data  []byte // payload, each fragment at its offset
	have  []fragRange
	total int // payload length, once the last fragment came; -1 before
	gone  bool
}

type fragRange struct{ from, to int }

// fragments is a Decoder's reassembly table.
type fragments struct {
	bufs  map[fragKey]*fragDatagram
	order []*fragDatagram // by first fragment, for expiry and eviction
	bytes int
	out   []byte // the last datagram completed
	// Reassembled counts datagrams completed; Dropped those given up
	// (timeout, bounds, inconsistent fragments).
	Reassembled, Dropped int64
}

// add takes one fragment: hdr is its IP header (v4: with options; v6: the
// fixed header), payload its fragment data at byte offset off, more its
// MF flag. When the datagram is complete it returns the whole packet (the
// offset-0 fragment's header, fixed up, then the payload), valid until the
// next call.
func (f *fragments) add(k fragKey, ts int64, v6 bool, hdr []byte, off int, more bool, nextHeader uint8, payload []byte) ([]byte, bool) {
	f.expire(ts)
	end := off + len(payload)
	if end > fragMaxPayload || off < 0 {
		return nil, false
	}
	if f.bufs == nil {
		f.bufs = make(map[fragKey]*fragDatagram)
	}
	d := f.bufs[k]
	if d == nil {
		for len(f.bufs) >= fragMaxDatagrams || f.bytes+end > fragMaxBytes && len(f.order) > 0 {
			f.drop(f.oldest())
		}
		d = &fragDatagram{key: k, first: ts, total: -1}
		f.bufs[k] = d
		f.order = append(f.order, d)
	}
	if !more {
		if d.total >= 0 && d.total != end {
			f.drop(d)
			return nil, false
		}
		d.total = end
	}
	if d.total >= 0 && end > d.total {
		f.drop(d)
		return nil, false
	}
	if grow := end - len(d.data); grow > 0 {
		f.bytes += grow
		d.data = append(d.data, make([]byte, grow)...)
	}
	copy(d.data[off:end], payload)
	d.have = addRange(d.have, fragRange{off, end})
	if off == 0 {
		d.hdr = append(d.hdr[:0], hdr...)
		if v6 {
			d.hdr[6] = nextHeader
		}
	}
	if d.hdr == nil || d.total < 0 || len(d.have) != 1 || d.have[0] != (fragRange{0, d.total}) {
		return nil, false
	}
	f.out = append(append(f.out[:0], d.hdr...), d.data[:d.total]...)
	if v6 {
		binary.BigEndian.PutUint16(f.out[4:6], uint16(d.total))
	} else {
		binary.BigEndian.PutUint16(f.out[2:4], uint16(len(f.out)))
		binary.BigEndian.PutUint16(f.out[6:8], 0) // no MF, offset 0
	}
	f.remove(d)
	f.Reassembled++
	return f.out, true
}

// addRange merges r into the sorted, disjoint ranges rs, in place (a
// fragment seen again costs no allocation).
func addRange(rs []fragRange, r fragRange) []fragRange {
	i := 0
	for i < len(rs) && rs[i].to < r.from {
		i++
	}
	j := i
	for j < len(rs) && rs[j].from <= r.to {
		r.from, r.to = min(r.from, rs[j].from), max(r.to, rs[j].to)
		j++
	}
	if i == j {
		return slices.Insert(rs, i, r)
	}
	rs[i] = r
	return append(rs[:i+1], rs[j:]...)
}

func (f *fragments) oldest() *fragDatagram {
	for len(f.order) > 0 && f.order[0].gone {
		f.order = f.order[1:]
	}
	return f.order[0]
}

// expire drops the datagrams whose first fragment is FragTimeout old.
func (f *fragments) expire(ts int64) {
	for len(f.order) > 0 {
		d := f.order[0]
		if d.gone {
			f.order = f.order[1:]
			continue
		}
		if ts-d.first < FragTimeout {
			return
		}
		f.drop(d)
	}
}

func (f *fragments) drop(d *fragDatagram) {
	f.remove(d)
	f.Dropped++
}

func (f *fragments) remove(d *fragDatagram) {
	if d.gone {
		return
	}
	d.gone = true
	delete(f.bufs, d.key)
	f.bytes -= len(d.data)
	if len(f.order) > 0 && f.order[0] == d {
		f.order = f.order[1:]
	}
	if len(f.bufs) == 0 {
		f.order = f.order[:0]
	}
}
