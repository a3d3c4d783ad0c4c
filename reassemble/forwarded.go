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
	at    int64
	print SYNPrint
}

// SYNPrint is what a client's SYN keeps through destination NAT, which
// rewrites addresses and ports, never sequence numbers or options: the
// ISN and the timestamp. Its client port too, unless the translation
// masquerades with random ports (kube-proxy's --random-fully), so the
// port stands in only where the SYN has no timestamp.
type SYNPrint struct {
	ISN, TSval uint32
	Port       uint16 // the client's
	HasTS      bool
}

// SYNPrintOf is p's (a SYN's) print.
func SYNPrintOf(p *capture.Packet) SYNPrint {
	return SYNPrint{ISN: p.Seq, TSval: p.Opts.TSval, Port: p.Src.Port(), HasTS: p.Opts.HasTS}
}

// SYNPrint is the print of the attempt's first SYN.
func (a *Attempt) SYNPrint() SYNPrint {
	return SYNPrint{ISN: a.ClientISN, TSval: a.SYNOpts.TSval, Port: a.Client.Port(), HasTS: a.SYNOpts.HasTS}
}

// Same reports whether two SYNs can be one SYN seen before and after the
// translation. An ISN and a timestamp both equal by chance are out of
// reach; an ISN and a client port, nearly so. A tool that sends every
// SYN with one ISN has other ports and no timestamps.
func (x SYNPrint) Same(y SYNPrint) bool {
	if x.ISN != y.ISN || x.HasTS != y.HasTS {
		return false
	}
	if x.HasTS {
		return x.TSval == y.TSval
	}
	return x.Port == y.Port
}

// Slot is where x goes in a direct-mapped table of 1<<bits slots.
func (x SYNPrint) Slot(bits uint) uint32 { return (x.ISN * 0x9E3779B1) >> (32 - bits) }

const (
	keptSYNSlots = 1 << keptSYNBits
	keptSYNBits  = 12
	// keptSYNWindow is how long after the kept SYN its copy may come (the
	// forwarding host may have dropped the first SYNs).
	keptSYNWindow = int64(3 * time.Second)
	maxExtra      = 256
)

// note remembers a kept attempt's first SYN.
func (k *keptSYNs) note(p *capture.Packet) {
	if k.slots == nil {
		k.slots = make([]keptSYN, keptSYNSlots)
	}
	x := SYNPrintOf(p)
	k.slots[x.Slot(keptSYNBits)] = keptSYN{at: p.Time, print: x}
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
	x := SYNPrintOf(p)
	s := &k.slots[x.Slot(keptSYNBits)]
	if s.at == 0 || p.Time < s.at || p.Time-s.at > keptSYNWindow || !s.print.Same(x) {
		return false
	}
	if k.extra == nil {
		k.extra = make(map[netip.AddrPort]bool)
	}
	k.extra[p.Dst] = true
	return true
}
