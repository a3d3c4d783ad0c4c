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
	numParkedFlags  = 29
	parkedIs4       = 1 << numParkedFlags
	parkedInUse     = 1 << (numParkedFlags + 1)
)

// The fields of a state that parked holds, by kind, in the same order in
// packParked (value arrays, looped over) and unpackParked (assignments in
// a row: unpacking runs for every late packet of a parked attempt and for
// each one finished, and building arrays of pointers to loop over cost a
// tracker on the dense mix 5%). TestParkedHoldsEveryField changes each
// field in turn: a field missing or misplaced on either side fails it.

// packParked returns s in parked form, and whether that form holds all
// of s. Every field of state is in one of the lists or checked to be zero
// here (it used to be checked at run time by unpacking and comparing: 4%
// of a dense capture's CPU).
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
	times := [numParkedTimes]int64{a.FirstSYN, a.LastSYN, a.FirstSYNACK, a.LastSYNACK, a.FirstACK,
		a.Accepted, a.LastPacket, a.SYNBeforeSYNACK, a.FirstServerRST, a.FirstClientRST,
		a.ServerTSAfterTime, a.Served, s.closedAt, a.FirstRetransAfterACK}
	for i, tm := range times {
		if tm != 0 {
			off := tm - a.FirstPacket
			if off < 0 || off >= 0xffffffff {
				return p, false
			}
			p.times[i] = uint32(off) + 1
		}
	}
	p.words = [numParkedWords]uint32{a.ClientISN, a.ServerISN, s.prevServerISN, a.ServerTSAfter,
		a.LastClientTSval, s.clientSeqLimit}
	counts := [numParkedCounts]int{a.SYNs, a.SYNsAfterSYNACK, a.SYNACKs, a.SYNACKRetransmits,
		a.SYNACKRetransAfterACK, a.DroppedSYNs, a.IgnoredSegments, a.IgnoredDataSegments,
		a.ServerRSTs, a.ClientRSTs, s.pendingSegs, s.pendingData}
	for i, n := range counts {
		var ok bool
		if p.counts[i], ok = small(n); !ok {
			return p, false
		}
	}
	flags := [numParkedFlags]bool{a.MidStream, a.HasServerISN, a.SYNOptsCut, a.BareACKAnswer,
		a.RSTBeforeSYNACK, a.AbortRST, a.ClientAcked, a.ServerAccepted, a.HasServerTSAfter,
		a.HasServed, a.HasClientTS, a.ClientData, a.ServerData, a.ServerAckedData,
		a.ClientFIN, a.ServerFIN, s.hasPrevISN, s.pendingSYN, s.sinceRetrans, s.closed,
		s.clientSent, a.ServerClosedFirst, a.SYNACKNotCaptured, a.AbortRSTAcked, a.SYNACKZeroWindow, a.ResentUnanswered,
		a.ACKEchoedFirstSYNACK, a.FirstSYNAnswered, a.ClientDataNotCaptured}
	for i, b := range flags {
		if b {
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
	a.FirstSYN, a.LastSYN, a.FirstSYNACK, a.LastSYNACK, a.FirstACK = p.time(0), p.time(1), p.time(2), p.time(3), p.time(4)
	a.Accepted, a.LastPacket, a.SYNBeforeSYNACK, a.FirstServerRST, a.FirstClientRST = p.time(5), p.lastPacket(), p.time(7), p.time(8), p.time(9)
	a.ServerTSAfterTime, a.Served, s.closedAt, a.FirstRetransAfterACK = p.time(10), p.time(11), p.closedAt(), p.time(13)
	w := &p.words
	a.ClientISN, a.ServerISN, s.prevServerISN, a.ServerTSAfter, a.LastClientTSval, s.clientSeqLimit = w[0], w[1], w[2], w[3], w[4], w[5]
	c := &p.counts
	a.SYNs, a.SYNsAfterSYNACK, a.SYNACKs, a.SYNACKRetransmits = int(c[0]), int(c[1]), int(c[2]), int(c[3])
	a.SYNACKRetransAfterACK, a.DroppedSYNs, a.IgnoredSegments, a.IgnoredDataSegments = int(c[4]), int(c[5]), int(c[6]), int(c[7])
	a.ServerRSTs, a.ClientRSTs, s.pendingSegs, s.pendingData = int(c[8]), int(c[9]), int(c[10]), int(c[11])
	a.MidStream, a.HasServerISN, a.SYNOptsCut, a.BareACKAnswer = p.flag(0), p.flag(1), p.flag(2), p.flag(3)
	a.RSTBeforeSYNACK, a.AbortRST, a.ClientAcked, a.ServerAccepted, a.HasServerTSAfter = p.flag(4), p.flag(5), p.flag(6), p.flag(7), p.flag(8)
	a.HasServed, a.HasClientTS, a.ClientData, a.ServerData, a.ServerAckedData = p.flag(9), p.flag(10), p.flag(11), p.flag(12), p.flag(13)
	a.ClientFIN, a.ServerFIN, s.hasPrevISN, s.pendingSYN, s.sinceRetrans, s.closed = p.flag(14), p.flag(15), p.flag(16), p.flag(17), p.flag(18), p.closed()
	s.clientSent, a.ServerClosedFirst, a.SYNACKNotCaptured, a.AbortRSTAcked = p.flag(20), p.flag(21), p.flag(22), p.flag(23)
	a.SYNACKZeroWindow, a.ResentUnanswered, a.ACKEchoedFirstSYNACK, a.FirstSYNAnswered = p.flag(24), p.flag(25), p.flag(26), p.flag(27)
	a.ClientDataNotCaptured = p.flag(28)
	a.Packets = int(p.packets)
	a.SYNOpts, a.SYNACKOpts = p.synOpts.unpack(), p.synackOpts.unpack()
	s.inUse = true
}

// time is the time at offset i of p.times (0: not set).
func (p *parked) time(i int) int64 {
	if v := p.times[i]; v != 0 {
		return p.firstPacket + int64(v-1)
	}
	return 0
}

// flag is bit i of p.flags.
func (p *parked) flag(i uint) bool { return p.flags>>i&1 != 0 }

// lastPacket, closedAt and closed are the attempt's LastPacket, closedAt
// and closed, as unpackParked gives them.
func (p *parked) lastPacket() int64 { return p.time(6) }
func (p *parked) closedAt() int64   { return p.time(12) }
func (p *parked) closed() bool      { return p.flag(19) }

// clientAddrPort is the client end of a parked attempt.
func (p *parked) clientAddrPort() netip.AddrPort {
	return unpackAddrPort(p.client, p.clientPort, p.flags&parkedIs4 != 0)
}
