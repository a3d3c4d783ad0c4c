package analyze

import (
	"fmt"
	"strconv"

	"github.com/synq/synq/host"
)

// Limits states what a host's sysctls mean for its listen queues, for
// the kernels described in shared/docs/listen-queues.md.
type Limits struct {
	Somaxconn     int // 0 when unknown
	MaxSYNBacklog int
	Syncookies    int // -1 when unknown
	Statements    []string
}

func sysctlInt(h *host.Host, name string) (int, bool) {
	v, ok := h.Sysctl(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// EffectiveLimits reads the queue sysctls of h (nil when none were given)
// and says what they make of each queue.
func EffectiveLimits(h *host.Host) *Limits {
	if h == nil || h.Sysctls == nil {
		return nil
	}
	l := &Limits{Syncookies: -1}
	if n, ok := sysctlInt(h, "net.core.somaxconn"); ok {
		l.Somaxconn = n
		l.Statements = append(l.Statements,
			fmt.Sprintf("Accept queue of each listener: min(its listen() backlog, net.core.somaxconn = %d); the kernel holds one more before it counts the queue full.", n),
			fmt.Sprintf("SYN queue (Linux 4.4 and later): full at the same min(backlog, %d), plus one (measured on 6.18). On 3.x and RHEL 7 kernels: roundup_pow_of_two(max(min(%d, backlog, tcp_max_syn_backlog), 8) + 1).", n, n))
	}
	if n, ok := sysctlInt(h, "net.ipv4.tcp_max_syn_backlog"); ok {
		l.MaxSYNBacklog = n
		l.Statements = append(l.Statements, fmt.Sprintf("With syncookies off, once the SYN queue holds more than 3/4 of net.ipv4.tcp_max_syn_backlog (%d of %d), SYNs from peers that never completed a connection before are dropped.", n*3/4, n))
	}
	if n, ok := sysctlInt(h, "net.ipv4.tcp_syncookies"); ok {
		l.Syncookies = n
		switch n {
		case 0:
			l.Statements = append(l.Statements, "net.ipv4.tcp_syncookies = 0: a full SYN queue drops new SYNs.")
		case 1:
			l.Statements = append(l.Statements, "net.ipv4.tcp_syncookies = 1: a full SYN queue answers with syncookies.")
		default:
			l.Statements = append(l.Statements, fmt.Sprintf("net.ipv4.tcp_syncookies = %d: every SYN is answered with a syncookie.", n))
		}
	}
	if n, ok := sysctlInt(h, "net.ipv4.tcp_abort_on_overflow"); ok && n != 0 {
		l.Statements = append(l.Statements, "net.ipv4.tcp_abort_on_overflow = 1: a full accept queue resets handshakes instead of ignoring them.")
	}
	if n, ok := sysctlInt(h, "net.ipv4.tcp_synack_retries"); ok && n >= 0 && n < 30 {
		l.Statements = append(l.Statements, fmt.Sprintf("net.ipv4.tcp_synack_retries = %d: a half-open handshake is retried for about %d s before it is dropped (fewer retries when the SYN queue is over half full).", n, 1<<(n+1)-1))
	}
	if _, ok := h.Sysctl("net.ipv4.tcp_tw_recycle"); ok {
		if v, _ := sysctlInt(h, "net.ipv4.tcp_tw_recycle"); v != 0 {
			l.Statements = append(l.Statements, "net.ipv4.tcp_tw_recycle = 1: SYNs from clients behind NAT are dropped when their timestamps look old (PAWS).")
		}
	}
	return l
}
