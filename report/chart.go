package report

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
)

// Charts are SVG written here and inlined in the HTML report. They used
// to be drawn with gonum.org/v1/plot, which embeds twelve font faces
// (about 4 MB of the binary, none needed: an SVG names its font) and
// brings PDF, LaTeX and raster back ends for four line charts, and whose
// legend sat on the data. What a chart needs is a few hundred lines: step
// lines, axes with round ticks, and a legend beside the plot, never on it.
// The page's stylesheet names Liberation Sans, Arial and Helvetica, so
// nothing is fetched.

// Colours from the Okabe-Ito palette, told apart with colour vision
// deficiencies too; lines also differ by dash where they share a panel.
const (
	colBlue      = "#0072B2"
	colOrange    = "#E69F00"
	colGreen     = "#009E73"
	colVermilion = "#D55E00"
	colPurple    = "#CC79A7"
	colSky       = "#56B4E9"
	colYellow    = "#C9B200"
	colBlack     = "#202020"
	colGrey      = "#888888"
	colGrid      = "#dddddd"
)

// Geometry of a chart, in SVG user units (the page scales the chart to
// its width). The legend column is right of the plot area.
const (
	chartW      = 760.0
	plotLeft    = 58.0
	plotW       = 450.0
	legendLeft  = plotLeft + plotW + 20
	legendChars = 34 // a legend line wraps past this many characters
	panelTitleH = 22.0
	panelPlotH  = 118.0
	panelGap    = 30.0
)

// series is one line of a timeline panel.
type series struct {
	name  string
	color string
	dash  string // SVG stroke-dasharray, "" for a solid line
	width float64
	// fill draws the series as a light area under everything else, for
	// a part of another series that would hide it as a line.
	fill bool
	// from is the first point with a value: sampled levels are unknown
	// before their first sample and are not drawn there.
	from int
	y    []float64 // one value per point of x
}

// svgWriter builds one chart.
type svgWriter struct {
	b strings.Builder
}

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// text writes an escaped label.
func (w *svgWriter) text(x, y float64, anchor, size, extra, s string) {
	w.f(`<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%s"%s>%s</text>`, x, y, anchor, size, extra, html.EscapeString(s))
}

// panel is one plot of a chart: a title, a y axis from 0, lines over x.
type panel struct {
	title, ylabel string
	series        []series
	// levels: the series are levels held over time (drawn throughout),
	// not counts per bucket (drawn only where not zero).
	levels bool
}

// drawPanel draws p with its plot area at top (the title above it) over
// x from xmin to xmax, with time ticks, and its legend to the right.
func (w *svgWriter) drawPanel(p panel, top float64, x []float64, xmin, xmax float64, xlabel string) {
	ymax := 1.0
	for _, s := range p.series {
		if s.y != nil {
			ymax = max(ymax, slices.Max(s.y))
		}
	}
	ymax = niceCeil(ymax * 1.05)
	px := func(v float64) float64 { return plotLeft + (v-xmin)/(xmax-xmin)*plotW }
	py := func(v float64) float64 { return top + panelPlotH - v/ymax*panelPlotH }

	w.text(plotLeft, top-8, "start", "12", ` font-weight="bold"`, p.title)
	w.f(`<g class="plot-area">`)
	w.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#999" stroke-width="0.8"/>`, plotLeft, top, plotW, panelPlotH)
	for _, t := range intTicks(ymax) {
		y := py(t)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5"/>`, plotLeft, y, plotLeft+plotW, y, colGrid)
	}
	for _, t := range timeTicks(xmin, xmax) {
		if t.label != "" {
			x := px(t.v)
			w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5"/>`, x, top, x, top+panelPlotH, colGrid)
		}
	}
	var legend []legendEntry
	for _, s := range p.series {
		if s.y == nil {
			continue
		}
		zero := slices.Max(s.y) == 0
		name := s.name
		switch {
		case zero && p.levels:
			name += ": 0 throughout"
		case zero:
			name += ": none"
		}
		legend = append(legend, legendEntry{name, s})
		if zero {
			continue // a line along zero would hide the axis and the others
		}
		width := cmp0(s.width, 1.6)
		for _, run := range stepRuns(x[s.from:], s.y[s.from:], p.levels) {
			var pts strings.Builder
			for i, pt := range run {
				if i > 0 { // post-step: across at the old level, then up or down
					fmt.Fprintf(&pts, "%.1f,%.1f ", px(pt[0]), py(run[i-1][1]))
				}
				fmt.Fprintf(&pts, "%.1f,%.1f ", px(pt[0]), py(pt[1]))
			}
			if s.fill {
				first, last := run[0], run[len(run)-1]
				w.f(`<polygon points="%.1f,%.1f %s%.1f,%.1f" fill="%s" fill-opacity="0.45" stroke="%s" stroke-width="0.8"/>`,
					px(first[0]), py(0), pts.String(), px(last[0]), py(0), s.color, s.color)
				continue
			}
			dash := ""
			if s.dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
			}
			w.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s stroke-linejoin="round"/>`, strings.TrimSpace(pts.String()), s.color, width, dash)
		}
	}
	w.f(`</g>`)
	// Axes: y ticks and label, x ticks and labels.
	for _, t := range intTicks(ymax) {
		w.text(plotLeft-5, py(t)+3.5, "end", "10", "", fmt.Sprintf("%.0f", t))
	}
	w.text(14, top+panelPlotH/2, "middle", "10", fmt.Sprintf(` transform="rotate(-90 14 %.1f)"`, top+panelPlotH/2), p.ylabel)
	for _, t := range timeTicks(xmin, xmax) {
		x := px(t.v)
		tick := 3.0
		if t.label != "" {
			tick = 5
			w.text(x, top+panelPlotH+15, "middle", "9.5", "", t.label)
		}
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-width="0.8"/>`, x, top+panelPlotH, x, top+panelPlotH+tick)
	}
	if xlabel != "" {
		w.text(plotLeft+plotW/2, top+panelPlotH+30, "middle", "10", "", xlabel)
	}
	w.drawLegend(legend, top)
}

type legendEntry struct {
	name string
	s    series
}

// drawLegend lists the series right of the plot area, a swatch and the
// name (wrapped) per entry.
func (w *svgWriter) drawLegend(entries []legendEntry, top float64) {
	w.f(`<g class="legend">`)
	y := top + 10
	for _, e := range entries {
		s := e.s
		if s.fill {
			w.f(`<rect x="%.1f" y="%.1f" width="22" height="8" fill="%s" fill-opacity="0.45" stroke="%s" stroke-width="0.8"/>`, legendLeft, y-7, s.color, s.color)
		} else {
			dash := ""
			if s.dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
			}
			w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`, legendLeft, y-3, legendLeft+22, y-3, s.color, cmp0(s.width, 1.6), dash)
		}
		lines := wrap(e.name, legendChars)
		for i, line := range lines {
			w.text(legendLeft+28, y+float64(i)*12, "start", "10.5", "", line)
		}
		y += 16 + float64(len(lines)-1)*12
	}
	w.f(`</g>`)
}

// wrap breaks s into lines of at most n characters at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= n:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

func cmp0(a, b float64) float64 {
	if a != 0 {
		return a
	}
	return b
}

// stepRuns cuts a step series (one value per point of x, the last point
// the end of the last bucket) into the runs to draw: all of it for
// levels, else each run of non-zero buckets with its edges down to zero.
// Each point is {x, y}; y holds from x to the next point.
func stepRuns(x, y []float64, levels bool) [][][2]float64 {
	if levels {
		// A step line needs only the points where the level changes
		// (and the last): the page stays small.
		var pts [][2]float64
		for i := range x {
			if i == 0 || i == len(x)-1 || y[i] != y[i-1] {
				pts = append(pts, [2]float64{x[i], y[i]})
			}
		}
		return [][][2]float64{pts}
	}
	var runs [][][2]float64
	for i := 0; i < len(x)-1; i++ {
		if y[i] == 0 {
			continue
		}
		run := [][2]float64{{x[i], 0}}
		for ; i < len(x)-1 && y[i] != 0; i++ {
			if len(run) == 1 || y[i] != y[i-1] {
				run = append(run, [2]float64{x[i], y[i]})
			}
		}
		// The step ends at the next bucket's start, then drops.
		run = append(run, [2]float64{x[i], y[i-1]}, [2]float64{x[i], 0})
		runs = append(runs, run)
	}
	return runs
}

// timelineChart draws one listener's timeline: handshake packets, failures
// and the queues, three panels on one time axis. queues are the live
// samples for this listener (nil without).
func timelineChart(l *analyze.Listener, captureStart, captureEnd int64, queues []host.QueueSample) ([]byte, error) {
	tl := &l.Timeline
	n := len(tl.Buckets)
	if n == 0 {
		return nil, nil
	}
	bw := float64(tl.Width) / 1e9
	// Bucket starts, then the end of the last; when the capture started
	// before the first attempt, one point at its start leads in with
	// nothing (the timeline has no buckets there).
	var x []float64
	lead := 0
	if captureStart != 0 && captureStart < tl.Start {
		x, lead = append(x, float64(captureStart)/1e9), 1
	}
	for i := range n + 1 {
		x = append(x, float64(tl.Start)/1e9+float64(i)*bw)
	}
	col := func(f func(b *analyze.TimelineBucket) int) []float64 {
		y := make([]float64, len(x))
		for i := range tl.Buckets {
			y[lead+i] = float64(f(&tl.Buckets[i]))
		}
		y[len(y)-1] = y[len(y)-2]
		return y
	}
	unit := "per " + analyze.FormatDuration(tl.Width)
	cookies := col(func(b *analyze.TimelineBucket) int { return b.SyncookieSYNACKs })
	if l.Signs.SyncookieSYNACKs == 0 {
		cookies = nil
	}
	handshake := panel{title: "Handshake packets", ylabel: "packets " + unit, series: []series{
		{name: "SYN-ACKs that were syncookies", color: colOrange, fill: true, y: cookies},
		{name: "SYNs (client)", color: colBlue, width: 2.4, y: col(func(b *analyze.TimelineBucket) int { return b.SYNs })},
		{name: "SYN-ACKs (server)", color: colGreen, width: 1.4, dash: "4 3", y: col(func(b *analyze.TimelineBucket) int { return b.SYNACKs })},
	}}
	// Every way an attempt fails, so that no failure goes unplotted: the
	// packets the server dropped or ignored, then attempts by outcome.
	failures := panel{title: "Failures", ylabel: "count " + unit, series: []series{
		{name: "dropped SYNs (packets)", color: colVermilion, width: 2, y: col(func(b *analyze.TimelineBucket) int { return b.DroppedSYNs })},
		{name: "ignored ACKs (segments)", color: colPurple, width: 2, dash: "5 2", y: col(func(b *analyze.TimelineBucket) int { return b.IgnoredACKs })},
		{name: "SYN-ACKs never acknowledged (attempts)", color: colYellow, width: 2, dash: "2 2", y: col(func(b *analyze.TimelineBucket) int { return b.Unacked })},
		{name: "refused by RST or ICMP (attempts)", color: colSky, width: 2, dash: "6 2 1.5 2", y: col(func(b *analyze.TimelineBucket) int { return b.Refused + b.ICMPRefused })},
		{name: "RSTs from server", color: colBlack, dash: "1.5 1.5", y: col(func(b *analyze.TimelineBucket) int { return b.ServerRSTs })},
		{name: "RSTs from clients", color: colGrey, dash: "6 2 1.5 2", y: col(func(b *analyze.TimelineBucket) int { return b.ClientRSTs })},
	}}
	qs := []series{
		{name: "half-open, estimated from packets", color: colSky, width: 2, y: col(func(b *analyze.TimelineBucket) int { return b.HalfOpen })},
		{name: "completed, not yet answered (accept queue, estimated from packets)", color: colOrange, width: 2, dash: "5 2",
			y: col(func(b *analyze.TimelineBucket) int { return b.Unserved })},
	}
	if len(queues) > 0 {
		acc, lim, syn, from := queueColumns(tl, queues, lead)
		qs = append(qs,
			series{name: "accept queue (sampled)", color: colVermilion, width: 2, y: acc, from: from},
			series{name: "accept queue limit", color: colGrey, dash: "4 3", y: lim, from: from},
			series{name: "SYN_RECV (sampled)", color: colBlue, dash: "2 2", y: syn, from: from})
	}
	queuesPanel := panel{title: "Listen queues", ylabel: "connections (peak)", series: qs, levels: true}

	xmin, xmax := x[0], x[len(x)-1]
	if captureStart != 0 && captureEnd >= captureStart {
		xmin, xmax = min(xmin, float64(captureStart)/1e9), max(xmax, float64(captureEnd)/1e9)
	}
	if xmax <= xmin {
		xmax = xmin + bw
	}
	panels := []panel{handshake, failures, queuesPanel}
	h := 8 + float64(len(panels))*(panelTitleH+panelPlotH+panelGap) + 16
	w := &svgWriter{}
	w.open(h, "Timeline of "+l.Server.String()+": handshake packets, failures and listen queues")
	for i, p := range panels {
		xlabel := ""
		if i == len(panels)-1 {
			xlabel = "time (UTC), " + time.Unix(0, int64(xmin*1e9)).UTC().Format("2006-01-02") + "; buckets of " + analyze.FormatDuration(tl.Width)
		}
		w.drawPanel(p, 8+panelTitleH+float64(i)*(panelTitleH+panelPlotH+panelGap), x, xmin, xmax, xlabel)
	}
	return w.close(), nil
}

// open starts the <svg> element, white behind everything so that a
// screenshot pasted on a dark theme stays legible.
func (w *svgWriter) open(h float64, title string) {
	w.f(`<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="Liberation Sans, Arial, Helvetica, sans-serif">`, chartW, h, chartW, h)
	w.f(`<title>%s</title>`, html.EscapeString(title))
	w.f(`<rect width="100%%" height="100%%" fill="#fff"/>`)
}

func (w *svgWriter) close() []byte {
	w.f(`</svg>`)
	return []byte(w.b.String())
}

// queueColumns reduces the live queue samples to the timeline's buckets:
// the largest value sampled in each. Samples are levels taken every
// 100 ms: a bucket shorter than that with no sample of its own holds the
// last one before it. Samples before the first bucket go to the lead-in
// point (lead is 1 when there is one). from is the first point sampled
// (the last point when none is).
func queueColumns(tl *analyze.Timeline, qs []host.QueueSample, lead int) (acc, lim, syn []float64, from int) {
	n := len(tl.Buckets) + lead + 1
	acc, lim, syn = make([]float64, n), make([]float64, n), make([]float64, n)
	sampled := make([]bool, n)
	for _, q := range qs {
		i := lead + int(floorDiv(q.Time-tl.Start, int64(tl.Width)))
		switch {
		case q.Time < tl.Start && lead == 0, i >= n-1:
			continue
		case q.Time < tl.Start:
			i = 0
		}
		if !sampled[i] {
			acc[i], lim[i], syn[i], sampled[i] = 0, 0, 0, true
		}
		acc[i] = max(acc[i], float64(q.AcceptQueue))
		lim[i] = max(lim[i], float64(q.AcceptLimit))
		syn[i] = max(syn[i], float64(q.SynRecv))
	}
	for i := 1; i < n; i++ {
		if !sampled[i] {
			acc[i], lim[i], syn[i] = acc[i-1], lim[i-1], syn[i-1]
		}
	}
	from = max(slices.Index(sampled, true), 0)
	if !slices.Contains(sampled, true) {
		from = n - 1
	}
	return acc, lim, syn, from
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// latencyChart draws the handshake latency distribution as bars.
func latencyChart(l *analyze.Listener) ([]byte, error) {
	// Two empty buckets either side show where the others would be.
	d := analyze.TrimLatency(l.HandshakeDistribution, 2)
	if len(d) == 0 {
		return nil, nil
	}
	const top, plotH, left, width = 30.0, 130.0, plotLeft, chartW - plotLeft - 20
	ymax := 1.0
	for _, b := range d {
		ymax = max(ymax, float64(b.Count))
	}
	ymax = niceCeil(ymax * 1.05)
	band := width / float64(len(d))
	rotate := band < 50
	h := top + plotH + 48
	if rotate {
		h += 14
	}
	w := &svgWriter{}
	w.open(h, "Handshake latency of "+l.Server.String())
	w.text(left, top-10, "start", "12", ` font-weight="bold"`, "Handshake latency: first SYN to the client's ACK")
	py := func(v float64) float64 { return top + plotH - v/ymax*plotH }
	w.f(`<g class="plot-area">`)
	w.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#999" stroke-width="0.8"/>`, left, top, width, plotH)
	for _, t := range intTicks(ymax) {
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5"/>`, left, py(t), left+width, py(t), colGrid)
	}
	for i, b := range d {
		if b.Count == 0 {
			continue
		}
		bw := min(40, band*0.7)
		x := left + band*(float64(i)+0.5) - bw/2
		w.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%d</title></rect>`, x, py(float64(b.Count)), bw, py(0)-py(float64(b.Count)), colBlue, b.Count)
	}
	w.f(`</g>`)
	for _, t := range intTicks(ymax) {
		w.text(left-5, py(t)+3.5, "end", "10", "", fmt.Sprintf("%.0f", t))
	}
	w.text(14, top+plotH/2, "middle", "10", fmt.Sprintf(` transform="rotate(-90 14 %.1f)"`, top+plotH/2), "completed handshakes")
	for i, b := range d {
		name := "≤ " + analyze.FormatDuration(b.Le)
		if b.Le == 0 {
			name = "> " + analyze.FormatDuration(latencyPrev(d, i))
		}
		cx := left + band*(float64(i)+0.5)
		if rotate {
			w.text(cx, top+plotH+14, "end", "9.5", fmt.Sprintf(` transform="rotate(-35 %.1f %.1f)"`, cx, top+plotH+14), name)
		} else {
			w.text(cx, top+plotH+14, "middle", "9.5", "", name)
		}
	}
	w.text(left+width/2, h-8, "middle", "10", "", "time from first SYN to handshake ACK (bucket upper bound)")
	return w.close(), nil
}

// latencyPrev is the bound below bucket i (the unbounded last one).
func latencyPrev(d []analyze.LatencyBucket, i int) time.Duration {
	if i > 0 {
		return d[i-1].Le
	}
	return 100 * time.Second
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten (and to whole
// counts).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= v {
			return math.Ceil(m * e)
		}
	}
	return math.Ceil(10 * e)
}

// intTicks are the whole-number ticks of a count axis from 0 to hi.
func intTicks(hi float64) []float64 {
	step := niceCeil(math.Max(hi/5, 1))
	var ts []float64
	for v := 0.0; v <= hi+1e-9; v += step {
		ts = append(ts, v)
	}
	return ts
}

// tick is one mark on the time axis; minor ones have no label.
type tick struct {
	v     float64 // Unix seconds
	label string
}

var tickSteps = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// timeTicks labels a time axis (Unix seconds) in UTC at round steps, at
// most 6 labels so that they never run into each other.
func timeTicks(lo, hi float64) []tick {
	span := time.Duration((hi - lo) * 1e9)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 5 {
			step = s
			break
		}
	}
	for span/step > 5 {
		step *= 2
	}
	layout := "15:04:05"
	switch {
	case step < 100*time.Millisecond:
		layout = "15:04:05.00"
	case step < time.Second:
		layout = "15:04:05.0"
	case step >= 24*time.Hour || span > 24*time.Hour:
		layout = "01-02 15:04"
	}
	lo64, hi64 := int64(math.Floor(lo*1e9)), int64(math.Ceil(hi*1e9))
	var ts []tick
	for t := (lo64 + int64(step) - 1) / int64(step) * int64(step); t <= hi64; t += int64(step) {
		ts = append(ts, tick{float64(t) / 1e9, time.Unix(0, t).UTC().Format(layout)})
		// Minor ticks between labels.
		for k := int64(1); k < 5 && step >= 5*time.Millisecond; k++ {
			if m := t + k*int64(step)/5; m <= hi64 {
				ts = append(ts, tick{v: float64(m) / 1e9})
			}
		}
	}
	return ts
}
