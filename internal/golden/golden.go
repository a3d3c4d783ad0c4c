// Package golden compares test output with golden files, which the -update
// flag rewrites: go test ./cmd/synq -update (then read the git diff).
package golden

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files instead of comparing with them")

// Check fails t unless got equals the file at path byte for byte. With
// -update it writes got to path instead.
func Check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update and read the git diff):\n--- want ---\n%s\n--- got ---\n%s", path, want, got)
	}
}
