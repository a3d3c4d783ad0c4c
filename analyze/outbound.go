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
// A listener is outbound when its one source address X may be the
// counters' host, and the counters read as X's explain more of what they
// counted than any other such address's would: X's connects to them and
// their SYNs sent again, the other listeners' connections
// (TcpPassiveOpens), none of it more than the kernel counted. X may be
// the counters' host when it serves another listener in the capture (a
// proxy), or when the listener was captured on its client's side or at
// no measurable distance from either end (a load balancer's host,
// captured with 'port 8080' on its backends): there only while the listen
// counters do not count the listener's drops, which would make them its
// server's. Where every client is another listener's server (a lab's two
// namespaces, two proxies in a row), the counters pick the side; where
// they explain as much either way (two services calling each other),
// the handshake gaps do.
func markOutbound(r *Result, h *host.Host) {
	for i := range r.Listeners {
		r.Listeners[i].outbound = false
	}
	if !h.HasCounters() {
		return
	}
	servers := servedAddrs(r)
	var hosts []netip.Addr
	for i := range r.Listeners {
		l := &r.Listeners[i]
		if x := l.Signs.OnlySource; mayBeClientOf(l, x, servers) && !slices.Contains(hosts, x) {
			hosts = append(hosts, x)
		}
	}
	slices.SortFunc(hosts, netip.Addr.Compare)
	var best []netip.Addr
	bestScore := -1
	for _, x := range hosts {
		if score, ok := countersOf(r, h, x, servers); ok {
			switch {
			case score > bestScore:
				best, bestScore = []netip.Addr{x}, score
			case score == bestScore:
				best = append(best, x)
			}
		}
	}
	if len(best) > 1 {
		// Two services calling each other explain the counters alike
		// read as either's: the one captured at its server is the
		// capturing host.
		best = slices.DeleteFunc(best, func(x netip.Addr) bool { return seenAtServer(r, x, servers) })
	}
	if len(best) != 1 {
		return
	}
	for i := range r.Listeners {
		if l := &r.Listeners[i]; mayBeClientOf(l, best[0], servers) {
			l.outbound = true
		}
	}
}

// servedAddrs is the server addresses of the capture's listeners.
func servedAddrs(r *Result) map[netip.Addr]bool {
	servers := map[netip.Addr]bool{}
	for i := range r.Listeners {
		if l := &r.Listeners[i]; !l.Front() {
			servers[l.Server.Addr()] = true
		}
	}
	return servers
}

// mayBeClientOf reports whether x, l's only source, may be the host the
// counters were taken on: it serves a listener in the capture, or l was
// captured on its client's side or where no path delay tells.
func mayBeClientOf(l *Listener, x netip.Addr, servers map[netip.Addr]bool) bool {
	if l.Front() || !x.IsValid() || l.Signs.OnlySource != x || x == l.Server.Addr() || l.Signs.SameHost {
		return false
	}
	switch l.Signs.Vantage {
	case VantageClient, VantageUnknown, "":
		return true
	}
	return servers[x]
}

// seenAtServer reports whether one of the listeners x may be the client
// of was captured at its server, as its handshake gaps measure it: where
// two readings of the counters tie, not x's. The gaps are no proof (a
// capture kept to SYNs, FINs and resets measures a FIN as the handshake's
// ACK), so they only break ties.
func seenAtServer(r *Result, x netip.Addr, servers map[netip.Addr]bool) bool {
	for i := range r.Listeners {
		if l := &r.Listeners[i]; mayBeClientOf(l, x, servers) && l.Signs.Vantage == VantageServer {
			return true
		}
	}
	return false
}

// countersOf reads the counters as those of the host at x, the client of
// the listeners whose only source it is: whether they count no less
// than that predicts, and how much of it. Where x serves no listener in
// the capture, nothing but the counters says x is where they were taken,
// so they must show it: the SYNs x sent again, beyond the SYN-ACKs the
// other listeners' servers did (a client's own count), and none of what
// only those listeners' server counts (their unanswered SYNs in the
// listen drops, the resets they got in TcpOutRsts).
func countersOf(r *Result, h *host.Host, x netip.Addr, servers map[netip.Addr]bool) (score int, ok bool) {
	connects, retx, took, dropped, rsts, restRetx := 0, 0, 0, 0, 0, 0
	for i := range r.Listeners {
		l := &r.Listeners[i]
		switch {
		case l.Front():
		case mayBeClientOf(l, x, servers):
			connects += l.Attempts
			retx += l.clientSYNRetx
			dropped += l.DroppedSYNPackets
			rsts += l.ServerRSTs
		default:
			took += l.ServerTook + l.TookUnseen
			restRetx += l.synRetransmitsSeen()
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
	if !servers[x] {
		counted := func(name string, n int) bool { return n > 0 && covers(name, n) }
		if retx == 0 || !covers("TcpExtTCPSynRetrans", retx+restRetx) ||
			counted("TcpExtListenDrops", dropped) || counted("TcpOutRsts", rsts) {
			return 0, false
		}
	}
	return connects + retx + took, true
}

// outboundNote says whose the counters are for an outbound listener, and
// where its server's are.
func outboundNote(l *Listener, h *host.Host, servers map[netip.Addr]bool) string {
	active := h.Deltas["TcpActiveOpens"]
	retx := ""
	if l.clientSYNRetx > 0 {
		retx = prose.Sayf(", TcpExtTCPSynRetrans %d the %d SYN{s} it sent again", h.Deltas["TcpExtTCPSynRetrans"], l.clientSYNRetx)
	}
	whose := prose.Sayf("are %s's, this listener's client (every attempt came from it, and it serves a listener in the capture)", l.Signs.OnlySource)
	if !servers[l.Signs.OnlySource] {
		whose = prose.Sayf("look like %s's, this listener's client (every attempt came from it, the capture was taken on its side or too close to tell, and they count no drop of this listener's)", l.Signs.OnlySource)
	}
	return prose.Sayf("The kernel counters given %s: TcpActiveOpens %d counts its %d connect{s}%s. They say nothing of %s's queues, so they were not used here; take nstat -az before and after on the host of %s (in its network namespace).",
		whose, active, l.Attempts, retx, l.Server.Addr(), l.Server)
}
