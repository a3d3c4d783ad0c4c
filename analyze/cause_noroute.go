package analyze

import (
	"github.com/synq/synq/internal/prose"
)

// outNoRoutes names, per family, the counter IP keeps of packets it was
// to send and found no route for.
var outNoRoutes = map[int]string{4: "IpOutNoRoutes", 6: "Ip6OutNoRoutes"}

// noRouteCause: TCP took the SYNs and found no route for its answer, so
// it dropped them (tcp_conn_request: the SYN-ACK's route lookup fails,
// drop_and_free). That counts TcpExtListenDrops with neither queue full:
// the "SYNs to LISTEN sockets dropped" of netstat -s that sends people
// looking for an overflow. IPv4 counts IpOutNoRoutes at every failed
// lookup, a blackhole, unreachable or prohibit route's too
// (inet_csk_route_req); IPv6 counts Ip6OutNoRoutes only where no route
// matched, not at a blackhole route (measured: testdata/no-route-back,
// testdata/blackhole-route-ipv6).
func noRouteCause(l *Listener, ev *evidence) []hypothesis {
	unanswered := l.Outcomes[UnansweredSYN]
	if unanswered == 0 {
		return nil
	}
	// From a client or a hop in between, SYNs lost on the way look the
	// same, but the server's listen drops then fall short of them: the
	// counters' match below holds only for SYNs that reached its TCP.
	c := &ev.counters
	drops, ok := c.get("TcpExtListenDrops")
	if !ok {
		return nil
	}
	// Gen1 counts no SYN drop in ListenDrops; early Gen2 kernels count
	// every cookie sent there too (kernel-evidence.md K13, K14).
	st := c.genDecisive(Gen3)
	switch {
	case c.gen == Gen1:
		return nil
	case c.gen == Gen2 && c.zero("TcpExtSyncookiesSent") > 0:
		return nil
	case c.gen == Gen2:
		st = Strong
	}
	own := l.DroppedSYNPackets
	excess, lo, full := c.listenDropsBeyondQueues(drops)
	// (The slack is for a capture's edges outside the snapshots: it lets
	// a count fall a little short, never a count of none cover anything:
	// 0 listen drops beyond the queues and 0 route failures read "at
	// least one for each of the 2 unanswered SYN packets".)
	if excess <= 0 || excess+int64(coverageSlack(own)) < int64(own) {
		return nil
	}
	sg := &l.Signs
	if queueSeenFull(l) && lo >= int64(aqPredicted(l)) {
		// Its packets show a full accept queue, and the overflows the
		// kernel counted cover its drops: the route failures are
		// another listener's.
		return nil
	}
	fam := ipFamily(l.Server.Addr())
	name := outNoRoutes[fam]
	noRoutes, okRoutes := c.get(name)
	cookies, okCookies := sysctlInt(ev.host, "net.ipv4.tcp_syncookies")
	var signs []Sign
	switch {
	case okRoutes && noRoutes > 0 && noRoutes+int64(coverageSlack(own)) >= int64(own):
		// Other listeners' unanswered SYNs may be the route failures
		// as well, unless the accept-queue overflows the kernel
		// counted are theirs.
		others := ev.synDropsSeen - own
		if others > 0 && !(others <= ev.aqClaimedSYNs && ev.overflowsClaimed(lo)) {
			st = min(st, Strong)
		}
		// Accept-queue overflows no listener in the capture claims,
		// as many as these drops, would account for them as well.
		unclaimed := lo
		if ev.overflowsClaimed(lo) {
			unclaimed = 0
		}
		if unclaimed+int64(coverageSlack(own)) >= int64(own) {
			st = min(st, Strong)
		}
		// With syncookies maybe off and half-open handshakes waiting,
		// the 3/4 rule may have dropped them too; IP's count may be
		// other traffic's failures.
		if !(okCookies && cookies != 0) && (l.Outcomes[SYNACKUnacked] > 0 || sg.HalfOpenAtStart > 0) {
			st = min(st, Strong)
		}
		signs = append(signs, forSign(st, FromCounters, "TCP dropped %d SYN{s} itself with neither queue full (%s), and IP found no route for %d packet{s} it was to send (%s): at least one for each of the %d unanswered SYN packet{s}. TCP looks up the route back before it answers, and drops the SYN when there is none.",
			excess, listenDropsLess(drops, lo, full), noRoutes, name, own))
	case fam == 4 && okRoutes:
		// Every failed IPv4 lookup counts: the drops were something
		// else (memory, a security module).
		return nil
	case okCookies && cookies != 0:
		// IPv6 does not count a blackhole route's failures; with
		// syncookies on, the 3/4 rule cannot drop, and what is left is
		// rare (an allocation failure, a security module).
		signs = append(signs, forSign(min(st, Strong), FromCounters, "TCP dropped %d SYN{s} itself with neither queue full (%s), as many as the %d unanswered SYN packet{s}; with syncookies on (net.ipv4.tcp_syncookies %d) no queue rule drops a SYN so, and what is left is a failed route lookup for the SYN-ACK (a blackhole, unreachable or prohibit route, which %s does not count), a failed allocation or a security module refusing the connection.",
			excess, listenDropsLess(drops, lo, full), own, cookies, name))
	default:
		// Syncookies off or unknown: the 3/4 rule drops the same way
		// (synQueueDropCause).
		signs = append(signs, forSign(Weak, FromCounters, "TCP dropped %d SYN{s} itself with neither queue full (%s): a failed route lookup for the SYN-ACK drops a SYN so, and so does the 3/4 rule when syncookies are off.",
			excess, listenDropsLess(drops, lo, full)))
	}
	if sourcesNeverAnswered(l) {
		signs = append(signs, forSign(Weak, FromPackets, "%s never got any answer while the listener answered others: a route back that some client networks lack.",
			neverAnswered(sg)))
	}
	return []hypothesis{{Finding: egressFinding(l, "no_route", signs), explainsUnanswered: true}}
}

// routeFailuresMatch is the sign against another cause of l's unanswered
// SYNs when TCP's listen drops beyond both queues' and IP's failed route
// lookups both match them: two counters agreeing on a route, where the
// other cause's counter only covers them with overflows to spare
// (testdata/no-route-beside-overflow filtered to 8081).
func routeFailuresMatch(l *Listener, ev *evidence) (Sign, bool) {
	c := &ev.counters
	own := int64(l.DroppedSYNPackets)
	drops, ok := c.get("TcpExtListenDrops")
	noRoutes, okRoutes := c.get(outNoRoutes[ipFamily(l.Server.Addr())])
	if !ok || !okRoutes || own == 0 || noRoutes == 0 {
		return Sign{}, false
	}
	slack := int64(coverageSlack(int(own)))
	excess, _, _ := c.listenDropsBeyondQueues(drops)
	if excess <= 0 || excess < own-slack || excess > own+slack || noRoutes < own-slack {
		return Sign{}, false
	}
	return againstSign(Strong, FromCounters, "TCP's listen drops beyond both queues' (%d) and IP's failed route lookups (%d, %s) match the %d unanswered SYN packet{s}: they were dropped for want of a route back.", excess, noRoutes, outNoRoutes[ipFamily(l.Server.Addr())], own), true
}

// neverAnswered names the sources that never got an answer.
func neverAnswered(sg *Signs) string {
	if sg.NeverAnsweredSources == 1 {
		return prose.Sayf("The one address with unanswered SYNs, %s (%d attempt{s}),", sg.TopUnansweredSource, sg.TopUnansweredAttempts)
	}
	return prose.Sayf("Each of the %d addresses with unanswered SYNs (most from %s, %d attempt{s})", sg.NeverAnsweredSources, sg.TopUnansweredSource, sg.TopUnansweredAttempts)
}

// listenDropsBeyondQueues is how many of TcpExtListenDrops' drops were
// neither accept-queue overflows nor SYN-queue drops, with those two.
func (c *counterView) listenDropsBeyondQueues(drops int64) (excess, lo, full int64) {
	lo, full = c.zero("TcpExtListenOverflows"), c.zero("TcpExtTCPReqQFullDrop")
	return drops - lo - full, lo, full
}

// listenDropsLess says how TcpExtListenDrops exceeds the queue drops.
func listenDropsLess(drops, lo, full int64) string {
	if lo == 0 && full == 0 {
		return prose.Sayf("TcpExtListenDrops %d; TcpExtListenOverflows and TcpExtTCPReqQFullDrop 0", drops)
	}
	return prose.Sayf("TcpExtListenDrops %d, less %d accept-queue overflow{s} (TcpExtListenOverflows) and %d SYN-queue drop{s} (TcpExtTCPReqQFullDrop)", drops, lo, full)
}
