package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
)

//go:embed html.tmpl
var htmlTemplate string

// WriteHTML writes the report as one self-contained HTML page: no script,
// no external resource (a Content-Security-Policy forbids any fetch), the
// charts inlined as SVG. Every string from the input goes through
// html/template's escaping.
func WriteHTML(w io.Writer, in *Input) error {
	t, err := template.New("report").Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("html template: %w", err)
	}
	d, err := buildHTML(in)
	if err != nil {
		return err
	}
	return t.Execute(w, d)
}

type htmlReport struct {
	Title     string
	Version   string
	Command   string   // the command line that made the page
	Server    string   // the server's host and kernel, where known
	Inputs    []string // each input with its size and checksum
	Verdict   htmlVerdict
	Capture   htmlCapture
	Listeners []htmlListener
	// Others are the listeners without a section (htmlOtherListeners),
	// one row each: server, attempts, failed, verdict.
	Others     [][]string
	OthersNote string
	NoAttempts string
	Hints      []string // what the capture held instead (emptyHints)
	Reconcile  [][]string
	Limits     []string
	Clients    [][]string
	ClientsCap string
	Host       *htmlHost
	Warnings   []string
}

type htmlVerdict struct {
	Class, Headline, Confidence, Listener, Summary, Explained string
	Evidence, Remedy, Also                                    []string
}

type htmlCapture struct {
	Files                       []htmlFile
	Packets, TCPPackets, Span   string
	From, To                    string
	LinkTypes                   string
	Skipped                     string
	Tunnelled                   string
	Attempts, Failed, MidStream string
	Vantage                     string
}

type htmlFile struct {
	Name, Format, Packets string
	Compressed, CutOff    bool
}

type htmlListener struct {
	ID, Server                    string
	Kind, Confidence, Summary     string
	Attempts, Established, Failed string
	Outcomes                      [][]string
	Packets                       [][]string
	Handshake                     string
	FailureWindow                 string
	Timeline, Latency             template.HTML
	// Kernel is the kernel's account of the listener's drops (synq
	// live with eBPF).
	Kernel []string
}

type htmlHost struct {
	Interface string
	Queues    [][]string
	Counters  [][]string
	NoCounter bool
	Sysctls   [][]string
	Ring      string
}

func buildHTML(in *Input) (*htmlReport, error) {
	r := &in.Result
	v := r.Verdict
	d := &htmlReport{
		Version: in.Version,
		Command: commandLine(in.Run),
		Inputs:  inputLines(in.Run),
		Server:  serverLine(in.Run),
		Verdict: htmlVerdict{
			Class: verdictClass(v), Headline: headline(v), Confidence: string(v.Confidence),
			Listener: verdictListener(r), Summary: Sanitize(v.Summary), Explained: explained(v),
			Evidence: sanitizeAll(v.Evidence), Remedy: sanitizeAll(v.Remedy), Also: sanitizeAll(htmlFindings(alsoFound(r))),
		},
		Limits:   limitStatements(in),
		Warnings: sanitizeAll(warnings(in)),
	}
	d.Title = "synq: " + d.Verdict.Headline
	// Everything shown goes through Sanitize as in the table (control
	// characters have no business in a page either) and html/template's
	// escaping.
	if len(r.Listeners) == 0 {
		d.Verdict = htmlVerdict{Class: "neutral", Headline: "no TCP connection attempts found" + filterNote(in)}
		d.Title = "synq: no connection attempts"
		d.NoAttempts = d.Verdict.Headline
	}
	d.Hints = sanitizeAll(emptyHints(in))
	d.Capture = captureHTML(in)
	// The listeners the table details get a section each, with charts;
	// the others a row in one table (a host with 2,000 listeners made a
	// 4 MB page of sections).
	view, others := tableView(in)
	for i := range view.Result.Listeners {
		l, err := listenerHTML(view, i)
		if err != nil {
			return nil, err
		}
		d.Listeners = append(d.Listeners, l)
	}
	for i, l := range others {
		if i == htmlOtherListeners {
			d.OthersNote = fmt.Sprintf("... and %s more listeners: the JSON report (--format json) details every one.", count(len(others)-i))
			break
		}
		v := l.Diagnosis.Verdict
		d.Others = append(d.Others, []string{l.Server.String(), count(l.Attempts), count(l.Outcomes.Failed()),
			fmt.Sprintf("%s (%s confidence)", headline(v), v.Confidence)})
	}
	for _, rc := range r.Reconciliation {
		exp, left := "n/a", "n/a"
		if rc.Explained != nil {
			exp, left = count(int(*rc.Explained)), count(int(rc.Delta-*rc.Explained))
		}
		d.Reconcile = append(d.Reconcile, sanitizeAll([]string{rc.Counter, count(int(rc.Delta)), exp, left, rc.Note}))
	}
	for _, c := range r.WorstClients {
		d.Clients = append(d.Clients, []string{c.Addr.String(), count(c.Attempts), count(c.Outcomes.Failed()), mostlyOutcome(&c.Outcomes)})
	}
	if r.ClientsOverflow {
		d.ClientsCap = fmt.Sprintf("More than %s distinct clients: only the first ones are ranked.", count(analyze.MaxTrackedClients))
	}
	d.Host = hostHTML(in)
	return d, nil
}

// verdictClass picks the verdict box's colour.
func verdictClass(f analyze.Finding) string {
	if f.Mode == "forced_cookies" {
		return "neutral"
	}
	switch f.Kind {
	case analyze.KindHealthy:
		return "ok"
	case analyze.KindInconclusive, analyze.KindDeferAccept, analyze.KindNotEnoughData, analyze.KindForwarded:
		return "neutral"
	}
	return "bad"
}

func captureHTML(in *Input) htmlCapture {
	cs := in.Capture
	c := htmlCapture{
		Packets: count(int(cs.Packets)), TCPPackets: count(int(cs.TCPPackets)),
		LinkTypes: Sanitize(strings.Join(cs.LinkTypes, ", ")), Skipped: strings.Join(skippedPackets(in), ", "), Tunnelled: tunnelled(in),
		Attempts: count(in.Result.Attempts), Failed: count(in.Result.Totals.Failed()), MidStream: count(in.Result.MidStream),
	}
	for _, f := range cs.Files {
		c.Files = append(c.Files, htmlFile{Name: Sanitize(f.Name), Format: f.Format, Packets: count(int(f.Packets)),
			Compressed: f.Compressed, CutOff: f.CutOff})
	}
	if cs.Packets > 0 {
		c.Span = analyze.FormatDuration(time.Duration(cs.End - cs.Start))
		c.From = time.Unix(0, cs.Start).UTC().Format("2006-01-02 15:04:05.000")
		c.To = time.Unix(0, cs.End).UTC().Format("2006-01-02 15:04:05.000")
	}
	if len(in.Result.Listeners) > 0 {
		c.Vantage = "Taken " + vantageWords(&in.Result.Listeners[0].Signs) + "."
	}
	return c
}

// htmlFindingsMax bounds the page's list of other findings: 2,000
// listeners made 7,490 of them. The JSON keeps every one.
const htmlFindingsMax = 50

func htmlFindings(others []string) []string {
	if len(others) <= htmlFindingsMax {
		return others
	}
	return append(others[:htmlFindingsMax:htmlFindingsMax],
		fmt.Sprintf("... and %s more findings: the JSON report (--format json) lists every one.", count(len(others)-htmlFindingsMax)))
}

// htmlOtherListeners bounds the rows of the listeners without a section.
const htmlOtherListeners = 200

func listenerHTML(in *Input, i int) (htmlListener, error) {
	l := &in.Result.Listeners[i]
	v := l.Diagnosis.Verdict
	h := htmlListener{
		ID: fmt.Sprintf("listener-%d", i+1), Server: l.Server.String(),
		Kind: headline(v), Confidence: string(v.Confidence), Summary: Sanitize(v.Summary),
		Attempts: count(l.Attempts), Established: count(l.Outcomes[analyze.Established]), Failed: count(l.Outcomes.Failed()),
		Handshake: "no handshake completed",
		Kernel:    kernelLines(l.Kernel),
	}
	for _, o := range analyze.AllOutcomes() {
		if n := l.Outcomes[o]; n > 0 {
			meaning := outcomeHint[o]
			if o == analyze.Established {
				meaning = "handshake completed, connection taken"
			}
			h.Outcomes = append(h.Outcomes, []string{o.String(), count(n), percent(n, l.Attempts), meaning})
		}
	}
	h.Packets = [][]string{
		{"SYNs (retransmissions included)", count(l.SYNPackets)},
		{"SYNs with no answer (dropped)", count(l.DroppedSYNPackets)},
		{"SYN-ACKs", count(l.SYNACKPackets)},
		{"SYN-ACK retransmissions", count(l.SYNACKRetransmits)},
		{"syncookie SYN-ACKs", count(l.Signs.SyncookieSYNACKs)},
		{"client segments after the SYN-ACK the server ignored", count(l.IgnoredACKSegments)},
		{"RSTs from the server / from clients", count(l.ServerRSTs) + " / " + count(l.ClientRSTs)},
		{"connections already open when the capture started", count(l.MidStream)},
	}
	if l.HandshakeN > 0 {
		h.Handshake = fmt.Sprintf("median %s, 99th percentile %s, over %s completed handshakes",
			analyze.FormatDuration(l.HandshakeP50), analyze.FormatDuration(l.HandshakeP99), count(l.HandshakeN))
	}
	if l.Outcomes.Failed() > 0 {
		h.FailureWindow = timeRange(l.FirstFailure, l.LastFailure, "15:04:05.000", spansDays(in.Capture)) + " UTC"
	}
	var queues []host.QueueSample
	if in.Live != nil {
		for _, q := range in.Live.Queues {
			if q.Listener.Port() == l.Server.Port() && (q.Listener.Addr().IsUnspecified() || q.Listener.Addr().Unmap() == l.Server.Addr().Unmap()) {
				queues = append(queues, q)
			}
		}
	}
	svg, err := timelineChart(l, in.Capture.Start, in.Capture.End, queues)
	if err != nil {
		return h, err
	}
	h.Timeline = template.HTML(svg) // written by chart.go from our own labels, each escaped
	svg, err = latencyChart(l)
	if err != nil {
		return h, err
	}
	h.Latency = template.HTML(svg)
	return h, nil
}

func limitStatements(in *Input) []string {
	if l := analyze.EffectiveLimits(in.Host); l != nil {
		return sanitizeAll(l.Statements)
	}
	return nil
}

func hostHTML(in *Input) *htmlHost {
	if in.Live == nil {
		return nil
	}
	h := &htmlHost{Interface: Sanitize(in.Live.Interface)}
	for _, q := range in.Live.QueuePeaks() {
		h.Queues = append(h.Queues, []string{q.Listener.String(), fmt.Sprintf("%d / %d", q.MaxAcceptQueue, q.AcceptLimit),
			count(q.MaxSynRecv), fmt.Sprintf("%d of %d", q.Full, q.Samples)})
	}
	d := listenDeltas(in)
	for _, name := range host.ListenCounters {
		if v, ok := d[name]; ok && v != 0 {
			h.Counters = append(h.Counters, []string{name, fmt.Sprintf("%+d", v)})
		}
	}
	h.NoCounter = in.Host != nil && in.Host.Deltas != nil && len(h.Counters) == 0
	if in.Host != nil {
		for _, k := range slices.Sorted(maps.Keys(in.Host.Sysctls)) {
			h.Sysctls = append(h.Sysctls, sanitizeAll([]string{k, in.Host.Sysctls[k]}))
		}
	}
	r := in.Live.Ring
	h.Ring = fmt.Sprintf("%s frames received, %s dropped", count(int(r.Received)), count(int(r.Dropped)))
	return h
}

func sanitizeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Sanitize(s)
	}
	return out
}

// commandLine renders the command that made the report, shell-quoted
// where a word needs it, control characters removed.
func commandLine(run *Run) string {
	if run == nil {
		return ""
	}
	words := make([]string, len(run.Command))
	for i, w := range run.Command {
		w = Sanitize(w)
		if w == "" || strings.ContainsAny(w, " '\"$`\\|&;<>()*?[]#~!{}") {
			w = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// inputLines lists each input as "name: N bytes, xxh64 H".
func inputLines(run *Run) []string {
	if run == nil {
		return nil
	}
	var out []string
	for _, f := range run.Inputs {
		l := fmt.Sprintf("%s: %s bytes, xxh64 %s", Sanitize(f.Name), count(int(f.Bytes)), f.XXH64)
		if !f.Whole {
			l += " (of the part read)"
		}
		out = append(out, l)
	}
	return out
}

// serverLine names the server's host and kernel where the evidence says.
func serverLine(run *Run) string {
	if run == nil {
		return ""
	}
	var parts []string
	if run.Host != "" {
		parts = append(parts, "host "+Sanitize(run.Host))
	}
	if run.Kernel != "" {
		parts = append(parts, "kernel "+Sanitize(run.Kernel))
	}
	return strings.Join(parts, ", ")
}
