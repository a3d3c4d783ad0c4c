package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFilterEndToEnd: --filter (and the expression after --) keeps the
// frames tcpdump -r would keep: the report counts what it left out, only
// the listener it selects remains, with the same outcomes as in the
// unfiltered report, and an expression that leaves everything out says
// so in the hints.
func TestFilterEndToEnd(t *testing.T) {
	capture := scenarioCapture(t, "two-listeners-idle-and-talking")
	type report struct {
		Capture struct {
			Packets int64    `json:"packets"`
			Hints   []string `json:"hints"`
			Filter  *struct {
				Expression    string `json:"expression"`
				FramesLeftOut int64  `json:"frames_left_out"`
			} `json:"filter"`
		} `json:"capture"`
		Listeners []struct {
			Server   string         `json:"server"`
			Outcomes map[string]int `json:"outcomes"`
		} `json:"listeners"`
	}
	analyse := func(args ...string) report {
		t.Helper()
		ios, out, errOut := testStreams(nil)
		if code := run(append([]string{"analyze", "--format", "json"}, args...), ios); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var r report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	all := analyse(capture)
	if all.Capture.Filter != nil || len(all.Listeners) != 2 {
		t.Fatalf("unfiltered: filter %+v, %d listeners", all.Capture.Filter, len(all.Listeners))
	}
	const expr = "tcp port 8081 and host 10.88.0.2"
	for _, args := range [][]string{{"--filter", expr, capture}, append([]string{capture, "--"}, strings.Fields(expr)...)} {
		r := analyse(args...)
		f := r.Capture.Filter
		if f == nil || f.Expression != expr || f.FramesLeftOut == 0 || len(r.Listeners) != 1 || !strings.HasSuffix(r.Listeners[0].Server, ":8081") {
			t.Fatalf("%v: filter %+v, listeners %+v", args, f, r.Listeners)
		}
		for _, l := range all.Listeners {
			if l.Server == r.Listeners[0].Server && !maps.Equal(l.Outcomes, r.Listeners[0].Outcomes) {
				t.Errorf("%v: outcomes %v, unfiltered %v", args, r.Listeners[0].Outcomes, l.Outcomes)
			}
		}
		if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
			out, err := exec.Command(tcpdump, "-r", capture, "--count", expr).Output()
			if err != nil {
				t.Fatal(err)
			}
			kept, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
			if kept != r.Capture.Packets-f.FramesLeftOut {
				t.Errorf("%v: kept %d frames, tcpdump %d", args, r.Capture.Packets-f.FramesLeftOut, kept)
			}
		} else if os.Getenv("CI") != "" {
			t.Fatal("tcpdump is not installed: .ci/run installs it")
		}
	}
	none := analyse("--filter", "udp", capture)
	if len(none.Listeners) != 0 || len(none.Capture.Hints) == 0 || !strings.Contains(none.Capture.Hints[0], "The filter 'udp' left out") {
		t.Errorf("a filter that keeps nothing: listeners %v, hints %q", none.Listeners, none.Capture.Hints)
	}
}

// TestPortKeepsWhereTheNodeForwards: on a node that forwards a NodePort
// to a pod (DNAT), a user names the node's port or address. --port and
// --server then also keep the listener the named one's connections were
// forwarded to, found by the same client SYN, and only that one: the
// verdict is the pod's listener's, the named one is its front, and with
// the pod's counters the drops reconcile exactly.
func TestPortKeepsWhereTheNodeForwards(t *testing.T) {
	for _, name := range []string{"nodeport", "nodeport-masquerade"} {
		capture := scenarioCapture(t, name)
		sc := scenario{name: name, dir: filepath.Dir(capture), capture: capture}
		for _, tc := range []struct {
			args        []string
			front, back string
		}{
			{[]string{"--port", "30080"}, "10.88.0.2:30080", "10.88.1.2:8080"},
			{[]string{"--port", "30081"}, "10.88.0.2:30081", "10.88.1.2:8081"},
			{[]string{"--server", "10.88.0.2:30080"}, "10.88.0.2:30080", "10.88.1.2:8080"},
		} {
			r := scenarioJSON(t, sc, append(tc.args, withNstat(sc)...)...)
			var servers []string
			for _, l := range r.Listeners {
				servers = append(servers, l.Server)
			}
			if len(r.Listeners) != 2 || r.Listeners[0].Server != tc.back || r.Listeners[1].Server != tc.front ||
				len(r.Listeners[1].ForwardedTo) != 1 || r.Listeners[1].ForwardedTo[0].Listener != tc.back {
				t.Errorf("%s %v: listeners %v (the front forwarded to %+v), want %s, then %s forwarded to it", name, tc.args, servers, r.Listeners[len(r.Listeners)-1].ForwardedTo, tc.back, tc.front)
				continue
			}
			if r.Verdict.Listener != tc.back {
				t.Errorf("%s %v: verdict on %s, want %s", name, tc.args, r.Verdict.Listener, tc.back)
			}
			if tc.back == "10.88.1.2:8080" && (r.Verdict.Kind != "accept_queue_overflow" || r.Verdict.Confidence != "high") {
				t.Errorf("%s %v: verdict %s/%s, want accept_queue_overflow/high", name, tc.args, r.Verdict.Kind, r.Verdict.Confidence)
			}
		}
	}
}
