package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// decodeFast decodes the frames that make up nearly every incident
// capture, TCP straight over IPv4 (no IP options, not a fragment) or IPv6
// (no extension header), under Ethernet with up to two VLAN tags, Linux
// cooked SLL/SLL2 or raw IP, without going through gopacket's
// DecodingLayerParser: profiling the whole analysis on a 5-million-packet
// capture showed the layer parser's interface calls and per-layer
// bookkeeping at about a sixth of all CPU time. Anything else (IP options,
// fragments, extension headers, other EtherTypes, headers cut by the snap
// length before TCP, tunnels) returns ok false, and Decode takes the
// general path, which stays the reference: TestFastPathMatchesGeneral
// decodes every frame of every capture in testdata both ways.
func (d *Decoder) decodeFast(lt layers.LinkType, data []byte, ts int64, p *Packet) (Kind, bool) {
	var (
		etype uint16
		where uint64
		l3    []byte
	)
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return 0, false
		}
		etype, l3 = binary.BigEndian.Uint16(data[12:14]), data[14:]
		for i := 0; i < 2 && (etype == 0x8100 || etype == 0x88a8); i++ {
			if len(l3) < 4 {
				return 0, false
			}
			etype, l3 = binary.BigEndian.Uint16(l3[2:4]), l3[4:]
		}
	case layers.LinkTypeLinuxSLL:
		// An address length over 8 is a damaged header gopacket refuses.
		if len(data) < 16 || binary.BigEndian.Uint16(data[4:6]) > 8 {
			return 0, false
		}
		etype, l3 = binary.BigEndian.Uint16(data[14:16]), data[16:]
		where = 1<<40 | uint64(binary.BigEndian.Uint16(data[0:2]))
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 || data[11] > 8 {
			return 0, false
		}
		etype, l3 = binary.BigEndian.Uint16(data[0:2]), data[20:]
		where = 2<<40 | uint64(binary.BigEndian.Uint32(data[4:8]))<<8 | uint64(data[10])
	case layers.LinkTypeRaw, linkTypeRaw12, linkTypeRaw14:
		if len(data) == 0 {
			return 0, false
		}
		switch data[0] >> 4 {
		case 4:
			etype = 0x0800
		case 6:
			etype = 0x86dd
		}
		l3 = data
	default:
		return 0, false
	}

	var (
		src, dst netip.Addr
		seg      []byte // the IP payload, trimmed to the IP length
		ipHdr    int    // bytes of IP header before seg
		ipTotal  int    // IP header + payload, from the IP length field
		ipID     uint16
	)
	switch etype {
	case 0x0800:
		// Version 4, IHL 5: no options. Flags MF and the fragment offset
		// zero: not a fragment. Protocol TCP.
		if len(l3) < 20 || l3[0] != 0x45 || binary.BigEndian.Uint16(l3[6:8])&0x3fff != 0 || l3[9] != 6 {
			return 0, false
		}
		ipTotal = int(binary.BigEndian.Uint16(l3[2:4]))
		if ipTotal < 20 {
			return 0, false // TSO's zero length and bogus ones: general path
		}
		ipHdr = 20
		seg = l3[20:min(ipTotal, len(l3))]
		src = netip.AddrFrom4([4]byte(l3[12:16]))
		dst = netip.AddrFrom4([4]byte(l3[16:20]))
		ipID = binary.BigEndian.Uint16(l3[4:6])
	case 0x86dd:
		if len(l3) < 40 || l3[0]>>4 != 6 || l3[6] != 6 {
			return 0, false
		}
		n := int(binary.BigEndian.Uint16(l3[4:6]))
		if n == 0 {
			return 0, false // jumbogram or TSO super-segment: general path
		}
		ipHdr, ipTotal = 40, 40+n
		seg = l3[40:min(ipTotal, len(l3))]
		src = netip.AddrFrom16([16]byte(l3[8:24]))
		dst = netip.AddrFrom16([16]byte(l3[24:40]))
	default:
		return 0, false
	}
	if len(seg) < minTCPBytes {
		return 0, false
	}
	d.where = where
	// seg runs to the IP length or the end of the capture: the header,
	// with the payload captured after it when the header is whole.
	tcpLen, payload := ipTotal-ipHdr, -1
	if hdrLen := max(int(seg[12]>>4)*4, 20); len(seg) >= hdrLen {
		seg, payload = seg[:hdrLen], len(seg)-hdrLen
	}
	d.fillTCP(seg, payload, tcpLen, ipTotal, ts, src, dst, ipID, p)
	return KindTCP, true
}
