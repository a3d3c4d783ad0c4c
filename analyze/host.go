package analyze

import (
	"errors"
	"fmt"
)

// ErrTotalsSinceBoot marks a single snapshot that holds totals since boot,
// which say nothing about one capture.
var ErrTotalsSinceBoot = errors.New("a single snapshot of totals since boot")

// HostInput is the host evidence as read, before it is reconciled into a
// Host: zero, one (plain nstat: the change itself) or two (before and
// after) counter snapshots, the sysctls and the listen-queue samples.
type HostInput struct {
	Snapshots []Snapshot
	Sysctls   map[string]string
	Queues    []QueuePeak
}

// NewHost builds the Host every caller diagnoses with (synq analyze,
// synq live and bundles alike), so counters are read one way everywhere:
// two snapshots through SnapshotDeltas; one only when it can be a change
// (plain nstat), its absent listen counters then 0, and marked single.
func NewHost(in HostInput) (*Host, error) {
	h := &Host{Sysctls: in.Sysctls, Queues: in.Queues}
	switch len(in.Snapshots) {
	case 0:
	case 1:
		s := in.Snapshots[0]
		if s.Absolute {
			return nil, fmt.Errorf("%w (%s): give two, before and after the capture, or one from plain nstat (changes since its last run)", ErrTotalsSinceBoot, s.Format)
		}
		// Plain nstat leaves out the counters that did not change: for
		// the ones synq reasons with, absent means zero.
		h.Deltas = map[string]int64{}
		for k, v := range s.Counters {
			h.Deltas[k] = int64(v)
		}
		zeroAbsentListenCounters(h.Deltas)
		h.SingleSnapshot = true
	case 2:
		d, err := SnapshotDeltas(in.Snapshots[0].Counters, in.Snapshots[1].Counters)
		if err != nil {
			return nil, err
		}
		// netstat -s prints some zeros (so SnapshotDeltas cannot tell)
		// but leaves out every TcpExt counter that is 0.
		if in.Snapshots[0].Format == FormatNetstat || in.Snapshots[1].Format == FormatNetstat {
			zeroAbsentListenCounters(d)
		}
		h.Deltas = d
	default:
		return nil, fmt.Errorf("%d counter snapshots: give one (changes) or two (before and after)", len(in.Snapshots))
	}
	return h, nil
}

// zeroAbsentListenCounters sets the listen counters synq reasons with to
// 0 where a format that leaves zeros out did not print them. PAWSPassive
// stays absent: a kernel without it (4.12 and later) is not a 0.
func zeroAbsentListenCounters(d map[string]int64) {
	for _, k := range ReconciledCounters() {
		if _, ok := d[k]; !ok && k != "TcpExtPAWSPassive" {
			d[k] = 0
		}
	}
}
