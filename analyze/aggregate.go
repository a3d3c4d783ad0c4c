package analyze

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/synq/synq/reassemble"
)

// OutcomeCounts counts attempts per outcome, indexed by Outcome.
type OutcomeCounts [numOutcomes]int

// Failed sums the failed outcomes.
func (c *OutcomeCounts) Failed() int {
	n := 0
	for o, v := range c {
		if Outcome(o).Failed() {
			n += v
		}
	}
	return n
}

// Listener aggregates the attempts to one server address and port.
type Listener struct {
	Server   netip.AddrPort
	Attempts int // handshake attempts (mid-stream connections excluded)
	Outcomes OutcomeCounts

	SYNPackets         int
	DroppedSYNPackets  int
	SYNACKPackets      int
	SYNACKRetransmits  int
	IgnoredACKSegments int
	ServerRSTs         int
	ClientRSTs         int
	// MidStream counts connections first seen without a SYN.
	MidStream int
	// ServerTook counts established attempts on which the server sent
	// something after its SYN-ACK (an ACK, data, FIN): a full socket
	// existed, so TcpPassiveOpens counted it. CompletedSilent counts the
	// other established ones: handshake done, not a byte from the server
	// since. Queued, accepted and idle, or a cookie ACK dropped at a full
	// accept queue look the same on the wire.
	ServerTook      int
	CompletedSilent int
	// TookUnseen counts, where the capture holds none of the listener's
	// packets (Signs.ServerUnseen), the attempts whose clients went on,
	// sent data or a FIN and never sent anything again, ending
	// reassemble.AnswerGrace or more before the capture did: the server
	// must have acknowledged them, so a full socket existed (the
	// counters' coverage check reads them as it reads ServerTook).
	TookUnseen int

	// Handshake is the first SYN to the client's handshake ACK, over the
	// attempts that completed it; HandshakeN is how many those were.
	HandshakeP50, HandshakeP99 time.Duration
	HandshakeN                 int
	// HandshakeDistribution is the distribution of the same durations.
	HandshakeDistribution []LatencyBucket
	// Timeline counts the handshake packets over the capture.
	Timeline Timeline

	// FirstFailure and LastFailure bound the failed attempts in time
	// (first packet of the earliest, last packet of the latest); zero
	// when there were none.
	FirstFailure, LastFailure int64

	Signs Signs
	// Kernel is the kernel's own account of the listener's drops (synq
	// live with eBPF); nil without it.
	Kernel *KernelDrops
	// Diagnosis is filled by Diagnose.
	Diagnosis Diagnosis

	// Forwards is set when the listener is a front, not where connections
	// end: the capturing host translated and forwarded them (a NodePort,
	// DNAT) to these listeners, most first (forwardTable.markFronts). Its
	// forwarded attempts are counted there, not in the result's totals,
	// the counters' reconciliation or the evidence sums.
	Forwards []Forward
	// outbound: the counters given are of this listener's client's host,
	// not its server's (markOutbound); set by Diagnose.
	outbound bool
	// clientSYNRetx counts the SYNs its clients sent again.
	clientSYNRetx int
	// NotForwarded counts, for a front, the outcomes of its attempts
	// never seen forwarded: the result's totals count them, and SYNs
	// among them that got no answer were dropped on the forwarding host.
	NotForwarded OutcomeCounts

	id int32 // order of creation, for forwardTable
	// sameHost counts the attempts from the server's own host (see
	// Signs.SameHost).
	sameHost int
	// serverSeen: some attempt had a TCP packet from the listener;
	// wentOnUnseen counts the attempts whose clients went on as if
	// answered while none of theirs came from it (Signs.ServerUnseen).
	serverSeen   bool
	wentOnUnseen int

	handshake      histogram
	synGap, ackGap histogram
	// waiting is how long each attempt still waiting for its SYN's
	// answer at the end of the capture (Incomplete, no SYN-ACK) had
	// waited: see Signs.SYNsWaiting.
	waiting  histogram
	halfOpen occupancy
	accept   occupancy
	sources  sourceTable
	timeline countTimeline
	marks    markTimeline
}

// Signs are the packet-level facts inference reasons from (signs.go,
// verdict.go). Queue figures are estimates from a server-side view.
type Signs struct {
	// SyncookieSYNACKs counts SYN-ACK packets taken for syncookies;
	// CookieAttempts the attempts they answered, by the sign that gave
	// them away, and CookiesCompleted those the client completed.
	SyncookieSYNACKs                                      int
	CookieAttempts                                        int
	CookiesByTSLag, CookiesByStripped, CookiesByNoRetrans int
	CookiesCompleted                                      int
	// CookieNoRetransSYNACKs is the SYN-ACKs of CookiesByNoRetrans.
	CookieNoRetransSYNACKs int
	// HalfOpenUnseen: the capture holds no ACK, and some SYN-ACK was
	// never sent again (Result.ACKsNotCaptured): a capture filtered to
	// SYNs and RSTs, or a flood no client answered. A SYN-ACK never sent
	// again nor acknowledged is then a cookie or one whose ACK was left
	// out, and one sent again a request whose ACK never came or was
	// ignored at a full accept queue: only a cookie's own signature
	// (timestamp, stripped options) still tells the SYN queue.
	HalfOpenUnseen bool
	// ServerUnseen: the capture holds no TCP packet from the listener,
	// while its clients (or, in a capture with no listener's packet at
	// all, any listener's) went on as if answered: it holds one
	// direction only, and what the server answered cannot be seen
	// (oneway.go, Result.OneWay).
	ServerUnseen bool
	// ResentUnanswered counts attempts whose clients went on without a
	// SYN-ACK in the capture and then sent data or a FIN again
	// (reassemble.Attempt.ResentUnanswered).
	ResentUnanswered int
	// CookieLagNoisy: the capture was not taken at the server, and the
	// path between them is long enough for its jitter to reach the
	// cookie test's 3 ticks (SYN to SYN-ACK median 3 ms or more) or
	// shows it (99th percentile 1 ms or more above the median): the
	// server's packets reached the capture with that jitter, so a SYN-ACK
	// timestamp lagging by a few ticks proves no cookie, and the causes
	// and the reconciliation leave the cookies known by their timestamp
	// alone out (TrustedCookies, TrustedCookieSYNACKs). A fresh recording
	// of synqueue-no-cookies-client (200 ms through the lab's relay) had
	// one such false cookie. 20 to 40 ms of a congested path's jitter
	// made 'SYN queue overflow, high' of the real client-side captures
	// (TestPathJitterMakesNoCookies).
	CookieLagNoisy bool
	// CookieTSLagSYNACKs counts the SYN-ACK packets of CookiesByTSLag.
	CookieTSLagSYNACKs int
	// CookieLagUnsure counts completed attempts taken for normal ones
	// whose SYN-ACK timestamp lagged the server's clock by 0 to 2 ticks:
	// a syncookie's can too (about one in 21), so on a listener that
	// sent cookies each may have been one.
	CookieLagUnsure int
	// DeferAccepted: established attempts whose ignored segments were all
	// bare ACKs, accepted once data came (TCP_DEFER_ACCEPT).
	DeferAccepted    int
	DeferIgnoredACKs int
	// ResentThenEstablished: established attempts whose SYN-ACK the
	// server sent again. With the ACKs in the capture each says why (ACK
	// lost, ignored at a full accept queue, held for TCP_DEFER_ACCEPT);
	// without them (HalfOpenUnseen) only counters can.
	ResentThenEstablished int
	// RetransmittedThenAnswered: attempts whose first SYNs went
	// unanswered and a later one was answered. UnansweredPackets and
	// DelayedPackets are the dropped SYN packets of UnansweredSYN
	// attempts and of these.
	RetransmittedThenAnswered         int
	UnansweredPackets, DelayedPackets int
	// SYNsAfterSYNACK: client SYNs sent after the server had answered.
	// LateAnswerSYNs of them were sent while the answer was on its way:
	// their clients' ACKs echoed the first SYN-ACK's timestamp, so it
	// arrived, after their SYN timer had fired (a round trip longer than
	// that timer); LateAnswerRTT is the longest SYN-ACK to ACK among
	// those attempts.
	SYNsAfterSYNACK, LateAnswerSYNs int
	LateAnswerRTT                   time.Duration
	// LostAnswerSYNs: the SYNsAfterSYNACK of attempts whose client's ACK
	// echoed a later SYN-ACK's timestamp than the first's: the first
	// never reached the client.
	LostAnswerSYNs int
	// FirstSYNAnswered: attempts whose client sent its SYN again before
	// the answer came, which echoes the first SYN's timestamp
	// (Handshake.FirstSYNAnswered: seen from the client);
	// FirstAnswerWait is the longest first SYN to SYN-ACK among them.
	FirstSYNAnswered int
	FirstAnswerWait  time.Duration
	// ResetFirstAnswer counts client_reset attempts whose client sent
	// one SYN, got one SYN-ACK and reset it: the server answered, the
	// client declined (a half-open health check, a SYN scan, a SYN sent
	// in someone else's name and reset by its owner).
	ResetFirstAnswer int
	// Proxied counts attempts a SYN proxy answered (a zero-window
	// SYN-ACK), ProxiedPassed those whose SYN the listener then answered
	// (the proxy opened the window); FirstProxiedUnanswered is the
	// client's ACK of the first ProxiedUnanswered attempt, when the
	// proxy sent the listener the SYN it dropped.
	Proxied, ProxiedPassed int
	// ProxiedRefused: Rejected attempts whose reset answered the SYN a
	// proxy passed on, after it had completed the client's handshake.
	ProxiedRefused         int
	FirstProxiedUnanswered int64
	// BareACKThenAnswered: attempts whose SYN was first answered by a
	// bare ACK (old state for the 4-tuple) and later by a SYN-ACK.
	BareACKThenAnswered int
	// Of the attempts whose SYN-ACK was retransmitted after the client's
	// ACK, RetransOnTimer had the first such retransmission in the
	// SYN-ACK timer's next slot after the ACK (retransOnTimer: an
	// overflowing accept queue's), RetransHeldBack later
	// (TCP_DEFER_ACCEPT skips slots); RetransAfterACKMax is the longest
	// wait.
	RetransOnTimer, RetransHeldBack int
	RetransAfterACKMax              time.Duration
	// HeldBackIgnoredData: data segments (payload or FIN) the server
	// ignored on the ack_ignored attempts of RetransHeldBack whose client
	// sent its data again.
	HeldBackIgnoredData int
	// Of the ack_ignored attempts whose SYN-ACK was never sent again:
	// IgnoredThenReset had a reset from the server (the request expired
	// on its first timer, tcp_synack_retries=0, and the next segment
	// found no request); ACKTaken had none, though the client sent its
	// data again past the SYN-ACK timer's first slot (ackTakenAfter), and
	// the SYN-ACK was no cookie: the server took the ACK and never
	// acknowledged what followed. ACKTakenWatched is the longest such
	// wait.
	IgnoredThenReset, ACKTaken int
	ACKTakenWatched            time.Duration
	// DataNeverTaken: established attempts whose client sent its data
	// again and again and the server never acknowledged any of it,
	// though it had the connection (it answered or closed it: its
	// application gave up waiting). ACKTakenData: the data segments
	// ignored on these and the ACKTaken attempts.
	DataNeverTaken, ACKTakenData int
	// RefusedInterleaved: attempts refused with a RST came between
	// established ones (see timeline.refusalsInterleaved), not in one
	// stretch as while a listener is down.
	RefusedInterleaved bool
	// RefusedSources counts the source addresses with an attempt refused
	// with a RST, RefusedSourcesAnswered those of them the listener also
	// answered with a SYN-ACK: a rule matching a source refuses it every
	// time, a listener that was down refuses whoever came then.
	RefusedSources, RefusedSourcesAnswered int
	// IncompleteDropped: Incomplete attempts with a SYN that got no
	// answer (the capture ended inside their retry window).
	IncompleteDropped int
	// IgnoredThenAccepted: established attempts whose bare ACKs were
	// ignored with the SYN-ACK retransmitted on its timer: an accept queue
	// full for a while, then with room (not TCP_DEFER_ACCEPT, whose
	// attempts are DeferAccepted).
	IgnoredThenAccepted int
	// ResetDelayMax is the longest from a handshake ACK to the reset that
	// answered it, over ResetAfterACK attempts: the kernel's abort answers
	// at once.
	ResetDelayMax time.Duration
	// AcceptedThenReset: ResetAfterACK attempts whose reset carried the
	// ACK flag (Attempt.AbortRSTAcked): a connected socket's reset, the
	// application's, not the listener's abort on overflow.
	AcceptedThenReset int
	// EstablishedThenReset: established attempts the server reset within
	// appResetWindow of the handshake, having sent no data and no FIN: the client's
	// first bytes were taken (and acknowledged) before the application
	// aborted, as an application at its limit does to a client that
	// speaks first.
	EstablishedThenReset int
	// OldStateServerClosed and OldStateClientClosed count SYNs answered by
	// a bare ACK whose 4-tuple's previous connection in the capture was
	// closed first by the server (which then holds its TIME_WAIT) or by
	// the client.
	OldStateServerClosed, OldStateClientClosed int
	// ICMPFromServer: ICMPUnreachable attempts whose error came from the
	// server's own address (a rule on the server, or a device answering
	// in its name) rather than a router; ICMPKinds their first errors by
	// name ("icmp port-unreachable").
	ICMPFromServer int
	ICMPKinds      map[string]int

	// MaxHalfOpen is the most requests held in the SYN queue at once;
	// HalfOpenAtFirstCookie and HalfOpenAtFirstUnanswered the number held
	// when the first cookie was sent and the first SYN went unanswered.
	MaxHalfOpen               int
	HalfOpenAtFirstCookie     int
	HalfOpenAtFirstUnanswered int
	// AcceptAtFirstDrop is the number of completed connections the server
	// had not yet served when it first ignored a handshake ACK or left a
	// SYN unanswered; MaxUnserved the most at any time.
	AcceptAtFirstDrop int
	// LastDrop is the latest SYN dropped or handshake ACK ignored;
	// DrainedAtLastDrop says that, though connections waited at the first
	// drop, none did at the last (counted, not estimated): the drops
	// went on with the queue empty as far as the capture shows, so what
	// waited at the first one was there by chance (a busy server serving
	// a connection in the microseconds a firewall dropped a SYN).
	LastDrop          int64
	DrainedAtLastDrop bool
	MaxUnserved       int
	// SamePortWaiting is how many completed connections to the other
	// listeners on this port (other addresses of the host: 127.0.0.1 and
	// the pod's address, say) were waiting at this one's first drop,
	// counted, not estimated; SamePort names them. One socket bound to
	// 0.0.0.0 or :: holds them all in one accept queue, which
	// AcceptAtFirstDrop alone would make look smaller.
	SamePortWaiting int
	SamePort        []netip.AddrPort
	// PortDrainedAtLastDrop: at this listener's last drop, nothing waited
	// on it nor on those other listeners (counted, not estimated).
	PortDrainedAtLastDrop bool
	// QueueLevelsEstimated: one of the levels at a first drop or cookie
	// is an estimate, not a count (the attempt that showed it finished
	// more than occWindow of capture time after it, as a long-lived
	// connection does, when that second was no longer kept at 1 ms).
	QueueLevelsEstimated bool

	// SYNsWaiting counts attempts whose only SYN had no answer when the
	// capture ended (Incomplete: the client had not retried yet) though
	// it had waited far longer than the server took to answer others:
	// at least SYNWaitLimit, SYNWaitedMax the longest. They were most
	// likely dropped; too early to count as failed.
	// SYNAnswerP99 is the server's 99th-percentile SYN to SYN-ACK time
	// (0: it answered no SYN).
	SYNsWaiting                              int
	SYNWaitLimit, SYNWaitedMax, SYNAnswerP99 time.Duration

	// HalfOpenAtStart counts handshakes half-open when the capture began:
	// their SYN came before it, and the server retransmitted its SYN-ACK
	// to a client that sent nothing. Requests in the SYN queue, like
	// SYNACKUnacked attempts, that the capture shows only in part.
	HalfOpenAtStart int
	// MidStreamServed counts connections begun before the capture on
	// which the server sent data or a FIN: the port served someone then.
	MidStreamServed int

	FirstUnanswered int64
	FirstCookie     int64
	FirstIgnoredACK int64
	// FirstDelayed is the first SYN of an attempt answered only after
	// it had been retransmitted (RetransmittedThenAnswered).
	FirstDelayed int64

	// Unanswered SYNs by source: how many addresses had one, how many of
	// those never had an attempt answered, and the one with the most.
	UnansweredSources     int
	NeverAnsweredSources  int
	TopUnansweredSource   netip.Addr
	TopUnansweredAttempts int
	// NeverCompletedSources: addresses whose every attempt got a SYN-ACK
	// they never acknowledged nor reset (spoofed SYN flood sources).
	NeverCompletedSources int
	// SilentSources: addresses none of whose attempts was answered,
	// refused or went on as far as the capture shows (unanswered or still
	// waiting): in a capture of the clients' packets only, a SYN flood's
	// spoofed sources look so (oneway.go).
	SilentSources int
	// SourceAttempts is how many attempts the counted addresses made, and
	// SourceUnanswered how many of those were unanswered: all of them
	// unless SourcesCapped (more addresses came than a listener's source
	// table counts, and the counts are of the first ones).
	SourceAttempts, SourceUnanswered int
	// OnlySource is the one address every attempt came from, if one did
	// (every attempt's source counted).
	OnlySource    netip.Addr
	SourcesCapped bool

	Vantage Vantage
	// SameHost: every attempt came from the server's own host (a loopback
	// address, or the server's address as the client's: traffic to a
	// local address goes through lo), so the capture saw both ends on
	// that host; Vantage is then VantageServer.
	SameHost bool
	// ClientSYNRetransmits counts the SYNs sent again by clients on the
	// server's own host: that host's TCP counted them too
	// (TcpExtTCPSynRetrans, and TcpExtTCPTimeouts for the timer that
	// sent them), as it counts its SYN-ACKs sent again.
	ClientSYNRetransmits int
	SYNGapP50            time.Duration
	ACKGapP50            time.Duration
	// SYNGaps and ACKGaps are how many handshakes each median is of: 0
	// when the capture showed no SYN-ACK, or no ACK to one (a capture
	// filtered to SYNs and resets), and the median reads 0.
	SYNGaps, ACKGaps  int
	PAWS              pawsEvidence
	PAWSSourcesCapped bool
}

// Client aggregates one client address over all listeners.
type Client struct {
	Addr     netip.Addr
	Attempts int
	Outcomes OutcomeCounts
}

// clientTable counts the attempts of each client address over all
// listeners, for the first MaxTrackedClients addresses: under a flood of
// spoofed sources the first comers keep their slots and later ones are
// not counted. Records are values in a flat slice, 36 bytes a client.
type clientTable struct {
	index    addrIndex
	outcomes []outcomeTally // by index
	overflow bool           // an address came when the table was full
}

// addVia counts one attempt of addr, whose entry in its listener's
// source table is e (nil if the table had no room for it), and returns
// the index + 1 of addr's record (0: the table was full). The entry
// remembers where addr's record is here, so that an attempt costs one
// address lookup, not two: the second was a tenth of the analysis's CPU
// time on the dense mix.
func (t *clientTable) addVia(e *sourceEntry, addr netip.Addr, o Outcome) int32 {
	if e != nil && e.client > 0 {
		t.outcomes[e.client-1].add(o)
		return e.client
	}
	i, ok := t.index.find(addr)
	if !ok {
		if t.index.len() >= MaxTrackedClients {
			t.overflow = true
			return 0
		}
		i = t.index.add(addr)
		t.outcomes = append(t.outcomes, outcomeTally{})
	}
	if e != nil {
		e.client = i + 1
	}
	t.outcomes[i].add(o)
	return i + 1
}

// take takes back one attempt with outcome o from the record at index
// c-1: the second copy of a forwarded connection (forwardTable).
func (t *clientTable) take(c int32, o Outcome) {
	if n := &t.outcomes[c-1][o]; *n > 0 {
		*n--
	}
}

// worst returns the n clients with the most failed attempts, most first
// (then most attempts, then lowest address: a total order, so the choice
// does not depend on the map's). It keeps n candidates as it goes rather
// than sorting every failing client: with 65,536 clients the sort was
// most of Result, which runs on one core after the capture is read.
func (t *clientTable) worst(n int) []Client {
	top := make([]Client, 0, n+1)
	before := func(a, b *Client) bool {
		return cmp.Or(
			cmp.Compare(b.Outcomes.Failed(), a.Outcomes.Failed()),
			cmp.Compare(b.Attempts, a.Attempts),
			a.Addr.Compare(b.Addr),
		) < 0
	}
	for addr, i := range t.index.all() {
		tally := &t.outcomes[i]
		failed, attempts := 0, 0
		for o, v := range tally {
			attempts += int(v)
			if Outcome(o).Failed() {
				failed += int(v)
			}
		}
		if failed == 0 || n == 0 {
			continue
		}
		if len(top) == n {
			last := &top[n-1]
			if failed < last.Outcomes.Failed() || failed == last.Outcomes.Failed() && attempts < last.Attempts {
				continue
			}
		}
		c := Client{Addr: addr, Attempts: attempts, Outcomes: tally.counts()}
		j := len(top)
		top = append(top, c)
		for ; j > 0 && before(&c, &top[j-1]); j-- {
			top[j] = top[j-1]
		}
		top[j] = c
		top = top[:min(len(top), n)]
	}
	if len(top) == 0 {
		return nil
	}
	return top
}

// outcomeTally counts one client's attempts per outcome in half the
// space of OutcomeCounts. A count saturates instead of wrapping, though
// 2^32 attempts from one address would take a capture of hundreds of
// gigabytes.
type outcomeTally [numOutcomes]uint32

func (t *outcomeTally) add(o Outcome) { saturatingInc(&t[o]) }

func (t *outcomeTally) counts() OutcomeCounts {
	var c OutcomeCounts
	for o, n := range t {
		c[o] = int(n)
	}
	return c
}

// saturatingInc adds one to *n unless it is at its maximum.
func saturatingInc(n *uint32) {
	if *n != math.MaxUint32 {
		*n++
	}
}

// Front reports whether l is a front (Forwards): where its connections
// end is another listener.
func (l *Listener) Front() bool { return l.Forwards != nil }

// countedHere reports whether the counters given count l's server side:
// not a front (its connections count at their backend) nor a listener
// the counters' host connected to (markOutbound).
func (l *Listener) countedHere() bool { return !l.Front() && !l.outbound }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Result is the outcome of an analysis.
type Result struct {
	// Listeners are the listeners, most failed attempts first, fronts
	// (Listener.Forwards) after the others.
	Listeners []Listener
	// WorstClients are the clients with the most failed attempts (at most
	// MaxWorstClients, only clients with a failure).
	WorstClients []Client
	// ClientsOverflow is set when more distinct clients were seen than
	// MaxTrackedClients: WorstClients then covers only the first ones.
	ClientsOverflow bool
	// Totals, Attempts and MidStream count each connection once: fronts
	// (Listener.Forwards) are left out.
	Totals    OutcomeCounts
	Attempts  int
	MidStream int
	// SYNACKsNotCaptured counts attempts that went on without their
	// SYN-ACK in the capture (reassemble.Attempt.SYNACKNotCaptured): the
	// capture missed packets.
	SYNACKsNotCaptured int
	// DataNotCaptured counts attempts whose server acknowledged client
	// data or FIN the capture never showed
	// (reassemble.Attempt.ClientDataNotCaptured): the capture missed
	// packets, so what it lacks is no proof the host never sent it.
	DataNotCaptured int
	// ACKsNotCaptured counts the attempts answered by a SYN-ACK never
	// sent again in a capture with no packet without SYN, FIN or RST at
	// all (no bare ACK, no data; 0 otherwise): either no client ever
	// answered (spoofed sources) or a capture filter such as
	// 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0' (or with tcp-fin) kept
	// only those packets, and whether these clients acknowledged their
	// SYN-ACKs cannot be seen: a FIN comes at the end, if at all. A
	// SYN-ACK sent again shows its ACK never came.
	ACKsNotCaptured int
	// AnswersNotCaptured counts the attempts whose clients went on as if
	// answered (they acknowledged a SYN-ACK) to listeners the capture
	// holds no packet from (no SYN-ACK, reset, ACK or data; see
	// Signs.ServerUnseen): a capture of one direction ('dst port 8080',
	// tcpdump -Q in, a one-way mirror), or of a host whose answers leave
	// by another path.
	AnswersNotCaptured int
	// OneWay lists the listeners read as seen one way (Signs.ServerUnseen).
	OneWay []netip.AddrPort

	// Verdict is the most serious listener's verdict, at VerdictListener
	// (filled by Diagnose, with Reconciliation).
	Verdict         Finding
	VerdictListener netip.AddrPort
	// Evicted counts attempts the tracker finished early under its memory
	// limit: their counts are lower bounds (set by the caller).
	Evicted        int
	Reconciliation []Reconciliation
}

const (
	// MaxWorstClients is how many clients Result.WorstClients lists.
	MaxWorstClients = 10
	// MaxTrackedClients bounds the per-client table under a flood of
	// spoofed sources.
	MaxTrackedClients = 1 << 16
)

// Aggregator collects attempts as the tracker finishes them.
type Aggregator struct {
	// CaptureEnd is the capture's last timestamp. Set it before the
	// tracker's Flush: attempts cut by the end of the capture are judged
	// against it.
	CaptureEnd int64
	// OnAttempt, when set, sees every attempt with its outcome (for
	// per-connection export). The attempt is only valid during the call.
	OnAttempt func(a *reassemble.Attempt, o Outcome)

	listeners          map[netip.AddrPort]*Listener
	synACKsNotCaptured int
	dataNotCaptured    int
	// plainPackets counts the packets with none of SYN, FIN and RST
	// (bare ACKs, data), answeredOnce the attempts answered by a SYN-ACK
	// never sent again: see Result.ACKsNotCaptured.
	plainPackets, answeredOnce int
	// last is the listener of the last attempt added: most captures have
	// one or a few, and consecutive attempts mostly share it.
	last     *Listener
	byID     []*Listener
	clients  clientTable
	closers  closerTable
	forwards forwardTable
}

// onTimerSlack is how late after its slot a SYN-ACK retransmission still
// counts as the timer's (timer granularity, a busy host).
const onTimerSlack = 500 * time.Millisecond

// retransOnTimer reports whether the first SYN-ACK retransmission after
// the client's ACK came in the request timer's next slot after that ACK,
// and how long after the ACK it came. The timer fires 1 s after the
// first SYN-ACK, then 3 s, 7 s, ... (it doubles); an overflowing accept
// queue resends on every slot, TCP_DEFER_ACCEPT skips slots until its
// period nears its end (syn_ack_recalc). Measuring from the ACK instead
// (within 1.5 s) called an overflow whose first ACK answered a
// retransmission "deferred": the next slot is then 2 s or more away.
// ackTakenAfter: a request whose ACK the listener ignored has its SYN-ACK
// sent again when its timer first fires, 1 s after the SYN-ACK (Linux
// 3.1 on; TCP_TIMEOUT_INIT), or expires then (tcp_synack_retries=0) and
// the client's next segment is answered by a reset. A client still sent
// to past that, with neither, had its ACK taken. The slack covers timer
// granularity and, seen from the client, the path delay.
const ackTakenAfter = time.Second + 200*time.Millisecond

func retransOnTimer(a *reassemble.Attempt) (time.Duration, bool) {
	wait := time.Duration(a.FirstRetransAfterACK - a.FirstACK)
	step, slot := int64(time.Second), a.FirstSYNACK+int64(time.Second)
	for i := 0; slot <= a.FirstACK && i < 16; i++ {
		step *= 2
		slot += step
	}
	return wait, a.FirstRetransAfterACK <= slot+int64(onTimerSlack)
}

// closerTable remembers, for recently finished attempts, which side of
// each 4-tuple closed first: a later SYN on the same 4-tuple answered by
// a bare ACK met the TIME_WAIT of whoever did. It is a direct-mapped
// cache of closerSlots entries keyed by a hash of the 4-tuple (a newer
// attempt takes the slot of an older one): one store per closed attempt
// and no allocation, since every attempt passes through it. A map here
// cost a fifth of the analysis on a busy capture.
type closerTable struct {
	slots []closerSlot
}

type closerSlot struct {
	key         uint64 // hash of the 4-tuple, never 0; 0 is empty
	serverFirst bool
}

const closerSlots = 1 << 14

func closerKey(a *reassemble.Attempt) uint64 {
	var b [36]byte
	c, s := a.Client.Addr().As16(), a.Server.Addr().As16()
	copy(b[0:16], c[:])
	copy(b[16:32], s[:])
	binary.LittleEndian.PutUint16(b[32:], a.Client.Port())
	binary.LittleEndian.PutUint16(b[34:], a.Server.Port())
	return xxhash.Sum64(b[:]) | 1
}

func (c *closerTable) add(a *reassemble.Attempt) {
	if !a.ClientFIN && !a.ServerFIN {
		return
	}
	if c.slots == nil {
		c.slots = make([]closerSlot, closerSlots)
	}
	k := closerKey(a)
	c.slots[k&(closerSlots-1)] = closerSlot{key: k, serverFirst: a.ServerClosedFirst}
}

// lookup returns who closed a's 4-tuple's previous connection first, if
// the table still holds it.
func (c *closerTable) lookup(a *reassemble.Attempt) (serverFirst, ok bool) {
	if c.slots == nil {
		return false, false
	}
	k := closerKey(a)
	sl := c.slots[k&(closerSlots-1)]
	return sl.serverFirst, sl.key == k
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{listeners: make(map[netip.AddrPort]*Listener)}
}

// newListener adds a listener. Past timelineFullListeners listeners the
// timelines' bucket limit shrinks each time their number passes a power
// of two, and the timelines made so far shrink to it: Result would cut
// them to that limit anyway (coarsening merges buckets exactly, in any
// order), and 2,000 listeners held 26 MB of buckets until then.
func (g *Aggregator) newListener(server netip.AddrPort) *Listener {
	l := &Listener{Server: server, id: int32(len(g.byID))}
	g.listeners[server] = l
	g.byID = append(g.byID, l)
	g.forwards.listenerAdded(server)
	n := timelineBucketsFor(len(g.listeners))
	if n != timelineBucketsFor(len(g.listeners)-1) {
		for _, o := range g.listeners {
			o.timeline.shrinkTo(n)
		}
	}
	l.timeline.max = n
	return l
}

// plainPackets is how many of a's packets had none of SYN, FIN and RST,
// or more if its FINs were sent again (one FIN each way is known): a
// capture's ACK blindness must not be read from an attempt that could
// have shown an ACK.
func plainPackets(a *reassemble.Attempt) int {
	n := a.Packets - a.SYNs - a.SYNACKs - a.ServerRSTs - a.ClientRSTs
	if a.ClientFIN {
		n--
	}
	if a.ServerFIN {
		n--
	}
	return max(0, n)
}

// fromServer reports whether the capture holds a TCP packet of a's from
// the listener's side. An ICMP error does not count: a client that went
// on got a SYN-ACK, and a capture that holds ICMP errors but no SYN-ACK
// still lacks the server's TCP answers.
func fromServer(a *reassemble.Attempt) bool {
	return a.SYNACKs > 0 || a.ServerRSTs > 0 || a.BareACKAnswer || a.ServerAccepted || a.ServerData || a.ServerFIN
}

// Add takes one finished attempt. Use it as the tracker's emit function.
func (g *Aggregator) Add(a *reassemble.Attempt) {
	l := g.last
	if l == nil || l.Server != a.Server {
		if l = g.listeners[a.Server]; l == nil {
			l = g.newListener(a.Server)
		}
		g.last = l
	}
	l.ServerRSTs += a.ServerRSTs
	l.ClientRSTs += a.ClientRSTs
	fromSrv := fromServer(a)
	l.serverSeen = l.serverSeen || fromSrv
	if a.MidStream {
		g.plainPackets += plainPackets(a)
		l.MidStream++
		if a.SYNACKRetransmits > 0 && a.Packets == a.SYNACKs {
			l.Signs.HalfOpenAtStart++
		}
		if a.ServerData || a.ServerFIN {
			l.Signs.MidStreamServed++
		}
		l.timeline.addRSTs(a)
		return
	}
	o := Classify(a, g.CaptureEnd)
	if a.ClientDataNotCaptured {
		g.dataNotCaptured++
	}
	if a.SYNACKNotCaptured {
		g.synACKsNotCaptured++
		if !fromSrv {
			l.wentOnUnseen++
			if a.ResentUnanswered {
				l.Signs.ResentUnanswered++
			} else if (a.ClientData || a.ClientFIN) && g.CaptureEnd-a.LastPacket >= int64(reassemble.AnswerGrace) {
				l.TookUnseen++
			}
		}
	}
	g.plainPackets += plainPackets(a)
	if a.SYNACKs > 0 && a.SYNACKRetransmits == 0 {
		g.answeredOnce++
	}
	if g.OnAttempt != nil {
		g.OnAttempt(a, o)
	}
	l.Attempts++
	l.clientSYNRetx += max(a.SYNs-1, 0)
	if sameHost(a) {
		l.sameHost++
		l.Signs.ClientSYNRetransmits += max(a.SYNs-1, 0)
	}
	l.Outcomes[o]++
	l.SYNPackets += a.SYNs
	l.DroppedSYNPackets += a.DroppedSYNs
	l.SYNACKPackets += a.SYNACKs
	l.SYNACKRetransmits += a.SYNACKRetransmits
	l.IgnoredACKSegments += a.IgnoredSegments
	if a.BareACKAnswer {
		if serverFirst, ok := g.closers.lookup(a); ok {
			if serverFirst {
				l.Signs.OldStateServerClosed++
			} else {
				l.Signs.OldStateClientClosed++
			}
		}
	}
	g.closers.add(a)
	if o == ICMPUnreachable {
		if a.ICMP.FromDst {
			l.Signs.ICMPFromServer++
		}
		if l.Signs.ICMPKinds == nil {
			l.Signs.ICMPKinds = make(map[string]int)
		}
		l.Signs.ICMPKinds[a.ICMP.String()]++
	}
	if o == Established {
		if a.ServerAccepted {
			l.ServerTook++
		} else {
			l.CompletedSilent++
		}
	}
	if a.ClientAcked && a.SYNs > 0 && !a.SpansClockStep {
		l.handshake.add(time.Duration(a.FirstACK - a.FirstSYN))
	}
	if o == Incomplete && a.SYNACKs == 0 && a.SYNs > 0 {
		l.waiting.add(time.Duration(a.Watched(g.CaptureEnd) - a.LastSYN))
	}
	cookie := l.addSigns(a, o, g.CaptureEnd)
	l.timeline.add(a, cookie)
	l.timeline.addOutcome(a, o)
	l.marks.mark(a, o)
	if o.Failed() {
		if l.FirstFailure == 0 || a.FirstPacket < l.FirstFailure {
			l.FirstFailure = a.FirstPacket
		}
		if a.LastPacket > l.LastFailure {
			l.LastFailure = a.LastPacket
		}
	}
	ci := g.clients.addVia(l.sources.add(a, o), a.Client.Addr(), o)
	if c, co := g.forwards.add(a, l.id, ci, o); c != 0 {
		g.clients.take(c, co)
	}
}

// Result summarises everything added, in a deterministic order.
//
// Result consumes the aggregator: each listener's working state is let go
// once its result is made, so that the two are not held at once.
func (g *Aggregator) Result() Result {
	var r Result
	// Past timelineFullListeners listeners each timeline has fewer
	// buckets (newListener); the signs read the marks, at full resolution,
	// so that no verdict depends on how many listeners there were.
	buckets := timelineBucketsFor(len(g.listeners))
	g.last = nil
	g.forwards.markFronts(g.byID)
	g.byID, g.forwards = nil, forwardTable{}
	// A Listener is over 2 KB: sized once, not grown by copying.
	r.Listeners = make([]Listener, 0, len(g.listeners))
	if g.plainPackets == 0 {
		r.ACKsNotCaptured = g.answeredOnce
	}
	// A listener none of whose packets is in the capture while its
	// clients went on was seen one way; so is every listener of a
	// capture that holds no listener's packet at all, though its own
	// clients never went on (a queue full since before the capture).
	serverSeen, wentOn := false, 0
	for _, l := range g.listeners {
		serverSeen = serverSeen || l.serverSeen
		wentOn += l.wentOnUnseen
	}
	oneWayCapture := !serverSeen && wentOn > 0
	g.samePortWaiting()
	for k, l := range g.listeners {
		delete(g.listeners, k)
		l.Signs.HalfOpenUnseen = r.ACKsNotCaptured > 0
		if !l.serverSeen && (l.wentOnUnseen > 0 || oneWayCapture) {
			l.Signs.ServerUnseen = true
			// Not silent: unseen (the server's bytes would not show).
			l.CompletedSilent = max(0, l.CompletedSilent-l.wentOnUnseen)
			r.AnswersNotCaptured += l.wentOnUnseen
			r.OneWay = append(r.OneWay, l.Server)
		} else {
			l.TookUnseen = 0 // its packets were seen: ServerTook counts
		}
		l.settleSigns()
		cp := *l
		if p50, ok := l.handshake.quantile(0.5); ok {
			cp.HandshakeP50 = p50
			cp.HandshakeP99, _ = l.handshake.quantile(0.99)
			cp.HandshakeN = int(l.handshake.n)
		}
		cp.HandshakeDistribution = l.handshake.distribution()
		cp.Timeline = l.timeline.result(&l.halfOpen, &l.accept, g.CaptureEnd, buckets)
		cp.handshake, cp.synGap, cp.ackGap, cp.waiting = histogram{}, histogram{}, histogram{}, histogram{}
		cp.halfOpen, cp.accept, cp.sources = occupancy{}, occupancy{}, sourceTable{}
		cp.timeline, cp.marks = countTimeline{}, markTimeline{}
		r.Listeners = append(r.Listeners, cp)
		counted := &l.Outcomes
		if l.Front() {
			counted = &l.NotForwarded
		} else {
			r.MidStream += l.MidStream
		}
		for o, v := range counted {
			r.Attempts += v
			r.Totals[o] += v
		}
	}
	slices.SortFunc(r.Listeners, func(a, b Listener) int {
		return cmp.Or(
			cmp.Compare(boolInt(a.Front()), boolInt(b.Front())),
			cmp.Compare(b.Outcomes.Failed(), a.Outcomes.Failed()),
			cmp.Compare(b.Attempts, a.Attempts),
			a.Server.Compare(b.Server),
		)
	})
	slices.SortFunc(r.OneWay, netip.AddrPort.Compare)
	r.WorstClients = g.clients.worst(MaxWorstClients)
	r.SYNACKsNotCaptured = g.synACKsNotCaptured
	r.DataNotCaptured = g.dataNotCaptured
	r.ClientsOverflow = g.clients.overflow
	return r
}

// The times settleSigns asks the occupancies about (occupancy.pin slots):
// the half-open count at the first cookie and the first unanswered SYN,
// the accept queue at the first drop (whichever of three comes first).
const (
	pinFirstCookie     = 0
	pinFirstUnanswered = 1
	pinFirstIgnoredACK = 0
	pinFirstDelayed    = 2
)

// addSigns books the inference facts of one attempt and reports whether
// its SYN-ACKs were taken for syncookies.
func (l *Listener) addSigns(a *reassemble.Attempt, o Outcome, captureEnd int64) (cookie bool) {
	sg := &l.Signs
	if a.SYNACKs > 0 && a.SYNBeforeSYNACK != 0 && !a.SpansClockStep {
		l.synGap.add(time.Duration(a.FirstSYNACK - a.SYNBeforeSYNACK))
	}
	if a.ClientAcked && a.SYNACKs > 0 && !a.SpansClockStep {
		l.ackGap.add(time.Duration(a.FirstACK - a.FirstSYNACK))
	}
	c := cookieSignOf(a, captureEnd)
	switch c {
	case notCookie:
		if from, to, ok := halfOpenSpan(a); ok {
			l.halfOpen.add(from, to)
		}
		if a.ServerAccepted && cookieLagTooSmall(a) {
			sg.CookieLagUnsure++
		}
	default:
		sg.CookieAttempts++
		sg.SyncookieSYNACKs += a.SYNACKs
		switch c {
		case cookieTSLag:
			sg.CookiesByTSLag++
			sg.CookieTSLagSYNACKs += a.SYNACKs
		case cookieStripped:
			sg.CookiesByStripped++
		case cookieNeverRetransmitted:
			sg.CookiesByNoRetrans++
			sg.CookieNoRetransSYNACKs += a.SYNACKs
		}
		if a.ServerAccepted {
			sg.CookiesCompleted++
		}
		sg.FirstCookie = minTime(sg.FirstCookie, a.FirstSYNACK)
		l.halfOpen.pin(pinFirstCookie, sg.FirstCookie)
	}
	if from, to, ok := acceptSpan(a); ok {
		l.accept.add(from, to)
	}
	switch o {
	case Incomplete:
		if a.DroppedSYNs > 0 {
			sg.IncompleteDropped++
		}
	case UnansweredSYN:
		sg.UnansweredPackets += a.DroppedSYNs
		sg.LastDrop = max(sg.LastDrop, a.LastSYN)
		sg.FirstUnanswered = minTime(sg.FirstUnanswered, a.FirstSYN)
		l.halfOpen.pin(pinFirstUnanswered, sg.FirstUnanswered)
		l.accept.pin(pinFirstUnanswered, sg.FirstUnanswered)
	case ClientReset:
		if a.SYNs == 1 && (a.SYNACKs == 1 || a.SYNACKs == 0 && a.SYNACKNotCaptured) {
			sg.ResetFirstAnswer++
		}
	case ProxiedUnanswered:
		sg.LastDrop = max(sg.LastDrop, a.FirstACK)
		sg.FirstProxiedUnanswered = minTime(sg.FirstProxiedUnanswered, a.FirstACK)
		l.accept.pin(pinFirstUnanswered, sg.FirstProxiedUnanswered)
	case ACKIgnored, ResetAfterACK:
		at := a.FirstACK
		if a.SYNACKZeroWindow && a.FirstRetransAfterACK != 0 {
			// Past a SYN proxy the listener ignores what follows its
			// own SYN-ACK, sent again (reassemble: SYNPROXY's race).
			at = a.FirstRetransAfterACK
		}
		sg.LastDrop = max(sg.LastDrop, at)
		sg.FirstIgnoredACK = minTime(sg.FirstIgnoredACK, at)
		l.accept.pin(pinFirstIgnoredACK, sg.FirstIgnoredACK)
		if o == ACKIgnored && a.SYNACKRetransmits == 0 {
			// The server sent nothing after its SYN-ACK but, perhaps,
			// resets: the attempt's last packet is the client's.
			switch waited := time.Duration(a.LastPacket - a.LastSYNACK); {
			case a.ServerRSTs > 0:
				sg.IgnoredThenReset++
			case c == notCookie && !a.SpansClockStep && !a.SYNACKZeroWindow && a.IgnoredDataSegments >= 2 && waited > ackTakenAfter:
				sg.ACKTaken++
				sg.ACKTakenWatched = max(sg.ACKTakenWatched, waited)
				sg.ACKTakenData += a.IgnoredDataSegments
			}
		}
	case Established:
		if a.SYNACKRetransmits > 0 {
			sg.ResentThenEstablished++
		}
		if a.ClientData && !a.ServerAckedData && a.IgnoredDataSegments >= 2 {
			// TCP acknowledges what it receives whatever the
			// application does: data never acknowledged on a taken
			// connection never reached it (an IPv6 run of
			// firewall-drops-requests whose server timed out and
			// closed read "healthy, high").
			sg.DataNeverTaken++
			sg.ACKTakenData += a.IgnoredDataSegments
		}
		if a.IgnoredSegments > 0 && a.IgnoredDataSegments == 0 {
			if _, onTimer := retransOnTimer(a); a.SYNACKRetransAfterACK > 0 && onTimer {
				sg.IgnoredThenAccepted++
			} else {
				sg.DeferAccepted++
				sg.DeferIgnoredACKs += a.IgnoredSegments
			}
		}
	}
	if a.SYNACKRetransAfterACK > 0 && a.ClientAcked && !a.SpansClockStep {
		wait, onTimer := retransOnTimer(a)
		if onTimer {
			sg.RetransOnTimer++
		} else {
			sg.RetransHeldBack++
			if o == ACKIgnored && a.IgnoredDataSegments >= 2 {
				// Data sent again, so ignored for a retransmission
				// timeout at least: not data the capture ended, or was
				// cut, just before the server's answer.
				sg.HeldBackIgnoredData += a.IgnoredDataSegments
				if a.IgnoredSegments > a.IgnoredDataSegments {
					// The handshake ACK was deferred on purpose
					// (TcpExtTCPDeferAcceptDrop); what came after
					// the deferral met the full queue.
					sg.DeferIgnoredACKs++
				}
			}
		}
		sg.RetransAfterACKMax = max(sg.RetransAfterACKMax, wait)
	}
	switch {
	case o == Established && a.ServerRSTs > 0 && !a.ServerData && !a.ServerFIN && a.FirstACK != 0 && a.FirstServerRST-a.FirstACK < int64(appResetWindow):
		// (A FIN first is a close; the reset then answers data sent
		// after it, testdata/listener-restart.)
		sg.EstablishedThenReset++
	case o == ResetAfterACK && a.AbortRSTAcked:
		sg.AcceptedThenReset++
	case o == ResetAfterACK:
		sg.ResetDelayMax = max(sg.ResetDelayMax, time.Duration(a.FirstServerRST-a.FirstACK))
	}
	if (a.SYNACKs > 0 || a.SYNACKNotCaptured) && a.DroppedSYNs > 0 {
		sg.RetransmittedThenAnswered++
		sg.DelayedPackets += a.DroppedSYNs
		sg.FirstDelayed = minTime(sg.FirstDelayed, a.FirstSYN)
		l.accept.pin(pinFirstDelayed, sg.FirstDelayed)
	}
	sg.SYNsAfterSYNACK += a.SYNsAfterSYNACK
	if a.FirstSYNAnswered && !a.SpansClockStep {
		sg.FirstSYNAnswered++
		sg.FirstAnswerWait = max(sg.FirstAnswerWait, time.Duration(a.FirstSYNACK-a.FirstSYN))
	}
	if a.SYNsAfterSYNACK > 0 && a.ACKEchoedFirstSYNACK && !a.SpansClockStep {
		sg.LateAnswerSYNs += a.SYNsAfterSYNACK
		sg.LateAnswerRTT = max(sg.LateAnswerRTT, time.Duration(a.FirstACK-a.FirstSYNACK))
	} else if a.SYNsAfterSYNACK > 0 && a.ClientAcked && a.HasClientTS && a.SYNACKOpts.HasTS {
		// Timestamps agreed, so the ACK carried one, and it echoed
		// another SYN-ACK: the one that completed the client's
		// handshake, the first it got.
		sg.LostAnswerSYNs += a.SYNsAfterSYNACK
	}
	if a.SYNACKZeroWindow {
		sg.Proxied++
		switch {
		case a.ServerAccepted:
			sg.ProxiedPassed++
		case o == Rejected:
			sg.ProxiedRefused++
		}
	}
	if a.BareACKAnswer && a.SYNACKs > 0 {
		sg.BareACKThenAnswered++
	}
	return c != notCookie
}

// vantage is where the capture was taken, with the median gaps that tell,
// and whether every attempt came from the listener's own host.
func (l *Listener) vantage() (v Vantage, synGap, ackGap time.Duration, sameHost bool) {
	v, synGap, ackGap = vantageOf(&l.synGap, &l.ackGap)
	if sameHost = l.Attempts > 0 && l.sameHost == l.Attempts; sameHost {
		// No path delay to tell by, and none needed: the capture was
		// on the server's host.
		v = VantageServer
	}
	return v, synGap, ackGap, sameHost
}

// firstDrop is the time of the listener's first dropped SYN or ignored
// handshake ACK, 0 if none, seen from v.
func (l *Listener) firstDrop(v Vantage) int64 {
	sg := &l.Signs
	first := minTime(minTime(sg.FirstUnanswered, sg.FirstIgnoredACK), sg.FirstProxiedUnanswered)
	if v != VantageClient {
		// A SYN the server dropped and answered on retry is a drop too;
		// from the client it may have been lost on the way.
		first = minTime(first, sg.FirstDelayed)
	}
	return first
}

// samePortWaiting sets Signs.SamePortWaiting and SamePort on the
// listeners that share a port with others, before settleSigns lets their
// occupancies go. Only counts: a level the occupancy can only estimate
// leaves the sum out.
func (g *Aggregator) samePortWaiting() {
	byPort := map[uint16][]*Listener{}
	for _, l := range g.listeners {
		if !l.Front() {
			byPort[l.Server.Port()] = append(byPort[l.Server.Port()], l)
		}
	}
	for _, ls := range byPort {
		if len(ls) < 2 {
			continue
		}
		for _, l := range ls {
			v, _, _, _ := l.vantage()
			first := l.firstDrop(v)
			if first == 0 {
				continue
			}
			waiting, exact := 0, true
			var others []netip.AddrPort
			for _, o := range ls {
				if o == l {
					continue
				}
				if n := o.accept.at(first); n > 0 {
					exact = exact && o.accept.exactAt(first)
					waiting += n
					others = append(others, o.Server)
				}
			}
			if exact && waiting > 0 {
				slices.SortFunc(others, netip.AddrPort.Compare)
				l.Signs.SamePortWaiting, l.Signs.SamePort = waiting, others
				l.Signs.PortDrainedAtLastDrop = portDrainedAt(ls, l.Signs.LastDrop, first)
			}
		}
	}
}

// portDrainedAt reports whether, at last (a listener's last drop, after
// its first), no completed connection waited on any of the port's
// listeners ls, as counted: drops that went on with the port's queue
// empty were not its.
func portDrainedAt(ls []*Listener, last, first int64) bool {
	if last <= first {
		return false
	}
	for _, o := range ls {
		if !o.accept.exactAt(last) || o.accept.at(last) > 0 {
			return false
		}
	}
	return true
}

// settleSigns computes the facts that need every attempt: queue levels at
// the first drops, vantage, per-source concentration, PAWS.
func (l *Listener) settleSigns() {
	sg := &l.Signs
	sg.MaxHalfOpen = l.halfOpen.peak()
	sg.MaxUnserved = l.accept.peak()
	sg.QueueLevelsEstimated = false
	// level is o's level at t, noting when it is only an estimate.
	level := func(o *occupancy, t int64) int {
		sg.QueueLevelsEstimated = sg.QueueLevelsEstimated || !o.exactAt(t)
		return o.at(t)
	}
	if sg.FirstCookie != 0 {
		sg.HalfOpenAtFirstCookie = level(&l.halfOpen, sg.FirstCookie)
	}
	if sg.FirstUnanswered != 0 {
		sg.HalfOpenAtFirstUnanswered = level(&l.halfOpen, sg.FirstUnanswered)
	}
	sg.Vantage, sg.SYNGapP50, sg.ACKGapP50, sg.SameHost = l.vantage()
	sg.SYNGaps, sg.ACKGaps = int(l.synGap.n), int(l.ackGap.n)
	sg.SYNAnswerP99, _ = l.synGap.quantile(0.99)
	sg.CookieLagNoisy = sg.Vantage != VantageServer &&
		(sg.SYNGapP50 >= 3*time.Millisecond || sg.SYNAnswerP99-sg.SYNGapP50 >= time.Millisecond)
	sg.SYNsWaiting, sg.SYNWaitLimit, sg.SYNWaitedMax = synsWaiting(&l.waiting, sg.SYNAnswerP99)
	sg.RefusedInterleaved = l.marks.refusalsInterleaved(sg.HalfOpenUnseen)
	first := l.firstDrop(sg.Vantage)
	if first != 0 {
		sg.AcceptAtFirstDrop = level(&l.accept, first)
	}
	sg.DrainedAtLastDrop = sg.AcceptAtFirstDrop > 0 && sg.LastDrop > first &&
		l.accept.exactAt(sg.LastDrop) && l.accept.at(sg.LastDrop) == 0
	sg.UnansweredSources, sg.NeverAnsweredSources, sg.NeverCompletedSources, sg.SilentSources = 0, 0, 0, 0
	sg.RefusedSources, sg.RefusedSourcesAnswered = 0, 0
	sg.TopUnansweredSource, sg.TopUnansweredAttempts, sg.SourceUnanswered = netip.Addr{}, 0, 0
	sources, only := 0, netip.Addr{}
	for ip, s := range l.sources.counts() {
		sources, only = sources+1, ip
		if s.unanswered > 0 {
			sg.SourceUnanswered += int(s.unanswered)
			sg.UnansweredSources++
			if s.answered == 0 && s.refused == 0 && s.unacked == 0 {
				sg.NeverAnsweredSources++
			}
			n := int(s.unanswered)
			if n > sg.TopUnansweredAttempts || (n == sg.TopUnansweredAttempts && ip.Less(sg.TopUnansweredSource)) {
				sg.TopUnansweredSource, sg.TopUnansweredAttempts = ip, n
			}
		}
		if s.unacked > 0 && s.answered == 0 && s.refused == 0 && s.unanswered == 0 && s.other == 0 {
			sg.NeverCompletedSources++
		}
		if s.answered == 0 && s.refused == 0 && s.unacked == 0 && s.unanswered+s.other > 0 {
			sg.SilentSources++
		}
		if s.refused > 0 {
			sg.RefusedSources++
			if s.answered > 0 {
				sg.RefusedSourcesAnswered++
			}
		}
	}
	sg.SourceAttempts, sg.SourcesCapped = l.sources.countedAttempts, l.sources.capped
	sg.OnlySource = netip.Addr{}
	if sources == 1 && !sg.SourcesCapped && sg.SourceAttempts == l.Attempts {
		sg.OnlySource = only
	}
	sg.PAWS = l.sources.paws.evidence(l.sources.pawsChains())
	sg.PAWSSourcesCapped = l.sources.paws.full
}

// minTime is the earlier of two capture times, zero meaning unset.
func minTime(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// minSYNWait is the least a SYN must have waited at the end of a capture
// to count as waiting (Signs.SYNsWaiting), and synWaitFactor how many
// times the server's 99th-percentile SYN to SYN-ACK time it must also
// exceed: a server answers a SYN from the kernel, in microseconds on a
// LAN and one round trip from a client's vantage, unless it drops it.
const (
	minSYNWait    = 200 * time.Millisecond
	synWaitFactor = 10
)

// synsWaiting counts the waits at least the limit that the server's
// answers (99th percentile answerP99, 0 if none) set, with that limit and
// the longest wait.
func synsWaiting(waiting *histogram, answerP99 time.Duration) (n int, limit, longest time.Duration) {
	limit = max(minSYNWait, synWaitFactor*answerP99)
	from := histBucket(limit) + 1 // whole buckets above the limit: never below it
	waiting.each(func(k int, c uint32) bool {
		if k >= int(from) {
			n += int(c)
		}
		return true
	})
	if n > 0 {
		longest, _ = waiting.quantile(1)
	}
	return n, limit, longest
}

// TrustedCookies is how many attempts the causes may take for syncookie
// answers: all CookieAttempts, less those known by their timestamp alone
// when the capture's timing is too noisy to read it (CookieLagNoisy).
func (sg *Signs) TrustedCookies() int {
	n := sg.CookieAttempts
	if sg.CookieLagNoisy {
		n -= sg.CookiesByTSLag
	}
	if sg.HalfOpenUnseen {
		n -= sg.CookiesByNoRetrans
	}
	return n
}

// TrustedCookieSYNACKs is SyncookieSYNACKs less the SYN-ACKs of the
// cookies TrustedCookies leaves out.
func (sg *Signs) TrustedCookieSYNACKs() int {
	n := sg.SyncookieSYNACKs
	if sg.CookieLagNoisy {
		n -= sg.CookieTSLagSYNACKs
	}
	if sg.HalfOpenUnseen {
		n -= sg.CookieNoRetransSYNACKs
	}
	return n
}
