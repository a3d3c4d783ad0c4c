package analyze

import "github.com/synq/synq/internal/prose"

// A SYN proxy (netfilter's SYNPROXY target or nft statement, a DDoS
// appliance) answers a client's SYN itself with a cookie SYN-ACK offering
// a zero window, checks the client's ACK, and only then sends the
// listener a SYN of its own. The listener's SYN-ACK never reaches the
// wire: the proxy turns it into an ACK that opens the client's window. So
// on this wire a proxied handshake the listener answered shows that ACK
// (Established), one whose SYN the listener dropped shows nothing more
// (ProxiedUnanswered), and one it refused shows the reset the proxy
// passed on (Rejected).

// proxiedNote says, for a listener some of whose SYNs a proxy answered,
// what the capture can and cannot show of its handshakes; "" if none.
func proxiedNote(l *Listener) string {
	sg := &l.Signs
	if sg.Proxied == 0 {
		return ""
	}
	passed := "for none of them"
	if sg.ProxiedPassed > 0 {
		passed = prose.Sayf("for %d of them", sg.ProxiedPassed)
	}
	return prose.Sayf("A SYN proxy answered %d SYN{s} for %s (zero-window SYN-ACKs: netfilter's SYNPROXY does that), so the listener's own handshakes are not on this wire: the listener answered the SYN the proxy sent it %s (the proxy then opened the window). ss and nstat on this host show the listener's side.",
		sg.Proxied, l.Server, passed)
}
