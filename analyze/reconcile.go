package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
)

// Reconciliation compares one kernel counter's increase with what the
// capture accounts for.
type Reconciliation struct {
	Counter string
	Delta   int64
	// Explained is what the capture accounts for; nil when synq cannot
	// count it from packets. Unsure is how many more the capture may
	// account for, events it cannot tell from others (syncookies whose
	// timestamp lag is too small to see): the kernel's delta should lie
	// from Explained to Explained+Unsure.
	Explained *int64
	Unsure    int64
	Note      string
	// Shares attribute the namespace-wide delta to listeners by what the
	// capture predicts on each (only listeners it predicts any on, and
	// only for countable counters); Unattributed is what is left: other
	// ports, other traffic, or outside the capture window.
	Shares       []CounterShare
	Unattributed int64
}

// CounterShare is one listener's part of a counter's delta: Predicted
// from its packets, Attributed of the kernel's delta (Predicted, scaled
// down when the kernel counted less than the capture predicts).
type CounterShare struct {
	Listener   netip.AddrPort
	Predicted  int64
	Attributed int64
}

// ReconciledCounters names the counters synq reconciles with the capture.
func ReconciledCounters() []string {
	names := make([]string, len(reconciled))
	for i, r := range reconciled {
		names[i] = r.name
	}
	return names
}

// reconciled lists the counters synq reconciles, in display order, with how
// the capture accounts for each (nil: not countable from packets).
var reconciled = []struct {
	name    string
	explain func(l *Listener) int
	note    string
	unsure  func(l *Listener) int // nil: none
}{
	{"TcpExtListenOverflows", func(l *Listener) int {
		if likelyFinding(l, KindAcceptQueue) {
			return listenerSYNDrops(l) + queueIgnored(l)
		}
		return queueIgnored(l)
	}, "accept queue full: SYNs dropped and handshake segments ignored", nil},
	{"TcpExtListenDrops", func(l *Listener) int {
		switch {
		case likelyFinding(l, KindAcceptQueue):
			return listenerSYNDrops(l) + queueIgnored(l)
		case synQueueDropped(l), hasFinding(l, KindPAWS), hasFindingMode(l, KindEgress, "no_route"):
			return listenerSYNDrops(l)
		}
		return queueIgnored(l)
	}, "every silent drop at a listener", nil},
	{"TcpExtTCPReqQFullDrop", func(l *Listener) int {
		if synQueueDropped(l) {
			return listenerSYNDrops(l)
		}
		return 0
	}, "SYN queue full, syncookies off", nil},
	// tcp_conn_request decides on a cookie (and counts it) before it
	// looks at the accept queue: a SYN dropped there while the SYN queue
	// was full, or cookies forced, counted here too (a flood on a slow
	// application: 347 against 307 cookies and 43 such drops).
	{"TcpExtTCPReqQFullDoCookies", func(l *Listener) int {
		if forcedCookies(l) && hasFinding(l, KindAcceptQueue) {
			return cookieSYNACKs(l) + listenerSYNDrops(l)
		}
		return cookieSYNACKs(l)
	}, "SYN queue full, answered with a syncookie", func(l *Listener) int {
		if !forcedCookies(l) && l.Signs.TrustedCookies() > 0 && hasFinding(l, KindAcceptQueue) {
			return cookiesUnsure(l) + listenerSYNDrops(l)
		}
		return cookiesUnsure(l)
	}},
	{"TcpExtSyncookiesSent", cookieSYNACKs, "syncookie SYN-ACKs", cookiesUnsure},
	{"TcpExtSyncookiesRecv", func(l *Listener) int {
		if forcedCookies(l) {
			return l.Outcomes[Established]
		}
		return l.Signs.CookiesCompleted
	}, "handshakes completed through a cookie", cookiesUnsure},
	{"TcpExtSyncookiesFailed", nil, "ACKs with an invalid cookie: not visible as such in packets", nil},
	{"TcpExtPAWSPassive", func(l *Listener) int { return l.Signs.PAWS.Rejected }, "SYNs rejected for an old timestamp (attempts)", nil},
	{"TcpExtEmbryonicRsts", func(l *Listener) int {
		return l.Outcomes[ResetAfterACK] - l.Signs.AcceptedThenReset + l.Outcomes[ClientReset]
	}, "resets of half-open handshakes", nil},
	{"TcpExtTCPDeferAcceptDrop", func(l *Listener) int { return l.Signs.DeferIgnoredACKs }, "bare ACKs held back by TCP_DEFER_ACCEPT; those followed by data in time leave no trace", nil},
	{"TcpExtTCPSynRetrans", (*Listener).synRetransmitsSeen, "this host's SYN and SYN-ACK retransmissions", nil},
	// A TIME_WAIT's ACK to a SYN it will not reuse moves no counter
	// (testdata/syn-answered-by-ack), a live connection's does: not
	// countable from packets.
	{"TcpExtTCPChallengeACK", nil, "challenge ACKs, all kinds; a TIME_WAIT's ACK to a new SYN is not one of them", nil},
	{"TcpOutRsts", func(l *Listener) int { return l.ServerRSTs }, "resets sent", nil},
	// The kernel made the connections an application reset at once too,
	// and those whose data never reached TCP after it took the ACK.
	{"TcpPassiveOpens", func(l *Listener) int { return l.Outcomes[Established] + l.Signs.AcceptedThenReset + l.Signs.ACKTaken }, "connections accepted by the kernel", nil},
}

// listenerSYNDrops is the SYNs the listener dropped: its clients' that
// the capture shows unanswered, and one a SYN proxy sent for each
// handshake it completed and the listener never answered.
func listenerSYNDrops(l *Listener) int {
	return l.DroppedSYNPackets + l.Outcomes[ProxiedUnanswered]
}

// queueIgnored is the ignored handshake segments the listener's queue
// counted: none when the verdict is that they were dropped before TCP
// (filteredACKsCause), or that the ACKs were taken and the data after
// them dropped.
func queueIgnored(l *Listener) int {
	if v := l.Diagnosis.Verdict; v.Kind == KindFiltered && (v.Mode == "ack_dropped" || v.Mode == "data_dropped") {
		return 0
	}
	return overflowIgnored(l)
}

// overflowIgnored is the ignored handshake segments an overflowing accept
// queue explains: all but the bare ACKs TCP_DEFER_ACCEPT held back.
func overflowIgnored(l *Listener) int {
	return l.IgnoredACKSegments - l.Signs.DeferIgnoredACKs
}

// cookieSYNACKs is the SYN-ACKs that were syncookies. With cookies forced
// (tcp_syncookies=2) every first SYN-ACK is one, though a cookie whose
// timestamp lags the clock by under two ticks looks like any other
// (a fresh forced-cookies run had 1 of 10).
func cookieSYNACKs(l *Listener) int {
	if forcedCookies(l) {
		return l.SYNACKPackets - l.SYNACKRetransmits
	}
	return l.Signs.TrustedCookieSYNACKs()
}

// cookiesUnsureSum is cookiesUnsure over the listeners counted.
func cookiesUnsureSum(r *Result) int64 {
	var n int64
	for i := range r.Listeners {
		if r.Listeners[i].countedHere() {
			n += int64(cookiesUnsure(&r.Listeners[i]))
		}
	}
	return n
}

// cookiesUnsure is the completed attempts of a listener that sent
// cookies whose SYN-ACK may have been one too (Signs.CookieLagUnsure);
// none when cookies were forced (every SYN-ACK is counted then).
func cookiesUnsure(l *Listener) int {
	if l.Signs.TrustedCookies() == 0 || forcedCookies(l) {
		return 0
	}
	return l.Signs.CookieLagUnsure
}

// forcedCookies reports whether the listener's diagnosis found cookies
// forced by configuration.
func forcedCookies(l *Listener) bool {
	for _, f := range l.Diagnosis.Findings {
		if f.Kind == KindSYNQueue && f.Mode == "forced_cookies" {
			return true
		}
	}
	return false
}

// synQueueDropped reports whether the diagnosis found l's SYN queue
// dropping SYNs (syncookies off), not answering with cookies: cookies
// only the counters show (a listener behind a SYN proxy sends them to the
// proxy, off the wire) are cookies too.
func synQueueDropped(l *Listener) bool {
	return anyFinding(l, func(f Finding) bool { return f.Kind == KindSYNQueue && f.Syncookies != nil && !*f.Syncookies })
}

// likelyFinding reports whether l's diagnosis has a finding of kind k
// above low confidence: one the evidence, counters included, does not
// weigh against (testdata/mixed-listeners: the overflows the kernel
// counted are another listener's).
func likelyFinding(l *Listener, k Kind) bool {
	return anyFinding(l, func(f Finding) bool { return f.Kind == k && f.Confidence != Low })
}

// hasFindingMode reports whether l's diagnosis has a finding of kind k
// and mode m.
func hasFindingMode(l *Listener, k Kind, m string) bool {
	return anyFinding(l, func(f Finding) bool { return f.Kind == k && f.Mode == m })
}

func hasFinding(l *Listener, k Kind) bool {
	return anyFinding(l, func(f Finding) bool { return f.Kind == k })
}

// anyFinding reports whether one of l's findings matches.
func anyFinding(l *Listener, match func(Finding) bool) bool {
	return slices.ContainsFunc(l.Diagnosis.Findings, match)
}

// reconcile lists, for each relevant counter the snapshot has, its delta,
// what the capture explains and a note on the difference.
func reconcile(r *Result, h *host.Host) []Reconciliation {
	if !h.HasCounters() {
		return nil
	}
	out := []Reconciliation{}
	for _, c := range reconciled {
		d, ok := h.Deltas[c.name]
		if !ok {
			continue
		}
		rc := Reconciliation{Counter: c.name, Delta: d, Note: c.note}
		if c.explain != nil {
			var sum int64
			for i := range r.Listeners {
				l := &r.Listeners[i]
				explain := c.explain
				switch {
				case l.Front():
					continue // counted at its backend
				case l.outbound && c.name == "TcpExtTCPSynRetrans":
					// The counters' host is its client: the SYNs it sent
					// again count there.
					explain = func(l *Listener) int { return l.clientSYNRetx }
				case l.outbound:
					continue // counted at its server
				}
				if n := int64(explain(l)); n != 0 {
					rc.Shares = append(rc.Shares, CounterShare{Listener: r.Listeners[i].Server, Predicted: n})
					sum += n
				}
			}
			rc.Explained = &sum
			if c.unsure != nil {
				for i := range r.Listeners {
					if r.Listeners[i].countedHere() {
						rc.Unsure += int64(c.unsure(&r.Listeners[i]))
					}
				}
			}
			attribute(&rc)
			switch diff := d - sum; {
			case diff > 0 && diff <= rc.Unsure && c.name == "TcpExtTCPReqQFullDoCookies" && rc.Unsure > cookiesUnsureSum(r):
				lag := cookiesUnsureSum(r)
				rc.Note += prose.Sayf("; %d more than the capture shows: the kernel takes its decision to send a cookie, and counts it, before it looks at the accept queue, so a SYN dropped at a full accept queue while the SYN queue was full counts here too (the capture shows %d SYN{s} dropped on listeners that also sent cookies)", diff, rc.Unsure-lag)
				if lag > 0 {
					rc.Note += prose.Sayf(", and %d completed handshake{s} whose SYN-ACK timestamp lagged the clock by 0 to 2 ticks may have been cookies", lag)
				}
			case diff > 0 && diff <= rc.Unsure:
				rc.Note += prose.Sayf("; %d more than the capture shows: of its %d completed handshake{s} whose SYN-ACK timestamp lagged the clock by 0 to 2 ticks, as a normal one does, %d {was a cookie|were cookies} too (a cookie's lags that little about one time in 21)", diff, rc.Unsure, diff)
			case diff > 0:
				rc.Note += prose.Sayf("; %d not in the capture: other ports, other traffic, or outside the capture window (counters cover the whole host or namespace)", diff)
			case diff < 0:
				rc.Note += prose.Sayf("; the capture shows %d more than the kernel counted: was it taken on another host, or the snapshots at other times?", -diff)
			}
		}
		out = append(out, rc)
	}
	return out
}

// attribute splits rc's delta over its shares: each listener gets what
// its packets predict while the kernel counted at least that much, the
// rest stays unattributed; when the kernel counted less, the delta is
// split in proportion (largest remainders), none left over.
func attribute(rc *Reconciliation) {
	var sum int64
	for _, s := range rc.Shares {
		sum += s.Predicted
	}
	if rc.Delta >= sum {
		for i := range rc.Shares {
			rc.Shares[i].Attributed = rc.Shares[i].Predicted
		}
		rc.Unattributed = rc.Delta - sum
		return
	}
	if rc.Delta <= 0 || sum <= 0 {
		return
	}
	var given int64
	rems := make([]int64, len(rc.Shares))
	for i, s := range rc.Shares {
		rc.Shares[i].Attributed = rc.Delta * s.Predicted / sum
		rems[i] = rc.Delta * s.Predicted % sum
		given += rc.Shares[i].Attributed
	}
	for ; given < rc.Delta; given++ {
		best := 0
		for i := range rems {
			if rems[i] > rems[best] {
				best = i
			}
		}
		rc.Shares[best].Attributed++
		rems[best] = -1
	}
}

// FormatDuration prints a duration with three significant digits, as the
// evidence sentences and the reports show them; from 100 s on, in minutes,
// hours and days ("17m42s", "2h57m", "3d2h", "15m"): "%.3gs" printed a 17-minute
// capture as "1.06e+03s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d.Round(time.Second) < time.Hour:
		d = d.Round(time.Second)
		return orWhole(d/time.Minute, "m", d%time.Minute/time.Second, "%02ds")
	case d.Round(time.Minute) < 24*time.Hour:
		d = d.Round(time.Minute)
		return orWhole(d/time.Hour, "h", d%time.Hour/time.Minute, "%02dm")
	}
	d = d.Round(time.Hour)
	return orWhole(d/(24*time.Hour), "d", d%(24*time.Hour)/time.Hour, "%dh")
}

// orWhole prints n units and then the rest in rest's format ("17m42s"),
// or the units alone when the rest is 0 ("15m", as a bucket width).
func orWhole(n time.Duration, unit string, rest time.Duration, restFormat string) string {
	if rest == 0 {
		return fmt.Sprintf("%d%s", n, unit)
	}
	return fmt.Sprintf("%d%s"+restFormat, n, unit, rest)
}
