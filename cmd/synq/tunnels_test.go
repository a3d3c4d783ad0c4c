package main

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

// sameAnalysis fails unless two reports give the same listeners (every
// count, outcome and queue sign) and the same verdict.
func sameAnalysis(t *testing.T, what string, got, want reportJSON) {
	t.Helper()
	if !slices.EqualFunc(got.Listeners, want.Listeners, func(a, b listenerJSON) bool {
		return a.Server == b.Server && a.Attempts == b.Attempts && maps.Equal(a.Outcomes, b.Outcomes) &&
			a.SYNPackets == b.SYNPackets && a.DroppedSYNPackets == b.DroppedSYNPackets &&
			a.SYNACKPackets == b.SYNACKPackets && a.SYNACKRetransmits == b.SYNACKRetransmits &&
			a.IgnoredACKSegments == b.IgnoredACKSegments && a.ServerRSTs == b.ServerRSTs &&
			a.ClientRSTs == b.ClientRSTs && a.Signs == b.Signs
	}) {
		t.Errorf("%s: listeners differ:\n got %+v\nwant %+v", what, got.Listeners, want.Listeners)
	}
	g, w := got.Verdict, want.Verdict
	if g.Kind != w.Kind || g.Confidence != w.Confidence || g.Listener != w.Listener || fmtBoolPtr(g.Syncookies) != fmtBoolPtr(w.Syncookies) {
		t.Errorf("%s: verdict %s/%s on %s, want %s/%s on %s", what, g.Kind, g.Confidence, g.Listener, w.Kind, w.Confidence, w.Listener)
	}
	if len(got.Listeners) == 0 {
		t.Errorf("%s: no listeners", what)
	}
}

// TestTunnelMatchesInnerCapture: the real-kernel VXLAN scenarios were
// captured twice at once, on the server's underlay (tunnelled; for
// vxlan-any with tcpdump -i any, which sees every packet tunnelled and
// plain) and on its VXLAN device (what the server's stack sees). Both must
// give the same analysis.
func TestTunnelMatchesInnerCapture(t *testing.T) {
	for _, name := range []string{"vxlan", "vxlan-ipv6-8472", "vxlan-any"} {
		t.Run(name, func(t *testing.T) {
			sc := scenario{name: name, dir: filepath.Join(testdataDir, name), capture: scenarioCapture(t, name)}
			inner := scenario{name: name + "/inner", dir: sc.dir, capture: filepath.Join(sc.dir, "inner.pcap")}
			for _, nstat := range [][]string{nil, withNstat(sc)} {
				got := scenarioJSON(t, sc, nstat...)
				want := scenarioJSON(t, inner, nstat...)
				sameAnalysis(t, "underlay vs inner capture", got, want)
				if len(want.Capture.Tunnels) != 0 {
					t.Errorf("inner capture counts tunnels %v", want.Capture.Tunnels)
				}
			}
		})
	}
}

// TestVXLANPortNeeded: without --vxlan-port 8472 that scenario's capture
// is plain UDP.
func TestVXLANPortNeeded(t *testing.T) {
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "json", scenarioCapture(t, "vxlan-ipv6-8472")}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r reportJSON
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Capture.TCPPackets != 0 || len(r.Capture.Tunnels) != 0 {
		t.Errorf("without --vxlan-port: %d TCP packets, tunnels %v; want none", r.Capture.TCPPackets, r.Capture.Tunnels)
	}
	ios, _, errOut = testStreams(nil)
	if code := run([]string{"analyze", "--vxlan-port", "0", scenarioCapture(t, "vxlan-ipv6-8472")}, ios); code != exitUsage {
		t.Errorf("--vxlan-port 0: exit %d, want %d (%s)", code, exitUsage, errOut)
	}
}

// TestSyntheticTunnelsMatchSource: the SYNTHETIC tunnel captures re-wrap
// a real scenario's frames; the analysis must not change.
func TestSyntheticTunnelsMatchSource(t *testing.T) {
	for synth, src := range map[string]string{"synthetic-tunnels-ipv4": "accept-overflow-syn-drops", "synthetic-tunnels-ipv6": "ipv6"} {
		t.Run(synth, func(t *testing.T) {
			s := scenario{name: synth, dir: filepath.Join(testdataDir, synth), capture: scenarioCapture(t, synth)}
			o := scenario{name: src, dir: filepath.Join(testdataDir, src), capture: scenarioCapture(t, src)}
			for _, nstat := range [][]string{nil, withNstat(o)} {
				sameAnalysis(t, "synthetic vs source", scenarioJSON(t, s, nstat...), scenarioJSON(t, o, nstat...))
			}
		})
	}
}

// attemptsOf reads a capture through the tracker, attempts in order of
// their first packet.
func attemptsOf(t *testing.T, path string, vxlanPorts ...uint16) []reassemble.Attempt {
	t.Helper()
	rd, err := capture.Open([]string{path}, capture.OpenOptions{VXLANPorts: vxlanPorts})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var atts []reassemble.Attempt
	tr := reassemble.NewTracker(reassemble.Config{}, func(a *reassemble.Attempt) { atts = append(atts, *a) })
	var p capture.Packet
	for {
		err := rd.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tr.Add(&p)
	}
	tr.Flush()
	slices.SortFunc(atts, func(a, b reassemble.Attempt) int { return int(a.FirstPacket - b.FirstPacket) })
	return atts
}

// TestTunnelAttempts: every attempt carries the tunnel it came in, as the
// scenario made it: the lab's VXLAN devices (README), or the rewrap
// recipe (each connection, in order of its first frame, gets the next
// kind of the list).
func TestTunnelAttempts(t *testing.T) {
	a4 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	vx := func(vni uint32, src, dst string) capture.Tunnel {
		return capture.Tunnel{Kind: capture.TunnelVXLAN, ID: vni, HasID: true, Src: a4(src), Dst: a4(dst), Depth: 1, Kinds: 1 << capture.TunnelVXLAN}
	}
	K := func(ks ...capture.TunnelKind) []capture.TunnelKind { return ks }
	for _, c := range []struct {
		name  string
		ports []uint16
		all   *capture.Tunnel      // every attempt's tunnel
		kinds []capture.TunnelKind // else: the rewrap order of kinds (TunnelNone for qinq)
		depth []uint8
	}{
		{name: "vxlan", all: ptr(vx(42, "10.88.0.1", "10.88.0.2"))},
		{name: "vxlan-ipv6-8472", ports: []uint16{8472}, all: ptr(vx(4242, "fd88::1", "fd88::2"))},
		// The client's SYN reaches eth0 (tunnelled) before vx0.
		{name: "vxlan-any", all: ptr(vx(42, "10.88.0.1", "10.88.0.2"))},
		{name: "synthetic-tunnels-ipv4", kinds: K(capture.TunnelVXLAN, capture.TunnelGeneve, capture.TunnelGRE, capture.TunnelGRE,
			capture.TunnelERSPAN, capture.TunnelERSPAN, capture.TunnelIPIP, capture.TunnelMPLS, capture.TunnelPPPoE, capture.TunnelGTPU)},
		{name: "synthetic-tunnels-ipv6", kinds: K(capture.TunnelTeredo, capture.TunnelIPIP, capture.TunnelIPIP, capture.TunnelGRE,
			capture.TunnelMPLS, capture.TunnelVXLAN, capture.TunnelNone, capture.TunnelVXLAN, capture.TunnelGeneve, capture.TunnelGTPU, capture.TunnelPPPoE),
			depth: []uint8{1, 1, 1, 1, 1, 2, 0, 1, 1, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			atts := attemptsOf(t, scenarioCapture(t, c.name), c.ports...)
			if len(atts) < 10 {
				t.Fatalf("%d attempts, want at least 10", len(atts))
			}
			for i, a := range atts {
				switch {
				case c.all != nil:
					if a.Tunnel != *c.all {
						t.Errorf("attempt %v: tunnel %v, want %v", a.Client, a.Tunnel, *c.all)
					}
				default:
					want := c.kinds[i%len(c.kinds)]
					if a.Tunnel.Kind != want {
						t.Errorf("attempt %d (%v): tunnel %v, want kind %v", i, a.Client, a.Tunnel, want)
					}
					if c.depth != nil && a.Tunnel.Depth != c.depth[i%len(c.depth)] {
						t.Errorf("attempt %d: depth %d, want %d", i, a.Tunnel.Depth, c.depth[i%len(c.depth)])
					}
				}
			}
		})
	}
}
