package capture

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The differential test: every frame of every capture in ../testdata is
// decoded by the Decoder and by an oracle built on gopacket's full,
// allocating decoder (gopacket.NewPacket with every layer it knows), and
// the two Packets must agree field by field, tunnel included.

// oracle decodes one frame with gopacket.NewPacket. It returns ok=false
// for a frame without TCP, and skip with a reason for a frame gopacket
// cannot decode the way routers and synq do.
func oracle(lt layers.LinkType, data []byte, vxlanPorts []uint16) (p Packet, ok bool, skip string) {
	var first gopacket.Decoder = lt
	switch lt {
	case layers.LinkTypeRaw, linkTypeRaw12, linkTypeRaw14:
		if len(data) == 0 {
			return p, false, ""
		}
		first = layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	ls := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true}).Layers()

	// gopacket maps only UDP 4789 to VXLAN: decode other VXLAN ports'
	// payloads ourselves.
	for i := 0; i < len(ls); i++ {
		u, isUDP := ls[i].(*layers.UDP)
		if !isUDP {
			continue
		}
		for _, port := range vxlanPorts {
			if uint16(u.DstPort) == port {
				ls = append(ls[:i+1:i+1], gopacket.NewPacket(u.Payload, layers.LayerTypeVXLAN, gopacket.DecodeOptions{NoCopy: true}).Layers()...)
			}
		}
		if u.DstPort == portTeredo || u.SrcPort == portTeredo {
			return p, false, "teredo: gopacket has no Teredo layer"
		}
	}

	var (
		tun   Tunnel
		outer netip.Addr
		dst   netip.Addr
		tcp   *layers.TCP
		ip    gopacket.Layer
	)
	record := func(k TunnelKind, id uint32, hasID bool) {
		tun.Kind, tun.ID, tun.HasID = k, id, hasID
		tun.Kinds |= 1 << k
		tun.Depth++
		if outer.IsValid() {
			tun.Src, tun.Dst = outer, dst
		}
	}
	for i, l := range ls {
		var next gopacket.Layer
		if i+1 < len(ls) {
			next = ls[i+1]
		}
		switch l := l.(type) {
		case *layers.IPv4:
			if next != nil && (next.LayerType() == layers.LayerTypeIPv4 || next.LayerType() == layers.LayerTypeIPv6) {
				outer, dst = netip.AddrFrom4([4]byte(l.SrcIP.To4())), netip.AddrFrom4([4]byte(l.DstIP.To4()))
				record(TunnelIPIP, 0, false)
				continue
			}
			if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
				return p, false, ""
			}
			ip = l
			outer, dst = netip.AddrFrom4([4]byte(l.SrcIP.To4())), netip.AddrFrom4([4]byte(l.DstIP.To4()))
		case *layers.IPv6:
			if next != nil && (next.LayerType() == layers.LayerTypeIPv4 || next.LayerType() == layers.LayerTypeIPv6) {
				outer, dst = netip.AddrFrom16([16]byte(l.SrcIP)), netip.AddrFrom16([16]byte(l.DstIP))
				record(TunnelIPIP, 0, false)
				continue
			}
			if l.Length == 0 {
				return p, false, "IPv6 jumbogram"
			}
			ip = l
			outer, dst = netip.AddrFrom16([16]byte(l.SrcIP)), netip.AddrFrom16([16]byte(l.DstIP))
		case *layers.IPv6Fragment:
			return p, false, ""
		case *layers.VXLAN:
			record(TunnelVXLAN, l.VNI, true)
		case *layers.Geneve:
			record(TunnelGeneve, l.VNI, true)
		case *layers.GTPv1U:
			record(TunnelGTPU, l.TEID, true)
		case *layers.PPPoE:
			record(TunnelPPPoE, uint32(l.SessionId), true)
		case *layers.MPLS:
			if l.StackBottom {
				if len(l.Payload) > 0 && l.Payload[0]>>4 == 0 {
					return p, false, "MPLS pseudowire control word: gopacket reads it as Ethernet"
				}
				record(TunnelMPLS, l.Label, true)
			}
		case *layers.GRE:
			switch uint16(l.Protocol) {
			case etherTypeERSPAN3:
				return p, false, "ERSPAN type III: gopacket has no layer for it"
			case etherTypeERSPAN2:
				if e, isE := next.(*layers.ERSPANII); isE {
					record(TunnelERSPAN, uint32(e.SessionID), true)
				}
			default:
				record(TunnelGRE, l.Key, l.KeyPresent)
			}
		case *layers.TCP:
			tcp = l
		}
		if tcp != nil {
			break
		}
	}
	if tcp == nil || ip == nil {
		return p, false, ""
	}

	var ipHdrAndPayload, ipTotal int
	switch l := ip.(type) {
	case *layers.IPv4:
		p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(l.SrcIP.To4())), uint16(tcp.SrcPort))
		p.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(l.DstIP.To4())), uint16(tcp.DstPort))
		ipTotal = int(l.Length)
		ipHdrAndPayload = len(l.Contents) + len(l.Payload)
	case *layers.IPv6:
		p.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(l.SrcIP)), uint16(tcp.SrcPort))
		p.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(l.DstIP)), uint16(tcp.DstPort))
		ipTotal = 40 + int(l.Length)
		ipHdrAndPayload = len(l.Contents) + len(l.Payload)
	}
	hdr := int(tcp.DataOffset) * 4
	// TCP starts this far into the IP header: IP header + extensions.
	tcpOff := ipHdrAndPayload - (len(tcp.Contents) + len(tcp.Payload))
	if n := ipTotal - tcpOff - hdr; n > 0 {
		p.PayloadLen = uint32(n)
	}
	if ipTotal > 0 {
		p.IPLen = uint32(ipTotal)
	}
	p.Seq, p.Ack, p.Window = tcp.Seq, tcp.Ack, tcp.Window
	for _, f := range []struct {
		on   bool
		flag TCPFlags
	}{{tcp.FIN, FlagFIN}, {tcp.SYN, FlagSYN}, {tcp.RST, FlagRST}, {tcp.PSH, FlagPSH}, {tcp.ACK, FlagACK}, {tcp.URG, FlagURG}, {tcp.ECE, FlagECE}, {tcp.CWR, FlagCWR}} {
		if f.on {
			p.Flags |= f.flag
		}
	}
	for _, o := range tcp.Options {
		switch {
		case o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2:
			p.Opts.MSS, p.Opts.HasMSS = uint16(o.OptionData[0])<<8|uint16(o.OptionData[1]), true
		case o.OptionType == layers.TCPOptionKindWindowScale && len(o.OptionData) == 1:
			p.Opts.WScale, p.Opts.HasWScale = o.OptionData[0], true
		case o.OptionType == layers.TCPOptionKindSACKPermitted:
			p.Opts.SACKPerm = true
		case o.OptionType == layers.TCPOptionKindTimestamps && len(o.OptionData) == 8:
			d := o.OptionData
			p.Opts.TSval = uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])
			p.Opts.TSecr = uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])
			p.Opts.HasTS = true
		}
	}
	p.Tunnel = tun
	return p, true, ""
}

// readFrames reads every frame of a pcap or pcapng file with pcapgo.
func readFrames(t *testing.T, path string) (lts []layers.LinkType, frames [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var r src
	var lt func(ci gopacket.CaptureInfo) layers.LinkType
	if ng, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions); err == nil {
		r = ng
		lt = func(ci gopacket.CaptureInfo) layers.LinkType {
			ifc, err := ng.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			return ifc.LinkType
		}
	} else {
		pr, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r, lt = pr, func(gopacket.CaptureInfo) layers.LinkType { return pr.LinkType() }
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return lts, frames
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lts = append(lts, lt(ci))
		frames = append(frames, bytes.Clone(data))
	}
}

func TestDecodeMatchesGopacket(t *testing.T) {
	names, _ := filepath.Glob("../testdata/*/capture.pcap*")
	inner, _ := filepath.Glob("../testdata/*/inner.pcap")
	names = append(names, inner...)
	if len(names) < 20 {
		t.Fatalf("only %d captures in ../testdata", len(names))
	}
	vxlanPorts := []uint16{8472}
	d := NewDecoder()
	d.SetVXLANPorts(vxlanPorts)
	compared, tunnelled := 0, 0
	skipped := map[string]int{}
	for _, name := range names {
		lts, frames := readFrames(t, name)
		for i, data := range frames {
			var got Packet
			kind := d.Decode(lts[i], data, 0, &got)
			want, ok, skip := oracle(lts[i], data, vxlanPorts)
			if skip != "" {
				skipped[skip]++
				continue
			}
			if ok != (kind == KindTCP) {
				t.Errorf("%s frame %d: Decoder says %v, gopacket finds TCP: %v", name, i+1, kind, ok)
				continue
			}
			if !ok {
				continue
			}
			compared++
			if !got.Tunnel.IsZero() {
				tunnelled++
			}
			if got.OptionsCut {
				want.OptionsCut = true // gopacket refuses such headers; none in testdata
			}
			if d := diff(want, got); d != "" {
				t.Errorf("%s frame %d (-gopacket +Decoder):\n%s", name, i+1, d)
			}
		}
	}
	t.Logf("compared %d TCP packets (%d tunnelled); skipped %v", compared, tunnelled, skipped)
	if compared < 1000 || tunnelled < 200 {
		t.Errorf("compared only %d packets, %d tunnelled", compared, tunnelled)
	}
}
