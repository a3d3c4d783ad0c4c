//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/synq/synq/capture/filter"
)

const (
	liveBlockSize    = 1 << 20
	liveFrameSize    = 2048
	liveBlockTimeout = 10 * time.Millisecond
)

// Live reads frames from an AF_PACKET TPACKET_V3 ring and decodes them with
// a Decoder, without allocating per packet. Not safe for concurrent use,
// except RingStats.
type Live struct {
	tp      *afpacket.TPacket
	dec     *Decoder
	lt      layers.LinkType
	name    string
	snaplen uint32
	ports   [65536 / 64]uint64 // bitmap; empty means all ports
	anyPort bool
	filter  *filter.Filter

	data []byte
	ci   gopacket.CaptureInfo
	sum  Summary
}

// OpenLive opens a packet socket on o.Interface with a kernel filter for
// o.Ports. Without the privilege to do so its error wraps
// ErrNeedPrivilege.
func OpenLive(o LiveOptions) (*Live, error) {
	if o.RingBytes <= 0 {
		o.RingBytes = 32 << 20
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 100 * time.Millisecond
	}
	if o.Snaplen == 0 {
		o.Snaplen = LiveSnaplen
	}
	l := &Live{dec: NewDecoder(), snaplen: o.Snaplen, anyPort: len(o.Ports) == 0}
	l.dec.VerifyChecksums = o.VerifyChecksums
	l.filter = o.Filter
	for _, p := range o.Ports {
		l.ports[p/64] |= 1 << (p % 64)
	}

	// One interface with Ethernet framing: SOCK_RAW, frames keep their
	// link header (and in-line VLAN tags). Every interface, or one
	// without a MAC address (loopback, tunnels): SOCK_DGRAM, frames start
	// at the IP header, whatever their link.
	iface := o.Interface
	if iface == "any" {
		iface = ""
	}
	sock, flink := afpacket.SocketDgram, FilterRawIP
	l.lt, l.name = layers.LinkTypeRaw, "any"
	if iface != "" {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", iface, err)
		}
		l.name = iface
		if len(ifc.HardwareAddr) == 6 {
			sock, flink, l.lt = afpacket.SocketRaw, FilterEthernet, layers.LinkTypeEthernet
		}
	}
	filter, err := BuildFilter(flink, o.Ports, o.Snaplen)
	if err != nil {
		return nil, err
	}
	// Loopback shows every frame twice (sent and received): keep one, as
	// tcpdump does, or each packet would be counted twice (every SYN
	// looking unanswered before its copy).
	if lo, ok := loopback(); ok && (iface == "" || iface == lo.Name) {
		once, err := LoopbackOnce(lo.Index, iface == "")
		if err != nil {
			return nil, err
		}
		filter = append(once, filter...)
	}
	blocks := max(2, (o.RingBytes+liveBlockSize-1)/liveBlockSize)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptSocketType(sock),
		afpacket.OptFrameSize(liveFrameSize),
		afpacket.OptBlockSize(liveBlockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(liveBlockTimeout),
		afpacket.OptPollTimeout(o.PollTimeout),
	)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("opening an AF_PACKET socket on %s: %w (%v)", l.name, ErrNeedPrivilege, err)
		}
		return nil, fmt.Errorf("opening an AF_PACKET socket on %s: %w", l.name, err)
	}
	if err := tp.SetBPF(filter); err != nil {
		tp.Close()
		return nil, fmt.Errorf("attaching the port filter on %s: %w", l.name, err)
	}
	l.tp = tp
	l.sum.Filter = o.Filter.String()
	l.sum.Files = []FileSummary{{Name: "live:" + l.name, Format: "afpacket", LinkTypes: []string{LinkTypeName(l.lt)}, Snaplen: o.Snaplen}}
	l.sum.LinkTypes = []string{LinkTypeName(l.lt)}
	return l, nil
}

// loopback finds the loopback interface of this network namespace.
func loopback() (net.Interface, bool) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return net.Interface{}, false
	}
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagLoopback != 0 {
			return ifc, true
		}
	}
	return net.Interface{}, false
}

// LinkType is the link type of the frames Frame returns.
func (l *Live) LinkType() layers.LinkType { return l.lt }

// Snaplen is the number of bytes kept of each frame.
func (l *Live) Snaplen() uint32 { return l.snaplen }

// Next reads frames until one is a TCP segment on a wanted port and fills
// p with it (KindTCP), or returns the Kind of a frame that is not TCP. It
// returns ErrLiveTimeout when the poll timeout passed with no frame. The
// raw frame stays available from Frame until the next call.
func (l *Live) Next(p *Packet) (Kind, error) {
	for {
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				return 0, ErrLiveTimeout
			}
			return 0, fmt.Errorf("reading from %s: %w", l.name, err)
		}
		ts := ci.Timestamp.UnixNano()
		if l.filter != nil && !l.filter.Match(l.lt, data) {
			l.sum.Packets++
			l.sum.Files[0].Packets++
			l.sum.Filtered++
			continue
		}
		k := l.dec.Decode(l.lt, data, ts, p)
		if k == KindTCP && !l.anyPort && !l.wanted(p.Src.Port()) && !l.wanted(p.Dst.Port()) {
			// Frames queued before the filter was attached.
			continue
		}
		l.data, l.ci = data, ci
		l.sum.Packets++
		if l.sum.Start == 0 || ts < l.sum.Start {
			l.sum.Start = ts
		}
		if ts > l.sum.End {
			l.sum.End = ts
		}
		l.sum.Files[0].Packets++
		switch k {
		case KindTCP:
			l.sum.TCPPackets++
		case KindICMPError:
			l.sum.ICMPErrors++
		case KindNonTCP:
			l.sum.NonTCP++
		case KindFragment:
			l.sum.Fragments++
		case KindTruncated:
			l.sum.Truncated++
		}
		return k, nil
	}
}

func (l *Live) wanted(port uint16) bool { return l.ports[port/64]&(1<<(port%64)) != 0 }

// Frame is the last frame Next read, valid until the next call.
func (l *Live) Frame() ([]byte, gopacket.CaptureInfo) { return l.data, l.ci }

// RingStats reads the ring's counters since the socket was opened.
func (l *Live) RingStats() (RingStats, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return RingStats{}, fmt.Errorf("reading ring statistics: %w", err)
	}
	return RingStats{Received: uint64(v3.Packets()), Dropped: uint64(v3.Drops()), QueueFreezes: uint64(v3.QueueFreezes())}, nil
}

// Summary counts the frames read so far, like Reader.Summary.
func (l *Live) Summary() Summary {
	s := l.sum
	s.Files = append([]FileSummary(nil), l.sum.Files...)
	return s
}

// Close closes the socket.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}
