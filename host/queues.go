package host

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// QueueSample is one look at a listening socket's queues.
type QueueSample struct {
	// Time in nanoseconds since the Unix epoch, the capture's clock.
	Time int64 `json:"time"`
	// Listener is the address the socket listens on (0.0.0.0 or :: for
	// every address). SO_REUSEPORT sockets on the same address are summed.
	Listener netip.AddrPort `json:"listener"`
	// AcceptQueue is the number of connections waiting for accept() and
	// AcceptLimit the most it may hold: min(backlog, somaxconn); the
	// kernel lets it reach AcceptLimit+1 before it counts as full.
	AcceptQueue int `json:"accept_queue"`
	AcceptLimit int `json:"accept_limit"`
	// SynRecv is the number of handshakes in progress (request sockets in
	// SYN_RECV) whose local address and port this listener answers for.
	SynRecv int `json:"syn_recv"`
}

// TCP states (include/net/tcp_states.h).
const (
	tcpSynRecv    = 3
	tcpListen     = 10
	tcpNewSynRecv = 12
)

// diagSocket is the part of an inet_diag_msg synq uses.
type diagSocket struct {
	State  uint8
	Local  netip.AddrPort
	RQueue uint32 // LISTEN: accept queue length
	WQueue uint32 // LISTEN: accept queue limit
}

const (
	diagMsgLen = 72 // sizeof(struct inet_diag_msg)
	diagReqLen = 56 // sizeof(struct inet_diag_req_v2)
	afInet     = 2
	afInet6    = 10
	protoTCP   = 6
)

// diagRequest builds a struct inet_diag_req_v2 that dumps the TCP sockets
// of family in the states of the mask.
func diagRequest(family uint8, states uint32) []byte {
	b := make([]byte, diagReqLen)
	b[0], b[1] = family, protoTCP
	binary.NativeEndian.PutUint32(b[4:], states)
	return b
}

// parseDiagMsg reads the fixed part of one struct inet_diag_msg (the
// attributes after it are ignored).
func parseDiagMsg(b []byte) (diagSocket, error) {
	if len(b) < diagMsgLen {
		return diagSocket{}, fmt.Errorf("%w: inet_diag message of %d bytes, want at least %d", ErrMalformed, len(b), diagMsgLen)
	}
	var addr netip.Addr
	switch b[0] {
	case afInet:
		addr = netip.AddrFrom4([4]byte(b[8:12]))
	case afInet6:
		addr = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	default:
		return diagSocket{}, fmt.Errorf("%w: inet_diag family %d", ErrMalformed, b[0])
	}
	return diagSocket{
		State:  b[1],
		Local:  netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[4:6])),
		RQueue: binary.NativeEndian.Uint32(b[56:60]),
		WQueue: binary.NativeEndian.Uint32(b[60:64]),
	}, nil
}

// queueSamples turns one dump into a sample per listener on a wanted port
// (all ports when wanted is nil). A request socket counts for the listener
// on its local port whose address is its local address, else for the
// wildcard one.
func queueSamples(t int64, socks []diagSocket, wanted func(uint16) bool) []QueueSample {
	byAddr := map[netip.AddrPort]*QueueSample{}
	for _, s := range socks {
		if s.State != tcpListen || (wanted != nil && !wanted(s.Local.Port())) {
			continue
		}
		q := byAddr[s.Local]
		if q == nil {
			q = &QueueSample{Time: t, Listener: s.Local}
			byAddr[s.Local] = q
		}
		q.AcceptQueue += int(s.RQueue)
		q.AcceptLimit += int(s.WQueue)
	}
	for _, s := range socks {
		if s.State != tcpSynRecv && s.State != tcpNewSynRecv {
			continue
		}
		if q := byAddr[s.Local]; q != nil {
			q.SynRecv++
			continue
		}
		any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), s.Local.Port())
		any6 := netip.AddrPortFrom(netip.IPv6Unspecified(), s.Local.Port())
		first, second := any4, any6
		if s.Local.Addr().Is6() {
			first, second = any6, any4
		}
		if q := byAddr[first]; q != nil {
			q.SynRecv++
		} else if q := byAddr[second]; q != nil {
			q.SynRecv++
		}
	}
	out := make([]QueueSample, 0, len(byAddr))
	for _, q := range byAddr {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueSample) int {
		return cmp.Or(cmp.Compare(a.Listener.Port(), b.Listener.Port()), a.Listener.Addr().Compare(b.Listener.Addr()))
	})
	return out
}

// Peaks summarises samples per listener, ordered by port then address.
func Peaks(samples []QueueSample) []QueuePeak {
	m := map[netip.AddrPort]*QueuePeak{}
	for _, s := range samples {
		p := m[s.Listener]
		if p == nil {
			p = &QueuePeak{Listener: s.Listener}
			m[s.Listener] = p
		}
		p.add(s)
	}
	out := make([]QueuePeak, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	sortPeaks(out)
	return out
}

// add counts one sample of p's listener.
func (p *QueuePeak) add(s QueueSample) {
	p.Samples++
	p.MaxAcceptQueue = max(p.MaxAcceptQueue, s.AcceptQueue)
	p.AcceptLimit = max(p.AcceptLimit, s.AcceptLimit)
	p.MaxSynRecv = max(p.MaxSynRecv, s.SynRecv)
	if s.AcceptQueue > s.AcceptLimit {
		p.Full++
	}
}

func sortPeaks(out []QueuePeak) {
	slices.SortFunc(out, func(a, b QueuePeak) int {
		return cmp.Or(cmp.Compare(a.Listener.Port(), b.Listener.Port()), a.Listener.Addr().Compare(b.Listener.Addr()))
	})
}
