package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Malformed and odd input: frames (TestDecodeMalformed) and files
// (TestMalformedFiles). All synthetic.

// patch returns a copy of b with b[off] = v.
func patch(b []byte, off int, v byte) []byte {
	b = bytes.Clone(b)
	b[off] = v
	return b
}

func malformedCases(tb testing.TB) []decodeCase {
	const ts = 1_700_000_000_123_456_789
	s4, r4 := syn4.ip(tb), rst4.ip(tb)
	e := func(p []byte) []byte { return ether(0x0800, p) }
	const tcp = 14 + 20 // offset of the TCP header in e(s4)

	// Snap length inside the fixed TCP header: the flags (offset 13) are
	// there, so is the handshake; window and options are not.
	cut14 := syn4.want(ts, TCPOptions{})
	cut14.Window, cut14.OptionsCut, cut14.WindowCut = 0, true, true
	cut16 := syn4.want(ts, TCPOptions{})
	cut16.OptionsCut = true

	// syn4's options: MSS at 20, SACK-permitted at 24, timestamps at 26,
	// NOP at 36, window scale at 37 (offsets in the TCP header).
	mssSack := TCPOptions{MSS: 1460, HasMSS: true, SACKPerm: true}
	badDataOff := rst4.want(ts, TCPOptions{})
	badDataOff.OptionsCut = true

	return []decodeCase{
		{"tcp cut at 13 bytes: no flags", layers.LinkTypeEthernet, e(s4)[:tcp+13], KindTruncated, Packet{}},
		{"tcp cut at 14 bytes: flags, no window", layers.LinkTypeEthernet, e(s4)[:tcp+14], KindTCP, cut14},
		{"tcp cut at 16 bytes: window", layers.LinkTypeEthernet, e(s4)[:tcp+16], KindTCP, cut16},
		{"tcp cut at 19 bytes", layers.LinkTypeRaw, s4[:20+19], KindTCP, cut16},
		{"option length 0", layers.LinkTypeRaw, patch(s4, 20+21, 0), KindTCP, syn4.want(ts, TCPOptions{})},
		{"option length 1", layers.LinkTypeRaw, patch(s4, 20+21, 1), KindTCP, syn4.want(ts, TCPOptions{})},
		{"option past the header", layers.LinkTypeRaw, patch(s4, 20+27, 30), KindTCP, syn4.want(ts, mssSack)},
		{"unknown option kind", layers.LinkTypeRaw, patch(s4, 20+20, 99), KindTCP, syn4.want(ts, TCPOptions{SACKPerm: true, HasTS: true, TSval: 111, WScale: 7, HasWScale: true})},
		{"data offset beyond the packet", layers.LinkTypeRaw, patch(r4, 20+12, 0xf0), KindTCP, badDataOff},
		{"data offset below 5", layers.LinkTypeRaw, patch(r4, 20+12, 0x20), KindTCP, rst4.want(ts, TCPOptions{})},
		{"bad tcp checksum kept", layers.LinkTypeRaw, patch(r4, 20+16, r4[20+16]^0xff), KindTCP, rst4.want(ts, TCPOptions{})},
		{"bad ip checksum kept", layers.LinkTypeRaw, patch(r4, 10, r4[10]^0xff), KindTCP, rst4.want(ts, TCPOptions{})},
		{"ipv4 header length below 5", layers.LinkTypeRaw, patch(r4, 0, 0x43), KindNonTCP, Packet{}},
		{"ipv4 total length below header", layers.LinkTypeRaw, patch(patch(r4, 2, 0), 3, 10), KindNonTCP, Packet{}},
		{"ipv6 version 4 in an ipv6 ethertype", layers.LinkTypeEthernet, ether(0x86dd, s4), KindNonTCP, Packet{}},
		{"vlan tag cut", layers.LinkTypeEthernet, ether(0x0800, s4, 0x8100)[:16], KindTruncated, Packet{}},
	}
}

func TestDecodeMalformed(t *testing.T) {
	const ts = 1_700_000_000_123_456_789
	d := NewDecoder()
	for _, c := range malformedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var got Packet
			if kind := d.Decode(c.lt, c.data, ts, &got); kind != c.kind {
				t.Fatalf("kind = %v, want %v", kind, c.kind)
			} else if kind == KindTCP {
				if d := diff(c.want, got); d != "" {
					t.Errorf("packet mismatch (-want +got):\n%s", d)
				}
			}
		})
	}
}

// checkPacket asserts what every KindTCP Packet satisfies.
func checkPacket(t *testing.T, p *Packet, frameLen int) {
	t.Helper()
	s, d := p.Src.Addr(), p.Dst.Addr()
	if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() || s.Zone() != "" || d.Zone() != "" {
		t.Fatalf("addresses %v > %v", p.Src, p.Dst)
	}
	// From the IP length fields: at most 64 KiB, or, for an IPv4 or IPv6
	// length of 0 (TSO, jumbogram), what was captured.
	if p.PayloadLen > 65535 && int(p.PayloadLen) > frameLen {
		t.Fatalf("PayloadLen %d from a %d-byte frame", p.PayloadLen, frameLen)
	}
	if o := p.Opts; !o.HasWScale && o.WScale != 0 || !o.HasMSS && o.MSS != 0 || !o.HasTS && (o.TSval != 0 || o.TSecr != 0) {
		t.Fatalf("options %+v", p.Opts)
	}
}

// rec is a pcap record written as given: its lengths need not match data.
type rec struct {
	ts             time.Time
	caplen, length uint32
	data           []byte
}

// rawPcap writes a little-endian microsecond pcap by hand.
func rawPcap(snaplen uint32, lt layers.LinkType, recs ...rec) []byte {
	b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	b = binary.LittleEndian.AppendUint32(b, uint32(lt))
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.ts.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.ts.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, r.caplen)
		b = binary.LittleEndian.AppendUint32(b, r.length)
		b = append(b, r.data...)
	}
	return b
}

// record is a well-formed rec of data.
func record(ts time.Time, data []byte) rec {
	return rec{ts, uint32(len(data)), uint32(len(data)), data}
}

// ngBlock is a little-endian pcapng block.
func ngBlock(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

// ngEPB is an enhanced packet block with the given lengths.
func ngEPB(ifc uint32, ts time.Time, caplen, length uint32, data []byte) []byte {
	us := uint64(ts.UnixMicro())
	body := binary.LittleEndian.AppendUint32(nil, ifc)
	body = binary.LittleEndian.AppendUint32(body, uint32(us>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(us))
	body = binary.LittleEndian.AppendUint32(body, caplen)
	body = binary.LittleEndian.AppendUint32(body, length)
	return ngBlock(ngEnhancedPacket, append(body, data...))
}

// ngHead is a section header and one interface of link type lt.
func ngHead(lt layers.LinkType) []byte {
	shb := []byte{0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	idb := []byte{byte(lt), byte(lt >> 8), 0, 0, 0, 0, 4, 0}
	return append(ngBlock(ngSectionHeader, shb), ngBlock(1, idb)...)
}

type fileCase struct {
	name    string
	data    []byte
	openErr string // Open's error; "" if it opens
	packets int    // TCP packets Next returns
	warn    string // the one warning, a prefix; "" for none
	check   func(t *testing.T, s Summary)
}

func malformedFiles(tb testing.TB) []fileCase {
	e := func(s seg) []byte { return ether(0x0800, s.ip(tb)) }
	syn, rst := e(syn4), e(rst4)
	// A SYN cut by a 48-byte snap length: 14 bytes of TCP header.
	cutSyn := syn[:48]
	synack2 := sll2(synack6.ip(tb))
	onIf := func(b []byte, ifindex byte, out bool) []byte {
		b = bytes.Clone(b)
		b[7] = ifindex // SLL2 interface index, low byte
		b[10] = 0      // packet type: host
		if out {
			b[10] = 4 // outgoing
		}
		return b
	}
	backwards := rawPcap(65535, layers.LinkTypeEthernet,
		record(at(0, 0), syn), record(at(5, 0), rst), record(at(3, 0), syn), record(at(4, 0), rst), record(at(2, 0), e(data4)))
	return []fileCase{
		{name: "png named .pcap", data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
			openErr: `f: not a pcap or pcapng file (starts with "\x89PNG\r\n\x1a\n": a PNG image)`},
		{name: "text", data: []byte("tcpdump: listening on eth0\n"),
			openErr: `f: not a pcap or pcapng file (starts with "tcpdump:": text)`},
		{name: "truncated global header", data: rawPcap(65535, 1)[:23], openErr: "f: reading pcap header: unexpected EOF"},
		{name: "record longer than the snap length", packets: 1,
			data: rawPcap(40, layers.LinkTypeEthernet, record(t0, syn))},
		{name: "absurd record length", packets: 1, warn: "f: capture cut off after 1 packets (record 2 claims 2147483647 captured bytes",
			data: rawPcap(0xffffffff, layers.LinkTypeEthernet, record(t0, syn), rec{t0, 0x7fffffff, 0x7fffffff, syn})},
		{name: "record length over 256 KiB", packets: 0, warn: "f: capture cut off after 0 packets (record 1 claims 262145 captured bytes",
			data: rawPcap(0xffffffff, layers.LinkTypeEthernet, rec{t0, MaxRecordSize + 1, MaxRecordSize + 1, make([]byte, MaxRecordSize+1)})},
		{name: "captured longer than original", packets: 1, warn: "f: capture cut off after 1 packets (capture length exceeds original packet length",
			data: rawPcap(65535, layers.LinkTypeEthernet, record(t0, syn), rec{t0, 60, 50, make([]byte, 60)})},
		{name: "record header cut off", packets: 1, warn: "f: capture cut off after 1 packets (unexpected EOF)",
			data: rawPcap(65535, layers.LinkTypeEthernet, record(t0, syn), record(t0, rst))[:24+16+len(syn)+9]},
		{name: "snap length 48", packets: 2,
			warn: "skipped 1 frames cut before their TCP header by the snap length (48 bytes kept of each;",
			data: rawPcap(48, layers.LinkTypeEthernet, rec{t0, 48, uint32(len(syn)), cutSyn}, rec{at(1, 0), 40, uint32(len(rst)), rst[:40]}, rec{at(2, 0), 48, uint32(len(rst)), rst[:48]}),
			check: func(t *testing.T, s Summary) {
				if s.Truncated != 1 || s.TCPPackets != 2 {
					t.Errorf("Truncated %d, TCPPackets %d; want 1, 2", s.Truncated, s.TCPPackets)
				}
			}},
		{name: "timestamps backwards", packets: 5, data: backwards,
			warn: "f: timestamps went backwards 2 times (by up to 2ms); packets are analysed in file order there",
			check: func(t *testing.T, s Summary) {
				if s.Backwards != 2 || s.Files[0].Backwards != 2 || s.Start != at(0, 0).Truncate(time.Microsecond).UnixNano() || s.End != at(5, 0).Truncate(time.Microsecond).UnixNano() {
					t.Errorf("Backwards %d/%d, Start..End %d..%d", s.Backwards, s.Files[0].Backwards, s.Start, s.End)
				}
			}},
		{name: "fragments", packets: 1,
			data: rawPcap(65535, layers.LinkTypeEthernet, record(t0, ether(0x0800, fragment4(tb, true))), record(at(1, 0), ether(0x0800, fragment4(tb, false))), record(at(2, 0), syn)),
			check: func(t *testing.T, s Summary) {
				if s.Fragments != 2 {
					t.Errorf("Fragments %d, want 2", s.Fragments)
				}
			}},
		{name: "any: each packet on two interfaces", packets: 2,
			warn: "skipped 2 duplicate TCP packets: the same packet captured twice within 1ms",
			data: rawPcap(65535, layers.LinkTypeLinuxSLL2,
				record(at(0, 0), onIf(synack2, 3, true)), record(at(0, 20000), onIf(synack2, 2, true)),
				// Retransmitted 200 ms later: kept, with its copy dropped.
				record(at(200, 0), onIf(synack2, 3, true)), record(at(200, 20000), onIf(synack2, 2, true))),
			check: func(t *testing.T, s Summary) {
				if s.Duplicates != 2 || s.TCPPackets != 2 || s.Packets != 4 {
					t.Errorf("Duplicates %d, TCPPackets %d, Packets %d; want 2, 2, 4", s.Duplicates, s.TCPPackets, s.Packets)
				}
			}},
		{name: "any: same packet in and out of one interface", packets: 1,
			warn: "skipped 1 duplicate TCP packets",
			data: rawPcap(65535, layers.LinkTypeLinuxSLL2, record(at(0, 0), onIf(synack2, 1, true)), record(at(0, 9000), onIf(synack2, 1, false)))},
		{name: "identical packets at one point are kept", packets: 3,
			data: rawPcap(65535, layers.LinkTypeEthernet, record(at(0, 0), rst), record(at(0, 10000), rst), record(at(0, 20000), rst))},
		{name: "pcapng: block length 0", packets: 1,
			warn: "f: capture cut off after 1 packets (pcapng block 0 bytes after record 1 has a bad length 0",
			data: append(append(ngHead(layers.LinkTypeEthernet), ngEPB(0, t0, uint32(len(syn)), uint32(len(syn)), syn)...), 0x0b, 0xad, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4)},
		{name: "pcapng: captured length past its block", packets: 0,
			warn: "f: capture cut off after 0 packets (record 1 claims 1000 captured bytes in a 108-byte block",
			data: append(ngHead(layers.LinkTypeEthernet), ngEPB(0, t0, 1000, 1000, syn)...)},
		{name: "pcapng: absurd captured length", packets: 1,
			warn: "f: capture cut off after 1 packets (record 2 claims 4294967295 captured bytes",
			data: append(append(ngHead(layers.LinkTypeEthernet), ngEPB(0, t0, uint32(len(syn)), uint32(len(syn)), syn)...), ngEPB(0, t0, 0xffffffff, 0xffffffff, syn)...)},
		{name: "pcapng: interfaces, unknown blocks, comments", packets: 3, data: ngOdd(tb),
			check: func(t *testing.T, s Summary) {
				if d := diff([]string{"Ethernet", "Linux SLL2", "Raw"}, s.Files[0].LinkTypes); d != "" {
					t.Errorf("LinkTypes (-want +got):\n%s", d)
				}
			}},
	}
}

// ngOdd is a pcapng file with a section comment, three interfaces of
// different link types with names and comments, packet comments, a custom
// block and a block of an unknown type between the packets, and a second
// section.
func ngOdd(tb testing.TB) []byte {
	var b bytes.Buffer
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Comment = "section \x1b[31mcomment"
	ifc := pcapgo.DefaultNgInterface
	ifc.LinkType, ifc.Name, ifc.Comment, ifc.Description = layers.LinkTypeEthernet, "eth\x1b0", "if comment", "desc"
	w, err := pcapgo.NewNgWriterInterface(&b, ifc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw} {
		ifc.LinkType, ifc.Name = lt, "if"+lt.String()
		if _, err := w.AddInterface(ifc); err != nil {
			tb.Fatal(err)
		}
	}
	popts := pcapgo.NgPacketOptions{Comments: []string{"packet comment", "another"}}
	if err := w.WritePacketWithOptions(frame{ts: at(0, 0), data: ether(0x0800, syn4.ip(tb))}.ci(), ether(0x0800, syn4.ip(tb)), popts); err != nil {
		tb.Fatal(err)
	}
	w.Flush()
	b.Write(ngBlock(0x00000bad, []byte("unknown block type")))
	b.Write(ngBlock(0x00000bad, make([]byte, 70000)))                   // bigger than the read buffer
	b.Write(ngBlock(0x40000bad, []byte("custom block, copiable, PEN"))) // custom block type
	ci := frame{ts: at(1, 0), data: sll2(synack6.ip(tb)), ifc: 1}.ci()
	if err := w.WritePacketWithOptions(ci, sll2(synack6.ip(tb)), popts); err != nil {
		tb.Fatal(err)
	}
	w.Flush()
	b.Write(ngSection(tb, []layers.LinkType{layers.LinkTypeRaw}, frame{ts: at(2, 0), data: rst4.ip(tb)}))
	return b.Bytes()
}

func TestMalformedFiles(t *testing.T) {
	for _, c := range malformedFiles(t) {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open([]string{"f"}, memFiles(map[string][]byte{"f": c.data}))
			if c.openErr != "" {
				if err == nil {
					r.Close()
					t.Fatalf("no error, want %q", c.openErr)
				}
				if err.Error() != c.openErr {
					t.Errorf("error %q\nwant  %q", err, c.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r)
			s := r.Summary()
			if len(got) != c.packets {
				t.Errorf("%d packets, want %d", len(got), c.packets)
			}
			for _, p := range got {
				checkPacket(t, &p, len(c.data))
			}
			switch {
			case c.warn == "" && len(s.Warnings) != 0:
				t.Errorf("warnings %q, want none", s.Warnings)
			case c.warn != "" && (len(s.Warnings) != 1 || !strings.HasPrefix(s.Warnings[0], c.warn)):
				t.Errorf("warnings %q, want one starting %q", s.Warnings, c.warn)
			}
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// TestNoAllocFromHeaders: a header claiming 2 GB (through gzip, where a
// small file can inflate to much more) does not make the Reader allocate
// it.
func TestNoAllocFromHeaders(t *testing.T) {
	syn := ether(0x0800, syn4.ip(t))
	big := make([]byte, 8<<20)
	for name, data := range map[string][]byte{
		"pcap":   rawPcap(0xffffffff, layers.LinkTypeEthernet, rec{t0, 0x7fffffff, 0x7fffffff, big}),
		"pcapng": append(ngHead(layers.LinkTypeEthernet), ngEPB(0, t0, 0x7fffffff, 0x7fffffff, append(big, syn...))...),
	} {
		t.Run(name, func(t *testing.T) {
			gz := gzipBytes(t, data)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := Open([]string{"f.gz"}, memFiles(map[string][]byte{"f.gz": gz}))
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, r)
			r.Close()
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
				t.Errorf("allocated %d bytes", n)
			}
			if s := r.Summary(); len(s.Warnings) != 1 || !s.Files[0].CutOff {
				t.Errorf("warnings %q", s.Warnings)
			}
		})
	}
}

// TestDuplicatesAcrossFiles: the same capture given twice (or two captures
// of one link, on its two ends) gives each packet once; KeepDuplicates
// keeps them.
func TestDuplicatesAcrossFiles(t *testing.T) {
	data := pcapBytes(t, true, layers.LinkTypeEthernet, mixFrames(t)...)
	files := memFiles(map[string][]byte{"a": data, "b": data})
	r, err := Open([]string{"a", "b"}, files)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, r)); n != 3 {
		t.Errorf("%d packets, want 3", n)
	}
	if s := r.Summary(); s.Duplicates != 3 || s.TCPPackets != 3 || s.Packets != 10 {
		t.Errorf("Duplicates %d, TCPPackets %d, Packets %d; want 3, 3, 10", s.Duplicates, s.TCPPackets, s.Packets)
	}
	files.KeepDuplicates = true
	r, err = Open([]string{"a", "b"}, files)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, r)); n != 6 {
		t.Errorf("KeepDuplicates: %d packets, want 6", n)
	}
	if s := r.Summary(); s.Duplicates != 0 || len(s.Warnings) != 0 {
		t.Errorf("KeepDuplicates: Duplicates %d, warnings %q", s.Duplicates, s.Warnings)
	}
}

// TestCopiesAcrossFilesWithinAPathDelay: captures from two points of one
// path (a client's and the server's) hold the same packets a path delay
// apart: within CrossFileWindow they are one packet each, counted once;
// identical packets further apart are kept (a retransmission comes 200 ms
// later at the earliest), and so are identical packets that far apart in
// one file's two pcapng interfaces (DuplicateWindow there).
func TestCopiesAcrossFilesWithinAPathDelay(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		copies bool
	}{{0, true}, {20 * time.Millisecond, true}, {-20 * time.Millisecond, true}, {149 * time.Millisecond, true}, {200 * time.Millisecond, false}, {time.Second, false}} {
		frames := mixFrames(t)
		shifted := slices.Clone(frames)
		for i := range shifted {
			shifted[i].ts = shifted[i].ts.Add(tc.offset)
		}
		files := memFiles(map[string][]byte{
			"client": pcapBytes(t, true, layers.LinkTypeEthernet, frames...),
			"server": pcapBytes(t, true, layers.LinkTypeEthernet, shifted...),
		})
		r, err := Open([]string{"client", "server"}, files)
		if err != nil {
			t.Fatal(err)
		}
		got := len(readAll(t, r))
		s := r.Summary()
		want, wantDups := 6, int64(0)
		if tc.copies {
			want, wantDups = 3, 3
		}
		if got != want || s.Duplicates != wantDups || s.DuplicatesAcrossFiles != wantDups {
			t.Errorf("%v apart: %d packets, Duplicates %d, across files %d; want %d, %d, %d", tc.offset, got, s.Duplicates, s.DuplicatesAcrossFiles, want, wantDups, wantDups)
		}
		if tc.copies && (len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "two points of one path")) {
			t.Errorf("%v apart: warnings %q", tc.offset, s.Warnings)
		}
	}
	// The sending host's own capture holds its packets before the NIC
	// fills in the TCP checksum (transmit offload), the other's after:
	// still copies (two-capture-points recorded with LAB_OFFLOADS=on
	// counted each packet twice).
	frames := mixFrames(t)
	unfinished := make([]frame, len(frames))
	for i, f := range frames {
		unfinished[i] = f
		unfinished[i].data = slices.Clone(f.data)
		unfinished[i].ts = f.ts.Add(5 * time.Millisecond)
		if f.data[12] == 0x08 && f.data[13] == 0x00 && f.data[14+9] == 6 {
			tcp := 14 + int(f.data[14]&0xf)*4
			unfinished[i].data[tcp+16] ^= 0x5a // the partial sum, not the final one
		}
	}
	r0, err := Open([]string{"sender", "receiver"}, memFiles(map[string][]byte{
		"sender":   pcapBytes(t, true, layers.LinkTypeEthernet, unfinished...),
		"receiver": pcapBytes(t, true, layers.LinkTypeEthernet, frames...),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if n, s := len(readAll(t, r0)), r0.Summary(); n != 3 || s.DuplicatesAcrossFiles != 3 {
		t.Errorf("copies whose TCP checksums differ: %d packets, across files %d; want 3, 3", n, s.DuplicatesAcrossFiles)
	}

	// Two interfaces of one pcapng file: tcpdump -i any's copies come
	// microseconds apart, so 20 ms apart is two packets.
	frames = mixFrames(t)
	var both []frame
	for _, f := range frames {
		g := f
		g.ts, g.ifc = g.ts.Add(20*time.Millisecond), 1
		both = append(both, f, g)
	}
	r, err := Open([]string{"ng"}, memFiles(map[string][]byte{"ng": ngSection(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeEthernet}, both...)}))
	if err != nil {
		t.Fatal(err)
	}
	if n, s := len(readAll(t, r)), r.Summary(); n != 6 || s.Duplicates != 0 {
		t.Errorf("one file, two interfaces 20 ms apart: %d packets, Duplicates %d; want 6, 0", n, s.Duplicates)
	}
}

// TestFilesOutOfOrder: rotated files given newest first come out in time
// order, and a file whose clock went backwards does not break the merge.
func TestFilesOutOfOrder(t *testing.T) {
	syn := ether(0x0800, syn4.ip(t))
	part := func(ms ...int) []byte {
		var recs []rec
		for _, m := range ms {
			s := syn4
			s.seq = uint32(m)
			recs = append(recs, record(at(m, 0), ether(0x0800, s.ip(t))))
		}
		return rawPcap(65535, layers.LinkTypeEthernet, recs...)
	}
	_ = syn
	files := memFiles(map[string][]byte{"1": part(0, 10, 20), "2": part(30, 40), "3": part(50, 45, 60)})
	r, err := Open([]string{"3", "2", "1"}, files)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, p := range readAll(t, r) {
		got = append(got, p.Seq)
	}
	if d := diff([]uint32{0, 10, 20, 30, 40, 50, 45, 60}, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	if s := r.Summary(); s.Backwards != 1 || len(s.Warnings) != 1 || !strings.HasPrefix(s.Warnings[0], "3: timestamps went backwards 1 times") {
		t.Errorf("Backwards %d, warnings %q", s.Backwards, s.Warnings)
	}
}

// TestHostileNames: names from the input stay raw in the Summary (the
// renderers sanitise them).
func TestHostileNames(t *testing.T) {
	name := "evil\x1b[2J\r\n.pcap"
	data := pcapBytes(t, false, layers.LinkTypeEthernet, mixFrames(t)...)
	r, err := Open([]string{name}, memFiles(map[string][]byte{name: data[:len(data)-3]}))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, r)
	s := r.Summary()
	if s.Files[0].Name != name || len(s.Warnings) != 1 || !strings.HasPrefix(s.Warnings[0], name+":") {
		t.Errorf("name %q, warnings %q", s.Files[0].Name, s.Warnings)
	}
	_ = io.EOF
}

// TestClockSetBack: a file whose clock was set back by 5 s (an NTP step)
// between two frames goes on from the frame before the step: the later
// frames move forward by the step, the first TCP packet after it says so
// (ClockStep: the UDP frame right after the step does not take the mark
// away), and the warning names the file and the step. Reordering under
// 100 ms stays frames out of order.
func TestClockSetBack(t *testing.T) {
	frame := func(ms int) []byte {
		s := syn4
		s.seq = uint32(ms)
		return ether(0x0800, s.ip(t))
	}
	udp := ether(0x0800, udp4(t))
	step := 5 * time.Second
	data := rawPcap(65535, layers.LinkTypeEthernet,
		record(at(0, 0), frame(0)), record(at(10, 0), frame(10)),
		record(at(12, 0).Add(-step), udp), record(at(20, 0).Add(-step), frame(20)),
		record(at(18, 0).Add(-step), frame(18)), record(at(30, 0).Add(-step), frame(30)))
	r, err := Open([]string{"f"}, memFiles(map[string][]byte{"f": data}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ps := readAll(t, r)
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%d@%v step=%v", p.Seq, time.Duration(p.Time-ps[0].Time), p.ClockStep))
	}
	want := []string{"0@0s step=false", "10@10ms step=false", "20@18ms step=true", "18@16ms step=false", "30@28ms step=false"}
	if d := diff(want, got); d != "" {
		t.Errorf("packets (-want +got):\n%s", d)
	}
	s := r.Summary()
	if s.Backwards != 1 || len(s.Warnings) != 2 || !strings.HasPrefix(s.Warnings[1], "f: the clock was set back 1 time during the capture (by up to 4.998s: an NTP step") {
		t.Errorf("Backwards %d, warnings %q", s.Backwards, s.Warnings)
	}
}
