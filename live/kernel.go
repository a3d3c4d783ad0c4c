package live

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/reassemble"
)

// KernelSource is where the kernel's drop reports come from: a
// droptrace.Watcher on Linux, a script in tests. Read blocks until the
// next report and fails once Close was called. Flush makes Read return
// the reports already buffered, then kernel.ErrFlushed once.
type KernelSource interface {
	Read() (kernel.Drop, error)
	Flush() error
	Lost() uint64
	Close() error
}

// flushWait bounds how long the end of a run waits for the kernel's
// buffered reports: they are in memory already, so this is only a guard
// against a source that never answers a flush.
const flushWait = time.Second

// kernelJoin joins the kernel's drop reports to a run. Reports are read
// on a goroutine of their own; the lock is the only thing it shares with
// the session, which matches each finished attempt (attempt), asks for
// the recent reports (since) and, at the end, drains the source (flush)
// before the tracker's last attempts, then attaches the accounts
// (finish).
type kernelJoin struct {
	src    KernelSource
	onDrop func(kernel.Drop)

	mu      sync.Mutex
	matcher *kernel.Matcher
	// recent are the reports of the last VerdictWindow or so (bounded:
	// beyond maxRecentSaved the older half goes), for since.
	recent []kernel.Drop
	// flushed is signalled when Read reports kernel.ErrFlushed.
	flushed chan struct{}
	done    chan struct{}
	closed  bool
}

func startKernelJoin(src KernelSource, onDrop func(kernel.Drop)) *kernelJoin {
	j := &kernelJoin{src: src, onDrop: onDrop, matcher: kernel.NewMatcher(),
		flushed: make(chan struct{}, 1), done: make(chan struct{})}
	go j.read()
	return j
}

func (j *kernelJoin) read() {
	defer close(j.done)
	for {
		d, err := j.src.Read()
		if errors.Is(err, kernel.ErrFlushed) {
			select {
			case j.flushed <- struct{}{}:
			default:
			}
			continue
		}
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

// attempt matches a finished attempt (with the outcome synq gave it) to
// the reports waiting for it, and returns the reasons of its packets:
// never nil, since the kernel was asked (empty: it dropped none).
func (j *kernelJoin) attempt(a *reassemble.Attempt, o analyze.Outcome) []analyze.ReasonCount {
	j.mu.Lock()
	defer j.mu.Unlock()
	rs := j.matcher.Attempt(a, o)
	if rs == nil {
		rs = []analyze.ReasonCount{}
	}
	return rs
}

// since is the reasons of the recent reports, per listener, for the
// per-interval verdict. A connection's reports stay while its latest one
// is at or after t, as the verdict window keeps an attempt whole while
// its last packet is in it: the counts then cover the same packets as
// the window's attempts. Older ones are let go (the window only moves
// on).
func (j *kernelJoin) since(t int64) map[netip.AddrPort]*analyze.KernelDrops {
	j.mu.Lock()
	defer j.mu.Unlock()
	type conn struct{ a, b netip.AddrPort }
	connOf := func(d *kernel.Drop) conn {
		if d.Inbound {
			return conn{d.Src, d.Dst}
		}
		return conn{d.Dst, d.Src}
	}
	latest := map[conn]int64{}
	for i := range j.recent {
		c := connOf(&j.recent[i])
		latest[c] = max(latest[c], j.recent[i].Time)
	}
	kept := j.recent[:0]
	counts := map[netip.AddrPort]map[string]int{}
	for _, d := range j.recent {
		if latest[connOf(&d)] < t {
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

// flush waits until the reports the kernel had buffered are read, so
// that the attempts the end of the run finishes find theirs. Called
// after the capture's last frames were read: every drop of those packets
// has been reported by then.
func (j *kernelJoin) flush() {
	if err := j.src.Flush(); err != nil {
		return
	}
	select {
	case <-j.flushed:
	case <-j.done:
	case <-time.After(flushWait):
	}
}

// finish stops reading, counts the reports no attempt took as unmatched
// and gives every listener of res its account; it returns a warning when
// the kernel's ring lost reports.
func (j *kernelJoin) finish(res *analyze.Result) (warning string) {
	j.close()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.matcher.Finish()
	j.matcher.Attach(res)
	if lost := j.src.Lost(); lost > 0 {
		return fmt.Sprintf("The kernel's drop reports overflowed their ring: %d reports were lost, so the kernel's counts are lower bounds.", lost)
	}
	return ""
}

// close stops reading (once).
func (j *kernelJoin) close() {
	if j.closed {
		return
	}
	j.closed = true
	_ = j.src.Close()
	<-j.done
}
