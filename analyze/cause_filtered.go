package analyze

import "fmt"

// filteredCause: SYNs reached the host and TCP never saw them: a firewall
// drop, a full conntrack table, reverse-path filtering.
func filteredCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	unanswered := l.Outcomes[UnansweredSYN]
	if unanswered == 0 {
		return nil
	}
	signs := []Sign{forSign(Weak, FromPackets, "%d {attempt's SYN|attempts' SYNs} (%d packet{s}) reached this host and got no answer.", unanswered, l.DroppedSYNPackets)}
	// Drops selective by source point at a rule, unless half-open
	// requests that clients never completed were waiting too: with
	// syncookies off, that is also how the 3/4 rule looks (it drops
	// SYNs from peers never seen before).
	selective := Strong
	if l.Outcomes[SYNACKUnacked] > 0 || sg.HalfOpenAtStart > 0 {
		selective = Weak
	}
	// Per-source claims need every unanswered attempt's source counted;
	// past the source table's cap the later addresses are not.
	bySource := sg.SourceUnanswered == unanswered
	switch {
	case !bySource:
	case sg.NeverAnsweredSources == 1 && sg.UnansweredSources == 1 && l.Outcomes[Established] > 0:
		signs = append(signs, forSign(selective, FromPackets, "All of them came from one address, %s (%d attempt{s}), which never got any answer while the listener answered others: a rule matching that source (or, with syncookies off, the rule that drops SYNs from peers never seen before once the SYN queue is 3/4 full).",
			sg.TopUnansweredSource, sg.TopUnansweredAttempts))
	case sg.NeverAnsweredSources > 0 && sg.NeverAnsweredSources == sg.UnansweredSources && l.Outcomes[Established] > 0:
		signs = append(signs, forSign(selective, FromPackets, "%d of the %d source address{|es} with unanswered SYNs never got any answer (most from %s, %d attempt{s}) while the listener answered others: a rule matching those sources (or, with syncookies off, the rule that drops SYNs from peers never seen before once the SYN queue is 3/4 full).",
			sg.NeverAnsweredSources, sg.UnansweredSources, sg.TopUnansweredSource, sg.TopUnansweredAttempts))
	}
	c := &ev.counters
	drops, okDrops := c.get("TcpExtListenDrops")
	switch {
	case okDrops && drops == 0:
		if st := c.genDecisive(Gen2); st > 0 {
			signs = append(signs, forSign(st, FromCounters, "No listen counter moved (TcpExtListenDrops 0): the kernel's TCP never saw these SYNs%s.", genCaveat(c, Gen2)))
		}
	case okDrops && int(drops)+coverageSlack(ev.synDropsSeen) >= ev.synDropsSeen:
		signs = append(signs, againstSign(Decisive, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops), as many as the %d unanswered SYN packet{s} on the wire: TCP saw the SYNs and dropped them itself.", drops, ev.synDropsSeen))
	case okDrops:
		signs = append(signs, againstSign(Strong, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops): TCP dropped some SYNs itself.", drops))
	}
	if sg.Vantage == VantageClient {
		signs = append(signs, againstSign(Strong, FromPackets, "the capture was taken on the client side: the SYNs may have been lost before they reached the server."))
	}
	if s, ok := kernelSign(l, KindFiltered); ok {
		signs = append(signs, s)
	}
	if s, ok := kernelDroppedElsewhere(l, KindFiltered); ok {
		signs = append(signs, s)
	}
	return []hypothesis{{Finding: Finding{Kind: KindFiltered, Affected: unanswered, Signs: signs,
		Summary: fmt.Sprintf("SYNs to %s reached the host but were dropped before TCP saw them: a firewall rule, a full conntrack table or reverse-path filtering.", l.Server),
		Remedy: []string{"List the firewall rules that could match: nft list ruleset; iptables -nvL (look at the drop counters).",
			"Check conntrack: sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max; dmesg for 'table full'.",
			"Check reverse-path filtering: sysctl net.ipv4.conf.all.rp_filter."}},
		explainsUnanswered: true}}
}
