package analyze

import (
	"fmt"
	"strings"
	"time"

	"github.com/synq/synq/internal/prose"
)

// minHealthyAttempts is how many finished attempts "healthy" needs at all;
// minSureHealthy how many it needs to be sure without kernel counters.
const (
	minHealthyAttempts = 5
	minSureHealthy     = 20
)

// dropCounters are the counters that move when a listener drops an
// attempt, each with the most the whole capture can account for; a
// healthy verdict may not stand while one of them rose past that.
var dropCounters = []struct {
	name    string
	inSight func(ev *evidence) int
}{
	{"TcpExtListenOverflows", func(ev *evidence) int { return ev.synDropsSeen + ev.ignoredSeen }},
	{"TcpExtListenDrops", func(ev *evidence) int { return ev.synDropsSeen + ev.ignoredSeen }},
	{"TcpExtTCPReqQFullDrop", func(ev *evidence) int { return ev.synDropsSeen }},
	{"TcpExtTCPReqQFullDoCookies", func(ev *evidence) int { return ev.cookiesSeen + ev.synDropsSeen }},
	{"TcpExtSyncookiesSent", func(ev *evidence) int { return ev.cookiesSeen }},
	{"TcpExtPAWSPassive", func(ev *evidence) int { return ev.pawsSeen }},
}

// closingFindings decides what the surviving causes leave open: a tie
// between causes that explain the same unanswered SYNs, failures nothing
// explains, or, with no failure, healthy or not enough data.
//
// lead reports that the first finding returned must lead the others (a
// tie stands above the equally unsure causes it names).
func closingFindings(l *Listener, ev *evidence, fs []Finding, tied []hypothesis, ruledOut []Finding) (extra []Finding, lead bool) {
	o := &l.Outcomes
	port := l.Server.Port()
	if t := tie(l, ev, tied); t != nil {
		return []Finding{*t}, true
	}
	// Resets of a first SYN-ACK are the clients' doing: the server
	// answered (half-open health checks said "inconclusive, low").
	declined := l.Signs.ResetFirstAnswer
	if failed := o.Failed() - declined; failed > 0 && len(fs) == 0 {
		signs := []Sign{forSign(Weak, FromPackets, "%d attempt{s} failed: %s.", failed, outcomeList(o))}
		for _, r := range ruledOut {
			signs = append(signs, forSign(Weak, FromPackets, "%s", r.Summary))
		}
		if l.Signs.Vantage != VantageServer {
			signs = append(signs, forSign(Weak, FromPackets, "A capture taken on the server itself shows the most."))
		}
		f := weigh(Finding{Kind: KindInconclusive, Affected: failed, Signs: signs,
			Summary: fmt.Sprintf("Connection attempts to %s failed, but the evidence does not show a known cause.", l.Server)})
		return []Finding{f}, false
	}
	if len(fs) > 0 {
		return nil, false
	}
	if delayed := delayedBySYNDrops(l); delayed > 0 {
		// Every attempt got in, but only after the server dropped SYNs
		// that reached it: not healthy, whatever else is known.
		signs := []Sign{forSign(Weak, FromPackets, "%d attempt{s} got in only after retransmitting {its|their} SYN: %d SYN packet{s} reached %s and got no answer.", delayed, l.DroppedSYNPackets, l.Server)}
		remedy := []string{"Take nstat -az before and after a new capture and pass both with --nstat."}
		if ev.counters.usable() {
			// The counters were given and ruled every cause out:
			// asking for them again helps no one.
			for _, r := range ruledOut {
				signs = append(signs, forSign(Weak, FromCounters, "%s", r.Summary))
			}
			remedy = []string{fmt.Sprintf("Capture on a client at the same time (tcpdump -i any 'tcp port %d'): a first SYN it sent that is missing here was lost on the way; one answered there and not here was answered by a packet this capture does not hold.", port)}
		} else {
			signs = append(signs, forSign(Weak, FromPackets, "What decides it: nstat -az before and after on the server (TcpExtListenOverflows: accept queue; TcpExtTCPReqQFullDrop: SYN queue; neither: dropped before TCP), or ss -lnt 'sport = :%d' during the incident.", port))
		}
		f := weigh(Finding{Kind: KindInconclusive, Affected: delayed, Signs: signs,
			Summary: prose.Sayf("Every attempt to %s was established, but %d of them only after SYNs were dropped: connects were delayed by a second or more, and the capture does not show which queue (or firewall) dropped them.", l.Server, delayed),
			Remedy:  remedy})
		return []Finding{f}, false
	}
	if waiting := waitingSYNs(l, ev); waiting != nil {
		return []Finding{*waiting}, false
	}
	finished := o[Established] + o.Failed() - declined
	var signs []Sign
	signs = append(signs, forSign(Weak, FromPackets, "%d established, %d still in progress when the capture ended.", o[Established], o[Incomplete]))
	if declined > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d more {was|were} reset by {its client|their clients} on the server's first SYN-ACK: half-open health checks (a SYN, then a reset to the answer), SYN scans, or SYNs sent in another host's name and reset by it. The server answered; the clients declined.", declined))
	}
	if unexplained := unexplainedDrops(ev); unexplained != "" {
		signs = append(signs, forSign(Weak, FromCounters, "%s", unexplained))
		f := weigh(Finding{Kind: KindInconclusive, Signs: signs,
			Summary: fmt.Sprintf("The capture shows no failed attempt on %s, but the kernel counted drops it does not explain: they happened on another port, or outside what the capture saw.", l.Server),
			Remedy: []string{
				fmt.Sprintf("Look at every listener's queue during the incident: ss -lnt (Recv-Q above Send-Q is a full accept queue); here ss -lnt 'sport = :%d'.", port),
				"Capture longer, on all the listening ports (tcpdump -i any 'tcp[tcpflags] & tcp-syn != 0'), with nstat -az before and after.",
			}})
		return []Finding{f}, false
	}
	if finished < minHealthyAttempts {
		f := weigh(Finding{Kind: KindNotEnoughData, Signs: signs,
			Summary: prose.Sayf("Not enough data on %s: only %d connection attempt{s} finished in the capture (%d needed to call it healthy); none failed.", l.Server, finished, minHealthyAttempts),
			Remedy:  []string{"Capture longer, during the incident, with nstat -az before and after: tcpdump -i any -w incident.pcap 'tcp port " + fmt.Sprint(port) + "'."}})
		return []Finding{f}, false
	}
	st := Strong
	// Drops past what the capture shows, but within the slack other
	// ports are allowed: too few to call the listener unhealthy, and too
	// many to say that nothing dropped (abort_on_overflow's 2 resets, in
	// a capture of the clients' packets only, read "no drop counter
	// moved" beside TcpExtListenOverflows 2).
	few := ""
	if ev.counters.usable() {
		few = dropsPast(ev, func(int) int { return 0 })
	}
	switch c := &ev.counters; {
	case few != "":
		signs = append(signs, forSign(Weak, FromCounters, "%s Too few to name a cause (other ports count too), too many to rule drops out here.", few))
	case c.usable() && ev.aqPredicted+ev.synDropsSeen+ev.cookiesSeen == 0:
		signs = append(signs, forSign(Decisive, FromCounters, "No drop counter moved (TcpExtListenOverflows, TcpExtListenDrops, TcpExtTCPReqQFullDrop)."))
	case c.usable():
		signs = append(signs, forSign(Decisive, FromCounters, "The drop counters rose no more than the drops the capture shows on other listeners."))
	case finished >= minSureHealthy:
		st = Decisive
	}
	signs[0].Strength = st
	if s, ok := healthyWaitingSign(l); ok {
		signs = append(signs, s)
	}
	if n := l.Signs.ResentThenEstablished; n > 0 && l.Signs.HalfOpenUnseen && !ev.counters.usable() {
		// The ACKs that would tell a lost ACK from one ignored at a full
		// accept queue are not in the capture.
		signs = append(signs, againstSign(Strong, FromPackets, "%d of them got in only after the server sent its SYN-ACK again, and the capture holds no bare ACK to show why: ACKs lost on the way, held back for TCP_DEFER_ACCEPT, or ignored while the accept queue was full. What decides it: nstat -az before and after on the server (TcpExtListenOverflows, TcpExtTCPDeferAcceptDrop).", n))
	}
	var remedy []string
	if n := l.Signs.LateAnswerSYNs; n > 0 {
		// Read as SYN-ACKs lost on the path until their ACKs' echoes
		// were (testdata/long-round-trip).
		rtt := FormatDuration(l.Signs.LateAnswerRTT)
		signs = append(signs, forSign(Weak, FromPackets, "%d SYN{s} {was|were} sent again while the server's SYN-ACK was on its way: the clients' ACKs echo the first SYN-ACK's timestamp, so it arrived, up to %s after it was sent (SYN-ACK to ACK), later than the clients' SYN timer (1 s on Linux and macOS, 3 s on Windows). Nothing was lost.", n, rtt))
		remedy = append(remedy, fmt.Sprintf("Connects take a round trip of up to %s here: a client or health check whose connect timeout is shorter fails though nothing is dropped. Look at the path's delay (a saturated link or queue, a distant region, a VPN) or lengthen those timeouts.", rtt))
	}
	if l.Signs.Vantage != VantageClient {
		// Healthy here says nothing of SYNs lost before they arrived
		// (testdata/path-loss): name the capture that would show them.
		remedy = append(remedy, fmt.Sprintf("If clients still time out, their SYNs may be lost before they reach this host: capture on a client too (tcpdump -i any 'tcp port %d') and compare the SYNs it sends with those seen here.", port))
	}
	if trouble := troubleUnseen(l, ev); len(trouble) > 0 {
		signs = append(signs, againstSign(Strong, FromCounters, "The counters count trouble the capture does not show: %s. It happened outside the capture's window or on other ports%s: the capture's attempts got in, which does not say the listener stayed healthy outside it.", joinAnd(trouble), unseenOpensAside(&ev.counters)))
		remedy = append(remedy, fmt.Sprintf("Capture the whole incident on every listening port (tcpdump -i any 'tcp[tcpflags] & tcp-syn != 0', or at least 'tcp port %d') with nstat -az before and after, so the counters cover nothing the capture leaves out.", port))
	}
	summary := prose.Sayf("%s is healthy: all %d connection attempts that finished in the capture were established.", l.Server, o[Established])
	if declined > 0 {
		summary = prose.Sayf("%s is healthy: all %d connection attempts that finished in the capture were established, besides %d whose clients reset the server's first answer (health checks or scans).", l.Server, o[Established], declined)
	}
	f := weigh(Finding{Kind: KindHealthy, Signs: signs, Remedy: remedy, Summary: summary})
	return []Finding{f}, false
}

// waitingSYNs is an inconclusive finding when SYNs were still unanswered
// at the end of the capture long after the server answered others
// (Signs.SYNsWaiting), and the counters do not say that nothing dropped
// them: a capture stopped before the clients retried showed a listener
// whose full accept queue dropped 5 of 14 SYNs as healthy, medium, from
// the 8 attempts that had finished.
//
// With counters, the finding stands only where they count drops the
// capture does not show (these SYNs may be among them); where they count
// none, healthy stands, lowered by healthyWaitingSign.
func waitingSYNs(l *Listener, ev *evidence) *Finding {
	sg := &l.Signs
	if sg.SYNsWaiting == 0 {
		return nil
	}
	var counted []string
	if ev.counters.usable() {
		counted = append(countersPast(ev, coverageSlack), troubleUnseen(l, ev)...)
		if len(counted) == 0 {
			return nil
		}
	}
	answered := "the server answered no SYN in the capture"
	if sg.SYNAnswerP99 > 0 {
		answered = "the server answered other SYNs within " + FormatDuration(sg.SYNAnswerP99) + " (99th percentile)"
	}
	port := l.Server.Port()
	signs := []Sign{
		forSign(Weak, FromPackets, "%d {attempt's|attempts'} only SYN was still unanswered when the capture ended, after waiting up to %s (each %s or more); %s. Their clients had not retried yet: too early to count them failed, but a server that answers does so long before.", sg.SYNsWaiting, FormatDuration(sg.SYNWaitedMax), FormatDuration(sg.SYNWaitLimit), answered),
		forSign(Weak, FromPackets, "%d established, none failed, %d still in progress when the capture ended.", l.Outcomes[Established], l.Outcomes[Incomplete]),
	}
	if counted != nil {
		signs = append(signs, forSign(Weak, FromCounters, "The counters given count drops the capture does not show as failures: %s. These SYNs may be among them, or the drops happened outside the capture's window or on other ports%s. What decides it: a longer capture, in which the clients' retries show.", joinAnd(counted), unseenOpensAside(&ev.counters)))
	} else {
		signs = append(signs, forSign(Weak, FromPackets, "What decides it: nstat -az before and after on the server (TcpExtListenOverflows: accept queue; TcpExtTCPReqQFullDrop: SYN queue; neither: dropped before TCP), or a longer capture, in which the clients' retries show."))
	}
	summary := prose.Sayf("No attempt to %s failed in the capture, but %d SYN{s} {was|were} still unanswered when it ended, long after the server answered others: they were most likely dropped, and the capture stopped before their clients retried.", l.Server, sg.SYNsWaiting)
	if sg.SYNAnswerP99 == 0 && l.SYNACKPackets+l.ServerRSTs == 0 && l.Outcomes[Established] == 0 {
		// Nothing at all from the server: a capture filtered to the
		// clients' SYNs ('tcp-syn and dst port 8080') looks the same.
		summary = prose.Sayf("No attempt to %s failed in the capture, but %d SYN{s} {was|were} still unanswered when it ended, and the capture holds nothing from the server at all: either they were dropped and the capture stopped before their clients retried, or a capture filter ('dst port %d', 'tcp-syn') left the answers out.", l.Server, sg.SYNsWaiting, port)
	}
	f := weigh(Finding{Kind: KindInconclusive, Affected: sg.SYNsWaiting, Signs: signs,
		Summary: summary,
		Remedy:  []string{"Capture longer (clients retry a SYN after 1 s, then 2, 4, ... s), with nstat -az before and after: tcpdump -i any -w incident.pcap 'tcp port " + fmt.Sprint(port) + "'."}})
	return &f
}

// healthyWaitingSign weighs against healthy the SYNs still waiting at the
// end of the capture when the counters count no drop of them: nothing
// this host's TCP or IP counts dropped them, which leaves a path that
// lost them (a capture off the server), tc or XDP, or a capture that
// stopped just before their answers; not enough to call it healthy for
// sure (a client's capture sliced before its retries read "healthy, high"
// beside SYNs lost on the way).
func healthyWaitingSign(l *Listener) (Sign, bool) {
	sg := &l.Signs
	if sg.SYNsWaiting == 0 {
		return Sign{}, false
	}
	where := "lost on the way to the server (its counters do not see that), dropped by tc or XDP, or the capture stopped just before their answers"
	if sg.Vantage == VantageServer {
		where = "dropped by tc or XDP (which no counter here counts), their answers lost after the capture's tap, or the capture stopped just before their answers"
	}
	return againstSign(Strong, FromCounters, "%d {attempt's|attempts'} only SYN was still unanswered when the capture ended, after waiting up to %s while the server answered others within %s; no counter given counts a drop of {it|them}: %s.", sg.SYNsWaiting, FormatDuration(sg.SYNWaitedMax), FormatDuration(max(sg.SYNAnswerP99, time.Microsecond)), where), true
}

// troubleUnseen names what the counters count past the whole capture
// (every listener in it) that is not a listen-queue drop but is trouble
// all the same: packets IP received and never delivered (a firewall's
// drops), SYN-ACKs or SYNs sent again, resets sent. Any host counts some
// of these for other traffic (a default-drop firewall, resets to port
// scans), so they lower a healthy verdict without overturning it: the
// capture shows its own attempts, the counters say there was more.
func troubleUnseen(l *Listener, ev *evidence) []string {
	c := &ev.counters
	if !c.usable() {
		return nil
	}
	var out []string
	past := func(n int64, seen int) bool { return n > int64(seen+coverageSlack(seen)) }
	fam := ipFamily(l.Server.Addr())
	if left, ok := c.unaccountedIn(fam); ok && past(left, ev.synDropsOf(fam)) {
		out = append(out, prose.Sayf("IP left %d received packet{s} undelivered, dropped before TCP (a firewall rule, rp_filter; the capture shows %d unanswered SYN packet{s})", left, ev.synDropsOf(fam)))
	}
	if n, seen := c.zero("TcpExtTCPSynRetrans"), ev.synackRetxSeen+ev.ownRetxSeen; past(n, seen) {
		out = append(out, prose.Sayf("TcpExtTCPSynRetrans %d, SYN-ACKs (or this host's own SYNs) sent again (the capture shows %d)", n, seen))
	}
	if n, seen := c.zero("TcpOutRsts"), ev.serverRSTsSeen+ev.ownRSTsSeen; past(n, seen) {
		out = append(out, prose.Sayf("TcpOutRsts %d, resets sent (the capture shows %d)", n, seen))
	}
	return out
}

// unseenOpensAside is " (the counters also count N connections ...)"
// when they cover connections the capture does not show, "" otherwise.
func unseenOpensAside(c *counterView) string {
	if c.unseenOpens == 0 {
		return ""
	}
	return prose.Sayf(" (they also count %d connection{s} the capture does not show, TcpPassiveOpens)", c.unseenOpens)
}

// unexplainedDrops names the drop counters that rose past what the whole
// capture (every listener in it) can account for, or "" when none did
// (or the counters may not be used).
func unexplainedDrops(ev *evidence) string {
	return dropsPast(ev, coverageSlack)
}

// dropsPast names the drop counters that rose more than slack(seen) past
// what the whole capture can account for (seen), or "" when none did.
func dropsPast(ev *evidence, slack func(seen int) int) string {
	moved := countersPast(ev, slack)
	if len(moved) == 0 {
		return ""
	}
	return "The kernel counted " + strings.Join(moved, ", ") + "."
}

// countersPast lists the drop counters that rose more than slack(seen)
// past what the whole capture can account for, each with its count.
func countersPast(ev *evidence, slack func(seen int) int) []string {
	var moved []string
	for _, c := range dropCounters {
		n, ok := ev.counters.get(c.name)
		if !ok {
			continue
		}
		seen := c.inSight(ev)
		if int(n) > seen+slack(seen) {
			moved = append(moved, prose.Sayf("%s %d (the capture shows at most %d)", c.name, n, seen))
		}
	}
	return moved
}

// tie is an inconclusive verdict when the best causes of the unanswered
// SYNs are equally unsure: what was seen, what ties, and what decides it.
func tie(l *Listener, ev *evidence, tied []hypothesis) *Finding {
	best := Confidence("")
	for _, h := range tied {
		if best == "" || h.Confidence.rank() > best.rank() {
			best = h.Confidence
		}
	}
	if best != Low {
		return nil
	}
	var names []string
	var signs []Sign
	for _, h := range tied {
		if h.Confidence == best {
			names = append(names, kindPhrase[h.Kind])
		}
	}
	if len(names) < 2 {
		return nil
	}
	port := l.Server.Port()
	signs = append(signs, forSign(Weak, FromPackets, "%s got no answer at %s. From packets alone %s look the same.",
		unansweredSYNs(l, l.Outcomes[UnansweredSYN]), l.Server, joinAnd(names)))
	remedy := []string{
		fmt.Sprintf("Run ss -lnt 'sport = :%d' on the server now: a Recv-Q above Send-Q is a full accept queue.", port),
		"Take nstat -az before and after a new capture and pass both with --nstat.",
	}
	went := "went unanswered"
	if l.Outcomes[UnansweredSYN] == 0 {
		went = "went unanswered until their clients sent them again"
	}
	summary := fmt.Sprintf("SYNs to %s %s; the capture alone cannot tell a full accept queue (perhaps full since before the capture started) from a full SYN queue or a firewall drop.", l.Server, went)
	if c := &ev.counters; c.usable() {
		// The counters were given and fit more than one cause: say
		// so, and what would make them decide, not ask for them.
		signs = append(signs, countersFitSign(l, c))
		remedy = []string{remedy[0], "Capture every listening port with nstat -az before and after (tcpdump -i any 'tcp[tcpflags] & tcp-syn != 0'), so the counters cover no traffic the capture leaves out."}
		summary = fmt.Sprintf("SYNs to %s went unanswered; the capture and the counters given cannot tell a full accept queue from a full SYN queue or a firewall drop.", l.Server)
	} else {
		decides := "What decides it: nstat -az before and after on the server (TcpExtListenOverflows: accept queue; TcpExtTCPReqQFullDrop, or TcpExtListenDrops alone with syncookies off: SYN queue; none of them: dropped before TCP)"
		if q, sampled := ev.host.QueueFor(l.Server); sampled && q.Full == 0 {
			// The queue samples given were looked at (the accept queue's
			// weak sign against): asking for them again helps nobody. A
			// queue full for a moment between samples still ties.
			signs = append(signs, forSign(Weak, FromPackets, "%s. The %d listen-queue sample{s} given never showed the accept queue full, which leans away from it without ruling out a queue full between samples.", decides, q.Samples))
			remedy = remedy[1:]
		} else {
			signs = append(signs, forSign(Weak, FromPackets, "%s, or ss -lnt 'sport = :%d' during the incident (Recv-Q above Send-Q: accept queue full).", decides, port))
		}
		if others := ev.answeredOn[port]; sentNothing(l) && len(others) > 0 {
			// A service address that moved: IP drops what reaches the old
			// holder (filteredCause's not_local, with the counters).
			signs = append(signs, forSign(Weak, FromPackets, "Nothing in the capture ever came from %s, while %s on the same port answered: if %s is not an address of this host, IP drops what is sent to it and counts it in IpInAddrErrors (a service address that moved, a stale neighbour entry upstream).",
				l.Server.Addr(), joinAnd(addrPortStrings(others)), l.Server.Addr()))
			remedy = append(remedy, fmt.Sprintf("Check that %s is this host's: ip -br addr | grep -wF %s", l.Server.Addr(), l.Server.Addr()))
		}
	}
	f := weigh(Finding{Kind: KindInconclusive, Affected: l.Outcomes[UnansweredSYN] + delayedBySYNDrops(l), Signs: signs,
		Summary: summary, Remedy: remedy})
	return &f
}

// countersFitSign says what the counters given showed where they fit
// more than one cause: the overflows, IP's undelivered packets, and
// connections outside the capture.
func countersFitSign(l *Listener, c *counterView) Sign {
	var fit []string
	if lo, ok := c.get("TcpExtListenOverflows"); ok && lo > 0 {
		fit = append(fit, prose.Sayf("TcpExtListenOverflows rose by %d", lo))
	}
	if left, ok := c.unaccountedIn(ipFamily(l.Server.Addr())); ok && left > 0 {
		fit = append(fit, prose.Sayf("IP left %d received packet{s} undelivered", left))
	}
	counted := ""
	if len(fit) > 0 {
		counted = prose.Sayf(": %s, against the %d unanswered SYN packet{s} here", joinAnd(fit), l.DroppedSYNPackets)
	}
	return forSign(Weak, FromCounters, "The counters given fit more than one of them%s.%s", counted, c.unseenNote())
}

// joinAnd joins "a", "b", "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
