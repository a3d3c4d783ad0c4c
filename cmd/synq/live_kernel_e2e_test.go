//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	validator "github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/sys/unix"
)

// TestLiveKernelReasons runs synq live with the kernel's drop reasons
// and the metrics endpoint over four listeners in one run: an nftables
// drop rule (8081), a port with no listener (8082), a listener with
// backlog 1 that never accepts (8083), and an output rule that drops the
// SYN-ACKs of a healthy listener (8085: on the wire the same as 8081). The kernel is the referee: its
// reasons are matched to the attempts synq classified, they agree with
// the inferred verdicts, NETFILTER_DROP counts the same packets synq saw
// unanswered, and a SYN dropped at a full accept queue gets no reason
// (the kernel consumes it; the report says the counters speak for it).
// The metrics are scraped while the run goes on and linted by promtool.
func TestLiveKernelReasons(t *testing.T) {
	l := newLiveLab(t, "kr")
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (apt-get install nftables)")
	}
	for _, rule := range [][]string{
		{"add", "table", "inet", "synqtest"},
		{"add", "chain", "inet", "synqtest", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "synqtest", "in", "tcp", "dport", "8081", "drop"},
		{"add", "chain", "inet", "synqtest", "out", "{ type filter hook output priority 0; }"},
		{"add", "rule", "inet", "synqtest", "out", "tcp", "sport", "8085", "tcp", "flags", "&", "(syn|ack)", "==", "syn|ack", "drop"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", l.srv, "nft"}, rule...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v\n%s", rule, err, out)
		}
	}
	var so, se bytes.Buffer
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8081", "-duration", "60s")
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8083", "-backlog", "1", "-accept=false", "-duration", "60s")
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8085", "-duration", "60s")
	time.Sleep(300 * time.Millisecond)

	reportPath := filepath.Join(l.dir, "report.json")
	cmd, synqOut, synqErr := startLiveWithKernel(t, l, "--port", "8081-8085",
		"--duration", "10s", "--format", "json", "-o", reportPath, "--metrics", "127.0.0.1:9464")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := func(port string, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.cli, l.labtool, "connect", "-addr", liveSrvAddr + ":" + port}, args...)...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := []*exec.Cmd{
		clients("8081", "-n", "2", "-timeout", "3s"),
		clients("8082", "-n", "2", "-timeout", "2s"),
		clients("8083", "-n", "5", "-interval", "100ms", "-timeout", "3s", "-hold", "4s"),
		clients("8085", "-n", "2", "-timeout", "3s"),
	}
	for _, c := range running {
		_ = c.Wait() // connect failures are the point
	}
	scrape := scrapeInNetns(t, "/var/run/netns/"+l.srv, "127.0.0.1:9464")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("synq live: %v\n%s", err, synqErr.String())
	}

	r := readKernelReport(t, reportPath)
	packets, matched := r.packets, r.matched
	get := func(port string) int { return r.listener(t, port) }

	fw := get("8081")
	if n := packets(fw, "NETFILTER_DROP"); n == 0 || n != r.Listeners[fw].DroppedSYNPackets {
		t.Errorf("8081: kernel NETFILTER_DROP %d, synq's unanswered SYN packets %d: want equal and > 0", n, r.Listeners[fw].DroppedSYNPackets)
	}
	// High: the listen drops the counters show are 8083's, and the
	// kernel put each of 8081's SYNs in netfilter.
	if !matched(fw, "unanswered_syn", "NETFILTER_DROP") || !r.Listeners[fw].Kernel.Agrees || r.Listeners[fw].Verdict.Kind != "filtered_before_tcp" || r.Listeners[fw].Verdict.Confidence != "high" {
		t.Errorf("8081: verdict %s/%s, kernel %+v: want filtered_before_tcp/high, NETFILTER_DROP on unanswered_syn, agreeing", r.Listeners[fw].Verdict.Kind, r.Listeners[fw].Verdict.Confidence, r.Listeners[fw].Kernel)
	}
	// The SYN-ACKs dropped on the way out: reported with the listener
	// as their source, and not taken for a drop before TCP.
	eg := get("8085")
	if n := packets(eg, "NETFILTER_DROP (outbound)"); n < r.Listeners[eg].DroppedSYNPackets || n == 0 || packets(eg, "NETFILTER_DROP") != 0 {
		t.Errorf("8085: kernel NETFILTER_DROP outbound %d, inbound %d, synq's unanswered SYN packets %d: want outbound at least one per SYN, none inbound",
			n, packets(eg, "NETFILTER_DROP"), r.Listeners[eg].DroppedSYNPackets)
	}
	if v := r.Listeners[eg].Verdict; v.Kind != "synack_lost_on_egress" || v.Confidence != "high" || !r.Listeners[eg].Kernel.Agrees {
		t.Errorf("8085: verdict %s/%s, kernel %+v: want synack_lost_on_egress/high, agreeing", v.Kind, v.Confidence, r.Listeners[eg].Kernel)
	}
	closed := get("8082")
	if packets(closed, "NO_SOCKET") != r.Listeners[closed].Outcomes["rejected"] || !matched(closed, "rejected", "NO_SOCKET") ||
		r.Listeners[closed].Verdict.Kind != "no_listener" || !r.Listeners[closed].Kernel.Agrees {
		t.Errorf("8082: verdict %s, outcomes %v, kernel %+v: want no_listener, one NO_SOCKET per refused attempt, agreeing",
			r.Listeners[closed].Verdict.Kind, r.Listeners[closed].Outcomes, r.Listeners[closed].Kernel)
	}
	full := get("8083")
	if r.Listeners[full].DroppedSYNPackets == 0 || r.Listeners[full].Verdict.Kind != "accept_queue_overflow" {
		t.Errorf("8083: verdict %s with %d dropped SYNs: want accept_queue_overflow", r.Listeners[full].Verdict.Kind, r.Listeners[full].DroppedSYNPackets)
	}
	if n := packets(full, "TCP_LISTEN_OVERFLOW"); n != 0 {
		t.Errorf("8083: %d SYNs dropped at a full accept queue came with TCP_LISTEN_OVERFLOW: this kernel consumes them without a reason (docs/kernel-reasons.md)", n)
	}
	if k := r.Listeners[full].Kernel; !k.Agrees || !strings.Contains(k.Says, "no drop reason") {
		t.Errorf("8083: agreement %q (agrees %v): want the counters named as the kernel's word", k.Says, k.Agrees)
	}

	// The per-interval verdict takes the kernel's word too: the last
	// line for the filtered listener must not blame the accept queue
	// that another listener overflowed.
	last := ""
	for _, line := range strings.Split(synqOut.String(), "\n") {
		if strings.Contains(line, "listener="+liveSrvAddr+":8081 ") {
			last = line
		}
	}
	if !strings.Contains(last, "verdict=filtered_before_tcp") {
		t.Errorf("8081's last interval line: %q, want verdict=filtered_before_tcp", last)
	}

	for _, want := range []string{
		`synq_kernel_dropped_packets_total{listener="10.89.0.2:8081",reason="NETFILTER_DROP"}`,
		`synq_attempts_total{listener="10.89.0.2:8082",outcome="rejected"}`,
		`synq_accept_queue_limit{listener=`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("the scrape during the run lacks %s", want)
		}
	}
	promtoolCheckScrape(t, scrape)
}

// TestLiveKernelQueueReasons runs the scenarios the kernel answers with
// counters rather than reasons, or with reasons only a kernel can give,
// over three listeners in one run with syncookies off:
//
//   - 8084, listen(fd, 1), never accepts: one idle connection takes one of
//     the two accept-queue slots; the handshake ACKs of two more are held
//     back by an nftables rule on the client until the server resends
//     its SYN-ACK, so the ACKs meet a full accept queue (the race-free way
//     to make the third-ACK overflow without a delaying relay).
//   - 8085, listen(fd, 4), never accepts: spoofed SYNs nobody completes
//     fill the SYN queue and the rest are dropped (no cookies).
//   - 8086, an accepting listener: SYNs with a wrong TCP checksum.
//
// The kernel is the referee three ways: its drop reasons (TCP_LISTEN_OVERFLOW
// = the ACK segments synq saw ignored = TcpExtListenOverflows; TCP_CSUM =
// synq's unanswered SYN packets = TcpInCsumErrors; no reason for the SYN
// queue, whose drops synq counts as TcpExtTCPReqQFullDrop does), the
// counters, and the verdicts, which must agree with both.
func TestLiveKernelQueueReasons(t *testing.T) {
	l := newLiveLab(t, "kq")
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (apt-get install nftables)")
	}
	l.sysctl(l.srv, "net/ipv4/tcp_syncookies", "0")
	// The spoofed sources' SYN-ACKs go to the client namespace, which
	// does not own the addresses: nobody answers them.
	l.ip("-n", l.srv, "route", "add", "10.89.9.0/24", "via", liveCliAddr)
	var so, se bytes.Buffer
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8084", "-backlog", "1", "-accept=false", "-duration", "60s")
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8085", "-backlog", "4", "-accept=false", "-duration", "60s")
	l.start(l.srv, &so, &se, l.labtool, "serve", "-addr", liveSrvAddr+":8086", "-duration", "60s")
	time.Sleep(300 * time.Millisecond)

	reportPath := filepath.Join(l.dir, "report.json")
	connsPath := filepath.Join(l.dir, "conns.jsonl")
	prom := startPrometheus(t, l.srv, l.dir, "127.0.0.1:9465")
	cmd, _, synqErr := startLiveWithKernel(t, l, "--port", "8084-8086",
		"--duration", "10s", "--format", "json", "-o", reportPath, "--metrics", "127.0.0.1:9465", "--connections", connsPath)
	inCli := func(name string, args ...string) {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", l.cli, name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var running []*exec.Cmd
	connect := func(args ...string) {
		c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.cli, l.labtool, "connect", "-addr", liveSrvAddr + ":8084"}, args...)...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		running = append(running, c)
	}
	connect("-hold", "6s", "-label", "filler")
	time.Sleep(200 * time.Millisecond)
	inCli("nft", "add", "table", "inet", "synqhold")
	inCli("nft", "add", "chain", "inet", "synqhold", "out", "{ type filter hook output priority 0; }")
	inCli("nft", "add", "rule", "inet", "synqhold", "out", "tcp", "dport", "8084", "tcp flags & (syn|ack|fin|rst|psh) == ack", "drop")
	connect("-n", "2", "-interval", "200ms", "-hold", "5s", "-label", "held")
	time.Sleep(600 * time.Millisecond)
	inCli("nft", "delete", "table", "inet", "synqhold")
	inCli(l.labtool, "synflood", "-src-net", "10.89.9.0/24", "-dst", liveSrvAddr+":8085", "-n", "20", "-over", "200ms")
	inCli(l.labtool, "synflood", "-src-net", "10.89.9.0/24", "-dst", liveSrvAddr+":8086", "-n", "5", "-over", "100ms", "-bad-checksum", "-seed", "2")
	for _, c := range running {
		_ = c.Wait()
	}
	scrape := scrapeInNetns(t, "/var/run/netns/"+l.srv, "127.0.0.1:9465")
	// The fleet's view: a real Prometheus scraped the same numbers while
	// the run went on (queried before synq stops: a target gone is stale).
	fleet := map[string]float64{}
	for _, q := range []string{
		`synq_kernel_dropped_packets_total{listener="10.89.0.2:8086",reason="TCP_CSUM"}`,
		`synq_ignored_ack_segments_total{listener="10.89.0.2:8084"}`,
		`up{job="synq"}`,
	} {
		fleet[q] = prom.value(t, q, 5*time.Second)
	}
	t.Logf("Prometheus, during the run: %v", fleet)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("synq live: %v\n%s", err, synqErr.String())
	}

	r := readKernelReport(t, reportPath)
	if r.Host == nil || r.Host.Counters == nil {
		t.Fatal("the report has no counter deltas")
	}
	counter := func(name string) int { return int(r.Host.Counters[name]) }

	ack := r.listener(t, "8084")
	// The counter is the referee: exact. The drop reasons are the
	// tracer's: a segment that met an expired request (the client's
	// late retransmission, answered by a reset) is freed as TCP_FLAGS,
	// no overflow, and one run in CI (on 9fe8f3c) traced 6 overflows of
	// the 7 counted: one missing trace at most.
	overflow := r.packets(ack, "TCP_LISTEN_OVERFLOW")
	if a := r.Listeners[ack]; a.IgnoredACKSegments == 0 || counter("TcpExtListenOverflows") != a.IgnoredACKSegments ||
		overflow > a.IgnoredACKSegments || overflow < a.IgnoredACKSegments-1 {
		t.Errorf("8084: kernel TCP_LISTEN_OVERFLOW %d, synq's ignored ACK segments %d, TcpExtListenOverflows %d: want the last two equal and > 0, the first the same or one less",
			overflow, a.IgnoredACKSegments, counter("TcpExtListenOverflows"))
	}
	if a := r.Listeners[ack]; a.Verdict.Kind != "accept_queue_overflow" || !r.matched(ack, "ack_ignored", "TCP_LISTEN_OVERFLOW") || !a.Kernel.Agrees {
		t.Errorf("8084: verdict %s, kernel %+v: want accept_queue_overflow, TCP_LISTEN_OVERFLOW on ack_ignored, agreeing", a.Verdict.Kind, *a.Kernel)
	}

	syn := r.listener(t, "8085")
	if s := r.Listeners[syn]; s.DroppedSYNPackets == 0 || s.DroppedSYNPackets != counter("TcpExtTCPReqQFullDrop") || len(s.Kernel.Reasons) != 0 {
		t.Errorf("8085: synq's unanswered SYN packets %d, TcpExtTCPReqQFullDrop %d, kernel reasons %+v: want equal counts and no reason (the kernel consumes SYN-queue drops)",
			s.DroppedSYNPackets, counter("TcpExtTCPReqQFullDrop"), s.Kernel.Reasons)
	}
	if s := r.Listeners[syn]; s.Verdict.Kind != "syn_queue_overflow" || !s.Kernel.Agrees || !strings.Contains(s.Kernel.Says, "no drop reason") {
		t.Errorf("8085: verdict %s, kernel says %q (agrees %v): want syn_queue_overflow with the counters named as the kernel's word", s.Verdict.Kind, s.Kernel.Says, s.Kernel.Agrees)
	}

	bad := r.listener(t, "8086")
	if b := r.Listeners[bad]; b.DroppedSYNPackets != 5 || r.packets(bad, "TCP_CSUM") != 5 || counter("TcpInCsumErrors") != 5 {
		t.Errorf("8086: synq's unanswered SYN packets %d, kernel TCP_CSUM %d, TcpInCsumErrors %d: want 5 each (5 corrupted SYNs sent)",
			b.DroppedSYNPackets, r.packets(bad, "TCP_CSUM"), counter("TcpInCsumErrors"))
	}
	if b := r.Listeners[bad]; b.Verdict.Kind != "network_loss" || b.Verdict.Mode != "checksum" || !r.matched(bad, "unanswered_syn", "TCP_CSUM") || !b.Kernel.Agrees {
		t.Errorf("8086: verdict %s/%s, kernel %+v: want network_loss/checksum, TCP_CSUM on unanswered_syn, agreeing (not the other listener's SYN queue)",
			b.Verdict.Kind, b.Verdict.Mode, *b.Kernel)
	}

	// Per attempt: each connection record carries the kernel's reasons
	// for its own packets, and they add up to the listener's account.
	perAttempt := map[string]map[string]int{} // listener port -> reason -> packets
	b, err := os.ReadFile(connsPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var rec struct {
			RespP       int    `json:"resp_p"`
			Outcome     string `json:"outcome"`
			KernelDrops *[]struct {
				Reason  string `json:"reason"`
				Packets int    `json:"packets"`
			} `json:"kernel_drops"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.KernelDrops == nil {
			t.Fatalf("record %d has kernel_drops null in a traced run: %s", i, line)
		}
		port := fmt.Sprint(rec.RespP)
		for _, d := range *rec.KernelDrops {
			if perAttempt[port] == nil {
				perAttempt[port] = map[string]int{}
			}
			perAttempt[port][d.Reason] += d.Packets
			if port == "8086" && (d.Reason != "TCP_CSUM" || rec.Outcome != "unanswered_syn") {
				t.Errorf("8086 record %d: %s on a %s attempt, want TCP_CSUM on unanswered_syn", i, d.Reason, rec.Outcome)
			}
		}
	}
	if got := perAttempt["8086"]["TCP_CSUM"]; got != 5 {
		t.Errorf("8086: the connection records carry TCP_CSUM for %d packets, want 5", got)
	}
	if got, want := perAttempt["8084"]["TCP_LISTEN_OVERFLOW"], r.packets(ack, "TCP_LISTEN_OVERFLOW"); got == 0 || got != want {
		t.Errorf("8084: the connection records carry TCP_LISTEN_OVERFLOW for %d packets, the listener's account %d", got, want)
	}

	for _, want := range []string{
		`synq_kernel_dropped_packets_total{listener="10.89.0.2:8084",reason="TCP_LISTEN_OVERFLOW"}`,
		`synq_kernel_dropped_packets_total{listener="10.89.0.2:8086",reason="TCP_CSUM"}`,
		`synq_ignored_ack_segments_total{listener="10.89.0.2:8084"}`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("the scrape during the run lacks %s", want)
		}
	}
	promtoolCheckScrape(t, scrape)
	if got := fleet[`up{job="synq"}`]; got != 1 {
		t.Errorf("Prometheus says the synq target is up=%v, want 1", got)
	}
	if got := fleet[`synq_kernel_dropped_packets_total{listener="10.89.0.2:8086",reason="TCP_CSUM"}`]; got != 5 {
		t.Errorf("Prometheus has %v TCP_CSUM drops for 8086, want 5", got)
	}
	if got := fleet[`synq_ignored_ack_segments_total{listener="10.89.0.2:8084"}`]; got == 0 || int(got) > r.Listeners[ack].IgnoredACKSegments {
		t.Errorf("Prometheus has %v ignored ACK segments for 8084, want 1 to the report's %d", got, r.Listeners[ack].IgnoredACKSegments)
	}
}

// startLiveWithKernel starts synq live on the server's interface in its
// namespace with args, waits until it captures, and fails the test if the
// drop tracer did not load (root on this kernel: it must).
func startLiveWithKernel(t *testing.T, l *liveLab, args ...string) (cmd *exec.Cmd, stdout, stderr *syncBuffer) {
	t.Helper()
	var synqOut, synqErr syncBuffer
	cmd = exec.Command("ip", append([]string{"netns", "exec", l.srv, l.synq, "live", "-i", liveSrvIf}, args...)...)
	cmd.Stdout, cmd.Stderr = &synqOut, &synqErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(synqErr.String(), "capturing on"); {
		if time.Now().After(deadline) {
			t.Fatalf("synq live did not start:\n%s", synqErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(synqErr.String(), "no kernel drop reasons") {
		t.Fatalf("the drop tracer did not load on this kernel (root, BTF):\n%s", synqErr.String())
	}
	return cmd, &synqOut, &synqErr
}

// kernelReport is the part of a synq live --kernel JSON report the tests
// read.
type kernelReport struct {
	Listeners []struct {
		Server             string         `json:"server"`
		Outcomes           map[string]int `json:"outcomes"`
		DroppedSYNPackets  int            `json:"dropped_syn_packets"`
		IgnoredACKSegments int            `json:"ignored_ack_segments"`
		Verdict            struct {
			Kind       string `json:"kind"`
			Mode       string `json:"mode"`
			Confidence string `json:"confidence"`
		} `json:"verdict"`
		Kernel *struct {
			Reasons []struct {
				Reason  string `json:"reason"`
				Packets int    `json:"packets"`
			} `json:"reasons"`
			ByOutcome []struct {
				Outcome string `json:"outcome"`
				Reason  string `json:"reason"`
			} `json:"by_outcome"`
			Agrees bool   `json:"agrees"`
			Says   string `json:"says"`
		} `json:"kernel"`
	} `json:"listeners"`
	Host *struct {
		Counters map[string]int64 `json:"counters"`
	} `json:"host"`
	byServer map[string]int
}

// readKernelReport reads the report, checks it against the JSON Schema
// (kernel signs and modes are only in live reports, never in goldens)
// and that every listener has the kernel's account.
func readKernelReport(t *testing.T, path string) *kernelReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	validateReportSchema(t, b)
	r := &kernelReport{byServer: map[string]int{}}
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatal(err)
	}
	for i, ls := range r.Listeners {
		r.byServer[ls.Server] = i
		if ls.Kernel == nil {
			t.Fatalf("%s: no kernel account in the report", ls.Server)
		}
		t.Logf("%s: verdict %s/%s %s, outcomes %v, dropped SYNs %d, ignored ACKs %d, kernel %+v", ls.Server, ls.Verdict.Kind, ls.Verdict.Mode,
			ls.Verdict.Confidence, ls.Outcomes, ls.DroppedSYNPackets, ls.IgnoredACKSegments, *ls.Kernel)
	}
	return r
}

func (r *kernelReport) listener(t *testing.T, port string) int {
	t.Helper()
	i, ok := r.byServer[liveSrvAddr+":"+port]
	if !ok {
		t.Fatalf("no listener %s:%s in the report", liveSrvAddr, port)
	}
	return i
}

// packets is the number of packets the kernel dropped as reason.
func (r *kernelReport) packets(i int, reason string) int {
	for _, x := range r.Listeners[i].Kernel.Reasons {
		if x.Reason == reason {
			return x.Packets
		}
	}
	return 0
}

// matched reports whether reason was matched to attempts with outcome.
func (r *kernelReport) matched(i int, outcome, reason string) bool {
	for _, x := range r.Listeners[i].Kernel.ByOutcome {
		if x.Outcome == outcome && x.Reason == reason {
			return true
		}
	}
	return false
}

// validateReportSchema checks a JSON report against docs/schema.
func validateReportSchema(t *testing.T, report []byte) {
	t.Helper()
	f, err := os.Open("../../docs/schema/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := validator.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := validator.NewCompiler()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := validator.UnmarshalJSON(bytes.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("the report does not follow docs/schema/report.schema.json: %v", err)
	}
}

// scrapeInNetns GETs /metrics from addr inside the network namespace at
// nsPath: the socket is made on a thread moved into that namespace.
func scrapeInNetns(t *testing.T, nsPath, addr string) string {
	t.Helper()
	body, err := getInNetns(nsPath, addr, "/metrics")
	if err != nil {
		t.Fatalf("scraping %s in %s: %v", addr, nsPath, err)
	}
	return body
}

// getInNetns GETs path from addr inside the network namespace at nsPath.
func getInNetns(nsPath, addr, path string) (string, error) {
	type result struct {
		body string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread stays in the namespace and dies with the goroutine
		// (no UnlockOSThread), so no other goroutine runs on it.
		runtime.LockOSThread()
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr)
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				ch <- result{err: err}
				return
			}
			if line == "\r\n" {
				break
			}
			head.WriteString(line)
		}
		body, err := io.ReadAll(br)
		if !strings.HasPrefix(head.String(), "HTTP/1.0 200") && !strings.HasPrefix(head.String(), "HTTP/1.1 200") {
			err = fmt.Errorf("GET %s: %s", path, head.String())
		}
		ch <- result{string(body), err}
	}()
	r := <-ch
	return r.body, r.err
}

// needTool finds a tool a test needs; on CI (CI set) it must be there,
// elsewhere the test is skipped without it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (apt-get install %s): .ci/run installs it", name, pkg)
		}
		t.Skipf("needs %s (apt-get install %s)", name, pkg)
	}
	return path
}

// prometheusServer is a real Prometheus scraping synq's endpoint in the
// server's namespace every second, as a fleet's would.
type prometheusServer struct {
	ns, addr string
}

// startPrometheus starts Prometheus in namespace ns scraping target.
func startPrometheus(t *testing.T, ns, dir, target string) *prometheusServer {
	t.Helper()
	bin := needTool(t, "prometheus", "prometheus")
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: synq\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheusServer{ns: ns, addr: "127.0.0.1:9099"}
	var out bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+p.addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := getInNetns("/var/run/netns/"+ns, p.addr, "/-/ready"); err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not become ready:\n%s", out.String())
		}
	}
}

// value waits until Prometheus has a sample of the instant query q and
// returns it (one series expected).
func (p *prometheusServer) value(t *testing.T, q string, within time.Duration) float64 {
	t.Helper()
	var last string
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		body, err := getInNetns("/var/run/netns/"+p.ns, p.addr, "/api/v1/query?query="+url.QueryEscape(q))
		if err == nil {
			var r struct {
				Status string `json:"status"`
				Data   struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(body), &r); err == nil && r.Status == "success" && len(r.Data.Result) == 1 {
				if s, ok := r.Data.Result[0].Value[1].(string); ok {
					if v, err := strconv.ParseFloat(s, 64); err == nil {
						return v
					}
				}
			}
			last = body
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus query %s: no single sample within %v; last answer %s", q, within, last)
		}
	}
}

// promtoolCheckScrape lints a scrape with `promtool check metrics`.
func promtoolCheckScrape(t *testing.T, scrape string) {
	t.Helper()
	cmd := exec.Command(needTool(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
