package analyze

import (
	"fmt"

	"github.com/synq/synq/internal/prose"
)

// syncookieCause: the SYN queue was full and the kernel answered with
// syncookies (or was told to always do so, tcp_syncookies=2).
func syncookieCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	cookies := sg.TrustedCookies()
	if cookies == 0 {
		return cookiesFromCounters(l, ev)
	}
	byLag := sg.CookiesByTSLag
	if sg.CookieLagNoisy {
		byLag = 0
	}
	var signs []Sign
	strength := Weak
	switch {
	case byLag+sg.CookiesByStripped > 0 && cookies >= 3:
		strength = Decisive
	case cookies >= 3:
		strength = Strong
	}
	signs = append(signs, forSign(strength, FromPackets, "%d SYN-ACK{s} {was a syncookie|were syncookies}, the kernel's answer when the SYN queue is full: %d recognised by their timestamp lagging the server's clock, %d by stripped TCP options, %d because they were never retransmitted though never acknowledged.",
		sg.SyncookieSYNACKs, sg.CookiesByTSLag, sg.CookiesByStripped, sg.CookiesByNoRetrans))
	if sg.CookieLagNoisy && sg.CookiesByTSLag > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "The capture was not taken at the server and its SYN to SYN-ACK times spread by %s: the %d taken for cookies by their timestamp alone prove nothing at that jitter, and are not counted.",
			FormatDuration(sg.SYNAnswerP99-sg.SYNGapP50), sg.CookiesByTSLag))
	}
	if sg.HalfOpenAtFirstCookie > 0 && !sg.QueueLevelsEstimated {
		signs = append(signs, forSign(Weak, FromPackets, "%d half-open handshake{s} {was|were} waiting when the first cookie was sent: the SYN queue limit is about %d (Linux holds backlog+1, so a listen backlog of about %d).", sg.HalfOpenAtFirstCookie, prose.Plain(sg.HalfOpenAtFirstCookie), prose.Plain(sg.HalfOpenAtFirstCookie-1)))
	}
	if sg.CookiesCompleted > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d client{s} completed {its|their} handshake through a cookie.", sg.CookiesCompleted))
	}
	c := &ev.counters
	sent, okSent := c.get("TcpExtSyncookiesSent")
	do, okDo := c.get("TcpExtTCPReqQFullDoCookies")
	switch {
	case okSent && sent > 0:
		signs = append(signs, forSign(Decisive, FromCounters, "The kernel counted %d syncookie{s} sent (TcpExtSyncookiesSent).", sent))
	case okSent && okDo && do > 0:
		signs = append(signs, forSign(Strong, FromCounters, "The kernel decided %d SYN{s} for a cookie (TcpExtTCPReqQFullDoCookies) but sent none: {that SYN|those SYNs} then met a full accept queue.", do))
	case okSent && (!okDo || do == 0):
		signs = append(signs, againstSign(Decisive, FromCounters, "the kernel counted no syncookies sent (TcpExtSyncookiesSent 0): these SYN-ACKs were ordinary ones the clients did not answer."))
	}
	mode, summary := "", fmt.Sprintf("The SYN queue of %s overflowed; the kernel kept answering with syncookies, so the SYN queue itself turned no real client away.", l.Server)
	var remedy []string
	flood := sg.NeverCompletedSources >= 20 && sg.NeverCompletedSources*2 >= sg.SourceAttempts
	forced := false
	v, okSys := sysctlInt(ev.host, "net.ipv4.tcp_syncookies")
	// Cookies the kernel sent beyond the capture's: the SYN queue may
	// have been full of handshakes it does not show (a capture filtered
	// to some hosts, another listener's flood).
	unseen := int64(0)
	if okSent && sent > int64(cookies+sg.CookieLagUnsure+coverageSlack(cookies)) {
		unseen = sent - int64(cookies)
	}
	switch {
	case okSys && v == 2:
		forced = true
		signs = append(signs, forSign(Weak, FromSysctls, "net.ipv4.tcp_syncookies is 2: every SYN is answered with a cookie, full queue or not."))
	case sg.HalfOpenAtFirstCookie != 0 || !cookiesOnEmptyQueue(l, cookies):
	case okSys:
		// Not forced: the queue was full of handshakes the capture
		// does not show.
		signs = append(signs, forSign(Weak, FromSysctls, "%d of %d attempts got a cookie from the first SYN on while at most one handshake in the capture was half-open, and net.ipv4.tcp_syncookies is %d, not 2: the SYN queue was full of handshakes the capture does not show (filtered to some hosts, or begun after they came).", cookies, finishedAttempts(l), v))
	case unseen > 0:
		signs = append(signs, againstSign(Strong, FromPackets, "%d of %d attempts got a cookie from the first SYN on while at most one handshake in the capture was half-open: tcp_syncookies=2 answers so, and so does a SYN queue full of handshakes the capture does not show, as the %d cookies the kernel sent beyond the capture's suggest (a capture filtered to some hosts). sysctl net.ipv4.tcp_syncookies tells: 2 forces cookies.", cookies, finishedAttempts(l), unseen))
	default:
		forced = true
		signs = append(signs, forSign(Weak, FromPackets, "%d of %d attempts got a cookie from the first SYN on while at most one handshake was half-open: that is tcp_syncookies=2 (forced), not a full queue.", cookies, finishedAttempts(l)))
	}
	switch {
	case forced:
		mode, summary, remedy = forcedCookiesFinding(l)
	case flood:
		signs = append(signs, forSign(Strong, FromPackets, "%s sent SYNs and never completed a handshake: a SYN flood (spoofed sources).", neverCompleted(sg)))
		summary = fmt.Sprintf("A SYN flood filled the SYN queue of %s; syncookies are protecting it: the flood itself turns no real client away.", l.Server)
		remedy = append(remedy, "Keep net.ipv4.tcp_syncookies=1: it is what keeps real clients connecting during the flood.",
			"Filter or rate-limit the flood upstream (DDoS protection, edge firewall); the sources are likely spoofed, so blocking addresses one by one does not help.")
	default:
		remedy = append(remedy, "Bursts larger than the listen backlog trigger syncookies: raise the application's listen backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog.",
			"Syncookies lose TCP options (window scale, SACK) for clients without timestamps: worse throughput on those connections.",
			"A SYN queue full of handshakes whose ACK was ignored is an accept-queue problem: cookies do not help, their ACKs meet the same full accept queue.")
	}
	return []hypothesis{{Finding: Finding{Kind: KindSYNQueue, Mode: mode, Syncookies: boolPtr(true), Affected: cookies,
		Summary: summary, Signs: signs, Remedy: remedy}}}
}

// neverCompleted says how many source addresses never completed a
// handshake, and of how many when the listener's source table was full.
func neverCompleted(sg *Signs) string {
	if sg.SourcesCapped {
		return prose.Sayf("%d of the first %d source addresses (more came: only the first are counted)", sg.NeverCompletedSources, maxSourcesPerListener)
	}
	return prose.Sayf("%d source address{|es}", sg.NeverCompletedSources)
}

// forcedCookiesFinding is the mode, summary and remedy of cookies forced by
// configuration.
func forcedCookiesFinding(l *Listener) (mode, summary string, remedy []string) {
	return "forced_cookies",
		fmt.Sprintf("%s answers every SYN with a syncookie because net.ipv4.tcp_syncookies=2 forces it: configuration, not an overflow.", l.Server),
		[]string{"Set net.ipv4.tcp_syncookies=1 unless cookies are wanted for every connection: cookies lose TCP options for clients without timestamps."}
}

// cookiesFromCounters: the kernel sent syncookies the packets do not show
// (a short capture, a capture that cut the handshakes, or a snap length
// that cut the TCP options a cookie shows in): on the only listener in the
// capture, most likely its SYN queue, unless cookies are forced.
func cookiesFromCounters(l *Listener, ev *evidence) []hypothesis {
	sent, ok := ev.counters.get("TcpExtSyncookiesSent")
	if !ok || ev.listeners != 1 || int(sent) <= ev.cookiesSeen+coverageSlack(ev.cookiesSeen) {
		return nil
	}
	if f := forcedFromCounters(l, ev, int(sent)); f != nil {
		return []hypothesis{{Finding: *f}}
	}
	signs := []Sign{forSign(Strong, FromCounters, "The kernel sent %d syncookie{s} (TcpExtSyncookiesSent) that the packets do not show as such: this is the only listener in the capture, so the SYN queue was most likely its.", sent)}
	if recv, ok := ev.counters.get("TcpExtSyncookiesRecv"); ok && recv > 0 {
		signs = append(signs, forSign(Weak, FromCounters, "%d cookie ACK{s} came back (TcpExtSyncookiesRecv).", recv))
	}
	return []hypothesis{{Finding: Finding{Kind: KindSYNQueue, Mode: "counters_only", Syncookies: boolPtr(true), Signs: signs,
		Summary: fmt.Sprintf("The SYN queue of %s overflowed: the kernel answered with syncookies the packets do not show.", l.Server),
		Remedy: []string{"Bursts larger than the listen backlog trigger syncookies: raise the application's listen backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog.",
			"A SYN queue full of handshakes whose ACK was ignored is an accept-queue problem: cookies do not help, their ACKs meet the same full accept queue."}}}}
}

// forcedFromCounters: the kernel sent as many cookies as the listener
// sent first SYN-ACKs, while the packets show at most one handshake ever
// half-open (a SYN queue that never filled), or net.ipv4.tcp_syncookies
// is 2. A snap length that cut the TCP options hides every cookie sign in
// the packets (tcpdump -s 68 on forced-cookies: "the SYN queue
// overflowed", with the remedy to raise the backlog).
func forcedFromCounters(l *Listener, ev *evidence, sent int) *Finding {
	first := l.SYNACKPackets - l.SYNACKRetransmits
	finished := finishedAttempts(l)
	everyOne := finished >= 3 && sent*10 >= finished*9 && sent <= first+coverageSlack(first)
	onEmpty := cookiesOnEmptyQueue(l, sent)
	v, okSys := sysctlInt(ev.host, "net.ipv4.tcp_syncookies")
	if !(okSys && v == 2) && !(everyOne && onEmpty) {
		return nil
	}
	var signs []Sign
	if everyOne {
		st := Strong
		if okSys && v == 2 {
			st = Decisive
		}
		says := prose.Sayf("The kernel sent %d syncookie{s} (TcpExtSyncookiesSent) for the %d SYN-ACK{s} this listener sent first (%d finished attempt{s})", sent, first, finished)
		if onEmpty {
			says += ", though at most one handshake was ever half-open: not a full queue"
		}
		signs = append(signs, forSign(st, FromCounters, "%s.", says))
	} else {
		signs = append(signs, forSign(Weak, FromCounters, "The kernel sent %d syncookie{s} (TcpExtSyncookiesSent) that the packets do not show as such.", sent))
	}
	if okSys && v == 2 {
		signs = append(signs, forSign(Weak, FromSysctls, "net.ipv4.tcp_syncookies is 2: every SYN is answered with a cookie, full queue or not."))
	}
	mode, summary, remedy := forcedCookiesFinding(l)
	return &Finding{Kind: KindSYNQueue, Mode: mode, Syncookies: boolPtr(true), Affected: min(sent, first),
		Summary: summary, Signs: signs, Remedy: remedy}
}

// finishedAttempts is the listener's attempts that did not end still in
// progress.
func finishedAttempts(l *Listener) int { return l.Attempts - l.Outcomes[Incomplete] }

// cookiesOnEmptyQueue reports whether cookies, of the listener's finished
// attempts, came while at most one handshake was ever half-open: cookies
// forced by configuration, not a full queue. A cookie whose timestamp lags
// by 0 to 2 ticks passes for a normal SYN-ACK (Signs.CookieLagUnsure;
// the first is then the one "half-open" request): those count with the
// cookies, of which nine in ten must show. A fresh forced-cookies
// recording showed 8 of 10, the other 2 lagging too little to tell.
func cookiesOnEmptyQueue(l *Listener, cookies int) bool {
	finished := finishedAttempts(l)
	maybe := cookies + l.Signs.CookieLagUnsure
	return finished >= 3 && !l.Signs.QueueLevelsEstimated && l.Signs.MaxHalfOpen <= 1 && maybe*10 >= finished*9 && cookies*10 >= finished*5
}

// synQueueDropCause: the SYN queue was full with syncookies off (or the
// 3/4 rule dropped an unproven peer's SYN), so SYNs were dropped.
func synQueueDropCause(l *Listener, ev *evidence) []hypothesis {
	sg, o := &l.Signs, &l.Outcomes
	unanswered := o[UnansweredSYN]
	// Attempts that got in on a retry: from the client, lost first SYNs;
	// at the server, SYNs a full queue dropped before it had room again.
	affected := unanswered + sg.RetransmittedThenAnswered
	if affected == 0 || sg.TrustedCookies() > 0 {
		return nil
	}
	var signs []Sign
	// Without a single ACK in the capture, a SYN-ACK "never acknowledged"
	// is one whose ACK was left out, unless the server sent it again.
	if unanswered > 0 && sg.HalfOpenAtFirstUnanswered > 0 && o[SYNACKUnacked] > 0 && !sg.HalfOpenUnseen {
		// Drops that begin with the SYN queue at its peak and nothing
		// waiting for accept() point at the SYN queue, as drops that
		// begin with connections waiting point at the accept queue.
		st := Weak
		if sg.NeverCompletedSources >= 20 || (sg.AcceptAtFirstDrop == 0 && sg.HalfOpenAtFirstUnanswered == sg.MaxHalfOpen && !sg.QueueLevelsEstimated) {
			st = Strong
		}
		estimate := ""
		if sg.QueueLevelsEstimated {
			estimate = estimatedLevels
		}
		signs = append(signs, forSign(st, FromPackets, "%d attempt{s} got no answer (%d SYN packet{s}) while %d half-open handshake{s} {was|were} waiting for clients that never acknowledged their SYN-ACK (%d such attempt{s}).%s",
			unanswered, l.DroppedSYNPackets, sg.HalfOpenAtFirstUnanswered, o[SYNACKUnacked], estimate))
		if sg.NeverCompletedSources >= 20 {
			signs = append(signs, forSign(Weak, FromPackets, "%s never completed a handshake: a SYN flood (spoofed sources).", neverCompleted(sg)))
		}
	} else if unanswered > 0 && sg.HalfOpenAtStart > 0 {
		// The capture began after the SYNs that filled the queue: only
		// the SYN-ACKs the server kept retransmitting show them.
		signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer (%d SYN packet{s}) while %d handshake{s} begun before the capture {was|were} half-open: the server retransmitted their SYN-ACKs to clients that never answered.",
			unanswered, l.DroppedSYNPackets, sg.HalfOpenAtStart))
	}
	if delayed := delayedBySYNDrops(l); delayed > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got in only after retransmitting {its|their} SYN: %d SYN packet{s} reached the server and got no answer.", delayed, sg.DelayedPackets))
	}
	mode := ""
	c := &ev.counters
	// The 3/4 rule drops only while syncookies are off.
	cookies, okCookies := sysctlInt(ev.host, "net.ipv4.tcp_syncookies")
	cookiesOn := okCookies && cookies != 0
	full, okFull := c.get("TcpExtTCPReqQFullDrop")
	drops, okDrops := c.get("TcpExtListenDrops")
	lo, _ := c.get("TcpExtListenOverflows")
	switch {
	case okFull && full > 0:
		exactly := ""
		if int(full) == l.DroppedSYNPackets && full == int64(ev.synDropsSeen) {
			exactly = ": exactly the unanswered SYN packets the capture shows"
		}
		signs = append(signs, forSign(Decisive, FromCounters, "The kernel counted %d SYN{s} dropped on a full SYN queue with syncookies off (TcpExtTCPReqQFullDrop)%s.", full, exactly))
	case okDrops && drops > lo && c.gen != Gen2 && c.gen != Gen1 && !cookiesOn:
		st := Strong
		excess := drops - lo
		fam := ipFamily(l.Server.Addr())
		noRoutes, okRoutes := c.get(outNoRoutes[fam])
		if okRoutes && noRoutes >= excess {
			// A SYN-ACK with no route back is dropped the same way
			// (noRouteCause), and IP counted that many.
			st = Weak
		}
		signs = append(signs, forSign(st, FromCounters, "TcpExtListenDrops (%d) exceeds TcpExtListenOverflows (%d) with no TcpExtTCPReqQFullDrop: with syncookies off, SYNs from peers never seen before are dropped once the SYN queue is 3/4 of net.ipv4.tcp_max_syn_backlog%s.", drops, lo, sysctlNow(ev.host, "net.ipv4.tcp_max_syn_backlog")))
		if st == Weak {
			signs = append(signs, againstSign(Strong, FromCounters, "IP found no route for %d packet{s} it was to send (%s), as many as the %d listen drop{s} no queue accounts for: TCP drops a SYN it has no route to answer the same way.", noRoutes, outNoRoutes[fam], excess))
		}
		mode = "three_quarters"
	case okDrops && drops == 0:
		signs = append(signs, againstSign(Decisive, FromCounters, "TcpExtTCPReqQFullDrop and TcpExtListenDrops did not move: TCP dropped no SYN itself."))
	case okDrops && drops <= lo:
		signs = append(signs, againstSign(Decisive, FromCounters, "TcpExtTCPReqQFullDrop did not move and every listen drop was an accept-queue overflow (ListenDrops %d, ListenOverflows %d).", drops, lo))
	}
	if okCookies {
		if cookies == 0 {
			signs = append(signs, forSign(Weak, FromSysctls, "net.ipv4.tcp_syncookies is 0: a full SYN queue drops new SYNs."))
		} else {
			signs = append(signs, againstSign(Strong, FromSysctls, "net.ipv4.tcp_syncookies is %d: a full SYN queue answers with cookies instead of dropping (if it was so during the capture).", prose.Plain(cookies)))
		}
	}
	if !hasFor(signs) {
		return nil
	}
	if s, ok := kernelDroppedElsewhere(l, KindSYNQueue); ok {
		signs = append(signs, s)
	}
	if bad, ok := c.get("TcpInCsumErrors"); ok && int(bad) >= l.DroppedSYNPackets && o[SYNACKUnacked] == 0 {
		// The namespace-wide queue counters may be another listener's;
		// corrupted segments as many as this listener's drops, with no
		// half-open handshake of its own waiting, explain them as well.
		signs = append(signs, againstSign(Strong, FromCounters, "the kernel counted %d TCP segment{s} with a bad checksum (TcpInCsumErrors), enough for all %d unanswered SYN packet{s}, and no half-open handshake of this listener was waiting.", bad, l.DroppedSYNPackets))
	}
	return []hypothesis{{Finding: Finding{Kind: KindSYNQueue, Mode: mode, Syncookies: boolPtr(false), Affected: affected,
		Summary: fmt.Sprintf("The SYN queue of %s was full and syncookies are off, so the kernel silently dropped new SYNs.", l.Server),
		Signs:   signs,
		Remedy: []string{
			fmt.Sprintf("Turn syncookies on: net.ipv4.tcp_syncookies=1%s.", sysctlNow(ev.host, "net.ipv4.tcp_syncookies")),
			"Raise net.ipv4.tcp_max_syn_backlog and the listen backlog.",
			"If the half-open handshakes come from addresses that never complete one, it is a SYN flood: filter it upstream.",
		}}, explainsUnanswered: true}}
}
