package capture

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/capture/filter"
	"github.com/synq/synq/internal/prose"
)

// ErrNotCapture is wrapped by Open's error for input that is neither pcap
// nor pcapng (after gunzip).
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// StdinName is the name that means standard input; StdinDisplay is how it
// is named in summaries, warnings and errors.
const (
	StdinName    = "-"
	StdinDisplay = "<stdin>"
)

const readBufSize = 64 << 10

// OpenOptions holds the Reader's dependencies, injectable for tests.
type OpenOptions struct {
	// Stdin is read for the name "-". Default os.Stdin.
	Stdin io.Reader
	// Open opens a named file. Default os.Open. If the returned value has
	// a Stat() (fs.FileInfo, error) method, its size counts in TotalBytes.
	Open func(name string) (io.ReadCloser, error)
	// Probe opens a file of a set of several for a first look (its
	// header and first TCP packet) before Open opens it to be read: a
	// set is read with only the files the merge has reached open.
	// Default Open; give the unwrapped opener when Open records what
	// is read.
	Probe func(name string) (io.ReadCloser, error)
	// KeepDuplicates turns off duplicate detection. By default a TCP
	// packet is the same packet captured twice, and Next skips it, when it
	// is identical to one seen less than DuplicateWindow before (same
	// addresses, ports, IPv4 ID, sequence and acknowledgement numbers,
	// flags, window, payload length and timestamps option: not the TCP
	// checksum, which offload leaves unfinished on the capturing host's own packets)
	// at another capture point: another file, another pcapng interface,
	// or, in Linux cooked captures (tcpdump -i any), another interface
	// index or direction. tcpdump -i any shows a packet once per interface
	// it crosses (veth, bridge). Identical packets at the same point are
	// kept: Linux sends identical RSTs microseconds apart, and a
	// retransmission comes 200 ms later at the earliest.
	KeepDuplicates bool
	// VerifyChecksums sets Decoder.VerifyChecksums: Packet.Checksum is
	// filled for segments captured whole.
	VerifyChecksums bool
	// VXLANPorts are UDP destination ports decoded as VXLAN besides 4789
	// (Linux's default 8472, Flannel, NSX).
	VXLANPorts []uint16
	// Filter, when not nil, keeps only the frames it matches, as tcpdump
	// would (on the outer headers), before anything else is done with
	// them; the rest count in Summary.Filtered.
	Filter *filter.Filter
}

// DuplicateWindow is how close in time two identical TCP packets must be
// to count as one packet captured twice. Linux retransmits after 200 ms at
// the earliest (1 s for a SYN).
const DuplicateWindow = 1_000_000 // ns

// CrossFileWindow is DuplicateWindow for copies in two files: captures
// taken at two points of one path (a client's and the server's), where a
// packet is seen a path delay and the two hosts' clock offset apart.
// Below the 200 ms a retransmission takes at the earliest, so that one is
// never taken for a copy.
const CrossFileWindow = 150_000_000 // ns

// MaxRecordSize is the largest record the Reader accepts: libpcap's
// MAXIMUM_SNAPLEN, which no capture tool exceeds. A larger length in a
// record header means the file is damaged from there on; the Reader stops
// reading it (with a warning) rather than allocate what the header says.
const MaxRecordSize = 262144

// clockStepMin is how far back in time one file's frames must go to be
// the capturing host's clock being set (an NTP step, a VM resumed)
// rather than frames the capture reordered (microseconds to a few
// milliseconds, from several CPUs or NIC queues).
const clockStepMin = int64(100 * time.Millisecond)

// FileSummary describes one input file.
type FileSummary struct {
	Name       string   // as given; StdinDisplay for "-"
	Format     string   // "pcap" or "pcapng"
	Compressed bool     // gzip
	LinkTypes  []string // link type names seen (pcapng: of its interfaces)
	Packets    int64    // frames read from this file
	Snaplen    uint32   // pcap header snap length; pcapng: largest interface snap length
	CutOff     bool     // the file ended mid-record, had a read error, or is damaged
	// Backwards counts frames whose timestamp is earlier than the frame
	// before them in the same file.
	Backwards int64
	// End is the time (ns since the epoch) of the file's latest frame.
	End int64
}

// Summary counts what the Reader saw. Packets = TCPPackets + ICMPErrors +
// Duplicates + NonTCP + Fragments + Truncated + UnsupportedLink + Filtered. Once Next
// has returned io.EOF, TCPPackets + ICMPErrors is the number of packets it
// returned.
type Summary struct {
	Files      []FileSummary
	Packets    int64 // all frames
	TCPPackets int64
	ICMPErrors int64 // ICMP destination-unreachable errors quoting TCP, returned as packets (Packet.ICMP)
	Duplicates int64 // TCP packets captured twice, skipped (see OpenOptions.KeepDuplicates)
	// DuplicatesAcrossFiles counts the Duplicates whose copies were in
	// two files: the files were taken at two points of one path.
	DuplicatesAcrossFiles int64
	NonTCP                int64
	Fragments             int64
	Truncated             int64 // frames cut before the TCP flags, or before the protocol could be told
	UnsupportedLink       int64 // frames on pcapng interfaces with an unsupported link type
	// Filter is the capture filter's expression ("" for none) and
	// Filtered the frames it left out.
	Filter     string
	Filtered   int64
	Backwards  int64 // frames older than the frame before them in the same file
	Start, End int64 // ns since the epoch of the first and last frame (0 if none)
	// Tunnels counts frames per encapsulation kind met (indexed by
	// TunnelKind; a frame in VXLAN inside ERSPAN counts for both), TCP or
	// not, duplicates included. TunnelTooDeep counts frames nested beyond
	// MaxTunnelDepth (or an MPLS stack deeper than 16 labels), which are
	// also in NonTCP.
	Tunnels       [NumTunnelKinds]int64
	TunnelTooDeep int64
	LinkTypes     []string
	Warnings      []string
	// UDPPorts are the UDP destination ports with the most datagrams
	// (not counting tunnels synq decoded), most first, at most
	// MaxUDPPorts: what a capture holds instead of TCP, such as an
	// overlay's underlay on a port synq was not told to decode.
	UDPPorts []UDPPort
}

// UDPPort counts the UDP datagrams to one destination port; VXLANLike of
// them carry a payload that starts like a VXLAN header.
type UDPPort struct {
	Port      uint16
	Packets   int64
	VXLANLike int64
}

// MaxUDPPorts is how many ports Summary.UDPPorts lists; the Reader tallies
// at most udpTallyCap distinct ports.
const (
	MaxUDPPorts = 5
	udpTallyCap = 1024
)

// Reader reads TCP packets from one or more capture files, merged in
// timestamp order. It is not safe for concurrent use, except for BytesRead
// and TotalBytes.
type Reader struct {
	srcs       []*source // all sources, in argument order
	heap       []*source // sources with a pending packet, min-heap on next.Time
	bytesRead  atomic.Int64
	totalBytes int64
	sum        Summary
	warnings   []string
	dups       *dupTable // nil: duplicates kept
	udp        map[uint16]*UDPPort
	// watchEnds: a file stopped while one captured alongside it goes on;
	// the next packet returned says so (Packet.WatchEnds).
	watchEnds bool
	filter    *filter.Filter
	// pending are files not opened yet, by the time of their first TCP
	// packet: a file is opened when the merge reaches that time, so a
	// set of rotated files (tcpdump -G) holds one or two open, not all.
	pending []pendingFile
	opts    OpenOptions
}

// pendingFile is a file whose first TCP packet is at first: opened then.
type pendingFile struct {
	idx   int
	name  string
	first int64
}

// source is one input file.
type source struct {
	idx     int
	name    string
	rc      io.ReadCloser  // nil for stdin (not ours to close)
	br      *bufio.Reader  // pcap records are read from it (pcapread.go), pcapng blocks by pcapgo
	pcap    *pcapgo.Reader // read the file header; nil for pcapng
	tsUnit  uint32         // pcap: nanoseconds per unit of a timestamp's fraction (1000 or 1)
	big     []byte         // pcap: for records longer than br's buffer, once there is one
	win     []byte         // pcap: what br held when last peeked at (see readPcapRecord)
	winOff  int            // pcap: bytes of win handed out, not yet discarded from br
	ng      *pcapgo.NgReader
	lt      layers.LinkType // pcap only
	dec     *Decoder
	next    Packet // decoded next TCP packet, valid while in the heap
	nextID  dupKey // of next, for duplicate detection
	nextAt  uint64 // where next was captured: file, pcapng interface, cooked header
	done    bool
	order   binary.ByteOrder // pcap: of record headers; pcapng: of the current section
	lastTS  int64            // timestamp of the previous frame
	maxBack int64            // largest step back in time, ns
	fs      FileSummary
	ngIfs   int // interfaces of the current pcapng section already looked at
	okLink  bool
	unsup   map[layers.LinkType]int64 // frames per unsupported link type
	// stoppedEarly: the file ended while one captured alongside it went
	// on (Packet.WatchEnds).
	stoppedEarly bool

	// clockShift is added to every later frame's timestamp once the
	// clock was set back (clockStepMin): clockSteps times, by up to
	// maxStep. stepPending: the next TCP packet is the first after a
	// step (Packet.ClockStep).
	clockShift, maxStep int64
	clockSteps          int
	stepPending         bool
}

// countingReader counts bytes read from the underlying (compressed) file.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Open opens the named captures ("-" is standard input, at most once),
// reads their headers and first packets, and returns a Reader that merges
// them in time order. A missing file's error satisfies
// errors.Is(err, fs.ErrNotExist); input that is not a capture wraps
// ErrNotCapture; a capture on a link type the Decoder does not handle wraps
// ErrUnsupportedLinkType.
func Open(names []string, opts OpenOptions) (*Reader, error) {
	if len(names) == 0 {
		return nil, errors.New("no capture files given")
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Open == nil {
		opts.Open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	if opts.Probe == nil {
		opts.Probe = opts.Open
	}
	r := &Reader{filter: opts.Filter, opts: opts}
	r.sum.Filter = opts.Filter.String()
	if !opts.KeepDuplicates {
		r.dups = new(dupTable)
	}
	stdin := false
	for i, name := range names {
		if name == StdinName {
			if stdin {
				r.Close()
				return nil, errors.New("standard input (-) given more than once")
			}
			stdin = true
		}
		if len(names) > 1 && name != StdinName {
			// Look at the file now (a bad one fails Open, as it would
			// open), but open it for reading when the merge gets there.
			first, size, hasTCP, err := r.probe(i, name)
			if err != nil {
				r.Close()
				return nil, err
			}
			if hasTCP {
				r.totalBytes += size
				r.srcs = append(r.srcs, &source{idx: i, name: name, fs: FileSummary{Name: name}})
				r.pending = append(r.pending, pendingFile{i, name, first})
				continue
			}
			// No TCP in it: read it through now, for its counts.
		}
		s, err := r.openSource(i, name, opts)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.srcs = append(r.srcs, s)
		if err := r.advance(s, true); err != nil {
			r.Close()
			return nil, err
		}
		if !s.done {
			r.push(s)
		}
	}
	slices.SortStableFunc(r.pending, func(a, b pendingFile) int { return cmp.Compare(a.first, b.first) })
	if len(r.srcs) == 1 && r.srcs[0].pcap != nil && !cookedLink(r.srcs[0].lt) {
		// One classic pcap on a link type that does not say where a frame
		// was captured has one capture point, and identical packets at
		// the same point are real: there is nothing to look up.
		r.dups = nil
	}
	return r, nil
}

// cookedLink reports whether frames of link type lt say on which interface
// and in which direction they were captured.
func cookedLink(lt layers.LinkType) bool {
	return lt == layers.LinkTypeLinuxSLL || lt == layers.LinkTypeLinuxSLL2
}

// probe opens a file as Open would and reads up to its first TCP packet,
// with counts of its own, and closes it: the time of that packet, the
// file's size, and whether it has one.
func (r *Reader) probe(idx int, name string) (first, size int64, hasTCP bool, err error) {
	pr := &Reader{filter: r.filter}
	opts := r.opts
	opts.Open = opts.Probe
	s, err := pr.openSource(idx, name, opts)
	if err != nil {
		return 0, 0, false, err
	}
	defer pr.finish(s, nil)
	if err := pr.advance(s, true); err != nil {
		return 0, 0, false, err
	}
	return s.next.Time, pr.totalBytes, !s.done, nil
}

// openDue opens the pending files whose first TCP packet comes before the
// next one the merge would hand out. A file that cannot be opened now
// (removed since Open) ends the reading with its error.
func (r *Reader) openDue() error {
	for len(r.pending) > 0 && (len(r.heap) == 0 || r.pending[0].first <= r.heap[0].next.Time) {
		f := r.pending[0]
		r.pending = r.pending[1:]
		counted := r.totalBytes // the probe counted the file's size
		s, err := r.openSource(f.idx, f.name, r.opts)
		r.totalBytes = counted
		if err != nil {
			return err
		}
		r.srcs[f.idx] = s
		if err := r.advance(s, true); err != nil {
			r.finish(s, nil)
			return err
		}
		if !s.done {
			r.push(s)
		}
	}
	return nil
}

func (r *Reader) openSource(idx int, name string, opts OpenOptions) (*source, error) {
	s := &source{idx: idx, name: name, dec: NewDecoder()}
	s.dec.VerifyChecksums = opts.VerifyChecksums
	s.dec.SetVXLANPorts(opts.VXLANPorts)
	var in io.Reader
	if name == StdinName {
		s.name = StdinDisplay
		in = opts.Stdin
	} else {
		rc, err := opts.Open(name)
		if err != nil {
			return nil, err // *fs.PathError already names the file
		}
		s.rc = rc
		in = rc
		if st, ok := rc.(interface{ Stat() (fs.FileInfo, error) }); ok {
			if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
				r.totalBytes += fi.Size()
			}
		}
	}
	s.fs.Name = s.name
	fail := func(err error) (*source, error) {
		if s.rc != nil {
			s.rc.Close()
		}
		return nil, err
	}

	br := bufio.NewReaderSize(&countingReader{r: in, n: &r.bytesRead}, readBufSize)
	magic, err := peekMagic(br)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", s.name, err))
	}
	if len(magic) == 0 {
		return fail(fmt.Errorf("%s: %w (empty file)", s.name, ErrNotCapture))
	}
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fail(fmt.Errorf("%s: %w (bad gzip header: %v)", s.name, ErrNotCapture, err))
		}
		gz.Multistream(true)
		s.fs.Compressed = true
		br = bufio.NewReaderSize(gz, readBufSize)
		if magic, err = peekMagic(br); err != nil {
			return fail(fmt.Errorf("%s: reading gzip data: %w", s.name, err))
		}
		if len(magic) == 0 {
			return fail(fmt.Errorf("%s: %w (empty file after gunzip)", s.name, ErrNotCapture))
		}
	}

	s.br = br
	switch {
	case isPcapMagic(magic):
		s.fs.Format = "pcap"
		// pcapgo wraps br in a bufio.Reader of its own, which NewReaderSize
		// returns unchanged as br is big enough: it reads the file header
		// out of br, not ahead of it, and leaves br at the first record,
		// where readPcapRecord takes over. It sniffs gzip again too, which
		// cannot match here.
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return fail(fmt.Errorf("%s: reading pcap header: %w", s.name, noEOF(err)))
		}
		s.pcap, s.lt = pr, pr.LinkType()
		s.tsUnit = 1
		if pr.Resolution() == gopacket.TimestampResolutionMicrosecond {
			s.tsUnit = 1000
		}
		s.order = binary.LittleEndian
		if magic[0] == 0xa1 {
			s.order = binary.BigEndian
		}
		s.fs.Snaplen = pr.Snaplen()
		s.fs.LinkTypes = []string{LinkTypeName(s.lt)}
		if err := checkLinkType(s.lt); err != nil {
			return fail(fmt.Errorf("%s: %w", s.name, err))
		}
		s.okLink = true
	case len(magic) >= 4 && string(magic[:4]) == "\x0a\x0d\x0d\x0a":
		s.fs.Format = "pcapng"
		nr, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{
			WantMixedLinkType:  true,
			SkipUnknownVersion: true,
			// A new section restarts interface numbering: look at its
			// interfaces afresh.
			SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { s.ngIfs = 0 },
		})
		if err != nil {
			return fail(fmt.Errorf("%s: reading pcapng section header: %w", s.name, noEOF(err)))
		}
		s.ng = nr
		s.order = binary.LittleEndian
		if b, _ := br.Peek(12); len(b) == 12 && binary.BigEndian.Uint32(b[8:]) == ngByteOrderMagic {
			s.order = binary.BigEndian
		}
	default:
		return fail(fmt.Errorf("%s: %w (starts with %q%s)", s.name, ErrNotCapture, magic, looksLike(magic)))
	}
	return s, nil
}

// peekMagic returns up to the first 8 bytes of br (fewer only at its end).
func peekMagic(br *bufio.Reader) ([]byte, error) {
	b, err := br.Peek(8)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// looksLike names a few common kinds of file by their first bytes, for
// the error about a file that is not a capture.
func looksLike(m []byte) string {
	for _, k := range []struct{ magic, name string }{
		{"\x89PNG", "a PNG image"}, {"\xff\xd8\xff", "a JPEG image"}, {"GIF8", "a GIF image"},
		{"%PDF", "a PDF document"}, {"PK\x03\x04", "a zip archive"}, {"\x7fELF", "an ELF executable"},
		{"BZh", "bzip2-compressed"}, {"\xfd7zXZ", "xz-compressed"}, {"\x28\xb5\x2f\xfd", "zstd-compressed"},
	} {
		if bytes.HasPrefix(m, []byte(k.magic)) {
			return ": " + k.name
		}
	}
	for _, c := range m {
		if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x7f {
			return ""
		}
	}
	return ": text"
}

func isPcapMagic(m []byte) bool {
	if len(m) < 4 {
		return false
	}
	switch string(m[:4]) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", // microseconds, LE and BE
		"\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d": // nanoseconds, LE and BE
		return true
	}
	return false
}

// noEOF turns an EOF inside a header into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// advance reads frames of s until one decodes as TCP (into s.next) or the
// file ends (s.done). Only while opening (strict) does it fail, for a pcapng
// whose frames are all on unsupported link types.
func (r *Reader) advance(s *source, strict bool) error {
	for !s.done {
		var (
			data []byte
			ci   gopacket.CaptureInfo
			err  error
			lt   layers.LinkType
		)
		if s.pcap != nil {
			data, err = s.readPcapRecord(&ci)
			lt = s.lt
		} else {
			if err := s.checkNgBlocks(); err != nil {
				r.finish(s, err)
				return nil
			}
			data, ci, err = s.ng.ZeroCopyReadPacketData()
			if err == nil && ci.CaptureLength > MaxRecordSize {
				// A simple packet block, or one checkNgBlocks could not see.
				err = errRecordSize(s.fs.Packets+1, ci.CaptureLength)
			}
			if err == nil {
				if n := s.ng.NInterfaces(); n != s.ngIfs || ci.InterfaceIndex >= n {
					r.ngInterfaces(s)
				}
				lt = ci.AncillaryData[0].(layers.LinkType)
			}
		}
		if err != nil {
			r.finish(s, err)
			return nil
		}
		ts := ci.Timestamp.UnixNano() + s.clockShift
		if s.fs.Packets > 0 && ts < s.lastTS {
			if back := s.lastTS - ts; back >= clockStepMin {
				// The clock was set, time did not run back: later
				// frames move forward to follow on. In file order
				// the attempts in flight got negative intervals,
				// and one TCP_DEFER_ACCEPT run became an accept
				// queue overflow.
				s.clockShift += back
				ts = s.lastTS
				s.clockSteps++
				s.stepPending = true
				s.maxStep = max(s.maxStep, back)
			} else {
				s.fs.Backwards++
				r.sum.Backwards++
				s.maxBack = max(s.maxBack, back)
			}
		}
		s.lastTS = ts
		r.sum.Packets++
		s.fs.Packets++
		s.fs.End = max(s.fs.End, ts)
		if r.sum.Packets == 1 || ts < r.sum.Start {
			r.sum.Start = ts
		}
		if r.sum.Packets == 1 || ts > r.sum.End {
			r.sum.End = ts
		}
		if r.filter != nil && !r.filter.Match(lt, data) {
			r.sum.Filtered++
			continue
		}
		kind := s.dec.Decode(lt, data, ts, &s.next)
		if s.dec.tun.Kinds != 0 || s.dec.tooDeep {
			r.countTunnel(s.dec)
		}
		switch kind {
		case KindTCP, KindICMPError:
			if kind == KindTCP {
				r.sum.TCPPackets++
			} else {
				r.sum.ICMPErrors++
			}
			s.next.ClockStep, s.stepPending = s.stepPending, false
			if r.dups != nil {
				s.nextID = makeDupKey(&s.next, s.dec.ipID)
				s.nextAt = uint64(s.idx)<<whereFileShift | (uint64(ci.InterfaceIndex)<<41^s.dec.where)&(1<<whereFileShift-1)
			}
			return nil
		case KindNonTCP:
			r.sum.NonTCP++
			if s.dec.udpDst != 0 {
				r.tallyUDP(s.dec.udpDst, s.dec.udpVXLAN)
			}
		case KindFragment:
			r.sum.Fragments++
		case KindTruncated:
			r.sum.Truncated++
		case KindUnsupportedLink:
			if strict && !s.okLink {
				r.finish(s, nil)
				return fmt.Errorf("%s: %w", s.name, checkLinkType(lt))
			}
			r.sum.UnsupportedLink++
			if s.unsup == nil {
				s.unsup = make(map[layers.LinkType]int64)
			}
			s.unsup[lt]++
		}
	}
	return nil
}

func (r *Reader) tallyUDP(port uint16, vxlan bool) {
	t, ok := r.udp[port]
	if !ok {
		if len(r.udp) >= udpTallyCap {
			return
		}
		if r.udp == nil {
			r.udp = make(map[uint16]*UDPPort)
		}
		t = &UDPPort{Port: port}
		r.udp[port] = t
	}
	t.Packets++
	if vxlan {
		t.VXLANLike++
	}
}

// topUDP lists the ports with the most datagrams, most first.
func (r *Reader) topUDP() []UDPPort {
	out := make([]UDPPort, 0, len(r.udp))
	for _, t := range r.udp {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b UDPPort) int { return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Port, b.Port)) })
	return out[:min(len(out), MaxUDPPorts)]
}

func (r *Reader) countTunnel(d *Decoder) {
	for k := TunnelKind(1); k < NumTunnelKinds; k++ {
		if d.tun.Kinds.Has(k) {
			r.sum.Tunnels[k]++
		}
	}
	if d.tooDeep {
		r.sum.TunnelTooDeep++
	}
}

// ngInterfaces records the link types of the current pcapng section's
// interfaces (a new section restarts the list).
func (r *Reader) ngInterfaces(s *source) {
	n := s.ng.NInterfaces()
	for i := s.ngIfs; i < n; i++ {
		ifc, err := s.ng.Interface(i)
		if err != nil {
			continue
		}
		name := LinkTypeName(ifc.LinkType)
		found := false
		for _, have := range s.fs.LinkTypes {
			found = found || have == name
		}
		if !found {
			s.fs.LinkTypes = append(s.fs.LinkTypes, name)
		}
		if SupportedLinkType(ifc.LinkType) {
			s.okLink = true
		}
		s.fs.Snaplen = max(s.fs.Snaplen, ifc.SnapLength)
	}
	s.ngIfs = n
}

// finish ends s after err (io.EOF: the normal end) and closes its file.
func (r *Reader) finish(s *source, err error) {
	s.done = true
	if err != nil && err != io.EOF {
		s.fs.CutOff = true
		r.warnings = append(r.warnings,
			fmt.Sprintf("%s: capture cut off after %d packets (%v)", s.name, s.fs.Packets, err))
	}
	if s.rc != nil {
		s.rc.Close()
		s.rc = nil
	}
	// What reading needed goes: a set of many files holds only the
	// summaries of those read.
	s.br, s.dec, s.big, s.win, s.ng, s.pcap = nil, nil, nil, nil, nil, nil
}

// Next fills p with the next TCP packet or ICMP error quoting TCP
// (p.ICMP set), in timestamp order across all files, and returns io.EOF
// after the last one. Other frames are skipped and counted in Summary.
func (r *Reader) Next(p *Packet) error {
	for {
		if len(r.pending) > 0 {
			if err := r.openDue(); err != nil {
				r.pending = nil
				return err
			}
		}
		if len(r.heap) == 0 {
			return io.EOF
		}
		s := r.heap[0]
		*p = s.next
		key, at := s.nextID, s.nextAt
		r.advance(s, false)
		if s.done {
			last := len(r.heap) - 1
			r.heap[0] = r.heap[last]
			r.heap[last] = nil
			r.heap = r.heap[:last]
			// Files still open began before this one ended: captured
			// alongside it. With none waiting to begin after it, none
			// goes on where it stopped (as a rotated file's successor
			// does), so its connections are seen no more.
			if len(r.heap) > 0 && len(r.pending) == 0 {
				r.watchEnds, s.stoppedEarly = true, true
			}
		}
		if len(r.heap) > 1 {
			r.down(0)
		}
		if r.dups != nil {
			if dup, across := r.dups.seen(key, at, p.Time); dup {
				if p.ICMP.IsSet() {
					r.sum.ICMPErrors--
				} else {
					r.sum.TCPPackets--
				}
				r.sum.Duplicates++
				if across {
					r.sum.DuplicatesAcrossFiles++
				}
				continue
			}
		}
		if r.watchEnds {
			p.WatchEnds, r.watchEnds = true, false
		}
		return nil
	}
}

// less orders sources by their next packet's time, then by argument order
// so equal timestamps come out in a stable order.
func (r *Reader) less(i, j int) bool {
	a, b := r.heap[i], r.heap[j]
	if a.next.Time != b.next.Time {
		return a.next.Time < b.next.Time
	}
	return a.idx < b.idx
}

func (r *Reader) push(s *source) {
	r.heap = append(r.heap, s)
	for j := len(r.heap) - 1; j > 0; {
		i := (j - 1) / 2
		if !r.less(j, i) {
			break
		}
		r.heap[i], r.heap[j] = r.heap[j], r.heap[i]
		j = i
	}
}

func (r *Reader) down(i int) {
	n := len(r.heap)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if k := j + 1; k < n && r.less(k, j) {
			j = k
		}
		if !r.less(j, i) {
			return
		}
		r.heap[i], r.heap[j] = r.heap[j], r.heap[i]
		i = j
	}
}

// Summary returns what was read so far (everything, after Next returned
// io.EOF). The result shares no memory with the Reader.
func (r *Reader) Summary() Summary {
	s := r.sum
	s.UDPPorts = r.topUDP()
	s.Files = make([]FileSummary, len(r.srcs))
	lts := map[string]bool{}
	s.Warnings = append([]string(nil), r.warnings...)
	for i, src := range r.srcs {
		f := src.fs
		f.LinkTypes = append([]string(nil), f.LinkTypes...)
		s.Files[i] = f
		for _, lt := range f.LinkTypes {
			lts[lt] = true
		}
		unsup := make([]layers.LinkType, 0, len(src.unsup))
		for lt := range src.unsup {
			unsup = append(unsup, lt)
		}
		sort.Slice(unsup, func(i, j int) bool { return unsup[i] < unsup[j] })
		for _, lt := range unsup {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s: skipped %d frames: %v",
				src.name, src.unsup[lt], checkLinkType(lt)))
		}
		if f.Backwards > 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s: timestamps went backwards %d times (by up to %v); packets are analysed in file order there",
				src.name, f.Backwards, time.Duration(src.maxBack)))
		}
		if src.clockSteps > 0 {
			s.Warnings = append(s.Warnings, prose.Sayf("%s: the clock was set back %d time{s} during the capture (by up to %s: an NTP step, a VM resumed); the packets after each step are moved forward to follow on, so their times show late by as much",
				src.name, src.clockSteps, time.Duration(src.maxStep).String()))
		}
	}
	s.Warnings = append(s.Warnings, stoppedEarly(r.srcs)...)
	if s.TunnelTooDeep > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("skipped %d frames nested in more than %d tunnels (or more than %d MPLS labels)",
			s.TunnelTooDeep, MaxTunnelDepth, maxMPLSLabels))
	}
	if s.Truncated > 0 {
		s.Warnings = append(s.Warnings, truncatedWarning(s.Truncated, s.MinSnaplen()))
	}
	if n := s.Duplicates - s.DuplicatesAcrossFiles; n > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("skipped %d duplicate TCP packets: the same packet captured twice within %v (tcpdump -i any sees a packet on each interface it crosses)",
			n, time.Duration(DuplicateWindow)))
	}
	if n := s.DuplicatesAcrossFiles; n > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("skipped %d TCP packets found in two of the files within %v of each other: the files were captured at two points of one path (a client's and the server's, say), and each packet counts once, at the point that saw it first; the gaps between packets then mix the two points' clocks: for the server's own timing, analyze its file alone",
			n, time.Duration(CrossFileWindow)))
	}
	for lt := range lts {
		s.LinkTypes = append(s.LinkTypes, lt)
	}
	sort.Strings(s.LinkTypes)
	return s
}

// MinSnaplen is the smallest snap length of the files (0 if none says).
func (s *Summary) MinSnaplen() uint32 {
	var m uint32
	for _, f := range s.Files {
		if f.Snaplen > 0 && (m == 0 || f.Snaplen < m) {
			m = f.Snaplen
		}
	}
	return m
}

// ShortSnaplen says whether a snap length is what cut frames before their
// TCP header, rather than damage: under LiveSnaplen, which holds the
// headers of every frame synq decodes.
func ShortSnaplen(snap uint32) bool { return snap > 0 && snap < LiveSnaplen }

// truncatedWarning says why n frames could not be read, and what to do
// about it: a snap length too short for IPv6, VLAN tags or tunnels
// (tcpdump -s 64 keeps an IPv4 TCP header, not an IPv6 one).
func truncatedWarning(n int64, snap uint32) string {
	if ShortSnaplen(snap) {
		return fmt.Sprintf("skipped %d frames cut before their TCP header by the snap length (%d bytes kept of each; IPv6, VLAN tags and tunnels put the TCP header further in): capture with tcpdump -s 128 or more", n, snap)
	}
	return fmt.Sprintf("skipped %d frames cut before their TCP header: shorter than their own headers say (damaged, or cut by the device that captured them)", n)
}

// BytesRead is the number of bytes read from the files so far (compressed
// bytes for gzip files; read-ahead buffering included). Safe to call from
// another goroutine.
func (r *Reader) BytesRead() int64 { return r.bytesRead.Load() }

// TotalBytes is the sum of the sizes of the regular files opened (0 for
// standard input and pipes), to set against BytesRead.
func (r *Reader) TotalBytes() int64 { return r.totalBytes }

// Close closes all files still open. The Reader is done after Close.
func (r *Reader) Close() error {
	var first error
	for _, s := range r.srcs {
		if s.rc != nil {
			if err := s.rc.Close(); err != nil && first == nil {
				first = err
			}
			s.rc = nil
		}
		s.done = true
	}
	r.heap = nil
	return first
}

// stoppedEarly warns of the files that stopped while a file captured
// alongside them went on (Packet.WatchEnds), by 3 s or more (the time in
// which an attempt's fate shows: SYN and SYN-ACK retransmissions). The
// tracker judges their last attempts as at the end of a capture, but what
// their connections did after is not in the capture.
func stoppedEarly(srcs []*source) []string {
	var ws []string
	for _, a := range srcs {
		if !a.stoppedEarly {
			continue
		}
		var longest *source
		for _, b := range srcs {
			if b != a && b.fs.Packets > 0 && (longest == nil || b.fs.End > longest.fs.End) {
				longest = b
			}
		}
		if longest == nil || time.Duration(longest.fs.End-a.fs.End) < 3*time.Second {
			continue
		}
		ws = append(ws, fmt.Sprintf("%s stopped %v before %s, which was captured alongside it: what the connections it saw did after that is not in the capture, and their attempts of its last seconds are judged as at the end of a capture",
			a.name, time.Duration(longest.fs.End-a.fs.End).Round(time.Second), longest.name))
	}
	return ws
}
