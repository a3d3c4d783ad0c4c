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
// and an attempt batch stay within the second-level cache; a few of each
// in flight let a stage run ahead while the next one catches up.
const (
	packetBatch  = 512
	attemptBatch = 128
	inFlight     = 4
)

type packets struct {
	p   []capture.Packet
	err error // the source's error after p; nil while more may come
}

type attempts struct {
	a   []Attempt
	end bool // the capture ended: atEnd runs before these attempts
}

// Run reads every packet of src, tracks it with a Tracker of cfg and hands
// each finished attempt to sink, on three goroutines: reading and decoding,
// tracking, and sink. On a 2-core machine this is what keeps both cores
// busy: the stages cost about the same (profiled on a generated
// 5-million-packet capture), and batches make the hand-off cheap.
//
// atEnd runs on sink's goroutine once the source has ended and every
// attempt finished before that went to sink, just before the attempts the
// end of the capture cuts short: set what judging those needs there (the
// aggregator's CaptureEnd). Run returns the tracker's statistics and the
// source's first error other than io.EOF; the attempts tracked until then
// have gone to sink.
func Run(src PacketSource, cfg Config, atEnd func(), sink func(*Attempt)) (Stats, error) {
	fullP, freeP := make(chan packets, inFlight), make(chan []capture.Packet, inFlight)
	fullA, freeA := make(chan attempts, inFlight), make(chan []Attempt, inFlight)
	for range inFlight {
		freeP <- make([]capture.Packet, 0, packetBatch)
		freeA <- make([]Attempt, 0, attemptBatch)
	}

	go func() { // read and decode
		defer close(fullP)
		for {
			b := <-freeP
			b = b[:packetBatch]
			n := 0
			var err error
			for n < len(b) {
				if err = src.Next(&b[n]); err != nil {
					break
				}
				n++
			}
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			fullP <- packets{p: b[:n], err: err}
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
	batch := <-freeA
	emit := func(a *Attempt) {
		batch = append(batch, *a)
		if len(batch) == cap(batch) {
			fullA <- attempts{a: batch}
			batch = <-freeA
		}
	}
	tr := NewTracker(cfg, emit)
	var srcErr error
	for b := range fullP {
		for i := range b.p {
			tr.Add(&b.p[i])
		}
		if b.err != nil {
			if b.err != io.EOF {
				srcErr = b.err
			}
			break
		}
		freeP <- b.p[:0]
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
