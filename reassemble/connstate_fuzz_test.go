package reassemble

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/synq/synq/capture"
)

// FuzzConnState feeds arbitrary segments of one connection to Zeek's state
// machine (ConnState.add) and checks what must hold whatever the order,
// flags and sequence numbers: no panic, a bounded history, and holes that
// stay in order, apart and below the highest sequence number sent.
//
//	go test ./reassemble -run XXX -fuzz FuzzConnState -fuzztime 1m
//
// Each 9 bytes of input are one segment: direction and flags, a 32-bit
// sequence number step, a payload length, and an acknowledgement step.
func FuzzConnState(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x92, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0, 0, 0, 1, 100, 0, 0, 0, 0x12, 0, 0, 1, 0, 100, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0, 0, 2})
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	server := netip.MustParseAddrPort("10.0.0.2:80")
	f.Fuzz(func(t *testing.T, data []byte) {
		var c ConnState
		seq := [2]uint32{1000, 5000}
		for i := 0; i+9 <= len(data); i += 9 {
			b := data[i : i+9]
			dir := int(b[0] >> 7)
			p := capture.Packet{Time: int64(i) * 1000, Flags: capture.TCPFlags(b[0] & 0x3f), Window: 1000, IPLen: 40}
			seq[dir] += binary.BigEndian.Uint32(b[1:5])
			p.Seq = seq[dir]
			p.PayloadLen = uint32(binary.BigEndian.Uint16(b[5:7]))
			p.Ack = seq[1-dir] + uint32(binary.BigEndian.Uint16(b[7:9]))
			p.Src, p.Dst = client, server
			if dir == 1 {
				p.Src, p.Dst = server, client
			}
			c.add(&p, dir == 0)
			for e := range c.ends {
				end := &c.ends[e]
				prev := uint64(0)
				for _, h := range end.holes {
					if h.to == 0 {
						continue
					}
					if h.from >= h.to || h.from < prev || h.to > end.last {
						t.Fatalf("segment %d: end %d holes %+v, last %d", i/9, e, end.holes, end.last)
					}
					prev = h.to
				}
			}
			if len(c.History()) > MaxHistory {
				t.Fatalf("history %q longer than %d", c.History(), MaxHistory)
			}
		}
	})
}
