package main

import (
	"errors"
	"fmt"
)

// Exit codes. They are documented in the README and in `synq --help`;
// scripts rely on them, so never renumber one.
const (
	exitOK     = 0 // the analysis ran (whatever it found)
	exitError  = 1 // an unexpected failure
	exitUsage  = 2 // bad flags or arguments
	exitInput  = 3 // no usable input: missing file, not a capture, unsupported link type, no packets
	exitOutput = 4 // the report could not be written
	// exitPermission: synq live may not capture (needs root or CAP_NET_RAW).
	exitPermission = 5
	// exitFound: the report was written and a listener's verdict is one
	// of the kinds --fail-on names.
	exitFound = 6
)

const exitCodeHelp = `Exit codes:
  0  analysis done (whatever it found; damaged input that still gave packets
     is reported as warnings)
  1  unexpected error
  2  bad flags or arguments
  3  no usable input: missing file, not a capture, unsupported link type,
     or no packets at all
  4  the report (or the --connections export) could not be written
  5  synq live: not permitted to capture (needs root or CAP_NET_RAW)
  6  --fail-on: the report was written and a listener's verdict (medium or
     high confidence) is one of the kinds named`

// exitErr carries an exit code up to run, which prints the error once.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitErr{code: code, err: err}
}

func usageErrorf(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

func exitCodeOf(err error) int {
	var e *exitErr
	if errors.As(err, &e) {
		return e.code
	}
	return exitError
}
