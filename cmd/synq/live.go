package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/capture/filter"
	"github.com/synq/synq/host"
	"github.com/synq/synq/live"
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

	Interface string
	Ports     []uint
	// Filter is the capture filter expression (--filter, or the
	// arguments, as tcpdump takes them); filter is it parsed.
	Filter      string
	filter      *filter.Filter
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
	// Kernel asks for the kernel's drop reasons (eBPF); Metrics is the
	// address of the Prometheus endpoint ("" for none).
	Kernel  bool
	Metrics string
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
  drop_syn/s  SYNs that got no answer
  ign_ack/s   handshake ACKs and data the server ignored
  cookie/s    syncookie SYN-ACKs, over the last 10 s
  acceptq     the largest accept-queue length seen in the interval / limit
              (the kernel holds limit+1 before it counts the queue full)
  syn_recv    the largest number of handshakes in progress in the interval
  verdict     what is dropping attempts now (see synq analyze --help), from
              the attempts of the last 10 s and those still in progress, the
              queues sampled in the last 10 s (an accept queue seen above
              its limit decides it at once) and the counters so far

Drops are counted in the interval where they become known, while their
attempts go on: a SYN when the client retransmits it with no answer, or
once it has waited 1 s unanswered (the client's own first retransmission
timer); an ignored segment when the server retransmits its SYN-ACK over it
or leaves it 1 s unanswered. So the drop columns follow the kernel's
ListenOverflows within about a second, and over a run they add up to the
report's counts, but for SYNs still waiting for an answer at the end.

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

  # Leave the health checker's connections out (tcpdump's filter language)
  sudo synq live -i eth0 --port 8080 --duration 1m not host 10.0.0.5

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
		Use:     "live -i IFACE [flags] [FILTER EXPRESSION]",
		Short:   "Capture and sample a server's listen queues as it runs",
		Long:    liveLong + "\n\n" + exitCodeHelp,
		Example: liveExample,
		Args:    cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				if opts.Filter != "" {
					return usageErrorf("a filter both in --filter and as arguments: give one")
				}
				opts.Filter = strings.Join(args, " ")
			}
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
	f.StringVar(&opts.Filter, "filter", "", "keep only the frames this tcpdump filter expression matches, after the kernel's port filter (e.g. 'not net 10.0.0.0/8'; also as the trailing arguments, as tcpdump takes it)")
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
	f.BoolVar(&opts.Kernel, "kernel", true, "report the kernel's own reason for each dropped packet (eBPF on kfree_skb; Linux 5.17+ with BTF, root or CAP_BPF+CAP_PERFMON; --kernel=false to skip)")
	f.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics while running (e.g. :9464)")
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
	var err error
	if o.filter, err = filter.Parse(o.Filter); err != nil {
		return usageErrorf("--filter: %v", err)
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

func liveRun(opts *LiveOptions) error {
	format, _ := report.ParseFormat(opts.Format)
	if opts.Interface != "any" {
		if _, err := net.InterfaceByName(opts.Interface); err != nil {
			return usageErrorf("-i %s: no such network interface in this namespace (ip -br link lists them; -i any captures on all)", opts.Interface)
		}
	}
	lines := opts.IO.Out
	if format != report.FormatTable && opts.Output == "" {
		lines = opts.IO.ErrOut
	}
	printer := &intervalPrinter{w: lines, tty: lines == opts.IO.Out && opts.IO.IsStdoutTTY(), iface: opts.Interface}
	cfg := live.Config{
		Interface: opts.Interface, Filter: opts.filter, Duration: opts.Duration, Count: opts.Count, Interval: opts.Interval,
		RingBytes: opts.RingSizeMiB << 20, MaxAttempts: opts.MaxAttempts, Dir: opts.Dir,
		ProcNet: opts.ProcNet, ProcSys: opts.ProcSys, Now: opts.Now, Version: opts.Version, Args: opts.IO.args,
		OnStart: func(st live.Start) {
			portsNote := "every port"
			if len(st.Ports) > 0 {
				portsNote = "port " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(st.Ports)), ","), "[]")
			}
			fmt.Fprintf(opts.IO.ErrOut, "synq live: capturing on %s (%s), %s link; Ctrl-C to stop\n",
				st.Interface, portsNote, capture.LinkTypeName(st.LinkType))
		},
		OnInterval: func(iv live.Interval) error { return withCode(exitOutput, printer.print(&iv)) },
		OnWarning:  func(err error) { fmt.Fprintf(opts.IO.ErrOut, "synq: %v\n", err) },
	}
	for _, p := range opts.Ports {
		cfg.Ports = append(cfg.Ports, uint16(p))
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts(opts.Connections != "")
	}
	var conns *connsFile
	if opts.Connections != "" {
		cfg.Records = func(start time.Time) (live.Records, error) {
			var err error
			if conns, err = createConnections(opts.IO, opts.Connections, opts.ConnectionsFormat); err != nil {
				return nil, err
			}
			return connRecords{conns}, nil
		}
	}
	defer func() { conns.abort() }()

	extras, err := setupLiveExtras(opts, &cfg)
	if err != nil {
		return err
	}
	defer extras.close()

	ctx, cancel := opts.Notify(context.Background())
	defer cancel()
	in, err := live.Run(ctx, cfg)
	if err != nil {
		return liveExitError(err)
	}
	if err := writeReport(opts.IO.Out, opts.Output, format, in); err != nil {
		return err
	}
	return failOnFound(&in.Result, opts.FailOn)
}

// liveExitError gives an error of live.Run its exit code; the errors of
// the hooks (the export, the interval lines) carry theirs already.
func liveExitError(err error) error {
	switch live.KindOf(err) {
	case live.KindPermission:
		return withCode(exitPermission, err)
	case live.KindUsage:
		return withCode(exitUsage, err)
	case live.KindInput:
		return withCode(exitInput, err)
	case live.KindOutput:
		return withCode(exitOutput, err)
	}
	return err
}

// connRecords is the --connections export as live.Records: its errors
// are already exit errors (code 4) naming the file.
type connRecords struct{ c *connsFile }

func (r connRecords) Begin(start int64)                                  { r.c.w.Begin(start) }
func (r connRecords) Add(a *reassemble.Attempt, k []analyze.ReasonCount) { r.c.w.AddKernel(a, k) }
func (r connRecords) SetCaptureEnd(end int64)                            { r.c.w.SetCaptureEnd(end) }
func (r connRecords) Err() error                                         { return r.c.err() }
func (r connRecords) Close() error                                       { return r.c.close() }

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

// intervalPrinter prints the per-interval lines: a block redrawn in place
// on a terminal, key=value lines otherwise.
type intervalPrinter struct {
	w     io.Writer
	tty   bool
	iface string
	drawn int // lines of the last block (tty)
}

// verdictOf is a row's current verdict; "-" before any attempt to it.
func verdictOf(iv *live.Interval, l netip.AddrPort) (kind string, cookies float64) {
	v, ok := iv.VerdictOf(l)
	if !ok {
		return "-", 0
	}
	return string(v.Kind), v.Cookies
}

func (ip *intervalPrinter) print(iv *live.Interval) error {
	per := func(n int) string { return fmt.Sprintf("%.1f", float64(n)/iv.Span.Seconds()) }
	ovf := "n/a"
	if d, ok := host.Delta(iv.Before, iv.After, "TcpExtListenOverflows"); ok {
		ovf = fmt.Sprintf("%+d", d)
	}
	var b strings.Builder
	if ip.tty {
		if ip.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA\x1b[J", ip.drawn)
		}
		fmt.Fprintf(&b, "synq live %s  %s  +%s  ring drops %d  ListenOverflows %s\n",
			ip.iface, iv.Time.Format("15:04:05"), iv.Elapsed.Truncate(time.Second), iv.Ring.Dropped, ovf)
		fmt.Fprintf(&b, "%-24s %8s %8s %8s %8s %10s %8s  %s\n", "LISTENER", "SYN/s", "DROP/s", "IGNACK/s", "COOKIE/s", "ACCEPTQ", "SYN_RECV", "VERDICT")
		for _, r := range iv.Rows {
			aq, sr := "-", "-"
			if r.Sampled {
				aq, sr = fmt.Sprintf("%d/%d", r.AcceptQueue, r.AcceptLimit), fmt.Sprint(r.SynRecv)
			}
			kind, cookies := verdictOf(iv, r.Listener)
			fmt.Fprintf(&b, "%-24s %8s %8s %8s %8s %10s %8s  %s\n", r.Listener, per(r.SYNs), per(r.DroppedSYNs), per(r.IgnoredACKs), fmt.Sprintf("%.1f", cookies), aq, sr, kind)
		}
		ip.drawn = 2 + len(iv.Rows)
		_, err := io.WriteString(ip.w, b.String())
		return err
	}
	ts := iv.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	fmt.Fprintf(&b, "%s interval ring_drops=%d listen_overflows=%s\n", ts, iv.Ring.Dropped, strings.TrimPrefix(ovf, "+"))
	for _, r := range iv.Rows {
		aq, lim, sr := "-", "-", "-"
		if r.Sampled {
			aq, lim, sr = fmt.Sprint(r.AcceptQueue), fmt.Sprint(r.AcceptLimit), fmt.Sprint(r.SynRecv)
		}
		kind, cookies := verdictOf(iv, r.Listener)
		fmt.Fprintf(&b, "%s listener=%s syn/s=%s drop_syn/s=%s ign_ack/s=%s cookie/s=%s acceptq=%s acceptq_limit=%s syn_recv=%s verdict=%s\n",
			ts, r.Listener, per(r.SYNs), per(r.DroppedSYNs), per(r.IgnoredACKs), fmt.Sprintf("%.1f", cookies), aq, lim, sr, kind)
	}
	_, err := io.WriteString(ip.w, b.String())
	return err
}
