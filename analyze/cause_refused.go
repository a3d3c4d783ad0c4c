package analyze

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/synq/synq/internal/prose"
)

// icmpRejectCause: SYNs refused with ICMP destination-unreachable errors,
// never answered by TCP (K17). Linux TCP answers a SYN with a SYN-ACK or a
// reset, never with ICMP: an error from the server's own address was built
// by a firewall `reject with icmp` rule there (netfilter's REJECT counts it
// in IcmpOutDestUnreachs) or by a device answering in its name (which the
// server's counters do not see); one from another address by a router or
// firewall on the path. A capture filtered to `tcp port N` holds no ICMP:
// then only the counter points at the rule, strong and not decisive.
func icmpRejectCause(l *Listener, ev *evidence) []hypothesis {
	if l.Outcomes[ICMPUnreachable] > 0 {
		return []hypothesis{icmpSeen(l, ev)}
	}
	n := l.Outcomes[UnansweredSYN] + l.Outcomes[Incomplete]
	icmp, ok := ev.counters.get("IcmpOutDestUnreachs")
	if n == 0 || !ok || int(icmp) < n {
		return nil
	}
	signs := []Sign{
		forSign(Weak, FromPackets, "%d {attempt's SYN|attempts' SYNs} got no TCP answer (%d of them still counted in progress: their clients gave up at once, as an ICMP error makes them do); the capture holds no ICMP error quoting them (a `tcp port` capture filter leaves ICMP out).", n, l.Outcomes[Incomplete]),
		forSign(Strong, FromCounters, "The host sent %d ICMP destination-unreachable error{s} (IcmpOutDestUnreachs) and no TCP listen counter explains the SYNs: a firewall rule `reject with icmp` answered them.", icmp),
	}
	if lo, ok := ev.counters.get("TcpExtListenDrops"); ok && lo > 0 {
		signs = append(signs, againstSign(Strong, FromCounters, "the kernel also counted %d listen drop{s} (TcpExtListenDrops).", lo))
	}
	return []hypothesis{{Finding: Finding{Kind: KindFirewallReject, Mode: "icmp", Affected: n, Signs: signs,
		Summary: icmpSummary(l, true),
		Remedy: []string{
			rejectRules,
			fmt.Sprintf("Capture the ICMP errors with the SYNs to see which clients they answer: tcpdump -i any 'tcp port %d or icmp or icmp6'.", l.Server.Port()),
		}}, explainsUnanswered: true}}
}

const rejectRules = "List the rules that could match: nft list ruleset; iptables -nvL (look for REJECT and its counters)."

// icmpSeen weighs ICMP errors the capture shows quoting the SYNs.
func icmpSeen(l *Listener, ev *evidence) hypothesis {
	n, own := l.Outcomes[ICMPUnreachable], l.Signs.ICMPFromServer
	kinds := icmpKinds(l.Signs.ICMPKinds)
	var signs []Sign
	onServer := own == n
	switch {
	case own == n:
		signs = append(signs, forSign(Decisive, FromPackets, "%d {attempt's SYN was|attempts' SYNs were} answered by ICMP errors (%s) from %s itself and never by TCP: TCP answers a SYN with a SYN-ACK or a reset, never ICMP, so a firewall REJECT rule built them.", n, kinds, l.Server.Addr()))
	case own == 0:
		signs = append(signs, forSign(Decisive, FromPackets, "%d {attempt's SYN was|attempts' SYNs were} answered by ICMP errors (%s) from other addresses than %s, and never by TCP: a router or firewall on the path refused them.", n, kinds, l.Server.Addr()))
	default:
		signs = append(signs, forSign(Decisive, FromPackets, "%d {attempt's SYN was|attempts' SYNs were} answered by ICMP errors (%s), %d of them from %s itself and %d from other addresses on the path, and never by TCP.", n, kinds, own, l.Server.Addr(), n-own))
	}
	if own > 0 {
		if icmp, ok := ev.counters.get("IcmpOutDestUnreachs"); ok {
			if int(icmp)+coverageSlack(ev.icmpOwnSeen) < ev.icmpOwnSeen {
				onServer = false
				signs = append(signs, forSign(Strong, FromCounters, "The server sent only %d ICMP destination-unreachable error{s} (IcmpOutDestUnreachs) for the %d the capture shows from its address: a device in front of it answered in its name.", icmp, ev.icmpOwnSeen))
			} else {
				signs = append(signs, forSign(Strong, FromCounters, "The server's kernel sent them: IcmpOutDestUnreachs rose by %d.", icmp))
			}
		}
	}
	mode := "icmp"
	remedy := []string{rejectRules,
		fmt.Sprintf("See which sources the rule answers: tcpdump -ni any 'icmp[0] = 3 or icmp6[0] = 1' on %s.", l.Server.Addr())}
	if !onServer {
		mode = "icmp_path"
		remedy = []string{
			"Find the device that sends the errors (the ICMP packets' source address) and its rules; traceroute -T -p " + fmt.Sprint(l.Server.Port()) + " " + l.Server.Addr().String() + " shows the hop.",
			fmt.Sprintf("Check security groups, network ACLs and firewalls between the clients and %s.", l.Server),
		}
	}
	return hypothesis{Finding: Finding{Kind: KindFirewallReject, Mode: mode, Affected: n, Signs: signs,
		Summary: icmpSummary(l, onServer), Remedy: remedy}}
}

func icmpSummary(l *Listener, onServer bool) string {
	if onServer {
		return fmt.Sprintf("A firewall rule on the server refused connections to %s with ICMP errors (nftables/iptables REJECT with icmp): clients fail at once with 'connection refused' or 'no route to host'.", l.Server)
	}
	return fmt.Sprintf("A router or firewall between the clients and %s refused connections with ICMP errors: clients fail at once with 'connection refused' or 'no route to host'; the server never saw them.", l.Server)
}

// icmpKinds lists the ICMP errors by name, the most common first.
func icmpKinds(kinds map[string]int) string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(kinds[b], kinds[a]), cmp.Compare(a, b)) })
	if len(names) == 1 {
		return names[0]
	}
	for i, k := range names {
		names[i] = prose.Sayf("%d %s", kinds[k], k)
	}
	return strings.Join(names, ", ")
}

// refusedCause: SYNs answered by a RST, from the kernel (nothing
// listening, or a listener restarting) or from a firewall REJECT, which
// builds the RST itself so TcpOutRsts does not count it (K17).
func refusedCause(l *Listener, ev *evidence) []hypothesis {
	n := l.Outcomes[Rejected]
	if n == 0 {
		return nil
	}
	port := l.Server.Port()
	// One refusal is too little to say no socket listened: a REJECT rule
	// answers the same, and a single reset may be anything's.
	seenStrength := Strong
	if n == 1 {
		seenStrength = Weak
	}
	seen := forSign(seenStrength, FromPackets, "%d SYN{s} {was|were} answered with RST instead of SYN-ACK.", n)
	if p := l.Signs.ProxiedRefused; p > 0 {
		seen.Says = prose.Sayf("%d SYN{s} {was|were} answered with RST instead of SYN-ACK (%d through a SYN proxy, which completed the client's handshake and passed on the listener's reset to the SYN it sent).", n, p)
	}
	noListener := []Sign{seen}
	reject := []Sign{forSign(Weak, FromPackets, "%d SYN{s} {was|were} answered with RST: a firewall rule `reject with tcp reset` answers exactly like a port with no listener.", n)}
	sg := &l.Signs
	if sg.RefusedInterleaved {
		noListener = append(noListener, againstSign(Strong, FromPackets, "The refusals came between accepted attempts, not in one stretch: a listener that is down or restarting refuses every SYN for a while, not some among accepted ones."))
		reject = append(reject, forSign(Strong, FromPackets, "The refusals came between accepted attempts: a rule matching some clients or packets refused them while the listener answered the rest."))
	} else if served := l.Outcomes[Established] > 0 || sg.MidStreamServed > 0; served && !sg.SourcesCapped && sg.RefusedSources > 0 {
		switch sg.RefusedSourcesAnswered {
		case 0:
			// The port served clients during the capture, and refused
			// only clients it never answered: a stretch of downtime and
			// a rule matching those clients look the same.
			seen.Strength = Weak
			noListener[0] = seen
			reject = append(reject, forSign(Weak, FromPackets, "They came from %d address{|es} the listener never answered, while the port served other clients: a rule matching those sources looks the same as a listener down for a while.", sg.RefusedSources))
		case sg.RefusedSources:
			noListener = append(noListener, forSign(Weak, FromPackets, "The listener answered every refused client at other times: a rule matching their addresses would have refused them then too."))
		}
	}
	if rsts, ok := ev.counters.get("TcpOutRsts"); ok {
		if int(rsts)+coverageSlack(ev.refused) < ev.refused {
			noListener = append(noListener, againstSign(Decisive, FromCounters, "the kernel sent only %d reset{s} (TcpOutRsts) for the %d refused attempts in the capture: the others were built outside TCP, by a firewall REJECT rule.", rsts, ev.refused))
			reject = append(reject, forSign(Decisive, FromCounters, "TcpOutRsts rose by %d, fewer than the %d refused attempt{s}: netfilter's REJECT builds its resets without TCP counting them.", rsts, ev.refused))
		} else if int(rsts) < ev.refused {
			// Fewer, but by no more than a capture that started before
			// the first snapshot may show: it decides nothing (one
			// refusal in a slice of a REJECT capture read "TcpOutRsts
			// counted the resets (0)").
			reject = append(reject, forSign(Weak, FromCounters, "TcpOutRsts rose by %d, fewer than the %d refused attempt{s} in the capture, but by too few to rule out resets sent before the first snapshot was taken: netfilter's REJECT builds its resets without TCP counting them.", rsts, ev.refused))
		} else if strength := Decisive; true {
			// Resets the capture does not show (other ports, other
			// traffic: a host answers port scans with them) can make up
			// the count: then it is strong, not proof.
			other := ""
			if int(rsts) > ev.serverRSTsSeen+coverageSlack(ev.serverRSTsSeen) {
				strength = Strong
				other = prose.Sayf(", though it also counts %d reset{s} the capture does not show, which could make up the count", int(rsts)-ev.serverRSTsSeen)
			}
			noListener = append(noListener, forSign(strength, FromCounters, "TcpOutRsts rose by %d%s: the kernel's TCP sent the resets itself.", rsts, other))
			reject = append(reject, againstSign(strength, FromCounters, "TcpOutRsts counted the resets (%d%s): TCP sent them, not a firewall.", rsts, other))
		}
	}
	if h := ev.host; h != nil && h.QueueSamples > 0 {
		// ss -lnt files or synq live's samples: whether a socket
		// listened on the port.
		q, found := h.QueueFor(l.Server)
		switch {
		case !found:
			noListener = append(noListener, forSign(Strong, FromQueues, "No socket listened on port %d in any of the %d listen-queue samples taken on the host.", port, h.QueueSamples))
		case l.Server.Addr().Unmap().Is4() && !q.Listener.Addr().Unmap().Is4():
			// An IPv6 wildcard serves IPv4 clients only without
			// IPV6_V6ONLY: the samples cannot say which.
			noListener = append(noListener, forSign(Weak, FromQueues, "The only socket on port %d in the listen-queue samples is IPv6, %s: with IPV6_V6ONLY (set by the application, or net.ipv6.bindv6only=1) it takes no IPv4 client, and the kernel refuses them as if nothing listened.", port, q.Listener))
		case q.Samples >= h.QueueSamples:
			noListener = append(noListener, againstSign(Strong, FromQueues, "A socket listened on %s in each of the %d listen-queue samples taken on the host.", q.Listener, h.QueueSamples))
			reject = append(reject, forSign(Weak, FromQueues, "A socket listened on %s in each of the %d listen-queue samples taken on the host, yet SYNs were refused.", q.Listener, h.QueueSamples))
		default:
			noListener = append(noListener, forSign(Weak, FromQueues, "A socket listened on %s in only %d of the %d listen-queue samples taken on the host: the listener was gone part of the time (a restart?).", q.Listener, q.Samples, h.QueueSamples))
		}
	}
	if s, ok := kernelSign(l, KindNoListener); ok {
		noListener = append(noListener, s)
		reject = append(reject, againstSign(Strong, FromKernel, "The kernel's TCP found no socket for these SYNs (%d dropped as NO_SOCKET) and answered them itself.", l.Kernel.Packets(ReasonNoSocket)))
	}
	if s, ok := kernelSign(l, KindFiltered); ok {
		s.Says += " A REJECT rule drops the SYN it answers."
		reject = append(reject, s)
	}
	return []hypothesis{
		{Finding: Finding{Kind: KindNoListener, Affected: n, Signs: noListener,
			Summary: noListenerSummary(l.Server.String(), n, l.Outcomes[Established]),
			Remedy: []string{
				fmt.Sprintf("Check that the service is running and bound to this address and port: ss -lnt 'sport = :%d'.", port),
				"If it restarts, clients that connect during the restart are refused: drain them first or use a load balancer health check.",
			}}},
		{Finding: Finding{Kind: KindFirewallReject, Affected: n, Signs: reject,
			Summary: fmt.Sprintf("A firewall rule on the server refused connections to %s with a reset (nftables/iptables REJECT), though a listener may be there.", l.Server),
			Remedy: []string{
				rejectRules,
				fmt.Sprintf("Check that the listener is there: ss -lnt 'sport = :%d'.", port),
			}}},
	}
}

func noListenerSummary(server string, refused, established int) string {
	if established > 0 {
		return prose.Sayf("%s refused %d connection attempt{s} with a reset while it accepted %d other{s}: the listener was down part of the time (a restart?).", server, refused, established)
	}
	return prose.Sayf("Nothing was listening on %s: the server refused %d connection attempt{s} with a reset.", server, refused)
}
