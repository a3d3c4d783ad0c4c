package reassemble

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/gen"
)

// readPackets decodes every TCP packet of a capture (files are merged as
// synq analyze merges them).
func readPackets(tb testing.TB, names []string, open func(string) (io.ReadCloser, error)) []capture.Packet {
	tb.Helper()
	rd, err := capture.Open(names, capture.OpenOptions{Open: open})
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Close()
	var out []capture.Packet
	for {
		var p capture.Packet
		err := rd.Next(&p)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
}

// emitted runs the tracker over pkts and returns every attempt it emits,
// in order, and how many attempts were ever light and parked. Closed
// attempts are parked once parkAbove full slots are in use.
func emitted(pkts []capture.Packet, cfg Config, noLight bool, parkAbove int) ([]Attempt, int, int) {
	var out []Attempt
	tr := NewTracker(cfg, func(a *Attempt) { out = append(out, *a) })
	tr.noLight, tr.parkAbove = noLight, parkAbove
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	return out, tr.lightsMade, tr.parkedMade
}

func sortAttempts(as []Attempt) {
	slices.SortFunc(as, func(a, b Attempt) int {
		return cmp.Or(cmp.Compare(a.FirstPacket, b.FirstPacket), a.Client.Compare(b.Client),
			cmp.Compare(a.ClientISN, b.ClientISN), cmp.Compare(a.LastPacket, b.LastPacket))
	})
}

// TestLightChangesNothing: keeping half-open attempts in the light form
// and closed ones in the parked form must not change a single emitted
// attempt, on every real-kernel capture in testdata and on generated ones
// (a mix, a slower mix whose closed attempts outlive their linger within
// the capture, and a spoofed flood, where the light form is the point).
func TestLightChangesNothing(t *testing.T) {
	type input struct {
		name string
		pkts []capture.Packet
	}
	var inputs []input
	names, _ := filepath.Glob("../testdata/*/capture.pcap*")
	if len(names) == 0 {
		t.Fatal("no captures in ../testdata")
	}
	for _, n := range names {
		inputs = append(inputs, input{filepath.Base(filepath.Dir(n)), readPackets(t, []string{n}, nil)})
	}
	for _, g := range []struct {
		name  string
		rate  float64
		flood bool
	}{{"generated mix", 20000, false}, {"generated slow mix", 1000, false}, {"generated flood", 20000, true}} {
		cfg := gen.Defaults()
		cfg.Packets, cfg.Rate, cfg.Flood = 60_000, g.rate, g.flood
		var buf bytes.Buffer
		if _, err := gen.Write(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		open := func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
		inputs = append(inputs, input{g.name, readPackets(t, []string{g.name}, open)})
	}
	lightSeen, parkedSeen, parkedAbove100 := map[string]int{}, map[string]int{}, map[string]int{}
	for _, in := range inputs {
		// The sweep and Flush walk the full table, then the light one,
		// so attempts they finish come out in another order: compare
		// the attempts as a set. (Under eviction, which attempts go
		// depends on that order too, so it is left out here.)
		want, _, _ := emitted(in.pkts, Config{}, true, 0)
		sortAttempts(want)
		for _, parkAbove := range []int{0, 100, parkAboveDefault} {
			got, lights, parked := emitted(in.pkts, Config{}, false, parkAbove)
			if parkAbove == 0 {
				lightSeen[in.name], parkedSeen[in.name] = lights, parked
			}
			if parkAbove == 100 {
				parkedAbove100[in.name] = parked
			}
			sortAttempts(got)
			if len(got) != len(want) {
				t.Errorf("%s (park above %d): %d attempts with light states, %d without", in.name, parkAbove, len(got), len(want))
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s (park above %d): attempt %d differs:\nlight %+v\nfull  %+v", in.name, parkAbove, i, got[i], want[i])
					break
				}
			}
		}
	}
	// Parking waits for a crowd: the slow mix holds a few hundred closed
	// attempts at once, so above 100 full slots some are parked, but
	// fewer than when every one is.
	if n, all := parkedAbove100["generated slow mix"], parkedSeen["generated slow mix"]; n == 0 || n >= all {
		t.Errorf("generated slow mix: %d parked above 100 full slots, %d when always: want some, fewer", n, all)
	}
	// The comparison means something only where attempts were light.
	for _, name := range []string{"generated flood", "generated mix", "syncookies-flood", "synflood-no-cookies", "accept-overflow-syn-drops"} {
		if lightSeen[name] == 0 {
			t.Errorf("%s: no attempt was ever light", name)
		}
	}
	for _, name := range []string{"generated slow mix", "abort-on-overflow", "defer-accept"} {
		if parkedSeen[name] == 0 {
			t.Errorf("%s: no attempt was ever parked", name)
		}
	}
}

// TestEvictionWithEveryForm runs a generated mix slow enough to hold
// young full, light and parked attempts at once under a small
// --max-attempts: eviction finds and frees attempts in every form, and
// the index, the tables and the count of attempts in flight agree
// throughout.
func TestEvictionWithEveryForm(t *testing.T) {
	cfg := gen.Defaults()
	cfg.Packets, cfg.Rate = 60_000, 1000
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	open := func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
	pkts := readPackets(t, []string{"gen"}, open)

	const limit = 500
	emitted, evicted := 0, 0
	tr := NewTracker(Config{MaxAttempts: limit}, func(a *Attempt) {
		emitted++
		if a.End == EndEvicted {
			evicted++
		}
		if !a.Client.IsValid() || !a.Server.IsValid() || a.Packets == 0 {
			t.Fatalf("emitted a broken attempt: %+v", a.Handshake)
		}
	})
	tr.parkAbove = 0
	for i := range pkts {
		tr.Add(&pkts[i])
		if i%5000 == 0 {
			held := 0
			tr.InFlight(func(*Attempt) { held++ })
			if held != tr.inFlight || tr.flows.len() != tr.inFlight || held > limit {
				t.Fatalf("packet %d: %d attempts held, %d counted, %d in the index (limit %d)", i, held, tr.inFlight, tr.flows.len(), limit)
			}
		}
	}
	tr.Flush()
	st := tr.Stats()
	if st.PeakInFlight > limit || emitted != st.Attempts || evicted != st.Evicted || evicted == 0 {
		t.Errorf("peak %d (limit %d), emitted %d (stats %d), evicted %d (stats %d)", st.PeakInFlight, limit, emitted, st.Attempts, evicted, st.Evicted)
	}
	if tr.lightsMade == 0 || tr.parkedMade == 0 {
		t.Errorf("light attempts %d, parked %d: the test means something only with both", tr.lightsMade, tr.parkedMade)
	}
}
