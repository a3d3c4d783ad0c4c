package capture

// Test helpers. Every packet and capture file built here is synthetic:
// made with gopacket.SerializeLayers and the pcapgo writers, or by hand
// where gopacket has no writer (link headers, IPv6 extension headers,
// big-endian pcap).

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	cli4 = netip.MustParseAddr("192.0.2.10")
	srv4 = netip.MustParseAddr("198.51.100.1")
	cli6 = netip.MustParseAddr("2001:db8::10")
	srv6 = netip.MustParseAddr("2001:db8::1")
)

// seg describes a synthetic TCP segment.
type seg struct {
	src, dst netip.AddrPort
	flags    TCPFlags
	seq, ack uint32
	win      uint16
	opts     []layers.TCPOption
	payload  int
}

// synOpts are Linux's SYN options: MSS, SACK-permitted, timestamps, NOP,
// window scale (20 bytes).
func synOpts(mss uint16, tsval, tsecr uint32, ws uint8) []layers.TCPOption {
	var m [2]byte
	binary.BigEndian.PutUint16(m[:], mss)
	var ts [8]byte
	binary.BigEndian.PutUint32(ts[0:], tsval)
	binary.BigEndian.PutUint32(ts[4:], tsecr)
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: m[:]},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts[:]},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{ws}},
	}
}

// tsOpts are the NOP, NOP, timestamps options of an established segment.
func tsOpts(tsval, tsecr uint32) []layers.TCPOption {
	var ts [8]byte
	binary.BigEndian.PutUint32(ts[0:], tsval)
	binary.BigEndian.PutUint32(ts[4:], tsecr)
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts[:]},
	}
}

func (s seg) tcpLayer() *layers.TCP {
	return &layers.TCP{
		SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()),
		Seq: s.seq, Ack: s.ack, Window: s.win,
		FIN: s.flags.Has(FlagFIN), SYN: s.flags.Has(FlagSYN), RST: s.flags.Has(FlagRST),
		PSH: s.flags.Has(FlagPSH), ACK: s.flags.Has(FlagACK), URG: s.flags.Has(FlagURG),
		ECE: s.flags.Has(FlagECE), CWR: s.flags.Has(FlagCWR),
		Options: s.opts,
	}
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// ip returns the segment as an IPv4 or IPv6 packet (by its addresses).
func (s seg) ip(tb testing.TB) []byte {
	tb.Helper()
	tcp := s.tcpLayer()
	pl := gopacket.Payload(bytes.Repeat([]byte{'x'}, s.payload))
	if s.src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
		tcp.SetNetworkLayerForChecksum(ip)
		return serialize(tb, ip, tcp, pl)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, tcp, pl)
}

// want is the Packet Decode should produce for s (options filled in by
// the caller).
func (s seg) want(ts int64, o TCPOptions) Packet {
	// IP length: the fixed IP header, the TCP header with its options
	// padded to 4 bytes as gopacket serialises them, the payload.
	n := 20 + 20 + s.payload
	if s.src.Addr().Is6() {
		n += 20
	}
	opts := 0
	for _, op := range s.opts {
		if op.OptionType <= 1 {
			opts++
		} else {
			opts += int(op.OptionLength)
		}
	}
	n += (opts + 3) / 4 * 4
	return Packet{Time: ts, Src: s.src, Dst: s.dst, Flags: s.flags, Seq: s.seq, Ack: s.ack,
		Window: s.win, Opts: o, PayloadLen: uint32(s.payload), IPLen: uint32(n)}
}

// withIPv6Ext inserts extension headers (each given as its type and total
// length, a multiple of 8) between the fixed IPv6 header and what follows.
func withIPv6Ext(p []byte, exts ...[2]int) []byte {
	out := bytes.Clone(p[:40])
	next := p[6]
	var hdrs []byte
	for i, e := range exts {
		h := make([]byte, e[1])
		if i+1 < len(exts) {
			h[0] = byte(exts[i+1][0])
		} else {
			h[0] = next
		}
		h[1] = byte(e[1]/8 - 1)
		if e[1] > 2 { // PadN filling the rest
			h[2], h[3] = 1, byte(e[1]-4)
		}
		hdrs = append(hdrs, h...)
	}
	out[6] = byte(exts[0][0])
	binary.BigEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(p[4:6])+uint16(len(hdrs)))
	out = append(out, hdrs...)
	return append(out, p[40:]...)
}

// withIPv6Frag inserts a Fragment header with the given offset (in 8-byte
// units) and more-fragments flag.
func withIPv6Frag(p []byte, off uint16, more bool) []byte {
	out := bytes.Clone(p[:40])
	h := make([]byte, 8)
	h[0] = p[6]
	v := off << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:4], v)
	binary.BigEndian.PutUint32(h[4:8], 0xdeadbeef)
	out[6] = byte(layers.IPProtocolIPv6Fragment)
	binary.BigEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(p[4:6])+8)
	out = append(out, h...)
	return append(out, p[40:]...)
}

// ether wraps p in an Ethernet header with the given VLAN tag protocol
// IDs (outermost first; 0x8100 or 0x88a8), then ethertype et.
func ether(et uint16, p []byte, tpids ...uint16) []byte {
	h := []byte{0, 0, 0x5e, 0, 0, 1, 0, 0, 0x5e, 0, 0, 2}
	for i, tpid := range tpids {
		h = binary.BigEndian.AppendUint16(h, tpid)
		h = binary.BigEndian.AppendUint16(h, uint16(100+i)) // VLAN ID
	}
	h = binary.BigEndian.AppendUint16(h, et)
	return append(h, p...)
}

func etherTypeOf(p []byte) uint16 {
	if p[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// sll wraps p in a Linux cooked (v1) header.
func sll(p []byte) []byte {
	h := []byte{0, 0, 0, 1, 0, 6, 0, 0, 0x5e, 0, 0, 1, 0, 0}
	h = binary.BigEndian.AppendUint16(h, etherTypeOf(p))
	return append(h, p...)
}

// sll2 wraps p in a Linux cooked v2 header.
func sll2(p []byte) []byte {
	h := binary.BigEndian.AppendUint16(nil, etherTypeOf(p))
	h = append(h, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 0, 0, 0x5e, 0, 0, 1, 0, 0)
	return append(h, p...)
}

// loop wraps p in a BSD loopback header: family in the given byte order.
func loop(order binary.AppendByteOrder, family uint32, p []byte) []byte {
	return append(order.AppendUint32(nil, family), p...)
}

type frame struct {
	ts   time.Time
	data []byte
	orig int // original length if cut; 0: len(data)
	ifc  int // pcapng interface
}

func (f frame) ci() gopacket.CaptureInfo {
	orig := f.orig
	if orig == 0 {
		orig = len(f.data)
	}
	return gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: orig, InterfaceIndex: f.ifc}
}

// pcapBytes writes a little-endian pcap (microseconds unless nanos).
func pcapBytes(tb testing.TB, nanos bool, lt layers.LinkType, frames ...frame) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(65535, lt); err != nil {
		tb.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WritePacket(f.ci(), f.data); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

// bigEndian converts a little-endian pcap to big-endian (pcapgo writes
// only little-endian).
func bigEndian(le []byte) []byte {
	out := bytes.Clone(le)
	swap := func(b []byte) {
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	for _, f := range [][2]int{{0, 4}, {4, 6}, {6, 8}, {8, 12}, {12, 16}, {16, 20}, {20, 24}} {
		swap(out[f[0]:f[1]])
	}
	for off := 24; off+16 <= len(out); {
		incl := binary.LittleEndian.Uint32(le[off+8:])
		for i := 0; i < 16; i += 4 {
			swap(out[off+i : off+i+4])
		}
		off += 16 + int(incl)
	}
	return out
}

// ngSection writes one pcapng section with one interface per link type.
func ngSection(tb testing.TB, lts []layers.LinkType, frames ...frame) []byte {
	tb.Helper()
	var b bytes.Buffer
	ifc := pcapgo.DefaultNgInterface
	ifc.LinkType = lts[0]
	w, err := pcapgo.NewNgWriterInterface(&b, ifc, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		tb.Fatal(err)
	}
	for i, lt := range lts[1:] {
		ifc.LinkType = lt
		ifc.Name = fmt.Sprintf("intf%d", i+1)
		if _, err := w.AddInterface(ifc); err != nil {
			tb.Fatal(err)
		}
	}
	for _, f := range frames {
		if err := w.WritePacket(f.ci(), f.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(tb testing.TB, p []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(p)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// memFiles serves named byte slices through OpenOptions.Open.
func memFiles(files map[string][]byte) OpenOptions {
	return OpenOptions{Open: func(name string) (io.ReadCloser, error) {
		b, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// diff renders the fields of two values of the same struct type that
// differ, "-want +got" style; "" if equal.
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	if wv.Kind() != reflect.Struct || wv.Type() != gv.Type() {
		return fmt.Sprintf("-%#v\n+%#v\n", want, got)
	}
	var sb strings.Builder
	for i := range wv.NumField() {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		if !reflect.DeepEqual(w, g) {
			n := wv.Type().Field(i).Name
			fmt.Fprintf(&sb, "-%s: %+v\n+%s: %+v\n", n, w, n, g)
		}
	}
	return sb.String()
}

// readAll drains r.
func readAll(tb testing.TB, r *Reader) []Packet {
	tb.Helper()
	var out []Packet
	for {
		var p Packet
		err := r.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
}
