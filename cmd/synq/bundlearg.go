package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/synq/synq/bundle"
	"github.com/synq/synq/report"
)

// openBundleArg makes `synq analyze DIR` read a bundle saved by synq live
// -w: when the only argument is a directory, it must be a bundle, and its
// capture replaces it in opts.Files. It returns nil for other arguments.
func openBundleArg(opts *AnalyzeOptions) (*bundle.Bundle, error) {
	if len(opts.Files) != 1 {
		for _, f := range opts.Files {
			if st, err := os.Stat(f); err == nil && st.IsDir() {
				return nil, usageErrorf("%s is a directory: give a bundle directory alone", f)
			}
		}
		return nil, nil
	}
	dir := opts.Files[0]
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, nil // a file, "-", or missing: capture.Open says which
	}
	b, err := bundle.Read(dir)
	if errors.Is(err, bundle.ErrNotBundle) {
		return nil, withCode(exitInput, notBundleHelp(dir, err))
	}
	if err != nil {
		return nil, withCode(exitInput, err)
	}
	opts.Files = []string{b.CapturePath}
	return b, nil
}

// notBundleHelp says what to do with a directory that is not a bundle:
// analyse the captures it holds, with the counter snapshots beside them.
func notBundleHelp(dir string, err error) error {
	var caps, snaps []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.Contains(name, ".pcap") || strings.HasSuffix(name, ".cap"):
			caps = append(caps, filepath.Join(dir, name))
		case strings.HasPrefix(name, "nstat") && (strings.Contains(name, "before") || strings.Contains(name, "after")):
			snaps = append(snaps, "--nstat "+filepath.Join(dir, name))
		}
	}
	if len(caps) == 0 {
		return fmt.Errorf("%w; it holds no capture file either: give a capture (pcap, pcapng, gzip) or a directory saved by synq live -w", err)
	}
	sort.Strings(snaps)
	slices.Reverse(snaps) // "before" ahead of "after"
	cmd := "synq analyze " + strings.Join(append(snaps, caps...), " ")
	return fmt.Errorf("%w; it holds %d capture file(s): analyse them, e.g.\n  %s", err, len(caps), cmd)
}

// applyBundle carries what a bundle holds besides its host evidence (which
// readHost took) into the report input: the queue and counter samples as
// taken, and the ring's drops.
func applyBundle(in *report.Input, b *bundle.Bundle) {
	in.Live = &report.LiveEvidence{Interface: b.Manifest.Interface, Queues: b.Queues, Counters: b.Counters, Ring: b.Manifest.Ring}
	if w := report.RingWarning(b.Manifest.Ring); w != "" {
		in.Capture.Warnings = append(in.Capture.Warnings, w)
	}
	for i := range in.Capture.Files {
		in.Capture.Files[i].Name = fmt.Sprintf("%s (bundle, %s)", in.Capture.Files[i].Name, b.Manifest.Interface)
	}
	if f := b.Manifest.Filter; f != "" && in.Capture.Filter == "" {
		// The live run's filter: its frames never reached the bundle.
		in.Capture.Filter, in.Capture.Filtered = f, b.Manifest.FilterLeftOut
		in.Capture.Packets += b.Manifest.FilterLeftOut
	}
}
