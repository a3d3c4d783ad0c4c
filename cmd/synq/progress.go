package main

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressMinBytes: reads smaller than this finish before a bar helps.
const progressMinBytes = 64 << 20

// startProgress shows a progress bar on stderr while a long capture is read,
// only when stderr is a terminal. progressbar (schollz/progressbar) is used
// rather than hand-drawn escapes: it handles terminal width, throttling,
// rates and ETA, and is widely used and maintained. The returned stop
// function clears the bar.
func startProgress(ios *IOStreams, total int64, done func() int64) (stop func()) {
	if !ios.IsStderrTTY() || total < progressMinBytes {
		return func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(ios.ErrOut),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionEnableColorCodes(false),
		progressbar.OptionUseANSICodes(ios.ColorEnabled()),
	)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				_ = bar.Set64(done())
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		_ = bar.Clear()
	}
}
