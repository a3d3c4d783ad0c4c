package analyze

import (
	"strconv"
	"strings"

	"github.com/synq/synq/host"
	"github.com/synq/synq/internal/prose"
)

// Strength is how much one sign weighs for or against a cause
// (shared/docs/kernel-evidence.md, "Strength of evidence").
type Strength int

const (
	Weak Strength = iota + 1
	Strong
	Decisive
)

var strengthNames = map[Strength]string{Weak: "weak", Strong: "strong", Decisive: "decisive"}

func (s Strength) String() string { return strengthNames[s] }

// Source says where a sign came from.
type Source string

const (
	FromPackets  Source = "packets"
	FromCounters Source = "counters"
	FromSysctls  Source = "sysctls"
	FromQueues   Source = "queue samples"
)

// Sign is one piece of evidence about one cause: what it says, how much
// it weighs, and whether it speaks for the cause or against it. A
// finding's evidence sentences are its signs' Says, so the two never
// disagree.
type Sign struct {
	Says     string
	Strength Strength
	Against  bool
	From     Source
}

func forSign(s Strength, from Source, format string, args ...any) Sign {
	return Sign{Says: prose.Sayf(format, args...), Strength: s, From: from}
}

func againstSign(s Strength, from Source, format string, args ...any) Sign {
	return Sign{Says: prose.Sayf(format, args...), Strength: s, Against: true, From: from}
}

// confidenceOf is the confidence the signs give a cause, and whether they
// rule it out: a decisive sign against removes it; otherwise the strongest
// sign for sets the level and a strong sign against lowers it one step.
// There is no other way to be sure: no running variable, no shared flag.
func confidenceOf(signs []Sign) (c Confidence, ruledOut bool) {
	best, against := Strength(0), Strength(0)
	for _, s := range signs {
		if s.Against {
			against = max(against, s.Strength)
		} else {
			best = max(best, s.Strength)
		}
	}
	if against == Decisive {
		return Low, true
	}
	level := best
	if against == Strong {
		level--
	}
	switch {
	case level >= Decisive:
		return High, false
	case level == Strong:
		return Medium, false
	}
	return Low, false
}

// Generation is a Linux kernel generation as far as listen-queue
// accounting differs (shared/docs/kernel-evidence.md, "Kernel
// generations").
type Generation int

const (
	GenUnknown Generation = iota
	Gen1                  // 2.6.x: SYN drops at a full accept queue uncounted
	Gen2                  // 3.x to 4.9: young > 1 rule, cookies counted in ListenDrops
	Gen3                  // 4.10 to 2024: SYN dropped whenever the accept queue is full
	Gen4                  // 2025 on: SYN queue holds backlog+1 (same counting as Gen3)
)

// generationOf reads the generation from kernel.osrelease, or failing
// that from which counters the kernel has.
func generationOf(h *host.Host) (Generation, string) {
	if v, ok := h.Sysctl("kernel.osrelease"); ok {
		if g := generationOfRelease(v); g != GenUnknown {
			return g, "kernel " + v
		}
	}
	if h != nil && h.Deltas != nil {
		// TCPMigrateReq* came with 5.14 (tcp_migrate_req). PAWSPassive
		// (gone with tcp_tw_recycle in 4.12) would say "before 4.12",
		// which does not tell RHEL 6 from RHEL 7, the split that matters.
		if _, ok := h.Deltas["TcpExtTCPMigrateReqSuccess"]; ok {
			return Gen3, "a kernel of 5.14 or later (it has TcpExtTCPMigrateReqSuccess)"
		}
	}
	return GenUnknown, ""
}

// generationOfRelease maps "6.18.0-1-amd64" or "3.10.0-1160.el7.x86_64"
// to its generation. Gen4 needs the 2025 fix, which stable kernels also
// got, so a release string cannot tell Gen3 from Gen4: both count drops
// alike, which is all the diagnosis needs.
func generationOfRelease(rel string) Generation {
	f := strings.FieldsFunc(rel, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 {
		return GenUnknown
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return GenUnknown
	}
	switch {
	case major < 3:
		return Gen1
	case major == 3 || (major == 4 && minor < 10):
		return Gen2
	}
	return Gen3
}

// counterView is how the diagnosis may read the host's counter deltas:
// only when they cover the capture (the kernel counted at least what the
// capture shows it did), else not at all.
type counterView struct {
	given  bool // snapshots were given
	covers bool
	// note says why the counters are not used, or a caveat on them.
	note string
	gen  Generation
	// genNote says where the generation came from.
	genNote string
	d       map[string]int64
	// unseenOpens is how many more connections TcpPassiveOpens counted
	// than the capture shows the server taking, past the edges' slack:
	// the counters cover listeners or traffic the capture does not.
	unseenOpens int64
}

// get returns a counter's delta when the counters may be used.
func (c *counterView) get(name string) (int64, bool) {
	if !c.usable() {
		return 0, false
	}
	v, ok := c.d[name]
	return v, ok
}

func (c *counterView) usable() bool { return c.given && c.covers }

// genDecisive is the strength of a counter fact that holds from
// generation g on: decisive when the kernel is known to be of g or later,
// strong while the generation is unknown, and nothing on an older kernel.
func (c *counterView) genDecisive(g Generation) Strength {
	switch {
	case c.gen == GenUnknown:
		return Strong
	case c.gen >= g:
		return Decisive
	}
	return 0
}

// coverageSlack is how many events at the capture's edges the counters
// may miss: the capture starts before the first snapshot and stops after
// the second, so a handshake in that gap is in the capture but not in the
// counters.
func coverageSlack(n int) int { return max(2, n/20) }

// unseenOpens is how many more connections TcpPassiveOpens counted than
// the capture shows the kernel making, when that is more than a
// capture's edges and what it cannot see made (a cookie ACK's child on a
// short capture, 3 in the lab) explain: then the counters cover listeners
// or traffic the capture does not. 0 for a capture of one direction
// (Result.OneWay), where the opens are there and unseen.
func unseenOpens(r *Result, h *host.Host) int64 {
	n, ok := h.Deltas["TcpPassiveOpens"]
	if !ok || len(r.OneWay) > 0 {
		return 0
	}
	seen := 0
	for i := range r.Listeners {
		if l := &r.Listeners[i]; l.countedHere() {
			seen += l.Outcomes[Established] + l.Signs.AcceptedThenReset + l.Signs.ACKTaken
		}
	}
	if int(n) <= seen+max(coverageSlack(seen), 5) {
		return 0
	}
	return n - int64(seen)
}

// viewCounters checks that the counters cover the capture before any of
// them may change a verdict (kernel-evidence.md, "Accounting"): the kernel
// created at least the sockets the capture shows it used. TcpInSegs is no
// such check, though it looks like one: SYNs a firewall drops are in the
// capture (the tap is before netfilter) and never reach TCP's count
// (measured on testdata/firewall-drop: 21 SYNs captured, TcpInSegs +15).
func viewCounters(r *Result, h *host.Host) counterView {
	v := counterView{given: h.HasCounters()}
	v.gen, v.genNote = generationOf(h)
	if !v.given {
		return v
	}
	v.d, v.covers = h.Deltas, true
	took := 0
	for i := range r.Listeners {
		if r.Listeners[i].countedHere() {
			took += r.Listeners[i].ServerTook + r.Listeners[i].TookUnseen
		}
	}
	if n, ok := h.Deltas["TcpPassiveOpens"]; ok && int(n)+coverageSlack(took) < took {
		v.covers = false
		v.note = prose.Sayf("The kernel counters do not cover this capture: TcpPassiveOpens rose by %d, but the capture shows the server using %d connection{s} it accepted. The snapshots are from another host, network namespace or time, so they were not used; the diagnosis is from packets alone. A server in a container counts in its own namespace: take them there (nsenter -t <server PID> -n nstat -az).", n, took)
		return v
	}
	v.unseenOpens = unseenOpens(r, h)
	if h.SingleSnapshot {
		v.note = "The counters come from one snapshot, read as plain nstat's change since its last run; if it was nstat -a or -az (totals since boot), they do not describe the capture: give two snapshots, before and after."
	}
	return v
}
