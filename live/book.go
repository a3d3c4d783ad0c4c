package live

import (
	"net/netip"
	"slices"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
)

// book keeps the per-listener counts of the current interval, and the
// drop totals that let each interval count the drops that became known
// in it.
//
// Attempts finish long after their drops (the tracker keeps an attempt
// until it has been idle for over two minutes), so counting drops as
// attempts finish showed nothing during an overflow. Instead, at each
// interval's end, a listener's drops so far are those of its finished
// attempts plus those of its attempts in flight as far as they are known
// (reassemble.Unsettled, AnswerWindow); the interval counts what that
// total rose above the highest it has been. The total can fall back (a
// SYN judged dropped that was answered after all); keeping to its
// highest counts every drop once over the run.
type book struct {
	rows  map[netip.AddrPort]*rowCounts
	drops map[netip.AddrPort]*dropTotals
}

type rowCounts struct {
	syns, droppedSYNs, ignoredACKs int
	acceptQ, acceptLimit, synRecv  int
	sampled                        bool
}

type dropTotals struct {
	finishedSYNs, finishedIgnored int // of the attempts finished so far
	inFlightSYNs, inFlightIgnored int // of those in flight, at this interval's end
	countedSYNs, countedIgnored   int // in the intervals so far
}

func newBook() *book {
	return &book{rows: map[netip.AddrPort]*rowCounts{}, drops: map[netip.AddrPort]*dropTotals{}}
}

func (b *book) row(l netip.AddrPort) *rowCounts {
	x := b.rows[l]
	if x == nil {
		x = &rowCounts{}
		b.rows[l] = x
	}
	return x
}

func (b *book) totals(l netip.AddrPort) *dropTotals {
	d := b.drops[l]
	if d == nil {
		d = &dropTotals{}
		b.drops[l] = d
	}
	return d
}

// packet counts a client SYN toward its listener.
func (b *book) packet(p *capture.Packet) {
	if p.Flags&(capture.FlagSYN|capture.FlagACK|capture.FlagRST) == capture.FlagSYN {
		b.row(p.Dst).syns++
	}
}

// finished books a finished attempt's drops.
func (b *book) finished(a *reassemble.Attempt) {
	if a.DroppedSYNs == 0 && a.IgnoredSegments == 0 {
		return
	}
	d := b.totals(a.Server)
	d.finishedSYNs += a.DroppedSYNs
	d.finishedIgnored += a.IgnoredSegments
}

// inFlight books the drops known so far of an attempt in flight at the
// interval's end, now: what InFlight settled only because it judges the
// attempt as if the capture ended counts once it has waited AnswerWindow.
func (b *book) inFlight(a *reassemble.Attempt, u reassemble.Unsettled, now int64) {
	syns, ignored := a.DroppedSYNs, a.IgnoredSegments
	cutoff := now - int64(AnswerWindow)
	if u.SYN && a.LastSYN > cutoff {
		syns--
	}
	if u.Segments > 0 && u.SegmentsTime > cutoff {
		ignored -= u.Segments
	}
	if syns == 0 && ignored == 0 {
		return
	}
	d := b.totals(a.Server)
	d.inFlightSYNs += syns
	d.inFlightIgnored += ignored
}

// queues keeps the largest queue lengths per listener. A sample of a
// wildcard listener (0.0.0.0:80) goes to the rows of that port seen in
// the capture, or to a row of its own.
func (b *book) queues(qs []host.QueueSample) {
	for _, q := range qs {
		matched := false
		for l, x := range b.rows {
			if l.Port() == q.Listener.Port() && (q.Listener.Addr().IsUnspecified() || l.Addr() == q.Listener.Addr()) {
				x.addQueue(q)
				matched = true
			}
		}
		if !matched {
			b.row(q.Listener).addQueue(q)
		}
	}
}

func (x *rowCounts) addQueue(q host.QueueSample) {
	x.sampled = true
	x.acceptQ = max(x.acceptQ, q.AcceptQueue)
	x.acceptLimit = max(x.acceptLimit, q.AcceptLimit)
	x.synRecv = max(x.synRecv, q.SynRecv)
}

// take ends the interval: it counts the drops that became known (the
// attempts in flight must have been booked with inFlight just before),
// returns the rows in a stable order and starts the next interval
// (listeners stay, with zero counts).
func (b *book) take() []Row {
	for l, d := range b.drops {
		syns, ignored := d.finishedSYNs+d.inFlightSYNs, d.finishedIgnored+d.inFlightIgnored
		d.inFlightSYNs, d.inFlightIgnored = 0, 0
		if syns <= d.countedSYNs && ignored <= d.countedIgnored {
			continue
		}
		x := b.row(l)
		if syns > d.countedSYNs {
			x.droppedSYNs += syns - d.countedSYNs
			d.countedSYNs = syns
		}
		if ignored > d.countedIgnored {
			x.ignoredACKs += ignored - d.countedIgnored
			d.countedIgnored = ignored
		}
	}
	out := make([]Row, 0, len(b.rows))
	ports := map[uint16]int{}
	for l := range b.rows {
		ports[l.Port()]++
	}
	for l, x := range b.rows {
		// A wildcard listener's own row is only needed while no
		// traffic named the address it answers on.
		if !(l.Addr().IsUnspecified() && ports[l.Port()] > 1 && x.syns == 0 && x.droppedSYNs == 0 && x.ignoredACKs == 0) {
			out = append(out, Row{Listener: l, SYNs: x.syns, DroppedSYNs: x.droppedSYNs, IgnoredACKs: x.ignoredACKs,
				Sampled: x.sampled, AcceptQueue: x.acceptQ, AcceptLimit: x.acceptLimit, SynRecv: x.synRecv})
		}
		*x = rowCounts{}
	}
	slices.SortFunc(out, func(a, b Row) int {
		if c := int(a.Listener.Port()) - int(b.Listener.Port()); c != 0 {
			return c
		}
		return a.Listener.Addr().Compare(b.Listener.Addr())
	})
	return out
}
