// Command synq tells why connection attempts to a Linux server are being
// dropped, from a packet capture. Flags, IO and exit codes live here; the
// work is done by the capture, reassemble, analyze and report packages.
package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// What synq holds for long (attempt slots, the flow index, per-address
// tables) is pointer-free, so a collection costs little whatever the heap
// holds, and the default 100 (the heap grows to twice what is live
// before one) only adds memory: with 25, alternating runs with the same
// binary (scripts/bench.sh captures) took the same CPU time or less and
// peaked at 67 MB instead of 72-80 on the dense mix, 45 instead of 56-62
// on three days of rotated files, 176 instead of 232 over 1,000
// listeners, 1.30 GB instead of 1.37 on the 22M-packet flood; 10 cost
// 10-15% more CPU for a few MB.
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], systemStreams()))
}
