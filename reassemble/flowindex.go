package reassemble

import "encoding/binary"

// flowIndex maps a flow key to the slot of its state. It is a Go map keyed
// by a 64-bit hash of the key rather than by the 36-byte key itself: an
// entry takes 16 bytes instead of 40, so the table (one entry per attempt
// in flight, looked up for every packet) is 2.5 times denser in cache and
// in memory. The state in the slot is checked against the key, so two keys
// with the same hash (about one in 10^9 lookups with millions of flows)
// stay apart: the second goes to the next probe position, and a deleted
// entry with others after it in its probe chain leaves a tombstone.
type flowIndex struct {
	m    map[uint64]int32
	hash func(flowKey) uint64 // hashFlow; tests force collisions with another
}

const tombstone int32 = -1

func newFlowIndex() flowIndex {
	return flowIndex{m: make(map[uint64]int32), hash: hashFlow}
}

// hashFlow mixes the key's bytes (a multiply-xorshift over 8-byte words).
func hashFlow(k flowKey) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [...]uint64{
		binary.LittleEndian.Uint64(k.a[0:8]), binary.LittleEndian.Uint64(k.a[8:16]),
		binary.LittleEndian.Uint64(k.b[0:8]), binary.LittleEndian.Uint64(k.b[8:16]),
		uint64(k.pa)<<16 | uint64(k.pb),
	} {
		h = (h ^ v) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	return h
}

// nextProbe is the position after h in a probe chain.
func nextProbe(h uint64) uint64 { return h*0x5851f42d4c957f2d + 0x14057b7ef767814f }

// lookup returns the slot of key, with keyAt telling the key of a slot.
// When key is absent it returns ok false and the position to insert at.
func (fi *flowIndex) lookup(key flowKey, keyAt func(int32) flowKey) (idx int32, pos uint64, ok bool) {
	h := fi.hash(key)
	free, haveFree := uint64(0), false
	for {
		idx, present := fi.m[h]
		switch {
		case !present:
			if haveFree {
				return 0, free, false
			}
			return 0, h, false
		case idx == tombstone:
			if !haveFree {
				free, haveFree = h, true
			}
		case keyAt(idx) == key:
			return idx, h, true
		}
		h = nextProbe(h)
	}
}

func (fi *flowIndex) insert(pos uint64, idx int32) { fi.m[pos] = idx }

// remove deletes the entry at pos, found by lookup.
func (fi *flowIndex) remove(pos uint64) {
	if _, more := fi.m[nextProbe(pos)]; more {
		fi.m[pos] = tombstone // keep the chain after it reachable
		return
	}
	delete(fi.m, pos)
}

func (fi *flowIndex) len() int { return len(fi.m) }
