// Package report renders an analysis as a terminal table, JSON or a
// self-contained HTML page. It
// only formats: every number it prints was computed by analyze.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
	"github.com/synq/synq/reassemble"
)

// Input is everything a renderer needs.
type Input struct {
	Version string
	Capture capture.Summary
	Tracker reassemble.Stats
	Result  analyze.Result
	// Host is the evidence from the server beside the capture (counters,
	// sysctls); nil or empty when none was given.
	Host *host.Host
	// Live is the evidence synq live sampled beside the capture (queues,
	// counter samples, ring drops); nil for capture files.
	Live *LiveEvidence
	// Run is how the report was made: the command line and the inputs it
	// read; nil when not known (tests of a renderer alone).
	Run *Run
}

// Run records how a report was made, so that it can be made again.
type Run struct {
	Command []string    // the command line, program name first
	Inputs  []InputFile // every file read, in the order opened
	// Host and Kernel are the server's hostname and kernel release where
	// the evidence says (kernel.hostname and kernel.osrelease in the
	// sysctls, --kernel; synq live reads them), else "".
	Host, Kernel string
}

// RunOf is the Run record of a report made by command from inputs, with
// the host and kernel the host evidence names.
func RunOf(command []string, inputs []InputFile, h *host.Host) *Run {
	r := &Run{Command: command, Inputs: inputs}
	r.Host, _ = h.Sysctl("kernel.hostname")
	r.Kernel, _ = h.Sysctl("kernel.osrelease")
	return r
}

// InputFile is one input and its checksum: XXH64 of the bytes read
// (`xxhsum -H1 FILE`); Whole is false when only part of the file was
// read (a damaged capture), and the checksum is of that part.
type InputFile struct {
	Name  string
	Bytes int64
	XXH64 string
	Whole bool
}

// Format names an output format.
type Format string

const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatHTML  Format = "html"
)

// Formats lists the formats Render accepts, for flag help and completion.
func Formats() []string {
	return []string{string(FormatTable), string(FormatJSON), string(FormatHTML)}
}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if s == f {
			return Format(s), nil
		}
	}
	return "", fmt.Errorf("unknown format %q (want %s)", s, strings.Join(Formats(), ", "))
}

// Render writes in to w in format f.
func Render(w io.Writer, f Format, in *Input) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, in)
	case FormatTable:
		return WriteTable(w, in)
	case FormatHTML:
		return WriteHTML(w, in)
	}
	return fmt.Errorf("unknown format %q", f)
}
