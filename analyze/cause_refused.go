package analyze

import "fmt"

// icmpRejectCause: SYNs that got no TCP answer while the host sent ICMP
// destination-unreachable errors: a firewall `reject with icmp...` rule
// (K17). synq does not decode the ICMP errors yet, so this rests on the
// namespace-wide IcmpOutDestUnreachs counter: strong, not decisive.
func icmpRejectCause(l *Listener, ev *evidence) []hypothesis {
	n := l.Outcomes[UnansweredSYN] + l.Outcomes[Incomplete]
	icmp, ok := ev.counters.get("IcmpOutDestUnreachs")
	if n == 0 || !ok || int(icmp) < n {
		return nil
	}
	signs := []Sign{
		forSign(Weak, FromPackets, "%d attempts' SYNs got no TCP answer (%d of them still counted in progress: their clients gave up at once, as an ICMP error makes them do).", n, l.Outcomes[Incomplete]),
		forSign(Strong, FromCounters, "The host sent %d ICMP destination-unreachable errors (IcmpOutDestUnreachs) and no TCP listen counter explains the SYNs: a firewall rule `reject with icmp` answered them.", icmp),
	}
	if lo, ok := ev.counters.get("TcpExtListenDrops"); ok && lo > 0 {
		signs = append(signs, againstSign(Strong, FromCounters, "the kernel also counted %d listen drops (TcpExtListenDrops).", lo))
	}
	return []hypothesis{{Finding: Finding{Kind: KindFirewallReject, Mode: "icmp", Affected: n, Signs: signs,
		Summary: fmt.Sprintf("A firewall rule on the server refused connections to %s with ICMP errors (nftables/iptables REJECT with icmp): clients fail at once with 'connection refused' or 'no route to host'.", l.Server),
		Remedy: []string{
			"List the rules that could match: nft list ruleset; iptables -nvL (look for REJECT and its counters).",
			fmt.Sprintf("Capture the ICMP errors with the SYNs to see which clients they answer: tcpdump -i any 'tcp port %d or icmp or icmp6'.", l.Server.Port()),
		}}, explainsUnanswered: true}}
}

// refusedCause: SYNs answered by a RST, from the kernel (nothing
// listening, or a listener restarting) or from a firewall REJECT, which
// builds the RST itself so TcpOutRsts does not count it (K17).
func refusedCause(l *Listener, ev *evidence) []hypothesis {
	n := l.Outcomes[Rejected]
	if n == 0 {
		return nil
	}
	port := l.Server.Port()
	seen := forSign(Strong, FromPackets, "%d SYNs were answered with RST instead of SYN-ACK.", n)
	noListener := []Sign{seen}
	reject := []Sign{forSign(Weak, FromPackets, "%d SYNs were answered with RST: a firewall rule `reject with tcp reset` answers exactly like a port with no listener.", n)}
	if rsts, ok := ev.counters.get("TcpOutRsts"); ok {
		if int(rsts)+coverageSlack(ev.refused) < ev.refused {
			noListener = append(noListener, againstSign(Decisive, FromCounters, "the kernel sent only %d resets (TcpOutRsts) for the %d refused attempts in the capture: the others were built outside TCP, by a firewall REJECT rule.", rsts, ev.refused))
			reject = append(reject, forSign(Decisive, FromCounters, "TcpOutRsts rose by %d, fewer than the %d refused attempts: netfilter's REJECT builds its resets without TCP counting them.", rsts, ev.refused))
		} else {
			noListener = append(noListener, forSign(Decisive, FromCounters, "TcpOutRsts rose by %d: the kernel's TCP sent the resets itself.", rsts))
			reject = append(reject, againstSign(Decisive, FromCounters, "TcpOutRsts counted the resets (%d): TCP sent them, not a firewall.", rsts))
		}
	}
	return []hypothesis{
		{Finding: Finding{Kind: KindNoListener, Affected: n, Signs: noListener,
			Summary: noListenerSummary(l.Server.String(), n, l.Outcomes[Established]),
			Remedy: []string{
				fmt.Sprintf("Check that the service is running and bound to this address and port: ss -lnt 'sport = :%d'.", port),
				"If it restarts, clients that connect during the restart are refused: drain them first or use a load balancer health check.",
			}}},
		{Finding: Finding{Kind: KindFirewallReject, Affected: n, Signs: reject,
			Summary: fmt.Sprintf("A firewall rule on the server refused connections to %s with a reset (nftables/iptables REJECT), though a listener may be there.", l.Server),
			Remedy: []string{
				"List the rules that could match: nft list ruleset; iptables -nvL (look for REJECT and its counters).",
				fmt.Sprintf("Check that the listener is there: ss -lnt 'sport = :%d'.", port),
			}}},
	}
}

func noListenerSummary(server string, refused, established int) string {
	if established > 0 {
		return fmt.Sprintf("%s refused %d connection attempts with a reset while it accepted %d others: the listener was down part of the time (a restart?).", server, refused, established)
	}
	return fmt.Sprintf("Nothing was listening on %s: the server refused %d connection attempts with a reset.", server, refused)
}
