package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead writes fuzzed contents into a bundle's files (manifest,
// snapshots, samples, sysctls; split at NUL bytes) and reads it: no panic,
// and a bundle read without error has its manifest's schema version.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"interface":"eth0"}` + "\x00#kernel\nTcpExtListenDrops 1\n\x00" +
		`{"t":1,"listener":"10.0.0.2:80","accept_queue":3,"accept_limit":2}` + "\x00\x00net.core.somaxconn = 4096\n"))
	f.Add([]byte("{}\x00\x00\x00\x00"))
	files := []string{ManifestFile, NstatBeforeFile, QueuesFile, CountersFile, SysctlFile}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for i, part := range bytes.SplitN(data, []byte{0}, len(files)) {
			if err := os.WriteFile(filepath.Join(dir, files[i]), part, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := Read(dir)
		if err == nil && b.Manifest.SchemaVersion != SchemaVersion {
			t.Errorf("read a bundle of schema %d", b.Manifest.SchemaVersion)
		}
	})
}
