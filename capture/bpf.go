package capture

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// FilterLink says where the frames a kernel filter sees start.
type FilterLink uint8

const (
	// FilterEthernet: Ethernet frames, with up to two 802.1Q/802.1ad tags
	// in line (an AF_PACKET SOCK_RAW socket; tags the NIC or the kernel
	// moved into metadata are not in the frame at all).
	FilterEthernet FilterLink = iota
	// FilterRawIP: frames start with the IP header (an AF_PACKET
	// SOCK_DGRAM socket, as used for every interface at once).
	FilterRawIP
)

// MaxFilterPorts is the most ports BuildFilter takes: each port costs
// instructions on every path, and conditional jumps reach 255 instructions.
const MaxFilterPorts = 100

// ErrTooManyPorts is returned by BuildFilter for more than MaxFilterPorts.
var ErrTooManyPorts = errors.New("too many ports for the kernel filter")

// Ether types the filter knows.
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	etherVLAN     = 0x8100
	etherQinQ     = 0x88a8
	ipProtoTCP    = 6
	ipProtoICMP   = 1
	ipProtoICMPv6 = 58
	ipv6HopByHop  = 0
	ipv6Routing   = 43
	ipv6Fragment  = 44
	ipv6DestOpts  = 60
)

// BuildFilter assembles a classic BPF program that accepts TCP segments
// over IPv4 or IPv6 whose source or destination port is one of ports (any
// port when ports is empty), and ICMP and ICMPv6 destination-unreachable
// errors (any quote: the Decoder and tracker match them), and rejects
// everything else. Accepted frames
// are cut to snaplen bytes (0: kept whole), which is enough for synq as
// long as it covers the headers and TCP options (256 does).
//
// What it cannot see it leaves to the Decoder: IPv6 segments behind an
// extension header (hop-by-hop, routing, destination options, fragment) are
// accepted without a port check. Non-first IPv4 fragments carry no ports
// and are rejected.
func BuildFilter(link FilterLink, ports []uint16, snaplen uint32) ([]bpf.RawInstruction, error) {
	if len(ports) > MaxFilterPorts {
		return nil, fmt.Errorf("%w: %d (at most %d)", ErrTooManyPorts, len(ports), MaxFilterPorts)
	}
	if snaplen == 0 {
		snaplen = 0x40000 // the kernel's largest packet: keep all
	}
	a := &asm{labels: map[string]int{}}
	switch link {
	case FilterEthernet:
		// Ether type at 12, then up to two tags of 4 bytes each.
		for tags := 0; tags <= 2; tags++ {
			off := uint32(12 + 4*tags)
			ip := off + 2
			a.label(fmt.Sprintf("eth%d", tags))
			a.emit(bpf.LoadAbsolute{Off: off, Size: 2})
			if tags < 2 {
				next := fmt.Sprintf("eth%d", tags+1)
				a.jumpFar(bpf.JumpEqual, etherVLAN, next)
				a.jumpFar(bpf.JumpEqual, etherQinQ, next)
			}
			a.jumpFar(bpf.JumpEqual, etherIPv4, fmt.Sprintf("ip4_%d", ip))
			a.jumpFar(bpf.JumpEqual, etherIPv6, fmt.Sprintf("ip6_%d", ip))
			a.emit(bpf.RetConstant{Val: 0})
		}
		for tags := 0; tags <= 2; tags++ {
			ip := uint32(14 + 4*tags)
			a.ipv4(ip, ports, snaplen)
			a.ipv6(ip, ports, snaplen)
		}
	case FilterRawIP:
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		a.jumpFar(bpf.JumpEqual, 4, "ip4_0")
		a.jumpFar(bpf.JumpEqual, 6, "ip6_0")
		a.emit(bpf.RetConstant{Val: 0})
		a.ipv4(0, ports, snaplen)
		a.ipv6(0, ports, snaplen)
	default:
		return nil, fmt.Errorf("unknown filter link %d", link)
	}
	return a.assemble()
}

// ipv4 emits the block for an IPv4 header at ip.
func (a *asm) ipv4(ip uint32, ports []uint16, snaplen uint32) {
	icmp := fmt.Sprintf("icmp4_%d", ip)
	a.label(fmt.Sprintf("ip4_%d", ip))
	a.emit(bpf.LoadAbsolute{Off: ip + 9, Size: 1})
	a.jumpIf(bpf.JumpEqual, ipProtoTCP, "", icmp)
	a.emit(bpf.LoadAbsolute{Off: ip + 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, "reject4_"+fmt.Sprint(ip), "")
	a.emit(bpf.LoadMemShift{Off: ip})
	a.ports(true, ip, ports, snaplen, "reject4_"+fmt.Sprint(ip))
	// Destination-unreachable errors, whatever they quote: a firewall
	// REJECT answers SYNs so, and they are rare. The tracker matches
	// them to attempts.
	a.label(icmp)
	a.jumpIf(bpf.JumpEqual, ipProtoICMP, "", icmp+"_no")
	a.emit(bpf.LoadAbsolute{Off: ip + 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, icmp+"_no", "")
	a.emit(bpf.LoadMemShift{Off: ip})
	a.emit(bpf.LoadIndirect{Off: ip, Size: 1})
	a.jumpIf(bpf.JumpEqual, icmpDestUnreachable, "", icmp+"_no")
	a.emit(bpf.RetConstant{Val: snaplen})
	a.label(icmp + "_no")
	a.emit(bpf.RetConstant{Val: 0})
}

// ipv6 emits the block for an IPv6 header at ip.
func (a *asm) ipv6(ip uint32, ports []uint16, snaplen uint32) {
	rej := fmt.Sprintf("reject6_%d", ip)
	acc := fmt.Sprintf("ext6_%d", ip)
	a.label(fmt.Sprintf("ip6_%d", ip))
	a.emit(bpf.LoadAbsolute{Off: ip + 6, Size: 1})
	a.jumpIf(bpf.JumpEqual, ipProtoTCP, "", fmt.Sprintf("noTCP6_%d", ip))
	a.ports(false, ip+40, ports, snaplen, rej)
	a.label(fmt.Sprintf("noTCP6_%d", ip))
	for _, nh := range []uint32{ipv6HopByHop, ipv6Routing, ipv6Fragment, ipv6DestOpts} {
		a.jumpIf(bpf.JumpEqual, nh, acc, "")
	}
	a.jumpIf(bpf.JumpEqual, ipProtoICMPv6, "", rej+"_no")
	a.emit(bpf.LoadAbsolute{Off: ip + 40, Size: 1})
	a.jumpIf(bpf.JumpEqual, icmp6DestUnreachable, acc, "")
	a.label(rej + "_no")
	a.emit(bpf.RetConstant{Val: 0})
	a.label(acc)
	a.emit(bpf.RetConstant{Val: snaplen})
}

// ports emits the port check of a TCP header at tcp (plus X when
// indirect), then accept and reject returns.
func (a *asm) ports(indirect bool, tcp uint32, ports []uint16, snaplen uint32, reject string) {
	acc := reject + "_acc"
	if len(ports) == 0 {
		a.emit(bpf.RetConstant{Val: snaplen})
		a.label(reject)
		a.emit(bpf.RetConstant{Val: 0})
		return
	}
	for _, off := range []uint32{0, 2} { // source port, destination port
		if indirect {
			a.emit(bpf.LoadIndirect{Off: tcp + off, Size: 2})
		} else {
			a.emit(bpf.LoadAbsolute{Off: tcp + off, Size: 2})
		}
		for _, p := range ports {
			a.jumpIf(bpf.JumpEqual, uint32(p), acc, "")
		}
	}
	a.label(reject)
	a.emit(bpf.RetConstant{Val: 0})
	a.label(acc)
	a.emit(bpf.RetConstant{Val: snaplen})
}

// asm is a small two-pass assembler: jumps name labels, resolved forward
// only (classic BPF cannot jump back).
type asm struct {
	ins    []bpf.Instruction
	fixups []fixup
	labels map[string]int
}

type fixup struct {
	at          int
	true, false string // "" is the next instruction
	always      bool   // an unconditional jump to true
}

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

// jumpIf jumps to label t when cond holds and to f otherwise.
func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, t, f string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), true: t, false: f})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

// jumpFar jumps to label t when cond holds, however far t is: a
// conditional skip over an unconditional jump.
func (a *asm) jumpFar(cond bpf.JumpTest, val uint32, t string) {
	a.emit(bpf.JumpIf{Cond: cond, Val: val, SkipTrue: 0, SkipFalse: 1})
	a.fixups = append(a.fixups, fixup{at: len(a.ins), true: t, always: true})
	a.emit(bpf.Jump{})
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	skip := func(at int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("bpf: undefined label %q", label)
		}
		if to <= at {
			return 0, fmt.Errorf("bpf: backward jump to %q", label)
		}
		return uint32(to - at - 1), nil
	}
	for _, f := range a.fixups {
		t, err := skip(f.at, f.true)
		if err != nil {
			return nil, err
		}
		if f.always {
			a.ins[f.at] = bpf.Jump{Skip: t}
			continue
		}
		fs, err := skip(f.at, f.false)
		if err != nil {
			return nil, err
		}
		if t > 255 || fs > 255 {
			return nil, fmt.Errorf("bpf: conditional jump at %d too far (%d, %d)", f.at, t, fs)
		}
		j := a.ins[f.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(fs)
		a.ins[f.at] = j
	}
	if len(a.ins) > 4096 {
		return nil, fmt.Errorf("bpf: program of %d instructions is over the kernel's 4096", len(a.ins))
	}
	return bpf.Assemble(a.ins)
}

// packetOutgoing is PACKET_OUTGOING, the kernel's packet type for a frame
// this host sends (linux/if_packet.h).
const packetOutgoing = 4

// LoopbackOnce returns the instructions to put before a filter so that a
// frame on the loopback interface (index lo) is seen once: loopback hands
// every frame to packet sockets twice, as sent and as received, and libpcap
// (hence tcpdump) drops the sent copy. Every interface at once (anyIface):
// only loopback's sent copies go; on loopback alone, every sent copy. The
// rest of the program follows the last instruction. The packet type and
// interface index come from the kernel's BPF extensions, which
// golang.org/x/net/bpf's VM does not run: TestLiveLoopbackOnce checks it
// on a real socket.
func LoopbackOnce(lo int, anyIface bool) ([]bpf.RawInstruction, error) {
	prog := []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtType}}
	if anyIface {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 3},
			bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(lo), SkipTrue: 1},
			bpf.RetConstant{Val: 0},
		)
	} else {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
		)
	}
	return bpf.Assemble(prog)
}
