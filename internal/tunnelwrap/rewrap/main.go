// Command rewrap makes the SYNTHETIC tunnel captures in testdata: it reads
// a real capture (Ethernet, untagged), and writes each TCP connection's
// frames wrapped in one of the given encapsulations, round-robin in order
// of each connection's first frame, with the original timestamps. Frames
// keep their snap-length cuts; the outer headers' lengths describe the
// captured bytes.
//
//	go run ./internal/tunnelwrap/rewrap -in testdata/ipv6/capture.pcap \
//	    -out testdata/synthetic-tunnels-ipv6/capture.pcap -kinds teredo,ipip,...
//
// The client side of a connection is the one with the higher TCP port
// (the lab's servers listen on 8080 and 8081, clients use ephemeral ports).
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synq/synq/internal/tunnelwrap"
)

func main() {
	in := flag.String("in", "", "input pcap (Ethernet)")
	out := flag.String("out", "", "output pcap")
	kinds := flag.String("kinds", "", "comma-separated kinds: "+fmt.Sprint(tunnelwrap.Kinds()))
	flag.Parse()
	if err := run(*in, *out, strings.Split(*kinds, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "rewrap:", err)
		os.Exit(1)
	}
}

func run(in, out string, kinds []string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("%s: link type %v, want Ethernet", in, r.LinkType())
	}
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	defer o.Close()
	w := pcapgo.NewWriterNanos(o)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	conns := map[string]tunnelwrap.Kind{}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		key, fromClient, ok := flow(data)
		if !ok {
			return fmt.Errorf("%s: a frame that is not TCP over IPv4/IPv6 on untagged Ethernet", in)
		}
		k, seen := conns[key]
		if !seen {
			k = tunnelwrap.Kind(kinds[len(conns)%len(kinds)])
			conns[key] = k
		}
		wrapped, err := tunnelwrap.Wrap(k, data, fromClient)
		if err != nil {
			return err
		}
		ci.CaptureLength, ci.Length = len(wrapped), len(wrapped)+ci.Length-len(data)
		if err := w.WritePacket(ci, wrapped); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "rewrap: %d connections\n", len(conns))
	return nil
}

// flow returns a direction-independent key of the frame's TCP connection
// and whether it goes from the client (the higher port).
func flow(b []byte) (string, bool, bool) {
	if len(b) < 14 {
		return "", false, false
	}
	var addrs []byte
	var l4 []byte
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0800:
		ip := b[14:]
		if len(ip) < 20 || ip[9] != 6 {
			return "", false, false
		}
		addrs, l4 = ip[12:20], ip[int(ip[0]&0xf)*4:]
	case 0x86dd:
		ip := b[14:]
		if len(ip) < 40 || ip[6] != 6 {
			return "", false, false
		}
		addrs, l4 = ip[8:40], ip[40:]
	default:
		return "", false, false
	}
	if len(l4) < 4 {
		return "", false, false
	}
	sp, dp := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	half := len(addrs) / 2
	a, bb := string(addrs[:half]), string(addrs[half:])
	fromClient := sp > dp
	if !fromClient {
		a, bb, sp, dp = bb, a, dp, sp
	}
	return fmt.Sprintf("%x:%d-%x:%d", a, sp, bb, dp), fromClient, true
}
