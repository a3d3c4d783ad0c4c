package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TunnelKind is one kind of encapsulation the Decoder looks through.
type TunnelKind uint8

const (
	TunnelNone   TunnelKind = iota
	TunnelVXLAN             // UDP 4789 (and OpenOptions.VXLANPorts): AWS VPC Traffic Mirroring, overlays
	TunnelGeneve            // UDP 6081: AWS Gateway Load Balancer, OVN
	TunnelGRE               // GRE carrying IPv4, IPv6 or Ethernet (0x6558), or MPLS
	TunnelERSPAN            // ERSPAN type I, II or III over GRE: switch port mirroring
	TunnelIPIP              // IPv4 or IPv6 directly in IPv4 or IPv6 (IP protocols 4 and 41)
	TunnelMPLS              // an MPLS label stack
	TunnelPPPoE             // PPPoE session
	TunnelGTPU              // GTP-U on UDP 2152: mobile core
	TunnelTeredo            // IPv6 in UDP 3544
	TunnelAYIYA             // Anything In Anything on UDP 5072: IPv6 (or IPv4) tunnel brokers
	NumTunnelKinds
)

// String is the kind's name in reports ("vxlan", "gre", ...).
func (k TunnelKind) String() string {
	switch k {
	case TunnelNone:
		return "none"
	case TunnelVXLAN:
		return "vxlan"
	case TunnelGeneve:
		return "geneve"
	case TunnelGRE:
		return "gre"
	case TunnelERSPAN:
		return "erspan"
	case TunnelIPIP:
		return "ipip"
	case TunnelMPLS:
		return "mpls"
	case TunnelPPPoE:
		return "pppoe"
	case TunnelGTPU:
		return "gtpu"
	case TunnelTeredo:
		return "teredo"
	case TunnelAYIYA:
		return "ayiya"
	}
	return fmt.Sprintf("TunnelKind(%d)", uint8(k))
}

// TunnelKinds is a set of TunnelKind, one bit each.
type TunnelKinds uint16

// Has reports whether k is in the set.
func (s TunnelKinds) Has(k TunnelKind) bool { return s&(1<<k) != 0 }

// MaxTunnelDepth bounds how many encapsulations the Decoder looks through;
// a frame nested deeper is counted (Summary.TunnelTooDeep) and skipped.
// Real captures rarely have more than two (a mirror session around an
// overlay); the bound keeps a crafted frame from costing more.
const MaxTunnelDepth = 8

// maxMPLSLabels bounds one label stack. Deeper stacks count as too deep.
const maxMPLSLabels = 16

// Tunnel says how a packet reached the capture point. A packet inside
// nested tunnels keeps the INNERMOST one (the one nearest the connection,
// e.g. the overlay's VXLAN rather than the ERSPAN mirror session around
// it), with Depth saying how many there were and Kinds which kinds.
type Tunnel struct {
	// Src and Dst are the addresses of the IP header right outside the
	// innermost tunnel's payload (the tunnel endpoints, or the mirror
	// source and target). Invalid when there is none: MPLS or PPPoE
	// directly on Ethernet.
	Src, Dst netip.Addr
	// ID is the VXLAN or Geneve VNI, GRE key, ERSPAN session ID, bottom
	// MPLS label, PPPoE session ID or GTP-U TEID, valid if HasID.
	ID    uint32
	HasID bool
	Kind  TunnelKind // TunnelNone: not tunnelled
	Depth uint8      // number of encapsulations, 1 for a single tunnel
	Kinds TunnelKinds
}

// IsZero reports a packet that came in no tunnel.
func (t Tunnel) IsZero() bool { return t.Kind == TunnelNone }

// String renders the tunnel for people: "vxlan vni 42 10.0.0.1>10.0.0.2".
func (t Tunnel) String() string {
	if t.IsZero() {
		return ""
	}
	s := t.Kind.String()
	if t.HasID {
		s += " " + t.idName() + " " + fmt.Sprint(t.ID)
	}
	if t.Src.IsValid() {
		s += " " + t.Src.String() + ">" + t.Dst.String()
	}
	if t.Depth > 1 {
		s += fmt.Sprintf(" (depth %d)", t.Depth)
	}
	return s
}

func (t Tunnel) idName() string {
	switch t.Kind {
	case TunnelVXLAN, TunnelGeneve:
		return "vni"
	case TunnelGRE:
		return "key"
	case TunnelERSPAN, TunnelPPPoE:
		return "session"
	case TunnelMPLS:
		return "label"
	case TunnelGTPU:
		return "teid"
	}
	return "id"
}

// Key identifies the tunnel for flow tracking, the same for both
// directions of a connection: kind, depth, the outer address pair in
// either order and, where both directions carry the same one, the ID
// (VXLAN and Geneve VNI, ERSPAN and PPPoE session). GRE keys, MPLS labels
// and GTP-U TEIDs may differ per direction and are left out. 0 for no
// tunnel. It is a 64-bit FNV-1a hash, so that the tracker's flow key
// grows by 8 bytes rather than 40: two different tunnels share a key only
// by a collision, and then only flows with the same inner 4-tuple merge.
func (t Tunnel) Key() uint64 {
	if t.IsZero() {
		return 0
	}
	var b [40]byte
	b[0], b[1] = byte(t.Kind), t.Depth
	switch t.Kind {
	case TunnelVXLAN, TunnelGeneve, TunnelERSPAN, TunnelPPPoE:
		if t.HasID {
			b[2] = 1
			binary.BigEndian.PutUint32(b[4:8], t.ID)
		}
	}
	x, y := t.Src.As16(), t.Dst.As16()
	if !t.Src.IsValid() {
		x = [16]byte{}
	}
	if !t.Dst.IsValid() {
		y = [16]byte{}
	}
	if string(y[:]) < string(x[:]) {
		x, y = y, x
	}
	copy(b[8:24], x[:])
	copy(b[24:40], y[:])
	// FNV-1a by hand: hash/fnv's hasher escapes to the heap.
	h := uint64(14695981039346656037)
	for _, c := range b[:40] {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if h == 0 {
		return 1
	}
	return h
}

// Layer types the fast parser stops at: an IP header whose protocol is
// IPv4 (4) or IPv6 (41). Left to the parser, the inner header would
// overwrite the outer one's addresses. Not registered with gopacket: only
// the Decoder sees them, and DecodingLayerSparse finds no decoder for them.
const (
	layerTypeIPinIP4 gopacket.LayerType = 1<<30 + iota
	layerTypeIPinIP6
)

// Well-known tunnel ports (IANA).
const (
	portVXLAN  = 4789
	portGeneve = 6081
	portGTPU   = 2152
	portTeredo = 3544
	portGREUDP = 4754 // GRE in UDP (RFC 8086)
	portAYIYA  = 5072
)

// EtherTypes of encapsulations gopacket does not name.
const (
	etherTypeTEB      = 0x6558 // transparent Ethernet bridging
	etherTypeERSPAN2  = 0x88be // ERSPAN type I and II
	etherTypeERSPAN3  = 0x22eb // ERSPAN type III
	etherTypeMPLSUni  = 0x8847
	etherTypeMPLSMcst = 0x8848
)

// encapResult says what encap found.
type encapResult uint8

const (
	encapNot encapResult = iota // not an encapsulation synq follows
	encapOK                     // next, payload are the inner layer and its bytes
	encapCut                    // a tunnel header cut by the snap length
	encapBad                    // a tunnel header that is malformed, or carries something else
)

// isEncap reports whether the fast parser stopped at an encapsulation:
// next is the layer it could not decode, rest its bytes. It costs the
// common path one switch on non-TCP frames only.
func (d *Decoder) isEncap(next gopacket.LayerType, rest []byte) bool {
	switch next {
	case layers.LayerTypeGRE, layers.LayerTypeMPLS, layers.LayerTypePPPoE,
		layerTypeIPinIP4, layerTypeIPinIP6:
		return true
	case layers.LayerTypeUDP:
		if len(rest) < 8 {
			return false
		}
		sp, dp := binary.BigEndian.Uint16(rest[0:2]), binary.BigEndian.Uint16(rest[2:4])
		switch {
		case dp == portGeneve, dp == portGTPU, dp == portTeredo, sp == portTeredo,
			dp == portGREUDP, sp == portGREUDP, dp == portAYIYA, sp == portAYIYA:
			return true
		}
		return d.vxlanPort(dp) || looksTeredo(rest[8:])
	}
	return false
}

// looksTeredo reports whether a UDP payload on a port that is not 3544 is
// Teredo all the same: a Teredo relay or a peer speaks it from any port,
// and Zeek finds it by payload (TeredoAnalyzer::DetectProtocol). Stricter
// than Zeek's test, since synq only wants the TCP inside: after the
// optional indicators, an IPv6 header whose payload length is what the
// datagram holds, from or to the Teredo prefix 2001:0::/32, or behind an
// origin indication.
func looksTeredo(b []byte) bool {
	indicated := false
	for range 2 {
		if len(b) < 8 || b[0] != 0 {
			break
		}
		switch b[1] {
		case 1: // authentication
			n := 13 + int(b[2]) + int(b[3])
			if len(b) < n {
				return false
			}
			b = b[n:]
		case 0: // origin indication
			b, indicated = b[8:], true
		}
	}
	if len(b) < 40 || b[0]>>4 != 6 || int(binary.BigEndian.Uint16(b[4:6])) != len(b)-40 {
		return false
	}
	teredoPrefix := func(a []byte) bool { return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0 }
	return indicated || teredoPrefix(b[8:12]) || teredoPrefix(b[24:28])
}

func (d *Decoder) vxlanPort(p uint16) bool {
	if p == portVXLAN {
		return true
	}
	for _, v := range d.vxlanPorts {
		if v == p {
			return true
		}
	}
	return false
}

// encap decodes the encapsulation header at the start of rest (the
// fast parser stopped there, next says what it is) and returns the layer
// it carries and that layer's bytes. It records the tunnel in d.tun.
func (d *Decoder) encap(next gopacket.LayerType, rest []byte) (gopacket.LayerType, []byte, encapResult) {
	// The outer addresses: the last IP header of the parse that stopped
	// here (MPLS right after GRE keeps the GRE's).
	var src, dst netip.Addr
	for i := len(d.decoded) - 1; i >= 0; i-- {
		switch d.decoded[i] {
		case layers.LayerTypeIPv4:
			src, dst = netip.AddrFrom4([4]byte(d.ip4.SrcIP)), netip.AddrFrom4([4]byte(d.ip4.DstIP))
		case layers.LayerTypeIPv6:
			src, dst = netip.AddrFrom16(d.ip6.Src), netip.AddrFrom16(d.ip6.Dst)
		default:
			continue
		}
		break
	}
	record := func(k TunnelKind, id uint32, hasID bool) {
		d.tun.Kind, d.tun.ID, d.tun.HasID = k, id, hasID
		d.tun.Kinds |= 1 << k
		d.tun.Depth++
		if src.IsValid() {
			d.tun.Src, d.tun.Dst = src, dst
		}
	}

	switch next {
	case layerTypeIPinIP4:
		record(TunnelIPIP, 0, false)
		return layers.LayerTypeIPv4, rest, encapOK
	case layerTypeIPinIP6:
		record(TunnelIPIP, 0, false)
		return layers.LayerTypeIPv6, rest, encapOK
	case layers.LayerTypeMPLS:
		return d.mpls(rest, record)
	case layers.LayerTypePPPoE:
		return pppoe(rest, record)
	case layers.LayerTypeGRE:
		return d.greEncap(rest, record)
	}
	// UDP: isEncap checked the ports and the length.
	sp, dp := binary.BigEndian.Uint16(rest[0:2]), binary.BigEndian.Uint16(rest[2:4])
	payload := rest[8:]
	switch {
	case d.vxlanPort(dp):
		if len(payload) < 8 {
			return 0, nil, encapCut
		}
		if err := d.vxlan.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return 0, nil, encapBad
		}
		record(TunnelVXLAN, d.vxlan.VNI, true)
		return layers.LayerTypeEthernet, d.vxlan.Payload, encapOK
	case dp == portGeneve:
		return geneve(payload, record)
	case dp == portGTPU:
		return gtpu(payload, record)
	case dp == portGREUDP || sp == portGREUDP:
		return d.greEncap(payload, record)
	case dp == portAYIYA || sp == portAYIYA:
		return ayiya(payload, record)
	case dp == portTeredo || sp == portTeredo || looksTeredo(payload):
		return teredo(payload, record)
	}
	return 0, nil, encapNot
}

type recordFunc func(k TunnelKind, id uint32, hasID bool)

// byEtherType maps the protocol field of GRE and Geneve to what follows.
func byEtherType(t uint16) (gopacket.LayerType, bool) {
	switch t {
	case uint16(layers.EthernetTypeIPv4):
		return layers.LayerTypeIPv4, true
	case uint16(layers.EthernetTypeIPv6):
		return layers.LayerTypeIPv6, true
	case etherTypeTEB:
		return layers.LayerTypeEthernet, true
	case etherTypeMPLSUni, etherTypeMPLSMcst:
		return layers.LayerTypeMPLS, true
	}
	return 0, false
}

// byNibble guesses IPv4 or IPv6 from the version nibble, as routers do
// after the bottom MPLS label and GTP-U does by definition.
func byNibble(b []byte) (gopacket.LayerType, bool) {
	switch b[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4, true
	case 6:
		return layers.LayerTypeIPv6, true
	}
	return 0, false
}

func (d *Decoder) greEncap(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	if len(b) < 4 {
		return 0, nil, encapCut
	}
	if b[0]&0x40 != 0 || b[1]&0x07 != 0 {
		// Source routing (deprecated, and gopacket allocates for it) or
		// enhanced GRE (PPTP's PPP): not followed.
		return 0, nil, encapBad
	}
	df := &d.df
	df.truncated = false
	if err := d.gre.DecodeFromBytes(b, df); err != nil {
		if df.truncated {
			return 0, nil, encapCut
		}
		return 0, nil, encapBad
	}
	payload := d.gre.Payload
	switch uint16(d.gre.Protocol) {
	case etherTypeERSPAN2:
		if !d.gre.SeqPresent {
			// Type I: no ERSPAN header, the mirrored frame follows.
			record(TunnelERSPAN, 0, false)
			return layers.LayerTypeEthernet, payload, encapOK
		}
		if len(payload) < 8 {
			return 0, nil, encapCut
		}
		if err := d.erspan2.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return 0, nil, encapBad
		}
		record(TunnelERSPAN, uint32(d.erspan2.SessionID), true)
		return layers.LayerTypeEthernet, d.erspan2.Payload, encapOK
	case etherTypeERSPAN3:
		// gopacket has no ERSPAN type III: 12 bytes, then an 8-byte
		// platform subheader if O is set; frame type 0 is Ethernet, 2 IP.
		if len(payload) < 12 {
			return 0, nil, encapCut
		}
		if payload[0]>>4 != 2 {
			return 0, nil, encapBad
		}
		session := uint32(binary.BigEndian.Uint16(payload[2:4]) & 0x3ff)
		ft, o := binary.BigEndian.Uint16(payload[10:12])>>10&0x1f, payload[11]&1 != 0
		n := 12
		if o {
			n += 8
		}
		if len(payload) < n+1 {
			return 0, nil, encapCut
		}
		record(TunnelERSPAN, session, true)
		switch ft {
		case 0:
			return layers.LayerTypeEthernet, payload[n:], encapOK
		case 2:
			if t, ok := byNibble(payload[n:]); ok {
				return t, payload[n:], encapOK
			}
		}
		return 0, nil, encapBad
	}
	if isArubaGRE(uint16(d.gre.Protocol)) {
		// Aruba access points tunnel 802.11 frames to their controller.
		first, inner, k := wifi(layers.LinkTypeIEEE802_11, payload)
		switch k {
		case KindTCP:
		case KindTruncated:
			return 0, nil, encapCut
		default:
			return 0, nil, encapBad
		}
		record(TunnelGRE, d.gre.Key, d.gre.KeyPresent)
		return firstLayerType(first), inner, encapOK
	}
	t, ok := byEtherType(uint16(d.gre.Protocol))
	if !ok {
		return 0, nil, encapBad
	}
	record(TunnelGRE, d.gre.Key, d.gre.KeyPresent)
	return t, payload, encapOK
}

// isArubaGRE reports whether a GRE protocol type is one of Aruba's for an
// 802.11 frame: the values Zeek's GRE analyzer takes for them (0x8200 to
// 0x82f0, 0x8300 to 0x8370 in steps of 0x10, and 0x9000).
func isArubaGRE(t uint16) bool {
	return t&0xff0f == 0x8200 || t&0xff0f == 0x8300 && t <= 0x8370 || t == 0x9000
}

// mpls walks a label stack (gopacket's MPLS layer has no DecodeFromBytes
// and allocates per label) and guesses the payload from the first nibble
// after the bottom label: 4 IPv4, 6 IPv6, 0 a pseudowire control word
// followed by Ethernet, anything else Ethernet (a pseudowire without one).
func (d *Decoder) mpls(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	for i := 0; ; i++ {
		if i == maxMPLSLabels {
			d.tooDeep = true
			return 0, nil, encapBad
		}
		if len(b) < 4 {
			return 0, nil, encapCut
		}
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		if v&0x100 == 0 {
			continue
		}
		record(TunnelMPLS, v>>12, true)
		if len(b) == 0 {
			return 0, nil, encapCut
		}
		if t, ok := byNibble(b); ok {
			return t, b, encapOK
		}
		if b[0]>>4 == 0 {
			if len(b) < 4 {
				return 0, nil, encapCut
			}
			b = b[4:]
		}
		return layers.LayerTypeEthernet, b, encapOK
	}
}

// pppoe decodes a PPPoE session header and the PPP protocol field (gopacket
// has no DecodeFromBytes for either).
func pppoe(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	if len(b) < 8 {
		return 0, nil, encapCut
	}
	if b[0] != 0x11 || b[1] != 0 {
		return 0, nil, encapBad // not version 1 type 1 session data
	}
	session := uint32(binary.BigEndian.Uint16(b[2:4]))
	proto, n := uint16(b[6]), 7 // protocol field compression: one byte
	if b[6]&1 == 0 {
		proto, n = binary.BigEndian.Uint16(b[6:8]), 8
	}
	record(TunnelPPPoE, session, true)
	switch proto {
	case 0x21:
		return layers.LayerTypeIPv4, b[n:], encapOK
	case 0x57:
		return layers.LayerTypeIPv6, b[n:], encapOK
	}
	return 0, nil, encapBad
}

// geneve decodes a Geneve header by hand: gopacket's allocates one value
// per option, and AWS Gateway Load Balancer sends options on every packet.
func geneve(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	if len(b) < 8 {
		return 0, nil, encapCut
	}
	if b[0]>>6 != 0 {
		return 0, nil, encapBad
	}
	n := 8 + int(b[0]&0x3f)*4
	if len(b) < n {
		return 0, nil, encapCut
	}
	vni := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	t, ok := byEtherType(binary.BigEndian.Uint16(b[2:4]))
	if !ok || t == layers.LayerTypeMPLS {
		return 0, nil, encapBad
	}
	record(TunnelGeneve, vni, true)
	return t, b[n:], encapOK
}

// gtpu decodes a GTPv1-U G-PDU header by hand: gopacket's allocates for
// extension headers (5G sends one on every packet) and refuses a packet
// whose length field says more than the snap length kept.
func gtpu(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	if len(b) < 8 {
		return 0, nil, encapCut
	}
	if b[0]>>5 != 1 || b[0]&0x10 == 0 || b[1] != 0xff {
		return 0, nil, encapBad // not version 1 GTP, or not user data (echo, error indication)
	}
	teid := binary.BigEndian.Uint32(b[4:8])
	n := 8
	if b[0]&0x07 != 0 {
		n = 12
		if len(b) < n {
			return 0, nil, encapCut
		}
		if b[0]&0x04 != 0 {
			for next := b[11]; next != 0; {
				if len(b) < n+1 {
					return 0, nil, encapCut
				}
				l := int(b[n]) * 4
				if l == 0 {
					return 0, nil, encapBad
				}
				if len(b) < n+l {
					return 0, nil, encapCut
				}
				n += l
				next = b[n-1]
			}
		}
	}
	if len(b) <= n {
		return 0, nil, encapCut
	}
	t, ok := byNibble(b[n:])
	if !ok {
		return 0, nil, encapBad
	}
	record(TunnelGTPU, teid, true)
	return t, b[n:], encapOK
}

// ayiya reads an AYIYA header (draft-massar-v6ops-ayiya, as Zeek's AYIYA
// analyzer): 8 bytes, then the identity (1 << its length nibble bytes)
// and the signature (4 × its nibble); only "forward" (opcode 1) carries a
// packet, IPv6 or IPv4 by the next-header byte.
func ayiya(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	if len(b) < 8 {
		return 0, nil, encapCut
	}
	n := 8 + 1<<(b[0]>>4) + int(b[1]>>4)*4
	if len(b) < n {
		return 0, nil, encapCut
	}
	if b[2]&0x0f != 1 {
		return 0, nil, encapNot
	}
	var t gopacket.LayerType
	switch b[3] {
	case 41:
		t = layers.LayerTypeIPv6
	case 4:
		t = layers.LayerTypeIPv4
	default:
		return 0, nil, encapBad
	}
	if len(b) == n {
		return 0, nil, encapCut
	}
	record(TunnelAYIYA, 0, false)
	return t, b[n:], encapOK
}

// teredo skips the optional authentication and origin indicators (RFC
// 4380 5.1.1) before the IPv6 header.
func teredo(b []byte, record recordFunc) (gopacket.LayerType, []byte, encapResult) {
	for range 2 {
		if len(b) < 2 {
			return 0, nil, encapCut
		}
		switch {
		case b[0] == 0 && b[1] == 1: // authentication
			if len(b) < 4 {
				return 0, nil, encapCut
			}
			n := 13 + int(b[2]) + int(b[3])
			if len(b) < n {
				return 0, nil, encapCut
			}
			b = b[n:]
		case b[0] == 0 && b[1] == 0: // origin indication
			if len(b) < 8 {
				return 0, nil, encapCut
			}
			b = b[8:]
		}
	}
	if len(b) == 0 {
		return 0, nil, encapCut
	}
	if b[0]>>4 != 6 {
		return 0, nil, encapBad
	}
	record(TunnelTeredo, 0, false)
	return layers.LayerTypeIPv6, b, encapOK
}

// truncFeedback is a gopacket.DecodeFeedback that remembers SetTruncated,
// kept in the Decoder so that passing it does not allocate.
type truncFeedback struct{ truncated bool }

func (f *truncFeedback) SetTruncated() { f.truncated = true }
