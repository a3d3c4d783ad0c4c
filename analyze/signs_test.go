package analyze

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

const ms = int64(time.Millisecond)

func TestCookieSign(t *testing.T) {
	end := int64(100 * time.Second)
	withTS := func(synackTS, afterTS uint32, afterMS int64) reassemble.Attempt {
		return reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: 10 * ms, LastSYNACK: 10 * ms, ClientAcked: true, ServerAccepted: true,
			SYNACKOpts:    capture.TCPOptions{HasTS: true, TSval: synackTS},
			ServerTSAfter: afterTS, ServerTSAfterTime: (10 + afterMS) * ms, HasServerTSAfter: true,
			End: reassemble.EndClosed,
		}}
	}
	tests := []struct {
		name string
		a    reassemble.Attempt
		want cookieSign
	}{
		// Lags measured on testdata/syncookies-flood: 63, 35 and 8 ticks.
		{"timestamp 63 ticks behind", withTS(3627484800, 3627484863, 0), cookieTSLag},
		{"timestamp 8 ticks behind", withTS(3000135371, 3000135379, 0), cookieTSLag},
		{"normal: clock moved with time", withTS(1000, 1250, 250), notCookie},
		{"normal: one tick of rounding", withTS(1000, 1251, 250), notCookie},
		{"wrapping timestamps", withTS(4294967290, 30, 0), cookieTSLag},
		// A SYN-ACK captured after segments that followed it (the
		// capture out of order): its time says nothing to the tick.
		{"SYN-ACK captured after the server's next segment", withTS(1000, 1008, -5), notCookie},
		{"SYN-ACK captured after the client's ACK of it", func() reassemble.Attempt {
			a := withTS(1000, 1008, 0)
			a.SYNACKNotCaptured = true
			return a
		}(), notCookie},
		{"retransmitted SYN-ACK is never a cookie", func() reassemble.Attempt {
			a := withTS(1000, 1050, 0)
			a.SYNACKRetransmits = 1
			return a
		}(), notCookie},
		{"options stripped for a client without timestamps", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, ClientAcked: true, ServerAccepted: true, End: reassemble.EndClosed,
			SYNOpts:    capture.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPerm: true},
			SYNACKOpts: capture.TCPOptions{HasMSS: true, MSS: 1460},
		}}, cookieStripped},
		{"normal SYN-ACK keeps options", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, ClientAcked: true, ServerAccepted: true, End: reassemble.EndClosed,
			SYNOpts:    capture.TCPOptions{HasMSS: true, HasWScale: true, SACKPerm: true},
			SYNACKOpts: capture.TCPOptions{HasMSS: true, HasWScale: true, SACKPerm: true},
		}}, notCookie},
		{"never acknowledged, never retransmitted", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: 10 * ms, LastSYNACK: 10 * ms, End: reassemble.EndIdle,
		}}, cookieNeverRetransmitted},
		{"unacknowledged but the capture ended too soon to tell", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: end - 500*ms, LastSYNACK: end - 500*ms, End: reassemble.EndCaptureEnd,
		}}, notCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cookieSignOf(&tt.a, end); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVantage(t *testing.T) {
	hist := func(d time.Duration) *histogram {
		h := &histogram{}
		for i := 0; i < 5; i++ {
			h.add(d)
		}
		return h
	}
	tests := []struct {
		name     string
		syn, ack time.Duration
		want     Vantage
	}{
		{"server: SYN-ACK at once, ACK a round trip later", 20 * time.Microsecond, 40 * time.Millisecond, VantageServer},
		{"client: SYN-ACK a round trip later, ACK at once", 40 * time.Millisecond, 30 * time.Microsecond, VantageClient},
		{"middle: both take time", 15 * time.Millisecond, 25 * time.Millisecond, VantageMiddle},
		{"no path delay: same host", 20 * time.Microsecond, 20 * time.Microsecond, VantageUnknown},
	}
	for _, tt := range tests {
		if got, _, _ := vantageOf(hist(tt.syn), hist(tt.ack)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if got, _, _ := vantageOf(&histogram{}, &histogram{}); got != VantageUnknown {
		t.Errorf("no handshakes: got %s, want unknown", got)
	}
	// Gaps a timer made (answers sent again after a drop beyond the
	// tap) are not the path, where enough others measure it.
	mixed := func(fast, slow time.Duration, nFast, nSlow int) *histogram {
		h := &histogram{}
		for range nFast {
			h.add(fast)
		}
		for range nSlow {
			h.add(slow)
		}
		return h
	}
	for _, tt := range []struct {
		name     string
		syn, ack *histogram
		want     Vantage
	}{
		{"server: 8 SYN-ACKs on the server's 1 s timer, 4 at once", mixed(30*time.Microsecond, 1008*time.Millisecond, 4, 8), hist(40 * time.Millisecond), VantageServer},
		{"client: a 1.4 s round trip, every answer late", mixed(0, 1400*time.Millisecond, 0, 8), hist(30 * time.Microsecond), VantageClient},
		{"client: 2 answers right after a SYN sent again are too few", mixed(400*time.Millisecond, 1400*time.Millisecond, 2, 8), hist(30 * time.Microsecond), VantageClient},
		// One or two timed handshakes place the capture only where one
		// side took a path's delay and the other a hundredth of it.
		{"client: 2 handshakes, 377 ms against 40 µs", mixed(377*time.Millisecond, 0, 2, 0), mixed(40*time.Microsecond, 0, 2, 0), VantageClient},
		{"server: 1 handshake, 30 µs against 40 ms", mixed(30*time.Microsecond, 0, 1, 0), mixed(40*time.Millisecond, 0, 1, 0), VantageServer},
		{"2 handshakes, a SYN-ACK on the 1 s timer: no path", mixed(1008*time.Millisecond, 0, 2, 0), mixed(40*time.Microsecond, 0, 2, 0), VantageUnknown},
		{"2 handshakes, 2 ms against 40 µs: a busy host as well", mixed(2*time.Millisecond, 0, 2, 0), mixed(40*time.Microsecond, 0, 2, 0), VantageUnknown},
		{"2 handshakes, 50 ms against 5 ms", mixed(50*time.Millisecond, 0, 2, 0), mixed(5*time.Millisecond, 0, 2, 0), VantageUnknown},
	} {
		if got, _, _ := vantageOf(tt.syn, tt.ack); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestOccupancy(t *testing.T) {
	var o occupancy
	o.add(10*ms, 50*ms)
	o.add(20*ms, 30*ms)
	o.add(25*ms, 0) // never leaves
	for _, tc := range []struct {
		at  int64
		now int
	}{
		{9 * ms, 0},
		{10 * ms, 1}, // entries of the same millisecond count
		{21 * ms, 2},
		{26 * ms, 3},
		{30 * ms, 3}, // exits of the same millisecond do not
		{40 * ms, 2},
		{60 * ms, 1},
	} {
		if now := o.at(tc.at); now != tc.now {
			t.Errorf("at %dms: %d held, want %d", tc.at/ms, now, tc.now)
		}
	}
	if p := o.peak(); p != 3 {
		t.Errorf("peak %d, want 3", p)
	}
}

// TestOccupancyPastSixteenBits: sparse events and dense buckets count in
// 16 bits and keep what does not fit beside them; 70,000 entries in one
// millisecond (and their exits in another) must all count, in a quiet
// second (sparse) and in a busy one (dense).
func TestOccupancyPastSixteenBits(t *testing.T) {
	const n = 70_000
	for _, busy := range []bool{false, true} {
		var o occupancy
		if busy {
			for k := range occSparseMax + 1 { // turns the second dense
				o.add(int64(k)*ms, int64(k)*ms+ms/2)
			}
		}
		// Entries then exits: consecutive events of one millisecond
		// merge into one sparse event until it is full.
		for range n {
			o.event(500*ms, 1, 0)
		}
		for range n {
			o.event(600*ms, 0, 1)
		}
		for _, tc := range []struct{ at, want int64 }{{500, n}, {600, n}, {601, 0}} {
			if now := o.at(tc.at * ms); int64(now) != tc.want {
				t.Errorf("busy %v: at %dms: %d held, want %d", busy, tc.at, now, tc.want)
			}
		}
		if p := o.peak(); p != n {
			t.Errorf("busy %v: peak %d, want %d", busy, p, n)
		}
	}
}

// TestOccupancyKnowsWhenItEstimates: a time pinned while its second is
// at 1-ms resolution stays exact; one pinned after its second was folded
// (more than occWindow behind the latest event) is an estimate, and says
// so.
func TestOccupancyKnowsWhenItEstimates(t *testing.T) {
	const s = int64(time.Second)
	base := int64(1_000_000) * s
	var o occupancy
	o.add(base+10*s, 0) // held from second 10 to the end
	o.pin(0, base+20*s) // pinned while second 20 is fine
	for k := int64(0); k < 1200; k++ {
		o.add(base+k*s, base+k*s+ms)
	}
	o.pin(1, base+400*s) // second 400 was folded long ago
	for _, tc := range []struct {
		at    int64
		exact bool
	}{
		{base + 20*s, true},
		{base + 30*s, true},  // in the head (occHead from the first event)
		{base + 309*s, true}, // its last second
		{base + 310*s, false},
		{base + 400*s, false},
		{base + 500*s, false},
		{base + 1100*s, true}, // within occWindow of the latest event
	} {
		if got := o.exactAt(tc.at); got != tc.exact {
			t.Errorf("exactAt(%ds) = %v, want %v", (tc.at-base)/s, got, tc.exact)
		}
	}
	if n := o.at(base + 20*s + 2*ms); n != 1 {
		t.Errorf("at 20s: %d held, want 1 (exact)", n)
	}
}

// TestOccupancyFoldedMatchesReference: four hours of overlapping spans,
// aggregated out of time order (as attempts finish), against a plain list
// of every event. Old seconds fold into coarse buckets, yet the number
// held at the pinned first drop, at any time of the last occWindow
// seconds and at the end are exact, the peak is never under the true one,
// and memory stays within the window, the pins and the coarse buckets.
func TestOccupancyFoldedMatchesReference(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { occupancyAgainstReference(t, seed) })
	}
}

func occupancyAgainstReference(t *testing.T, seed uint64) {
	type ev struct{ t, enter, leave int64 }
	type span struct {
		from, to, done int64
		drop           bool
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	const s = int64(time.Second)
	var spans []span
	for t0 := int64(1_000_000) * s; t0 < 1_000_000*s+4*3600*s; t0 += int64(rng.IntN(1000)) * ms {
		sp := span{from: t0, to: t0 + int64(rng.IntN(30_000))*ms}
		if rng.IntN(100) == 0 {
			sp.to = 0 // held to the end
		}
		sp.done = max(sp.to, sp.from) + int64(rng.IntN(90))*s
		sp.drop = t0 > 1_000_000*s+3600*s && rng.IntN(20) == 0
		spans = append(spans, sp)
	}
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.done, b.done) })
	var o occupancy
	var ref []ev
	firstDrop := int64(0)
	maxT := int64(0)
	for _, sp := range spans {
		o.add(sp.from, sp.to)
		ref = append(ref, ev{sp.from, 1, 0})
		maxT = max(maxT, sp.from)
		if sp.to > 0 {
			ref = append(ref, ev{sp.to, 0, 1})
			maxT = max(maxT, sp.to)
		}
		if sp.drop {
			firstDrop = minTime(firstDrop, sp.from)
			o.pin(1, firstDrop)
		}
	}
	refAt := func(t int64) int {
		n := 0
		tms := floorDiv(t, occBucket)
		for _, e := range ref {
			m := floorDiv(e.t, occBucket)
			if m <= tms {
				n += int(e.enter)
			}
			if m < tms {
				n -= int(e.leave)
			}
		}
		return n
	}
	if got, want := o.at(firstDrop), refAt(firstDrop); got != want {
		t.Errorf("at the first drop: %d held, want %d", got, want)
	}
	for i := range 20 {
		tt := maxT - int64(i)*25*s - int64(rng.IntN(1000))*ms
		if got, want := o.at(tt), refAt(tt); got != want {
			t.Errorf("%v before the end: %d held, want %d", time.Duration(maxT-tt), got, want)
		}
	}
	// The head: the first occHead seconds from the first event added.
	head := floorDiv(spans[0].from, s) * s
	for range 20 {
		tt := head + int64(rng.IntN(occHead*1000))*ms
		if got, want := o.at(tt), refAt(tt); got != want || !o.exactAt(tt) {
			t.Errorf("%v into the head: %d held (exact %v), want %d", time.Duration(tt-head), got, o.exactAt(tt), want)
		}
	}
	if got, want := o.at(maxT+s), refAt(maxT+s); got != want {
		t.Errorf("after the end: %d held, want %d", got, want)
	}
	slices.SortFunc(ref, func(a, b ev) int { return cmp.Compare(floorDiv(a.t, occBucket), floorDiv(b.t, occBucket)) })
	truePeak, n := 0, 0
	for i := 0; i < len(ref); {
		m := floorDiv(ref[i].t, occBucket)
		leave := 0
		for ; i < len(ref) && floorDiv(ref[i].t, occBucket) == m; i++ {
			n += int(ref[i].enter)
			leave += int(ref[i].leave)
		}
		truePeak = max(truePeak, n)
		n -= leave
	}
	if p := o.peak(); p < truePeak {
		t.Errorf("peak %d, under the true %d", p, truePeak)
	}
	if maxBlocks := occWindow + 1 + occHeadBefore + occHead + occPins; len(o.blocks) > maxBlocks || len(o.coarse.buckets) > occCoarseMax {
		t.Errorf("%d fine blocks, %d coarse buckets: want at most %d and %d", len(o.blocks), len(o.coarse.buckets), maxBlocks, occCoarseMax)
	}
	t.Logf("%d spans, first drop at +%v, %d fine blocks, %d coarse buckets of %ds, peak %d (true %d)",
		len(spans), time.Duration(firstDrop-1_000_000*s), len(o.blocks), len(o.coarse.buckets), 1<<o.coarse.shift, o.peak(), truePeak)
}

// TestLateFirstDropIsAnEstimate: the first drop of a listener shown by a
// long-lived connection (its first SYN went unanswered, its retry got in)
// that finished more than occWindow after it. When the drop came after
// the capture's first occWindow seconds, the queue level is an estimate
// (here 8, the second's peak, where 3 were waiting), and the diagnosis
// must not turn it into a backlog size; the same attempt finishing at
// once gives the exact level and the backlog, and so does a drop in the
// first occWindow seconds however late its attempt finishes.
func TestLateFirstDropIsAnEstimate(t *testing.T) {
	const s = int64(time.Second)
	for _, tc := range []struct {
		late     bool
		dropAt   int64 // seconds after the capture's first attempt
		estimate bool
	}{{false, 700, false}, {true, 700, true}, {true, 0, false}} {
		late := tc.late
		start := int64(1_700_000_000) * s
		base := start + tc.dropAt*s
		g := NewAggregator()
		g.CaptureEnd = base + 1300*s
		// The capture's first attempt, served at once.
		first := timedEstablished(1000, start)
		first.HasServed, first.Served = true, first.Accepted+ms
		g.Add(&first)
		// Three idle clients the server took and never served: they wait
		// in the queue from second 1 to the end.
		for i := range 3 {
			a := timedEstablished(i, base+s+int64(i)*ms)
			a.ServerAccepted, a.Accepted, a.HasServed = false, 0, false
			g.Add(&a)
		}
		// A burst half a second after the first drop: five more wait
		// for 200 ms, so the second's peak is 8, not the 3 at the drop.
		for i := range 5 {
			a := timedEstablished(600+i, base+30*s+500*ms)
			a.HasServed, a.Served = true, a.Accepted+200*ms
			g.Add(&a)
		}
		delayed := timedEstablished(900, base+30*s)
		delayed.SYNs, delayed.DroppedSYNs, delayed.LastSYN = 2, 1, base+31*s
		delayed.SYNBeforeSYNACK = delayed.LastSYN
		delayed.FirstSYNACK, delayed.LastSYNACK = base+31*s+ms, base+31*s+ms
		delayed.FirstACK, delayed.Accepted = base+31*s+2*ms, base+31*s+3*ms
		if !late {
			g.Add(&delayed)
		}
		// Twenty minutes of handshakes served at once.
		for k := range int64(1200) {
			a := timedEstablished(int(k), base+60*s+k*s)
			a.HasServed, a.Served = true, a.Accepted+ms
			g.Add(&a)
		}
		if late {
			delayed.LastPacket = base + 1290*s
			g.Add(&delayed)
		}
		r := g.Result()
		Diagnose(&r, nil)
		l := r.Listeners[0]
		t.Logf("%+v: %d waiting at the first drop", tc, l.Signs.AcceptAtFirstDrop)
		if l.Signs.QueueLevelsEstimated != tc.estimate {
			t.Errorf("%+v: QueueLevelsEstimated %v", tc, l.Signs.QueueLevelsEstimated)
		}
		if !tc.estimate && l.Signs.AcceptAtFirstDrop != 3 {
			t.Errorf("%+v: %d waiting at the first drop, want 3", tc, l.Signs.AcceptAtFirstDrop)
		}
		backlog := false
		for _, f := range append([]Finding{l.Diagnosis.Verdict}, l.Diagnosis.Findings...) {
			for _, sg := range f.Signs {
				backlog = backlog || strings.Contains(sg.Says, "the backlog looks like")
			}
		}
		if backlog == tc.estimate {
			t.Errorf("%+v: backlog size claimed %v", tc, backlog)
		}
	}
}

// TestCookieLagTooSmall: a completed handshake's SYN-ACK that lagged the
// clock by 0 to 2 ticks cannot be told from a cookie; by 3 or more it is
// one, by -1 it is not.
func TestCookieLagTooSmall(t *testing.T) {
	for _, tc := range []struct {
		lag  uint32
		want bool
	}{{0, true}, {1, true}, {2, true}, {3, false}, {^uint32(0), false}} {
		var a reassemble.Attempt
		a.SYNACKs, a.FirstSYNACK = 1, 1_000*int64(time.Millisecond)
		a.SYNACKOpts.HasTS, a.SYNACKOpts.TSval = true, 5000
		// 100 ms later the server's clock reads 100 ticks more, plus the lag.
		a.HasServerTSAfter, a.ServerTSAfterTime, a.ServerTSAfter = true, a.FirstSYNACK+100*int64(time.Millisecond), 5100+tc.lag
		if got := cookieLagTooSmall(&a); got != tc.want {
			t.Errorf("lag %d: cookieLagTooSmall %v, want %v", int32(tc.lag), got, tc.want)
		}
	}
}

// TestCookieLagNoisyAwayFromTheServer: one SYN-ACK whose timestamp lags
// the server's next segment by 10 ticks, among attempts answered at once
// (a server-side capture: a cookie) or 200 ms after their SYN (a
// client-side one through a long path, like a fresh recording of
// synqueue-no-cookies-client whose relay jitter made one: no proof).
func TestCookieLagNoisyAwayFromTheServer(t *testing.T) {
	for _, tc := range []struct {
		gap   time.Duration // SYN to SYN-ACK
		noisy bool
	}{{20 * time.Microsecond, false}, {200 * time.Millisecond, true}} {
		g := NewAggregator()
		base := int64(1_700_000_000) * int64(time.Second)
		for i := range 20 {
			t0 := base + int64(i)*int64(100*time.Millisecond)
			a := timedEstablished(i, t0)
			a.FirstSYNACK, a.LastSYNACK = t0+int64(tc.gap), t0+int64(tc.gap)
			a.FirstACK, a.Accepted = a.FirstSYNACK+int64(time.Millisecond), a.FirstSYNACK+2*int64(time.Millisecond)
			a.SYNACKOpts.HasTS, a.SYNACKOpts.TSval = true, 5000
			a.HasServerTSAfter, a.ServerTSAfterTime = true, a.FirstSYNACK+int64(10*time.Millisecond)
			a.ServerTSAfter = 5010 // the clock moved with time: not a cookie
			if i == 7 {
				a.ServerTSAfter = 5020 // 10 ticks behind: a cookie's lag
			}
			g.Add(&a)
		}
		r := g.Result()
		sg := r.Listeners[0].Signs
		if sg.CookiesByTSLag != 1 || sg.CookieLagNoisy != tc.noisy {
			t.Errorf("gap %v: %d cookies by timestamp lag, noisy %v; want 1, %v", tc.gap, sg.CookiesByTSLag, sg.CookieLagNoisy, tc.noisy)
		}
		if want := map[bool]int{false: 1, true: 0}[tc.noisy]; sg.TrustedCookies() != want || sg.TrustedCookieSYNACKs() != want {
			t.Errorf("gap %v: %d trusted cookies, %d SYN-ACKs; want %d", tc.gap, sg.TrustedCookies(), sg.TrustedCookieSYNACKs(), want)
		}
	}
}

// TestSameHostVantage: attempts from the server's own host (a loopback
// listener, or the server's address as the client's) are captured where
// the server is, and the clients' SYN retransmissions are that host's
// TCP's too; one client from elsewhere leaves the vantage to the gaps.
func TestSameHostVantage(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:9000")
	tests := []struct {
		name         string
		server       netip.AddrPort
		clients      []netip.Addr
		wantSameHost bool
		wantRetx     int
	}{
		{"loopback listener", lo, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1")}, true, 2},
		{"the server's own address", testServer, []netip.Addr{testServer.Addr(), testServer.Addr()}, true, 2},
		{"one client from elsewhere", testServer, []netip.Addr{testServer.Addr(), nthClient(7)}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewAggregator()
			g.CaptureEnd = int64(100 * time.Second)
			for i, c := range tt.clients {
				ok := established(c, 1+i)
				ok.Server = tt.server
				lost := unanswered(c, 10+i) // two SYNs: one sent again
				lost.Server = tt.server
				g.Add(&ok)
				g.Add(&lost)
			}
			r := g.Result()
			sg := r.Listeners[0].Signs
			if sg.SameHost != tt.wantSameHost || sg.ClientSYNRetransmits != tt.wantRetx {
				t.Errorf("same host %v, client SYN retransmissions %d; want %v, %d", sg.SameHost, sg.ClientSYNRetransmits, tt.wantSameHost, tt.wantRetx)
			}
			if tt.wantSameHost && sg.Vantage != VantageServer {
				t.Errorf("vantage %s, want server", sg.Vantage)
			}
			if !tt.wantSameHost && sg.Vantage != VantageUnknown {
				t.Errorf("vantage %s, want unknown (no path delay)", sg.Vantage)
			}
		})
	}
}
