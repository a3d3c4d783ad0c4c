package live

import "github.com/synq/synq/host"

// maxCounterSamples bounds the counter snapshots a run keeps for its
// report (one per interval): a snapshot is a map of a few hundred
// counters, so a day of 1-s intervals would otherwise hold gigabytes.
const maxCounterSamples = 512

// counterSeries keeps the first snapshot, the latest, and at most
// maxCounterSamples in between, evenly spaced: when full, every other
// one goes and from then on only every stride-th is kept. (The bundle,
// with -w, has every snapshot; the report needs only the first and the
// last.)
type counterSeries struct {
	kept   []host.CounterSample
	last   host.CounterSample
	n      int // snapshots added
	stride int
	limit  int
}

func newCounterSeries(first host.CounterSample) *counterSeries {
	return &counterSeries{kept: []host.CounterSample{first}, last: first, n: 1, stride: 1, limit: maxCounterSamples}
}

func (c *counterSeries) add(s host.CounterSample) {
	c.last = s
	if c.n%c.stride == 0 {
		c.kept = append(c.kept, s)
		if len(c.kept) >= c.limit {
			half := c.kept[:0]
			for i := 0; i < len(c.kept); i += 2 {
				half = append(half, c.kept[i])
			}
			clear(c.kept[len(half):])
			c.kept = half
			c.stride *= 2
		}
	}
	c.n++
}

// samples is the kept snapshots, the latest last.
func (c *counterSeries) samples() []host.CounterSample {
	out := append([]host.CounterSample(nil), c.kept...)
	if out[len(out)-1].Time != c.last.Time {
		out = append(out, c.last)
	}
	return out
}
