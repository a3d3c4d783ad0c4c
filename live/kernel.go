package live

import (
	"fmt"
	"net/netip"
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
// of its packets, counts reports per listener per interval, and, after
// Run, attaches each listener's account to the report and diagnoses it
// again with the kernel's word in. Reports are read on a goroutine of
// their own; the lock is the only thing it shares with the session.
type KernelJoin struct {
	src KernelSource

	mu       sync.Mutex
	matcher  *kernel.Matcher
	interval map[netip.AddrPort]int
	onDrop   func(kernel.Drop)
	done     chan struct{}
}

// JoinKernel starts reading src and wraps cfg's OnAttempt. onDrop, if
// set, is told of every report as it arrives (the metrics exporter).
// Call Finish with Run's result, then Close.
func JoinKernel(cfg *Config, src KernelSource, onDrop func(kernel.Drop)) *KernelJoin {
	j := &KernelJoin{src: src, matcher: kernel.NewMatcher(), interval: map[netip.AddrPort]int{}, onDrop: onDrop, done: make(chan struct{})}
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
	go j.read()
	return j
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
		l := d.Dst
		if !d.Inbound {
			l = d.Src
		}
		j.interval[l]++
		j.mu.Unlock()
		if j.onDrop != nil {
			j.onDrop(d)
		}
	}
}

// TakeInterval returns the reports per listener since the last call.
func (j *KernelJoin) TakeInterval() map[netip.AddrPort]int {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := j.interval
	j.interval = map[netip.AddrPort]int{}
	return out
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
