package host

import (
	"cmp"
	"net/netip"
	"slices"
)

// MaxChartPoints is how many points per listener a QueueHistory keeps
// for charts: about 3.4 minutes of 100-ms samples before the first
// merge, and a day at about 42-s resolution.
const MaxChartPoints = 2048

// QueueHistory keeps the listen-queue samples of a run of any length in
// bounded memory: the exact peaks of every listener (as Peaks gives them
// from every sample), every sample of the recent window, and a series of
// at most MaxChartPoints points per listener for charts. When a series
// fills, adjacent points merge two by two, keeping their maxima (a full
// queue stays visible at any zoom), and later points cover as many
// samples as a merged one.
//
// It also counts the rounds of sampling, sockets or none: a port no round
// listed had no listener while they were taken (Host.QueueSamples).
type QueueHistory struct {
	window int64
	recent []QueueSample
	// rounds are the times of the rounds of the recent window (trimmed
	// as recent is); allRounds counts every round.
	rounds    []int64
	allRounds int
	peaks     map[netip.AddrPort]*QueuePeak
	series    map[netip.AddrPort]*queueSeries
	max       int
}

type queueSeries struct {
	points  []QueueSample
	pending QueueSample
	n       int // samples merged into pending
	stride  int // samples per point
}

// NewQueueHistory keeps the samples of the last window (ns) whole.
func NewQueueHistory(window int64) *QueueHistory {
	return &QueueHistory{window: window, peaks: map[netip.AddrPort]*QueuePeak{},
		series: map[netip.AddrPort]*queueSeries{}, max: MaxChartPoints}
}

// Add takes one round of samples, taken at t: a sample of each listening
// socket sampled, none if no socket listened on the sampled ports.
// Rounds come in the order taken.
func (h *QueueHistory) Add(t int64, samples []QueueSample) {
	h.allRounds++
	h.rounds = append(h.rounds, t)
	if i, _ := slices.BinarySearch(h.rounds, t-h.window); i > len(h.rounds)/2 {
		h.rounds = append(h.rounds[:0], h.rounds[i:]...)
	}
	if len(samples) == 0 {
		return
	}
	for _, s := range samples {
		p := h.peaks[s.Listener]
		if p == nil {
			p = &QueuePeak{Listener: s.Listener}
			h.peaks[s.Listener] = p
		}
		p.add(s)
		q := h.series[s.Listener]
		if q == nil {
			q = &queueSeries{stride: 1}
			h.series[s.Listener] = q
		}
		q.add(s, h.max)
	}
	h.recent = append(h.recent, samples...)
	// Trim the window when half the slice is older than it, so that
	// trimming costs O(1) a sample.
	cut := samples[len(samples)-1].Time - h.window
	if i := h.firstAt(cut); i > len(h.recent)/2 {
		h.recent = append(h.recent[:0], h.recent[i:]...)
	}
}

func (h *QueueHistory) firstAt(t int64) int {
	i, _ := slices.BinarySearchFunc(h.recent, t, func(q QueueSample, t int64) int {
		if q.Time < t {
			return -1
		}
		return 1
	})
	return i
}

// Since returns the samples taken at or after t, t within the window of
// the latest sample (older ones are gone).
func (h *QueueHistory) Since(t int64) []QueueSample {
	return h.recent[h.firstAt(t):]
}

// Rounds is how many rounds were added.
func (h *QueueHistory) Rounds() int { return h.allRounds }

// RoundsSince is how many rounds were taken at or after t, t within the
// window of the latest round.
func (h *QueueHistory) RoundsSince(t int64) int {
	i, _ := slices.BinarySearch(h.rounds, t)
	return len(h.rounds) - i
}

// Peaks is Peaks of every sample added.
func (h *QueueHistory) Peaks() []QueuePeak {
	out := make([]QueuePeak, 0, len(h.peaks))
	for _, p := range h.peaks {
		out = append(out, *p)
	}
	sortPeaks(out)
	return out
}

// Series returns the chart points of every listener, in time order: each
// point is its first sample's time with the maxima of the samples it
// covers.
func (h *QueueHistory) Series() []QueueSample {
	var out []QueueSample
	for _, q := range h.series {
		out = append(out, q.points...)
		if q.n > 0 {
			out = append(out, q.pending)
		}
	}
	slices.SortStableFunc(out, func(a, b QueueSample) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Listener.Port(), b.Listener.Port()), a.Listener.Addr().Compare(b.Listener.Addr()))
	})
	return out
}

func (q *queueSeries) add(s QueueSample, limit int) {
	if q.n == 0 {
		q.pending = s
	} else {
		q.pending = mergeSamples(q.pending, s)
	}
	q.n++
	if q.n < q.stride {
		return
	}
	q.points = append(q.points, q.pending)
	q.n = 0
	if len(q.points) < limit {
		return
	}
	half := q.points[:0]
	for i := 0; i+1 < len(q.points); i += 2 {
		half = append(half, mergeSamples(q.points[i], q.points[i+1]))
	}
	q.points = half
	q.stride *= 2
}

// mergeSamples is one point for two samples of a listener: the first's
// time, the larger of each length.
func mergeSamples(a, b QueueSample) QueueSample {
	a.AcceptQueue = max(a.AcceptQueue, b.AcceptQueue)
	a.AcceptLimit = max(a.AcceptLimit, b.AcceptLimit)
	a.SynRecv = max(a.SynRecv, b.SynRecv)
	return a
}
