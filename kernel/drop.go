// Package kernel is the kernel's own account of the packets it dropped
// on the listener ports (the skb:kfree_skb tracepoint's enum
// skb_drop_reason), and the matching of those reports to synq's
// handshake attempts, so that a report can put the kernel's word beside
// the packet-level inference. Reading the reports from a running kernel
// is package droptrace's job (eBPF, Linux only); this package is pure.
package kernel

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/synq/synq/capture"
)

// Drop is one packet the kernel freed as dropped.
type Drop struct {
	// Time is when the kernel dropped it, in nanoseconds since the Unix
	// epoch (converted from the monotonic clock: good to a millisecond,
	// not to the capture's microsecond).
	Time int64
	// Reason is the drop reason without its SKB_DROP_REASON_ prefix, as
	// the running kernel names it: TCP_LISTEN_OVERFLOW, NETFILTER_DROP,
	// NO_SOCKET, NOT_SPECIFIED, ...
	Reason string
	// Src and Dst are the packet's own ends (a client's SYN: client to
	// listener).
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    capture.TCPFlags
	// Inbound is true when Dst's port is a watched listener port (the
	// packet was on its way to the listener); false when Src's is (the
	// listener's own packet, a SYN-ACK dropped on the way out).
	Inbound bool
}

// Listener is the listener the packet was to (or from).
func (d *Drop) Listener() netip.AddrPort {
	if d.Inbound {
		return d.Dst
	}
	return d.Src
}

// ErrUnsupported means this kernel (or this build) cannot report drop
// reasons: not Linux, no BTF, or a kfree_skb without a reason argument.
var ErrUnsupported = errors.New("kernel drop reasons are not available")

// ErrPermission means loading the eBPF program was refused: it needs
// root, or CAP_BPF and CAP_PERFMON.
var ErrPermission = errors.New("loading the eBPF drop tracer needs root (or CAP_BPF and CAP_PERFMON)")

// ErrFlushed is what a source's Read returns once it has returned the
// reports buffered when Flush was called.
var ErrFlushed = errors.New("kernel drop reports flushed")

// ReasonName strips the enum prefix: SKB_DROP_REASON_NO_SOCKET -> NO_SOCKET.
func ReasonName(enum string) string {
	return strings.TrimPrefix(enum, "SKB_DROP_REASON_")
}
