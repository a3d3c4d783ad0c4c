package live

import (
	"net/netip"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
)

// maxRecentSaved bounds the attempts kept for the per-interval verdict:
// beyond it the oldest half goes.
const maxRecentSaved = 50_000

// recentAttempts keeps copies of the attempts finished lately, for the
// per-interval verdict.
type recentAttempts struct {
	buf []reassemble.Attempt
}

func (r *recentAttempts) add(a *reassemble.Attempt) {
	if len(r.buf) >= maxRecentSaved {
		r.buf = append(r.buf[:0], r.buf[len(r.buf)/2:]...)
	}
	r.buf = append(r.buf, *a)
}

// expire drops attempts whose last packet is before t.
func (r *recentAttempts) expire(t int64) {
	kept := r.buf[:0]
	for _, a := range r.buf {
		if a.LastPacket >= t {
			kept = append(kept, a)
		}
	}
	r.buf = kept
}

// verdicts diagnoses what is happening now from res (the attempts of the
// verdict window and those in flight) and h, the host's evidence with the
// queue samples of the window: a queue that was full ten minutes ago says
// nothing about now, and one full in the last seconds is decisive now,
// whatever the attempts show.
func verdicts(res *analyze.Result, h *host.Host, window time.Duration) map[netip.AddrPort]Verdict {
	analyze.Diagnose(res, h)
	secs := min(window, VerdictWindow).Seconds()
	out := make(map[netip.AddrPort]Verdict, len(res.Listeners))
	for _, l := range res.Listeners {
		out[l.Server] = Verdict{Kind: l.Diagnosis.Verdict.Kind, Cookies: float64(l.Signs.SyncookieSYNACKs) / secs}
	}
	return out
}

// hostEvidence is the host evidence of a live run so far, built as synq
// analyze builds it from files; rounds is how many times the queues were
// sampled (peaks lists only the sockets found).
func hostEvidence(before, after host.Counters, sysctls map[string]string, peaks []host.QueuePeak, rounds int) *host.Host {
	h, err := host.NewHost(host.HostInput{
		Snapshots: []host.Snapshot{{Counters: before}, {Counters: after}},
		Sysctls:   sysctls, Queues: peaks, QueueSamples: rounds,
	})
	if err != nil {
		// Read from /proc a moment apart, a counter cannot go down;
		// if one did (a namespace change under us), no counters beat
		// wrong ones.
		return &host.Host{Sysctls: sysctls, Queues: peaks, QueueSamples: rounds}
	}
	return h
}
