package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/synth"
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
