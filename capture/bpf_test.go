package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// filterIP builds an IPv4 or IPv6 packet with a TCP (or UDP) header.
func filterIP(t *testing.T, v6, udp bool, sport, dport uint16) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var l4 gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		nl = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: net.ParseIP("fd89::1"), DstIP: net.ParseIP("fd89::2")}
	} else {
		nl = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
			SrcIP: net.IPv4(10, 89, 0, 1), DstIP: net.IPv4(10, 89, 0, 2)}
	}
	if udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		_ = u.SetNetworkLayerForChecksum(nl)
		l4 = u
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 64240, Seq: 1}
		_ = tc.SetNetworkLayerForChecksum(nl)
		l4 = tc
	}
	if err := gopacket.SerializeLayers(buf, opts, nl.(gopacket.SerializableLayer), l4); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// filterEther wraps an IP packet in Ethernet with the given tag TPIDs.
func filterEther(p []byte, tpids ...uint16) []byte {
	f := make([]byte, 12, 14+4*len(tpids)+len(p))
	for _, tp := range tpids {
		f = binary.BigEndian.AppendUint16(f, tp)
		f = binary.BigEndian.AppendUint16(f, 100)
	}
	et := uint16(etherIPv4)
	if len(p) > 0 && p[0]>>4 == 6 {
		et = etherIPv6
	}
	f = binary.BigEndian.AppendUint16(f, et)
	return append(f, p...)
}

func TestBuildFilter(t *testing.T) {
	v4 := func(sport, dport uint16) []byte { return filterIP(t, false, false, sport, dport) }
	v6 := func(sport, dport uint16) []byte { return filterIP(t, true, false, sport, dport) }
	// IPv4 with 4 bytes of options (IHL 6): ports move by 4.
	v4opts := func(sport, dport uint16) []byte {
		p := v4(sport, dport)
		q := append([]byte{}, p[:20]...)
		q[0] = 0x46
		q = append(q, 1, 1, 1, 0) // NOP NOP NOP EOL
		binary.BigEndian.PutUint16(q[2:], uint16(len(p)+4))
		return append(q, p[20:]...)
	}
	// IPv4 fragment at offset 8 bytes (no TCP header of its own).
	frag := func() []byte {
		p := v4(40000, 8080)
		p[6], p[7] = 0, 1
		return p
	}
	// IPv6 with a hop-by-hop header before TCP.
	hbh := func() []byte {
		p := v6(40000, 9999)
		q := append([]byte{}, p[:40]...)
		q[6] = ipv6HopByHop
		q = append(q, ipProtoTCP, 0, 1, 4, 0, 0, 0, 0) // next TCP, len 0, PadN
		binary.BigEndian.PutUint16(q[4:], uint16(len(p)-40+8))
		return append(q, p[40:]...)
	}
	arp := append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	// ICMP errors quoting a SYN to another port: the filter takes every
	// destination unreachable (the tracker matches them), nothing else.
	icmp4 := func(typ uint8) []byte {
		q := v4(40000, 8080)
		f := icmpFrame(t, netip.MustParseAddr("10.89.0.2"), typ, 3, q, -1)
		return f[14:]
	}
	icmp6 := func(typ uint8) []byte {
		f := icmpFrame(t, netip.MustParseAddr("fd89::2"), typ, 1, v6(40000, 8080), -1)
		return f[14:]
	}

	ports := []uint16{8080, 443}
	cases := []struct {
		name  string
		link  FilterLink
		ports []uint16
		frame []byte
		want  bool
	}{
		{"eth ipv4 to port", FilterEthernet, ports, filterEther(v4(40000, 8080)), true},
		{"eth ipv4 from port (server reply)", FilterEthernet, ports, filterEther(v4(443, 40000)), true},
		{"eth ipv4 other port", FilterEthernet, ports, filterEther(v4(40000, 8081)), false},
		{"eth ipv4 options", FilterEthernet, ports, filterEther(v4opts(40000, 8080)), true},
		{"eth ipv4 options other port", FilterEthernet, ports, filterEther(v4opts(40000, 22)), false},
		{"eth ipv4 udp same port", FilterEthernet, ports, filterEther(filterIP(t, false, true, 40000, 8080)), false},
		{"eth ipv4 fragment", FilterEthernet, ports, filterEther(frag()), false},
		{"eth ipv6 to port", FilterEthernet, ports, filterEther(v6(40000, 443)), true},
		{"eth ipv6 other port", FilterEthernet, ports, filterEther(v6(40000, 80)), false},
		{"eth ipv6 udp", FilterEthernet, ports, filterEther(filterIP(t, true, true, 40000, 443)), false},
		{"eth ipv6 hop-by-hop left to decoder", FilterEthernet, ports, filterEther(hbh()), true},
		{"vlan ipv4 to port", FilterEthernet, ports, filterEther(v4(40000, 8080), etherVLAN), true},
		{"vlan ipv4 other port", FilterEthernet, ports, filterEther(v4(40000, 1), etherVLAN), false},
		{"vlan ipv6 from port", FilterEthernet, ports, filterEther(v6(8080, 40000), etherVLAN), true},
		{"qinq ipv4 to port", FilterEthernet, ports, filterEther(v4(40000, 443), etherQinQ, etherVLAN), true},
		{"qinq ipv6 other port", FilterEthernet, ports, filterEther(v6(40000, 444), etherQinQ, etherVLAN), false},
		{"three tags", FilterEthernet, ports, filterEther(v4(40000, 443), etherQinQ, etherVLAN, etherVLAN), false},
		{"arp", FilterEthernet, ports, arp, false},
		{"eth icmp unreachable", FilterEthernet, []uint16{22}, filterEther(icmp4(3)), true},
		{"eth icmp echo", FilterEthernet, []uint16{22}, filterEther(icmp4(8)), false},
		{"vlan icmp6 unreachable", FilterEthernet, []uint16{22}, filterEther(icmp6(1), etherVLAN), true},
		{"eth icmp6 echo", FilterEthernet, []uint16{22}, filterEther(icmp6(128)), false},
		{"raw icmp unreachable", FilterRawIP, ports, icmp4(3), true},
		{"raw icmp6 packet too big", FilterRawIP, ports, icmp6(2), false},
		{"eth any port", FilterEthernet, nil, filterEther(v4(1, 2)), true},
		{"eth any port, udp", FilterEthernet, nil, filterEther(filterIP(t, false, true, 1, 2)), false},
		{"vlan ipv6 any port", FilterEthernet, nil, filterEther(v6(1, 2), etherVLAN), true},
		{"raw ipv4 to port", FilterRawIP, ports, v4(40000, 8080), true},
		{"raw ipv4 other port", FilterRawIP, ports, v4(40000, 8), false},
		{"raw ipv6 from port", FilterRawIP, ports, v6(443, 40000), true},
		{"raw ipv6 other port", FilterRawIP, ports, v6(442, 40000), false},
		{"raw ipv4 udp", FilterRawIP, ports, filterIP(t, false, true, 40000, 8080), false},
		{"raw not ip", FilterRawIP, ports, []byte{0x20, 0, 0, 0}, false},
		{"raw any port", FilterRawIP, nil, v6(5, 6), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := BuildFilter(tc.link, tc.ports, 256)
			if err != nil {
				t.Fatal(err)
			}
			vm := newVM(t, prog)
			n, err := vm.Run(tc.frame)
			if err != nil {
				t.Fatalf("vm: %v", err)
			}
			if got := n > 0; got != tc.want {
				t.Errorf("accepted = %v (kept %d bytes), want %v", got, n, tc.want)
			}
			if n > 256 {
				t.Errorf("kept %d bytes, want at most the snap length 256", n)
			}
		})
	}
}

func newVM(t *testing.T, raw []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return vm
}

func TestBuildFilterLimits(t *testing.T) {
	many := make([]uint16, MaxFilterPorts)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	prog, err := BuildFilter(FilterEthernet, many, 0)
	if err != nil {
		t.Fatalf("%d ports: %v", len(many), err)
	}
	vm := newVM(t, prog)
	for _, c := range []struct {
		port uint16
		want bool
	}{{1000, true}, {1000 + MaxFilterPorts - 1, true}, {999, false}, {1000 + MaxFilterPorts, false}} {
		n, _ := vm.Run(filterEther(filterIP(t, true, false, 50000, c.port), etherVLAN))
		if (n > 0) != c.want {
			t.Errorf("port %d: kept %d bytes, want accepted=%v", c.port, n, c.want)
		}
	}
	if _, err := BuildFilter(FilterEthernet, append(many, 1), 0); err == nil {
		t.Errorf("%d ports: no error", len(many)+1)
	}
}
