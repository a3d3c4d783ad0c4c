package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/synq/synq/internal/tunnelwrap"
)

// Every frame in these tests is SYNTHETIC: a synthetic segment wrapped by
// internal/tunnelwrap (gopacket's serializers).

func tun(k TunnelKind, id uint32, hasID bool, src, dst netip.Addr) Tunnel {
	return Tunnel{Kind: k, ID: id, HasID: hasID, Src: src, Dst: dst, Depth: 1, Kinds: 1 << k}
}

// wantTunnel is what Decode must record for a client-to-server packet
// wrapped in k by tunnelwrap.
func wantTunnel(k tunnelwrap.Kind) Tunnel {
	a, b, a6, b6 := tunnelwrap.EndA, tunnelwrap.EndB, tunnelwrap.EndA6, tunnelwrap.EndB6
	none := netip.Addr{}
	switch k {
	case tunnelwrap.VXLAN:
		return tun(TunnelVXLAN, 42, true, a, b)
	case tunnelwrap.VXLANPort:
		return tun(TunnelVXLAN, 43, true, a, b)
	case tunnelwrap.Geneve:
		return tun(TunnelGeneve, 44, true, a, b)
	case tunnelwrap.GRE:
		return tun(TunnelGRE, 7, true, a, b)
	case tunnelwrap.GRETap:
		return tun(TunnelGRE, 0, false, a, b)
	case tunnelwrap.GRE6:
		return tun(TunnelGRE, 0, false, a6, b6)
	case tunnelwrap.ERSPAN2:
		return tun(TunnelERSPAN, 99, true, a, b)
	case tunnelwrap.ERSPAN3:
		return tun(TunnelERSPAN, 98, true, a, b)
	case tunnelwrap.IPIP:
		return tun(TunnelIPIP, 0, false, a, b)
	case tunnelwrap.IPIP6:
		return tun(TunnelIPIP, 0, false, a6, b6)
	case tunnelwrap.MPLS:
		return tun(TunnelMPLS, 200, true, none, none)
	case tunnelwrap.MPLSPW:
		return tun(TunnelMPLS, 300, true, none, none)
	case tunnelwrap.PPPoE:
		return tun(TunnelPPPoE, 0x42, true, none, none)
	case tunnelwrap.GTPU:
		return tun(TunnelGTPU, 0x1000, true, a, b)
	case tunnelwrap.Teredo:
		return tun(TunnelTeredo, 0, false, a, b)
	case tunnelwrap.QinQ:
		return Tunnel{}
	case tunnelwrap.VXLANinERSPAN:
		t := tun(TunnelVXLAN, 42, true, a, b)
		t.Depth, t.Kinds = 2, 1<<TunnelVXLAN|1<<TunnelERSPAN
		return t
	}
	panic("no expectation for " + string(k))
}

func wrapped(tb testing.TB, k tunnelwrap.Kind, inner []byte) []byte {
	tb.Helper()
	f, err := tunnelwrap.Wrap(k, inner, true)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

type tunnelCase struct {
	name string
	data []byte
	kind Kind
	want Packet
}

func tunnelCases(tb testing.TB) []tunnelCase {
	const ts = 1_700_000_000_123_456_789
	var cs []tunnelCase
	for _, k := range tunnelwrap.Kinds() {
		for _, s := range []struct {
			seg  seg
			opts TCPOptions
		}{{syn4, synOpt4}, {synack6, synackOpt6}, {data4, dataOpt4}} {
			v6 := s.seg.src.Addr().Is6()
			if !k.Carries(v6) {
				continue
			}
			inner := ether(etherTypeOf(s.seg.ip(tb)), s.seg.ip(tb))
			want := s.seg.want(ts, s.opts)
			want.Tunnel = wantTunnel(k)
			name := string(k) + " " + map[bool]string{false: "v4", true: "v6"}[v6] + " " + s.seg.flags.String()
			cs = append(cs, tunnelCase{name, wrapped(tb, k, inner), KindTCP, want})
		}
	}
	// Cut by the snap length: in the tunnel header, and in the inner TCP
	// header after the flags.
	vx := wrapped(tb, tunnelwrap.VXLAN, ether(0x0800, syn4.ip(tb)))
	cs = append(cs, tunnelCase{"vxlan header cut", vx[:14+20+8+4], KindTruncated, Packet{}})
	cutWant := syn4.want(ts, TCPOptions{})
	cutWant.OptionsCut, cutWant.Tunnel = true, wantTunnel(tunnelwrap.VXLAN)
	cs = append(cs, tunnelCase{"vxlan inner tcp cut", vx[:14+20+8+8+14+20+16], KindTCP, cutWant})
	return cs
}

func TestDecodeTunnels(t *testing.T) {
	d := NewDecoder()
	d.SetVXLANPorts([]uint16{8472})
	for _, c := range tunnelCases(t) {
		t.Run(c.name, func(t *testing.T) {
			checkDecode(t, d, layers.LinkTypeEthernet, c.data, 1_700_000_000_123_456_789, c.kind, c.want)
		})
	}
}

// TestVXLANPortFlag: UDP to 8472 is plain UDP unless the port is given.
func TestVXLANPortFlag(t *testing.T) {
	f := wrapped(t, tunnelwrap.VXLANPort, ether(0x0800, syn4.ip(t)))
	var p Packet
	if k := NewDecoder().Decode(layers.LinkTypeEthernet, f, 1, &p); k != KindNonTCP {
		t.Errorf("without the port: kind %v, want %v", k, KindNonTCP)
	}
	d := NewDecoder()
	d.SetVXLANPorts([]uint16{1, 8472})
	if k := d.Decode(layers.LinkTypeEthernet, f, 1, &p); k != KindTCP || p.Tunnel.ID != 43 {
		t.Errorf("with the port: kind %v, tunnel %v; want tcp in VNI 43", k, p.Tunnel)
	}
}

// TestTunnelOddities: frames that look like tunnels but are not followed,
// or are nested too deep.
func TestTunnelOddities(t *testing.T) {
	inner := ether(0x0800, syn4.ip(t))
	deep := inner
	for range MaxTunnelDepth + 1 {
		deep = wrapped(t, tunnelwrap.VXLAN, deep)
	}
	justDeep := inner
	for range MaxTunnelDepth {
		justDeep = wrapped(t, tunnelwrap.VXLAN, justDeep)
	}
	labels := wrapped(t, tunnelwrap.MPLS, inner)
	manyLabels := append(append([]byte{}, labels[:14]...), make([]byte, 4*maxMPLSLabels)...)
	manyLabels = append(manyLabels, labels[14:]...)
	gtpEcho := wrapped(t, tunnelwrap.GTPU, inner)
	gtpEcho[14+20+8+1] = 1 // echo request, not user data
	greRouting := wrapped(t, tunnelwrap.GRE, inner)
	greRouting[14+20] |= 0x40
	for _, c := range []struct {
		name    string
		data    []byte
		kind    Kind
		tooDeep bool
		depth   uint8
	}{
		{"nested one too deep", deep, KindNonTCP, true, MaxTunnelDepth},
		{"nested at the limit", justDeep, KindTCP, false, MaxTunnelDepth},
		{"mpls stack too deep", manyLabels, KindNonTCP, true, 0},
		{"gtp echo", gtpEcho, KindNonTCP, false, 0},
		{"gre source routing", greRouting, KindNonTCP, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			var p Packet
			k := d.Decode(layers.LinkTypeEthernet, c.data, 1, &p)
			tun, tooDeep := d.Tunnel()
			if k != c.kind || tooDeep != c.tooDeep || tun.Depth != c.depth {
				t.Errorf("kind %v, too deep %v, depth %d; want %v, %v, %d", k, tooDeep, tun.Depth, c.kind, c.tooDeep, c.depth)
			}
		})
	}
}

// TestTunnelNotStale: a frame that ends early (unsupported link, 802.11
// management) reports no tunnel, whatever the frame before it had.
func TestTunnelNotStale(t *testing.T) {
	d := NewDecoder()
	var p Packet
	vx := wrapped(t, tunnelwrap.VXLAN, ether(0x0800, syn4.ip(t)))
	for _, c := range []struct {
		lt   layers.LinkType
		data []byte
	}{{147, vx}, {layers.LinkTypeIEEE802_11, []byte{0x80, 0}}, {layers.LinkTypeRaw, nil}} {
		if k := d.Decode(layers.LinkTypeEthernet, vx, 1, &p); k != KindTCP {
			t.Fatalf("vxlan frame: %v", k)
		}
		d.Decode(c.lt, c.data, 1, &p)
		if tun, deep := d.Tunnel(); !tun.IsZero() || deep {
			t.Errorf("link type %d after a VXLAN frame: tunnel %v, too deep %v", c.lt, tun, deep)
		}
	}
}

// TestDecodeTunnelAllocs: decoding tunnelled frames allocates nothing.
func TestDecodeTunnelAllocs(t *testing.T) {
	d := NewDecoder()
	d.SetVXLANPorts([]uint16{8472})
	cases := tunnelCases(t)
	var p Packet
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			d.Decode(layers.LinkTypeEthernet, c.data, 1, &p)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocated %v times per run of %d tunnelled frames, want 0", allocs, len(cases))
	}
}

// TestTunnelKey: the key is the same both ways and tells VNIs apart.
func TestTunnelKey(t *testing.T) {
	a, b := tunnelwrap.EndA, tunnelwrap.EndB
	fwd := tun(TunnelGRE, 7, true, a, b)
	back := tun(TunnelGRE, 8, true, b, a)
	if fwd.Key() != back.Key() {
		t.Error("GRE key differs between directions")
	}
	if tun(TunnelVXLAN, 42, true, a, b).Key() == tun(TunnelVXLAN, 43, true, a, b).Key() {
		t.Error("VNIs 42 and 43 share a key")
	}
	if tun(TunnelVXLAN, 42, true, a, b).Key() == tun(TunnelGeneve, 42, true, a, b).Key() {
		t.Error("VXLAN and Geneve share a key")
	}
	if (Tunnel{}).Key() != 0 {
		t.Error("no tunnel has a non-zero key")
	}
}

// TestReaderCountsTunnels: the Reader counts frames per kind crossed
// (non-TCP ones too), and warns about frames nested too deep.
func TestReaderCountsTunnels(t *testing.T) {
	inner := ether(0x0800, syn4.ip(t))
	deep := inner
	for range MaxTunnelDepth + 1 {
		deep = wrapped(t, tunnelwrap.GRETap, deep)
	}
	frames := []frame{
		{ts: at(0, 0), data: wrapped(t, tunnelwrap.VXLAN, inner)},
		{ts: at(1, 0), data: wrapped(t, tunnelwrap.VXLANinERSPAN, inner)},
		{ts: at(2, 0), data: wrapped(t, tunnelwrap.VXLAN, ether(0x0800, udp4(t)))}, // tunnelled, not TCP
		{ts: at(3, 0), data: wrapped(t, tunnelwrap.MPLS, ether(0x0800, rst4.ip(t)))},
		{ts: at(4, 0), data: ether(0x0800, data4.ip(t))}, // plain
		{ts: at(5, 0), data: deep},
	}
	r, err := Open([]string{"f"}, memFiles(map[string][]byte{"f": pcapBytes(t, true, layers.LinkTypeEthernet, frames...)}))
	if err != nil {
		t.Fatal(err)
	}
	pkts := readAll(t, r)
	s := r.Summary()
	want := [NumTunnelKinds]int64{TunnelVXLAN: 3, TunnelERSPAN: 1, TunnelMPLS: 1, TunnelGRE: 1}
	if s.Tunnels != want || s.TunnelTooDeep != 1 {
		t.Errorf("tunnels %v, too deep %d; want %v, 1", s.Tunnels, s.TunnelTooDeep, want)
	}
	if len(pkts) != 4 || s.NonTCP != 2 {
		t.Errorf("%d TCP packets, %d non-TCP; want 4 and 2", len(pkts), s.NonTCP)
	}
	found := false
	for _, w := range s.Warnings {
		found = found || w == "skipped 1 frames nested in more than 8 tunnels (or more than 16 MPLS labels)"
	}
	if !found {
		t.Errorf("no too-deep warning in %q", s.Warnings)
	}
}

func TestTunnelString(t *testing.T) {
	a, b := tunnelwrap.EndA, tunnelwrap.EndB
	nested := tun(TunnelVXLAN, 42, true, a, b)
	nested.Depth = 2
	for _, c := range []struct {
		tun  Tunnel
		want string
	}{
		{Tunnel{}, ""},
		{tun(TunnelVXLAN, 42, true, a, b), "vxlan vni 42 203.0.113.1>203.0.113.2"},
		{tun(TunnelMPLS, 200, true, netip.Addr{}, netip.Addr{}), "mpls label 200"},
		{tun(TunnelIPIP, 0, false, a, b), "ipip 203.0.113.1>203.0.113.2"},
		{tun(TunnelGTPU, 4096, true, a, b), "gtpu teid 4096 203.0.113.1>203.0.113.2"},
		{nested, "vxlan vni 42 203.0.113.1>203.0.113.2 (depth 2)"},
	} {
		if got := c.tun.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.tun, got, c.want)
		}
	}
}

// TestLooksTeredo: Teredo away from port 3544 is found by its payload
// (an IPv6 header of the right length, from or to 2001:0::/32 or behind
// an origin indication), and nothing else is taken for it.
func TestLooksTeredo(t *testing.T) {
	ip6 := func(src0, src1 byte, payload int) []byte {
		b := make([]byte, 40+payload)
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(payload))
		b[6] = 6
		b[8], b[9] = src0, src1
		return b
	}
	origin := append([]byte{0, 0, 0x12, 0x34, 1, 2, 3, 4}, ip6(0xfd, 0, 20)...)
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"from the Teredo prefix", ip6(0x20, 0x01, 20), true},
		{"behind an origin indication", origin, true},
		{"IPv6 outside the prefix, no indicator", ip6(0xfd, 0, 20), false},
		{"wrong payload length", ip6(0x20, 0x01, 20)[:50], false},
		{"DNS-like", append([]byte{0x12, 0x34, 1, 0, 0, 1}, make([]byte, 60)...), false},
		{"short", []byte{0, 0, 0}, false},
	} {
		if got := looksTeredo(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestZeekEncapsulations decodes Zeek's own test traces (testdata/zeek,
// real captures) of the encapsulations synq learned from Zeek's suite:
// every one must yield the TCP inside, and the tunnels be counted by kind
// (PBB and VN-Tag are link headers, like 802.1Q: no tunnel).
func TestZeekEncapsulations(t *testing.T) {
	for _, c := range []struct {
		trace  string
		tunnel TunnelKind
	}{
		{"tunnels/ayiya3.pcap", TunnelAYIYA},
		{"tunnels/gre-over-udp-4754.pcap", TunnelGRE},
		{"tunnels/gre-aruba-amsdu.pcap", TunnelGRE},
		{"tunnels/Teredo.pcap", TunnelTeredo},
		{"pbb.pcap", TunnelNone},
		{"vntag_vlan_sandwich_clean.pcap", TunnelNone},
	} {
		r, err := Open([]string{"../testdata/zeek/traces/" + c.trace}, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		for r.Next(&p) == nil {
		}
		sum := r.Summary()
		r.Close()
		if sum.TCPPackets == 0 {
			t.Errorf("%s: no TCP decoded (%d frames, %d non-TCP)", c.trace, sum.Packets, sum.NonTCP)
		}
		if c.tunnel != TunnelNone && sum.Tunnels[c.tunnel] == 0 {
			t.Errorf("%s: no %s tunnel counted: %v", c.trace, c.tunnel, sum.Tunnels)
		}
		if c.tunnel == TunnelNone && sum.Tunnels != [NumTunnelKinds]int64{} {
			t.Errorf("%s: link headers counted as tunnels: %v", c.trace, sum.Tunnels)
		}
	}
}
