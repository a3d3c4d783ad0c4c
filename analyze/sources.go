package analyze

import (
	"iter"
	"net/netip"

	"github.com/synq/synq/reassemble"
)

// maxSourcesPerListener bounds the per-listener source table under floods.
const maxSourcesPerListener = 1 << 15

// sourceTable is a listener's state per client address: attempt counts for
// the first maxSourcesPerListener addresses, and the PAWS samples of the
// first maxPAWSSources addresses whose SYNs carry timestamps. One index
// serves both, so an attempt costs one lookup; an address is in it when
// either kept it, which bounds it by the sum of the two caps.
type sourceTable struct {
	// index numbers addresses in the order they came, so the first
	// maxSourcesPerListener entries are the counted ones: an address
	// came while the count table had room. Once full it stays full, so
	// an address kept only for its PAWS samples is never counted.
	index   addrIndex
	entries []sourceEntry // by index
	// countedAttempts is how many attempts the counted entries hold;
	// capped says an address came when the count table was full. Past
	// the cap, per-source shares must be taken of countedAttempts, not
	// of every attempt: 32,768 sources of an 11-million-source flood are
	// far fewer than half its attempts, though every one is a flood source.
	countedAttempts int
	capped          bool
	paws            pawsTracker
}

// sourceEntry is one address's state on one listener, 32 bytes.
type sourceEntry struct {
	stat    sourceStat // zero unless counted (see sourceTable.index)
	samples pawsChain
	// client is the address's index in the aggregator's clientTable plus
	// one; 0 until it has one (see clientTable.addVia).
	client int32
}

// counted reports whether the entry at index i counts its attempts.
func counted(i int32) bool { return i < maxSourcesPerListener }

// sourceStat counts one client address's attempts on one listener. The
// counts saturate (see outcomeTally). Refused attempts (a RST to the
// SYN) are apart from the other answered ones: a source refused and never
// otherwise answered looks like a rule matching it.
type sourceStat struct {
	unanswered, answered, refused, unacked, other uint32
}

// add books one attempt of a client address with outcome o, and returns
// the address's entry, valid until the next add (nil if neither table
// had room for it).
func (t *sourceTable) add(a *reassemble.Attempt, o Outcome) *sourceEntry {
	i, ok := t.entry(a)
	if !ok {
		// Neither table had room: the PAWS tracker still notes that it
		// turned an address away.
		var none pawsChain
		t.paws.add(&none, a)
		return nil
	}
	e := &t.entries[i]
	if counted(i) {
		e.stat.add(a, o)
		t.countedAttempts++
	}
	t.paws.add(&e.samples, a)
	return e
}

// entry returns the index of a's client address's entry, adding the
// address if one of the tables has room for it; false if neither has.
func (t *sourceTable) entry(a *reassemble.Attempt) (int32, bool) {
	addr := a.Client.Addr()
	i, ok := t.index.find(addr)
	if !ok {
		countable := counted(int32(len(t.entries)))
		t.capped = t.capped || !countable
		if !countable && !t.paws.takesNewSource(a) {
			return 0, false
		}
		i = t.index.add(addr)
		t.entries = append(t.entries, sourceEntry{})
	}
	return i, true
}

func (s *sourceStat) add(a *reassemble.Attempt, o Outcome) {
	switch {
	case o == UnansweredSYN:
		saturatingInc(&s.unanswered)
	case o == SYNACKUnacked:
		saturatingInc(&s.unacked)
	case o == Rejected:
		saturatingInc(&s.refused)
	case a.SYNACKs > 0 || a.SYNACKNotCaptured || a.RSTBeforeSYNACK || a.BareACKAnswer:
		// (A SYN-ACK the capture missed answered too: a thinned capture
		// made "one address never got any answer" of a source whose
		// other attempts had gone on.)
		saturatingInc(&s.answered)
	default:
		saturatingInc(&s.other)
	}
}

// counts yields the counted addresses with their counts, in no
// particular order.
func (t *sourceTable) counts() iter.Seq2[netip.Addr, sourceStat] {
	return func(yield func(netip.Addr, sourceStat) bool) {
		for addr, i := range t.index.all() {
			if counted(i) && !yield(addr, t.entries[i].stat) {
				return
			}
		}
	}
}

// pawsChains yields the sampled addresses with their samples, in no
// particular order.
func (t *sourceTable) pawsChains() iter.Seq2[netip.Addr, pawsChain] {
	return func(yield func(netip.Addr, pawsChain) bool) {
		for addr, i := range t.index.all() {
			if c := t.entries[i].samples; c.n > 0 && !yield(addr, c) {
				return
			}
		}
	}
}
