// Package reassemble follows TCP handshakes per 4-tuple and turns the packets
// of each connection attempt into one Attempt record. It works at the level
// of flags, sequence and acknowledgement numbers; it never reassembles
// payload. Attempts are emitted as soon as they are finished (closed, idle,
// replaced by port reuse, or the capture ended), so memory follows the
// attempts in flight, not the size of the capture.
package reassemble

import (
	"net/netip"

	"github.com/synq/synq/capture"
)

// EndReason says why the tracker stopped following an attempt.
type EndReason uint8

const (
	EndCaptureEnd EndReason = iota // the capture ended while it was tracked
	EndClosed                      // FIN in both directions or a RST, then a quiet linger
	EndIdle                        // no packet for the idle timeout
	EndReused                      // a SYN with a new ISN reused the 4-tuple
	EndEvicted                     // dropped early to stay under Config.MaxAttempts
	EndZeekSplit                   // Config.ZeekParity: split where Zeek starts a new connection
)

func (r EndReason) String() string {
	switch r {
	case EndClosed:
		return "closed"
	case EndIdle:
		return "idle"
	case EndReused:
		return "reused"
	case EndEvicted:
		return "evicted"
	case EndZeekSplit:
		return "zeek_split"
	default:
		return "capture_end"
	}
}

// Attempt is everything the tracker learned about one connection attempt:
// one client SYN ISN on one 4-tuple, or, when MidStream is set, a connection
// whose handshake was not in the capture.
type Attempt struct {
	Handshake

	// Conn is what the per-connection export needs: Zeek's conn_state,
	// history and counts, followed packet by packet when
	// Config.ConnState is set.
	Conn ConnState

	// Tunnel is the tunnel of the attempt's first packet (zero if none);
	// attempts in different tunnels are tracked apart even with the same
	// inner 4-tuple.
	Tunnel capture.Tunnel

	// WatchEnd, when not 0, is when the capture stopped watching the
	// attempt, before its end: a file stopped while another captured
	// alongside it went on (capture.Packet.WatchEnds), and nothing of the
	// attempt came after. End is then EndCaptureEnd: judge it as at the
	// end of a capture that ended at WatchEnd (Watched).
	WatchEnd int64

	// SpansClockStep: the capturing host's clock was set back while the
	// attempt was in flight (capture.Packet.ClockStep). Its later packets
	// follow on from the step as if no time had passed, so the lengths of
	// its intervals across it are unknown (lower bounds).
	SpansClockStep bool
}

// Watched is the end of the capture for a: captureEnd, or WatchEnd when
// the capture stopped watching it before.
func (a *Attempt) Watched(captureEnd int64) int64 {
	if a.WatchEnd != 0 {
		return a.WatchEnd
	}
	return captureEnd
}

// Handshake is the part of an Attempt the tracker keeps for every attempt
// in flight (Conn and Tunnel, which most attempts do not need, are kept
// apart: a smaller state is fewer cache misses per packet and less memory
// per attempt). Times are capture nanoseconds; a zero time means the event
// was not seen.
type Handshake struct {
	Client netip.AddrPort
	Server netip.AddrPort

	// MidStream is set for connections first seen without a client SYN:
	// they are counted apart and kept out of handshake statistics.
	MidStream bool

	ClientISN    uint32
	ServerISN    uint32 // ISN of the last SYN-ACK seen
	HasServerISN bool

	SYNs int // client SYN packets, retransmissions included
	// SYNsAfterSYNACK counts client SYNs sent after the server had already
	// answered: the SYN-ACK did not reach the client (lost on the way
	// back) or came too late.
	SYNsAfterSYNACK int
	SYNACKs         int // server SYN-ACK packets, retransmissions included
	// SYNACKRetransmits counts SYN-ACKs that repeated a server ISN already
	// seen on this attempt.
	SYNACKRetransmits int
	// SYNACKRetransAfterACK counts SYN-ACK retransmissions sent after the
	// client had acknowledged the SYN-ACK: the server ignored that ACK.
	SYNACKRetransAfterACK int
	// FirstRetransAfterACK is the time of the first of them: on the
	// SYN-ACK timer (about 1 s after the SYN-ACK) when an overflowing
	// accept queue ignored the ACK, later when TCP_DEFER_ACCEPT held the
	// retransmissions back on purpose.
	FirstRetransAfterACK int64

	FirstSYN    int64
	LastSYN     int64
	FirstSYNACK int64
	LastSYNACK  int64
	FirstACK    int64 // client's first segment acknowledging the SYN-ACK (valid if ClientAcked)
	Accepted    int64 // first server packet showing a full socket (valid if ServerAccepted)
	FirstPacket int64
	LastPacket  int64

	// SYNBeforeSYNACK is the time of the last client SYN before the first
	// SYN-ACK (the one it answered), for the SYN to SYN-ACK gap.
	SYNBeforeSYNACK int64

	SYNOpts    capture.TCPOptions // options of the first client SYN
	SYNACKOpts capture.TCPOptions // options of the first SYN-ACK
	SYNOptsCut bool               // snap length cut the SYN's options
	// AbortRSTAcked: the AbortRST reset carried the ACK flag, as a
	// connected socket's does (tcp_send_active_reset: the application
	// aborted a connection it had accepted); the listener's abort on
	// overflow answers the ACK with a bare RST (tcp_v4_send_reset). Here,
	// not beside AbortRST, where a byte more would cost 8 (state budget).
	AbortRSTAcked bool
	// SYNACKZeroWindow: the first SYN-ACK offered a zero window. Linux's
	// TCP never does; a SYN proxy does (netfilter's SYNPROXY,
	// synproxy_send_client_synack): it answers for the listener with a
	// cookie and opens the window only once the listener has answered the
	// SYN it passes on, a handshake not on this wire (analyze:
	// ProxiedUnanswered). In padding beside AbortRSTAcked.
	SYNACKZeroWindow bool
	// ResentUnanswered: the client sent payload or a FIN again while the
	// capture held no SYN-ACK: in a capture of the clients' packets only
	// (analyze: Signs.ServerUnseen), the one sign left that the server
	// did not take what the client sent (a full accept queue, a firewall
	// on ACKs, or its acknowledgements lost). Padding, as above.
	ResentUnanswered bool
	// ACKEchoedFirstSYNACK: the client's first ACK of the SYN-ACK echoed
	// the first SYN-ACK's timestamp (TSecr = its TSval): a SYN-ACK sent
	// then reached the client, whatever the client sent before it came.
	ACKEchoedFirstSYNACK bool
	// FirstSYNAnswered: the client sent its SYN again before the first
	// SYN-ACK came (a capture on the client's side), and that SYN-ACK
	// echoes the first SYN's timestamp: the first SYN reached the
	// server and was answered; the answer was lost or slow on its way
	// back. DroppedSYNs is then 0.
	FirstSYNAnswered bool

	// DroppedSYNs counts client SYNs (retransmissions included) that got
	// no answer from the server before the client's next packet of this
	// attempt or the end of the attempt.
	DroppedSYNs int
	// IgnoredSegments counts client segments after the SYN-ACK that the
	// server did not take while it held only a request: followed by a
	// SYN-ACK retransmission, answered by an abort RST, or never answered.
	IgnoredSegments int
	// IgnoredDataSegments is the part of IgnoredSegments that carried
	// payload or FIN (the rest were bare ACKs: TCP_DEFER_ACCEPT ignores
	// those on purpose, an overflowing accept queue ignores both).
	IgnoredDataSegments int

	// ICMPErrors counts ICMP destination-unreachable errors quoting the
	// client's SYN (its ISN): a firewall `reject with icmp` rule on the
	// server (ICMP.FromDst) or a router refused it. FirstICMP is the
	// first one's time, ICMP its type and code.
	ICMPErrors int
	FirstICMP  int64
	ICMP       capture.ICMPError

	// BareACKAnswer is set when the server answered a SYN with a bare ACK
	// (challenge ACK or stale state) before any SYN-ACK.
	BareACKAnswer bool
	// SYNACKNotCaptured is set when the server, before any SYN-ACK in
	// the capture, sent a segment acknowledging this SYN (and maybe the
	// client's data): the connection went on, and the capture missed its
	// SYN-ACK. An old connection's answer acknowledges that connection's
	// sequence numbers, not this SYN's. ServerAccepted is set with it.
	SYNACKNotCaptured bool
	// ClientDataNotCaptured is set when the server acknowledged client
	// sequence numbers past the highest the capture showed the client
	// send: the capture missed the client's data or FIN (tcpdump's
	// "dropped by kernel", a full ring buffer, a path it does not see).
	// Judged only once the capture holds a client segment after the SYN,
	// so data in a SYN (TCP Fast Open) is no gap.
	ClientDataNotCaptured bool
	// ServerRSTs and ClientRSTs count RST segments by direction.
	ServerRSTs     int
	ClientRSTs     int
	FirstServerRST int64
	FirstClientRST int64
	// RSTBeforeSYNACK: the server's first answer to the SYN was a RST.
	RSTBeforeSYNACK bool
	// AbortRST: the server reset the attempt as its first answer to the
	// client's handshake ACK (tcp_abort_on_overflow=1 signature).
	AbortRST bool

	// ClientAcked: the client acknowledged a SYN-ACK (handshake complete
	// from the client's side).
	ClientAcked bool
	// ServerAccepted: after the SYN-ACK the server sent something other than
	// a SYN-ACK or RST (an ACK, data or FIN), which only a full socket does.
	ServerAccepted bool

	// ServerTSAfter is the TSval of the server's first segment after the
	// SYN-ACK that is not a SYN-ACK or RST, at ServerTSAfterTime; with the
	// SYN-ACK's own TSval it shows whether the SYN-ACK's timestamp lagged
	// the server's clock, as a syncookie's does.
	ServerTSAfter     uint32
	ServerTSAfterTime int64
	HasServerTSAfter  bool

	// Served is the first time the server sent payload or FIN after the
	// handshake: the application had accepted the connection by then.
	Served    int64
	HasServed bool

	// LastClientTSval is the TSval of the client's last segment with the
	// timestamp option (what a TIME_WAIT socket would remember).
	LastClientTSval uint32
	HasClientTS     bool

	ClientData      bool // the client sent payload
	ServerData      bool // the server sent payload
	ServerAckedData bool // the server acknowledged client payload or FIN
	ClientFIN       bool
	ServerFIN       bool
	// ServerClosedFirst: the server sent its FIN before any from the
	// client, so the server holds the TIME_WAIT (and, before 4.12 with
	// tcp_tw_recycle, remembered the client's timestamp).
	ServerClosedFirst bool

	Packets int // packets of this attempt, both directions
	End     EndReason
}
