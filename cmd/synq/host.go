package main

import (
	"fmt"
	"io"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/host"
)

// readHost reads --nstat, --sysctl and --ss into the host evidence inference
// uses. Missing files are input errors (exit 3); malformed ones too.
func readHost(opts *AnalyzeOptions) (*analyze.Host, error) {
	h := &analyze.Host{}
	var snaps []analyze.Snapshot
	for _, name := range opts.Nstat {
		s, err := readWith(opts, name, analyze.ParseSnapshot)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--nstat %s: %w", name, err))
		}
		snaps = append(snaps, s)
	}
	switch len(snaps) {
	case 1:
		// One snapshot can only be the change itself: plain nstat's
		// output (changes since its last run). Totals since boot say
		// nothing about the capture.
		if snaps[0].Absolute {
			return nil, usageErrorf("--nstat %s: a %s snapshot holds totals since boot; give two (before and after the capture), or one from plain nstat (changes since its last run)",
				opts.Nstat[0], snaps[0].Format)
		}
		// Plain nstat leaves out the counters that did not change: for
		// the ones synq reasons with, absent means zero.
		h.Deltas = map[string]int64{}
		for _, k := range analyze.ReconciledCounters() {
			// PAWSPassive absent is a kernel without it (4.12+), not 0.
			if k != "TcpExtPAWSPassive" {
				h.Deltas[k] = 0
			}
		}
		for k, v := range snaps[0].Counters {
			h.Deltas[k] = int64(v)
		}
		h.SingleSnapshot = true
	case 2:
		deltas, err := analyze.SnapshotDeltas(snaps[0].Counters, snaps[1].Counters)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--nstat %s %s: %w", opts.Nstat[0], opts.Nstat[1], err))
		}
		h.Deltas = deltas
	}
	if opts.Sysctl != "" {
		s, err := readWith(opts, opts.Sysctl, analyze.ParseSysctl)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--sysctl %s: %w", opts.Sysctl, err))
		}
		h.Sysctls = s
	}
	var samples []host.QueueSample
	for _, name := range opts.SS {
		s, err := readWith(opts, name, host.ParseSS)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--ss %s: %w", name, err))
		}
		samples = append(samples, s...)
	}
	if len(samples) > 0 {
		h.Queues = host.Peaks(samples)
	}
	return h, nil
}

func readWith[T any](opts *AnalyzeOptions, name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := opts.Open(name)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	return parse(f)
}
