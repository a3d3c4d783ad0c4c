package reassemble

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/synq/synq/capture"
)

// Config selects which attempts are tracked and how long they are kept.
type Config struct {
	// Ports, when not empty, restricts tracking to listeners on these ports.
	Ports []uint16
	// Server, when valid, forces which side is the server: only flows with
	// an end at this address (and ServerPort, when not zero) are tracked,
	// and that end is the server. SYNs sent by that end are outbound
	// connections and are skipped.
	Server     netip.Addr
	ServerPort uint16
	// IdleTimeout finishes an attempt that has seen no packet for this long
	// (capture time). Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Linger keeps a closed attempt (RST, or FIN both ways) this long so
	// that its last packets are not taken for a new connection. Zero means
	// DefaultLinger.
	Linger time.Duration
	// MaxAttempts bounds the attempts held at once (a spoofed SYN flood
	// creates one per packet). At the limit the tracker finishes the
	// longest-idle tenth early (End = EndEvicted). Zero means no limit.
	MaxAttempts int
	// ConnState makes the tracker follow each attempt as Zeek would
	// (Attempt.Conn: conn_state, history, byte counts), for the
	// per-connection export. Off, Attempt.Conn stays zero and packets
	// cost nothing more.
	ConnState bool
	// DropBadChecksums (with ConnState and packets whose checksums were
	// verified) ignores a segment with a bad TCP checksum after its 'C'
	// letter, as Zeek does without -C; the handshake analysis then does
	// not see it either. For comparing with Zeek: with checksum offload
	// every segment a capturing host sent has a bad checksum.
	DropBadChecksums bool
	// ZeekParity (with ConnState) splits records where Zeek would start a
	// new connection: an attempt whose responder has sent nothing is
	// finished ZeekAttemptDelay after the originator's first SYN (Zeek's
	// tcp_attempt_delay), and a SYN after either side closed (FIN or RST)
	// starts a new record whatever its sequence number (Zeek's IsReuse),
	// as does any packet ZeekCloseDelay after a complete close (one side
	// closed while the other had closed, reset or sent nothing: Zeek's
	// tcp_close_delay); a later packet of the 4-tuple then starts a new record, as it starts
	// a new Zeek connection. The idle timeout is Zeek's inactivity
	// timeout (5 min) instead of 130 s, the linger its close delay. For comparing with Zeek's conn.log; synq's
	// own records follow the attempt (one client ISN), which is what a
	// handshake analysis needs.
	ZeekParity bool
}

// parkAboveDefault: see Tracker.parkAbove. A full slot is 448 bytes, a
// parked one 152: 16,384 closed attempts parked save under 5 MB.
const parkAboveDefault = 16384

// ZeekAttemptDelay is Zeek's tcp_attempt_delay, ZeekCloseDelay its
// tcp_close_delay; ZeekInactivityTimeout its tcp_inactivity_timeout, the
// idle timeout under ZeekParity (unless IdleTimeout is set).
const (
	ZeekAttemptDelay      = 5 * time.Second
	ZeekCloseDelay        = 5 * time.Second
	ZeekInactivityTimeout = 5 * time.Minute
)

const (
	// DefaultIdleTimeout outlasts Linux's longest handshake retry schedule
	// (6 SYN retries or 5 SYN-ACK retries: about 127 s and 63 s).
	DefaultIdleTimeout = 130 * time.Second
	// DefaultLinger covers a FIN or last ACK retransmitted a few times.
	DefaultLinger = 3 * time.Second
	sweepEvery    = int64(5 * time.Second)
)

// Stats counts what the tracker saw beyond the attempts it emitted.
type Stats struct {
	Attempts  int // attempts emitted (MidStream ones included)
	MidStream int // connections first seen without a SYN
	// MidStreamSYNACK: of those, connections first seen on the
	// server's SYN-ACK, their client's SYN not in the capture.
	MidStreamSYNACK int
	PeakInFlight    int // most attempts held at once
	Evicted         int // attempts finished early to stay under MaxAttempts
	SkippedPackets  int // packets outside --port / --server, or of outbound connections
	// BadChecksums counts segments dropped for a bad checksum
	// (Config.DropBadChecksums).
	BadChecksums int
	// ICMPUnmatched counts ICMP errors (within --port / --server) that
	// quote no tracked attempt's client SYN.
	ICMPUnmatched int
	// SkippedListeners are the listeners that SYNs left out by --port /
	// --server went to, with the most SYNs first (at most 5).
	SkippedListeners []ListenerSYNs
}

// ListenerSYNs is a listener address and how many SYNs went to it.
type ListenerSYNs struct {
	Listener netip.AddrPort
	SYNs     int
}

// flowKey is the 4-tuple in a canonical order (lower address:port first),
// the same both ways: the key of Tracker.tunnelled (see otherCopy). The
// flow index hashes the ends instead (flowHash).
type flowKey struct {
	a, b   [16]byte
	pa, pb uint16
}

func keyOf(src, dst netip.AddrPort) flowKey {
	sa, da := src.Addr().As16(), dst.Addr().As16()
	sp, dp := src.Port(), dst.Port()
	if less(sa, sp, da, dp) {
		return flowKey{a: sa, b: da, pa: sp, pb: dp}
	}
	return flowKey{a: da, b: sa, pa: dp, pb: sp}
}

func less(a [16]byte, pa uint16, b [16]byte, pb uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return pa < pb
}

// state is an attempt in flight as the store keeps it: the rules' state
// (handshake.go) plus where it belongs. Its Conn (with Config.ConnState)
// and Tunnel (if tunnelled) live in side tables under the same full-table
// index.
type state struct {
	handshakeState
	tunKey uint64 // the flow key's tunnel part; 0: not tunnelled
	inUse  bool   // the slot holds an attempt in flight
}

// Tracker follows handshakes and emits one Attempt per connection attempt.
type Tracker struct {
	cfg       Config
	ports     [65536 / 64]uint64 // bitmap of --port values
	havePorts bool
	skipped   map[netip.AddrPort]int // SYNs to listeners left out (skippedSYN)
	kept      keptSYNs               // what a kept listener forwarded to (--port, --server)
	emit      func(*Attempt)

	flows   flowIndex
	states  table[state]
	lights  table[light]
	parked  table[parked]
	servers lightServers
	noLight bool // every attempt in a full state, never light or parked (tests compare)
	// parkAbove is how many full slots must be in use before a closed
	// attempt is parked: below it parking saves little memory
	// (parkAboveDefault closed attempts save about 5 MB) and costs a pack
	// and unpack per late packet. Tests set 0 to park every time.
	parkAbove  int
	scratch    state // a light attempt, unpacked while a packet is applied
	flushing   bool
	lightsMade int // attempts started light (for tests)
	parkedMade int // attempts parked (for tests)
	// tunnelled maps the 4-tuple key (tun 0) of each tunnelled flow to its
	// tunnel key (see otherCopy); nil until one starts.
	tunnelled map[flowKey]uint64
	// unwatched holds, by flow hash, the attempts in flight when a file
	// captured alongside others stopped (capture.Packet.WatchEnds), with
	// the time it did. Until a later packet shows another file still sees
	// one, it is judged as if the capture had ended then. nil until a
	// file stops so.
	unwatched map[uint64]int64
	// spanning holds, by flow hash, the attempts in flight when the clock
	// was set back (clockStepped); nil until then.
	spanning  map[uint64]struct{}
	hash      func(a, b netip.AddrPort, tun uint64) uint64 // flowHash; tests force collisions
	conns     table[ConnState]                             // Zeek state of each full slot (Config.ConnState)
	conn      *ConnState                                   // of the attempt update works on
	tunnels   map[int32]capture.Tunnel                     // tunnel of each tunnelled full slot
	out       Attempt                                      // what finish emits
	looking   flow                                         // what find looks for (matches)
	inFlight  int
	closing   closingQueue // closed attempts, in order of closing
	young     fifo         // new full slots (with their first packet's time), to lighten
	nextSweep int64
	now       int64
	stats     Stats
}

// NewTracker returns a tracker that calls emit with each finished attempt.
// The *Attempt is only valid during the call: copy what you keep.
func NewTracker(cfg Config, emit func(*Attempt)) *Tracker {
	if cfg.IdleTimeout <= 0 && cfg.ZeekParity {
		cfg.IdleTimeout = ZeekInactivityTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Linger <= 0 && cfg.ZeekParity {
		// Zeek keeps a closed connection tcp_close_delay: a packet in
		// that time is still part of it.
		cfg.Linger = ZeekCloseDelay
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	t := &Tracker{cfg: cfg, emit: emit, parkAbove: parkAboveDefault}
	t.flows = newFlowIndex()
	t.hash = flowHash
	// Zeek's per-attempt state never fits the light form: do not try.
	t.noLight = cfg.ConnState
	for _, p := range cfg.Ports {
		t.ports[p/64] |= 1 << (p % 64)
		t.havePorts = true
	}
	return t
}

func (t *Tracker) portWanted(p uint16) bool {
	return !t.havePorts || t.ports[p/64]&(1<<(p%64)) != 0
}

// isServer reports whether ap is the server forced by Config.Server.
func (t *Tracker) isServer(ap netip.AddrPort) bool {
	return ap.Addr() == t.cfg.Server && (t.cfg.ServerPort == 0 || ap.Port() == t.cfg.ServerPort)
}

// Stats returns the tracker's counters so far.
func (t *Tracker) Stats() Stats {
	st := t.stats
	st.SkippedListeners = nil
	for l, n := range t.skipped {
		st.SkippedListeners = append(st.SkippedListeners, ListenerSYNs{l, n})
	}
	slices.SortFunc(st.SkippedListeners, func(a, b ListenerSYNs) int {
		return cmp.Or(cmp.Compare(b.SYNs, a.SYNs), a.Listener.Compare(b.Listener))
	})
	st.SkippedListeners = st.SkippedListeners[:min(len(st.SkippedListeners), 5)]
	return st
}

// Add feeds one packet. Packets must come in capture order.
func (t *Tracker) Add(p *capture.Packet) {
	if p.ClockStep {
		t.clockStepped()
	}
	t.add(p, t.hash(p.Src, p.Dst, tunnelKey(p.Tunnel)))
	if p.WatchEnds {
		t.watchEnded(p.Time)
	}
}

// watchEnded notes the attempts in flight, closed ones aside (their fate
// is known), as no longer watched since at: a file stopped then while
// another went on (capture.Packet.WatchEnds). Which of them the stopped
// file saw is not known, so all are noted, and a later packet of one
// takes it off (add): an attempt of the other files that gets none is
// judged as at the end of a capture, which asks for less, never more.
// An attempt noted by an earlier file keeps the earlier time.
func (t *Tracker) watchEnded(at int64) {
	if t.unwatched == nil {
		t.unwatched = make(map[uint64]int64)
	}
	t.each(func(_ int32, s *state) {
		if s.closed {
			return
		}
		if h := t.hashOf(s); t.unwatched[h] == 0 {
			t.unwatched[h] = at
		}
	})
}

// clockStepped notes every attempt in flight, closed ones aside, as
// spanning a clock step (Attempt.SpansClockStep): the capturing host's
// clock was set back before this packet (capture.Packet.ClockStep), and
// how long passed until it is unknown. Finishing them there instead
// split them: a SYN retransmitted once and answered by the next became
// a failure.
func (t *Tracker) clockStepped() {
	if t.spanning == nil {
		t.spanning = make(map[uint64]struct{})
	}
	t.each(func(_ int32, s *state) {
		if !s.closed {
			t.spanning[t.hashOf(s)] = struct{}{}
		}
	})
}

// add is Add with the flow's hash, h = t.hash(p.Src, p.Dst, its tunnel
// key): Run computes it on the reading goroutine, which has time to spare.
// Like Add, its caller notes a file's end (Packet.WatchEnds) after it.
func (t *Tracker) add(p *capture.Packet, h uint64) {
	if t.unwatched != nil {
		delete(t.unwatched, h)
	}
	t.now = p.Time
	if t.nextSweep == 0 {
		t.nextSweep = p.Time + sweepEvery
	} else if p.Time >= t.nextSweep {
		t.sweep(p.Time)
		t.nextSweep = p.Time + sweepEvery
	}
	t.lighten(p.Time)
	t.lingered(p.Time)
	if t.havePorts && !t.portWanted(p.Src.Port()) && !t.portWanted(p.Dst.Port()) && !t.kept.forwarded(p) {
		t.stats.SkippedPackets++
		t.skippedSYN(p)
		return
	}
	f := flow{a: p.Src, b: p.Dst, tun: tunnelKey(p.Tunnel), h: h}
	if p.ICMP.IsSet() {
		t.icmp(f, p)
		return
	}
	ref, pos, ok := t.find(f)
	if !ok && (f.tun != 0 || t.tunnelled != nil) {
		if g, gref, gpos, found := t.otherCopy(f); found {
			f, ref, pos, ok = g, gref, gpos, true
		}
	}
	if t.cfg.DropBadChecksums && p.Checksum == capture.ChecksumBad {
		// Zeek without -C: the segment's 'C' goes in the history, and
		// the segment no further (TCPAnalyzer::ValidateChecksum).
		if ok && t.cfg.ConnState {
			t.conns.at(ref).checksumError(p.Src == t.load(ref).Client)
		}
		t.stats.BadChecksums++
		return
	}
	pureSYN := p.Flags&(capture.FlagSYN|capture.FlagACK) == capture.FlagSYN
	if ok {
		s := t.load(ref)
		if t.cfg.ConnState {
			t.conn = t.conns.at(ref) // never light: see start
		}
		if t.cfg.ZeekParity && t.cfg.ConnState && (t.conn.attemptExpired(p.Time) || t.conn.closeDelayPassed(p.Time) || pureSYN && t.conn.closed()) {
			// Zeek's attempt timer fired before this packet, or this SYN
			// reuses a closed connection: Zeek removed that connection,
			// and this packet starts another.
			s.End = EndZeekSplit
			t.finish(pos, ref, s)
			_, pos, _ = t.find(f)
			t.start(f, pos, p, pureSYN)
			return
		}
		if pureSYN && p.Src == s.Client && (s.MidStream || p.Seq != s.ClientISN) {
			// Port reuse: a new ISN on a known 4-tuple is a new attempt.
			s.End = EndReused
			t.finish(pos, ref, s)
			// The cluster may have changed: find where the new one goes.
			_, pos, _ = t.find(f)
		} else {
			wasClosed, was := s.closed, ref
			t.update(s, p)
			ref = t.store(pos, ref, s)
			if s.closed {
				at := s.closedAt
				if isFull(ref) && (wasClosed || p.Flags&capture.FlagRST != 0) {
					// Likely the attempt's last packet (the last ACK
					// of a FIN exchange, or a RST): park it now, while
					// its state is in the cache.
					ref = t.park(pos, ref, s)
				}
				switch {
				case !wasClosed:
					t.closing.push(ref, at)
				case ref != was:
					t.closing.moved(was, ref, at)
				}
			}
			return
		}
	}
	t.start(f, pos, p, pureSYN)
}

// icmp books an ICMP error (p's addresses and Seq are the quoted
// segment's) on the attempt whose client SYN it quotes. It answers that
// SYN, as a SYN-ACK or RST would: the SYN was refused, not dropped. An
// error about any other segment or flow is counted and left.
func (t *Tracker) icmp(f flow, p *capture.Packet) {
	ref, pos, ok := t.find(f)
	if !ok {
		t.stats.ICMPUnmatched++
		return
	}
	s := t.load(ref)
	if s.MidStream || p.Src != s.Client || p.Seq != s.ClientISN || s.SYNs == 0 {
		t.stats.ICMPUnmatched++
		return
	}
	if s.ICMPErrors == 0 {
		s.FirstICMP, s.ICMP = p.Time, p.ICMP
	}
	s.ICMPErrors++
	s.pendingSYN = false
	t.store(pos, ref, s)
}

// skippedSYN tallies the listener a SYN left out by --port/--server was
// for, so that a report with nothing in it can say what was there.
func (t *Tracker) skippedSYN(p *capture.Packet) {
	if p.Flags&(capture.FlagSYN|capture.FlagACK) != capture.FlagSYN || p.ICMP.IsSet() {
		return
	}
	if _, ok := t.skipped[p.Dst]; !ok && len(t.skipped) >= maxSkippedListeners {
		return
	}
	if t.skipped == nil {
		t.skipped = make(map[netip.AddrPort]int)
	}
	t.skipped[p.Dst]++
}

// maxSkippedListeners bounds the tally of listeners left out.
const maxSkippedListeners = 256

// flow is a 4-tuple (either way round) and tunnel key being looked up.
type flow struct {
	a, b netip.AddrPort
	tun  uint64
	h    uint64
}

func tunnelKey(tun capture.Tunnel) uint64 {
	if tun.IsZero() {
		return 0
	}
	return tun.Key()
}

// find looks f up in the index.
func (t *Tracker) find(f flow) (ref int32, pos uint64, ok bool) {
	t.looking = f
	return t.flows.find(f.h, t)
}

// matches tells the index whether the attempt at ref is the flow being
// looked up.
func (t *Tracker) matches(ref int32) bool {
	var c, s netip.AddrPort
	var tun uint64
	switch {
	case isLight(ref):
		l := t.lights.at(lightSlot(ref))
		c, s = l.clientAddrPort(), t.servers.addrs[l.server]
	case isParked(ref):
		p := t.parked.at(parkedSlot(ref))
		c, s = p.clientAddrPort(), t.servers.addrs[p.server]
	default:
		st := t.states.at(ref)
		c, s, tun = st.Client, st.Server, st.tunKey
	}
	f := &t.looking
	return tun == f.tun && (c == f.a && s == f.b || c == f.b && s == f.a)
}

// hashOf is the hash of the attempt s's flow.
func (t *Tracker) hashOf(s *state) uint64 {
	return t.hash(s.Client, s.Server, s.tunKey)
}

// An attempt's ref, in the flow index, is its slot in the full table (0
// and up), in the parked table (parkedBase and up) or in the light table
// (-2 and down).
func lightRef(i int32) int32     { return -i - 2 }
func isLight(ref int32) bool     { return ref <= -2 }
func lightSlot(ref int32) int32  { return -ref - 2 }
func parkedRef(i int32) int32    { return parkedBase + i }
func isParked(ref int32) bool    { return ref >= parkedBase }
func parkedSlot(ref int32) int32 { return ref - parkedBase }
func isFull(ref int32) bool      { return ref >= 0 && ref < parkedBase }

// parkedBase leaves the full table a billion slots (half a terabyte).
const parkedBase = 1 << 30

// load returns the state of the attempt at ref: in its full slot, or a
// light or parked one unpacked into the scratch state.
func (t *Tracker) load(ref int32) *state {
	switch {
	case isLight(ref):
		t.unpack(t.lights.at(lightSlot(ref)), &t.scratch)
		return &t.scratch
	case isParked(ref):
		t.unpackParked(t.parked.at(parkedSlot(ref)), &t.scratch)
		return &t.scratch
	}
	return t.states.at(ref)
}

// store keeps s, loaded from ref (found at pos in the index), after a
// packet changed it: a light or parked attempt stays so if its form still
// holds all of it, else it moves to a full slot. It returns the
// attempt's ref from now on.
func (t *Tracker) store(pos uint64, ref int32, s *state) int32 {
	switch {
	case isLight(ref):
		if l, ok := t.pack(s); ok {
			*t.lights.at(lightSlot(ref)) = l
			return ref
		}
		t.lights.release(lightSlot(ref))
	case isParked(ref):
		if p, ok := t.packParked(s); ok {
			*t.parked.at(parkedSlot(ref)) = p
			return ref
		}
		t.parked.release(parkedSlot(ref))
	default:
		return ref
	}
	idx := t.allocFull()
	*t.states.at(idx) = *s
	t.flows.set(pos, idx)
	return idx
}

// park moves the closed attempt s from its full slot ref to a parked one
// if it fits, and returns its ref from now on. pos is ref's position in
// the index, or noPos.
func (t *Tracker) park(pos uint64, ref int32, s *state) int32 {
	if t.noLight || t.states.used() < t.parkAbove {
		return ref
	}
	p, ok := t.packParked(s)
	if !ok {
		return ref
	}
	if pos == noPos {
		pos, _ = t.flows.findRef(t.hashOf(s), ref)
	}
	i := t.parked.alloc()
	*t.parked.at(i) = p
	t.states.release(ref)
	t.flows.set(pos, parkedRef(i))
	t.parkedMade++
	return parkedRef(i)
}

// otherCopy finds the flow of a packet that came in a tunnel when its
// connection was first seen without one, or the other way round:
// tcpdump -i any on a VXLAN host sees each packet on the underlay
// (tunnelled) and on the VXLAN device or a veth (not), and the Reader's
// duplicate filter keeps whichever copy came first, which differs by
// direction. Flows in two different tunnels stay apart.
func (t *Tracker) otherCopy(f flow) (g flow, ref int32, pos uint64, ok bool) {
	tun := uint64(0)
	if f.tun == 0 {
		if tun, ok = t.tunnelled[keyOf(f.a, f.b)]; !ok {
			return f, 0, 0, false
		}
	}
	g = flow{a: f.a, b: f.b, tun: tun, h: t.hash(f.a, f.b, tun)}
	ref, pos, ok = t.find(g)
	return g, ref, pos, ok
}

// start opens a new attempt (or a mid-stream record) for the packet's flow.
func (t *Tracker) start(f flow, pos uint64, p *capture.Packet, pureSYN bool) {
	client, server := p.Src, p.Dst
	if pureSYN {
		if t.cfg.Server.IsValid() && !t.isServer(server) && !t.kept.forwarded(p) {
			t.stats.SkippedPackets++
			t.skippedSYN(p)
			return
		}
	} else {
		client, server = t.guessSides(p)
	}
	if (!t.portWanted(server.Port()) || (t.cfg.Server.IsValid() && !t.isServer(server))) && !t.kept.extra[server] {
		t.stats.SkippedPackets++
		return
	}
	if pureSYN && (t.havePorts || t.cfg.Server.IsValid()) {
		t.kept.note(p)
	}
	if t.cfg.MaxAttempts > 0 && t.inFlight >= t.cfg.MaxAttempts {
		t.evict()
		// Eviction moved entries of the index: find the free slot anew.
		_, pos, _ = t.find(f)
	}
	idx := t.allocFull()
	s := t.states.at(idx)
	*s = state{}
	s.inUse = true
	s.Client, s.Server = client, server
	s.FirstPacket = p.Time
	s.MidStream = !pureSYN
	if s.MidStream && p.Flags&(capture.FlagSYN|capture.FlagACK) == capture.FlagSYN|capture.FlagACK && p.Src == server {
		t.stats.MidStreamSYNACK++
	}
	s.tunKey = f.tun
	if pureSYN {
		s.ClientISN = p.Seq
		s.SYNOpts = p.Opts
		s.SYNOptsCut = p.OptionsCut
	}
	if f.tun != 0 {
		if t.tunnelled == nil {
			t.tunnelled = make(map[flowKey]uint64)
			t.tunnels = make(map[int32]capture.Tunnel)
		}
		k := keyOf(client, server)
		t.tunnelled[k] = f.tun
		t.tunnels[idx] = p.Tunnel
	}
	t.inFlight++
	if t.inFlight > t.stats.PeakInFlight {
		t.stats.PeakInFlight = t.inFlight
	}
	if t.cfg.ConnState {
		t.conn = t.conns.at(idx)
	}
	t.update(s, p)
	t.flows.insert(pos, f.h, idx)
	if pureSYN && !t.noLight && f.tun == 0 {
		// A tunnelled attempt, or any whose Zeek state is followed, is
		// never light.
		t.young.push(idx, s.FirstPacket)
	}
	if s.closed {
		at := s.closedAt
		if p.Flags&capture.FlagRST != 0 {
			idx = t.park(pos, idx, s) // a stray RST, its only packet
		}
		t.closing.push(idx, at)
	}
}

// allocFull takes a full slot (with its Zeek state, zeroed, when those are
// followed).
func (t *Tracker) allocFull() int32 {
	idx := t.states.alloc()
	if t.cfg.ConnState {
		*t.conns.ensure(idx) = ConnState{}
	}
	return idx
}

// guessSides picks client and server for a flow first seen without a SYN:
// the sender of a SYN-ACK is the server; else --server; else the lower port
// (listeners usually sit below the ephemeral range).
func (t *Tracker) guessSides(p *capture.Packet) (client, server netip.AddrPort) {
	switch {
	case p.Flags.Has(capture.FlagSYN | capture.FlagACK):
		return p.Dst, p.Src
	case t.cfg.Server.IsValid():
		if t.isServer(p.Src) {
			return p.Dst, p.Src
		}
		return p.Src, p.Dst
	case p.Src.Port() < p.Dst.Port():
		return p.Dst, p.Src
	default:
		return p.Src, p.Dst
	}
}

// update applies one packet to its attempt: Zeek's state (when followed),
// then the handshake rules (handshake.go).
func (t *Tracker) update(s *state, p *capture.Packet) {
	if t.cfg.ConnState {
		t.conn.add(p, p.Src == s.Client)
	}
	s.apply(p)
}

// lingered parks the attempts closed for parkAfter by now and finishes
// those closed for their linger, in the order they closed. Finishing them
// on time, rather than at the next sweep, and parking them meanwhile, is
// most of the memory of a busy capture: a server taking 20,000
// connections a second holds 60,000 closed ones in a 3 s linger. A
// closed attempt is in a full or parked slot (the light form holds no RST
// or FIN).
func (t *Tracker) lingered(now int64) {
	for {
		c := t.closing.toPark()
		if c == nil || now-c.at < parkAfter {
			break
		}
		if isFull(c.ref) {
			if s := t.states.at(c.ref); t.sameClosing(s, *c) {
				c.ref = t.park(noPos, c.ref, s)
			}
		}
		t.closing.parked()
	}
	linger := int64(t.cfg.Linger)
	for {
		c := t.closing.toFinish()
		if c == nil || now-c.at < linger {
			return
		}
		t.closing.finished()
		if isParked(c.ref) && t.parked.at(parkedSlot(c.ref)).flags&parkedInUse == 0 {
			continue // finished since, and not to be unpacked
		}
		if s := t.load(c.ref); t.sameClosing(s, *c) {
			s.End = EndClosed
			t.finishState(c.ref, s)
		}
	}
}

// lighten moves the attempts that started lightAfter ago or more, and
// are still half-open, to the light form (if it holds them). Waiting
// spares the packing of the many attempts that complete within a round
// trip (packing is checked by unpacking: it is not free), and the state
// of an attempt that young is likely still in the cache.
func (t *Tracker) lighten(now int64) {
	for {
		c := t.young.front()
		if c == nil || now-c.at < lightAfter {
			return
		}
		t.young.pop()
		s := t.states.at(c.ref)
		// The slot may hold another attempt by now, or this one may
		// have moved on (parked, or more than half-open).
		if !s.inUse || s.FirstPacket != c.at || s.closed || s.ClientAcked || s.ServerAccepted {
			continue
		}
		l, ok := t.pack(s)
		if !ok {
			continue
		}
		pos, _ := t.flows.findRef(t.hashOf(s), c.ref)
		i := t.lights.alloc()
		*t.lights.at(i) = l
		t.states.release(c.ref)
		t.flows.set(pos, lightRef(i))
		t.lightsMade++
	}
}

// lightAfter is how long a new attempt stays in its full slot before
// lighten looks at it: longer than most handshakes take on a LAN, short
// enough that a SYN flood's full slots (100,000 a second) are few.
const lightAfter = int64(50 * time.Millisecond)

// noPos is an index position not known yet.
const noPos = ^uint64(0)

// parkAfter is how long a closed attempt stays in its full slot before it
// is parked, if no packet came after the one that closed it (add parks it
// at such a packet, or at a RST, while its state is in the cache): a FIN
// exchange's last ACK comes within a round trip, and each packet on a
// parked attempt costs an unpack and a pack.
const parkAfter = int64(500 * time.Millisecond)

// sameClosing reports whether s, at c.ref, is the attempt that closed at
// c.at: since then it may have been finished (port reuse, eviction), its
// slot reused, or it may have been reopened by a SYN.
func (t *Tracker) sameClosing(s *state, c closed) bool {
	return s.inUse && s.closed && s.closedAt == c.at
}

// sweep finishes idle attempts (and closed ones past their linger, which
// finishLingered has normally done already). It runs every few seconds of
// capture time, so its full scan is amortised.
func (t *Tracker) sweep(now int64) {
	linger, idle := int64(t.cfg.Linger), int64(t.cfg.IdleTimeout)
	due := func(last, closedAt int64, closed bool) bool {
		return closed && now-closedAt >= linger || now-last >= idle
	}
	t.eachDue(due, func(idx int32, s *state) {
		if s.closed && now-s.closedAt >= linger {
			s.End = EndClosed
		} else {
			s.End = EndIdle
		}
		t.finishState(idx, s)
	})
}

// each calls f for every attempt in flight, in slot order. Walking the
// state table is several times faster than ranging over the map, and the
// order is deterministic.
func (t *Tracker) each(f func(ref int32, s *state)) { t.eachDue(nil, f) }

// eachDue is each for the attempts whose last packet time, closing time
// and closed flag satisfy due (nil: all of them). The compact forms keep
// those three where they can be read without unpacking the rest: under
// a SYN flood's millions of light slots, the sweep unpacked every one
// to find the few that had gone idle, a quarter of the tracking
// goroutine's time.
func (t *Tracker) eachDue(due func(last, closedAt int64, closed bool) bool, f func(ref int32, s *state)) {
	for c, chunk := range t.states.chunks {
		for i := range chunk {
			if s := &chunk[i]; s.inUse && (due == nil || due(s.LastPacket, s.closedAt, s.closed)) {
				f(int32(c<<chunkBits+i), s)
			}
		}
	}
	for c, chunk := range t.lights.chunks {
		for i := range chunk {
			if l := &chunk[i]; l.flags&lightInUse != 0 && (due == nil || due(l.lastPacket(), 0, false)) {
				t.unpack(l, &t.scratch)
				f(lightRef(int32(c<<chunkBits+i)), &t.scratch)
			}
		}
	}
	for c, chunk := range t.parked.chunks {
		for i := range chunk {
			if p := &chunk[i]; p.flags&parkedInUse != 0 && (due == nil || due(p.lastPacket(), p.closedAt(), p.closed())) {
				t.unpackParked(p, &t.scratch)
				f(parkedRef(int32(c<<chunkBits+i)), &t.scratch)
			}
		}
	}
}

// finishState finishes the attempt s at ref, finding its index entry.
func (t *Tracker) finishState(ref int32, s *state) {
	pos, _ := t.flows.findRef(t.hashOf(s), ref)
	t.finish(pos, ref, s)
}

// evict finishes about a tenth of the attempts held, the longest idle
// first, so that a flood does not grow memory without bound. It scans all
// attempts, but once per tenth of the limit: amortised, a few steps per new
// attempt. Finding the idle threshold from a coarse histogram of idle
// times keeps it to two passes.
func (t *Tracker) evict() {
	want := max(t.cfg.MaxAttempts/10, 1)
	// Idle times in doubling buckets from 1 ms up.
	var hist [48]int
	bucket := func(idle int64) int {
		b := 0
		for idle >= int64(time.Millisecond) && b < len(hist)-1 {
			idle >>= 1
			b++
		}
		return b
	}
	t.eachDue(func(last, _ int64, _ bool) bool {
		hist[bucket(t.now-last)]++
		return false
	}, nil)
	cut, n := len(hist)-1, 0
	for ; cut > 0; cut-- {
		n += hist[cut]
		if n >= want {
			break
		}
	}
	evicted := 0
	t.eachDue(func(last, _ int64, _ bool) bool {
		return evicted < want && bucket(t.now-last) >= cut
	}, func(idx int32, s *state) {
		s.End = EndEvicted
		t.finishState(idx, s)
		t.stats.Evicted++
		evicted++
	})
}

// Flush finishes every attempt still held: the capture has ended. The
// tables are dropped whole afterwards rather than slot by slot, which
// would grow the free lists and shrink the index step by step for nothing.
func (t *Tracker) Flush() {
	t.flushing = true
	t.each(func(idx int32, s *state) {
		if s.closed {
			s.End = EndClosed
		} else {
			s.End = EndCaptureEnd
			s.unansweredAtEnd(t.now)
		}
		t.finish(0, idx, s)
	})
	t.flushing = false
	t.states, t.lights, t.parked, t.conns = table[state]{}, table[light]{}, table[parked]{}, table[ConnState]{}
	t.tunnels, t.tunnelled = nil, nil
	t.flows = newFlowIndex()
	t.closing, t.young = closingQueue{}, fifo{}
}

// finish settles the counts that depend on what never came, emits the
// attempt and frees its slot.
func (t *Tracker) finish(pos uint64, ref int32, s *state) {
	var watchEnd int64
	if t.unwatched != nil {
		h := t.hashOf(s)
		if at, ok := t.unwatched[h]; ok {
			delete(t.unwatched, h)
			if s.End == EndIdle || s.End == EndCaptureEnd {
				// Nothing came after at: as at the end of a capture.
				s.End, watchEnd = EndCaptureEnd, at
				s.unansweredAtEnd(at)
			}
		}
	}
	s.settle()
	t.stats.Attempts++
	if s.MidStream {
		t.stats.MidStream++
	}
	spans := false
	if t.spanning != nil {
		h := t.hashOf(s)
		if _, spans = t.spanning[h]; spans {
			delete(t.spanning, h)
		}
	}
	if t.emit != nil {
		a := t.attemptOf(ref, s)
		a.WatchEnd, a.SpansClockStep = watchEnd, spans
		t.emit(a)
	}
	t.inFlight--
	if s.tunKey != 0 {
		k := keyOf(s.Client, s.Server)
		if t.tunnelled[k] == s.tunKey {
			delete(t.tunnelled, k)
		}
		delete(t.tunnels, ref)
	}
	if t.flushing {
		return // Flush drops the tables whole
	}
	t.flows.remove(pos)
	switch {
	case isLight(ref):
		t.lights.release(lightSlot(ref))
	case isParked(ref):
		t.parked.release(parkedSlot(ref))
	default:
		t.states.release(ref)
	}
}

// AnswerGrace is how long before the end of a capture a client segment
// may have come and still be waiting for the server's answer rather than
// ignored: a healthy server's ACK, or the SYN-ACK retransmission of one
// that ignored it (1 s after the SYN-ACK), may simply not be in the
// capture.
const AnswerGrace = 1500 * time.Millisecond

// unansweredAtEnd leaves the client segments still unanswered when the
// capture ended at end, the last of them less than AnswerGrace before it,
// neither taken nor ignored: a capture cut right after a client's request
// showed it ignored, and its attempt failed (found cutting real captures
// into windows). Unless a SYN-ACK retransmission followed the client's
// ACK: the server still held only a request then, and ignores them too.
func (s *state) unansweredAtEnd(end int64) {
	if s.pendingSegs > 0 && stillWaiting(s.LastPacket, end, s.sinceRetrans) {
		s.pendingSegs, s.pendingData = 0, 0
	}
}

// stillWaiting reports whether client segments the last of which came at
// last still wait for the server's answer at end, rather than being
// ignored: less than AnswerGrace before it, and no SYN-ACK retransmission
// (retransAfterACK) has shown the server held only a request.
func stillWaiting(last, end int64, retransAfterACK bool) bool {
	return !retransAfterACK && end-last < int64(AnswerGrace)
}

// settle books what never came: a last SYN with no answer, client segments
// the server never took.
func (s *state) settle() {
	if s.pendingSYN {
		s.DroppedSYNs++
		s.pendingSYN = false
	}
	if s.pendingSegs > 0 && !s.ServerAccepted {
		// Client segments the server never answered. A lone bare ACK
		// with no SYN-ACK retransmission after it is the normal end of a
		// handshake, not an ignored segment: the tracker cannot tell an
		// accepted but silent connection from a dropped ACK then.
		if s.sinceRetrans || s.ClientData || s.ClientFIN {
			s.ignore(s.pendingSegs, s.pendingData)
		}
		s.pendingSegs, s.pendingData = 0, 0
	}
}

// InFlight calls f with each attempt still held, as it would be emitted if
// the capture ended now (End is EndCaptureEnd), without finishing it: for
// verdicts while a live capture goes on. f gets a copy.
func (t *Tracker) InFlight(f func(*Attempt)) {
	t.InFlightUnsettled(func(a *Attempt, _ Unsettled) { f(a) })
}

// Unsettled is the part of an in-flight attempt's counts that InFlight
// books only because it judges the attempt as if the capture ended now:
// the server may still answer. A live capture that counts drops as they
// happen needs it apart, or it would count a SYN sent a moment ago as
// dropped.
type Unsettled struct {
	// SYN: DroppedSYNs counts the attempt's last SYN (sent at LastSYN),
	// which nothing has answered yet.
	SYN bool
	// Segments is how many of IgnoredSegments are client segments the
	// server has not answered yet, Data how many of those carried payload
	// or FIN (of IgnoredDataSegments); SegmentsTime is no earlier than
	// the last of them (the attempt's last packet).
	Segments, Data int
	SegmentsTime   int64
}

// Waiting returns a copy of a, an attempt InFlightUnsettled gave with u,
// judged at now as Flush would judge it if the capture ended then: client
// segments still unanswered, the last less than AnswerGrace before now,
// are not ignored yet unless a SYN-ACK retransmission followed the
// client's ACK (unansweredAtEnd). A live verdict taken while a request
// was on its way to the server called a healthy one's accept queue full.
func (u Unsettled) Waiting(a *Attempt, now int64) Attempt {
	cp := *a
	if u.Segments > 0 && stillWaiting(u.SegmentsTime, now, a.SYNACKRetransAfterACK > 0) {
		cp.IgnoredSegments -= u.Segments
		cp.IgnoredDataSegments -= u.Data
	}
	return cp
}

// InFlightUnsettled is InFlight that also says, per attempt, which of its
// counts only the end of the capture settles.
func (t *Tracker) InFlightUnsettled(f func(*Attempt, Unsettled)) {
	t.each(func(ref int32, s *state) {
		cp := *s
		var u Unsettled
		u.SYN = cp.pendingSYN
		ignored, data := cp.IgnoredSegments, cp.IgnoredDataSegments
		cp.settle()
		if n := cp.IgnoredSegments - ignored; n > 0 {
			u.Segments, u.Data, u.SegmentsTime = n, cp.IgnoredDataSegments-data, cp.LastPacket
		}
		cp.End = EndCaptureEnd
		a := *t.attemptOf(ref, &cp)
		f(&a, u)
	})
}

// attemptOf assembles the Attempt of s, at ref, with its Zeek state and
// tunnel. It is only valid until the next call.
func (t *Tracker) attemptOf(ref int32, s *state) *Attempt {
	a := &t.out
	a.Handshake = s.Handshake
	a.Conn, a.Tunnel = ConnState{}, capture.Tunnel{}
	if isFull(ref) {
		if t.cfg.ConnState {
			a.Conn = *t.conns.at(ref)
		}
		if s.tunKey != 0 {
			a.Tunnel = t.tunnels[ref]
		}
	}
	return a
}

// seqAfter reports a > b in 32-bit sequence space (RFC 1982).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// seqBefore reports a < b in 32-bit sequence space.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// table stores attempt states in fixed-size chunks: growing it never
// copies the states already held (a flat slice would, at every doubling).
type table[T any] struct {
	chunks [][]T
	n      int32
	free   []int32
}

const chunkBits = 10

func (tb *table[T]) at(i int32) *T {
	return &tb.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// alloc returns the index of a zero slot: a released one, or a new one.
func (tb *table[T]) alloc() int32 {
	if n := len(tb.free); n > 0 {
		i := tb.free[n-1]
		tb.free = tb.free[:n-1]
		return i
	}
	if int(tb.n>>chunkBits) == len(tb.chunks) {
		tb.chunks = append(tb.chunks, make([]T, 1<<chunkBits))
	}
	tb.n++
	return tb.n - 1
}

// ensure returns slot i of a table kept beside another (same indexes),
// growing it to hold i.
func (tb *table[T]) ensure(i int32) *T {
	for int(i>>chunkBits) >= len(tb.chunks) {
		tb.chunks = append(tb.chunks, make([]T, 1<<chunkBits))
	}
	return tb.at(i)
}

// release zeroes slot i and keeps it for reuse.
// used is how many slots are taken.
func (tb *table[T]) used() int { return int(tb.n) - len(tb.free) }

func (tb *table[T]) release(i int32) {
	var zero T
	*tb.at(i) = zero
	tb.free = append(tb.free, i)
}

// fifo is a queue of attempts (by ref) and a time each. Capture time only
// moves forward (nearly: merged files may step back a little), so the
// front is the next one due.
type fifo struct {
	q    []closed
	head int
}

type closed struct {
	ref int32
	at  int64
}

// push adds an entry at the back; it returns how far the entries moved
// towards the start of q (when the consumed front is reused), for
// indexes into q kept beside head.
func (f *fifo) push(ref int32, at int64) (shift int) {
	if f.head > 0 && f.head >= len(f.q)/2 {
		n := copy(f.q, f.q[f.head:])
		f.q, shift, f.head = f.q[:n], f.head, 0
	}
	f.q = append(f.q, closed{ref, at})
	return shift
}

// front is the entry at the front, nil if none.
func (f *fifo) front() *closed {
	if f.head == len(f.q) {
		return nil
	}
	return &f.q[f.head]
}

func (f *fifo) pop() { f.head++ }

// closingQueue is the closed attempts and when they closed, with two
// fronts: the next to finish (the fifo's), and the next to park (never
// behind the other while parkAfter is shorter than the linger).
type closingQueue struct {
	fifo
	park int
}

func (c *closingQueue) push(ref int32, at int64) { c.park -= c.fifo.push(ref, at) }

// toPark is the next entry to park (its ref is updated in place), nil if
// none.
func (c *closingQueue) toPark() *closed {
	if c.park == len(c.q) {
		return nil
	}
	return &c.q[c.park]
}

func (c *closingQueue) parked() { c.park++ }

// moved changes the ref of the attempt that closed at `at` from `from`
// to `to`. Attempts move (are parked) a round trip or so after they
// close, so the entry is looked for among the last few; if it is further
// back, the attempt gets a second entry (the first no longer matches a
// closed attempt at from, see sameClosing).
func (c *closingQueue) moved(from, to int32, at int64) {
	for i := len(c.q) - 1; i >= max(c.head, len(c.q)-64); i-- {
		if e := &c.q[i]; e.ref == from && e.at == at {
			e.ref = to
			return
		}
	}
	c.push(to, at)
}

// toFinish is the next entry to finish, nil if none.
func (c *closingQueue) toFinish() *closed { return c.front() }

func (c *closingQueue) finished() {
	c.pop()
	c.park = max(c.park, c.head) // a linger shorter than parkAfter
}
