package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/synq/synq/internal/prose"
)

// aqPredicted is what TcpExtListenOverflows would count on l if its
// accept queue were what dropped its SYNs and ignored its handshake
// segments: one per dropped SYN packet and per ignored segment, the ACKs
// an abort reset answered among them (kernel-evidence.md, "Accounting").
func aqPredicted(l *Listener) int {
	// A SYN proxy sends the listener one SYN per handshake.
	n := overflowIgnored(l) + l.Outcomes[ProxiedUnanswered]
	if l.Outcomes[UnansweredSYN] > 0 || l.Outcomes[Incomplete] > 0 || delayedBySYNDrops(l) > 0 {
		n += l.DroppedSYNPackets
	}
	return n
}

// delayedBySYNDrops is the attempts whose first SYNs reached the server
// and got no answer before a retransmission did: connects delayed by a
// second or more, not failed. From the client's side a SYN lost on the
// path looks the same, so only other vantages count.
func delayedBySYNDrops(l *Listener) int {
	if l.Signs.Vantage == VantageClient {
		return 0
	}
	return l.Signs.RetransmittedThenAnswered
}

// queueSeenFull reports whether l's packets show its accept queue full:
// connections waiting for the application when its drops began, or
// handshake ACKs ignored.
func queueSeenFull(l *Listener) bool {
	return waitedAtFirstDrop(&l.Signs) || l.Outcomes[ACKIgnored] > 0
}

// overflowsClaimed reports whether the kernel's accept-queue overflows
// (lo) are, within the capture's slack, all the listeners' whose packets
// show their queue full, while other listeners dropped more: the counter
// is theirs, and the others' drops were something else.
func (ev *evidence) overflowsClaimed(lo int64) bool {
	if ev.listeners < 2 || ev.aqClaimed == 0 || ev.aqClaimed >= ev.aqPredicted {
		return false
	}
	slack := coverageSlack(ev.aqClaimed)
	return int(lo) >= ev.aqClaimed-slack && int(lo) <= ev.aqClaimed+slack
}

// unseenNote says, when the counters count connections the capture does
// not show, that they cover traffic outside it; "" otherwise.
func (c *counterView) unseenNote() string {
	if c.unseenOpens == 0 {
		return ""
	}
	return prose.Sayf(" But the counters also count %d connection{s} the capture does not show (TcpPassiveOpens): they cover listeners or traffic outside it, whose drops count the same.", c.unseenOpens)
}

// acceptQueueCause: connections completed faster than the application
// took them; the kernel drops SYNs, ignores or resets handshake ACKs.
func acceptQueueCause(l *Listener, ev *evidence) []hypothesis {
	sg, o := &l.Signs, &l.Outcomes
	var signs []Sign
	affected, mode := 0, ""
	unanswered := o[UnansweredSYN]
	explainsUnanswered := false
	if n := o[ACKIgnored]; n > 0 {
		how := prose.Sayf("and the server kept retransmitting its SYN-ACK (%d retransmission{s}) as if the ACK had never arrived", l.SYNACKRetransmits)
		switch {
		case l.SYNACKRetransmits > 0:
		case sg.IgnoredThenReset > 0:
			// tcp_synack_retries=0: the request expired on the SYN-ACK
			// timer without a retransmission.
			how = "never acknowledged, until the request expired and a reset answered the next one (the server never sent its SYN-ACK again: tcp_synack_retries=0?)"
		default:
			how = "never acknowledged; the server neither sent its SYN-ACK again nor reset them"
		}
		s := forSign(Strong, FromPackets, "%d handshake{s} completed on the client's side but the server ignored {it|them}: %d client segment{s} (handshake ACKs and data) {was|were} not taken, %s.",
			n, overflowIgnored(l), how)
		if sg.AcceptAtFirstDrop == 0 {
			// A rule before TCP that passes only SYNs looks the same
			// (filteredACKsCause); a queue full before the capture began
			// shows nothing waiting either.
			s.Strength = Weak
			s.Says += " No completed connection was waiting when the first was ignored: the queue may have filled before the capture started, or something before TCP dropped the ACKs."
		}
		signs = append(signs, s)
		affected, mode = affected+n, "ack_ignored"
		if sg.ACKTaken > 0 {
			// TCP_DEFER_ACCEPT holds the SYN-ACK back while a full
			// queue ignores the data (defer-accept-overflow), for
			// seconds: strong, not decisive.
			signs = append(signs, againstSign(Strong, FromPackets, "%d of them never had {its|their} SYN-ACK sent again nor a reset, though {its|their} client{s} sent {its|their} data again for up to %s after it: the server took {its|their} ACK{s}. A request whose ACK a full accept queue ignores has its SYN-ACK sent again 1 s later, or expires then and the next segment is answered by a reset; what the server never acknowledged was the data that followed (unless the listener uses TCP_DEFER_ACCEPT, which holds the SYN-ACK back).",
				sg.ACKTaken, FormatDuration(sg.ACKTakenWatched)))
		}
	}
	if sg.RetransOnTimer > 0 && (o[ACKIgnored] > 0 || sg.IgnoredThenAccepted > 0) {
		signs = append(signs, forSign(Weak, FromPackets, "On %d of those attempts the first SYN-ACK retransmission after the ignored ACK came in the SYN-ACK timer's next slot (1 s after the SYN-ACK, then 3 s, 7 s, ...): an overflowing queue's, not TCP_DEFER_ACCEPT's, which skips slots.", sg.RetransOnTimer))
	}
	if sg.RetransHeldBack > 0 && sg.RetransOnTimer == 0 && o[ACKIgnored] > 0 {
		if n := sg.HeldBackIgnoredData; n > 0 {
			// TCP_DEFER_ACCEPT defers bare ACKs only: the first data
			// makes the connection, unless the accept queue is full.
			signs = append(signs, forSign(Weak, FromPackets, "The server held its SYN-ACK retransmissions back for up to %s after the ACKs, as TCP_DEFER_ACCEPT does, yet ignored %d segment{s} carrying data, sent again and again: TCP_DEFER_ACCEPT takes a connection when its first data arrives, so the accept queue had no room.", FormatDuration(sg.RetransAfterACKMax), n))
		} else {
			signs = append(signs, againstSign(Strong, FromPackets, "The server held its SYN-ACK retransmissions back for up to %s after the ACKs, past the SYN-ACK timer's next slot: TCP_DEFER_ACCEPT does that; an overflowing queue retransmits in every slot.", FormatDuration(sg.RetransAfterACKMax)))
		}
	}
	if n := sg.IgnoredThenAccepted; n > 0 {
		signs = append(signs, forSign(Strong, FromPackets, "%d connection{s} {was|were} taken only after the server had ignored {its|their} handshake ACK and retransmitted its SYN-ACK on its timer: the accept queue was full, then had room again.", n))
		affected += n
		if mode == "" {
			mode = "transient"
		}
	}
	// The listener's aborts only: a reset with ACK set is an accepted
	// socket's (appResetCause).
	if n := o[ResetAfterACK] - sg.AcceptedThenReset; n > 0 {
		signs = append(signs, forSign(Strong, FromPackets, "The server answered %d handshake ACK{s} with a reset: with net.ipv4.tcp_abort_on_overflow=1 an accept-queue overflow resets the connection.", n))
		// The kernel's abort answers the ACK at once: a round trip away
		// at most, wherever the capture was taken.
		if at := 200*time.Millisecond + 2*(sg.SYNGapP50+sg.ACKGapP50); sg.ResetDelayMax <= at {
			signs = append(signs, forSign(Weak, FromPackets, "Each reset came within %s of the ACK it answered, as the kernel's abort does.", FormatDuration(sg.ResetDelayMax)))
		} else {
			signs = append(signs, againstSign(Weak, FromPackets, "Some resets came %s after the ACK they answered: the kernel's abort answers at once; a late reset is more likely the application's or a timeout's.", FormatDuration(sg.ResetDelayMax)))
		}
		affected, mode = affected+n, "ack_reset"
	}
	syncookieQueue := sg.TrustedCookies() > 0 && sg.FirstCookie != 0 && sg.AcceptAtFirstDrop == 0
	if unanswered > 0 && !syncookieQueue {
		if waitedAtFirstDrop(sg) {
			// A limit on open connections ahead of TCP drops SYNs the
			// same way (lab scenario conntrack-full): said, as the tie
			// the counters break, while there are none.
			tie := ""
			if _, ok := ev.counters.get("TcpExtListenOverflows"); !ok {
				tie = " A limit on open connections ahead of TCP (a full conntrack table, a connlimit rule) drops SYNs the same way once that many are open; TCP's listen counters tell the two apart."
			}
			signs = append(signs, forSign(Strong, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included) while %d completed connection{s} {was|were} still waiting for the application (the server had sent them nothing).%s",
				unanswered, l.DroppedSYNPackets, sg.AcceptAtFirstDrop, tie))
		} else if portWaitedAtFirstDrop(l) {
			// A dual-stack socket on [::] (Go's ":port", Java) holds the
			// IPv4 and IPv6 clients in one queue: the other family's
			// connections may be all that filled it.
			if own, other, ok := separateSocketsSampled(l, ev); ok {
				signs = append(signs, againstSign(Strong, FromQueues, "%d completed connection{s} to %s on the same port {was|were} waiting for the application when this listener's drops began, but the host's samples show separate sockets, %s for this address and %s for that one: separate accept queues.",
					sg.SamePortWaiting, joinAnd(addrPortStrings(sg.SamePort)), own, other))
			} else {
				signs = append(signs, forSign(Strong, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included) while %s.",
					unanswered, l.DroppedSYNPackets, portWaitingClause(l)))
			}
		} else if sg.DrainedAtLastDrop {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included); %d completed connection{s} {was|were} waiting for the application at the first drop, but none at the last: SYNs were still dropped with none of the capture's connections waiting for accept().",
				unanswered, l.DroppedSYNPackets, sg.AcceptAtFirstDrop))
		} else if sg.AcceptAtFirstDrop > 0 && sg.QueueLevelsEstimated {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included) while, by an estimate, completed connections were still waiting for the application.%s",
				unanswered, l.DroppedSYNPackets, estimatedLevels))
		} else if sg.AcceptAtFirstDrop == 1 && samePortNote(sg) != "" {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included) while 1 completed connection was waiting for the application%s.",
				unanswered, l.DroppedSYNPackets, samePortNote(sg)))
		} else if sg.AcceptAtFirstDrop == 1 {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}, retransmissions included) while 1 completed connection was waiting for the application: %s",
				unanswered, l.DroppedSYNPackets, oneWaiting))
		} else {
			signs = append(signs, forSign(Weak, FromPackets, "%d attempt{s} got no answer at all (%d SYN packet{s}%s): a full accept queue drops SYNs without a trace, even when it filled before the capture started.",
				unanswered, l.DroppedSYNPackets, samePortNote(sg)))
		}
		affected += unanswered
		explainsUnanswered = true
		if mode == "" {
			mode = "syn_dropped"
		}
	}
	if n := o[ProxiedUnanswered]; n > 0 {
		st, waiting := Weak, ""
		if waitedAtFirstDrop(sg) {
			st, waiting = Strong, prose.Sayf(" while %d connection{s} it had taken {was|were} still waiting for the application", sg.AcceptAtFirstDrop)
		}
		signs = append(signs, forSign(st, FromPackets, "%d handshake{s} a SYN proxy completed for the listener (zero-window SYN-ACKs: netfilter's SYNPROXY) {was|were} never passed on: the listener did not answer the SYN the proxy sent it%s, so the proxy never opened the window. A full accept queue drops that SYN as it drops a client's.", n, waiting))
		affected += n
		if mode == "" {
			mode = "syn_dropped"
		}
	}
	if delayed := delayedBySYNDrops(l); delayed > 0 && !syncookieQueue {
		// A busy server that keeps up on average: SYNs dropped while
		// the queue is full, answered on retry once accept() catches
		// up (testdata/slow-http-server). Every attempt ends
		// established, yet each drop cost a second or more.
		st, waiting := Weak, ""
		if waitedAtFirstDrop(sg) {
			st, waiting = Strong, prose.Sayf(", while %d completed connection{s} {was|were} waiting for the application", sg.AcceptAtFirstDrop)
		} else if portWaitedAtFirstDrop(l) {
			st, waiting = Strong, ", while "+portWaitingClause(l)
		} else if sg.AcceptAtFirstDrop == 1 && !sg.QueueLevelsEstimated && !sg.DrainedAtLastDrop {
			waiting = ", while 1 completed connection was waiting for the application: " + strings.TrimSuffix(oneWaiting, ".")
		}
		if unanswered > 0 {
			signs = append(signs, forSign(st, FromPackets, "%d more attempt{s} got in only after retransmitting {its|their} SYN: {its|their} first SYN{s} reached the server and got no answer%s.", delayed, waiting))
		} else {
			signs = append(signs, forSign(st, FromPackets, "%d attempt{s} got in only after retransmitting {its|their} SYN: %d SYN packet{s} reached the server and got no answer%s. Each drop delayed a connect by a second or more.", delayed, l.DroppedSYNPackets, waiting))
		}
		affected += delayed
		explainsUnanswered = true
		if mode == "" {
			mode = "syn_dropped"
		}
	}
	if l.CompletedSilent > 0 && affected > 0 {
		signs = append(signs, forSign(Weak, FromPackets, "%d completed connection{s} never got a byte from the server: queued, accepted and idle, or (with syncookies) dropped after the cookie was checked look the same on the wire.", l.CompletedSilent))
	}

	c := &ev.counters
	if lo, ok := c.get("TcpExtListenOverflows"); ok {
		predicted := aqPredicted(l)
		claims := queueSeenFull(l)
		switch {
		case lo > 0 && predicted > 0 && int(lo)+coverageSlack(ev.aqPredicted) >= ev.aqPredicted:
			// Nothing in this listener's packets showing its queue full,
			// and counters that cover more than the capture: another
			// port's overflows would match as well.
			st, unseen := Decisive, ""
			rest := int(lo) - ev.aqPredicted
			recv, _ := c.get("TcpExtSyncookiesRecv")
			cookieRest := rest > 0 && int(recv) >= rest
			if !claims {
				if unseen = c.unseenNote(); unseen != "" {
					st = Strong
				} else if rest > coverageSlack(ev.aqPredicted) && !cookieRest {
					// Overflows the capture does not show: another
					// listener's, outside it, count the same.
					st = Strong
					unseen = prose.Sayf(" The other %d are not in the capture: the counters cover listeners or traffic outside it, whose overflows count the same.", rest)
				} else if _, _, all := ev.undeliveredUnclaimed(ipFamily(l.Server.Addr())); all {
					// IP's ledger covers these SYNs too: one of the
					// two counts is of drops outside the capture, and
					// nothing here says which (a third of a capture
					// whose other port overflowed later matched the
					// overflows exactly: "high" for a rule's drops).
					st = Strong
				}
				if short := ev.aqPredicted - int(lo); short > 0 && predicted <= short {
					// Fewer than the capture shows, by as many as this
					// listener's drops: they may be the ones the kernel
					// did not count (a capture of SYNs alone, whose
					// refused IPv4 clients' resets it left out, read a
					// listener with no socket as "accept queue, high").
					st = Weak
					unseen = prose.Sayf(" That is %d fewer than the capture shows dropped on all listeners, as many as this listener's %d or more: its drops may be the ones the kernel did not count.", short, predicted)
				}
				if st == Strong {
					if against, ok := routeFailuresMatch(l, ev); ok {
						signs = append(signs, against)
					}
					fam := ipFamily(l.Server.Addr())
					if left, rest, all := ev.undeliveredUnclaimed(fam); all {
						// A port filtered out of a capture whose
						// other port overflowed, its own SYNs a
						// rule's (ratelimit-beside-overflow, 'port
						// 8081').
						signs = append(signs, againstSign(Strong, FromCounters, "IP received %d packet{s} it never delivered (%s), as many as %s: they may never have reached TCP, and the overflows may be traffic's outside the capture.", left, inLedgerNames(fam), ev.unclaimedSYNs(fam, rest)))
					}
				}
			}
			s := forSign(st, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows)", lo)
			if int(lo) == predicted && predicted == ev.aqPredicted {
				s.Says += prose.Sayf(": exactly the %d dropped SYN packets and ignored handshake segments the capture shows", predicted)
				if n := o[ProxiedUnanswered]; n > 0 {
					s.Says += prose.Sayf(", counting one SYN for each of the %d handshake{s} the proxy never passed on", n)
				}
				s.Says += "."
			} else if ev.listeners > 1 && int(lo) == ev.aqPredicted {
				s.Says += prose.Sayf("; the capture shows %d on this port and %d on all its listeners together: exactly the kernel's count.", predicted, ev.aqPredicted)
			} else {
				s.Says += prose.Sayf("; the capture shows %d on this port.", predicted)
			}
			if cookieRest {
				s.Says += prose.Sayf(" The other %d fit the cookie ACKs the kernel checked (TcpExtSyncookiesRecv %d): a valid cookie ACK that meets a full accept queue is dropped with no trace on the wire, where it looks like an idle connection.", rest, recv)
				if ev.listeners == 1 {
					// Each such ACK is a client that believes it is
					// connected: affected, though no packet says so.
					affected += rest
					if mode == "" {
						mode = "cookie_ack_dropped"
					}
				}
			}
			s.Says += unseen
			signs = append(signs, s)
		case lo > 0 && predicted > 0 && claims && ev.overflowsClaimed(lo):
			st := Strong
			if int(lo) == ev.aqClaimed {
				st = Decisive
			}
			signs = append(signs, forSign(st, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows), fewer than the %d SYN packets and segments the capture shows dropped on all listeners, and as many as the %d on those whose completed connections waited for the application when their drops began (%d here): the other listeners' drops were something else.", lo, ev.aqPredicted, ev.aqClaimed, predicted))
		case lo > 0 && predicted > 0 && !claims && ev.overflowsClaimed(lo):
			signs = append(signs, againstSign(Strong, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows): as many as the %d the capture shows on listeners whose completed connections waited for the application when their drops began, none left for this listener's %d.", lo, ev.aqClaimed, predicted))
		case lo > 0 && predicted > 0:
			fam := ipFamily(l.Server.Addr())
			if left, rest, all := ev.undeliveredUnclaimed(fam); all && !claims {
				// A capture of one family (or one host) whose SYNs a
				// rule dropped, the overflows the other's.
				signs = append(signs, againstSign(Strong, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows), fewer than the %d SYN packets and segments the capture shows dropped, and IP received %d packet{s} it never delivered (%s), as many as %s: they never reached TCP, whose overflows were other traffic's.", lo, ev.aqPredicted, left, inLedgerNames(fam), ev.unclaimedSYNs(fam, rest)))
			} else {
				signs = append(signs, forSign(Strong, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows), fewer than the %d SYN packets and segments the capture shows dropped on listeners: part of them were dropped by something else.", lo, ev.aqPredicted))
			}
		case lo > 0 && ev.listeners == 1 && int(lo) > coverageSlack(0):
			// Nothing on the wire says so, but the counters do: cookie
			// ACKs dropped at a full accept queue look accepted and
			// idle, and a short capture may see none of the drops.
			cookies, _ := c.get("TcpExtSyncookiesRecv")
			s := forSign(Strong, FromCounters, "The kernel counted %d accept-queue overflow{s} (TcpExtListenOverflows) that the packets do not show", lo)
			if cookies > 0 {
				s.Says += prose.Sayf(" (%d syncookie ACK{s} {was|were} checked, TcpExtSyncookiesRecv: a valid cookie ACK that meets a full accept queue is dropped and looks accepted and idle on the wire)", cookies)
			}
			if note := c.unseenNote(); note != "" {
				// The only listener in the capture, not in the
				// counters.
				s.Strength = Weak
				s.Says += "." + note
			} else {
				s.Says += ": this is the only listener in the capture, so the queue was most likely its."
			}
			signs = append(signs, s)
			mode = "counters_only"
			affected = max(affected, l.CompletedSilent)
		case lo == 0 && affected > 0 && c.genDecisive(Gen2) > 0:
			signs = append(signs, againstSign(c.genDecisive(Gen2), FromCounters, "TcpExtListenOverflows did not move: the accept queue never overflowed%s.", genCaveat(c, Gen2)))
		}
	}
	// The samples are of a socket on the port, which may not be the one
	// this address reached: an IPv6 wildcard that is IPV6_V6ONLY serves
	// no IPv4 client (they were refused). Only a listener that answered a
	// SYN or dropped something can be the sampled socket's.
	if q, sampled := ev.host.QueueFor(l.Server); sampled && (affected > 0 || sg.IncompleteDropped > 0 || l.SYNACKPackets > 0) {
		switch {
		case q.Full > 0:
			signs = append(signs, forSign(Decisive, FromQueues, "Sampled on the host: the accept queue held %d connection{s} against a limit of %d (full in %d of %d samples).",
				q.MaxAcceptQueue, prose.Plain(q.AcceptLimit), q.Full, q.Samples))
		case affected > 0:
			signs = append(signs, againstSign(Weak, FromQueues, "Sampled on the host, the accept queue was never seen full (at most %d of %d, %d samples).", q.MaxAcceptQueue, prose.Plain(q.AcceptLimit), q.Samples))
		}
	}
	if s, ok := kernelDroppedElsewhere(l, KindAcceptQueue); ok && l.IgnoredACKSegments == 0 {
		signs = append(signs, s)
	}
	if s, ok := kernelSign(l, KindAcceptQueue); ok {
		signs = append(signs, s)
		affected = max(affected, l.Kernel.attemptsFor(KindAcceptQueue))
	}
	if len(signs) == 0 || !hasFor(signs) {
		return nil
	}
	if unanswered == 0 && sg.IncompleteDropped > 0 && !syncookieQueue {
		// Supporting only: on their own, SYNs not answered yet when a
		// short capture stopped are not enough to name a queue.
		signs = append(signs, forSign(Weak, FromPackets, "%d {attempt's SYN|attempts' SYNs} got no answer before the capture ended (%d SYN packet{s}); the capture stopped inside their retry window, too soon to call them failed.", sg.IncompleteDropped, l.DroppedSYNPackets))
		affected += sg.IncompleteDropped
		if mode == "" {
			mode = "syn_dropped"
		}
	}
	_, _, separate := separateSocketsSampled(l, ev)
	if k, m := sg.AcceptAtFirstDrop, sg.SamePortWaiting; portWaitedAtFirstDrop(l) && !separate {
		looks := fmt.Sprintf("if one socket took them all (ss -lnt shows which), Linux holds backlog+1, so its backlog looks like %d (less if the application was busy with some of them)", k+m-1)
		if sharedSocketSampled(l, ev) {
			looks = oneSocketLooks(l, ev, k+m)
		}
		signs = append(signs, forSign(Weak, FromPackets, "About %d completed connections were waiting on port %d (for accept(), or for an answer) when drops began here; %s.", k+m, l.Server.Port(), looks))
	} else if k := sg.AcceptAtFirstDrop; waitedAtFirstDrop(sg) {
		// Listeners on one port (127.0.0.1 and the host's address) may
		// be one socket on 0.0.0.0 or ::, whose queue holds them all.
		looks := fmt.Sprintf("Linux holds backlog+1, so the backlog looks like %d (less if the application was busy with some of them)", k-1)
		if m := sg.SamePortWaiting; samePortNote(sg) != "" && sharedSocketSampled(l, ev) {
			looks = oneSocketLooks(l, ev, k+m)
		} else if samePortNote(sg) != "" {
			looks = fmt.Sprintf("Linux holds backlog+1, so the backlog looks like %d, or like %d if one socket took them all (ss -lnt shows which), less if the application was busy with some of them", k-1, k+m-1)
		}
		signs = append(signs, forSign(Weak, FromPackets, "About %d completed connections were waiting (for accept(), or for an answer) when drops began%s; %s.", k, samePortNote(sg), looks))
		if max, ok := sysctlInt(ev.host, "net.core.somaxconn"); ok {
			if k-1 < max {
				signs = append(signs, forSign(Weak, FromSysctls, "net.core.somaxconn is %d, so that limit comes from the application's listen() backlog.", prose.Plain(max)))
			} else if k-1 == max {
				signs = append(signs, forSign(Weak, FromSysctls, "net.core.somaxconn is %d: the kernel clamped the application's backlog to it.", prose.Plain(max)))
			}
		}
	}
	port := l.Server.Port()
	remedy := []string{
		"Find why the application is not calling accept() fast enough: too few workers or threads, a blocked event loop, a slow dependency.",
		fmt.Sprintf("Raise the listen backlog: the application's listen(fd, N) and net.core.somaxconn%s; the queue holds min(backlog, somaxconn)+1, and somaxconn is read at listen(), so the service must listen again.", sysctlNow(ev.host, "net.core.somaxconn")),
		fmt.Sprintf("Watch it: ss -lnt 'sport = :%d' shows the queue length (Recv-Q) against its limit (Send-Q).", port),
	}
	if o[ResetAfterACK] > sg.AcceptedThenReset {
		remedy = append(remedy, "Set net.ipv4.tcp_abort_on_overflow=0 so that an overflow makes clients retry instead of failing at once.")
	}
	return []hypothesis{{Finding: Finding{
		Kind: KindAcceptQueue, Mode: mode, Affected: affected, Signs: signs, Remedy: remedy,
		Summary: fmt.Sprintf("The accept queue of %s overflowed: connections finished their handshake faster than the application took them with accept(), and the kernel dropped the rest.", l.Server),
	}, explainsUnanswered: explainsUnanswered}}
}

func hasFor(signs []Sign) bool {
	for _, s := range signs {
		if !s.Against {
			return true
		}
	}
	return false
}

// genCaveat says why a counter fact is not decisive while the kernel
// generation is unknown.
func genCaveat(c *counterView, g Generation) string {
	if c.gen != GenUnknown {
		return ""
	}
	switch g {
	case Gen2:
		return " (on RHEL 5/6 kernels, 2.6.x, SYNs dropped at a full accept queue are not counted; the kernel version is unknown: give --sysctl with kernel.osrelease)"
	}
	return " (the kernel version is unknown: give --sysctl with kernel.osrelease)"
}

// estimatedLevels says why a queue level at a first drop is only an
// estimate.
const estimatedLevels = " (The attempt that showed the first drop finished more than 10 minutes of capture time after it, a long-lived connection, when that moment was no longer kept at 1-ms resolution: the queue's level then is an estimate, so it gives no backlog size.)"

// waitedAtFirstDrop reports whether the connections waiting for the
// application when drops began are a strong sign of a full accept queue:
// counted, not estimated; still some waiting at the last drop; and at
// least 2, a backlog of 1 or more (one is a backlog of 0, which listen()
// is hardly ever given, or a connection being answered in the instant a
// SYN was dropped: a reordered syn-answered-by-ack capture showed that).
func waitedAtFirstDrop(sg *Signs) bool {
	return sg.AcceptAtFirstDrop >= 2 && !sg.QueueLevelsEstimated && !sg.DrainedAtLastDrop
}

// portWaitedAtFirstDrop reports whether two or more completed
// connections waited on l's port when its drops began, counting the
// port's other listeners (Signs.SamePortWaiting), where l's own were
// fewer, and the port's queue had not emptied by its last drop. Only
// where the addresses are likely one host's: a loopback address among
// them, or both families (a dual-stack server). Two addresses of one
// family may be two hosts, as two pods on one port behind a node's
// bridge are, whose queues are their own.
func portWaitedAtFirstDrop(l *Listener) bool {
	sg := &l.Signs
	if waitedAtFirstDrop(sg) || sg.SamePortWaiting == 0 || len(sg.SamePort) == 0 ||
		sg.AcceptAtFirstDrop+sg.SamePortWaiting < 2 || sg.QueueLevelsEstimated || sg.PortDrainedAtLastDrop {
		return false
	}
	oneHost := l.Server.Addr().IsLoopback()
	for _, o := range sg.SamePort {
		oneHost = oneHost || o.Addr().IsLoopback() || o.Addr().Is4() != l.Server.Addr().Is4()
	}
	return oneHost
}

// portWaitingClause says what waited on l's port at its first drop
// (portWaitedAtFirstDrop), and what makes that l's queue.
func portWaitingClause(l *Listener) string {
	sg := &l.Signs
	waiting := prose.Sayf("%d completed connection{s} to %s on the same port {was|were} waiting for the application", sg.SamePortWaiting, joinAnd(addrPortStrings(sg.SamePort)))
	if k := sg.AcceptAtFirstDrop; k > 0 {
		waiting = prose.Sayf("%d completed connection{s} to this address and %d to %s on the same port were waiting for the application", k, sg.SamePortWaiting, joinAnd(addrPortStrings(sg.SamePort)))
	}
	shared := "one socket on 0.0.0.0 or :: holds them all in one accept queue"
	for _, o := range sg.SamePort {
		if o.Addr().Is4() != l.Server.Addr().Is4() {
			shared = "one dual-stack socket on :: (IPV6_V6ONLY off, as Go's \":port\" and Java listen) holds both families' clients in one accept queue"
			break
		}
	}
	return prose.Sayf("%s: %s, separate sockets per address do not (ss -lnt 'sport = :%d' shows which)",
		waiting, shared, l.Server.Port())
}

// oneWaiting says why one connection waiting at a drop proves little.
const oneWaiting = "a backlog of 0, which listen() is hardly ever given; a connection being answered in the instant a SYN was dropped looks the same."

// samePortNote says how many connections waited on the port's other
// listeners at the first drop (Signs.SamePortWaiting), or "".
func samePortNote(sg *Signs) string {
	if sg.SamePortWaiting == 0 || len(sg.SamePort) == 0 {
		return ""
	}
	return prose.Sayf(", and %d more to %s on the same port (one socket listening on 0.0.0.0 or :: holds them all in one accept queue)", sg.SamePortWaiting, joinAnd(addrPortStrings(sg.SamePort)))
}

// sharedSocketSampled reports whether the listen-queue samples show one
// socket on a wildcard address behind l and every listener its port
// shares connections with (Signs.SamePort).
func sharedSocketSampled(l *Listener, ev *evidence) bool {
	q, ok := ev.host.QueueFor(l.Server)
	if !ok || !q.Listener.Addr().IsUnspecified() {
		return false
	}
	for _, o := range l.Signs.SamePort {
		if p, ok := ev.host.QueueFor(o); !ok || p.Listener != q.Listener {
			return false
		}
	}
	return true
}

// oneSocketLooks says what the backlog looks like when the host's samples
// show one socket for l and its port's other listeners (sharedSocketSampled)
// and n connections waited on them.
func oneSocketLooks(l *Listener, ev *evidence, n int) string {
	q, _ := ev.host.QueueFor(l.Server)
	return fmt.Sprintf("the host's samples show one socket, %s, for all of them, and Linux holds backlog+1, so the backlog looks like %d (less if the application was busy with some of them)", q.Listener, n-1)
}

// separateSocketsSampled reports whether the listen-queue samples show
// l's address served by another socket than one of the port's listeners
// it would share a queue with (Signs.SamePort), and names both.
func separateSocketsSampled(l *Listener, ev *evidence) (own, other netip.AddrPort, ok bool) {
	q, sampled := ev.host.QueueFor(l.Server)
	if !sampled {
		return own, other, false
	}
	for _, o := range l.Signs.SamePort {
		if p, sampled := ev.host.QueueFor(o); sampled && p.Listener != q.Listener {
			return q.Listener, p.Listener, true
		}
	}
	return own, other, false
}

func addrPortStrings(aps []netip.AddrPort) []string {
	out := make([]string, len(aps))
	for i, ap := range aps {
		out[i] = ap.String()
	}
	return out
}
