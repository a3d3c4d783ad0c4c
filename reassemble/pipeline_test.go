package reassemble

import (
	"io"
	"sync/atomic"
	"testing"

	"github.com/synq/synq/capture"
)

// sliceSource hands out packets from a slice and counts the reads.
type sliceSource struct {
	pkts  []capture.Packet
	reads atomic.Int64
}

func (s *sliceSource) Next(p *capture.Packet) error {
	i := s.reads.Add(1) - 1
	if int(i) >= len(s.pkts) {
		return io.EOF
	}
	*p = s.pkts[i]
	return nil
}

// TestRunMatchesTracker: the pipeline hands every sink the attempts a
// Tracker fed one packet at a time emits, and each sink's AtEnd runs
// before the ones Flush finishes.
func TestRunMatchesTracker(t *testing.T) {
	pkts := manyFlows(3000)
	var want []Attempt
	tr := NewTracker(Config{}, func(a *Attempt) { want = append(want, *a) })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	sortAttempts(want)

	type sinkSeen struct {
		got      []Attempt
		ended    bool
		afterEnd int
	}
	seen := make([]sinkSeen, 2)
	var sinks []Sink
	for i := range seen {
		s := &seen[i]
		sinks = append(sinks, Sink{
			Add: func(a *Attempt) {
				s.got = append(s.got, *a)
				if s.ended {
					s.afterEnd++
				}
			},
			AtEnd: func() { s.ended = true },
		})
	}
	stats, err := Run(&sliceSource{pkts: pkts}, Config{}, sinks, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range seen {
		sortAttempts(s.got)
		if len(s.got) != len(want) || stats.Attempts != len(want) {
			t.Fatalf("sink %d: Run emitted %d attempts (stats %d), the tracker %d", k, len(s.got), stats.Attempts, len(want))
		}
		for i := range s.got {
			if s.got[i] != want[i] {
				t.Fatalf("sink %d, attempt %d: Run %+v, tracker %+v", k, i, s.got[i], want[i])
			}
		}
		if !s.ended || s.afterEnd == 0 {
			t.Errorf("sink %d: AtEnd ran: %v; attempts after it: %d (those Flush finished)", k, s.ended, s.afterEnd)
		}
	}
}

// TestRunStops: once stop says so, reading ends early with ErrStopped, and
// the attempts tracked so far still reach sink.
func TestRunStops(t *testing.T) {
	src := &sliceSource{pkts: manyFlows(20000)}
	var emitted atomic.Int64
	_, err := Run(src, Config{}, []Sink{{Add: func(*Attempt) { emitted.Add(1) }}}, func() bool { return src.reads.Load() > 2000 })
	if err != ErrStopped {
		t.Fatalf("err %v, want ErrStopped", err)
	}
	if n := src.reads.Load(); n > 2000+packetBatch+1 || n >= int64(len(src.pkts)) {
		t.Errorf("%d packets read of %d after stop at 2000", n, len(src.pkts))
	}
	if emitted.Load() == 0 {
		t.Error("no attempt reached sink")
	}
}
