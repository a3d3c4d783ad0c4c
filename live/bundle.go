package live

import (
	"sync"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/synq/synq/bundle"
	"github.com/synq/synq/host"
)

// The frames of -w are copied into chunks of chunkBytes and written by a
// goroutine of their own: writing each frame on the capture path (pcap
// framing, a buffered write, now and then a write(2) that waits for the
// disk) made the ring drop frames at a quarter of the rate it keeps up
// with without -w. At most maxChunks are in use: 16 MiB, more than a
// second of the busiest capture measured; if the disk falls that far
// behind, the capture loop waits for a chunk and the ring holds the
// frames meanwhile (and counts what it cannot hold).
const (
	chunkBytes = 1 << 20
	// chunkFrames bounds the frames per chunk: the smallest frame synq
	// keeps (an IPv4/TCP header on a raw link) is 40 bytes.
	chunkFrames = chunkBytes / 40
	maxChunks   = 16
)

// chunk is frames copied back to back, with where each starts.
type chunk struct {
	data   []byte
	frames []frameRef
}

type frameRef struct {
	time        int64
	off, n      int32
	capLen, len int32
}

// bundleJob is one thing for the writer to do, in order.
type bundleJob struct {
	frames   *chunk
	queues   []host.QueueSample
	counters *host.CounterSample
	flush    bool
}

// bundleWriter owns a bundle.Writer from its goroutine: the session hands
// it frames, queue samples and counter samples in the order they are
// taken; it writes them in that order. Its first error is kept and
// returned by err; the session reports it at the next interval.
type bundleWriter struct {
	w    *bundle.Writer
	jobs chan bundleJob
	free chan *chunk
	made int
	cur  *chunk
	done chan struct{}

	mu       sync.Mutex
	firstErr error
}

func newBundleWriter(w *bundle.Writer) *bundleWriter {
	b := &bundleWriter{w: w, jobs: make(chan bundleJob, 4*maxChunks), free: make(chan *chunk, maxChunks), done: make(chan struct{})}
	// The channel is handed to the goroutine, not read from b: stop sets
	// b.jobs to nil, possibly before the goroutine first runs.
	go b.loop(b.jobs)
	return b
}

func (b *bundleWriter) loop(jobs <-chan bundleJob) {
	defer close(b.done)
	failed := false
	for j := range jobs {
		if !failed {
			if err := b.do(j); err != nil {
				b.mu.Lock()
				b.firstErr = err
				b.mu.Unlock()
				failed = true
			}
		}
		if j.frames != nil {
			// Recycled even after an error, so that the capture loop
			// never waits for a chunk that cannot come.
			j.frames.data, j.frames.frames = j.frames.data[:0], j.frames.frames[:0]
			b.free <- j.frames
		}
	}
}

func (b *bundleWriter) do(j bundleJob) error {
	if c := j.frames; c != nil {
		for _, f := range c.frames {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, f.time), CaptureLength: int(f.capLen), Length: int(f.len)}
			if err := b.w.WritePacket(ci, c.data[f.off:f.off+f.n]); err != nil {
				return err
			}
		}
	}
	if len(j.queues) > 0 {
		if err := b.w.WriteQueues(j.queues); err != nil {
			return err
		}
	}
	if j.counters != nil {
		if err := b.w.WriteCounters(j.counters.Time, j.counters.Counters); err != nil {
			return err
		}
	}
	if j.flush {
		return b.w.Flush()
	}
	return nil
}

// packet copies one frame; it does not allocate once the chunks are made.
func (b *bundleWriter) packet(data []byte, ci gopacket.CaptureInfo) {
	c := b.cur
	if c != nil && (len(c.data)+len(data) > cap(c.data) || len(c.frames) == cap(c.frames)) {
		b.handOver()
		c = nil
	}
	if c == nil {
		c = b.chunk()
		b.cur = c
	}
	off := len(c.data)
	c.data = append(c.data, data...)
	c.frames = append(c.frames, frameRef{time: ci.Timestamp.UnixNano(), off: int32(off), n: int32(len(data)),
		capLen: int32(ci.CaptureLength), len: int32(ci.Length)})
}

// chunk returns a free chunk, makes one while fewer than maxChunks exist,
// or waits for the writer to free one.
func (b *bundleWriter) chunk() *chunk {
	select {
	case c := <-b.free:
		return c
	default:
	}
	if b.made < maxChunks {
		b.made++
		// A frame larger than a chunk cannot be: frames are cut at the
		// snap length, far below chunkBytes.
		return &chunk{data: make([]byte, 0, chunkBytes), frames: make([]frameRef, 0, chunkFrames)}
	}
	return <-b.free
}

// handOver gives the frames copied so far to the writer.
func (b *bundleWriter) handOver() {
	if b.cur != nil && len(b.cur.frames) > 0 {
		b.jobs <- bundleJob{frames: b.cur}
		b.cur = nil
	}
}

// queues writes queue samples after the frames handed over before them.
// qs must not change afterwards.
func (b *bundleWriter) queues(qs []host.QueueSample) {
	if len(qs) > 0 {
		b.jobs <- bundleJob{queues: qs}
	}
}

// interval hands over the frames so far, the interval's counter sample
// (c must not change afterwards), and has everything flushed to the files,
// so that a bundle cut short keeps what came before.
func (b *bundleWriter) interval(t int64, c host.Counters) {
	b.handOver()
	b.jobs <- bundleJob{counters: &host.CounterSample{Time: t, Counters: c}, flush: true}
}

// err is the writer's first error so far.
func (b *bundleWriter) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.firstErr
}

// stop hands over what is left, waits for the writer to write it and
// returns its first error. The bundle.Writer is the caller's again.
func (b *bundleWriter) stop() error {
	if b.jobs == nil {
		return b.err()
	}
	b.handOver()
	close(b.jobs)
	b.jobs = nil
	<-b.done
	return b.err()
}
