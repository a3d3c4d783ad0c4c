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

// TestRunMatchesTracker: the pipeline emits the attempts a Tracker fed
// one packet at a time emits, and atEnd runs before the ones Flush
// finishes.
func TestRunMatchesTracker(t *testing.T) {
	pkts := manyFlows(3000)
	var want []Attempt
	tr := NewTracker(Config{}, func(a *Attempt) { want = append(want, *a) })
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()

	var got []Attempt
	ended, afterEnd := false, 0
	stats, err := Run(&sliceSource{pkts: pkts}, Config{}, func() { ended = true }, func(a *Attempt) {
		got = append(got, *a)
		if ended {
			afterEnd++
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sortAttempts(want)
	sortAttempts(got)
	if len(got) != len(want) || stats.Attempts != len(want) {
		t.Fatalf("Run emitted %d attempts (stats %d), the tracker %d", len(got), stats.Attempts, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("attempt %d: Run %+v, tracker %+v", i, got[i], want[i])
		}
	}
	if !ended || afterEnd == 0 {
		t.Errorf("atEnd ran: %v; attempts after it: %d (those Flush finished)", ended, afterEnd)
	}
}

// TestRunStops: once stop says so, reading ends early with ErrStopped, and
// the attempts tracked so far still reach sink.
func TestRunStops(t *testing.T) {
	src := &sliceSource{pkts: manyFlows(20000)}
	var emitted atomic.Int64
	_, err := Run(src, Config{}, nil, func(*Attempt) { emitted.Add(1) }, func() bool { return src.reads.Load() > 2000 })
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
