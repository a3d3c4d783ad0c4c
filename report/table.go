package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/prose"
)

// WriteTable writes the human report: capture summary, one row per
// listener, what happened to the failed attempts, and the worst clients.
// It fits 80 columns for IPv4 listeners.
func WriteTable(w io.Writer, in *Input) error {
	p := &printer{w: w}
	p.captureSummary(in)
	if len(in.Result.Listeners) == 0 {
		p.line("")
		p.line("No TCP connection attempts found%s.", filterNote(in))
		for _, h := range emptyHints(in) {
			p.wrap("  - ", h)
		}
		if in.Live != nil {
			p.host(in)
			p.warnings(in)
		}
		return p.err
	}
	if hints := emptyHints(in); len(hints) > 0 {
		p.line("")
		if in.Result.Attempts == 0 {
			p.line("No connection attempt in the capture:")
		} else {
			p.line("Left out by the filter:")
		}
		for _, h := range hints {
			p.wrap("  - ", h)
		}
	}
	p.verdict(in)
	view, hidden := tableView(in)
	p.listeners(view, hidden)
	p.outcomes(view)
	p.packets(view)
	p.reconciliation(in)
	p.kernel(view)
	p.limits(in)
	p.worstClients(in)
	p.host(in)
	p.warnings(in)
	return p.err
}

// The table details the tableListeners listeners with the most failed
// attempts (Result's order) and the verdict's; the others are summed in
// one line. A host with 2,000 listeners made 35,000 lines that hid the
// answer, and the time to print them was a sixth of the run. HTML
// details the same listeners (tableView) and lists some others in a
// table; JSON lists every listener.
const (
	tableListeners = 20
	tableFindings  = 12
)

// tableView is in with only the listeners the table details, and the
// ones it leaves out.
func tableView(in *Input) (*Input, []analyze.Listener) {
	all := in.Result.Listeners
	if len(all) <= tableListeners {
		return in, nil
	}
	shown := slices.Clone(all[:tableListeners])
	var hidden []analyze.Listener
	for _, l := range all[tableListeners:] {
		if l.Server == in.Result.VerdictListener {
			shown = append(shown, l)
		} else {
			hidden = append(hidden, l)
		}
	}
	view := *in
	view.Result.Listeners = shown
	return &view, hidden
}

// printer keeps the first write error so the rendering code reads straight.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// wrap prints text wrapped at 78 columns, the first line after prefix and
// the rest indented to match.
func (p *printer) wrap(prefix, text string) {
	const width = 78
	indent := strings.Repeat(" ", len(prefix))
	line := prefix
	for _, w := range strings.Fields(Sanitize(text)) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			p.line("%s", line)
			line = indent + w
			continue
		}
		if len(line) > len(indent) || (line != indent && line != prefix) {
			line += " "
		}
		line += w
	}
	p.line("%s", strings.TrimRight(line, " "))
}

// table prints a titled table; align has one letter per column, l or r.
func (p *printer) table(title string, header []string, rows [][]string, align string) {
	if p.err != nil {
		return
	}
	p.line("")
	p.line("%s", title)
	aligns := make([]tw.Align, len(header))
	for i := range aligns {
		aligns[i] = tw.AlignLeft
		if i < len(align) && align[i] == 'r' {
			aligns[i] = tw.AlignRight
		}
	}
	t := tablewriter.NewTable(p.w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off, ShowHeader: tw.On},
				Lines:      tw.Lines{ShowHeaderLine: tw.On},
			},
		})),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header(header)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			p.err = err
			return
		}
	}
	p.err = t.Render()
}

// maxFilesNamed is how many capture files the table's summary names.
const maxFilesNamed = 4

func (p *printer) captureSummary(in *Input) {
	cs := in.Capture
	files := make([]string, len(cs.Files))
	for i, f := range cs.Files {
		files[i] = Sanitize(f.Name)
	}
	if n := len(files); n > maxFilesNamed {
		// A day of tcpdump -G 3600 is 24 names: the first two and the
		// last say which set it was (JSON and HTML list them all).
		files = []string{fmt.Sprintf("%d files: %s", n, files[0]), files[1], "...", files[n-1]}
	}
	p.line("Capture: %s", strings.Join(files, ", "))
	if cs.Packets == 0 {
		p.line("  no packets")
		return
	}
	span := time.Duration(cs.End - cs.Start)
	icmp := ""
	if cs.ICMPErrors > 0 {
		icmp = ", " + count(int(cs.ICMPErrors)) + " ICMP errors about TCP"
	}
	start := time.Unix(0, cs.Start).UTC().Format(time.DateOnly) + " "
	if spansDays(cs) {
		start = "" // timeRange dates both ends
	}
	p.line("  %s packets (%s TCP%s), %s, %s%s UTC",
		count(int(cs.Packets)), count(int(cs.TCPPackets)), icmp, analyze.FormatDuration(span),
		start, timeRange(cs.Start, cs.End, time.TimeOnly, spansDays(cs)))
	p.line("  link types: %s", strings.Join(cs.LinkTypes, ", "))
	if t := tunnelled(in); t != "" {
		p.line("  tunnelled: %s (TCP shown by inner addresses)", t)
	}
	if skipped := skippedPackets(in); len(skipped) > 0 {
		p.line("  skipped: %s", strings.Join(skipped, ", "))
	}
	r := &in.Result
	p.line("%s", prose.Sayf("  %d connection attempt{s}, %d failed; %d connection{s} already open when the capture started",
		r.Attempts, r.Totals.Failed(), r.MidStream))
	if len(r.Listeners) > 0 {
		p.wrap("  ", "taken "+vantageWords(&r.Listeners[0].Signs))
	}
}

// tunnelled says how many frames came in each kind of tunnel ("" if none),
// kinds in a fixed order.
func tunnelled(in *Input) string {
	var tunnels []string
	for k, n := range in.Capture.Tunnels {
		if n > 0 {
			tunnels = append(tunnels, count(int(n))+" "+capture.TunnelKind(k).String())
		}
	}
	return strings.Join(tunnels, ", ")
}

// skippedPackets says which packets were not analysed and why.
func skippedPackets(in *Input) []string {
	cs := in.Capture
	var skipped []string
	if cs.NonTCP > 0 {
		skipped = append(skipped, count(int(cs.NonTCP))+" non-TCP")
	}
	if cs.Fragments > 0 {
		skipped = append(skipped, count(int(cs.Fragments))+" IP fragments")
	}
	if cs.Truncated > 0 {
		skipped = append(skipped, count(int(cs.Truncated))+" too short to decode")
	}
	if cs.UnsupportedLink > 0 {
		skipped = append(skipped, count(int(cs.UnsupportedLink))+" on unsupported link types")
	}
	if cs.Filter != "" {
		skipped = append(skipped, fmt.Sprintf("%s left out by the filter '%s'", count(int(cs.Filtered)), Sanitize(cs.Filter)))
	}
	return skipped
}

func (p *printer) listeners(in *Input, hidden []analyze.Listener) {
	var rows [][]string
	for _, l := range in.Result.Listeners {
		hs := "-"
		if l.HandshakeN > 0 {
			hs = analyze.FormatDuration(l.HandshakeP50) + "/" + analyze.FormatDuration(l.HandshakeP99)
		}
		rows = append(rows, []string{
			l.Server.String(), count(l.Attempts), count(l.Outcomes[analyze.Established]),
			count(l.Outcomes.Failed()), count(l.DroppedSYNPackets), count(l.IgnoredACKSegments), hs,
		})
	}
	p.table("Listeners", []string{"LISTENER", "ATTEMPTS", "OK", "FAILED", "SYN DROPS", "ACK IGNORED", "HANDSHAKE"}, rows, "lrrrrrr")
	p.line("  HANDSHAKE: first SYN to the client's ACK, median/99th percentile.")
	if len(hidden) > 0 {
		attempts, failed, failing := 0, 0, 0
		for _, l := range hidden {
			attempts += l.Attempts
			failed += l.Outcomes.Failed()
			if l.Outcomes.Failed() > 0 {
				failing++
			}
		}
		p.wrap("  ", prose.Sayf("Not shown here or below: %d more listener{s} (%d attempt{s}, %d failed, on %d of them); --format json lists every one.",
			len(hidden), attempts, failed, failing))
	}
	if ls := in.Result.Listeners; len(ls) > 1 {
		v := ls[0].Diagnosis.Verdict
		same := !slices.ContainsFunc(ls, func(l analyze.Listener) bool {
			return l.Diagnosis.Verdict.Kind != v.Kind || l.Diagnosis.Verdict.Confidence != v.Confidence
		})
		if same && len(ls) > 3 {
			// 20 lines saying the same of 20 listeners hid nothing.
			p.line("  Every listener above: %s (%s confidence)", v.Kind, v.Confidence)
			return
		}
		for _, l := range ls {
			v := l.Diagnosis.Verdict
			switch to := forwardedTo(&l); {
			case to == "":
				p.line("  %s: %s (%s confidence)", l.Server, v.Kind, v.Confidence)
			case v.Kind == analyze.KindForwarded:
				p.line("  %s: %s to %s (%s confidence)", l.Server, v.Kind, to, v.Confidence)
			default: // a front with its own verdict (SYNs dropped before forwarding)
				p.line("  %s: %s (%s confidence); forwards to %s", l.Server, v.Kind, v.Confidence, to)
			}
		}
	}
}

// outcomes lists, per listener, each outcome other than established that
// occurred, with its share and what it means.
func (p *printer) outcomes(in *Input) {
	var rows [][]string
	for _, l := range in.Result.Listeners {
		for _, o := range analyze.AllOutcomes() {
			n := l.Outcomes[o]
			if n == 0 || o == analyze.Established {
				continue
			}
			rows = append(rows, []string{l.Server.String(), o.String(), count(n), percent(n, l.Attempts), outcomeHint[o]})
		}
	}
	if len(rows) == 0 {
		p.line("")
		p.line("Every connection attempt was established.")
		return
	}
	p.table("Attempts that did not get established", []string{"LISTENER", "OUTCOME", "N", "SHARE", "MEANING"}, rows, "llrrl")
	for _, l := range in.Result.Listeners {
		if l.Outcomes.Failed() > 0 {
			p.line("  %s: failures from %s UTC", l.Server,
				timeRange(l.FirstFailure, l.LastFailure, "15:04:05.000", spansDays(in.Capture)))
		}
	}
}

var outcomeHint = map[analyze.Outcome]string{
	analyze.UnansweredSYN:     "SYN never answered",
	analyze.Rejected:          "RST to SYN: no listener",
	analyze.ICMPUnreachable:   "ICMP error to SYN",
	analyze.SYNACKUnacked:     "client never ACKed SYN-ACK",
	analyze.ACKIgnored:        "server ignored client ACK",
	analyze.ResetAfterACK:     "RST after client ACK",
	analyze.ClientReset:       "client sent RST",
	analyze.SYNAnsweredByACK:  "SYN got a bare ACK",
	analyze.ProxiedUnanswered: "SYN proxy's SYN never answered",
	analyze.Incomplete:        "capture ended mid-handshake",
}

func (p *printer) packets(in *Input) {
	var rows [][]string
	for _, l := range in.Result.Listeners {
		rows = append(rows, []string{
			l.Server.String(), count(l.SYNPackets), count(l.DroppedSYNPackets), count(l.SYNACKPackets),
			count(l.SYNACKRetransmits), count(l.IgnoredACKSegments), count(l.ServerRSTs) + "/" + count(l.ClientRSTs),
		})
	}
	p.table("Handshake packets", []string{"LISTENER", "SYN", "SYN DROP", "SYN-ACK", "RETX", "IGNORED", "RST S/C"}, rows, "lrrrrrr")
	p.line("  SYN DROP: SYNs with no answer; RETX: SYN-ACK retransmissions;")
	p.line("  IGNORED: client segments after the SYN-ACK the server did not take.")
}

func (p *printer) worstClients(in *Input) {
	if len(in.Result.WorstClients) == 0 {
		return
	}
	var rows [][]string
	for _, c := range in.Result.WorstClients {
		rows = append(rows, []string{c.Addr.String(), count(c.Attempts), count(c.Outcomes.Failed()), mostlyOutcome(&c.Outcomes)})
	}
	p.table("Clients with the most failed attempts", []string{"CLIENT", "ATTEMPTS", "FAILED", "MOSTLY"}, rows, "lrrl")
	if in.Result.ClientsOverflow {
		p.line("  (more than %s distinct clients: only the first ones are ranked)", count(analyze.MaxTrackedClients))
	}
}

// captureWarnings lists the capture's warnings, with what the analysis
// found missing from it.
func captureWarnings(in *Input) []string {
	ws := in.Capture.Warnings
	if ow := in.Result.OneWay; len(ow) > 0 {
		names := make([]string, 0, 3)
		for _, ap := range ow[:min(len(ow), 3)] {
			names = append(names, ap.String())
		}
		if len(ow) > 3 {
			names = append(names, prose.Sayf("%d more", len(ow)-3))
		}
		their := "its"
		if len(ow) > 1 {
			their = "their"
		}
		ws = append(ws[:len(ws):len(ws)], prose.Sayf("the capture holds no packet from %s, only %s clients': it was filtered to one direction ('dst port %d', tcpdump -Q in), taken from a one-way mirror or tap, or the answers leave by another path. %d attempt{s} went on as if answered; what the server answered, dropped or reset cannot be seen. Capture both directions (tcpdump -i any 'tcp port %d')",
			strings.Join(names, ", "), their, ow[0].Port(), in.Result.AnswersNotCaptured, ow[0].Port()))
	}
	if n := in.Result.SYNACKsNotCaptured - in.Result.AnswersNotCaptured; n > 0 {
		ws = append(ws[:len(ws):len(ws)], prose.Sayf("%d connection{s} went on without {its|their} SYN-ACK in the capture: it missed packets (tcpdump's \"dropped by kernel\", a full ring, or a path the capture does not see); counts of unanswered or ignored packets may be too high", n))
	}
	if n := in.Result.DataNotCaptured; n > 0 {
		ws = append(ws[:len(ws):len(ws)], prose.Sayf("on %d connection{s} the server acknowledged data the capture never showed the client send: the capture missed packets (tcpdump's \"dropped by kernel\", a full ring buffer, a path it does not see), so packets it lacks (a SYN-ACK sent again, a SYN) may have been sent all the same", n))
	}
	if n := in.Result.ACKsNotCaptured; n > 0 {
		ws = append(ws[:len(ws):len(ws)], prose.Sayf("no packet in the capture is a bare ACK or data, only SYNs, SYN-ACKs, resets and FINs: either no client ever answered a SYN-ACK (spoofed sources) or a capture filter (such as 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0', or with tcp-fin) left those packets out, and %d attempt{s} whose SYN-ACK was never sent again may have completed (counted as synack_unacked); unanswered SYNs still show drops. Capture without a flags filter, or pass the server's nstat snapshots (--nstat)", n))
	}
	return ws
}

// warnings lists the capture's warnings and the tracker's.
func warnings(in *Input) []string {
	ws := captureWarnings(in)
	if n := in.Tracker.Evicted; n > 0 {
		ws = append(ws[:len(ws):len(ws)], prose.Sayf("%d attempt{s} {was|were} finished early to stay under --max-attempts (peak %d held): their counts are lower bounds", n, in.Tracker.PeakInFlight))
	}
	return ws
}

func (p *printer) warnings(in *Input) {
	ws := warnings(in)
	if len(ws) == 0 {
		return
	}
	p.line("")
	p.line("Warnings")
	for _, w := range ws {
		p.wrap("  - ", w)
	}
}

// vantageWords says where the capture was taken, with the gaps that show it.
func vantageWords(s *analyze.Signs) string {
	gaps := "(" + gapWords("SYN to SYN-ACK", s.SYNGapP50, s.SYNGaps, "no SYN answered") + ", " +
		gapWords("SYN-ACK to ACK", s.ACKGapP50, s.ACKGaps, "no SYN-ACK acknowledged") + ")"
	if s.SameHost {
		return "on loopback: clients and server on one host, both ends seen " + gaps
	}
	switch s.Vantage {
	case analyze.VantageServer:
		return "on the server side " + gaps
	case analyze.VantageClient:
		return "on the client side " + gaps
	case analyze.VantageMiddle:
		return "between client and server " + gaps
	}
	if s.SYNGaps < 3 || s.ACKGaps < 3 {
		return "at an unknown point: too few timed handshakes to tell by " + gaps + "; read as if on the server"
	}
	return "at an unknown point: no path delay to tell by " + gaps + "; read as if on the server"
}

// gapWords is a median gap, or what the capture lacked to time one: a
// median of no handshakes is not 0µs.
func gapWords(gap string, median time.Duration, n int, none string) string {
	if n == 0 {
		return none
	}
	return "median " + gap + " " + analyze.FormatDuration(median)
}

func mostlyOutcome(c *analyze.OutcomeCounts) string {
	best, bestN := analyze.Established, 0
	for _, o := range analyze.AllOutcomes() {
		if o.Failed() && c[o] > bestN {
			best, bestN = o, c[o]
		}
	}
	return best.String()
}

func filterNote(in *Input) string {
	if in.Tracker.SkippedPackets > 0 {
		return fmt.Sprintf(" (%s packets were outside --port/--server)", count(in.Tracker.SkippedPackets))
	}
	return ""
}

// count formats an integer with thousands separators.
func count(n int) string { return prose.Count(int64(n)) }

func percent(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// Sanitize makes a string from the input safe to print on a terminal: it
// drops control characters (escape sequences included) and invalid UTF-8.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// spansDays reports whether the capture runs over midnight (UTC): its
// times of day are then ambiguous without their dates.
func spansDays(cs capture.Summary) bool {
	return time.Unix(0, cs.Start).UTC().Format(time.DateOnly) != time.Unix(0, cs.End).UTC().Format(time.DateOnly)
}

// timeRange prints "from to to" (UTC) as times of day in clock's layout,
// each with its date when dated.
func timeRange(from, to int64, clock string, dated bool) string {
	if dated {
		clock = time.DateOnly + " " + clock
	}
	return time.Unix(0, from).UTC().Format(clock) + " to " + time.Unix(0, to).UTC().Format(clock)
}

// forwardedTo names where a front's connections went ("" for a listener
// where they end).
func forwardedTo(l *analyze.Listener) string {
	var to []string
	for _, fw := range l.Forwards {
		to = append(to, fw.To.String())
	}
	return strings.Join(to, ", ")
}
