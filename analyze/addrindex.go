package analyze

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// addrIndex numbers addresses 0, 1, 2... in the order they are added, so
// per-address records can live by value in a flat slice. A netip.Addr
// key would hold a pointer (its zone handle) and take 24 bytes; here IPv4
// addresses, nearly all clients, key a map of uint32 (8-byte slots, the
// runtime's fast path) and the others a map of their 16 bytes. Neither map
// holds a pointer, so the GC does not scan them. Zones are not kept:
// addresses decoded from packets have none.
type addrIndex struct {
	v4 map[uint32]int32
	v6 map[[16]byte]int32 // IPv4-mapped IPv6 addresses included: they are not IPv4 ones
}

// find returns a's index, if it was added.
func (x *addrIndex) find(a netip.Addr) (int32, bool) {
	if a.Is4() {
		i, ok := x.v4[v4Key(a)]
		return i, ok
	}
	i, ok := x.v6[a.As16()]
	return i, ok
}

// add gives a, which must not be in x yet, the next index.
func (x *addrIndex) add(a netip.Addr) int32 {
	i := int32(x.len())
	if a.Is4() {
		if x.v4 == nil {
			x.v4 = make(map[uint32]int32)
		}
		x.v4[v4Key(a)] = i
		return i
	}
	if x.v6 == nil {
		x.v6 = make(map[[16]byte]int32)
	}
	x.v6[a.As16()] = i
	return i
}

// len is how many addresses were added.
func (x *addrIndex) len() int { return len(x.v4) + len(x.v6) }

// all yields every address with its index, in no particular order.
func (x *addrIndex) all() iter.Seq2[netip.Addr, int32] {
	return func(yield func(netip.Addr, int32) bool) {
		for k, i := range x.v4 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], k)
			if !yield(netip.AddrFrom4(b), i) {
				return
			}
		}
		for k, i := range x.v6 {
			if !yield(netip.AddrFrom16(k), i) {
				return
			}
		}
	}
}

func v4Key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
