package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Synthetic segments used across the decode tests.
var (
	syn4 = seg{src: netip.AddrPortFrom(cli4, 40000), dst: netip.AddrPortFrom(srv4, 443),
		flags: FlagSYN, seq: 1000, win: 64240, opts: synOpts(1460, 111, 0, 7)}
	synOpt4 = TCPOptions{MSS: 1460, HasMSS: true, SACKPerm: true, HasTS: true, TSval: 111, WScale: 7, HasWScale: true}

	synack6 = seg{src: netip.AddrPortFrom(srv6, 443), dst: netip.AddrPortFrom(cli6, 40001),
		flags: FlagSYN | FlagACK, seq: 5000, ack: 1001, win: 65160, opts: synOpts(1440, 222, 111, 0)}
	synackOpt6 = TCPOptions{MSS: 1440, HasMSS: true, SACKPerm: true, HasTS: true, TSval: 222, TSecr: 111, WScale: 0, HasWScale: true}

	data4 = seg{src: netip.AddrPortFrom(cli4, 40000), dst: netip.AddrPortFrom(srv4, 443),
		flags: FlagACK | FlagPSH, seq: 1001, ack: 5001, win: 502, opts: tsOpts(112, 222), payload: 517}
	dataOpt4 = TCPOptions{HasTS: true, TSval: 112, TSecr: 222}

	rst4 = seg{src: netip.AddrPortFrom(srv4, 443), dst: netip.AddrPortFrom(cli4, 40002),
		flags: FlagRST | FlagACK, seq: 0, ack: 77}
)

func udp4(tb testing.TB) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{192, 0, 2, 10}, DstIP: net.IP{198, 51, 100, 1}}
	u := &layers.UDP{SrcPort: 5353, DstPort: 53}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, u, gopacket.Payload("query"))
}

func arpFrame(tb testing.TB) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0x5e, 0, 0, 1}, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: []byte{0, 0, 0x5e, 0, 0, 1}, SourceProtAddress: []byte{192, 0, 2, 10},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 51, 100, 1}}
	return serialize(tb, eth, arp)
}

// fragment4 returns an IPv4 fragment of a TCP packet (first: offset 0 with
// MF; else offset 185*8 without MF).
func fragment4(tb testing.TB, first bool) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 0, 2, 10}, DstIP: net.IP{198, 51, 100, 1}, Id: 7}
	if first {
		ip.Flags = layers.IPv4MoreFragments
	} else {
		ip.FragOffset = 185
	}
	return serialize(tb, ip, gopacket.Payload(make([]byte, 200)))
}

type decodeCase struct {
	name string
	lt   layers.LinkType
	data []byte
	kind Kind
	want Packet // for KindTCP
}

func decodeCases(tb testing.TB) []decodeCase {
	const ts = 1_700_000_000_123_456_789
	s4, s6, d4 := syn4.ip(tb), synack6.ip(tb), data4.ip(tb)
	w4, w6, wd4 := syn4.want(ts, synOpt4), synack6.want(ts, synackOpt6), data4.want(ts, dataOpt4)

	// Snap length cuts (Ethernet + IPv4 + 20-byte TCP header + 8 bytes of
	// options: MSS, SACK-permitted and the first 2 bytes of timestamps).
	cutSyn := ether(0x0800, s4)[:14+20+20+8]
	wCutSyn := syn4.want(ts, TCPOptions{MSS: 1460, HasMSS: true, SACKPerm: true})
	wCutSyn.OptionsCut = true
	cutData := ether(0x0800, d4)[:14+20+20+4] // NOP NOP, timestamps cut
	wCutData := data4.want(ts, TCPOptions{})
	wCutData.OptionsCut = true
	cutPayload := ether(0x0800, d4)[:14+20+32+10] // options complete, payload cut
	cut6 := sll2(s6)[:20+40+20]                   // no options at all captured
	wCut6 := synack6.want(ts, TCPOptions{})
	wCut6.OptionsCut = true

	ext6 := withIPv6Ext(s6, [2]int{int(layers.IPProtocolIPv6HopByHop), 8}, [2]int{int(layers.IPProtocolIPv6Destination), 16})
	rt6 := withIPv6Ext(s6, [2]int{int(layers.IPProtocolIPv6Routing), 24}, [2]int{int(layers.IPProtocolIPv6Destination), 8})
	atomic6 := withIPv6Frag(s6, 0, false)
	// The same segment behind extension headers: the IP length counts them.
	withExt := func(p []byte) Packet { w := w6; w.IPLen = uint32(len(p)); return w }

	return []decodeCase{
		{"ethernet ipv4 syn", layers.LinkTypeEthernet, ether(0x0800, s4), KindTCP, w4},
		{"ethernet ipv6 synack", layers.LinkTypeEthernet, ether(0x86dd, s6), KindTCP, w6},
		{"ethernet ipv4 data", layers.LinkTypeEthernet, ether(0x0800, d4), KindTCP, wd4},
		{"ethernet ipv4 rst no options", layers.LinkTypeEthernet, ether(0x0800, rst4.ip(tb)), KindTCP, rst4.want(ts, TCPOptions{})},
		{"ethernet trailer padding", layers.LinkTypeEthernet, append(ether(0x0800, rst4.ip(tb)), 0, 0, 0, 0, 0, 0), KindTCP, rst4.want(ts, TCPOptions{})},
		{"802.1Q", layers.LinkTypeEthernet, ether(0x0800, s4, 0x8100), KindTCP, w4},
		{"QinQ 88a8+8100", layers.LinkTypeEthernet, ether(0x86dd, s6, 0x88a8, 0x8100), KindTCP, w6},
		{"three tags", layers.LinkTypeEthernet, ether(0x0800, s4, 0x88a8, 0x8100, 0x8100), KindTCP, w4},
		{"linux sll v4", layers.LinkTypeLinuxSLL, sll(s4), KindTCP, w4},
		{"linux sll v6", layers.LinkTypeLinuxSLL, sll(s6), KindTCP, w6},
		{"linux sll2 v4", layers.LinkTypeLinuxSLL2, sll2(s4), KindTCP, w4},
		{"linux sll2 v6", layers.LinkTypeLinuxSLL2, sll2(s6), KindTCP, w6},
		{"raw 101 v4", layers.LinkTypeRaw, s4, KindTCP, w4},
		{"raw 101 v6", layers.LinkTypeRaw, s6, KindTCP, w6},
		{"raw dlt 12", 12, s4, KindTCP, w4},
		{"raw dlt 14", 14, s6, KindTCP, w6},
		{"raw not ip", layers.LinkTypeRaw, []byte{0x10, 0, 0, 0}, KindNonTCP, Packet{}},
		{"ipv4 228", layers.LinkTypeIPv4, s4, KindTCP, w4},
		{"ipv6 229", layers.LinkTypeIPv6, s6, KindTCP, w6},
		{"null LE inet", layers.LinkTypeNull, loop(binary.LittleEndian, 2, s4), KindTCP, w4},
		{"null BE inet", layers.LinkTypeNull, loop(binary.BigEndian, 2, s4), KindTCP, w4},
		{"null LE inet6 24", layers.LinkTypeNull, loop(binary.LittleEndian, 24, s6), KindTCP, w6},
		{"null LE inet6 28", layers.LinkTypeNull, loop(binary.LittleEndian, 28, s6), KindTCP, w6},
		{"null BE inet6 30", layers.LinkTypeNull, loop(binary.BigEndian, 30, s6), KindTCP, w6},
		{"loop BE inet", layers.LinkTypeLoop, loop(binary.BigEndian, 2, s4), KindTCP, w4},
		{"loop BE inet6 30", layers.LinkTypeLoop, loop(binary.BigEndian, 30, s6), KindTCP, w6},
		{"ipv6 hop-by-hop + dstopts", layers.LinkTypeEthernet, ether(0x86dd, ext6), KindTCP, withExt(ext6)},
		{"ipv6 routing + dstopts", layers.LinkTypeRaw, rt6, KindTCP, withExt(rt6)},
		{"ipv6 atomic fragment", layers.LinkTypeRaw, atomic6, KindTCP, withExt(atomic6)},
		{"ipv6 first fragment", layers.LinkTypeRaw, withIPv6Frag(s6, 0, true), KindFragment, Packet{}},
		{"ipv6 later fragment", layers.LinkTypeEthernet, ether(0x86dd, withIPv6Frag(s6, 100, false)), KindFragment, Packet{}},
		{"ipv4 first fragment", layers.LinkTypeEthernet, ether(0x0800, fragment4(tb, true)), KindFragment, Packet{}},
		{"ipv4 later fragment", layers.LinkTypeRaw, fragment4(tb, false), KindFragment, Packet{}},
		{"udp", layers.LinkTypeEthernet, ether(0x0800, udp4(tb)), KindNonTCP, Packet{}},
		{"arp", layers.LinkTypeEthernet, arpFrame(tb), KindNonTCP, Packet{}},
		{"options cut: syn", layers.LinkTypeEthernet, cutSyn, KindTCP, wCutSyn},
		{"options cut: data", layers.LinkTypeEthernet, cutData, KindTCP, wCutData},
		{"options cut: sll2 v6 header only", layers.LinkTypeLinuxSLL2, cut6, KindTCP, wCut6},
		{"payload cut", layers.LinkTypeEthernet, cutPayload, KindTCP, wd4},
		{"cut in tcp ports", layers.LinkTypeEthernet, ether(0x0800, s4)[:14+20+6], KindTruncated, Packet{}},
		{"cut after ip header", layers.LinkTypeEthernet, ether(0x0800, s4)[:14+20], KindTruncated, Packet{}},
		{"cut in ip header", layers.LinkTypeEthernet, ether(0x0800, s4)[:14+12], KindTruncated, Packet{}},
		{"cut in ipv6 ext header", layers.LinkTypeRaw, ext6[:44], KindTruncated, Packet{}},
		{"empty raw", layers.LinkTypeRaw, nil, KindTruncated, Packet{}},
		{"unsupported link", 147, s4, KindUnsupportedLink, Packet{}},
	}
}

func TestDecode(t *testing.T) {
	const ts = 1_700_000_000_123_456_789
	d := NewDecoder()
	for _, c := range decodeCases(t) {
		t.Run(c.name, func(t *testing.T) { checkDecode(t, d, c.lt, c.data, ts, c.kind, c.want) })
	}
}

// checkDecode decodes data with d and wants kind and, for KindTCP, want.
func checkDecode(t *testing.T, d *Decoder, lt layers.LinkType, data []byte, ts int64, kind Kind, want Packet) {
	t.Helper()
	var got Packet
	k := d.Decode(lt, data, ts, &got)
	if k != kind {
		t.Fatalf("kind = %v, want %v", k, kind)
	}
	if k != KindTCP {
		return
	}
	if d := diff(want, got); d != "" {
		t.Errorf("packet mismatch (-want +got):\n%s", d)
	}
}

// TestDecodeIPLenChecksum checks the IP total length and, with
// VerifyChecksums, the TCP checksum verdict: good as gopacket computed
// it, bad with one byte changed, unknown when the segment was cut.
func TestDecodeIPLenChecksum(t *testing.T) {
	s4, s6, d4 := syn4.ip(t), synack6.ip(t), data4.ip(t)
	ext6 := withIPv6Ext(s6, [2]int{int(layers.IPProtocolIPv6HopByHop), 8}, [2]int{int(layers.IPProtocolIPv6Destination), 16})
	odd := data4
	odd.payload = 3 // an odd length: the last byte is padded
	o4 := odd.ip(t)
	corrupt := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[len(c)-i] ^= 0x40
		return c
	}
	cases := []struct {
		name   string
		lt     layers.LinkType
		data   []byte
		verify bool
		ipLen  int
		sum    ChecksumState
	}{
		{"v4 syn", layers.LinkTypeRaw, s4, true, len(s4), ChecksumGood},
		{"v4 syn not asked", layers.LinkTypeRaw, s4, false, len(s4), ChecksumUnknown},
		{"v6 synack", layers.LinkTypeRaw, s6, true, len(s6), ChecksumGood},
		{"v6 extension headers", layers.LinkTypeRaw, ext6, true, len(ext6), ChecksumGood},
		{"v4 data", layers.LinkTypeEthernet, ether(0x0800, d4), true, len(d4), ChecksumGood},
		{"v4 odd payload", layers.LinkTypeRaw, o4, true, len(o4), ChecksumGood},
		{"v4 odd payload, last byte changed", layers.LinkTypeRaw, corrupt(o4, 1), true, len(o4), ChecksumBad},
		{"v4 data, payload byte changed", layers.LinkTypeRaw, corrupt(d4, 7), true, len(d4), ChecksumBad},
		{"v6 synack, option byte changed", layers.LinkTypeRaw, corrupt(s6, 2), true, len(s6), ChecksumBad},
		{"ethernet trailer not summed", layers.LinkTypeEthernet, append(ether(0x0800, rst4.ip(t)), 1, 2, 3, 4, 5, 6), true, 40, ChecksumGood},
		{"payload cut", layers.LinkTypeEthernet, ether(0x0800, d4)[:14+20+32+10], true, len(d4), ChecksumUnknown},
		{"options cut", layers.LinkTypeEthernet, ether(0x0800, s4)[:14+20+20+8], true, len(s4), ChecksumUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			d.VerifyChecksums = c.verify
			var p Packet
			if k := d.Decode(c.lt, c.data, 1, &p); k != KindTCP {
				t.Fatalf("kind %v", k)
			}
			if int(p.IPLen) != c.ipLen || p.Checksum != c.sum {
				t.Errorf("IPLen %d checksum %d, want %d %d", p.IPLen, p.Checksum, c.ipLen, c.sum)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder()
	d.VerifyChecksums = true
	cases := decodeCases(t)
	var p Packet
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			d.Decode(c.lt, c.data, 1, &p)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocated %v times per run of %d frames, want 0", allocs, len(cases))
	}
}

func TestLinkTypeErrors(t *testing.T) {
	for _, c := range []struct {
		lt   layers.LinkType
		want string
	}{
		{147, "unsupported link type 147 (USER0)"},
		{162, "unsupported link type 162 (USER15)"},
		{220, "unsupported link type 220 (USB)"},
		{200, "unsupported link type 200 (UnknownLinkType)"},
	} {
		err := checkLinkType(c.lt)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrUnsupportedLinkType) {
			t.Errorf("checkLinkType(%d) = %v, want %q wrapping ErrUnsupportedLinkType", c.lt, err, c.want)
		}
	}
	for _, lt := range []layers.LinkType{0, 1, 9, 10, 12, 14, 101, 105, 108, 113, 117, 119, 127, 228, 229, 276} {
		if err := checkLinkType(lt); err != nil {
			t.Errorf("checkLinkType(%d) = %v, want nil", lt, err)
		}
	}
}

func TestFlagsString(t *testing.T) {
	for f, want := range map[TCPFlags]string{FlagSYN: "S", FlagSYN | FlagACK: "S.", FlagRST | FlagACK: "R.", 0: "none"} {
		if got := f.String(); got != want {
			t.Errorf("%08b.String() = %q, want %q", uint8(f), got, want)
		}
	}
}

// TestChecksumMatchesWordByWord checks the 64-bit checksum loop against
// the ones' complement sum taken 16 bits at a time (RFC 1071), on random
// segments of every length up to 200 bytes, IPv4 and IPv6, correct and
// with one byte changed.
func TestChecksumMatchesWordByWord(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	reference := func(src, dst netip.Addr, seg []byte) bool {
		var sum uint32
		add := func(b []byte) {
			for i := 0; i+1 < len(b); i += 2 {
				sum += uint32(b[i])<<8 | uint32(b[i+1])
			}
			if len(b)%2 == 1 {
				sum += uint32(b[len(b)-1]) << 8
			}
		}
		add(src.AsSlice())
		add(dst.AsSlice())
		sum += 6 + uint32(len(seg))
		add(seg)
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		return sum == 0xffff
	}
	for _, v6 := range []bool{false, true} {
		for n := 20; n <= 200; n++ {
			src, dst := netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), netip.AddrFrom4([4]byte{10, 0, 1, 2})
			if v6 {
				src, dst = netip.AddrFrom16([16]byte{0xfd, 15: byte(n)}), netip.AddrFrom16([16]byte{0xfd, 14: 1, 15: 2})
			}
			seg := make([]byte, n)
			for i := range seg {
				seg[i] = byte(rng.Uint32())
			}
			// Set the checksum field (bytes 16-17) so that the sum is right.
			seg[16], seg[17] = 0, 0
			var sum uint32
			for _, b := range [][]byte{src.AsSlice(), dst.AsSlice(), seg} {
				for i := 0; i < len(b); i += 2 {
					w := uint32(b[i]) << 8
					if i+1 < len(b) {
						w |= uint32(b[i+1])
					}
					sum += w
				}
			}
			sum += 6 + uint32(n)
			for sum > 0xffff {
				sum = sum>>16 + sum&0xffff
			}
			seg[16], seg[17] = byte(^sum>>8), byte(^sum)
			for _, flip := range []int{-1, rng.IntN(n)} {
				s := append([]byte(nil), seg...)
				if flip >= 0 {
					s[flip] ^= 0x5a
				}
				if got, want := tcpChecksumOK(src, dst, s), reference(src, dst, s); got != want || (flip < 0 && !got) {
					t.Errorf("v6 %v, %d bytes, byte %d changed: %v, want %v", v6, n, flip, got, want)
				}
			}
		}
	}
}
