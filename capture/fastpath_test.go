package capture

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// rawFrame is one frame of a capture file with its link type.
type rawFrame struct {
	lt   layers.LinkType
	data []byte
}

// decodedFrame is everything Decode produces for one frame.
type decodedFrame struct {
	kind  Kind
	p     Packet
	ipID  uint16
	where uint64
}

// compareFastGeneral decodes f with both paths and fails if the fast path
// took the frame and disagrees with the general one. It reports whether the
// fast path took it.
func compareFastGeneral(tb testing.TB, name string, f rawFrame) bool {
	tb.Helper()
	const ts = 1_700_000_000_123_456_789
	fast, general := NewDecoder(), NewDecoder()
	var got, want decodedFrame
	k, ok := fast.decodeFast(f.lt, f.data, ts, &got.p)
	if !ok {
		return false
	}
	got.kind, got.ipID, got.where = k, fast.ipID, fast.where
	want.kind = general.decodeGeneral(f.lt, f.data, ts, &want.p)
	want.ipID, want.where = general.ipID, general.where
	if got != want {
		tb.Errorf("%s: fast path %+v, general path %+v", name, got, want)
	}
	return true
}

// TestFastPathMatchesGeneral decodes every frame of every capture in
// testdata, and the hand-made decode cases, with the fast path and with
// gopacket's layers, and compares what each gives.
func TestFastPathMatchesGeneral(t *testing.T) {
	names, _ := filepath.Glob("../testdata/*/*.pcap*")
	if len(names) == 0 {
		t.Fatal("no captures in ../testdata")
	}
	for _, name := range names {
		lts, datas := readFrames(t, name)
		fast, plain := 0, 0
		for i, data := range datas {
			f := rawFrame{lts[i], data}
			if compareFastGeneral(t, filepath.Base(filepath.Dir(name))+" frame "+strconv.Itoa(i+1), f) {
				fast++
			}
			var p Packet
			if NewDecoder().decodeGeneral(f.lt, f.data, 1, &p) == KindTCP && p.Tunnel.IsZero() {
				plain++
			}
		}
		// Nearly every TCP frame outside a tunnel is plain TCP over IP:
		// the fast path must take them, or this test compares nothing.
		if fast < plain*9/10 {
			t.Errorf("%s: fast path took %d of %d plain TCP frames", name, fast, plain)
		}
	}
	for _, c := range decodeCases(t) {
		compareFastGeneral(t, c.name, rawFrame{c.lt, c.data})
	}
	for _, c := range malformedCases(t) {
		compareFastGeneral(t, c.name, rawFrame{c.lt, c.data})
	}
}
