//go:build linux

package host

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// QueueSampler asks the kernel (inet_diag over netlink) for the listening
// sockets on some ports and their handshakes in progress. It sees the
// network namespace of the thread that created it. Not safe for concurrent
// use.
type QueueSampler struct {
	conn   *netlink.Conn
	ports  map[uint16]bool
	socks  []diagSocket
	states uint32
}

// NewQueueSampler opens the netlink socket. No ports means every port.
func NewQueueSampler(ports []uint16) (*QueueSampler, error) {
	c, err := netlink.Dial(unix.NETLINK_INET_DIAG, nil)
	if err != nil {
		return nil, fmt.Errorf("opening an inet_diag netlink socket: %w", err)
	}
	s := &QueueSampler{conn: c,
		// Either SYN_RECV bit selects request sockets (TCP_NEW_SYN_RECV
		// inside the kernel); 6.18 reports them with idiag_state
		// SYN_RECV (3), not 12 (TestQueueSamplerNetns).
		states: 1<<tcpListen | 1<<tcpSynRecv | 1<<tcpNewSynRecv}
	if len(ports) > 0 {
		s.ports = map[uint16]bool{}
		for _, p := range ports {
			s.ports[p] = true
		}
	}
	return s, nil
}

// Sample dumps the listening and SYN_RECV TCP sockets of both families and
// returns one sample per listener on the wanted ports, stamped t.
func (s *QueueSampler) Sample(t int64) ([]QueueSample, error) {
	s.socks = s.socks[:0]
	for _, fam := range []uint8{afInet, afInet6} {
		msgs, err := s.conn.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   diagRequest(fam, s.states),
		})
		if err != nil {
			return nil, fmt.Errorf("inet_diag dump: %w", err)
		}
		for _, m := range msgs {
			d, err := parseDiagMsg(m.Data)
			if err != nil {
				return nil, err
			}
			if s.ports == nil || s.ports[d.Local.Port()] {
				s.socks = append(s.socks, d)
			}
		}
	}
	var wanted func(uint16) bool
	if s.ports != nil {
		wanted = func(p uint16) bool { return s.ports[p] }
	}
	return queueSamples(t, s.socks, wanted), nil
}

// Close closes the netlink socket.
func (s *QueueSampler) Close() error { return s.conn.Close() }
