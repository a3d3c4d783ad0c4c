package main

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressDelay: a read that ends sooner never shows a bar (most captures
// are read in well under a second).
const progressDelay = time.Second

// startProgress shows a progress bar on stderr while a long capture is read:
// only when stderr is a terminal, not with --quiet, and only once the read
// has taken longer than delay. With the total size known (regular files)
// it shows bytes read of the total, a rate and the time left; reading a
// pipe, a spinner with the bytes read. progressbar (schollz/progressbar) is
// used rather than hand-drawn escapes: it handles terminal width,
// throttling, rates and ETA, and is widely used and maintained. The
// returned stop function clears the bar.
func startProgress(ios *IOStreams, quiet bool, delay time.Duration, total int64, done func() int64) (stop func()) {
	if quiet || !ios.IsStderrTTY() {
		return func() {}
	}
	// The bar is made now, so that its rate and time left count from the
	// start of the read, but draws only once the read has been slow.
	max := total
	if max <= 0 {
		max = -1 // unknown size: a spinner
	}
	bar := progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(ios.ErrOut),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(max > 0),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionEnableColorCodes(false),
		progressbar.OptionUseANSICodes(ios.ColorEnabled()),
	)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-quit:
			return
		case <-time.After(delay):
		}
		defer func() { _ = bar.Clear() }()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = bar.Set64(done())
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
