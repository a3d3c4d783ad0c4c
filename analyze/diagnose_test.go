package analyze

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
)

// TestDiagnose: signs and evidence in, diagnosis out. Each case is an
// incident synq once got wrong or a rule of the evidence model
// (shared/docs/kernel-evidence.md); the real-capture goldens check the
// same model end to end.
func TestDiagnose(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	modern := map[string]string{"kernel.osrelease": "6.18.0"}
	zero := countersAt0
	// idleOverflow: listen(2), never accepted, idle clients: 3 completed
	// and silent, 7 unanswered with 42 SYN packets.
	idleOverflow := func() Listener {
		l := Listener{Server: server, Attempts: 10, DroppedSYNPackets: 42, CompletedSilent: 3}
		l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 3, 7
		l.Signs.AcceptAtFirstDrop = 3
		return l
	}
	lateCapture := func() Listener {
		l := Listener{Server: server, Attempts: 5, DroppedSYNPackets: 30}
		l.Outcomes[UnansweredSYN] = 5
		return l
	}
	// oneWay is l as a capture of its clients' packets only shows it:
	// whoever went on, went on unseen.
	oneWay := func(l Listener) Listener {
		l.Signs.ServerUnseen = true
		l.TookUnseen, l.ServerTook, l.CompletedSilent = l.ServerTook, 0, 0
		return l
	}
	healthyN := func(n int) Listener {
		l := Listener{Server: server, Attempts: n, ServerTook: n}
		l.Outcomes[Established] = n
		return l
	}
	refused := func() Listener {
		l := Listener{Server: server, Attempts: 6, ServerTook: 3, ServerRSTs: 3}
		l.Outcomes[Established], l.Outcomes[Rejected] = 3, 3
		return l
	}
	clientSideSYNQueue := func() Listener {
		l := Listener{Server: server, Attempts: 8, ServerTook: 8, DroppedSYNPackets: 10}
		l.Outcomes[Established] = 8
		l.Signs.Vantage = VantageClient
		l.Signs.RetransmittedThenAnswered = 5
		return l
	}
	firewallDrop := func() Listener {
		l := Listener{Server: server, Attempts: 6, ServerTook: 3, DroppedSYNPackets: 18}
		l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 3, 3
		l.Signs.UnansweredSources, l.Signs.NeverAnsweredSources = 1, 1
		l.Signs.TopUnansweredSource, l.Signs.TopUnansweredAttempts = netip.MustParseAddr("10.0.0.3"), 3
		l.Signs.SourceAttempts, l.Signs.SourceUnanswered = 6, 3
		return l
	}
	// icmpRefused: 3 of 6 attempts' SYNs answered by ICMP errors,
	// fromServer of them from the server's own address.
	icmpRefused := func(fromServer int) Listener {
		l := Listener{Server: server, Attempts: 6, ServerTook: 3}
		l.Outcomes[Established], l.Outcomes[ICMPUnreachable] = 3, 3
		l.Signs.ICMPFromServer = fromServer
		l.Signs.ICMPKinds = map[string]int{"icmp port-unreachable": 3}
		return l
	}
	// transient: 3 of 10 connections had their bare ACK ignored, the
	// SYN-ACK retransmitted on its timer, then were taken.
	transient := func() Listener {
		l := healthyN(10)
		l.IgnoredACKSegments, l.SYNACKRetransmits = 3, 3
		l.Signs.IgnoredThenAccepted, l.Signs.RetransOnTimer = 3, 3
		return l
	}
	ackIgnored := func() Listener {
		l := Listener{Server: server, Attempts: 5, ServerTook: 3, IgnoredACKSegments: 18, SYNACKRetransmits: 4}
		l.Outcomes[Established], l.Outcomes[ACKIgnored] = 3, 2
		l.Signs.AcceptAtFirstDrop = 3
		return l
	}
	cookies := func() Listener {
		l := Listener{Server: server, Attempts: 10, ServerTook: 10}
		l.Outcomes[Established] = 10
		l.Signs.CookieAttempts, l.Signs.SyncookieSYNACKs, l.Signs.CookiesByTSLag, l.Signs.CookiesCompleted = 10, 10, 10, 10
		return l
	}

	tests := []struct {
		name      string
		l         Listener
		host      *host.Host
		kind      Kind
		conf      Confidence
		mode      string
		ruledOut  []Kind
		evidence  string // a phrase the verdict's evidence must contain
		notKind   Kind   // a kind that must not be among the findings
		notHealth bool
		missed    int // Result.DataNotCaptured: the capture lost packets
	}{
		{name: "idle accept-queue overflow, counters", l: idleOverflow(),
			host: &host.Host{Deltas: zero("TcpExtListenOverflows", 42, "TcpExtListenDrops", 42, "TcpPassiveOpens", 3), Sysctls: modern},
			kind: KindAcceptQueue, conf: High, mode: "syn_dropped", ruledOut: []Kind{KindFiltered}, evidence: "exactly the 42"},
		{name: "idle accept-queue overflow, packets alone", l: idleOverflow(),
			kind: KindAcceptQueue, conf: Medium, evidence: "nstat"},
		{name: "capture started after the queue filled, packets alone", l: lateCapture(),
			kind: KindInconclusive, conf: Low, evidence: "ss -lnt"},
		// Nothing of its own waiting, 3 on the port's other address: a
		// dual-stack socket's one queue; two addresses of one family
		// may be two hosts (pods behind a node's bridge), not one queue.
		{name: "drops while the other family's connections waited on the port", l: func() Listener {
			l := lateCapture()
			l.Signs.SamePortWaiting, l.Signs.SamePort = 3, []netip.AddrPort{netip.MustParseAddrPort("[fd00::2]:8080")}
			return l
		}(), kind: KindAcceptQueue, conf: Medium, evidence: "ss -lnt 'sport = :8080' shows which"},
		{name: "drops while another address of the family had connections waiting", l: func() Listener {
			l := lateCapture()
			l.Signs.SamePortWaiting, l.Signs.SamePort = 3, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:8080")}
			return l
		}(), kind: KindInconclusive, conf: Low},
		{name: "capture started after the queue filled, counters", l: lateCapture(),
			host: &host.Host{Deltas: zero("TcpExtListenOverflows", 30, "TcpExtListenDrops", 30), Sysctls: modern},
			kind: KindAcceptQueue, conf: High, ruledOut: []Kind{KindFiltered}},
		{name: "short capture, overflow only in the counters", l: func() Listener {
			l := Listener{Server: server, Attempts: 2, ServerTook: 0, CompletedSilent: 2}
			l.Outcomes[Established] = 2
			return l
		}(),
			host: &host.Host{Deltas: zero("TcpExtListenOverflows", 9, "TcpExtListenDrops", 9, "TcpExtSyncookiesRecv", 9), Sysctls: modern},
			kind: KindAcceptQueue, conf: Medium, mode: "counters_only", evidence: "TcpExtSyncookiesRecv", notHealth: true},
		{name: "cut-off capture: one attempt in progress", l: func() Listener {
			l := Listener{Server: server, Attempts: 1}
			l.Outcomes[Incomplete] = 1
			return l
		}(), kind: KindNotEnoughData, conf: Low},
		{name: "healthy: few attempts, packets alone", l: healthyN(8), kind: KindHealthy, conf: Medium},
		{name: "healthy: many attempts, packets alone", l: healthyN(30), kind: KindHealthy, conf: High},
		{name: "healthy: few attempts, counters at 0", l: healthyN(8),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 8)}, kind: KindHealthy, conf: High},
		// Within the slack other ports are allowed, but not "no drop
		// counter moved": abort_on_overflow's 2 resets in a capture of the
		// clients' packets said so, healthy, high.
		{name: "healthy packets beside 2 overflows", l: healthyN(30),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 30, "TcpExtListenOverflows", 2, "TcpExtListenDrops", 2)},
			kind: KindHealthy, conf: Medium, evidence: "TcpExtListenOverflows 2 (the capture shows at most 0)"},
		// A capture of the clients' packets only (oneway.go).
		{name: "one way: every client went on, packets alone", l: oneWay(healthyN(30)),
			kind: KindHealthy, conf: Low, evidence: "only its clients'"},
		{name: "one way: every client went on, the host sent resets", l: oneWay(healthyN(30)),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 30, "TcpOutRsts", 2)},
			kind: KindInconclusive, conf: Low, evidence: "TcpOutRsts 2"},
		{name: "one way: every client went on, nothing counted", l: oneWay(healthyN(30)),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 30)},
			kind: KindHealthy, conf: High, evidence: "only its clients'"},
		{name: "one way: SYNs sent again, packets alone", l: oneWay(idleOverflow()),
			kind: KindInconclusive, conf: Low, evidence: "never went on"},
		{name: "one way: SYNs sent again, the counters match them", l: oneWay(idleOverflow()),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenOverflows", 42, "TcpExtListenDrops", 42)},
			kind: KindAcceptQueue, conf: High, evidence: "only its clients'"},
		{name: "healthy packets against a moving drop counter", l: healthyN(30),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 30, "TcpExtListenOverflows", 12, "TcpExtListenDrops", 12)},
			kind: KindAcceptQueue, conf: Medium, mode: "counters_only", notHealth: true},
		{name: "firewall reject with tcp reset", l: refused(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpOutRsts", 0)},
			kind: KindFirewallReject, conf: High, ruledOut: []Kind{KindNoListener}},
		{name: "no listener: TCP sent the resets", l: refused(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpOutRsts", 3)},
			kind: KindNoListener, conf: High, ruledOut: []Kind{KindFirewallReject}},
		{name: "refused, packets alone: REJECT and no listener look alike", l: refused(),
			kind: KindNoListener, conf: Medium},
		{name: "refusals between accepted attempts: not a listener that is down", l: func() Listener {
			l := refused()
			l.Signs.RefusedInterleaved = true
			return l
		}(), kind: KindFirewallReject, conf: Medium, evidence: "between accepted attempts"},
		{name: "an overflow that passed, counters", l: transient(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 10, "TcpExtListenOverflows", 3, "TcpExtListenDrops", 3)},
			kind: KindAcceptQueue, conf: High, mode: "transient", notHealth: true},
		{name: "an overflow that passed, packets alone", l: transient(),
			kind: KindAcceptQueue, conf: Medium, mode: "transient", notHealth: true, notKind: KindDeferAccept},
		{name: "TCP_DEFER_ACCEPT held the retransmissions back", l: func() Listener {
			l := healthyN(10)
			l.IgnoredACKSegments, l.SYNACKRetransmits = 3, 3
			l.Signs.DeferAccepted, l.Signs.DeferIgnoredACKs, l.Signs.RetransHeldBack, l.Signs.RetransAfterACKMax = 3, 3, 3, 3*time.Second
			return l
		}(), host: &host.Host{Deltas: zero("TcpPassiveOpens", 10, "TcpExtTCPDeferAcceptDrop", 3)},
			kind: KindDeferAccept, conf: High, notKind: KindAcceptQueue, evidence: "held its SYN-ACK retransmissions back"},
		{name: "ICMP from the server, which counted it", l: icmpRefused(3),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IcmpOutDestUnreachs", 3)},
			kind: KindFirewallReject, conf: High, mode: "icmp", evidence: "IcmpOutDestUnreachs rose by 3"},
		{name: "ICMP from the server, packets alone", l: icmpRefused(3),
			kind: KindFirewallReject, conf: High, mode: "icmp", notHealth: true},
		{name: "ICMP in the server's name that it never sent", l: icmpRefused(3),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IcmpOutDestUnreachs", 0)},
			kind: KindFirewallReject, conf: High, mode: "icmp_path", evidence: "answered in its name"},
		{name: "ICMP from a router", l: icmpRefused(0),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3)},
			kind: KindFirewallReject, conf: High, mode: "icmp_path", evidence: "on the path"},
		{name: "no ICMP in the capture, the counter only", l: func() Listener {
			l := icmpRefused(0)
			l.Outcomes[ICMPUnreachable], l.Outcomes[Incomplete] = 0, 3
			return l
		}(), host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IcmpOutDestUnreachs", 3)},
			kind: KindFirewallReject, conf: Medium, mode: "icmp", evidence: "leaves ICMP out"},
		{name: "SYN queue without cookies seen from the client", l: clientSideSYNQueue(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 8, "TcpExtTCPReqQFullDrop", 10, "TcpExtListenDrops", 10)},
			kind: KindSYNQueue, conf: High, ruledOut: []Kind{KindNetworkLoss}},
		{name: "loss on the path seen from the client", l: clientSideSYNQueue(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 8)},
			kind: KindNetworkLoss, conf: High, notKind: KindSYNQueue},
		{name: "counters from another namespace are not used", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 0, "TcpExtListenDrops", 0), Sysctls: modern},
			kind: KindFiltered, conf: Medium, evidence: "do not cover this capture"},
		{name: "firewall drop, kernel known", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3), Sysctls: modern},
			kind: KindFiltered, conf: High, ruledOut: []Kind{KindAcceptQueue}},
		{name: "firewall drop, kernel unknown: RHEL 6 would not count SYN drops", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3)},
			kind: KindFiltered, conf: Medium, evidence: "RHEL 5/6"},
		// IP's ledger (ipledger.go): the firewall-drop wire, with the
		// counters of testdata/firewall-drop, synack-dropped-on-egress,
		// synack-other-route and variations the lab does not make.
		{name: "ledger: dropped on the way in", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 15, "IpOutRequests", 15, "IpOutTransmits", 15), Sysctls: modern},
			kind: KindFiltered, conf: High, evidence: "IP received 18 packets it neither delivered", notKind: KindEgress},
		{name: "ledger: SYN-ACKs dropped on the way out", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 51, "IpOutTransmits", 15), Sysctls: modern},
			kind: KindEgress, conf: High, mode: "dropped"},
		{name: "ledger: SYN-ACKs sent by another route", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 21, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 39, "IpOutTransmits", 39), Sysctls: modern},
			kind: KindEgress, conf: High, mode: "other_route"},
		// The same, from a capture that lost packets: the SYN-ACKs it
		// lacks may be its own loss.
		{name: "ledger: SYN-ACKs sent by another route, a capture that lost packets", l: firewallDrop(), missed: 2,
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 21, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 39, "IpOutTransmits", 39), Sysctls: modern},
			kind: KindEgress, conf: Medium, mode: "other_route", evidence: "The capture itself missed packets"},
		// A tcx egress program dropping the SYN-ACKs: IP transmitted
		// them all, TCP's timers fired for each (measured in namespaces).
		{name: "ledger: SYN-ACKs dropped after IP", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPTimeouts", 18, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 51, "IpOutTransmits", 51), Sysctls: modern},
			kind: KindEgress, conf: Medium, mode: "after_ip"},
		// The same timeouts, but the SYNs never reached IP (tc ingress):
		// they were other connections'.
		{name: "ledger: timeouts, SYNs never reached IP", l: withSYNs(firewallDrop(), 21),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPTimeouts", 18, "IpInReceives", 15, "IpInDelivers", 15, "IpOutRequests", 15, "IpOutTransmits", 15), Sysctls: modern},
			kind: KindFiltered, conf: High, mode: "before_ip"},
		// A host whose firewall drops on the way in and, for something
		// else, on the way out: the SYNs' drop stays the verdict.
		// From a hop in between, unanswered SYNs may never have reached
		// the server: its retransmissions are other traffic's.
		// ListenDrops 0 proves nothing on RHEL 6, and the kernel is
		// unknown: the SYNs may have met a full accept queue.
		{name: "ledger: SYN-ACKs dropped on the way out, kernel unknown", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 51, "IpOutTransmits", 15)},
			kind: KindEgress, conf: Medium, mode: "dropped"},
		{name: "ledger: SYN-ACKs dropped on the way out, RHEL 6", l: firewallDrop(),
			host:    &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 51, "IpOutTransmits", 15), Sysctls: map[string]string{"kernel.osrelease": "2.6.32-754.el6.x86_64"}},
			notKind: KindEgress, kind: KindInconclusive, conf: Low},
		// ... and its counters saying nothing on it dropped them (TCP
		// none, IP delivered all): a rule between the tap and the
		// server matches the one source, but no count says so.
		{name: "ledger: captured in between", l: func() Listener { l := firewallDrop(); l.Signs.Vantage = VantageMiddle; return l }(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 21, "IpInReceives", 15, "IpInDelivers", 15, "IpOutRequests", 36, "IpOutTransmits", 36), Sysctls: modern},
			kind: KindFiltered, notKind: KindEgress, conf: Low},
		{name: "ledger: captured in between, IP dropped them", l: func() Listener { l := firewallDrop(); l.Signs.Vantage = VantageMiddle; return l }(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 21, "IpInReceives", 33, "IpInDelivers", 15, "IpOutRequests", 36, "IpOutTransmits", 36), Sysctls: modern},
			kind: KindFiltered, notKind: KindEgress, conf: High},
		{name: "ledger: drops both ways", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 15, "IpOutRequests", 60, "IpOutTransmits", 15), Sysctls: modern},
			kind: KindFiltered, conf: High},
		// Other traffic's SYN retransmissions, the SYNs dropped on the
		// way in: no other route.
		{name: "ledger: retransmissions elsewhere, SYNs dropped on the way in", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 40, "IpInReceives", 33, "IpInDelivers", 15, "IpOutRequests", 55, "IpOutTransmits", 55), Sysctls: modern},
			kind: KindFiltered, conf: High, notKind: KindEgress},
		// Before 6.7 nothing counts a packet dropped on the way out, and
		// TCP does not count a SYN-ACK it failed to send as sent again:
		// the SYNs reached TCP (nothing dropped on the way in), so a drop
		// before TCP is no longer sure.
		{name: "ledger: nothing dropped on the way in, kernel without IpOutTransmits", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 33, "IpOutRequests", 15), Sysctls: modern},
			kind: KindFiltered, conf: Medium, evidence: "nothing was dropped between IP and TCP", notKind: KindEgress},
		// tc ingress (testdata/tc-ingress-drop): the SYNs outnumber all
		// IP received, and IP dropped nothing itself.
		{name: "ledger: dropped before IP", l: withSYNs(firewallDrop(), 21),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 15, "IpInDelivers", 15, "IpOutRequests", 15, "IpOutTransmits", 15), Sysctls: modern},
			kind: KindFiltered, conf: High, mode: "before_ip", notKind: KindEgress},
		// A capture that ran longer than the snapshots, netfilter
		// dropping: more SYNs than IP received, but IP dropped some.
		{name: "ledger: more SYNs than IP received, netfilter dropping", l: withSYNs(firewallDrop(), 40),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 33, "IpInDelivers", 15), Sysctls: modern},
			kind: KindFiltered, conf: High, evidence: "IP received 18 packets it neither delivered"},
		// ... or within what a capture's edges outside the snapshots add.
		{name: "ledger: a few more SYNs than IP received", l: withSYNs(firewallDrop(), 21),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 19, "IpInDelivers", 19), Sysctls: modern},
			kind: KindFiltered, conf: Medium},
		{name: "ledger: rp_filter", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtIPReversePathFilter", 18, "IpInReceives", 33, "IpInDelivers", 15), Sysctls: modern},
			kind: KindFiltered, conf: High, mode: "rp_filter", evidence: "failing the reverse-path check"},
		// TCP counted no overflow: the ACKs went somewhere before TCP, or
		// TCP dropped them silently (IP's ledger tells which).
		{name: "ACKs ignored, counters say no overflow", l: ackIgnored(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3), Sysctls: modern},
			kind: KindFiltered, conf: Medium, mode: "ack_dropped", ruledOut: []Kind{KindAcceptQueue}},
		{name: "ACKs ignored, no overflow, IP dropped them", l: ackIgnored(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 40, "IpInDelivers", 22), Sysctls: modern},
			kind: KindFiltered, conf: High, mode: "ack_dropped", ruledOut: []Kind{KindAcceptQueue}, evidence: "dropped between the wire and TCP"},
		{name: "ACKs ignored, no overflow, IP delivered them", l: ackIgnored(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "IpInReceives", 40, "IpInDelivers", 40), Sysctls: modern},
			kind: KindInconclusive, conf: Low, ruledOut: []Kind{KindAcceptQueue}},
		{name: "ACKs ignored, counters agree", l: ackIgnored(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenOverflows", 18, "TcpExtListenDrops", 18)},
			kind: KindAcceptQueue, conf: High, mode: "ack_ignored"},
		{name: "PAWS pattern, counter says no", l: func() Listener {
			l := Listener{Server: server, Attempts: 10, ServerTook: 6, DroppedSYNPackets: 4}
			l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 6, 4
			l.Signs.PAWS = pawsEvidence{Rejected: 4, Sources: 1, Answered: 6, MaxClocks: 2, WorstIP: netip.MustParseAddr("10.0.0.9")}
			return l
		}(), host: &host.Host{Deltas: zero("TcpPassiveOpens", 6, "TcpExtListenDrops", 4, "TcpExtPAWSPassive", 0), Sysctls: modern},
			notKind: KindPAWS, ruledOut: []Kind{KindPAWS, KindFiltered}, kind: KindSYNQueue, conf: Medium, mode: "three_quarters"},
		{name: "SYN answered by a bare ACK", l: func() Listener {
			l := Listener{Server: server, Attempts: 8, ServerTook: 6}
			l.Outcomes[Established], l.Outcomes[SYNAnsweredByACK] = 6, 2
			return l
		}(), kind: KindOldState, conf: Medium},
		// Synthetic old-kernel semantics (the lab kernel is 6.18).
		{name: "RHEL 6: SYNs dropped at a full accept queue are not counted", l: idleOverflow(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3), Sysctls: map[string]string{"kernel.osrelease": "2.6.32-754.el6.x86_64"}},
			kind: KindAcceptQueue, conf: Medium, notKind: KindHealthy},
		{name: "RHEL 7: ListenDrops counts cookies sent, not a 3/4-rule drop", l: cookies(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 10, "TcpExtSyncookiesSent", 10, "TcpExtListenDrops", 10), Sysctls: map[string]string{"kernel.osrelease": "3.10.0-1160.el7.x86_64"}},
			kind: KindSYNQueue, conf: High, notKind: KindInconclusive},
		{name: "before 4.10: SYNs at a full accept queue answered, their ACKs ignored (young <= 1)", l: ackIgnored(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenOverflows", 18, "TcpExtListenDrops", 18), Sysctls: map[string]string{"kernel.osrelease": "4.4.0-210-generic"}},
			kind: KindAcceptQueue, conf: High, mode: "ack_ignored"},
		{name: "syncookies", l: cookies(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 10, "TcpExtSyncookiesSent", 10, "TcpExtTCPReqQFullDoCookies", 10, "TcpExtSyncookiesRecv", 10)},
			kind: KindSYNQueue, conf: High},
		{name: "forced syncookies", l: cookies(),
			host: &host.Host{Sysctls: map[string]string{"net.ipv4.tcp_syncookies": "2"}},
			kind: KindSYNQueue, mode: "forced_cookies", conf: High},
		// A cookie whose timestamp lags 0 to 2 ticks passes for a plain
		// SYN-ACK: a fresh forced-cookies recording showed 8 of 10.
		{name: "forced syncookies, two lagging too little to tell", l: func() Listener {
			l := cookies()
			l.Signs.CookieAttempts, l.Signs.SyncookieSYNACKs, l.Signs.CookiesByTSLag, l.Signs.CookiesCompleted = 8, 8, 8, 8
			l.Signs.CookieLagUnsure, l.Signs.MaxHalfOpen = 2, 1
			return l
		}(), kind: KindSYNQueue, mode: "forced_cookies", conf: High},
		// TCP drops a SYN it has no route to answer (testdata/no-route-
		// back: IpOutNoRoutes = ListenDrops = 18, no queue counter).
		{name: "no route back", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenDrops", 18, "IpOutNoRoutes", 18), Sysctls: withSysctl(modern, "net.ipv4.tcp_syncookies", "1")},
			kind: KindEgress, conf: High, mode: "no_route", notKind: KindSYNQueue, ruledOut: []Kind{KindFiltered, KindAcceptQueue}},
		// The same seen from the client: the server's counters match
		// the SYNs the client sent, so none was lost on the way.
		{name: "no route back, seen from the client", l: func() Listener {
			l := firewallDrop()
			l.Signs.Vantage = VantageClient
			return l
		}(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenDrops", 18, "IpOutNoRoutes", 18), Sysctls: withSysctl(modern, "net.ipv4.tcp_syncookies", "1")},
			kind: KindEgress, conf: High, mode: "no_route"},
		// Syncookies off and half-open handshakes waiting: the 3/4 rule
		// drops the same way, and IP's count may be other traffic's.
		{name: "no route back, or the 3/4 rule", l: func() Listener {
			l := firewallDrop()
			l.Attempts, l.Outcomes[SYNACKUnacked] = 8, 2
			return l
		}(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenDrops", 18, "IpOutNoRoutes", 18), Sysctls: withSysctl(modern, "net.ipv4.tcp_syncookies", "0")},
			kind: KindEgress, conf: Medium, mode: "no_route"},
		// IPv4 counts every failed route lookup: listen drops without
		// one are something else (memory, a security module).
		{name: "listen drops, no route failure counted", l: firewallDrop(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenDrops", 18, "IpOutNoRoutes", 0), Sysctls: withSysctl(modern, "net.ipv4.tcp_syncookies", "1")},
			kind: KindInconclusive, conf: Low, notKind: KindEgress},
		// None beyond the queues and no route failure at all: a count of
		// none covers nothing, however few the SYNs (2 read "at least one
		// for each of the 2").
		{name: "two unanswered SYNs, no listen drop beyond the queues, no route failure", l: func() Listener {
			l := firewallDrop()
			l.DroppedSYNPackets, l.Outcomes[UnansweredSYN] = 2, 1
			return l
		}(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 3, "TcpExtListenDrops", 24, "TcpExtListenOverflows", 24, "IpOutNoRoutes", 0), Sysctls: modern},
			kind: KindAcceptQueue, conf: Medium, notKind: KindEgress},
		{name: "cookies the counters deny", l: cookies(),
			host: &host.Host{Deltas: zero("TcpPassiveOpens", 10)},
			kind: KindHealthy, conf: High, ruledOut: []Kind{KindSYNQueue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result{Listeners: []Listener{tt.l}, Attempts: tt.l.Attempts, DataNotCaptured: tt.missed}
			Diagnose(&r, tt.host)
			v := r.Verdict
			all := strings.Join(v.Evidence, "\n")
			if v.Kind != tt.kind || v.Confidence != tt.conf {
				t.Fatalf("verdict %s/%s, want %s/%s\n%s\n%s", v.Kind, v.Confidence, tt.kind, tt.conf, v.Summary, all)
			}
			if tt.mode != "" && v.Mode != tt.mode {
				t.Errorf("mode %q, want %q", v.Mode, tt.mode)
			}
			if tt.evidence != "" && !strings.Contains(all, tt.evidence) {
				t.Errorf("evidence does not say %q:\n%s", tt.evidence, all)
			}
			d := r.Listeners[0].Diagnosis
			for _, k := range tt.ruledOut {
				found := false
				for _, f := range d.RuledOut {
					found = found || f.Kind == k
				}
				if !found {
					t.Errorf("%s not ruled out; ruled out: %v", k, kinds(d.RuledOut))
				}
			}
			for _, f := range d.Findings {
				if (tt.notKind != "" && f.Kind == tt.notKind) || (tt.notHealth && f.Kind == KindHealthy) {
					t.Errorf("finding %s/%s should not be there", f.Kind, f.Confidence)
				}
				if f.Confidence == "" {
					t.Errorf("finding %s without a confidence", f.Kind)
				}
				for i, s := range f.Signs {
					if i >= len(f.Evidence) || f.Evidence[i] != s.Says {
						t.Errorf("%s: evidence line %d does not match sign %q", f.Kind, i, s.Says)
					}
				}
			}
		})
	}
}

// withSysctl is m with name set to v (a copy).
func withSysctl(m map[string]string, name, v string) map[string]string {
	c := maps.Clone(m)
	c[name] = v
	return c
}

func withSYNs(l Listener, n int) Listener {
	l.SYNPackets = n
	return l
}

// countersAt0 is a delta map as nstat -az gives it on a 6.x kernel: every
// reconciled counter at 0 (PAWSPassive absent: the kernel has none), then
// the name, value pairs given.
// TestNoSourceClaimPastTheCap: with more source addresses than a
// listener's source table counts, "all unanswered SYNs came from one
// address" is only known of the first ones: the sign is not made when
// unanswered attempts came from addresses past the cap.
func TestNoSourceClaimPastTheCap(t *testing.T) {
	l := Listener{Server: netip.MustParseAddrPort("10.0.0.2:8080"), Attempts: 6, ServerTook: 3, DroppedSYNPackets: 18}
	l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 3, 3
	l.Signs.UnansweredSources, l.Signs.NeverAnsweredSources = 1, 1
	l.Signs.TopUnansweredSource, l.Signs.TopUnansweredAttempts = netip.MustParseAddr("10.0.0.3"), 1
	for _, tc := range []struct {
		name            string
		counted         int
		capped, claimed bool
	}{
		{"every source counted", 3, false, true},
		{"two unanswered attempts from addresses past the cap", 1, true, false},
	} {
		l := l
		l.Signs.SourceUnanswered, l.Signs.SourcesCapped = tc.counted, tc.capped
		r := Result{Listeners: []Listener{l}, Attempts: l.Attempts}
		Diagnose(&r, nil)
		claimed := false
		d := r.Listeners[0].Diagnosis
		for _, f := range append(append([]Finding{d.Verdict}, d.Findings...), d.RuledOut...) {
			for _, s := range f.Signs {
				claimed = claimed || strings.Contains(s.Says, "came from one address")
			}
		}
		if claimed != tc.claimed {
			t.Errorf("%s: one-address claim made %v, want %v", tc.name, claimed, tc.claimed)
		}
	}
}

// TestSSSaysWhetherAListenerWasThere: ss -lnt files or synq live's samples
// taken on the host during the refusals say whether a socket listened on the port: none in
// any sample is for "no listener", one in every sample against it.
func TestSSSaysWhetherAListenerWasThere(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	l := Listener{Server: server, Attempts: 6}
	l.Outcomes[Rejected] = 6
	for _, tc := range []struct {
		name    string
		queues  []host.QueuePeak
		samples int
		says    string
		against bool
	}{
		{"nothing listening", nil, 5, "No socket listened on port 8080 in any of the 5", false},
		{"listening throughout", []host.QueuePeak{{Listener: netip.MustParseAddrPort("0.0.0.0:8080"), Samples: 5}}, 5, "in each of the 5 listen-queue samples", true},
		{"gone for a while", []host.QueuePeak{{Listener: server, Samples: 2}}, 5, "in only 2 of the 5 listen-queue samples", false},
	} {
		r := Result{Listeners: []Listener{l}, Attempts: l.Attempts}
		Diagnose(&r, &host.Host{Queues: tc.queues, QueueSamples: tc.samples})
		d := r.Listeners[0].Diagnosis
		found := false
		for _, f := range append(append([]Finding{d.Verdict}, d.Findings...), d.RuledOut...) {
			if f.Kind != KindNoListener {
				continue
			}
			for _, s := range f.Signs {
				if strings.Contains(s.Says, tc.says) && s.Against == tc.against && s.From == FromQueues {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s sign %q on no_listener", tc.name, map[bool]string{true: "against", false: "for"}[tc.against], tc.says)
		}
	}
}

// TestForcedCookiesReconcileEverySYNACK: with cookies forced
// (tcp_syncookies=2) every SYN-ACK is a cookie, including one whose
// timestamp lags too little to be recognised (a fresh forced-cookies run:
// 9 of 10 recognised, the kernel counted 10). The reconciliation counts
// them all; for cookies from a full queue it counts the recognised ones.
func TestForcedCookiesReconcileEverySYNACK(t *testing.T) {
	l := Listener{Server: netip.MustParseAddrPort("10.0.0.2:8080"), Attempts: 10, ServerTook: 10, SYNACKPackets: 10}
	l.Outcomes[Established] = 10
	l.Signs.CookieAttempts, l.Signs.SyncookieSYNACKs, l.Signs.CookiesByTSLag, l.Signs.CookiesCompleted = 9, 9, 9, 9
	full := l
	full.Signs.HalfOpenAtFirstCookie, full.Signs.MaxHalfOpen = 5, 5
	deltas := countersAt0("TcpPassiveOpens", 10, "TcpExtSyncookiesSent", 10, "TcpExtSyncookiesRecv", 10, "TcpExtTCPReqQFullDoCookies", 10)
	for _, tc := range []struct {
		name    string
		l       Listener
		sysctls map[string]string
		want    int64
	}{
		{"forced by the sysctl", full, map[string]string{"net.ipv4.tcp_syncookies": "2"}, 10},
		{"forced, from packets", l, nil, 10},
		{"a full SYN queue", full, map[string]string{"net.ipv4.tcp_syncookies": "1"}, 9},
	} {
		r := Result{Listeners: []Listener{tc.l}, Attempts: tc.l.Attempts}
		Diagnose(&r, &host.Host{Deltas: deltas, Sysctls: tc.sysctls})
		for _, rc := range r.Reconciliation {
			switch rc.Counter {
			case "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtTCPReqQFullDoCookies":
				if rc.Explained == nil || *rc.Explained != tc.want {
					t.Errorf("%s: %s explained %s, want %d", tc.name, rc.Counter, fmtExplained(rc.Explained), tc.want)
				}
			}
		}
	}
}

// TestCookiesTheCaptureCannotTell: on a listener that sent cookies (not
// forced), a completed handshake whose SYN-ACK timestamp lagged the clock
// by 0 to 2 ticks may have been a cookie too (a fresh syncookies-flood
// run: the kernel counted 288 cookies, 287 recognised). The
// reconciliation says so (Unsure), and the kernel's delta lies within;
// a listener without cookies has none unsure.
func TestCookiesTheCaptureCannotTell(t *testing.T) {
	l := Listener{Server: netip.MustParseAddrPort("10.0.0.2:8080"), Attempts: 305, ServerTook: 5, SYNACKPackets: 288}
	l.Outcomes[Established], l.Outcomes[SYNACKUnacked] = 5, 283
	l.Signs.CookieAttempts, l.Signs.SyncookieSYNACKs, l.Signs.CookiesByTSLag, l.Signs.CookiesByNoRetrans, l.Signs.CookiesCompleted = 287, 287, 4, 283, 4
	l.Signs.HalfOpenAtFirstCookie, l.Signs.MaxHalfOpen = 3, 3
	l.Signs.CookieLagUnsure = 1
	none := Listener{Server: netip.MustParseAddrPort("10.0.0.2:9090"), Attempts: 5, ServerTook: 5, SYNACKPackets: 5}
	none.Outcomes[Established] = 5
	none.Signs.CookieLagUnsure = 5
	deltas := countersAt0("TcpPassiveOpens", 5, "TcpExtSyncookiesSent", 288, "TcpExtSyncookiesRecv", 5)
	for _, tc := range []struct {
		name   string
		l      Listener
		unsure int64
	}{{"cookies sent", l, 1}, {"no cookies", none, 0}} {
		r := Result{Listeners: []Listener{tc.l}, Attempts: tc.l.Attempts}
		Diagnose(&r, &host.Host{Deltas: deltas})
		for _, rc := range r.Reconciliation {
			if rc.Counter != "TcpExtSyncookiesSent" && rc.Counter != "TcpExtSyncookiesRecv" {
				continue
			}
			if rc.Unsure != tc.unsure {
				t.Errorf("%s: %s unsure %d, want %d", tc.name, rc.Counter, rc.Unsure, tc.unsure)
			}
			if tc.unsure > 0 && !strings.Contains(rc.Note, "cookie too") && !strings.Contains(rc.Note, "cookies too") {
				t.Errorf("%s: %s note does not say why: %s", tc.name, rc.Counter, rc.Note)
			}
		}
	}
}

func fmtExplained(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func countersAt0(kv ...any) map[string]int64 {
	d := map[string]int64{}
	for _, k := range ReconciledCounters() {
		if k != "TcpExtPAWSPassive" {
			d[k] = 0
		}
	}
	for i := 0; i < len(kv); i += 2 {
		d[kv[i].(string)] = int64(kv[i+1].(int))
	}
	return d
}

func kinds(fs []Finding) []Kind {
	var out []Kind
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

// TestNeverHighAgainstADropCounter: whatever the packets show, no "high"
// healthy verdict stands while a drop counter rose past what the capture
// explains.
func TestNeverHighAgainstADropCounter(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.2:80")
	for _, ctr := range []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtSyncookiesSent"} {
		for _, n := range []int{3, 50} {
			l := Listener{Server: server, Attempts: n, ServerTook: n}
			l.Outcomes[Established] = n
			d := countersAt0("TcpPassiveOpens", n, ctr, 7)
			r := Result{Listeners: []Listener{l}, Attempts: n}
			Diagnose(&r, &host.Host{Deltas: d})
			if r.Verdict.Kind == KindHealthy {
				t.Errorf("%s +7, %d attempts: verdict healthy/%s", ctr, n, r.Verdict.Confidence)
			}
			if r.Verdict.Confidence == High {
				t.Errorf("%s +7, %d attempts: %s with high confidence from counters alone", ctr, n, r.Verdict.Kind)
			}
		}
	}
}

func TestConfidenceOf(t *testing.T) {
	s := func(st Strength, against bool) Sign { return Sign{Strength: st, Against: against} }
	tests := []struct {
		signs []Sign
		want  Confidence
		out   bool
	}{
		{[]Sign{s(Weak, false)}, Low, false},
		{[]Sign{s(Strong, false)}, Medium, false},
		{[]Sign{s(Decisive, false)}, High, false},
		{[]Sign{s(Decisive, false), s(Strong, true)}, Medium, false},
		{[]Sign{s(Strong, false), s(Weak, true)}, Medium, false},
		{[]Sign{s(Decisive, false), s(Decisive, true)}, Low, true},
		{[]Sign{s(Weak, false), s(Strong, true)}, Low, false},
	}
	for i, tt := range tests {
		c, out := confidenceOf(tt.signs)
		if c != tt.want || out != tt.out {
			t.Errorf("case %d: %s, ruled out %v; want %s, %v", i, c, out, tt.want, tt.out)
		}
	}
}

func TestGenerationOfRelease(t *testing.T) {
	for rel, want := range map[string]Generation{
		"2.6.32-754.el6.x86_64": Gen1, "3.10.0-1160.el7.x86_64": Gen2, "4.9.0": Gen2,
		"4.10.1": Gen3, "5.15.0-91-generic": Gen3, "6.18.44-fc-v657": Gen3, "": GenUnknown, "abc": GenUnknown,
	} {
		if got := generationOfRelease(rel); got != want {
			t.Errorf("%q: %d, want %d", rel, got, want)
		}
	}
}

// TestWaitingSYNsAreNotHealthy: SYNs still unanswered at the end of the
// capture, long after the server answered others, leave no healthy
// verdict without counters (inconclusive, naming what decides), whether
// they waited long enough is judged against the server's own answers,
// and counters saying nothing was dropped let healthy stand, though not
// for sure (nothing counted them, which a path that lost them fits).
func TestWaitingSYNsAreNotHealthy(t *testing.T) {
	const end = int64(1000 * time.Second)
	waitingFor := func(i int, d time.Duration) reassemble.Attempt {
		t0 := end - int64(d)
		return reassemble.Attempt{Handshake: reassemble.Handshake{
			Client: netip.AddrPortFrom(nthClient(1000+i), 40000), Server: testServer,
			SYNs: 1, DroppedSYNs: 1, FirstSYN: t0, LastSYN: t0, FirstPacket: t0, LastPacket: t0,
			End: reassemble.EndCaptureEnd,
		}}
	}
	for _, tc := range []struct {
		name    string
		waits   []time.Duration
		answer  time.Duration // the server's SYN to SYN-ACK time
		host    *host.Host
		want    Kind
		waiting int
	}{
		{"two SYNs waiting 0.5 s, answers in 1 µs", []time.Duration{500 * time.Millisecond, 800 * time.Millisecond}, time.Microsecond, nil, KindInconclusive, 2},
		{"SYNs of the last 100 ms", []time.Duration{10 * time.Millisecond, 100 * time.Millisecond}, time.Microsecond, nil, KindHealthy, 0},
		{"answers in 80 ms: 0.5 s is not long", []time.Duration{500 * time.Millisecond}, 80 * time.Millisecond, nil, KindHealthy, 0},
		{"counters: nothing dropped", []time.Duration{500 * time.Millisecond}, time.Microsecond,
			&host.Host{Deltas: countersAt0("TcpPassiveOpens", 30), Sysctls: map[string]string{"kernel.osrelease": "6.18.0"}}, KindHealthy, 1},
		{"counters: IP left 9 packets undelivered", []time.Duration{500 * time.Millisecond}, time.Microsecond,
			&host.Host{Deltas: countersAt0("TcpPassiveOpens", 30, "IpInReceives", 100, "IpInDelivers", 91), Sysctls: map[string]string{"kernel.osrelease": "6.18.0"}}, KindInconclusive, 1},
		{"counters: SYN-ACKs sent again unseen", []time.Duration{500 * time.Millisecond}, time.Microsecond,
			&host.Host{Deltas: countersAt0("TcpPassiveOpens", 30, "TcpExtTCPSynRetrans", 6), Sysctls: map[string]string{"kernel.osrelease": "6.18.0"}}, KindInconclusive, 1},
	} {
		var atts []reassemble.Attempt
		for i := range 30 {
			a := established(nthClient(i), 10+i)
			a.FirstSYNACK, a.LastSYNACK = a.FirstSYN+int64(tc.answer), a.FirstSYN+int64(tc.answer)
			atts = append(atts, a)
		}
		for i, d := range tc.waits {
			atts = append(atts, waitingFor(i, d))
		}
		r := aggregate(atts...)
		Diagnose(&r, tc.host)
		l := r.Listeners[0]
		if l.Signs.SYNsWaiting != tc.waiting || l.Diagnosis.Verdict.Kind != tc.want {
			t.Errorf("%s: %d SYNs waiting, verdict %s; want %d, %s\n%v", tc.name, l.Signs.SYNsWaiting, l.Diagnosis.Verdict.Kind, tc.waiting, tc.want, l.Diagnosis.Verdict.Signs)
		}
		if tc.want == KindHealthy && tc.waiting > 0 && l.Diagnosis.Verdict.Confidence == High {
			t.Errorf("%s: healthy, high, beside %d SYNs waiting", tc.name, tc.waiting)
		}
		if tc.want == KindInconclusive && tc.host == nil && !strings.Contains(fmt.Sprint(l.Diagnosis.Verdict.Signs), "nstat -az") {
			t.Errorf("%s: the inconclusive verdict does not say what decides it", tc.name)
		}
		if tc.want == KindInconclusive && tc.host != nil && !strings.Contains(fmt.Sprint(l.Diagnosis.Verdict.Signs), "count drops the capture does not show") {
			t.Errorf("%s: the inconclusive verdict does not say what the counters count", tc.name)
		}
	}
}

// TestWaitingSYNsWithNothingFromTheServer: SYNs waiting at the end of a
// capture that holds nothing from the server at all may be a capture
// filtered to the clients' SYNs ('tcp-syn and dst port 8080'); the
// verdict says so, and does not where the server answered others.
func TestWaitingSYNsWithNothingFromTheServer(t *testing.T) {
	const end = int64(1000 * time.Second)
	var atts []reassemble.Attempt
	for i := range 10 {
		t0 := end - int64(time.Second) + int64(i)*int64(20*time.Millisecond)
		atts = append(atts, reassemble.Attempt{Handshake: reassemble.Handshake{
			Client: netip.AddrPortFrom(nthClient(i), 40000), Server: testServer,
			SYNs: 1, DroppedSYNs: 1, FirstSYN: t0, LastSYN: t0, FirstPacket: t0, LastPacket: t0,
			End: reassemble.EndCaptureEnd,
		}})
	}
	r := aggregate(atts...)
	Diagnose(&r, nil)
	v := r.Listeners[0].Diagnosis.Verdict
	if v.Kind != KindInconclusive || !strings.Contains(v.Summary, "left the answers out") {
		t.Errorf("only SYNs in the capture: %s, %q", v.Kind, v.Summary)
	}
	atts = append(atts, established(nthClient(50), 5))
	r = aggregate(atts...)
	Diagnose(&r, nil)
	if v := r.Listeners[0].Diagnosis.Verdict; strings.Contains(v.Summary, "left the answers out") {
		t.Errorf("the server answered one: %q", v.Summary)
	}
}

// TestOneWayFloodSources: in a capture of the clients' packets only, many
// sources none of whose SYNs went on are named as a flood's shape, and a
// few are not.
func TestOneWayFloodSources(t *testing.T) {
	for _, tc := range []struct {
		sources int
		want    bool
	}{{30, true}, {5, false}} {
		var atts []reassemble.Attempt
		for i := range 5 {
			a := established(nthClient(100+i), 1+i)
			a.SYNACKs, a.FirstSYNACK, a.LastSYNACK, a.SYNACKNotCaptured, a.ServerAccepted = 0, 0, 0, true, false
			atts = append(atts, a)
		}
		for i := range tc.sources {
			atts = append(atts, unanswered(nthClient(i), 10+i))
		}
		r := aggregate(atts...)
		Diagnose(&r, nil)
		l := r.Listeners[0]
		if !l.Signs.ServerUnseen || l.Signs.SilentSources != tc.sources {
			t.Fatalf("%d sources: one way %v, %d silent sources", tc.sources, l.Signs.ServerUnseen, l.Signs.SilentSources)
		}
		if got := strings.Contains(strings.Join(l.Diagnosis.Verdict.Evidence, " "), "SYN flood"); got != tc.want || l.Diagnosis.Verdict.Confidence != Low {
			t.Errorf("%d sources: flood named %v, want %v; %s/%s", tc.sources, got, tc.want, l.Diagnosis.Verdict.Kind, l.Diagnosis.Verdict.Confidence)
		}
	}
}
