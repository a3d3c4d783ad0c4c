package analyze

import (
	"math/bits"
	"slices"
	"time"

	"github.com/synq/synq/reassemble"
)

// Timeline counts a listener's handshake packets over time in buckets of
// equal width. The width is the finest step of timelineWidths that keeps
// the capture within MaxTimelineBuckets, so memory is bounded by the
// bucket count whatever the number of attempts or the capture's length.
//
// An Attempt keeps the first and last time of its SYNs, SYN-ACKs and so on
// plus counts, not every packet's time. The events in between are placed
// as Linux sends them: retransmissions with doubling gaps (1 s, 2 s, 4 s
// ... scaled to fit between the first and the last). Dropped SYNs are the
// first ones of their attempt (those before the answered one), ignored
// ACKs spread from the handshake ACK to the attempt's last packet, and all
// RSTs of an attempt sit at its first RST in that direction. Counts per
// bucket are therefore exact for attempts with one packet of a kind and
// close (within a retransmission gap) otherwise; totals are always exact.
type Timeline struct {
	// Start is the start of the first bucket (capture nanoseconds, a
	// multiple of Width since the Unix epoch); zero when empty.
	Start int64
	Width time.Duration
	// Buckets are consecutive from Start; bucket i covers
	// [Start+i*Width, Start+(i+1)*Width).
	Buckets []TimelineBucket
}

// TimelineBucket counts the packets of one bucket.
type TimelineBucket struct {
	SYNs             int // client SYNs, retransmissions included
	SYNACKs          int // server SYN-ACKs, retransmissions included
	SyncookieSYNACKs int // of which taken for syncookies
	DroppedSYNs      int // SYNs the server did not answer
	IgnoredACKs      int // client segments after the SYN-ACK the server did not take
	ServerRSTs       int
	ClientRSTs       int
	// HalfOpen is the most requests estimated to be held in the SYN
	// queue at once during the bucket (Signs.MaxHalfOpen over time).
	HalfOpen int
	// Refused and Established count attempts by outcome at their first
	// SYN: refusals between accepted attempts are not a listener down
	// for a while (Signs.RefusedInterleaved). ICMPRefused and Unacked
	// count the icmp_unreachable and synack_unacked attempts likewise.
	Refused, Established, ICMPRefused, Unacked int
	// Unserved is the most completed connections the server had not yet
	// answered at once during the bucket: the accept queue as packets
	// show it (queued, or accepted and not answered yet).
	Unserved int
}

// MaxTimelineBuckets bounds a Timeline's length. With more than
// timelineFullListeners listeners each exported one gets fewer
// (timelineBucketsFor), at least MinTimelineBuckets: a result with 300
// buckets for each of 2,000 listeners held 60 MB.
const (
	MaxTimelineBuckets    = 300
	MinTimelineBuckets    = 30
	timelineFullListeners = 64
)

// timelineBucketsFor is the bucket limit of each of n listeners'
// timelines. It changes only when n passes a power of two, so that the
// timelines are coarsened a few times, not at every new listener.
func timelineBucketsFor(n int) int {
	if n <= timelineFullListeners {
		return MaxTimelineBuckets
	}
	n = 1 << bits.Len(uint(n-1))
	return max(MinTimelineBuckets, MaxTimelineBuckets*timelineFullListeners/n)
}

// timelineWidths are the bucket widths, each a multiple of the one before
// so that buckets merge exactly when the capture outgrows a width; all
// divide a day, so buckets start on round UTC times. Past a day, widths
// double.
var timelineWidths = [...]time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	time.Second, 2 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// timeline accumulates buckets of B over time; the zero value is empty.
// It holds a Timeline's counts (countTimeline) or outcome marks
// (markTimeline).
type timeline[B merging[B]] struct {
	step    int   // index into timelineWidths, or beyond for doubled days
	first   int64 // absolute index (time / width) of buckets[0]
	buckets []B
	max     int // bucket limit; 0 is MaxTimelineBuckets
}

// merging is a bucket that two can be merged into, when a timeline moves
// to a wider step.
type merging[B any] interface {
	plus(B) B
}

func (tl *timeline[B]) limit() int64 {
	if tl.max > 0 {
		return int64(tl.max)
	}
	return MaxTimelineBuckets
}

// shrinkTo sets the bucket limit to n and coarsens to it.
func (tl *timeline[B]) shrinkTo(n int) {
	tl.max = n
	for int64(len(tl.buckets)) > tl.limit() {
		tl.coarsen()
	}
}

// countTimeline accumulates a listener's Timeline. With many listeners
// its limit shrinks (timelineBucketsFor) as they come, so that a host with
// thousands of listeners does not keep 300 buckets for each.
type countTimeline struct{ timeline[tlBucket] }

// markTimeline marks the buckets with refused and established attempts at
// full resolution, whatever the number of listeners: a sign is read from
// it (refusalsInterleaved), and no verdict may depend on how many other
// listeners there were.
type markTimeline struct{ timeline[outcomeMarks] }

// outcomeMarks says whether a bucket holds a refused attempt and an
// established one: all refusalsInterleaved needs, at full resolution
// whatever the counts' budget.
type outcomeMarks uint8

const (
	markRefused outcomeMarks = 1 << iota
	markEstablished
	markAnswered // by a SYN-ACK, established or not
)

func (m outcomeMarks) plus(n outcomeMarks) outcomeMarks { return m | n }

// tlBucket is a TimelineBucket's counts while the timeline grows, in 32
// bits (44 bytes a bucket instead of 104); the queue estimates are filled
// in by result.
type tlBucket struct {
	SYNs, SYNACKs, SyncookieSYNACKs, DroppedSYNs, IgnoredACKs int32
	ServerRSTs, ClientRSTs                                    int32
	Refused, Established, ICMPRefused, Unacked                int32
}

// plus is b with c's counts added.
func (b tlBucket) plus(c tlBucket) tlBucket {
	b.SYNs += c.SYNs
	b.SYNACKs += c.SYNACKs
	b.SyncookieSYNACKs += c.SyncookieSYNACKs
	b.DroppedSYNs += c.DroppedSYNs
	b.IgnoredACKs += c.IgnoredACKs
	b.ServerRSTs += c.ServerRSTs
	b.ClientRSTs += c.ClientRSTs
	b.Refused += c.Refused
	b.Established += c.Established
	b.ICMPRefused += c.ICMPRefused
	b.Unacked += c.Unacked
	return b
}

func (b tlBucket) export() TimelineBucket {
	return TimelineBucket{SYNs: int(b.SYNs), SYNACKs: int(b.SYNACKs), SyncookieSYNACKs: int(b.SyncookieSYNACKs),
		DroppedSYNs: int(b.DroppedSYNs), IgnoredACKs: int(b.IgnoredACKs), ServerRSTs: int(b.ServerRSTs), ClientRSTs: int(b.ClientRSTs),
		Refused: int(b.Refused), Established: int(b.Established), ICMPRefused: int(b.ICMPRefused), Unacked: int(b.Unacked)}
}

func timelineWidth(step int) int64 {
	if step < len(timelineWidths) {
		return int64(timelineWidths[step])
	}
	return int64(timelineWidths[len(timelineWidths)-1]) << (step - len(timelineWidths) + 1)
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// bucket returns the bucket holding time t (not zero), growing and
// coarsening the timeline as needed.
func (tl *timeline[B]) bucket(t int64) *B {
	for {
		i := floorDiv(t, timelineWidth(tl.step))
		switch {
		case len(tl.buckets) == 0:
			tl.first = i
			tl.buckets = append(tl.buckets, *new(B))
			return &tl.buckets[0]
		case i >= tl.first && i < tl.first+int64(len(tl.buckets)):
			return &tl.buckets[i-tl.first]
		}
		lo, hi := min(i, tl.first), max(i, tl.first+int64(len(tl.buckets))-1)
		if hi-lo+1 > tl.limit() {
			tl.coarsen()
			continue
		}
		if i < tl.first {
			tl.buckets = slices.Insert(tl.buckets, 0, make([]B, tl.first-i)...)
			tl.first = i
		} else {
			tl.buckets = append(tl.buckets, make([]B, i-tl.first-int64(len(tl.buckets))+1)...)
		}
		return &tl.buckets[i-tl.first]
	}
}

// coarsen moves to the next width, merging buckets.
func (tl *timeline[B]) coarsen() {
	w, nw := timelineWidth(tl.step), timelineWidth(tl.step+1)
	tl.step++
	first := floorDiv(tl.first*w, nw)
	last := floorDiv((tl.first+int64(len(tl.buckets))-1)*w, nw)
	merged := make([]B, last-first+1)
	for j, b := range tl.buckets {
		m := &merged[floorDiv((tl.first+int64(j))*w, nw)-first]
		*m = (*m).plus(b)
	}
	tl.first, tl.buckets = first, merged
}

// retransmitTimes calls f with the time of each of n packets sent from
// first to last with doubling gaps, as Linux retransmits SYNs and
// SYN-ACKs: packet k (0-based) at first + (last-first)*(2^k-1)/(2^(n-1)-1).
func retransmitTimes(first, last int64, n int, f func(int64)) {
	if first == 0 || n <= 0 {
		return
	}
	if last < first || n == 1 {
		last = first
	}
	for k := range n {
		t := first
		switch {
		case k == n-1:
			t = last
		case k > 0 && n <= 62:
			t = first + int64(float64(last-first)*float64(int64(1)<<k-1)/float64(int64(1)<<(n-1)-1))
		}
		f(t)
	}
}

// add places one attempt's packets; cookie says its SYN-ACKs were taken
// for syncookies.
func (tl *countTimeline) add(a *reassemble.Attempt, cookie bool) {
	k := 0
	retransmitTimes(a.FirstSYN, a.LastSYN, a.SYNs, func(t int64) {
		b := tl.bucket(t)
		b.SYNs++
		if k < a.DroppedSYNs {
			b.DroppedSYNs++
		}
		k++
	})
	// A SYN the attempt does not have a time for (cannot happen with the
	// tracker's records, but the totals must add up).
	if extra := a.DroppedSYNs - k; extra > 0 && a.FirstPacket != 0 {
		tl.bucket(a.FirstPacket).DroppedSYNs += int32(extra)
	}
	retransmitTimes(a.FirstSYNACK, a.LastSYNACK, a.SYNACKs, func(t int64) {
		b := tl.bucket(t)
		b.SYNACKs++
		if cookie {
			b.SyncookieSYNACKs++
		}
	})
	if a.IgnoredSegments > 0 {
		from := a.FirstACK
		if !a.ClientAcked || from == 0 {
			from = a.FirstPacket
		}
		retransmitTimes(from, a.LastPacket, a.IgnoredSegments, func(t int64) { tl.bucket(t).IgnoredACKs++ })
	}
	tl.addRSTs(a)
}

// addOutcome counts a refused, established, ICMP-refused or unacked
// attempt at its first SYN.
func (tl *countTimeline) addOutcome(a *reassemble.Attempt, o Outcome) {
	if a.FirstSYN == 0 {
		return
	}
	switch o {
	case Rejected:
		tl.bucket(a.FirstSYN).Refused++
	case Established:
		tl.bucket(a.FirstSYN).Established++
	case ICMPUnreachable:
		tl.bucket(a.FirstSYN).ICMPRefused++
	case SYNACKUnacked:
		tl.bucket(a.FirstSYN).Unacked++
	}
}

// mark marks a refused, established or otherwise SYN-ACK-answered
// attempt at its first SYN.
func (tl *markTimeline) mark(a *reassemble.Attempt, o Outcome) {
	if a.FirstSYN == 0 {
		return
	}
	switch {
	case o == Rejected:
		*tl.bucket(a.FirstSYN) |= markRefused
	case o == Established && a.SYNACKs == 0 && a.RSTBeforeSYNACK:
		// Its SYN-ACK not captured, and the server's first packet a
		// reset: nothing shows a listener took it (a SYN proxy's
		// handshake that the listener refused looks the same).
		*tl.bucket(a.FirstSYN) |= markAnswered
	case o == Established:
		*tl.bucket(a.FirstSYN) |= markEstablished | markAnswered
	case a.SYNACKs > 0:
		*tl.bucket(a.FirstSYN) |= markAnswered
	}
}

// refusalsInterleaved reports whether an attempt was established in a bucket
// strictly between the first and the last with a refused one: the
// refusals did not come in one stretch, as a listener that is down
// refuses (the buckets at either end may hold both by chance). With
// answeredCounts (a capture without ACKs, Signs.HalfOpenUnseen, where no
// attempt can be seen established) an attempt answered by a SYN-ACK
// counts: a listener was there to answer it.
func (tl *markTimeline) refusalsInterleaved(answeredCounts bool) bool {
	want := markEstablished
	if answeredCounts {
		want = markAnswered
	}
	first, last := -1, -1
	for i, b := range tl.buckets {
		if b&markRefused != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	for i := first + 1; first >= 0 && i < last; i++ {
		if tl.buckets[i]&want != 0 {
			return true
		}
	}
	return false
}

// addRSTs places an attempt's resets at its first reset in each direction
// (mid-stream connections record no reset time: their last packet).
func (tl *countTimeline) addRSTs(a *reassemble.Attempt) {
	if a.ServerRSTs > 0 {
		if t := cmpOr(a.FirstServerRST, a.LastPacket); t != 0 {
			tl.bucket(t).ServerRSTs += int32(a.ServerRSTs)
		}
	}
	if a.ClientRSTs > 0 {
		if t := cmpOr(a.FirstClientRST, a.LastPacket); t != 0 {
			tl.bucket(t).ClientRSTs += int32(a.ClientRSTs)
		}
	}
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// result returns the Timeline, reaching to the end of the capture (end,
// when not zero) so that the estimates show what was still held, with the
// half-open and unserved estimates of each bucket from the SYN-queue and
// accept-queue occupancy. It cuts tl's buckets in place: Result, its one
// caller, consumes the aggregator.
func (tl *countTimeline) result(halfOpen, unserved *occupancy, end int64, buckets int) Timeline {
	if len(tl.buckets) == 0 {
		return Timeline{}
	}
	cp := timeline[tlBucket]{step: tl.step, first: tl.first, buckets: tl.buckets}
	cp.shrinkTo(buckets)
	if end != 0 {
		cp.bucket(end)
	}
	w := timelineWidth(cp.step)
	out := Timeline{Start: cp.first * w, Width: time.Duration(w), Buckets: make([]TimelineBucket, len(cp.buckets))}
	for i, b := range cp.buckets {
		out.Buckets[i] = b.export()
	}
	peaks := halfOpen.levels(out.Start, w, len(out.Buckets))
	waiting := unserved.levels(out.Start, w, len(out.Buckets))
	for i := range out.Buckets {
		out.Buckets[i].HalfOpen, out.Buckets[i].Unserved = peaks[i], waiting[i]
	}
	return out
}

// levels returns, for n buckets of width w from start, the most held at
// once during each (with at's convention: what enters in a millisecond
// counts before what leaves in it).
func (o *occupancy) levels(start, w int64, n int) []int {
	peak := make([]int, n)
	if n == 0 {
		return peak
	}
	// level is what is held after the last event seen; filled says up to
	// which bucket peak already holds the level carried into it.
	level, filled := 0, -1
	carry := func(upTo int) {
		for filled < upTo && filled < n-1 {
			filled++
			peak[filled] = level
		}
	}
	o.each(func(ms int64, enter, leave int64) bool {
		t := ms * occBucket
		if t < start {
			level += int(enter) - int(leave)
			return true
		}
		b := int(min(floorDiv(t-start, w), int64(n)))
		if b >= n {
			return false
		}
		carry(b)
		level += int(enter)
		peak[b] = max(peak[b], level)
		level -= int(leave)
		return true
	})
	carry(n - 1)
	return peak
}
