package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestAnotherListenerChangesNoVerdict puts each real capture's traffic
// beside every other's, as one host's several listeners: the other
// capture's ports 8080-8089 moved to 18080-18089 (checksums recomputed),
// its times moved to begin with the first capture's and cut at its end,
// so that the first capture's listeners see the same span. Their
// verdicts must be what the first capture alone gives: what one listener
// does (its drops, its clients, its timing) is no evidence about another.
func TestAnotherListenerChangesNoVerdict(t *testing.T) {
	plain := plainScenarios(t)
	if len(plain) < 20 {
		t.Fatalf("only %d plain captures", len(plain))
	}
	alone := map[string]string{}
	for _, sc := range plain {
		for _, l := range scenarioJSON(t, sc).Listeners {
			alone[sc.name+" "+l.Server] = l.Verdict.Kind + "/" + l.Verdict.Confidence
		}
	}
	merged := scenario{capture: filepath.Join(t.TempDir(), "merged.pcap")}
	for i, a := range plain {
		fa := readPcapFile(t, a.capture)
		end := fa.recs[len(fa.recs)-1].ci.Timestamp
		for off := 1; off < len(plain); off++ {
			b := plain[(i+off)%len(plain)]
			fb := readPcapFile(t, b.capture)
			recs := slices.Clone(fa.recs)
			for _, r := range movePorts(t, fb, 8080, 10000, fa.recs[0].ci.Timestamp.Sub(fb.recs[0].ci.Timestamp)) {
				if !r.ci.Timestamp.After(end) {
					recs = append(recs, r)
				}
			}
			slices.SortStableFunc(recs, func(x, y pcapRecord) int { return x.ci.Timestamp.Compare(y.ci.Timestamp) })
			fa.write(t, merged.capture, recs)
			merged.name, merged.dir = a.name+"+"+b.name, a.dir
			seen := 0
			for _, l := range scenarioJSON(t, merged).Listeners {
				want, ok := alone[a.name+" "+l.Server]
				if !ok {
					continue
				}
				seen++
				if got := l.Verdict.Kind + "/" + l.Verdict.Confidence; got != want {
					t.Errorf("%s beside %s: %s, alone %s", l.Server, b.name, got, want)
				}
			}
			if seen == 0 {
				t.Errorf("%s beside %s: none of its listeners in the report", a.name, b.name)
			}
		}
	}
}

// movePorts moves TCP ports from..from+9 by by in every packet of f
// (checksums recomputed) and its times by shift.
func movePorts(t *testing.T, f pcapFile, from, by uint16, shift time.Duration) []pcapRecord {
	t.Helper()
	out := make([]pcapRecord, 0, len(f.recs))
	for _, r := range f.recs {
		p := gopacket.NewPacket(r.data, f.lt, gopacket.Default)
		data := r.data
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && p.NetworkLayer() != nil {
			for _, port := range []*layers.TCPPort{&tcp.SrcPort, &tcp.DstPort} {
				if *port >= layers.TCPPort(from) && *port < layers.TCPPort(from+10) {
					*port += layers.TCPPort(by)
				}
			}
			if err := tcp.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
				t.Fatal(err)
			}
			var ls []gopacket.SerializableLayer
			for _, l := range p.Layers() {
				if sl, ok := l.(gopacket.SerializableLayer); ok {
					ls = append(ls, sl)
				}
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
				t.Fatal(err)
			}
			data = buf.Bytes()
		}
		ci := r.ci
		ci.Timestamp = ci.Timestamp.Add(shift)
		ci.CaptureLength = len(data)
		ci.Length = max(ci.Length, len(data))
		out = append(out, pcapRecord{ci, data})
	}
	return out
}

// TestFileEndedEarlySaysSo: a capture read beside a longer one taken
// alongside it (both begun together, the other on other ports and going
// on after it) is said to have stopped early, by name; the same capture
// split in two where a rotation would split it, and beside a capture
// cut to its span, is not.
func TestFileEndedEarlySaysSo(t *testing.T) {
	dir := t.TempDir()
	a := readPcapFile(t, scenarioCapture(t, "healthy"))
	aStart, aEnd := a.recs[0].ci.Timestamp, a.recs[len(a.recs)-1].ci.Timestamp
	b := readPcapFile(t, scenarioCapture(t, "accept-overflow-long"))
	if b.recs[len(b.recs)-1].ci.Timestamp.Sub(b.recs[0].ci.Timestamp) < aEnd.Sub(aStart)+10*time.Second {
		t.Fatal("accept-overflow-long is not 10 s longer than healthy")
	}
	moved := movePorts(t, b, 8080, 10000, aStart.Sub(b.recs[0].ci.Timestamp))
	var cut []pcapRecord
	for _, r := range moved {
		if !r.ci.Timestamp.After(aEnd) {
			cut = append(cut, r)
		}
	}
	write := func(name string, f pcapFile, recs []pcapRecord) string {
		path := filepath.Join(dir, name)
		f.write(t, path, recs)
		return path
	}
	healthy := write("healthy.pcap", a, a.recs)
	half := len(a.recs) / 2
	for _, tc := range []struct {
		name  string
		files []string
		want  string // the file a warning names as ended early, "" for none
	}{
		{"beside a longer capture", []string{healthy, write("longer.pcap", b, moved)}, healthy},
		{"beside a capture cut to its span", []string{healthy, write("cut.pcap", b, cut)}, ""},
		{"rotated in two", []string{write("rot-0.pcap", a, a.recs[:half]), write("rot-1.pcap", a, a.recs[half:])}, ""},
	} {
		ios, out, errOut := testStreams(nil)
		if code := run(append([]string{"analyze", "--format", "json"}, tc.files...), ios); code != exitOK {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errOut)
		}
		var r reportJSON
		must(t, json.Unmarshal(out.Bytes(), &r))
		var early []string
		for _, w := range r.Capture.Warnings {
			if strings.Contains(w, "which was captured alongside it") {
				early = append(early, w)
			}
		}
		switch {
		case tc.want == "" && len(early) > 0:
			t.Errorf("%s: %q", tc.name, early)
		case tc.want != "" && (len(early) != 1 || !strings.HasPrefix(early[0], tc.want+" stopped ")):
			t.Errorf("%s: warnings %q, want one saying %s ended early", tc.name, r.Capture.Warnings, tc.want)
		}
	}
}

// TestFileBesideALongerOneJudgedAlone reads every real capture, stopped
// early (its first k packets, at 24 points, as a capture stopped in the
// middle of handshakes), beside another real capture on other ports that began with
// it and went on: each listener of the first must get the outcomes and the
// verdict the stopped capture gives alone. The merged set goes on, but the
// first file saw nothing after its end: before, what it could not see (a
// SYN-ACK retransmission, an answer) counted as never sent, and its last
// attempts' SYN-ACKs became syncookies, their SYNs unanswered.
func TestFileBesideALongerOneJudgedAlone(t *testing.T) {
	plain := plainScenarios(t)
	dir := t.TempDir()
	longer := readPcapFile(t, scenarioCapture(t, "accept-overflow-long"))
	longerSpan := longer.recs[len(longer.recs)-1].ci.Timestamp.Sub(longer.recs[0].ci.Timestamp)
	checked := 0
	for _, sc := range plain {
		f := readPcapFile(t, sc.capture)
		n := len(f.recs)
		t.Run(sc.name, func(t *testing.T) {
			for k := max(1, n/24); k <= n; k += max(1, n/24) {
				first := f.recs[0].ci.Timestamp
				if f.recs[k-1].ci.Timestamp.Sub(first)+10*time.Second > longerSpan {
					continue // the other capture would not go on past it
				}
				stopped := scenario{name: sc.name + "-stopped", dir: sc.dir, capture: filepath.Join(dir, "stopped.pcap")}
				f.write(t, stopped.capture, f.recs[:k])
				other := filepath.Join(dir, "other.pcap")
				longer.write(t, other, movePorts(t, longer, 8080, 10000, first.Sub(longer.recs[0].ci.Timestamp)))
				alone := map[string]listenerJSON{}
				for _, l := range scenarioJSON(t, stopped).Listeners {
					alone[l.Server] = l
				}
				otherAlone := map[string]string{}
				for _, l := range scenarioJSON(t, scenario{name: "other", dir: sc.dir, capture: other}).Listeners {
					otherAlone[l.Server] = l.Verdict.Kind + "/" + l.Verdict.Confidence
				}
				ios, out, errOut := testStreams(nil)
				if code := run([]string{"analyze", "--format", "json", stopped.capture, other}, ios); code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				var r reportJSON
				must(t, json.Unmarshal(out.Bytes(), &r))
				seen := 0
				for _, l := range r.Listeners {
					want, ok := alone[l.Server]
					if !ok {
						// The other capture's attempts in flight when the
						// first stopped are judged as at an end until a
						// packet of theirs comes: its verdict stands.
						if got, w := l.Verdict.Kind+"/"+l.Verdict.Confidence, otherAlone[l.Server]; got != w {
							t.Errorf("first %d of %d packets beside it, %s: %s, alone %s", k, n, l.Server, got, w)
						}
						continue
					}
					seen++
					checked++
					if !maps.Equal(l.Outcomes, want.Outcomes) || l.SyncookieSYNACKs != want.SyncookieSYNACKs {
						t.Errorf("first %d of %d packets, %s: outcomes %v, %d cookies; alone %v, %d cookies", k, n, l.Server, l.Outcomes, l.SyncookieSYNACKs, want.Outcomes, want.SyncookieSYNACKs)
					}
					if got, w := l.Verdict.Kind+"/"+l.Verdict.Confidence, want.Verdict.Kind+"/"+want.Verdict.Confidence; got != w {
						t.Errorf("first %d of %d packets, %s: %s, alone %s: %s", k, n, l.Server, got, w, strings.Join(l.Verdict.Evidence, " "))
					}
				}
				if seen != len(alone) {
					t.Errorf("first %d of %d packets: %d of its %d listeners in the report", k, n, seen, len(alone))
				}
			}
		})
	}
	if checked < 40 {
		t.Errorf("only %d listeners compared", checked)
	}
}

// TestCaptureBesideItsOwnStartClaimsNoMore reads every real capture
// beside a copy of itself stopped early, as two capture points of the same
// traffic (the copy's packets are duplicates, and the first of two copies
// is the one kept): once the copy stops, the connections it carried go on
// in the whole capture, whose later packets show them still watched. What
// the copy's end leaves unknown is judged as at an end, so the pair may
// claim less than the whole capture alone, never more: no outcome counts
// more failures, no more SYN-ACKs are syncookies, and a medium or high
// verdict names the whole capture's kind. Finishing every attempt in
// flight when the copy stops, instead, split connections and made their
// data "ignored".
func TestCaptureBesideItsOwnStartClaimsNoMore(t *testing.T) {
	dir := t.TempDir()
	checked := 0
	for _, sc := range scenarios(t) {
		if !strings.HasSuffix(sc.capture, ".pcap") || scenarioArgs(t, sc) != nil {
			continue
		}
		whole := map[string]listenerJSON{}
		for _, l := range scenarioJSON(t, sc).Listeners {
			whole[l.Server] = l
		}
		f := readPcapFile(t, sc.capture)
		n := len(f.recs)
		t.Run(sc.name, func(t *testing.T) {
			for k := max(1, n/24); k < n; k += max(1, n/24) {
				start := filepath.Join(dir, "start.pcap")
				f.write(t, start, f.recs[:k])
				ios, out, errOut := testStreams(nil)
				if code := run([]string{"analyze", "--format", "json", start, sc.capture}, ios); code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				var r reportJSON
				must(t, json.Unmarshal(out.Bytes(), &r))
				for _, l := range r.Listeners {
					want, ok := whole[l.Server]
					if !ok {
						t.Errorf("first %d of %d packets beside the whole: listener %s, not in the whole capture", k, n, l.Server)
						continue
					}
					checked++
					for o, c := range l.Outcomes {
						if o != "established" && o != "incomplete" && c > want.Outcomes[o] {
							t.Errorf("first %d of %d packets beside the whole, %s: %d %s, the whole %d", k, n, l.Server, c, o, want.Outcomes[o])
						}
					}
					if l.SyncookieSYNACKs > want.SyncookieSYNACKs {
						t.Errorf("first %d of %d packets beside the whole, %s: %d syncookies, the whole %d", k, n, l.Server, l.SyncookieSYNACKs, want.SyncookieSYNACKs)
					}
					if v := l.Verdict; v.Confidence != "low" && v.Kind != want.Verdict.Kind {
						t.Errorf("first %d of %d packets beside the whole, %s: %s/%s, the whole %s/%s", k, n, l.Server, v.Kind, v.Confidence, want.Verdict.Kind, want.Verdict.Confidence)
					}
				}
			}
		})
	}
	if checked < 60 {
		t.Errorf("only %d listeners compared", checked)
	}
}

// plainScenarios are the real captures on Ethernet, IPv4 or IPv6, with no
// VLAN tag or tunnel and no ICMP quoting the ports: their ports can be
// moved and their files merged as they are.
func plainScenarios(t *testing.T) []scenario {
	t.Helper()
	var plain []scenario
	for _, sc := range scenarios(t) {
		if !strings.HasSuffix(sc.capture, ".pcap") || scenarioArgs(t, sc) != nil || strings.Contains(sc.name, "vlan") || strings.Contains(sc.name, "vxlan") || strings.Contains(sc.name, "tunnel") || strings.Contains(sc.name, "icmp") {
			continue
		}
		if readPcapFile(t, sc.capture).lt == layers.LinkTypeEthernet {
			plain = append(plain, sc)
		}
	}
	return plain
}

// TestClockSetBackClaimsNoMore: the capturing host's clock set back
// mid-capture (an NTP step, a VM resumed) by 2 s or by an hour, at a
// quarter, half and three quarters of every real capture. Read in file
// order, the attempts in flight across the step got negative intervals
// (TCP_DEFER_ACCEPT's held-back SYN-ACKs became an accept-queue
// overflow); with the later frames moved to follow on, they lost the
// time the step hid (a quiet hold made SYN-ACK timestamps lag like
// syncookies': "SYN queue overflow, high" of an accept queue's). What was
// in flight is now judged as at an end, so the stepped capture may claim
// less than the recorded one, never more: no outcome counts more
// failures, no more syncookies, and a medium or high verdict names the
// recorded kind. The warning says the clock was set back.
func TestClockSetBackClaimsNoMore(t *testing.T) {
	dir := t.TempDir()
	checked := 0
	for _, sc := range scenarios(t) {
		if !strings.HasSuffix(sc.capture, ".pcap") {
			continue
		}
		whole := map[string]listenerJSON{}
		for _, l := range scenarioJSON(t, sc, scenarioArgs(t, sc)...).Listeners {
			whole[l.Server] = l
		}
		f := readPcapFile(t, sc.capture)
		n := len(f.recs)
		if n < 8 {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			for _, k := range []int{n / 4, n / 2, 3 * n / 4} {
				for _, step := range []time.Duration{-2 * time.Second, -time.Hour} {
					recs := slices.Clone(f.recs)
					for i := k; i < n; i++ {
						recs[i].ci.Timestamp = recs[i].ci.Timestamp.Add(step)
					}
					stepped := scenario{name: sc.name, dir: sc.dir, capture: filepath.Join(dir, "stepped.pcap")}
					f.write(t, stepped.capture, recs)
					r := scenarioJSON(t, stepped)
					if !mentions(r.Capture.Warnings, "the clock was set back 1 time") {
						t.Errorf("set back %v at packet %d of %d: warnings %q", step, k, n, r.Capture.Warnings)
					}
					for _, l := range r.Listeners {
						want, ok := whole[l.Server]
						if !ok {
							t.Errorf("set back %v at packet %d of %d: listener %s, not in the recorded capture", step, k, n, l.Server)
							continue
						}
						checked++
						for o, c := range l.Outcomes {
							if o != "established" && o != "incomplete" && c > want.Outcomes[o] {
								t.Errorf("set back %v at packet %d of %d, %s: %d %s, as recorded %d", step, k, n, l.Server, c, o, want.Outcomes[o])
							}
						}
						if l.SyncookieSYNACKs > want.SyncookieSYNACKs {
							t.Errorf("set back %v at packet %d of %d, %s: %d syncookies, as recorded %d", step, k, n, l.Server, l.SyncookieSYNACKs, want.SyncookieSYNACKs)
						}
						if v := l.Verdict; v.Confidence != "low" && v.Kind != want.Verdict.Kind {
							t.Errorf("set back %v at packet %d of %d, %s: %s/%s, as recorded %s/%s", step, k, n, l.Server, v.Kind, v.Confidence, want.Verdict.Kind, want.Verdict.Confidence)
						}
					}
				}
			}
		})
	}
	if checked < 100 {
		t.Errorf("only %d listeners compared", checked)
	}
}
