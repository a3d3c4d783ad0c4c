package live

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/bundle"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/synth"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/reassemble"
)

// fakeClock is the session's clock in tests; the sampler goroutine reads
// it too.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t int64)         { c.ns.Store(t) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// fakeSource plays packets on the fake clock as a capture would: Next
// returns the next packet if it comes within the poll timeout (the clock
// jumps to it), else moves the clock on by the timeout.
type fakeSource struct {
	clock  *fakeClock
	pkts   []capture.Packet
	frames [][]byte
	i      int
	sum    capture.Summary
}

const fakePoll = 100 * time.Millisecond

func newFakeSource(t *testing.T, clock *fakeClock, pkts []capture.Packet) *fakeSource {
	t.Helper()
	s := &fakeSource{clock: clock, pkts: pkts}
	buf := gopacket.NewSerializeBuffer()
	for i := range pkts {
		f, err := synth.Frame(buf, &pkts[i])
		if err != nil {
			t.Fatal(err)
		}
		s.frames = append(s.frames, append([]byte(nil), f...))
	}
	return s
}

func (s *fakeSource) Next(p *capture.Packet) (capture.Kind, error) {
	now := s.clock.ns.Load()
	if s.i < len(s.pkts) && s.pkts[s.i].Time <= now+int64(fakePoll) {
		*p = s.pkts[s.i]
		s.clock.set(max(now, p.Time))
		s.i++
		if s.sum.Start == 0 {
			s.sum.Start = p.Time
		}
		s.sum.End = p.Time
		s.sum.Packets++
		s.sum.TCPPackets++
		return capture.KindTCP, nil
	}
	s.clock.add(fakePoll)
	return 0, capture.ErrLiveTimeout
}

func (s *fakeSource) Frame() ([]byte, gopacket.CaptureInfo) {
	f := s.frames[s.i-1]
	return f, gopacket.CaptureInfo{Timestamp: time.Unix(0, s.pkts[s.i-1].Time), CaptureLength: len(f), Length: len(f)}
}
func (s *fakeSource) LinkType() layers.LinkType             { return layers.LinkTypeEthernet }
func (s *fakeSource) Snaplen() uint32                       { return capture.LiveSnaplen }
func (s *fakeSource) RingStats() (capture.RingStats, error) { return capture.RingStats{}, nil }
func (s *fakeSource) Summary() capture.Summary              { return s.sum }
func (s *fakeSource) Close() error                          { return nil }

// noQueues is a sampler that sees no listening socket.
type noQueues struct{}

func (noQueues) Sample(int64) ([]host.QueueSample, error) { return nil, nil }
func (noQueues) Close() error                             { return nil }

// procNet is a /proc/net with the counter files of a real kernel.
func procNet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"netstat", "snmp"} {
		b, err := os.ReadFile(filepath.Join("..", "host", "testdata", f+"-6.18.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeConfig is a session on src, starting at synth.Base, of d.
func fakeConfig(t *testing.T, clock *fakeClock, src source, d time.Duration) Config {
	clock.set(synth.Base)
	return Config{Interface: "eth0", Ports: []uint16{80}, Interval: time.Second, Duration: d,
		ProcNet: procNet(t), ProcSys: t.TempDir(), Now: clock.now, Version: "test",
		openSource:  func(capture.LiveOptions) (source, error) { return src, nil },
		openSampler: func([]uint16) (sampler, error) { return noQueues{}, nil }}
}

// TestDropsCountedAsTheyHappen: each interval counts the SYNs and
// handshake ACKs that became known dropped (ignored) in it, not when
// their attempts finish; over the run they add up to the report's
// totals, but for the SYN still waiting for its answer at the end.
func TestDropsCountedAsTheyHappen(t *testing.T) {
	pkts := synth.MustScript(`
		# A SYN retransmitted twice, never answered: the first drop is
		# known when the first retransmission comes (1.2 s), the last
		# when it has waited AnswerWindow (4.2 s).
		0.2 c S from=10.0.0.1:40000
		1.2 c S from=10.0.0.1:40000
		3.2 c S from=10.0.0.1:40000
		# A handshake ACK ignored at a full accept queue: the SYN-ACK
		# retransmission shows it (1.301 s); the client's ACK of that
		# one is known ignored at the next retransmission (3.301 s) and
		# the last ACK once it has waited AnswerWindow (4.302 s).
		0.3 c S from=10.0.0.3:40001
		0.301 s S. from=10.0.0.3:40001
		0.302 c . from=10.0.0.3:40001
		1.301 s S. from=10.0.0.3:40001
		1.302 c . from=10.0.0.3:40001
		3.301 s S. from=10.0.0.3:40001
		3.302 c . from=10.0.0.3:40001
		# A healthy connection.
		0.5 c S from=10.0.0.4:40002
		0.501 s S. from=10.0.0.4:40002
		0.502 c . from=10.0.0.4:40002
		0.503 c P. len=10 from=10.0.0.4:40002
		0.504 s P. len=10 ack=1011 from=10.0.0.4:40002
		# A SYN 0.5 s before the end: not dropped yet in any interval;
		# the report, judging at the end, counts it.
		7.5 c S from=10.0.0.5:40003`)
	sortByTime(pkts)
	clock := &fakeClock{}
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, pkts), 8*time.Second)
	var syns, ignored []int
	finished := 0
	cfg.OnAttempt = func(*reassemble.Attempt) { finished++ }
	cfg.OnInterval = func(iv Interval) error {
		s, ig := 0, 0
		for _, r := range iv.Rows {
			s += r.DroppedSYNs
			ig += r.IgnoredACKs
		}
		syns, ignored = append(syns, s), append(ignored, ig)
		return nil
	}
	in, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantSYNs := []int{0, 1, 1, 0, 1, 0, 0, 0}
	wantIgnored := []int{0, 1, 1, 0, 1, 0, 0, 0}
	if fmt.Sprint(syns) != fmt.Sprint(wantSYNs) || fmt.Sprint(ignored) != fmt.Sprint(wantIgnored) {
		t.Errorf("per interval: dropped SYNs %v, ignored ACKs %v; want %v and %v", syns, ignored, wantSYNs, wantIgnored)
	}
	if len(in.Result.Listeners) != 1 {
		t.Fatalf("listeners: %+v", in.Result.Listeners)
	}
	l := in.Result.Listeners[0]
	// The report judges at the end: the last SYN (7.5 s) counts there.
	if l.DroppedSYNPackets != sum(syns)+1 || l.IgnoredACKSegments != sum(ignored) {
		t.Errorf("report: %d dropped SYNs, %d ignored segments; intervals %d and %d (want the SYNs one more: the one still waiting)",
			l.DroppedSYNPackets, l.IgnoredACKSegments, sum(syns), sum(ignored))
	}
	if finished != 4 || in.Live == nil || len(in.Live.Counters) != 9 {
		t.Errorf("%d attempts finished (want 4), live evidence %+v", finished, in.Live)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func sortByTime(p []capture.Packet) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Time < p[j-1].Time; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// TestDropsCountedOnce: a SYN judged dropped that is answered late
// after all lowers the listener's total; the intervals keep to its
// highest, so no drop is counted twice.
func TestDropsCountedOnce(t *testing.T) {
	srv := synth.Server
	b := newBook()
	a := &reassemble.Attempt{Handshake: reassemble.Handshake{Server: srv, DroppedSYNs: 1, LastSYN: 0}}
	b.inFlight(a, reassemble.Unsettled{SYN: true}, int64(2*time.Second))
	if got := b.take(); len(got) != 1 || got[0].DroppedSYNs != 1 {
		t.Fatalf("first interval: %+v, want 1 dropped SYN", got)
	}
	// Answered late: nothing dropped in flight now.
	a.DroppedSYNs = 0
	b.inFlight(a, reassemble.Unsettled{}, int64(3*time.Second))
	if got := b.take(); got[0].DroppedSYNs != 0 {
		t.Fatalf("second interval: %+v, want 0", got)
	}
	// Another SYN dropped, and the attempt finishes with it: the total
	// is back to 1, which was counted already.
	a.DroppedSYNs = 1
	b.finished(a)
	if got := b.take(); got[0].DroppedSYNs != 0 {
		t.Errorf("third interval: %+v, want 0: the total never rose above what was counted", got)
	}
	b.finished(&reassemble.Attempt{Handshake: reassemble.Handshake{Server: srv, DroppedSYNs: 2}})
	if got := b.take(); got[0].DroppedSYNs != 2 {
		t.Errorf("fourth interval: %+v, want 2", got)
	}
}

// TestIntervalVerdictFromRecentQueues: the per-interval verdict reads the
// queue samples of the verdict window. An accept queue sampled above its
// limit in the window is decisive at once, while no attempt has finished;
// one full only before the window says nothing about now.
func TestIntervalVerdictFromRecentQueues(t *testing.T) {
	// Three handshakes completed and waiting for accept(); two SYNs
	// with no answer yet.
	pkts := synth.MustScript(`
		0 c S from=10.0.0.1:1
		0.001 s S. from=10.0.0.1:1
		0.002 c . from=10.0.0.1:1
		0.01 c S from=10.0.0.2:2
		0.011 s S. from=10.0.0.2:2
		0.012 c . from=10.0.0.2:2
		0.02 c S from=10.0.0.3:3
		0.021 s S. from=10.0.0.3:3
		0.022 c . from=10.0.0.3:3
		0.03 c S from=10.0.0.4:4
		0.04 c S from=10.0.0.5:5`)
	now := synth.Base + int64(30*time.Second)
	full := func(at time.Duration) host.QueueSample {
		return host.QueueSample{Time: synth.Base + int64(at), Listener: netip.MustParseAddrPort("0.0.0.0:80"), AcceptQueue: 3, AcceptLimit: 2}
	}
	notFull := func(at time.Duration) host.QueueSample {
		s := full(at)
		s.AcceptQueue = 1
		return s
	}
	for _, tc := range []struct {
		name   string
		pkts   []capture.Packet
		queues []host.QueueSample
		want   analyze.Kind
		not    bool
	}{
		{"full in the window", pkts, []host.QueueSample{notFull(time.Second), full(29 * time.Second)}, analyze.KindAcceptQueue, false},
		{"full only before the window", pkts, []host.QueueSample{full(time.Second), notFull(29 * time.Second)}, analyze.KindAcceptQueue, true},
		{"not sampled", pkts, nil, analyze.KindAcceptQueue, true},
		// Filled before the capture started: only SYNs with no answer.
		{"full, SYNs only", pkts[len(pkts)-2:], []host.QueueSample{full(29 * time.Second)}, analyze.KindAcceptQueue, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessionForIntervals()
			for _, q := range tc.queues {
				s.queues.Add(q.Time, []host.QueueSample{q})
			}
			s.tr = reassemble.NewTracker(reassemble.Config{}, func(*reassemble.Attempt) { t.Fatal("no attempt should finish") })
			// The handshakes happened just now, inside the window.
			v := s.verdictAt(t, tc.pkts, now-int64(time.Second), now)
			t.Logf("verdict %s", v.Kind)
			if (v.Kind == tc.want) == tc.not {
				t.Errorf("verdict %s; want %s%s", v.Kind, map[bool]string{true: "anything but "}[tc.not], tc.want)
			}
		})
	}
}

// TestRunBundle: with Dir, every frame reaches the bundle's capture in
// order (several chunks of them), and every interval's counter sample.
func TestRunBundle(t *testing.T) {
	var script strings.Builder
	const attempts = 12_000 // 36,000 frames: more than one chunk
	for i := range attempts {
		at := 0.05 + float64(i)*0.0005
		from := fmt.Sprintf("from=10.1.%d.%d:%d", i/250, i%250, 1024+i%60000)
		fmt.Fprintf(&script, "%.6f c S %s\n%.6f s S. %s\n%.6f c R seq=1001 %s\n", at, from, at+0.0001, from, at+0.0002, from)
	}
	pkts := synth.MustScript(script.String())
	clock := &fakeClock{}
	src := newFakeSource(t, clock, pkts)
	cfg := fakeConfig(t, clock, src, 7*time.Second)
	cfg.Dir = filepath.Join(t.TempDir(), "bundle")
	in, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Result.Attempts; got != attempts {
		t.Errorf("%d attempts in the report, want %d", got, attempts)
	}
	got := readFrames(t, filepath.Join(cfg.Dir, "capture.pcap"))
	if len(got) != len(pkts) {
		t.Fatalf("bundle holds %d frames, want %d", len(got), len(pkts))
	}
	for i := range got {
		if got[i].t != pkts[i].Time || string(got[i].data) != string(src.frames[i]) {
			t.Fatalf("frame %d differs: at %d, want %d", i, got[i].t, pkts[i].Time)
		}
	}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, "counters.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != len(in.Live.Counters) {
		t.Errorf("counters.jsonl: %d samples, the report %d", n, len(in.Live.Counters))
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "manifest.json")); err != nil {
		t.Errorf("no manifest: %v", err)
	}
}

// TestRunBundleWriteError: a bundle that cannot be written ends the run
// with an output error, found by the writer's goroutine and reported at
// the next interval (or at the end).
func TestRunBundleWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	pkts := synth.MustScript(`
		0.1 c S
		0.2 s S.
		0.3 c .`)
	clock := &fakeClock{}
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, pkts), 5*time.Second)
	cfg.Dir = t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(cfg.Dir, "capture.pcap")); err != nil {
		t.Fatal(err)
	}
	intervals := 0
	cfg.OnInterval = func(Interval) error {
		intervals++
		// The fake clock runs the intervals back to back: give the
		// writer the time a real interval would.
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	_, err := Run(context.Background(), cfg)
	if KindOf(err) != KindOutput || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v (kind %v), want an output error: no space left on device", err, KindOf(err))
	}
	if intervals > 2 {
		t.Errorf("the error came after %d intervals: it should at the next one", intervals)
	}
}

type frame struct {
	t    int64
	data []byte
}

func readFrames(t *testing.T, path string) []frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		out = append(out, frame{t: ci.Timestamp.UnixNano(), data: data})
	}
	return out
}

// TestBundlePacketAllocs: copying a frame into the bundle's chunks
// allocates nothing once the chunks exist.
func TestBundlePacketAllocs(t *testing.T) {
	bw := newTestBundleWriter(t)
	defer bw.stop()
	data := make([]byte, 74)
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, synth.Base), CaptureLength: len(data), Length: len(data)}
	for range 3 * chunkFrames { // every chunk made and recycled at least once
		bw.packet(data, ci)
	}
	if n := testing.AllocsPerRun(10_000, func() { bw.packet(data, ci) }); n != 0 {
		t.Errorf("%.2f allocations per frame, want 0", n)
	}
}

func newTestBundleWriter(t *testing.T) *bundleWriter {
	t.Helper()
	w, err := bundle.Create(t.TempDir(), layers.LinkTypeEthernet, capture.LiveSnaplen)
	if err != nil {
		t.Fatal(err)
	}
	return newBundleWriter(w)
}

// TestRunErrors: Run's errors say what kind of problem they are, with
// the message the user reads unchanged.
func TestRunErrors(t *testing.T) {
	clock := &fakeClock{}
	priv := fmt.Errorf("opening an AF_PACKET socket on eth0: %w (operation not permitted)", capture.ErrNeedPrivilege)
	for _, tc := range []struct {
		name    string
		change  func(*Config)
		kind    Kind
		message string
	}{
		{"no privilege", func(c *Config) { c.openSource = func(capture.LiveOptions) (source, error) { return nil, priv } },
			KindPermission, priv.Error()},
		{"capture fails", func(c *Config) {
			c.openSource = func(capture.LiveOptions) (source, error) { return nil, errors.New("no such device") }
		}, KindInput, "no such device"},
		{"no counters", func(c *Config) { c.ProcNet = filepath.Join(t.TempDir(), "none") }, KindInput, "reading kernel counters: open "},
		{"no interval", func(c *Config) { c.Interval = 0 }, KindUsage, "interval 0s"},
		{"bundle in a file", func(c *Config) {
			f := filepath.Join(t.TempDir(), "file")
			_ = os.WriteFile(f, nil, 0o644)
			c.Dir = filepath.Join(f, "bundle")
		}, KindOutput, "-w: mkdir "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fakeConfig(t, clock, newFakeSource(t, clock, nil), time.Second)
			tc.change(&cfg)
			_, err := Run(context.Background(), cfg)
			if KindOf(err) != tc.kind || !strings.HasPrefix(err.Error(), tc.message) {
				t.Fatalf("err = %v (kind %v), want kind %v and a message starting %q", err, KindOf(err), tc.kind, tc.message)
			}
			if perm := errors.Is(err, ErrPermission); perm != (tc.kind == KindPermission) || perm != errors.Is(err, capture.ErrNeedPrivilege) {
				t.Errorf("errors.Is(err, ErrPermission) = %v, errors.Is(err, capture.ErrNeedPrivilege) = %v", perm, errors.Is(err, capture.ErrNeedPrivilege))
			}
		})
	}
	// A hook's error comes back as it was.
	hookErr := errors.New("printing failed")
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, nil), 3*time.Second)
	cfg.OnInterval = func(Interval) error { return hookErr }
	if _, err := Run(context.Background(), cfg); err != hookErr || KindOf(err) != 0 {
		t.Errorf("OnInterval's error came back as %v (kind %v)", err, KindOf(err))
	}
}

// fakeKernel is a KernelSource: it gives ready at once and held only
// after Flush (reports still in the kernel's ring when the run ends),
// then kernel.ErrFlushed; Read blocks until Close otherwise.
type fakeKernel struct {
	ready, held []kernel.Drop
	flushed     chan struct{}
	closed      chan struct{}
	afterFlush  bool
	closeCalls  atomic.Int32
}

func newFakeKernel(ready, held []kernel.Drop) *fakeKernel {
	return &fakeKernel{ready: ready, held: held, flushed: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (k *fakeKernel) Read() (kernel.Drop, error) {
	for {
		if len(k.ready) > 0 {
			d := k.ready[0]
			k.ready = k.ready[1:]
			return d, nil
		}
		if k.afterFlush {
			k.afterFlush = false
			return kernel.Drop{}, kernel.ErrFlushed
		}
		select {
		case <-k.flushed:
			k.ready, k.held, k.afterFlush = k.held, nil, true
		case <-k.closed:
			return kernel.Drop{}, os.ErrClosed
		}
	}
}

func (k *fakeKernel) Flush() error {
	k.flushed <- struct{}{}
	return nil
}
func (k *fakeKernel) Lost() uint64 { return 0 }
func (k *fakeKernel) Close() error {
	if k.closeCalls.Add(1) == 1 {
		close(k.closed)
	}
	return nil
}

// kernelRecords keeps the kernel reasons each record was written with.
type kernelRecords struct {
	by map[netip.AddrPort][]analyze.ReasonCount
}

func (r *kernelRecords) Begin(int64) {}
func (r *kernelRecords) Add(a *reassemble.Attempt, k []analyze.ReasonCount) {
	r.by[a.Client] = k
}
func (r *kernelRecords) SetCaptureEnd(int64) {}
func (r *kernelRecords) Err() error          { return nil }
func (r *kernelRecords) Close() error        { return nil }

// TestKernelReportsJoinTheRun: the kernel's reports are the session's
// evidence. Each attempt's record carries the reasons of its packets
// (empty, not nil, for an attempt the kernel dropped nothing of), the
// per-interval verdict and the report use them, and a report still in
// the kernel's ring when the run ends (held back until Flush) is matched
// to its attempt rather than left unmatched.
// unansweredAndServed is a SYN sent three times and never answered, and
// a connection served.
const unansweredAndServed = `
		0.2 c S from=10.0.0.1:40000
		1.2 c S from=10.0.0.1:40000
		3.2 c S from=10.0.0.1:40000
		0.5 c S from=10.0.0.4:40002
		0.501 s S. from=10.0.0.4:40002
		0.502 c . from=10.0.0.4:40002
		0.503 c P. len=10 from=10.0.0.4:40002
		0.504 s P. len=10 ack=1011 from=10.0.0.4:40002`

func TestKernelReportsJoinTheRun(t *testing.T) {
	pkts := synth.MustScript(unansweredAndServed)
	sortByTime(pkts)
	var drops []kernel.Drop
	for _, p := range pkts {
		if p.Src.Port() == 40000 {
			drops = append(drops, kernel.Drop{Time: p.Time, Reason: "NETFILTER_DROP", Src: p.Src, Dst: p.Dst, Seq: p.Seq, Flags: p.Flags, Inbound: true})
		}
	}
	if len(drops) != 3 {
		t.Fatalf("%d SYNs from the filtered client", len(drops))
	}
	k := newFakeKernel(drops[:2], drops[2:])
	clock := &fakeClock{}
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, pkts), 6*time.Second)
	cfg.Kernel = k
	var seen atomic.Int32
	cfg.OnKernelDrop = func(kernel.Drop) { seen.Add(1) }
	recs := &kernelRecords{by: map[netip.AddrPort][]analyze.ReasonCount{}}
	cfg.Records = func(time.Time) (Records, error) { return recs, nil }
	var verdicts []analyze.Kind
	cfg.OnInterval = func(iv Interval) error {
		v, _ := iv.VerdictOf(synth.Server)
		verdicts = append(verdicts, v.Kind)
		return nil
	}
	in, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	filtered := netip.MustParseAddrPort("10.0.0.1:40000")
	if got := recs.by[filtered]; fmt.Sprint(got) != "[{NETFILTER_DROP 3}]" {
		t.Errorf("the filtered attempt's record: kernel %v, want [{NETFILTER_DROP 3}] (the last report comes only with the flush)", got)
	}
	if got, ok := recs.by[netip.MustParseAddrPort("10.0.0.4:40002")]; !ok || got == nil || len(got) != 0 {
		t.Errorf("the healthy attempt's record: kernel %#v, want empty and not nil (traced, nothing dropped)", got)
	}
	if len(in.Result.Listeners) != 1 || in.Result.Listeners[0].Kernel == nil {
		t.Fatalf("listeners: %+v", in.Result.Listeners)
	}
	l := in.Result.Listeners[0]
	if kd := l.Kernel; kd.Attempts != 1 || kd.Unmatched != 0 || fmt.Sprint(kd.Reasons) != "[{NETFILTER_DROP 3}]" || !kd.Agreement.Agrees {
		t.Errorf("the listener's kernel account: %+v", *kd)
	}
	if v := l.Diagnosis.Verdict; v.Kind != analyze.KindFiltered {
		t.Errorf("verdict %s, want %s", v.Kind, analyze.KindFiltered)
	}
	if len(verdicts) < 3 || verdicts[2] != analyze.KindFiltered {
		t.Errorf("interval verdicts %v: want filtered_before_tcp from the third interval (the reports of the window)", verdicts)
	}
	if seen.Load() != 3 || k.closeCalls.Load() == 0 {
		t.Errorf("OnKernelDrop saw %d reports (want 3); source closed %d times", seen.Load(), k.closeCalls.Load())
	}
}

// TestRunClosesTheKernelSourceOnFailure: Run owns Config.Kernel, also
// when it fails before reading it.
func TestRunClosesTheKernelSourceOnFailure(t *testing.T) {
	clock := &fakeClock{}
	cfg := fakeConfig(t, clock, nil, time.Second)
	cfg.openSource = func(capture.LiveOptions) (source, error) { return nil, errors.New("no such device") }
	k := newFakeKernel(nil, nil)
	cfg.Kernel = k
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("Run succeeded without a capture")
	}
	if k.closeCalls.Load() != 1 {
		t.Errorf("the kernel source was closed %d times, want once", k.closeCalls.Load())
	}
}

// TestLongRunKeepsBoundedCounters: a run of many intervals keeps at most
// maxCounterSamples+1 counter snapshots for its report (a snapshot is a
// map of hundreds of counters, one per interval), the first and the
// latest among them, evenly thinned in between.
func TestLongRunKeepsBoundedCounters(t *testing.T) {
	clock := &fakeClock{}
	const run = 3 * time.Hour
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, nil), run)
	intervals := 0
	cfg.OnInterval = func(Interval) error { intervals++; return nil }
	in, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := in.Live.Counters
	if intervals < int(run/time.Second)-1 {
		t.Fatalf("%d intervals", intervals)
	}
	if len(cs) > maxCounterSamples+1 || len(cs) < maxCounterSamples/2 {
		t.Errorf("%d counter snapshots kept over %d intervals, want %d to %d", len(cs), intervals, maxCounterSamples/2, maxCounterSamples+1)
	}
	if cs[0].Time != synth.Base || cs[len(cs)-1].Time < synth.Base+int64(run) {
		t.Errorf("snapshots from %d to %d, want the start and the end", cs[0].Time-synth.Base, cs[len(cs)-1].Time-synth.Base)
	}
	gaps := map[int64]bool{}
	for i := 1; i < len(cs)-1; i++ {
		gaps[(cs[i].Time-cs[i-1].Time)/int64(time.Second)] = true
	}
	if len(gaps) != 1 {
		t.Errorf("gaps between kept snapshots (s): %v, want one stride", gaps)
	}
}

// TestQueueRoundsTellAClosedPort: rounds of queue sampling that found no
// socket on the port are evidence too: refused SYNs with no socket in
// any round are a closed port; with a socket in every round they are
// refused by something else (a firewall's REJECT). Before the rounds
// were counted, live runs could not tell the two apart from the queues.
func TestQueueRoundsTellAClosedPort(t *testing.T) {
	var script strings.Builder
	for i := range 6 {
		from := fmt.Sprintf("from=10.0.0.%d:%d", i+1, 40000+i)
		fmt.Fprintf(&script, "%d.0 c S %s\n%d.001 s R. %s\n", i, from, i, from)
	}
	pkts := synth.MustScript(script.String())
	now := synth.Base + int64(30*time.Second)
	listening := []host.QueueSample{{Listener: netip.MustParseAddrPort("0.0.0.0:80"), AcceptLimit: 128}}
	for _, tc := range []struct {
		name   string
		rounds int
		queues []host.QueueSample // found in each round
		want   analyze.Kind
	}{
		{"no socket in any round", 50, nil, analyze.KindNoListener},
		{"a socket in every round", 50, listening, analyze.KindFirewallReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessionForIntervals()
			for i := range tc.rounds { // 100 ms apart, the last 1 s before now
				at := now - int64(time.Second) - int64(tc.rounds-1-i)*int64(100*time.Millisecond)
				var qs []host.QueueSample
				for _, q := range tc.queues {
					q.Time = at
					qs = append(qs, q)
				}
				s.queues.Add(at, qs)
			}
			if v := s.verdictAt(t, pkts, now-int64(10*time.Second), now); v.Kind != tc.want {
				t.Errorf("verdict %s, want %s", v.Kind, tc.want)
			}
		})
	}
}

// TestIntervalVerdictWithARequestOnItsWay: a request the client sent a
// moment before the interval ends, not acknowledged yet, is on its way,
// not ignored: the interval's verdict on a server that answered 29 other
// clients at once stays healthy (it was accept_queue_overflow).
func TestIntervalVerdictWithARequestOnItsWay(t *testing.T) {
	var script strings.Builder
	for i := range 30 {
		from := fmt.Sprintf("from=10.0.1.%d:4000", i+1)
		t0 := float64(i) * 0.1
		fmt.Fprintf(&script, "%.4f c S %s\n%.4f s S. %s\n%.4f c . %s\n", t0, from, t0+0.001, from, t0+0.002, from)
		if i == 29 {
			fmt.Fprintf(&script, "2.9999 c P. len=5 %s\n", from) // the server's ACK is not in yet
			continue
		}
		fmt.Fprintf(&script, "%.4f c P. len=5 %s\n%.4f s . ack=1006 %s\n", t0+0.003, from, t0+0.004, from)
	}
	pkts := synth.MustScript(script.String())
	now := synth.Base + int64(30*time.Second)
	if v := sessionForIntervals().verdictAt(t, pkts, now-int64(3*time.Second), now); v.Kind != analyze.KindHealthy {
		t.Errorf("verdict %s, want healthy", v.Kind)
	}
}

// sessionForIntervals is a session with no capture or sampler: a test
// adds queue rounds, feeds its tracker (finished attempts go to the
// verdict window's) and ends an interval.
func sessionForIntervals() *session {
	s := &session{cfg: Config{}, book: newBook(), recent: &recentAttempts{}, start: time.Unix(0, synth.Base),
		before: host.Counters{}, queues: host.NewQueueHistory(int64(VerdictWindow))}
	s.tr = reassemble.NewTracker(reassemble.Config{}, func(a *reassemble.Attempt) { s.recent.add(a) })
	return s
}

// verdictAt feeds s's tracker pkts, their script's time 0 at start, and
// returns the verdict on synth.Server of the interval ending at now.
func (s *session) verdictAt(t *testing.T, pkts []capture.Packet, start, now int64) Verdict {
	t.Helper()
	for i := range pkts {
		p := pkts[i]
		p.Time += start - synth.Base
		s.tr.Add(&p)
	}
	iv := s.interval(time.Unix(0, now), time.Second, capture.RingStats{}, host.Counters{}, host.Counters{})
	v, ok := iv.VerdictOf(synth.Server)
	if !ok {
		t.Fatalf("no verdict for %s: %+v", synth.Server, iv.Verdicts)
	}
	return v
}

// TestConntrackFillReadAgain: the connection-tracking table that fills
// during a session names the SYNs it drops (analyze's conntrack_full,
// tested on conntrack-full's capture). The count is read again for every
// verdict and kept at its fullest, in the report and in the bundle's
// sysctl.txt.
func TestConntrackFillReadAgain(t *testing.T) {
	pkts := synth.MustScript(unansweredAndServed)
	sortByTime(pkts)
	clock := &fakeClock{}
	cfg := fakeConfig(t, clock, newFakeSource(t, clock, pkts), 8*time.Second)
	cfg.Dir = filepath.Join(t.TempDir(), "bundle")
	dir := filepath.Join(cfg.ProcSys, "net", "netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	set := func(name, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set("nf_conntrack_max", "4")
	set("nf_conntrack_count", "2")
	intervals := 0
	cfg.OnInterval = func(Interval) error {
		// Full from the second interval on, and room again at the end:
		// the fullest reading stays.
		switch intervals++; intervals {
		case 1:
			set("nf_conntrack_count", "4")
		case 6:
			set("nf_conntrack_count", "1")
		}
		return nil
	}
	in, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := in.Host.Sysctl("net.netfilter.nf_conntrack_count"); v != "4" {
		t.Errorf("report: nf_conntrack_count %q, want 4 (the fullest reading)", v)
	}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, "sysctl.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "net.netfilter.nf_conntrack_count = 4\n") {
		t.Errorf("bundle sysctl.txt:\n%s\nwant nf_conntrack_count = 4", b)
	}
}
