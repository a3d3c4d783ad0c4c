package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
)

// Charts are drawn with gonum.org/v1/plot into SVG (vgsvg) and inlined in
// the HTML report. Fonts are not embedded: the SVG names Liberation Sans
// (whose metrics gonum lays text out with) and the page's stylesheet falls
// back to the metric-compatible Arial/Helvetica, so nothing is fetched.

// Colours from the Okabe-Ito palette, told apart with colour vision
// deficiencies too; lines also differ by dash where they share a panel.
var (
	colBlue      = color.RGBA{0x00, 0x72, 0xB2, 0xff}
	colOrange    = color.RGBA{0xE6, 0x9F, 0x00, 0xff}
	colGreen     = color.RGBA{0x00, 0x9E, 0x73, 0xff}
	colVermilion = color.RGBA{0xD5, 0x5E, 0x00, 0xff}
	colPurple    = color.RGBA{0xCC, 0x79, 0xA7, 0xff}
	colSky       = color.RGBA{0x56, 0xB4, 0xE9, 0xff}
	colBlack     = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colGrey      = color.RGBA{0x88, 0x88, 0x88, 0xff}
	colGrid      = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot with the report's fonts and grid.
func newPlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = chartFont
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Title.Padding = vg.Points(4)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = chartFont
		a.Label.TextStyle.Font.Size = vg.Points(9)
		a.Tick.Label.Font = chartFont
		a.Tick.Label.Font.Size = vg.Points(8.5)
	}
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.TextStyle.Font = chartFont
	p.Legend.TextStyle.Font.Size = vg.Points(8.5)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(6)
	p.Legend.YOffs = vg.Points(-2)
	p.Legend.ThumbnailWidth = vg.Points(18)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = colGrid, colGrid
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(g)
	return p
}

// series is one line of a timeline panel.
type series struct {
	name  string
	color color.Color
	dash  []vg.Length
	width vg.Length
	// fill draws the series as a light area under everything else, for
	// a part of another series that would hide it as a line.
	fill bool
	// from is the first point with a value: sampled levels are unknown
	// before their first sample and are not drawn there.
	from int
	y    []float64 // one value per bucket
}

// timelinePanel draws step lines over the buckets; a nil y skips the
// series. Counts (levels false) are drawn only where they are not zero, so
// that stretches of nothing do not run along the axis and hide each
// other; levels are drawn throughout.
func timelinePanel(p *plot.Plot, x []float64, ss []series, levels bool) error {
	ymax := 1.0
	type entry struct {
		name string
		l    *plotter.Line
	}
	var legend []entry
	for _, s := range ss {
		if s.y == nil {
			continue
		}
		var lines []*plotter.Line
		zero := slices.Max(s.y) == 0
		for _, run := range stepRuns(x[s.from:], s.y[s.from:], levels && !zero) {
			l, err := plotter.NewLine(run)
			if err != nil {
				return fmt.Errorf("chart %s: %w", s.name, err)
			}
			l.StepStyle = plotter.PostStep
			l.Color = s.color
			l.Width = cmpLen(s.width, vg.Points(1.6))
			l.Dashes = s.dash
			if s.fill {
				r, g, b, _ := s.color.RGBA()
				l.FillColor = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0x70}
				l.Width = vg.Points(0.8)
			}
			lines = append(lines, l)
			p.Add(l)
		}
		ymax = max(ymax, slices.Max(s.y))
		// A line along zero would hide the axis and the other lines: the
		// legend says so instead.
		name := s.name
		switch {
		case zero && levels:
			name += ": 0 throughout"
		case zero:
			name += ": none"
		}
		thumb := &plotter.Line{LineStyle: draw.LineStyle{Color: s.color, Width: cmpLen(s.width, vg.Points(1.6)), Dashes: s.dash}}
		if len(lines) > 0 {
			thumb = lines[0]
		}
		legend = append(legend, entry{name, thumb})
	}
	for _, e := range legend {
		p.Legend.Add(e.name, e.l)
	}
	// Headroom for the legend, which sits at the top left over the plot.
	p.Y.Max = niceCeil(ymax * (1 + 0.12*float64(len(legend))))
	p.Y.Tick.Marker = intTicks{}
	return nil
}

// stepRuns cuts a step series (x has one more point than the buckets it
// bounds, y one value per point) into the runs to draw: all of it for
// levels, else each run of non-zero buckets with its edges down to zero.
func stepRuns(x, y []float64, levels bool) []plotter.XYs {
	if levels {
		// A step line needs only the points where the level changes
		// (and the last): the page stays small.
		var pts plotter.XYs
		for i := range x {
			if i == 0 || i == len(x)-1 || y[i] != y[i-1] {
				pts = append(pts, plotter.XY{X: x[i], Y: y[i]})
			}
		}
		return []plotter.XYs{pts}
	}
	var runs []plotter.XYs
	for i := 0; i < len(x)-1; i++ {
		if y[i] == 0 {
			continue
		}
		run := plotter.XYs{{X: x[i], Y: 0}}
		for ; i < len(x)-1 && y[i] != 0; i++ {
			if len(run) == 1 || y[i] != y[i-1] {
				run = append(run, plotter.XY{X: x[i], Y: y[i]})
			}
		}
		// The step ends at the next bucket's start, then drops.
		run = append(run, plotter.XY{X: x[i], Y: y[i-1]}, plotter.XY{X: x[i], Y: 0})
		runs = append(runs, run)
	}
	return runs
}

func cmpLen(a, b vg.Length) vg.Length {
	if a != 0 {
		return a
	}
	return b
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
	w := float64(tl.Width) / 1e9
	// Bucket starts, then the end of the last; when the capture started
	// before the first attempt, one point at its start leads in with
	// nothing (the timeline has no buckets there).
	var x []float64
	lead := 0
	if captureStart != 0 && captureStart < tl.Start {
		x, lead = append(x, float64(captureStart)/1e9), 1
	}
	for i := range n + 1 {
		x = append(x, float64(tl.Start)/1e9+float64(i)*w)
	}
	col := func(f func(b *analyze.TimelineBucket) int) []float64 {
		y := make([]float64, len(x))
		for i := range tl.Buckets {
			y[lead+i] = float64(f(&tl.Buckets[i]))
		}
		y[len(y)-1] = y[len(y)-2]
		return y
	}
	unit := "packets per " + analyze.FormatDuration(tl.Width)

	top := newPlot("Handshake packets", unit)
	cookies := col(func(b *analyze.TimelineBucket) int { return b.SyncookieSYNACKs })
	if l.Signs.SyncookieSYNACKs == 0 {
		cookies = nil
	}
	if err := timelinePanel(top, x, []series{
		{name: "SYN-ACKs that were syncookies", color: colOrange, fill: true, y: cookies},
		{name: "SYNs (client)", color: colBlue, width: vg.Points(2.4), y: col(func(b *analyze.TimelineBucket) int { return b.SYNs })},
		{name: "SYN-ACKs (server)", color: colGreen, width: vg.Points(1.4), dash: []vg.Length{vg.Points(4), vg.Points(3)}, y: col(func(b *analyze.TimelineBucket) int { return b.SYNACKs })},
	}, false); err != nil {
		return nil, err
	}

	mid := newPlot("Failures", unit)
	if err := timelinePanel(mid, x, []series{
		{name: "dropped SYNs", color: colVermilion, width: vg.Points(2), y: col(func(b *analyze.TimelineBucket) int { return b.DroppedSYNs })},
		{name: "ignored ACKs", color: colPurple, width: vg.Points(2), dash: []vg.Length{vg.Points(5), vg.Points(2)}, y: col(func(b *analyze.TimelineBucket) int { return b.IgnoredACKs })},
		{name: "RSTs from server", color: colBlack, dash: []vg.Length{vg.Points(1.5), vg.Points(1.5)}, y: col(func(b *analyze.TimelineBucket) int { return b.ServerRSTs })},
		{name: "RSTs from clients", color: colGrey, dash: []vg.Length{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)}, y: col(func(b *analyze.TimelineBucket) int { return b.ClientRSTs })},
	}, false); err != nil {
		return nil, err
	}

	bottom := newPlot("Listen queues", "connections (peak per "+analyze.FormatDuration(tl.Width)+")")
	qs := []series{{name: "half-open, estimated from packets", color: colSky, width: vg.Points(2), y: col(func(b *analyze.TimelineBucket) int { return b.HalfOpen })}}
	if len(queues) > 0 {
		acc, lim, syn, from := queueColumns(tl, queues, lead)
		qs = append(qs,
			series{name: "accept queue (sampled)", color: colVermilion, width: vg.Points(2), y: acc, from: from},
			series{name: "accept queue limit", color: colGrey, dash: []vg.Length{vg.Points(4), vg.Points(3)}, y: lim, from: from},
			series{name: "SYN_RECV (sampled)", color: colBlue, dash: []vg.Length{vg.Points(2), vg.Points(2)}, y: syn, from: from})
	}
	if err := timelinePanel(bottom, x, qs, true); err != nil {
		return nil, err
	}

	xmin, xmax := x[0], x[len(x)-1]
	if captureStart != 0 && captureEnd >= captureStart {
		xmin, xmax = min(xmin, float64(captureStart)/1e9), max(xmax, float64(captureEnd)/1e9)
	}
	ticks := timeTicks{}
	plots := []*plot.Plot{top, mid, bottom}
	for i, p := range plots {
		p.X.Min, p.X.Max = xmin, xmax
		p.X.Tick.Marker = ticks
		if i == len(plots)-1 {
			p.X.Label.Text = "time (UTC), " + time.Unix(0, int64(xmin*1e9)).UTC().Format("2006-01-02") +
				"; buckets of " + analyze.FormatDuration(tl.Width)
		}
	}
	return drawSVG(vg.Points(720), vg.Points(560), plots)
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
	p := newPlot("Handshake latency: first SYN to the client's ACK", "completed handshakes")
	p.Legend = plot.NewLegend()
	vals := make(plotter.Values, len(d))
	names := make([]string, len(d))
	for i, b := range d {
		vals[i] = float64(b.Count)
		switch {
		case b.Le == 0:
			names[i] = "> " + analyze.FormatDuration(latencyPrev(d, i))
		default:
			names[i] = "≤ " + analyze.FormatDuration(b.Le)
		}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(min(40, 560/float64(len(d)))))
	if err != nil {
		return nil, fmt.Errorf("latency chart: %w", err)
	}
	bars.Color = colBlue
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(d))-0.4
	p.X.Label.Text = "time from first SYN to handshake ACK (bucket upper bound)"
	p.Y.Tick.Marker = intTicks{}
	ymax := 1.0
	for _, v := range vals {
		ymax = max(ymax, v)
	}
	p.Y.Max = niceCeil(ymax * 1.05)
	return drawSVG(vg.Points(720), vg.Points(220), []*plot.Plot{p})
}

// latencyPrev is the bound below bucket i (the unbounded last one).
func latencyPrev(d []analyze.LatencyBucket, i int) time.Duration {
	if i > 0 {
		return d[i-1].Le
	}
	return 100 * time.Second
}

// drawSVG stacks plots vertically on one SVG canvas, their plot areas
// aligned, and returns the <svg> element alone (no XML prolog) for
// inlining.
func drawSVG(w, h vg.Length, plots []*plot.Plot) ([]byte, error) {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	// White background: screenshots pasted on dark themes stay legible.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(10), PadY: vg.Points(10)}
	cs := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[i][0])
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("drawing a chart: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return nil, fmt.Errorf("drawing a chart: no <svg> element in %q", s[:min(len(s), 80)])
	}
	return []byte(`<svg class="chart" role="img"` + s[i+len("<svg"):]), nil
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

// intTicks labels a count axis with whole numbers only.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	step := niceCeil(math.Max((hi-lo)/5, 1))
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return ts
}

// timeTicks labels a time axis (Unix seconds) in UTC at round steps.
type timeTicks struct{}

var tickSteps = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration((hi - lo) * 1e9)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	for span/step > 8 {
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
	var ts []plot.Tick
	for t := (lo64 + int64(step) - 1) / int64(step) * int64(step); t <= hi64; t += int64(step) {
		ts = append(ts, plot.Tick{Value: float64(t) / 1e9, Label: time.Unix(0, t).UTC().Format(layout)})
		// Minor ticks between labels.
		for k := int64(1); k < 5 && step >= 5*time.Millisecond; k++ {
			if m := t + k*int64(step)/5; m <= hi64 {
				ts = append(ts, plot.Tick{Value: float64(m) / 1e9})
			}
		}
	}
	return ts
}
