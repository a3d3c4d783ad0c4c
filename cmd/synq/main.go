// Command synq tells why connection attempts to a Linux server are being
// dropped, from a packet capture. Flags, IO and exit codes live here; the
// work is done by the capture, reassemble, analyze and report packages.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], systemStreams()))
}
