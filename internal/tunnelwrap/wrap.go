// Package tunnelwrap wraps captured frames in tunnel encapsulations, for
// the SYNTHETIC tunnel captures and tests: the encapsulations the test
// machine's kernel cannot make (no gre, ipip, sit, geneve, erspan, mpls,
// pppoe or gtp modules). It serializes with gopacket's layers where they
// have a writer, by hand where they do not (Geneve options, GTP-U
// extension headers, ERSPAN type III, the MPLS control word, Teredo's
// origin indication).
package tunnelwrap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Kind is one way to wrap a frame.
type Kind string

const (
	VXLAN         Kind = "vxlan"           // UDP 4789, VNI 42, inner Ethernet
	VXLANPort     Kind = "vxlan-8472"      // UDP 8472 (needs --vxlan-port 8472), VNI 43
	Geneve        Kind = "geneve"          // UDP 6081, VNI 44, one 8-byte option, inner Ethernet
	GRE           Kind = "gre"             // GRE with key 7 (client to server) / 8 (back), inner IP
	GRETap        Kind = "gretap"          // GRE 0x6558, inner Ethernet
	GRE6          Kind = "gre-ipv6"        // GRE over an IPv6 underlay, inner IP
	ERSPAN2       Kind = "erspan2"         // GRE 0x88be with sequence, ERSPAN II session 99, inner Ethernet
	ERSPAN3       Kind = "erspan3"         // GRE 0x22eb, ERSPAN III session 98 with platform subheader
	IPIP          Kind = "ipip"            // IPv4 underlay, protocol 4 (inner IPv4) or 41 (inner IPv6)
	IPIP6         Kind = "ip6tnl"          // IPv6 underlay, next header 4 or 41
	MPLS          Kind = "mpls"            // Ethernet 0x8847, two labels (16001, 200 or 201 by direction), inner IP
	MPLSPW        Kind = "mpls-pw"         // one label, pseudowire control word, inner Ethernet
	PPPoE         Kind = "pppoe"           // PPPoE session 0x42, PPP, inner IP
	GTPU          Kind = "gtpu"            // UDP 2152, TEID 0x1000 up / 0x2000 down, one extension header, inner IP
	Teredo        Kind = "teredo"          // UDP 3544 with an origin indication, inner IPv6
	QinQ          Kind = "qinq"            // 802.1ad 100 + 802.1Q 200 tags (not a tunnel: a link header)
	VXLANinERSPAN Kind = "vxlan-in-erspan" // VXLAN wrapped again in ERSPAN II: depth 2
)

// Kinds lists every Kind.
func Kinds() []Kind {
	return []Kind{VXLAN, VXLANPort, Geneve, GRE, GRETap, GRE6, ERSPAN2, ERSPAN3, IPIP, IPIP6,
		MPLS, MPLSPW, PPPoE, GTPU, Teredo, QinQ, VXLANinERSPAN}
}

// Carries reports whether k can carry inner IP of this version (Teredo
// carries IPv6 only).
func (k Kind) Carries(ipv6 bool) bool { return k != Teredo || ipv6 }

// Tunnel endpoints: documentation addresses (RFC 5737, RFC 3849).
var (
	EndA  = netip.MustParseAddr("203.0.113.1") // the client's side, or the mirror source
	EndB  = netip.MustParseAddr("203.0.113.2")
	EndA6 = netip.MustParseAddr("2001:db8:ffff::1")
	EndB6 = netip.MustParseAddr("2001:db8:ffff::2")
)

var (
	macA = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 2}
)

// Wrap returns inner, an Ethernet frame carrying IPv4 or IPv6 (without
// VLAN tags), wrapped in k, as an Ethernet frame. fromClient says the
// inner packet's direction: point-to-point tunnels swap their outer
// addresses with it, mirror sessions (ERSPAN) always go from A to B.
func Wrap(k Kind, inner []byte, fromClient bool) ([]byte, error) {
	if len(inner) < 15 {
		return nil, fmt.Errorf("inner frame of %d bytes", len(inner))
	}
	et := binary.BigEndian.Uint16(inner[12:14])
	if et != 0x0800 && et != 0x86dd {
		return nil, fmt.Errorf("inner frame has ethertype %#04x, want IPv4 or IPv6", et)
	}
	ip := inner[14:]
	v6 := et == 0x86dd
	if !k.Carries(v6) {
		return nil, fmt.Errorf("%s cannot carry IPv4", k)
	}
	a, b := EndA, EndB
	if !fromClient {
		a, b = b, a
	}
	dir := func(up, down uint32) uint32 {
		if fromClient {
			return up
		}
		return down
	}
	ipProto := layers.EthernetTypeIPv4
	if v6 {
		ipProto = layers.EthernetTypeIPv6
	}
	// udpSport is a fixed source port per direction, as VTEPs derive one
	// from the inner flow's hash.
	udpSport := layers.UDPPort(dir(49152, 49153))

	switch k {
	case VXLAN, VXLANPort:
		port, vni := layers.UDPPort(4789), uint32(42)
		if k == VXLANPort {
			port, vni = 8472, 43
		}
		return udpIn(a, b, udpSport, port, &layers.VXLAN{ValidIDFlag: true, VNI: vni}, gopacket.Payload(inner))
	case Geneve:
		h := []byte{2, 0, 0x65, 0x58, 0, 0, 44, 0, // 2 words of options, TEB, VNI 44
			0x01, 0x08, 0x01, 1, 0xde, 0xad, 0xbe, 0xef} // class 0x0108 type 1 length 1 word
		return udpIn(a, b, udpSport, 6081, gopacket.Payload(append(h, inner...)))
	case GRE:
		return ipIn(a, b, layers.IPProtocolGRE,
			&layers.GRE{Protocol: ipProto, KeyPresent: true, Key: dir(7, 8)}, gopacket.Payload(ip))
	case GRETap:
		return ipIn(a, b, layers.IPProtocolGRE,
			&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging}, gopacket.Payload(inner))
	case GRE6:
		a6, b6 := EndA6, EndB6
		if !fromClient {
			a6, b6 = b6, a6
		}
		return ipIn(a6, b6, layers.IPProtocolGRE, &layers.GRE{Protocol: ipProto}, gopacket.Payload(ip))
	case ERSPAN2, VXLANinERSPAN:
		frame := inner
		if k == VXLANinERSPAN {
			var err error
			if frame, err = Wrap(VXLAN, inner, fromClient); err != nil {
				return nil, err
			}
		}
		return ipIn(EndA, EndB, layers.IPProtocolGRE,
			&layers.GRE{Protocol: 0x88be, SeqPresent: true, Seq: 1},
			&layers.ERSPANII{Version: 1, SessionID: 99, Index: 5}, gopacket.Payload(frame))
	case ERSPAN3:
		h := []byte{0x20, 0, 0, 98, 0, 0, 0, 0, 0, 0, 0, 1, // ver 2, session 98, frame type 0, O set
			0x08, 0, 0, 0, 0, 0, 0, 0} // platform subheader
		return ipIn(EndA, EndB, layers.IPProtocolGRE,
			&layers.GRE{Protocol: 0x22eb, SeqPresent: true, Seq: 1}, gopacket.Payload(append(h, inner...)))
	case IPIP:
		proto := layers.IPProtocolIPv4
		if v6 {
			proto = layers.IPProtocolIPv6
		}
		return ipIn(a, b, proto, gopacket.Payload(ip))
	case IPIP6:
		a6, b6 := EndA6, EndB6
		if !fromClient {
			a6, b6 = b6, a6
		}
		proto := layers.IPProtocolIPv4
		if v6 {
			proto = layers.IPProtocolIPv6
		}
		return ipIn(a6, b6, proto, gopacket.Payload(ip))
	case MPLS:
		return serialize(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeMPLSUnicast},
			&layers.MPLS{Label: 16001, TTL: 64}, &layers.MPLS{Label: dir(200, 201), StackBottom: true, TTL: 64},
			gopacket.Payload(ip))
	case MPLSPW:
		return serialize(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeMPLSUnicast},
			&layers.MPLS{Label: 300, StackBottom: true, TTL: 64},
			gopacket.Payload(append([]byte{0, 0, 0, 1}, inner...))) // control word, sequence 1
	case PPPoE:
		ppp := layers.PPPTypeIPv4
		if v6 {
			ppp = layers.PPPTypeIPv6
		}
		return serialize(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypePPPoESession},
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x42},
			&layers.PPP{PPPType: ppp}, gopacket.Payload(ip))
	case GTPU:
		teid := dir(0x1000, 0x2000)
		h := []byte{0x34, 0xff, 0, 0, byte(teid >> 24), byte(teid >> 16), byte(teid >> 8), byte(teid),
			0, 0, 0, 0x85, // sequence 0, N-PDU 0, next extension: PDU session container
			1, 0x10, 9, 0} // one 4-byte extension (QFI 9), no next
		binary.BigEndian.PutUint16(h[2:4], uint16(len(h)-8+len(ip)))
		return udpIn(a, b, 2152, 2152, gopacket.Payload(append(h, ip...)))
	case Teredo:
		h := []byte{0, 0, 0xc3, 0x5a, 0xfc, 0xff, 0xff, 0xfe} // origin indication: port and address, obfuscated
		return udpIn(a, b, layers.UDPPort(dir(3544, 49200)), layers.UDPPort(dir(49200, 3544)), gopacket.Payload(append(h, ip...)))
	case QinQ:
		h := append(bytes.Clone(inner[:12]), 0x88, 0xa8, 0, 100, 0x81, 0, 0, 200)
		return append(h, inner[12:]...), nil
	}
	return nil, fmt.Errorf("unknown tunnel kind %q", k)
}

func ipIn(src, dst netip.Addr, proto layers.IPProtocol, ls ...gopacket.SerializableLayer) ([]byte, error) {
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		return serialize(append([]gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip}, ls...)...)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	return serialize(append([]gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip}, ls...)...)
}

func udpIn(src, dst netip.Addr, sport, dport layers.UDPPort, ls ...gopacket.SerializableLayer) ([]byte, error) {
	u := &layers.UDP{SrcPort: sport, DstPort: dport}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	return serialize(append([]gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, u}, ls...)...)
}

func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}
