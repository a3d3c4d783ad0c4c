package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

// at is t0 plus ms milliseconds plus ns nanoseconds.
func at(ms, ns int) time.Time {
	return t0.Add(time.Duration(ms)*time.Millisecond + time.Duration(ns))
}

// mixFrames is a small synthetic Ethernet capture: SYN, UDP, ARP, data, RST.
func mixFrames(tb testing.TB) []frame {
	return []frame{
		{ts: at(0, 1), data: ether(0x0800, syn4.ip(tb))},
		{ts: at(1, 0), data: ether(0x0800, udp4(tb))},
		{ts: at(2, 0), data: arpFrame(tb)},
		{ts: at(3, 0), data: ether(0x0800, data4.ip(tb))},
		{ts: at(4, 0), data: ether(0x0800, rst4.ip(tb))},
	}
}

func TestFormats(t *testing.T) {
	frames := mixFrames(t)
	le := pcapBytes(t, false, layers.LinkTypeEthernet, frames...)
	leNs := pcapBytes(t, true, layers.LinkTypeEthernet, frames...)
	ng := ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, frames...)
	cases := []struct {
		name     string
		data     []byte
		format   string
		gz, nsec bool
	}{
		{"pcap usec LE", le, "pcap", false, false},
		{"pcap usec BE", bigEndian(le), "pcap", false, false},
		{"pcap nsec LE", leNs, "pcap", false, true},
		{"pcap nsec BE", bigEndian(leNs), "pcap", false, true},
		{"pcapng", ng, "pcapng", false, true},
		{"pcap usec LE gzip", gzipBytes(t, le), "pcap", true, false},
		{"pcap nsec BE gzip", gzipBytes(t, bigEndian(leNs)), "pcap", true, true},
		{"pcapng gzip", gzipBytes(t, ng), "pcapng", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open([]string{"f"}, memFiles(map[string][]byte{"f": c.data}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r)
			ns := func(t time.Time) int64 {
				if !c.nsec {
					t = t.Truncate(time.Microsecond)
				}
				return t.UnixNano()
			}
			first := ns(at(0, 1))
			want := []Packet{syn4.want(first, synOpt4), data4.want(ns(at(3, 0)), dataOpt4), rst4.want(ns(at(4, 0)), TCPOptions{})}
			if len(got) != len(want) {
				t.Fatalf("got %d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if d := diff(want[i], got[i]); d != "" {
					t.Errorf("packet %d (-want +got):\n%s", i, d)
				}
			}
			s := r.Summary()
			wantSum := Summary{
				Files:      []FileSummary{{Name: "f", Format: c.format, Compressed: c.gz, LinkTypes: []string{"Ethernet"}, Packets: 5, Snaplen: map[string]uint32{"pcap": 65535, "pcapng": 0}[c.format], End: ns(at(4, 0))}},
				Packets:    5,
				TCPPackets: 3,
				NonTCP:     2,
				Start:      first,
				End:        ns(at(4, 0)),
				LinkTypes:  []string{"Ethernet"},
				UDPPorts:   []UDPPort{{Port: 53, Packets: 1}}, // the DNS query among the frames
			}
			if d := diff(wantSum, s); d != "" {
				t.Errorf("summary (-want +got):\n%s", d)
			}
		})
	}
}

// TestPcapngSections: two interfaces of different link types, then a
// second section (its interface 0 is Raw; interface 1 is USER0, which is
// unsupported: counted and warned about, not fatal).
func TestPcapngSections(t *testing.T) {
	sec1 := ngSection(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2},
		frame{ts: at(0, 0), data: ether(0x0800, syn4.ip(t))},
		frame{ts: at(1, 0), data: sll2(synack6.ip(t)), ifc: 1},
	)
	sec2 := ngSection(t, []layers.LinkType{layers.LinkTypeRaw, 147},
		frame{ts: at(2, 0), data: data4.ip(t)},
		frame{ts: at(3, 0), data: []byte("user data"), ifc: 1},
		frame{ts: at(4, 0), data: []byte("user data"), ifc: 1},
		frame{ts: at(5, 0), data: rst4.ip(t)},
	)
	r, err := Open([]string{"two.pcapng"}, memFiles(map[string][]byte{"two.pcapng": append(sec1, sec2...)}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	want := []Packet{
		syn4.want(at(0, 0).UnixNano(), synOpt4),
		synack6.want(at(1, 0).UnixNano(), synackOpt6),
		data4.want(at(2, 0).UnixNano(), dataOpt4),
		rst4.want(at(5, 0).UnixNano(), TCPOptions{}),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if d := diff(want[i], got[i]); d != "" {
			t.Errorf("packet %d (-want +got):\n%s", i, d)
		}
	}
	s := r.Summary()
	if s.Packets != 6 || s.TCPPackets != 4 || s.UnsupportedLink != 2 {
		t.Errorf("Packets, TCPPackets, UnsupportedLink = %d, %d, %d; want 6, 4, 2", s.Packets, s.TCPPackets, s.UnsupportedLink)
	}
	if d := diff([]string{"Ethernet", "Linux SLL2", "Raw", "USER0"}, s.LinkTypes); d != "" {
		t.Errorf("LinkTypes (-want +got):\n%s", d)
	}
	wantWarn := []string{"two.pcapng: skipped 2 frames: unsupported link type 147 (USER0)"}
	if d := diff(wantWarn, s.Warnings); d != "" {
		t.Errorf("Warnings (-want +got):\n%s", d)
	}
}

func TestMerge(t *testing.T) {
	// Two interleaved synthetic captures, as from tcpdump -C rotation of
	// two interfaces, with one equal timestamp (file order wins).
	a := pcapBytes(t, true, layers.LinkTypeEthernet,
		frame{ts: at(0, 0), data: ether(0x0800, syn4.ip(t))},
		frame{ts: at(2, 0), data: ether(0x0800, udp4(t))},
		frame{ts: at(3, 0), data: ether(0x0800, data4.ip(t))},
		frame{ts: at(6, 0), data: ether(0x0800, rst4.ip(t))},
	)
	// b's segments are a's others (another sequence number): the same
	// bytes milliseconds apart in two files would be one packet captured
	// at two points (CrossFileWindow).
	rstB, synB := rst4, syn4
	rstB.seq, synB.seq = rst4.seq+1, syn4.seq+1
	b := ngSection(t, []layers.LinkType{layers.LinkTypeLinuxSLL},
		frame{ts: at(1, 0), data: sll(synack6.ip(t))},
		frame{ts: at(3, 0), data: sll(rstB.ip(t))},
		frame{ts: at(5, 0), data: sll(synB.ip(t))},
	)
	r, err := Open([]string{"a", "b.gz"}, memFiles(map[string][]byte{"a": a, "b.gz": gzipBytes(t, b)}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for _, p := range readAll(t, r) {
		got = append(got, time.Duration(p.Time-t0.UnixNano()).String()+" "+p.Flags.String())
	}
	want := []string{"0s S", "1ms S.", "3ms P.", "3ms R.", "5ms S", "6ms R."}
	if d := diff(want, got); d != "" {
		t.Errorf("merge order (-want +got):\n%s", d)
	}
	s := r.Summary()
	if s.Packets != 7 || s.TCPPackets != 6 || s.Start != at(0, 0).UnixNano() || s.End != at(6, 0).UnixNano() {
		t.Errorf("summary %+v", s)
	}
	if d := diff([]string{"Ethernet", "Linux SLL"}, s.LinkTypes); d != "" {
		t.Errorf("LinkTypes (-want +got):\n%s", d)
	}
	if !s.Files[1].Compressed || s.Files[1].Format != "pcapng" || s.Files[0].Packets != 4 || s.Files[1].Packets != 3 {
		t.Errorf("files %+v", s.Files)
	}
}

func TestStdin(t *testing.T) {
	data := pcapBytes(t, false, layers.LinkTypeEthernet, mixFrames(t)...)
	opts := OpenOptions{Stdin: bytes.NewReader(gzipBytes(t, data))}
	r, err := Open([]string{"-"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := len(readAll(t, r)); n != 3 {
		t.Errorf("got %d packets, want 3", n)
	}
	s := r.Summary()
	if s.Files[0].Name != StdinDisplay || !s.Files[0].Compressed || r.TotalBytes() != 0 {
		t.Errorf("files %+v, TotalBytes %d", s.Files, r.TotalBytes())
	}
	if _, err := Open([]string{"-", "-"}, opts); err == nil {
		t.Error("stdin twice: no error")
	}
}

func TestCutOff(t *testing.T) {
	full := pcapBytes(t, false, layers.LinkTypeEthernet, mixFrames(t)...)
	gz := gzipBytes(t, full)
	corrupt := gzipBytes(t, pcapBytes(t, false, layers.LinkTypeEthernet, bigCapture(t, 5000)...))
	for i := len(corrupt) / 2; i < len(corrupt)/2+8; i++ {
		corrupt[i] ^= 0xff
	}
	badLen := bytes.Clone(full)
	// The fourth record's capture length: 24 + 3 records before it.
	off := 24
	for range 3 {
		off += 16 + int(badLen[off+8]) | int(badLen[off+9])<<8
	}
	badLen[off+11] = 0x7f // capture length ~2 GB
	cases := []struct {
		name     string
		data     []byte
		packets  int64 // frames kept; -1: some
		warnLike string
	}{
		{"final record cut", full[:len(full)-10], 4, "cap.pcap: capture cut off after 4 packets (unexpected EOF)"},
		{"final header cut", full[:len(full)-len(mixFrames(t)[4].data)-6], 4, "cap.pcap: capture cut off after 4 packets (unexpected EOF)"},
		{"gzip cut", gz[:len(gz)-30], -1, "cap.pcap: capture cut off after "},
		{"gzip corrupt mid-file", corrupt, -1, "cap.pcap: capture cut off after "},
		{"bogus record length", badLen, 3, "cap.pcap: capture cut off after 3 packets (record 4 claims 2130707015 captured bytes, more than any capture tool writes (262144)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open([]string{"cap.pcap"}, memFiles(map[string][]byte{"cap.pcap": c.data}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			readAll(t, r)
			s := r.Summary()
			if c.packets >= 0 && s.Packets != c.packets || c.packets < 0 && s.Packets == 0 {
				t.Errorf("Packets = %d, want %d (-1: some)", s.Packets, c.packets)
			}
			if len(s.Warnings) != 1 || !strings.HasPrefix(s.Warnings[0], c.warnLike) || !s.Files[0].CutOff {
				t.Errorf("Warnings = %q (CutOff %v), want one like %q", s.Warnings, s.Files[0].CutOff, c.warnLike)
			}
			t.Logf("%d packets, %q", s.Packets, s.Warnings)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	pcap := pcapBytes(t, false, layers.LinkTypeEthernet, mixFrames(t)...)
	files := map[string][]byte{
		"empty.pcap":  nil,
		"trace.txt":   []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		"short":       []byte("ab"),
		"empty.gz":    gzipBytes(t, nil),
		"text.gz":     gzipBytes(t, []byte("hello, world")),
		"user0.pcap":  pcapBytes(t, false, 147, frame{ts: t0, data: []byte("x")}),
		"user0.ng":    ngSection(t, []layers.LinkType{147}, frame{ts: t0, data: []byte("x")}),
		"header.pcap": pcap[:20],
		"ok.pcap":     pcap,
	}
	cases := []struct {
		names  []string
		want   string
		target error
	}{
		{[]string{"empty.pcap"}, "empty.pcap: not a pcap or pcapng file (empty file)", ErrNotCapture},
		{[]string{"trace.txt"}, `trace.txt: not a pcap or pcapng file (starts with "GET / HT": text)`, ErrNotCapture},
		{[]string{"short"}, `short: not a pcap or pcapng file (starts with "ab": text)`, ErrNotCapture},
		{[]string{"empty.gz"}, "empty.gz: not a pcap or pcapng file (empty file after gunzip)", ErrNotCapture},
		{[]string{"text.gz"}, `text.gz: not a pcap or pcapng file (starts with "hello, w": text)`, ErrNotCapture},
		{[]string{"ok.pcap", "user0.pcap"}, "user0.pcap: unsupported link type 147 (USER0)", ErrUnsupportedLinkType},
		{[]string{"user0.ng"}, "user0.ng: unsupported link type 147 (USER0)", ErrUnsupportedLinkType},
		{[]string{"header.pcap"}, "header.pcap: reading pcap header: unexpected EOF", io.ErrUnexpectedEOF},
		{[]string{"ok.pcap", "missing.pcap"}, "open missing.pcap: file does not exist", fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.names[len(c.names)-1], func(t *testing.T) {
			r, err := Open(c.names, memFiles(files))
			if err == nil {
				r.Close()
				t.Fatalf("no error, want %q", c.want)
			}
			if err.Error() != c.want || !errors.Is(err, c.target) {
				t.Errorf("error %q, want %q wrapping %v", err, c.want, c.target)
			}
		})
	}
}

// TestOSFiles goes through os.Open: a missing file, TotalBytes, BytesRead.
func TestOSFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.pcap")
	b := filepath.Join(dir, "b.pcap.gz")
	pa := pcapBytes(t, false, layers.LinkTypeEthernet, mixFrames(t)...)
	synB := syn4
	synB.seq++ // not a's SYN captured again (CrossFileWindow)
	pb := gzipBytes(t, pcapBytes(t, true, layers.LinkTypeRaw, frame{ts: at(10, 0), data: synB.ip(t)}))
	os.WriteFile(a, pa, 0o644)
	os.WriteFile(b, pb, 0o644)

	_, err := Open([]string{a, filepath.Join(dir, "nope.pcap")}, OpenOptions{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}

	r, err := Open([]string{a, b}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := r.TotalBytes(), int64(len(pa)+len(pb)); got != want {
		t.Errorf("TotalBytes = %d, want %d", got, want)
	}
	if n := len(readAll(t, r)); n != 4 {
		t.Errorf("%d packets, want 4", n)
	}
	if r.BytesRead() != r.TotalBytes() {
		t.Errorf("BytesRead = %d after EOF, want %d", r.BytesRead(), r.TotalBytes())
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

// bigCapture is a synthetic capture of n frames: mostly IPv4 TCP with
// timestamps options and payload, some IPv6, some UDP.
func bigCapture(tb testing.TB, n int) []frame {
	tb.Helper()
	tmpl := [][]byte{
		ether(0x0800, syn4.ip(tb)),
		ether(0x0800, data4.ip(tb)),
		ether(0x0800, data4.ip(tb)),
		ether(0x0800, data4.ip(tb)),
		ether(0x86dd, synack6.ip(tb)),
		ether(0x0800, udp4(tb)),
		ether(0x0800, rst4.ip(tb)),
		ether(0x0800, data4.ip(tb))[:96], // snaplen 96
	}
	frames := make([]frame, n)
	for i := range frames {
		d := tmpl[i%len(tmpl)]
		frames[i] = frame{ts: at(i, 0), data: d} // 1 ms apart: no duplicates
		if i%len(tmpl) == len(tmpl)-1 {
			frames[i].orig = len(tmpl[1])
		}
	}
	return frames
}

func TestNextAllocs(t *testing.T) {
	frames := bigCapture(t, 3000)
	for _, c := range []struct {
		name string
		data []byte
		max  float64
	}{
		{"pcap", pcapBytes(t, true, layers.LinkTypeEthernet, frames...), 0},
		{"pcap gzip", gzipBytes(t, pcapBytes(t, true, layers.LinkTypeEthernet, frames...)), 0},
		{"pcapng", ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, frames...), 0},
		// pcapgo's NgReader with WantMixedLinkType boxes each packet's link
		// type into ci.AncillaryData; Go boxes integers below 256 without
		// allocating, but SLL2 is 276: one 2-byte allocation per packet,
		// inside pcapgo.
		{"pcapng sll2", ngSection(t, []layers.LinkType{layers.LinkTypeLinuxSLL2}, sll2Frames(t, 3000)...), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open([]string{"f"}, memFiles(map[string][]byte{"f": c.data}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var p Packet
			for range 100 { // warm up
				r.Next(&p)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if err := r.Next(&p); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > c.max {
				t.Errorf("Next allocated %v per packet, want <= %v", allocs, c.max)
			}
		})
	}
}

func sll2Frames(tb testing.TB, n int) []frame {
	fr := make([]frame, n)
	for i := range fr {
		fr[i] = frame{ts: at(2*i, 0), data: sll2(data4.ip(tb))}
	}
	return fr
}

// countingFiles is memFiles that tracks how many files are open at once.
type countingFiles struct {
	files         map[string][]byte
	open, maxOpen int
	opened        map[string]int
}

func (c *countingFiles) options() OpenOptions {
	return OpenOptions{Open: func(name string) (io.ReadCloser, error) {
		b, ok := c.files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		c.open++
		c.maxOpen = max(c.maxOpen, c.open)
		c.opened[name]++
		return &countedCloser{Reader: bytes.NewReader(b), c: c}, nil
	}}
}

type countedCloser struct {
	*bytes.Reader
	c      *countingFiles
	closed bool
}

func (f *countedCloser) Close() error {
	if !f.closed {
		f.closed = true
		f.c.open--
	}
	return nil
}

// TestRotatedSetOpensFilesAsNeeded: a set of rotated files (tcpdump -G) is
// read with one or two open at a time, not all, and merges exactly as
// when every file is open from the start: two files that overlap in time
// interleave, equal timestamps go in argument order, a file with no TCP
// still counts its frames, and the summaries of every file are complete.
func TestRotatedSetOpensFilesAsNeeded(t *testing.T) {
	c := &countingFiles{files: map[string][]byte{}, opened: map[string]int{}}
	var names []string
	for k := range 12 {
		name := fmt.Sprintf("rot-%03d.pcap", k)
		names = append(names, name)
		base := 10 * k
		// Each file's segments its own (sequence numbers): identical
		// bytes 10 ms apart in two files would be one packet captured at
		// two points (CrossFileWindow).
		syn, rst := syn4, rst4
		syn.seq, rst.seq = syn4.seq+uint32(k), rst4.seq+uint32(k)
		frames := []frame{
			{ts: at(base, 0), data: ether(0x0800, udp4(t))}, // a frame before the first TCP one
			{ts: at(base+1, 0), data: ether(0x0800, syn.ip(t))},
			{ts: at(base+5, 0), data: ether(0x0800, rst.ip(t))},
		}
		switch k {
		case 4: // overlaps the next file
			frames = append(frames, frame{ts: at(base+13, 0), data: ether(0x0800, data4.ip(t))})
		case 7: // no TCP at all
			frames = frames[:1]
		}
		c.files[name] = pcapBytes(t, true, layers.LinkTypeEthernet, frames...)
	}
	// File 4's segment at 53 ms sorts between file 5's SYN and RST.
	var want []string
	for k := range 12 {
		base := 10 * k
		if k == 7 {
			continue
		}
		want = append(want, fmt.Sprintf("%dms S", base+1))
		if k == 5 {
			want = append(want, "53ms P.")
		}
		want = append(want, fmt.Sprintf("%dms R.", base+5))
	}

	r, err := Open(names, c.options())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range readAll(t, r) {
		got = append(got, time.Duration(p.Time-t0.UnixNano()).String()+" "+p.Flags.String())
	}
	if d := diff(want, got); d != "" {
		t.Errorf("merge order (-want +got):\n%s", d)
	}
	s := r.Summary()
	r.Close()
	if s.Packets != 11*3+1+1 || s.NonTCP != 12 || len(s.Files) != 12 || s.Start != at(0, 0).UnixNano() || s.End != at(115, 0).UnixNano() {
		t.Errorf("summary: %d packets, %d non-TCP, %d files, start %d, end %d", s.Packets, s.NonTCP, len(s.Files), s.Start, s.End)
	}
	for i, f := range s.Files {
		if f.Name != names[i] || f.Format != "pcap" || f.Packets == 0 {
			t.Errorf("file %d: %+v", i, f)
		}
	}
	if c.open != 0 {
		t.Errorf("%d files left open", c.open)
	}
	if c.maxOpen > 2 {
		t.Errorf("up to %d files open at once, want at most 2", c.maxOpen)
	}
}
