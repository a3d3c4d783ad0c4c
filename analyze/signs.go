package analyze

import (
	"slices"
	"time"

	"github.com/synq/synq/reassemble"
)

// cookieSign says why an attempt's SYN-ACK was taken for a syncookie, or
// that it was not. See shared/docs/listen-queues.md, "Signatures of a
// syncookie SYN-ACK", and the measurements in testdata/syncookies-flood.
type cookieSign uint8

const (
	notCookie cookieSign = iota
	// cookieTSLag: the SYN-ACK's TSval lagged the server's clock, read
	// from the server's next segment on the same connection, by 2 to 64
	// ticks. A cookie's TSval is the clock rounded down to 64 ticks with
	// the client's options in the low 6 bits; a normal SYN-ACK's lags by
	// 0 or 1 (tick rounding). Same connection only: on 6.x kernels the
	// timestamp offset differs per connection.
	cookieTSLag
	// cookieStripped: the client sent no timestamp, offered window scale
	// or SACK, and the SYN-ACK carried only MSS.
	cookieStripped
	// cookieNeverRetransmitted: never acknowledged, never retransmitted,
	// though a Linux server retransmits a SYN-ACK it keeps state for
	// after 1 s.
	cookieNeverRetransmitted
)

// IsSyncookie reports whether the attempt's SYN-ACK was taken for a
// syncookie, by the same signs the listener counts use (cookieSignOf), for
// the per-connection export. captureEnd as for Classify.
func IsSyncookie(a *reassemble.Attempt, captureEnd int64) bool {
	return cookieSignOf(a, captureEnd) != notCookie
}

// cookieSignOf classifies an attempt's SYN-ACK. captureEnd judges whether a
// retransmission would have been seen.
func cookieSignOf(a *reassemble.Attempt, captureEnd int64) cookieSign {
	if a.SYNACKs == 0 || a.SYNACKRetransmits > 0 {
		return notCookie
	}
	if a.SYNACKOpts.HasTS && a.HasServerTSAfter {
		elapsed := (a.ServerTSAfterTime - a.FirstSYNACK) / int64(time.Millisecond)
		lag := int64(int32(a.ServerTSAfter-a.SYNACKOpts.TSval)) - elapsed
		switch {
		case lag >= 3 && lag <= 65:
			return cookieTSLag
		case lag >= -2 && lag <= 1:
			return notCookie
		}
	}
	o, so := a.SYNOpts, a.SYNACKOpts
	if !o.HasTS && !a.SYNOptsCut && (o.HasWScale || o.SACKPerm) && so.HasMSS && !so.HasWScale && !so.SACKPerm {
		return cookieStripped
	}
	if !a.ClientAcked && a.ClientRSTs == 0 && a.ServerRSTs == 0 &&
		(a.End != reassemble.EndCaptureEnd || captureEnd-a.LastSYNACK >= int64(SYNACKGrace)) {
		return cookieNeverRetransmitted
	}
	return notCookie
}

// occupancy counts how many things (half-open requests, connections
// waiting for accept) are held over time, from enter/leave events in 1 ms
// buckets. Buckets are kept in blocks of one second made as events reach
// them; a block starts sparse (the milliseconds that have events, a few
// bytes each) and turns into a dense array of 1,000 buckets once it holds
// more than occSparseMax of them. So a busy second costs 8 KB at most and
// a quiet one a few dozen bytes: a long low-rate capture no longer holds
// 8 KB for every second with one event (a 15-hour capture held 780 MB).
// Consecutive events (mostly close in time) skip the map.
type occupancy struct {
	blocks    map[int64]*occBlock
	lastKey   int64
	lastBlock *occBlock
}

// occBlock is one second of 1 ms buckets: entries and exits, dense or
// sparse.
type occBlock struct {
	dense  *[1000][2]int32
	sparse []occEvent // in the order added; sorted by ms when read
	sorted bool
}

// occEvent is one millisecond's entries and exits in a sparse block.
type occEvent struct {
	ms           uint16
	enter, leave int32
}

// occSparseMax is how many milliseconds a block holds sparse before it
// turns dense: 12 bytes each sparse, so the dense 8 KB is about as much
// as 680 of them; turning early keeps busy seconds fast.
const occSparseMax = 256

const occBucket = int64(time.Millisecond)

// add holds one thing from..to; to <= 0 means until the end.
func (o *occupancy) add(from, to int64) {
	o.event(from, 1, 0)
	if to > 0 {
		o.event(to, 0, 1)
	}
}

// event records enter entries and leave exits at time t.
func (o *occupancy) event(t int64, enter, leave int32) {
	ms := t / occBucket
	key, i := ms/1000, ms%1000
	if i < 0 {
		key, i = key-1, i+1000
	}
	if o.lastBlock == nil || key != o.lastKey {
		if o.blocks == nil {
			o.blocks = make(map[int64]*occBlock)
		}
		b := o.blocks[key]
		if b == nil {
			b = &occBlock{sorted: true}
			o.blocks[key] = b
		}
		o.lastKey, o.lastBlock = key, b
	}
	b := o.lastBlock
	if b.dense != nil {
		b.dense[i][0] += enter
		b.dense[i][1] += leave
		return
	}
	if n := len(b.sparse); n > 0 && b.sparse[n-1].ms == uint16(i) {
		b.sparse[n-1].enter += enter
		b.sparse[n-1].leave += leave
		return
	}
	if n := len(b.sparse); n > 0 && b.sparse[n-1].ms > uint16(i) {
		b.sorted = false
	}
	b.sparse = append(b.sparse, occEvent{uint16(i), enter, leave})
	if len(b.sparse) > occSparseMax {
		b.dense = new([1000][2]int32)
		for _, e := range b.sparse {
			b.dense[e.ms][0] += e.enter
			b.dense[e.ms][1] += e.leave
		}
		b.sparse = nil
	}
}

// each calls f for every millisecond with events, in time order, with its
// absolute millisecond and entries and exits; it stops when f returns
// false.
func (o *occupancy) each(f func(ms int64, enter, leave int32) bool) {
	keys := make([]int64, 0, len(o.blocks))
	for k := range o.blocks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b := o.blocks[k]
		if b.dense != nil {
			for i, e := range b.dense {
				if (e[0] != 0 || e[1] != 0) && !f(k*1000+int64(i), e[0], e[1]) {
					return
				}
			}
			continue
		}
		if !b.sorted {
			// Stable, so that a millisecond added twice stays in order;
			// the sums are what count.
			slices.SortStableFunc(b.sparse, func(x, y occEvent) int { return int(x.ms) - int(y.ms) })
			b.sorted = true
		}
		for j := 0; j < len(b.sparse); {
			e := b.sparse[j]
			for j++; j < len(b.sparse) && b.sparse[j].ms == e.ms; j++ {
				e.enter += b.sparse[j].enter
				e.leave += b.sparse[j].leave
			}
			if !f(k*1000+int64(e.ms), e.enter, e.leave) {
				return
			}
		}
	}
}

// at returns how many were held at time t, counting what entered in t's
// own millisecond but not what left in it (the order inside one bucket is
// lost; a drop happens when the queue is fullest), and the most held at
// any time up to t.
func (o *occupancy) at(t int64) (now, peak int) {
	tms := t / occBucket
	n := 0
	o.each(func(ms int64, enter, leave int32) bool {
		if ms > tms {
			return false
		}
		n += int(enter)
		peak = max(peak, n)
		if ms == tms {
			return false
		}
		n -= int(leave)
		return true
	})
	return n, peak
}

// peak returns the most held at once over the whole capture.
func (o *occupancy) peak() int {
	_, p := o.at(1<<62 - 1)
	return p
}

// halfOpenSpan is when an attempt's request sat in the SYN queue, as seen
// from the server: from its SYN-ACK until the client's ACK was taken, a
// reset, or (when the ACK never came or was ignored) the request's expiry
// after its last SYN-ACK retransmission. Syncookie attempts keep no request.
func halfOpenSpan(a *reassemble.Attempt) (from, to int64, ok bool) {
	if a.SYNACKs == 0 {
		return 0, 0, false
	}
	from = a.FirstSYNACK
	switch {
	case a.ClientAcked && a.ServerAccepted && a.SYNACKRetransAfterACK == 0:
		to = a.FirstACK
	case a.ServerAccepted:
		to = a.Accepted
	case a.AbortRST:
		to = a.FirstServerRST
	case a.ClientRSTs > 0:
		to = a.FirstClientRST
	case a.ServerRSTs > 0:
		to = a.FirstServerRST
	case a.SYNACKRetransmits > 0:
		// Retransmissions double: +1, +3, +7 s...; the request goes one
		// more doubled timeout after the last one.
		to = a.LastSYNACK + (a.LastSYNACK - a.FirstSYNACK) + int64(time.Second)
	default:
		to = 0
	}
	return from, to, true
}

// acceptSpan is when a completed connection waited for the application, as
// far as packets show: from the handshake ACK the server took until the
// server first sent data or FIN. Connections the server never served stay
// to the end, and so do completed ones the server never sent anything on. This over-counts servers that wait for the client to speak
// and then think: it is an estimate, reported as such.
func acceptSpan(a *reassemble.Attempt) (from, to int64, ok bool) {
	if !a.ClientAcked {
		return 0, 0, false
	}
	if !a.ServerAccepted {
		// Completed and silent: the server took the ACK (it never
		// retransmitted its SYN-ACK, nor reset) and sent nothing since.
		// Idle clients of a server that speaks first wait here too.
		if a.SYNACKRetransAfterACK > 0 || a.AbortRST || a.ServerRSTs > 0 || a.IgnoredSegments > 0 {
			return 0, 0, false
		}
		if a.ClientRSTs > 0 {
			return a.FirstACK, a.FirstClientRST, true
		}
		return a.FirstACK, 0, true
	}
	from = a.FirstACK
	if a.SYNACKRetransAfterACK > 0 {
		from = a.Accepted
	}
	if a.HasServed {
		to = a.Served
	}
	return from, to, true
}
