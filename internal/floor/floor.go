// Package floor is the yardstick synq's speed is measured against: what a
// capture costs with gopacket alone, read with pcapgo's zero-copy reader,
// decoded with a DecodingLayerParser (Ethernet, IPv4, IPv6, TCP) and looked
// up once per packet in a Go map keyed by 4-tuple (a fixed-size array key
// and a 40-byte value), single core. synq does far more per packet; the
// benchmarks and scripts/bench.sh report its rate as a ratio to this one,
// measured in the same run, because absolute rates drift on shared machines.
package floor

import (
	"errors"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type key [36]byte

type value struct {
	packets, bytes uint64
	first, last    int64
	flags          uint64
}

// Run reads the classic pcap in r to the end and returns how many frames
// it read and how many distinct 4-tuples it saw.
func Run(r io.Reader) (frames, flows int, err error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return 0, 0, err
	}
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	m := make(map[key]value)
	for {
		data, ci, err := pr.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, len(m), nil
		}
		if err != nil {
			return frames, len(m), err
		}
		frames++
		_ = parser.DecodeLayers(data, &decoded)
		var k key
		isTCP := false
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				copy(k[0:16], ip4.SrcIP.To16())
				copy(k[16:32], ip4.DstIP.To16())
			case layers.LayerTypeIPv6:
				copy(k[0:16], ip6.SrcIP)
				copy(k[16:32], ip6.DstIP)
			case layers.LayerTypeTCP:
				isTCP = true
			}
		}
		if !isTCP {
			continue
		}
		k[32], k[33] = byte(tcp.SrcPort>>8), byte(tcp.SrcPort)
		k[34], k[35] = byte(tcp.DstPort>>8), byte(tcp.DstPort)
		v := m[k]
		if v.packets == 0 {
			v.first = ci.Timestamp.UnixNano()
		}
		v.packets++
		v.bytes += uint64(ci.Length)
		v.last = ci.Timestamp.UnixNano()
		v.flags |= uint64(ci.CaptureLength) // all 40 bytes in use, as the floor
		m[k] = v
	}
}
