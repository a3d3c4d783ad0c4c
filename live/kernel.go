package live

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/reassemble"
	"github.com/synq/synq/report"
)

// KernelSource is where the kernel's drop reports come from: a
// droptrace.Watcher on Linux, a script in tests. Read blocks until the
// next report and fails once Close was called.
type KernelSource interface {
	Read() (kernel.Drop, error)
	Lost() uint64
	Close() error
}

// KernelJoin joins the kernel's drop reports to a run: it wraps the
// Config's OnAttempt hook to match each finished attempt to the reports
// of its packets, gives the per-interval verdict the recent reports, and, after
// Run, attaches each listener's account to the report and diagnoses it
// again with the kernel's word in. Reports are read on a goroutine of
// their own; the lock is the only thing it shares with the session.
type KernelJoin struct {
	src KernelSource

	mu      sync.Mutex
	matcher *kernel.Matcher
	// recent are the reports of the last VerdictWindow or so (bounded:
	// beyond maxRecentSaved the older half goes), for RecentKernel.
	recent []kernel.Drop
	onDrop func(kernel.Drop)
	done   chan struct{}
}

// JoinKernel starts reading src and wraps cfg's OnAttempt. onDrop, if
// set, is told of every report as it arrives (the metrics exporter).
// Call Finish with Run's result, then Close.
func JoinKernel(cfg *Config, src KernelSource, onDrop func(kernel.Drop)) *KernelJoin {
	j := &KernelJoin{src: src, matcher: kernel.NewMatcher(), onDrop: onDrop, done: make(chan struct{})}
	next := cfg.OnAttempt
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.OnAttempt = func(a *reassemble.Attempt) {
		if !a.MidStream {
			// The capture's end only matters to the attempts the end of
			// the run flushes, and for those it is now.
			o := analyze.Classify(a, now().UnixNano())
			j.mu.Lock()
			j.matcher.Attempt(a, o)
			j.mu.Unlock()
		}
		if next != nil {
			next(a)
		}
	}
	cfg.RecentKernel = j.since
	go j.read()
	return j
}

// since is Config.RecentKernel: the reasons of the recent reports, per
// listener. A connection's reports stay while its latest one is at or
// after t, as the verdict window keeps an attempt whole while its last
// packet is in it: the counts then cover the same packets as the
// window's attempts. Older ones are let go (the window only moves on).
func (j *KernelJoin) since(t int64) map[netip.AddrPort]*analyze.KernelDrops {
	j.mu.Lock()
	defer j.mu.Unlock()
	type conn struct{ a, b netip.AddrPort }
	latest := map[conn]int64{}
	for _, d := range j.recent {
		c := conn{d.Src, d.Dst}
		if !d.Inbound {
			c = conn{d.Dst, d.Src}
		}
		latest[c] = max(latest[c], d.Time)
	}
	kept := j.recent[:0]
	counts := map[netip.AddrPort]map[string]int{}
	for _, d := range j.recent {
		c := conn{d.Src, d.Dst}
		if !d.Inbound {
			c = conn{d.Dst, d.Src}
		}
		if latest[c] < t {
			continue
		}
		kept = append(kept, d)
		l := d.Listener()
		if counts[l] == nil {
			counts[l] = map[string]int{}
		}
		counts[l][d.Reason]++
	}
	j.recent = kept
	out := make(map[netip.AddrPort]*analyze.KernelDrops, len(counts))
	for l, rs := range counts {
		k := &analyze.KernelDrops{}
		for r, n := range rs {
			k.Reasons = append(k.Reasons, analyze.ReasonCount{Reason: r, Packets: n})
		}
		slices.SortFunc(k.Reasons, func(a, b analyze.ReasonCount) int { return strings.Compare(a.Reason, b.Reason) })
		out[l] = k
	}
	return out
}

func (j *KernelJoin) read() {
	defer close(j.done)
	for {
		d, err := j.src.Read()
		if err != nil {
			return
		}
		j.mu.Lock()
		j.matcher.Drop(d)
		if len(j.recent) >= maxRecentSaved {
			j.recent = append(j.recent[:0], j.recent[len(j.recent)/2:]...)
		}
		j.recent = append(j.recent, d)
		j.mu.Unlock()
		if j.onDrop != nil {
			j.onDrop(d)
		}
	}
}

// Finish stops reading, matches what is left (every attempt has
// finished when Run returns), gives each listener of in its account and
// diagnoses in again.
func (j *KernelJoin) Finish(in *report.Input) {
	_ = j.src.Close()
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	j.matcher.Finish()
	j.matcher.Attach(&in.Result)
	analyze.Diagnose(&in.Result, in.Host)
	if lost := j.src.Lost(); lost > 0 {
		in.Capture.Warnings = append(in.Capture.Warnings,
			fmt.Sprintf("The kernel's drop reports overflowed their ring: %d reports were lost, so the kernel's counts are lower bounds.", lost))
	}
}

// Close stops reading without a report (after a failed run).
func (j *KernelJoin) Close() {
	_ = j.src.Close()
	<-j.done
}
