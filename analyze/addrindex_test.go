package analyze

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrIndexMatchesAMap adds addresses to the index and to a Go map,
// and checks every lookup, hit or miss, against the map: one subnet's
// consecutive addresses (which crowd a weak hash's slots), random ones,
// 0.0.0.0 and 255.255.255.255 (whose slots look most like empty ones), and
// IPv6 and IPv4-mapped addresses, which must not be taken for IPv4 ones.
func TestAddrIndexMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var addrs []netip.Addr
	addrs = append(addrs, netip.AddrFrom4([4]byte{}), netip.AddrFrom4([4]byte{255, 255, 255, 255}))
	for i := range 5000 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 0x0a000000+uint32(i))
		addrs = append(addrs, netip.AddrFrom4(b))
	}
	for range 50000 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		addrs = append(addrs, netip.AddrFrom4(b))
	}
	for i := range 100 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).Unmap())
		addrs = append(addrs, netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).As16()))
		addrs = append(addrs, netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}))
	}

	var x addrIndex
	want := map[netip.Addr]int32{}
	for n, a := range addrs {
		if n%3 == 0 { // half the added addresses, so that some lookups miss
			continue
		}
		if _, ok := want[a]; ok {
			continue
		}
		want[a] = x.add(a)
		if x.len() != len(want) {
			t.Fatalf("len %d after %d adds", x.len(), len(want))
		}
	}
	for _, a := range addrs {
		i, ok := x.find(a)
		wi, wok := want[a]
		if ok != wok || i != wi {
			t.Fatalf("find(%v) = %d, %v; want %d, %v", a, i, ok, wi, wok)
		}
	}
	seen := 0
	for a, i := range x.all() {
		if want[a] != i {
			t.Fatalf("all() gave %v at %d, want %d", a, i, want[a])
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("all() gave %d addresses, want %d", seen, len(want))
	}
}
