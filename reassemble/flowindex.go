package reassemble

import "encoding/binary"

// flowIndex maps a flow key to the attempt that holds it (its ref: see
// lightRef). It is looked up for every packet and holds one entry per
// attempt in flight, millions under a spoofed SYN flood, so it is an
// open-addressing table of 8-byte slots (a 32-bit tag of the key's hash
// and the ref) with linear probing, at most three quarters full: about
// 12 bytes an attempt, where a Go map keyed by the 36-byte key took 50 and
// one keyed by a 64-bit hash 26, and its probes were a fifth of all CPU
// time in profiles. The key itself is not stored: the attempt's state
// holds it, and a tag match is checked against it, so colliding hashes
// cost a comparison, never a wrong answer. Deletion shifts the following
// entries of the cluster back (no tombstones).
type flowIndex struct {
	slots []slot
	mask  uint64
	n     int
	hash  func(flowKey) uint64 // hashFlow; tests force collisions with another
	keyAt func(ref int32) flowKey
}

type slot struct {
	tag uint32
	ref int32 // emptyRef: free
}

const (
	emptyRef     int32 = -1 << 31
	minIndexSize       = 1 << 10
)

func newFlowIndex(keyAt func(int32) flowKey) flowIndex {
	fi := flowIndex{hash: hashFlow, keyAt: keyAt}
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
			i := fi.home(fi.hash(fi.keyAt(s.ref)))
			for fi.slots[i].ref != emptyRef {
				i = (i + 1) & fi.mask
			}
			fi.slots[i] = s
		}
	}
}

func (fi *flowIndex) home(h uint64) uint64 { return h & fi.mask }

func tagOf(h uint64) uint32 { return uint32(h >> 32) }

// hashFlow mixes the key's bytes (a multiply-xorshift over 8-byte words).
func hashFlow(k flowKey) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [...]uint64{
		binary.LittleEndian.Uint64(k.a[0:8]), binary.LittleEndian.Uint64(k.a[8:16]),
		binary.LittleEndian.Uint64(k.b[0:8]), binary.LittleEndian.Uint64(k.b[8:16]),
		uint64(k.pa)<<16 | uint64(k.pb), k.tun,
	} {
		h = (h ^ v) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	return h
}

// lookup returns the ref of key's attempt and its position. When key is
// absent it returns ok false and the position to insert at, valid until
// the index next changes.
func (fi *flowIndex) lookup(key flowKey) (ref int32, pos uint64, ok bool) {
	h := fi.hash(key)
	tag := tagOf(h)
	for i := fi.home(h); ; i = (i + 1) & fi.mask {
		s := fi.slots[i]
		if s.ref == emptyRef {
			return 0, i, false
		}
		if s.tag == tag && fi.keyAt(s.ref) == key {
			return s.ref, i, true
		}
	}
}

// insert puts key's ref at pos, which lookup returned: the free slot for
// an absent key, or the key's own slot to change its ref.
func (fi *flowIndex) insert(pos uint64, key flowKey, ref int32) {
	if fi.slots[pos].ref == emptyRef {
		fi.n++
	}
	fi.slots[pos] = slot{tag: tagOf(fi.hash(key)), ref: ref}
	if fi.n*4 > len(fi.slots)*3 {
		fi.resize(len(fi.slots) * 2)
	}
}

// remove deletes the entry at pos (from lookup), moving back the entries
// after it in its cluster that may no longer be reached past the gap.
func (fi *flowIndex) remove(pos uint64) {
	i := pos
	for j := (i + 1) & fi.mask; fi.slots[j].ref != emptyRef; j = (j + 1) & fi.mask {
		h := fi.home(fi.hash(fi.keyAt(fi.slots[j].ref)))
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
