package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestSlicedCapturesClaimNoMore cuts every real-kernel capture (and the
// clients' captures some scenarios keep beside) into thirds by time and reads each third with the whole run's counters, as
// an on-call engineer does with a capture started late or stopped early:
// the counters then cover more than the capture. A third holds a subset
// of the packets and the same counters, so it may know less, never more:
//   - a listener sure of a cause (high) names one the whole capture also
//     finds there (its verdict or another finding);
//   - it does not rule out the whole capture's sure verdict;
//   - "healthy, high" stands only where the report's own counter table
//     shows nothing past what the third holds: no listen-queue drop, SYN
//     or SYN-ACK sent again, or reset sent, and nothing IP left
//     undelivered, beyond the capture's edges (slices of a listener
//     restart, an ECN-dropping rule and lost SYN-ACKs read "healthy,
//     high" beside TcpOutRsts 8, IP's 10 undelivered SYNs and
//     TcpExtTCPSynRetrans 6 the third did not hold).
func TestSlicedCapturesClaimNoMore(t *testing.T) {
	dir := t.TempDir()
	var captures []scenario
	for _, sc := range scenarios(t) {
		if !strings.HasSuffix(sc.capture, ".pcap") {
			continue // (one pcapng: the same packets as a pcap scenario)
		}
		captures = append(captures, sc)
		if p := filepath.Join(sc.dir, "client.pcap"); fileExists(p) {
			// The client's end of the same run, with the server's
			// counters: a third of long-round-trip's (1.4 s round
			// trip, 2 timed handshakes) was read as the server's and
			// said "SYN-ACKs left by another route, high".
			captures = append(captures, scenario{name: sc.name + "-client", dir: sc.dir, capture: p})
		}
	}
	for _, sc := range captures {
		full := scenarioJSON(t, sc, withNstat(sc)...)
		found := map[string]map[string]bool{}
		sure := map[string]string{}
		for _, l := range full.Listeners {
			found[l.Server] = map[string]bool{l.Verdict.Kind: true}
			for _, f := range l.Findings {
				found[l.Server][f.Kind] = true
			}
			if l.Verdict.Confidence == "high" {
				sure[l.Server] = l.Verdict.Kind
			}
		}
		pf := readPcapFile(t, sc.capture)
		if len(pf.recs) < 6 {
			continue
		}
		t0, t1 := pf.recs[0].ci.Timestamp, pf.recs[len(pf.recs)-1].ci.Timestamp
		third := t1.Sub(t0) / 3
		for i, part := range []string{"first", "middle", "last"} {
			from, to := t0.Add(time.Duration(i)*third), t0.Add(time.Duration(i+1)*third)
			var recs []pcapRecord
			for _, r := range pf.recs {
				if !r.ci.Timestamp.Before(from) && (r.ci.Timestamp.Before(to) || i == 2) {
					recs = append(recs, r)
				}
			}
			if len(recs) == 0 {
				continue
			}
			cut := sc
			cut.capture = filepath.Join(dir, sc.name+"-"+part+".pcap")
			pf.write(t, cut.capture, recs)
			r := scenarioJSON(t, cut, withNstat(sc)...)
			for _, l := range r.Listeners {
				v := l.Verdict
				if v.Confidence == "high" && v.Kind != "forwarded" && !found[l.Server][v.Kind] {
					t.Errorf("%s, %s third: %s %s, high; the whole capture finds %v there", sc.name, part, l.Server, v.Kind, found[l.Server])
				}
				for _, f := range l.RuledOut {
					if k := sure[l.Server]; k != "" && f.Kind == k {
						t.Errorf("%s, %s third: %s rules out %s, the whole capture's sure verdict: %s", sc.name, part, l.Server, k, f.Summary)
					}
				}
				if v.Kind == "healthy" && v.Confidence == "high" {
					if past := countedPast(r); past != "" {
						t.Errorf("%s, %s third: %s healthy, high, beside counters past the capture: %s", sc.name, part, l.Server, past)
					}
				}
			}
		}
	}
}

// countedPast names what a report's counters count past its capture: a
// reconciled drop, retransmission or reset counter above what the
// capture explains, or packets IP received and never handed on above the
// unanswered SYN packets, each by more than a capture's edges explain
// (analyze's coverageSlack: 2, or 5% of what was seen).
func countedPast(r reportJSON) string {
	if r.Nstat == nil {
		return ""
	}
	slack := func(n int64) int64 { return max(2, n/20) }
	var past []string
	for _, rc := range r.Nstat.Reconciliation {
		switch rc.Counter {
		case "TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtTCPSynRetrans", "TcpOutRsts":
			if rc.Explained != nil && rc.Delta > *rc.Explained+rc.Unsure+slack(*rc.Explained) {
				past = append(past, fmt.Sprintf("%s %d (capture %d)", rc.Counter, rc.Delta, *rc.Explained))
			}
		}
	}
	d := r.Nstat.Deltas
	var dropped int64
	for _, l := range r.Listeners {
		dropped += int64(l.DroppedSYNPackets)
	}
	for _, fam := range [][]string{{"IpInReceives", "IpInDelivers", "IpForwDatagrams", "IpInHdrErrors", "IpInAddrErrors", "IpInUnknownProtos", "IpInDiscards", "IpExtInNoRoutes", "IpExtInTruncatedPkts"},
		{"Ip6InReceives", "Ip6InDelivers", "Ip6OutForwDatagrams", "Ip6InHdrErrors", "Ip6InTooBigErrors", "Ip6InAddrErrors", "Ip6InUnknownProtos", "Ip6InDiscards", "Ip6InNoRoutes", "Ip6InTruncatedPkts"}} {
		left := d[fam[0]]
		for _, n := range fam[1:] {
			left -= d[n]
		}
		if left > dropped+slack(dropped) {
			past = append(past, fmt.Sprintf("%s: %d received, not delivered (capture: %d unanswered SYNs)", fam[0], left, dropped))
		}
	}
	return strings.Join(past, "; ")
}

// TestFlagFilteredCapturesClaimNoMore keeps only the packets of every
// real-kernel capture that a flags filter users take to keep files small
// would ('tcp[tcpflags] & tcp-syn != 0', and with tcp-rst), and reads
// them with the run's counters: a high verdict must name a cause the
// whole capture finds on that listener. With the resets filtered out,
// v6only-wildcard's IPv4 listener (no socket: every SYN refused) read
// "accept queue overflow, high": the overflows counted were 2 short of
// the capture's dropped SYNs on all listeners, and its 2 fell within the
// edges' slack.
func TestFlagFilteredCapturesClaimNoMore(t *testing.T) {
	dir := t.TempDir()
	filters := map[string]func(*layers.TCP) bool{
		"tcp-syn":         func(tcp *layers.TCP) bool { return tcp.SYN },
		"tcp-syn|tcp-rst": func(tcp *layers.TCP) bool { return tcp.SYN || tcp.RST },
	}
	for _, sc := range scenarios(t) {
		if !strings.HasSuffix(sc.capture, ".pcap") || scenarioArgs(t, sc) != nil {
			continue // (tunnels: the flags filter would see the outer headers)
		}
		whole := scenarioJSON(t, sc, withNstat(sc)...)
		for name, keep := range filters {
			cut := sc
			cut.capture = filepath.Join(dir, sc.name+".pcap")
			filterPcap(t, sc.capture, cut.capture, func(_ int, data []byte, lt layers.LinkType) bool {
				tcp, ok := gopacket.NewPacket(data, lt, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
				return ok && keep(tcp)
			})
			for _, l := range scenarioJSON(t, cut, withNstat(sc)...).Listeners {
				if v := l.Verdict; v.Confidence == "high" && v.Kind != "forwarded" && !foundOn(whole, l.Server, v.Kind) {
					t.Errorf("%s, '%s' only: %s %s, high; the whole capture does not find it there", sc.name, name, l.Server, v.Kind)
				}
			}
		}
	}
}
