package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Kind names what is dropping connection attempts. The strings are part of
// the JSON schema.
type Kind string

const (
	KindHealthy      Kind = "healthy"
	KindAcceptQueue  Kind = "accept_queue_overflow"
	KindSYNQueue     Kind = "syn_queue_overflow"
	KindPAWS         Kind = "paws_rejection"
	KindNoListener   Kind = "no_listener"
	KindFiltered     Kind = "filtered_before_tcp"
	KindNetworkLoss  Kind = "network_loss"
	KindDeferAccept  Kind = "defer_accept"
	KindInconclusive Kind = "inconclusive"
)

// severity orders kinds when two findings are equally sure and equally
// large: queue overflows first, the harmless last.
var severity = map[Kind]int{
	KindAcceptQueue: 9, KindSYNQueue: 8, KindPAWS: 7, KindFiltered: 6, KindNoListener: 5,
	KindNetworkLoss: 4, KindInconclusive: 3, KindDeferAccept: 2, KindHealthy: 1,
}

// Confidence says how sure a finding is.
type Confidence string

const (
	High   Confidence = "high"
	Medium Confidence = "medium"
	Low    Confidence = "low"
)

func (c Confidence) rank() int {
	switch c {
	case High:
		return 3
	case Medium:
		return 2
	}
	return 1
}

// Finding is one explanation of what happened on a listener.
type Finding struct {
	Kind       Kind
	Confidence Confidence
	// Syncookies: whether the kernel answered with syncookies (for SYN
	// queue overflows), nil when unknown or not relevant.
	Syncookies *bool
	// Affected is how many attempts the finding explains.
	Affected int
	// Summary is one sentence for someone who has never heard of a SYN
	// queue; Evidence the numbers behind it; Remedy what to change.
	Summary  string
	Evidence []string
	Remedy   []string
}

// Diagnosis is a listener's verdict (its strongest finding) and all its
// findings, strongest first.
type Diagnosis struct {
	Verdict  Finding
	Findings []Finding
}

// Host is evidence from the host itself, beside the capture.
type Host struct {
	// Deltas are kernel counter increases over the capture, by nstat
	// name; nil when no snapshot was given. A name missing from a
	// non-nil map is a counter the kernel did not report.
	Deltas map[string]int64
	// Sysctls by name (net.ipv4.tcp_syncookies...); nil when unknown.
	Sysctls map[string]string
	// Queues are the listen queues sampled on the host (synq live, or a
	// bundle), one peak per listening socket.
	Queues []QueuePeak
}

// QueuePeak is what sampling one listening socket's queues showed.
type QueuePeak struct {
	Listener       netip.AddrPort
	MaxAcceptQueue int
	AcceptLimit    int // the largest limit seen
	MaxSynRecv     int
	Samples        int
	// Full counts samples where the accept queue had passed its limit
	// (AcceptQueue > AcceptLimit: the kernel's "full").
	Full int
}

// queueFor finds the sampled socket serving a listener: the same address,
// or a wildcard address on the same port.
func (h *Host) queueFor(l netip.AddrPort) (QueuePeak, bool) {
	if h == nil {
		return QueuePeak{}, false
	}
	for _, q := range h.Queues {
		if q.Listener.Port() == l.Port() && (q.Listener.Addr() == l.Addr() || q.Listener.Addr().IsUnspecified()) {
			return q, true
		}
	}
	return QueuePeak{}, false
}

func (h *Host) delta(name string) (int64, bool) {
	if h == nil || h.Deltas == nil {
		return 0, false
	}
	v, ok := h.Deltas[name]
	return v, ok
}

func (h *Host) hasCounters() bool { return h != nil && h.Deltas != nil }

func (h *Host) sysctl(name string) (string, bool) {
	if h == nil || h.Sysctls == nil {
		return "", false
	}
	v, ok := h.Sysctls[name]
	return strings.TrimSpace(v), ok
}

// Diagnose gives every listener of r its diagnosis and r its overall
// verdict (the most serious listener's) and counter reconciliation.
func Diagnose(r *Result, h *Host) {
	for i := range r.Listeners {
		d := diagnoseListener(&r.Listeners[i], h, len(r.Listeners))
		if r.Evicted > 0 && r.Evicted*100 > r.Attempts {
			// Evicted attempts were judged on what had been seen so
			// far: above 1% of them, no finding is sure.
			for j := range d.Findings {
				f := &d.Findings[j]
				if f.Confidence == High {
					f.Confidence = Medium
				}
				f.Evidence = append(f.Evidence, fmt.Sprintf("%d attempts were finished early to stay under --max-attempts: counts are lower bounds.", r.Evicted))
			}
			d.Verdict = d.Findings[0]
		}
		r.Listeners[i].Diagnosis = d
	}
	r.Verdict = Finding{Kind: KindHealthy, Confidence: High,
		Summary: "No TCP connection attempts were seen.", Evidence: []string{}, Remedy: []string{}}
	for i := range r.Listeners {
		v := r.Listeners[i].Diagnosis.Verdict
		if i == 0 || stronger(v, r.Verdict) {
			r.Verdict = v
			r.VerdictListener = r.Listeners[i].Server
		}
	}
	r.Reconciliation = reconcile(r, h)
}

// stronger reports whether a should lead over b.
func stronger(a, b Finding) bool {
	pa, pb := a.Kind != KindHealthy, b.Kind != KindHealthy
	if pa != pb {
		return pa
	}
	return cmp.Or(
		cmp.Compare(a.Confidence.rank(), b.Confidence.rank()),
		cmp.Compare(a.Affected, b.Affected),
		cmp.Compare(severity[a.Kind], severity[b.Kind]),
	) > 0
}

func boolPtr(b bool) *bool { return &b }

// diagnoseListener applies the signatures of shared/docs/listen-queues.md
// to one listener's facts and the host's counters.
func diagnoseListener(l *Listener, h *Host, listeners int) Diagnosis {
	var fs []Finding
	add := func(f Finding) {
		if f.Evidence == nil {
			f.Evidence = []string{}
		}
		if f.Remedy == nil {
			f.Remedy = []string{}
		}
		if h.hasCounters() && listeners > 1 {
			f.Evidence = append(f.Evidence, "Kernel counters cover the whole host (or network namespace), not just this port.")
		}
		fs = append(fs, f)
	}
	sg := &l.Signs
	o := &l.Outcomes
	server := l.Server.String()
	port := l.Server.Port()
	unanswered := o[UnansweredSYN]
	explainedUnanswered := false

	overflows, haveOverflows := h.delta("TcpExtListenOverflows")
	drops, haveDrops := h.delta("TcpExtListenDrops")

	if n := o[Rejected]; n > 0 {
		add(Finding{
			Kind: KindNoListener, Confidence: High, Affected: n,
			Summary:  noListenerSummary(server, n, o[Established]),
			Evidence: []string{fmt.Sprintf("%d SYNs were answered with RST instead of SYN-ACK.", n)},
			Remedy: []string{
				fmt.Sprintf("Check that the service is running and bound to this address and port: ss -lnt 'sport = :%d'.", port),
				"If it restarts, clients that connect during the restart are refused: drain them first or use a load balancer health check.",
			},
		})
	}

	// Accept queue: ignored handshakes, abort resets, or SYNs dropped
	// while completed connections waited for the application.
	{
		var ev []string
		conf := Low
		affected := 0
		if n := o[ACKIgnored]; n > 0 {
			ev = append(ev, fmt.Sprintf("%d handshakes completed on the client's side but the server ignored them: %d client segments (handshake ACKs and data) were not taken, and the server kept retransmitting its SYN-ACK (%d retransmissions) as if the ACK had never arrived.",
				n, l.IgnoredACKSegments, l.SYNACKRetransmits))
			conf, affected = High, affected+n
		}
		if n := o[ResetAfterACK]; n > 0 {
			ev = append(ev, fmt.Sprintf("The server answered %d handshake ACKs with a reset: with net.ipv4.tcp_abort_on_overflow=1 an accept-queue overflow resets the connection.", n))
			conf, affected = High, affected+n
		}
		syncookieQueue := sg.CookieAttempts > 0 && sg.FirstCookie != 0 && sg.AcceptAtFirstDrop == 0
		if unanswered > 0 && sg.AcceptAtFirstDrop > 0 && !syncookieQueue {
			ev = append(ev, fmt.Sprintf("%d attempts got no answer at all (%d SYN packets, retransmissions included) while %d completed connections were still waiting for the application (the server had sent them nothing).",
				unanswered, l.DroppedSYNPackets, sg.AcceptAtFirstDrop))
			affected += unanswered
			explainedUnanswered = true
			if conf == Low {
				conf = Medium
			}
		}
		q, sampled := h.queueFor(l.Server)
		if affected > 0 && sampled && q.Full > 0 {
			ev = append(ev, fmt.Sprintf("Sampled on the host: the accept queue held %d connections against a limit of %d (full in %d of %d samples).",
				q.MaxAcceptQueue, q.AcceptLimit, q.Full, q.Samples))
			conf = High
		}
		if affected > 0 {
			switch {
			case haveOverflows && overflows > 0:
				ev = append(ev, fmt.Sprintf("The kernel counted %d accept-queue overflows (TcpExtListenOverflows).", overflows))
				conf = High
			case haveOverflows && overflows == 0 && o[ACKIgnored]+o[ResetAfterACK] == 0:
				// The counter contradicts the packets: not this.
				affected, explainedUnanswered = 0, false
			case !h.hasCounters() && conf != High:
				ev = append(ev, "Without kernel counters this could also be a firewall dropping SYNs; an nstat snapshot (TcpExtListenOverflows) would confirm it.")
			}
		}
		if affected > 0 {
			if k := sg.AcceptAtFirstDrop; k > 0 {
				ev = append(ev, fmt.Sprintf("About %d connections were waiting for accept() when drops began; Linux holds backlog+1, so the effective backlog looks like %d.", k, k-1))
				if max, ok := sysctlInt(h, "net.core.somaxconn"); ok && k-1 < max {
					ev = append(ev, fmt.Sprintf("net.core.somaxconn is %d, so that limit comes from the application's listen() backlog.", max))
				}
			}
			remedy := []string{
				"Find why the application is not calling accept() fast enough: too few workers or threads, a blocked event loop, a slow dependency.",
				fmt.Sprintf("Raise the listen backlog: the application's listen(fd, N) and net.core.somaxconn%s; the queue holds min(backlog, somaxconn)+1.", sysctlNow(h, "net.core.somaxconn")),
				fmt.Sprintf("Watch it: ss -lnt 'sport = :%d' shows the queue length (Recv-Q) against its limit (Send-Q).", port),
			}
			if o[ResetAfterACK] > 0 {
				remedy = append(remedy, "Set net.ipv4.tcp_abort_on_overflow=0 so that an overflow makes clients retry instead of failing at once.")
			}
			add(Finding{
				Kind: KindAcceptQueue, Confidence: conf, Affected: affected,
				Summary:  fmt.Sprintf("The accept queue of %s overflowed: connections finished their handshake faster than the application took them with accept(), and the kernel dropped the rest.", server),
				Evidence: ev, Remedy: remedy,
			})
		}
	}

	// SYN queue answered with syncookies.
	flood := sg.NeverCompletedSources >= 20 && sg.NeverCompletedSources*2 >= l.Attempts
	if sg.CookieAttempts > 0 {
		conf := Low
		switch {
		case sg.CookiesByTSLag+sg.CookiesByStripped > 0 && sg.CookieAttempts >= 3:
			conf = High
		case sg.CookieAttempts >= 3:
			conf = Medium
		}
		ev := []string{fmt.Sprintf("%d SYN-ACKs were syncookies, the kernel's answer when the SYN queue is full: %d recognised by their timestamp lagging the server's clock, %d by stripped TCP options, %d because they were never retransmitted though never acknowledged.",
			sg.SyncookieSYNACKs, sg.CookiesByTSLag, sg.CookiesByStripped, sg.CookiesByNoRetrans)}
		if sg.HalfOpenAtFirstCookie > 0 {
			ev = append(ev, fmt.Sprintf("%d half-open handshakes were waiting when the first cookie was sent: the SYN queue limit is about %d (Linux holds backlog+1, so a listen backlog of about %d).", sg.HalfOpenAtFirstCookie, sg.HalfOpenAtFirstCookie, sg.HalfOpenAtFirstCookie-1))
		}
		if sg.CookiesCompleted > 0 {
			ev = append(ev, fmt.Sprintf("%d clients completed their handshake through a cookie.", sg.CookiesCompleted))
		}
		if sent, ok := h.delta("TcpExtSyncookiesSent"); ok {
			if sent > 0 {
				ev = append(ev, fmt.Sprintf("The kernel counted %d syncookies sent (TcpExtSyncookiesSent).", sent))
				conf = High
			} else if conf != High {
				conf = Low
				ev = append(ev, "But the kernel counted no syncookies sent: these SYN-ACKs may simply have gone unanswered.")
			}
		}
		remedy := []string{}
		summary := fmt.Sprintf("The SYN queue of %s overflowed; the kernel kept answering with syncookies, so clients that really exist can still connect.", server)
		if flood {
			ev = append(ev, fmt.Sprintf("%d source addresses sent SYNs and never completed a handshake: a SYN flood (spoofed sources).", sg.NeverCompletedSources))
			summary = fmt.Sprintf("A SYN flood filled the SYN queue of %s; syncookies are protecting it: real clients still connect.", server)
			remedy = append(remedy, "Keep net.ipv4.tcp_syncookies=1: it is what keeps real clients connecting during the flood.",
				"Filter or rate-limit the flood upstream (DDoS protection, edge firewall); the sources are likely spoofed, so blocking addresses one by one does not help.")
		} else {
			remedy = append(remedy, "Bursts larger than the listen backlog trigger syncookies: raise the application's listen backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog.",
				"Syncookies lose TCP options (window scale, SACK) for clients without timestamps: worse throughput on those connections.")
		}
		add(Finding{Kind: KindSYNQueue, Confidence: conf, Syncookies: boolPtr(true), Affected: sg.CookieAttempts,
			Summary: summary, Evidence: ev, Remedy: remedy})
	}

	// SYN queue without syncookies: SYNs dropped while half-open
	// handshakes pile up.
	if unanswered > 0 && !explainedUnanswered && sg.HalfOpenAtFirstUnanswered > 0 && o[SYNACKUnacked] > 0 && sg.CookieAttempts == 0 {
		conf := Medium
		ev := []string{fmt.Sprintf("%d attempts got no answer (%d SYN packets) while %d half-open handshakes were waiting for clients that never acknowledged their SYN-ACK (%d such attempts).",
			unanswered, l.DroppedSYNPackets, sg.HalfOpenAtFirstUnanswered, o[SYNACKUnacked])}
		if flood {
			ev = append(ev, fmt.Sprintf("%d source addresses never completed a handshake: a SYN flood (spoofed sources).", sg.NeverCompletedSources))
		}
		full, haveFull := h.delta("TcpExtTCPReqQFullDrop")
		switch {
		case haveFull && full > 0:
			ev = append(ev, fmt.Sprintf("The kernel counted %d SYNs dropped on a full SYN queue (TcpExtTCPReqQFullDrop).", full))
			conf = High
		case haveDrops && haveOverflows && drops > overflows:
			ev = append(ev, fmt.Sprintf("TcpExtListenDrops (%d) exceeds TcpExtListenOverflows (%d): drops that were not accept-queue overflows.", drops, overflows))
			conf = High
		case h.hasCounters() && haveDrops && drops == 0:
			conf = Low
		}
		explainedUnanswered = true
		add(Finding{Kind: KindSYNQueue, Confidence: conf, Syncookies: boolPtr(false), Affected: unanswered,
			Summary:  fmt.Sprintf("The SYN queue of %s was full and syncookies are off, so the kernel silently dropped new SYNs.", server),
			Evidence: ev,
			Remedy: []string{
				fmt.Sprintf("Turn syncookies on: net.ipv4.tcp_syncookies=1%s.", sysctlNow(h, "net.ipv4.tcp_syncookies")),
				"Raise net.ipv4.tcp_max_syn_backlog and the listen backlog.",
				"If the half-open handshakes come from addresses that never complete one, it is a SYN flood: filter it upstream.",
			}})
	}

	// PAWS / tcp_tw_recycle behind NAT.
	if p := sg.PAWS; p.Rejected > 0 {
		conf := Medium
		ev := []string{fmt.Sprintf("%d SYNs from %d address(es) went unanswered, each with a TCP timestamp older than one the same address had sent on a connection closed less than 60 s before, while its SYNs with newer timestamps were answered (%d). Most from %s.",
			p.Rejected, p.Sources, p.Answered, p.WorstIP)}
		if p.MaxClocks > 1 {
			ev = append(ev, fmt.Sprintf("Up to %d different timestamp clocks behind one address: several hosts behind a NAT.", p.MaxClocks))
		}
		if n, ok := h.delta("TcpExtPAWSPassive"); ok && n > 0 {
			ev = append(ev, fmt.Sprintf("The kernel counted %d passive connections rejected because of their timestamp (TcpExtPAWSPassive).", n))
			conf = High
		}
		explainedUnanswered = true
		add(Finding{Kind: KindPAWS, Confidence: conf, Affected: p.Rejected,
			Summary:  fmt.Sprintf("%s dropped SYNs from clients behind a NAT because their TCP timestamps looked older than another client's from the same address (tcp_tw_recycle).", server),
			Evidence: ev,
			Remedy: []string{"Set net.ipv4.tcp_tw_recycle=0 (it breaks clients behind NAT; Linux 4.12 removed it).",
				"Do not turn TCP timestamps off to work around it; upgrade the kernel if the setting cannot be changed."}})
	}

	// Loss on the path, seen from the client side.
	if sg.Vantage == VantageClient && sg.RetransmittedThenAnswered > 0 {
		conf := Medium
		ev := []string{fmt.Sprintf("Seen from the client: %d attempts needed SYN retransmissions before the server answered (%d SYN packets went unanswered), and the server answered every SYN that reached it within one round trip (median SYN to SYN-ACK %s).",
			sg.RetransmittedThenAnswered, l.DroppedSYNPackets, FormatDuration(sg.SYNGapP50))}
		if haveDrops && drops == 0 {
			ev = append(ev, "The server's listen counters did not move (TcpExtListenDrops 0): it did not drop them itself.")
			conf = High
		}
		if unanswered > 0 {
			ev = append(ev, fmt.Sprintf("%d attempts never got an answer.", unanswered))
			explainedUnanswered = true
		}
		add(Finding{Kind: KindNetworkLoss, Confidence: conf, Affected: sg.RetransmittedThenAnswered + unanswered,
			Summary:  fmt.Sprintf("Packets to or from %s were lost on the network path: clients had to retransmit their SYNs; the server itself was fine.", server),
			Evidence: ev,
			Remedy: []string{"Look for loss on the path: interface errors and drops (ip -s link), overloaded links, a firewall or load balancer dropping under load.",
				"A capture on the server at the same time shows whether the lost SYNs arrived there."}})
	}
	if sg.Vantage != VantageClient && sg.SYNsAfterSYNACK > 0 {
		add(Finding{Kind: KindNetworkLoss, Confidence: Low, Affected: sg.SYNsAfterSYNACK,
			Summary:  fmt.Sprintf("Some SYN-ACKs from %s did not reach their clients: they retransmitted SYNs the server had already answered.", server),
			Evidence: []string{fmt.Sprintf("%d client SYNs arrived after the server had answered them with a SYN-ACK.", sg.SYNsAfterSYNACK)},
			Remedy:   []string{"Look for loss on the path back to the clients (ip -s link, firewall or load balancer drops)."}})
	}

	// SYNs that reached the host and vanished with no queue to blame.
	if unanswered > 0 && !explainedUnanswered {
		conf, ev := Low, []string{fmt.Sprintf("%d attempts' SYNs (%d packets) reached this host and got no answer, while no completed connection was waiting for the application and the SYN queue was not full.",
			unanswered, l.DroppedSYNPackets)}
		switch {
		case sg.NeverAnsweredSources == 1 && sg.UnansweredSources == 1:
			ev = append(ev, fmt.Sprintf("All of them came from one address, %s (%d attempts), which never got any answer while the listener answered others: a rule matching that source.",
				sg.TopUnansweredSource, sg.TopUnansweredAttempts))
		case sg.NeverAnsweredSources > 0:
			ev = append(ev, fmt.Sprintf("%d of the %d source addresses with unanswered SYNs never got any answer (most from %s, %d attempts) while the listener answered others: a rule matching those sources.",
				sg.NeverAnsweredSources, sg.UnansweredSources, sg.TopUnansweredSource, sg.TopUnansweredAttempts))
		}
		if sg.NeverAnsweredSources > 0 && sg.NeverAnsweredSources == sg.UnansweredSources && o[Established] > 0 {
			conf = Medium
		}
		kind := KindFiltered
		summary := fmt.Sprintf("SYNs to %s reached the host but were dropped before TCP saw them: a firewall rule, a full conntrack table or reverse-path filtering.", server)
		switch {
		case haveDrops && drops == 0:
			ev = append(ev, "No listen counter moved (TcpExtListenDrops 0): the kernel's TCP never saw these SYNs.")
			conf = High
		case haveDrops && drops > 0:
			kind, conf = KindInconclusive, Low
			summary = fmt.Sprintf("SYNs to %s went unanswered and the kernel counted listen drops, but the packets do not show which queue.", server)
			ev = append(ev, fmt.Sprintf("TcpExtListenDrops rose by %d (TcpExtListenOverflows %d): drops at the listener, perhaps memory or another port.", drops, overflows))
		case !h.hasCounters():
			ev = append(ev, "An nstat snapshot from the server (nstat -az before and after) would tell a firewall (no listen counter moves) from a queue overflow.")
		}
		if sg.Vantage == VantageClient {
			kind, conf = KindInconclusive, Low
			summary = fmt.Sprintf("SYNs to %s went unanswered; from the client side this may be loss on the path or a drop on the server.", server)
			ev = append(ev, "The capture was taken on the client side: a capture on the server would tell where they were lost.")
		}
		add(Finding{Kind: kind, Confidence: conf, Affected: unanswered, Summary: summary, Evidence: ev,
			Remedy: []string{"List the firewall rules that could match: nft list ruleset; iptables -nvL (look at the drop counters).",
				"Check conntrack: sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max; dmesg for 'table full'.",
				"Check reverse-path filtering: sysctl net.ipv4.conf.all.rp_filter."}})
	}

	// TCP_DEFER_ACCEPT: ignored bare ACKs, then accepted with data.
	if sg.DeferAccepted > 0 {
		conf := Medium
		ev := []string{fmt.Sprintf("%d connections: the server ignored the client's bare handshake ACK (and retransmitted its SYN-ACK) and took the connection once data arrived.", sg.DeferAccepted)}
		if n, ok := h.delta("TcpExtTCPDeferAcceptDrop"); ok && n > 0 {
			ev = append(ev, fmt.Sprintf("The kernel counted %d ACKs dropped for TCP_DEFER_ACCEPT (TcpExtTCPDeferAcceptDrop).", n))
			conf = High
		}
		add(Finding{Kind: KindDeferAccept, Confidence: conf, Affected: sg.DeferAccepted,
			Summary:  fmt.Sprintf("%s uses TCP_DEFER_ACCEPT: it waits for the client's first data before accepting. That is intended, not an overflow.", server),
			Evidence: ev,
			Remedy:   []string{"Nothing to fix if clients speak first. For protocols where the server speaks first, remove TCP_DEFER_ACCEPT from the listener."}})
	}

	// Say what would make a finding sure when counters are missing.
	if !h.hasCounters() {
		for i := range fs {
			f := &fs[i]
			if c, ok := decidingCounter[f.Kind]; ok && f.Confidence != High && !mentionsNstat(f.Evidence) {
				f.Evidence = append(f.Evidence, fmt.Sprintf("An nstat snapshot from the server before and after (nstat -az) would settle it: watch %s.", c))
			}
		}
	}

	// Failures nothing above explains.
	if failed := o.Failed(); failed > 0 && len(fs) == 0 {
		ev := []string{fmt.Sprintf("%d attempts failed: %s.", failed, outcomeList(o))}
		if !h.hasCounters() {
			ev = append(ev, "An nstat snapshot from the server (nstat -az before and after the capture) would show which kernel drop counters moved.")
		}
		if sg.Vantage != VantageServer {
			ev = append(ev, "A capture taken on the server itself shows the most.")
		}
		add(Finding{Kind: KindInconclusive, Confidence: Low, Affected: failed,
			Summary:  fmt.Sprintf("Connection attempts to %s failed, but the packets do not show a known cause.", server),
			Evidence: ev, Remedy: []string{}})
	}

	if len(fs) == 0 {
		add(Finding{Kind: KindHealthy, Confidence: High,
			Summary:  fmt.Sprintf("%s is healthy: all %d connection attempts that finished in the capture were established.", server, o[Established]),
			Evidence: []string{fmt.Sprintf("%d established, %d still in progress when the capture ended.", o[Established], o[Incomplete])},
		})
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if stronger(a, b) {
			return -1
		}
		if stronger(b, a) {
			return 1
		}
		return 0
	})
	return Diagnosis{Verdict: fs[0], Findings: fs}
}

// decidingCounter names the kernel counter that confirms each kind.
var decidingCounter = map[Kind]string{
	KindAcceptQueue: "TcpExtListenOverflows",
	KindSYNQueue:    "TcpExtTCPReqQFullDrop and TcpExtSyncookiesSent",
	KindPAWS:        "TcpExtPAWSPassive",
	KindFiltered:    "TcpExtListenDrops (it stays 0 when a firewall drops the SYNs)",
	KindDeferAccept: "TcpExtTCPDeferAcceptDrop",
	KindNetworkLoss: "TcpExtListenDrops on the server (it stays 0 when the path loses packets)",
}

func mentionsNstat(ev []string) bool {
	for _, e := range ev {
		if strings.Contains(e, "nstat") {
			return true
		}
	}
	return false
}

func noListenerSummary(server string, refused, established int) string {
	if established > 0 {
		return fmt.Sprintf("%s refused %d connection attempts with a reset while it accepted %d others: the listener was down part of the time (a restart?).", server, refused, established)
	}
	return fmt.Sprintf("Nothing was listening on %s: the server refused %d connection attempts with a reset.", server, refused)
}

func sysctlNow(h *Host, name string) string {
	if v, ok := h.sysctl(name); ok {
		return " (now " + v + ")"
	}
	return ""
}

func outcomeList(o *OutcomeCounts) string {
	var parts []string
	for _, oc := range AllOutcomes() {
		if oc.Failed() && o[oc] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", o[oc], oc))
		}
	}
	return strings.Join(parts, ", ")
}
