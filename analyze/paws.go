package analyze

import (
	"cmp"
	"iter"
	"net/netip"
	"slices"
	"time"

	"github.com/synq/synq/reassemble"
)

// pawsTracker looks for the tcp_tw_recycle signature of kernels before
// 4.12: the server remembered the last TSval of each peer IP for 60 s and
// silently dropped SYNs from that IP carrying an older TSval. Several hosts
// behind one NAT address each have their own clock, so their SYNs are
// "older" than each other's. Memory is bounded: at most maxPAWSSources
// addresses and maxPAWSSamples attempts each. Each address's samples are
// a pawsChain kept by the caller (the listener's sourceTable).
type pawsTracker struct {
	samples pawsSamples
	sources int  // addresses with a sample
	full    bool // an address was turned away
}

const (
	maxPAWSSources = 1 << 14
	maxPAWSSamples = 64
	pawsWindow     = 60 * time.Second
	// A clock line is a run of TSvals that moves with capture time; two
	// TSval-minus-time offsets further apart than this are two clocks.
	clockLineGap = 10_000
)

// pawsSample is one attempt of an address, as evidence reads it.
type pawsSample struct {
	synTime int64
	endTime int64 // last packet of the attempt
	synTS   uint32
	// lastTS is the client's last TSval on it; hasLast says the server
	// remembered it: it closed first, so the connection ended in
	// TIME_WAIT on the server, the only ones tcp_tw_recycle kept
	// (kernel-evidence.md K15).
	lastTS   uint32
	answered bool
	hasLast  bool
}

// pawsSlot is how a sample is stored, 16 bytes: its SYN's time and TSval,
// and a link to the address's previous sample with the sample's two flags
// in the top bits. A sample the server remembered (hasLast) takes a second
// slot, right after its own, holding endTime and lastTS, which only such
// a sample is ever asked for (olderThanRemembered): most attempts were
// closed by the client or never established, and cost 16 bytes, not 32.
type pawsSlot struct {
	time int64  // synTime; endTime in a second slot
	ts   uint32 // synTS; lastTS in a second slot
	link uint32 // previous sample's index | pawsAnswered | pawsHasLast
}

const (
	pawsAnswered = 1 << 31
	pawsHasLast  = 1 << 30
	pawsLinkMask = pawsHasLast - 1 // at most 2 x maxPAWSSources x maxPAWSSamples slots: 2^21
)

// pawsChain is where one address's samples are: n of them, the latest at
// head, each linking to the one added before it. The addresses' samples
// interleave in pawsSamples, so a chain costs 5 bytes and a sample 16 or
// 32, with no slice per address growing by doubling.
type pawsChain struct {
	head int32
	n    uint8
}

// hasPAWSSample reports whether a is a sample: a SYN with a timestamp.
func hasPAWSSample(a *reassemble.Attempt) bool { return a.SYNOpts.HasTS && a.SYNs > 0 }

// takesNewSource reports whether add would sample a from an address not
// sampled yet.
func (p *pawsTracker) takesNewSource(a *reassemble.Attempt) bool {
	return hasPAWSSample(a) && p.sources < maxPAWSSources
}

// add samples a into its address's chain c.
func (p *pawsTracker) add(c *pawsChain, a *reassemble.Attempt) {
	if !hasPAWSSample(a) {
		return
	}
	if c.n == 0 {
		if p.sources >= maxPAWSSources {
			p.full = true
			return
		}
		p.sources++
	}
	if c.n >= maxPAWSSamples {
		return
	}
	link := uint32(c.head) // meaningless while c.n == 0: never followed
	if a.SYNACKs > 0 || a.RSTBeforeSYNACK || a.BareACKAnswer {
		link |= pawsAnswered
	}
	remembered := a.HasClientTS && a.ServerAccepted && a.ServerClosedFirst
	if remembered {
		link |= pawsHasLast
	}
	c.head = p.samples.append(pawsSlot{time: a.FirstSYN, ts: a.SYNOpts.TSval, link: link})
	if remembered {
		p.samples.append(pawsSlot{time: a.LastPacket, ts: a.LastClientTSval})
	}
	c.n++
}

// gather appends c's samples to dst, in the order they were added.
func (p *pawsTracker) gather(c pawsChain, dst []pawsSample) []pawsSample {
	start := len(dst)
	i := c.head
	for range c.n {
		s := p.samples.at(i)
		v := pawsSample{synTime: s.time, synTS: s.ts, answered: s.link&pawsAnswered != 0, hasLast: s.link&pawsHasLast != 0}
		if v.hasLast {
			last := p.samples.at(i + 1)
			v.endTime, v.lastTS = last.time, last.ts
		}
		dst = append(dst, v)
		i = int32(s.link & pawsLinkMask)
	}
	slices.Reverse(dst[start:])
	return dst
}

// pawsSamples holds slots in blocks of pawsBlock, so that growing never
// copies the whole set (nor holds it twice while it does) and a listener
// with a few samples holds a small slice.
type pawsSamples struct {
	blocks [][]pawsSlot
}

const pawsBlock = 1024

// append stores s and returns its index.
func (ps *pawsSamples) append(s pawsSlot) int32 {
	n := len(ps.blocks)
	if n == 0 {
		ps.blocks = append(ps.blocks, nil)
		n = 1
	} else if len(ps.blocks[n-1]) == pawsBlock {
		ps.blocks = append(ps.blocks, make([]pawsSlot, 0, pawsBlock))
		n++
	}
	b := &ps.blocks[n-1]
	*b = append(*b, s)
	return int32((n-1)*pawsBlock + len(*b) - 1)
}

func (ps *pawsSamples) at(i int32) *pawsSlot {
	return &ps.blocks[i/pawsBlock][i%pawsBlock]
}

// pawsEvidence is what the tracker found, over all sources.
type pawsEvidence struct {
	Rejected  int        // unanswered SYNs older than a TSval remembered from the same IP
	Sources   int        // addresses with such SYNs
	MaxClocks int        // most clock lines seen behind one address
	WorstIP   netip.Addr // the address with the most rejected SYNs
	Answered  int        // SYNs from those addresses that were answered
}

// evidence judges every sampled address, given with its chain.
func (p *pawsTracker) evidence(sources iter.Seq2[netip.Addr, pawsChain]) pawsEvidence {
	var ev pawsEvidence
	worst := 0
	var samples []pawsSample
	for ip, c := range sources {
		samples = p.gather(c, samples[:0])
		slices.SortFunc(samples, func(a, b pawsSample) int { return cmp.Compare(a.synTime, b.synTime) })
		// The old kernel's rule must explain this address: every SYN it
		// would reject went unanswered and none it would reject was
		// answered (with today's per-connection timestamp offsets, a
		// random half would be "older", answered or not).
		rejected, violations := 0, 0
		for i, s := range samples {
			if !olderThanRemembered(s, samples[:i]) {
				continue
			}
			if s.answered {
				violations++
			} else {
				rejected++
			}
		}
		// And the clocks must be hosts' clocks, seen again: since Linux
		// 4.10 every connection gets a random offset, so a lone "older"
		// SYN proves nothing; behind a NAT each host's clock recurs.
		if rejected == 0 || violations > 0 || !clockRecurs(samples) {
			continue
		}
		ev.Rejected += rejected
		ev.Sources++
		for _, s := range samples {
			if s.answered {
				ev.Answered++
			}
		}
		ev.MaxClocks = max(ev.MaxClocks, clockLines(samples))
		if rejected > worst || (rejected == worst && ip.Less(ev.WorstIP)) {
			worst, ev.WorstIP = rejected, ip
		}
	}
	return ev
}

// olderThanRemembered reports whether s's TSval is older than the last
// TSval of an earlier connection from the same address that the server
// closed first and that ended within the 60 s a TIME_WAIT bucket
// remembered it.
func olderThanRemembered(s pawsSample, earlier []pawsSample) bool {
	for _, prev := range earlier {
		if prev.hasLast && s.synTime > prev.endTime && s.synTime-prev.endTime < int64(pawsWindow) &&
			int32(s.synTS-prev.lastTS) < 0 {
			return true
		}
	}
	return false
}

// clockRecurs reports whether some clock line carries two or more SYNs.
func clockRecurs(samples []pawsSample) bool {
	return clockLines(samples) < len(samples)
}

// clockLines counts distinct TSval clocks among one address's SYNs: each
// SYN's TSval minus its capture time in milliseconds is constant along one
// clock (1 kHz, as Linux since 4.13), so offsets far apart are different
// clocks.
func clockLines(samples []pawsSample) int {
	offs := make([]int64, 0, len(samples))
	for _, s := range samples {
		offs = append(offs, int64(s.synTS)-s.synTime/int64(time.Millisecond))
	}
	slices.Sort(offs)
	lines := 0
	for i, o := range offs {
		if i == 0 || o-offs[i-1] > clockLineGap {
			lines++
		}
	}
	return lines
}
