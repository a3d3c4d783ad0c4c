package kernel

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/reassemble"
)

// matchSlack is how far outside an attempt's first and last packet a
// drop report may fall and still be the attempt's: the report's clock
// is converted from the monotonic clock (a millisecond off at most), and
// the capture's stamps come from the ring (microseconds late under load).
const matchSlack = int64(1e9)

// maxPending bounds the drop reports waiting for their attempt to
// finish; beyond it reports are counted unmatched at once, so a flood of
// drops for connections synq does not follow cannot grow memory.
const maxPending = 200_000

// Matcher joins the kernel's drop reports to synq's attempts: a report
// belongs to the attempt with its 4-tuple whose span holds its time and
// whose sequence space holds its sequence number. Reports arrive before
// their attempt finishes (attempts finish after timeouts), so they wait,
// keyed by 4-tuple, until it does. Not safe for concurrent use: feed it
// from the goroutine that tracks the packets.
type Matcher struct {
	pending   map[flow][]Drop
	nPending  int
	listeners map[netip.AddrPort]*tally
}

type flow struct{ client, server netip.AddrPort }

type tally struct {
	reasons   map[string]int
	attempts  int
	byOutcome map[outcomeReason]*analyze.OutcomeReason
	unmatched int
	examples  []analyze.KernelExample
}

type outcomeReason struct {
	o      analyze.Outcome
	reason string
}

// maxExamples is how many attempts per listener the report names.
const maxExamples = 5

// NewMatcher returns an empty Matcher.
func NewMatcher() *Matcher {
	return &Matcher{pending: map[flow][]Drop{}, listeners: map[netip.AddrPort]*tally{}}
}

// flowOf is the attempt key of a report: the client and the listener.
func flowOf(d *Drop) flow {
	if d.Inbound {
		return flow{client: d.Src, server: d.Dst}
	}
	return flow{client: d.Dst, server: d.Src}
}

func (m *Matcher) tally(server netip.AddrPort) *tally {
	t := m.listeners[server]
	if t == nil {
		t = &tally{reasons: map[string]int{}, byOutcome: map[outcomeReason]*analyze.OutcomeReason{}}
		m.listeners[server] = t
	}
	return t
}

// reasonOf is the name a report counts under: the kernel's reason, marked
// when the packet was the listener's own on its way out (a SYN-ACK an
// output rule dropped proves the opposite of a SYN an input rule did).
func reasonOf(d *Drop) string {
	if d.Inbound {
		return d.Reason
	}
	return d.Reason + analyze.OutboundSuffix
}

// Drop takes one report. Every report counts toward its listener's
// reasons at once; matching to an attempt waits for the attempt.
func (m *Matcher) Drop(d Drop) {
	f := flowOf(&d)
	t := m.tally(f.server)
	t.reasons[reasonOf(&d)]++
	if m.nPending >= maxPending {
		t.unmatched++
		return
	}
	m.pending[f] = append(m.pending[f], d)
	m.nPending++
}

// Attempt matches the waiting reports of a finished attempt with the
// outcome synq gave it, and returns the reasons of the attempt's packets
// by name (nil when the kernel dropped none of them).
func (m *Matcher) Attempt(a *reassemble.Attempt, o analyze.Outcome) []analyze.ReasonCount {
	f := flow{client: a.Client, server: a.Server}
	ds, ok := m.pending[f]
	if !ok {
		return nil
	}
	var mine map[string]int
	kept := ds[:0]
	for _, d := range ds {
		if belongs(&d, a) {
			if mine == nil {
				mine = map[string]int{}
			}
			mine[reasonOf(&d)]++
			continue
		}
		kept = append(kept, d)
	}
	m.nPending -= len(ds) - len(kept)
	if len(kept) == 0 {
		delete(m.pending, f)
	} else {
		m.pending[f] = kept
	}
	if mine == nil {
		return nil
	}
	t := m.tally(a.Server)
	t.attempts++
	reasons := make([]string, 0, len(mine))
	for r := range mine {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	out := make([]analyze.ReasonCount, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, analyze.ReasonCount{Reason: r, Packets: mine[r]})
		k := outcomeReason{o, r}
		x := t.byOutcome[k]
		if x == nil {
			x = &analyze.OutcomeReason{Outcome: o, Reason: r}
			t.byOutcome[k] = x
		}
		x.Packets += mine[r]
		x.Attempts++
		if len(t.examples) < maxExamples {
			t.examples = append(t.examples, analyze.KernelExample{Client: a.Client.String(), Outcome: o, Reason: r, Packets: mine[r]})
		}
	}
	return out
}

// belongs reports whether a drop report is of attempt a: within its span
// and, where the attempt knows the sender's ISN, in its sequence space.
func belongs(d *Drop, a *reassemble.Attempt) bool {
	if d.Time < a.FirstPacket-matchSlack || d.Time > a.LastPacket+matchSlack {
		return false
	}
	if d.Inbound {
		return d.Seq-a.ClientISN < 1<<31
	}
	if a.HasServerISN {
		return d.Seq-a.ServerISN < 1<<31
	}
	return true
}

// Finish counts the reports still waiting as unmatched: every attempt
// has finished (the tracker was flushed).
func (m *Matcher) Finish() {
	for f, ds := range m.pending {
		m.tally(f.server).unmatched += len(ds)
	}
	clear(m.pending)
	m.nPending = 0
}

// Listeners returns the listeners with reports, in address order.
func (m *Matcher) Listeners() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(m.listeners))
	for l := range m.listeners {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// For is what the kernel reported for one listener: an empty account
// (no drops) when it reported nothing, never nil, since the kernel was
// asked.
func (m *Matcher) For(server netip.AddrPort) *analyze.KernelDrops {
	k := &analyze.KernelDrops{Reasons: []analyze.ReasonCount{}, ByOutcome: []analyze.OutcomeReason{}, Examples: []analyze.KernelExample{}}
	t := m.listeners[server]
	if t == nil {
		return k
	}
	for r, n := range t.reasons {
		k.Reasons = append(k.Reasons, analyze.ReasonCount{Reason: r, Packets: n})
	}
	slices.SortFunc(k.Reasons, func(a, b analyze.ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Reason, b.Reason))
	})
	for _, x := range t.byOutcome {
		k.ByOutcome = append(k.ByOutcome, *x)
	}
	slices.SortFunc(k.ByOutcome, func(a, b analyze.OutcomeReason) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.Reason, b.Reason))
	})
	k.Attempts, k.Unmatched = t.attempts, t.unmatched
	k.Examples = append(k.Examples, t.examples...)
	return k
}

// Attach gives every listener of r the kernel's account of it. Call it
// after Finish and before analyze.Diagnose.
func (m *Matcher) Attach(r *analyze.Result) {
	for i := range r.Listeners {
		r.Listeners[i].Kernel = m.For(r.Listeners[i].Server)
	}
}
