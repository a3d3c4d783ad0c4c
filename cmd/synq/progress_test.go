package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProgress: a bar on a terminal once the read is slow, with bytes read
// of the total (or a spinner on a pipe); nothing off a terminal, with
// --quiet, or for a read that ends before the delay.
func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tty, quiet   bool
		total        int64
		delay, after time.Duration
		want         string // the bytes read as shown; "": nothing at all
	}{
		{"terminal, slow read", true, false, 10 << 20, 5 * time.Millisecond, 400 * time.Millisecond, "(3.1/10 MB"},
		{"terminal, pipe", true, false, 0, 5 * time.Millisecond, 400 * time.Millisecond, "(3.1 MB"},
		{"terminal, quick read", true, false, 10 << 20, time.Hour, 50 * time.Millisecond, ""},
		{"quiet", true, true, 10 << 20, 5 * time.Millisecond, 400 * time.Millisecond, ""},
		{"not a terminal", false, false, 10 << 20, 5 * time.Millisecond, 400 * time.Millisecond, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut syncBuffer
			ios := &IOStreams{ErrOut: &errOut, stderrTTY: tc.tty}
			var read atomic.Int64
			read.Store(3 << 20)
			stop := startProgress(ios, tc.quiet, tc.delay, tc.total, read.Load)
			time.Sleep(tc.after)
			stop()
			got := errOut.String()
			if tc.want == "" && got != "" {
				t.Errorf("stderr %q, want nothing", got)
			}
			if tc.want != "" && (!strings.Contains(got, "reading") || !strings.Contains(got, tc.want)) {
				t.Errorf("stderr %q, want a bar with the bytes read, %q", got, tc.want)
			}
		})
	}
}
