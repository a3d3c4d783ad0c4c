package reassemble

import (
	"net/netip"

	"github.com/synq/synq/capture"
)

// light is an attempt in flight in a third of a full state's memory: what
// a half-open attempt holds, a client SYN (maybe retransmitted) and the
// server's SYN-ACKs (maybe retransmitted) and nothing else. A spoofed SYN
// flood is millions of those at once, and the performance issue's target
// is under 150 bytes of resident memory per attempt in flight.
//
// An attempt starts in a full slot and is made light 50 ms later if it is
// still half-open (Tracker.lighten). It stays light only while the light
// form holds all of it: after every packet the tracker packs the full
// state and checks that unpacking gives the same state back (lossless),
// else the attempt moves to a full slot for good. So the handshake logic
// exists once, in update, and the light form can never change what is
// emitted.
// TestLightChangesNothing runs every testdata capture both ways.
type light struct {
	firstSYN, lastSYN, firstSYNACK, lastSYNACK int64

	clientISN, serverISN, prevServerISN, lastClientTSval uint32

	synOpts, synackOpts packedOpts

	client     [16]byte // As16: IPv4 as v4-mapped, see lightIs4
	clientPort uint16
	server     uint16 // index into Tracker.servers
	flags      uint16 // light* bits; the SYN before the SYN-ACK in lightSYNBefore*

	syns, synacks, synackRetx, droppedSYNs, synsAfter uint8
}

// packedOpts is capture.TCPOptions in 12 bytes.
type packedOpts struct {
	tsval, tsecr uint32
	mss          uint16
	wscale       uint8
	flags        uint8
}

const (
	optHasMSS = 1 << iota
	optHasWScale
	optSACKPerm
	optHasTS
)

func packOpts(o capture.TCPOptions) packedOpts {
	p := packedOpts{tsval: o.TSval, tsecr: o.TSecr, mss: o.MSS, wscale: o.WScale}
	if o.HasMSS {
		p.flags |= optHasMSS
	}
	if o.HasWScale {
		p.flags |= optHasWScale
	}
	if o.SACKPerm {
		p.flags |= optSACKPerm
	}
	if o.HasTS {
		p.flags |= optHasTS
	}
	return p
}

func (p packedOpts) unpack() capture.TCPOptions {
	return capture.TCPOptions{
		MSS: p.mss, WScale: p.wscale, TSval: p.tsval, TSecr: p.tsecr,
		HasMSS: p.flags&optHasMSS != 0, HasWScale: p.flags&optHasWScale != 0,
		SACKPerm: p.flags&optSACKPerm != 0, HasTS: p.flags&optHasTS != 0,
	}
}

// Bits of light.flags.
const (
	lightIs4 = 1 << iota
	lightHasServerISN
	lightHasPrevISN
	lightPendingSYN
	lightHasClientTS
	lightSYNOptsCut
	lightInUse // the slot holds an attempt (unpack sets state.inUse)
	// SYNBeforeSYNACK is the first SYN's time or the last one's (with
	// neither bit: 0, no SYN-ACK yet); another SYN's takes a full state.
	lightSYNBeforeIsFirst
	lightSYNBeforeIsLast
	lightSYNACKZeroWindow
)

// lightServers numbers the server ends of light attempts (listeners are
// few, so two bytes instead of eighteen).
type lightServers struct {
	ids   map[netip.AddrPort]uint16
	addrs []netip.AddrPort
	// The last one asked for: nearly every capture has one listener, and
	// this is asked for every packet of a light attempt.
	last     netip.AddrPort
	lastID   uint16
	haveLast bool
}

func (ls *lightServers) id(ap netip.AddrPort) (uint16, bool) {
	if ls.haveLast && ap == ls.last {
		return ls.lastID, true
	}
	if id, ok := ls.ids[ap]; ok {
		ls.last, ls.lastID, ls.haveLast = ap, id, true
		return id, true
	}
	if len(ls.addrs) > 0xffff {
		return 0, false
	}
	if ls.ids == nil {
		ls.ids = make(map[netip.AddrPort]uint16)
	}
	id := uint16(len(ls.addrs))
	ls.ids[ap] = id
	ls.addrs = append(ls.addrs, ap)
	return id, true
}

func small(n int) (uint8, bool) { return uint8(n), n >= 0 && n <= 0xff }

// pack returns s in light form, and whether that form holds all of s.
func (t *Tracker) pack(s *state) (light, bool) {
	var l light
	a := &s.Handshake
	srv, ok := t.servers.id(a.Server)
	if !ok {
		return l, false
	}
	var ok1, ok2, ok3, ok4, ok5 bool
	l.syns, ok1 = small(a.SYNs)
	l.synacks, ok2 = small(a.SYNACKs)
	l.synackRetx, ok3 = small(a.SYNACKRetransmits)
	l.droppedSYNs, ok4 = small(a.DroppedSYNs)
	l.synsAfter, ok5 = small(a.SYNsAfterSYNACK)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return l, false
	}
	l.client = a.Client.Addr().As16()
	l.clientPort = a.Client.Port()
	l.server = srv
	l.flags = lightInUse
	if a.Client.Addr().Is4() {
		l.flags |= lightIs4
	}
	if a.HasServerISN {
		l.flags |= lightHasServerISN
	}
	if s.hasPrevISN {
		l.flags |= lightHasPrevISN
	}
	if s.pendingSYN {
		l.flags |= lightPendingSYN
	}
	if a.HasClientTS {
		l.flags |= lightHasClientTS
	}
	if a.SYNOptsCut {
		l.flags |= lightSYNOptsCut
	}
	if a.SYNACKZeroWindow {
		l.flags |= lightSYNACKZeroWindow
	}
	l.firstSYN, l.lastSYN = a.FirstSYN, a.LastSYN
	l.firstSYNACK, l.lastSYNACK = a.FirstSYNACK, a.LastSYNACK
	switch a.SYNBeforeSYNACK {
	case 0:
	case a.FirstSYN:
		l.flags |= lightSYNBeforeIsFirst
	default:
		l.flags |= lightSYNBeforeIsLast // or the check below fails
	}
	l.clientISN, l.serverISN, l.prevServerISN = a.ClientISN, a.ServerISN, s.prevServerISN
	l.lastClientTSval = a.LastClientTSval
	l.synOpts, l.synackOpts = packOpts(a.SYNOpts), packOpts(a.SYNACKOpts)
	var back state
	t.unpack(&l, &back)
	return l, back == *s
}

// unpack writes the full state of l into s.
func (t *Tracker) unpack(l *light, s *state) {
	a := t.unpackEnds(s, l.clientAddrPort(), l.server)
	a.ClientISN, a.ServerISN, s.prevServerISN = l.clientISN, l.serverISN, l.prevServerISN
	a.HasServerISN = l.flags&lightHasServerISN != 0
	s.hasPrevISN = l.flags&lightHasPrevISN != 0
	s.pendingSYN = l.flags&lightPendingSYN != 0
	a.HasClientTS = l.flags&lightHasClientTS != 0
	a.SYNOptsCut = l.flags&lightSYNOptsCut != 0
	a.SYNACKZeroWindow = l.flags&lightSYNACKZeroWindow != 0
	a.SYNs, a.SYNACKs, a.SYNACKRetransmits = int(l.syns), int(l.synacks), int(l.synackRetx)
	a.DroppedSYNs, a.SYNsAfterSYNACK = int(l.droppedSYNs), int(l.synsAfter)
	a.FirstSYN, a.LastSYN = l.firstSYN, l.lastSYN
	a.FirstSYNACK, a.LastSYNACK = l.firstSYNACK, l.lastSYNACK
	switch {
	case l.flags&lightSYNBeforeIsFirst != 0:
		a.SYNBeforeSYNACK = l.firstSYN
	case l.flags&lightSYNBeforeIsLast != 0:
		a.SYNBeforeSYNACK = l.lastSYN
	}
	a.FirstPacket = l.firstSYN
	a.LastPacket = l.lastPacket()
	a.Packets = a.SYNs + a.SYNACKs
	a.LastClientTSval = l.lastClientTSval
	a.SYNOpts, a.SYNACKOpts = l.synOpts.unpack(), l.synackOpts.unpack()
	s.inUse = true
}

// lastPacket is the attempt's LastPacket, as unpack gives it.
func (l *light) lastPacket() int64 { return max(l.lastSYN, l.lastSYNACK) }

// clientAddrPort is the client end of a light attempt.
func (l *light) clientAddrPort() netip.AddrPort {
	return unpackAddrPort(l.client, l.clientPort, l.flags&lightIs4 != 0)
}

// unpackEnds starts unpacking a compact form into s: a zero state with
// the attempt's ends (the server by its lightServers number). It returns
// s's handshake for the rest.
func (t *Tracker) unpackEnds(s *state, client netip.AddrPort, server uint16) *Handshake {
	*s = state{}
	a := &s.Handshake
	a.Client, a.Server = client, t.servers.addrs[server]
	return a
}

// unpackAddrPort is the address and port a compact form keeps as As16
// (IPv4 v4-mapped, is4 set) and a port.
func unpackAddrPort(a [16]byte, port uint16, is4 bool) netip.AddrPort {
	addr := netip.AddrFrom16(a)
	if is4 {
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, port)
}
