// Package capture reads packet captures (pcap, pcapng, gzip, stdin, several
// files merged in time order) and decodes each frame's link, IP and TCP
// headers into a small Packet value. It never prints and keeps no global
// state; everything above it works on Packet values only.
package capture

import (
	"fmt"
	"net/netip"
)

// TCPFlags is the TCP flag byte (FIN is bit 0, CWR bit 7).
type TCPFlags uint8

const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether all flags in f2 are set.
func (f TCPFlags) Has(f2 TCPFlags) bool { return f&f2 == f2 }

// String renders the flags tcpdump-style ("S", "S.", "R.", "P.", "F.").
func (f TCPFlags) String() string {
	var b [8]byte
	n := 0
	for _, c := range []struct {
		f TCPFlags
		c byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagPSH, 'P'}, {FlagRST, 'R'}, {FlagURG, 'U'}, {FlagECE, 'E'}, {FlagCWR, 'W'}, {FlagACK, '.'}} {
		if f&c.f != 0 {
			b[n] = c.c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}

// TCPOptions holds the handshake-relevant TCP options of one segment.
// Absent options are zero with their Has* flag false; a window scale of 0 is
// a real value, hence HasWScale.
type TCPOptions struct {
	MSS       uint16
	WScale    uint8
	HasMSS    bool
	HasWScale bool
	SACKPerm  bool
	HasTS     bool
	TSval     uint32
	TSecr     uint32
}

// Packet is one decoded TCP segment. It is a value: it holds no pointer into
// the capture's read buffer, so it stays valid after the next read.
type Packet struct {
	// Time is the capture timestamp in nanoseconds since the Unix epoch.
	Time int64
	Src  netip.AddrPort
	Dst  netip.AddrPort

	Flags  TCPFlags
	Seq    uint32
	Ack    uint32
	Window uint16
	Opts   TCPOptions
	// PayloadLen is the TCP payload length from the IP header's length
	// fields, not from the captured bytes, so it is right under a short
	// snap length (and, like the kernel's view, includes offloaded
	// super-segments as one).
	PayloadLen uint32
	// OptionsCut is true when the snap length cut the TCP header (or its
	// data offset points past the captured bytes): Opts holds only what was
	// captured, and Window is 0 if fewer than 16 bytes of TCP header were
	// (WindowCut). Ports, Seq, Ack and Flags are always there: a frame cut
	// before them is not a Packet.
	OptionsCut, WindowCut bool

	// Checksum is the TCP checksum's validity: ChecksumUnknown unless the
	// Decoder was asked to verify checksums and the whole segment was
	// captured.
	Checksum ChecksumState

	// ICMP is set (IsSet) on a packet of KindICMPError: an ICMP or ICMPv6
	// destination-unreachable error quoting a TCP segment. Src, Dst and
	// Seq are then the QUOTED segment's, as it was sent (client to server
	// for a refused SYN), Flags and Ack too when the quote holds them
	// (else 0); Time and Tunnel are the error's; the rest is zero.
	ICMP ICMPError

	// WatchEnds is set on the last packet of a file that stopped while
	// a file captured alongside it went on (Reader.Next): from then on,
	// what happened on the connections only the stopped file saw is
	// unknown. It fills the padding after ICMP.
	WatchEnds bool
	// ClockStep is set on a file's first packet after its clock was set
	// back (Reader.Next moves that packet and the later ones forward to
	// follow on): how long passed in between is unknown.
	ClockStep bool

	// IPLen is the IP packet's total length, headers included, from its
	// length field (what Zeek sums into orig_ip_bytes/resp_ip_bytes). It
	// comes after the one-byte fields so that they share one padding.
	IPLen uint32

	// Tunnel is the encapsulation the packet came in (zero if none): Src
	// and Dst above are the INNER addresses. See Tunnel for nesting.
	Tunnel Tunnel
}

// ICMPError is the type and code of an ICMP destination-unreachable error
// and where it came from.
type ICMPError struct {
	Type, Code uint8
	V6         bool // ICMPv6 (type 1), else ICMP (type 3)
	// FromDst: the error's source address is the quoted segment's
	// destination, so the host it was sent to answered (a firewall REJECT
	// on that host, or a device answering in its name), not a router.
	FromDst bool
}

// IsSet reports whether e holds an error.
func (e ICMPError) IsSet() bool { return e.Type != 0 }

// String names the error as tcpdump does ("port-unreachable",
// "admin-prohibited", ...), prefixed "icmp6 " for ICMPv6.
func (e ICMPError) String() string {
	var names []string
	if e.V6 {
		names = []string{"no-route", "admin-prohibited", "beyond-scope", "address-unreachable", "port-unreachable", "source-policy-failed", "reject-route"}
	} else {
		names = []string{"net-unreachable", "host-unreachable", "protocol-unreachable", "port-unreachable", "frag-needed", "source-route-failed",
			"net-unknown", "host-unknown", "host-isolated", "net-prohibited", "host-prohibited", "net-tos-unreachable", "host-tos-unreachable", "admin-prohibited",
			"host-precedence-violation", "precedence-cutoff"}
	}
	name := fmt.Sprintf("code-%d", e.Code)
	if int(e.Code) < len(names) {
		name = names[e.Code]
	}
	if e.V6 {
		return "icmp6 " + name
	}
	return "icmp " + name
}

// ChecksumState says what is known of a segment's TCP checksum.
type ChecksumState uint8

const (
	// ChecksumUnknown: not verified (not asked for, or the snap length cut
	// the segment, or an IPv6 jumbogram).
	ChecksumUnknown ChecksumState = iota
	ChecksumGood
	// ChecksumBad: wrong. With checksum offload, a host's own outgoing
	// segments are captured before the NIC fills the checksum in, so a
	// capture on a server shows all of its segments as bad.
	ChecksumBad
)
