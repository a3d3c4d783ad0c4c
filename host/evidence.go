package host

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrTotalsSinceBoot marks a single snapshot that holds totals since boot,
// which say nothing about one capture.
var ErrTotalsSinceBoot = errors.New("a single snapshot of totals since boot")

// Host is evidence from the host itself, beside the capture.
type Host struct {
	// Deltas are kernel counter increases over the capture, by nstat
	// name; nil when no snapshot was given. A name missing from a
	// non-nil map is a counter the kernel did not report.
	Deltas map[string]int64
	// SingleSnapshot: Deltas come from one snapshot taken as the change
	// itself (plain nstat), not from two.
	SingleSnapshot bool
	// Sysctls by name (net.ipv4.tcp_syncookies...); nil when unknown.
	Sysctls map[string]string
	// Queues are the listen queues sampled on the host (synq live, or a
	// bundle), one peak per listening socket.
	Queues []QueuePeak
	// QueueSamples is how many times every listening socket was listed
	// (ss -lnt files), sockets or none; 0 when unknown. A port absent
	// from all of them had no listener when they were taken.
	QueueSamples int
}

// QueuePeak is what sampling one listening socket's queues showed.
type QueuePeak struct {
	Listener       netip.AddrPort
	MaxAcceptQueue int
	AcceptLimit    int // the largest limit seen
	MaxSynRecv     int
	Samples        int
	// Full counts samples where the accept queue had passed its limit
	// (AcceptQueue > AcceptLimit: the kernel's "full").
	Full int
}

// QueueFor finds the sampled socket serving a listener: the same address,
// else a wildcard address on the same port (0.0.0.0 before [::] for an
// IPv4 listener). The exact socket comes first: the kernel delivers to
// it, and a wildcard socket on the same port (SO_REUSEADDR/REUSEPORT, or
// another address family) can be idle while it overflows.
func (h *Host) QueueFor(l netip.AddrPort) (QueuePeak, bool) {
	if h == nil {
		return QueuePeak{}, false
	}
	best, rank := QueuePeak{}, 0
	for _, q := range h.Queues {
		if q.Listener.Port() != l.Port() {
			continue
		}
		a, want := q.Listener.Addr().Unmap(), l.Addr().Unmap()
		r := 0
		switch {
		case a == want:
			return q, true
		case a.IsUnspecified() && a.Is4() == want.Is4():
			r = 2
		case a.IsUnspecified():
			r = 1
		}
		if r > rank {
			best, rank = q, r
		}
	}
	return best, rank > 0
}

// HasCounters reports whether counter deltas were given.
func (h *Host) HasCounters() bool { return h != nil && h.Deltas != nil }

// Sysctl returns a sysctl's value, trimmed, and whether it is known.
func (h *Host) Sysctl(name string) (string, bool) {
	if h == nil || h.Sysctls == nil {
		return "", false
	}
	v, ok := h.Sysctls[name]
	return strings.TrimSpace(v), ok
}

// HostInput is the host evidence as read, before it is reconciled into a
// Host: zero, one (plain nstat: the change itself) or two (before and
// after) counter snapshots, the sysctls and the listen-queue samples.
type HostInput struct {
	Snapshots []Snapshot
	Sysctls   map[string]string
	Queues    []QueuePeak
	// QueueSamples: see Host.
	QueueSamples int
}

// NewHost builds the Host every caller diagnoses with (synq analyze,
// synq live and bundles alike), so counters are read one way everywhere:
// two snapshots through SnapshotDeltas; one only when it can be a change
// (plain nstat), its absent listen counters then 0, and marked single.
func NewHost(in HostInput) (*Host, error) {
	h := &Host{Sysctls: in.Sysctls, Queues: in.Queues, QueueSamples: in.QueueSamples}
	switch len(in.Snapshots) {
	case 0:
	case 1:
		s := in.Snapshots[0]
		if s.Absolute {
			return nil, fmt.Errorf("%w (%s): give two, before and after the capture, or one from plain nstat (changes since its last run)", ErrTotalsSinceBoot, s.Format)
		}
		// Plain nstat leaves out the counters that did not change: for
		// the ones synq reasons with, absent means zero.
		h.Deltas = map[string]int64{}
		for k, v := range s.Counters {
			h.Deltas[k] = int64(v)
		}
		zeroAbsentListenCounters(h.Deltas)
		h.SingleSnapshot = true
	case 2:
		d, err := SnapshotDeltas(in.Snapshots[0].Counters, in.Snapshots[1].Counters)
		if err != nil {
			return nil, err
		}
		// netstat -s prints some zeros (so SnapshotDeltas cannot tell)
		// but leaves out every TcpExt counter that is 0.
		if in.Snapshots[0].Format == FormatNetstat || in.Snapshots[1].Format == FormatNetstat {
			zeroAbsentListenCounters(d)
		}
		h.Deltas = d
	default:
		return nil, fmt.Errorf("%d counter snapshots: give one (changes) or two (before and after)", len(in.Snapshots))
	}
	return h, nil
}

// ZeroWhenAbsent are the counters synq reasons with that every kernel it
// reads has, so that a snapshot format which leaves zeros out (plain
// nstat, netstat -s) means 0 when it does not print them. PAWSPassive is
// not one: kernels from 4.12 on do not have it, which is not a 0.
var ZeroWhenAbsent = []string{
	"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies",
	"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed", "TcpExtEmbryonicRsts",
	"TcpExtTCPDeferAcceptDrop", "TcpExtTCPSynRetrans", "TcpExtTCPChallengeACK", "TcpOutRsts", "TcpPassiveOpens",
}

// zeroAbsentListenCounters sets the listen counters synq reasons with to
// 0 where a format that leaves zeros out did not print them. PAWSPassive
// stays absent: a kernel without it (4.12 and later) is not a 0.
func zeroAbsentListenCounters(d map[string]int64) {
	for _, k := range ZeroWhenAbsent {
		if _, ok := d[k]; !ok {
			d[k] = 0
		}
	}
}
