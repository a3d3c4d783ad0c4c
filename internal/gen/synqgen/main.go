// Command synqgen writes a large synthetic capture for benchmarks:
//
//	go run ./internal/gen/synqgen -packets 5000000 -o /tmp/big.pcap
//	go run ./internal/gen/synqgen -flood -packets 20000000 -o /tmp/flood.pcap
//	go run ./internal/gen/synqgen -rate 1 -packets 2400000 -rotate 1h -o /tmp/days
//	    (three days as hourly files /tmp/days-000.pcap ..., as tcpdump -G 3600 keeps them)
//
// The mix (85% normal connections with data and close, 8% unanswered SYNs
// with retransmissions, 5% ignored ACKs with SYN-ACK retransmissions, 2%
// refused; 20% IPv6; timestamps on every segment) is deterministic by
// -seed. Everything it writes is synthetic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/internal/gen"
)

func main() {
	cfg := gen.Defaults()
	out := flag.String("o", "", "output pcap file, or with -rotate the prefix of the files (required)")
	flag.IntVar(&cfg.Packets, "packets", cfg.Packets, "about how many packets to write")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "new connection attempts per second of capture time")
	flag.Float64Var(&cfg.IPv6Share, "ipv6", cfg.IPv6Share, "share of attempts over IPv6")
	flag.BoolVar(&cfg.Flood, "flood", false, "spoofed SYN flood: one distinct source per SYN, SYN-ACKs never acknowledged")
	flag.IntVar(&cfg.Snaplen, "snaplen", cfg.Snaplen, "snap length (0: whole frames)")
	flag.IntVar(&cfg.Listeners, "listeners", 1, "spread the attempts over this many listener ports (10000 up)")
	rotate := flag.Duration("rotate", 0, "start a new file every this much capture time: PREFIX-000.pcap, PREFIX-001.pcap, ... (the whole capture stays in PREFIX.whole.pcap)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "synqgen: -o FILE is required")
		os.Exit(2)
	}
	path := *out
	if *rotate > 0 {
		path = *out + ".whole.pcap"
	}
	n, err := write(path, cfg)
	if err == nil && *rotate > 0 {
		var files int
		files, err = split(path, *out, *rotate)
		if err == nil {
			fmt.Fprintf(os.Stderr, "synqgen: %d files %s-NNN.pcap (and the whole capture in %s)\n", files, *out, path)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "synqgen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "synqgen: wrote %d packets\n", n)
}

func write(path string, cfg gen.Config) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := gen.Write(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// split copies the capture at path into files of every span of capture
// time, named prefix-NNN.pcap.
func split(path, prefix string, every time.Duration) (int, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return 0, err
	}
	var (
		f     *os.File
		w     *pcapgo.Writer
		files int
		until time.Time
	)
	closeFile := func() error {
		if f == nil {
			return nil
		}
		return f.Close()
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			closeFile()
			return files, err
		}
		if w == nil || !ci.Timestamp.Before(until) {
			if err := closeFile(); err != nil {
				return files, err
			}
			if f, err = os.Create(fmt.Sprintf("%s-%03d.pcap", prefix, files)); err != nil {
				return files, err
			}
			files++
			w = pcapgo.NewWriter(f)
			if err := w.WriteFileHeader(r.Snaplen(), layers.LinkTypeEthernet); err != nil {
				return files, err
			}
			until = ci.Timestamp.Truncate(every).Add(every)
		}
		if err := w.WritePacket(ci, data); err != nil {
			return files, err
		}
	}
	return files, closeFile()
}
