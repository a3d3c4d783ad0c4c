package capture

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/synq/synq/internal/tunnelwrap"
)

// Every frame in these tests is SYNTHETIC (gopacket's serializers), cut
// into fragments by hand as a sender's IP layer would.

// tcpFrame is an Ethernet frame with a TCP segment of n payload bytes
// from 10.0.0.1:40000 (or fd00::1) to 10.0.0.2:80 (fd00::2).
func tcpFrame(t *testing.T, v6 bool, n int) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 1, ACK: true, PSH: true, Window: 512}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}}
	var ip gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: []byte{0xfd, 15: 1}, DstIP: []byte{0xfd, 15: 2}}
		_ = tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Protocol: layers.IPProtocolTCP,
			SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(make([]byte, n))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// fragment cuts the IP packet of an Ethernet frame into fragments of at
// most chunk payload bytes (a multiple of 8), as Ethernet frames.
func fragment(frame []byte, chunk int) [][]byte {
	eth, ip := frame[:14], frame[14:]
	var out [][]byte
	if binary.BigEndian.Uint16(eth[12:]) == 0x0800 {
		hl := int(ip[0]&0x0f) * 4
		hdr, payload := ip[:hl], ip[hl:]
		for off := 0; off < len(payload); off += chunk {
			end := min(off+chunk, len(payload))
			f := append(append(append([]byte(nil), eth...), hdr...), payload[off:end]...)
			h := f[14:]
			binary.BigEndian.PutUint16(h[2:], uint16(hl+end-off))
			flags := uint16(off / 8)
			if end < len(payload) {
				flags |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:], flags)
			out = append(out, f)
		}
		return out
	}
	hdr, payload := ip[:40], ip[40:]
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f := append(append([]byte(nil), eth...), hdr...)
		h := f[14:]
		fh := []byte{hdr[6], 0, 0, 0, 0, 0, 0xab, 0xcd}
		m := uint16(off/8) << 3
		if end < len(payload) {
			m |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], m)
		h[6] = 44
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		out = append(out, append(append(f, fh...), payload[off:end]...))
	}
	return out
}

// TestReassembleFragments: a 3,000-byte segment over IPv4 and IPv6, cut
// into three fragments and delivered out of order, decodes as the one
// TCP segment once its last fragment is in, and not before.
func TestReassembleFragments(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		frags := fragment(tcpFrame(t, v6, 3000), 1232)
		if len(frags) != 3 {
			t.Fatalf("v6=%v: %d fragments", v6, len(frags))
		}
		d := NewDecoder()
		var p Packet
		order := []int{2, 0, 1}
		for i, j := range order {
			k := d.Decode(layers.LinkTypeEthernet, frags[j], int64(i), &p)
			if i < 2 && k != KindFragment {
				t.Fatalf("v6=%v: fragment %d alone decoded as %s", v6, j, k)
			}
			if i == 2 {
				if k != KindTCP || p.Src.Port() != 40000 || p.Dst.Port() != 80 || p.Seq != 1000 || p.PayloadLen != 3000 {
					t.Fatalf("v6=%v: reassembled: %s %+v", v6, k, p)
				}
			}
		}
		if d.frags.Reassembled != 1 || len(d.frags.bufs) != 0 || d.frags.bytes != 0 {
			t.Errorf("v6=%v: reassembled %d, %d waiting, %d bytes held", v6, d.frags.Reassembled, len(d.frags.bufs), d.frags.bytes)
		}
	}
}

// TestFragmentsExpireAndStayBounded: a datagram whose last fragment comes
// after FragTimeout is dropped, and a flood of first fragments never holds
// more than fragMaxDatagrams.
func TestFragmentsExpireAndStayBounded(t *testing.T) {
	frags := fragment(tcpFrame(t, false, 3000), 1480)
	d := NewDecoder()
	var p Packet
	d.Decode(layers.LinkTypeEthernet, frags[0], 0, &p)
	d.Decode(layers.LinkTypeEthernet, frags[1], 0, &p)
	if k := d.Decode(layers.LinkTypeEthernet, frags[2], FragTimeout+1, &p); k != KindFragment || d.frags.Dropped != 1 {
		t.Errorf("late last fragment: %s, dropped %d", k, d.frags.Dropped)
	}
	d = NewDecoder()
	for i := range 3 * fragMaxDatagrams {
		f := append([]byte(nil), frags[0]...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(i)) // a new IP ID each
		d.Decode(layers.LinkTypeEthernet, f, int64(i), &p)
		if len(d.frags.bufs) > fragMaxDatagrams {
			t.Fatalf("%d datagrams waiting", len(d.frags.bufs))
		}
	}
	if d.frags.bytes > fragMaxBytes {
		t.Errorf("%d bytes held", d.frags.bytes)
	}
}

// TestReassembleTunnelUnderlay: a full-size inner frame in VXLAN over a
// 1500-byte underlay is sent as two outer IP fragments; reassembled, the
// TCP inside is decoded with its tunnel.
func TestReassembleTunnelUnderlay(t *testing.T) {
	outer, err := tunnelwrap.Wrap(tunnelwrap.VXLAN, tcpFrame(t, false, 1450), true)
	if err != nil {
		t.Fatal(err)
	}
	frags := fragment(outer, 1472)
	if len(frags) != 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	d := NewDecoder()
	var p Packet
	if k := d.Decode(layers.LinkTypeEthernet, frags[0], 0, &p); k != KindFragment {
		t.Fatalf("first: %s", k)
	}
	k := d.Decode(layers.LinkTypeEthernet, frags[1], 1, &p)
	if tun, _ := d.Tunnel(); k != KindTCP || p.PayloadLen != 1450 || tun.Kind != TunnelVXLAN {
		t.Errorf("reassembled: %s, payload %d, tunnel %v", k, p.PayloadLen, tun)
	}
}

func TestAddRange(t *testing.T) {
	var rs []fragRange
	for _, r := range []fragRange{{16, 24}, {0, 8}, {40, 48}, {8, 16}, {24, 40}} {
		rs = addRange(rs, r)
	}
	if len(rs) != 1 || rs[0] != (fragRange{0, 48}) {
		t.Errorf("got %v, want [{0 48}]", rs)
	}
	rs = addRange([]fragRange{{0, 8}, {32, 40}}, fragRange{16, 24})
	if len(rs) != 3 || rs[1] != (fragRange{16, 24}) {
		t.Errorf("got %v", rs)
	}
}

// FuzzFragments feeds a Decoder IPv4 and IPv6 fragments of one datagram
// with offsets, lengths and MF flags from the input, in any order, twice
// over and with duplicates: it must never panic, and never hold more than
// its bounds.
func FuzzFragments(f *testing.F) {
	f.Add([]byte{0, 0, 10, 1, 1, 20, 2, 0, 5}, false)
	f.Add([]byte{0, 1, 200, 0, 0, 200, 255, 0, 255}, true)
	f.Fuzz(func(t *testing.T, plan []byte, v6 bool) {
		base := fragment(tcpFrame(t, v6, 64), 64)[0] // a valid first fragment to edit
		d := NewDecoder()
		var p Packet
		hdr := 14 + 20
		if v6 {
			hdr = 14 + 40 + 8
		}
		for i := 0; i+2 < len(plan); i += 3 {
			off, more, n := int(plan[i])*8, plan[i+1]&1 == 1, int(plan[i+2])
			fr := append(append([]byte(nil), base[:hdr]...), make([]byte, n)...)
			ip := fr[14:]
			if v6 {
				binary.BigEndian.PutUint16(ip[4:], uint16(8+n))
				m := uint16(off/8) << 3
				if more {
					m |= 1
				}
				binary.BigEndian.PutUint16(ip[40+2:], m)
			} else {
				binary.BigEndian.PutUint16(ip[2:], uint16(20+n))
				fl := uint16(off / 8)
				if more {
					fl |= 0x2000
				}
				binary.BigEndian.PutUint16(ip[6:], fl)
			}
			d.Decode(layers.LinkTypeEthernet, fr, int64(i), &p)
			if len(d.frags.bufs) > fragMaxDatagrams || d.frags.bytes > fragMaxBytes || d.frags.bytes < 0 {
				t.Fatalf("%d datagrams, %d bytes held", len(d.frags.bufs), d.frags.bytes)
			}
		}
	})
}
