package metrics

import (
	"bytes"
	"io"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/live"
)

func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMetricsFromAHookedRun feeds the exporter what a run's hooks would
// and reads the values back from a scrape.
func TestMetricsFromAHookedRun(t *testing.T) {
	l := netip.MustParseAddrPort("10.0.0.2:8080")
	e := New("v1.2.3")
	e.KernelTraced()
	for range 3 {
		e.Attempt(l, analyze.Established)
	}
	e.Attempt(l, analyze.UnansweredSYN)
	e.KernelDrop(kernel.Drop{Reason: "TCP_LISTEN_OVERFLOW", Src: netip.MustParseAddrPort("10.0.0.1:4000"), Dst: l, Inbound: true})
	iv := live.Interval{
		Rows:     []live.Row{{Listener: l, SYNs: 10, DroppedSYNs: 6, IgnoredACKs: 2, Sampled: true, AcceptQueue: 3, AcceptLimit: 2, SynRecv: 1}},
		Ring:     capture.RingStats{Received: 100, Dropped: 4},
		Verdicts: map[netip.AddrPort]live.Verdict{l: {Kind: analyze.KindAcceptQueue}},
	}
	e.Interval(iv)
	iv.Rows[0].AcceptQueue = 1
	e.Interval(iv) // counters add up, gauges take the last interval
	got := scrape(t, e)
	for _, want := range []string{
		`synq_attempts_total{listener="10.0.0.2:8080",outcome="established"} 3`,
		`synq_attempts_total{listener="10.0.0.2:8080",outcome="unanswered_syn"} 1`,
		`synq_attempts_total{listener="10.0.0.2:8080",outcome="ack_ignored"} 0`,
		`synq_syn_packets_total{listener="10.0.0.2:8080"} 20`,
		`synq_dropped_syn_packets_total{listener="10.0.0.2:8080"} 12`,
		`synq_ignored_ack_segments_total{listener="10.0.0.2:8080"} 4`,
		`synq_kernel_dropped_packets_total{listener="10.0.0.2:8080",reason="TCP_LISTEN_OVERFLOW"} 1`,
		`synq_accept_queue_length{listener="10.0.0.2:8080"} 1`,
		`synq_accept_queue_limit{listener="10.0.0.2:8080"} 2`,
		`synq_verdict{kind="accept_queue_overflow",listener="10.0.0.2:8080"} 1`,
		`synq_verdict{kind="healthy",listener="10.0.0.2:8080"} 0`,
		`synq_capture_ring_dropped_frames_total 4`,
		`synq_build_info{version="v1.2.3"} 1`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	promtoolCheck(t, got)
}

// TestListenersAreCapped: past MaxListeners, listeners share one series
// set, so a scan over many addresses cannot grow memory without end.
func TestListenersAreCapped(t *testing.T) {
	e := New("test")
	for i := range MaxListeners + 50 {
		e.Attempt(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(1000+i)), analyze.Established)
	}
	if len(e.listeners) != MaxListeners+1 {
		t.Fatalf("%d listener series, want %d", len(e.listeners), MaxListeners+1)
	}
	if got := scrape(t, e); !strings.Contains(got, `synq_attempts_total{listener="other",outcome="established"} 50`+"\n") {
		t.Error(`the 50 listeners past the cap are not summed under listener="other"`)
	}
}

// promtoolCheck runs `promtool check metrics` (Prometheus's own linter of
// names, help texts, units and types) over a scrape. CI installs it
// (Debian's prometheus package); elsewhere the test says so and skips.
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): metric names not linted")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
