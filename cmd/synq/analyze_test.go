package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/synq/synq/internal/synth"
)

func testStreams(stdin io.Reader) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	return &IOStreams{In: stdin, Out: &out, ErrOut: &errOut}, &out, &errOut
}

func TestAnalyzeFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantErr  string
		wantCode int
		check    func(t *testing.T, o *AnalyzeOptions)
	}{
		{args: []string{"a.pcap"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if o.Format != "table" || len(o.Ports) != 0 || o.Output != "" || o.Files[0] != "a.pcap" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{args: []string{"--port", "80", "--port", "443,8080", "-o", "r.json", "--format", "json", "a", "b"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if len(o.Ports) != 3 || o.Ports[2] != 8080 || o.Output != "r.json" || o.Format != "json" || len(o.Files) != 2 {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"--server", "[fd88::2]:8080", "a"}, check: func(t *testing.T, o *AnalyzeOptions) {
			a, p, err := parseServer(o.Server)
			if err != nil || a != netip.MustParseAddr("fd88::2") || p != 8080 {
				t.Errorf("parseServer(%q) = %v %v %v", o.Server, a, p, err)
			}
		}},
		{args: []string{"--server", "10.0.0.2", "a"}},
		{args: []string{}, wantErr: "at least one capture file", wantCode: exitUsage},
		{args: []string{"--port", "70000", "a"}, wantErr: `"70000" is not a port`, wantCode: exitUsage},
		{args: []string{"--port", "80,abc", "a"}, wantErr: `"abc" is not a port: want a number from 1 to 65535`, wantCode: exitUsage},
		{args: []string{"--port", "9000-8000", "a"}, wantErr: "runs backwards", wantCode: exitUsage},
		{args: []string{"--port", "http", "a"}, wantErr: "invalid argument", wantCode: exitUsage},
		{args: []string{"--format", "xml", "a"}, wantErr: `unknown format "xml"`, wantCode: exitUsage},
		{args: []string{"--server", "nope", "a"}, wantErr: "--server", wantCode: exitUsage},
		{args: []string{"-", "-"}, wantErr: "only once", wantCode: exitUsage},
		{args: []string{"--bogus", "a"}, wantErr: "unknown flag", wantCode: exitUsage},
		{args: []string{"--connections", "c.log", "a"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if o.Connections != "c.log" || o.ConnectionsFormat != "" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"--connections", "-", "-o", "r.txt", "--connections-format", "zeek", "a"}},
		{args: []string{"--connections", "c", "--connections-format", "csv", "a"}, wantErr: `unknown format "csv"`, wantCode: exitUsage},
		{args: []string{"--connections-format", "zeek", "a"}, wantErr: "needs --connections", wantCode: exitUsage},
		// A filter after "--", as tcpdump takes it, or with --filter.
		{args: []string{"a", "b", "--", "tcp", "port", "443", "and", "not", "net", "10.0.0.0/8"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if len(o.Files) != 2 || o.Filter != "tcp port 443 and not net 10.0.0.0/8" || o.filter == nil {
				t.Errorf("files %v, filter %q (%v)", o.Files, o.Filter, o.filter)
			}
		}},
		{args: []string{"--filter", "host fd88::1", "a"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if len(o.Files) != 1 || o.filter.String() != "host fd88::1" {
				t.Errorf("files %v, filter %v", o.Files, o.filter)
			}
		}},
		{args: []string{"--", "tcp"}, wantErr: "at least one capture file", wantCode: exitUsage},
		{args: []string{"--connections", "c", "--checksums", "ignore", "--zeek-parity", "a"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if o.Checksums != "ignore" || !o.ZeekParity {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"--connections", "c", "--checksums", "validate", "a"}, check: func(t *testing.T, o *AnalyzeOptions) {
			if o.Checksums != "validate" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"--connections", "c", "--checksums", "drop", "a"}, wantErr: "want record, ignore or validate", wantCode: exitUsage},
		{args: []string{"--zeek-parity", "a"}, wantErr: "give --connections FILE", wantCode: exitUsage},
		{args: []string{"--filter", "udp", "a", "--", "tcp"}, wantErr: "both in --filter and after --", wantCode: exitUsage},
		{args: []string{"--filter", "host example.com", "a"}, wantErr: "names are not resolved", wantCode: exitUsage},
		{args: []string{"--connections", "-", "a"}, wantErr: "-o FILE", wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _ := testStreams(nil)
			var got *AnalyzeOptions
			root := newCmdRoot(ios, func(o *AnalyzeOptions) error { got = o; return nil })
			root.SetArgs(append([]string{"analyze"}, tt.args...))
			err := root.Execute()
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
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestBadInput: each bad input gives one clear line on stderr and its
// documented exit code, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	healthy := scenarioCapture(t, "healthy")
	whole, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	// A pcap global header with link type 147 (USER0) and no packets.
	user0 := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 147, 0, 0, 0}
	emptyPcap := append([]byte{}, whole[:24]...)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		wantOut  string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.pcap")}, exitInput, "no such file", ""},
		{"text file", []string{write("notes.pcap", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))}, exitInput, "not a pcap or pcapng file", ""},
		{"zero-length file", []string{write("zero.pcap", nil)}, exitInput, "empty", ""},
		{"unknown link type", []string{write("user0.pcap", user0)}, exitInput, "147 (USER0)", ""},
		{"capture with no packets", []string{write("hdr.pcap", emptyPcap)}, exitInput, "no packets", ""},
		{"truncated mid-record", []string{write("cut.pcap", whole[:len(whole)*2/3+3])}, exitOK, "", "cut off"},
		{"unwritable output", []string{"-o", filepath.Join(dir, "no/such/dir/r.txt"), healthy}, exitOutput, "no such file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			code := run(append([]string{"analyze"}, tt.args...), ios)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.wantCode, errOut)
			}
			if tt.wantErr != "" {
				msg := errOut.String()
				if !oneErrorLine(msg, tt.wantErr) {
					t.Errorf("stderr %q: want one line starting \"synq: \" containing %q (and at most a next step after it)", msg, tt.wantErr)
				}
			}
			if tt.wantOut != "" && !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout does not mention %q:\n%s", tt.wantOut, out)
			}
		})
	}
}

// TestSameReportWhateverTheWrapping: standard input and a gzip-compressed
// copy give the same analysis as the plain file.
func TestSameReportWhateverTheWrapping(t *testing.T) {
	healthy := scenarioCapture(t, "healthy")
	data, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	analyse := func(stdin io.Reader, arg string) string {
		t.Helper()
		ios, out, errOut := testStreams(stdin)
		if code := run([]string{"analyze", "--format", "json", arg}, ios); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errOut)
		}
		return stripFiles(out.String())
	}
	want := analyse(nil, healthy)

	if got := analyse(bytes.NewReader(data), "-"); got != want {
		t.Errorf("standard input: report differs from the file's")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gzPath := filepath.Join(t.TempDir(), "healthy.pcap.gz")
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := analyse(nil, gzPath); got != want {
		t.Errorf("gzip: report differs from the plain file's")
	}
}

// stripFiles drops capture.files and run, which name the inputs, from a
// JSON report so reports of the same packets from different files compare
// equal.
func stripFiles(js string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return "invalid JSON: " + err.Error()
	}
	delete(m["capture"].(map[string]any), "files")
	delete(m, "run")
	out, _ := json.MarshalIndent(m, "", "  ")
	return string(out)
}

// TestRotatedFilesMerge splits a real capture into three files the way
// tcpdump -C rotation would (consecutive time slices), passes them out of
// order, and expects the same analysis as the whole file.
func TestRotatedFilesMerge(t *testing.T) {
	src := scenarioCapture(t, "accept-overflow-ack-ignored")
	f := readPcapFile(t, src)
	dir := t.TempDir()
	var parts []string
	for i := 0; i < 3; i++ {
		name := filepath.Join(dir, fmt.Sprintf("trace.pcap%d", i))
		f.write(t, name, f.recs[i*len(f.recs)/3:(i+1)*len(f.recs)/3])
		parts = append(parts, name)
	}
	analyse := func(files ...string) string {
		ios, out, errOut := testStreams(nil)
		if code := run(append([]string{"analyze", "--format", "json"}, files...), ios); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return stripFiles(out.String())
	}
	whole := analyse(src)
	if got := analyse(parts[2], parts[0], parts[1]); got != whole {
		t.Errorf("three rotated files out of order: report differs from the whole capture's\n--- whole ---\n%s\n--- parts ---\n%s", whole, got)
	}
}

func TestRootCommand(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"version"}, exitOK, "synq test"},
		{[]string{"bogus"}, exitUsage, ""},
		{[]string{"--help"}, exitOK, "Exit codes:"},
		{[]string{"analyze", "--help"}, exitOK, "syn_answered_by_ack"},
		{[]string{"completion", "bash"}, exitOK, "bash completion"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			if code := run(tt.args, ios); code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout does not contain %q", tt.wantOut)
			}
		})
	}
}

// TestErrorsInTheUsersTerms: errors keep cobra's suggestions on lines of
// their own and point usage errors at the command's help.
func TestErrorsInTheUsersTerms(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		want     []string
		wantNone string
	}{
		{[]string{"anaylze", "x.pcap"}, exitUsage, []string{"unknown command \"anaylze\"", "\nDid you mean this?\n  analyze\n", "Run 'synq --help' for usage."}, ""},
		{[]string{"analyze", "--bogus", "x.pcap"}, exitUsage, []string{"unknown flag: --bogus", "Run 'synq analyze --help' for usage."}, ""},
		{[]string{"analyze", filepath.Join(testdataDir, "healthy")}, exitInput, []string{"not a synq bundle", "synq analyze --nstat " + filepath.Join(testdataDir, "healthy", "nstat-before.txt")}, "Run '"},
		{[]string{"analyze", filepath.Join(testdataDir, "healthy", "README.md")}, exitInput, []string{"not a pcap or pcapng file", "Give a capture as tcpdump -w writes it"}, "Run '"},
		{[]string{"analyze", filepath.Join(testdataDir, "no-such.pcap")}, exitInput, []string{"no such file", "Check the path"}, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ios, _, errOut := testStreams(nil)
			if code := run(tc.args, ios); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q lacks %q", errOut.String(), w)
				}
			}
			if tc.wantNone != "" && strings.Contains(errOut.String(), tc.wantNone) {
				t.Errorf("stderr %q has %q", errOut.String(), tc.wantNone)
			}
		})
	}
}

func TestHostileFileNameInError(t *testing.T) {
	ios, _, errOut := testStreams(nil)
	name := filepath.Join(t.TempDir(), "evil\x1b]0;pwned\x07\x1b[2J.pcap")
	if code := run([]string{"analyze", name}, ios); code != exitInput {
		t.Errorf("exit %d, want %d", code, exitInput)
	}
	if strings.ContainsAny(errOut.String(), "\x1b\x07") || !strings.Contains(errOut.String(), "evil") {
		t.Errorf("stderr %q: want the name without control characters", errOut.String())
	}
}

func TestNstatFlag(t *testing.T) {
	sc := scenario{name: "accept-overflow-syn-drops", dir: filepath.Join(testdataDir, "accept-overflow-syn-drops")}
	sc.capture = scenarioCapture(t, sc.name)
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	before := filepath.Join(sc.dir, "nstat-before.txt")
	after := filepath.Join(sc.dir, "nstat-after.txt")
	// Plain nstat: the counters that changed, among them the 3
	// connections the kernel took.
	delta := write("delta.txt", "#kernel\nTcpExtListenOverflows 42 0.0\nTcpExtListenDrops 42 0.0\nTcpPassiveOpens 3 0.0\n")
	proc := write("proc.txt", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 42 42\n")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"before and after", []string{"--nstat", before, "--nstat", after}, exitOK, ""},
		{"one delta snapshot", []string{"--nstat", delta}, exitOK, ""},
		{"one absolute snapshot", []string{"--nstat", proc}, exitUsage, "totals since boot"},
		{"swapped", []string{"--nstat", after, "--nstat", before}, exitInput, "went down"},
		{"not a snapshot", []string{"--nstat", write("x.txt", "hello world\n")}, exitInput, "not an nstat"},
		{"three", []string{"--nstat", delta, "--nstat", delta, "--nstat", delta}, exitUsage, "not 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			code := run(append(append([]string{"analyze", "--format", "json"}, tc.args...), sc.capture), ios)
			if code != tc.wantCode || !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.wantCode, errOut, tc.wantErr)
			}
			if code != exitOK {
				return
			}
			var r reportJSON
			must(t, json.Unmarshal(out.Bytes(), &r))
			if r.Verdict.Kind != "accept_queue_overflow" || r.Verdict.Confidence != "high" || r.Nstat == nil || r.Nstat.Deltas["TcpExtListenOverflows"] != 42 {
				t.Errorf("verdict %s/%s, nstat %+v", r.Verdict.Kind, r.Verdict.Confidence, r.Nstat)
			}
		})
	}
}

func TestSysctlFlag(t *testing.T) {
	capPath := scenarioCapture(t, "accept-overflow-syn-drops")
	sys := filepath.Join(t.TempDir(), "sysctl.txt")
	must(t, os.WriteFile(sys, []byte("net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies = 0\nnet.ipv4.tcp_max_syn_backlog = 512\nkernel.hostname = x\n"), 0o644))
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "json", "--sysctl", sys, capPath}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Verdict verdictJSON `json:"verdict"`
		Limits  *struct {
			Sysctls    map[string]string `json:"sysctls"`
			Statements []string          `json:"statements"`
		} `json:"limits"`
	}
	must(t, json.Unmarshal(out.Bytes(), &r))
	if r.Limits == nil || r.Limits.Sysctls["net.core.somaxconn"] != "4096" {
		t.Fatalf("limits %+v", r.Limits)
	}
	for _, want := range []string{"net.core.somaxconn = 4096", "384 of 512", "tcp_syncookies = 0: a full SYN queue drops"} {
		if !mentions(r.Limits.Statements, want) {
			t.Errorf("statements do not say %q: %v", want, r.Limits.Statements)
		}
	}
	if !mentions(r.Verdict.Evidence, "comes from the application's listen() backlog") {
		t.Errorf("the verdict should say the backlog, not somaxconn, is the limit: %v", r.Verdict.Evidence)
	}
}

// TestNstatPlainDeltaLeavesOutZeros: plain nstat prints only counters that
// changed, so in a single delta snapshot an absent listen counter did not
// move. For SYNs vanishing before TCP that absence is the proof, once the
// snapshot is known to cover the capture (TcpPassiveOpens counts the 3
// connections the server took); an empty delta contradicts the capture
// and is not used.
func TestNstatPlainDeltaLeavesOutZeros(t *testing.T) {
	capPath := scenarioCapture(t, "firewall-drop")
	dir := t.TempDir()
	sys := filepath.Join(dir, "sysctl.txt")
	must(t, os.WriteFile(sys, []byte("kernel.osrelease = 6.18.0\n"), 0o644))
	for _, tc := range []struct {
		delta, conf, note string
		args              []string
	}{
		{"#kernel\nTcpPassiveOpens 3 0.0\n", "high", "one snapshot", []string{"--kernel", "6.18.0-1-amd64"}},
		{"#kernel\nTcpPassiveOpens 3 0.0\n", "medium", "RHEL 5/6", []string{"--kernel", "garbage"}},
		{"#kernel\nTcpInSegs 180 0.0\nTcpOutSegs 150 0.0\nTcpPassiveOpens 3 0.0\n", "high", "one snapshot", []string{"--sysctl", sys}},
		// Unknown kernel: RHEL 6 would not count SYNs dropped at a full
		// accept queue, so ListenDrops 0 is not decisive.
		{"#kernel\nTcpInSegs 180 0.0\nTcpOutSegs 150 0.0\nTcpPassiveOpens 3 0.0\n", "medium", "RHEL 5/6", nil},
		{"#kernel\n", "medium", "do not cover this capture", []string{"--sysctl", sys}},
	} {
		delta := tc.delta
		p := filepath.Join(dir, "delta.txt")
		must(t, os.WriteFile(p, []byte(delta), 0o644))
		ios, out, errOut := testStreams(nil)
		if code := run(append(append([]string{"analyze", "--format", "json", "--nstat", p}, tc.args...), capPath), ios); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var r reportJSON
		must(t, json.Unmarshal(out.Bytes(), &r))
		if r.Verdict.Kind != "filtered_before_tcp" || r.Verdict.Confidence != tc.conf || !mentions(r.Verdict.Evidence, tc.note) {
			t.Errorf("%q: verdict %s/%s, want filtered_before_tcp/%s saying %q\n%s", delta, r.Verdict.Kind, r.Verdict.Confidence, tc.conf, tc.note, strings.Join(r.Verdict.Evidence, "\n"))
		}
		if d, ok := r.Nstat.Deltas["TcpExtListenDrops"]; !ok || d != 0 {
			t.Errorf("%q: ListenDrops delta %d (present %v), want 0", delta, d, ok)
		}
	}
}

// TestSSFlag: a LISTEN row with Recv-Q above Send-Q during the incident
// is decisive for that socket's accept queue, even without counters.
func TestSSFlag(t *testing.T) {
	capPath := scenarioCapture(t, "accept-overflow-syn-drops")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ss, conf string
		code           int
	}{
		{"full", "State Recv-Q Send-Q Local Address:Port Peer Address:Port\nLISTEN 3 2 10.88.0.2:8080 0.0.0.0:*\n", "high", exitOK},
		{"another port full", "LISTEN 3 2 10.88.0.2:9090 0.0.0.0:*\n", "medium", exitOK},
		{"not ss output", "hello\n", "", exitInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".txt")
			must(t, os.WriteFile(p, []byte(tc.ss), 0o644))
			ios, out, errOut := testStreams(nil)
			code := run([]string{"analyze", "--format", "json", "--ss", p, capPath}, ios)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			if code != exitOK {
				return
			}
			var r reportJSON
			must(t, json.Unmarshal(out.Bytes(), &r))
			if r.Verdict.Kind != "accept_queue_overflow" || r.Verdict.Confidence != tc.conf {
				t.Errorf("verdict %s/%s, want accept_queue_overflow/%s\n%s", r.Verdict.Kind, r.Verdict.Confidence, tc.conf, strings.Join(r.Verdict.Evidence, "\n"))
			}
		})
	}
}

// TestNoColorFollowsNoColorOrg: NO_COLOR turns colour off when set to a
// non-empty value; set but empty it does nothing (https://no-color.org).
func TestNoColorFollowsNoColorOrg(t *testing.T) {
	t.Setenv("TERM", "xterm")
	for v, want := range map[string]bool{"": false, "1": true, "0": true} {
		t.Setenv("NO_COLOR", v)
		if got := systemStreams().noColor; got != want {
			t.Errorf("NO_COLOR=%q: noColor %v, want %v", v, got, want)
		}
	}
}

// TestFailOn: --fail-on turns a found cause into exit status 6 after the
// report is written; other kinds, healthy listeners and low-confidence
// verdicts leave it 0.
func TestFailOn(t *testing.T) {
	for _, tc := range []struct {
		scenario, failOn string
		code             int
	}{
		{"accept-overflow-idle", "accept_queue_overflow", exitFound},
		{"accept-overflow-idle", "syn_queue_overflow,no_listener", exitOK},
		{"accept-overflow-idle", "any", exitFound},
		{"healthy", "any", exitOK},
		{"syn-answered-by-ack", "old_connection_state", exitOK}, // low confidence: a cost, not an alert
	} {
		t.Run(tc.scenario+" "+tc.failOn, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			code := run([]string{"analyze", "--format", "json", "--fail-on", tc.failOn, scenarioCapture(t, tc.scenario)}, ios)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(out.String(), `"verdict"`) {
				t.Error("no report written")
			}
			if code == exitFound && !strings.Contains(errOut.String(), "--fail-on: found "+strings.Split(tc.failOn, ",")[0]) && tc.failOn != "any" {
				t.Errorf("stderr %q does not name what was found", errOut)
			}
		})
	}
}

// TestEmptyResultsExplainThemselves: a report with no connection attempt
// says what the capture held instead and the flag that would open it.
// The first two are real captures read without the flags they need; the
// mid-stream one is synthetic (data segments of a connection only).
func TestEmptyResultsExplainThemselves(t *testing.T) {
	var mid bytes.Buffer
	pkts := synth.MustScript(`
		0 c P. seq=1001 ack=5001 len=20
		0.001 s . seq=5001 ack=1021
		0.002 s P. seq=5001 ack=1021 len=100`)
	must(t, synth.WritePcap(&mid, pkts))
	midPath := filepath.Join(t.TempDir(), "midstream.pcap")
	must(t, os.WriteFile(midPath, mid.Bytes(), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"VXLAN underlay without --vxlan-port", []string{scenarioCapture(t, "vxlan-ipv6-8472")}, "add --vxlan-port 8472"},
		{"--port naming no listener in the capture", []string{"--port", "443", scenarioCapture(t, "healthy")}, "left out: 10.88.0.2:8080 (20 SYNs). Name one of them (--port 8080)"},
		{"connections already open, no handshake", []string{midPath}, "1 connections were already open when the capture started"},
		{"--port keeping fewer attempts than it left out", []string{"--port", "8081", scenarioCapture(t, "two-listeners-idle-and-talking")}, "left out more SYNs, to 10.88.0.2:8080 (33 SYNs)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			if code := run(append([]string{"analyze", "--format", "json"}, tc.args...), ios); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r struct {
				Capture struct {
					Hints []string `json:"hints"`
				} `json:"capture"`
			}
			must(t, json.Unmarshal(out.Bytes(), &r))
			if !strings.Contains(strings.Join(r.Capture.Hints, "\n"), tc.want) {
				t.Errorf("hints %q lack %q", r.Capture.Hints, tc.want)
			}
			ios, out, _ = testStreams(nil)
			run(append([]string{"analyze"}, tc.args...), ios)
			if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), tc.want) {
				t.Errorf("table lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestReportRecordsTheRun: the JSON names the command line and every input
// with its size and XXH64, computed independently here, each once (a set
// of captures is looked at before it is read: that look is not an input);
// a capture read from standard input is "-".
func TestReportRecordsTheRun(t *testing.T) {
	sc := filepath.Join(testdataDir, "healthy")
	files := []string{filepath.Join(sc, "nstat-before.txt"), filepath.Join(sc, "nstat-after.txt"), filepath.Join(sc, "capture.pcap"),
		filepath.Join(testdataDir, "abort-on-overflow", "capture.pcap")}
	args := []string{"analyze", "--format", "json", "--nstat", files[0], "--nstat", files[1], files[2], files[3]}
	type input struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
		XXH64 string `json:"xxh64"`
		Whole bool   `json:"whole"`
	}
	var r struct {
		Run struct {
			Command []string `json:"command"`
			Inputs  []input  `json:"inputs"`
		} `json:"run"`
	}
	ios, out, errOut := testStreams(nil)
	if code := run(args, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	must(t, json.Unmarshal(out.Bytes(), &r))
	if strings.Join(r.Run.Command, " ") != "synq "+strings.Join(args, " ") {
		t.Errorf("command %q", r.Run.Command)
	}
	if len(r.Run.Inputs) != len(files) {
		t.Fatalf("inputs %+v, want %d", r.Run.Inputs, len(files))
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		want := input{Name: f, Bytes: int64(len(b)), XXH64: fmt.Sprintf("%016x", xxhash.Sum64(b)), Whole: true}
		if r.Run.Inputs[i] != want {
			t.Errorf("input %d = %+v, want %+v", i, r.Run.Inputs[i], want)
		}
	}
	capBytes, _ := os.ReadFile(files[2])
	ios, out, _ = testStreams(bytes.NewReader(capBytes))
	if code := run([]string{"analyze", "--format", "json", "-"}, ios); code != exitOK {
		t.Fatal("stdin")
	}
	must(t, json.Unmarshal(out.Bytes(), &r))
	if len(r.Run.Inputs) != 1 || r.Run.Inputs[0].Name != "-" || r.Run.Inputs[0].XXH64 != fmt.Sprintf("%016x", xxhash.Sum64(capBytes)) {
		t.Errorf("stdin input %+v", r.Run.Inputs)
	}
}

// TestManPages: synq man writes a page per command from the command tree,
// with what --help says (the exit codes, analyze's outcomes).
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	ios, _, errOut := testStreams(nil)
	if code := run([]string{"man", "--dir", dir}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for page, want := range map[string]string{"synq.1": "Exit codes", "synq-analyze.1": "syn_answered_by_ack", "synq-live.1": ".SH NAME"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		if !strings.HasPrefix(string(b), ".nh\n.TH \"SYNQ\" \"1\"") || !strings.Contains(string(b), want) {
			t.Errorf("%s: not a man page with %q:\n%.300s", page, want, b)
		}
	}
}

// oneErrorLine reports whether msg is one error line starting "synq: " and
// containing want, followed by at most one line of next step.
func oneErrorLine(msg, want string) bool {
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	return len(lines) <= 2 && strings.HasPrefix(lines[0], "synq: ") && strings.Contains(lines[0], want) &&
		(len(lines) == 1 || !strings.HasPrefix(lines[1], "synq: "))
}
