package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/synq/synq/reassemble"
)

// OutcomeCounts counts attempts per outcome, indexed by Outcome.
type OutcomeCounts [numOutcomes]int

// Failed sums the failed outcomes.
func (c *OutcomeCounts) Failed() int {
	n := 0
	for o, v := range c {
		if Outcome(o).Failed() {
			n += v
		}
	}
	return n
}

// Listener aggregates the attempts to one server address and port.
type Listener struct {
	Server   netip.AddrPort
	Attempts int // handshake attempts (mid-stream connections excluded)
	Outcomes OutcomeCounts

	SYNPackets         int
	DroppedSYNPackets  int
	SYNACKPackets      int
	SYNACKRetransmits  int
	IgnoredACKSegments int
	ServerRSTs         int
	ClientRSTs         int
	// MidStream counts connections first seen without a SYN.
	MidStream int

	// Handshake is the first SYN to the client's handshake ACK, over the
	// attempts that completed it; HandshakeN is how many those were.
	HandshakeP50, HandshakeP99 time.Duration
	HandshakeN                 int

	// FirstFailure and LastFailure bound the failed attempts in time
	// (first packet of the earliest, last packet of the latest); zero
	// when there were none.
	FirstFailure, LastFailure int64

	handshake histogram
}

// Client aggregates one client address over all listeners.
type Client struct {
	Addr     netip.Addr
	Attempts int
	Outcomes OutcomeCounts
}

// Result is the outcome of an analysis.
type Result struct {
	Listeners []Listener // most failed attempts first
	// WorstClients are the clients with the most failed attempts (at most
	// MaxWorstClients, only clients with a failure).
	WorstClients []Client
	// ClientsOverflow is set when more distinct clients were seen than
	// MaxTrackedClients: WorstClients then covers only the first ones.
	ClientsOverflow bool
	Totals          OutcomeCounts
	Attempts        int
	MidStream       int
}

const (
	// MaxWorstClients is how many clients Result.WorstClients lists.
	MaxWorstClients = 10
	// MaxTrackedClients bounds the per-client table under a flood of
	// spoofed sources.
	MaxTrackedClients = 1 << 16
)

// Aggregator collects attempts as the tracker finishes them.
type Aggregator struct {
	// CaptureEnd is the capture's last timestamp. Set it before the
	// tracker's Flush: attempts cut by the end of the capture are judged
	// against it.
	CaptureEnd int64
	// OnAttempt, when set, sees every attempt with its outcome (for
	// per-connection export). The attempt is only valid during the call.
	OnAttempt func(a *reassemble.Attempt, o Outcome)

	listeners map[netip.AddrPort]*Listener
	clients   map[netip.Addr]*Client
	overflow  bool
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{
		listeners: make(map[netip.AddrPort]*Listener),
		clients:   make(map[netip.Addr]*Client),
	}
}

// Add takes one finished attempt. Use it as the tracker's emit function.
func (g *Aggregator) Add(a *reassemble.Attempt) {
	l := g.listeners[a.Server]
	if l == nil {
		l = &Listener{Server: a.Server}
		g.listeners[a.Server] = l
	}
	l.ServerRSTs += a.ServerRSTs
	l.ClientRSTs += a.ClientRSTs
	if a.MidStream {
		l.MidStream++
		return
	}
	o := Classify(a, g.CaptureEnd)
	if g.OnAttempt != nil {
		g.OnAttempt(a, o)
	}
	l.Attempts++
	l.Outcomes[o]++
	l.SYNPackets += a.SYNs
	l.DroppedSYNPackets += a.DroppedSYNs
	l.SYNACKPackets += a.SYNACKs
	l.SYNACKRetransmits += a.SYNACKRetransmits
	l.IgnoredACKSegments += a.IgnoredSegments
	if a.ClientAcked && a.SYNs > 0 {
		l.handshake.add(time.Duration(a.FirstACK - a.FirstSYN))
	}
	if o.Failed() {
		if l.FirstFailure == 0 || a.FirstPacket < l.FirstFailure {
			l.FirstFailure = a.FirstPacket
		}
		if a.LastPacket > l.LastFailure {
			l.LastFailure = a.LastPacket
		}
	}
	c := g.clients[a.Client.Addr()]
	if c == nil {
		if len(g.clients) >= MaxTrackedClients {
			g.overflow = true
			return
		}
		c = &Client{Addr: a.Client.Addr()}
		g.clients[c.Addr] = c
	}
	c.Attempts++
	c.Outcomes[o]++
}

// Result summarises everything added so far, in a deterministic order.
func (g *Aggregator) Result() Result {
	var r Result
	for _, l := range g.listeners {
		cp := *l
		if p50, ok := l.handshake.quantile(0.5); ok {
			cp.HandshakeP50 = p50
			cp.HandshakeP99, _ = l.handshake.quantile(0.99)
			cp.HandshakeN = int(l.handshake.n)
		}
		cp.handshake = histogram{}
		r.Listeners = append(r.Listeners, cp)
		r.Attempts += l.Attempts
		r.MidStream += l.MidStream
		for o, v := range l.Outcomes {
			r.Totals[o] += v
		}
	}
	slices.SortFunc(r.Listeners, func(a, b Listener) int {
		return cmp.Or(
			cmp.Compare(b.Outcomes.Failed(), a.Outcomes.Failed()),
			cmp.Compare(b.Attempts, a.Attempts),
			a.Server.Compare(b.Server),
		)
	})
	for _, c := range g.clients {
		if c.Outcomes.Failed() > 0 {
			r.WorstClients = append(r.WorstClients, *c)
		}
	}
	slices.SortFunc(r.WorstClients, func(a, b Client) int {
		return cmp.Or(
			cmp.Compare(b.Outcomes.Failed(), a.Outcomes.Failed()),
			cmp.Compare(b.Attempts, a.Attempts),
			a.Addr.Compare(b.Addr),
		)
	})
	if len(r.WorstClients) > MaxWorstClients {
		r.WorstClients = r.WorstClients[:MaxWorstClients]
	}
	r.ClientsOverflow = g.overflow
	return r
}
