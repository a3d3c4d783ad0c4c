package live

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/bundle"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
	"github.com/synq/synq/report"
)

// session is one Run: what it opened and what it has seen so far.
type session struct {
	cfg   Config
	ports []uint16

	src     source
	sampler sampler
	sysctls map[string]string
	before  host.Counters
	start   time.Time
	records Records
	bw      *bundle.Writer
	bundle  *bundleWriter // bw's goroutine while the capture runs

	tr       *reassemble.Tracker
	agg      *analyze.Aggregator
	book     *book
	recent   *recentAttempts
	kernel   *kernelJoin
	queues   *host.QueueHistory
	counters *counterSeries
	p        capture.Packet
}

// open opens the capture and the sampler, reads the sysctls and the first
// counter snapshot, then opens the records and the bundle: everything
// before the first snapshot, so that counters and capture cover the same
// span.
func (s *session) open() error {
	cfg := &s.cfg
	s.ports = slices.Clone(cfg.Ports)
	slices.Sort(s.ports)
	s.ports = slices.Compact(s.ports)

	src, err := cfg.openSource(capture.LiveOptions{Interface: cfg.Interface, Ports: s.ports, RingBytes: cfg.RingBytes, Filter: cfg.Filter,
		VerifyChecksums: cfg.Records != nil})
	if errors.Is(err, capture.ErrNeedPrivilege) {
		return &Error{Kind: KindPermission, Err: err}
	}
	if err != nil {
		return inputErr(err)
	}
	s.src = src
	if s.sampler, err = cfg.openSampler(s.ports); err != nil {
		return inputErr(err)
	}
	if s.sysctls, err = host.ReadSysctls(cfg.ProcSys, host.QueueSysctls); err != nil {
		return inputErr(fmt.Errorf("reading sysctls: %w", err))
	}
	if s.before, err = host.ReadCounters(cfg.ProcNet); err != nil {
		return inputErr(fmt.Errorf("reading kernel counters: %w", err))
	}
	s.start = cfg.Now()
	s.counters = newCounterSeries(host.CounterSample{Time: s.start.UnixNano(), Counters: s.before})
	s.queues = host.NewQueueHistory(int64(VerdictWindow))
	if cfg.Records != nil {
		if s.records, err = cfg.Records(s.start); err != nil {
			return err
		}
		// A live capture starts now: the Zeek log's #open.
		s.records.Begin(s.start.UnixNano())
	}
	if cfg.Dir != "" {
		if err := s.createBundle(); err != nil {
			return outputErr(fmt.Errorf("-w: %w", err))
		}
	}

	if cfg.Kernel != nil {
		s.kernel = startKernelJoin(cfg.Kernel, cfg.OnKernelDrop)
	}
	tc := reassemble.Config{Ports: s.ports, MaxAttempts: cfg.MaxAttempts, ConnState: s.records != nil}
	s.agg, s.book, s.recent = analyze.NewAggregator(), newBook(), &recentAttempts{}
	s.tr = reassemble.NewTracker(tc, s.finished)
	if cfg.OnStart != nil {
		cfg.OnStart(Start{Time: s.start, Interface: cfg.Interface, Ports: s.ports, LinkType: s.src.LinkType()})
	}
	return nil
}

// refreshConntrack reads the connection-tracking table's fill again and
// keeps the fuller reading: the other sysctls do not change during an
// incident, but a table that fills during the session is what explains
// the SYNs it drops (analyze's conntrack_full).
func (s *session) refreshConntrack() {
	const name = "net.netfilter.nf_conntrack_count"
	was, ok := s.sysctls[name]
	if !ok {
		return
	}
	now, err := host.ReadSysctls(s.cfg.ProcSys, []string{name})
	if err != nil {
		return
	}
	a, errA := strconv.Atoi(was)
	b, errB := strconv.Atoi(now[name])
	if errB == nil && (errA != nil || b > a) {
		// A new map: the report of an earlier interval may hold the old.
		s.sysctls = maps.Clone(s.sysctls)
		s.sysctls[name] = now[name]
	}
}

func (s *session) createBundle() error {
	bw, err := bundle.Create(s.cfg.Dir, s.src.LinkType(), s.src.Snaplen())
	if err != nil {
		return err
	}
	s.bw = bw
	if err := bw.WriteNstat(bundle.NstatBeforeFile, s.before); err != nil {
		return err
	}
	if err := bw.WriteSysctls(s.sysctls); err != nil {
		return err
	}
	if err := bw.WriteCounters(s.start.UnixNano(), s.before); err != nil {
		return err
	}
	s.bundle = newBundleWriter(bw)
	return nil
}

// finished is the tracker's emit: an attempt finished.
func (s *session) finished(a *reassemble.Attempt) {
	s.book.finished(a)
	s.agg.Add(a)
	s.recent.add(a)
	var reasons []analyze.ReasonCount
	if s.kernel != nil && !a.MidStream {
		// The outcome the aggregator gives it, so that the kernel's
		// reasons by outcome add up with the report's outcomes.
		reasons = s.kernel.attempt(a, analyze.Classify(a, s.agg.CaptureEnd))
	}
	if s.records != nil {
		s.records.Add(a, reasons)
	}
	if s.cfg.OnAttempt != nil {
		s.cfg.OnAttempt(a)
	}
}

// close releases what open opened; after a failure the bundle stays as
// far as it was written.
func (s *session) close() {
	if s.kernel != nil {
		s.kernel.close()
	} else if s.cfg.Kernel != nil {
		// Run closes the source whether or not it got as far as reading.
		_ = s.cfg.Kernel.Close()
	}
	if s.bundle != nil {
		_ = s.bundle.stop()
	}
	if s.sampler != nil {
		s.sampler.Close()
	}
	if s.src != nil {
		s.src.Close()
	}
}

func (s *session) run(ctx context.Context) (*report.Input, error) {
	cfg := &s.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queues := make(chan queueRound, 64)
	samplerDone := make(chan error, 1)
	go func() { samplerDone <- sampleQueues(ctx, s.sampler, cfg.Now, queues) }()
	samplerStopped := false
	defer func() {
		// On an early return too: the sampler is closed after this.
		if !samplerStopped {
			cancel()
			<-samplerDone
		}
	}()

	var (
		intervals int
		next      = s.start.Add(cfg.Interval)
		last      = s.before
		deadline  time.Time
	)
	if cfg.Duration > 0 {
		deadline = s.start.Add(cfg.Duration)
	}
	for {
		k, err := s.src.Next(&s.p)
		switch {
		case err == nil:
			s.packet(k)
		case errors.Is(err, capture.ErrLiveTimeout):
		default:
			return nil, inputErr(err)
		}
		s.takeQueues(queues)
		if s.records != nil {
			if err := s.records.Err(); err != nil {
				return nil, err
			}
		}
		now := cfg.Now()
		stop := ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline))
		if now.Before(next) && !stop {
			continue
		}
		// An interval ended (or the run did).
		c, err := host.ReadCounters(cfg.ProcNet)
		if err != nil {
			return nil, inputErr(fmt.Errorf("reading kernel counters: %w", err))
		}
		final := stop || (cfg.Count > 0 && intervals+1 >= cfg.Count)
		if final {
			// The last snapshot is taken: read what the ring still holds
			// from before it, so that capture and counters end together.
			if err := s.drain(); err != nil {
				return nil, err
			}
		}
		s.counters.add(host.CounterSample{Time: now.UnixNano(), Counters: c})
		if s.bundle != nil {
			s.bundle.interval(now.UnixNano(), c)
			if err := s.bundle.err(); err != nil {
				return nil, outputErr(err)
			}
		}
		ring, _ := s.src.RingStats()
		span := now.Sub(next.Add(-cfg.Interval))
		if span <= 0 {
			span = cfg.Interval
		}
		iv := s.interval(now, span, ring, last, c)
		if cfg.OnInterval != nil {
			if err := cfg.OnInterval(iv); err != nil {
				return nil, err
			}
		}
		last = c
		intervals++
		next = next.Add(cfg.Interval)
		if now.After(next) { // a slow interval: do not report a burst of catch-up intervals
			next = now.Add(cfg.Interval)
		}
		if final {
			break
		}
	}
	cancel()
	samplerStopped = true
	if err := <-samplerDone; err != nil && cfg.OnWarning != nil {
		cfg.OnWarning(fmt.Errorf("listen queue sampling stopped: %w", err))
	}
	s.takeQueues(queues)
	return s.end()
}

// packet books one packet Next returned, and keeps its frame in the
// bundle.
func (s *session) packet(k capture.Kind) {
	if s.bundle != nil {
		s.bundle.packet(s.src.Frame())
	}
	switch k {
	case capture.KindTCP:
		s.book.packet(&s.p)
		s.tr.Add(&s.p)
	case capture.KindICMPError:
		s.tr.Add(&s.p)
	}
}

// drain reads the frames the ring holds, until a poll finds none.
func (s *session) drain() error {
	for {
		k, err := s.src.Next(&s.p)
		if errors.Is(err, capture.ErrLiveTimeout) {
			return nil
		}
		if err != nil {
			return inputErr(err)
		}
		s.packet(k)
	}
}

// takeQueues books the queue samples taken since the last call.
func (s *session) takeQueues(queues <-chan queueRound) {
	for {
		select {
		case r := <-queues:
			s.queues.Add(r.time, r.samples)
			s.book.queues(r.samples)
			if s.bundle != nil {
				s.bundle.queues(r.samples)
			}
		default:
			return
		}
	}
}

// interval ends an interval at now: its rows, with the drops that became
// known in it, and the current verdicts. One pass over the attempts in
// flight serves both.
func (s *session) interval(now time.Time, span time.Duration, ring capture.RingStats, before, after host.Counters) Interval {
	t := now.UnixNano()
	windowStart := t - int64(VerdictWindow)
	s.recent.expire(windowStart)
	agg := analyze.NewAggregator()
	agg.CaptureEnd = t
	for i := range s.recent.buf {
		agg.Add(&s.recent.buf[i])
	}
	s.tr.InFlightUnsettled(func(a *reassemble.Attempt, u reassemble.Unsettled) {
		w := u.Waiting(a, t)
		agg.Add(&w)
		s.book.inFlight(a, u, t)
	})
	rows := s.book.take()
	res := agg.Result()
	if s.kernel != nil {
		// The kernel's word decides now as it does in the report: a
		// netfilter drop is not another listener's overflow.
		k := s.kernel.since(windowStart)
		for i := range res.Listeners {
			if a := k[res.Listeners[i].Server]; a != nil {
				res.Listeners[i].Kernel = a
			} else {
				res.Listeners[i].Kernel = &analyze.KernelDrops{}
			}
		}
	}
	s.refreshConntrack()
	h := hostEvidence(s.before, after, s.sysctls, host.Peaks(s.queues.Since(windowStart)), s.queues.RoundsSince(windowStart))
	return Interval{Time: now, Elapsed: now.Sub(s.start), Span: span, Rows: rows, Ring: ring, Before: before, After: after,
		Verdicts: verdicts(&res, h, now.Sub(s.start))}
}

// end finishes every attempt and builds the report input; with -w it
// completes the bundle.
func (s *session) end() (*report.Input, error) {
	cfg := &s.cfg
	end := cfg.Now()
	after := s.counters.last.Counters
	ring, err := s.src.RingStats()
	if err != nil {
		return nil, inputErr(err)
	}
	peaks := s.queues.Peaks()
	live := &report.LiveEvidence{Interface: cfg.Interface, Counters: s.counters.samples(), Queues: s.queues.Series(), Peaks: peaks, Ring: ring}

	sum := s.src.Summary()
	s.agg.CaptureEnd = max(sum.End, end.UnixNano())
	if s.records != nil {
		s.records.SetCaptureEnd(s.agg.CaptureEnd)
	}
	if s.kernel != nil {
		s.kernel.flush()
	}
	s.tr.Flush()
	if s.records != nil {
		if err := s.records.Close(); err != nil {
			return nil, err
		}
	}
	res := s.agg.Result()
	res.Evicted = s.tr.Stats().Evicted
	if w := report.RingWarning(ring); w != "" {
		sum.Warnings = append(sum.Warnings, w)
	}
	if s.kernel != nil {
		if w := s.kernel.finish(&res); w != "" {
			sum.Warnings = append(sum.Warnings, w)
		}
	}
	s.refreshConntrack()
	h := hostEvidence(s.before, after, s.sysctls, peaks, s.queues.Rounds())
	in := &report.Input{Version: cfg.Version, Capture: sum, Tracker: s.tr.Stats(), Result: res, Host: h, Live: live,
		Run: report.RunOf(cfg.Args, nil, h)}
	// The same evidence as synq analyze --nstat --sysctl, plus the
	// sampled listen queues.
	analyze.Diagnose(&in.Result, h)

	if s.bundle != nil {
		err := s.bundle.stop()
		s.bundle = nil
		if err != nil {
			return nil, outputErr(err)
		}
		if err := s.bw.WriteNstat(bundle.NstatAfterFile, after); err != nil {
			return nil, outputErr(fmt.Errorf("-w: %w", err))
		}
		// Again: the conntrack table's fill may have risen since.
		if err := s.bw.WriteSysctls(s.sysctls); err != nil {
			return nil, outputErr(fmt.Errorf("-w: %w", err))
		}
		m := bundle.Manifest{Version: cfg.Version, Interface: cfg.Interface, Ports: s.ports,
			LinkType: capture.LinkTypeName(s.src.LinkType()), Snaplen: s.src.Snaplen(),
			Start: bundle.Timestamp(s.start.UnixNano()), End: bundle.Timestamp(end.UnixNano()), Ring: ring,
			Filter: sum.Filter, FilterLeftOut: sum.Filtered, QueueRounds: s.queues.Rounds()}
		if err := s.bw.Close(m); err != nil {
			return nil, outputErr(fmt.Errorf("-w: %w", err))
		}
	}
	return in, nil
}
