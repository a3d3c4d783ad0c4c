package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
)

// LiveEvidence is what synq live (or a bundle it saved) adds beside the
// capture, on the capture's clock, from the server's network namespace.
// Counter deltas and sysctls travel in Input.Host as for --nstat and
// --sysctl; these are the samples behind them.
type LiveEvidence struct {
	// Interface captured on ("any" for every interface).
	Interface string
	// Queues are the listen-queue samples (inet_diag, every 100 ms), or
	// for a long run the chart series of them (host.QueueHistory), with
	// Peaks then computed from every sample.
	Queues []host.QueueSample
	// Peaks, when set, are the peaks of every sample; nil: from Queues.
	Peaks []host.QueuePeak
	// Counters are the kernel counter samples: at the start, every
	// interval (thinned to a bounded number on a long run) and at the end.
	Counters []host.CounterSample
	// Ring is the capture ring's own counters: Dropped > 0 means packets
	// are missing from the capture.
	Ring capture.RingStats
}

// QueuePeaks are the peak queue lengths per listener over the run.
func (l *LiveEvidence) QueuePeaks() []host.QueuePeak {
	if l.Peaks != nil {
		return l.Peaks
	}
	return host.Peaks(l.Queues)
}

// The JSON "host" object: present only for live captures and bundles.
type jsonHost struct {
	Interface string            `json:"interface"`
	Sysctls   map[string]string `json:"sysctls"`
	Queues    []jsonQueue       `json:"queues"`
	// Counters holds the change over the capture of the listen-related
	// counters the kernel has (absent ones are left out, not zero).
	Counters    map[string]int64  `json:"counters"`
	CaptureRing capture.RingStats `json:"capture_ring"`
}

type jsonQueue struct {
	Listener       string `json:"listener"`
	MaxAcceptQueue int    `json:"max_accept_queue"`
	AcceptLimit    int    `json:"accept_limit"`
	MaxSynRecv     int    `json:"max_syn_recv"`
	Samples        int    `json:"samples"`
	FullSamples    int    `json:"full_samples"`
}

// hostJSON builds the host object, nil without live evidence.
func hostJSON(in *Input) *jsonHost {
	if in.Live == nil {
		return nil
	}
	h := &jsonHost{
		Interface:   in.Live.Interface,
		Sysctls:     map[string]string{},
		Queues:      []jsonQueue{},
		Counters:    listenDeltas(in),
		CaptureRing: in.Live.Ring,
	}
	if in.Host != nil && in.Host.Sysctls != nil {
		h.Sysctls = in.Host.Sysctls
	}
	for _, p := range in.Live.QueuePeaks() {
		h.Queues = append(h.Queues, jsonQueue{
			Listener: p.Listener.String(), MaxAcceptQueue: p.MaxAcceptQueue, AcceptLimit: p.AcceptLimit,
			MaxSynRecv: p.MaxSynRecv, Samples: p.Samples, FullSamples: p.Full,
		})
	}
	return h
}

func listenDeltas(in *Input) map[string]int64 {
	m := map[string]int64{}
	if in.Host == nil || in.Host.Deltas == nil {
		return m
	}
	for _, name := range host.ListenCounters {
		if v, ok := in.Host.Deltas[name]; ok {
			m[name] = v
		}
	}
	return m
}

// host prints the live evidence: queue peaks per listener, the listen
// counters' change, the sysctls and the ring's drops.
func (p *printer) host(in *Input) {
	if in.Live == nil {
		return
	}
	var rows [][]string
	for _, q := range in.Live.QueuePeaks() {
		rows = append(rows, []string{q.Listener.String(),
			fmt.Sprintf("%d/%d", q.MaxAcceptQueue, q.AcceptLimit),
			count(q.MaxSynRecv), fmt.Sprintf("%d of %d", q.Full, q.Samples)})
	}
	if len(rows) > 0 {
		p.table("Listen queues (inet_diag samples)", []string{"LISTENER", "PEAK ACCEPT Q", "PEAK SYN_RECV", "FULL"}, rows, "lrrr")
	}
	d := listenDeltas(in)
	rows = nil
	for _, name := range host.ListenCounters {
		if v, ok := d[name]; ok && v != 0 {
			rows = append(rows, []string{name, fmt.Sprintf("%+d", v)})
		}
	}
	if in.Host != nil && in.Host.Deltas != nil {
		if len(rows) == 0 {
			p.line("")
			p.line("Kernel counters: no listen counter moved")
		} else {
			p.table("Kernel counters (change over the capture)", []string{"COUNTER", "CHANGE"}, rows, "lr")
		}
	}
	if in.Host != nil && len(in.Host.Sysctls) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(in.Host.Sysctls)) {
			kv = append(kv, strings.TrimPrefix(strings.TrimPrefix(k, "net.ipv4."), "net.core.")+"="+in.Host.Sysctls[k])
		}
		p.line("")
		p.wrap("Sysctls: ", strings.Join(kv, " "))
	}
	r := in.Live.Ring
	p.line("")
	p.line("Capture ring: %s frames, %s dropped", count(int(r.Received)), count(int(r.Dropped)))
}

// RingWarning is the warning for a capture ring that dropped frames, ""
// when it dropped none.
func RingWarning(r capture.RingStats) string {
	if r.Dropped == 0 {
		return ""
	}
	return fmt.Sprintf("the capture ring dropped %d of %d frames: outcome counts are incomplete and verdicts may be affected (raise --ring-size, or narrow --port)", r.Dropped, r.Received)
}
