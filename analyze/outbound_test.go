package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/synq/synq/host"
)

// TestCountersPickTheirSide: a proxy at 10.0.0.2 serves :80 to a client
// at 10.0.0.1, which is also where its backend (:9000, full queue)
// listens, so each listener's only client is the other's server (the
// lab's two namespaces). The counters decide whose they are: the proxy's
// count its connects and SYNs sent again, and the backend's full queue is
// judged on its packets; the backend's count its overflows, and its
// queue is proved by them.
func TestCountersPickTheirSide(t *testing.T) {
	proxyAddr, backendAddr := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	result := func() Result {
		front := Listener{Server: netip.AddrPortFrom(proxyAddr, 80), Attempts: 8, ServerTook: 8}
		front.Outcomes[Established] = 8
		front.Signs.OnlySource = backendAddr
		backend := Listener{Server: netip.AddrPortFrom(backendAddr, 9000), Attempts: 8, DroppedSYNPackets: 20, CompletedSilent: 3, clientSYNRetx: 15}
		backend.Outcomes[Established], backend.Outcomes[UnansweredSYN] = 3, 5
		backend.Signs.AcceptAtFirstDrop = 3
		backend.Signs.OnlySource = proxyAddr
		return Result{Listeners: []Listener{front, backend}, Attempts: 16}
	}
	modern := map[string]string{"kernel.osrelease": "6.18.0"}
	for _, tc := range []struct {
		name             string
		counters         map[string]int64
		outbound         [2]bool
		backendConf      Confidence
		backendEvidence  string
		frontHealthyConf Confidence
	}{
		{"the proxy's counters", countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 8, "TcpExtTCPSynRetrans", 15),
			[2]bool{false, true}, Medium, "10.0.0.2's, this listener's client", High},
		{"the backend's counters", countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 3, "TcpExtListenOverflows", 20, "TcpExtListenDrops", 20),
			[2]bool{true, false}, High, "exactly", Medium},
		// Neither side's: nothing marked, the counters set aside as
		// not covering the capture.
		{"neither's", countersAt0("TcpActiveOpens", 1, "TcpPassiveOpens", 1),
			[2]bool{false, false}, Medium, "do not cover this capture", Medium},
	} {
		r := result()
		Diagnose(&r, &host.Host{Deltas: tc.counters, Sysctls: modern})
		for i, want := range tc.outbound {
			if r.Listeners[i].outbound != want {
				t.Errorf("%s: %s outbound %v, want %v", tc.name, r.Listeners[i].Server, r.Listeners[i].outbound, want)
			}
		}
		front, backend := r.Listeners[0].Diagnosis.Verdict, r.Listeners[1].Diagnosis.Verdict
		if backend.Kind != KindAcceptQueue || backend.Confidence != tc.backendConf || !strings.Contains(strings.Join(backend.Evidence, "\n"), tc.backendEvidence) {
			t.Errorf("%s: backend %s/%s, want %s/%s saying %q\n%s", tc.name, backend.Kind, backend.Confidence, KindAcceptQueue, tc.backendConf, tc.backendEvidence, strings.Join(backend.Evidence, "\n"))
		}
		if front.Kind != KindHealthy || front.Confidence != tc.frontHealthyConf {
			t.Errorf("%s: proxy %s/%s, want healthy/%s", tc.name, front.Kind, front.Confidence, tc.frontHealthyConf)
		}
	}
}

// TestCountersOfALoadBalancer: a backend captured on its client's side
// (a load balancer's host, 'port 9000'), its balancer serving nothing in
// the capture. Only the counters can say they are the balancer's: the
// SYNs it sent again. Counters that count what only the backend's host
// would (its listen drops, the resets it sent) are the backend's; a
// capture on the server's side is the server's.
func TestCountersOfALoadBalancer(t *testing.T) {
	lb := netip.MustParseAddr("10.0.0.2")
	backend := func(v Vantage) Listener {
		l := Listener{Server: netip.MustParseAddrPort("10.0.0.3:9000"), Attempts: 8, DroppedSYNPackets: 20, CompletedSilent: 3, clientSYNRetx: 15}
		l.Outcomes[Established], l.Outcomes[UnansweredSYN] = 3, 5
		l.Signs.AcceptAtFirstDrop = 3
		l.Signs.OnlySource, l.Signs.Vantage = lb, v
		return l
	}
	refusing := func() Listener {
		l := Listener{Server: netip.MustParseAddrPort("10.0.0.3:9000"), Attempts: 8, ServerRSTs: 8, clientSYNRetx: 0}
		l.Outcomes[Rejected] = 8
		l.Signs.OnlySource, l.Signs.Vantage = lb, VantageUnknown
		return l
	}
	for _, tc := range []struct {
		name     string
		l        Listener
		counters map[string]int64
		outbound bool
	}{
		{"the balancer's counters, client side", backend(VantageClient), countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 500, "TcpExtTCPSynRetrans", 15), true},
		{"the balancer's counters, no distance to tell", backend(VantageUnknown), countersAt0("TcpActiveOpens", 1008, "TcpPassiveOpens", 1008, "TcpExtTCPSynRetrans", 15), true},
		{"captured at the server", backend(VantageServer), countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 500, "TcpExtTCPSynRetrans", 15), false},
		{"the backend's counters: its listen drops", backend(VantageClient), countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 3, "TcpExtTCPSynRetrans", 15, "TcpExtListenOverflows", 20, "TcpExtListenDrops", 20), false},
		{"no SYN sent again to tell", refusing(), countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 500), false},
		{"the backend's counters: the resets it sent", refusing(), countersAt0("TcpActiveOpens", 8, "TcpPassiveOpens", 500, "TcpOutRsts", 8), false},
		{"too few connects", backend(VantageClient), countersAt0("TcpActiveOpens", 2, "TcpPassiveOpens", 500, "TcpExtTCPSynRetrans", 15), false},
	} {
		r := Result{Listeners: []Listener{tc.l}, Attempts: tc.l.Attempts}
		Diagnose(&r, &host.Host{Deltas: tc.counters})
		l := &r.Listeners[0]
		if l.outbound != tc.outbound {
			t.Errorf("%s: outbound %v, want %v", tc.name, l.outbound, tc.outbound)
		}
		if says := strings.Join(l.Diagnosis.Verdict.Evidence, "\n"); tc.outbound && !strings.Contains(says, "look like 10.0.0.2's") {
			t.Errorf("%s: the evidence does not say whose the counters look like:\n%s", tc.name, says)
		}
	}
}

// TestServicesCallingEachOther: captured on A, which serves B and calls
// B's service, each listener's only client the other's server. The one
// seen from its server's side (A's, measured) is A's; the counters, A's,
// count A's connects to B: B's listener is the outbound one, though the
// other reading explains as much (a tie, which marked nothing).
func TestServicesCallingEachOther(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	onA := Listener{Server: netip.AddrPortFrom(a, 8080), Attempts: 20, ServerTook: 20}
	onA.Outcomes[Established] = 20
	onA.Signs.OnlySource, onA.Signs.Vantage = b, VantageServer
	onB := Listener{Server: netip.AddrPortFrom(b, 9090), Attempts: 20, ServerTook: 20}
	onB.Outcomes[Established] = 20
	onB.Signs.OnlySource, onB.Signs.Vantage = a, VantageClient
	// Read as B's, the counters explain as much: B's 20 connects to A
	// and B's 20 connections taken. Only the vantage rules it out.
	r := Result{Listeners: []Listener{onA, onB}, Attempts: 40}
	Diagnose(&r, &host.Host{Deltas: countersAt0("TcpActiveOpens", 20, "TcpPassiveOpens", 20)})
	if r.Listeners[0].outbound || !r.Listeners[1].outbound {
		t.Errorf("outbound: A's listener %v, B's %v; want false, true", r.Listeners[0].outbound, r.Listeners[1].outbound)
	}
}
