package main

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synq/synq/host"
	"github.com/synq/synq/live"
)

func TestLiveFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantErr  string
		wantCode int
		check    func(*testing.T, *LiveOptions)
	}{
		{args: []string{"-i", "eth0", "--port", "80,443", "--port", "8080", "--duration", "30s", "-w", "d", "--format", "json", "-o", "r.json"},
			check: func(t *testing.T, o *LiveOptions) {
				if o.Interface != "eth0" || len(o.Ports) != 3 || o.Duration != 30*time.Second || o.Dir != "d" || o.Format != "json" || o.Output != "r.json" {
					t.Errorf("got %+v", o)
				}
				if o.Interval != time.Second || o.RingSizeMiB != 32 {
					t.Errorf("defaults: interval %v, ring %d MiB", o.Interval, o.RingSizeMiB)
				}
			}},
		{args: []string{"-i", "any", "--count", "5", "--interval", "500ms"}, check: func(t *testing.T, o *LiveOptions) {
			if o.Count != 5 || o.Interval != 500*time.Millisecond {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{}, wantErr: "needs an interface", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--port", "0"}, wantErr: `"0" is not a port`, wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--fail-on", "bogus"}, wantErr: `unknown verdict kind "bogus"`, wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--fail-on", "any"}, check: func(t *testing.T, o *LiveOptions) {
			if len(o.FailOn) < 5 {
				t.Errorf("--fail-on any: %v", o.FailOn)
			}
		}},
		{args: []string{"-i", "eth0", "--format", "html", "-o", "r.html"}, check: func(t *testing.T, o *LiveOptions) {
			if o.Format != "html" || o.Output != "r.html" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"-i", "eth0", "--format", "yaml"}, wantErr: `unknown format "yaml"`, wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--interval", "10ms"}, wantErr: "--interval", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--connections", "-"}, wantErr: "-o FILE", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--connections", "c", "--connections-format", "csv"}, wantErr: `unknown format "csv"`, wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--count", "-1"}, wantErr: "--count", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "--ring-size", "1"}, wantErr: "--ring-size", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "extra"}, wantErr: `"extra": not a filter keyword`, wantCode: exitUsage},
		// The trailing arguments are a filter expression, as tcpdump takes it.
		{args: []string{"-i", "eth0", "--port", "8080", "not", "host", "10.0.0.5"}, check: func(t *testing.T, o *LiveOptions) {
			if o.Filter != "not host 10.0.0.5" || o.filter == nil || len(o.Ports) != 1 {
				t.Errorf("filter %q (%v), ports %v", o.Filter, o.filter, o.Ports)
			}
		}},
		{args: []string{"-i", "eth0", "--filter", "tcp port 80 or 443"}, check: func(t *testing.T, o *LiveOptions) {
			if o.filter.String() != "tcp port 80 or 443" {
				t.Errorf("filter %q", o.filter)
			}
		}},
		{args: []string{"-i", "eth0", "--filter", "tcp", "udp"}, wantErr: "both in --filter and as arguments", wantCode: exitUsage},
		{args: []string{"-i", "eth0", "tcp[13]", "&", "2", "!=", "0"}, wantErr: "byte offsets", wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _ := testStreams(nil)
			var got *LiveOptions
			cmd := NewCmdLive(ios, func(o *LiveOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			cmd.SetFlagErrorFunc(flagErrorIsUsage) // as under the root
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if c := exitCodeOf(err); c != tt.wantCode {
					t.Errorf("exit code %d, want %d", c, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

// TestLiveNeedsPrivilege: without CAP_NET_RAW, a clear message and exit 5.
func TestLiveNeedsPrivilege(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t) // live_e2e_test.go (Linux)
		return
	}
	ios, _, errOut := testStreams(nil)
	if code := run([]string{"live", "-i", "lo", "--duration", "1s"}, ios); code != exitPermission {
		t.Errorf("exit code %d, want %d; stderr %s", code, exitPermission, errOut)
	}
	if !strings.Contains(errOut.String(), "root or the CAP_NET_RAW") {
		t.Errorf("stderr: %s", errOut)
	}
}

// TestLiveLines: the per-interval lines, key=value and the terminal
// block, from one live.Interval.
func TestLiveLines(t *testing.T) {
	srv := netip.MustParseAddrPort("10.0.0.2:8080")
	rows := []live.Row{{Listener: srv, SYNs: 4, DroppedSYNs: 2, IgnoredACKs: 1, Sampled: true, AcceptQueue: 3, AcceptLimit: 2, SynRecv: 1}}
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		ip := &intervalPrinter{w: &b, tty: tty, iface: "eth0"}
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		before, after := host.Counters{"TcpExtListenOverflows": 1}, host.Counters{"TcpExtListenOverflows": 4}
		iv := live.Interval{Time: now, Elapsed: 3 * time.Second, Span: 2 * time.Second, Rows: rows, Before: before, After: after,
			Verdicts: map[netip.AddrPort]live.Verdict{srv: {Kind: "accept_queue_overflow", Cookies: 1.5}}}
		if err := ip.print(&iv); err != nil {
			t.Fatal(err)
		}
		want := "2026-01-02T03:04:05.000Z listener=10.0.0.2:8080 syn/s=2.0 drop_syn/s=1.0 ign_ack/s=0.5 cookie/s=1.5 acceptq=3 acceptq_limit=2 syn_recv=1 verdict=accept_queue_overflow\n"
		if tty {
			want = "10.0.0.2:8080                 2.0      1.0      0.5      1.5        3/2        1  accept_queue_overflow\n"
		}
		if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "3") {
			t.Errorf("tty=%v:\n%s\nwant a line\n%s", tty, b.String(), want)
		}
		if !tty && !strings.Contains(b.String(), "listen_overflows=3") {
			t.Errorf("no counter change: %s", b.String())
		}
		// The next interval: no traffic, and a wildcard row from the
		// sampler takes the verdict of its port.
		next := live.Interval{Time: now.Add(time.Second), Elapsed: 4 * time.Second, Span: time.Second, Before: after, After: after,
			Rows:     []live.Row{{Listener: srv}, {Listener: netip.MustParseAddrPort("0.0.0.0:9090"), Sampled: true, AcceptLimit: 5}},
			Verdicts: iv.Verdicts}
		if err := ip.print(&next); err != nil {
			t.Fatal(err)
		}
		if tty && !strings.Contains(b.String(), "\x1b[3A\x1b[J") {
			t.Errorf("tty block not redrawn in place: %q", b.String())
		}
		if !tty && !strings.Contains(b.String(), "listener=0.0.0.0:9090 syn/s=0.0 drop_syn/s=0.0 ign_ack/s=0.0 cookie/s=0.0 acceptq=0 acceptq_limit=5 syn_recv=0 verdict=-\n") {
			t.Errorf("a listener with no attempt yet should say verdict=-:\n%s", b.String())
		}
	}
}
