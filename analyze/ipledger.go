package analyze

import (
	"net/netip"
	"strings"

	"github.com/synq/synq/internal/prose"
)

// IP's ledger of the namespace's packets, from the nstat counters: what
// IP received and never handed on, and what it was given to send and never
// transmitted. Neither is a counter of its own: the kernel counts every
// other fate of a packet, and a netfilter drop is the one it does not.
//
// On the way in, IpInReceives counts every packet IP took from a device;
// each is then delivered (IpInDelivers), forwarded (IpForwDatagrams),
// counted as an error (header, address, unknown protocol, no route,
// truncated, discarded) or gathered into a reassembled datagram. What is
// left was dropped without a count: by netfilter (prerouting, input) or
// by reverse-path filtering (which IPReversePathFilter counts apart).
// Measured on testdata/firewall-drop and rp-filter: 33 received, 15
// delivered, 18 left = the 18 SYN packets dropped.
//
// On the way out, since Linux 6.7 (commit "net: fix IPSTATS_MIB_OUTPKGS
// increment in OutForwDatagrams", which added IpOutTransmits), IpOutRequests counts a local packet before the output
// hook and IpOutTransmits every packet (forwarded ones too) after
// postrouting, as it goes to the device. What is left was dropped in
// between: netfilter's output or postrouting hooks. Before that commit
// IpOutRequests was counted where IpOutTransmits is now, and the drop
// cannot be told. Measured on testdata/synack-dropped-on-egress: 51
// requested, 15 transmitted, 36 SYN-ACKs dropped.
//
// Both are namespace-wide: other traffic can only add to them. Neither
// sees what happens outside IP: a tc or XDP program that drops a packet
// on the way in (after the capture's tap) or out (before it).

// ipFamily is 4 or 6.
func ipFamily(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// ledgerNames are one family's counter names.
type ledgerNames struct {
	in, delivered, forwarded string
	inErrors                 []string
	// inAddrErrors counts packets for an address that is not the host's,
	// which a host that does not forward drops (ip_error, ip6_forward).
	inAddrErrors           string
	reasmReqds, reasmOKs   string
	outRequests, transmits string
	fragCreates, fragOKs   string
}

var ledgers = map[int]ledgerNames{
	4: {in: "IpInReceives", delivered: "IpInDelivers", forwarded: "IpForwDatagrams", inAddrErrors: "IpInAddrErrors",
		// InCsumErrors are counted in InHdrErrors too.
		inErrors:   []string{"IpInHdrErrors", "IpInAddrErrors", "IpInUnknownProtos", "IpInDiscards", "IpExtInNoRoutes", "IpExtInTruncatedPkts"},
		reasmReqds: "IpReasmReqds", reasmOKs: "IpReasmOKs",
		outRequests: "IpOutRequests", transmits: "IpOutTransmits",
		fragCreates: "IpFragCreates", fragOKs: "IpFragOKs"},
	6: {in: "Ip6InReceives", delivered: "Ip6InDelivers", forwarded: "Ip6OutForwDatagrams", inAddrErrors: "Ip6InAddrErrors",
		inErrors:   []string{"Ip6InHdrErrors", "Ip6InTooBigErrors", "Ip6InAddrErrors", "Ip6InUnknownProtos", "Ip6InDiscards", "Ip6InNoRoutes", "Ip6InTruncatedPkts"},
		reasmReqds: "Ip6ReasmReqds", reasmOKs: "Ip6ReasmOKs",
		outRequests: "Ip6OutRequests", transmits: "Ip6OutTransmits",
		fragCreates: "Ip6FragCreates", fragOKs: "Ip6FragOKs"},
}

// unaccountedIn is how many packets of family fam IP received and neither
// delivered, forwarded nor counted as errors; false when the counters are
// not usable or lack IpInReceives/IpInDelivers.
func (c *counterView) unaccountedIn(fam int) (int64, bool) {
	n := ledgers[fam]
	in, ok1 := c.get(n.in)
	del, ok2 := c.get(n.delivered)
	if !ok1 || !ok2 {
		return 0, false
	}
	left := in - del - c.zero(n.forwarded)
	for _, e := range n.inErrors {
		left -= c.zero(e)
	}
	// Fragments are received one by one and delivered as one datagram.
	left -= c.zero(n.reasmReqds) - c.zero(n.reasmOKs)
	return max(left, 0), true
}

// inErrors is how many packets of family fam IP received and dropped
// counting an error.
func (c *counterView) inErrors(fam int) int64 {
	var n int64
	for _, e := range ledgers[fam].inErrors {
		n += c.zero(e)
	}
	return n
}

// inErrorNames names the error counters of fam that moved.
func (c *counterView) inErrorNames(fam int) string {
	var moved []string
	for _, e := range ledgers[fam].inErrors {
		if c.zero(e) > 0 {
			moved = append(moved, prose.Sayf("%s %d", e, c.zero(e)))
		}
	}
	return strings.Join(moved, ", ")
}

// unaccountedOut is how many packets of family fam IP was given to send
// (or forwarded) and never transmitted; false on kernels without
// IpOutTransmits.
func (c *counterView) unaccountedOut(fam int) (int64, bool) {
	n := ledgers[fam]
	tx, ok1 := c.get(n.transmits)
	req, ok2 := c.get(n.outRequests)
	if !ok1 || !ok2 {
		return 0, false
	}
	// A fragmented datagram is requested once and transmitted as its
	// fragments.
	left := req + c.zero(n.forwarded) + c.zero(n.fragCreates) - c.zero(n.fragOKs) - tx
	return max(left, 0), true
}

// inLedgerClean reports whether IP's ledger shows (next to) nothing
// dropped on the way in against seen unanswered SYN packets: a stray
// undelivered packet or two is other traffic's (IPv6 multicast a host has
// not joined: testdata/synack-dropped-on-egress-ipv6 has one), not the
// SYNs'.
func inLedgerClean(left int64, seen int) bool {
	return left <= int64(coverageSlack(seen)) && left < int64(seen)
}

// everyPacket says how much of what IP received it handed on.
func everyPacket(left int64) string {
	if left == 0 {
		return "every packet"
	}
	return prose.Sayf("all but %d packet{s} of those", left)
}

// zero is a counter's delta, 0 when it is absent.
func (c *counterView) zero(name string) int64 {
	v, _ := c.get(name)
	return v
}

// synDropsOf is the unanswered SYN packets to listeners of family fam.
// claimedSYNDropsOf is the unanswered SYN packets to family fam's
// listeners whose packets show their accept queue full (evidence.aqClaimedSYNs).
func (ev *evidence) claimedSYNDropsOf(fam int) int {
	if fam == 6 {
		return ev.aqClaimedSYNs6
	}
	return ev.aqClaimedSYNs - ev.aqClaimedSYNs6
}

func (ev *evidence) synDropsOf(fam int) int {
	if fam == 6 {
		return ev.synDrops6
	}
	return ev.synDropsSeen - ev.synDrops6
}

// undeliveredSYNs is how many packets of family fam IP received and did
// not deliver, and whether that is as many as the capture's unanswered
// SYN packets of fam or more: then they may all have been dropped before
// TCP, and TCP's listen counters may count other traffic's drops.
func (ev *evidence) undeliveredSYNs(fam int) (int64, bool) {
	seen := ev.synDropsOf(fam)
	left, ok := ev.counters.unaccountedIn(fam)
	return left, ok && seen > 0 && left >= int64(seen)
}

// undeliveredUnclaimed is undeliveredSYNs for the unanswered SYN packets
// of family fam that no listener seen full claims (queueSeenFull: those
// reached TCP): IP's undelivered packets (left) and whether they are as
// many as those rest SYN packets or more. Where nothing is claimed it is
// undeliveredSYNs; where a listener's queue was seen full, its overflows
// are TCP's, and IP's count need cover only the others' (a third of a
// capture holding a full queue's drops and a rate limit's read the
// limit's as TCP's: IP's 10 were short of the 24 on both ports).
func (ev *evidence) undeliveredUnclaimed(fam int) (left int64, rest int, ok bool) {
	rest = ev.synDropsOf(fam) - ev.claimedSYNDropsOf(fam)
	left, okIn := ev.counters.unaccountedIn(fam)
	return left, rest, okIn && rest > 0 && left >= int64(rest)
}

// unclaimedSYNs says which unanswered SYN packets undeliveredUnclaimed
// compared IP's count with.
func (ev *evidence) unclaimedSYNs(fam, rest int) string {
	if claimed := ev.claimedSYNDropsOf(fam); claimed > 0 {
		return prose.Sayf("the capture's %d unanswered SYN packet{s} to IPv%d listeners besides the %d at queues seen full", rest, fam, claimed)
	}
	return prose.Sayf("the capture's %d unanswered SYN packet{s} to IPv%d listeners", rest, fam)
}

// synsOf is the client SYN packets to listeners of family fam.
func (ev *evidence) synsOf(fam int) int {
	if fam == 6 {
		return ev.syns6
	}
	return ev.synsSeen - ev.syns6
}

// neverReachedIP is how many of the captured SYN packets of family fam IP
// can never have received: the SYNs alone outnumber everything it took in
// (by more than a capture's edges outside the snapshots could), and it
// dropped nothing unseen itself. Dropped after the capture's tap and
// before IP: tc ingress, an eBPF program (testdata/tc-ingress-drop: 21
// SYN packets, IpInReceives +15).
func (c *counterView) neverReachedIP(fam int, ev *evidence) (int64, bool) {
	in, ok := c.get(ledgers[fam].in)
	left, okLeft := c.unaccountedIn(fam)
	syns := int64(ev.synsOf(fam))
	if !ok || !okLeft || !inLedgerClean(left, int(syns)) || syns-in <= int64(coverageSlack(int(syns))) {
		return 0, false
	}
	return syns - in, true
}
