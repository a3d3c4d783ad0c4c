package reassemble

import (
	"errors"
	"io"

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

type attempts struct {
	a   []Attempt
	end bool // the capture ended: atEnd runs before these attempts
}

// Run reads every packet of src, tracks it with a Tracker of cfg and hands
// each finished attempt to sink, on three goroutines: reading and decoding,
// tracking, and sink. On a 2-core machine this keeps both cores busy
// (profiled on a generated 5-million-packet capture: tracking is the
// largest stage, the flow hash is computed while reading to even them
// out), and batches make the hand-off cheap.
//
// atEnd runs on sink's goroutine once the source has ended and every
// attempt finished before that went to sink, just before the attempts the
// end of the capture cuts short: set what judging those needs there (the
// aggregator's CaptureEnd). Run returns the tracker's statistics and the
// source's first error other than io.EOF; the attempts tracked until then
// have gone to sink.
//
// stop, when not nil, is asked before each batch is read: once it says
// true, reading ends as if the capture had, and Run returns ErrStopped (a
// sink whose output failed, such as a full disk, need not wait for the
// rest of a 10 GB capture). It must be safe to call from another
// goroutine than sink's.
func Run(src PacketSource, cfg Config, atEnd func(), sink func(*Attempt), stop func() bool) (Stats, error) {
	fullP, freeP := make(chan packets, inFlight), make(chan packets, inFlight)
	fullA, freeA := make(chan attempts, inFlight), make(chan []Attempt, inFlight)
	for range inFlight {
		freeP <- packets{p: make([]capture.Packet, packetBatch), h: make([]uint64, packetBatch)}
		freeA <- make([]Attempt, 0, attemptBatch)
	}

	// The tracker is built here so that the reading goroutine can hash
	// flows with its (read-only) hash function: tracking is the slowest
	// stage, reading has time to spare.
	batch := <-freeA
	emit := func(a *Attempt) {
		batch = append(batch, *a)
		if len(batch) == cap(batch) {
			fullA <- attempts{a: batch}
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

	sinkDone := make(chan struct{})
	go func() { // sink
		defer close(sinkDone)
		for b := range fullA {
			if b.end && atEnd != nil {
				atEnd()
			}
			for i := range b.a {
				sink(&b.a[i])
			}
			freeA <- b.a[:0]
		}
	}()

	// Track on this goroutine.
	var srcErr error
	for b := range fullP {
		for i := range b.p {
			tr.add(&b.p[i], b.h[i])
		}
		if b.err != nil {
			if b.err != io.EOF {
				srcErr = b.err
			}
			break
		}
		freeP <- b
	}
	fullA <- attempts{a: batch}
	batch = <-freeA
	fullA <- attempts{a: batch[:0], end: true}
	batch = <-freeA
	tr.Flush()
	fullA <- attempts{a: batch}
	close(fullA)
	<-sinkDone
	return tr.Stats(), srcErr
}
