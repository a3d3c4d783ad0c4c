package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
)

// Kind names what is dropping connection attempts. The strings are part of
// the JSON schema.
type Kind string

// AllKinds lists every kind, in the order the README's table gives them.
func AllKinds() []Kind {
	return []Kind{KindAcceptQueue, KindSYNQueue, KindPAWS, KindFiltered, KindEgress, KindNoListener, KindFirewallReject, KindAppReset,
		KindNetworkLoss, KindOldState, KindDeferAccept, KindInconclusive, KindNotEnoughData, KindHealthy, KindForwarded}
}

const (
	KindHealthy        Kind = "healthy"
	KindAcceptQueue    Kind = "accept_queue_overflow"
	KindSYNQueue       Kind = "syn_queue_overflow"
	KindPAWS           Kind = "paws_rejection"
	KindNoListener     Kind = "no_listener"
	KindFirewallReject Kind = "firewall_reject"
	KindFiltered       Kind = "filtered_before_tcp"
	KindEgress         Kind = "synack_lost_on_egress"
	KindAppReset       Kind = "application_reset"
	KindNetworkLoss    Kind = "network_loss"
	KindDeferAccept    Kind = "defer_accept"
	KindInconclusive   Kind = "inconclusive"
	KindNotEnoughData  Kind = "not_enough_data"
	KindOldState       Kind = "old_connection_state"
	// KindForwarded is a front's (Listener.Forwards), never the overall
	// verdict: its connections are judged where they were forwarded.
	KindForwarded Kind = "forwarded"
)

// severity orders kinds when two findings are equally sure and equally
// large: queue overflows first, the harmless last.
var severity = map[Kind]int{
	KindAcceptQueue: 10, KindSYNQueue: 9, KindPAWS: 8, KindFiltered: 7, KindEgress: 7, KindFirewallReject: 6, KindAppReset: 6, KindNoListener: 5,
	KindNetworkLoss: 4, KindOldState: 4, KindInconclusive: 3, KindNotEnoughData: 2, KindDeferAccept: 1, KindHealthy: 0, KindForwarded: -1,
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
	// Mode narrows the kind: how the accept queue dropped (syn_dropped,
	// ack_ignored, ack_reset, transient: ignored then taken,
	// cookie_ack_dropped, counters_only), that syncookies were forced by
	// configuration (forced_cookies), how the SYN queue refused
	// (three_quarters), how a firewall refused (icmp from the server,
	// icmp_path from a router or a device in its name). Empty when none
	// applies.
	Mode string
	// Syncookies: whether the kernel answered with syncookies (for SYN
	// queue overflows), nil when unknown or not relevant.
	Syncookies *bool
	// Affected is how many attempts the finding explains.
	Affected int
	// Summary is one sentence for someone who has never heard of a SYN
	// queue; Evidence the numbers behind it (the Says of Signs, in
	// order, then notes on the inputs); Remedy what to change.
	Summary  string
	Evidence []string
	Remedy   []string
	// Signs are the weighed evidence the confidence comes from.
	Signs []Sign
}

// Diagnosis is a listener's verdict (its strongest finding), all its
// findings, strongest first, and the causes the evidence ruled out, each
// with the sign that did.
type Diagnosis struct {
	Verdict  Finding
	Findings []Finding
	RuledOut []Finding
}

// hypothesis is a cause's claim on one listener before it is weighed.
type hypothesis struct {
	Finding
	// explainsUnanswered: the claim covers the listener's unanswered
	// SYNs, which several causes can explain alike (ties).
	explainsUnanswered bool
}

// cause looks at one listener and the shared evidence and returns its
// hypotheses with their signs, or none when nothing speaks for it. Each
// lives in its own file (cause_*.go).
type cause func(l *Listener, ev *evidence) []hypothesis

var causes = []cause{
	refusedCause, icmpRejectCause, acceptQueueCause, syncookieCause, synQueueDropCause, pawsCause,
	pathLossCause, filteredCause, filteredACKsCause, egressCause, noRouteCause, appResetCause, deferAcceptCause, oldStateCause,
}

// evidence is what every cause reads besides the listener: the counters
// (only once they are known to cover the capture), sysctls, queue
// samples, and namespace-wide sums for attributing the counters.
type evidence struct {
	host      *host.Host
	counters  counterView
	listeners int
	// Sums over all listeners, for counters that cover the namespace.
	refused     int // attempts answered by RST
	aqPredicted int // packets an accept-queue overflow would have counted
	// aqClaimed is aqPredicted over the listeners whose packets show
	// their accept queue full (queueSeenFull), aqClaimedSYNs their
	// unanswered SYN packets: with several listeners, the overflows the
	// kernel counted go to them first (kernel-evidence.md,
	// "Accounting").
	aqClaimed, aqClaimedSYNs int
	aqClaimedSYNs6           int // of which to IPv6 listeners
	synDropsSeen             int // unanswered SYN packets
	synDrops6                int // of which to IPv6 listeners
	unansweredSeen           int // attempts whose SYNs were never answered
	synsSeen                 int // client SYN packets, retransmissions included
	syns6                    int // of which to IPv6 listeners
	synackRetxSeen           int // SYN-ACK retransmissions, and SYN ones of clients on the server's host
	serverRSTsSeen           int // resets the servers sent
	// captureMissed counts the connections that show the capture missed
	// packets (Result.DataNotCaptured, and SYN-ACKs it never showed):
	// what it lacks is then no proof the host did not send it.
	captureMissed int
	// ownRetxSeen and ownRSTsSeen are the SYNs sent again and the resets
	// sent by this host's own connects (outbound listeners).
	ownRetxSeen, ownRSTsSeen int
	ignoredSeen              int // ignored handshake segments (defer accept's excluded)
	cookiesSeen              int // syncookie SYN-ACKs
	pawsSeen                 int // SYNs rejected for an old timestamp
	icmpOwnSeen              int // attempts refused by ICMP from the server's address
	// answeredOn lists, by port, the listeners that sent a SYN-ACK.
	answeredOn map[uint16][]netip.AddrPort
}

// Diagnose gives every listener of r its diagnosis and r its overall
// verdict (the most serious listener's) and counter reconciliation.
func Diagnose(r *Result, h *host.Host) {
	markOutbound(r, h)
	ev := &evidence{host: h, counters: viewCounters(r, h),
		captureMissed: r.DataNotCaptured + max(r.SYNACKsNotCaptured-r.AnswersNotCaptured, 0)}
	// A front's attempts are its backends' seen again: each connection
	// counts once, at its backend.
	fronts := map[netip.AddrPort][]netip.AddrPort{}
	for i := range r.Listeners {
		l := &r.Listeners[i]
		for _, fw := range l.Forwards {
			fronts[fw.To] = append(fronts[fw.To], l.Server)
		}
		if l.countedHere() {
			ev.add(l)
		} else if l.outbound {
			// This host's own connects: its SYNs sent again and the
			// resets it sent count in its counters too.
			ev.ownRetxSeen += l.clientSYNRetx
			ev.ownRSTsSeen += l.ClientRSTs
		}
	}
	servers := servedAddrs(r)
	for i := range r.Listeners {
		if r.Listeners[i].Front() {
			d := forwardedDiagnosis(&r.Listeners[i], h)
			if note := ev.counters.note; note != "" {
				// (Counters set aside: said, as on every verdict.)
				for j := range d.Findings {
					d.Findings[j].Evidence = append(d.Findings[j].Evidence, note)
				}
			}
			d.Verdict = d.Findings[0]
			r.Listeners[i].Diagnosis = d
			continue
		}
		lev := ev
		if r.Listeners[i].outbound {
			// Its server's counters are not here: judged on its packets
			// alone, saying whose counters these are.
			lev = &evidence{counters: counterView{note: outboundNote(&r.Listeners[i], h, servers)}}
			lev.add(&r.Listeners[i])
		}
		d := diagnoseListener(&r.Listeners[i], lev)
		if via := fronts[r.Listeners[i].Server]; via != nil {
			for j := range d.Findings {
				d.Findings[j].Evidence = append(d.Findings[j].Evidence, forwardedFrom(via))
			}
			d.Verdict = d.Findings[0]
		}
		if note := proxiedNote(&r.Listeners[i]); note != "" {
			for j := range d.Findings {
				d.Findings[j].Evidence = append(d.Findings[j].Evidence, note)
			}
			d.Verdict = d.Findings[0]
		}
		if r.Evicted > 0 && r.Evicted*100 > r.Attempts {
			// Evicted attempts were judged on what had been seen so
			// far: above 1% of them, no finding is sure.
			for j := range d.Findings {
				f := &d.Findings[j]
				if f.Confidence == High {
					f.Confidence = Medium
				}
				f.Evidence = append(f.Evidence, prose.Sayf("%d attempt{s} {was|were} finished early to stay under --max-attempts: counts are lower bounds.", r.Evicted))
			}
			d.Verdict = d.Findings[0]
		}
		r.Listeners[i].Diagnosis = d
		settleKernel(&r.Listeners[i])
	}
	r.Verdict = Finding{Kind: KindNotEnoughData, Confidence: Low,
		Summary: "No TCP connection attempts were seen.", Evidence: []string{}, Remedy: []string{}, Signs: []Sign{}}
	lead := -1
	for i := range r.Listeners {
		v := r.Listeners[i].Diagnosis.Verdict
		if i == 0 || leads(&r.Listeners[i], &r.Listeners[lead]) && v.Kind != KindForwarded {
			r.Verdict = v
			r.VerdictListener = r.Listeners[i].Server
			lead = i
		}
	}
	r.Reconciliation = reconcile(r, h)
}

// add sums l into the evidence's namespace-wide totals.
func (ev *evidence) add(l *Listener) {
	ev.listeners++
	if l.SYNACKPackets > 0 {
		if ev.answeredOn == nil {
			ev.answeredOn = map[uint16][]netip.AddrPort{}
		}
		ev.answeredOn[l.Server.Port()] = append(ev.answeredOn[l.Server.Port()], l.Server)
	}
	ev.refused += l.Outcomes[Rejected]
	ev.aqPredicted += aqPredicted(l)
	if queueSeenFull(l) {
		ev.aqClaimed += aqPredicted(l)
		ev.aqClaimedSYNs += l.DroppedSYNPackets
		if ipFamily(l.Server.Addr()) == 6 {
			ev.aqClaimedSYNs6 += l.DroppedSYNPackets
		}
	}
	ev.synDropsSeen += l.DroppedSYNPackets
	ev.synsSeen += l.SYNPackets
	if ipFamily(l.Server.Addr()) == 6 {
		ev.synDrops6 += l.DroppedSYNPackets
		ev.syns6 += l.SYNPackets
	}
	ev.unansweredSeen += l.Outcomes[UnansweredSYN]
	ev.synackRetxSeen += l.synRetransmitsSeen()
	ev.serverRSTsSeen += l.ServerRSTs
	ev.ignoredSeen += overflowIgnored(l)
	ev.cookiesSeen += l.Signs.TrustedCookieSYNACKs()
	ev.pawsSeen += l.Signs.PAWS.Rejected
	ev.icmpOwnSeen += l.Signs.ICMPFromServer
}

// stronger reports whether a should lead over b.
func stronger(a, b Finding) bool {
	pa, pb := a.Kind != KindHealthy, b.Kind != KindHealthy
	if pa != pb {
		return pa
	}
	return cmp.Or(
		cmp.Compare(a.Confidence.rank(), b.Confidence.rank()),
		cmp.Compare(turnedAway(a), turnedAway(b)),
		cmp.Compare(a.Affected, b.Affected),
		cmp.Compare(severity[a.Kind], severity[b.Kind]),
	) > 0
}

// leads reports whether a's verdict should head the report over b's: as
// sure a cause and as many turned away, the listener where more attempts
// failed comes first (a rate limit that let every client in late beside
// a full accept queue that turned some away for good led for delaying
// six where the queue failed five).
func leads(a, b *Listener) bool {
	va, vb := a.Diagnosis.Verdict, b.Diagnosis.Verdict
	if pa, pb := va.Kind != KindHealthy, vb.Kind != KindHealthy; pa != pb {
		return pa
	}
	if c := cmp.Or(
		cmp.Compare(va.Confidence.rank(), vb.Confidence.rank()),
		cmp.Compare(turnedAway(va), turnedAway(vb)),
		cmp.Compare(a.Outcomes.Failed(), b.Outcomes.Failed()),
	); c != 0 {
		return c > 0
	}
	return stronger(va, vb)
}

// turnedAway is 0 for a SYN queue that syncookies protected and 1 for
// anything else: with cookies a full SYN queue turns no client away, a
// full accept queue does (it drops the cookies' ACKs too), so an equally
// sure accept queue leads however many cookies a flood or a burst drew
// (a short burst at a listener that never accepts, with clients without
// timestamps, led with "clients that really exist can still connect").
func turnedAway(f Finding) int {
	if f.Kind == KindSYNQueue && f.Syncookies != nil && *f.Syncookies {
		return 0
	}
	return 1
}

func boolPtr(b bool) *bool { return &b }

// diagnoseListener weighs every cause against one listener's facts in one
// step: each cause states its signs, confidenceOf turns them into a
// confidence or rules the cause out, and what no surviving cause explains
// decides between healthy, not enough data, a tie and inconclusive.
func diagnoseListener(l *Listener, ev *evidence) Diagnosis {
	if l.Signs.ServerUnseen && oneWayAlone(l, ev) && l.Outcomes[ICMPUnreachable] == 0 {
		// (ICMP errors still say who refused, and the causes read them.)
		f := withInputNotes(oneWayFinding(l, ""), ev)
		return Diagnosis{Verdict: f, Findings: []Finding{f}, RuledOut: []Finding{}}
	}
	var fs, out []Finding
	var tied []hypothesis
	for _, c := range causes {
		for _, h := range c(l, ev) {
			f := weigh(h.Finding)
			if f.Confidence == "" {
				out = append(out, f)
				continue
			}
			fs = append(fs, f)
			if h.explainsUnanswered {
				h.Finding = f
				tied = append(tied, h)
			}
		}
	}
	extra, lead := closingFindings(l, ev, fs, tied, out)
	if l.Signs.ServerUnseen {
		if len(fs) == 0 && len(extra) == 1 && extra[0].Kind == KindHealthy {
			// Healthy needs what the capture lacks: the clients' side
			// and the counters must both show nothing.
			if f := oneWayFinding(l, oneWayMoved(ev)); f.Kind != KindHealthy {
				extra[0] = f
			}
		}
		oneWay(l, fs)
		oneWay(l, extra)
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
	if lead {
		fs = append(extra, fs...)
	} else {
		fs = append(fs, extra...)
	}
	for i := range fs {
		fs[i] = withInputNotes(fs[i], ev)
	}
	if out == nil {
		out = []Finding{}
	}
	return Diagnosis{Verdict: fs[0], Findings: fs, RuledOut: out}
}

// weigh sets a finding's confidence and evidence from its signs; a ruled
// out finding comes back with an empty confidence and its summary saying
// what ruled it out.
func weigh(f Finding) Finding {
	conf, ruledOut := confidenceOf(f.Signs)
	f.Evidence = make([]string, 0, len(f.Signs))
	for _, s := range f.Signs {
		f.Evidence = append(f.Evidence, s.Says)
	}
	if f.Remedy == nil {
		f.Remedy = []string{}
	}
	if ruledOut {
		for _, s := range f.Signs {
			if s.Against && s.Strength == Decisive {
				f.Summary = fmt.Sprintf("Not %s: %s", kindPhrase[f.Kind], s.Says)
				break
			}
		}
		f.Confidence, f.Remedy = "", []string{}
		return f
	}
	f.Confidence = conf
	return f
}

// withInputNotes adds what the reader must know about the inputs: counters
// not used, from one snapshot, or namespace-wide; what would decide.
func withInputNotes(f Finding, ev *evidence) Finding {
	c := &ev.counters
	if c.note != "" {
		f.Evidence = append(f.Evidence, c.note)
	}
	if c.usable() && ev.listeners > 1 {
		f.Evidence = append(f.Evidence, "Kernel counters cover the whole host (or network namespace), not just this port.")
	}
	// (A late or lost SYN-ACK moves no counter of the server's that
	// tells the two apart: answer_late names the capture that does.)
	if !c.given && f.Kind != KindHealthy && f.Confidence != High && !mentionsNstat(f.Evidence) && f.Mode != "answer_late" {
		if ctr, ok := decidingCounter[f.Kind]; ok {
			f.Evidence = append(f.Evidence, fmt.Sprintf("An nstat snapshot from the server before and after (nstat -az) would settle it: watch %s.", ctr))
		}
	}
	if f.Signs == nil {
		f.Signs = []Sign{}
	}
	return f
}

// kindPhrase names a kind inside a sentence ("Not the accept queue: ...").
var kindPhrase = map[Kind]string{
	KindAcceptQueue:    "the accept queue",
	KindSYNQueue:       "the SYN queue",
	KindPAWS:           "PAWS (tcp_tw_recycle)",
	KindNoListener:     "a missing listener",
	KindFirewallReject: "a firewall REJECT",
	KindFiltered:       "a drop before TCP",
	KindEgress:         "SYN-ACKs lost on the way out",
	KindAppReset:       "the application resetting accepted connections",
	KindNetworkLoss:    "loss on the path",
	KindDeferAccept:    "TCP_DEFER_ACCEPT",
	KindOldState:       "old state for the 4-tuple",
}

// decidingCounter names the kernel counter that confirms each kind.
var decidingCounter = map[Kind]string{
	KindAcceptQueue:    "TcpExtListenOverflows",
	KindSYNQueue:       "TcpExtTCPReqQFullDrop and TcpExtSyncookiesSent",
	KindPAWS:           "TcpExtPAWSPassive",
	KindFiltered:       "TcpExtListenDrops (it stays 0 when a firewall drops the SYNs; it counts them, with IpOutNoRoutes, when there is no route back to answer them), and IpInReceives against IpInDelivers (SYNs dropped on the way in) or IpOutRequests against IpOutTransmits (SYN-ACKs dropped on the way out)",
	KindDeferAccept:    "TcpExtTCPDeferAcceptDrop",
	KindNetworkLoss:    "TcpExtListenDrops on the server (it stays 0 when the path loses packets)",
	KindNoListener:     "TcpOutRsts (it does not count the resets a firewall REJECT builds)",
	KindAppReset:       "TcpExtEmbryonicRsts (it stays 0: the listener did not abort them) and TcpPassiveOpens (the kernel made each connection)",
	KindFirewallReject: "TcpOutRsts (it does not count the resets a firewall REJECT builds)",
	KindInconclusive:   "TcpExtListenOverflows, TcpExtTCPReqQFullDrop and TcpExtListenDrops",
	KindNotEnoughData:  "TcpExtListenOverflows, TcpExtListenDrops and TcpExtTCPReqQFullDrop, which count drops a short capture misses",
	KindOldState:       "TcpExtTCPChallengeACK and TcpExtTCPSYNChallenge (a live connection's answer; a TIME_WAIT's moves no counter)",
}

func mentionsNstat(ev []string) bool {
	for _, e := range ev {
		if strings.Contains(e, "nstat") {
			return true
		}
	}
	return false
}

func sysctlNow(h *host.Host, name string) string {
	if v, ok := h.Sysctl(name); ok {
		return " (now " + v + ")"
	}
	return ""
}

func outcomeList(o *OutcomeCounts) string {
	var parts []string
	for _, oc := range AllOutcomes() {
		if oc.Failed() && o[oc] > 0 {
			parts = append(parts, prose.Sayf("%d %s", o[oc], oc))
		}
	}
	return strings.Join(parts, ", ")
}
