package reassemble

import (
	"time"

	"github.com/synq/synq/capture"
)

// The handshake rules: what one packet does to one attempt, as a state
// machine over the attempt's own fields. They know nothing of where the
// attempt is kept (full, light or parked slot, the flow index, eviction:
// the Tracker in tracker.go, which loads an attempt, applies a packet and
// stores it back), as Zeek keeps its TCP state machine apart from its
// session table and gopacket's reassembly its per-stream logic apart from
// its stream pool.

// handshakeState is one attempt as the rules see it: the Attempt's
// handshake fields plus what the rules need between packets.
type handshakeState struct {
	Handshake
	prevServerISN  uint32 // an earlier SYN-ACK ISN, for retransmission checks
	hasPrevISN     bool
	pendingSYN     bool // the last client SYN has had no answer yet
	pendingSegs    int  // client segments since the server's last packet
	pendingData    int  // of which carried payload or FIN
	sinceRetrans   bool // a SYN-ACK retransmission followed the client's ACK
	closed         bool
	closedAt       int64
	clientSeqLimit uint32 // client seq just past its highest payload/FIN
	clientSent     bool   // clientSeqLimit is valid
}

// apply applies one packet to its attempt. This is the handshake state
// machine; see the Attempt field comments for what each count means.
func (s *handshakeState) apply(p *capture.Packet) {
	s.Packets++
	s.LastPacket = p.Time
	if p.Src == s.Client {
		s.fromClient(p)
	} else {
		s.fromServer(p)
	}
}

func (s *handshakeState) fromClient(p *capture.Packet) {
	f := p.Flags
	if s.pendingSYN {
		s.pendingSYN = false
		switch {
		case s.SYNACKs == 0 && f&capture.FlagACK != 0 && f&(capture.FlagSYN|capture.FlagRST) == 0:
			// A client in SYN-SENT sends SYNs or a reset: one that
			// acknowledges got a SYN-ACK the capture missed (5% of
			// defer-accept's packets deleted made its SYN "dropped" and
			// the verdict an accept queue overflow, medium).
			s.SYNACKNotCaptured = true
		case s.SYNACKs == 0 && f&capture.FlagRST != 0 && f&capture.FlagSYN == 0 && p.Seq == s.ClientISN+1:
			// Nor does Linux reset from SYN-SENT on its own (closing
			// such a socket sends nothing): a reset at the SYN's next
			// sequence number answers a SYN-ACK acknowledging it, which
			// the capture missed (a half-open health check seen in a
			// capture of the clients' packets only).
			s.SYNACKNotCaptured = true
		default:
			// The previous SYN got no answer before this next client
			// packet.
			s.DroppedSYNs++
		}
	}
	if p.Opts.HasTS {
		s.LastClientTSval, s.HasClientTS = p.Opts.TSval, true
	}
	if f&capture.FlagRST != 0 {
		s.ClientRSTs++
		if s.ClientRSTs == 1 {
			s.FirstClientRST = p.Time
		}
		// A RST is not a segment the listener could have queued.
		s.pendingSegs, s.pendingData = 0, 0
		s.close(p.Time)
		return
	}
	if f&capture.FlagSYN != 0 {
		if s.MidStream {
			return
		}
		s.SYNs++
		if s.SYNs == 1 {
			s.FirstSYN = p.Time
		}
		if s.SYNACKs > 0 {
			s.SYNsAfterSYNACK++
		}
		s.LastSYN = p.Time
		s.pendingSYN = true
		// The client still tries this ISN (after a challenge ACK it
		// resets and retransmits the SYN): the attempt is open again.
		s.closed = false
		return
	}
	if p.PayloadLen > 0 {
		s.ClientData = true
	}
	end := p.Seq + p.PayloadLen
	if f&capture.FlagFIN != 0 {
		s.ClientFIN = true
		end++
	}
	// resent: payload or FIN the client had sent already.
	resent := s.clientSent && end != p.Seq && !seqAfter(end, s.clientSeqLimit)
	if !s.clientSent || seqAfter(end, s.clientSeqLimit) {
		s.clientSeqLimit, s.clientSent = end, true
	}
	if s.MidStream || s.SYNACKs == 0 {
		if resent && !s.MidStream {
			s.ResentUnanswered = true
		}
		if s.MidStream && s.ServerFIN && s.ClientFIN {
			// A mid-stream connection the server closed first: the
			// client's FIN completes the close here (the check below is
			// for handshakes).
			s.close(p.Time)
		}
		return
	}
	if !s.ClientAcked && f&capture.FlagACK != 0 && !seqBefore(p.Ack, s.ServerISN+1) {
		s.ClientAcked = true
		s.FirstACK = p.Time
		s.ACKEchoedFirstSYNACK = p.Opts.HasTS && s.SYNACKOpts.HasTS && p.Opts.TSecr == s.SYNACKOpts.TSval
	}
	if s.ClientAcked && !s.ServerAccepted && s.ServerRSTs == 0 {
		// (After the server's reset a segment meets no request and no
		// socket: it draws another reset, and no queue ignores it. A
		// capture cut right after the data an application's reset
		// overtook showed that data ignored.)
		//
		// Past a SYN proxy the client resends data its race with the
		// proxy lost, not data a full queue dropped: an ACK before it
		// may have completed the listener's handshake, which answers a
		// pure ACK with nothing. Judged by the SYN-ACK's next
		// retransmission or the listener's answer instead.
		if resent && s.pendingSegs > 0 && !s.SYNACKZeroWindow {
			// The client resends what the server never acknowledged:
			// the segments since the server's last packet were not
			// taken. A full accept queue drops each one (each counts in
			// ListenOverflows) and the client's retransmission timer,
			// 200 ms or more, often fires before the SYN-ACK's (1 s).
			s.ignore(s.pendingSegs, s.pendingData)
		}
		s.pendingSegs++
		if p.PayloadLen > 0 || f&capture.FlagFIN != 0 {
			s.pendingData++
		}
	}
	if s.ServerFIN && s.ClientFIN {
		s.close(p.Time)
	}
}

// requestExpiryMin is the earliest a request can expire: the SYN-ACK
// timer's first expiry, TCP_TIMEOUT_INIT (1 s). An overflowing accept
// queue with tcp_abort_on_overflow=1 resets at the handshake ACK, a round
// trip after the SYN-ACK at most.
const requestExpiryMin = int64(time.Second)

func (s *handshakeState) fromServer(p *capture.Packet) {
	f := p.Flags
	s.pendingSYN = false
	if s.MidStream {
		s.serverMidStream(p)
		return
	}
	switch {
	case f&capture.FlagRST != 0:
		s.ServerRSTs++
		if s.ServerRSTs == 1 {
			s.FirstServerRST = p.Time
		}
		if s.SYNACKs == 0 && !s.BareACKAnswer {
			s.RSTBeforeSYNACK = true
		}
		if s.ClientAcked && !s.ServerAccepted && s.pendingSegs > 0 {
			// A bare reset a request's lifetime after the SYN-ACK
			// answers a segment that met none: with
			// tcp_synack_retries=0 the request expires on the SYN-ACK
			// timer's first expiry without a retransmission to show it.
			expired := f&capture.FlagACK == 0 && p.Time-s.FirstSYNACK >= requestExpiryMin
			if !s.sinceRetrans && s.ServerRSTs == 1 && !expired {
				// First answer to the handshake ACK is a reset: the
				// accept queue was full and tcp_abort_on_overflow=1,
				// or, with ACK set, the application took the
				// connection and reset it (nothing was ignored).
				s.AbortRST = true
				if s.AbortRSTAcked = f&capture.FlagACK != 0; !s.AbortRSTAcked {
					s.ignore(s.pendingSegs, s.pendingData)
				}
			} else {
				// The request had expired: the segment that drew this
				// reset met no request; the ones before it were ignored.
				s.ignore(s.pendingSegs-1, max(s.pendingData-1, 0))
			}
			// Judged: a second reset (a connected socket's RST+ACK, then
			// a bare one for data that was in flight) must not judge
			// them again, nor settle.
			s.pendingSegs, s.pendingData = 0, 0
		}
		s.close(p.Time)
	case f&capture.FlagSYN != 0 && f&capture.FlagACK != 0:
		s.SYNACKs++
		if s.SYNACKs == 1 {
			s.FirstSYNACK = p.Time
			s.SYNACKOpts = p.Opts
			// (A window the snap length cut is no zero window: IPv6
			// at tcpdump -s 68 read as SYNPROXY's, and hid ignored
			// requests.)
			s.SYNACKZeroWindow = p.Window == 0 && !p.WindowCut
			s.SYNBeforeSYNACK = s.LastSYN
			if s.SYNs > 1 && s.SYNOpts.HasTS && p.Opts.HasTS && p.Opts.TSecr == s.SYNOpts.TSval && s.LastClientTSval != s.SYNOpts.TSval {
				// The answer echoes the first SYN's timestamp, not
				// the one sent again before it came: the first SYN
				// was answered (its SYN-ACK lost or slow on the way
				// back, seen from the client), none was dropped.
				s.FirstSYNAnswered = true
				s.DroppedSYNs = 0
			}
		}
		s.LastSYNACK = p.Time
		if (s.HasServerISN && p.Seq == s.ServerISN) || (s.hasPrevISN && p.Seq == s.prevServerISN) {
			s.SYNACKRetransmits++
			if s.SYNACKZeroWindow && s.ServerAccepted && p.Window != 0 && !s.ServerData && !s.ServerAckedData && !s.ServerFIN {
				// The listener's own SYN-ACK, sent again past a SYN
				// proxy: the window-opening ACK was the proxy's, and
				// the listener's handshake never completed (SYNPROXY's
				// race: client data that overtakes the proxy's ACK to
				// the listener). An unaccepted attempt from here on.
				s.ServerAccepted, s.Accepted = false, 0
			}
			// Seen from a client whose first answer came late
			// (FirstSYNAnswered), a SYN-ACK sent again is no sign that
			// its ACK was ignored when it answers a SYN sent again, or
			// comes within a round trip of the ACK: the server sent it
			// before the ACK could reach it (its timer fires 1 s after
			// the first SYN-ACK; a fresh long-round-trip showed both).
			// The first SYN to the first SYN-ACK is a round trip at
			// least.
			owed := s.FirstSYNAnswered && (s.SYNACKRetransmits < s.SYNs || p.Time-s.FirstACK < s.FirstSYNACK-s.FirstSYN)
			if s.ClientAcked && !s.ServerAccepted && !owed {
				if s.SYNACKRetransAfterACK == 0 {
					s.FirstRetransAfterACK = p.Time
				}
				s.SYNACKRetransAfterACK++
				s.sinceRetrans = true
				s.ignore(s.pendingSegs, s.pendingData)
			}
		} else {
			if s.HasServerISN {
				s.prevServerISN, s.hasPrevISN = s.ServerISN, true
			}
			s.ServerISN, s.HasServerISN = p.Seq, true
		}
	case f&capture.FlagSYN != 0:
		// A SYN from the server side on a tracked attempt (simultaneous
		// open): nothing a listener does; ignore it.
	default:
		if s.SYNACKs == 0 {
			if f&capture.FlagACK != 0 && s.acksThisSYN(p.Ack) {
				// The server acknowledges this SYN: the capture missed
				// the SYN-ACK (5% of a healthy capture's packets
				// deleted made three attempts "SYN answered for an old
				// connection", medium).
				s.SYNACKNotCaptured = true
				s.serverAccepts(p)
				return
			}
			// A bare ACK (or data) answering the SYN: challenge ACK or
			// stale state on the server.
			s.BareACKAnswer = true
			return
		}
		s.serverAccepts(p)
	}
}

// acksThisSYN reports whether ack acknowledges the client's SYN, and no
// more than the client sent after it.
func (s *handshakeState) acksThisSYN(ack uint32) bool {
	if s.SYNs == 0 || seqBefore(ack, s.ClientISN+1) {
		return false
	}
	limit := s.ClientISN + 1
	if s.clientSent {
		limit = s.clientSeqLimit
	}
	return !seqAfter(ack, limit)
}

// serverAccepts handles a post-SYN-ACK server segment other than SYN-ACK or
// RST: only a full socket sends those, so the connection was accepted.
func (s *handshakeState) serverAccepts(p *capture.Packet) {
	if !s.ServerAccepted {
		s.ServerAccepted = true
		s.Accepted = p.Time
	}
	if !s.HasServerTSAfter && p.Opts.HasTS {
		s.ServerTSAfter, s.ServerTSAfterTime, s.HasServerTSAfter = p.Opts.TSval, p.Time, true
	}
	s.pendingSegs, s.pendingData = 0, 0
	if (p.PayloadLen > 0 || p.Flags&capture.FlagFIN != 0) && !s.HasServed {
		s.Served, s.HasServed = p.Time, true
	}
	if p.PayloadLen > 0 {
		s.ServerData = true
	}
	if p.Flags&capture.FlagACK != 0 && seqAfter(p.Ack, s.ClientISN+1) {
		s.ServerAckedData = true
	}
	if p.Flags&capture.FlagACK != 0 && s.clientSent && seqAfter(p.Ack, s.clientSeqLimit) {
		s.ClientDataNotCaptured = true
	}
	if p.Flags&capture.FlagFIN != 0 {
		if !s.ServerFIN && !s.ClientFIN {
			s.ServerClosedFirst = true
		}
		s.ServerFIN = true
	}
	if s.ServerFIN && s.ClientFIN {
		s.close(p.Time)
	}
}

func (s *handshakeState) serverMidStream(p *capture.Packet) {
	if p.Flags&capture.FlagRST != 0 {
		s.ServerRSTs++
		s.close(p.Time)
		return
	}
	if p.Flags.Has(capture.FlagSYN | capture.FlagACK) {
		// A handshake whose SYN came before the capture: counted, so
		// that SYN-ACKs the server retransmitted to a client that never
		// answered show a half-open request in the SYN queue when the
		// capture began (analyze: Signs.HalfOpenAtStart).
		s.SYNACKs++
		if s.SYNACKs == 1 {
			s.FirstSYNACK = p.Time
			s.SYNACKOpts = p.Opts
		}
		s.LastSYNACK = p.Time
		if s.HasServerISN && p.Seq == s.ServerISN {
			s.SYNACKRetransmits++
		}
		s.ServerISN, s.HasServerISN = p.Seq, true
		return
	}
	if p.PayloadLen > 0 {
		s.ServerData = true
	}
	if p.Flags&capture.FlagFIN != 0 {
		s.ServerFIN = true
		if s.ClientFIN {
			s.close(p.Time)
		}
	}
}

// ignore books n pending client segments (data of them with payload or
// FIN) as ignored by the server, and clears the pending ones.
func (s *handshakeState) ignore(n, data int) {
	s.IgnoredSegments += n
	s.IgnoredDataSegments += data
	s.pendingSegs, s.pendingData = 0, 0
}

// close marks the attempt closed (FIN both ways, or a RST) at now, once.
func (s *handshakeState) close(now int64) {
	if !s.closed {
		s.closed, s.closedAt = true, now
	}
}
