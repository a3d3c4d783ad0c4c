package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/synq/synq/report"
)

// inputRecorder hashes every input synq reads (captures, counter
// snapshots, sysctls, ss samples) as it is read, so that a report can
// name exactly what it was made from. XXH64, not SHA-256: on a 10 GB
// capture SHA-256 (1.9 GB/s with SHA-NI on our machines) would add
// seconds to the read, XXH64 (22 GB/s) nothing measurable; `xxhsum -H1
// FILE` checks it.
type inputRecorder struct {
	mu    sync.Mutex
	files []*hashingReader
}

// hashingReader hashes what passes through it.
type hashingReader struct {
	name   string
	r      io.Reader
	c      io.Closer // nil for standard input: not ours to close
	h      *xxhash.Digest
	n      int64
	eof    bool
	size   int64 // of the file, -1 when unknown (stdin, pipes)
	closed bool
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err == io.EOF {
		h.eof = true
	}
	return n, err
}

// Stat passes the file's Stat through: the capture reader sizes its
// progress bar with it.
func (h *hashingReader) Stat() (fs.FileInfo, error) {
	if st, ok := h.r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		return st.Stat()
	}
	return nil, errors.ErrUnsupported
}

func (h *hashingReader) Close() error {
	h.closed = true
	if h.c == nil {
		return nil
	}
	return h.c.Close()
}

// wrap returns open with every file it opens recorded.
func (ir *inputRecorder) wrap(open func(string) (io.ReadCloser, error)) func(string) (io.ReadCloser, error) {
	return func(name string) (io.ReadCloser, error) {
		rc, err := open(name)
		if err != nil {
			return nil, err
		}
		size := int64(-1)
		if f, ok := rc.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				size = st.Size()
			}
		}
		return ir.add(name, rc, rc, size), nil
	}
}

// stdin records standard input read as a capture ("-").
func (ir *inputRecorder) stdin(r io.Reader) io.Reader { return ir.add("-", r, nil, -1) }

func (ir *inputRecorder) add(name string, r io.Reader, c io.Closer, size int64) *hashingReader {
	h := &hashingReader{name: name, r: r, c: c, h: xxhash.New(), size: size}
	ir.mu.Lock()
	ir.files = append(ir.files, h)
	ir.mu.Unlock()
	return h
}

// inputs lists what was read, in the order opened. A file read only in
// part (a damaged capture, or one opened twice) says so: its checksum is
// of the bytes read.
func (ir *inputRecorder) inputs() []report.InputFile {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	out := make([]report.InputFile, 0, len(ir.files))
	for _, h := range ir.files {
		f := report.InputFile{Name: h.name, Bytes: h.n, XXH64: fmt.Sprintf("%016x", h.h.Sum64())}
		f.Whole = h.eof || (h.size >= 0 && h.n == h.size)
		out = append(out, f)
	}
	return out
}
