package analyze

import (
	"fmt"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
)

// filteredCause: SYNs reached the host and TCP never saw them: a firewall
// drop, a full conntrack table, reverse-path filtering, or a tc or eBPF
// program ahead of IP. IP's ledger (ipledger.go) tells these apart from
// SYN-ACKs lost on the way out (egressCause), which look the same on the
// wire.
func filteredCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	unanswered := l.Outcomes[UnansweredSYN]
	// Attempts that got in on a retry count too: a rate limit, a
	// conntrack table full for a moment or a rule matching only the first
	// SYN (one with ECN bits, which Linux clears when it sends the SYN
	// again) drop SYNs and let the next through.
	delayed := delayedBySYNDrops(l)
	if _, reached := ev.undeliveredSYNs(ipFamily(l.Server.Addr())); reached && l.Signs.Vantage == VantageClient {
		// Seen from a client, with the server's counters: IP there
		// left as many packets undelivered as the client's SYNs went
		// unanswered.
		delayed = l.Signs.RetransmittedThenAnswered
	}
	if unanswered == 0 && delayed == 0 {
		return nil
	}
	signs := []Sign{forSign(Weak, FromPackets, "%s reached this host and got no answer.", unansweredSYNs(l, unanswered))}
	// Drops selective by source point at a rule, unless half-open
	// requests that clients never completed were waiting too: with
	// syncookies off, that is also how the 3/4 rule looks (it drops
	// SYNs from peers never seen before).
	selective := Strong
	if l.Outcomes[SYNACKUnacked] > 0 || sg.HalfOpenAtStart > 0 {
		selective = Weak
	}
	neverAnswered := sourcesNeverAnswered(l)
	switch {
	case !neverAnswered:
	case sg.NeverAnsweredSources == 1 && sg.UnansweredSources == 1:
		signs = append(signs, forSign(selective, FromPackets, "All of them came from one address, %s (%d attempt{s}), which never got any answer while the listener answered others: a rule matching that source, or no route back to it (or, with syncookies off, the rule that drops SYNs from peers never seen before once the SYN queue is 3/4 full).",
			sg.TopUnansweredSource, sg.TopUnansweredAttempts))
	default:
		signs = append(signs, forSign(selective, FromPackets, "%d of the %d source address{|es} with unanswered SYNs never got any answer (most from %s, %d attempt{s}) while the listener answered others: a rule matching those sources, or no route back to them (or, with syncookies off, the rule that drops SYNs from peers never seen before once the SYN queue is 3/4 full).",
			sg.NeverAnsweredSources, sg.UnansweredSources, sg.TopUnansweredSource, sg.TopUnansweredAttempts))
	}
	routeCheck := ""
	if neverAnswered {
		// Their route back may be what fails (noRouteCause).
		routeCheck = fmt.Sprintf("Check the route back to %s: ip route get %s from %s. With none (or a blackhole, unreachable or prohibit route) TCP drops the SYNs itself, and TcpExtListenDrops and IpOutNoRoutes count them.", sg.TopUnansweredSource, sg.TopUnansweredSource, l.Server.Addr())
	}
	c := &ev.counters
	drops, okDrops := c.get("TcpExtListenDrops")
	// tcpClaimed: TCP's listen drops are all other listeners' overflows
	// (their queues seen full), whose SYNs reached TCP.
	tcpClaimed := false
	fam := ipFamily(l.Server.Addr())
	seen := ev.synDropsOf(fam)
	u := answersUnseen(l, ev)
	// TCP dropping none of them fits an answer lost on the way out just
	// as well, unless IP's ledger shows the SYNs dropped on the way in.
	answered := u.mode != "" && !u.inDrops
	switch {
	case okDrops && drops == 0:
		if st := c.genDecisive(Gen2); st > 0 {
			if answered {
				st = min(st, Strong)
			}
			if left, ok := c.unaccountedIn(fam); unanswered == 0 && (!ok || left < int64(seen)) {
				// Every attempt got in on a retry: a first SYN
				// lost on the way here, answered late or by a
				// packet the capture left out leaves TCP's count
				// still too, unless IP's ledger (below) shows
				// them dropped on the way in.
				st = Weak
			}
			if left, ok := c.unaccountedIn(fam); (sg.Vantage == VantageClient || sg.Vantage == VantageMiddle) && (!ok || left < int64(seen)) {
				// Off the server's tap a SYN lost on the way never
				// reached its TCP either: no count of TCP's says a
				// rule dropped it, unless IP's ledger (below) does (a
				// third of a client's capture behind a 1.4 s round
				// trip read "dropped before TCP, medium").
				st = Weak
			}
			signs = append(signs, forSign(st, FromCounters, "No listen counter moved (TcpExtListenDrops 0): TCP did not drop these SYNs itself%s.", genCaveat(c, Gen2)))
		}
	case okDrops && int(drops)+coverageSlack(ev.synDropsSeen) >= ev.synDropsSeen:
		st, unseen, ledger := Decisive, "", false
		if !queueSeenFull(l) {
			// Counters covering more than the capture: another port's
			// drops would match as well.
			if unseen = c.unseenNote(); unseen != "" {
				st = Strong
			} else if rest := int(drops) - ev.synDropsSeen; rest > coverageSlack(ev.synDropsSeen) {
				// Listen drops the capture does not show: the
				// counters cover traffic outside it, whose drops
				// count the same (a capture of one listener's SYNs
				// beside others' overflows).
				st = Strong
				unseen = prose.Sayf(" The other %d are not in the capture: the counters cover listeners or traffic outside it, whose drops count the same.", rest)
			}
			if _, _, all := ev.undeliveredUnclaimed(fam); all {
				// IP's ledger (below) never delivered these SYNs
				// either: the drops may be traffic's outside the
				// capture. Not weaker: a drop counter that moved
				// keeps a rule's reading below high.
				st, ledger = Strong, true
			}
		}
		switch {
		case ledger && int(drops) > ev.synDropsSeen+coverageSlack(ev.synDropsSeen):
			signs = append(signs, againstSign(st, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops), more than the %d unanswered SYN packet{s} on the wire: TCP dropped SYNs itself, though IP's count below says not these.%s", drops, ev.synDropsSeen, unseen))
		case ledger:
			signs = append(signs, againstSign(st, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops), as many as the %d unanswered SYN packet{s} on the wire, and IP's count below covers them too: one of the two counts drops outside the capture, and nothing here says which.%s", drops, ev.synDropsSeen, unseen))
		default:
			signs = append(signs, againstSign(st, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops), as many as the %d unanswered SYN packet{s} on the wire: TCP saw the SYNs and dropped them itself.%s", drops, ev.synDropsSeen, unseen))
		}
	case okDrops && !queueSeenFull(l) && ev.overflowsClaimed(c.zero("TcpExtListenOverflows")) && int(drops) <= ev.aqClaimed+coverageSlack(ev.aqClaimed):
		// Every listen drop is an overflow on the listeners whose
		// packets show their queue full.
		tcpClaimed = true
		signs = append(signs, forSign(Strong, FromCounters, "TCP's %d listen drop{s} (TcpExtListenDrops) are the %d accept-queue overflow{s} the capture shows on listeners whose completed connections waited for the application when their drops began: none of this listener's %d unanswered SYN packet{s} {was|were} dropped by TCP.", drops, ev.aqClaimed, l.DroppedSYNPackets))
	case okDrops && l.Kernel.Packets(ReasonNetfilter) >= l.DroppedSYNPackets:
		// The kernel's reasons put every one of these SYNs in netfilter:
		// the listen drops were other listeners'.
	case okDrops:
		_, all := ev.undeliveredSYNs(fam)
		if !queueSeenFull(l) {
			_, _, all = ev.undeliveredUnclaimed(fam)
		}
		if all {
			// IP's ledger (below) counts them all dropped on the way
			// in: the listen drops are other traffic's.
			signs = append(signs, againstSign(Weak, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops): TCP dropped some SYNs itself, though IP's count below says not these.", drops))
		} else {
			signs = append(signs, againstSign(Strong, FromCounters, "the kernel counted %d listen drop{s} (TcpExtListenDrops): TCP dropped some SYNs itself.", drops))
		}
	}
	mode, summary := "", fmt.Sprintf("SYNs to %s reached the host but were dropped before TCP saw them: a firewall rule, a full conntrack table or reverse-path filtering.", l.Server)
	if unanswered == 0 {
		summary = prose.Sayf("SYNs to %s reached the host but were dropped before TCP saw them, and every attempt got in on a retry, a second or more late: a rate or connection limit, a conntrack table full for a moment, or a rule matching only first SYNs (one asking for ECN, whose ECE and CWR flags a client drops when it sends the SYN again).", l.Server)
	}
	remedy := []string{"List the firewall rules that could match: nft list ruleset; iptables -nvL (look at the drop counters). A limit on connections (nft ct count, iptables connlimit) or on their rate (limit, hashlimit) drops only past it, so some clients of an address get in and others do not.",
		"Check conntrack: sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max; dmesg for 'table full'.",
		"Check reverse-path filtering: sysctl net.ipv4.conf.all.rp_filter."}
	inLeft, okIn := c.unaccountedIn(fam)
	rp, _ := c.get("TcpExtIPReversePathFilter")
	switch {
	case fam == 4 && seen > 0 && rp >= int64(seen):
		mode = "rp_filter"
		signs = append(signs, forSign(Decisive, FromCounters, "The kernel dropped %d packet{s} for failing the reverse-path check (TcpExtIPReversePathFilter), as many as the %d unanswered SYN packet{s}: the route back to their source leaves by another interface than the one they came in on (rp_filter 1, strict), or there is none (2, loose).", rp, seen))
		summary = fmt.Sprintf("SYNs to %s were dropped by reverse-path filtering (rp_filter) before TCP saw them: the route back to their source leaves by another interface than the one they arrived on.", l.Server)
		src := "SOURCE"
		if sg.TopUnansweredSource.IsValid() {
			src = sg.TopUnansweredSource.String()
		}
		remedy = []string{fmt.Sprintf("See which interface the answer would take: ip route get %s; it must be the one the SYNs arrive on (ip -s link: RX on it).", src),
			"Fix the route (or policy routing) back to those clients, or make the check loose: sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.<interface>.rp_filter=2 (the higher of 'all' and the interface's value applies)."}
	case fam == 4 && rp > 0:
		signs = append(signs, forSign(Weak, FromCounters, "The kernel dropped %d packet{s} for failing the reverse-path check (TcpExtIPReversePathFilter): some of these SYNs may be among them.", rp))
	}
	// A destination the host does not hold (a service address that
	// moved, a stale neighbour entry upstream): IP drops the SYNs and
	// counts them as address errors, which its ledger reads as accounted
	// for. Only for a listener that never sent a packet.
	addrErrs, notLocal := c.get(ledgers[fam].inAddrErrors)
	notLocal = notLocal && l.DroppedSYNPackets > 0 && addrErrs >= int64(l.DroppedSYNPackets) && sentNothing(l)
	if notLocal {
		st := Strong
		if addrErrs == int64(seen) {
			st = Decisive
		}
		mode = "not_local"
		signs = append(signs, forSign(st, FromCounters, "IP dropped %d packet{s} addressed to none of this host's addresses (%s), as many as the %d unanswered SYN packet{s} to IPv%d listeners here: nothing in the capture ever came from %s, so it is not an address of this host, which does not forward.", addrErrs, ledgers[fam].inAddrErrors, seen, fam, l.Server.Addr()))
		summary = fmt.Sprintf("SYNs to %s reached a host that does not hold %s: IP dropped them (%s) before TCP saw them. The address moved (a VIP failed over, a load balancer or DNS still points here) or a neighbour entry upstream is stale.", l.Server, l.Server.Addr(), ledgers[fam].inAddrErrors)
		remedy = []string{fmt.Sprintf("Check where %s lives: ip -br addr on this host (it is not there); on the host that should hold it, and on keepalived or the cloud's floating-IP configuration.", l.Server.Addr()),
			fmt.Sprintf("Find who sends it here: the router's or client's neighbour entry (ip neigh show %s, arp -n) may still name this host's MAC after a failover; a gratuitous ARP from the new holder (arping -U) or flushing the entry fixes it.", l.Server.Addr()),
			"Check the load balancer's backend list and DNS for a stale address."}
	}
	short, beforeIP := c.neverReachedIP(fam, ev)
	if sg.Vantage == VantageMiddle || sg.Vantage == VantageClient {
		// Not this host's tap: lost on the way here, as likely.
		beforeIP = false
	}
	switch {
	case beforeIP && seen > 0:
		mode = "before_ip"
		signs = append(signs, forSign(Strong, FromCounters, "The capture holds %d SYN packet{s} to listeners here, %d more than every packet IP received while the counters ran (%s %d), and IP dropped nothing unseen: at least %d never reached IP, dropped after the capture's tap and before the IP stack.",
			ev.synsOf(fam), short, ledgers[fam].in, int64(ev.synsOf(fam))-short, short))
		summary = fmt.Sprintf("SYNs to %s were captured but never reached the IP stack: dropped between the capture's tap and IP, by a tc ingress filter or policer or an eBPF program (Cilium, Calico's eBPF data plane), where neither netfilter nor TCP counts them.", l.Server)
		remedy = []string{"List what runs on the way in: tc filter show dev <interface> ingress; bpftool net show (tcx, tc and XDP programs per interface); ip -s link show <interface> (RX dropped).",
			"With Cilium: cilium-dbg monitor --type drop (or hubble observe --verdict DROPPED); with Calico's eBPF data plane: its policy drop counters."}
	case notLocal:
		// IP's own drop, counted: not netfilter's.
	case !okIn || seen == 0:
	case inLeft >= int64(seen):
		signs = append(signs, forSign(Strong, FromCounters, "IP received %d packet{s} it neither delivered, forwarded nor counted as an error (%s), as many as the %d unanswered SYN packet{s}: dropped between the wire and TCP, where netfilter and rp_filter drop without a count of their own.", inLeft, inLedgerNames(fam), seen))
	case !queueSeenFull(l) && seen > ev.claimedSYNDropsOf(fam) && inLeft >= int64(seen-ev.claimedSYNDropsOf(fam)):
		// The overflows' SYNs reached TCP; the rest did not.
		rest := seen - ev.claimedSYNDropsOf(fam)
		st := Strong
		if tcpClaimed && int(drops) == ev.aqClaimed && inLeft == int64(rest) {
			// Both counts exact: TCP's drops the overflows', IP's
			// the rest. As sure as no listen drop at all.
			st = Decisive
		}
		signs = append(signs, forSign(st, FromCounters, "IP received %d packet{s} it neither delivered, forwarded nor counted as an error (%s), as many as the %d unanswered SYN packet{s} TCP did not count (the other %d were the overflows above, which reached TCP): dropped between the wire and TCP, where netfilter and rp_filter drop without a count of their own.", inLeft, inLedgerNames(fam), rest, ev.claimedSYNDropsOf(fam)))
	case inLedgerClean(inLeft, seen) && c.inErrors(fam) >= int64(seen):
		// Accounted for as errors is dropped all the same.
		signs = append(signs, forSign(Weak, FromCounters, "IP counted %d received packet{s} as errors (%s), as many as the %d unanswered SYN packet{s} or more: IP may have dropped them itself.", c.inErrors(fam), c.inErrorNames(fam), seen))
	case inLedgerClean(inLeft, seen):
		signs = append(signs, againstSign(Strong, FromCounters, "IP delivered, forwarded or counted as an error %s it received (%s): nothing was dropped between IP and TCP, so the SYNs reached TCP (unless a tc or XDP program dropped them ahead of IP, unseen by these counters).", everyPacket(inLeft), inLedgerNames(fam)))
	}
	if mode == "" {
		if ct, ok := conntrackFill(ev.host); ok {
			if sign, ok := ct.sign(okIn && seen > 0 && inLeft >= int64(seen)); ok {
				signs = append(signs, sign)
			}
			if ct.full() {
				mode = "conntrack_full"
				summary = fmt.Sprintf("SYNs to %s were dropped by connection tracking before TCP saw them: its table was full (%d of %d entries), and the kernel drops the first packet of every new connection it cannot make room for.", l.Server, ct.count, ct.max)
				remedy = append(ct.remedy(), "Or track less: shorten net.netfilter.nf_conntrack_tcp_timeout_time_wait and _established, or exempt this port from tracking (nft: a 'notrack' rule in a raw-priority prerouting chain; iptables -t raw -j NOTRACK).")
			}
		}
	}
	if answered && !u.inClean {
		signs = append(signs, againstSign(Strong, FromCounters, "%s", u.says))
	}
	if routeCheck != "" && mode == "" && !(okDrops && drops == 0) {
		remedy = append(remedy, routeCheck)
	}
	if sg.Vantage == VantageClient {
		signs = append(signs, againstSign(Strong, FromPackets, "the capture was taken on the client side: the SYNs may have been lost before they reached the server."))
	}
	if s, ok := kernelSign(l, KindFiltered); ok {
		signs = append(signs, s)
	}
	if out := l.Kernel.Packets(ReasonNetfilterOut); out >= l.DroppedSYNPackets && out > 0 && l.Kernel.Packets(ReasonNetfilter) == 0 {
		signs = append(signs, againstSign(Decisive, FromKernel, "the kernel dropped %d of this listener's own packets on their way out (%s) and none of the SYNs coming in: TCP answered the SYNs, and a rule dropped the SYN-ACKs.", out, ReasonNetfilterOut))
	}
	if s, ok := kernelDroppedElsewhere(l, KindFiltered); ok {
		signs = append(signs, s)
	}
	return []hypothesis{{Finding: Finding{Kind: KindFiltered, Mode: mode, Affected: unanswered + delayed, Signs: signs,
		Summary: summary, Remedy: remedy},
		explainsUnanswered: true}}
}

// sentNothing reports whether the capture holds no packet from l's
// server: no SYN-ACK, reset or ICMP error of its own, nothing taken.
func sentNothing(l *Listener) bool {
	return l.SYNACKPackets == 0 && l.ServerRSTs == 0 && l.ServerTook == 0 && l.Signs.ICMPFromServer == 0 && l.MidStream == 0
}

// sourcesNeverAnswered reports whether every source with unanswered SYNs
// never got an answer while the listener answered others. Per-source
// claims need every unanswered attempt's source counted; past the source
// table's cap the later addresses are not.
func sourcesNeverAnswered(l *Listener) bool {
	sg := &l.Signs
	return sg.SourceUnanswered == l.Outcomes[UnansweredSYN] && sg.NeverAnsweredSources > 0 &&
		sg.NeverAnsweredSources == sg.UnansweredSources && l.Outcomes[Established] > 0
}

// inLedgerNames names the counters unaccountedIn reads, for evidence.
func inLedgerNames(fam int) string {
	n := ledgers[fam]
	return fmt.Sprintf("%s against %s, %s and the error counters", n.in, n.delivered, n.forwarded)
}

// filteredACKsCause: the SYNs got through and were answered, but the
// client's handshake ACK and what followed never reached TCP: a rule that
// passes SYNs only (a stateless allow-SYN rule, conntrack marking the
// segments INVALID). On the wire it is an overflowing accept queue's
// ignored ACKs; only a queue that was seen full, or TCP's counters, tell
// them apart.
func filteredACKsCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	n := l.Outcomes[ACKIgnored]
	if n == 0 && sg.DataNeverTaken == 0 {
		return nil
	}
	ignored := overflowIgnored(l)
	// dataOnly: every one of them had its ACK taken (Signs.ACKTaken),
	// and connections the server took never got their data
	// (Signs.DataNeverTaken): what never reached TCP was the data after
	// the handshake.
	dataOnly := sg.ACKTaken == n
	var signs []Sign
	switch {
	case dataOnly:
		ignored = sg.ACKTakenData
		if sg.ACKTaken > 0 {
			signs = append(signs, forSign(Strong, FromPackets, "%d handshake{s} completed and the server took {its|their} ACK{s}: it never sent its SYN-ACK again nor a reset, though the client{s} sent {its|their} data again for up to %s after it.", sg.ACKTaken, FormatDuration(sg.ACKTakenWatched)))
		}
		if sg.DataNeverTaken > 0 {
			signs = append(signs, forSign(Strong, FromPackets, "%d connection{s} the server took (it answered or closed {it|them}: the application gave up waiting) never had {its|their} data acknowledged, though the client{s} sent it again and again: TCP acknowledges what it receives, whatever the application does.", sg.DataNeverTaken))
		}
		signs = append(signs, forSign(Weak, FromPackets, "The server acknowledged none of the %d data segment{s} those clients sent: TCP never saw them.", ignored))
		n += sg.DataNeverTaken
	case l.SYNACKRetransmits > 0:
		signs = append(signs, forSign(Weak, FromPackets, "%d handshake{s} completed on the client's side and went no further: the server retransmitted its SYN-ACK as if none of the %d client segment{s} that followed (ACKs and data) had arrived.", n, ignored))
	default:
		signs = append(signs, forSign(Weak, FromPackets, "%d handshake{s} completed on the client's side and went no further: the server acknowledged none of the %d client segment{s} that followed (ACKs and data).", n, ignored))
	}
	if sg.AcceptAtFirstDrop == 0 && !dataOnly {
		signs = append(signs, forSign(Weak, FromPackets, "No completed connection was waiting for the application when the first ACK was ignored: nothing in the capture shows a full accept queue."))
	}
	what := "ACK"
	if dataOnly {
		what = "segment"
	}
	c := &ev.counters
	fam := ipFamily(l.Server.Addr())
	lo, okLO := c.get("TcpExtListenOverflows")
	inLeft, okIn := c.unaccountedIn(fam)
	switch {
	case okLO && lo == 0 && okIn && inLeft >= int64(ignored):
		signs = append(signs, forSign(c.genDecisive(Gen2), FromCounters, "TCP counted none of them (TcpExtListenOverflows 0: a full accept queue counts every %s it ignores), and IP received %d packet{s} it neither delivered, forwarded nor counted as an error (%s), as many as the %d ignored segment{s} or more: dropped between the wire and TCP%s.",
			what, inLeft, inLedgerNames(fam), ignored, genCaveat(c, Gen2)))
	case okLO && lo == 0:
		signs = append(signs, forSign(Strong, FromCounters, "TCP counted none of them: TcpExtListenOverflows did not move (a full accept queue counts every %s it ignores).", what))
	case okLO && int(lo)+coverageSlack(ignored) >= ignored:
		signs = append(signs, againstSign(Decisive, FromCounters, "the kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows), as many as the %d ignored segment{s}: TCP got the ACKs and dropped them itself.", lo, ignored))
	}
	if okIn && inLedgerClean(inLeft, ignored) {
		// Netfilter drops on the way in before IP delivers; what IP
		// never received (lost after the tap, tc) does not count here.
		signs = append(signs, againstSign(Decisive, FromCounters, "IP delivered, forwarded or counted as an error %s it received (%s): no firewall or conntrack rule dropped the ACKs on this host.", everyPacket(inLeft), inLedgerNames(fam)))
	}
	if d, ok := c.get("TcpExtTCPDeferAcceptDrop"); ok && d > 0 {
		signs = append(signs, againstSign(Strong, FromCounters, "The kernel counted %d ACK{s} dropped for TCP_DEFER_ACCEPT (TcpExtTCPDeferAcceptDrop): TCP held ACKs back on purpose.", d))
	}
	if sg.Vantage == VantageClient {
		signs = append(signs, againstSign(Strong, FromPackets, "the capture was taken on the client side: the ACKs may have been lost before they reached the server."))
	}
	if dataOnly {
		return []hypothesis{{Finding: Finding{Kind: KindFiltered, Mode: "data_dropped", Affected: n, Signs: signs,
			Summary: fmt.Sprintf("What clients sent to %s after the handshake reached the host but was dropped before TCP saw it: the handshakes completed, the server took the connections, and their requests never arrived (a firewall or conntrack rule on those segments: a length or content match, an IPS, 'ct state invalid').", l.Server),
			Remedy: []string{
				"List the rules that could match the requests' segments: nft list ruleset; iptables -nvL (drop counters; rules on length, content or 'ct state invalid').",
				"If only large segments are lost (compare the request sizes that fail with those that pass), look for an MTU on the way in: a tunnel or overlay whose MTU is below the segments', a middlebox that drops oversize segments instead of fragmenting.",
				"Check conntrack: conntrack -S (invalid, drop); packets of one connection arriving by two paths (asymmetric routing) look INVALID to it.",
			}}}}
	}
	return []hypothesis{{Finding: Finding{Kind: KindFiltered, Mode: "ack_dropped", Affected: n, Signs: signs,
		Summary: fmt.Sprintf("Handshake ACKs to %s reached the host but were dropped before TCP saw them: the SYNs got through and were answered, what followed was not (a firewall rule that passes SYNs only, conntrack marking the segments INVALID).", l.Server),
		Remedy: []string{
			"List the rules that could match segments without SYN: nft list ruleset; iptables -nvL (look at the drop counters, and at rules on 'ct state invalid').",
			"Check conntrack: conntrack -S (invalid, drop); sysctl net.netfilter.nf_conntrack_tcp_loose; packets of one connection arriving by two paths (asymmetric routing) look INVALID to it.",
		}}}}
}

// conntrackTable is the connection-tracking table's fill when the
// sysctls were read: nf_conntrack_count (the network namespace's
// entries) against nf_conntrack_max (the host's limit). A new connection
// past the limit gets an entry only if one not yet assured can be evicted
// (early_drop); otherwise its first packet is dropped before TCP, logged
// as "nf_conntrack: table full, dropping packet", and no TCP or IP
// counter names the cause.
type conntrackTable struct{ count, max int }

func conntrackFill(h *host.Host) (conntrackTable, bool) {
	n, okN := sysctlInt(h, "net.netfilter.nf_conntrack_count")
	m, okM := sysctlInt(h, "net.netfilter.nf_conntrack_max")
	// max 0 means no limit.
	return conntrackTable{n, m}, okN && okM && m > 0 && n >= 0
}

func (t conntrackTable) full() bool { return t.count >= t.max }

// remedy confirms a full table, shows what fills it and makes room.
func (t conntrackTable) remedy() []string {
	return []string{"Confirm: dmesg | grep 'table full'; conntrack -S (drop=, early_drop=).",
		"See what fills it: conntrack -L | awk '{print $1}' | sort | uniq -c (by protocol); conntrack -L -p tcp | awk '{print $4, $8}' | sort | uniq -c | sort -rn | head (TCP entries by state and destination port).",
		fmt.Sprintf("Raise the limit (each entry takes about 300 bytes): sysctl -w net.netfilter.nf_conntrack_max=%d, and net.netfilter.nf_conntrack_buckets (or the nf_conntrack hashsize module parameter) to a quarter of it.", max(t.max*2, 262144))}
}

// sign says what the table's fill makes of SYNs dropped before TCP;
// beforeTCP: IP's ledger shows them dropped between IP and TCP, where
// conntrack drops. The sysctls are one reading, not the capture's whole
// span: a table full then was full while it ran, unless the reading came
// long after; one with room may still have been full during it.
func (t conntrackTable) sign(beforeTCP bool) (Sign, bool) {
	switch {
	case t.full() && beforeTCP:
		return forSign(Decisive, FromSysctls, "The connection-tracking table was full when the sysctls were read (net.netfilter.nf_conntrack_count %d, nf_conntrack_max %d), and IP's counters put these drops between IP and TCP, where conntrack drops a new connection's first packet when it cannot make room.", t.count, t.max), true
	case t.full():
		return forSign(Strong, FromSysctls, "The connection-tracking table was full when the sysctls were read (net.netfilter.nf_conntrack_count %d, nf_conntrack_max %d): the kernel drops a new connection's first packet when it cannot make room, before TCP sees it.", t.count, t.max), true
	case t.count*10 >= t.max*9:
		return forSign(Weak, FromSysctls, "The connection-tracking table was nearly full when the sysctls were read (net.netfilter.nf_conntrack_count %d of nf_conntrack_max %d): a burst of new connections fills it, and it then drops their first packets.", t.count, t.max), true
	}
	// Room then says little about a rule, nor about the table during
	// the capture: no sign.
	return Sign{}, false
}
