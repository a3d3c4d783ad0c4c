package capture

import (
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// icmpOracle decodes an ICMP error frame with gopacket's full decoder: the
// outer ICMP layer, then its quote as a packet of its own. ok is false for
// anything but a destination-unreachable error (not frag-needed) quoting
// a TCP header gopacket can decode (at least 20 bytes of it).
func icmpOracle(lt layers.LinkType, data []byte) (p Packet, ok bool) {
	pk := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{NoCopy: true})
	var from netip.Addr
	var quote []byte
	var e ICMPError
	for _, l := range pk.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			from = netip.AddrFrom4([4]byte(l.SrcIP.To4()))
		case *layers.IPv6:
			from = netip.AddrFrom16([16]byte(l.SrcIP))
		case *layers.ICMPv4:
			if l.TypeCode.Type() != layers.ICMPv4TypeDestinationUnreachable || l.TypeCode.Code() == layers.ICMPv4CodeFragmentationNeeded {
				return p, false
			}
			e = ICMPError{Type: l.TypeCode.Type(), Code: l.TypeCode.Code()}
			quote = l.Payload
		case *layers.ICMPv6:
			if l.TypeCode.Type() != layers.ICMPv6TypeDestinationUnreachable || len(l.Payload) < 4 {
				return p, false
			}
			e = ICMPError{Type: l.TypeCode.Type(), Code: l.TypeCode.Code(), V6: true}
			quote = l.Payload[4:] // 4 unused bytes, then the quote
		}
	}
	if quote == nil {
		return p, false
	}
	first := layers.LayerTypeIPv4
	if e.V6 {
		first = layers.LayerTypeIPv6
	}
	q := gopacket.NewPacket(quote, first, gopacket.DecodeOptions{NoCopy: true})
	tcp, _ := q.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || q.NetworkLayer() == nil || q.ErrorLayer() != nil {
		return p, false
	}
	src, _ := netip.AddrFromSlice(q.NetworkLayer().NetworkFlow().Src().Raw())
	dst, _ := netip.AddrFromSlice(q.NetworkLayer().NetworkFlow().Dst().Raw())
	var f TCPFlags
	for _, b := range []struct {
		on bool
		f  TCPFlags
	}{{tcp.FIN, FlagFIN}, {tcp.SYN, FlagSYN}, {tcp.RST, FlagRST}, {tcp.PSH, FlagPSH}, {tcp.ACK, FlagACK}, {tcp.URG, FlagURG}, {tcp.ECE, FlagECE}, {tcp.CWR, FlagCWR}} {
		if b.on {
			f |= b.f
		}
	}
	e.FromDst = from == dst
	return Packet{Src: netip.AddrPortFrom(src, uint16(tcp.SrcPort)), Dst: netip.AddrPortFrom(dst, uint16(tcp.DstPort)),
		Seq: tcp.Seq, Ack: tcp.Ack, Flags: f, ICMP: e}, true
}

// icmpFrame builds an Ethernet frame carrying an ICMP (quote of IPv4) or
// ICMPv6 (quote of IPv6) error of type and code from addr `from` to the
// quoted packet's source, quoting the first n bytes of quoted (all if
// n < 0). Synthetic: the lab's real capture has only IPv4
// port-unreachables from the server.
func icmpFrame(tb testing.TB, from netip.Addr, typ, code uint8, quoted []byte, n int) []byte {
	tb.Helper()
	if n >= 0 && n < len(quoted) {
		quoted = quoted[:n]
	}
	if from.Is4() {
		to := net.IP(quoted[12:16])
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(from.AsSlice()), DstIP: to}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
		return ether(0x0800, serialize(tb, ip, icmp, gopacket.Payload(quoted)))
	}
	to := net.IP(quoted[8:24])
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.IP(from.AsSlice()), DstIP: to}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	icmp.SetNetworkLayerForChecksum(ip)
	return ether(0x86dd, serialize(tb, ip, icmp, gopacket.Payload(append([]byte{0, 0, 0, 0}, quoted...))))
}

func TestDecodeICMPErrors(t *testing.T) {
	router4, router6 := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8:ff::9")
	syn4 := seg{src: netip.AddrPortFrom(cli4, 40000), dst: netip.AddrPortFrom(srv4, 443), flags: FlagSYN, seq: 12345, opts: synOpts(1460, 1, 0, 7)}
	syn6 := seg{src: netip.AddrPortFrom(cli6, 40001), dst: netip.AddrPortFrom(srv6, 443), flags: FlagSYN, seq: 777, opts: synOpts(1440, 1, 0, 7)}
	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(cli4.AsSlice()), DstIP: net.IP(srv4.AsSlice())}
	udpL := &layers.UDP{SrcPort: 5000, DstPort: 53}
	udpL.SetNetworkLayerForChecksum(udpIP)
	udp := serialize(t, udpIP, udpL, gopacket.Payload("q"))
	echo := ether(0x0800, serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(cli4.AsSlice()), DstIP: net.IP(srv4.AsSlice())},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)}))

	for _, tc := range []struct {
		name  string
		frame []byte
		kind  Kind
		want  ICMPError
	}{
		{"port unreachable from the server, whole SYN quoted", icmpFrame(t, srv4, 3, 3, syn4.ip(t), -1), KindICMPError, ICMPError{Type: 3, Code: 3, FromDst: true}},
		{"admin prohibited from a router, RFC 792's 8 bytes", icmpFrame(t, router4, 3, 13, syn4.ip(t), 28), KindICMPError, ICMPError{Type: 3, Code: 13}},
		{"ICMPv6 admin prohibited from the server", icmpFrame(t, srv6, 1, 1, syn6.ip(t), -1), KindICMPError, ICMPError{Type: 1, Code: 1, V6: true, FromDst: true}},
		{"ICMPv6 no route from a router", icmpFrame(t, router6, 1, 0, syn6.ip(t), -1), KindICMPError, ICMPError{Type: 1, Code: 0, V6: true}},
		{"frag needed is path MTU, not a refusal", icmpFrame(t, router4, 3, 4, syn4.ip(t), -1), KindNonTCP, ICMPError{}},
		{"error about UDP", icmpFrame(t, srv4, 3, 3, udp, -1), KindNonTCP, ICMPError{}},
		{"quote cut before the sequence number", icmpFrame(t, srv4, 3, 3, syn4.ip(t), 24), KindTruncated, ICMPError{}},
		{"echo request", echo, KindNonTCP, ICMPError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			k := NewDecoder().Decode(layers.LinkTypeEthernet, tc.frame, 7, &p)
			if k != tc.kind {
				t.Fatalf("kind %v, want %v", k, tc.kind)
			}
			if k != KindICMPError {
				return
			}
			s := syn4
			if tc.want.V6 {
				s = syn6
			}
			if p.Src != s.src || p.Dst != s.dst || p.Seq != s.seq || p.ICMP != tc.want || p.Time != 7 {
				t.Errorf("got %+v, want the quoted SYN %v > %v seq %d with %+v", p, s.src, s.dst, s.seq, tc.want)
			}
			if want, ok := icmpOracle(layers.LinkTypeEthernet, tc.frame); ok {
				if d := diff(want, Packet{Src: p.Src, Dst: p.Dst, Seq: p.Seq, Ack: p.Ack, Flags: p.Flags, ICMP: p.ICMP}); d != "" {
					t.Errorf("(-gopacket +Decoder):\n%s", d)
				}
			} else if p.Flags != 0 {
				t.Errorf("flags %v from a quote too short for them", p.Flags)
			}
		})
	}
}

// TestICMPErrorsInTestdataMatchGopacket decodes every ICMP error in the
// real captures both ways.
func TestICMPErrorsInTestdataMatchGopacket(t *testing.T) {
	names, _ := filepath.Glob("../testdata/*/capture.pcap*")
	d := NewDecoder()
	compared := 0
	for _, name := range names {
		lts, frames := readFrames(t, name)
		for i, data := range frames {
			var got Packet
			kind := d.Decode(lts[i], data, 0, &got)
			want, ok := icmpOracle(lts[i], data)
			if ok != (kind == KindICMPError) {
				t.Errorf("%s frame %d: Decoder says %v, gopacket finds an ICMP error quoting TCP: %v", name, i+1, kind, ok)
				continue
			}
			if !ok {
				continue
			}
			compared++
			got.Time = 0
			if d := diff(want, got); d != "" {
				t.Errorf("%s frame %d (-gopacket +Decoder):\n%s", name, i+1, d)
			}
		}
	}
	if compared < 3 {
		t.Errorf("compared %d ICMP errors, want the 3 of firewall-reject-icmp at least", compared)
	}
}
