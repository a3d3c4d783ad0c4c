package analyze

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

var testServer = netip.MustParseAddrPort("10.0.0.1:443")

// nthClient is a distinct IPv4 client address for each n.
func nthClient(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

// established is a completed attempt from client at second sec.
func established(client netip.Addr, sec int) reassemble.Attempt {
	t := int64(sec) * int64(time.Second)
	return reassemble.Attempt{Handshake: reassemble.Handshake{
		Client: netip.AddrPortFrom(client, 40000), Server: testServer,
		SYNs: 1, SYNACKs: 1, ClientAcked: true, ServerAccepted: true,
		FirstSYN: t, LastSYN: t, FirstSYNACK: t + 1, LastSYNACK: t + 1,
		FirstACK: t + 2, Accepted: t + 3, FirstPacket: t, LastPacket: t + 3,
		SYNBeforeSYNACK: t, End: reassemble.EndClosed,
	}}
}

// unanswered is an attempt from client whose two SYNs got no answer.
func unanswered(client netip.Addr, sec int) reassemble.Attempt {
	t := int64(sec) * int64(time.Second)
	return reassemble.Attempt{Handshake: reassemble.Handshake{
		Client: netip.AddrPortFrom(client, 40000), Server: testServer,
		SYNs: 2, DroppedSYNs: 2, FirstSYN: t, LastSYN: t + int64(time.Second),
		FirstPacket: t, LastPacket: t + int64(time.Second), End: reassemble.EndClosed,
	}}
}

// midStream is a connection from client first seen without a SYN.
func midStream(client netip.Addr) reassemble.Attempt {
	return reassemble.Attempt{Handshake: reassemble.Handshake{
		Client: netip.AddrPortFrom(client, 40000), Server: testServer, MidStream: true,
	}}
}

// aggregate adds the attempts in order and returns the result.
func aggregate(atts ...reassemble.Attempt) Result {
	g := NewAggregator()
	g.CaptureEnd = int64(1000 * time.Second)
	for i := range atts {
		g.Add(&atts[i])
	}
	return g.Result()
}

// fillers returns n established attempts from n distinct clients,
// nthClient(0) to nthClient(n-1).
func fillers(n int) []reassemble.Attempt {
	atts := make([]reassemble.Attempt, 0, n)
	for i := range n {
		atts = append(atts, established(nthClient(i), 1))
	}
	return atts
}

var (
	latecomer = netip.MustParseAddr("192.0.2.7")
	mapped    = netip.MustParseAddr("::ffff:192.0.2.7")
)

func TestClientCapKeepsFirstComers(t *testing.T) {
	type worst struct {
		addr             netip.Addr
		attempts, failed int
	}
	tests := []struct {
		name         string
		atts         []reassemble.Attempt
		want         []worst
		wantOverflow bool
	}{
		{
			name: "under the cap, a latecomer is tracked",
			atts: append(fillers(MaxTrackedClients-1), unanswered(latecomer, 2), unanswered(latecomer, 3)),
			want: []worst{{latecomer, 2, 2}},
		},
		{
			name:         "at the cap, a latecomer is not tracked",
			atts:         append(fillers(MaxTrackedClients), unanswered(latecomer, 2)),
			wantOverflow: true,
		},
		{
			name: "a client tracked before the cap keeps counting after it",
			atts: append(fillers(MaxTrackedClients),
				unanswered(latecomer, 2), unanswered(nthClient(5), 3), unanswered(nthClient(5), 4)),
			want:         []worst{{nthClient(5), 3, 2}},
			wantOverflow: true,
		},
		{
			name: "mid-stream connections take no slot",
			atts: append(append(fillers(MaxTrackedClients-1), midStream(mapped)), unanswered(latecomer, 2)),
			want: []worst{{latecomer, 1, 1}},
		},
		{
			name: "an IPv4 address and its IPv4-mapped IPv6 form are two clients",
			atts: []reassemble.Attempt{unanswered(latecomer, 1), unanswered(mapped, 2), unanswered(mapped, 3)},
			want: []worst{{mapped, 2, 2}, {latecomer, 1, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := aggregate(tt.atts...)
			var got []worst
			for _, c := range r.WorstClients {
				got = append(got, worst{c.Addr, c.Attempts, c.Outcomes.Failed()})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("worst clients %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("worst client %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
			if r.ClientsOverflow != tt.wantOverflow {
				t.Errorf("ClientsOverflow = %v, want %v", r.ClientsOverflow, tt.wantOverflow)
			}
		})
	}
}

func TestSourceCapKeepsFirstComers(t *testing.T) {
	tests := []struct {
		name                  string
		atts                  []reassemble.Attempt
		unanswered, never     int
		top                   netip.Addr
		topAttempts, neverAck int
	}{
		{
			name:       "under the cap, a latecomer is counted",
			atts:       append(fillers(maxSourcesPerListener-1), unanswered(latecomer, 2), unanswered(latecomer, 3)),
			unanswered: 1, never: 1, top: latecomer, topAttempts: 2,
		},
		{
			name: "at the cap, a latecomer is not counted",
			atts: append(fillers(maxSourcesPerListener), unanswered(latecomer, 2)),
		},
		{
			name: "a source counted before the cap keeps counting after it",
			atts: append(fillers(maxSourcesPerListener),
				unanswered(latecomer, 2), unanswered(nthClient(9), 3), unanswered(nthClient(9), 4)),
			unanswered: 1, top: nthClient(9), topAttempts: 2,
		},
		{
			name:       "ties go to the lowest address",
			atts:       []reassemble.Attempt{unanswered(mapped, 1), unanswered(nthClient(3), 2), unanswered(latecomer, 3)},
			unanswered: 3, never: 3, top: nthClient(3), topAttempts: 1,
		},
		{
			// Its other attempt went on, the SYN-ACK missing from the
			// capture: answered, not "never answered".
			name: "a SYN-ACK the capture missed answered the source",
			atts: func() []reassemble.Attempt {
				a := established(latecomer, 1)
				a.SYNACKs, a.FirstSYNACK, a.LastSYNACK, a.SYNACKNotCaptured = 0, 0, 0, true
				return []reassemble.Attempt{a, unanswered(latecomer, 2)}
			}(),
			unanswered: 1, never: 0, top: latecomer, topAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sg := aggregate(tt.atts...).Listeners[0].Signs
			if sg.UnansweredSources != tt.unanswered || sg.NeverAnsweredSources != tt.never {
				t.Errorf("unanswered sources %d, never answered %d; want %d, %d",
					sg.UnansweredSources, sg.NeverAnsweredSources, tt.unanswered, tt.never)
			}
			if sg.TopUnansweredSource != tt.top || sg.TopUnansweredAttempts != tt.topAttempts {
				t.Errorf("top unanswered source %v with %d, want %v with %d",
					sg.TopUnansweredSource, sg.TopUnansweredAttempts, tt.top, tt.topAttempts)
			}
		})
	}
}

// withTS gives an attempt a SYN timestamp and, when remembered, the last
// client TSval a TIME_WAIT socket would keep (the server closed first).
func withTS(a reassemble.Attempt, synTS uint32, remembered bool, lastTS uint32) reassemble.Attempt {
	a.SYNOpts = capture.TCPOptions{HasTS: true, TSval: synTS}
	a.HasClientTS = remembered
	a.LastClientTSval = lastTS
	a.ServerClosedFirst = remembered // the server's TIME_WAIT remembers
	return a
}

// pawsVictim is the tcp_tw_recycle signature from one address: a
// connection on clock A that the server remembers, then a SYN on clock B
// (older TSval) left unanswered. earlier answered SYNs on clock A, not
// remembered, come first.
func pawsVictim(addr netip.Addr, earlier int) []reassemble.Attempt {
	const clockA = 1_000_000
	var atts []reassemble.Attempt
	for i := range earlier {
		atts = append(atts, withTS(established(addr, 100+i), clockA+uint32(100+i)*1000, false, 0))
	}
	atts = append(atts,
		withTS(established(addr, 200), clockA+200_000, true, clockA+200_010),
		withTS(unanswered(addr, 201), 500_000, false, 0))
	return atts
}

// tsFillers returns n answered attempts with a SYN timestamp from n
// distinct clients.
func tsFillers(n int) []reassemble.Attempt {
	atts := fillers(n)
	for i := range atts {
		atts[i] = withTS(atts[i], 1000, false, 0)
	}
	return atts
}

func TestPAWSCapsKeepFirstComers(t *testing.T) {
	tests := []struct {
		name       string
		atts       []reassemble.Attempt
		sources    int
		wantCapped bool
	}{
		{
			name:    "the signature alone",
			atts:    pawsVictim(latecomer, 1),
			sources: 1,
		},
		{
			name:    "under the source cap, a latecomer is sampled",
			atts:    append(tsFillers(maxPAWSSources-1), pawsVictim(latecomer, 1)...),
			sources: 1,
		},
		{
			name:       "at the source cap, a latecomer is not sampled",
			atts:       append(tsFillers(maxPAWSSources), pawsVictim(latecomer, 1)...),
			wantCapped: true,
		},
		{
			name: "a source sampled before the cap keeps being sampled after it",
			atts: append(append(tsFillers(maxPAWSSources), withTS(unanswered(latecomer, 1), 1000, false, 0)),
				pawsVictim(nthClient(4), 1)...),
			sources:    1,
			wantCapped: true,
		},
		{
			name:    "the last sample under the per-source cap is kept",
			atts:    pawsVictim(latecomer, maxPAWSSamples-2),
			sources: 1,
		},
		{
			name: "samples past the per-source cap are dropped",
			atts: pawsVictim(latecomer, maxPAWSSamples-1),
		},
		{
			name: "attempts without a SYN timestamp are not samples",
			atts: append(fillers(maxPAWSSources), pawsVictim(latecomer, 1)...),
			// the fillers (no timestamps) filled only the source table
			sources: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sg := aggregate(tt.atts...).Listeners[0].Signs
			if sg.PAWS.Sources != tt.sources {
				t.Errorf("PAWS sources %d, want %d (%+v)", sg.PAWS.Sources, tt.sources, sg.PAWS)
			}
			if sg.PAWSSourcesCapped != tt.wantCapped {
				t.Errorf("PAWSSourcesCapped = %v, want %v", sg.PAWSSourcesCapped, tt.wantCapped)
			}
		})
	}
}

// TestMemoryPerAddress pins what the aggregator holds per distinct client
// address (client record, source record, PAWS samples, index slots), so
// a layout that puts a pointer, a wide counter or a slice per entry back
// shows. The flat layout measures 113 and 642 bytes; the maps of pointers
// it replaced took 304 and 945. Samples are 32 bytes each whatever the
// layout, hence the looser second bound.
func TestMemoryPerAddress(t *testing.T) {
	tests := []struct {
		name     string
		addrs    int
		samples  int // attempts per address with a SYN timestamp; 0: one without
		maxBytes float64
	}{
		{name: "one attempt without timestamps", addrs: maxSourcesPerListener, maxBytes: 130},
		{name: "16 attempts with timestamps", addrs: maxPAWSSources, samples: 16, maxBytes: 450},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewAggregator()
			g.CaptureEnd = int64(1000 * time.Second)
			before := liveHeap()
			for i := range tt.addrs {
				if tt.samples == 0 {
					a := established(nthClient(i), 1)
					g.Add(&a)
				}
				for j := range tt.samples {
					a := withTS(established(nthClient(i), 1+j), uint32(1000*j), false, 0)
					g.Add(&a)
				}
			}
			perAddr := float64(liveHeap()-before) / float64(tt.addrs)
			runtime.KeepAlive(g)
			t.Logf("%.0f bytes per address", perAddr)
			if perAddr > tt.maxBytes {
				t.Errorf("%.0f bytes per address, want at most %.0f", perAddr, tt.maxBytes)
			}
		})
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestAddPastTheCapsAllocatesNothing: once the per-client, per-source and
// PAWS tables are full, a spoofed flood's new addresses (nearly every
// attempt) must cost no allocation.
func TestAddPastTheCapsAllocatesNothing(t *testing.T) {
	g := NewAggregator()
	g.CaptureEnd = int64(1000 * time.Second)
	n := max(MaxTrackedClients, maxSourcesPerListener, maxPAWSSources)
	for i := range n {
		a := withTS(unanswered(nthClient(i), 1), 1000, false, 0)
		g.Add(&a)
	}
	// Attempts made beforehand: Add's argument escapes (OnAttempt).
	more := make([]reassemble.Attempt, 1001)
	for i := range more {
		more[i] = withTS(unanswered(nthClient(n+i), 1), 1000, false, 0)
	}
	next := 0
	allocs := testing.AllocsPerRun(1000, func() {
		g.Add(&more[next])
		next++
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per attempt past the caps, want 0", allocs)
	}
}

// TestMemoryDoesNotGrowWithSpan aggregates the same 20,000 attempts
// spread over 10 seconds, 10 hours and 3 days of capture time, and
// compares the heap each aggregation holds (issue #14). The queue-
// occupancy estimate once kept 8 KB for every second with an event (a
// 15-hour capture took 780 MB), then a sparse block for every such second
// (about 200 bytes an attempt over a long span); it now keeps the last
// occWindow seconds fine and folds older ones into a fixed number of
// buckets, so memory follows what is in flight, not the span.
func TestMemoryDoesNotGrowWithSpan(t *testing.T) {
	const n = 20_000
	heap := func(span time.Duration) uint64 {
		return heapHeld(func() any {
			g := NewAggregator()
			g.CaptureEnd = int64(span) + int64(time.Hour)
			for i := range n {
				a := timedEstablished(i, int64(i)*(int64(span)/n))
				g.Add(&a)
			}
			return g
		})
	}
	short := heap(10 * time.Second)
	for _, span := range []time.Duration{10 * time.Hour, 72 * time.Hour} {
		long := heap(span)
		t.Logf("heap for %d attempts: %d KB over 10 s, %d KB over %v", n, short>>10, long>>10, span)
		if long > short+short/2+64<<10 {
			t.Errorf("over %v the aggregation holds %d KB, over 10 s %d KB: memory grows with the span", span, long>>10, short>>10)
		}
	}
}

// TestRetransOnTimer: a SYN-ACK retransmission after the client's ACK is
// the timer's when it comes in the next slot after that ACK (1 s, 3 s,
// 7 s after the first SYN-ACK); TCP_DEFER_ACCEPT skips slots. The second
// row is the overflow whose first ACK answered a retransmission (its own
// ACK was lost): 2 s from ACK to the next slot, on the timer all the same.
func TestRetransOnTimer(t *testing.T) {
	const s = int64(time.Second)
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	for _, c := range []struct {
		name         string
		ack, retrans int64 // after the first SYN-ACK
		want         bool
	}{
		{"ACK at once, retransmitted at 1 s", ms(1), 1 * s, true},
		{"ACK answering the 1-s retransmission, next at 3 s", s + ms(2), 3 * s, true},
		{"ACK answering the 3-s retransmission, next at 7 s", 3*s + ms(2), 7*s + ms(30), true},
		{"deferred: ACK at once, next at 3 s", ms(1), 3 * s, false},
		{"deferred: ACK at once, next at 7 s", ms(1), 7 * s, false},
		{"late timer within slack", ms(1), s + ms(400), true},
	} {
		const t0 = 1_000 * s
		a := &reassemble.Attempt{}
		a.FirstSYNACK, a.FirstACK, a.FirstRetransAfterACK, a.SYNACKRetransAfterACK = t0, t0+c.ack, t0+c.retrans, 1
		wait, got := retransOnTimer(a)
		if got != c.want || wait != time.Duration(c.retrans-c.ack) {
			t.Errorf("%s: on timer %v (wait %v), want %v", c.name, got, wait, c.want)
		}
	}
}

// TestListenerCostsKilobytes: a host with thousands of listeners keeps
// one Listener for each; its latency histograms and timeline must cost
// kilobytes, not the 33 KB and 31 KB they once allocated whatever they
// held (2,000 listeners: over 400 MB of peak RSS).
func TestListenerCostsKilobytes(t *testing.T) {
	const listeners, perListener = 500, 40
	per := heapHeld(func() any {
		g := NewAggregator()
		g.CaptureEnd = int64(30 * time.Second)
		for i := range listeners * perListener {
			a := timedEstablished(i, int64(i)*int64(30*time.Second)/(listeners*perListener))
			a.Server = netip.AddrPortFrom(a.Server.Addr(), uint16(10000+i%listeners))
			g.Add(&a)
		}
		return g
	}) / listeners
	t.Logf("%d bytes a listener (%d attempts each over 30 s)", per, perListener)
	if per > 48<<10 {
		t.Errorf("a listener costs %d KB: its fixed structures are allocated whole again", per>>10)
	}
}

// timedEstablished is the i-th of many established attempts (500 clients
// in turn), its handshake at t0: SYN-ACK 1 ms later, ACK and accept 1 ms
// after each other, its last packet 1 s after the SYN.
func timedEstablished(i int, t0 int64) reassemble.Attempt {
	a := established(nthClient(i%500), 0)
	a.FirstSYN, a.LastSYN, a.SYNBeforeSYNACK = t0, t0, t0
	a.FirstSYNACK, a.LastSYNACK = t0+int64(time.Millisecond), t0+int64(time.Millisecond)
	a.FirstACK, a.Accepted = t0+2*int64(time.Millisecond), t0+3*int64(time.Millisecond)
	a.FirstPacket, a.LastPacket = t0, t0+int64(time.Second)
	return a
}

// heapHeld is the heap that what build returns still holds after a GC.
func heapHeld(build func() any) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

// TestWorstClientsAreTheSortedFirst checks the bounded selection of
// Result.WorstClients against sorting every failing client, on tallies
// with many ties (few distinct counts) so that the address decides often.
func TestWorstClientsAreTheSortedFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, clients := range []int{0, 3, 10, 11, 500, 5000} {
		var tbl clientTable
		var all []Client
		for i := range clients {
			var a netip.Addr
			if i%3 == 0 {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 14: byte(i >> 8), 15: byte(i)})
			} else {
				a = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			for range rng.IntN(6) {
				o := AllOutcomes()[rng.IntN(int(numOutcomes))]
				tbl.addVia(nil, a, o)
			}
		}
		for addr, i := range tbl.index.all() {
			c := Client{Addr: addr, Outcomes: tbl.outcomes[i].counts()}
			for _, n := range c.Outcomes {
				c.Attempts += n
			}
			if c.Outcomes.Failed() > 0 {
				all = append(all, c)
			}
		}
		slices.SortFunc(all, func(a, b Client) int {
			return cmp.Or(
				cmp.Compare(b.Outcomes.Failed(), a.Outcomes.Failed()),
				cmp.Compare(b.Attempts, a.Attempts),
				a.Addr.Compare(b.Addr),
			)
		})
		want := all[:min(len(all), MaxWorstClients)]
		got := tbl.worst(MaxWorstClients)
		if !slices.Equal(got, want) {
			t.Errorf("%d clients: worst = %v, want %v", clients, got, want)
		}
	}
}

// TestFormatDuration: three significant digits up to 100 s, then
// minutes, hours and days, never an exponent.
func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Microsecond, "500µs"},
		{1500 * time.Microsecond, "1.5ms"},
		{2720 * time.Millisecond, "2.72s"},
		{99960 * time.Millisecond, "100s"},
		{100 * time.Second, "1m40s"},
		{1062 * time.Second, "17m42s"},
		{3599600 * time.Millisecond, "1h"},
		{15 * time.Minute, "15m"},
		{3*time.Hour + 5*time.Minute, "3h05m"},
		{48 * time.Hour, "2d"},
		{10626 * time.Second, "2h57m"},
		{53155 * time.Second, "14h46m"},
		{86399 * time.Second, "1d"},
		{74 * time.Hour, "3d2h"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
