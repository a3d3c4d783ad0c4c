package analyze

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"net/netip"
)

// addrIndex numbers addresses 0, 1, 2... in the order they are added, so
// per-address records can live by value in a flat slice. A netip.Addr
// key would hold a pointer (its zone handle) and take 24 bytes; here IPv4
// addresses, nearly all clients, key a flat table of 8-byte slots
// (v4Index) and the others a map of their 16 bytes. Neither holds a
// pointer, so the GC does not scan them. Zones are not kept: addresses
// decoded from packets have none.
type addrIndex struct {
	v4 v4Index
	v6 map[[16]byte]int32 // IPv4-mapped IPv6 addresses included: they are not IPv4 ones
}

// find returns a's index, if it was added.
func (x *addrIndex) find(a netip.Addr) (int32, bool) {
	if a.Is4() {
		return x.v4.find(v4Key(a))
	}
	i, ok := x.v6[a.As16()]
	return i, ok
}

// add gives a, which must not be in x yet, the next index.
func (x *addrIndex) add(a netip.Addr) int32 {
	i := int32(x.len())
	if a.Is4() {
		x.v4.add(v4Key(a), i)
		return i
	}
	if x.v6 == nil {
		x.v6 = make(map[[16]byte]int32)
	}
	x.v6[a.As16()] = i
	return i
}

// len is how many addresses were added.
func (x *addrIndex) len() int { return x.v4.n + len(x.v6) }

// all yields every address with its index, in no particular order.
func (x *addrIndex) all() iter.Seq2[netip.Addr, int32] {
	return func(yield func(netip.Addr, int32) bool) {
		for _, s := range x.v4.slots {
			if s == 0 {
				continue
			}
			k, i := uint32(s>>32), int32(uint32(s))-1
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

// v4Index maps IPv4 addresses to indexes: open addressing with linear
// probing over slots of key<<32 | index+1 (0: empty), at most three
// quarters full. Go's map took about 200 ns a lookup here on the dense
// mix (a directory, a table, then a group: dependent loads, each a cache
// miss once 32,768 sources are held); one slot array is one miss, and a
// probe that runs on stays in its cache line.
type v4Index struct {
	slots []uint64
	n     int
	shift uint8 // 64 - log2(len(slots))
}

func (x *v4Index) home(k uint32) int {
	// Fibonacci hashing: clients are often one subnet, whose low bits
	// alone would crowd a few runs of slots.
	return int((uint64(k) * 0x9e3779b97f4a7c15) >> x.shift)
}

func (x *v4Index) find(k uint32) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := len(x.slots) - 1
	for p := x.home(k); ; p = (p + 1) & mask {
		s := x.slots[p]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == k {
			return int32(uint32(s)) - 1, true
		}
	}
}

// add puts k, which must not be in x yet, at index i.
func (x *v4Index) add(k uint32, i int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.put(uint64(k)<<32 | uint64(uint32(i+1)))
	x.n++
}

func (x *v4Index) put(s uint64) {
	mask := len(x.slots) - 1
	p := x.home(uint32(s >> 32))
	for x.slots[p] != 0 {
		p = (p + 1) & mask
	}
	x.slots[p] = s
}

func (x *v4Index) grow() {
	old := x.slots
	size := max(16, 2*len(old))
	x.slots = make([]uint64, size)
	x.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s != 0 {
			x.put(s)
		}
	}
}
