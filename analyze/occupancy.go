package analyze

import (
	"math"
	"slices"
	"time"
)

// occupancy counts how many things (half-open requests, connections
// waiting for accept) are held over time, from enter/leave events, in
// memory bounded whatever the capture's span:
//
//   - The last occWindow seconds (behind the latest event) and the head,
//     the first occHead seconds from the first event (and occHeadBefore
//     before it, for attempts that began earlier and finished later),
//     are kept in 1-ms buckets,
//     in blocks of one second: a block starts sparse (the milliseconds
//     that have events, 6 bytes each) and turns into a dense array of
//     1,000 buckets once it holds more than occSparseMax of them.
//   - The seconds between are folded into at most occCoarseMax coarse
//     buckets (each what entered, what left, and the most held above its
//     start), whose width doubles as the span grows.
//   - A second asked about (pin: the first syncookie, the first drop...)
//     stays at 1-ms resolution with the exact number held at its start,
//     so at() answers "how many were waiting when the first drop happened"
//     exactly, whenever the attempt that shows the drop is aggregated
//     within occWindow of the latest event (attempts finish within a few
//     minutes of their drops) or the drop came in the head: a capture
//     started during an incident sees its first drop
//     early, and the attempt that shows it may be a pooled connection
//     that ends ten minutes later (testdata/accept-overflow-pool).
//     Otherwise the answer is an estimate.
//
// Attempts are aggregated as they finish, roughly in time order but not
// exactly, so events can land anywhere: an event in a folded second
// updates its coarse bucket (its peak as an upper bound).
type occupancy struct {
	blocks    map[int64]*occBlock
	lastKey   int64
	lastBlock *occBlock
	// maxKey is the latest second with an event; seconds before fineFrom
	// and outside [headStart, headEnd) are folded unless pinned: into
	// pre before the head, into coarse after it. All valid once started.
	maxKey, fineFrom, headStart, headEnd int64
	started                              bool
	pre, coarse                          occCoarse
	pins                                 [occPins]occPin
}

// occPin is one time the aggregator will ask at() about.
type occPin struct {
	set   bool
	t     int64 // the time
	key   int64 // its second
	exact bool  // the second was at 1-ms resolution when pinned
	// before is the number held at the start of the second (exact).
	before int64
}

// occBlock is one second of 1 ms buckets: entries and exits, dense or
// sparse. A dense block counts in 16 bits (4 KB: a busy capture keeps
// occWindow of them for each listener's two queues); what a bucket cannot
// hold goes to sparse beside it, and each sums the two.
type occBlock struct {
	dense  *[1000][2]uint16
	sparse []occEvent // in the order added; sorted by ms when read
	sorted bool
}

// occEvent is one millisecond's entries and exits in a sparse block, 6
// bytes: with thousands of listeners each holds its own events of the
// last occWindow seconds. A millisecond with more than 65,535 entries or
// exits takes several events (each sums them).
type occEvent struct {
	ms, enter, leave uint16
}

const (
	occBucket = int64(time.Millisecond)
	// occSparseMax is how many milliseconds a block holds sparse before
	// it turns dense: 6 bytes each sparse, so the dense 4 KB is about
	// as much as 680 of them; turning early keeps busy seconds fast.
	occSparseMax = 256
	// occWindow is how many seconds behind the latest event stay at 1-ms
	// resolution: at most 600 blocks (2.4 MB when every second is busy,
	// a few KB when quiet).
	occWindow = 600
	// occCoarseMax bounds the coarse buckets (24 bytes each).
	occCoarseMax = 1024
	// occPins is how many times an occupancy can be asked about exactly.
	occPins = 3
	// occHead and occHeadBefore bound the head (see occupancy). Before
	// the first event, as many seconds as the window: an attempt that
	// began that much earlier and finished after the first aggregated
	// one is still counted at 1 ms. Seconds before the first event hold
	// only such attempts, so the head is mostly its occHead seconds after
	// it: 1.2 MB more when every one is busy.
	occHead       = 300
	occHeadBefore = occWindow
)

// secondOf splits a time into its second and the millisecond in it.
func secondOf(t int64) (key int64, ms int) {
	m := floorDiv(t, occBucket)
	key = floorDiv(m, 1000)
	return key, int(m - key*1000)
}

// add holds one thing from..to; to <= 0 means until the end.
func (o *occupancy) add(from, to int64) {
	o.event(from, 1, 0)
	if to > 0 {
		o.event(to, 0, 1)
	}
}

// event records enter entries and leave exits at time t.
func (o *occupancy) event(t int64, enter, leave uint16) {
	key, i := secondOf(t)
	for p := range o.pins {
		if pin := &o.pins[p]; pin.set && pin.exact && key < pin.key {
			pin.before += int64(enter) - int64(leave)
		}
	}
	if !o.fine(key) && !o.pinned(key) {
		if key < o.headStart {
			o.pre.addLate(key, int64(enter), int64(leave))
		} else {
			o.coarse.addLate(key, int64(enter), int64(leave))
		}
		return
	}
	b := o.block(key)
	if b.dense != nil {
		if d := &b.dense[i]; int(d[0])+int(enter) <= math.MaxUint16 && int(d[1])+int(leave) <= math.MaxUint16 {
			d[0] += enter
			d[1] += leave
		} else {
			b.addSparse(uint16(i), enter, leave) // past 16 bits: beside the dense counts
		}
	} else if b.addSparse(uint16(i), enter, leave); len(b.sparse) > occSparseMax {
		b.densify()
	}
	if !o.started {
		// Nothing before the head is ever fine: pre holds it all.
		o.started, o.maxKey, o.fineFrom = true, key, key-occHeadBefore
		o.headStart, o.headEnd = key-occHeadBefore, key+occHead
	} else if key > o.maxKey {
		o.maxKey = key
		o.fold(key - occWindow)
	}
}

// addSparse adds a sparse event, merged into the last one when it is of
// the same millisecond and has room.
func (b *occBlock) addSparse(ms, enter, leave uint16) {
	n := len(b.sparse)
	if n > 0 && b.sparse[n-1].ms == ms &&
		int(b.sparse[n-1].enter)+int(enter) <= math.MaxUint16 && int(b.sparse[n-1].leave)+int(leave) <= math.MaxUint16 {
		b.sparse[n-1].enter += enter
		b.sparse[n-1].leave += leave
		return
	}
	if n > 0 && b.sparse[n-1].ms > ms {
		b.sorted = false
	}
	b.sparse = append(b.sparse, occEvent{ms, enter, leave})
}

// densify turns a sparse block dense; counts that do not fit a dense
// bucket's 16 bits stay sparse.
func (b *occBlock) densify() {
	events := b.sparse
	b.dense, b.sparse, b.sorted = new([1000][2]uint16), nil, true
	for _, e := range events {
		if d := &b.dense[e.ms]; int(d[0])+int(e.enter) <= math.MaxUint16 && int(d[1])+int(e.leave) <= math.MaxUint16 {
			d[0] += e.enter
			d[1] += e.leave
		} else {
			b.addSparse(e.ms, e.enter, e.leave)
		}
	}
}

// block returns second key's block, made if needed. Consecutive events
// (mostly close in time) skip the map.
func (o *occupancy) block(key int64) *occBlock {
	if o.lastBlock != nil && key == o.lastKey {
		return o.lastBlock
	}
	if o.blocks == nil {
		o.blocks = make(map[int64]*occBlock)
	}
	b := o.blocks[key]
	if b == nil {
		b = &occBlock{sorted: true}
		o.blocks[key] = b
	}
	o.lastKey, o.lastBlock = key, b
	return b
}

// fine reports whether second key is kept at 1-ms resolution, pinned or
// not: in the head or the last occWindow seconds.
func (o *occupancy) fine(key int64) bool {
	return !o.started || key >= o.fineFrom || (key >= o.headStart && key < o.headEnd)
}

func (o *occupancy) pinned(key int64) bool {
	for _, p := range o.pins {
		if p.set && p.exact && p.key == key {
			return true
		}
	}
	return false
}

// fold moves the window's start to from: the seconds before it that no
// pin holds go into the coarse buckets, oldest first.
func (o *occupancy) fold(from int64) {
	if from <= o.fineFrom {
		return
	}
	var keys []int64
	start := max(o.fineFrom, o.headEnd) // the first seconds stay
	if from-start <= int64(len(o.blocks)) {
		for k := start; k < from; k++ {
			if _, ok := o.blocks[k]; ok {
				keys = append(keys, k)
			}
		}
	} else {
		for k := range o.blocks {
			if k >= start && k < from {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
	}
	o.fineFrom = from
	for _, k := range keys {
		if !o.pinned(k) {
			o.foldBlock(k)
		}
	}
}

func (o *occupancy) foldBlock(k int64) {
	b := o.blocks[k]
	var s occSum
	b.each(k, func(_ int64, enter, leave int64) bool {
		s.enter += enter
		s.max = max(s.max, s.enter-s.leave)
		s.leave += leave
		return true
	})
	o.coarse.addSecond(k, s)
	delete(o.blocks, k)
	if o.lastBlock == b {
		o.lastBlock = nil
	}
}

// pin says the aggregator will ask at() about time t through slot: the
// earliest t given to a slot is kept. Its second stays at 1-ms resolution
// from now on and the number held at its start is kept exact.
func (o *occupancy) pin(slot int, t int64) {
	p := &o.pins[slot]
	if t == 0 || (p.set && t >= p.t) {
		return
	}
	old := *p
	key, _ := secondOf(t)
	*p = occPin{set: true, t: t, key: key}
	switch {
	case o.fine(key):
		p.exact, p.before = true, o.heldBefore(key)
		o.block(key)
	default:
		// A folded second is exact only if another pin holds it.
		for _, q := range o.pins {
			if q.set && q.exact && q.key == key {
				p.exact, p.before = true, q.before
				break
			}
		}
	}
	if old.set && old.exact && old.key != key && !o.fine(old.key) && !o.pinned(old.key) {
		o.foldBlock(old.key)
	}
}

// heldBefore is the number held at the start of second key, which is at
// 1-ms resolution: every folded second is before it (key at or after
// fineFrom), or only those before the head (key in the head).
func (o *occupancy) heldBefore(key int64) int64 {
	n := o.pre.total
	if key >= o.headEnd {
		n += o.coarse.total
	}
	for k, b := range o.blocks {
		if k < key {
			b.each(k, func(_ int64, enter, leave int64) bool { n += enter - leave; return true })
		}
	}
	return n
}

// each calls f for every millisecond with events, in time order, with its
// absolute millisecond and entries and exits; it stops when f returns
// false. A coarse bucket comes first at its first second (or the head's
// end, if its span began in the head: its seconds are all after it) as
// one millisecond whose entries are the most it held above its start and
// whose exits bring it to its net change.
func (o *occupancy) each(f func(ms int64, enter, leave int64) bool) {
	for i, b := range o.pre.buckets {
		if b.used && !f(((o.pre.first+int64(i))<<o.pre.shift)*1000, b.max, b.max-(b.enter-b.leave)) {
			return
		}
	}
	keys := make([]int64, 0, len(o.blocks))
	for k := range o.blocks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c := &o.coarse
	ci := 0
	nextCoarse := func() (start int64, s occSum, ok bool) {
		for ; ci < len(c.buckets); ci++ {
			if c.buckets[ci].used {
				return max((c.first+int64(ci))<<c.shift, o.headEnd), c.buckets[ci], true
			}
		}
		return 0, occSum{}, false
	}
	cs, cb, cok := nextCoarse()
	for _, k := range keys {
		for cok && cs <= k {
			if !f(cs*1000, cb.max, cb.max-(cb.enter-cb.leave)) {
				return
			}
			ci++
			cs, cb, cok = nextCoarse()
		}
		if !o.blocks[k].each(k, f) {
			return
		}
	}
	for ; cok; cs, cb, cok = nextCoarse() {
		if !f(cs*1000, cb.max, cb.max-(cb.enter-cb.leave)) {
			return
		}
		ci++
	}
}

// each calls f for every millisecond of block k with events, in order;
// false when f stopped it.
func (b *occBlock) each(k int64, f func(ms int64, enter, leave int64) bool) bool {
	if !b.sorted {
		// Stable, so that a millisecond added twice stays in order; the
		// sums are what count.
		slices.SortStableFunc(b.sparse, func(x, y occEvent) int { return int(x.ms) - int(y.ms) })
		b.sorted = true
	}
	if b.dense != nil {
		j := 0
		for i, e := range b.dense {
			enter, leave := int64(e[0]), int64(e[1])
			for ; j < len(b.sparse) && int(b.sparse[j].ms) == i; j++ {
				enter += int64(b.sparse[j].enter)
				leave += int64(b.sparse[j].leave)
			}
			if (enter != 0 || leave != 0) && !f(k*1000+int64(i), enter, leave) {
				return false
			}
		}
		return true
	}
	for j := 0; j < len(b.sparse); {
		e := b.sparse[j]
		enter, leave := int64(e.enter), int64(e.leave)
		for j++; j < len(b.sparse) && b.sparse[j].ms == e.ms; j++ {
			enter += int64(b.sparse[j].enter)
			leave += int64(b.sparse[j].leave)
		}
		if !f(k*1000+int64(e.ms), enter, leave) {
			return false
		}
	}
	return true
}

// at returns how many were held at time t, counting what entered in t's
// own millisecond but not what left in it (the order inside one bucket is
// lost; a drop happens when the queue is fullest). Exact for a pinned
// time and for the last occWindow seconds; an estimate in folded seconds.
func (o *occupancy) at(t int64) int {
	key, i := secondOf(t)
	for _, p := range o.pins {
		if p.set && p.exact && p.key == key {
			n := p.before
			if b := o.blocks[key]; b != nil {
				b.each(key, func(ms int64, enter, leave int64) bool {
					if ms > key*1000+int64(i) {
						return false
					}
					n += enter
					if ms < key*1000+int64(i) {
						n -= leave
					}
					return true
				})
			}
			return int(n)
		}
	}
	tms := floorDiv(t, occBucket)
	n := int64(0)
	o.each(func(ms int64, enter, leave int64) bool {
		if ms > tms {
			return false
		}
		n += enter
		if ms == tms {
			return false
		}
		n -= leave
		return true
	})
	return int(n)
}

// exactAt reports whether at(t) is exact: t's second is pinned exactly
// or still at 1-ms resolution. A pin set once its second had been folded
// (the attempt that showed the drop finished more than occWindow after
// it, as a long-lived connection does) is not.
func (o *occupancy) exactAt(t int64) bool {
	key, _ := secondOf(t)
	return o.fine(key) || o.pinned(key)
}

// peak returns the most held at once over the whole capture.
func (o *occupancy) peak() int {
	n, p := int64(0), int64(0)
	o.each(func(_ int64, enter, leave int64) bool {
		n += enter
		p = max(p, n)
		n -= leave
		return true
	})
	return int(p)
}

// occSum is what a span of folded seconds held: entries, exits, and the
// most held above the number at its start (never below 0 nor below
// enter-leave).
type occSum struct {
	enter, leave, max int64
	last              int64 // the latest second folded in
	used              bool
}

// occCoarse is the folded seconds in buckets of 1<<shift seconds, at most
// occCoarseMax of them: when a span outgrows them, the width doubles and
// neighbours merge.
type occCoarse struct {
	shift   uint
	first   int64 // bucket index (second >> shift) of buckets[0]
	buckets []occSum
	total   int64 // entries minus exits of every folded second
}

// bucket returns the bucket of second k, growing and widening as needed.
func (c *occCoarse) bucket(k int64) *occSum {
	for {
		i := k >> c.shift
		switch {
		case len(c.buckets) == 0:
			c.first = i
			c.buckets = append(c.buckets, occSum{})
			return &c.buckets[0]
		case i >= c.first && i < c.first+int64(len(c.buckets)):
			return &c.buckets[i-c.first]
		}
		lo, hi := min(i, c.first), max(i, c.first+int64(len(c.buckets))-1)
		if hi-lo+1 > occCoarseMax {
			c.widen()
			continue
		}
		if i < c.first {
			c.buckets = slices.Insert(c.buckets, 0, make([]occSum, c.first-i)...)
			c.first = i
		} else {
			c.buckets = append(c.buckets, make([]occSum, i-c.first-int64(len(c.buckets))+1)...)
		}
		return &c.buckets[i-c.first]
	}
}

// widen doubles the bucket width, merging neighbours in time order.
func (c *occCoarse) widen() {
	first := c.first >> 1
	merged := make([]occSum, (c.first+int64(len(c.buckets))-1)>>1-first+1)
	for j, s := range c.buckets {
		if s.used {
			m := &merged[(c.first+int64(j))>>1-first]
			*m = m.then(s)
		}
	}
	c.shift++
	c.first, c.buckets = first, merged
}

// then is s followed by u (u's seconds after s's): exact.
func (s occSum) then(u occSum) occSum {
	if !s.used {
		return u
	}
	return occSum{enter: s.enter + u.enter, leave: s.leave + u.leave,
		max: max(s.max, s.enter-s.leave+u.max), last: max(s.last, u.last), used: true}
}

// addSecond folds second k's sum in.
func (c *occCoarse) addSecond(k int64, s occSum) {
	s.last, s.used = k, true
	b := c.bucket(k)
	switch {
	case !b.used || k > b.last:
		*b = b.then(s)
	default:
		// Out of order (a pinned second let go late): the most held is
		// bounded whichever came first.
		*b = occSum{enter: b.enter + s.enter, leave: b.leave + s.leave,
			max: max(b.max+max(s.enter-s.leave, 0), s.max+max(b.enter-b.leave, 0)), last: b.last, used: true}
	}
	c.total += s.enter - s.leave
}

// addLate books an event in a second already folded.
func (c *occCoarse) addLate(k, enter, leave int64) {
	b := c.bucket(k)
	if !b.used {
		b.used, b.last = true, k
	}
	b.enter += enter
	b.leave += leave
	b.max += enter // what entered may have come at the top
	b.max = max(b.max, b.enter-b.leave)
	c.total += enter - leave
}
