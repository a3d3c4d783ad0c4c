package reassemble

import (
	"encoding/binary"
	"net/netip"
)

// flowIndex maps a flow to the attempt that holds it (its ref: see
// lightRef). It is looked up for every packet and holds one entry per
// attempt in flight, millions under a spoofed SYN flood, so it is an
// open-addressing table of 8-byte slots with linear probing, at most three
// quarters full: about 12 bytes an attempt, where a Go map keyed by the
// 36-byte 4-tuple took 50, and its probes were a fifth of all CPU time in
// profiles.
//
// A slot holds the low 32 bits of the flow's hash (its tag) and the ref.
// The slot a flow starts probing from is its tag's low bits, so resizing
// and deleting (which shifts the following entries of a cluster back, no
// tombstones) never touch the attempts; only a tag match is checked
// against the attempt (matcher), so colliding hashes cost a comparison,
// never a wrong answer.
type flowIndex struct {
	slots []slot
	mask  uint64
	n     int
}

type slot struct {
	tag uint32
	ref int32 // emptyRef: free
}

// matcher tells whether the attempt at ref is the flow being looked up.
type matcher interface {
	matches(ref int32) bool
}

const (
	emptyRef     int32 = -1 << 31
	minIndexSize       = 1 << 10
)

func newFlowIndex() flowIndex {
	var fi flowIndex
	fi.resize(minIndexSize)
	return fi
}

func (fi *flowIndex) resize(size int) {
	old := fi.slots
	fi.slots = make([]slot, size)
	for i := range fi.slots {
		fi.slots[i].ref = emptyRef
	}
	fi.mask = uint64(size - 1)
	for _, s := range old {
		if s.ref != emptyRef {
			i := uint64(s.tag) & fi.mask
			for fi.slots[i].ref != emptyRef {
				i = (i + 1) & fi.mask
			}
			fi.slots[i] = s
		}
	}
}

// flowHash hashes a flow the same in both directions: each end hashed on
// its own (a multiply-xorshift over its address and port), the two added,
// mixed with the tunnel key.
func flowHash(a, b netip.AddrPort, tun uint64) uint64 {
	return mix(endHash(a) + endHash(b) + tun)
}

// endHash mixes the port in on its own: XORed into the address's last
// word, it overlapped an IPv4 address's last two bytes (v4-mapped, the
// address sits in that word's high half), and clients a.b.c.d:p and
// a.b.c'.d':p' collided whenever c.d^p equalled c'.d'^p' (a third of the
// lookups of flows on a generated capture probed a colliding entry).
//
// An IPv4 end (address and port: 48 bits) goes through one mix, a
// bijection, so two distinct IPv4 ends never share an end hash.
func endHash(e netip.AddrPort) uint64 {
	if a := e.Addr(); a.Is4() {
		b := a.As4()
		return mix(uint64(binary.BigEndian.Uint32(b[:]))<<16 | uint64(e.Port()) ^ 0x9e3779b97f4a7c15)
	}
	x := e.Addr().As16()
	h := mix(binary.LittleEndian.Uint64(x[0:8]) ^ 0x9e3779b97f4a7c15)
	h = mix(h ^ binary.LittleEndian.Uint64(x[8:16]))
	return mix(h ^ uint64(e.Port()))
}

func mix(h uint64) uint64 {
	h = (h ^ h>>33) * 0xff51afd7ed558ccd
	h = (h ^ h>>33) * 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// find returns the ref of the flow with hash h that m matches, and its
// position. When there is none it returns ok false and the position to
// insert at, valid until the index next changes.
func (fi *flowIndex) find(h uint64, m matcher) (ref int32, pos uint64, ok bool) {
	tag := uint32(h)
	for i := uint64(tag) & fi.mask; ; i = (i + 1) & fi.mask {
		s := fi.slots[i]
		if s.ref == emptyRef {
			return 0, i, false
		}
		if s.tag == tag && m.matches(s.ref) {
			return s.ref, i, true
		}
	}
}

// findRef returns the position of ref, whose flow hashes to h; ok false if
// it is not there.
func (fi *flowIndex) findRef(h uint64, ref int32) (pos uint64, ok bool) {
	for i := uint64(uint32(h)) & fi.mask; ; i = (i + 1) & fi.mask {
		switch fi.slots[i].ref {
		case ref:
			return i, true
		case emptyRef:
			return 0, false
		}
	}
}

// insert puts ref, of a flow with hash h, at pos: the free slot find
// returned for it.
func (fi *flowIndex) insert(pos, h uint64, ref int32) {
	fi.slots[pos] = slot{tag: uint32(h), ref: ref}
	fi.n++
	if fi.n*4 > len(fi.slots)*3 {
		fi.resize(len(fi.slots) * 2)
	}
}

// set changes the ref at pos (the attempt moved to another table).
func (fi *flowIndex) set(pos uint64, ref int32) { fi.slots[pos].ref = ref }

// remove deletes the entry at pos, moving back the entries after it in its
// cluster that could no longer be reached past the gap.
func (fi *flowIndex) remove(pos uint64) {
	i := pos
	for j := (i + 1) & fi.mask; fi.slots[j].ref != emptyRef; j = (j + 1) & fi.mask {
		h := uint64(fi.slots[j].tag) & fi.mask
		// The entry at j may move to the gap at i if its home is not in
		// the cyclic range (i, j].
		if (i < j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
			fi.slots[i] = fi.slots[j]
			i = j
		}
	}
	fi.slots[i] = slot{ref: emptyRef}
	fi.n--
	if len(fi.slots) > minIndexSize && fi.n*8 < len(fi.slots) {
		fi.resize(len(fi.slots) / 2)
	}
}

func (fi *flowIndex) len() int { return fi.n }
