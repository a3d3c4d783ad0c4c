//go:build linux

package droptrace

import (
	"errors"
	"fmt"
	"github.com/synq/synq/kernel"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// The program is written with cilium/ebpf's assembler rather than in C
// built by bpf2go: it is forty instructions, the build machines have no
// clang, and the struct offsets it needs come from the running kernel's
// BTF at load time, which is what CO-RE relocations would give a C
// program (sk_buff's layout changes between kernels).

// layout is what the program needs to know of the running kernel.
type layout struct {
	// Byte offsets in struct sk_buff.
	head, networkHeader, protocol, dev, sk int16
	// Where a packet's network namespace number is: the device's
	// net_device.nd_net (or, without a device, the socket's
	// sock.__sk_common.skc_net), then net.ns.inum.
	devNet, skNet, netInum int16
	// netns is the namespace to report (its inode number, as
	// /proc/self/ns/net shows it); 0 reports every namespace.
	netns uint32
	// reasonArg is the tracepoint argument holding the drop reason;
	// rxSkArg the one holding the receiving socket (6.10 and later), -1
	// when there is none.
	reasonArg, rxSkArg int16
	// notDropped are the reason values that mean the skb was not dropped
	// (SKB_NOT_DROPPED_YET, SKB_CONSUMED): skipped in the kernel.
	notDropped []int32
	reasons    map[uint32]string
}

func layoutOf(spec *btf.Spec) (layout, error) {
	var lay layout
	var skb *btf.Struct
	if err := spec.TypeByName("sk_buff", &skb); err != nil {
		return lay, fmt.Errorf("struct sk_buff: %w", err)
	}
	for _, f := range []struct {
		name string
		off  *int16
	}{{"head", &lay.head}, {"network_header", &lay.networkHeader}, {"protocol", &lay.protocol},
		{"dev", &lay.dev}, {"sk", &lay.sk}} {
		off, ok := memberOffset(skb, f.name)
		if !ok {
			return lay, fmt.Errorf("struct sk_buff has no %s", f.name)
		}
		*f.off = int16(off)
	}
	for _, p := range []struct {
		off  *int16
		path []string
	}{
		{&lay.devNet, []string{"net_device", "nd_net", "net"}},
		{&lay.skNet, []string{"sock", "__sk_common", "skc_net", "net"}},
		{&lay.netInum, []string{"net", "ns", "inum"}},
	} {
		off, err := pathOffset(spec, p.path[0], p.path[1:])
		if err != nil {
			return lay, err
		}
		*p.off = int16(off)
	}
	var tp *btf.Typedef
	if err := spec.TypeByName("btf_trace_kfree_skb", &tp); err != nil {
		return lay, fmt.Errorf("tracepoint kfree_skb: %w", err)
	}
	ptr, ok := tp.Type.(*btf.Pointer)
	if !ok {
		return lay, errors.New("tracepoint kfree_skb: unexpected type")
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return lay, errors.New("tracepoint kfree_skb: unexpected type")
	}
	lay.reasonArg, lay.rxSkArg = -1, -1
	for i, p := range proto.Params {
		// The parameters have no names in BTF: rx_sk is the struct sock
		// pointer after the reason.
		if ptr, ok := p.Type.(*btf.Pointer); ok && lay.reasonArg >= 0 {
			if st, ok := ptr.Target.(*btf.Struct); ok && st.Name == "sock" {
				lay.rxSkArg = int16(i - 1)
			}
		}
		if e, ok := btf.UnderlyingType(p.Type).(*btf.Enum); ok && e.Name == "skb_drop_reason" {
			// The first parameter is the tracepoint's own data pointer,
			// not in the raw tracepoint's argument array.
			lay.reasonArg = int16(i - 1)
			lay.reasons = map[uint32]string{}
			for _, v := range e.Values {
				lay.reasons[uint32(v.Value)] = kernel.ReasonName(v.Name)
				if v.Name == "SKB_NOT_DROPPED_YET" || v.Name == "SKB_CONSUMED" {
					lay.notDropped = append(lay.notDropped, int32(v.Value))
				}
			}
		}
	}
	if lay.reasonArg < 0 {
		return lay, errors.New("tracepoint kfree_skb has no drop reason (kernel before 5.17)")
	}
	return lay, nil
}

// pathOffset is the byte offset of a member path inside a struct:
// ("sock", {"__sk_common", "skc_net"}) is &sk->__sk_common.skc_net.
func pathOffset(spec *btf.Spec, typ string, path []string) (uint32, error) {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return 0, fmt.Errorf("struct %s: %w", typ, err)
	}
	var t btf.Type = s
	total := uint32(0)
	for _, name := range path {
		off, mt, ok := member(t, name)
		if !ok {
			return 0, fmt.Errorf("struct %s has no %s", typ, strings.Join(path, "."))
		}
		total += off
		t = mt
	}
	return total, nil
}

// memberOffset finds a member by name, also inside anonymous structs and
// unions (sk_buff keeps its headers in a struct_group).
func memberOffset(t btf.Type, name string) (uint32, bool) {
	off, _, ok := member(t, name)
	return off, ok
}

// member finds a member by name (also inside anonymous structs and
// unions) and returns its offset and type.
func member(t btf.Type, name string) (uint32, btf.Type, bool) {
	var members []btf.Member
	switch s := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = s.Members
	case *btf.Union:
		members = s.Members
	default:
		return 0, nil, false
	}
	for _, m := range members {
		if m.Name == name {
			return m.Offset.Bytes(), m.Type, true
		}
		if m.Name == "" {
			if off, mt, ok := member(m.Type, name); ok {
				return m.Offset.Bytes() + off, mt, true
			}
		}
	}
	return 0, nil, false
}

// The event the program writes to the ring, 64 bytes.
const (
	eventSize = 64
	evReason  = 0  // u32, host order
	evFamily  = 4  // u8: 4 or 6
	evFlags   = 5  // u8: TCP flags
	evDir     = 6  // u8: dirIn, dirOut
	evSport   = 8  // u16, network order
	evDport   = 10 // u16, network order
	evSeq     = 12 // u32, network order
	evAck     = 16 // u32, network order
	evTime    = 24 // u64 bpf_ktime_get_ns
	evSaddr   = 32 // 4 or 16 bytes
	evDaddr   = 48

	dirIn  = 1
	dirOut = 2
)

// Stack layout (offsets from R10, the frame pointer).
const (
	stEvent   = -64  // the event
	stScratch = -72  // 8 bytes for one sk_buff field
	stHdr     = -120 // 48 bytes for an IP or TCP header
	stKey     = -124 // u32 port key
)

// program is the kfree_skb tracer: for every dropped skb that is TCP over
// IPv4 or IPv6 to or from a watched port, one event to the ring; a full
// ring counts in lost[0].
func program(lay layout, events, ports, lost int) asm.Instructions {
	const exit = "exit"
	readInto := func(stackOff int16, size int32, src asm.Register, srcOff int16) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, int32(stackOff)),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Reg(asm.R3, src),
			asm.Add.Imm(asm.R3, int32(srcOff)),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, exit),
		}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R9, asm.R1),                             // ctx, for rx_sk
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),               // skb
		asm.LoadMem(asm.R7, asm.R1, lay.reasonArg*8, asm.DWord), // reason
	}
	for _, v := range lay.notDropped {
		insns = append(insns, asm.JEq.Imm(asm.R7, v, exit))
	}
	insns = append(insns, asm.Mov.Imm(asm.R1, 0))
	for off := int16(stEvent); off < 0; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, off, asm.R1, asm.DWord))
	}
	insns = append(insns, asm.StoreMem(asm.RFP, stEvent+evReason, asm.R7, asm.Word))
	// skb->protocol, still in network order: 0x0800 reads as 0x0008 on
	// a little-endian machine.
	insns = append(insns, readInto(stScratch, 2, asm.R6, lay.protocol)...)
	insns = append(insns,
		asm.LoadMem(asm.R8, asm.RFP, stScratch, asm.Half),
		asm.HostTo(asm.BE, asm.R8, asm.Half),
	)
	// R7 = skb->head + skb->network_header.
	insns = append(insns, readInto(stScratch, 8, asm.R6, lay.head)...)
	insns = append(insns, asm.LoadMem(asm.R7, asm.RFP, stScratch, asm.DWord))
	insns = append(insns, readInto(stScratch, 2, asm.R6, lay.networkHeader)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, stScratch, asm.Half),
		asm.Add.Reg(asm.R7, asm.R1),
		asm.JEq.Imm(asm.R8, 0x86dd, "ipv6"),
		asm.JNE.Imm(asm.R8, 0x0800, exit),
	)
	// IPv4: protocol 6, addresses, header length.
	insns = append(insns, readInto(stHdr, 20, asm.R7, 0)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, stHdr+9, asm.Byte),
		asm.JNE.Imm(asm.R1, 6, exit),
		asm.StoreImm(asm.RFP, stEvent+evFamily, 4, asm.Byte),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+12, asm.Word),
		asm.StoreMem(asm.RFP, stEvent+evSaddr, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+16, asm.Word),
		asm.StoreMem(asm.RFP, stEvent+evDaddr, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.RFP, stHdr, asm.Byte),
		asm.And.Imm(asm.R1, 0x0f),
		asm.LSh.Imm(asm.R1, 2),
		asm.Add.Reg(asm.R7, asm.R1),
		asm.Ja.Label("tcp"),
	)
	// IPv6: next header 6 (extension headers are not followed).
	insns = append(insns, labelled("ipv6", readInto(stHdr, 40, asm.R7, 0))...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, stHdr+6, asm.Byte),
		asm.JNE.Imm(asm.R1, 6, exit),
		asm.StoreImm(asm.RFP, stEvent+evFamily, 6, asm.Byte),
	)
	for i := int16(0); i < 32; i += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, stHdr+8+i, asm.DWord),
			asm.StoreMem(asm.RFP, stEvent+evSaddr+i, asm.R1, asm.DWord),
		)
	}
	insns = append(insns, asm.Add.Imm(asm.R7, 40))
	// TCP header: ports, sequence numbers, flags.
	insns = append(insns, labelled("tcp", readInto(stHdr, 20, asm.R7, 0))...)
	for _, c := range []struct {
		from, to int16
		size     asm.Size
	}{{0, evSport, asm.Half}, {2, evDport, asm.Half}, {4, evSeq, asm.Word}, {8, evAck, asm.Word}, {13, evFlags, asm.Byte}} {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, stHdr+c.from, c.size),
			asm.StoreMem(asm.RFP, stEvent+c.to, asm.R1, c.size),
		)
	}
	// The port filter: destination port (to the listener), then source
	// port (from it), then key 0 (every port).
	lookup := func(label string, key asm.Instructions, dir int64) asm.Instructions {
		ins := append(key,
			asm.StoreMem(asm.RFP, stKey, asm.R1, asm.Word),
			asm.LoadMapPtr(asm.R1, ports),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, stKey),
			asm.FnMapLookupElem.Call(),
		)
		ins[0] = ins[0].WithSymbol(label)
		next := map[string]string{"dport": "sport", "sport": "anyport", "anyport": exit}[label]
		return append(ins,
			asm.JEq.Imm(asm.R0, 0, next),
			asm.StoreImm(asm.RFP, stEvent+evDir, dir, asm.Byte),
			asm.Ja.Label("emit"),
		)
	}
	port := func(off int16) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R1, asm.RFP, stEvent+off, asm.Half),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
		}
	}
	insns = append(insns, lookup("dport", port(evDport), dirIn)...)
	insns = append(insns, lookup("sport", port(evSport), dirOut)...)
	insns = append(insns, lookup("anyport", asm.Instructions{asm.Mov.Imm(asm.R1, 0)}, dirIn)...)
	// The namespace filter: the kfree_skb tracepoint fires for every
	// namespace on the machine, and a drop in the client's namespace (or
	// a relay's) is not the server's.
	// The receiving socket says it best; then the device; then the
	// socket the skb belongs to.
	if lay.netns != 0 {
		if lay.rxSkArg >= 0 {
			insns = append(insns,
				asm.LoadMem(asm.R8, asm.R9, lay.rxSkArg*8, asm.DWord).WithSymbol("emit"),
				asm.JEq.Imm(asm.R8, 0, "bydev"),
			)
			insns = append(insns, readInto(stScratch, 8, asm.R8, lay.skNet)...)
			insns = append(insns, asm.Ja.Label("havenet"))
		} else {
			insns = append(insns, asm.Ja.Label("bydev").WithSymbol("emit"))
		}
		insns = append(insns, labelled("bydev", readInto(stScratch, 8, asm.R6, lay.dev))...)
		insns = append(insns,
			asm.LoadMem(asm.R8, asm.RFP, stScratch, asm.DWord),
			asm.JEq.Imm(asm.R8, 0, "bysock"),
		)
		insns = append(insns, readInto(stScratch, 8, asm.R8, lay.devNet)...)
		insns = append(insns, asm.Ja.Label("havenet"))
		insns = append(insns, labelled("bysock", readInto(stScratch, 8, asm.R6, lay.sk))...)
		insns = append(insns,
			asm.LoadMem(asm.R8, asm.RFP, stScratch, asm.DWord),
			asm.JEq.Imm(asm.R8, 0, "send"), // no device, no socket: cannot tell, report it
		)
		insns = append(insns, readInto(stScratch, 8, asm.R8, lay.skNet)...)
		insns = append(insns,
			asm.LoadMem(asm.R8, asm.RFP, stScratch, asm.DWord).WithSymbol("havenet"),
			asm.JEq.Imm(asm.R8, 0, "send"),
		)
		insns = append(insns, readInto(stScratch, 4, asm.R8, lay.netInum)...)
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, stScratch, asm.Word),
			asm.JNE.Imm32(asm.R1, int32(lay.netns), exit),
			asm.Ja.Label("send"),
		)
	} else {
		insns = append(insns, asm.Ja.Label("send").WithSymbol("emit"))
	}
	insns = append(insns,
		asm.FnKtimeGetNs.Call().WithSymbol("send"),
		asm.StoreMem(asm.RFP, stEvent+evTime, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stEvent),
		asm.Mov.Imm(asm.R3, eventSize),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.JEq.Imm(asm.R0, 0, exit),
		// The ring is full: count the loss.
		asm.StoreImm(asm.RFP, stKey, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, lost),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, exit),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(exit),
		asm.Return(),
	)
	return insns
}

// labelled names the first instruction of ins as a jump target.
func labelled(label string, ins asm.Instructions) asm.Instructions {
	ins[0] = ins[0].WithSymbol(label)
	return ins
}
