// Package live is the session of `synq live`: it captures on an interface
// of this server, follows every handshake as it happens, samples the
// listen queues and the kernel counters on the same clock, keeps the
// evidence bundle, and ends with the same report input as `synq analyze`.
//
// Run is the whole session. It reads /proc and captures (that is what a
// session is), but never prints: what it sees as it goes reaches the
// caller through the hooks in Config, and its errors carry a Kind so that
// a command can choose an exit status without reading a message.
//
// Hooks. Run calls every hook from its own goroutine, one at a time and in
// the order things happen, so a hook needs no locking of its own:
//
//   - OnStart once the capture, the sampler and the first counter
//     snapshot are in place;
//   - OnAttempt for each attempt as it finishes (the report counts it);
//   - OnInterval at the end of every interval, the last one included.
//
// A metrics exporter is a pair of OnAttempt and OnInterval (and
// OnKernelDrop). The kernel's drop reports are a source of evidence like
// the capture and the sampler: Config.Kernel, read by the session, in
// the per-interval verdicts, the connection records and the final report.
package live

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/capture/filter"
	"github.com/synq/synq/host"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/reassemble"
	"github.com/synq/synq/report"
)

// Config is one session. Interface and Interval are required.
type Config struct {
	// Interface to capture on ("any": every interface).
	Interface string
	// Ports: only listeners on these ports (every port when empty).
	Ports []uint16
	// Filter, when not nil, keeps only the frames it matches (tcpdump's
	// filter language, after the kernel's port filter).
	Filter *filter.Filter
	// Duration stops the run this long after it started; Count after
	// this many intervals. Zero: until ctx is done.
	Duration time.Duration
	Count    int
	// Interval is how often OnInterval is called.
	Interval time.Duration
	// RingBytes sizes the capture ring (capture.LiveOptions.RingBytes).
	RingBytes int
	// MaxAttempts bounds the attempts held at once; 0: no bound
	// (reassemble.Config.MaxAttempts).
	MaxAttempts int
	// Dir, when set, is where the evidence bundle goes (docs/bundle.md).
	Dir string
	// ProcNet and ProcSys are where counters and sysctls are read
	// (default /proc/net and /proc/sys: the network namespace of the
	// process).
	ProcNet, ProcSys string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Version is the version the report and the bundle name.
	Version string
	// Args is the command line (program name first) for the report's
	// record of how it was made (report.RunOf).
	Args []string

	// Records, when set, is called once the capture is open and the first
	// counter snapshot taken, with the start of the run, to open the
	// per-attempt export (synq's --connections). Run then follows each
	// attempt's Zeek state and verifies checksums, which the records
	// carry. Its error is returned as it is.
	Records func(start time.Time) (Records, error)

	// Kernel, when set, is where the kernel's drop reports come from (a
	// droptrace.Watcher). Run reads it on a goroutine of its own, matches
	// each report to its attempt before the attempt reaches Records,
	// gives the per-interval verdicts the recent reports and every
	// listener of the final report the kernel's account, and closes it.
	Kernel KernelSource
	// OnKernelDrop, when set, is told of every kernel report as it is
	// read: on the goroutine that reads Kernel, not Run's (the metrics
	// exporter is safe for that).
	OnKernelDrop func(kernel.Drop)

	// OnStart, OnAttempt and OnInterval are the hooks (see the package
	// comment); each may be nil. An error from OnInterval ends the run
	// and is returned as it is.
	OnStart    func(Start)
	OnAttempt  func(*reassemble.Attempt)
	OnInterval func(Interval) error
	// OnWarning is told of a problem that does not end the run (the
	// queue sampler stopping); nil: ignored.
	OnWarning func(error)

	// Tests replace the capture and the queue sampler.
	openSource  func(capture.LiveOptions) (source, error)
	openSampler func(ports []uint16) (sampler, error)
}

// Records receives the connection records of a run (a connlog.Writer on
// a file, for synq). Run calls Begin, then Add for each finished attempt
// (with the kernel's drop reasons for its packets: nil when the kernel is
// not traced, empty when it dropped none),
// SetCaptureEnd before the last ones and Close once on success; after a
// failure it leaves the export to the caller, who may keep what was
// written. Err is checked after every packet: a write error ends the run
// and is returned as it is.
type Records interface {
	Begin(start int64)
	Add(a *reassemble.Attempt, kernel []analyze.ReasonCount)
	SetCaptureEnd(end int64)
	Err() error
	Close() error
}

// Start is what OnStart is told.
type Start struct {
	Time      time.Time
	Interface string
	// Ports watched, sorted, each once; empty for every port.
	Ports    []uint16
	LinkType layers.LinkType
}

// Interval is one interval's numbers, for OnInterval.
type Interval struct {
	// Time is when it ended, Elapsed the time since the run started and
	// Span its length (the divisor of the rates; the last one may be
	// short).
	Time    time.Time
	Elapsed time.Duration
	Span    time.Duration
	// Rows has one row per listener, by port then address.
	Rows []Row
	// Ring is the capture ring's counters since the run started.
	Ring capture.RingStats
	// Before and After are the kernel counters at the interval's start
	// and end.
	Before, After host.Counters
	// Verdicts are the listeners' current verdicts (see VerdictOf).
	Verdicts map[netip.AddrPort]Verdict
}

// Row is one listener's counts for one interval.
type Row struct {
	Listener netip.AddrPort
	// SYNs received (retransmissions included).
	SYNs int
	// DroppedSYNs and IgnoredACKs are counted in the interval where each
	// became known: a SYN when the client's next packet of the attempt
	// came without an answer, or when it waited unanswered for
	// AnswerWindow; a client segment after the SYN-ACK when the server
	// retransmitted its SYN-ACK over it, answered it with an abort reset,
	// or left it unanswered for AnswerWindow. Over a run each counts
	// once: the rows add up to the report's dropped SYN packets and
	// ignored segments, but for those still waiting at the end.
	DroppedSYNs int
	IgnoredACKs int
	// Sampled says the queue sampler saw the listener's socket in the
	// interval: the largest accept queue and its limit (the kernel
	// holds limit+1 before it counts the queue full), and the most
	// handshakes in SYN_RECV.
	Sampled     bool
	AcceptQueue int
	AcceptLimit int
	SynRecv     int
}

// Verdict is a listener's current verdict.
type Verdict struct {
	Kind analyze.Kind
	// Cookies is syncookie SYN-ACKs per second over the verdict window.
	Cookies float64
}

// VerdictWindow is how far back the per-interval verdict looks: the
// attempts finished in the last VerdictWindow, those still in flight,
// and the queue samples of the last VerdictWindow.
const VerdictWindow = 10 * time.Second

// AnswerWindow is how long a SYN, or a client segment after the
// SYN-ACK, may wait for the server's answer before the intervals count
// it as dropped (ignored). A server answers a SYN it takes at once
// (microseconds on the server, a round trip seen from elsewhere), and a
// client retransmits after its initial RTO of 1 s (RFC 6298; Linux's
// TCP_TIMEOUT_INIT): a SYN unanswered for 1 s is one the client itself
// has given up on. The SYN-ACK retransmission that shows a handshake ACK
// was ignored also comes 1 s after the SYN-ACK at the earliest. Waiting
// longer would only delay the count; waiting less would count SYNs whose
// answer is still on a long path.
const AnswerWindow = time.Second

// VerdictOf returns a listener's current verdict; false before any
// attempt to it. A wildcard row (0.0.0.0:port, from the queue sampler)
// takes the verdict of its port.
func (iv *Interval) VerdictOf(l netip.AddrPort) (Verdict, bool) {
	if v, ok := iv.Verdicts[l]; ok {
		return v, true
	}
	if l.Addr().IsUnspecified() {
		for k, v := range iv.Verdicts {
			if k.Port() == l.Port() {
				return v, true
			}
		}
	}
	return Verdict{}, false
}

// Run runs one session until cfg.Duration, cfg.Count intervals or the
// end of ctx (a signal: not an error), and returns the report input, as
// synq analyze builds it, with the live evidence. Its own errors are
// *Error values with their Kind; those of the hooks and of Records come
// back as they are.
func Run(ctx context.Context, cfg Config) (*report.Input, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &session{cfg: cfg}
	defer s.close()
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.run(ctx)
}

func (c *Config) defaults() error {
	if c.Interface == "" {
		return &Error{Kind: KindUsage, Err: fmt.Errorf("no interface to capture on")}
	}
	if c.Interval <= 0 {
		return &Error{Kind: KindUsage, Err: fmt.Errorf("interval %v: want more than 0", c.Interval)}
	}
	if c.Duration < 0 || c.Count < 0 || c.MaxAttempts < 0 {
		return &Error{Kind: KindUsage, Err: fmt.Errorf("duration %v, count %d, max attempts %d: none may be negative", c.Duration, c.Count, c.MaxAttempts)}
	}
	if c.ProcNet == "" {
		c.ProcNet = "/proc/net"
	}
	if c.ProcSys == "" {
		c.ProcSys = "/proc/sys"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.openSource == nil {
		c.openSource = openLive
	}
	if c.openSampler == nil {
		c.openSampler = openQueueSampler
	}
	return nil
}
