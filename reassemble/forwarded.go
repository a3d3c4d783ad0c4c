package reassemble

import (
	"net/netip"
	"time"

	"github.com/synq/synq/capture"
)

// keptSYNs remembers, while --port or --server leaves listeners out, the
// first SYNs of the attempts kept, so that the same SYN seen again going
// to a listener left out can be recognised: the capturing host forwarded
// it with destination NAT (a Kubernetes NodePort, a DNAT rule, IPVS), and
// that listener is where the connection ends. A user on a node names the
// node's port (--port 30080); its verdict is the pod's. It is a
// direct-mapped cache by ISN: the copy follows within microseconds.
type keptSYNs struct {
	slots []keptSYN
	// extra are the listeners left out by the filters that kept
	// listeners' connections were forwarded to: kept from then on.
	extra map[netip.AddrPort]bool
}

type keptSYN struct {
	at         int64
	isn, tsval uint32
	port       uint16 // the client's
	hasTS      bool
}

const (
	keptSYNSlots = 1 << 12
	// keptSYNWindow is how long after the kept SYN its copy may come (the
	// forwarding host may have dropped the first SYNs). An ISN and a
	// timestamp both equal by chance within it are out of reach; an ISN
	// and a client port, nearly so.
	keptSYNWindow = int64(3 * time.Second)
	maxExtra      = 256
)

func keptSlot(isn uint32) uint32 { return (isn * 0x9E3779B1) >> (32 - 12) }

// note remembers a kept attempt's first SYN.
func (k *keptSYNs) note(p *capture.Packet) {
	if k.slots == nil {
		k.slots = make([]keptSYN, keptSYNSlots)
	}
	k.slots[keptSlot(p.Seq)] = keptSYN{at: p.Time, isn: p.Seq, tsval: p.Opts.TSval, hasTS: p.Opts.HasTS, port: p.Src.Port()}
}

// forwarded reports whether p, left out by the filters, belongs to a
// listener kept ones forwarded to, which it then keeps.
func (k *keptSYNs) forwarded(p *capture.Packet) bool {
	if k.extra != nil && (k.extra[p.Dst] || k.extra[p.Src]) {
		return true
	}
	if k.slots == nil || p.Flags&(capture.FlagSYN|capture.FlagACK) != capture.FlagSYN || p.ICMP.IsSet() || len(k.extra) >= maxExtra {
		return false
	}
	s := &k.slots[keptSlot(p.Seq)]
	if s.isn != p.Seq || s.at == 0 || p.Time < s.at || p.Time-s.at > keptSYNWindow || s.hasTS != p.Opts.HasTS {
		return false
	}
	if s.hasTS && s.tsval != p.Opts.TSval || !s.hasTS && s.port != p.Src.Port() {
		return false
	}
	if k.extra == nil {
		k.extra = make(map[netip.AddrPort]bool)
	}
	k.extra[p.Dst] = true
	return true
}
