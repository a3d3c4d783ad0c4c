package report

import (
	"fmt"
	"slices"

	"github.com/synq/synq/analyze"
)

type jsonVerdict struct {
	Kind       string     `json:"kind"`
	Mode       string     `json:"mode"`
	Confidence string     `json:"confidence"`
	Syncookies *bool      `json:"syncookies"`
	Listener   string     `json:"listener,omitempty"`
	Affected   int        `json:"affected_attempts"`
	Summary    string     `json:"summary"`
	Evidence   []string   `json:"evidence"`
	Remedy     []string   `json:"remedy"`
	Signs      []jsonSign `json:"signs"`
}

// jsonSign is one weighed piece of evidence; a finding's evidence
// sentences start with its signs' "says", in the same order.
type jsonSign struct {
	Says     string `json:"says"`
	Strength string `json:"strength"` // weak, strong, decisive
	Against  bool   `json:"against"`
	From     string `json:"from"` // packets, counters, sysctls, queue samples, kernel drop reasons
}

func verdictJSON(f analyze.Finding) jsonVerdict {
	v := jsonVerdict{
		Kind: string(f.Kind), Mode: f.Mode, Confidence: string(f.Confidence), Syncookies: f.Syncookies,
		Affected: f.Affected, Summary: f.Summary, Evidence: nonNil(f.Evidence), Remedy: nonNil(f.Remedy),
		Signs: []jsonSign{},
	}
	for _, s := range f.Signs {
		v.Signs = append(v.Signs, jsonSign{Says: s.Says, Strength: s.Strength.String(), Against: s.Against, From: string(s.From)})
	}
	return v
}

type jsonSigns struct {
	Vantage                string  `json:"vantage"`
	SYNToSYNACKMS          float64 `json:"syn_to_synack_p50_ms"`
	SYNACKToACKMS          float64 `json:"synack_to_ack_p50_ms"`
	SYNToSYNACKTimed       int     `json:"syn_to_synack_timed"`
	SYNACKToACKTimed       int     `json:"synack_to_ack_timed"`
	CookiesByTimestampLag  int     `json:"cookies_by_timestamp_lag"`
	CookiesByStripped      int     `json:"cookies_by_stripped_options"`
	CookiesByNoRetransmit  int     `json:"cookies_by_no_retransmission"`
	CookiesCompleted       int     `json:"cookies_completed"`
	MaxHalfOpen            int     `json:"max_half_open"`
	HalfOpenAtFirstCookie  int     `json:"half_open_at_first_cookie"`
	HalfOpenAtFirstDrop    int     `json:"half_open_at_first_unanswered_syn"`
	AcceptQueueAtFirstDrop int     `json:"unserved_connections_at_first_drop"`
	QueueLevelsEstimated   bool    `json:"queue_levels_estimated"`
	MaxUnserved            int     `json:"max_unserved_connections"`
	CompletedSilent        int     `json:"completed_silent_connections"`
	DeferAccepted          int     `json:"defer_accepted"`
	DeferredACKs           int     `json:"deferred_ack_segments"`
	PAWSRejected           int     `json:"paws_rejected_syns"`
	SYNProxyAnswered       int     `json:"syn_proxy_answered"`
	SYNProxyPassed         int     `json:"syn_proxy_passed"`
}

func signsJSON(s *analyze.Signs, completedSilent int) jsonSigns {
	return jsonSigns{
		CompletedSilent: completedSilent,
		Vantage:         string(s.Vantage),
		SYNToSYNACKMS:   ms(s.SYNGapP50), SYNACKToACKMS: ms(s.ACKGapP50),
		SYNToSYNACKTimed: s.SYNGaps, SYNACKToACKTimed: s.ACKGaps,
		CookiesByTimestampLag: s.CookiesByTSLag, CookiesByStripped: s.CookiesByStripped,
		CookiesByNoRetransmit: s.CookiesByNoRetrans, CookiesCompleted: s.CookiesCompleted,
		MaxHalfOpen: s.MaxHalfOpen, HalfOpenAtFirstCookie: s.HalfOpenAtFirstCookie,
		HalfOpenAtFirstDrop: s.HalfOpenAtFirstUnanswered, AcceptQueueAtFirstDrop: s.AcceptAtFirstDrop,
		QueueLevelsEstimated: s.QueueLevelsEstimated,
		SYNProxyAnswered:     s.Proxied, SYNProxyPassed: s.ProxiedPassed,
		DeferredACKs: s.DeferIgnoredACKs,
		MaxUnserved:  s.MaxUnserved, DeferAccepted: s.DeferAccepted, PAWSRejected: s.PAWS.Rejected,
	}
}

type jsonNstat struct {
	Deltas         map[string]int64     `json:"deltas"`
	Reconciliation []jsonReconciliation `json:"reconciliation"`
}

type jsonReconciliation struct {
	Counter   string `json:"counter"`
	Delta     int64  `json:"delta"`
	Explained *int64 `json:"explained_by_capture"`
	// Unsure: how many more the capture may explain (syncookies it
	// cannot tell from normal SYN-ACKs); 0 for most counters.
	Unsure int64  `json:"unsure_in_capture"`
	Note   string `json:"note"`
	// ByListener and Unattributed: null for counters not countable from
	// packets.
	ByListener   []jsonShare `json:"by_listener"`
	Unattributed *int64      `json:"unattributed"`
}

type jsonShare struct {
	Listener   string `json:"listener"`
	Predicted  int64  `json:"predicted"`
	Attributed int64  `json:"attributed"`
}

func nstatJSON(in *Input) *jsonNstat {
	if in.Host == nil || in.Host.Deltas == nil {
		return nil
	}
	n := &jsonNstat{Deltas: in.Host.Deltas, Reconciliation: []jsonReconciliation{}}
	for _, r := range in.Result.Reconciliation {
		jr := jsonReconciliation{Counter: r.Counter, Delta: r.Delta, Explained: r.Explained, Unsure: r.Unsure, Note: r.Note}
		if r.Explained != nil {
			jr.ByListener = []jsonShare{}
			for _, s := range r.Shares {
				jr.ByListener = append(jr.ByListener, jsonShare{s.Listener.String(), s.Predicted, s.Attributed})
			}
			u := r.Unattributed
			jr.Unattributed = &u
		}
		n.Reconciliation = append(n.Reconciliation, jr)
	}
	return n
}

// verdictTable leads the human report: the overall verdict in plain words,
// its evidence and what to do; then the other listeners' verdicts.
func (p *printer) verdict(in *Input) {
	r := &in.Result
	v := r.Verdict
	p.line("")
	head := "VERDICT"
	if l := verdictListener(r); l != "" {
		head += " (" + l + ")"
	}
	p.line("%s: %s, %s confidence", head, headline(v), v.Confidence)
	p.wrap("  ", v.Summary)
	if e := explained(v); e != "" {
		p.line("")
		p.wrap("  ", e)
	}
	if len(v.Evidence) > 0 {
		p.line("")
		p.line("  Evidence")
		for _, e := range v.Evidence {
			p.wrap("  - ", e)
		}
	}
	if len(v.Remedy) > 0 {
		p.line("")
		p.line("  What to do")
		for _, e := range v.Remedy {
			p.wrap("  - ", e)
		}
	}
	if others := alsoFound(r); len(others) > 0 {
		p.line("")
		p.line("  Also found")
		for _, o := range others[:min(len(others), tableFindings)] {
			p.wrap("  - ", o)
		}
		if n := len(others) - tableFindings; n > 0 {
			p.wrap("  ", fmt.Sprintf("... and %s more findings; --format json lists every one.", count(n)))
		}
	}
	if out := ruledOut(r); len(out) > 0 {
		p.line("")
		p.line("  Ruled out")
		for _, o := range out {
			p.wrap("  - ", o)
		}
	}
}

// ruledOut lists what the evidence ruled out on the verdict's listener,
// each with the sign that did.
func ruledOut(r *analyze.Result) []string {
	var out []string
	for _, l := range r.Listeners {
		if l.Server != r.VerdictListener {
			continue
		}
		for _, f := range l.Diagnosis.RuledOut {
			out = append(out, f.Summary)
		}
	}
	return slices.Compact(out)
}

// verdictListener names the listener the verdict is about when there is
// more than one, "" otherwise.
func verdictListener(r *analyze.Result) string {
	if r.VerdictListener.IsValid() && len(r.Listeners) > 1 {
		return r.VerdictListener.String()
	}
	return ""
}

// alsoFound lists the other findings worth a line under the verdict,
// prefixed with their confidence.
func alsoFound(r *analyze.Result) []string {
	var others []string
	for _, l := range r.Listeners {
		for _, f := range l.Diagnosis.Findings {
			if f.Summary == r.Verdict.Summary || f.Kind == analyze.KindHealthy {
				continue
			}
			// A weak finding about a handful of attempts is noise at
			// this level; the JSON keeps every finding.
			if f.Confidence == analyze.Low && f.Affected*100 < l.Attempts {
				continue
			}
			others = append(others, string(f.Confidence)+": "+f.Summary)
		}
	}
	return slices.Compact(others)
}

// headline names a finding for a person: its kind, or its mode where the
// mode changes what the kind means.
func headline(f analyze.Finding) string {
	switch f.Mode {
	case "forced_cookies":
		return "SYNCOOKIES FORCED BY CONFIGURATION (tcp_syncookies=2, not an overflow)"
	case "ack_dropped":
		return "HANDSHAKE ACKs DROPPED BEFORE TCP (firewall, conntrack)"
	case "data_dropped":
		return "REQUESTS DROPPED BEFORE TCP (firewall, conntrack, MTU)"
	case "conntrack_full":
		return "SYNs DROPPED BY A FULL CONNTRACK TABLE (nf_conntrack_max)"
	case "no_route":
		return "NO ROUTE BACK TO THE CLIENTS (TCP dropped the SYNs: not a queue)"
	case "not_local":
		return "SYNs TO AN ADDRESS THIS HOST DOES NOT HOLD (a moved VIP, a stale ARP entry)"
	}
	return kindWords[f.Kind]
}

var kindWords = map[analyze.Kind]string{
	analyze.KindHealthy:        "healthy",
	analyze.KindAcceptQueue:    "ACCEPT QUEUE OVERFLOW",
	analyze.KindSYNQueue:       "SYN QUEUE OVERFLOW",
	analyze.KindPAWS:           "SYNs REJECTED FOR OLD TIMESTAMPS (PAWS, tcp_tw_recycle)",
	analyze.KindNoListener:     "NO LISTENER",
	analyze.KindFiltered:       "SYNs DROPPED BEFORE TCP (firewall, conntrack, rp_filter, tc/eBPF)",
	analyze.KindEgress:         "SYN-ACKs LOST ON THE WAY OUT (egress rule, or another route)",
	analyze.KindAppReset:       "THE APPLICATION RESETS ACCEPTED CONNECTIONS",
	analyze.KindNetworkLoss:    "LOSS ON THE NETWORK PATH",
	analyze.KindDeferAccept:    "TCP_DEFER_ACCEPT at work (not an overflow)",
	analyze.KindInconclusive:   "INCONCLUSIVE",
	analyze.KindNotEnoughData:  "NOT ENOUGH DATA",
	analyze.KindOldState:       "SYN ANSWERED FOR AN OLD CONNECTION (TIME_WAIT or port reuse)",
	analyze.KindFirewallReject: "REFUSED BY A FIREWALL RULE (REJECT)",
	analyze.KindForwarded:      "FORWARDED (address translation on this host)",
}

// explained is kindExplained for f's kind, or for its mode where the
// mode works differently (an ICMP refusal is not a reset).
func explained(f analyze.Finding) string {
	if f.Kind == analyze.KindFirewallReject && (f.Mode == "icmp" || f.Mode == "icmp_path") {
		return "How it works: a firewall rule with `reject with icmp ...` answers a SYN with an ICMP destination-unreachable error that quotes it, before TCP sees the SYN; a Linux client's connect() fails at once (connection refused, or no route to host) without retrying. TCP itself never answers a SYN with ICMP."
	}
	if f.Kind == analyze.KindFiltered && f.Mode == "ack_dropped" {
		return "How it works: every segment that reaches the host passes the firewall (netfilter) and connection tracking before TCP sees it; a capture sees it before them. A rule that lets SYNs through but not what follows (a stateless allow-SYN rule; conntrack calling the segments INVALID, as it does when a connection's packets arrive by two paths) lets TCP answer the SYN and never see the client's ACK: the server retransmits its SYN-ACK, the client believes it is connected, as with a full accept queue, but TCP counts no overflow."
	}
	if f.Kind == analyze.KindFiltered && f.Mode == "data_dropped" {
		return "How it works: every segment that reaches the host passes the firewall (netfilter) and connection tracking before TCP sees it; a capture sees it before them. Here the handshake got through: TCP answered the SYN and took the ACK (it would have sent its SYN-ACK again 1 s later otherwise), and the application had its connection; what the client sent next never reached TCP, so nothing acknowledged it, and the client sent it again until it gave up. A rule matching some segments only (length, content, conntrack state) or a packet too large for a hop does that; no listen queue is involved."
	}
	if f.Kind == analyze.KindFiltered && f.Mode == "conntrack_full" {
		return "How it works: with connection tracking in use (a stateful firewall rule, NAT, Docker or Kubernetes), every new connection's first packet needs an entry in the conntrack table before netfilter lets it on to TCP. Once the table holds net.netfilter.nf_conntrack_max entries, a new one gets a place only by evicting an entry whose connection never completed; when none can be, the packet is dropped (\"nf_conntrack: table full, dropping packet\" in the kernel log) and the client sends its SYN again until it gives up. Connections already tracked go on working; TCP's own counters never see the drops."
	}
	if f.Kind == analyze.KindEgress && f.Mode == "no_route" {
		return "How it works: before TCP answers a SYN it looks up the route back to the client for its SYN-ACK. When there is none (no route matches, or the one that does is a blackhole, unreachable or prohibit route), it drops the SYN, sends nothing and counts it in TcpExtListenDrops, the \"SYNs to LISTEN sockets dropped\" of netstat -s, as if a queue had overflowed; IPv4 counts IpOutNoRoutes too. The client sends its SYN again and times out, while clients on networks with a route connect normally."
	}
	if f.Kind == analyze.KindFiltered && f.Mode == "not_local" {
		return "How it works: a host that does not forward (net.ipv4.ip_forward 0, IPv6 forwarding off) takes only packets for its own addresses; one for any other address that reaches it (its MAC in the sender's neighbour entry, a route pointing at it) is dropped by IP and counted in IpInAddrErrors (Ip6InAddrErrors), with no answer, before any firewall rule or TCP sees it. After a failover the old holder of a service address gets its traffic this way until the senders learn the new MAC."
	}
	if f.Kind == analyze.KindFiltered && f.Mode == "" {
		// Not yet told apart (modes say how it was).
		return kindExplained[f.Kind] + " On the wire a SYN-ACK dropped on its way out looks the same (the capture sees outgoing packets after the firewall): IP's counters tell the two apart."
	}
	return kindExplained[f.Kind]
}

// kindExplained tells someone who has never heard of a SYN queue what the
// verdict means.
var kindExplained = map[analyze.Kind]string{
	analyze.KindAcceptQueue:    "How it works: once a client finishes the TCP handshake, the kernel parks the connection in the listener's accept queue until the application calls accept(). The queue's size is the listen backlog. When it is full, the kernel drops new SYNs and ignores the handshake ACKs of clients that think they are connected; they retry and time out.",
	analyze.KindSYNQueue:       "How it works: handshakes in progress (SYN received, SYN-ACK sent, waiting for the client's ACK) wait in the listener's SYN queue. When it is full, the kernel either answers with a syncookie, which keeps no state and still lets real clients in, or, with syncookies off, drops the SYN.",
	analyze.KindPAWS:           "How it works: with net.ipv4.tcp_tw_recycle=1 (kernels before 4.12) the server remembered each client address's latest TCP timestamp and dropped SYNs carrying an older one. Behind a NAT, many hosts share one address and each has its own clock, so some of them are always \"older\".",
	analyze.KindFiltered:       "How it works: a SYN that reaches the host passes tc ingress filters and eBPF programs, the firewall (netfilter), connection tracking and reverse-path checks before TCP sees it; a capture sees it before all of them. The listener's own drop counters do not move for these drops.",
	analyze.KindEgress:         "How it works: TCP answers a SYN with a SYN-ACK, which then takes the route back to the client and passes the firewall's output and postrouting rules before it reaches an interface. A capture sees it only where it leaves: dropped on the way, or sent by another interface, it never shows, and the SYN looks unanswered. IP's counters (IpOutRequests against IpOutTransmits) and TCP's retransmission count show the answers were made.",
	analyze.KindAppReset:       "How it works: the kernel completes the handshake and queues the connection for accept(); an application that then closes it with SO_LINGER 0 (at its connection limit, for an access rule) sends a reset that carries ACK, as every connected socket's reset does. A listener that aborts a handshake because its accept queue is full (tcp_abort_on_overflow=1) sends a bare RST instead.",
	analyze.KindNetworkLoss:    "How it works: when a SYN or SYN-ACK is lost, the client retransmits its SYN after about 1 s (then 1 s or doubling), so lost packets show up as slow connects and timeouts.",
	analyze.KindDeferAccept:    "How it works: a listener with TCP_DEFER_ACCEPT does not wake the application until the client sends data; it ignores the bare handshake ACK on purpose.",
	analyze.KindNoListener:     "How it works: a SYN to a port nothing listens on is answered with a reset; the client gets 'connection refused' at once.",
	analyze.KindFirewallReject: "How it works: a firewall rule with `reject with tcp reset` answers a SYN with a reset it builds itself, before TCP sees the SYN: to the client it looks exactly like a port with nothing listening, but the kernel's TCP counters (TcpOutRsts) do not count those resets.",
	analyze.KindForwarded:      "How it works: a host that forwards with destination NAT (kube-proxy for a NodePort or Service, a DNAT rule, IPVS) rewrites a connection's address and port on the way through, never its sequence numbers; a capture on every interface sees each packet before and after.",
}

// reconciliationTable compares the kernel's counters with the capture.
func (p *printer) reconciliation(in *Input) {
	if len(in.Result.Reconciliation) == 0 {
		return
	}
	var rows [][]string
	shared := false
	for _, r := range in.Result.Reconciliation {
		exp, left := "n/a", "n/a"
		if r.Explained != nil {
			exp, left = count(int(*r.Explained)), count(int(r.Delta-*r.Explained))
			if r.Unsure > 0 {
				exp += " (+" + count(int(r.Unsure)) + "?)"
			}
		}
		rows = append(rows, []string{r.Counter, count(int(r.Delta)), exp, left})
		if len(r.Shares) > 1 {
			shared = true
			for _, s := range r.Shares {
				rows = append(rows, []string{"↳ on " + s.Listener.String(), count(int(s.Attributed)), count(int(s.Predicted)), ""})
			}
		}
	}
	p.table("Kernel counters (nstat) against the capture", []string{"COUNTER", "DELTA", "IN CAPTURE", "UNEXPLAINED"}, rows, "lrrr")
	p.line("  Counters cover the whole host or namespace: other ports count too.")
	if shared {
		p.line("  ↳ rows: each listener's part of the delta (what its packets predict,")
		p.line("  scaled down where the kernel counted less) and what its packets show.")
	}
}

type jsonLimits struct {
	Sysctls    map[string]string `json:"sysctls"`
	Statements []string          `json:"statements"`
}

func limitsJSON(in *Input) *jsonLimits {
	l := analyze.EffectiveLimits(in.Host)
	if l == nil {
		return nil
	}
	return &jsonLimits{Sysctls: in.Host.Sysctls, Statements: nonNil(l.Statements)}
}

// limits prints what the server's sysctls make of its queues.
func (p *printer) limits(in *Input) {
	l := analyze.EffectiveLimits(in.Host)
	if l == nil || len(l.Statements) == 0 {
		return
	}
	p.line("")
	p.line("Queue limits from the server's sysctls")
	for _, s := range l.Statements {
		p.wrap("  - ", s)
	}
}
