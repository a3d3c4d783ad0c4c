package analyze

import (
	"fmt"
	"time"

	"github.com/synq/synq/host"
)

// Reconciliation compares one kernel counter's increase with what the
// capture accounts for.
type Reconciliation struct {
	Counter string
	Delta   int64
	// Explained is what the capture accounts for; nil when synq cannot
	// count it from packets.
	Explained *int64
	Note      string
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
	explain func(r *Result) *int64
	note    string
}{
	{"TcpExtListenOverflows", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int {
			if hasFinding(l, KindAcceptQueue) {
				return l.DroppedSYNPackets + overflowIgnored(l)
			}
			return overflowIgnored(l)
		})
	}, "accept queue full: SYNs dropped and handshake segments ignored"},
	{"TcpExtListenDrops", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int {
			switch {
			case hasFinding(l, KindAcceptQueue):
				return l.DroppedSYNPackets + overflowIgnored(l)
			case hasFinding(l, KindSYNQueue) && l.Signs.CookieAttempts == 0, hasFinding(l, KindPAWS):
				return l.DroppedSYNPackets
			}
			return overflowIgnored(l)
		})
	}, "every silent drop at a listener"},
	{"TcpExtTCPReqQFullDrop", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int {
			if hasFinding(l, KindSYNQueue) && l.Signs.CookieAttempts == 0 {
				return l.DroppedSYNPackets
			}
			return 0
		})
	}, "SYN queue full, syncookies off"},
	{"TcpExtTCPReqQFullDoCookies", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Signs.SyncookieSYNACKs })
	}, "SYN queue full, answered with a syncookie"},
	{"TcpExtSyncookiesSent", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Signs.SyncookieSYNACKs })
	}, "syncookie SYN-ACKs"},
	{"TcpExtSyncookiesRecv", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Signs.CookiesCompleted })
	}, "handshakes completed through a cookie"},
	{"TcpExtSyncookiesFailed", nil, "ACKs with an invalid cookie: not visible as such in packets"},
	{"TcpExtPAWSPassive", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Signs.PAWS.Rejected })
	}, "SYNs rejected for an old timestamp (attempts)"},
	{"TcpExtEmbryonicRsts", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Outcomes[ResetAfterACK] + l.Outcomes[ClientReset] })
	}, "resets of half-open handshakes"},
	{"TcpExtTCPDeferAcceptDrop", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Signs.DeferIgnoredACKs })
	}, "bare ACKs held back by TCP_DEFER_ACCEPT; those followed by data in time leave no trace"},
	{"TcpExtTCPSynRetrans", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.SYNACKRetransmits })
	}, "this host's SYN and SYN-ACK retransmissions"},
	// A TIME_WAIT's ACK to a SYN it will not reuse moves no counter
	// (testdata/syn-answered-by-ack), a live connection's does: not
	// countable from packets.
	{"TcpExtTCPChallengeACK", nil, "challenge ACKs, all kinds; a TIME_WAIT's ACK to a new SYN is not one of them"},
	{"TcpOutRsts", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.ServerRSTs })
	}, "resets sent"},
	{"TcpPassiveOpens", func(r *Result) *int64 {
		return sumListeners(r, func(l *Listener) int { return l.Outcomes[Established] })
	}, "connections accepted by the kernel"},
}

// overflowIgnored is the ignored handshake segments an overflowing accept
// queue explains: all but the bare ACKs TCP_DEFER_ACCEPT held back.
func overflowIgnored(l *Listener) int {
	return l.IgnoredACKSegments - l.Signs.DeferIgnoredACKs
}

func sumListeners(r *Result, f func(l *Listener) int) *int64 {
	var n int64
	for i := range r.Listeners {
		n += int64(f(&r.Listeners[i]))
	}
	return &n
}

func hasFinding(l *Listener, k Kind) bool {
	for _, f := range l.Diagnosis.Findings {
		if f.Kind == k {
			return true
		}
	}
	return false
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
			rc.Explained = c.explain(r)
			switch diff := d - *rc.Explained; {
			case diff > 0:
				rc.Note += fmt.Sprintf("; %d not in the capture: other ports, other traffic, or outside the capture window (counters cover the whole host or namespace)", diff)
			case diff < 0:
				rc.Note += fmt.Sprintf("; the capture shows %d more than the kernel counted: was it taken on another host, or the snapshots at other times?", -diff)
			}
		}
		out = append(out, rc)
	}
	return out
}

// FormatDuration prints a duration with three significant digits, as the
// evidence sentences and the reports show them.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
