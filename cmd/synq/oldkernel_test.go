package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/synth"
)

// Old kernels count listen drops differently (kernel-evidence.md, "Kernel
// generations"), and the lab's 6.18 kernel cannot show it: these captures
// and counters are SYNTHETIC, written to the old kernels' rules, and run
// through the whole CLI with --kernel naming the generation.

// idleOverflowScript: listen(fd, 2), never accepted, idle clients. Three
// handshakes complete and sit silent in the accept queue; the next three
// clients' SYNs (each retransmitted twice) all go unanswered.
func idleOverflowScript() string {
	var b strings.Builder
	for i := range 3 {
		// Taken on the server: the SYN-ACK 50 µs after the SYN, the
		// ACK a 2 ms round trip later.
		fmt.Fprintf(&b, "%.6f c S from=192.0.2.%d:4000%d\n%.6f s S. from=192.0.2.%d:4000%d\n%.6f c . from=192.0.2.%d:4000%d\n",
			0.1*float64(i), i+1, i, 0.1*float64(i)+0.00005, i+1, i, 0.1*float64(i)+0.00205, i+1, i)
	}
	for i := 3; i < 6; i++ {
		t := 0.1 * float64(i)
		for _, dt := range []float64{0, 1, 3} {
			fmt.Fprintf(&b, "%.3f c S from=192.0.2.%d:4000%d\n", t+dt, i+1, i)
		}
	}
	return b.String()
}

// cookieScript: listen(fd, 2): three clients that never acknowledge their
// SYN-ACK (retransmitted at 1 s and 3 s) fill the SYN queue, then ten
// handshakes are answered with syncookies: each SYN-ACK's timestamp lags
// the server's clock by 30 ms, as a cookie's does; every cookie client
// completes and is served.
func cookieScript() string {
	var b strings.Builder
	for i := range 3 {
		t, from := 0.001*float64(i), fmt.Sprintf("from=198.51.100.%d:42000", i+1)
		fmt.Fprintf(&b, "%.3f c S %s\n%.3f s S. %s\n%.3f s S. %s\n%.3f s S. %s\n", t, from, t+0.0005, from, t+1, from, t+3, from)
	}
	for i := range 10 {
		t, from := 0.1*float64(i), fmt.Sprintf("from=192.0.2.%d:41000", i+1)
		fmt.Fprintf(&b, "%.3f c S %s ts=100/0\n%.3f s S. %s ts=70000/100\n%.3f c . %s ts=101/70000\n%.3f c P. %s len=20 ts=102/70000\n%.3f s P. %s ack=1021 len=100 ts=70042/102\n",
			t, from, t+0.001, from, t+0.002, from, t+0.003, from, t+0.013, from)
	}
	return b.String()
}

// syntheticRun writes script as a capture and counters as before/after
// nstat files (deltas on a base of 100), runs synq analyze with extra
// flags and returns the verdict.
func syntheticRun(t *testing.T, script string, deltas map[string]int, extra ...string) verdictJSON {
	t.Helper()
	pkts := synth.MustScript(script)
	slices.SortStableFunc(pkts, func(a, b capture.Packet) int { return cmp.Compare(a.Time, b.Time) })
	var buf bytes.Buffer
	must(t, synth.WritePcap(&buf, pkts))
	dir := t.TempDir()
	capPath := filepath.Join(dir, "synthetic.pcap")
	must(t, os.WriteFile(capPath, buf.Bytes(), 0o644))
	var before, after strings.Builder
	for _, name := range slices.Sorted(mapsKeys(deltas)) {
		fmt.Fprintf(&before, "%s 100\n", name)
		fmt.Fprintf(&after, "%s %d\n", name, 100+deltas[name])
	}
	b, a := filepath.Join(dir, "before.txt"), filepath.Join(dir, "after.txt")
	must(t, os.WriteFile(b, []byte(before.String()), 0o644))
	must(t, os.WriteFile(a, []byte(after.String()), 0o644))
	ios, out, errOut := testStreams(nil)
	args := append([]string{"analyze", "--format", "json", "--nstat", b, "--nstat", a}, extra...)
	if code := run(append(args, capPath), ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r reportJSON
	must(t, json.Unmarshal(out.Bytes(), &r))
	return r.Verdict
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestRHEL6UncountedSYNDrops: 2.6.32 dropped SYNs at a full accept queue
// without counting them, so listen counters at 0 do not rule the accept
// queue out there, while on a current kernel they do.
func TestRHEL6UncountedSYNDrops(t *testing.T) {
	deltas := map[string]int{"TcpPassiveOpens": 3, "TcpExtListenOverflows": 0, "TcpExtListenDrops": 0, "TcpOutRsts": 0}
	v := syntheticRun(t, idleOverflowScript(), deltas, "--kernel", "2.6.32-754.el6.x86_64")
	if v.Kind == "filtered_before_tcp" && v.Confidence == "high" || v.Kind == "healthy" {
		t.Errorf("RHEL 6: verdict %s/%s; its uncounted drops cannot rule the accept queue out", v.Kind, v.Confidence)
	}
	if v.Kind != "accept_queue_overflow" {
		t.Errorf("RHEL 6: verdict %s/%s, want accept_queue_overflow (3 silent connections waiting, then every SYN dropped)", v.Kind, v.Confidence)
	}
	if v := syntheticRun(t, idleOverflowScript(), deltas, "--kernel", "6.18.0"); v.Kind != "filtered_before_tcp" || v.Confidence != "high" {
		t.Errorf("6.18: verdict %s/%s, want filtered_before_tcp/high: a current kernel counts every accept-queue drop", v.Kind, v.Confidence)
	}
}

// TestRHEL7ListenDropsCountCookies: 3.10 counted every syncookie sent in
// ListenDrops; ListenDrops above ListenOverflows there is the cookies,
// not SYNs dropped by the 3/4 rule.
func TestRHEL7ListenDropsCountCookies(t *testing.T) {
	deltas := map[string]int{"TcpPassiveOpens": 10, "TcpExtSyncookiesSent": 10, "TcpExtSyncookiesRecv": 10,
		"TcpExtListenDrops": 10, "TcpExtListenOverflows": 0, "TcpOutRsts": 0}
	v := syntheticRun(t, cookieScript(), deltas, "--kernel", "3.10.0-1160.el7.x86_64")
	if v.Kind != "syn_queue_overflow" || v.Confidence != "high" || v.Mode != "" || v.Syncookies == nil || !*v.Syncookies {
		t.Errorf("RHEL 7: verdict %s/%s mode %q syncookies %v, want syn_queue_overflow/high with cookies, not the 3/4 rule", v.Kind, v.Confidence, v.Mode, fmtBoolPtr(v.Syncookies))
	}
}

// TestBefore410AnsweredThenIgnored: before 4.10 a SYN met at a full
// accept queue was still answered while few requests were young, and its
// ACK then ignored. The real capture accept-overflow-ack-ignored shows
// that pattern (6.18 makes it when the queue fills between SYN and ACK);
// read as a 4.4 kernel's, with its counters, it is the same overflow.
func TestBefore410AnsweredThenIgnored(t *testing.T) {
	sc := scenario{name: "accept-overflow-ack-ignored", dir: filepath.Join(testdataDir, "accept-overflow-ack-ignored"),
		capture: scenarioCapture(t, "accept-overflow-ack-ignored")}
	args := []string{"--kernel", "4.4.0-210-generic",
		"--nstat", filepath.Join(sc.dir, "nstat-before.txt"), "--nstat", filepath.Join(sc.dir, "nstat-after.txt")}
	if v := scenarioJSON(t, sc, args...).Verdict; v.Kind != "accept_queue_overflow" || v.Confidence != "high" || v.Mode != "ack_ignored" {
		t.Errorf("4.4: verdict %s/%s mode %q, want accept_queue_overflow/high ack_ignored", v.Kind, v.Confidence, v.Mode)
	}
}
