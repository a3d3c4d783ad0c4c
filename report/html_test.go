package report

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
)

const evil = "x\x1b[31m\"'<script>alert(1)</script><img src=http://evil.example/a.png>\n.pcap"

// hostileListener is an Input with a listener, a verdict, live evidence
// and warnings all carrying input-controlled text.
func hostileListener() *Input {
	start := int64(1_700_000_000) * int64(time.Second)
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	finding := analyze.Finding{Kind: analyze.KindInconclusive, Confidence: analyze.Low,
		Summary: "seen on " + evil, Evidence: []string{evil}, Remedy: []string{evil}}
	l := analyze.Listener{
		Server: server, Attempts: 3,
		Timeline: analyze.Timeline{Start: start, Width: time.Second, Buckets: []analyze.TimelineBucket{
			{SYNs: 3, SYNACKs: 2, DroppedSYNs: 1, HalfOpen: 2}, {}, {ServerRSTs: 1, IgnoredACKs: 2}}},
		HandshakeDistribution: []analyze.LatencyBucket{{Le: time.Millisecond, Count: 2}, {Le: 2 * time.Millisecond}},
		HandshakeN:            2, HandshakeP50: time.Millisecond, HandshakeP99: time.Millisecond,
	}
	l.Outcomes[analyze.Established] = 2
	l.Outcomes[analyze.UnansweredSYN] = 1
	l.Diagnosis.Verdict = finding
	// A kernel's reason names come from its BTF: input too.
	l.Kernel = &analyze.KernelDrops{Reasons: []analyze.ReasonCount{{Reason: evil, Packets: 3}}, Attempts: 1,
		ByOutcome: []analyze.OutcomeReason{{Outcome: analyze.UnansweredSYN, Reason: evil, Packets: 3, Attempts: 1}},
		Examples:  []analyze.KernelExample{{Client: "10.0.0.1:4000", Outcome: analyze.UnansweredSYN, Reason: evil, Packets: 3}},
		Agreement: analyze.KernelAgreement{Says: evil}}
	in := hostile()
	in.Capture.Start, in.Capture.End = start, start+3*int64(time.Second)
	in.Capture.LinkTypes = []string{evil}
	in.Result = analyze.Result{Listeners: []analyze.Listener{l}, Attempts: 3, Verdict: finding, VerdictListener: server}
	in.Live = &LiveEvidence{Interface: evil, Queues: []host.QueueSample{
		{Time: start + int64(500*time.Millisecond), Listener: netip.MustParseAddrPort("0.0.0.0:8080"), AcceptQueue: 3, AcceptLimit: 2, SynRecv: 1},
	}}
	in.Host = &host.Host{Sysctls: map[string]string{"net.core.somaxconn": evil}}
	return in
}

// checkSelfContained parses page as a browser would and fails on anything
// that could run code or fetch: scripts, frames, objects, links to
// resources, event handler attributes, url() in styles, and a missing
// Content-Security-Policy.
func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("not HTML: %v", err)
	}
	csp := false
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "link", "img", "frame", "base", "form", "audio", "video", "source", "foreignObject":
				t.Errorf("<%s> element in the page", n.Data)
			case "style":
				if n.FirstChild != nil && strings.Contains(n.FirstChild.Data, "url(") {
					t.Errorf("url() in the stylesheet")
				}
			}
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(k, "on"):
					t.Errorf("event handler %s=%q on <%s>", a.Key, a.Val, n.Data)
				case k == "src" || k == "href" || k == "srcset" || k == "action" || k == "poster" || k == "data":
					t.Errorf("resource attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
				case k == "style" && strings.Contains(a.Val, "url("):
					t.Errorf("url() in a style attribute on <%s>", n.Data)
				case k == "http-equiv" && strings.EqualFold(a.Val, "Content-Security-Policy"):
					for _, b := range n.Attr {
						if b.Key == "content" && strings.Contains(b.Val, "default-src 'none'") {
							csp = true
						}
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !csp {
		t.Error("no Content-Security-Policy with default-src 'none'")
	}
}

func TestHostileStringsInHTML(t *testing.T) {
	for name, in := range map[string]*Input{"no listener": hostile(), "listener and live evidence": hostileListener()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHTML(&b, in); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			checkSelfContained(t, b.Bytes())
			if strings.ContainsAny(page, "\x1b\x07") {
				t.Error("control characters in the page")
			}
			if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
				t.Error("input text reached the page unescaped")
			}
			if !strings.Contains(page, "script&gt;") {
				t.Error("the hostile file name is not shown, escaped")
			}
		})
	}
}

func TestHTMLCharts(t *testing.T) {
	in := hostileListener()
	var b bytes.Buffer
	if err := WriteHTML(&b, in); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, `<svg class="chart"`); n != 2 {
		t.Errorf("%d charts, want 2 (timeline, latency)", n)
	}
	for _, want := range []string{
		"SYNs (client)", "dropped SYNs", "RSTs from clients: none", "half-open, estimated from packets",
		// The live sample of 0.0.0.0:8080 belongs to 10.0.0.2:8080.
		"accept queue (sampled)", "SYN_RECV (sampled)",
		"time (UTC), 2023-11-14", "≤ 1ms",
	} {
		if !strings.Contains(page, html.EscapeString(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	in.Live = nil
	b.Reset()
	if err := WriteHTML(&b, in); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "sampled") {
		t.Error("queue samples drawn without live evidence")
	}
}

func TestTimeTicks(t *testing.T) {
	s := float64(1_700_000_000)
	tests := []struct {
		lo, hi    float64
		wantFirst string
		maxLabels int
	}{
		{s + 0.013, s + 0.4, "22:13:20.1", 6},
		{s, s + 13.3, "22:13:20", 6},
		{s + 7, s + 3600, "22:20:00", 6},
		{s, s + 3*86400, "11-15 00:00", 6},
	}
	for _, tt := range tests {
		var labels []string
		for _, tk := range timeTicks(tt.lo, tt.hi) {
			if tk.label != "" {
				labels = append(labels, tk.label)
			}
			if tk.v < tt.lo || tk.v > tt.hi {
				t.Errorf("tick %v outside %v..%v", tk.v, tt.lo, tt.hi)
			}
		}
		if len(labels) < 2 || len(labels) > tt.maxLabels || labels[0] != tt.wantFirst {
			t.Errorf("%v..%v: labels %v, want from %s, 2 to %d of them", tt.lo, tt.hi, labels, tt.wantFirst, tt.maxLabels)
		}
	}
}

// TestHTMLFooterRecordsTheRun: the footer names the command, the inputs
// with their checksums, and the server's host and kernel, escaped.
func TestHTMLFooterRecordsTheRun(t *testing.T) {
	in := hostileListener()
	in.Run = &Run{Command: []string{"synq", "analyze", "<x>.pcap"}, Host: "db-1", Kernel: "6.18.0",
		Inputs: []InputFile{{Name: "<x>.pcap", Bytes: 1234, XXH64: "0123456789abcdef", Whole: true}}}
	var b bytes.Buffer
	must(t, WriteHTML(&b, in))
	for _, want := range []string{"synq analyze &#39;&lt;x&gt;.pcap&#39;", "&lt;x&gt;.pcap: 1,234 bytes, xxh64 0123456789abcdef", "Server: host db-1, kernel 6.18.0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("footer lacks %q", want)
		}
	}
}

// TestHTMLDetailsTheWorstListeners: as in the table, the listeners with
// the most failed attempts get a section with charts, the others one row
// each in a table, and past htmlOtherListeners rows a count.
func TestHTMLDetailsTheWorstListeners(t *testing.T) {
	for _, tc := range []struct{ extra, sections, rows int }{
		{0, 1, 0},
		{tableListeners + 4, tableListeners, 5},
		{tableListeners + htmlOtherListeners + 9, tableListeners, htmlOtherListeners},
	} {
		in := hostileListener()
		l := in.Result.Listeners[0]
		for i := range tc.extra {
			l.Server = netip.AddrPortFrom(l.Server.Addr(), uint16(9000+i))
			in.Result.Listeners = append(in.Result.Listeners, l)
		}
		var b bytes.Buffer
		if err := WriteHTML(&b, in); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if n := strings.Count(page, `<section class="listener"`); n != tc.sections {
			t.Errorf("%d listeners: %d sections, want %d", len(in.Result.Listeners), n, tc.sections)
		}
		if n := strings.Count(page, `<svg class="chart"`); n != 2*tc.sections {
			t.Errorf("%d listeners: %d charts, want %d", len(in.Result.Listeners), n, 2*tc.sections)
		}
		other := ""
		if i := strings.Index(page, `<section id="other-listeners">`); i >= 0 {
			other = page[i:]
			other = other[:strings.Index(other, "</section>")]
		}
		if n := strings.Count(other, "<tr><td>"); n != tc.rows {
			t.Errorf("%d listeners: %d rows of other listeners, want %d", len(in.Result.Listeners), n, tc.rows)
		}
		if more := strings.Contains(other, "more listeners: the JSON report"); more != (tc.rows == htmlOtherListeners) {
			t.Errorf("%d listeners: count of the listeners left out shown %v", len(in.Result.Listeners), more)
		}
	}
}

func TestStepRuns(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5}
	tests := []struct {
		name   string
		y      []float64
		levels bool
		want   string
	}{
		{"counts: each non-zero run with its edges", []float64{0, 2, 2, 0, 1, 1}, false, "[(1,0) (1,2) (3,2) (3,0)] [(4,0) (4,1) (5,1) (5,0)]"},
		{"counts: nothing", []float64{0, 0, 0, 0, 0, 0}, false, ""},
		{"levels: where they change, and the end", []float64{1, 1, 2, 2, 0, 0}, true, "[(0,1) (2,2) (4,0) (5,0)]"},
	}
	for _, tt := range tests {
		var parts []string
		for _, run := range stepRuns(x, tt.y, tt.levels) {
			var pts []string
			for _, p := range run {
				pts = append(pts, fmt.Sprintf("(%g,%g)", p[0], p[1]))
			}
			parts = append(parts, "["+strings.Join(pts, " ")+"]")
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestQueueColumns(t *testing.T) {
	const ms = int64(time.Millisecond)
	start := int64(1_700_000_000) * int64(time.Second)
	tl := &analyze.Timeline{Start: start, Width: 20 * time.Millisecond, Buckets: make([]analyze.TimelineBucket, 10)}
	l := netip.MustParseAddrPort("0.0.0.0:80")
	// Samples every 100 ms from 50 ms: buckets 2 and 7, then held.
	qs := []host.QueueSample{
		{Time: start + 50*ms, Listener: l, AcceptQueue: 1, AcceptLimit: 4, SynRecv: 2},
		{Time: start + 55*ms, Listener: l, AcceptQueue: 3, AcceptLimit: 4},
		{Time: start + 150*ms, Listener: l, AcceptQueue: 0, AcceptLimit: 4},
	}
	acc, lim, syn, from := queueColumns(tl, qs, 0)
	wantAcc := []float64{0, 0, 3, 3, 3, 3, 3, 0, 0, 0, 0}
	if from != 2 || !slices.Equal(acc, wantAcc) || lim[10] != 4 || syn[3] != 2 {
		t.Errorf("from %d, accept %v, limit %v, syn_recv %v; want from 2, accept %v", from, acc, lim, syn, wantAcc)
	}
}
