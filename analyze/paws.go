package analyze

import (
	"cmp"
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
// addresses and maxPAWSSamples attempts each.
type pawsTracker struct {
	bySource map[netip.Addr][]pawsSample
	full     bool
}

const (
	maxPAWSSources = 1 << 14
	maxPAWSSamples = 64
	pawsWindow     = 60 * time.Second
	// A clock line is a run of TSvals that moves with capture time; two
	// TSval-minus-time offsets further apart than this are two clocks.
	clockLineGap = 10_000
)

type pawsSample struct {
	synTime  int64
	synTS    uint32
	answered bool
	endTime  int64  // last packet of the attempt
	lastTS   uint32 // the client's last TSval on it
	hasLast  bool
}

func (p *pawsTracker) add(a *reassemble.Attempt) {
	if !a.SYNOpts.HasTS || a.SYNs == 0 {
		return
	}
	src := a.Client.Addr()
	s, ok := p.bySource[src]
	if !ok {
		if p.bySource == nil {
			p.bySource = make(map[netip.Addr][]pawsSample)
		}
		if len(p.bySource) >= maxPAWSSources {
			p.full = true
			return
		}
	}
	if len(s) >= maxPAWSSamples {
		return
	}
	p.bySource[src] = append(s, pawsSample{
		synTime: a.FirstSYN, synTS: a.SYNOpts.TSval,
		answered: a.SYNACKs > 0 || a.RSTBeforeSYNACK || a.BareACKAnswer,
		endTime:  a.LastPacket, lastTS: a.LastClientTSval, hasLast: a.HasClientTS && a.ServerAccepted,
	})
}

// pawsEvidence is what the tracker found, over all sources.
type pawsEvidence struct {
	Rejected  int        // unanswered SYNs older than a TSval remembered from the same IP
	Sources   int        // addresses with such SYNs
	MaxClocks int        // most clock lines seen behind one address
	WorstIP   netip.Addr // the address with the most rejected SYNs
	Answered  int        // SYNs from those addresses that were answered
}

func (p *pawsTracker) evidence() pawsEvidence {
	var ev pawsEvidence
	worst := 0
	for ip, samples := range p.bySource {
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
// TSval of an earlier connection from the same address that ended within
// the 60 s a TIME_WAIT bucket remembered it.
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
