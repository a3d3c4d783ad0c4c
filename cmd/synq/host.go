package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/synq/synq/host"
)

// readHost reads --nstat, --sysctl and --ss into the host evidence inference
// uses, over what a bundle holds (base; flags win where both give one
// kind). Missing files are input errors (exit 3); malformed ones too.
func readHost(opts *AnalyzeOptions, base host.HostInput) (*host.Host, error) {
	in := base
	from := "bundle counters"
	if len(opts.Nstat) > 0 {
		in.Snapshots, from = nil, "--nstat "+strings.Join(opts.Nstat, " ")
	}
	for _, name := range opts.Nstat {
		s, err := readWith(opts, name, host.ParseSnapshot)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--nstat %s: %w", name, err))
		}
		in.Snapshots = append(in.Snapshots, s)
	}
	if opts.Sysctl != "" {
		s, err := readWith(opts, opts.Sysctl, host.ParseSysctl)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--sysctl %s: %w", opts.Sysctl, err))
		}
		in.Sysctls = s
	}
	if opts.Kernel != "" {
		if in.Sysctls == nil {
			in.Sysctls = map[string]string{}
		}
		if _, ok := in.Sysctls["kernel.osrelease"]; !ok {
			in.Sysctls = maps.Clone(in.Sysctls) // not the bundle's map
			in.Sysctls["kernel.osrelease"] = opts.Kernel
		}
	}
	var samples []host.QueueSample
	for _, name := range opts.SS {
		ss, err := readWith(opts, name, func(r io.Reader) (ssFile, error) {
			s, n, err := host.ParseSSSamples(r)
			return ssFile{s, n}, err
		})
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--ss %s: %w", name, err))
		}
		samples = append(samples, ss.rows...)
		in.QueueSamples += ss.samples
	}
	if len(samples) > 0 {
		in.Queues = host.Peaks(samples)
	}
	h, err := host.NewHost(in)
	switch {
	case errors.Is(err, host.ErrTotalsSinceBoot):
		return nil, usageErrorf("%s: %v", from, err)
	case err != nil:
		return nil, withCode(exitInput, fmt.Errorf("%s: %w", from, err))
	}
	return h, nil
}

// ssFile is one --ss file: its LISTEN rows and how many samples it holds.
type ssFile struct {
	rows    []host.QueueSample
	samples int
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
