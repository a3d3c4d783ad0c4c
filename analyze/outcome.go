// Package analyze turns the tracker's attempt records into outcomes and
// per-listener aggregates. It is pure: no IO, no clock, no printing.
package analyze

import (
	"time"

	"github.com/synq/synq/reassemble"
)

// Outcome is what happened to one connection attempt. Every attempt gets
// exactly one.
type Outcome uint8

const (
	// Established: the handshake completed and the server took the
	// connection: it acknowledged client data, sent data or FIN, or never
	// retransmitted its SYN-ACK after the client's ACK.
	Established Outcome = iota
	// UnansweredSYN: the client's SYN (maybe retransmitted) got no answer
	// at all from the server.
	UnansweredSYN
	// Rejected: the server answered the SYN with a RST (no listener).
	Rejected
	// ICMPUnreachable: the SYN was answered by an ICMP
	// destination-unreachable error (a firewall `reject with icmp` rule,
	// or a router), never by TCP.
	ICMPUnreachable
	// SYNACKUnacked: the server sent a SYN-ACK (maybe retransmitted) that
	// the client never acknowledged.
	SYNACKUnacked
	// ACKIgnored: the client acknowledged the SYN-ACK (and maybe sent data)
	// but the server went on retransmitting the SYN-ACK and/or never
	// acknowledged the data: the accept queue was full.
	ACKIgnored
	// ResetAfterACK: the server reset the connection as its answer to the
	// client's handshake ACK (tcp_abort_on_overflow=1).
	ResetAfterACK
	// ClientReset: the client reset the attempt after the SYN-ACK, before
	// acknowledging it.
	ClientReset
	// SYNAnsweredByACK: the SYN got a bare ACK (challenge ACK, stale state
	// on the server) and never a SYN-ACK.
	SYNAnsweredByACK
	// ProxiedUnanswered: a SYN proxy answered the SYN for the listener
	// (a zero-window SYN-ACK: netfilter's SYNPROXY) and the client
	// acknowledged it, but the listener never answered the SYN the proxy
	// then sent it: the proxy never opened the window, and the client's
	// segments went unanswered. The listener dropped that SYN (a full
	// accept queue does); its handshake is not on this wire.
	ProxiedUnanswered
	// Incomplete: the capture ended while the attempt was still inside its
	// retransmission window: not counted as failed.
	Incomplete

	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	Established:       "established",
	UnansweredSYN:     "unanswered_syn",
	Rejected:          "rejected",
	ICMPUnreachable:   "icmp_unreachable",
	SYNACKUnacked:     "synack_unacked",
	ACKIgnored:        "ack_ignored",
	ResetAfterACK:     "reset_after_ack",
	ClientReset:       "client_reset",
	SYNAnsweredByACK:  "syn_answered_by_ack",
	ProxiedUnanswered: "proxied_unanswered",
	Incomplete:        "incomplete",
}

// String returns the outcome's stable name, as used in JSON.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Failed reports whether the outcome is a failed attempt.
func (o Outcome) Failed() bool { return o != Established && o != Incomplete }

// AllOutcomes lists every outcome in their documented order.
func AllOutcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// How close to the end of the capture an attempt's last event may be and
// still be called Incomplete: its next packet may simply not have come yet.
// Clients retransmit a SYN after 1 s (Linux 3.1+, macOS) or 3 s (Windows,
// old Linux); a Linux server retransmits a SYN-ACK after 1 s, so a SYN-ACK
// neither acknowledged nor retransmitted 1.5 s later is not incomplete (a
// syncookie SYN-ACK, which is never retransmitted, is the usual case).
const (
	SYNGrace    = 3 * time.Second
	SYNACKGrace = reassemble.AnswerGrace // as for client segments at the end
)

// Classify gives an attempt its outcome. captureEnd is the time of the
// capture's last packet, used to tell an unfinished attempt from a failed one.
func Classify(a *reassemble.Attempt, captureEnd int64) Outcome {
	captureEnd = a.Watched(captureEnd)
	quietAtEnd := func(since int64, grace time.Duration) bool {
		return a.End == reassemble.EndCaptureEnd && captureEnd-since < int64(grace)
	}
	if a.SYNACKs == 0 {
		switch {
		case a.SYNACKNotCaptured && a.ClientRSTs > 0 && a.Packets == a.SYNs+a.ClientRSTs:
			// Reset on a SYN-ACK the capture missed, and nothing else.
			return ClientReset
		case a.SYNACKNotCaptured:
			return Established // the capture missed the SYN-ACK
		case a.RSTBeforeSYNACK:
			return Rejected
		case a.ICMPErrors > 0:
			return ICMPUnreachable
		case a.BareACKAnswer:
			return SYNAnsweredByACK
		case a.SYNs <= 1 && quietAtEnd(a.LastSYN, SYNGrace):
			return Incomplete
		}
		return UnansweredSYN
	}
	if a.ClientAcked {
		proxied := a.SYNACKZeroWindow && !a.ServerAccepted && a.SYNACKRetransAfterACK == 0
		switch {
		case proxied && a.AbortRST:
			// The listener's answer to the proxy's SYN was a reset,
			// which the proxy passed on: nothing listened.
			return Rejected
		case a.AbortRST:
			return ResetAfterACK
		case a.ServerAccepted:
			return Established
		case proxied && a.ServerRSTs == 0:
			// The proxy opens the window once the listener answers its
			// SYN, within microseconds on the same host.
			if a.SYNACKs == 1 && quietAtEnd(a.FirstACK, SYNACKGrace) {
				return Incomplete
			}
			return ProxiedUnanswered
		case a.SYNACKRetransAfterACK > 0 || a.IgnoredSegments > 0:
			return ACKIgnored
		case a.SYNACKs == 1 && quietAtEnd(a.FirstACK, SYNACKGrace):
			return Incomplete
		}
		return Established
	}
	switch {
	case a.ClientRSTs > 0:
		return ClientReset
	case a.SYNACKRetransmits == 0 && quietAtEnd(a.LastSYNACK, SYNACKGrace):
		return Incomplete
	}
	return SYNACKUnacked
}
