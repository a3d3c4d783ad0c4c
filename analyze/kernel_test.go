package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/synq/synq/host"
)

// TestKernelReasonsInTheVerdict: the kernel's drop reasons decide where
// the packets alone tie, and a reason that names another cause than the
// verdict is reported as a disagreement.
func TestKernelReasonsInTheVerdict(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	modern := &host.Host{Sysctls: map[string]string{"kernel.osrelease": "6.18.0"}}
	unanswered := func(k *KernelDrops) Listener {
		l := Listener{Server: server, Attempts: 6, ServerTook: 3, DroppedSYNPackets: 18, Kernel: k}
		l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 3, 3
		return l
	}
	ackIgnored := func(k *KernelDrops) Listener {
		l := Listener{Server: server, Attempts: 5, ServerTook: 3, IgnoredACKSegments: 18, SYNACKRetransmits: 4, Kernel: k}
		l.Outcomes[Established], l.Outcomes[ACKIgnored] = 3, 2
		return l
	}
	drops := func(reason string, n int, o Outcome, attempts int) *KernelDrops {
		return &KernelDrops{Reasons: []ReasonCount{{Reason: reason, Packets: n}}, Attempts: attempts,
			ByOutcome: []OutcomeReason{{Outcome: o, Reason: reason, Packets: n, Attempts: attempts}}}
	}
	cases := []struct {
		name       string
		l          Listener
		kind       Kind
		confidence Confidence
		agrees     bool
		says       string
	}{
		{"unanswered SYNs without the kernel tie", unanswered(nil), "", "", true, ""},
		{"unanswered SYNs the kernel dropped in netfilter", unanswered(drops(ReasonNetfilter, 18, UnansweredSYN, 3)), KindFiltered, High, true, "The kernel agrees"},
		{"ignored ACKs the kernel dropped at the accept queue", ackIgnored(drops(ReasonListenOverflow, 18, ACKIgnored, 2)), KindAcceptQueue, High, true, "TCP_LISTEN_OVERFLOW 18"},
		{"ignored ACKs the kernel says a rule dropped", ackIgnored(drops(ReasonNetfilter, 18, ACKIgnored, 2)), "", "", false, "disagrees"},
		{"unanswered SYNs, no reason given", unanswered(&KernelDrops{}), "", "", true, "neither confirm nor contradict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Result{Listeners: []Listener{c.l}, Attempts: c.l.Attempts}
			Diagnose(&r, modern)
			l := r.Listeners[0]
			v := l.Diagnosis.Verdict
			if c.kind != "" && (v.Kind != c.kind || v.Confidence != c.confidence) {
				t.Errorf("verdict %s %s, want %s %s; evidence %q", v.Kind, v.Confidence, c.kind, c.confidence, v.Evidence)
			}
			if c.kind == "" && v.Confidence == High {
				t.Errorf("verdict %s high without deciding evidence: %q", v.Kind, v.Evidence)
			}
			if l.Kernel == nil {
				if c.says != "" {
					t.Fatal("no kernel account")
				}
				return
			}
			if l.Kernel.Agreement.Agrees != c.agrees || !strings.Contains(l.Kernel.Agreement.Says, c.says) {
				t.Errorf("agreement %+v, want agrees=%v saying %q", l.Kernel.Agreement, c.agrees, c.says)
			}
		})
	}
}

// TestNetfilterDropsClearTheQueues: another listener's overflow moves
// the namespace's ListenOverflows; a listener whose every unanswered SYN
// the kernel reports dropped by netfilter is filtered, not overflowing.
// Found by TestLiveKernelReasons (8081 said accept_queue_overflow).
func TestNetfilterDropsClearTheQueues(t *testing.T) {
	mk := func(port uint16, k *KernelDrops) Listener {
		l := Listener{Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port), Attempts: 3, DroppedSYNPackets: 9, Kernel: k}
		l.Outcomes[UnansweredSYN] = 3
		return l
	}
	fw := mk(8081, &KernelDrops{Reasons: []ReasonCount{{Reason: ReasonNetfilter, Packets: 9}}})
	full := mk(8083, &KernelDrops{})
	full.Outcomes[Established], full.Attempts, full.CompletedSilent = 2, 5, 2
	h := &host.Host{Sysctls: map[string]string{"kernel.osrelease": "6.18.0"},
		Deltas: countersAt0("TcpExtListenOverflows", 9, "TcpExtListenDrops", 9, "TcpPassiveOpens", 2)}
	r := Result{Listeners: []Listener{fw, full}, Attempts: 8}
	Diagnose(&r, h)
	if v := r.Listeners[0].Diagnosis.Verdict; v.Kind != KindFiltered || !r.Listeners[0].Kernel.Agreement.Agrees {
		t.Errorf("8081: %s %s, agreement %+v; want filtered_before_tcp agreeing with the kernel; evidence %q", v.Kind, v.Confidence, r.Listeners[0].Kernel.Agreement, v.Evidence)
	}
	if v := r.Listeners[1].Diagnosis.Verdict; v.Kind != KindAcceptQueue {
		t.Errorf("8083: %s, want accept_queue_overflow", v.Kind)
	}
}
