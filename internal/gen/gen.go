// Package gen writes large synthetic captures for benchmarks: many
// concurrent, interleaved connection attempts with a realistic mix of
// outcomes, deterministic by seed. Everything it writes is synthetic.
package gen

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Config says what to generate.
type Config struct {
	Seed    uint64
	Packets int // stop after about this many packets
	// Rate is new connection attempts per second of capture time.
	Rate float64
	// IPv6Share is the fraction of attempts over IPv6.
	IPv6Share float64
	// Flood, when set, makes every attempt but one in a hundred (real
	// clients, completing) a spoofed SYN from a distinct
	// source, answered by a SYN-ACK that is never acknowledged.
	Flood bool
	// Snaplen cuts frames (0: whole frames); payload bytes are zeros.
	Snaplen int
	// Listeners spreads the attempts over this many listener ports
	// (10000 up); 0 or 1: one listener on 443.
	Listeners int
}

// Defaults gives the mix the performance targets are measured on.
func Defaults() Config {
	return Config{Seed: 1, Packets: 5_000_000, Rate: 20000, IPv6Share: 0.2, Snaplen: 96}
}

// event is one packet waiting to be written, ordered by time.
type event struct {
	t    int64
	seq  uint64 // tie-break: order of scheduling
	conn int32
	step int8
}

type eventHeap []event

// The heap methods are for container/heap.

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	return h[i].t < h[j].t || (h[i].t == h[j].t && h[i].seq < h[j].seq)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any     { o := *h; n := len(o); e := o[n-1]; *h = o[:n-1]; return e }
func (h *eventHeap) push(e event) { heap.Push(h, e) }
func (h *eventHeap) pop() event   { return heap.Pop(h).(event) }

// kind is the fate of a generated attempt.
type kind uint8

const (
	normal     kind = iota // handshake, request, response, close
	unanswered             // SYN and 3 retransmissions, no answer
	ignored                // ACK and data ignored, SYN-ACK retransmitted, then reset
	refused                // RST to SYN
	flood                  // spoofed SYN, SYN-ACK never acknowledged
	// floodHead is one of a flood's first floodQueue attempts: the SYN
	// queue's requests, whose SYN-ACKs the server sends again (the rest
	// are answered with cookies, never sent again). A real flood always
	// shows some, as requests expire and new SYNs take their place.
	floodHead
)

// floodQueue is the generated listener's SYN queue: backlog 16, plus one.
const floodQueue = 17

// conn is the state of one generated attempt.
type conn struct {
	client, server netip.AddrPort
	isn, sisn      uint32
	ts             uint32
	start          int64
	kind           kind
}

// step is one packet of a kind's script: when (after the first SYN), which
// side, flags, payload, and its sequence and acknowledgement numbers as
// offsets from the sender's and the peer's ISN (seq -1: absolute 0, as in
// a RST from a closed port).
type step struct {
	dt     time.Duration
	client bool
	flags  uint8
	n      uint32
	seq    int32
	ack    uint32
}

const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

const (
	us = time.Microsecond
	ms = time.Millisecond
	C  = true
	S  = false
)

var scripts = [...][]step{
	normal: {
		{0, C, fSYN, 0, 0, 0},
		{30 * us, S, fSYN | fACK, 0, 0, 1},
		{2 * ms, C, fACK, 0, 1, 1},
		{2100 * us, C, fPSH | fACK, 120, 1, 1},
		{2150 * us, S, fACK, 0, 1, 121},
		{7 * ms, S, fPSH | fACK, 900, 1, 121},
		{9 * ms, C, fACK, 0, 121, 901},
		{15 * ms, C, fFIN | fACK, 0, 121, 901},
		{15050 * us, S, fFIN | fACK, 0, 901, 122},
		{17 * ms, C, fACK, 0, 122, 902},
	},
	unanswered: {
		{0, C, fSYN, 0, 0, 0},
		{time.Second, C, fSYN, 0, 0, 0},
		{2 * time.Second, C, fSYN, 0, 0, 0},
		{3 * time.Second, C, fSYN, 0, 0, 0},
	},
	ignored: {
		{0, C, fSYN, 0, 0, 0},
		{30 * us, S, fSYN | fACK, 0, 0, 1},
		{2 * ms, C, fACK, 0, 1, 1},
		{2100 * us, C, fPSH | fACK, 120, 1, 1},
		{300 * ms, C, fPSH | fACK, 120, 1, 1},
		{time.Second, S, fSYN | fACK, 0, 0, 1},
		{time.Second + 2*ms, C, fACK, 0, 121, 1},
		{3 * time.Second, S, fSYN | fACK, 0, 0, 1},
		{3*time.Second + 2*ms, C, fACK, 0, 121, 1},
		{8 * time.Second, C, fPSH | fACK, 120, 1, 1},
		{8*time.Second + 30*us, S, fRST, 0, 1, 0},
	},
	refused: {
		{0, C, fSYN, 0, 0, 0},
		{30 * us, S, fRST | fACK, 0, -1, 1},
	},
	flood: {
		{0, C, fSYN, 0, 0, 0},
		{20 * us, S, fSYN | fACK, 0, 0, 1},
	},
	floodHead: {
		{0, C, fSYN, 0, 0, 0},
		{20 * us, S, fSYN | fACK, 0, 0, 1},
		{time.Second, S, fSYN | fACK, 0, 0, 1},
		{3 * time.Second, S, fSYN | fACK, 0, 0, 1},
	},
}

// Write generates the capture as a classic pcap with microsecond
// timestamps, Ethernet frames.
func Write(w io.Writer, cfg Config) (packets int, err error) {
	if cfg.Rate <= 0 {
		cfg.Rate = 20000
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	snap := cfg.Snaplen
	if snap <= 0 {
		snap = 65535
	}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(snap))
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	if _, err := bw.Write(hdr[:]); err != nil {
		return 0, err
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	server4 := netip.MustParseAddrPort("10.20.0.2:443")
	server6 := netip.MustParseAddrPort("[fd20::2]:443")
	const base = int64(1_700_000_000) * int64(time.Second)
	var (
		conns   []conn
		free    []int32
		h       eventHeap
		seq     uint64
		started uint32
		next    = base
		frame   = make([]byte, 0, 2048)
		stride  = int64(float64(time.Second) / cfg.Rate)
	)
	for packets < cfg.Packets {
		// Start new attempts up to the next pending packet's time.
		for h.Len() == 0 || next <= h[0].t {
			c := conn{start: next, isn: rng.Uint32(), sisn: rng.Uint32(), ts: rng.Uint32()}
			r := rng.Float64()
			switch {
			case cfg.Flood && started < floodQueue:
				c.kind = floodHead
			case cfg.Flood && r < 0.01:
				// Real clients still connect through the cookies.
				c.kind = normal
			case cfg.Flood:
				c.kind = flood
			case r < 0.85:
				c.kind = normal
			case r < 0.93:
				c.kind = unanswered
			case r < 0.98:
				c.kind = ignored
			default:
				c.kind = refused
			}
			id := rng.Uint32()
			// Ports cycle with the attempt count, so a 4-tuple comes
			// back only after 28,000 attempts from the same address:
			// no accidental port reuse between concurrent attempts.
			port := uint16(32768 + started%28000)
			started++
			s4, s6 := server4, server6
			if cfg.Listeners > 1 {
				// From the address draw, so the mix is the same draw for draw.
				lp := uint16(10000 + (id/50000)%uint32(cfg.Listeners))
				s4, s6 = netip.AddrPortFrom(server4.Addr(), lp), netip.AddrPortFrom(server6.Addr(), lp)
			}
			if rng.Float64() < cfg.IPv6Share && !cfg.Flood {
				var a [16]byte
				a[0], a[1] = 0xfd, 0x20
				binary.BigEndian.PutUint32(a[12:], id%50000+1)
				c.client, c.server = netip.AddrPortFrom(netip.AddrFrom16(a), port), s6
			} else {
				src := 0x0a140000 | (id%50000 + 256)
				if cfg.Flood {
					src = rng.Uint32() // spoofed: any address
				}
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], src)
				c.client, c.server = netip.AddrPortFrom(netip.AddrFrom4(a), port), s4
			}
			var idx int32
			if n := len(free); n > 0 {
				idx, free = free[n-1], free[:n-1]
				conns[idx] = c
			} else {
				idx = int32(len(conns))
				conns = append(conns, c)
			}
			seq++
			h.push(event{t: c.start, seq: seq, conn: idx, step: 0})
			next += stride/2 + rng.Int64N(stride+1)
		}
		e := h.pop()
		c := &conns[e.conn]
		sc := scripts[c.kind]
		st := sc[e.step]
		frame = appendFrame(frame[:0], c, st, e.t)
		if err := writeRecord(bw, e.t, frame, snap); err != nil {
			return packets, err
		}
		packets++
		if int(e.step)+1 < len(sc) {
			seq++
			h.push(event{t: c.start + int64(sc[e.step+1].dt), seq: seq, conn: e.conn, step: e.step + 1})
		} else {
			free = append(free, e.conn)
		}
	}
	return packets, bw.Flush()
}

func writeRecord(w *bufio.Writer, t int64, frame []byte, snap int) error {
	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(t/int64(time.Second)))
	binary.LittleEndian.PutUint32(rec[4:], uint32(t%int64(time.Second)/1000))
	caplen := min(len(frame), snap)
	binary.LittleEndian.PutUint32(rec[8:], uint32(caplen))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	if _, err := w.Write(rec[:]); err != nil {
		return err
	}
	_, err := w.Write(frame[:caplen])
	return err
}

// appendFrame builds the Ethernet/IP/TCP frame of one step. Checksums are
// left zero (as checksum offload leaves them in server-side captures).
func appendFrame(b []byte, c *conn, st step, t int64) []byte {
	src, dst := c.client, c.server
	if !st.client {
		src, dst = dst, src
	}
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1)
	withOpts := st.flags&fSYN != 0
	tcpLen := 20 + 12 // timestamps on every segment (NOP NOP TS)
	if withOpts {
		tcpLen = 40 // MSS, SACK-permitted, TS, NOP, WS
	}
	total := tcpLen + int(st.n)
	if src.Addr().Is4() {
		b = append(b, 0x08, 0x00)
		ip := [20]byte{0x45, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+total))
		ip[8], ip[9] = 64, 6
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip[:])))
		b = append(b, ip[:]...)
	} else {
		b = append(b, 0x86, 0xdd)
		ip := [40]byte{0x60}
		binary.BigEndian.PutUint16(ip[4:], uint16(total))
		ip[6], ip[7] = 6, 64
		s6, d6 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], s6[:])
		copy(ip[24:], d6[:])
		b = append(b, ip[:]...)
	}
	seg := len(b)
	var tcp [20]byte
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	own, peer := c.isn, c.sisn
	if !st.client {
		own, peer = peer, own
	}
	seqNo := own + uint32(st.seq)
	if st.seq < 0 {
		seqNo = 0
	}
	var ackNo uint32
	if st.flags&fACK != 0 {
		ackNo = peer + st.ack
	}
	binary.BigEndian.PutUint32(tcp[4:], seqNo)
	binary.BigEndian.PutUint32(tcp[8:], ackNo)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = st.flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	b = append(b, tcp[:]...)
	tsval := c.ts + uint32((t-c.start)/int64(time.Millisecond))
	if withOpts {
		b = append(b, 2, 4, 0x05, 0xb4, 4, 2, 8, 10)
		b = binary.BigEndian.AppendUint32(b, tsval)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = append(b, 1, 3, 3, 7)
	} else {
		b = append(b, 1, 1, 8, 10)
		b = binary.BigEndian.AppendUint32(b, tsval)
		b = binary.BigEndian.AppendUint32(b, tsval-1)
	}
	for i := uint32(0); i < st.n; i++ {
		b = append(b, 0)
	}
	// The TCP checksum, over the pseudo-header and the whole segment
	// (what a snap length cuts off is zeros): a capture taken where the
	// NIC does not offload it. Without it every segment would carry a
	// bad checksum, which --connections reports (history C).
	sa, da := src.Addr().AsSlice(), dst.Addr().AsSlice()
	sum := sum16(sum16(0, sa), da) + 6 + uint32(total)
	binary.BigEndian.PutUint16(b[seg+16:], ^fold(sum16(sum, b[seg:])))
	return b
}

// sum16 adds the big-endian 16-bit words of p (odd length: a zero byte
// after it) to sum, the Internet checksum's ones' complement sum before
// folding.
func sum16(sum uint32, p []byte) uint32 {
	for len(p) >= 2 {
		sum += uint32(p[0])<<8 | uint32(p[1])
		p = p[2:]
	}
	if len(p) == 1 {
		sum += uint32(p[0]) << 8
	}
	return sum
}

// fold folds the carries of a ones' complement sum into 16 bits.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
