package analyze

import (
	"fmt"
	"strings"

	"github.com/synq/synq/internal/prose"
)

// A capture of one direction (Signs.ServerUnseen: 'dst port 8080',
// tcpdump -Q in, a one-way mirror or tap, a host whose answers leave by
// another path) holds the clients' packets and none of the server's.
// Every cause reads the server's answers: a SYN the server dropped and
// one it answered look the same there (unanswered), and so do a
// completed handshake and one reset or ignored at a full accept queue.
// Read as if both directions were there, such captures of full accept
// queues said "SYNs dropped before TCP, medium", and of abort_on_overflow
// resets "healthy, high" with ListenOverflows rising.

// oneWaySign says what the capture lacks, against any claim read from
// it (oneWayDecider adds what decides it).
func oneWaySign(l *Listener) Sign {
	return againstSign(Strong, FromPackets, "The capture holds none of %s's packets (no SYN-ACK, reset, ACK or data), only its clients': it was filtered to one direction ('dst port %d', tcpdump -Q in), taken from a one-way mirror or tap, or the server's answers leave by another path. SYNs the server dropped at a full queue, SYNs a firewall dropped and SYN-ACKs lost on the way look alike there, and resets or ignored ACKs after the handshake do not show.", l.Server, l.Server.Port())
}

// oneWayDecider is what decides it, for a finding nothing else decided.
func oneWayDecider(l *Listener) string {
	return fmt.Sprintf(" What decides it: nstat -az before and after on the server (TcpExtListenOverflows: accept queue; TcpExtTCPReqQFullDrop: SYN queue; neither: dropped before TCP or on the path), or a capture of both directions (tcpdump -i any 'tcp port %d').", l.Server.Port())
}

// oneWayFinding is a one-way listener's finding from what its clients
// show, at low confidence: healthy only if every client went on at once
// and none sent anything again; moved names the counters that rose
// (oneWayMoved), if the counters are given.
func oneWayFinding(l *Listener, moved string) Finding {
	o, sg := &l.Outcomes, &l.Signs
	port := l.Server.Port()
	signs := []Sign{forSign(Weak, FromPackets, "%d attempt{s} went on as if answered (the client acknowledged a SYN-ACK the capture does not hold), %d still in progress when the capture ended.", o[Established], o[Incomplete])}
	declined := sg.ResetFirstAnswer
	failed, delayed, waiting, resent := o.Failed()-declined, sg.RetransmittedThenAnswered, sg.SYNsWaiting, sg.ResentUnanswered
	if failed > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%s never went on: {its|their} client{s} took no answer, or gave up.", unansweredSYNs(l, o[UnansweredSYN])))
	}
	if declined > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d client{s} reset the answer to {its|their} SYN at once (the reset acknowledges a SYN-ACK the capture does not hold): half-open health checks or SYN scans, not failures.", declined))
	}
	if delayed > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} went on only after {its|their} client sent the SYN again (%d SYN packet{s} got no answer the client took).", delayed, sg.DelayedPackets))
	}
	if waiting > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d {attempt's|attempts'} only SYN was still unanswered when the capture ended, after waiting up to %s (each %s or more), while other clients went on at once.", waiting, FormatDuration(sg.SYNWaitedMax), FormatDuration(sg.SYNWaitLimit)))
	}
	if n := sg.SilentSources; n >= 20 && (failed > 0 || waiting > 0) {
		signs = append(signs, forSign(Weak, FromPackets, "%d source addresses sent SYNs and never went on: many sources that never complete a handshake are what a SYN flood from spoofed addresses looks like.", n))
	}
	if resent > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d client{s} went on and then sent {its|their} data or FIN again: nothing the capture can show acknowledged it (ignored at a full accept queue, dropped by a firewall, or the server's answers lost).", resent))
	}
	if moved != "" {
		signs = append(signs, forSign(Weak, FromCounters, "%s", moved))
	}
	sign := oneWaySign(l)
	sign.Says += oneWayDecider(l)
	signs = append(signs, sign)
	remedy := []string{
		fmt.Sprintf("Capture both directions, with nstat -az before and after: tcpdump -i any -w incident.pcap 'tcp port %d' (no 'dst', no -Q in), and pass the snapshots with --nstat.", port),
		fmt.Sprintf("Meanwhile, on the server: ss -lnt 'sport = :%d' (a Recv-Q above Send-Q is a full accept queue) and nstat -az TcpExtListenOverflows TcpExtTCPReqQFullDrop.", port),
	}
	finished := o[Established] + failed
	if failed+delayed+waiting+resent == 0 && moved == "" && finished < minHealthyAttempts {
		return weigh(Finding{Kind: KindNotEnoughData, Signs: signs, Remedy: remedy,
			Summary: prose.Sayf("Not enough data on %s: only %d connection attempt{s} finished in the capture (%d needed to call it healthy), and the capture holds none of the server's packets.", l.Server, finished, minHealthyAttempts)})
	}
	if failed+delayed+waiting+resent == 0 && moved == "" {
		return weigh(Finding{Kind: KindHealthy, Signs: signs, Remedy: remedy,
			Summary: prose.Sayf("Every client of %s went on as if answered (%d attempt{s}) and none sent anything again, but the capture holds none of the server's packets: a reset after the handshake would not show.", l.Server, o[Established])})
	}
	var seen []string
	for _, p := range []struct {
		n    int
		what string
	}{{failed, "%d attempt{s} never went on"}, {delayed, "%d went on only after sending the SYN again"}, {waiting, "%d still waited for an answer at the end"}, {resent, "%d sent data again"}} {
		if p.n > 0 {
			seen = append(seen, prose.Sayf(p.what, p.n))
		}
	}
	if len(seen) == 0 {
		seen = append(seen, "no client had trouble the capture shows, but the kernel counted drops or resets")
	}
	return weigh(Finding{Kind: KindInconclusive, Affected: max(failed, delayed, waiting, resent), Signs: signs, Remedy: remedy,
		Summary: prose.Sayf("The capture holds only the packets sent to %s, none of its own (%s): whether the server dropped them (and at which queue), a firewall did, or its answers were lost cannot be seen.", l.Server, strings.Join(seen, ", "))})
}

// oneWayMoved names the counters of handshake trouble that rose past
// what the capture shows: drops and cookies past the unanswered SYNs
// (on every listener: the counters are the namespace's), and any ACKs
// held back, SYN-ACKs sent again or resets, none of which a one-way
// capture can show; "" if none did.
func oneWayMoved(ev *evidence) string {
	moved := dropsPast(ev, func(int) int { return 0 })
	var more []string
	for _, name := range []string{"TcpExtTCPDeferAcceptDrop", "TcpExtTCPSynRetrans", "TcpOutRsts"} {
		if n, ok := ev.counters.get(name); ok && n > 0 {
			more = append(more, fmt.Sprintf("%s %d", name, n))
		}
	}
	if len(more) > 0 {
		moved = strings.TrimSpace(moved + " The kernel counted " + strings.Join(more, ", ") + ": nothing a capture of one direction shows.")
	}
	return moved
}

// oneWay makes a one-way listener's findings say what the capture lacks,
// and lowers one step each finding that rests on packets: one that a
// decisive sign from elsewhere carries (the counters matching what the
// capture shows, a full queue sampled on the host, the kernel's drop
// reasons) keeps its confidence.
func oneWay(l *Listener, fs []Finding) {
	for i := range fs {
		sign := oneWaySign(l)
		if decidedElsewhere(fs[i].Signs) {
			sign.Strength = Weak
		} else {
			sign.Says += oneWayDecider(l)
		}
		fs[i].Signs = append(fs[i].Signs[:len(fs[i].Signs):len(fs[i].Signs)], sign)
		fs[i] = weigh(fs[i])
	}
}

// decidedElsewhere reports whether a decisive sign for the finding comes
// from something other than the packets.
func decidedElsewhere(signs []Sign) bool {
	for _, s := range signs {
		if !s.Against && s.Strength == Decisive && s.From != FromPackets {
			return true
		}
	}
	return false
}

// oneWayAlone reports whether a one-way listener has nothing but its
// clients' packets to go by: no counters that cover the capture, no
// listen-queue samples of its port.
func oneWayAlone(l *Listener, ev *evidence) bool {
	if ev.counters.usable() {
		return false
	}
	_, sampled := ev.host.QueueFor(l.Server)
	return !sampled
}
