package main

import (
	"fmt"
	"os"

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
	if err != nil {
		return nil, withCode(exitInput, err)
	}
	opts.Files = []string{b.CapturePath}
	return b, nil
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
}
