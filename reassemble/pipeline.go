package reassemble

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/synq/synq/capture"
)

// PacketSource is what Run reads: capture.Reader, or anything else that
// fills a Packet and returns io.EOF after the last one.
type PacketSource interface {
	Next(p *capture.Packet) error
}

// Batch sizes of the pipeline. A packet batch (about 120 bytes a packet)
// and an attempt batch stay within the second-level cache; sixteen of each
// in flight let a stage run ahead while the next one catches up (on the
// 5M-packet mix, alternating runs: median 1.28 s with 4, 1.04 s with 16,
// no better with 64).
const (
	packetBatch  = 512
	attemptBatch = 128
	inFlight     = 16
)

// ErrStopped is Run's error when its stop function ended the reading.
var ErrStopped = errors.New("stopped before the end of the capture")

type packets struct {
	p   []capture.Packet
	h   []uint64 // the flow hash of each packet (Tracker.add)
	err error    // the source's error after p; nil while more may come
}

// finishedBatch is a batch of finished attempts on its way to every sink;
// the last sink done with it puts it back.
type finishedBatch struct {
	a    []Attempt
	end  bool // the capture ended: each sink's AtEnd runs before these attempts
	left atomic.Int32
}

// Sink takes the finished attempts, on a goroutine of its own.
type Sink struct {
	// Add sees each finished attempt, in the order the tracker finished
	// them. The *Attempt is only valid during the call and shared with
	// the other sinks: read it, do not change it.
	Add func(*Attempt)
	// AtEnd, when not nil, runs once the source has ended and every
	// attempt finished before that went to Add, just before the attempts
	// the end of the capture cuts short: set what judging those needs
	// there (the aggregator's CaptureEnd).
	AtEnd func()
}

// Run reads every packet of src, tracks it with a Tracker of cfg and hands
// each finished attempt to every sink, on goroutines of their own:
// reading and decoding, tracking, and one per sink. On a 2-core machine
// this keeps both cores busy (profiled on a generated 5-million-packet
// capture: tracking is the largest stage, the flow hash is computed while
// reading to even them out; with --connections the export is a stage as
// large as aggregating, and the two run side by side), and batches make
// the hand-off cheap.
//
// Run returns the tracker's statistics and the source's first error other
// than io.EOF; the attempts tracked until then have gone to the sinks.
//
// stop, when not nil, is asked before each batch is read: once it says
// true, reading ends as if the capture had, and Run returns ErrStopped (a
// sink whose output failed, such as a full disk, need not wait for the
// rest of a 10 GB capture). It must be safe to call from another
// goroutine than the sinks'.
func Run(src PacketSource, cfg Config, sinks []Sink, stop func() bool) (Stats, error) {
	fullP, freeP := make(chan packets, inFlight), make(chan packets, inFlight)
	freeA := make(chan *finishedBatch, inFlight)
	fullA := make([]chan *finishedBatch, len(sinks))
	for i := range fullA {
		fullA[i] = make(chan *finishedBatch, inFlight)
	}
	for range inFlight {
		freeP <- packets{p: make([]capture.Packet, packetBatch), h: make([]uint64, packetBatch)}
		freeA <- &finishedBatch{a: make([]Attempt, 0, attemptBatch)}
	}
	send := func(b *finishedBatch) {
		if len(sinks) == 0 {
			b.a, b.end = b.a[:0], false
			freeA <- b
			return
		}
		b.left.Store(int32(len(sinks)))
		for _, c := range fullA {
			c <- b
		}
	}

	// The tracker is built here so that the reading goroutine can hash
	// flows with its (read-only) hash function: tracking is the slowest
	// stage, reading has time to spare.
	batch := <-freeA
	emit := func(a *Attempt) {
		batch.a = append(batch.a, *a)
		if len(batch.a) == cap(batch.a) {
			send(batch)
			batch = <-freeA
		}
	}
	tr := NewTracker(cfg, emit)
	hash := tr.hash

	go func() { // read, decode, hash
		defer close(fullP)
		for {
			b := <-freeP
			b.p, b.h = b.p[:packetBatch], b.h[:packetBatch]
			n := 0
			var err error
			if stop != nil && stop() {
				err = ErrStopped
			}
			for err == nil && n < len(b.p) {
				p := &b.p[n]
				if err = src.Next(p); err != nil {
					break
				}
				b.h[n] = hash(p.Src, p.Dst, tunnelKey(p.Tunnel))
				n++
			}
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			b.p, b.h, b.err = b.p[:n], b.h[:n], err
			fullP <- b
			if err != nil {
				return
			}
		}
	}()

	var sinksDone sync.WaitGroup
	for i, sk := range sinks {
		sinksDone.Add(1)
		go func() {
			defer sinksDone.Done()
			for b := range fullA[i] {
				if b.end && sk.AtEnd != nil {
					sk.AtEnd()
				}
				for j := range b.a {
					sk.Add(&b.a[j])
				}
				if b.left.Add(-1) == 0 {
					b.a, b.end = b.a[:0], false
					freeA <- b
				}
			}
		}()
	}

	// Track on this goroutine.
	var srcErr error
	for b := range fullP {
		for i := range b.p {
			// As Tracker.Add does, written out: a wrapper that cannot
			// be inlined cost 1.5-2.5% of the dense mix's CPU.
			if b.p[i].ClockStep {
				tr.clockStepped()
			}
			tr.add(&b.p[i], b.h[i])
			if b.p[i].WatchEnds {
				tr.watchEnded(b.p[i].Time)
			}
		}
		if b.err != nil {
			if b.err != io.EOF {
				srcErr = b.err
			}
			break
		}
		freeP <- b
	}
	send(batch)
	batch = <-freeA
	batch.end = true
	send(batch)
	batch = <-freeA
	tr.Flush()
	send(batch)
	for _, c := range fullA {
		close(c)
	}
	sinksDone.Wait()
	return tr.Stats(), srcErr
}
