package analyze

import (
	"math"
	"slices"
	"time"
)

// histogram keeps durations in logarithmic buckets 1% wide, so quantiles
// cost fixed memory however many attempts a listener sees, and come out the
// same whatever order the attempts arrive in. Buckets are allocated in
// chunks of histChunk as durations reach them: one listener's durations
// cluster within a few chunks (a LAN's and a continent's round trips),
// so a histogram costs 1-2 KB rather than 11 KB, which counts on a host
// with thousands of listeners.
type histogram struct {
	chunks [histBuckets / histChunk]*[histChunk]uint32
	n      uint64
}

// histBuckets covers up to about 10^6 s (1.01^2780 µs).
const (
	histBuckets = 2800
	histChunk   = 100
)

const histGrowth = 1.01

var logGrowth = math.Log(histGrowth)

func histBucket(d time.Duration) int32 {
	if d < time.Microsecond {
		return 0
	}
	return int32(math.Log(float64(d)/float64(time.Microsecond))/logGrowth) + 1
}

func (h *histogram) add(d time.Duration) {
	k := min(histBucket(d), histBuckets-1)
	c := h.chunks[k/histChunk]
	if c == nil {
		c = new([histChunk]uint32)
		h.chunks[k/histChunk] = c
	}
	c[k%histChunk]++
	h.n++
}

// each calls f for every non-empty bucket in order, until f returns false.
func (h *histogram) each(f func(k int, c uint32) bool) {
	for ci, c := range h.chunks {
		if c == nil {
			continue
		}
		for j, n := range c {
			if n != 0 && !f(ci*histChunk+j, n) {
				return
			}
		}
	}
}

// quantile returns the q-quantile (0 < q <= 1), accurate to about 1%, or
// false when the histogram is empty.
func (h *histogram) quantile(q float64) (time.Duration, bool) {
	return h.quantileOf(q, h.n, histBuckets)
}

// quantileBelow returns the q-quantile of the durations under limit, and
// how many there are.
func (h *histogram) quantileBelow(q float64, limit time.Duration) (time.Duration, uint64, bool) {
	end := int(histBucket(limit))
	var n uint64
	h.each(func(k int, c uint32) bool {
		if k >= end {
			return false
		}
		n += uint64(c)
		return true
	})
	d, ok := h.quantileOf(q, n, end)
	return d, n, ok
}

// quantileOf is the q-quantile of the n durations in buckets below end.
func (h *histogram) quantileOf(q float64, n uint64, end int) (time.Duration, bool) {
	if n == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	var out time.Duration
	found := false
	h.each(func(k int, c uint32) bool {
		if k >= end {
			return false
		}
		seen += uint64(c)
		if seen < rank {
			return true
		}
		found = true
		if k > 0 {
			// Midpoint of the bucket [growth^(k-1), growth^k) microseconds.
			out = time.Duration(math.Pow(histGrowth, float64(k)-0.5) * float64(time.Microsecond))
		}
		return false
	})
	return out, found
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
	h.each(func(k int, c uint32) bool {
		var d time.Duration
		if k > 0 {
			d = time.Duration(math.Pow(histGrowth, float64(k)-0.5) * float64(time.Microsecond))
		}
		i, _ := slices.BinarySearch(latencyBounds, d)
		out[i].Count += int(c)
		return true
	})
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
