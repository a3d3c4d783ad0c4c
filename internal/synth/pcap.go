package synth

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/capture"
)

// WritePcap writes packets as Ethernet frames to a classic pcap file with
// nanosecond timestamps. Payload bytes are zeros of PayloadLen.
func WritePcap(w io.Writer, pkts []capture.Packet) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	for i := range pkts {
		frame, err := Frame(buf, &pkts[i])
		if err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, pkts[i].Time), CaptureLength: len(frame), Length: len(frame)}
		if err := pw.WritePacket(ci, frame); err != nil {
			return err
		}
	}
	return nil
}

// Frame serialises one packet as an Ethernet/IP/TCP frame into buf and
// returns its bytes (valid until buf is reused).
func Frame(buf gopacket.SerializeBuffer, p *capture.Packet) ([]byte, error) {
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()),
		Seq: p.Seq, Ack: p.Ack, Window: p.Window,
		FIN: p.Flags&capture.FlagFIN != 0, SYN: p.Flags&capture.FlagSYN != 0,
		RST: p.Flags&capture.FlagRST != 0, PSH: p.Flags&capture.FlagPSH != 0,
		ACK: p.Flags&capture.FlagACK != 0,
	}
	o := p.Opts
	if o.HasMSS {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
			OptionData: []byte{byte(o.MSS >> 8), byte(o.MSS)}})
	}
	if o.SACKPerm {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	}
	if o.HasTS {
		d := make([]byte, 8)
		for i := 0; i < 4; i++ {
			d[i] = byte(o.TSval >> (24 - 8*i))
			d[4+i] = byte(o.TSecr >> (24 - 8*i))
		}
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
	}
	if o.HasWScale {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{o.WScale}})
	}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}}
	var ip gopacket.NetworkLayer
	if p.Src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		ip = ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip.(gopacket.SerializableLayer), tcp,
		gopacket.Payload(make([]byte, p.PayloadLen))); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
