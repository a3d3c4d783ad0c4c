package analyze

import (
	"math"
	"time"
)

// histogram keeps durations in logarithmic buckets 1% wide, so quantiles
// cost fixed memory however many attempts a listener sees, and come out the
// same whatever order the attempts arrive in.
type histogram struct {
	counts []uint32 // by bucket, allocated on first use
	n      uint64
}

// histBuckets covers up to about 10^6 s (1.01^2780 µs).
const histBuckets = 2800

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
		h.counts = make([]uint32, histBuckets)
	}
	h.counts[min(histBucket(d), histBuckets-1)]++
	h.n++
}

// quantile returns the q-quantile (0 < q <= 1), accurate to about 1%, or
// false when the histogram is empty.
func (h *histogram) quantile(q float64) (time.Duration, bool) {
	if h.n == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for k, c := range h.counts {
		seen += uint64(c)
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
