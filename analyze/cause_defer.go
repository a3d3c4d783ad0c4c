package analyze

import "fmt"

// deferAcceptCause: TCP_DEFER_ACCEPT held bare ACKs back on purpose.
func deferAcceptCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	if sg.DeferAccepted == 0 {
		return deferFromCounters(l, ev)
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
	return []hypothesis{{Finding: deferFinding(l, "uses", sg.DeferAccepted, signs)}}
}

// deferFinding is the defer-accept finding: l "uses" it, or "most likely
// uses" it where only a counter says so.
func deferFinding(l *Listener, uses string, affected int, signs []Sign) Finding {
	return Finding{Kind: KindDeferAccept, Affected: affected, Signs: signs,
		Summary: fmt.Sprintf("%s %s TCP_DEFER_ACCEPT: it waits for the client's first data before accepting. That is intended, not an overflow.", l.Server, uses),
		Remedy:  []string{"Nothing to fix if clients speak first. For protocols where the server speaks first, remove TCP_DEFER_ACCEPT from the listener."}}
}

// deferFromCounters: a capture without bare ACKs (Signs.HalfOpenUnseen:
// filtered to SYNs, FINs and resets) cannot show an ACK held back, only
// SYN-ACKs sent again before the connection got in; the kernel's count of
// ACKs dropped for TCP_DEFER_ACCEPT says why. Medium at most: the counter
// covers every listener of the host.
func deferFromCounters(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	n, ok := ev.counters.get("TcpExtTCPDeferAcceptDrop")
	if !sg.HalfOpenUnseen || sg.ResentThenEstablished == 0 || !ok || n == 0 {
		return nil
	}
	signs := []Sign{
		forSign(Strong, FromCounters, "The kernel counted %d ACK{s} dropped for TCP_DEFER_ACCEPT (TcpExtTCPDeferAcceptDrop).", n),
		forSign(Weak, FromPackets, "%d connection{s} got in only after the server sent its SYN-ACK again; the capture holds no bare ACK to show the ACKs it held back.", sg.ResentThenEstablished),
	}
	return []hypothesis{{Finding: deferFinding(l, "most likely uses", sg.ResentThenEstablished, signs)}}
}
