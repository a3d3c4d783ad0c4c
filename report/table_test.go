package report

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
)

// TestTableDetailsTheWorstListeners: with more listeners than the table
// details, it shows the first tableListeners of Result's order (most
// failed first) plus the verdict's listener wherever it ranks, sums the
// others in one line, and lists tableFindings findings with a count of
// the rest. With fewer, it shows them all and says nothing more.
func TestTableDetailsTheWorstListeners(t *testing.T) {
	build := func(n, verdictAt int) *Input {
		in := &Input{Version: "test"}
		r := &in.Result
		for i := range n {
			l := analyze.Listener{Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)), Attempts: 100}
			l.Outcomes[analyze.Established] = 50 + i
			l.Outcomes[analyze.UnansweredSYN] = 50 - i
			f := analyze.Finding{Kind: analyze.KindAcceptQueue, Confidence: analyze.Medium, Affected: 50 - i,
				Summary: fmt.Sprintf("finding on %d", 1000+i)}
			l.Diagnosis = analyze.Diagnosis{Verdict: f, Findings: []analyze.Finding{f}}
			r.Listeners = append(r.Listeners, l)
			r.Attempts += l.Attempts
		}
		r.VerdictListener = r.Listeners[verdictAt].Server
		r.Verdict = r.Listeners[verdictAt].Diagnosis.Verdict
		return in
	}
	render := func(in *Input) string {
		var b bytes.Buffer
		if err := WriteTable(&b, in); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	rowOf := func(port int) string { return fmt.Sprintf(" 10.0.0.1:%d ", port) }

	out := render(build(30, 25))
	for i := range 30 {
		shown := i < tableListeners || i == 25
		if got := strings.Contains(out, rowOf(1000+i)); got != shown {
			t.Errorf("listener %d shown %v, want %v", 1000+i, got, shown)
		}
	}
	// The 9 left out: 20..29 but 25; failed 50-i each.
	failed := 0
	for i := 20; i < 30; i++ {
		if i != 25 {
			failed += 50 - i
		}
	}
	want := fmt.Sprintf("Not shown here or below: 9 more listeners (900 attempts, %d failed, on 9 of them)", failed)
	if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Errorf("no %q in:\n%s", want, out)
	}
	if got := strings.Count(out, "  - medium: finding on"); got != tableFindings {
		t.Errorf("%d findings listed under Also found, want %d", got, tableFindings)
	}
	if !strings.Contains(out, "... and 17 more findings") { // 30 listeners, the verdict's is not repeated
		t.Errorf("no count of the findings left out:\n%s", out)
	}

	out = render(build(5, 3))
	for i := range 5 {
		if !strings.Contains(out, rowOf(1000+i)) {
			t.Errorf("5 listeners: %d not shown", 1000+i)
		}
	}
	if strings.Contains(out, "Not shown") || strings.Contains(out, "more findings") {
		t.Errorf("5 listeners: something left out:\n%s", out)
	}
}

// TestHTMLFindingsCapped: the page lists htmlFindingsMax other findings and
// says how many more the JSON has.
func TestHTMLFindingsCapped(t *testing.T) {
	var others []string
	for i := range htmlFindingsMax + 7 {
		others = append(others, fmt.Sprint("finding ", i))
	}
	got := htmlFindings(others)
	if len(got) != htmlFindingsMax+1 || got[htmlFindingsMax-1] != others[htmlFindingsMax-1] || !strings.Contains(got[htmlFindingsMax], "7 more findings") {
		t.Errorf("htmlFindings gave %d items, last %q", len(got), got[len(got)-1])
	}
	if got := htmlFindings(others[:3]); len(got) != 3 {
		t.Errorf("3 findings became %d", len(got))
	}
}

// TestTimesOverMidnight: a capture that runs over midnight (UTC) gives
// the dates of its end and of its listeners' failure windows, in the
// table and the HTML page; a capture within one day gives times of day.
func TestTimesOverMidnight(t *testing.T) {
	day := time.Date(2023, 11, 14, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                string
		start, end          time.Duration // after day
		firstFail, lastFail time.Duration
		want                []string
	}{
		{"within a day", 13 * time.Hour, 13*time.Hour + 3*time.Second, 13*time.Hour + time.Second, 13*time.Hour + 2*time.Second,
			[]string{"3s, 2023-11-14 13:00:00 to 13:00:03 UTC", "failures from 13:00:01.000 to 13:00:02.000 UTC"}},
		{"over midnight", 22 * time.Hour, 27 * time.Hour, 23 * time.Hour, 26 * time.Hour,
			[]string{"5h, 2023-11-14 22:00:00 to 2023-11-15 03:00:00 UTC",
				"failures from 2023-11-14 23:00:00.000 to 2023-11-15 02:00:00.000 UTC"}},
	} {
		in := &Input{Version: "test"}
		in.Capture.Packets, in.Capture.TCPPackets = 10, 10
		in.Capture.Start, in.Capture.End = day.Add(tc.start).UnixNano(), day.Add(tc.end).UnixNano()
		l := analyze.Listener{Server: netip.MustParseAddrPort("10.0.0.1:80"), Attempts: 2,
			FirstFailure: day.Add(tc.firstFail).UnixNano(), LastFailure: day.Add(tc.lastFail).UnixNano()}
		l.Outcomes[analyze.UnansweredSYN] = 2
		in.Result.Listeners = []analyze.Listener{l}
		in.Result.Attempts = 2
		var table, page bytes.Buffer
		if err := WriteTable(&table, in); err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(&page, in); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(table.String(), w) {
				t.Errorf("%s: the table does not say %q:\n%s", tc.name, w, table.String())
			}
		}
		fail := tc.want[1][len("failures from "):]
		if !strings.Contains(page.String(), fail) {
			t.Errorf("%s: the HTML page does not say %q", tc.name, fail)
		}
	}
}

// TestTableNamesFewFiles: a rotated set (tcpdump -G) is summarised by its
// count, first two names and last, not a line of every name; a few files
// are all named.
func TestTableNamesFewFiles(t *testing.T) {
	for _, n := range []int{1, maxFilesNamed, maxFilesNamed + 1, 72} {
		in := &Input{Version: "test"}
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("cap-%03d.pcap", i))
			in.Capture.Files = append(in.Capture.Files, capture.FileSummary{Name: names[i], Format: "pcap"})
		}
		var b bytes.Buffer
		if err := WriteTable(&b, in); err != nil {
			t.Fatal(err)
		}
		first := strings.SplitN(b.String(), "\n", 2)[0]
		want := "Capture: " + strings.Join(names, ", ")
		if n > maxFilesNamed {
			want = fmt.Sprintf("Capture: %d files: %s, %s, ..., %s", n, names[0], names[1], names[n-1])
		}
		if first != want {
			t.Errorf("%d files: %q, want %q", n, first, want)
		}
	}
}

// TestListenerVerdictLines: under the listeners table, one line per
// listener names its verdict, but one line says it when more than three
// listeners share it.
func TestListenerVerdictLines(t *testing.T) {
	for _, tc := range []struct {
		listeners int
		mixed     bool
		want      int // verdict lines
	}{{2, false, 2}, {5, false, 1}, {5, true, 5}} {
		in := &Input{Version: "test"}
		for i := range tc.listeners {
			l := analyze.Listener{Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)), Attempts: 10}
			l.Diagnosis.Verdict = analyze.Finding{Kind: analyze.KindAcceptQueue, Confidence: analyze.Medium}
			if tc.mixed && i == 3 {
				l.Diagnosis.Verdict.Kind = analyze.KindHealthy
			}
			in.Result.Listeners = append(in.Result.Listeners, l)
		}
		var b bytes.Buffer
		if err := WriteTable(&b, in); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(b.String(), "(medium confidence)"); got != tc.want {
			t.Errorf("%d listeners (mixed %v): %d verdict lines, want %d:\n%s", tc.listeners, tc.mixed, got, tc.want, b.String())
		}
	}
}
