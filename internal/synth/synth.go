// Package synth builds synthetic TCP packet sequences for tests: edge cases
// that are easier to state as a script than to provoke from a real kernel.
// Everything it makes is labelled synthetic by construction.
package synth

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/synq/synq/capture"
)

// Default endpoints of a script.
var (
	Client = netip.MustParseAddrPort("10.0.0.1:40000")
	Server = netip.MustParseAddrPort("10.0.0.2:80")
)

// Base is the capture time of a script's t=0 (so that no time is zero).
const Base = int64(1_700_000_000) * int64(time.Second)

// Script parses one packet per line:
//
//	<seconds> <c|s> <flags> [seq=N] [ack=N] [len=N] [ts=VAL/ECR] [win=N] [sum=bad|good] [from=ADDR:PORT]
//
// c is client to server, s server to client; flags use tcpdump letters
// S F R P and '.' for ACK (e.g. "S", "S.", ".", "P.", "R.", "F."). The
// sequence numbers default to a consistent handshake: client ISN 1000,
// server ISN 5000. The window defaults to 64240; sum= sets the checksum
// verdict (default unknown). from= overrides the client endpoint (for
// several clients in one script). IPLen is that of an IP packet without
// options. Blank lines and # comments are skipped.
func Script(s string) ([]capture.Packet, error) {
	var out []capture.Packet
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		p, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n+1, line, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// MustScript is Script for tests: it panics on a malformed script.
func MustScript(s string) []capture.Packet {
	p, err := Script(s)
	if err != nil {
		panic(err)
	}
	return p
}

func parseLine(line string) (capture.Packet, error) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return capture.Packet{}, fmt.Errorf("want <seconds> <c|s> <flags>")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return capture.Packet{}, err
	}
	p := capture.Packet{Time: Base + int64(math.Round(secs*float64(time.Second))), Window: 64240}
	for _, c := range f[2] {
		switch c {
		case 'S':
			p.Flags |= capture.FlagSYN
		case 'F':
			p.Flags |= capture.FlagFIN
		case 'R':
			p.Flags |= capture.FlagRST
		case 'P':
			p.Flags |= capture.FlagPSH
		case '.':
			p.Flags |= capture.FlagACK
		default:
			return p, fmt.Errorf("unknown flag %q", c)
		}
	}
	client := Client
	fromClient := f[1] == "c"
	if !fromClient && f[1] != "s" {
		return p, fmt.Errorf("direction %q: want c or s", f[1])
	}
	// Defaults: a handshake with client ISN 1000 and server ISN 5000.
	if fromClient {
		p.Seq, p.Ack = 1001, 5001
		if p.Flags&capture.FlagSYN != 0 {
			p.Seq, p.Ack = 1000, 0
		}
	} else {
		p.Seq, p.Ack = 5001, 1001
		if p.Flags&capture.FlagSYN != 0 {
			p.Seq = 5000
		}
	}
	if p.Flags&capture.FlagACK == 0 {
		p.Ack = 0
	}
	for _, kv := range f[3:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("%q: want key=value", kv)
		}
		switch k {
		case "from":
			client, err = netip.ParseAddrPort(v)
		case "sum":
			switch v {
			case "bad":
				p.Checksum = capture.ChecksumBad
			case "good":
				p.Checksum = capture.ChecksumGood
			default:
				err = fmt.Errorf("sum=%s: want bad or good", v)
			}
		case "ts":
			val, ecr, _ := strings.Cut(v, "/")
			var a, b uint64
			a, err = strconv.ParseUint(val, 10, 32)
			if err == nil && ecr != "" {
				b, err = strconv.ParseUint(ecr, 10, 32)
			}
			p.Opts.HasTS, p.Opts.TSval, p.Opts.TSecr = true, uint32(a), uint32(b)
		default:
			var n uint64
			n, err = strconv.ParseUint(v, 10, 32)
			switch k {
			case "seq":
				p.Seq = uint32(n)
			case "ack":
				p.Ack = uint32(n)
			case "len":
				p.PayloadLen = uint32(n)
			case "win":
				p.Window = uint16(n)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
		}
		if err != nil {
			return p, err
		}
	}
	if fromClient {
		p.Src, p.Dst = client, Server
	} else {
		p.Src, p.Dst = Server, client
	}
	p.IPLen = 20 + 20 + p.PayloadLen
	if p.Src.Addr().Is6() {
		p.IPLen += 20
	}
	if p.Opts.HasTS {
		p.IPLen += 12
	}
	return p, nil
}
