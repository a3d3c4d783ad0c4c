// Command synqfloor measures the floor synq's speed is compared with (see
// package floor) on a capture file and prints its packets per second.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/synq/synq/internal/floor"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: synqfloor FILE.pcap")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "synqfloor:", err)
		os.Exit(1)
	}
	defer f.Close()
	start := time.Now()
	frames, flows, err := floor.Run(bufio.NewReaderSize(f, 1<<20))
	el := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synqfloor:", err)
		os.Exit(1)
	}
	fmt.Printf("frames=%d flows=%d seconds=%.3f pkts_per_s=%.0f\n", frames, flows, el.Seconds(), float64(frames)/el.Seconds())
}
