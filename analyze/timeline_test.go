package analyze

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synq/synq/reassemble"
)

func TestRetransmitTimes(t *testing.T) {
	s := int64(time.Second)
	tests := []struct {
		name               string
		first, last        int64
		n                  int
		want               []int64
		wantNoneWhenUnseen bool
	}{
		{"one packet", 5 * s, 5 * s, 1, []int64{5 * s}, false},
		{"two packets: first and last", 5 * s, 6 * s, 2, []int64{5 * s, 6 * s}, false},
		// Linux SYN retries at +1, +3, +7 s: exactly the doubling gaps.
		{"four packets, Linux schedule", 10 * s, 17 * s, 4, []int64{10 * s, 11 * s, 13 * s, 17 * s}, false},
		{"last before first is taken as first", 5 * s, 4 * s, 2, []int64{5 * s, 5 * s}, false},
		{"no time seen", 0, 0, 3, nil, true},
		{"no packet", 5 * s, 5 * s, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			retransmitTimes(tt.first, tt.last, tt.n, func(x int64) { got = append(got, x) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// attemptAt is an answered attempt whose SYNs start at t: n SYNs, the
// first dropped of them unanswered, one SYN-ACK after the last SYN.
func attemptAt(t int64, n, dropped int) reassemble.Attempt {
	last := t + int64(n-1)*int64(time.Second)
	return reassemble.Attempt{Handshake: reassemble.Handshake{
		Client: netip.MustParseAddrPort("10.0.0.2:40000"), Server: netip.MustParseAddrPort("10.0.0.1:80"),
		SYNs: n, DroppedSYNs: dropped, FirstSYN: t, LastSYN: last, FirstPacket: t,
		SYNACKs: 1, FirstSYNACK: last + ms, LastSYNACK: last + ms, LastPacket: last + ms,
	}}
}

func TestTimelineWidthAndTotals(t *testing.T) {
	base := int64(1_700_000_000) * int64(time.Second)
	tests := []struct {
		name      string
		span      time.Duration
		wantWidth time.Duration
	}{
		{"under a second: 10 ms", 900 * time.Millisecond, 10 * time.Millisecond},
		{"3 s: 20 ms", 3 * time.Second, 20 * time.Millisecond},
		{"13 s: 100 ms", 13 * time.Second, 100 * time.Millisecond},
		{"4 min: 1 s", 4 * time.Minute, time.Second},
		{"1 h: 30 s", time.Hour, 30 * time.Second},
		{"3 days: 15 min", 72 * time.Hour, 15 * time.Minute},
		{"10 days: 1 h", 240 * time.Hour, time.Hour},
		{"a year: doubled days", 365 * 24 * time.Hour, 2 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var atts []reassemble.Attempt
			const n = 200
			for i := range n {
				atts = append(atts, attemptAt(base+int64(tt.span)*int64(i)/n, 1+i%3, i%3))
			}
			atts = append(atts, attemptAt(base+int64(tt.span), 1, 0))
			var want TimelineBucket
			for _, a := range atts {
				want.SYNs += a.SYNs
				want.DroppedSYNs += a.DroppedSYNs
				want.SYNACKs += a.SYNACKs
			}
			// Any order gives the same timeline: the tracker emits
			// attempts as they finish, not as they start.
			var first Timeline
			for round := range 3 {
				order := slices.Clone(atts)
				if round > 0 {
					r := rand.New(rand.NewPCG(uint64(round), 1))
					r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				}
				var tl countTimeline
				for i := range order {
					tl.add(&order[i], false)
				}
				got := tl.result(&occupancy{}, &occupancy{}, 0, MaxTimelineBuckets)
				if got.Width != tt.wantWidth {
					t.Fatalf("width %v, want %v (%d buckets)", got.Width, tt.wantWidth, len(got.Buckets))
				}
				if len(got.Buckets) > MaxTimelineBuckets {
					t.Fatalf("%d buckets, more than %d", len(got.Buckets), MaxTimelineBuckets)
				}
				if got.Start%int64(got.Width) != 0 || got.Start > base || got.Start+int64(len(got.Buckets))*int64(got.Width) <= base+int64(tt.span) {
					t.Fatalf("buckets from %d, %d of %v, do not cover %d..%d on a round start", got.Start, len(got.Buckets), got.Width, base, base+int64(tt.span))
				}
				var sum TimelineBucket
				for _, b := range got.Buckets {
					sum.SYNs += b.SYNs
					sum.DroppedSYNs += b.DroppedSYNs
					sum.SYNACKs += b.SYNACKs
				}
				if sum != want {
					t.Fatalf("totals %+v, want %+v", sum, want)
				}
				if round == 0 {
					first = got
				} else if !slices.Equal(got.Buckets, first.Buckets) || got.Start != first.Start {
					t.Fatalf("order %d gives another timeline", round)
				}
			}
		})
	}
}

func TestTimelinePlacesRetransmissions(t *testing.T) {
	s := int64(time.Second)
	base := int64(1_700_000_000) * s
	// Three SYNs, the first two dropped (+0, +1, +3 s), answered at +3 s;
	// the whole attempt lasts 3 s, so buckets are 20 ms wide.
	a := attemptAt(base, 3, 2)
	a.LastSYN = base + 3*s
	a.FirstSYNACK, a.LastSYNACK = base+3*s+ms, base+3*s+ms
	var tl countTimeline
	tl.add(&a, false)
	got := tl.result(&occupancy{}, &occupancy{}, 0, MaxTimelineBuckets)
	at := func(t int64) TimelineBucket { return got.Buckets[(t-got.Start)/int64(got.Width)] }
	for _, c := range []struct {
		t           int64
		syn, dr, sa int
	}{{base, 1, 1, 0}, {base + s, 1, 1, 0}, {base + 3*s, 1, 0, 1}} {
		b := at(c.t)
		if b.SYNs != c.syn || b.DroppedSYNs != c.dr || b.SYNACKs != c.sa {
			t.Errorf("at +%v: %+v, want SYNs %d dropped %d SYN-ACKs %d", time.Duration(c.t-base), b, c.syn, c.dr, c.sa)
		}
	}
}

func TestOccupancyLevels(t *testing.T) {
	var o occupancy
	// Buckets of 100 ms from 0: one request 50..250 ms, one 120..130 ms,
	// one from 420 ms to the end.
	o.add(50*ms, 250*ms)
	o.add(120*ms, 130*ms)
	o.add(420*ms, 0)
	got := o.levels(0, 100*ms, 6)
	want := []int{1, 2, 1, 0, 1, 1}
	if !slices.Equal(got, want) {
		t.Errorf("levels %v, want %v", got, want)
	}
	// A window that starts after the events still carries the level.
	if got := o.levels(500*ms, 100*ms, 2); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("late window %v, want [1 1]", got)
	}
}

func TestLatencyDistribution(t *testing.T) {
	var h histogram
	if h.distribution() != nil {
		t.Fatal("empty histogram gives buckets")
	}
	for _, d := range []time.Duration{300 * time.Microsecond, 350 * time.Microsecond, 1500 * time.Millisecond, 1500 * time.Second} {
		h.add(d)
	}
	all := h.distribution()
	if len(all) != len(latencyBounds)+1 {
		t.Fatalf("%d buckets, want %d", len(all), len(latencyBounds)+1)
	}
	if p := TrimLatency(all, 1); p[0].Le != 200*time.Microsecond || p[len(p)-1].Le != 0 {
		t.Errorf("padded from %v to %v, want 200µs to no bound", p[0].Le, p[len(p)-1].Le)
	}
	got := TrimLatency(all, 0)
	if got[0].Le != 500*time.Microsecond || got[0].Count != 2 {
		t.Errorf("first bucket %+v, want 2 up to 500µs", got[0])
	}
	last := got[len(got)-1]
	if last.Le != 0 || last.Count != 1 {
		t.Errorf("last bucket %+v, want 1 without bound", last)
	}
	n := 0
	for _, b := range got {
		n += b.Count
		if b.Le == 2*time.Second && b.Count != 1 {
			t.Errorf("bucket up to 2 s has %d, want 1", b.Count)
		}
	}
	if n != 4 {
		t.Errorf("%d counted, want 4", n)
	}
}

// TestTimelinesShrinkWithManyListeners: past 64 listeners every exported
// timeline gets fewer buckets (300 x 64 / n, n rounded up to a power of
// two, at least 30) and the totals stay exact, while the signs read from
// the timeline do not change: refusals 20 s apart with an established
// attempt between are interleaved among 600 listeners as on one alone
// (30-s buckets, what 30 buckets over 10 minutes take, put all three in
// one: base+10 s starts one).
func TestTimelinesShrinkWithManyListeners(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{1, 300}, {64, 300}, {65, 150}, {128, 150}, {129, 75}, {600, 30}, {5000, 30}} {
		if got := timelineBucketsFor(tc.n); got != tc.want {
			t.Errorf("timelineBucketsFor(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	g := NewAggregator()
	const listeners, perListener = 600, 40
	base := int64(1_700_000_000) * int64(time.Second)
	for i := range listeners {
		for k := range perListener {
			// One attempt a second for perListener seconds, spread
			// over 10 minutes: 300 buckets would be 2 s wide.
			at := base + int64(k)*int64(15*time.Second)
			a := reassemble.Attempt{Handshake: reassemble.Handshake{
				Client:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(40000+k)),
				Server:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80),
				FirstPacket: at, FirstSYN: at, LastSYN: at, SYNs: 1, LastPacket: at,
			}}
			g.Add(&a)
		}
	}
	interleaved := func(g *Aggregator) {
		srv := netip.MustParseAddrPort("10.2.0.1:80")
		for k, sec := range []int{10, 20, 30, 600} {
			at := base + int64(sec)*int64(time.Second)
			a := reassemble.Attempt{Handshake: reassemble.Handshake{
				Client: netip.AddrPortFrom(netip.MustParseAddr("10.3.0.1"), uint16(50000+k)),
				Server: srv, FirstPacket: at, FirstSYN: at, LastSYN: at, SYNs: 1, LastPacket: at + 3,
			}}
			if sec == 10 || sec == 30 {
				a.RSTBeforeSYNACK, a.ServerRSTs, a.FirstServerRST = true, 1, at+1
			} else {
				a.SYNACKs, a.FirstSYNACK, a.LastSYNACK, a.SYNBeforeSYNACK = 1, at+1, at+1, at
				a.ClientAcked, a.FirstACK, a.ServerAccepted, a.Accepted = true, at+2, true, at+3
			}
			g.Add(&a)
		}
	}
	interleaved(g)
	alone := NewAggregator()
	interleaved(alone)
	refusedInterleaved := func(r Result) bool {
		for _, l := range r.Listeners {
			if l.Server.Port() == 80 && l.Server.Addr() == netip.MustParseAddr("10.2.0.1") {
				return l.Signs.RefusedInterleaved
			}
		}
		t.Fatal("no listener 10.2.0.1:80")
		return false
	}
	res := g.Result()
	if a, m := refusedInterleaved(alone.Result()), refusedInterleaved(res); !a || !m {
		t.Errorf("refusals interleaved: alone %v, among %d listeners %v; want both true", a, listeners+1, m)
	}
	res.Listeners = slices.DeleteFunc(res.Listeners, func(l Listener) bool {
		return l.Server.Port() == 80 && l.Server.Addr() == netip.MustParseAddr("10.2.0.1")
	})
	if len(res.Listeners) != listeners {
		t.Fatalf("%d listeners, want %d", len(res.Listeners), listeners)
	}
	for _, l := range res.Listeners {
		syns := 0
		for _, b := range l.Timeline.Buckets {
			syns += b.SYNs
		}
		if n := len(l.Timeline.Buckets); n > 30 || n == 0 || syns != perListener {
			t.Fatalf("%v: %d buckets (want at most 30), %d SYNs (want %d)", l.Server, n, syns, perListener)
		}
	}
}

// TestShrinkingTimelinesMatchFullResolution: the aggregator shrinks every
// listener's timeline as listeners come (newListener), with attempts of
// the earlier listeners still arriving, some earlier in time than any
// seen. Each exported timeline must be what a full-resolution timeline of
// the same attempts gives when cut to the final budget.
func TestShrinkingTimelinesMatchFullResolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 300))
	const listeners = 300 // passes 64, 128 and 256
	base := int64(1_700_000_000) * int64(time.Second)
	g := NewAggregator()
	ref := map[netip.AddrPort]*countTimeline{}
	for i := range 20 * listeners {
		// Listener k appears at attempt 20k, then gets attempts at random.
		n := min(i/20+1, listeners)
		srv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), 80)
		if i%20 != 0 {
			k := rng.IntN(n) + 1
			srv = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(k >> 8), byte(k)}), 80)
		}
		at := base + rng.Int64N(int64(3*time.Hour))
		a := reassemble.Attempt{Handshake: reassemble.Handshake{
			Client:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(40000+i%20000)),
			Server:      srv,
			FirstPacket: at, FirstSYN: at, SYNs: 1 + rng.IntN(3), LastPacket: at + int64(time.Second),
		}}
		a.LastSYN = at + int64(a.SYNs-1)*int64(time.Second)
		a.DroppedSYNs = a.SYNs - 1
		if rng.IntN(2) == 0 {
			a.SYNACKs, a.FirstSYNACK, a.LastSYNACK = 1, a.LastSYN+1, a.LastSYN+1
		}
		g.Add(&a)
		r := ref[srv]
		if r == nil {
			r = &countTimeline{}
			ref[srv] = r
		}
		r.add(&a, false)
		r.addOutcome(&a, Classify(&a, g.CaptureEnd))
	}
	budget := timelineBucketsFor(listeners)
	res := g.Result()
	if len(res.Listeners) != listeners {
		t.Fatalf("%d listeners, want %d", len(res.Listeners), listeners)
	}
	var empty occupancy
	for _, l := range res.Listeners {
		want := ref[l.Server].result(&empty, &empty, 0, budget)
		got := l.Timeline
		for i := range got.Buckets {
			got.Buckets[i].HalfOpen, got.Buckets[i].Unserved = 0, 0
		}
		if got.Start != want.Start || got.Width != want.Width || !slices.Equal(got.Buckets, want.Buckets) {
			t.Fatalf("%v: timeline from %d, width %v, %d buckets; full resolution cut to %d buckets gives from %d, width %v, %d buckets",
				l.Server, got.Start, got.Width, len(got.Buckets), budget, want.Start, want.Width, len(want.Buckets))
		}
	}
}
