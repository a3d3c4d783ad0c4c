package analyze

import "fmt"

// pawsCause: tcp_tw_recycle (before 4.12) dropped SYNs whose timestamp
// was older than one remembered for the same address: clients behind NAT.
func pawsCause(l *Listener, ev *evidence) []hypothesis {
	p := l.Signs.PAWS
	if p.Rejected == 0 {
		return nil
	}
	signs := []Sign{forSign(Strong, FromPackets, "%d SYN{s} from %d address{|es} went unanswered, each with a TCP timestamp older than one the same address had sent on a connection the server closed first (its TIME_WAIT is what tcp_tw_recycle remembered) less than 60 s before, while its SYNs with newer timestamps were answered (%d). Most from %s.",
		p.Rejected, p.Sources, p.Answered, p.WorstIP)}
	if p.MaxClocks > 1 {
		signs = append(signs, forSign(Weak, FromPackets, "Up to %d different timestamp clocks behind one address: several hosts behind a NAT.", p.MaxClocks))
	}
	c := &ev.counters
	n, ok := c.get("TcpExtPAWSPassive")
	switch {
	case ok && n > 0:
		signs = append(signs, forSign(Decisive, FromCounters, "The kernel counted %d passive connection{s} rejected because of their timestamp (TcpExtPAWSPassive).", n))
	case ok:
		signs = append(signs, againstSign(Decisive, FromCounters, "TcpExtPAWSPassive did not move: the kernel rejected no SYN for its timestamp."))
	case c.usable() && c.gen >= Gen3:
		signs = append(signs, againstSign(Decisive, FromCounters, "this kernel (%s) has no tcp_tw_recycle and no TcpExtPAWSPassive counter.", c.genNote))
	}
	if s, ok := kernelSign(l, KindPAWS); ok {
		signs = append(signs, s)
	}
	return []hypothesis{{Finding: Finding{Kind: KindPAWS, Affected: p.Rejected, Signs: signs,
		Summary: fmt.Sprintf("%s dropped SYNs from clients behind a NAT because their TCP timestamps looked older than another client's from the same address (tcp_tw_recycle).", l.Server),
		Remedy: []string{"Set net.ipv4.tcp_tw_recycle=0 (it breaks clients behind NAT; Linux 4.12 removed it).",
			"Do not turn TCP timestamps off to work around it; upgrade the kernel if the setting cannot be changed."}},
		explainsUnanswered: true}}
}
