// Command synqgen writes a large synthetic capture for benchmarks:
//
//	go run ./internal/gen/synqgen -packets 5000000 -o /tmp/big.pcap
//	go run ./internal/gen/synqgen -flood -packets 20000000 -o /tmp/flood.pcap
//
// The mix (85% normal connections with data and close, 8% unanswered SYNs
// with retransmissions, 5% ignored ACKs with SYN-ACK retransmissions, 2%
// refused; 20% IPv6; timestamps on every segment) is deterministic by
// -seed. Everything it writes is synthetic.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/synq/synq/internal/gen"
)

func main() {
	cfg := gen.Defaults()
	out := flag.String("o", "", "output pcap file (required)")
	flag.IntVar(&cfg.Packets, "packets", cfg.Packets, "about how many packets to write")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "new connection attempts per second of capture time")
	flag.Float64Var(&cfg.IPv6Share, "ipv6", cfg.IPv6Share, "share of attempts over IPv6")
	flag.BoolVar(&cfg.Flood, "flood", false, "spoofed SYN flood: one distinct source per SYN, SYN-ACKs never acknowledged")
	flag.IntVar(&cfg.Snaplen, "snaplen", cfg.Snaplen, "snap length (0: whole frames)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "synqgen: -o FILE is required")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synqgen:", err)
		os.Exit(1)
	}
	n, err := gen.Write(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "synqgen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "synqgen: wrote %d packets to %s\n", n, *out)
}
