package analyze

import (
	"time"

	"github.com/synq/synq/internal/prose"
	"github.com/synq/synq/reassemble"
)

// cookieSign says why an attempt's SYN-ACK was taken for a syncookie, or
// that it was not. See shared/docs/listen-queues.md, "Signatures of a
// syncookie SYN-ACK", and the measurements in testdata/syncookies-flood.
type cookieSign uint8

const (
	notCookie cookieSign = iota
	// cookieTSLag: the SYN-ACK's TSval lagged the server's clock, read
	// from the server's next segment on the same connection, by 2 to 64
	// ticks. A cookie's TSval is the clock rounded down to 64 ticks with
	// the client's options in the low 6 bits; a normal SYN-ACK's lags by
	// 0 or 1 (tick rounding). Same connection only: on 6.x kernels the
	// timestamp offset differs per connection.
	cookieTSLag
	// cookieStripped: the client sent no timestamp, offered window scale
	// or SACK, and the SYN-ACK carried only MSS.
	cookieStripped
	// cookieNeverRetransmitted: never acknowledged, never retransmitted,
	// though a Linux server retransmits a SYN-ACK it keeps state for
	// after 1 s.
	cookieNeverRetransmitted
)

// IsSyncookie reports whether the attempt's SYN-ACK was taken for a
// syncookie, by the same signs the listener counts use (cookieSignOf), for
// the per-connection export. captureEnd as for Classify.
func IsSyncookie(a *reassemble.Attempt, captureEnd int64) bool {
	return cookieSignOf(a, captureEnd) != notCookie
}

// cookieSignOf classifies an attempt's SYN-ACK. captureEnd judges whether a
// retransmission would have been seen.
func cookieSignOf(a *reassemble.Attempt, captureEnd int64) cookieSign {
	captureEnd = a.Watched(captureEnd)
	if a.SYNACKs == 0 || a.SYNACKRetransmits > 0 {
		return notCookie
	}
	if lag, ok := synackTSLag(a); ok {
		switch {
		case lag >= 3 && lag <= 65:
			return cookieTSLag
		case lag >= -2 && lag <= 1:
			return notCookie
		}
	}
	o, so := a.SYNOpts, a.SYNACKOpts
	if !o.HasTS && !a.SYNOptsCut && (o.HasWScale || o.SACKPerm) && so.HasMSS && !so.HasWScale && !so.SACKPerm {
		return cookieStripped
	}
	if !a.ClientAcked && a.ClientRSTs == 0 && a.ServerRSTs == 0 &&
		(a.End != reassemble.EndCaptureEnd || captureEnd-a.LastSYNACK >= int64(SYNACKGrace)) {
		return cookieNeverRetransmitted
	}
	return notCookie
}

// synackTSLag is how many ticks the SYN-ACK's timestamp lagged the
// server's clock, as its first later timestamp shows: a syncookie's is
// rounded down to 64 ticks (the low bits carry the SYN's options), a
// normal SYN-ACK's lags by none (one of rounding).
func synackTSLag(a *reassemble.Attempt) (int64, bool) {
	if !a.SYNACKOpts.HasTS || !a.HasServerTSAfter || a.SpansClockStep {
		// (Across a clock step the elapsed time is short by what the
		// step hid: a quiet hold made SYN-ACKs lag like syncookies'.)
		return 0, false
	}
	if a.SYNACKNotCaptured || a.ServerTSAfterTime < a.FirstSYNACK {
		// The SYN-ACK came after segments that followed it: a capture
		// out of order, whose times cannot be read to the tick.
		return 0, false
	}
	elapsed := (a.ServerTSAfterTime - a.FirstSYNACK) / int64(time.Millisecond)
	return int64(int32(a.ServerTSAfter-a.SYNACKOpts.TSval)) - elapsed, true
}

// cookieLagTooSmall reports whether a's SYN-ACK lagged the clock by 0 to
// 2 ticks: a normal SYN-ACK's lag, and a syncookie's about one time in
// 21, under cookieSignOf's threshold.
func cookieLagTooSmall(a *reassemble.Attempt) bool {
	lag, ok := synackTSLag(a)
	return ok && lag >= 0 && lag <= 2
}

// halfOpenSpan is when an attempt's request sat in the SYN queue, as seen
// from the server: from its SYN-ACK until the client's ACK was taken, a
// reset, or (when the ACK never came or was ignored) the request's expiry
// after its last SYN-ACK retransmission. Syncookie attempts keep no request.
func halfOpenSpan(a *reassemble.Attempt) (from, to int64, ok bool) {
	if a.SYNACKs == 0 {
		return 0, 0, false
	}
	from = a.FirstSYNACK
	switch {
	case a.ClientAcked && a.ServerAccepted && a.SYNACKRetransAfterACK == 0:
		to = a.FirstACK
	case a.ServerAccepted:
		to = a.Accepted
	case a.AbortRST:
		to = a.FirstServerRST
	case a.ClientRSTs > 0:
		to = a.FirstClientRST
	case a.ServerRSTs > 0:
		to = a.FirstServerRST
	case a.SYNACKRetransmits > 0:
		// Retransmissions double: +1, +3, +7 s...; the request goes one
		// more doubled timeout after the last one.
		to = a.LastSYNACK + (a.LastSYNACK - a.FirstSYNACK) + int64(time.Second)
	default:
		to = 0
	}
	return from, to, true
}

// unansweredSYNs says "N attempts' SYNs (P packets)" of unanswered
// attempts, with the SYN packets dropped on attempts answered only on a
// retry apart: a rate limit drops many of those and few whole attempts.
func unansweredSYNs(l *Listener, unanswered int) string {
	if unanswered == 0 {
		return prose.Sayf("%d SYN packet{s} of %d attempt{s} that got in only on a retry", l.Signs.DelayedPackets, l.Signs.RetransmittedThenAnswered)
	}
	s := prose.Sayf("%d {attempt's SYN|attempts' SYNs} (%d packet{s}", unanswered, l.Signs.UnansweredPackets)
	if d := l.Signs.DelayedPackets; d > 0 {
		s += prose.Sayf("; and %d SYN packet{s} of %d attempt{s} answered only on a retry", d, l.Signs.RetransmittedThenAnswered)
	}
	return s + ")"
}

// acceptSpan is when a completed connection waited for the application, as
// far as packets show: from the handshake ACK the server took until the
// server first sent data or FIN. Connections the server never served stay
// to the end, and so do completed ones the server never sent anything on. This over-counts servers that wait for the client to speak
// and then think: it is an estimate, reported as such.
func acceptSpan(a *reassemble.Attempt) (from, to int64, ok bool) {
	if !a.ClientAcked {
		return 0, 0, false
	}
	if !a.ServerAccepted && a.SYNACKZeroWindow {
		// A SYN proxy completed it; the listener never did.
		return 0, 0, false
	}
	if !a.ServerAccepted {
		// Completed and silent: the server took the ACK (it never
		// retransmitted its SYN-ACK, nor reset) and sent nothing since.
		// Idle clients of a server that speaks first wait here too.
		if a.SYNACKRetransAfterACK > 0 || a.AbortRST || a.ServerRSTs > 0 || a.IgnoredSegments > 0 {
			return 0, 0, false
		}
		if a.ClientRSTs > 0 {
			return a.FirstACK, a.FirstClientRST, true
		}
		return a.FirstACK, 0, true
	}
	from = a.FirstACK
	if a.SYNACKRetransAfterACK > 0 {
		from = a.Accepted
	}
	if a.HasServed {
		to = a.Served
	}
	return from, to, true
}
