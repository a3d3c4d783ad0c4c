package filter

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// frame is what a filter looks at: the outer headers of one frame.
type frame struct {
	l3           uint8 // l3IPv4, l3IPv6, l3ARP; 0: none parsed
	src, dst     netip.Addr
	proto        uint8 // IPv4 protocol or IPv6 next header (after extension headers)
	hasProto     bool
	sport, dport uint16
	hasPorts     bool // TCP, UDP or SCTP ports, in the first fragment only
	vlan         bool
	vlanID       int  // of the outer tag
	ipv6Ext      bool // IPv6 extension headers were skipped (tcpdump does not)
}

// Match reports whether the frame (of link type lt, as captured) passes
// the filter. A nil filter passes everything.
func (f *Filter) Match(lt layers.LinkType, data []byte) bool {
	if f == nil {
		return true
	}
	var fr frame
	fr.parse(lt, data)
	return f.root.eval(&fr)
}

func (fr *frame) parse(lt layers.LinkType, b []byte) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return
		}
		et, off := binary.BigEndian.Uint16(b[12:]), 14
		for (et == 0x8100 || et == 0x88a8 || et == 0x9100) && len(b) >= off+4 {
			if !fr.vlan {
				fr.vlan, fr.vlanID = true, int(binary.BigEndian.Uint16(b[off:])&0x0fff)
			}
			et, off = binary.BigEndian.Uint16(b[off+2:]), off+4
		}
		fr.network(et, b[off:])
	case layers.LinkTypeLinuxSLL:
		if len(b) >= 16 {
			fr.network(binary.BigEndian.Uint16(b[14:]), b[16:])
		}
	case layers.LinkType(276): // LINUX_SLL2
		if len(b) >= 20 {
			fr.network(binary.BigEndian.Uint16(b[0:]), b[20:])
		}
	case layers.LinkTypeRaw, layers.LinkType(12), layers.LinkType(14), layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(b) > 0 {
			switch b[0] >> 4 {
			case 4:
				fr.network(0x0800, b)
			case 6:
				fr.network(0x86dd, b)
			}
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return
		}
		fam := binary.LittleEndian.Uint32(b)
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			fr.network(0x0800, b[4:])
		case 10, 24, 28, 30:
			fr.network(0x86dd, b[4:])
		}
	}
}

// network parses the layer-3 header of ethertype et at b.
func (fr *frame) network(et uint16, b []byte) {
	switch et {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return
		}
		fr.l3 = l3IPv4
		fr.src, fr.dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		fr.proto, fr.hasProto = b[9], true
		ihl := int(b[0]&0x0f) * 4
		if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 || ihl < 20 {
			return // a later fragment: no ports, as tcpdump
		}
		fr.transport(b[min(ihl, len(b)):])
	case 0x86dd:
		if len(b) < 40 {
			return
		}
		fr.l3 = l3IPv6
		fr.src, fr.dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		nh, rest := b[6], b[40:]
		for hops := 0; hops < 8; hops++ {
			switch nh {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(rest) < 8 {
					fr.proto, fr.hasProto = nh, true
					return
				}
				nh, rest = rest[0], rest[min(int(rest[1]+1)*8, len(rest)):]
				fr.ipv6Ext = true
				continue
			case 44: // fragment
				if len(rest) < 8 {
					fr.proto, fr.hasProto = nh, true
					return
				}
				later := binary.BigEndian.Uint16(rest[2:])&0xfff8 != 0
				nh, rest = rest[0], rest[8:]
				fr.ipv6Ext = true
				if later {
					fr.proto, fr.hasProto = nh, true
					return
				}
				continue
			}
			break
		}
		fr.proto, fr.hasProto = nh, true
		fr.transport(rest)
	case 0x0806:
		// Ethernet/IPv4 ARP: sender and target protocol addresses.
		if len(b) >= 28 && binary.BigEndian.Uint16(b[2:]) == 0x0800 && b[4] == 6 && b[5] == 4 {
			fr.l3 = l3ARP
			fr.src, fr.dst = netip.AddrFrom4([4]byte(b[14:18])), netip.AddrFrom4([4]byte(b[24:28]))
		}
	}
}

func (fr *frame) transport(b []byte) {
	switch fr.proto {
	case protoTCP, protoUDP, protoSCTP:
		if len(b) >= 4 {
			fr.sport, fr.dport, fr.hasPorts = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), true
		}
	}
}

func (n *node) eval(fr *frame) bool {
	switch n.kind {
	case nAnd:
		return n.left.eval(fr) && n.right.eval(fr)
	case nOr:
		return n.left.eval(fr) || n.right.eval(fr)
	case nNot:
		return !n.left.eval(fr)
	case nProto:
		if n.l4 == 0 {
			return fr.l3 == n.l3
		}
		if n.l3 != 0 && fr.l3 != n.l3 {
			return false
		}
		return (fr.l3 == l3IPv4 || fr.l3 == l3IPv6) && fr.hasProto && fr.proto == n.l4
	case nIPProt:
		if n.l3 != 0 && fr.l3 != n.l3 || fr.l3 != l3IPv4 && fr.l3 != l3IPv6 {
			return false
		}
		return fr.hasProto && int(fr.proto) == n.num
	case nHost, nNet:
		if fr.l3 == 0 || n.l3 != 0 && fr.l3 != n.l3 {
			return false
		}
		return n.dir.match(n.prefix.Contains(fr.src), n.prefix.Contains(fr.dst))
	case nPort:
		if !fr.hasPorts || n.l3 != 0 && fr.l3 != n.l3 || n.l4 != 0 && fr.proto != n.l4 {
			return false
		}
		in := func(p uint16) bool { return p >= n.lo && p <= n.hi }
		return n.dir.match(in(fr.sport), in(fr.dport))
	case nVLAN:
		return fr.vlan && (n.num < 0 || fr.vlanID == n.num)
	}
	return false
}

func (d dir) match(src, dst bool) bool {
	switch d {
	case dirSrc:
		return src
	case dirDst:
		return dst
	case dirSrcAndDst:
		return src && dst
	}
	return src || dst
}
