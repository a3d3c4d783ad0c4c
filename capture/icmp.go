package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// ICMP destination-unreachable errors are how a firewall `reject with
// icmp ...` rule, or a router with no way on, answers a SYN: the client's
// connect() fails at once (ECONNREFUSED for port-unreachable, EHOSTUNREACH
// for the others) and it sends nothing more, so without the error the
// attempt looks like one unanswered SYN. The error quotes the start of the
// segment it answers (RFC 792: the IP header and at least 8 bytes; Linux
// and RFC 4443 quote as much as fits), so the quoted 4-tuple and sequence
// number name the attempt.

const (
	icmpDestUnreachable  = 3
	icmpFragNeeded       = 4 // a path MTU message, not a refusal
	icmp6DestUnreachable = 1
)

// fillICMP fills p from the ICMP (v6 false) or ICMPv6 message msg carried
// by the innermost IP layer decoded: KindICMPError for a
// destination-unreachable error quoting TCP, KindNonTCP for any other ICMP
// message, KindTruncated when the snap length cut the quote before the
// ports and sequence number.
func (d *Decoder) fillICMP(v6 bool, msg []byte, ts int64, p *Packet) Kind {
	if len(msg) < 2 {
		return KindTruncated
	}
	typ, code := msg[0], msg[1]
	switch {
	case !v6 && typ == icmpDestUnreachable && code != icmpFragNeeded:
	case v6 && typ == icmp6DestUnreachable:
	default:
		return KindNonTCP
	}
	var from netip.Addr
	var ipID uint16
	for i := len(d.decoded) - 1; i >= 0 && !from.IsValid(); i-- {
		switch d.decoded[i] {
		case layers.LayerTypeIPv4:
			from, ipID = netip.AddrFrom4([4]byte(d.ip4.SrcIP)), d.ip4.Id
		case layers.LayerTypeIPv6:
			from = netip.AddrFrom16(d.ip6.Src)
		}
	}
	// Both headers are 8 bytes: type, code, checksum and 4 unused (or
	// next-hop MTU) bytes, then the quote.
	if len(msg) < 8 {
		return KindTruncated
	}
	q, ok := quotedTCP(v6, msg[8:])
	if !ok {
		if q.cut {
			return KindTruncated
		}
		return KindNonTCP
	}
	*p = Packet{Time: ts, Src: q.src, Dst: q.dst, Seq: q.seq, Ack: q.ack, Flags: q.flags}
	p.ICMP = ICMPError{Type: typ, Code: code, V6: v6, FromDst: from == q.dst.Addr()}
	if d.tun.Kinds != 0 {
		p.Tunnel = d.tun
	}
	d.ipID = ipID
	return KindICMPError
}

// quote is what an ICMP error's quote says of the TCP segment it answers.
type quote struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    TCPFlags
	cut      bool // the quote ended before the ports and sequence number
}

// quotedTCP reads the IP header and TCP header start quoted in an ICMP
// error. ok is false unless the quote is of TCP (not a fragment after the
// first) with at least the ports and sequence number; the flags and
// acknowledgement number are read when quoted (else zero).
func quotedTCP(v6 bool, b []byte) (q quote, ok bool) {
	var tcp []byte
	if !v6 {
		if len(b) < 20 {
			q.cut = true
			return q, false
		}
		ihl := int(b[0]&0x0f) * 4
		if b[0]>>4 != 4 || ihl < 20 || b[9] != byte(layers.IPProtocolTCP) || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return q, false
		}
		if len(b) < ihl {
			q.cut = true
			return q, false
		}
		q.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), 0)
		q.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), 0)
		tcp = b[ihl:]
	} else {
		if len(b) < 40 {
			q.cut = true
			return q, false
		}
		if b[0]>>4 != 6 {
			return q, false
		}
		q.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
		q.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
		next, rest := b[6], b[40:]
		// Extension headers before TCP: hop-by-hop, routing, destination
		// options, and a first fragment. A handful at most.
		for i := 0; next != byte(layers.IPProtocolTCP); i++ {
			if i == 8 {
				return q, false
			}
			switch next {
			case 0, 43, 60:
				if len(rest) < 2 || len(rest) < (int(rest[1])+1)*8 {
					q.cut = true
					return q, false
				}
				next, rest = rest[0], rest[(int(rest[1])+1)*8:]
			case 44:
				if len(rest) < 8 {
					q.cut = true
					return q, false
				}
				if binary.BigEndian.Uint16(rest[2:4])&0xfff8 != 0 {
					return q, false // not the first fragment: no TCP header
				}
				next, rest = rest[0], rest[8:]
			default:
				return q, false
			}
		}
		tcp = rest
	}
	if len(tcp) < 8 {
		q.cut = true
		return q, false
	}
	q.src = netip.AddrPortFrom(q.src.Addr(), binary.BigEndian.Uint16(tcp[0:2]))
	q.dst = netip.AddrPortFrom(q.dst.Addr(), binary.BigEndian.Uint16(tcp[2:4]))
	q.seq = binary.BigEndian.Uint32(tcp[4:8])
	if len(tcp) >= 14 {
		q.ack = binary.BigEndian.Uint32(tcp[8:12])
		q.flags = TCPFlags(tcp[13])
	}
	return q, true
}
