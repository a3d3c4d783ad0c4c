package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/bundle"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
	"github.com/synq/synq/report"
)

// LiveOptions holds what `synq live` needs: injected things first, then
// flag values.
type LiveOptions struct {
	IO      *IOStreams
	Now     func() time.Time
	Version string
	// ProcNet and ProcSys are where counters and sysctls are read
	// (/proc/net, /proc/sys: the network namespace synq runs in).
	ProcNet, ProcSys string
	// Notify delivers SIGINT/SIGTERM; tests replace it.
	Notify func(ctx context.Context) (context.Context, context.CancelFunc)

	Interface   string
	Ports       []uint
	Duration    time.Duration
	Count       int
	Interval    time.Duration
	Dir         string
	Format      string
	Output      string
	FailOn      []analyze.Kind
	RingSizeMiB int
	MaxAttempts int
	// Connections and ConnectionsFormat: the per-connection export, as
	// for synq analyze.
	Connections       string
	ConnectionsFormat string
}

const liveLong = `Capture on a network interface of this server (AF_PACKET, filtered in the
kernel to the given ports), follow every TCP handshake as it happens, and
sample the server's own evidence on the same clock, in the network
namespace synq runs in:

  - the listen queues of every listening socket on the ports (inet_diag,
    every 100 ms): accept-queue length and limit, handshakes in SYN_RECV;
  - the kernel counters (/proc/net/netstat, /proc/net/snmp) at the start,
    at every interval and at the end;
  - the sysctls that size the queues (somaxconn, tcp_max_syn_backlog,
    tcp_syncookies, tcp_abort_on_overflow, tcp_synack_retries,
    tcp_timestamps), once.

Every --interval it prints one line per listener (a refreshed block on a
terminal, plain key=value lines otherwise; with --format json or html and
no -o they go to standard error, so standard output holds only the report):

  syn/s       SYN packets received (retransmissions included)
  drop_syn/s  SYNs that got no answer, counted as their attempts finish
  ign_ack/s   handshake ACKs and data the server ignored, likewise
  cookie/s    syncookie SYN-ACKs, over the last 10 s
  acceptq     the largest accept-queue length seen in the interval / limit
              (the kernel holds limit+1 before it counts the queue full)
  syn_recv    the largest number of handshakes in progress in the interval
  verdict     what is dropping attempts now (see synq analyze --help), from
              the attempts of the last 10 s and those still in progress, the
              sampled queues and the counters so far

Attempts are judged when they finish (up to about 10 s after their first
SYN with the default retransmission timers), so the drop columns lag.

It stops after --duration, after --count intervals, or on Ctrl-C (SIGINT)
or SIGTERM, then prints the same report as synq analyze, with the change
of the listen counters and the peak queue lengths per listener. The
capture ring's own drops are reported; if it lost frames, the report says
the verdicts may be affected.

With -w DIR it saves a bundle (docs/bundle.md): the capture, counter
snapshots and samples, sysctls, queue samples and a manifest.
"synq analyze DIR" reads it back.

Capturing needs root or CAP_NET_RAW (setcap cap_net_raw+ep synq).`

const liveExample = `  # Watch port 8080 on eth0 for 30 seconds
  sudo synq live -i eth0 --port 8080 --duration 30s

  # Every interface, two ports, until Ctrl-C, keeping the evidence
  sudo synq live -i any --port 80 --port 443 -w /var/tmp/synq-incident

  # Inside a container's network namespace, JSON report to a file
  sudo ip netns exec web synq live -i eth0 --port 8080 --count 60 --format json -o r.json

  # An HTML page with charts of the queues over the run, for the postmortem
  sudo synq live -i eth0 --port 8080 --duration 1m --format html -o incident.html

  # Later, anywhere
  synq analyze /var/tmp/synq-incident`

// NewCmdLive builds `synq live`. runF replaces the run function in tests
// of flag parsing.
func NewCmdLive(ios *IOStreams, runF func(*LiveOptions) error) *cobra.Command {
	opts := &LiveOptions{
		IO: ios, Now: time.Now, Version: buildVersion(),
		ProcNet: "/proc/net", ProcSys: "/proc/sys",
		Notify: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		},
	}
	cmd := &cobra.Command{
		Use:     "live -i IFACE [flags]",
		Short:   "Capture and sample a server's listen queues as it runs",
		Long:    liveLong + "\n\n" + exitCodeHelp,
		Example: liveExample,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return liveRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Interface, "interface", "i", "", "interface to capture on (any: every interface)")
	f.Var(portList{&opts.Ports}, "port", "only listeners on these ports (repeatable; comma-separated or ranges: 80,443,8000-8010; default every port)")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.IntVar(&opts.Count, "count", 0, "stop after this many intervals")
	f.DurationVar(&opts.Interval, "interval", time.Second, "how often to print the per-listener line")
	f.StringVarP(&opts.Dir, "write", "w", "", "save the evidence bundle (capture, counters, sysctls, queue samples) in this directory")
	f.StringVar(&opts.Format, "format", "table", "final report format: "+strings.Join(report.Formats(), ", "))
	f.StringVarP(&opts.Output, "output", "o", "", "write the final report to this file instead of standard output")
	f.Var(failOn{&opts.FailOn}, "fail-on", "exit with status 6 when a listener's final verdict is one of these kinds, medium or high confidence (comma-separated; any: every kind that names a problem)")
	f.IntVar(&opts.RingSizeMiB, "ring-size", 32, "capture ring size in MiB (raise it if the ring drops frames)")
	f.IntVar(&opts.MaxAttempts, "max-attempts", 0, "most connection attempts held in memory at once (0: from available memory)")
	addConnectionsFlags(f, &opts.Connections, &opts.ConnectionsFormat)
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return report.Formats(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *LiveOptions) validate() error {
	if o.Interface == "" {
		return usageErrorf("live needs an interface: -i IFACE (or -i any)")
	}
	if len(o.Ports) > capture.MaxFilterPorts {
		return usageErrorf("--port: at most %d ports", capture.MaxFilterPorts)
	}
	for _, p := range o.Ports {
		if p == 0 || p > 65535 {
			return usageErrorf("--port %d: want a port from 1 to 65535", p)
		}
	}
	if _, err := report.ParseFormat(o.Format); err != nil {
		return usageErrorf("--format: %v", err)
	}
	if o.Duration < 0 {
		return usageErrorf("--duration %v: want a positive duration", o.Duration)
	}
	if o.Count < 0 {
		return usageErrorf("--count %d: want 1 or more", o.Count)
	}
	if o.Interval < 100*time.Millisecond {
		return usageErrorf("--interval %v: want at least 100ms", o.Interval)
	}
	if o.RingSizeMiB < 2 || o.RingSizeMiB > 4096 {
		return usageErrorf("--ring-size %d: want 2 to 4096 MiB", o.RingSizeMiB)
	}
	if o.MaxAttempts < 0 {
		return usageErrorf("--max-attempts %d: want 0 (automatic) or more", o.MaxAttempts)
	}
	return validateConnections(o.Connections, o.ConnectionsFormat, o.Output)
}

// queueEvery is how often the listen queues are sampled.
const queueEvery = 100 * time.Millisecond

func liveRun(opts *LiveOptions) error {
	format, _ := report.ParseFormat(opts.Format)
	var ports []uint16
	for _, p := range opts.Ports {
		ports = append(ports, uint16(p))
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if opts.Interface != "any" {
		if _, err := net.InterfaceByName(opts.Interface); err != nil {
			return usageErrorf("-i %s: no such network interface in this namespace (ip -br link lists them; -i any captures on all)", opts.Interface)
		}
	}

	// Open everything before the first snapshot, so that the counters
	// and the capture cover the same span.
	src, err := capture.OpenLive(capture.LiveOptions{Interface: opts.Interface, Ports: ports, RingBytes: opts.RingSizeMiB << 20,
		VerifyChecksums: opts.Connections != ""})
	if errors.Is(err, capture.ErrNeedPrivilege) {
		return withCode(exitPermission, err)
	}
	if err != nil {
		return withCode(exitInput, err)
	}
	defer src.Close()
	sampler, err := host.NewQueueSampler(ports)
	if err != nil {
		return withCode(exitInput, err)
	}
	defer sampler.Close()
	sysctls, err := host.ReadSysctls(opts.ProcSys, host.QueueSysctls)
	if err != nil {
		return withCode(exitInput, fmt.Errorf("reading sysctls: %w", err))
	}
	before, err := host.ReadCounters(opts.ProcNet)
	if err != nil {
		return withCode(exitInput, fmt.Errorf("reading kernel counters: %w", err))
	}
	start := opts.Now()
	conns, err := createConnections(opts.IO, opts.Connections, opts.ConnectionsFormat)
	if err != nil {
		return err
	}
	defer conns.abort()
	if conns != nil {
		// A live capture starts now: the Zeek log's #open.
		conns.w.Begin(start.UnixNano())
	}

	var bw *bundle.Writer
	if opts.Dir != "" {
		if bw, err = bundle.Create(opts.Dir, src.LinkType(), src.Snaplen()); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
		if err := bw.WriteNstat(bundle.NstatBeforeFile, before); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
		if err := bw.WriteSysctls(sysctls); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
		if err := bw.WriteCounters(start.UnixNano(), before); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
	}

	portsNote := "every port"
	if len(ports) > 0 {
		portsNote = "port " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ports)), ","), "[]")
	}
	fmt.Fprintf(opts.IO.ErrOut, "synq live: capturing on %s (%s), %s link; Ctrl-C to stop\n",
		opts.Interface, portsNote, capture.LinkTypeName(src.LinkType()))

	ctx, cancel := opts.Notify(context.Background())
	defer cancel()
	queues := make(chan []host.QueueSample, 64)
	samplerDone := make(chan error, 1)
	go func() { samplerDone <- sampleQueues(ctx, sampler, opts.Now, queues) }()

	cfg := reassemble.Config{Ports: ports, MaxAttempts: opts.MaxAttempts, ConnState: conns != nil}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts(cfg.ConnState)
	}
	agg := analyze.NewAggregator()
	rates := newLiveRates()
	recent := &recentAttempts{}
	tr := reassemble.NewTracker(cfg, func(a *reassemble.Attempt) {
		rates.attempt(a)
		agg.Add(a)
		recent.add(a)
		if conns != nil {
			conns.w.Add(a)
		}
	})

	lines := opts.IO.Out
	if format != report.FormatTable && opts.Output == "" {
		lines = opts.IO.ErrOut
	}
	ticker := &intervalPrinter{w: lines, tty: lines == opts.IO.Out && opts.IO.IsStdoutTTY(), iface: opts.Interface}
	live := &report.LiveEvidence{Interface: opts.Interface,
		Counters: []host.CounterSample{{Time: start.UnixNano(), Counters: before}}}

	var allQueues []host.QueueSample
	takeQueues := func() error {
		for {
			select {
			case qs := <-queues:
				allQueues = append(allQueues, qs...)
				rates.queues(qs)
				if bw != nil {
					if err := bw.WriteQueues(qs); err != nil {
						return err
					}
				}
			default:
				return nil
			}
		}
	}

	var (
		p         capture.Packet
		intervals int
		next      = start.Add(opts.Interval)
		last      = before
		deadline  time.Time
	)
	if opts.Duration > 0 {
		deadline = start.Add(opts.Duration)
	}
loop:
	for {
		k, err := src.Next(&p)
		switch {
		case err == nil:
			if bw != nil {
				data, ci := src.Frame()
				if err := bw.WritePacket(ci, data); err != nil {
					return withCode(exitOutput, err)
				}
			}
			switch k {
			case capture.KindTCP:
				rates.packet(&p)
				tr.Add(&p)
			case capture.KindICMPError:
				tr.Add(&p)
			}
		case errors.Is(err, capture.ErrLiveTimeout):
		default:
			return withCode(exitInput, err)
		}
		if err := takeQueues(); err != nil {
			return withCode(exitOutput, err)
		}
		if err := conns.err(); err != nil {
			return err
		}
		now := opts.Now()
		stop := ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline))
		if now.Before(next) && !stop {
			continue
		}
		// An interval ended (or the run did).
		c, err := host.ReadCounters(opts.ProcNet)
		if err != nil {
			return withCode(exitInput, fmt.Errorf("reading kernel counters: %w", err))
		}
		if stop || (opts.Count > 0 && intervals+1 >= opts.Count) {
			// The last snapshot is taken: read what the ring still holds
			// from before it, so that capture and counters end together.
			if err := drain(src, bw, rates, tr, &p); err != nil {
				return err
			}
		}
		live.Counters = append(live.Counters, host.CounterSample{Time: now.UnixNano(), Counters: c})
		if bw != nil {
			if err := bw.WriteCounters(now.UnixNano(), c); err != nil {
				return withCode(exitOutput, err)
			}
			if err := bw.Flush(); err != nil {
				return withCode(exitOutput, err)
			}
		}
		ring, _ := src.RingStats()
		span := now.Sub(next.Add(-opts.Interval))
		if span <= 0 {
			span = opts.Interval
		}
		ticker.verdicts = currentVerdicts(recent, tr, now.UnixNano(), now.Sub(start),
			liveHost(before, c, sysctls, allQueues))
		if err := ticker.print(now, now.Sub(start), span, rates.take(), ring, last, c); err != nil {
			return withCode(exitOutput, err)
		}
		last = c
		intervals++
		next = next.Add(opts.Interval)
		if now.After(next) { // a slow interval: do not print a burst of catch-up lines
			next = now.Add(opts.Interval)
		}
		if stop || (opts.Count > 0 && intervals >= opts.Count) {
			break loop
		}
	}
	cancel()
	if err := <-samplerDone; err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "synq: listen queue sampling stopped: %v\n", err)
	}
	_ = takeQueues()
	end := opts.Now()
	after := live.Counters[len(live.Counters)-1].Counters
	ring, err := src.RingStats()
	if err != nil {
		return withCode(exitInput, err)
	}
	live.Queues, live.Ring = allQueues, ring

	sum := src.Summary()
	agg.CaptureEnd = max(sum.End, end.UnixNano())
	if conns != nil {
		conns.w.SetCaptureEnd(agg.CaptureEnd)
	}
	tr.Flush()
	if err := conns.close(); err != nil {
		return err
	}
	res := agg.Result()
	res.Evicted = tr.Stats().Evicted
	if w := report.RingWarning(ring); w != "" {
		sum.Warnings = append(sum.Warnings, w)
	}
	h := liveHost(before, after, sysctls, allQueues)
	in := &report.Input{Version: opts.Version, Capture: sum, Tracker: tr.Stats(), Result: res, Host: h, Live: live,
		Run: report.RunOf(opts.IO.args, nil, h)}
	// The same evidence as synq analyze --nstat --sysctl, plus the
	// sampled listen queues.
	analyze.Diagnose(&in.Result, h)

	if bw != nil {
		if err := bw.WriteNstat(bundle.NstatAfterFile, after); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
		m := bundle.Manifest{Version: opts.Version, Interface: opts.Interface, Ports: ports,
			LinkType: capture.LinkTypeName(src.LinkType()), Snaplen: src.Snaplen(),
			Start: bundle.Timestamp(start.UnixNano()), End: bundle.Timestamp(end.UnixNano()), Ring: ring}
		if err := bw.Close(m); err != nil {
			return withCode(exitOutput, fmt.Errorf("-w: %w", err))
		}
	}
	if err := writeReport(opts.IO.Out, opts.Output, format, in); err != nil {
		return err
	}
	return failOnFound(&in.Result, opts.FailOn)
}

// drain reads the frames the ring holds, until a poll finds none.
func drain(src *capture.Live, bw *bundle.Writer, rates *liveRates, tr *reassemble.Tracker, p *capture.Packet) error {
	for {
		k, err := src.Next(p)
		if errors.Is(err, capture.ErrLiveTimeout) {
			return nil
		}
		if err != nil {
			return withCode(exitInput, err)
		}
		if bw != nil {
			data, ci := src.Frame()
			if err := bw.WritePacket(ci, data); err != nil {
				return withCode(exitOutput, err)
			}
		}
		switch k {
		case capture.KindTCP:
			rates.packet(p)
			tr.Add(p)
		case capture.KindICMPError:
			tr.Add(p)
		}
	}
}

// writeReport renders in to out, or to the file named output.
func writeReport(out io.Writer, output string, format report.Format, in *report.Input) error {
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return withCode(exitOutput, err)
		}
		if err := report.Render(f, format, in); err != nil {
			f.Close()
			return withCode(exitOutput, fmt.Errorf("writing the report: %w", err))
		}
		if err := f.Close(); err != nil {
			return withCode(exitOutput, err)
		}
		return nil
	}
	if err := report.Render(out, format, in); err != nil {
		return withCode(exitOutput, fmt.Errorf("writing the report: %w", err))
	}
	return nil
}

// liveHost is the host evidence of a live run so far, built as synq
// analyze builds it from files.
func liveHost(before, after host.Counters, sysctls map[string]string, queues []host.QueueSample) *host.Host {
	h, err := host.NewHost(host.HostInput{
		Snapshots: []host.Snapshot{{Counters: before}, {Counters: after}},
		Sysctls:   sysctls, Queues: host.Peaks(queues),
	})
	if err != nil {
		// Read from /proc a moment apart, a counter cannot go down;
		// if one did (a namespace change under us), no counters beat
		// wrong ones.
		return &host.Host{Sysctls: sysctls, Queues: host.Peaks(queues)}
	}
	return h
}

// sampleQueues samples the listen queues every queueEvery until ctx ends.
func sampleQueues(ctx context.Context, s *host.QueueSampler, now func() time.Time, out chan<- []host.QueueSample) error {
	t := time.NewTicker(queueEvery)
	defer t.Stop()
	for {
		qs, err := s.Sample(now().UnixNano())
		if err != nil {
			return err
		}
		select {
		case out <- qs:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// liveRates counts, per listener, what happened in the current interval.
type liveRates struct {
	rows map[netip.AddrPort]*rateRow
}

type rateRow struct {
	syns, droppedSYNs, ignoredACKs int
	acceptQ, acceptLimit, synRecv  int
	sampled                        bool
}

func newLiveRates() *liveRates { return &liveRates{rows: map[netip.AddrPort]*rateRow{}} }

func (r *liveRates) row(l netip.AddrPort) *rateRow {
	x := r.rows[l]
	if x == nil {
		x = &rateRow{}
		r.rows[l] = x
	}
	return x
}

// packet counts a client SYN toward its listener.
func (r *liveRates) packet(p *capture.Packet) {
	if p.Flags&(capture.FlagSYN|capture.FlagACK|capture.FlagRST) == capture.FlagSYN {
		r.row(p.Dst).syns++
	}
}

// attempt counts a finished attempt's drops.
func (r *liveRates) attempt(a *reassemble.Attempt) {
	if a.DroppedSYNs == 0 && a.IgnoredSegments == 0 {
		return
	}
	x := r.row(a.Server)
	x.droppedSYNs += a.DroppedSYNs
	x.ignoredACKs += a.IgnoredSegments
}

// queues keeps the largest queue lengths per listener. A sample of a
// wildcard listener (0.0.0.0:80) goes to the rows of that port seen in
// the capture, or to a row of its own.
func (r *liveRates) queues(qs []host.QueueSample) {
	for _, q := range qs {
		matched := false
		for l, x := range r.rows {
			if l.Port() == q.Listener.Port() && (q.Listener.Addr().IsUnspecified() || l.Addr() == q.Listener.Addr()) {
				x.addQueue(q)
				matched = true
			}
		}
		if !matched {
			r.row(q.Listener).addQueue(q)
		}
	}
}

func (x *rateRow) addQueue(q host.QueueSample) {
	x.sampled = true
	x.acceptQ = max(x.acceptQ, q.AcceptQueue)
	x.acceptLimit = max(x.acceptLimit, q.AcceptLimit)
	x.synRecv = max(x.synRecv, q.SynRecv)
}

// rateLine is one listener's numbers for one interval.
type rateLine struct {
	listener netip.AddrPort
	rateRow
}

// take returns the interval's rows in a stable order and starts the next
// interval (listeners stay, with zero counts).
func (r *liveRates) take() []rateLine {
	out := make([]rateLine, 0, len(r.rows))
	ports := map[uint16]int{}
	for l := range r.rows {
		ports[l.Port()]++
	}
	for l, x := range r.rows {
		// A wildcard listener's own row is only needed while no
		// traffic named the address it answers on.
		if !(l.Addr().IsUnspecified() && ports[l.Port()] > 1 && x.syns == 0 && x.droppedSYNs == 0 && x.ignoredACKs == 0) {
			out = append(out, rateLine{listener: l, rateRow: *x})
		}
		*x = rateRow{}
	}
	slices.SortFunc(out, func(a, b rateLine) int {
		if c := int(a.listener.Port()) - int(b.listener.Port()); c != 0 {
			return c
		}
		return a.listener.Addr().Compare(b.listener.Addr())
	})
	return out
}

// intervalPrinter prints the per-interval lines: a block redrawn in place
// on a terminal, key=value lines otherwise.
type intervalPrinter struct {
	w     io.Writer
	tty   bool
	iface string
	drawn int // lines of the last block (tty)
	// verdicts are the listeners' current verdicts.
	verdicts map[netip.AddrPort]liveVerdict
}

// liveVerdict is a listener's current verdict and syncookie SYN-ACK rate.
type liveVerdict struct {
	kind    string
	cookies float64 // per second, over the verdict window
}

// verdictWindow is how far back the per-interval verdict looks: attempts
// finished in the last verdictWindow, plus those still in flight.
const (
	verdictWindow  = 10 * time.Second
	maxRecentSaved = 50_000
)

// recentAttempts keeps copies of the attempts finished lately, for the
// per-interval verdict. Bounded: beyond maxRecentSaved the oldest go.
type recentAttempts struct {
	buf []reassemble.Attempt
}

func (r *recentAttempts) add(a *reassemble.Attempt) {
	if len(r.buf) >= maxRecentSaved {
		r.buf = append(r.buf[:0], r.buf[len(r.buf)/2:]...)
	}
	r.buf = append(r.buf, *a)
}

// expire drops attempts whose last packet is before t.
func (r *recentAttempts) expire(t int64) {
	kept := r.buf[:0]
	for _, a := range r.buf {
		if a.LastPacket >= t {
			kept = append(kept, a)
		}
	}
	r.buf = kept
}

// currentVerdicts diagnoses what is happening now: the attempts finished
// in the last verdictWindow and those still in flight (judged as if the
// capture ended now), with the host's evidence so far.
func currentVerdicts(recent *recentAttempts, tr *reassemble.Tracker, now int64, window time.Duration, h *host.Host) map[netip.AddrPort]liveVerdict {
	recent.expire(now - int64(verdictWindow))
	agg := analyze.NewAggregator()
	agg.CaptureEnd = now
	for i := range recent.buf {
		agg.Add(&recent.buf[i])
	}
	tr.InFlight(agg.Add)
	res := agg.Result()
	analyze.Diagnose(&res, h)
	secs := min(window, verdictWindow).Seconds()
	out := make(map[netip.AddrPort]liveVerdict, len(res.Listeners))
	for _, l := range res.Listeners {
		out[l.Server] = liveVerdict{kind: string(l.Diagnosis.Verdict.Kind), cookies: float64(l.Signs.SyncookieSYNACKs) / secs}
	}
	return out
}

// verdictOf returns a listener's current verdict; "-" before any attempt
// to it. A wildcard row (0.0.0.0:port from the queue sampler) takes the
// verdict of its port.
func (ip *intervalPrinter) verdictOf(l netip.AddrPort) liveVerdict {
	if v, ok := ip.verdicts[l]; ok {
		return v
	}
	if l.Addr().IsUnspecified() {
		for k, v := range ip.verdicts {
			if k.Port() == l.Port() {
				return v
			}
		}
	}
	return liveVerdict{kind: "-"}
}

func (ip *intervalPrinter) print(now time.Time, elapsed, span time.Duration, rows []rateLine, ring capture.RingStats, before, after host.Counters) error {
	per := func(n int) string { return fmt.Sprintf("%.1f", float64(n)/span.Seconds()) }
	ovf := "n/a"
	if d, ok := host.Delta(before, after, "TcpExtListenOverflows"); ok {
		ovf = fmt.Sprintf("%+d", d)
	}
	var b strings.Builder
	if ip.tty {
		if ip.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA\x1b[J", ip.drawn)
		}
		fmt.Fprintf(&b, "synq live %s  %s  +%s  ring drops %d  ListenOverflows %s\n",
			ip.iface, now.Format("15:04:05"), elapsed.Truncate(time.Second), ring.Dropped, ovf)
		fmt.Fprintf(&b, "%-24s %8s %8s %8s %8s %10s %8s  %s\n", "LISTENER", "SYN/s", "DROP/s", "IGNACK/s", "COOKIE/s", "ACCEPTQ", "SYN_RECV", "VERDICT")
		for _, r := range rows {
			aq, sr := "-", "-"
			if r.sampled {
				aq, sr = fmt.Sprintf("%d/%d", r.acceptQ, r.acceptLimit), fmt.Sprint(r.synRecv)
			}
			v := ip.verdictOf(r.listener)
			fmt.Fprintf(&b, "%-24s %8s %8s %8s %8s %10s %8s  %s\n", r.listener, per(r.syns), per(r.droppedSYNs), per(r.ignoredACKs), fmt.Sprintf("%.1f", v.cookies), aq, sr, v.kind)
		}
		ip.drawn = 2 + len(rows)
		_, err := io.WriteString(ip.w, b.String())
		return err
	}
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	fmt.Fprintf(&b, "%s interval ring_drops=%d listen_overflows=%s\n", ts, ring.Dropped, strings.TrimPrefix(ovf, "+"))
	for _, r := range rows {
		aq, lim, sr := "-", "-", "-"
		if r.sampled {
			aq, lim, sr = fmt.Sprint(r.acceptQ), fmt.Sprint(r.acceptLimit), fmt.Sprint(r.synRecv)
		}
		v := ip.verdictOf(r.listener)
		fmt.Fprintf(&b, "%s listener=%s syn/s=%s drop_syn/s=%s ign_ack/s=%s cookie/s=%s acceptq=%s acceptq_limit=%s syn_recv=%s verdict=%s\n",
			ts, r.listener, per(r.syns), per(r.droppedSYNs), per(r.ignoredACKs), fmt.Sprintf("%.1f", v.cookies), aq, lim, sr, v.kind)
	}
	_, err := io.WriteString(ip.w, b.String())
	return err
}
