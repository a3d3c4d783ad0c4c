package analyze

import (
	"fmt"
	"time"
)

// appResetWindow is how soon after the handshake a reset from a server
// that sent nothing counts as the application refusing the connection
// rather than closing it later (an idle timeout closes after seconds).
const appResetWindow = time.Second

// appResetCause: the application took connections and reset them at once
// (closed with SO_LINGER 0 at a connection limit, an access rule, a
// crash). The reset that answers the handshake ACK carries the ACK flag,
// as a connected socket's does (tcp_send_active_reset); the listener's
// abort on a full accept queue answers the ACK with a bare RST
// (tcp_v4_send_reset, testdata/abort-on-overflow). Without telling the
// two apart, an application resetting every connection read as "accept
// queue overflow, medium" (testdata/app-reset-after-accept).
func appResetCause(l *Listener, ev *evidence) []hypothesis {
	n, est := l.Signs.AcceptedThenReset, l.Signs.EstablishedThenReset
	if n+est == 0 {
		return nil
	}
	var signs []Sign
	if n > 0 {
		signs = append(signs, forSign(Strong, FromPackets, "The server answered %d handshake{s} with a reset carrying ACK right after the client's ACK: a connected socket's reset, so the kernel had made the connection{s} and the application aborted {it|them}; the listener's abort on a full accept queue sends a bare RST.", n))
	}
	if est > 0 {
		signs = append(signs, forSign(Strong, FromPackets, "The server reset %d established connection{s} within %s of the handshake without sending any data (the client's first bytes acknowledged, then a reset): the application aborted {it|them}.", est, FormatDuration(appResetWindow)))
	}
	c := &ev.counters
	lo, okLO := c.get("TcpExtListenOverflows")
	emb, okEmb := c.get("TcpExtEmbryonicRsts")
	aborts := int64(l.Outcomes[ResetAfterACK] - n + l.Outcomes[ClientReset])
	switch {
	case okLO && okEmb && lo == 0 && emb <= aborts:
		signs = append(signs, forSign(Decisive, FromCounters, "The listener aborted none of them: TcpExtListenOverflows 0, TcpExtEmbryonicRsts %d (the half-open resets the capture shows otherwise).", emb))
	case okEmb && emb >= aborts+int64(n):
		signs = append(signs, againstSign(Strong, FromCounters, "the kernel counted %d embryonic reset{s} (TcpExtEmbryonicRsts): as many listener aborts as these resets.", emb))
	}
	return []hypothesis{{Finding: Finding{Kind: KindAppReset, Affected: n + est, Signs: signs,
		Summary: fmt.Sprintf("The application behind %s accepted connections and reset them at once: not a listen queue; the kernel completed every handshake.", l.Server),
		Remedy: []string{
			"Look at the application (or the proxy that owns the port) at that time: its connection limit (nginx worker_connections, HAProxy maxconn, Envoy's overload manager, ulimit -n), access rules (allow lists, tcpwrappers), crashes or restarts in its log.",
			fmt.Sprintf("See which process owns the port: ss -ltnp 'sport = :%d'.", l.Server.Port()),
		}}}}
}
