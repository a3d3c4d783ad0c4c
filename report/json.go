package report

import (
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
)

// SchemaVersion is bumped on any change that could break a reader of the
// JSON output: a renamed or removed field, or a changed meaning. Adding a
// field does not bump it.
const SchemaVersion = 1

// The JSON schema. Field names are a public interface (docs/json.md):
// keep them.
type jsonReport struct {
	SchemaVersion int            `json:"schema_version"`
	Tool          string         `json:"tool"`
	Version       string         `json:"version"`
	Verdict       jsonVerdict    `json:"verdict"`
	Capture       jsonCapture    `json:"capture"`
	Totals        jsonTotals     `json:"totals"`
	Listeners     []jsonListener `json:"listeners"`
	WorstClients  []jsonClient   `json:"worst_clients"`
	Nstat         *jsonNstat     `json:"nstat"`
	Limits        *jsonLimits    `json:"limits"`
	Host          *jsonHost      `json:"host,omitempty"`
	// Run: how the report was made (null when not known).
	Run *jsonRun `json:"run"`
}

type jsonRun struct {
	Command []string        `json:"command"`
	Inputs  []jsonInputFile `json:"inputs"`
	Host    string          `json:"host"`   // the server's hostname where known, else ""
	Kernel  string          `json:"kernel"` // the server's kernel release where known, else ""
}

type jsonInputFile struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	XXH64 string `json:"xxh64"`
	Whole bool   `json:"whole"`
}

func runJSON(run *Run) *jsonRun {
	if run == nil {
		return nil
	}
	r := &jsonRun{Command: append([]string{}, run.Command...), Inputs: []jsonInputFile{}, Host: run.Host, Kernel: run.Kernel}
	for _, f := range run.Inputs {
		r.Inputs = append(r.Inputs, jsonInputFile{f.Name, f.Bytes, f.XXH64, f.Whole})
	}
	return r
}

type jsonCapture struct {
	Files         []jsonFile    `json:"files"`
	Packets       int64         `json:"packets"`
	TCPPackets    int64         `json:"tcp_packets"`
	NonTCPPackets int64         `json:"non_tcp_packets"`
	ICMPErrors    int64         `json:"icmp_errors"`
	UDPPorts      []jsonUDPPort `json:"udp_ports"`
	// Hints explain an empty result: what the capture held instead.
	Hints            []string `json:"hints"`
	Fragments        int64    `json:"fragments"`
	TruncatedPackets int64    `json:"truncated_packets"`
	UnsupportedLink  int64    `json:"unsupported_link_packets"`
	Start            *string  `json:"start"`
	End              *string  `json:"end"`
	DurationSeconds  float64  `json:"duration_seconds"`
	LinkTypes        []string `json:"link_types"`
	Warnings         []string `json:"warnings"`
	// Tunnels counts frames per encapsulation kind ("vxlan", "gre", ...);
	// empty when nothing was tunnelled.
	Tunnels map[string]int64 `json:"tunnels"`
	// Filter is the capture filter (--filter) and what it left out; null
	// without one.
	Filter *jsonFilter `json:"filter"`
}

type jsonFilter struct {
	Expression    string `json:"expression"`
	FramesLeftOut int64  `json:"frames_left_out"`
}

type jsonFile struct {
	Name       string   `json:"name"`
	Format     string   `json:"format"`
	Compressed bool     `json:"compressed"`
	LinkTypes  []string `json:"link_types"`
	Packets    int64    `json:"packets"`
	CutOff     bool     `json:"cut_off"`
}

type jsonTotals struct {
	Attempts             int            `json:"attempts"`
	Failed               int            `json:"failed"`
	Outcomes             map[string]int `json:"outcomes"`
	MidstreamConnections int            `json:"midstream_connections"`
	PeakInFlight         int            `json:"peak_attempts_in_flight"`
	EvictedAttempts      int            `json:"evicted_attempts"`
	SkippedPackets       int            `json:"skipped_packets"`
	// SkippedListeners: where SYNs outside --port/--server went.
	SkippedListeners []jsonSkipped `json:"skipped_listeners"`
}

type jsonSkipped struct {
	Listener string `json:"listener"`
	SYNs     int    `json:"syns"`
}

type jsonUDPPort struct {
	Port      uint16 `json:"port"`
	Packets   int64  `json:"packets"`
	VXLANLike int64  `json:"vxlan_like"`
}

func udpPortsJSON(ps []capture.UDPPort) []jsonUDPPort {
	out := make([]jsonUDPPort, 0, len(ps))
	for _, p := range ps {
		out = append(out, jsonUDPPort{p.Port, p.Packets, p.VXLANLike})
	}
	return out
}

type jsonListener struct {
	Server               string           `json:"server"`
	Attempts             int              `json:"attempts"`
	Failed               int              `json:"failed"`
	Outcomes             map[string]int   `json:"outcomes"`
	SYNPackets           int              `json:"syn_packets"`
	DroppedSYNPackets    int              `json:"dropped_syn_packets"`
	SYNACKPackets        int              `json:"synack_packets"`
	SYNACKRetransmits    int              `json:"synack_retransmits"`
	IgnoredACKSegments   int              `json:"ignored_ack_segments"`
	ServerRSTs           int              `json:"server_rsts"`
	ClientRSTs           int              `json:"client_rsts"`
	MidstreamConnections int              `json:"midstream_connections"`
	HandshakeMS          *jsonLatency     `json:"handshake_ms"`
	HandshakeHistogram   []jsonLatencyBin `json:"handshake_histogram_ms"`
	Timeline             *jsonTimeline    `json:"timeline"`
	FailureWindow        *jsonTimeWindow  `json:"failure_window"`
	SyncookieSYNACKs     int              `json:"syncookie_synacks"`
	Verdict              jsonVerdict      `json:"verdict"`
	Findings             []jsonVerdict    `json:"findings"`
	RuledOut             []jsonVerdict    `json:"ruled_out"`
	Signs                jsonSigns        `json:"signs"`
	Kernel               *jsonKernel      `json:"kernel"`
	// ForwardedTo: where this host forwarded the listener's connections
	// (a front: a NodePort, DNAT), empty for a listener where they end.
	ForwardedTo []jsonForward `json:"forwarded_to"`
}

type jsonForward struct {
	Listener string `json:"listener"`
	Attempts int    `json:"attempts"`
}

type jsonLatency struct {
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Count int     `json:"count"`
}

type jsonLatencyBin struct {
	Le    *float64 `json:"le"` // null: no upper bound
	Count int      `json:"count"`
}

// jsonTimeline lists only the buckets where something happened (or the
// half-open estimate is not zero); the others are all zero.
type jsonTimeline struct {
	Start         string               `json:"start"`
	End           string               `json:"end"`
	BucketSeconds float64              `json:"bucket_seconds"`
	Buckets       []jsonTimelineBucket `json:"buckets"`
}

type jsonTimelineBucket struct {
	Start              string `json:"start"`
	SYNPackets         int    `json:"syn_packets"`
	SYNACKPackets      int    `json:"synack_packets"`
	SyncookieSYNACKs   int    `json:"syncookie_synacks"`
	DroppedSYNPackets  int    `json:"dropped_syn_packets"`
	IgnoredACKSegments int    `json:"ignored_ack_segments"`
	ServerRSTs         int    `json:"server_rsts"`
	ClientRSTs         int    `json:"client_rsts"`
	MaxHalfOpen        int    `json:"max_half_open"`
}

func latencyJSON(d []analyze.LatencyBucket) []jsonLatencyBin {
	out := []jsonLatencyBin{}
	for _, b := range analyze.TrimLatency(d, 0) {
		j := jsonLatencyBin{Count: b.Count}
		if b.Le != 0 {
			v := ms(b.Le)
			j.Le = &v
		}
		out = append(out, j)
	}
	return out
}

func timelineJSON(tl *analyze.Timeline) *jsonTimeline {
	if len(tl.Buckets) == 0 {
		return nil
	}
	w := int64(tl.Width)
	j := &jsonTimeline{
		Start: timestamp(tl.Start), End: timestamp(tl.Start + w*int64(len(tl.Buckets))),
		BucketSeconds: tl.Width.Seconds(), Buckets: []jsonTimelineBucket{},
	}
	for i, b := range tl.Buckets {
		if b == (analyze.TimelineBucket{}) {
			continue
		}
		j.Buckets = append(j.Buckets, jsonTimelineBucket{
			Start: timestamp(tl.Start + w*int64(i)), SYNPackets: b.SYNs, SYNACKPackets: b.SYNACKs,
			SyncookieSYNACKs: b.SyncookieSYNACKs, DroppedSYNPackets: b.DroppedSYNs,
			IgnoredACKSegments: b.IgnoredACKs, ServerRSTs: b.ServerRSTs, ClientRSTs: b.ClientRSTs,
			MaxHalfOpen: b.HalfOpen,
		})
	}
	return j
}

type jsonTimeWindow struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type jsonClient struct {
	Client   string         `json:"client"`
	Attempts int            `json:"attempts"`
	Failed   int            `json:"failed"`
	Outcomes map[string]int `json:"outcomes"`
}

// WriteJSON writes the stable JSON document (docs/json.md).
func WriteJSON(w io.Writer, in *Input) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(buildJSON(in))
}

func buildJSON(in *Input) jsonReport {
	cs := in.Capture
	r := jsonReport{
		SchemaVersion: SchemaVersion,
		Tool:          "synq",
		Version:       in.Version,
		Run:           runJSON(in.Run),
		Capture: jsonCapture{
			Files:            []jsonFile{},
			Packets:          cs.Packets,
			TCPPackets:       cs.TCPPackets,
			NonTCPPackets:    cs.NonTCP,
			ICMPErrors:       cs.ICMPErrors,
			UDPPorts:         udpPortsJSON(cs.UDPPorts),
			Hints:            nonNil(emptyHints(in)),
			Fragments:        cs.Fragments,
			TruncatedPackets: cs.Truncated,
			UnsupportedLink:  cs.UnsupportedLink,
			LinkTypes:        nonNil(cs.LinkTypes),
			Warnings:         nonNil(captureWarnings(in)),
			Tunnels:          tunnelCounts(&cs),
			Filter:           filterJSON(&cs),
		},
		Totals: jsonTotals{
			Attempts:             in.Result.Attempts,
			Failed:               in.Result.Totals.Failed(),
			Outcomes:             outcomeMap(&in.Result.Totals),
			MidstreamConnections: in.Result.MidStream,
			PeakInFlight:         in.Tracker.PeakInFlight,
			EvictedAttempts:      in.Tracker.Evicted,
			SkippedPackets:       in.Tracker.SkippedPackets,
			SkippedListeners:     skippedJSON(in),
		},
		Listeners:    []jsonListener{},
		WorstClients: []jsonClient{},
		Verdict:      verdictJSON(in.Result.Verdict),
		Nstat:        nstatJSON(in),
		Limits:       limitsJSON(in),
		Host:         hostJSON(in),
	}
	if in.Result.VerdictListener.IsValid() {
		r.Verdict.Listener = in.Result.VerdictListener.String()
	}
	if cs.Packets > 0 {
		s, e := timestamp(cs.Start), timestamp(cs.End)
		r.Capture.Start, r.Capture.End = &s, &e
		r.Capture.DurationSeconds = round3(time.Duration(cs.End - cs.Start).Seconds())
	}
	for _, f := range cs.Files {
		r.Capture.Files = append(r.Capture.Files, jsonFile{
			Name: f.Name, Format: f.Format, Compressed: f.Compressed,
			LinkTypes: nonNil(f.LinkTypes), Packets: f.Packets, CutOff: f.CutOff,
		})
	}
	for i := range in.Result.Listeners {
		l := &in.Result.Listeners[i]
		jl := jsonListener{
			Server:               l.Server.String(),
			Attempts:             l.Attempts,
			Failed:               l.Outcomes.Failed(),
			Outcomes:             outcomeMap(&l.Outcomes),
			SYNPackets:           l.SYNPackets,
			DroppedSYNPackets:    l.DroppedSYNPackets,
			SYNACKPackets:        l.SYNACKPackets,
			SYNACKRetransmits:    l.SYNACKRetransmits,
			IgnoredACKSegments:   l.IgnoredACKSegments,
			ServerRSTs:           l.ServerRSTs,
			ClientRSTs:           l.ClientRSTs,
			MidstreamConnections: l.MidStream,
			SyncookieSYNACKs:     l.Signs.SyncookieSYNACKs,
			Verdict:              verdictJSON(l.Diagnosis.Verdict),
			Findings:             []jsonVerdict{},
			RuledOut:             []jsonVerdict{},
			Signs:                signsJSON(&l.Signs, l.CompletedSilent),
			Kernel:               kernelJSON(l.Kernel),
			HandshakeHistogram:   latencyJSON(l.HandshakeDistribution),
			Timeline:             timelineJSON(&l.Timeline),
			ForwardedTo:          []jsonForward{},
		}
		for _, fw := range l.Forwards {
			jl.ForwardedTo = append(jl.ForwardedTo, jsonForward{fw.To.String(), fw.Attempts})
		}
		for _, f := range l.Diagnosis.Findings {
			jl.Findings = append(jl.Findings, verdictJSON(f))
		}
		for _, f := range l.Diagnosis.RuledOut {
			jl.RuledOut = append(jl.RuledOut, verdictJSON(f))
		}
		if l.HandshakeN > 0 {
			jl.HandshakeMS = &jsonLatency{P50: ms(l.HandshakeP50), P99: ms(l.HandshakeP99), Count: l.HandshakeN}
		}
		if l.Outcomes.Failed() > 0 {
			jl.FailureWindow = &jsonTimeWindow{Start: timestamp(l.FirstFailure), End: timestamp(l.LastFailure)}
		}
		r.Listeners = append(r.Listeners, jl)
	}
	for _, c := range in.Result.WorstClients {
		r.WorstClients = append(r.WorstClients, jsonClient{
			Client: c.Addr.String(), Attempts: c.Attempts, Failed: c.Outcomes.Failed(),
			Outcomes: outcomeMap(&c.Outcomes),
		})
	}
	return r
}

// outcomeMap lists every outcome, zero or not, so readers can rely on the
// keys being present.
func outcomeMap(c *analyze.OutcomeCounts) map[string]int {
	m := make(map[string]int, len(c))
	for _, o := range analyze.AllOutcomes() {
		m[o.String()] = c[o]
	}
	return m
}

func timestamp(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000Z")
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// tunnelCounts maps each encapsulation kind met to its frame count.
func tunnelCounts(cs *capture.Summary) map[string]int64 {
	m := map[string]int64{}
	for k, n := range cs.Tunnels {
		if n > 0 {
			m[capture.TunnelKind(k).String()] = n
		}
	}
	return m
}

func skippedJSON(in *Input) []jsonSkipped {
	out := make([]jsonSkipped, 0, len(in.Tracker.SkippedListeners))
	for _, l := range in.Tracker.SkippedListeners {
		out = append(out, jsonSkipped{l.Listener.String(), l.SYNs})
	}
	return out
}

func filterJSON(cs *capture.Summary) *jsonFilter {
	if cs.Filter == "" {
		return nil
	}
	return &jsonFilter{Expression: cs.Filter, FramesLeftOut: cs.Filtered}
}
