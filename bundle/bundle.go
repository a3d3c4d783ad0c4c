// Package bundle writes and reads the evidence directory of `synq live -w
// DIR`: the capture as it was taken, kernel counter snapshots, the queue
// sysctls, listen-queue samples and a manifest, all on the capture's clock.
// docs/bundle.md describes the format. The package never prints.
package bundle

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
)

// SchemaVersion changes when a file is renamed or removed or a field
// changes meaning; adding one does not change it.
const SchemaVersion = 1

// File names inside a bundle.
const (
	ManifestFile    = "manifest.json"
	CaptureFile     = "capture.pcap"
	NstatBeforeFile = "nstat-before.txt"
	NstatAfterFile  = "nstat-after.txt"
	CountersFile    = "counters.jsonl"
	QueuesFile      = "queues.jsonl"
	SysctlFile      = "sysctl.txt"
)

// ErrNotBundle is wrapped by Read's error for a directory without a
// manifest.
var ErrNotBundle = errors.New("not a synq bundle (no manifest.json)")

// Manifest describes a bundle.
type Manifest struct {
	SchemaVersion int    `json:"schema_version"`
	Tool          string `json:"tool"`
	Version       string `json:"version"`
	Interface     string `json:"interface"`
	// Ports watched; empty means every port.
	Ports    []uint16 `json:"ports"`
	LinkType string   `json:"link_type"`
	Snaplen  uint32   `json:"snaplen"`
	// Start and End of the run, RFC 3339 with nanoseconds, UTC.
	Start string `json:"start"`
	End   string `json:"end"`
	// Ring is the capture ring's own counters at the end: Dropped > 0
	// means the capture is missing packets.
	Ring capture.RingStats `json:"ring"`
	// Filter is the capture filter of the run (synq live --filter) and
	// FilterLeftOut the frames it kept out of the capture; absent without
	// one.
	Filter        string `json:"filter,omitempty"`
	FilterLeftOut int64  `json:"filter_left_out,omitempty"`
	// QueueRounds is how many times the listen queues were sampled,
	// sockets found or none (absent in bundles written before synq
	// counted them): a port no sample lists had no listener then.
	QueueRounds int `json:"queue_rounds,omitempty"`
	// Files lists the bundle's files, by role.
	Files map[string]string `json:"files"`
}

// Timestamp formats ns since the epoch as the manifest does.
func Timestamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// Writer writes a bundle as the capture runs. Not safe for concurrent use.
type Writer struct {
	dir      string
	pcapF    *os.File
	pcapBuf  *bufio.Writer
	pcap     *pcapgo.Writer
	counters *jsonLines
	queues   *jsonLines
	err      error
}

type jsonLines struct {
	f   *os.File
	buf *bufio.Writer
	enc *json.Encoder
}

func createJSONLines(path string) (*jsonLines, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	buf := bufio.NewWriter(f)
	return &jsonLines{f: f, buf: buf, enc: json.NewEncoder(buf)}, nil
}

// Create makes dir (and its parents) and starts a bundle in it: the
// capture file with its header and the sample files. It refuses a
// directory that already holds a bundle.
func Create(dir string, lt layers.LinkType, snaplen uint32) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a bundle (%s)", dir, ManifestFile)
	}
	w := &Writer{dir: dir}
	f, err := os.Create(filepath.Join(dir, CaptureFile))
	if err != nil {
		return nil, err
	}
	w.pcapF = f
	w.pcapBuf = bufio.NewWriterSize(f, 256<<10)
	w.pcap = pcapgo.NewWriterNanos(w.pcapBuf)
	if err := w.pcap.WriteFileHeader(snaplen, lt); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", CaptureFile, err)
	}
	if w.counters, err = createJSONLines(filepath.Join(dir, CountersFile)); err != nil {
		f.Close()
		return nil, err
	}
	if w.queues, err = createJSONLines(filepath.Join(dir, QueuesFile)); err != nil {
		f.Close()
		w.counters.f.Close()
		return nil, err
	}
	return w, nil
}

// WritePacket appends one frame to the capture. It does not allocate.
func (w *Writer) WritePacket(ci gopacket.CaptureInfo, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := w.pcap.WritePacket(ci, data); err != nil {
		w.err = fmt.Errorf("%s: %w", CaptureFile, err)
	}
	return w.err
}

// WriteCounters appends one counter sample to counters.jsonl.
func (w *Writer) WriteCounters(t int64, c host.Counters) error {
	if err := w.counters.enc.Encode(host.CounterSample{Time: t, Counters: c}); err != nil {
		return fmt.Errorf("%s: %w", CountersFile, err)
	}
	return nil
}

// WriteQueues appends queue samples to queues.jsonl.
func (w *Writer) WriteQueues(samples []host.QueueSample) error {
	for i := range samples {
		if err := w.queues.enc.Encode(&samples[i]); err != nil {
			return fmt.Errorf("%s: %w", QueuesFile, err)
		}
	}
	return nil
}

// WriteNstat writes a full counter snapshot (NstatBeforeFile or
// NstatAfterFile) in `nstat -a` text form, which host.ParseNstat reads.
func (w *Writer) WriteNstat(name string, c host.Counters) error {
	var b strings.Builder
	FormatNstat(&b, c)
	return os.WriteFile(filepath.Join(w.dir, name), []byte(b.String()), 0o644)
}

// FormatNstat writes counters as `nstat -a` does: "#kernel", then one
// "Name value rate" line per counter, sorted by name (rate is always 0.0).
func FormatNstat(w io.Writer, c host.Counters) {
	fmt.Fprintln(w, "#kernel")
	for _, k := range slices.Sorted(maps.Keys(c)) {
		fmt.Fprintf(w, "%-32s%-16d%6.1f\n", k, c[k], 0.0)
	}
}

// WriteSysctls writes sysctl.txt in `sysctl -a` form ("name = value").
func (w *Writer) WriteSysctls(m map[string]string) error {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s = %s\n", k, m[k])
	}
	return os.WriteFile(filepath.Join(w.dir, SysctlFile), []byte(b.String()), 0o644)
}

// Flush pushes buffered packets and samples to the files, so that a
// bundle cut short (the machine died) keeps what was flushed.
func (w *Writer) Flush() error {
	for _, b := range []*bufio.Writer{w.pcapBuf, w.counters.buf, w.queues.buf} {
		if err := b.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Close flushes, closes the files and writes the manifest last: a bundle
// with a manifest is complete.
func (w *Writer) Close(m Manifest) error {
	err := w.Flush()
	for _, f := range []*os.File{w.pcapF, w.counters.f, w.queues.f} {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	m.SchemaVersion = SchemaVersion
	if m.Tool == "" {
		m.Tool = "synq"
	}
	if m.Ports == nil {
		m.Ports = []uint16{}
	}
	m.Files = map[string]string{
		"capture": CaptureFile, "nstat_before": NstatBeforeFile, "nstat_after": NstatAfterFile,
		"counters": CountersFile, "queues": QueuesFile, "sysctls": SysctlFile,
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.dir, ManifestFile), append(b, '\n'), 0o644)
}

// Bundle is a bundle read back.
type Bundle struct {
	Dir      string
	Manifest Manifest
	// CapturePath is the capture file, for capture.Open.
	CapturePath string
	// Before and After are the counter snapshots (nil when missing).
	Before, After host.Counters
	Counters      []host.CounterSample
	Queues        []host.QueueSample
	Sysctls       map[string]string
}

// IsBundle reports whether dir is a directory with a manifest.
func IsBundle(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil && st.Mode().IsRegular()
}

// Read reads the bundle in dir. The manifest and the capture must be
// there; a missing snapshot or sample file leaves its field empty.
func Read(dir string) (*Bundle, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotBundle)
	}
	if err != nil {
		return nil, err
	}
	b := &Bundle{Dir: dir, CapturePath: filepath.Join(dir, CaptureFile)}
	if err := json.Unmarshal(mb, &b.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if b.Manifest.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: bundle schema version %d, this synq reads %d", dir, b.Manifest.SchemaVersion, SchemaVersion)
	}
	if b.Before, err = readOptional(filepath.Join(dir, NstatBeforeFile), host.ParseNstat); err != nil {
		return nil, err
	}
	if b.After, err = readOptional(filepath.Join(dir, NstatAfterFile), host.ParseNstat); err != nil {
		return nil, err
	}
	if b.Sysctls, err = readOptional(filepath.Join(dir, SysctlFile), host.ParseSysctl); err != nil {
		return nil, err
	}
	if b.Counters, err = readOptional(filepath.Join(dir, CountersFile), parseJSONLines[host.CounterSample]); err != nil {
		return nil, err
	}
	if b.Queues, err = readOptional(filepath.Join(dir, QueuesFile), parseJSONLines[host.QueueSample]); err != nil {
		return nil, err
	}
	return b, nil
}

func readOptional[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return zero, nil
	}
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ErrMalformed marks a bundle file that cannot be read.
var ErrMalformed = errors.New("malformed bundle file")

// parseJSONLines reads one JSON value per line; a last line cut short
// (the writer died mid-line) is ignored, any other bad line is an error.
func parseJSONLines[T any](r io.Reader) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	var pending error
	for sc.Scan() {
		n++
		if pending != nil {
			return nil, pending
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			pending = fmt.Errorf("%w: line %d: %v", ErrMalformed, n, err)
			continue
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// HostInput is the bundle's host evidence for host.NewHost, the one
// constructor synq analyze, synq live and bundles share: the counter
// snapshots from before and after (when both were written), the sysctls
// and the sampled listen queues.
func (b *Bundle) HostInput() host.HostInput {
	var in host.HostInput
	if b.Before != nil && b.After != nil {
		in.Snapshots = []host.Snapshot{{Counters: b.Before, Format: host.FormatNstat}, {Counters: b.After, Format: host.FormatNstat}}
	}
	in.Sysctls = b.Sysctls
	if len(b.Queues) > 0 {
		in.Queues = host.Peaks(b.Queues)
	}
	in.QueueSamples = b.Manifest.QueueRounds
	return in
}
