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
		// An output rule dropped the SYN-ACKs (reported with the
		// listener as the packets' source): TCP answered, nothing was
		// dropped before it. Without the direction this was
		// filtered_before_tcp, high, "the kernel agrees".
		{"unanswered SYNs whose SYN-ACKs the kernel dropped on the way out", unanswered(drops(ReasonNetfilterOut, 36, UnansweredSYN, 3)), KindEgress, High, true, "The kernel agrees"},
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

// TestChecksumDropsAreNotAQueue: SYNs the kernel dropped for a bad TCP
// checksum are network damage, not the SYN-queue overflow that another
// listener's ListenDrops and TCPReqQFullDrop suggest (a real run on 6.18:
// a SYN flood without cookies on one port, corrupted SYNs to another).
// TcpInCsumErrors alone makes the same call at a lower strength; with
// neither, no checksum finding is made.
func TestChecksumDropsAreNotAQueue(t *testing.T) {
	mk := func(port uint16, k *KernelDrops) Listener {
		l := Listener{Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port), Attempts: 5, DroppedSYNPackets: 5, Kernel: k}
		l.Outcomes[UnansweredSYN] = 5
		return l
	}
	flood := func() Listener {
		l := mk(8085, &KernelDrops{})
		l.Attempts, l.DroppedSYNPackets = 20, 15
		l.Outcomes[UnansweredSYN], l.Outcomes[SYNACKUnacked] = 15, 5
		return l
	}
	for _, c := range []struct {
		name    string
		csum    *KernelDrops
		csumErr int
		want    Kind
		mode    string
	}{
		{"kernel reasons and counter", &KernelDrops{Reasons: []ReasonCount{{Reason: ReasonTCPChecksum, Packets: 5}}}, 5, KindNetworkLoss, "checksum"},
		{"kernel reasons only", &KernelDrops{Reasons: []ReasonCount{{Reason: ReasonTCPChecksum, Packets: 5}}}, 0, KindNetworkLoss, "checksum"},
		// The counters cannot say whose queue drops they are: no high
		// confidence either way, and the checksum finding stands beside.
		{"not traced, counter only", nil, 5, "", "checksum"},
		{"not traced, no checksum errors", nil, 0, KindSYNQueue, ""},
	} {
		h := &host.Host{Sysctls: map[string]string{"kernel.osrelease": "6.18.0", "net.ipv4.tcp_syncookies": "0"},
			Deltas: countersAt0("TcpExtListenDrops", 15, "TcpExtTCPReqQFullDrop", 15, "TcpInCsumErrors", c.csumErr, "TcpPassiveOpens", 0)}
		r := Result{Listeners: []Listener{flood(), mk(8086, c.csum)}, Attempts: 25}
		Diagnose(&r, h)
		if v := r.Listeners[0].Diagnosis.Verdict; v.Kind != KindSYNQueue {
			t.Errorf("%s: 8085 %s, want syn_queue_overflow", c.name, v.Kind)
		}
		d := r.Listeners[1].Diagnosis
		v := d.Verdict
		if c.want == "" {
			found := false
			for _, f := range d.Findings {
				found = found || (f.Kind == KindNetworkLoss && f.Mode == c.mode)
			}
			if v.Confidence == High || !found {
				t.Errorf("%s: 8086 %s %s, findings %v: want no high confidence and a network_loss/%s finding", c.name, v.Kind, v.Confidence, d.Findings, c.mode)
			}
			continue
		}
		if v.Kind != c.want || (c.mode != "" && v.Mode != c.mode) {
			t.Errorf("%s: 8086 %s/%s %s, want %s/%s; evidence %q", c.name, v.Kind, v.Mode, v.Confidence, c.want, c.mode, v.Evidence)
		}
		if k := r.Listeners[1].Kernel; k != nil && !k.Agreement.Agrees {
			t.Errorf("%s: the kernel disagrees: %s", c.name, k.Agreement.Says)
		}
	}
}
