package live

import (
	"net/netip"
	"slices"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
)

// book keeps the per-listener counts of the current interval.
type book struct {
	rows map[netip.AddrPort]*rowCounts
}

type rowCounts struct {
	syns, droppedSYNs, ignoredACKs int
	acceptQ, acceptLimit, synRecv  int
	sampled                        bool
}

func newBook() *book { return &book{rows: map[netip.AddrPort]*rowCounts{}} }

func (b *book) row(l netip.AddrPort) *rowCounts {
	x := b.rows[l]
	if x == nil {
		x = &rowCounts{}
		b.rows[l] = x
	}
	return x
}

// packet counts a client SYN toward its listener.
func (b *book) packet(p *capture.Packet) {
	if p.Flags&(capture.FlagSYN|capture.FlagACK|capture.FlagRST) == capture.FlagSYN {
		b.row(p.Dst).syns++
	}
}

// finished counts a finished attempt's drops.
func (b *book) finished(a *reassemble.Attempt) {
	if a.DroppedSYNs == 0 && a.IgnoredSegments == 0 {
		return
	}
	x := b.row(a.Server)
	x.droppedSYNs += a.DroppedSYNs
	x.ignoredACKs += a.IgnoredSegments
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

// take returns the interval's rows in a stable order and starts the next
// interval (listeners stay, with zero counts).
func (b *book) take() []Row {
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
