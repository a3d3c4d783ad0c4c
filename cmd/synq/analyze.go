package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/capture/filter"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
	"github.com/synq/synq/report"
)

// AnalyzeOptions holds what `synq analyze` needs: injected things first,
// then flag values.
type AnalyzeOptions struct {
	IO      *IOStreams
	Open    func(name string) (io.ReadCloser, error)
	Version string

	Files      []string
	Ports      []uint
	VXLANPorts []uint
	// Filter is the capture filter expression (--filter, or what follows
	// "--"); filter is it parsed by validate.
	Filter string
	filter *filter.Filter
	Server string
	Format string
	Output string
	FailOn []analyze.Kind

	rec *inputRecorder // what was read, for the report's record of the run
	// probe opens a capture for a first look, unrecorded: the reader
	// opens each file of a set again to read it (recorded then).
	probe       func(string) (io.ReadCloser, error)
	Nstat       []string
	Sysctl      string
	SS          []string
	Kernel      string
	MaxAttempts int
	CPUProfile  string
	// Connections is the per-connection export file ("-": standard
	// output), ConnectionsFormat its format ("" from the file name).
	Connections       string
	ConnectionsFormat string
	// Checksums is what --connections does with bad TCP checksums:
	// "record" (C/c in the history) or "ignore" (zeek -C). ZeekParity
	// splits records where Zeek's timers would.
	Checksums  string
	ZeekParity bool
	MemProfile string
	Quiet      bool
}

const analyzeLong = `Read one or more captures, follow every TCP handshake, and report per
listener (server address and port) what happened to each connection attempt.

FILE is a pcap (microsecond or nanosecond, either byte order) or pcapng file,
optionally gzip-compressed, or - for standard input. Several files (tcpdump -C
or -G rotation) are merged in timestamp order. Link types: Ethernet (with
802.1Q/QinQ tags), Linux cooked SLL and SLL2 (tcpdump -i any), raw IP, BSD
loopback, 802.11 data frames (also behind radiotap), PPP, FDDI, pflog.

Mirror ports and overlays: TCP inside VXLAN (UDP 4789, more with
--vxlan-port), Geneve (6081), GRE, ERSPAN I/II/III, IP-in-IP (IPv4/IPv6 in
IPv4/IPv6), MPLS, PPPoE, GTP-U (2152) and Teredo (3544), nested up to 8 deep,
is analysed by its inner addresses; the same inner connection in two
tunnels counts as two. The capture summary counts frames per tunnel kind.

The server of an attempt is the side that received the SYN (--server forces
it). Every attempt gets exactly one outcome:

  established          handshake completed and the server took the connection
                       (acknowledged or sent data, or never retransmitted its
                       SYN-ACK after the client's ACK)
  unanswered_syn       SYN (maybe retransmitted), no answer at all
  rejected             the server answered the SYN with RST (no listener)
  icmp_unreachable     the SYN got an ICMP destination-unreachable error
                       (firewall REJECT with icmp, or a router), no TCP answer
  synack_unacked       SYN-ACK sent (maybe retransmitted), never acknowledged
  ack_ignored          the client acknowledged the SYN-ACK but the server kept
                       retransmitting it or never acknowledged the client's data
                       (accept queue full)
  reset_after_ack      the server answered the handshake ACK with RST
                       (tcp_abort_on_overflow=1)
  client_reset         the client reset after the SYN-ACK
  syn_answered_by_ack  the SYN got a bare ACK (challenge ACK, stale state)
  proxied_unanswered   a SYN proxy (zero-window SYN-ACK: netfilter SYNPROXY)
                       completed the handshake; the listener never answered
                       the SYN the proxy then sent it (accept queue full?)
  incomplete           the capture ended inside the retransmission window: its
                       only SYN less than 3 s, or its only SYN-ACK less than
                       1.5 s, before the end (not counted as failed)

Connections already open when the capture started (no SYN seen) are counted
apart and kept out of the handshake statistics.

synq then says what is dropping the attempts (accept queue, SYN queue with or
without syncookies, PAWS behind NAT, a firewall before TCP, SYN-ACKs lost on
the way out or with no route back, no listener, loss on the path,
TCP_DEFER_ACCEPT), with its evidence, a confidence and what
to change. Each cause is weighed on all the evidence at once: packets,
and, when given, the server's counters (--nstat: nstat -az in the server's
network namespace, before and after the capture), its sysctls (--sysctl:
sysctl -a, whose kernel.osrelease says how this kernel counts drops) and its
listen queues (--ss: ss -lnt during the incident). A decisive piece of
evidence against a cause rules it out, and the report says which; counters
that do not cover the capture (another host, namespace or time) are shown
and not used; on a proxy's host, its backends (listeners whose every attempt
came from the proxy) are judged without the proxy's counters, which count
its connects to them, not their queues. Where the inputs cannot decide, the verdict is inconclusive
and names the command that would.

A filter in tcpdump's language (--filter, or after --) keeps only the
frames it selects, matched on their outer headers as tcpdump -r would: host,
net, port, portrange, src/dst, ip, ip6, tcp, udp, icmp, icmp6, proto, vlan,
and/or/not and parentheses (README: what differs). The report counts the
frames it left out.

Per listener, "SYN drops" counts SYN packets (retransmissions included) that got
no answer before the client's next packet, and "ACK ignored" counts client
segments after the SYN-ACK that the server did not take. For an accept-queue
overflow captured on the server, their sum equals the kernel's
TcpExtListenOverflows increase.`

const analyzeExample = `  # What happened to connection attempts in an incident capture
  synq analyze incident.pcap

  # With the kernel's counters, taken before and after the capture
  nstat -az > before.txt; tcpdump -i eth0 -w incident.pcap 'tcp port 8080'; nstat -az > after.txt
  synq analyze --nstat before.txt --nstat after.txt incident.pcap

  # Everything the server can tell, for the surest verdict
  sysctl -a > sysctl.txt; nstat -az > before.txt
  tcpdump -i eth0 -w incident.pcap 'tcp port 8080' & for i in 1 2 3; do ss -lnt; sleep 1; done > ss.txt
  nstat -az > after.txt
  synq analyze --nstat before.txt --nstat after.txt --sysctl sysctl.txt --ss ss.txt incident.pcap

  # Only the listener on port 443, as JSON for another tool
  synq analyze --port 443 --format json -o report.json incident.pcap.gz

  # One self-contained HTML page with charts, to attach to the postmortem
  synq analyze --format html -o report.html incident.pcap

  # Rotated files, merged in time order
  synq analyze trace-*.pcap

  # Straight from tcpdump
  tcpdump -i eth0 -w - 'tcp port 8080' | synq analyze -

  # Also every connection attempt, one line each (JSON Lines, or a Zeek
  # conn.log for a name ending in .log); fields in docs/connections.md
  synq analyze --connections conns.jsonl incident.pcap
  synq analyze --connections conn.log incident.pcap

  # A Flannel/Linux VXLAN underlay (UDP 8472) captured on the host
  synq analyze --vxlan-port 8472 underlay.pcap

  # Only some frames, with tcpdump's filter language (on the outer headers)
  synq analyze --filter 'tcp port 443 and not net 10.0.0.0/8' incident.pcap
  synq analyze incident.pcap -- host 192.0.2.7 or host 192.0.2.8`

// NewCmdAnalyze builds `synq analyze`. runF replaces the run function in
// tests of flag parsing.
func NewCmdAnalyze(ios *IOStreams, open func(string) (io.ReadCloser, error), runF func(*AnalyzeOptions) error) *cobra.Command {
	opts := &AnalyzeOptions{IO: ios, Open: open, Version: buildVersion()}
	cmd := &cobra.Command{
		Use:     "analyze [flags] FILE... [-- FILTER EXPRESSION]",
		Short:   "Classify every TCP handshake in a capture, per listener",
		Long:    analyzeLong,
		Example: analyzeExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if files, _ := splitAtDash(cmd, args); len(files) == 0 {
				return usageErrorf("analyze needs at least one capture file (or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			files, expr := splitAtDash(cmd, args)
			opts.Files = files
			if expr != "" {
				if opts.Filter != "" {
					return usageErrorf("a filter both in --filter and after --: give one")
				}
				opts.Filter = expr
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return analyzeRun(opts)
		},
	}
	f := cmd.Flags()
	f.Var(portList{&opts.Ports}, "port", "only listeners on these ports, and those this host forwarded their connections to (DNAT: a NodePort's pod) (repeatable; comma-separated or ranges: 80,443,8000-8010; default every port)")
	f.Var(portList{&opts.VXLANPorts}, "vxlan-port", "also decode UDP to these ports as VXLAN, besides 4789 (repeatable, comma-separated; e.g. 8472, Linux's and Flannel's default)")
	f.StringVar(&opts.Server, "server", "", "the server's IP[:PORT]: only its flows are analysed, and it is always the server side")
	f.StringVar(&opts.Filter, "filter", "", "keep only the frames this tcpdump filter expression matches, on their outer headers, as tcpdump -r would (e.g. 'tcp port 443 and not net 10.0.0.0/8'; also after --)")
	f.StringVar(&opts.Format, "format", "table", "output format: "+strings.Join(report.Formats(), ", "))
	f.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of standard output")
	f.Var(failOn{&opts.FailOn}, "fail-on", "exit with status 6 when a listener's verdict is one of these kinds, medium or high confidence (comma-separated; any: every kind that names a problem)")
	f.StringArrayVar(&opts.Nstat, "nstat", nil, "kernel counters from the server (nstat, nstat -a, nstat -j, netstat -s or /proc/net/netstat+snmp): twice, before and after the capture, or once from plain nstat (changes)")
	f.StringVar(&opts.Sysctl, "sysctl", "", "the server's sysctls (sysctl -a output or a part of it; kernel.osrelease tells synq how this kernel counts drops)")
	f.StringVar(&opts.Kernel, "kernel", "", "the server's kernel release (uname -r), when --sysctl does not give kernel.osrelease: it says how the kernel counts drops")
	f.StringArrayVar(&opts.SS, "ss", nil, "listen queues sampled on the server during the incident: ss -lnt output, one or more samples per file (repeatable); Recv-Q above Send-Q is a full accept queue, no row for the port: nothing listened")
	f.IntVar(&opts.MaxAttempts, "max-attempts", 0, "most connection attempts held in memory at once; beyond it the longest idle are finished early (0: from available memory)")
	addConnectionsFlags(f, &opts.Connections, &opts.ConnectionsFormat)
	f.StringVar(&opts.Checksums, "checksums", "record", "with --connections, bad TCP checksums: record (C/c in the history, the segment still counts), ignore (as zeek -C: checksum offload makes every captured segment a host sent look bad) or validate (as Zeek without -C: C/c, then the segment is dropped, from the handshake analysis too)")
	f.BoolVar(&opts.ZeekParity, "zeek-parity", false, "with --connections, split records where Zeek starts a new connection (its 5-s attempt timer and close delay, a SYN after a close or reset, its 5-min inactivity timeout), to compare with Zeek's conn.log; the handshake analysis then counts the split attempts too")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress bar (it shows on a terminal when reading takes over a second)")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&opts.MemProfile, "memprofile", "", "write a heap profile (go tool pprof) to this file at the end of the capture")
	_ = f.MarkHidden("memprofile")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return report.Formats(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *AnalyzeOptions) validate() error {
	for _, p := range o.Ports {
		if p == 0 || p > 65535 {
			return usageErrorf("--port %d: want a port from 1 to 65535", p)
		}
	}
	for _, p := range o.VXLANPorts {
		if p == 0 || p > 65535 {
			return usageErrorf("--vxlan-port %d: want a port from 1 to 65535", p)
		}
	}
	if _, err := report.ParseFormat(o.Format); err != nil {
		return usageErrorf("--format: %v", err)
	}
	if _, _, err := parseServer(o.Server); err != nil {
		return usageErrorf("--server: %v", err)
	}
	var err error
	if o.filter, err = filter.Parse(o.Filter); err != nil {
		return usageErrorf("--filter: %v", err)
	}
	if o.MaxAttempts < 0 {
		return usageErrorf("--max-attempts %d: want 0 (automatic) or more", o.MaxAttempts)
	}
	if o.Checksums != "record" && o.Checksums != "ignore" && o.Checksums != "validate" {
		return usageErrorf("--checksums %q: want record, ignore or validate", o.Checksums)
	}
	if o.Connections == "" && (o.Checksums != "record" || o.ZeekParity) {
		return usageErrorf("--checksums and --zeek-parity shape the --connections records: give --connections FILE")
	}
	if err := validateConnections(o.Connections, o.ConnectionsFormat, o.Output); err != nil {
		return err
	}
	if len(o.Nstat) > 2 {
		return usageErrorf("--nstat: give one snapshot (deltas) or two (before and after), not %d", len(o.Nstat))
	}
	stdin := 0
	for _, f := range o.Files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return usageErrorf("standard input (-) can be read only once")
	}
	return nil
}

// parseServer reads --server: "IP", "IP:PORT" or "[IPv6]:PORT".
func parseServer(s string) (netip.Addr, uint16, error) {
	if s == "" {
		return netip.Addr{}, 0, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.Addr{}, 0, fmt.Errorf("%q: port 0", s)
		}
		return ap.Addr().Unmap(), ap.Port(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q is not IP or IP:PORT", s)
	}
	return a.Unmap(), 0, nil
}

func analyzeRun(opts *AnalyzeOptions) error {
	if opts.CPUProfile != "" {
		stop, err := startCPUProfile(opts.CPUProfile)
		if err != nil {
			return withCode(exitOutput, err)
		}
		defer stop()
	}
	format, _ := report.ParseFormat(opts.Format)
	rec := &inputRecorder{}
	opts.probe = opts.Open
	opts.Open, opts.rec = rec.wrap(opts.Open), rec
	serverAddr, serverPort, _ := parseServer(opts.Server)
	cfg := reassemble.Config{Server: serverAddr, ServerPort: serverPort, MaxAttempts: opts.MaxAttempts}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts(opts.Connections != "")
	}
	for _, p := range opts.Ports {
		cfg.Ports = append(cfg.Ports, uint16(p))
	}

	bun, err := openBundleArg(opts)
	if err != nil {
		return err
	}
	var base host.HostInput
	if bun != nil {
		base = bun.HostInput()
	}
	hostEv, err := readHost(opts, base)
	if err != nil {
		return err
	}
	conns, err := createConnections(opts.IO, opts.Connections, opts.ConnectionsFormat)
	if err != nil {
		return err
	}
	in, err := readCaptures(opts, cfg, conns)
	if err != nil {
		conns.abort()
		return err
	}
	if err := conns.close(); err != nil {
		return err
	}
	in.Version = opts.Version
	in.Host = hostEv
	if bun != nil {
		applyBundle(in, bun)
	}
	analyze.Diagnose(&in.Result, hostEv)
	in.Run = report.RunOf(opts.IO.args, rec.inputs(), hostEv)

	out := opts.IO.Out
	if opts.Output != "" {
		f, err := os.Create(opts.Output)
		if err != nil {
			return withCode(exitOutput, err)
		}
		defer f.Close()
		out = f
	}
	if err := report.Render(out, format, in); err != nil {
		return withCode(exitOutput, fmt.Errorf("writing the report: %w", err))
	}
	if f, ok := out.(*os.File); ok && opts.Output != "" {
		if err := f.Close(); err != nil {
			return withCode(exitOutput, err)
		}
	}
	return failOnFound(&in.Result, opts.FailOn)
}

// readCaptures runs the pipeline: read and decode, track, aggregate, and
// export each attempt to conns (when not nil) as it is finished.
func readCaptures(opts *AnalyzeOptions, cfg reassemble.Config, conns *connsFile) (*report.Input, error) {
	vxlan := make([]uint16, len(opts.VXLANPorts))
	for i, p := range opts.VXLANPorts {
		vxlan[i] = uint16(p)
	}
	stdin := opts.IO.In
	if slices.Contains(opts.Files, "-") {
		stdin = opts.rec.stdin(stdin)
	}
	rd, err := capture.Open(opts.Files, capture.OpenOptions{Stdin: stdin, Open: opts.Open, Probe: opts.probe,
		VerifyChecksums: conns != nil && opts.Checksums != "ignore", VXLANPorts: vxlan, Filter: opts.filter})
	cfg.ConnState = conns != nil
	cfg.ZeekParity = conns != nil && opts.ZeekParity
	cfg.DropBadChecksums = conns != nil && opts.Checksums == "validate"
	if err != nil {
		return nil, withCode(exitInput, err)
	}
	defer rd.Close()
	stopProgress := startProgress(opts.IO, opts.Quiet, progressDelay, rd.TotalBytes(), rd.BytesRead)
	defer stopProgress()

	// Attempts finished before the end of the capture were complete; those
	// the end cuts short are judged against it, by both sinks.
	agg := analyze.NewAggregator()
	sinks := []reassemble.Sink{{Add: agg.Add, AtEnd: func() {
		agg.CaptureEnd = rd.Summary().End
		if opts.MemProfile != "" {
			_ = writeHeapProfile(opts.MemProfile)
		}
	}}}
	var stop func() bool
	if conns != nil {
		// The export's #open time: Open has read the first packet of
		// every file already.
		conns.w.Begin(rd.Summary().Start)
		// A failed export (a full disk) stops the reading: the rest of
		// the capture would be read for nothing.
		var failed atomic.Bool
		sinks = append(sinks, reassemble.Sink{
			Add: func(a *reassemble.Attempt) {
				conns.w.Add(a)
				if conns.w.Err() != nil {
					failed.Store(true)
				}
			},
			AtEnd: func() { conns.w.SetCaptureEnd(rd.Summary().End) },
		})
		stop = failed.Load
	}
	stats, err := reassemble.Run(rd, cfg, sinks, stop)
	if err := conns.err(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, withCode(exitInput, err)
	}
	sum := rd.Summary()
	if sum.Packets == 0 {
		return nil, withCode(exitInput, errors.New(noPacketsMessage(sum)))
	}
	res := agg.Result()
	res.Evicted = stats.Evicted
	return &report.Input{Capture: sum, Tracker: stats, Result: res}, nil
}

func noPacketsMessage(sum capture.Summary) string {
	msg := "no packets in " + strings.Join(fileNames(sum), ", ")
	if len(sum.Warnings) > 0 {
		msg += ": " + strings.Join(sum.Warnings, "; ")
	}
	return msg
}

func fileNames(sum capture.Summary) []string {
	names := make([]string, len(sum.Files))
	for i, f := range sum.Files {
		names[i] = f.Name
	}
	return names
}

// splitAtDash splits the arguments at "--": the files before it, and the
// filter expression after it, as tcpdump takes one (joined by spaces).
func splitAtDash(cmd *cobra.Command, args []string) (files []string, expr string) {
	at := cmd.ArgsLenAtDash()
	if at < 0 {
		return args, ""
	}
	return args[:at], strings.Join(args[at:], " ")
}
