// Package metrics serves what synq live sees as Prometheus metrics, for
// a fleet: per listener, attempts by outcome, drops as they happen
// (inferred from packets and, where traced, reported by the kernel),
// the sampled listen queues and the current verdict, plus the capture
// ring's own drops. Prometheus (and its federation or remote write) is
// the aggregation engine; synq only exposes one server's numbers.
//
// Memory is bounded for a run of days: the series are per listener and
// per outcome, reason or verdict kind, all from small fixed sets but the
// listeners, which are capped at MaxListeners (the rest are summed under
// listener="other").
package metrics

import (
	"net/http"
	"net/netip"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/live"
)

// MaxListeners is how many listeners get series of their own.
const MaxListeners = 256

// otherListener labels the listeners past MaxListeners.
const otherListener = "other"

// Exporter holds the numbers between scrapes. Its methods are called by
// the live session's hooks (one goroutine) and Collect by the HTTP
// server's, hence the lock.
type Exporter struct {
	mu        sync.Mutex
	version   string
	listeners map[string]*listenerSeries
	ring      capture.RingStats
	kernelOn  bool
	reg       *prometheus.Registry
}

type listenerSeries struct {
	attempts                       map[analyze.Outcome]uint64
	syns, droppedSYNs, ignoredACKs uint64
	kernelDrops                    map[string]uint64
	sampled                        bool
	acceptQueue, acceptLimit       int
	synRecv                        int
	verdict                        analyze.Kind
}

// New returns an Exporter with its own registry (the Go runtime's and
// the process's metrics included).
func New(version string) *Exporter {
	e := &Exporter{version: version, listeners: map[string]*listenerSeries{}, reg: prometheus.NewRegistry()}
	e.reg.MustRegister(e, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return e
}

// Handler serves the metrics in Prometheus's text format (or
// OpenMetrics, as the scraper asks).
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

func (e *Exporter) series(l netip.AddrPort) *listenerSeries {
	name := l.String()
	s := e.listeners[name]
	if s == nil {
		if len(e.listeners) >= MaxListeners {
			name = otherListener
			if s = e.listeners[name]; s != nil {
				return s
			}
		}
		s = &listenerSeries{attempts: map[analyze.Outcome]uint64{}, kernelDrops: map[string]uint64{}}
		e.listeners[name] = s
	}
	return s
}

// Attempt counts a finished attempt by its outcome.
func (e *Exporter) Attempt(server netip.AddrPort, o analyze.Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.series(server).attempts[o]++
}

// KernelDrop counts a packet the kernel reported dropping.
func (e *Exporter) KernelDrop(d kernel.Drop) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.series(d.Listener()).kernelDrops[d.Reason]++
}

// KernelTraced says the kernel's drops are traced: the kernel series
// are exposed (at zero until a drop) rather than absent.
func (e *Exporter) KernelTraced() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kernelOn = true
}

// Interval takes one interval's rows, queue samples, verdicts and ring
// counters.
func (e *Exporter) Interval(iv live.Interval) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range iv.Rows {
		s := e.series(r.Listener)
		s.syns += uint64(r.SYNs)
		s.droppedSYNs += uint64(r.DroppedSYNs)
		s.ignoredACKs += uint64(r.IgnoredACKs)
		s.sampled = r.Sampled
		s.acceptQueue, s.acceptLimit, s.synRecv = r.AcceptQueue, r.AcceptLimit, r.SynRecv
		if v, ok := iv.VerdictOf(r.Listener); ok {
			s.verdict = v.Kind
		}
	}
	e.ring = iv.Ring
}

var (
	descAttempts    = prometheus.NewDesc("synq_attempts_total", "Connection attempts finished, by synq's outcome (established, unanswered_syn, ack_ignored, ...).", []string{"listener", "outcome"}, nil)
	descSYNs        = prometheus.NewDesc("synq_syn_packets_total", "Client SYN packets received, retransmissions included.", []string{"listener"}, nil)
	descDroppedSYNs = prometheus.NewDesc("synq_dropped_syn_packets_total", "Client SYN packets the server did not answer, counted when each became known.", []string{"listener"}, nil)
	descIgnored     = prometheus.NewDesc("synq_ignored_ack_segments_total", "Client segments after the SYN-ACK that the server ignored (an accept-queue overflow's mark).", []string{"listener"}, nil)
	descKernel      = prometheus.NewDesc("synq_kernel_dropped_packets_total", "Packets the kernel dropped, by its drop reason (eBPF on kfree_skb).", []string{"listener", "reason"}, nil)
	descAcceptQ     = prometheus.NewDesc("synq_accept_queue_length", "Largest accept-queue length sampled in the last interval.", []string{"listener"}, nil)
	descAcceptLimit = prometheus.NewDesc("synq_accept_queue_limit", "The accept queue's limit (the kernel holds limit+1 before it counts the queue full).", []string{"listener"}, nil)
	descSynRecv     = prometheus.NewDesc("synq_syn_recv_requests", "Most handshakes in SYN_RECV sampled in the last interval.", []string{"listener"}, nil)
	descVerdict     = prometheus.NewDesc("synq_verdict", "The listener's current verdict: 1 for its kind, 0 for the others.", []string{"listener", "kind"}, nil)
	descRingFrames  = prometheus.NewDesc("synq_capture_ring_frames_total", "Frames the capture filter passed to synq.", nil, nil)
	descRingDropped = prometheus.NewDesc("synq_capture_ring_dropped_frames_total", "Of those, frames lost because the capture ring was full (verdicts may be affected).", nil, nil)
	descBuild       = prometheus.NewDesc("synq_build_info", "synq's version.", []string{"version"}, nil)
)

// Describe sends the descriptors (prometheus.Collector).
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAttempts, descSYNs, descDroppedSYNs, descIgnored, descKernel, descAcceptQ,
		descAcceptLimit, descSynRecv, descVerdict, descRingFrames, descRingDropped, descBuild} {
		ch <- d
	}
}

// Collect sends the current values (prometheus.Collector).
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.listeners))
	for n := range e.listeners {
		names = append(names, n)
	}
	slices.Sort(names)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, n := range names {
		s := e.listeners[n]
		for _, o := range analyze.AllOutcomes() {
			counter(descAttempts, s.attempts[o], n, o.String())
		}
		counter(descSYNs, s.syns, n)
		counter(descDroppedSYNs, s.droppedSYNs, n)
		counter(descIgnored, s.ignoredACKs, n)
		if e.kernelOn {
			for r, v := range s.kernelDrops {
				counter(descKernel, v, n, r)
			}
		}
		if s.sampled {
			gauge(descAcceptQ, float64(s.acceptQueue), n)
			gauge(descAcceptLimit, float64(s.acceptLimit), n)
			gauge(descSynRecv, float64(s.synRecv), n)
		}
		if s.verdict != "" {
			for _, k := range analyze.AllKinds() {
				v := 0.0
				if k == s.verdict {
					v = 1
				}
				gauge(descVerdict, v, n, string(k))
			}
		}
	}
	counter(descRingFrames, e.ring.Received)
	counter(descRingDropped, e.ring.Dropped)
	gauge(descBuild, 1, e.version)
}
