package analyze

import (
	"math"
	"slices"
	"time"
)

// histogram keeps durations in logarithmic buckets 1% wide, so quantiles
// cost fixed memory however many attempts a listener sees, and come out the
// same whatever order the attempts arrive in.
type histogram struct {
	counts map[int32]uint32
	n      uint64
}

const histGrowth = 1.01

var logGrowth = math.Log(histGrowth)

func histBucket(d time.Duration) int32 {
	if d < time.Microsecond {
		return 0
	}
	return int32(math.Log(float64(d)/float64(time.Microsecond))/logGrowth) + 1
}

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = make(map[int32]uint32)
	}
	h.counts[histBucket(d)]++
	h.n++
}

// quantile returns the q-quantile (0 < q <= 1), accurate to about 1%, or
// false when the histogram is empty.
func (h *histogram) quantile(q float64) (time.Duration, bool) {
	if h.n == 0 {
		return 0, false
	}
	keys := make([]int32, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for _, k := range keys {
		seen += uint64(h.counts[k])
		if seen >= rank {
			if k == 0 {
				return 0, true
			}
			// Midpoint of the bucket [growth^(k-1), growth^k) microseconds.
			mid := math.Pow(histGrowth, float64(k)-0.5) * float64(time.Microsecond)
			return time.Duration(mid), true
		}
	}
	return 0, false
}
