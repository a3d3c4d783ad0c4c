package analyze

import (
	"fmt"

	"github.com/synq/synq/internal/prose"
)

// pathLossCause: SYNs or SYN-ACKs lost between client and server.
func pathLossCause(l *Listener, ev *evidence) []hypothesis {
	sg := &l.Signs
	unanswered := l.Outcomes[UnansweredSYN]
	var out []hypothesis
	c := &ev.counters
	if sg.Vantage == VantageClient && sg.RetransmittedThenAnswered > 0 {
		// From the client a SYN lost on the path and a SYN dropped by
		// the server look the same: only the server's counters tell.
		signs := []Sign{forSign(Weak, FromPackets, "Seen from the client: %d attempt{s} needed SYN retransmissions before the server answered (%d SYN packet{s} went unanswered), and the server answered every SYN that reached it within one round trip (median SYN to SYN-ACK %s).",
			sg.RetransmittedThenAnswered, l.DroppedSYNPackets, FormatDuration(sg.SYNGapP50))}
		drops, okDrops := c.get("TcpExtListenDrops")
		full, _ := c.get("TcpExtTCPReqQFullDrop")
		lo, _ := c.get("TcpExtListenOverflows")
		fam := ipFamily(l.Server.Addr())
		left, reached := ev.undeliveredSYNs(fam)
		switch {
		case okDrops && drops == 0 && reached:
			// A rule on the server (a rate limit every client got
			// past, seen from a client) leaves TCP's count still too.
			signs = append(signs, againstSign(Strong, FromCounters, "the server's IP received %d packet{s} it never delivered (%s), as many as the %d SYN packet{s} that went unanswered: they reached the server and were dropped there before TCP (TcpExtListenDrops 0).", left, inLedgerNames(fam), ev.synDropsOf(fam)))
		case okDrops && drops == 0:
			signs = append(signs, forSign(Decisive, FromCounters, "The server's listen counters did not move (TcpExtListenDrops 0): it did not drop them itself."))
		case okDrops && (full > 0 || lo > 0):
			signs = append(signs, againstSign(Decisive, FromCounters, "the server's kernel counted its own drops (TcpExtListenOverflows %d, TcpExtTCPReqQFullDrop %d): the SYNs reached it and were dropped there.", lo, full))
		case okDrops:
			signs = append(signs, againstSign(Strong, FromCounters, "the server's kernel counted %d listen drop{s} (TcpExtListenDrops).", drops))
		}
		if unanswered > 0 {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} never got an answer.", unanswered))
		}
		summary := fmt.Sprintf("Packets to or from %s were lost on the network path: clients had to retransmit their SYNs; the server itself was fine.", l.Server)
		if !okDrops {
			summary = fmt.Sprintf("Clients had to retransmit their SYNs to %s before it answered: the first SYNs were lost on the network path, or the server dropped them (a full SYN or accept queue). The server's counters decide it.", l.Server)
		}
		out = append(out, hypothesis{Finding: Finding{Kind: KindNetworkLoss, Affected: sg.RetransmittedThenAnswered + unanswered, Signs: signs,
			Summary: summary,
			Remedy: []string{"Look for loss on the path: interface errors and drops (ip -s link), overloaded links, a firewall or load balancer dropping under load.",
				"A capture on the server at the same time shows whether the lost SYNs arrived there."}},
			explainsUnanswered: unanswered > 0})
	}
	if n := sg.FirstSYNAnswered; n > 0 {
		// Seen from the client (testdata/long-round-trip's client.pcap):
		// the SYN sent again does not mean the first was lost.
		out = append(out, hypothesis{Finding: Finding{Kind: KindNetworkLoss, Mode: "answer_late", Affected: n,
			Signs:   []Sign{forSign(Weak, FromPackets, "%d client{s} sent {its|their} SYN again before the server's answer came, up to %s after the first SYN, and the answer echoes the first SYN's timestamp: that SYN reached the server and was answered at once. Its SYN-ACK was lost on the way back (the server sends it again for the second SYN) or took longer than the client's SYN timer: a round trip over 1 s.", n, FormatDuration(sg.FirstAnswerWait))},
			Summary: fmt.Sprintf("SYN-ACKs from %s reached clients late or not at all: the first SYNs got there and were answered, but clients sent them again before the answer came.", l.Server),
			Remedy: []string{"A capture on the server decides: if the clients' ACKs echo the first SYN-ACK's timestamp, it arrived late (a slow path: a saturated queue, a distant region); if they echo a later one, the first was lost on the way back.",
				"Look at the path's delay and loss back to the clients (ping, mtr from the server)."}}})
	}
	if h, ok := corruptedCause(l, ev); ok {
		out = append(out, h)
	}
	// Wherever the capture was taken: a client that sent its SYN again
	// after the SYN-ACK did not take that SYN-ACK (a vantage read from
	// few, reordered handshakes can say "client" of a server-side capture).
	//
	// Not a SYN sent again while the answer was on its way: the client's
	// ACK then echoes the first SYN-ACK's timestamp (a long round trip,
	// testdata/long-round-trip).
	if n := sg.SYNsAfterSYNACK - sg.LateAnswerSYNs; n > 0 {
		says := prose.Sayf("%d client SYN{s} arrived after the server had answered {it|them} with a SYN-ACK; no timestamp echo tells whether the first SYN-ACK arrived late or not at all.", n)
		summary := fmt.Sprintf("Some SYN-ACKs from %s did not reach their clients, or reached them after the clients' SYN timer (a round trip over 1 s): they sent SYNs again that the server had already answered.", l.Server)
		remedy := "Look for loss or delay on the path back to the clients (ip -s link, firewall or load balancer drops; ping for the round trip)."
		if sg.LostAnswerSYNs == n {
			remedy = "Look for loss on the path back to the clients (ip -s link, firewall or load balancer drops)."
			says = prose.Sayf("%d client SYN{s} arrived after the server had answered {it|them} with a SYN-ACK, and the clients' ACKs echo a later SYN-ACK's timestamp: the first never reached them.", n)
			summary = fmt.Sprintf("Some SYN-ACKs from %s did not reach their clients: they sent SYNs again that the server had already answered.", l.Server)
		}
		out = append(out, hypothesis{Finding: Finding{Kind: KindNetworkLoss, Affected: n,
			Signs:   []Sign{forSign(Weak, FromPackets, "%s", says)},
			Summary: summary,
			Remedy:  []string{remedy}}})
	}
	return out
}

// corruptedCause: SYNs that arrived with a bad TCP checksum and were
// dropped on arrival, before any socket saw them. The kernel's drop
// reason (TCP_CSUM) proves it per packet; TcpInCsumErrors counts them
// for the whole namespace, so on its own it is strong only when it covers
// every unanswered SYN packet. A capture cannot tell by itself: with
// checksum offload, captured checksums are often wrong on good packets.
func corruptedCause(l *Listener, ev *evidence) (hypothesis, bool) {
	unanswered := l.Outcomes[UnansweredSYN]
	if unanswered == 0 || l.Signs.Vantage == VantageClient {
		return hypothesis{}, false
	}
	var signs []Sign
	if s, ok := kernelSign(l, KindNetworkLoss); ok {
		signs = append(signs, s)
	}
	if bad, ok := ev.counters.get("TcpInCsumErrors"); ok && bad > 0 {
		st := Weak
		if int(bad) >= l.DroppedSYNPackets {
			st = Strong
		}
		signs = append(signs, forSign(st, FromCounters, "The kernel counted %d TCP segment{s} with a bad checksum (TcpInCsumErrors), dropped on arrival; %d SYN packet{s} to this listener went unanswered.", bad, l.DroppedSYNPackets))
	}
	if len(signs) == 0 {
		return hypothesis{}, false
	}
	signs = append(signs, forSign(Weak, FromPackets, "%s reached this host and got no answer.", unansweredSYNs(l, unanswered)))
	if s, ok := kernelDroppedElsewhere(l, KindNetworkLoss); ok {
		signs = append(signs, s)
	}
	affected := unanswered
	if l.Kernel != nil {
		if n := l.Kernel.attemptsFor(KindNetworkLoss); n > 0 {
			affected = n
		}
	}
	return hypothesis{Finding: Finding{Kind: KindNetworkLoss, Mode: "checksum", Affected: affected, Signs: signs,
		Summary: fmt.Sprintf("SYNs to %s arrived corrupted (bad TCP checksum) and the kernel dropped them on arrival: something on the path damages packets; the listener never saw them.", l.Server),
		Remedy: []string{"Look for the damage: ip -s link and ethtool -S on the receiving interface (CRC, checksum and frame errors), then each hop back to the clients.",
			"A middlebox that rewrites addresses or ports (NAT, a load balancer) without fixing the checksum does this; so does a faulty NIC, cable or offload (try ethtool -K <if> rx off to rule the NIC out).",
			"nstat -az TcpInCsumErrors on the server counts them as they happen."}},
		explainsUnanswered: true}, true
}
