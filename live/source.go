package live

import (
	"context"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
)

// source is what a session captures from: a capture.Live, or a test's
// scripted packets.
type source interface {
	Next(*capture.Packet) (capture.Kind, error)
	Frame() ([]byte, gopacket.CaptureInfo)
	LinkType() layers.LinkType
	Snaplen() uint32
	RingStats() (capture.RingStats, error)
	Summary() capture.Summary
	Close() error
}

// sampler is what samples the listen queues: a host.QueueSampler, or a
// test's script.
type sampler interface {
	Sample(t int64) ([]host.QueueSample, error)
	Close() error
}

// openLive and openQueueSampler return a nil interface, not a typed nil,
// on failure.
func openLive(o capture.LiveOptions) (source, error) {
	l, err := capture.OpenLive(o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func openQueueSampler(ports []uint16) (sampler, error) {
	s, err := host.NewQueueSampler(ports)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// queueEvery is how often the listen queues are sampled.
const queueEvery = 100 * time.Millisecond

// queueRound is one round of listen-queue samples, taken at time: none if
// no socket listened on the sampled ports.
type queueRound struct {
	time    int64
	samples []host.QueueSample
}

// sampleQueues samples the listen queues every queueEvery until ctx ends.
func sampleQueues(ctx context.Context, s sampler, now func() time.Time, out chan<- queueRound) error {
	t := time.NewTicker(queueEvery)
	defer t.Stop()
	for {
		at := now().UnixNano()
		qs, err := s.Sample(at)
		if err != nil {
			return err
		}
		select {
		case out <- queueRound{at, qs}:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}
