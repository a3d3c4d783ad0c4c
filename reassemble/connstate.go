package reassemble

import "github.com/synq/synq/capture"

// ConnState follows one attempt the way Zeek's TCP analyzer follows a
// connection, for the conn.log fields synq exports (conn_state, history,
// byte and packet counts, duration). It is a port of Zeek's endpoint state
// machine and history rules, kept to a fixed size: no slices, no maps.
//
// Sources (Zeek, github.com/zeek/zeek):
//   - scripts/base/protocols/conn/main.zeek: conn_state(), the history
//     letters, when duration and byte counts are logged;
//   - src/analyzer/protocol/tcp/TCP.cc: DeliverPacket (the order of the
//     steps below), update_history, update_window, update_last_seq,
//     update_ack_seq, init_endpoint, init_peer and the Update*State
//     functions;
//   - src/analyzer/protocol/tcp/TCP_Endpoint.cc: Size() (byte counts from
//     sequence numbers), ChecksumError, DidRxmit, ZeroWindow, Gap;
//   - src/Conn.h, src/Conn.cc: CheckHistory (a letter once per direction)
//     and ScaledHistoryEntry (C, G, T, W at the 1st, 10th, 100th, ...
//     occurrence).
//
// The originator is synq's client, the responder its server. Where synq
// knowingly differs from Zeek, README.md ("Differences from Zeek") says so.
type ConnState struct {
	ends [2]zeekEnd // originator, responder
	// histSeen is Zeek's hist_seen: the originator's bits, and the
	// responder's shifted left by 16.
	histSeen uint32
	histLen  uint8
	hist     [MaxHistory]byte
	// lastTime is Zeek's last_time: the last packet before both sides had
	// closed (so duration leaves out the final ACK of a teardown).
	lastTime int64
	// missed counts bytes acknowledged that the capture never showed
	// (Zeek's missed_bytes, from sequence numbers only: see 'G').
	missed uint64
	// attemptAt is when the originator's first SYN came while it was
	// inactive: Zeek sets its attempt timer then (UpdateInactiveState).
	attemptAt int64
	// deleteAt is when Zeek removes the connection after a complete
	// close: tcp_close_delay after the last packet then
	// (TCPSessionAdapter::ConnectionClosed). Zero while not closed.
	deleteAt int64
}

// checksumError records a segment with a bad checksum that goes no
// further (Zeek's TCP_Endpoint::ChecksumError): its 'C' only.
func (c *ConnState) checksumError(fromOrig bool) {
	e := &c.ends[0]
	if !fromOrig {
		e = &c.ends[1]
	}
	c.scaled('C', fromOrig, &e.chk)
}

// closed reports whether either side closed (FIN) or reset: Zeek's
// IsClosed, after which any SYN starts a new connection (IsReuse).
func (c *ConnState) closed() bool { return c.ends[0].didClose || c.ends[1].didClose }

// closeDelayPassed reports whether Zeek has removed the connection by
// now: a side closed or reset while the other had closed too, had reset,
// or had sent nothing, and tcp_close_delay has passed since. A later
// packet starts a new connection, even on a half-open one a client
// finishes seconds after the server's FIN.
func (c *ConnState) closeDelayPassed(now int64) bool {
	return c.deleteAt != 0 && now >= c.deleteAt
}

// attemptExpired reports whether Zeek's attempt timer, tcp_attempt_delay
// after the originator's first SYN, has removed the connection by now
// (TCPSessionAdapter::AttemptTimer): the originator is still in SYN_SENT
// or SYN_ACK_SENT and the responder has sent nothing.
func (c *ConnState) attemptExpired(now int64) bool {
	o, r := c.ends[0].state, c.ends[1].state
	return c.attemptAt != 0 && now >= c.attemptAt+int64(ZeekAttemptDelay) &&
		(o == epSYNSent || o == epSYNACKSent) && r == epInactive
}

// MaxHistory is the longest history kept; letters past it are dropped.
// Handshakes and short connections use under 15.
const MaxHistory = 30

// zeekEnd is one endpoint: Zeek's TCP_Endpoint, reduced to what conn.log
// needs. Sequence positions are offsets from start, in 64 bits, so that
// they keep counting past a 32-bit wrap.
type zeekEnd struct {
	state, prev uint8
	didClose    bool
	fins        bool // sent a FIN (Size leaves its octet out)
	start       uint32
	last        uint64 // just past the highest sequence number sent
	// dataEnd is last without what only a FIN moved it over: a FIN far
	// ahead of the data seen leaves a hole the capture never showed.
	dataEnd uint64
	ack     uint64 // highest acknowledgement of this side's data
	// The sequence numbers of the last SYN, FIN (its end) and RST, so
	// that only a new one repeats its letter.
	lastSYN, lastFIN, lastRST uint32
	// Occurrences of bad checksums, retransmissions, zero windows and
	// gaps: their letter is added at 1, 10, 100, ...
	chk, rxmt, win0, gap uint32
	pkts                 uint32
	ipBytes              uint64
	// holes are stretches below last that no segment has covered yet:
	// data lost before later data was seen. An acknowledgement over one
	// is a content gap, as Zeek's reassembler finds it (TrimToSeq).
	holes [maxHoles]span
}

// span is a range of sequence offsets, from inclusive, to exclusive.
type span struct{ from, to uint64 }

// maxHoles bounds the holes an endpoint remembers. A third merges into
// the highest: the letter still comes, missed_bytes then counts the data
// seen between them as missed too.
const maxHoles = 2

// skipped notes the hole a segment starting at from leaves above last.
func (e *zeekEnd) skipped(from uint64) {
	if from <= e.last {
		return
	}
	for i := range e.holes {
		if e.holes[i].to == 0 {
			e.holes[i] = span{e.last, from}
			return
		}
	}
	e.holes[maxHoles-1].to = from
}

// covered removes the data [from, to) from the holes.
func (e *zeekEnd) covered(from, to uint64) {
	for i := 0; i < maxHoles; i++ {
		h := &e.holes[i]
		switch {
		case h.to == 0 || to <= h.from || from >= h.to:
		case from <= h.from && to >= h.to:
			e.dropHole(i)
			i--
		case from <= h.from:
			h.from = to
		case to >= h.to:
			h.to = from
		default: // inside: the hole splits, the upper part is kept apart
			upper := span{to, h.to}
			h.to = from
			e.addHole(upper)
		}
	}
}

// trim removes the holes below off and returns how many of their bytes
// that was.
func (e *zeekEnd) trim(off uint64) (missing uint64) {
	for i := 0; i < maxHoles; i++ {
		h := &e.holes[i]
		if h.to == 0 || h.from >= off {
			continue
		}
		end := min(h.to, off)
		missing += end - h.from
		if end == h.to {
			e.dropHole(i)
			i--
		} else {
			h.from = end
		}
	}
	return missing
}

func (e *zeekEnd) dropHole(i int) {
	copy(e.holes[i:], e.holes[i+1:])
	e.holes[maxHoles-1] = span{}
}

// addHole keeps the holes in order; with no room, h merges into its
// neighbour below.
func (e *zeekEnd) addHole(h span) {
	i := 0
	for i < maxHoles && e.holes[i].to != 0 && e.holes[i].from < h.from {
		i++
	}
	if e.holes[maxHoles-1].to != 0 {
		if i == 0 {
			e.holes[0].from = h.from
			return
		}
		e.holes[i-1].to = max(e.holes[i-1].to, h.to)
		return
	}
	copy(e.holes[i+1:], e.holes[i:maxHoles-1])
	e.holes[i] = h
}

// Zeek's endpoint states (TCP_ENDPOINT_*).
const (
	epInactive uint8 = iota
	epSYNSent
	epSYNACKSent
	epPartial
	epEstablished
	epClosed
	epReset
)

// Zeek's history masks (TCP_Endpoint.h), for letters recorded once.
const (
	histSYN     = 0x1
	histFIN     = 0x2
	histRST     = 0x4
	histFINRST  = 0x8
	histData    = 0x10
	histACK     = 0x20
	histMulti   = 0x40
	tooLargeSeq = 1 << 20 // TOO_LARGE_SEQ_DELTA
)

func (e *zeekEnd) set(s uint8) {
	if s != e.state {
		e.prev, e.state = e.state, s
	}
}

// closeOn closes the endpoint on its FIN, or resets it on its RST (the
// RST wins when a segment carries both), as Zeek's state machine does
// while a side is opening or half-open.
func (e *zeekEnd) closeOn(fin, rst bool) {
	if fin {
		e.set(epClosed)
		e.didClose = true
	}
	if rst {
		e.set(epReset)
		e.didClose = true
	}
}

// abs is the 32-bit sequence number at offset off.
func (e *zeekEnd) abs(off uint64) uint32 { return e.start + uint32(off) }

// offset is the offset of sequence number seq, taken as the nearest to
// last (RFC 1982 distance), so that it stays right past 4 GB of stream;
// never below 0.
func (e *zeekEnd) offset(seq uint32) uint64 {
	d := int64(int32(seq - e.abs(e.last)))
	if d < 0 && uint64(-d) > e.last {
		return 0
	}
	return uint64(int64(e.last) + d)
}

// init restarts the endpoint's sequence space at seq, its highest sequence
// number sent at end (init_endpoint).
func (e *zeekEnd) init(seq, end uint32) {
	e.start, e.ack, e.last = seq, 0, uint64(end-seq)
	e.dataEnd = e.last
	e.holes = [maxHoles]span{} // offsets of the old sequence space
}

// advance moves an offset forward to the sequence number v when v is
// ahead of it, and returns the signed distance (RFC 1982 arithmetic).
func (e *zeekEnd) advance(off *uint64, v uint32) int32 {
	d := int32(v - e.abs(*off))
	if d > 0 {
		*off += uint64(d)
	}
	return d
}

// size is the payload bytes the endpoint sent, from sequence numbers
// (TCP_Endpoint::Size): right with any snap length, and counting bytes the
// capture missed but the peer acknowledged.
func (e *zeekEnd) size(peer *zeekEnd) uint64 {
	if e.prev == epSYNSent && e.state == epReset && peer.state == epInactive && e.ack > 1 {
		// A half-open connection found and aborted.
		return 0
	}
	s := max(e.last, e.ack)
	if s != 0 {
		s-- // the SYN's octet
	}
	if e.fins && s != 0 {
		s-- // the FIN's octet
	}
	return s
}

// add applies one packet of the attempt, in the order of Zeek's
// TCPSessionAdapter::DeliverPacket.
func (c *ConnState) add(p *capture.Packet, fromOrig bool) {
	e, peer := &c.ends[0], &c.ends[1]
	if !fromOrig {
		e, peer = peer, e
	}
	if e.pkts == 0 && peer.pkts == 0 && !fromOrig {
		// Zeek's originator is the first packet's sender; its roles
		// were flipped to make the SYN-ACK's sender the responder.
		c.addHist('^')
	}
	e.pkts++
	e.ipBytes += uint64(p.IPLen)
	if p.Checksum == capture.ChecksumBad {
		// Zeek stops here and ignores the packet; synq goes on, as
		// zeek -C would, keeping the letter (see README).
		c.scaled('C', fromOrig, &e.chk)
	}

	f := p.Flags
	syn, fin, rst, ack := f&capture.FlagSYN != 0, f&capture.FlagFIN != 0, f&capture.FlagRST != 0, f&capture.FlagACK != 0
	if syn && fromOrig && e.state == epInactive && c.attemptAt == 0 {
		c.attemptAt = p.Time
	}
	length := p.PayloadLen
	segLen := length
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}
	if rst {
		segLen -= length // a RST's payload is not part of the stream
	}
	end := p.Seq + segLen

	// init_endpoint
	switch e.state {
	case epInactive:
		if syn {
			e.init(p.Seq, end)
		} else {
			// A partial connection: numbered as if a SYN came just
			// before, and the first packet not taken for a
			// retransmission.
			e.init(p.Seq-1, p.Seq)
		}
	case epSYNSent, epSYNACKSent:
		if syn && p.Seq != e.start {
			e.init(p.Seq, end)
		}
	case epEstablished, epPartial:
		if syn {
			e.init(p.Seq, end)
		}
	case epReset:
		if syn && e.prev == epInactive {
			e.init(p.Seq, end)
		}
	}

	c.history(e, fromOrig, p, syn, fin, rst, ack)

	// update_window: a zero window, unless it comes with or after a RST
	// or after the peer's FIN. A header cut by the snap length may have
	// lost the window field: not counted.
	if p.Window == 0 && !p.OptionsCut && !rst && peer.state != epClosed && e.state != epReset {
		c.scaled('W', fromOrig, &e.win0)
	}
	if fin {
		e.fins = true
	}

	// The acknowledgement: it sets up a peer not seen yet (init_peer),
	// else advances what the peer has had acknowledged (not from a RST).
	var gapFrom, holesMissed uint64
	acked := false
	if ack {
		if peer.state == epInactive {
			peer.init(p.Ack-1, p.Ack-1)
		} else if !(p.Ack == 0 && int32(p.Ack-peer.abs(peer.ack)) > tooLargeSeq) && !rst {
			gapFrom, acked = max(peer.dataEnd, peer.ack), true
			peer.advance(&peer.ack, p.Ack)
			if peer.holes[0].to != 0 {
				holesMissed = peer.trim(peer.ack)
			}
		}
	}

	// update_last_seq: new data moves the highest sequence number sent;
	// payload that does not is a retransmission.
	delta := int32(end - e.abs(e.last))
	switch {
	case (syn || rst) && (delta > tooLargeSeq || delta < -tooLargeSeq):
	case fin && e.last == 1:
		// Only the SYN seen so far: trust the FIN even far ahead (a
		// connection of more than 2 GB). No data was seen up to it.
		e.last = uint64(end - e.start)
	case e.state == epReset:
	case delta > 0:
		if length > 0 && !syn {
			e.skipped(e.offset(p.Seq))
		}
		e.last += uint64(delta)
		switch {
		case !fin:
			e.dataEnd = e.last
		case length > 0:
			e.dataEnd = e.last - 1 // up to the FIN's octet
		}
	case length > 0:
		c.scaled('T', fromOrig, &e.rxmt)
	}
	if length > 0 && !syn && !rst && e.holes[0].to != 0 {
		from := e.offset(p.Seq)
		e.covered(from, from+uint64(length))
	}

	if !(c.ends[0].didClose && c.ends[1].didClose) {
		c.lastTime = p.Time
	}
	wasClosed := e.didClose
	c.machine(e, peer, fromOrig, syn, fin, rst, ack, length)
	if !wasClosed && e.didClose && c.deleteAt == 0 &&
		(e.state == epReset || peer.didClose || peer.state == epInactive) {
		// close_complete in ConnectionClosed: the delete timer is set.
		c.deleteAt = c.lastTime + int64(ZeekCloseDelay)
	}

	// A content gap: the peer's data acknowledged beyond anything the
	// capture showed of it (a FIN's own octet is not data: the data lost
	// below a FIN is a gap, as Zeek's reassembler finds at the FIN's
	// acknowledgement). Zeek's reassembler reports it; synq, reassembling
	// nothing, judges it from sequence numbers, and like Zeek not from a
	// FIN or RST.
	ackedData := peer.ack
	if peer.fins && ackedData >= peer.last && peer.last > peer.dataEnd {
		ackedData = peer.last - 1
	}
	var missed uint64
	if ackedData > gapFrom {
		missed = ackedData - gapFrom
	}
	if acked && !fin && !rst && missed+holesMissed > 0 {
		c.missed += missed + holesMissed
		c.scaled('G', !fromOrig, &peer.gap)
	}
}

// history is Zeek's update_history: S, H, F, R (again only with a new
// sequence number), I (FIN+RST), Q (SYN with FIN or RST), D and A (once).
func (c *ConnState) history(e *zeekEnd, fromOrig bool, p *capture.Packet, syn, fin, rst, ack bool) {
	n := 0
	for _, b := range [...]bool{syn, fin, rst} {
		if b {
			n++
		}
	}
	switch {
	case n > 1:
		if fin && rst {
			c.check(histFINRST, 'I', fromOrig)
		} else {
			c.check(histMulti, 'Q', fromOrig)
		}
	case syn:
		code := byte('S')
		if ack {
			code = 'H'
		}
		if c.check(histSYN, code, fromOrig) && p.Seq != e.lastSYN {
			c.addDir(code, fromOrig)
		}
		e.lastSYN = p.Seq
	case fin:
		// A FIN's sequence number is the one after its data.
		if c.check(histFIN, 'F', fromOrig) && p.Seq+p.PayloadLen != e.lastFIN {
			c.addDir('F', fromOrig)
		}
		e.lastFIN = p.Seq + p.PayloadLen
	case rst:
		if c.check(histRST, 'R', fromOrig) && p.Seq != e.lastRST {
			c.addDir('R', fromOrig)
		}
		e.lastRST = p.Seq
	case p.PayloadLen > 0:
		c.check(histData, 'D', fromOrig)
	case ack:
		c.check(histACK, 'A', fromOrig)
	}
}

// machine is Zeek's UpdateStateMachine: the endpoint states conn_state is
// computed from.
func (c *ConnState) machine(e, peer *zeekEnd, fromOrig, syn, fin, rst, ack bool, length uint32) {
	switch e.state {
	case epInactive:
		if syn {
			switch {
			case fromOrig && ack:
				e.set(epSYNACKSent)
			case fromOrig:
				e.set(epSYNSent)
			default:
				// The responder's SYN-ACK establishes both sides.
				if peer.state == epSYNSent {
					peer.set(epEstablished)
				}
				e.set(epEstablished)
			}
		}
		e.closeOn(fin, rst)
		if e.state == epInactive {
			switch {
			case !fromOrig && length == 0 && c.ends[0].state == epSYNSent:
				// An ACK of the SYN before the SYN-ACK: not a partial
				// connection.
			case ack && peer.state == epEstablished:
				// The SYN was missed, the SYN-ACK seen.
				e.set(epEstablished)
			default:
				e.set(epPartial)
			}
		}
	case epSYNSent, epSYNACKSent:
		e.closeOn(fin, rst)
	case epEstablished, epPartial:
		if syn && e.state == epPartial && peer.state == epInactive && !ack {
			e.set(epSYNSent)
		}
		if fin && !rst {
			e.set(epClosed)
			if peer.state == epReset && peer.prev == epClosed {
				// FIN then RST from the peer: a normal close.
				peer.set(epClosed)
			}
			e.didClose = true
		}
		if rst {
			e.set(epReset)
			e.didClose = true
		}
	case epClosed:
		if rst && peer.state != epClosed {
			e.set(epReset)
			e.didClose = true
		}
	}
}

// check records a once-per-direction letter (Conn::CheckHistory) and
// reports whether it had been seen before.
func (c *ConnState) check(mask uint32, code byte, fromOrig bool) bool {
	if !fromOrig {
		mask <<= 16
	}
	if c.histSeen&mask != 0 {
		return true
	}
	c.histSeen |= mask
	c.addDir(code, fromOrig)
	return false
}

// scaled counts one occurrence and adds the letter at the 1st, 10th,
// 100th, ... (Conn::ScaledHistoryEntry with Zeek's base of 10).
func (c *ConnState) scaled(code byte, fromOrig bool, n *uint32) {
	if *n == ^uint32(0) {
		return
	}
	*n++
	v := *n
	for v%10 == 0 {
		v /= 10
	}
	if v == 1 { // *n is a power of 10
		c.addDir(code, fromOrig)
	}
}

// addDir adds a letter, lower case for the responder.
func (c *ConnState) addDir(code byte, fromOrig bool) {
	if !fromOrig {
		code += 'a' - 'A'
	}
	c.addHist(code)
}

func (c *ConnState) addHist(code byte) {
	if int(c.histLen) < len(c.hist) {
		c.hist[c.histLen] = code
		c.histLen++
	}
}

// History is Zeek's history string (at most MaxHistory letters).
func (c *ConnState) History() string { return string(c.hist[:c.histLen]) }

// State is Zeek's conn_state (main.zeek, conn_state()).
func (c *ConnState) State() string {
	os, rs := c.ends[0].state, c.ends[1].state
	oInactive := os == epInactive || os == epPartial
	rInactive := rs == epInactive || rs == epPartial
	switch {
	case rs == epReset:
		switch {
		case os == epSYNSent || os == epSYNACKSent ||
			(os == epReset && c.OrigBytes() == 0 && c.RespBytes() == 0):
			return "REJ"
		case oInactive:
			return "RSTRH"
		}
		return "RSTR"
	case os == epReset:
		if rInactive {
			if rstos0History(c.History()) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == epClosed && os == epClosed:
		return "SF"
	case os == epClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == epClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == epSYNSent && rs == epInactive:
		return "S0"
	case os == epEstablished && rs == epEstablished:
		return "S1"
	}
	return "OTH"
}

// rstos0History matches Zeek's /\^?S[^HAFGIQ]*R.*/ against the whole
// history: the originator's SYN, then its RST with none of its handshake,
// data-less ACK, FIN, gap or odd-flag letters in between.
func rstos0History(h string) bool {
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for i := 1; i < len(h); i++ {
		switch h[i] {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}

// OrigBytes and RespBytes are the payload bytes each side sent, from
// sequence numbers (Zeek's orig_bytes, resp_bytes).
func (c *ConnState) OrigBytes() uint64 { return c.ends[0].size(&c.ends[1]) }
func (c *ConnState) RespBytes() uint64 { return c.ends[1].size(&c.ends[0]) }

// OrigPkts, RespPkts, OrigIPBytes and RespIPBytes count packets and their
// IP total lengths per side.
func (c *ConnState) OrigPkts() uint32    { return c.ends[0].pkts }
func (c *ConnState) RespPkts() uint32    { return c.ends[1].pkts }
func (c *ConnState) OrigIPBytes() uint64 { return c.ends[0].ipBytes }
func (c *ConnState) RespIPBytes() uint64 { return c.ends[1].ipBytes }

// MissedBytes is the sum of the content gaps ('G' letters).
func (c *ConnState) MissedBytes() uint64 { return c.missed }

// LastTime is the end of Zeek's duration: the last packet before both
// sides had closed.
func (c *ConnState) LastTime() int64 { return c.lastTime }
