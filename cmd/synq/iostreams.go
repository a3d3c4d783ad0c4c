package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams is the command's view of its terminal. Tests build one on
// buffers and set the TTY answers they want.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdoutTTY, stderrTTY bool
	noColor              bool
	// args is the command line (program name first), set by run for the
	// report's record of how it was made.
	args []string
}

func systemStreams() *IOStreams {
	// no-color.org: NO_COLOR set to anything but the empty string.
	noColor := os.Getenv("NO_COLOR") != ""
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		noColor:   noColor || os.Getenv("TERM") == "dumb",
	}
}

// IsStdoutTTY reports whether standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether standard error is a terminal (progress is
// shown only then).
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// ColorEnabled reports whether output to the terminal may use colour:
// only on a TTY, and never when NO_COLOR is set to a non-empty value
// (https://no-color.org).
func (s *IOStreams) ColorEnabled() bool { return s.stdoutTTY && !s.noColor }
