package reassemble

import (
	"math"
	"net/netip"

	"github.com/synq/synq/capture"
)

// parked is a closed attempt waiting out its linger in about a third of a
// full state's memory. A busy server's closed connections are most of
// what the tracker holds: at 20,000 connections a second and a 3 s linger,
// 60,000 of them, each keeping every field of its handshake for late
// packets (the last ACK, a retransmitted FIN) to update.
//
// Like the light form, it is lossless or not used: times are offsets from
// the first packet in nanoseconds (a connection that lasted over four
// seconds does not fit), counts are bytes, and a state it cannot hold
// exactly (a count over 255, a tunnel, an ICMP error) stays in (or moves
// to) a full slot. A parked attempt is unpacked into the scratch state
// for each late packet and packed again after it.
type parked struct {
	firstPacket int64
	// The other times, as offsets from firstPacket plus one (zero: not
	// seen), in the order of parkedTimes.
	times [numParkedTimes]uint32
	// The sequence numbers and timestamps, in the order of parkedWords.
	words   [numParkedWords]uint32
	packets uint32

	synOpts, synackOpts packedOpts

	client     [16]byte // As16: IPv4 as v4-mapped, see parkedIs4
	clientPort uint16
	server     uint16 // index into Tracker.servers
	// The flags, in the order of parkedFlags, then parkedIs4 and
	// parkedInUse.
	flags uint32
	// The counts, in the order of parkedCounts.
	counts [numParkedCounts]uint8
}

const (
	numParkedTimes  = 14
	numParkedWords  = 6
	numParkedCounts = 12
	numParkedFlags  = 22
	parkedIs4       = 1 << numParkedFlags
	parkedInUse     = 1 << (numParkedFlags + 1)
)

// The fields of a state that parked holds, by kind. One list serves
// packing and unpacking, so the two cannot disagree on the order.
func (s *state) parkedTimes() [numParkedTimes]*int64 {
	a := &s.Handshake
	return [...]*int64{&a.FirstSYN, &a.LastSYN, &a.FirstSYNACK, &a.LastSYNACK, &a.FirstACK,
		&a.Accepted, &a.LastPacket, &a.SYNBeforeSYNACK, &a.FirstServerRST, &a.FirstClientRST,
		&a.ServerTSAfterTime, &a.Served, &s.closedAt, &a.FirstRetransAfterACK}
}

func (s *state) parkedWords() [numParkedWords]*uint32 {
	a := &s.Handshake
	return [...]*uint32{&a.ClientISN, &a.ServerISN, &s.prevServerISN, &a.ServerTSAfter,
		&a.LastClientTSval, &s.clientSeqLimit}
}

func (s *state) parkedCounts() [numParkedCounts]*int {
	a := &s.Handshake
	return [...]*int{&a.SYNs, &a.SYNsAfterSYNACK, &a.SYNACKs, &a.SYNACKRetransmits,
		&a.SYNACKRetransAfterACK, &a.DroppedSYNs, &a.IgnoredSegments, &a.IgnoredDataSegments,
		&a.ServerRSTs, &a.ClientRSTs, &s.pendingSegs, &s.pendingData}
}

func (s *state) parkedFlags() [numParkedFlags]*bool {
	a := &s.Handshake
	return [...]*bool{&a.MidStream, &a.HasServerISN, &a.SYNOptsCut, &a.BareACKAnswer,
		&a.RSTBeforeSYNACK, &a.AbortRST, &a.ClientAcked, &a.ServerAccepted, &a.HasServerTSAfter,
		&a.HasServed, &a.HasClientTS, &a.ClientData, &a.ServerData, &a.ServerAckedData,
		&a.ClientFIN, &a.ServerFIN, &s.hasPrevISN, &s.pendingSYN, &s.sinceRetrans, &s.closed,
		&s.clientSent, &a.ServerClosedFirst}
}

// packParked returns s in parked form, and whether that form holds all
// of s. Every field of state is in one of the lists above or checked to
// be zero here; TestParkedHoldsEveryField changes each field in turn and
// fails if one is neither (it used to be checked at run time by unpacking
// and comparing: 6% of a dense capture's time).
func (t *Tracker) packParked(s *state) (parked, bool) {
	var p parked
	a := &s.Handshake
	if s.tunKey != 0 || !s.inUse || a.ICMPErrors != 0 || a.FirstICMP != 0 || a.ICMP != (capture.ICMPError{}) ||
		a.End != 0 || a.Packets < 0 || a.Packets > math.MaxUint32 || a.Client.Addr().Zone() != "" {
		return p, false
	}
	srv, ok := t.servers.id(a.Server)
	if !ok {
		return p, false
	}
	p.firstPacket = a.FirstPacket
	for i, tp := range s.parkedTimes() {
		if *tp != 0 {
			off := *tp - a.FirstPacket
			if off < 0 || off >= 0xffffffff {
				return p, false
			}
			p.times[i] = uint32(off) + 1
		}
	}
	for i, w := range s.parkedWords() {
		p.words[i] = *w
	}
	for i, n := range s.parkedCounts() {
		var ok bool
		if p.counts[i], ok = small(*n); !ok {
			return p, false
		}
	}
	for i, b := range s.parkedFlags() {
		if *b {
			p.flags |= 1 << i
		}
	}
	p.flags |= parkedInUse
	if a.Client.Addr().Is4() {
		p.flags |= parkedIs4
	}
	p.packets = uint32(a.Packets)
	p.client, p.clientPort, p.server = a.Client.Addr().As16(), a.Client.Port(), srv
	p.synOpts, p.synackOpts = packOpts(a.SYNOpts), packOpts(a.SYNACKOpts)
	return p, true
}

// unpackParked writes the full state of p into s.
func (t *Tracker) unpackParked(p *parked, s *state) {
	a := t.unpackEnds(s, p.clientAddrPort(), p.server)
	a.FirstPacket = p.firstPacket
	for i, tp := range s.parkedTimes() {
		if p.times[i] != 0 {
			*tp = p.firstPacket + int64(p.times[i]-1)
		}
	}
	for i, w := range s.parkedWords() {
		*w = p.words[i]
	}
	for i, n := range s.parkedCounts() {
		*n = int(p.counts[i])
	}
	for i, b := range s.parkedFlags() {
		*b = p.flags&(1<<i) != 0
	}
	a.Packets = int(p.packets)
	a.SYNOpts, a.SYNACKOpts = p.synOpts.unpack(), p.synackOpts.unpack()
	s.inUse = true
}

// clientAddrPort is the client end of a parked attempt.
func (p *parked) clientAddrPort() netip.AddrPort {
	return unpackAddrPort(p.client, p.clientPort, p.flags&parkedIs4 != 0)
}
