package analyze

import (
	"fmt"

	"github.com/synq/synq/internal/prose"
)

// unseenAnswers is the counters' case that TCP answered SYNs the capture
// shows unanswered: its SYN-ACKs never reached the captured interface.
// From the server's tap that looks exactly like a drop before TCP (the
// tap sees packets coming in before netfilter and going out after it),
// so only IP's ledger (ipledger.go) and TCP's retransmission count tell.
type unseenAnswers struct {
	// mode: "dropped" (IP was given packets it never transmitted: an
	// output or postrouting rule), "other_route" (TCP sent SYN-ACKs
	// again that the capture does not show: they left by another
	// interface), "after_ip" (TCP's timers fired for SYN-ACKs that never
	// reached the wire though IP transmitted them: tc egress, a qdisc),
	// "" when the counters show none of these.
	mode string
	says string
	// inClean: IP's ledger shows (next to) nothing dropped on the way in
	// (inLeft packets, inLedgerClean), so the SYNs reached TCP; inDrops:
	// it shows at least as many dropped as SYN packets went unanswered.
	inClean, inDrops bool
	inLeft           int64
}

// answersUnseen reads the counters for l's unanswered SYNs. Only while
// TCP dropped none of them itself (TcpExtListenDrops 0) and the capture
// may be the server's: from a client or a hop in between, SYNs lost on
// the path never reached the server, and its counters speak of other
// traffic.
func answersUnseen(l *Listener, ev *evidence) unseenAnswers {
	var u unseenAnswers
	c := &ev.counters
	fam := ipFamily(l.Server.Addr())
	seen := ev.synDropsOf(fam)
	drops, ok := c.get("TcpExtListenDrops")
	if v := l.Signs.Vantage; v == VantageClient || v == VantageMiddle {
		return u
	}
	if l.Outcomes[UnansweredSYN]+delayedAnswersSeen(l) == 0 || seen == 0 || !ok || drops != 0 {
		return u
	}
	if _, never := c.neverReachedIP(fam, ev); never {
		// The SYNs never reached IP: TCP answered none of them.
		return u
	}
	inLeft, okIn := c.unaccountedIn(fam)
	u.inLeft = inLeft
	u.inClean, u.inDrops = okIn && inLedgerClean(inLeft, seen), okIn && inLeft >= int64(seen)
	n := ledgers[fam]
	if outLeft, okOut := c.unaccountedOut(fam); okOut && outLeft >= int64(seen) {
		u.mode = "dropped"
		u.says = prose.Sayf("IP was given %d packet{s} to send that never left the host (%s and %s against %s), at least one for each of the %d unanswered SYN packet{s}: TCP answered them, and its SYN-ACKs were dropped on the way out, after TCP and before the capture's tap (an output or postrouting rule).",
			outLeft, n.outRequests, n.forwarded, n.transmits, seen)
		return u
	}
	retx, okRetx := c.get("TcpExtTCPSynRetrans")
	// TCP answers every SYN it takes: a client's retransmitted SYN gets
	// the SYN-ACK again while the request lives, and the request's timer
	// resends it too. k SYN packets of one attempt, all taken, mean at
	// least k-1 SYN-ACKs sent again.
	// And more than a capture's edges explain: one started after the
	// first snapshot, or that lost a packet, lacks a SYN-ACK or two
	// TCP sent again (5% of long-round-trip-no-timestamps' packets
	// deleted read "left by another route, high" from 1 of 9).
	need := max(1, ev.synDropsSeen-ev.unansweredSeen, coverageSlack(ev.synackRetxSeen)+1)
	if unseen := retx - int64(ev.synackRetxSeen); okRetx && u.inClean && unseen >= int64(need) {
		u.mode = "other_route"
		u.says = prose.Sayf("TCP sent %d SYN or SYN-ACK packet{s} again (TcpExtTCPSynRetrans %d) that the capture does not show (it shows %d SYN-ACK retransmission{s}), while nothing was dropped on the way in or out: TCP answered these SYNs, and its SYN-ACKs left by a route or interface the capture does not watch.",
			unseen, retx, ev.synackRetxSeen)
		return u
	}
	// A send refused below IP (tc egress, a qdisc) is an error to TCP
	// too: not counted sent again, and the request is dropped at its
	// timer, which counts TcpExtTCPTimeouts once per SYN that made one
	// (a tcx egress drop, measured: 18 timeouts for 18 SYN packets, IP
	// counting all 51 packets transmitted, 15 on the wire). Timeouts
	// of other connections add to it: strong at most (egressCause).
	to, okTo := c.get("TcpExtTCPTimeouts")
	if late := to - int64(ev.synackRetxSeen); okTo && u.inClean && late >= int64(seen) {
		u.mode = "after_ip"
		u.says = prose.Sayf("TCP's SYN-ACK timer fired %d time{s} with no SYN-ACK retransmission on the wire (TcpExtTCPTimeouts %d, the capture shows %d SYN-ACK retransmission{s}), at least once for each of the %d unanswered SYN packet{s}, while IP counted every packet it was given as transmitted and TCP none as sent again: its SYN-ACKs were refused after IP, on their way to the wire.",
			late, to, ev.synackRetxSeen, seen)
	}
	return u
}

// delayedAnswersSeen is the attempts in on a retry whose answer the
// capture holds: in a capture of the clients' packets alone a client
// that went on says nothing of which SYN the server answered, nor when
// (the SYN-ACKs sent again that TcpExtTCPSynRetrans counts are simply
// not in it).
func delayedAnswersSeen(l *Listener) int {
	if l.Signs.ServerUnseen {
		return 0
	}
	return delayedBySYNDrops(l)
}

// egressCause: TCP answered the SYNs, and the SYN-ACKs never appeared on
// the captured interface: dropped on the way out, or sent by another
// route (testdata/synack-dropped-on-egress, synack-other-route).
func egressCause(l *Listener, ev *evidence) []hypothesis {
	unanswered := l.Outcomes[UnansweredSYN]
	if unanswered+delayedAnswersSeen(l) == 0 {
		return nil
	}
	u := answersUnseen(l, ev)
	// The kernel's own word: it dropped this listener's packets on their
	// way out (synq live with drop reasons).
	ks, byKernel := kernelSign(l, KindEgress)
	if u.mode == "" && !byKernel {
		return nil
	}
	if u.mode == "" {
		return []hypothesis{{Finding: egressFinding(l, "dropped", []Sign{
			forSign(Weak, FromPackets, "%s reached this host and got no answer on the wire.", unansweredSYNs(l, unanswered)), ks}),
			explainsUnanswered: true}}
	}
	fam := ipFamily(l.Server.Addr())
	st := Strong
	switch {
	case u.inClean && u.mode == "after_ip":
		// Timeouts are anyone's: other connections' add to them.
		st = Strong
	case u.inClean:
		// TCP got the SYNs (IP handed on every packet it received) and
		// the answers went missing after it.
		st = Decisive
	case u.inDrops:
		// Drops both ways: the SYNs may as well have been dropped on
		// the way in (filteredCause says so).
		st = Weak
	}
	// TCP dropping none of them rests on TcpExtListenDrops 0, which
	// RHEL 5/6 kernels do not count SYNs at a full accept queue in.
	switch g := ev.counters.genDecisive(Gen2); {
	case g == 0:
		return nil
	case g < st:
		st = g
	}
	signs := []Sign{
		forSign(Weak, FromPackets, "%s reached this host and got no answer on the wire.", unansweredSYNs(l, unanswered)),
		forSign(st, FromCounters, "%s", u.says),
	}
	if u.inClean {
		signs = append(signs, forSign(Weak, FromCounters, "IP delivered, forwarded or counted as an error %s it received (%s): the SYNs reached TCP.", everyPacket(u.inLeft), inLedgerNames(fam)))
	}
	if n := ev.captureMissed; n > 0 && u.mode != "dropped" {
		// Read from what the capture lacks: a capture that lost
		// packets lacks SYN-ACKs too (a tenth of long-round-trip's
		// packets deleted read "left by another route, high").
		signs = append(signs, againstSign(Strong, FromPackets, "The capture itself missed packets: %d connection{s} went on past packets it does not hold (data the server acknowledged, or a SYN-ACK the client did), so the SYN-ACKs it lacks may be its own loss (tcpdump's \"dropped by kernel\").", n))
	}
	if byKernel {
		signs = append(signs, ks)
	}
	if s, ok := kernelDroppedElsewhere(l, KindEgress); ok {
		signs = append(signs, s)
	}
	return []hypothesis{{Finding: egressFinding(l, u.mode, signs), explainsUnanswered: true}}
}

// egressFinding is the finding of mode with its summary and remedy.
func egressFinding(l *Listener, mode string, signs []Sign) Finding {
	client := "CLIENT"
	if sg := &l.Signs; sg.TopUnansweredSource.IsValid() {
		client = sg.TopUnansweredSource.String()
	}
	f := Finding{Kind: KindEgress, Mode: mode, Affected: l.Outcomes[UnansweredSYN] + delayedAnswersSeen(l), Signs: signs}
	switch mode {
	case "dropped":
		f.Summary = fmt.Sprintf("TCP answered the SYNs to %s, but its SYN-ACKs were dropped on the way out of the host, after TCP and before the capture: an output or postrouting firewall rule.", l.Server)
		f.Remedy = []string{
			"List the rules on the way out: nft list chain inet filter output (and every output/postrouting chain in nft list ruleset); iptables -nvL OUTPUT; iptables -t mangle -nvL POSTROUTING. Look at their drop counters.",
			fmt.Sprintf("Check what the answer to one client would meet: ip route get %s from %s.", client, l.Server.Addr()),
		}
	case "no_route":
		f.Summary = fmt.Sprintf("TCP had no route back to some clients of %s: it dropped their SYNs without an answer, counting them as listen drops though no queue was full.", l.Server)
		f.Remedy = []string{
			fmt.Sprintf("See what the answer meets: ip route get %s from %s (\"Network is unreachable\", or a blackhole, unreachable or prohibit route).", client, l.Server.Addr()),
			"Look for the route that is missing or refusing: ip route show table all | grep -E 'blackhole|unreachable|prohibit'; ip rule (policy routing may send the server's address to a table without the route).",
			"Add the route back to those clients' networks (or a default route), or remove the blackhole route if it was meant for someone else.",
		}
	case "after_ip":
		f.Summary = fmt.Sprintf("TCP answered the SYNs to %s, but its SYN-ACKs were dropped after IP on their way to the wire: a tc egress filter or eBPF program, or a qdisc dropping.", l.Server)
		f.Remedy = []string{
			"List what runs on the way out: tc filter show dev <interface> egress; bpftool net show (tcx and tc programs per interface); tc -s qdisc show dev <interface> (drops); ip -s link show <interface> (TX dropped).",
			"With Cilium: cilium-dbg monitor --type drop (or hubble observe --verdict DROPPED).",
		}
	default:
		f.Summary = fmt.Sprintf("TCP answered the SYNs to %s, but its SYN-ACKs left by a route the capture does not watch and never reached the clients: asymmetric routing, or policy routing sending the answers elsewhere.", l.Server)
		f.Remedy = []string{
			fmt.Sprintf("See which interface the answer takes: ip route get %s from %s; it should be the one the SYNs arrive on.", client, l.Server.Addr()),
			"Capture on every interface (tcpdump -i any) to see where the SYN-ACKs go; check ip rule and the routes back to the clients' networks.",
		}
	}
	return f
}
