package analyze

import "fmt"

// oldStateCause: a SYN answered by a bare ACK. The server still holds
// state for the 4-tuple, a TIME_WAIT it will not reuse for this SYN or a
// connection it believes open, and answers with an ACK for that; the
// client resets it and retries (listen-queues.md, "What happens to each
// packet").
func oldStateCause(l *Listener, ev *evidence) []hypothesis {
	failed, retried := l.Outcomes[SYNAnsweredByACK], l.Signs.BareACKThenAnswered
	n := failed + retried
	if n == 0 {
		return nil
	}
	var signs []Sign
	if failed > 0 {
		signs = append(signs, forSign(Strong, FromPackets, "%d SYN{s} {was|were} answered with a bare ACK instead of a SYN-ACK, and never got one: the server still held state for the same addresses and ports.", failed))
	}
	if retried > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d SYN{s} {was|were} first answered with a bare ACK (the server still held state for the same addresses and ports); after the client's reset the retried SYN was answered: it cost a retry, not the connection.", retried))
	}
	if k := l.Signs.OldStateServerClosed; k > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "For %d of them the previous connection on the same addresses and ports, earlier in the capture, was closed by the server first: the server held its TIME_WAIT.", k))
	}
	if k := l.Signs.OldStateClientClosed; k > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "For %d of them the previous connection on the same addresses and ports was closed by the client first, so the server held no TIME_WAIT for it: it still believed a connection open (a FIN it never saw, or a close it never finished).", k))
	}
	if c, ok := ev.counters.get("TcpExtTCPChallengeACK"); ok && c > 0 {
		signs = append(signs, forSign(Weak, FromCounters, "The kernel sent %d challenge ACK{s} (TcpExtTCPChallengeACK).", c))
	}
	return []hypothesis{{Finding: Finding{Kind: KindOldState, Affected: n, Signs: signs,
		Summary: fmt.Sprintf("Clients reused the address and port of a connection %s still remembered (TIME_WAIT or a connection it believed open), so their new SYNs were answered with an ACK for the old one and had to be retried.", l.Server),
		Remedy: []string{
			"Let clients pick their source ports (no fixed bind port); behind a NAT, give it more ports or addresses.",
			"Keep TCP timestamps on at both ends (net.ipv4.tcp_timestamps=1): with them Linux accepts a new SYN on a TIME_WAIT 4-tuple.",
			"A server that closes first holds the TIME_WAIT: where the protocol allows, let the client close first.",
		}}}}
}
