package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Kind classifies one captured frame.
type Kind uint8

const (
	// KindTCP is a complete-enough TCP segment: the Packet was filled.
	KindTCP Kind = iota
	// KindNonTCP is anything that is not TCP over IP: ARP, UDP, ICMP,
	// other EtherTypes, or a malformed header.
	KindNonTCP
	// KindFragment is an IP fragment (IPv4 with MF or a fragment offset,
	// IPv6 with a Fragment header that is not atomic) that did not
	// complete its datagram; the one that does decodes as the datagram.
	KindFragment
	// KindTruncated is a frame cut (by the snap length) before the TCP
	// ports and flags, or before the protocol could be told.
	KindTruncated
	// KindUnsupportedLink is a frame on a link type the Decoder does not
	// handle; see SupportedLinkType.
	KindUnsupportedLink
	// KindICMPError is an ICMP or ICMPv6 destination-unreachable error
	// that quotes a TCP segment: the Packet was filled from the quote
	// (see Packet.ICMP). A firewall `reject with icmp` answers SYNs so.
	KindICMPError
)

func (k Kind) String() string {
	switch k {
	case KindTCP:
		return "tcp"
	case KindNonTCP:
		return "non-tcp"
	case KindFragment:
		return "fragment"
	case KindTruncated:
		return "truncated"
	case KindUnsupportedLink:
		return "unsupported-link"
	case KindICMPError:
		return "icmp-error"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ErrUnsupportedLinkType is wrapped by errors about captures whose link type
// the Decoder does not handle.
var ErrUnsupportedLinkType = errors.New("unsupported link type")

// Link types that are not in gopacket's constants.
const (
	linkTypeRaw12 layers.LinkType = 12 // DLT_RAW on most systems
	linkTypeRaw14 layers.LinkType = 14 // DLT_RAW on OpenBSD
)

// SupportedLinkType reports whether Decode handles frames of link type lt.
func SupportedLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, linkTypeRaw12, linkTypeRaw14, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
		layers.LinkTypeNull, layers.LinkTypeLoop,
		layers.LinkTypeIEEE802_11, layers.LinkTypeIEEE80211Radio:
		return true
	}
	return viaGopacket(lt)
}

// viaGopacket reports the link types that only gopacket's general decoder
// reads (PPP, FDDI, OpenBSD pflog, Prism 802.11 headers): rare in incident
// captures, so they take its allocating path to the first IP header.
func viaGopacket(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypePPP, layers.LinkTypeFDDI, layers.LinkTypePFLog, layers.LinkTypePrismHeader:
		return true
	}
	return false
}

// LinkTypeName is a short human name for a link type: gopacket's name where
// it has one ("Ethernet", "Linux SLL2", "Raw", "Null", "Loop"), a few more
// from the tcpdump list (IPv4, IPv6, USER0..USER15), else "UnknownLinkType".
func LinkTypeName(lt layers.LinkType) string {
	switch {
	case lt == linkTypeRaw12 || lt == linkTypeRaw14:
		return "Raw"
	case lt == layers.LinkTypeIPv4:
		return "IPv4"
	case lt == layers.LinkTypeIPv6:
		return "IPv6"
	case lt >= 147 && lt <= 162:
		return fmt.Sprintf("USER%d", lt-147)
	case lt == 192:
		return "PPI"
	case lt == 249:
		return "USBPcap"
	}
	return lt.String()
}

// checkLinkType returns nil or an error wrapping ErrUnsupportedLinkType,
// e.g. "unsupported link type 147 (USER0)".
func checkLinkType(lt layers.LinkType) error {
	if SupportedLinkType(lt) {
		return nil
	}
	return fmt.Errorf("%w %d (%s)", ErrUnsupportedLinkType, uint16(lt), LinkTypeName(lt))
}

// Indexes of the Decoder's parsers, one per first layer.
const (
	firstEthernet = iota
	firstSLL
	firstSLL2
	firstLoopback
	firstIPv4
	firstIPv6
	nFirst
)

// Decoder turns raw frames into Packet values. It is built once per capture
// source and reused for every frame; Decode does not allocate. A Decoder is
// not safe for concurrent use.
//
// Decoding uses gopacket DecodingLayerParsers (one per first layer, all
// sharing the same layer values), plus two small DecodingLayers of our own
// for IPv6: gopacket's IPv6 layer decodes a hop-by-hop header itself and
// allocates one object per option, and so does its IPv6Destination.
type Decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	lo    layers.Loopback
	ip4   ipv4Layer
	ip6   ipv6Fixed
	ext   ipv6ExtSkip
	frag  layers.IPv6Fragment
	tcp   tcpLayer

	// VerifyChecksums makes Decode check TCP checksums (Packet.Checksum)
	// where the whole segment was captured. Off by default: it reads every
	// payload byte, which only the per-connection export needs.
	VerifyChecksums bool

	parsers [nFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	// Of the last KindTCP frame, for the Reader's duplicate detection:
	// the IPv4 identification (0 for IPv6) and where it was captured as
	// far as the link header says (Linux cooked headers: interface index
	// and direction; else 0). They are not in Packet: nothing above the
	// Reader needs them.
	ipID  uint16
	where uint64

	// Tunnels (tunnel.go): the layers gopacket decodes without allocating,
	// the last frame's tunnel (also for non-TCP frames, for the Reader's
	// counts), whether it was nested beyond MaxTunnelDepth, and the UDP
	// ports taken for VXLAN besides 4789.
	vxlan      layers.VXLAN
	gre        layers.GRE
	erspan2    layers.ERSPANII
	df         truncFeedback
	tun        Tunnel
	tooDeep    bool
	vxlanPorts []uint16

	// Of the last frame, when it was UDP not taken as a tunnel: its
	// destination port and whether its payload starts like a VXLAN
	// header (for the Reader's tally of what a capture holds instead of
	// TCP); udpDst is 0 otherwise.
	udpDst   uint16
	udpVXLAN bool

	// frags reassembles IP fragments (fragments.go).
	frags fragments
}

// noteUDP records the destination port of a UDP datagram (header at b)
// not decoded as a tunnel, and whether its payload looks like VXLAN: the
// I flag alone in the first byte, the reserved bytes zero.
func (d *Decoder) noteUDP(b []byte) {
	d.udpDst = binary.BigEndian.Uint16(b[2:4])
	v := b[8:]
	d.udpVXLAN = len(v) >= 8 && v[0] == 0x08 && v[1] == 0 && v[2] == 0 && v[3] == 0 && v[7] == 0
}

// SetVXLANPorts makes the Decoder take UDP to these destination ports as
// VXLAN too (4789 always is): Linux's own default 8472, Flannel, NSX.
func (d *Decoder) SetVXLANPorts(ports []uint16) {
	d.vxlanPorts = append(d.vxlanPorts[:0], ports...)
}

// Tunnel is the tunnel the last decoded frame came in, whatever its Kind
// (zero if none), and whether it was nested deeper than MaxTunnelDepth.
func (d *Decoder) Tunnel() (Tunnel, bool) { return d.tun, d.tooDeep }

// NewDecoder builds a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	firsts := [nFirst]gopacket.LayerType{
		firstEthernet: layers.LayerTypeEthernet,
		firstSLL:      layers.LayerTypeLinuxSLL,
		firstSLL2:     layers.LayerTypeLinuxSLL2,
		firstLoopback: layers.LayerTypeLoopback,
		firstIPv4:     layers.LayerTypeIPv4,
		firstIPv6:     layers.LayerTypeIPv6,
	}
	for i, first := range firsts {
		p := gopacket.NewDecodingLayerParser(first)
		var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range []gopacket.DecodingLayer{
			&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.lo, &d.ip4, &d.ip6, &d.ext, &d.frag, &d.tcp,
		} {
			dlc = dlc.Put(l)
		}
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// Decode decodes one frame of link type lt captured at ts (ns since the
// epoch). For KindTCP it overwrites *p; for any other Kind *p is left in an
// unspecified state. data is not retained.
func (d *Decoder) Decode(lt layers.LinkType, data []byte, ts int64, p *Packet) Kind {
	if d.tun.Kinds != 0 || d.tooDeep { // most frames: nothing to clear
		d.tun, d.tooDeep = Tunnel{}, false
	}
	d.where, d.udpDst = 0, 0
	if k, ok := d.decodeFast(lt, data, ts, p); ok {
		return k
	}
	return d.decodeGeneral(lt, data, ts, p)
}

// decodeGeneral decodes any frame of a supported link type with gopacket's
// layers and the tunnel decoders: the reference decodeFast must agree with.
func (d *Decoder) decodeGeneral(lt layers.LinkType, data []byte, ts int64, p *Packet) Kind {
	var first int
	switch lt {
	case layers.LinkTypeEthernet:
		first = firstEthernet
	case layers.LinkTypeLinuxSLL:
		first = firstSLL
	case layers.LinkTypeLinuxSLL2:
		first = firstSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = firstLoopback
	case layers.LinkTypeIPv4:
		first = firstIPv4
	case layers.LinkTypeIPv6:
		first = firstIPv6
	case layers.LinkTypeRaw, linkTypeRaw12, linkTypeRaw14:
		if len(data) == 0 {
			return KindTruncated
		}
		switch data[0] >> 4 {
		case 4:
			first = firstIPv4
		case 6:
			first = firstIPv6
		default:
			return KindNonTCP
		}
	case layers.LinkTypeIEEE802_11, layers.LinkTypeIEEE80211Radio:
		var k Kind
		if first, data, k = wifi(lt, data); k != KindTCP {
			return k
		}
	default:
		if !viaGopacket(lt) {
			return KindUnsupportedLink
		}
		var k Kind
		if first, data, k = general(lt, data); k != KindTCP {
			return k
		}
	}

	for depth := 0; ; depth++ {
		parser := d.parsers[first]
		err := parser.DecodeLayers(data, &d.decoded)

		// What came after the last layer decoded, and its bytes: the layer
		// that failed (err != nil), was not supported, or had no bytes at all.
		next, rest := firstLayerType(first), data
		if n := len(d.decoded); n > 0 {
			if depth == 0 {
				switch d.decoded[0] {
				case layers.LayerTypeLinuxSLL:
					d.where = 1<<40 | uint64(d.sll.PacketType)
				case layers.LayerTypeLinuxSLL2:
					d.where = 2<<40 | uint64(d.sll2.InterfaceIndex)<<8 | uint64(d.sll2.PacketType)
				}
			}
			last := d.layer(d.decoded[n-1])
			if last == nil { // cannot happen: only our layers are decoded
				return KindNonTCP
			}
			if d.decoded[n-1] == layers.LayerTypeTCP {
				return d.fill(d.tcp.Contents, len(d.tcp.Payload), ts, p)
			}
			next, rest = last.NextLayerType(), last.LayerPayload()
		}
		switch {
		case next == layers.LayerTypeTCP:
			// tcpLayer refused these bytes (the snap length cut the header or
			// its options), or DecodeLayers stopped because no bytes were
			// left. With the ports and the flags byte (offset 13) captured the
			// handshake can still be followed: fill takes what there is.
			if len(rest) < minTCPBytes {
				return KindTruncated
			}
			return d.fill(rest, -1, ts, p)
		case next == gopacket.LayerTypeFragment:
			whole, ok := d.reassemble(ts)
			if !ok {
				return KindFragment
			}
			// The datagram is whole: decode it from its IP header on.
			if depth == MaxTunnelDepth {
				d.tooDeep = true
				return KindNonTCP
			}
			first, data = firstIPv4, whole
			if whole[0]>>4 == 6 {
				first = firstIPv6
			}
			continue
		case next == layers.LayerTypeICMPv4 || next == layers.LayerTypeICMPv6:
			return d.fillICMP(next == layers.LayerTypeICMPv6, rest, ts, p)
		case err != nil && parser.Truncated:
			return KindTruncated
		case d.linkShim(&first, &data, rest):
			// PBB or VN-Tag: more link header, then the frame goes on.
			if depth == MaxTunnelDepth {
				d.tooDeep = true
				return KindNonTCP
			}
			continue
		case !d.isEncap(next, rest):
			if next == layers.LayerTypeUDP && len(rest) >= 8 {
				d.noteUDP(rest)
			}
			return KindNonTCP
		}

		// A tunnel: decode its header(s) here, then the inner frame with
		// the parser for its first layer. Only frames that reach this
		// point pay for it.
		var res encapResult
		for {
			if depth == MaxTunnelDepth {
				d.tooDeep = true
				return KindNonTCP
			}
			next, data, res = d.encap(next, rest)
			switch res {
			case encapCut:
				return KindTruncated
			case encapOK:
			default:
				return KindNonTCP
			}
			if first = parserFor(next); first >= 0 {
				break
			}
			// MPLS inside GRE: another encapsulation before any parser.
			depth++
			rest = data
		}
		if len(data) == 0 {
			return KindTruncated
		}
	}
}

// Link headers gopacket does not know, which switches and fabric
// extenders put between the Ethernet header and the frame's payload.
const (
	etherTypePBB   = 0x88e7 // IEEE 802.1ah I-TAG, then the customer's Ethernet frame
	etherTypeVNTag = 0x8926 // Cisco VN-Tag: 4 bytes, then the next EtherType
)

// linkShim looks at the EtherType the last decoded link layer (Ethernet
// or 802.1Q) left undecoded; for PBB or VN-Tag it points first and data
// at what follows (as Zeek's PBB and VNTag analyzers do) and reports true.
// Like 802.1Q tags they are link headers, not tunnels.
func (d *Decoder) linkShim(first *int, data *[]byte, rest []byte) bool {
	n := len(d.decoded)
	if n == 0 {
		return false
	}
	var et layers.EthernetType
	switch d.decoded[n-1] {
	case layers.LayerTypeEthernet:
		et = d.eth.EthernetType
	case layers.LayerTypeDot1Q:
		et = d.dot1q.Type
	default:
		return false
	}
	switch et {
	case etherTypePBB:
		if len(rest) < 4+14 {
			return false
		}
		*first, *data = firstEthernet, rest[4:]
		return true
	case etherTypeVNTag:
		if len(rest) < 6 {
			return false
		}
		inner, b := binary.BigEndian.Uint16(rest[4:6]), rest[6:]
		for i := 0; i < 2 && (inner == 0x8100 || inner == 0x88a8) && len(b) >= 4; i++ {
			inner, b = binary.BigEndian.Uint16(b[2:4]), b[4:]
		}
		switch inner {
		case uint16(layers.EthernetTypeIPv4):
			*first, *data = firstIPv4, b
		case uint16(layers.EthernetTypeIPv6):
			*first, *data = firstIPv6, b
		default:
			return false
		}
		return true
	}
	return false
}

// reassemble books the fragment the parser stopped at (the innermost IP
// layer decoded: IPv4 with MF or an offset, or IPv6 with a Fragment
// header) and returns the whole datagram once its last piece came.
func (d *Decoder) reassemble(ts int64) ([]byte, bool) {
	for i := len(d.decoded) - 1; i >= 0; i-- {
		switch d.decoded[i] {
		case layers.LayerTypeIPv4:
			ip := &d.ip4.IPv4
			k := fragKey{src: netip.AddrFrom4([4]byte(ip.SrcIP)), dst: netip.AddrFrom4([4]byte(ip.DstIP)), id: uint32(ip.Id), proto: uint8(ip.Protocol)}
			return d.frags.add(k, ts, false, ip.Contents, int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0, 0, ip.Payload)
		case layers.LayerTypeIPv6Fragment:
			if i == 0 || d.decoded[i-1] == layers.LayerTypeIPv6Fragment {
				return nil, false
			}
			fr := &d.frag
			k := fragKey{src: netip.AddrFrom16(d.ip6.Src), dst: netip.AddrFrom16(d.ip6.Dst), id: fr.Identification}
			return d.frags.add(k, ts, true, d.ip6.Contents, int(fr.FragmentOffset)*8, fr.MoreFragments, uint8(fr.NextHeader), fr.Payload)
		}
	}
	return nil, false
}

// parserFor is the index of the parser that starts with layer t, or -1.
func parserFor(t gopacket.LayerType) int {
	switch t {
	case layers.LayerTypeEthernet:
		return firstEthernet
	case layers.LayerTypeIPv4:
		return firstIPv4
	case layers.LayerTypeIPv6:
		return firstIPv6
	}
	return -1
}

func firstLayerType(first int) gopacket.LayerType {
	switch first {
	case firstEthernet:
		return layers.LayerTypeEthernet
	case firstSLL:
		return layers.LayerTypeLinuxSLL
	case firstSLL2:
		return layers.LayerTypeLinuxSLL2
	case firstLoopback:
		return layers.LayerTypeLoopback
	case firstIPv4:
		return layers.LayerTypeIPv4
	}
	return layers.LayerTypeIPv6
}

// layer maps a decoded layer type back to the Decoder's layer value.
func (d *Decoder) layer(t gopacket.LayerType) gopacket.DecodingLayer {
	switch t {
	case layers.LayerTypeEthernet:
		return &d.eth
	case layers.LayerTypeDot1Q:
		return &d.dot1q
	case layers.LayerTypeLinuxSLL:
		return &d.sll
	case layers.LayerTypeLinuxSLL2:
		return &d.sll2
	case layers.LayerTypeLoopback:
		return &d.lo
	case layers.LayerTypeIPv4:
		return &d.ip4
	case layers.LayerTypeIPv6:
		return &d.ip6
	case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return &d.ext
	case layers.LayerTypeIPv6Fragment:
		return &d.frag
	case layers.LayerTypeTCP:
		return &d.tcp
	}
	return nil
}

// minTCPBytes is the least of a TCP header Decode turns into a Packet:
// ports, sequence and acknowledgement numbers, data offset and flags.
const minTCPBytes = 14

// fill copies the TCP segment starting at seg and its innermost IP header
// into p. seg is the whole TCP header, or, when the snap length cut it, the
// captured rest of the frame (at least minTCPBytes). payload is the number
// of payload bytes captured after a whole header, -1 when it was cut.
func (d *Decoder) fill(seg []byte, payload int, ts int64, p *Packet) Kind {
	// The innermost IP layer: the last IPv4 or IPv6 in decoded.
	var (
		ipStart  []byte // the IP header's bytes, up to the end of the capture
		ipTotal  int    // IP header + payload, from the IP length field
		src, dst netip.Addr
		ipID     uint16
	)
	for i := len(d.decoded) - 1; i >= 0; i-- {
		switch d.decoded[i] {
		case layers.LayerTypeIPv4:
			ipStart = d.ip4.Contents
			ipTotal = int(d.ip4.Length)
			src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
			dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
			ipID = d.ip4.Id
		case layers.LayerTypeIPv6:
			ipStart = d.ip6.Contents
			if d.ip6.Length == 0 {
				// Jumbogram or TSO super-segment: no length to trust.
				ipTotal = cap(ipStart) - cap(seg) + len(seg)
			} else {
				ipTotal = 40 + int(d.ip6.Length)
			}
			src = netip.AddrFrom16(d.ip6.Src)
			dst = netip.AddrFrom16(d.ip6.Dst)
		default:
			continue
		}
		break
	}
	if ipStart == nil || len(seg) < minTCPBytes {
		return KindNonTCP // TCP without IP: cannot happen with our parsers
	}

	// The TCP header's offset from the IP header (both slice the same
	// frame buffer, so the difference of their capacities is the offset)
	// is IP header + extension headers.
	d.fillTCP(seg, payload, ipTotal-(cap(ipStart)-cap(seg)), ipTotal, ts, src, dst, ipID, p)
	return KindTCP
}

// fillTCP fills p from the TCP segment seg: the whole TCP header with
// payload bytes captured after it in the same buffer (payload of them, for
// checksum verification), or, when the snap length cut the header, what
// was captured of it (at least minTCPBytes; payload -1). tcpLen is the TCP
// header and payload by the IP length field, ipTotal the IP packet's.
func (d *Decoder) fillTCP(seg []byte, payload, tcpLen, ipTotal int, ts int64, src, dst netip.Addr, ipID uint16, p *Packet) {
	*p = Packet{Time: ts}
	p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(seg[0:2]))
	p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(seg[2:4]))
	p.Seq = binary.BigEndian.Uint32(seg[4:8])
	p.Ack = binary.BigEndian.Uint32(seg[8:12])
	p.Flags = TCPFlags(seg[13])
	if d.tun.Kinds != 0 {
		p.Tunnel = d.tun
	}
	d.ipID = ipID
	if len(seg) >= 16 {
		p.Window = binary.BigEndian.Uint16(seg[14:16])
	} else {
		p.WindowCut = true
	}

	hdrLen := int(seg[12]>>4) * 4
	if hdrLen < 20 {
		hdrLen = 20 // bogus data offset: no options, payload after 20 bytes
	}
	if len(seg) < hdrLen {
		p.OptionsCut = true
		if len(seg) > 20 {
			parseOptions(seg[20:], &p.Opts)
		}
	} else {
		parseOptions(seg[20:hdrLen], &p.Opts)
	}

	// Payload length from the IP length field, not from what was captured.
	if n := tcpLen - hdrLen; n > 0 {
		p.PayloadLen = uint32(n)
	}
	if ipTotal > 0 {
		p.IPLen = uint32(ipTotal)
	}
	// Like Zeek, only a segment captured whole can be verified (a cut one
	// would always look bad). The sum is over the segment as the IP length
	// says, so seg is extended over the payload that follows it in the
	// same buffer.
	if d.VerifyChecksums && payload >= 0 && tcpLen >= hdrLen && len(seg) == hdrLen && hdrLen+payload == tcpLen {
		p.Checksum = ChecksumBad
		if tcpChecksumOK(src, dst, seg[:tcpLen]) {
			p.Checksum = ChecksumGood
		}
	}
}

// tcpChecksumOK verifies a TCP segment's checksum over the IPv4 or IPv6
// pseudo-header (RFC 9293 3.1, RFC 8200 8.1): addresses, protocol 6 and
// the segment length, then the segment, checksum field included; a valid
// one sums to 0xffff in ones' complement.
func tcpChecksumOK(src, dst netip.Addr, seg []byte) bool {
	var sum uint64
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		sum += uint64(binary.BigEndian.Uint32(a[:])) + uint64(binary.BigEndian.Uint32(b[:]))
	} else {
		a, b := src.As16(), dst.As16()
		for i := 0; i < 16; i += 4 {
			sum += uint64(binary.BigEndian.Uint32(a[i:])) + uint64(binary.BigEndian.Uint32(b[i:]))
		}
	}
	sum += 6 + uint64(len(seg))
	// 64-bit words, their carries added back at the end (ones'
	// complement addition): a load and an add for 8 bytes. The
	// --connections export verifies every segment, so this is per packet.
	b := seg
	var carry uint64
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, carry, 0)
	sum = sum>>32 + sum&0xffffffff + carry // 33 bits at most: no carry lost below
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// parseOptions reads MSS, window scale, SACK-permitted and timestamps from
// the TCP options in b. An option cut short at the end of b is ignored.
func parseOptions(b []byte, o *TCPOptions) {
	for len(b) > 0 {
		kind := b[0]
		switch kind {
		case 0: // end of options
			return
		case 1: // NOP
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			return
		}
		l := int(b[1])
		if l < 2 || l > len(b) {
			return // malformed, or cut by the snap length
		}
		v := b[2:l]
		switch kind {
		case 2:
			if len(v) == 2 {
				o.MSS, o.HasMSS = binary.BigEndian.Uint16(v), true
			}
		case 3:
			if len(v) == 1 {
				o.WScale, o.HasWScale = v[0], true
			}
		case 4:
			o.SACKPerm = true
		case 8:
			if len(v) == 8 {
				o.TSval, o.TSecr, o.HasTS = binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[4:8]), true
			}
		}
		b = b[l:]
	}
}

// ipv6Fixed decodes only the fixed 40-byte IPv6 header; extension headers
// are left to ipv6ExtSkip. (layers.IPv6 parses a hop-by-hop header inline
// and allocates per option.)
type ipv6Fixed struct {
	layers.BaseLayer
	Length     uint16
	NextHeader layers.IPProtocol
	Src, Dst   [16]byte
}

func (i *ipv6Fixed) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 40 {
		df.SetTruncated()
		return errIPv6Cut
	}
	if data[0]>>4 != 6 {
		return errIPv6Version
	}
	i.Length = binary.BigEndian.Uint16(data[4:6])
	i.NextHeader = layers.IPProtocol(data[6])
	i.Src = [16]byte(data[8:24])
	i.Dst = [16]byte(data[24:40])
	payload := data[40:]
	if i.Length != 0 {
		if int(i.Length) > len(payload) {
			df.SetTruncated()
		} else {
			payload = payload[:i.Length] // drop a link-layer trailer
		}
	}
	i.BaseLayer = layers.BaseLayer{Contents: data[:40], Payload: payload}
	return nil
}

func (i *ipv6Fixed) CanDecode() gopacket.LayerClass      { return layers.LayerTypeIPv6 }
func (i *ipv6Fixed) NextLayerType() gopacket.LayerType   { return ipNext(i.NextHeader) }
func (i *ipv6Fixed) LayerType() gopacket.LayerType       { return layers.LayerTypeIPv6 }
func (i *ipv6Fixed) LayerContents() []byte               { return i.Contents }
func (i *ipv6Fixed) LayerPayload() []byte                { return i.Payload }
func (i *ipv6ExtSkip) CanDecode() gopacket.LayerClass    { return ipv6SkipClass }
func (i *ipv6ExtSkip) NextLayerType() gopacket.LayerType { return ipNext(i.NextHeader) }
func (i *ipv6ExtSkip) LayerPayload() []byte              { return i.Payload }

// ipv6ExtSkip skips hop-by-hop, routing and destination options headers.
// Unlike layers.IPv6ExtensionSkipper it does not claim the Fragment header,
// which must stop decoding.
type ipv6ExtSkip struct {
	NextHeader layers.IPProtocol
	Payload    []byte
}

var ipv6SkipClass = gopacket.NewLayerClass([]gopacket.LayerType{
	layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination,
})

func (i *ipv6ExtSkip) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 2 {
		df.SetTruncated()
		return errIPv6ExtCut
	}
	n := (int(data[1]) + 1) * 8
	if n > len(data) {
		df.SetTruncated()
		return errIPv6ExtCut
	}
	i.NextHeader = layers.IPProtocol(data[0])
	i.Payload = data[n:]
	return nil
}

// Errors returned by our DecodingLayers. They are values, so that decoding
// a cut or bad frame does not allocate.
var (
	errIPv6Cut     = errors.New("IPv6 header cut")
	errIPv6Version = errors.New("IPv6 header with version not 6")
	errIPv6ExtCut  = errors.New("IPv6 extension header cut")
	errTCPCut      = errors.New("TCP header cut")
	errIPv4Cut     = errors.New("IPv4 header cut")
)

// tcpLayer takes the TCP header's bytes and nothing else: fill reads the
// fields it needs, so gopacket's TCP layer would parse the options (and
// allocate an error for every header cut by the snap length, common under
// tcpdump -s 64) for nothing. A header cut short is refused, and Decode
// then reads what was captured of it.
type tcpLayer struct {
	layers.BaseLayer
}

func (t *tcpLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return errTCPCut
	}
	n := int(data[12]>>4) * 4
	if n < 20 {
		n = 20 // bogus data offset: see fill
	}
	if n > len(data) {
		df.SetTruncated()
		return errTCPCut
	}
	t.BaseLayer = layers.BaseLayer{Contents: data[:n], Payload: data[n:]}
	return nil
}

func (t *tcpLayer) CanDecode() gopacket.LayerClass    { return layers.LayerTypeTCP }
func (t *tcpLayer) LayerType() gopacket.LayerType     { return layers.LayerTypeTCP }
func (t *tcpLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// ipv4Layer is gopacket's IPv4 layer, refusing a header cut by the snap
// length without allocating (see tcpLayer).
type ipv4Layer struct {
	layers.IPv4
}

func (i *ipv4Layer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 || int(data[0]&0x0f)*4 > len(data) {
		df.SetTruncated()
		return errIPv4Cut
	}
	return i.IPv4.DecodeFromBytes(data, df)
}

// NextLayerType stops the parser at IP in IP (see layerTypeIPinIP4).
func (i *ipv4Layer) NextLayerType() gopacket.LayerType {
	return stopAtIPinIP(i.IPv4.NextLayerType())
}

func ipNext(p layers.IPProtocol) gopacket.LayerType { return stopAtIPinIP(p.LayerType()) }

func stopAtIPinIP(t gopacket.LayerType) gopacket.LayerType {
	switch t {
	case layers.LayerTypeIPv4:
		return layerTypeIPinIP4
	case layers.LayerTypeIPv6:
		return layerTypeIPinIP6
	}
	return t
}

// wifi finds the IP packet in an 802.11 data frame with LLC/SNAP (link
// type 105, or 127 behind a radiotap header). gopacket's Dot11 layer
// allocates for every QoS data frame, which is nearly all of them; the
// header is simple enough to read here. KindTCP means first and rest are
// the IP layer's parser and bytes.
func wifi(lt layers.LinkType, b []byte) (first int, rest []byte, k Kind) {
	if lt == layers.LinkTypeIEEE80211Radio {
		if len(b) < 4 {
			return 0, nil, KindTruncated
		}
		n := int(binary.LittleEndian.Uint16(b[2:4]))
		if n < 8 {
			return 0, nil, KindNonTCP
		}
		if len(b) < n {
			return 0, nil, KindTruncated
		}
		b = b[n:]
	}
	if len(b) < 24 {
		return 0, nil, KindTruncated
	}
	fc, flags := b[0], b[1]
	switch {
	case fc&0x0c != 0x08: // not a data frame
		return 0, nil, KindNonTCP
	case fc&0x40 != 0: // null function: no payload
		return 0, nil, KindNonTCP
	case flags&0x40 != 0: // protected: encrypted payload
		return 0, nil, KindNonTCP
	}
	n := 24
	if flags&0x03 == 0x03 { // to and from DS: a fourth address
		n += 6
	}
	amsdu := false
	if fc&0x80 != 0 { // QoS data: QoS control, maybe HT control
		if len(b) < n+2 {
			return 0, nil, KindTruncated
		}
		amsdu = b[n]&0x80 != 0
		n += 2
		if flags&0x80 != 0 {
			n += 4
		}
	}
	if amsdu {
		// An A-MSDU: subframes of destination, source, length, then the
		// LLC/SNAP frame. The first is followed; a Packet is one frame,
		// so the others are not (Zeek decodes each).
		if len(b) < n+14 {
			return 0, nil, KindTruncated
		}
		sub := int(binary.BigEndian.Uint16(b[n+12 : n+14]))
		n += 14
		if len(b) > n+sub {
			b = b[:n+sub]
		}
	}
	if len(b) < n+8 {
		return 0, nil, KindTruncated
	}
	llc := b[n:]
	if llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 {
		return 0, nil, KindNonTCP
	}
	switch binary.BigEndian.Uint16(llc[6:8]) {
	case uint16(layers.EthernetTypeIPv4):
		return firstIPv4, llc[8:], KindTCP
	case uint16(layers.EthernetTypeIPv6):
		return firstIPv6, llc[8:], KindTCP
	}
	return 0, nil, KindNonTCP
}

// general finds the first IP header with gopacket's general decoder, for
// the link types of viaGopacket. It allocates.
func general(lt layers.LinkType, data []byte) (first int, rest []byte, k Kind) {
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
	for _, l := range pkt.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeIPv4:
			first = firstIPv4
		case layers.LayerTypeIPv6:
			first = firstIPv6
		default:
			continue
		}
		// NoCopy: the layer's bytes are a window on data.
		off := cap(data) - cap(l.LayerContents())
		if off < 0 || off > len(data) {
			return 0, nil, KindNonTCP
		}
		return first, data[off:], KindTCP
	}
	if pkt.Metadata().Truncated {
		return 0, nil, KindTruncated
	}
	return 0, nil, KindNonTCP
}
