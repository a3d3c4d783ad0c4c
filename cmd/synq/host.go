package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/synq/synq/analyze"
)

// readHost reads --nstat and --sysctl into the host evidence inference
// uses. Missing files are input errors (exit 3); malformed ones too.
func readHost(opts *AnalyzeOptions) (*analyze.Host, error) {
	h := &analyze.Host{}
	var snaps []analyze.Counters
	for _, name := range opts.Nstat {
		c, err := readWith(opts, name, analyze.ParseNstat)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--nstat %s: %w", name, err))
		}
		snaps = append(snaps, c)
	}
	switch len(snaps) {
	case 1:
		h.Deltas = map[string]int64{}
		for k, v := range snaps[0] {
			h.Deltas[k] = int64(v)
		}
	case 2:
		h.Deltas = map[string]int64{}
		for k := range snaps[1] {
			if d, ok := analyze.Delta(snaps[0], snaps[1], k); ok {
				h.Deltas[k] = d
			}
		}
	}
	if opts.Sysctl != "" {
		s, err := readWith(opts, opts.Sysctl, parseSysctl)
		if err != nil {
			return nil, withCode(exitInput, fmt.Errorf("--sysctl %s: %w", opts.Sysctl, err))
		}
		h.Sysctls = s
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

// parseSysctl reads "name = value" lines (sysctl -a).
func parseSysctl(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}
