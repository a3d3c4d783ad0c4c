//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// liveLab is a client and a server network namespace joined by a veth
// pair, with synq and labtool built for them.
type liveLab struct {
	t        *testing.T
	cli, srv string // namespace names
	synq     string // binary
	labtool  string // binary
	dir      string
}

const (
	liveCliAddr = "10.89.0.1"
	liveSrvAddr = "10.89.0.2"
	liveSrvIf   = "synqlive-s"
)

var buildOnce struct {
	sync.Once
	synq, labtool string
	err           error
}

// buildLiveBinaries builds synq and labtool once per test binary.
func buildLiveBinaries(t *testing.T) (string, string) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "synqlive-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.synq = filepath.Join(dir, "synq")
		buildOnce.labtool = filepath.Join(dir, "labtool")
		for _, b := range [][2]string{{buildOnce.synq, "."}, {buildOnce.labtool, "../../testdata/lab/labtool"}} {
			out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput()
			if err != nil {
				buildOnce.err = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.synq, buildOnce.labtool
}

// newLiveLab creates the namespaces (removed by t.Cleanup, also on
// failure) or skips the test when it cannot.
func newLiveLab(t *testing.T, tag string) *liveLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and captures with AF_PACKET (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (apt-get install iproute2)")
	}
	synq, labtool := buildLiveBinaries(t)
	l := &liveLab{t: t, synq: synq, labtool: labtool, dir: t.TempDir(),
		cli: fmt.Sprintf("synqlive-%d-%s-c", os.Getpid(), tag),
		srv: fmt.Sprintf("synqlive-%d-%s-s", os.Getpid(), tag)}
	for _, ns := range []string{l.cli, l.srv} {
		l.ip("netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	l.ip("link", "add", "synqlive-c", "netns", l.cli, "type", "veth", "peer", "name", liveSrvIf, "netns", l.srv)
	for _, side := range []struct{ ns, dev, addr string }{{l.cli, "synqlive-c", liveCliAddr}, {l.srv, liveSrvIf, liveSrvAddr}} {
		l.ip("-n", side.ns, "link", "set", "lo", "up")
		l.ip("-n", side.ns, "addr", "add", side.addr+"/24", "dev", side.dev)
		l.ip("-n", side.ns, "link", "set", side.dev, "up")
	}
	l.sysctl(l.srv, "net/ipv4/tcp_syncookies", "1")
	l.sysctl(l.srv, "net/ipv4/tcp_synack_retries", "2")
	l.sysctl(l.srv, "net/ipv4/tcp_abort_on_overflow", "0")
	l.sysctl(l.cli, "net/ipv4/tcp_syn_retries", "2")
	return l
}

func (l *liveLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sysctl writes a sysctl of namespace ns through its /proc/sys.
func (l *liveLab) sysctl(ns, path, value string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, path))
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("sysctl %s in %s: %v\n%s", path, ns, err, out)
	}
}

// start runs a command in namespace ns; it is killed at cleanup if still
// running.
func (l *liveLab) start(ns string, stdout, stderr *bytes.Buffer, name string, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// liveReport is the part of the JSON report the test reads.
type liveReport struct {
	Listeners []struct {
		Server             string         `json:"server"`
		Attempts           int            `json:"attempts"`
		Outcomes           map[string]int `json:"outcomes"`
		DroppedSYNPackets  int            `json:"dropped_syn_packets"`
		IgnoredACKSegments int            `json:"ignored_ack_segments"`
		Failed             int            `json:"failed"`
	} `json:"listeners"`
	Capture struct {
		Warnings []string `json:"warnings"`
	} `json:"capture"`
	Verdict struct {
		Kind       string   `json:"kind"`
		Confidence string   `json:"confidence"`
		Evidence   []string `json:"evidence"`
	} `json:"verdict"`
	Host *struct {
		Sysctls map[string]string `json:"sysctls"`
		Queues  []struct {
			Listener       string `json:"listener"`
			MaxAcceptQueue int    `json:"max_accept_queue"`
			AcceptLimit    int    `json:"accept_limit"`
			MaxSynRecv     int    `json:"max_syn_recv"`
			Samples        int    `json:"samples"`
		} `json:"queues"`
		Counters    map[string]int64 `json:"counters"`
		CaptureRing struct {
			Received uint64 `json:"received"`
			Dropped  uint64 `json:"dropped"`
		} `json:"capture_ring"`
	} `json:"host"`
}

func readLiveReport(t *testing.T, path string) liveReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r liveReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return r
}

type liveCase struct {
	name    string
	serve   []string // labtool serve flags besides -addr; nil: nothing listens
	connect []string // labtool connect flags besides -addr
	// interrupt: stop synq with SIGINT this long after the clients end
	// (else --duration stops it).
	interrupt time.Duration
	duration  string
}

// runLive runs one scenario: listener, synq live -w, clients, and returns
// the report, synq's stdout, and the bundle directory.
func runLive(t *testing.T, l *liveLab, c liveCase) (liveReport, string, string) {
	t.Helper()
	var srvOut, srvErr bytes.Buffer
	if c.serve != nil {
		l.start(l.srv, &srvOut, &srvErr, l.labtool, append([]string{"serve", "-addr", liveSrvAddr + ":8080", "-duration", "60s"}, c.serve...)...)
	}
	bundleDir := filepath.Join(l.dir, "bundle")
	reportPath := filepath.Join(l.dir, "report.json")
	var synqOut, synqErr syncBuffer
	args := []string{"live", "-i", liveSrvIf, "--port", "8080", "--interval", "1s", "-w", bundleDir, "--format", "json", "-o", reportPath,
		"--connections", filepath.Join(l.dir, "conns.jsonl")}
	if c.duration != "" {
		args = append(args, "--duration", c.duration)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.srv, l.synq}, args...)...)
	cmd.Stdout, cmd.Stderr = &synqOut, &synqErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	// Wait until synq says it captures.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(synqErr.String(), "capturing on") {
		if time.Now().After(deadline) {
			t.Fatalf("synq live did not start:\n%s", synqErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.cli, l.labtool, "connect", "-addr", liveSrvAddr + ":8080"}, c.connect...)...)
	clOut, err := cl.CombinedOutput()
	if err != nil {
		t.Fatalf("labtool connect: %v\n%s", err, clOut)
	}
	t.Logf("clients:\n%s", lastLines(string(clOut), 3))
	if c.interrupt > 0 {
		time.Sleep(c.interrupt)
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("synq live: %v\nstderr:\n%s", err, synqErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("synq live did not stop\nstderr:\n%s", synqErr.String())
	}
	t.Logf("synq live stdout (last lines):\n%s", lastLines(synqOut.String(), 4))
	return readLiveReport(t, reportPath), synqOut.String(), bundleDir
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// analyzeBundle runs synq analyze DIR --format json.
func analyzeBundle(t *testing.T, l *liveLab, dir string) liveReport {
	t.Helper()
	r := analyzeBundleJSON(t, l, dir)
	table, err := exec.Command(l.synq, "analyze", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(table), "Listen queues") {
		t.Errorf("synq analyze %s (table): %v\n%s", dir, err, table)
	}
	t.Logf("synq analyze DIR:\n%s", table)
	// The HTML report draws the sampled queues on the timeline.
	page := filepath.Join(l.dir, "offline.html")
	if b, err := exec.Command(l.synq, "analyze", "--format", "html", "-o", page, dir).CombinedOutput(); err != nil {
		t.Errorf("synq analyze --format html %s: %v\n%s", dir, err, b)
	} else if h, err := os.ReadFile(page); err != nil || !bytes.Contains(h, []byte("accept queue (sampled)")) {
		t.Errorf("HTML report of the bundle has no sampled accept queue (%v)", err)
	}
	if keep := os.Getenv("SYNQ_HTML_SHOTS"); keep != "" {
		if h, err := os.ReadFile(page); err == nil {
			_ = os.WriteFile(filepath.Join(keep, "live-bundle-"+strings.ReplaceAll(t.Name(), "/", "_")+".html"), h, 0o644)
		}
	}
	return r
}

func outcomesByListener(r liveReport) map[string]map[string]int {
	m := map[string]map[string]int{}
	for _, l := range r.Listeners {
		m[l.Server] = l.Outcomes
	}
	return m
}

// TestLiveEndToEnd runs synq live in a server namespace, drives
// connection attempts from a client namespace, and checks the live
// report against the kernel and against the saved bundle analysed
// offline.
func TestLiveEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	cases := []struct {
		liveCase
		overflow bool
	}{
		{liveCase{name: "accept-overflow",
			// backlog 2 never accepted: the queue holds 3, the rest of a
			// burst of 8 is dropped (SYNs) or ignored (handshake ACKs).
			serve:     []string{"-backlog", "2", "-accept=false"},
			connect:   []string{"-n", "8", "-parallel", "8", "-timeout", "9s"},
			interrupt: 2 * time.Second}, true},
		{liveCase{name: "healthy",
			serve:    []string{"-backlog", "128", "-accept=true"},
			connect:  []string{"-n", "20", "-parallel", "4", "-send", "hi\n", "-read", "-hold", "2s"},
			duration: "5s"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLiveLab(t, tc.name[:3])
			r, stdout, dir := runLive(t, l, tc.liveCase)
			if !strings.Contains(stdout, "listener="+liveSrvAddr+":8080") {
				t.Errorf("no per-interval line for the listener in:\n%s", stdout)
			}
			if r.Host == nil {
				t.Fatalf("no host object in the live report")
			}
			if r.Host.CaptureRing.Dropped != 0 {
				t.Errorf("ring dropped %d frames", r.Host.CaptureRing.Dropped)
			}
			if len(r.Listeners) != 1 {
				t.Fatalf("want one listener, got %+v", r.Listeners)
			}
			ls := r.Listeners[0]
			if len(r.Host.Queues) != 1 || r.Host.Queues[0].Samples < 5 {
				t.Fatalf("queue samples: %+v", r.Host.Queues)
			}
			q := r.Host.Queues[0]
			ovf, ok := r.Host.Counters["TcpExtListenOverflows"]
			if !ok {
				t.Fatalf("no TcpExtListenOverflows in %v", r.Host.Counters)
			}
			if got := int64(ls.DroppedSYNPackets + ls.IgnoredACKSegments); got != ovf {
				t.Errorf("dropped SYNs %d + ignored segments %d = %d, kernel TcpExtListenOverflows delta %d",
					ls.DroppedSYNPackets, ls.IgnoredACKSegments, got, ovf)
			}
			wantKind := map[bool]string{true: "accept_queue_overflow", false: "healthy"}[tc.overflow]
			if r.Verdict.Kind != wantKind || r.Verdict.Confidence != "high" {
				t.Errorf("verdict %s/%s, want %s/high\n%s", r.Verdict.Kind, r.Verdict.Confidence, wantKind, strings.Join(r.Verdict.Evidence, "\n"))
			}
			if tc.overflow && !strings.Contains(strings.Join(r.Verdict.Evidence, "\n"), "Sampled on the host") {
				t.Errorf("the verdict's evidence should cite the sampled accept queue:\n%s", strings.Join(r.Verdict.Evidence, "\n"))
			}
			if !strings.Contains(stdout, "verdict="+wantKind) {
				t.Errorf("no per-interval verdict=%s in:\n%s", wantKind, stdout)
			}
			if !tc.overflow {
				// No interval of a healthy run may name a cause: one
				// ending while a request was on its way said
				// accept_queue_overflow.
				for _, line := range strings.Split(stdout, "\n") {
					if strings.Contains(line, " listener="+liveSrvAddr+":8080 ") && !strings.Contains(line, "verdict=healthy") && !strings.Contains(line, "verdict=not_enough_data") {
						t.Errorf("healthy run, interval says otherwise: %s", line)
					}
				}
			}
			if tc.overflow {
				// Drops are counted as they become known, not when their
				// attempts finish: the SYNs dropped at the full queue show
				// in the first seconds (their first retransmissions come
				// 1 s after them), long before the run ends.
				drops := intervalValues(t, stdout, liveSrvAddr+":8080", "drop_syn/s")
				first := slices.IndexFunc(drops, func(v float64) bool { return v > 0 })
				if first < 0 || first > 3 || first == len(drops)-1 {
					t.Errorf("drop_syn/s per interval %v: want one above 0 within the first 4 intervals, not only at the end", drops)
				}
				if q.AcceptLimit != 2 || q.MaxAcceptQueue < q.AcceptLimit {
					t.Errorf("accept queue peaked at %d of %d, want it to reach the limit 2", q.MaxAcceptQueue, q.AcceptLimit)
				}
				if ovf == 0 || ls.Failed == 0 {
					t.Errorf("overflow: ListenOverflows +%d, %d failed attempts; want both > 0", ovf, ls.Failed)
				}
			} else {
				if ls.Failed != 0 || ovf != 0 || ls.Attempts != 20 {
					t.Errorf("healthy: %d attempts, %d failed, ListenOverflows +%d; want 20, 0, 0", ls.Attempts, ls.Failed, ovf)
				}
				if q.AcceptLimit != 128 || q.MaxAcceptQueue > 4 {
					t.Errorf("healthy: accept queue peaked at %d of %d", q.MaxAcceptQueue, q.AcceptLimit)
				}
			}
			if r.Host.Sysctls["net.ipv4.tcp_synack_retries"] != "2" {
				t.Errorf("sysctls from the server namespace: %v", r.Host.Sysctls)
			}

			// The per-connection export of the same run: one record
			// per attempt, with the report's outcomes.
			conns, err := os.ReadFile(filepath.Join(l.dir, "conns.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			exported := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(string(conns)), "\n") {
				var rec struct {
					Outcome string `json:"outcome"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("--connections: %v: %q", err, line)
				}
				exported[rec.Outcome]++
			}
			for o, n := range ls.Outcomes {
				if exported[o] != n {
					t.Errorf("--connections: %d %s, report %d", exported[o], o, n)
				}
			}

			off := analyzeBundle(t, l, dir)
			if off.Verdict.Kind != r.Verdict.Kind || off.Verdict.Confidence != r.Verdict.Confidence {
				t.Errorf("bundle analysed offline: verdict %s/%s, live %s/%s", off.Verdict.Kind, off.Verdict.Confidence, r.Verdict.Kind, r.Verdict.Confidence)
			}
			if got, want := outcomesByListener(off), outcomesByListener(r); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("bundle analysed offline: outcomes\n%v\nlive:\n%v", got, want)
			}
			if off.Host == nil || off.Host.Counters["TcpExtListenOverflows"] != ovf || len(off.Host.Queues) != 1 || off.Host.Queues[0] != q {
				t.Errorf("bundle host evidence differs: %+v, live %+v", off.Host, r.Host)
			}
		})
	}
}

// TestLiveRefusals: SYNs refused with a reset by the kernel (nothing
// listens on the port) and by an nftables REJECT rule (a socket listens)
// look the same on the wire. synq live tells them apart with the kernel's
// TcpOutRsts and with its own rounds of queue sampling: no socket in any
// round, or one in every round. The bundle analysed offline keeps the
// rounds (manifest queue_rounds) and says the same.
func TestLiveRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	for _, tc := range []struct {
		liveCase
		reject   bool
		kind     string
		queueSay string
	}{
		{liveCase{name: "closed-port", connect: []string{"-n", "6", "-interval", "100ms", "-timeout", "3s"}, duration: "3s"},
			false, "no_listener", "No socket listened on port 8080 in any of the"},
		{liveCase{name: "reject-rule", serve: []string{"-backlog", "128", "-accept=true"},
			connect: []string{"-n", "6", "-interval", "100ms", "-timeout", "3s"}, duration: "3s"},
			true, "firewall_reject", "listen-queue samples taken on the host, yet SYNs were refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLiveLab(t, tc.name[:3])
			if tc.reject {
				if _, err := exec.LookPath("nft"); err != nil {
					t.Skip("needs nft (apt-get install nftables)")
				}
				nft := exec.Command("ip", "netns", "exec", l.srv, "nft", "-f", "-")
				nft.Stdin = strings.NewReader("table inet synqlive {\n chain input {\n  type filter hook input priority 0; policy accept;\n" +
					"  tcp dport 8080 tcp flags & (syn|ack) == syn reject with tcp reset\n }\n}\n")
				if out, err := nft.CombinedOutput(); err != nil {
					t.Fatalf("nft: %v\n%s", err, out)
				}
			}
			r, _, dir := runLive(t, l, tc.liveCase)
			evidence := strings.Join(r.Verdict.Evidence, "\n")
			if r.Verdict.Kind != tc.kind || r.Verdict.Confidence != "high" {
				t.Errorf("verdict %s/%s, want %s/high\n%s", r.Verdict.Kind, r.Verdict.Confidence, tc.kind, evidence)
			}
			if !strings.Contains(evidence, tc.queueSay) {
				t.Errorf("the evidence does not say %q:\n%s", tc.queueSay, evidence)
			}
			if len(r.Listeners) != 1 || r.Listeners[0].Outcomes["rejected"] != 6 {
				t.Errorf("want 6 attempts refused with a reset on one listener, got %+v", r.Listeners)
			}
			off := analyzeBundleJSON(t, l, dir)
			if off.Verdict.Kind != r.Verdict.Kind || !strings.Contains(strings.Join(off.Verdict.Evidence, "\n"), tc.queueSay) {
				t.Errorf("bundle analysed offline: verdict %s\n%s", off.Verdict.Kind, strings.Join(off.Verdict.Evidence, "\n"))
			}
		})
	}
}

// analyzeBundleJSON runs synq analyze DIR --format json.
func analyzeBundleJSON(t *testing.T, l *liveLab, dir string) liveReport {
	t.Helper()
	out := filepath.Join(l.dir, "offline.json")
	if b, err := exec.Command(l.synq, "analyze", "--format", "json", "-o", out, dir).CombinedOutput(); err != nil {
		t.Fatalf("synq analyze %s: %v\n%s", dir, err, b)
	}
	return readLiveReport(t, out)
}

// intervalValues returns, interval by interval, the value of key in the
// key=value lines of listener.
func intervalValues(t *testing.T, stdout, listener, key string) []float64 {
	t.Helper()
	var out []float64
	for _, line := range strings.Split(stdout, "\n") {
		if !strings.Contains(line, " listener="+listener+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s in %q: %v", key, line, err)
				}
				out = append(out, x)
			}
		}
	}
	return out
}

// runAsNobody runs the synq binary as an unprivileged user and checks the
// privilege error: a sentence saying what is needed, exit code 5.
func runAsNobody(t *testing.T) {
	synq, _ := buildLiveBinaries(t)
	if err := os.Chmod(filepath.Dir(synq), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(synq, "live", "-i", "lo", "--duration", "1s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitPermission {
		t.Fatalf("as nobody: %v, want exit code %d\n%s", err, exitPermission, out)
	}
	if !strings.Contains(string(out), "needs root or the CAP_NET_RAW capability") || strings.Contains(string(out), "goroutine") {
		t.Errorf("as nobody:\n%s", out)
	}
	t.Logf("as nobody: %s", out)
}
