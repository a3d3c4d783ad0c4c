package analyze

import "fmt"

// deferAcceptCause: TCP_DEFER_ACCEPT held bare ACKs back on purpose.
func deferAcceptCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	if sg.DeferAccepted == 0 {
		return nil
	}
	signs := []Sign{forSign(Strong, FromPackets, "%d connection{s}: the server ignored the client's bare handshake ACK and took the connection once data arrived (or after a late SYN-ACK retransmission).", sg.DeferAccepted)}
	if sg.RetransHeldBack > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "The server held its SYN-ACK retransmissions back for up to %s after the ACK (%d attempt{s}), past the SYN-ACK timer's next slot: TCP_DEFER_ACCEPT waits so.", FormatDuration(sg.RetransAfterACKMax), sg.RetransHeldBack))
	}
	if n, ok := ev.counters.get("TcpExtTCPDeferAcceptDrop"); ok {
		if n > 0 {
			signs = append(signs, forSign(Decisive, FromCounters, "The kernel counted %d ACK{s} dropped for TCP_DEFER_ACCEPT (TcpExtTCPDeferAcceptDrop).", n))
		} else {
			signs = append(signs, againstSign(Decisive, FromCounters, "TcpExtTCPDeferAcceptDrop did not move: no ACK was held back for TCP_DEFER_ACCEPT."))
		}
	}
	return []hypothesis{{Finding: Finding{Kind: KindDeferAccept, Affected: sg.DeferAccepted, Signs: signs,
		Summary: fmt.Sprintf("%s uses TCP_DEFER_ACCEPT: it waits for the client's first data before accepting. That is intended, not an overflow.", l.Server),
		Remedy:  []string{"Nothing to fix if clients speak first. For protocols where the server speaks first, remove TCP_DEFER_ACCEPT from the listener."}}}}
}
