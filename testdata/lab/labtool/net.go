package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func waitSignalOr(d time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-time.After(d):
	case <-sig:
	}
}

func packetSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
		return -1, err
	}
	// The kernel says which frames carry a checksum left for the NIC
	// (relay finishes them, as the NIC would before the wire).
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return -1, err
	}
	return fd, nil
}

// isClientSYN reports whether an Ethernet frame is a TCP SYN without ACK.
func isClientSYN(f []byte) bool {
	flags, ok := tcpFlags(f)
	return ok && flags&0x02 != 0 && flags&0x10 == 0
}

func isSYNACK(f []byte) bool {
	flags, ok := tcpFlags(f)
	return ok && flags&0x12 == 0x12
}

// tcpFlags is an Ethernet frame's TCP flags, if it carries TCP over IPv4
// or IPv6 (no extension headers).
func tcpFlags(f []byte) (byte, bool) {
	if len(f) < 14 {
		return 0, false
	}
	var tcp []byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != 6 {
			return 0, false
		}
		ihl := int(ip[0]&0xf) * 4
		if len(ip) < ihl+14 {
			return 0, false
		}
		tcp = ip[ihl:]
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 40+14 || ip[6] != 6 {
			return 0, false
		}
		tcp = ip[40:]
	default:
		return 0, false
	}
	return tcp[13], true
}

// finishChecksum fills in the TCP checksum of an Ethernet frame whose
// sender left it to the NIC (transmit checksum offload, on by default on
// veth: LAB_OFFLOADS=on). A relay copying such a frame as it is would put
// a wrong checksum on the wire, which no NIC does, and the receiving
// kernel would drop the segment (TcpInCsumErrors).
func finishChecksum(f []byte) {
	if len(f) < 14 {
		return
	}
	var sum uint32
	var tcp []byte
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != 6 {
			return
		}
		ihl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if total > len(ip) || total < ihl+20 {
			return
		}
		tcp = ip[ihl:total]
		add(ip[12:20])
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 40 || ip[6] != 6 {
			return
		}
		end := 40 + int(binary.BigEndian.Uint16(ip[4:6]))
		if end > len(ip) || end < 60 {
			return
		}
		tcp = ip[40:end]
		add(ip[8:40])
	default:
		return
	}
	sum += 6 + uint32(len(tcp))
	tcp[16], tcp[17] = 0, 0
	add(tcp)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(tcp[16:18], ^uint16(sum))
}

// checksumLeftToNIC reads PACKET_AUXDATA: TP_STATUS_CSUMNOTREADY says
// the frame's checksum is still to be filled in.
func checksumLeftToNIC(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data[:4])&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return false
}

type frame struct {
	due  time.Time
	data []byte
}

// relay forwards frames between two interfaces after a fixed delay.
func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	a := fs.String("a", "", "client-side interface")
	b := fs.String("b", "", "server-side interface")
	delay := fs.Duration("delay", 50*time.Millisecond, "one-way delay added in each direction")
	dropEvery := fs.Int("drop-syn-every", 0, "drop every Nth client SYN going a->b (0: none)")
	dropSYNACKEvery := fs.Int("drop-synack-every", 0, "drop every Nth SYN-ACK going b->a (0: none)")
	duration := fs.Duration("duration", 60*time.Second, "exit after this long")
	fs.Parse(args)
	fa, err := packetSocket(*a)
	if err != nil {
		return fmt.Errorf("%s: %w", *a, err)
	}
	fb, err := packetSocket(*b)
	if err != nil {
		return fmt.Errorf("%s: %w", *b, err)
	}
	var dropped, forwarded atomic.Int64
	pump := func(in, out int, dropEvery int, drops func([]byte) bool) {
		ch := make(chan frame, 8192)
		go func() {
			for fr := range ch {
				if d := time.Until(fr.due); d > 0 {
					time.Sleep(d)
				}
				if _, err := unix.Write(out, fr.data); err != nil {
					fmt.Fprintf(os.Stderr, "relay: write: %v\n", err)
				}
				forwarded.Add(1)
			}
		}()
		seen := 0
		buf := make([]byte, 65536)
		oob := make([]byte, 256)
		for {
			n, oobn, _, _, err := unix.Recvmsg(in, buf, oob, 0)
			if err != nil {
				if err == unix.EINTR {
					continue
				}
				fmt.Fprintf(os.Stderr, "relay: read: %v\n", err)
				return
			}
			now := time.Now()
			data := append([]byte(nil), buf[:n]...)
			if checksumLeftToNIC(oob[:oobn]) {
				finishChecksum(data)
			}
			if dropEvery > 0 && drops(data) {
				seen++
				if seen%dropEvery == 0 {
					dropped.Add(1)
					continue
				}
			}
			ch <- frame{due: now.Add(*delay), data: data}
		}
	}
	go pump(fa, fb, *dropEvery, isClientSYN)
	go pump(fb, fa, *dropSYNACKEvery, isSYNACK)
	fmt.Fprintf(os.Stderr, "relay: %s <-> %s delay=%v drop-syn-every=%d drop-synack-every=%d\n", *a, *b, *delay, *dropEvery, *dropSYNACKEvery)
	waitSignalOr(*duration)
	fmt.Fprintf(os.Stderr, "relay: forwarded %d frames, dropped %d SYNs or SYN-ACKs\n", forwarded.Load(), dropped.Load())
	return nil
}

// --- 802.1Q tagging with tcx BPF programs -------------------------------

type bpfInsn struct {
	code uint8
	regs uint8 // dst (low 4 bits), src (high 4 bits)
	off  int16
	imm  int32
}

func movImm(dst uint8, imm int32) bpfInsn { return bpfInsn{code: 0xb7, regs: dst, imm: imm} }
func call(fn int32) bpfInsn               { return bpfInsn{code: 0x85, imm: fn} }
func exit() bpfInsn                       { return bpfInsn{code: 0x95} }

type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type linkCreateAttr struct {
	progFd           uint32
	targetIfindex    uint32
	attachType       uint32
	flags            uint32
	relativeFd       uint32
	_                uint32
	expectedRevision uint64
}

func bpfLoad(name string, insns []bpfInsn) (int, error) {
	license := []byte("GPL\x00")
	logBuf := make([]byte, 65536)
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_SCHED_CLS,
		insnCnt:  uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(attr.progName[:], name)
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if errno != 0 {
		return -1, fmt.Errorf("BPF_PROG_LOAD %s: %v: %s", name, errno, cstr(logBuf))
	}
	return int(fd), nil
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func tcxAttach(prog, ifindex int, attachType uint32) (int, error) {
	attr := linkCreateAttr{progFd: uint32(prog), targetIfindex: uint32(ifindex), attachType: attachType}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return -1, fmt.Errorf("BPF_LINK_CREATE: %v", errno)
	}
	return int(fd), nil
}

// vlantag pushes an 802.1Q tag on every frame leaving -dev and pops it from
// every frame arriving on -dev, for as long as it runs. Packet taps
// (tcpdump) see the tagged frames in both directions: on ingress they run
// before tcx, on egress after it.
func vlantag(args []string) error {
	fs := flag.NewFlagSet("vlantag", flag.ExitOnError)
	dev := fs.String("dev", "", "interface")
	id := fs.Int("id", 100, "VLAN id")
	prio := fs.Int("prio", 0, "PCP (priority)")
	duration := fs.Duration("duration", 60*time.Second, "detach after this long")
	fs.Parse(args)
	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	const bpfFuncSkbVlanPush, bpfFuncSkbVlanPop = 18, 19
	push, err := bpfLoad("synq_vlan_push", []bpfInsn{
		movImm(2, int32(htons(unix.ETH_P_8021Q))), // vlan_proto, network order
		movImm(3, int32(*prio<<13|*id)),           // vlan_tci
		call(bpfFuncSkbVlanPush),
		movImm(0, 0), // TCX_PASS
		exit(),
	})
	if err != nil {
		return err
	}
	pop, err := bpfLoad("synq_vlan_pop", []bpfInsn{
		call(bpfFuncSkbVlanPop),
		movImm(0, 0),
		exit(),
	})
	if err != nil {
		return err
	}
	if _, err := tcxAttach(push, ifi.Index, unix.BPF_TCX_EGRESS); err != nil {
		return err
	}
	if _, err := tcxAttach(pop, ifi.Index, unix.BPF_TCX_INGRESS); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vlantag: %s tagging vlan %d\n", *dev, *id)
	waitSignalOr(*duration)
	return nil
}

// --- dropping SYNs in tcx ingress ----------------------------------------

func ldx(size uint8, dst, src uint8, off int16) bpfInsn {
	return bpfInsn{code: 0x61 | size, regs: dst | src<<4, off: off} // BPF_LDX|BPF_MEM|size
}

const (
	sizeW, sizeH, sizeB = 0x00, 0x08, 0x10
)

func movReg(dst, src uint8) bpfInsn       { return bpfInsn{code: 0xbf, regs: dst | src<<4} }
func addImm(dst uint8, imm int32) bpfInsn { return bpfInsn{code: 0x07, regs: dst, imm: imm} }
func andImm(dst uint8, imm int32) bpfInsn { return bpfInsn{code: 0x57, regs: dst, imm: imm} }

// jgtReg: if dst > src (unsigned, 64-bit) skip off instructions.
func jgtReg(dst, src uint8, off int16) bpfInsn {
	return bpfInsn{code: 0x2d, regs: dst | src<<4, off: off}
}

// jne32: if uint32(dst) != imm skip off instructions (BPF_JMP32).
func jne32(dst uint8, imm int32, off int16) bpfInsn {
	return bpfInsn{code: 0x56, regs: dst, off: off, imm: imm}
}

// tcdrop drops, in tcx ingress on -dev, every IPv4 TCP SYN (SYN set, ACK
// not) from -src, for as long as it runs: what a tc policer or an eBPF
// network policy (Cilium, Calico's eBPF data plane) does. Packet taps see
// the SYNs (they run before tcx on ingress); IP never does, so no IP or
// TCP counter moves for them. With -egress it drops, in tcx egress, every
// SYN-ACK to -dst instead: after IP counted it sent, before the taps.
func tcdrop(args []string) error {
	fs := flag.NewFlagSet("tcdrop", flag.ExitOnError)
	dev := fs.String("dev", "", "interface")
	src := fs.String("src", "", "IPv4 source address whose SYNs to drop (ingress)")
	dst := fs.String("dst", "", "IPv4 destination address whose SYN-ACKs to drop (with -egress)")
	egress := fs.Bool("egress", false, "drop SYN-ACKs to -dst on egress instead")
	duration := fs.Duration("duration", 60*time.Second, "detach after this long")
	fs.Parse(args)
	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	addr, addrOff, flags, attach := *src, int16(26), int32(0x02), uint32(unix.BPF_TCX_INGRESS)
	if *egress {
		addr, addrOff, flags, attach = *dst, 30, 0x12, unix.BPF_TCX_EGRESS
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return fmt.Errorf("bad address %q", addr)
	}
	b := a.As4()
	srcLE := int32(binary.LittleEndian.Uint32(b[:])) // as loaded from the packet on a little-endian host
	const data, dataEnd = 76, 80                     // offsetof(struct __sk_buff, data), data_end
	const pass = 18
	prog := []bpfInsn{
		ldx(sizeW, 2, 1, data),    // 0: r2 = skb->data
		ldx(sizeW, 3, 1, dataEnd), // 1: r3 = skb->data_end
		movReg(4, 2),              // 2
		addImm(4, 14+20+14),       // 3: Ethernet, a 20-byte IPv4 header, TCP up to its flags
		jgtReg(4, 3, pass-5),      // 4: short frame
		ldx(sizeH, 5, 2, 12),      // 5: EtherType
		jne32(5, 0x0008, pass-7),  // 6: ETH_P_IP as loaded little-endian
		ldx(sizeB, 5, 2, 14),      // 7: version, IHL
		jne32(5, 0x45, pass-9),    // 8
		ldx(sizeB, 5, 2, 23),      // 9: protocol
		jne32(5, 6, pass-11),      // 10: TCP
		ldx(sizeW, 5, 2, addrOff), // 11: source (destination) address
		jne32(5, srcLE, pass-13),  // 12
		ldx(sizeB, 5, 2, 47),      // 13: TCP flags
		andImm(5, 0x12),           // 14: SYN|ACK
		jne32(5, flags, pass-16),  // 15: SYN without ACK (SYN-ACK)
		movImm(0, 2),              // 16: TCX_DROP
		exit(),                    // 17
		movImm(0, 0),              // 18 (pass): TCX_PASS
		exit(),                    // 19
	}
	fd, err := bpfLoad("synq_syn_drop", prog)
	if err != nil {
		return err
	}
	if _, err := tcxAttach(fd, ifi.Index, attach); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "tcdrop: %s dropping SYNs from %s (egress: SYN-ACKs to it: %v)\n", *dev, a, *egress)
	waitSignalOr(*duration)
	return nil
}

// --- SYN flood from spoofed sources -------------------------------------

func csumAdd(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func synflood(args []string) error {
	fs := flag.NewFlagSet("synflood", flag.ExitOnError)
	srcNet := fs.String("src-net", "10.88.9.0/24", "spoofed source prefix (IPv4)")
	dst := fs.String("dst", "", "target ip:port (IPv4)")
	n := fs.Int("n", 300, "number of SYNs")
	over := fs.Duration("over", time.Second, "spread the SYNs over this long")
	seed := fs.Uint64("seed", 1, "PRNG seed (ISNs, ports, timestamps)")
	badChecksum := fs.Bool("bad-checksum", false, "send every SYN with a wrong TCP checksum (the receiver drops it as TCP_CSUM)")
	one := fs.String("src", "", "one source address instead of -src-net: the sender's own makes a half-open health check (its kernel resets each SYN-ACK)")
	fs.Parse(args)
	if *n > 10000 {
		return fmt.Errorf("-n too large")
	}
	pfx, err := netip.ParsePrefix(*srcNet)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 30 {
		return fmt.Errorf("bad -src-net %q", *srcNet)
	}
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("bad -dst %q", *dst)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	rng := rand.New(rand.NewPCG(*seed, 0x5e9))
	hosts := uint32(1)<<(32-pfx.Bits()) - 2
	base := binary.BigEndian.Uint32(pfx.Masked().Addr().AsSlice())
	if *one != "" {
		a, err := netip.ParseAddr(*one)
		if err != nil || !a.Is4() {
			return fmt.Errorf("bad -src %q", *one)
		}
		pfx = netip.PrefixFrom(a, 32)
		hosts, base = 1, binary.BigEndian.Uint32(a.AsSlice())-1
	}
	dstIP := ap.Addr().As4()
	start := time.Now()
	for i := 0; i < *n; i++ {
		if due := start.Add(*over * time.Duration(i) / time.Duration(*n)); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
		var src [4]byte
		binary.BigEndian.PutUint32(src[:], base+1+uint32(i)%hosts)
		pkt := make([]byte, 20+40)
		ip := pkt[:20]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
		binary.BigEndian.PutUint16(ip[4:], uint16(rng.Uint32()))
		ip[6] = 0x40 // DF
		ip[8] = 64
		ip[9] = unix.IPPROTO_TCP
		copy(ip[12:16], src[:])
		copy(ip[16:20], dstIP[:])
		binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
		tcp := pkt[20:]
		binary.BigEndian.PutUint16(tcp[0:], uint16(32768+2*(rng.Uint32()%14000)))
		binary.BigEndian.PutUint16(tcp[2:], ap.Port())
		binary.BigEndian.PutUint32(tcp[4:], rng.Uint32())
		tcp[12] = 10 << 4 // 40-byte header
		tcp[13] = 0x02    // SYN
		binary.BigEndian.PutUint16(tcp[14:], 64240)
		opts := tcp[20:]
		copy(opts, []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10})
		binary.BigEndian.PutUint32(opts[8:], rng.Uint32())
		// opts[12:16] TSecr = 0
		copy(opts[16:], []byte{1, 3, 3, 7})
		sum := csumAdd(0, src[:])
		sum = csumAdd(sum, dstIP[:])
		sum += unix.IPPROTO_TCP + uint32(len(tcp))
		sum = csumAdd(sum, tcp)
		csum := csumFold(sum)
		if *badChecksum {
			csum ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(tcp[16:], csum)
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dstIP}); err != nil {
			return fmt.Errorf("sendto: %w", err)
		}
	}
	fmt.Printf("synflood: sent %d SYNs from %s to %s in %.1fs\n", *n, pfx, ap, time.Since(start).Seconds())
	return nil
}
