package capture

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// SYNTHETIC frames on the link types beyond Ethernet and Linux cooked:
// 802.11 data frames (with and without radiotap), and the ones only
// gopacket's general decoder reads (PPP, FDDI).

// dot11 wraps an IP packet in an 802.11 data frame with LLC/SNAP. fc and
// flags are the frame control bytes (0x08 data, 0x88 QoS data; flags 0x01
// to DS, 0x03 both, 0x40 protected).
func dot11(fc, flags byte, p []byte) []byte {
	h := []byte{fc, flags, 0, 0}
	for i := range 3 {
		h = append(h, 2, 0, 0, 0, 0, byte(i))
	}
	h = append(h, 0x10, 0) // sequence
	if flags&0x03 == 0x03 {
		h = append(h, 2, 0, 0, 0, 0, 9)
	}
	if fc&0x80 != 0 {
		h = append(h, 0, 0)
		if flags&0x80 != 0 {
			h = append(h, 0, 0, 0, 0)
		}
	}
	h = append(h, 0xaa, 0xaa, 0x03, 0, 0, 0)
	h = binary.BigEndian.AppendUint16(h, etherTypeOf(p))
	return append(h, p...)
}

func radiotap(p []byte) []byte {
	return append([]byte{0, 0, 12, 0, 0x02, 0, 0, 0, 0x10, 0, 0, 0}, p...) // flags field: FCS at end
}

func TestDecodeLinkTypes(t *testing.T) {
	const ts = 1_700_000_000_123_456_789
	s4, s6 := syn4.ip(t), synack6.ip(t)
	w4, w6 := syn4.want(ts, synOpt4), synack6.want(ts, synackOpt6)
	ppp := func(proto uint16, p []byte) []byte {
		return append(binary.BigEndian.AppendUint16([]byte{0xff, 0x03}, proto), p...)
	}
	fddi := func(p []byte) []byte {
		h := append([]byte{0x50}, make([]byte, 12)...)
		h = append(h, 0xaa, 0xaa, 0x03, 0, 0, 0)
		return append(binary.BigEndian.AppendUint16(h, etherTypeOf(p)), p...)
	}
	for _, c := range []decodeCase{
		{"802.11 data", layers.LinkTypeIEEE802_11, dot11(0x08, 0x01, s4), KindTCP, w4},
		{"802.11 qos data v6", layers.LinkTypeIEEE802_11, dot11(0x88, 0x02, s6), KindTCP, w6},
		{"802.11 qos wds +htc", layers.LinkTypeIEEE802_11, dot11(0x88, 0x83, s4), KindTCP, w4},
		{"802.11 protected", layers.LinkTypeIEEE802_11, dot11(0x88, 0x41, s4), KindNonTCP, Packet{}},
		{"802.11 beacon", layers.LinkTypeIEEE802_11, append([]byte{0x80, 0}, make([]byte, 40)...), KindNonTCP, Packet{}},
		{"802.11 cut", layers.LinkTypeIEEE802_11, dot11(0x88, 0x01, s4)[:20], KindTruncated, Packet{}},
		{"radiotap 802.11 + FCS", layers.LinkTypeIEEE80211Radio, append(radiotap(dot11(0x88, 0x01, s4)), 1, 2, 3, 4), KindTCP, w4},
		{"PPP", layers.LinkTypePPP, ppp(0x0021, s4), KindTCP, w4},
		{"PPP v6", layers.LinkTypePPP, ppp(0x0057, s6), KindTCP, w6},
		{"PPP LCP", layers.LinkTypePPP, ppp(0xc021, []byte{1, 1, 0, 4}), KindNonTCP, Packet{}},
		{"FDDI", layers.LinkTypeFDDI, fddi(s4), KindTCP, w4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got Packet
			kind := NewDecoder().Decode(c.lt, c.data, ts, &got)
			if kind != c.kind {
				t.Fatalf("kind = %v, want %v", kind, c.kind)
			}
			if kind == KindTCP {
				if d := diff(c.want, got); d != "" {
					t.Errorf("packet mismatch (-want +got):\n%s", d)
				}
			}
		})
	}
	// 802.11 stays on the allocation-free path.
	d := NewDecoder()
	f := radiotap(dot11(0x88, 0x01, s4))
	var p Packet
	if a := testing.AllocsPerRun(100, func() { d.Decode(layers.LinkTypeIEEE80211Radio, f, 1, &p) }); a != 0 {
		t.Errorf("802.11 decode allocated %v times, want 0", a)
	}
}
