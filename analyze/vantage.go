package analyze

import (
	"time"

	"github.com/synq/synq/reassemble"
)

// Vantage is where the capture was taken, judged from handshake gaps.
type Vantage string

const (
	// VantageServer: SYN to SYN-ACK is immediate, SYN-ACK to ACK a round
	// trip: the capture was taken on the server (or next to it).
	VantageServer Vantage = "server"
	// VantageClient: SYN to SYN-ACK is a round trip, SYN-ACK to ACK
	// immediate.
	VantageClient Vantage = "client"
	// VantageMiddle: both gaps take time: somewhere on the path.
	VantageMiddle Vantage = "middle"
	// VantageUnknown: too few handshakes, or no measurable path delay
	// (both ends on one host or one switch).
	VantageUnknown Vantage = "unknown"
)

// minPathDelay is the smallest round trip taken as a real path: below it,
// both gaps are host processing and say nothing about where the tap is.
const minPathDelay = 200 * time.Microsecond

// fewTimedPath and fewTimedRatio are what one or two timed handshakes
// must show to place the capture: a gap no host's own processing takes,
// against one a hundred times shorter.
const (
	fewTimedPath  = 10 * time.Millisecond
	fewTimedRatio = 100
)

// timerGap is where a handshake gap stops measuring the path: an answer
// this late followed a timer (the client's SYN timer or the server's
// SYN-ACK timer, 1 s on Linux), after a packet lost on the way or
// dropped beyond the tap.
const timerGap = 900 * time.Millisecond

// vantageOf judges the capture point from the median SYN to SYN-ACK and
// SYN-ACK to ACK gaps: of the gaps under timerGap where there are 3 or
// more, else of all. SYN-ACKs a server's output rule dropped before the
// tap, sent again on its 1 s timer, made a server's capture read as a
// client's (median SYN to SYN-ACK 1.02 s) beside handshakes answered in
// 30 µs.
func vantageOf(synGap, ackGap *histogram) (Vantage, time.Duration, time.Duration) {
	s, ok1, n1 := pathGap(synGap)
	a, ok2, n2 := pathGap(ackGap)
	if !ok1 || !ok2 || n1 < 3 || n2 < 3 {
		// Too few handshakes for a median, unless one side took a
		// path's delay and the other none: a third of a client's
		// capture behind a 1.4 s round trip timed 2 (377 ms against
		// 40 µs) and was read as the server's.
		switch {
		case !ok1 || !ok2:
		case s >= fewTimedPath && s < timerGap && s >= fewTimedRatio*a:
			return VantageClient, s, a
		case a >= fewTimedPath && a < timerGap && a >= fewTimedRatio*s:
			return VantageServer, s, a
		}
		return VantageUnknown, s, a
	}
	switch {
	case a >= minPathDelay && a >= 4*s:
		return VantageServer, s, a
	case s >= minPathDelay && s >= 4*a:
		return VantageClient, s, a
	case s >= minPathDelay && a >= minPathDelay:
		return VantageMiddle, s, a
	}
	return VantageUnknown, s, a
}

// pathGap is h's median gap under timerGap where 3 or more are, else of
// all, with how many it was taken of.
func pathGap(h *histogram) (time.Duration, bool, uint64) {
	if d, n, ok := h.quantileBelow(0.5, timerGap); ok && n >= 3 {
		return d, true, n
	}
	d, ok := h.quantile(0.5)
	return d, ok, h.n
}

// sameHost reports whether a came from the server's own host: a loopback
// server address, or the server's address as the client's (Linux routes
// a connection to a local address through lo, from that address).
func sameHost(a *reassemble.Attempt) bool {
	s := a.Server.Addr()
	return s.IsLoopback() || a.Client.Addr() == s
}

// synRetransmitsSeen is the SYN and SYN-ACK retransmissions the capture
// shows this listener's host made: its SYN-ACKs sent again, and the SYNs
// of clients on the same host (Signs.ClientSYNRetransmits).
func (l *Listener) synRetransmitsSeen() int {
	return l.SYNACKRetransmits + l.Signs.ClientSYNRetransmits
}
