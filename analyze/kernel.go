package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/synq/synq/internal/prose"
)

// FromKernel marks a sign from the kernel's own drop reports (synq live
// with eBPF: the kfree_skb tracepoint's drop reason per packet).
const FromKernel Source = "kernel drop reasons"

// KernelDrops is what the kernel reported dropping on one listener: the
// packets it freed as dropped, with its reason, matched to attempts.
// Nil when the kernel was not asked (synq analyze, or live without
// permission).
type KernelDrops struct {
	// Reasons counts the dropped packets per kernel reason (names
	// without the SKB_DROP_REASON_ prefix), most first.
	Reasons []ReasonCount
	// Attempts is how many attempts had at least one packet dropped.
	Attempts int
	// ByOutcome crosses the kernel's reasons with synq's outcome of the
	// attempt the packet belonged to.
	ByOutcome []OutcomeReason
	// Unmatched counts dropped packets that belong to no attempt synq
	// followed (a stray ACK, a connection older than the capture).
	Unmatched int
	// Examples are a few attempts with a kernel drop, for the reader to
	// find in the capture.
	Examples []KernelExample
	// Agreement is set by Diagnose: does the kernel's account agree with
	// the verdict.
	Agreement KernelAgreement
}

// ReasonCount is a number of dropped packets with one reason.
type ReasonCount struct {
	Reason  string
	Packets int
}

// OutcomeReason is how many packets of attempts with one outcome the
// kernel dropped for one reason.
type OutcomeReason struct {
	Outcome  Outcome
	Reason   string
	Packets  int
	Attempts int
}

// KernelExample is one attempt with packets the kernel dropped.
type KernelExample struct {
	Client  string
	Outcome Outcome
	Reason  string
	Packets int
}

// KernelAgreement compares the kernel's reasons with the verdict.
type KernelAgreement struct {
	// Agrees is false when the kernel's main reason names another cause
	// than the verdict does (a finding about synq's inference).
	Agrees bool
	// Says is one sentence on what the kernel said and how it compares.
	Says string
}

// Packets is the number of dropped packets with reason r.
func (k *KernelDrops) Packets(reason string) int {
	if k == nil {
		return 0
	}
	for _, r := range k.Reasons {
		if r.Reason == reason {
			return r.Packets
		}
	}
	return 0
}

// Kernel drop reasons synq's causes have a counterpart for (the running
// kernel's names, SKB_DROP_REASON_ prefix removed).
const (
	ReasonListenOverflow = "TCP_LISTEN_OVERFLOW"
	ReasonNetfilter      = "NETFILTER_DROP"
	ReasonNoSocket       = "NO_SOCKET"
	ReasonPAWS           = "TCP_RFC7323_PAWS"
	ReasonTCPChecksum    = "TCP_CSUM"
	// OutboundSuffix marks a reason given for the listener's own packet
	// on its way out (a SYN-ACK, a RST), not one sent to it.
	OutboundSuffix     = " (outbound)"
	ReasonNetfilterOut = ReasonNetfilter + OutboundSuffix
)

// kindOfReason is the cause a kernel drop reason proves; reasons absent
// here prove none (QUEUE_PURGE: a socket closed with data queued;
// TCP_FLAGS: a segment a listener cannot take, answered by RST).
var kindOfReason = map[string]Kind{
	ReasonListenOverflow: KindAcceptQueue,
	ReasonNetfilter:      KindFiltered,
	ReasonNetfilterOut:   KindEgress,
	ReasonNoSocket:       KindNoListener,
	ReasonPAWS:           KindPAWS,
	ReasonTCPChecksum:    KindNetworkLoss,
}

// kernelSign is the kernel's sign for kind on l, if it reported drops
// that prove it: decisive, as the kernel is the one that dropped them.
func kernelSign(l *Listener, kind Kind) (Sign, bool) {
	k := l.Kernel
	if k == nil {
		return Sign{}, false
	}
	for _, r := range k.Reasons {
		if kindOfReason[r.Reason] == kind && r.Packets > 0 {
			dir := "to"
			if strings.HasSuffix(r.Reason, OutboundSuffix) {
				dir = "from"
			}
			return forSign(Decisive, FromKernel, "The kernel dropped %d packet{s} %s this listener as %s (eBPF, kfree_skb drop reason).", r.Packets, dir, r.Reason), true
		}
	}
	return Sign{}, false
}

// settleKernel compares the kernel's account with the listener's verdict.
func settleKernel(l *Listener) {
	k := l.Kernel
	if k == nil {
		return
	}
	v := l.Diagnosis.Verdict
	var proving []string
	provingKinds := map[Kind]int{}
	for _, r := range k.Reasons {
		if kind, ok := kindOfReason[r.Reason]; ok {
			proving = append(proving, prose.Sayf("%s %d", r.Reason, r.Packets))
			provingKinds[kind] += r.Packets
		}
	}
	switch {
	case len(proving) == 0 && v.Kind == KindAcceptQueue && (v.Mode == "syn_dropped" || v.Mode == "counters_only" || v.Mode == "cookie_ack_dropped"):
		k.Agreement = KernelAgreement{Agrees: true, Says: "The kernel gives no drop reason for a SYN or cookie ACK dropped at a full accept queue (it consumes the packet after counting TcpExtListenOverflows): the counters are the kernel's word here."}
	case len(proving) == 0 && v.Kind == KindSYNQueue:
		k.Agreement = KernelAgreement{Agrees: true, Says: "The kernel gives no drop reason for a SYN dropped at a full SYN queue (it consumes the packet after counting TcpExtListenDrops and TCPReqQFullDrop): the counters are the kernel's word here."}
	case len(proving) == 0 && v.Kind == KindHealthy:
		k.Agreement = KernelAgreement{Agrees: true, Says: "The kernel reported no drop that names a cause, as the verdict says."}
	case len(proving) == 0:
		k.Agreement = KernelAgreement{Agrees: true, Says: fmt.Sprintf("The kernel reported no drop that names a cause (%s); its reasons neither confirm nor contradict the verdict.", reasonList(k))}
	case provingKinds[v.Kind] > 0:
		k.Agreement = KernelAgreement{Agrees: true, Says: fmt.Sprintf("The kernel agrees: it dropped packets as %s.", strings.Join(proving, ", "))}
	default:
		k.Agreement = KernelAgreement{Agrees: false, Says: fmt.Sprintf("The kernel disagrees with the verdict (%s): it dropped packets as %s, which points to %s.", v.Kind, strings.Join(proving, ", "), topKind(provingKinds))}
	}
}

func reasonList(k *KernelDrops) string {
	if len(k.Reasons) == 0 {
		return "none"
	}
	var s []string
	for _, r := range k.Reasons {
		s = append(s, prose.Sayf("%s %d", r.Reason, r.Packets))
	}
	return strings.Join(s, ", ")
}

func topKind(m map[Kind]int) Kind {
	kinds := make([]Kind, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b Kind) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(string(a), string(b))
	})
	return kinds[0]
}

// attemptsFor is how many attempts had a packet dropped for a reason
// that proves kind.
func (k *KernelDrops) attemptsFor(kind Kind) int {
	n := 0
	for _, o := range k.ByOutcome {
		if kindOfReason[o.Reason] == kind {
			n += o.Attempts
		}
	}
	return n
}

// droppedBeforeQueues are the reasons for which the kernel drops a SYN
// before a listener's queues see it: a SYN dropped at a full queue has
// no reason at all, so only these positive reports can clear the queues.
var droppedBeforeQueues = []string{ReasonNetfilter, ReasonTCPChecksum}

// kernelDroppedElsewhere is a decisive sign against kind for a listener's
// unanswered SYNs when the kernel reports every one of them dropped for
// reasons that prove other causes (netfilter, a bad checksum): the
// namespace-wide listen counters then belong to another listener, and a
// rule or a corrupting path explains the rest.
func kernelDroppedElsewhere(l *Listener, kind Kind) (Sign, bool) {
	if l.Kernel == nil || l.DroppedSYNPackets == 0 {
		return Sign{}, false
	}
	n := 0
	var named []string
	for _, r := range droppedBeforeQueues {
		if p := l.Kernel.Packets(r); p > 0 && kindOfReason[r] != kind {
			n += p
			named = append(named, prose.Sayf("%s %d", r, p))
		}
	}
	if n < l.DroppedSYNPackets {
		return Sign{}, false
	}
	why := ""
	if kind == KindAcceptQueue || kind == KindSYNQueue {
		why = ": the listen counters moved for another listener"
	}
	return againstSign(Decisive, FromKernel, "the kernel dropped all %d unanswered SYN packets to this listener for other reasons (%s) before any listen queue saw them%s.",
		l.DroppedSYNPackets, strings.Join(named, ", "), why), true
}
