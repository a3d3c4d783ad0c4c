package analyze

import (
	"net/netip"
	"slices"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
)

// markOutbound sets Listener.outbound on the listeners whose client, not
// server, the counters' host is. A reverse proxy or load balancer
// captured on its own host serves its clients on one listener and
// connects to its backends, which the capture shows as listeners whose
// every attempt came from the proxy's address. The proxy's counters
// count those connects (TcpActiveOpens, in tcp_connect) and the SYNs it
// sent again (TcpExtTCPSynRetrans), never the backends' queues: read as
// the backends' server counters, a backend's full accept queue was ruled
// out by a ListenOverflows that did not move, or the counters were set
// aside for all listeners because TcpPassiveOpens counted only the
// proxy's own.
//
// A listener is outbound when its one source address X serves another
// listener in the capture, and the counters read as X's explain more of
// what they counted than any other such address's would: X's connects
// to them and their SYNs sent again, X's own listeners' connections
// (TcpPassiveOpens), none of it more than the kernel counted. Where
// every client is another listener's server (a lab's two namespaces, or
// two proxies in a row), the counters pick the side.
func markOutbound(r *Result, h *host.Host) {
	for i := range r.Listeners {
		r.Listeners[i].outbound = false
	}
	if !h.HasCounters() {
		return
	}
	servers := map[netip.Addr]bool{}
	for i := range r.Listeners {
		if l := &r.Listeners[i]; !l.Front() {
			servers[l.Server.Addr()] = true
		}
	}
	var hosts []netip.Addr
	for i := range r.Listeners {
		l := &r.Listeners[i]
		x := l.Signs.OnlySource
		if l.Front() || !x.IsValid() || x == l.Server.Addr() || !servers[x] || l.Signs.SameHost {
			continue
		}
		if !slices.Contains(hosts, x) {
			hosts = append(hosts, x)
		}
	}
	slices.SortFunc(hosts, netip.Addr.Compare)
	best, bestScore, tie := netip.Addr{}, -1, false
	for _, x := range hosts {
		if score, ok := countersOf(r, h, x); ok {
			switch {
			case score > bestScore:
				best, bestScore, tie = x, score, false
			case score == bestScore:
				tie = true
			}
		}
	}
	if !best.IsValid() || tie {
		return
	}
	for i := range r.Listeners {
		l := &r.Listeners[i]
		if !l.Front() && l.Signs.OnlySource == best && l.Server.Addr() != best && !l.Signs.SameHost {
			l.outbound = true
		}
	}
}

// countersOf reads the counters as those of the host at x, the client of
// the listeners whose only source it is: whether they count no less
// than that predicts, and how much of it.
func countersOf(r *Result, h *host.Host, x netip.Addr) (score int, ok bool) {
	connects, retx, took := 0, 0, 0
	for i := range r.Listeners {
		l := &r.Listeners[i]
		switch {
		case l.Front():
		case l.Signs.OnlySource == x && l.Server.Addr() != x && !l.Signs.SameHost:
			connects += l.Attempts
			retx += l.clientSYNRetx
		default:
			took += l.ServerTook + l.TookUnseen
		}
	}
	covers := func(name string, n int) bool {
		d, ok := h.Deltas[name]
		return ok && int(d)+coverageSlack(n) >= n
	}
	if !covers("TcpActiveOpens", connects) || !covers("TcpPassiveOpens", took) ||
		(retx > 0 && !covers("TcpExtTCPSynRetrans", retx)) {
		return 0, false
	}
	return connects + retx + took, true
}

// outboundNote says whose the counters are for an outbound listener, and
// where its server's are.
func outboundNote(l *Listener, h *host.Host) string {
	active := h.Deltas["TcpActiveOpens"]
	retx := ""
	if l.clientSYNRetx > 0 {
		retx = prose.Sayf(", TcpExtTCPSynRetrans %d the %d SYN{s} it sent again", h.Deltas["TcpExtTCPSynRetrans"], l.clientSYNRetx)
	}
	return prose.Sayf("The kernel counters given are %s's, this listener's client (every attempt came from it, and it serves a listener in the capture): TcpActiveOpens %d counts its %d connect{s}%s. They say nothing of %s's queues, so they were not used here; take nstat -az before and after on the host of %s (in its network namespace).",
		l.Signs.OnlySource, active, l.Attempts, retx, l.Server.Addr(), l.Server)
}
