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

// LatencyBucket counts durations up to Le (and above the previous
// bucket's Le); Le is zero for the last bucket, which has no bound.
type LatencyBucket struct {
	Le    time.Duration
	Count int
}

// latencyBounds are the LatencyBucket bounds: 1-2-5 steps from 100 µs to
// 100 s, wide enough to tell a LAN (sub-millisecond), a continent (tens of
// ms) and a retransmission (1 s and up) apart.
var latencyBounds = func() []time.Duration {
	var b []time.Duration
	for d := 100 * time.Microsecond; d <= 100*time.Second; d *= 10 {
		b = append(b, d, 2*d, 5*d)
	}
	return b[:len(b)-2]
}()

// distribution returns the histogram in latencyBounds buckets, every one
// of them (the last without bound); nil when empty. A fine bucket goes
// where its midpoint falls, so counts near a bound may land one bucket
// off (1%).
func (h *histogram) distribution() []LatencyBucket {
	if h.n == 0 {
		return nil
	}
	out := make([]LatencyBucket, len(latencyBounds)+1)
	for i, b := range latencyBounds {
		out[i].Le = b
	}
	for k, c := range h.counts {
		if c == 0 {
			continue
		}
		var d time.Duration
		if k > 0 {
			d = time.Duration(math.Pow(histGrowth, float64(k)-0.5) * float64(time.Microsecond))
		}
		i, _ := slices.BinarySearch(latencyBounds, d)
		out[i].Count += int(c)
	}
	return out
}

// TrimLatency returns the buckets from the first to the last non-empty
// one, with pad more on each side where there are.
func TrimLatency(d []LatencyBucket, pad int) []LatencyBucket {
	lo := slices.IndexFunc(d, func(b LatencyBucket) bool { return b.Count > 0 })
	if lo < 0 {
		return nil
	}
	hi := len(d) - 1
	for d[hi].Count == 0 {
		hi--
	}
	return d[max(lo-pad, 0):min(hi+pad+1, len(d))]
}
