package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/synq/synq/connlog"
)

func addConnectionsFlags(f *pflag.FlagSet, file, format *string) {
	f.StringVar(file, "connections", "", "also write one record per connection attempt to this file (- for standard output), streamed as attempts finish")
	f.StringVar(format, "connections-format", "", "format of --connections: jsonl, zeek (a conn.log) or parquet; default zeek for a name ending in .log, parquet for .parquet, else jsonl")
}

func validateConnections(file, format, output string) error {
	if format != "" && file == "" {
		return usageErrorf("--connections-format needs --connections FILE")
	}
	if _, err := connlog.ParseFormat(format, file); err != nil {
		return usageErrorf("--connections-format: %v", err)
	}
	if file == "-" && output == "" {
		return usageErrorf("--connections -: the report goes to standard output too; give it -o FILE")
	}
	return nil
}

// connsFile is the open --connections export.
type connsFile struct {
	name   string
	f      *os.File // nil for standard output
	w      *connlog.Writer
	closed bool
}

// createConnections opens the export before any input is read, so that a
// path that cannot be written fails at once. nil when not asked for.
func createConnections(ios *IOStreams, name, format string) (*connsFile, error) {
	if name == "" {
		return nil, nil
	}
	fm, _ := connlog.ParseFormat(format, name)
	c := &connsFile{name: name}
	var out io.Writer = ios.Out
	if name != "-" {
		f, err := os.Create(name)
		if err != nil {
			return nil, withCode(exitOutput, fmt.Errorf("--connections: %w", err))
		}
		c.f, out = f, f
	}
	c.w = connlog.NewWriter(out, fm)
	return c, nil
}

// err is the export's write error as an exit error (code 4); nil for a
// nil c.
func (c *connsFile) err() error {
	if c == nil {
		return nil
	}
	if err := c.w.Err(); err != nil {
		return withCode(exitOutput, fmt.Errorf("writing connections to %s: %w", c.display(), err))
	}
	return nil
}

func (c *connsFile) display() string {
	if c.f == nil {
		return "standard output"
	}
	return strings.ToValidUTF8(c.name, "?")
}

// close ends and closes the export; a nil c does nothing.
func (c *connsFile) close() error {
	if c == nil || c.closed {
		return nil
	}
	c.closed = true
	if err := c.w.Close(); err != nil {
		if c.f != nil {
			c.f.Close()
		}
		return c.err()
	}
	if c.f != nil {
		if err := c.f.Close(); err != nil {
			return withCode(exitOutput, fmt.Errorf("writing connections to %s: %w", c.display(), err))
		}
	}
	return nil
}

// abort closes the export after a failure elsewhere, keeping what was
// written.
func (c *connsFile) abort() {
	if c == nil || c.closed {
		return
	}
	c.closed = true
	_ = c.w.Close()
	if c.f != nil {
		c.f.Close()
	}
}
