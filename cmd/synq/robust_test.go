package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synq/synq/internal/gen"
)

// TestDamagedInput: captures damaged the ways incident captures are (cut
// off, corrupt, oversized records, duplicated by tcpdump -i any, not a
// capture at all) give the documented exit code, one clear line on stderr
// when nothing could be read, and a report with a warning when something
// could.
func TestDamagedInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	whole, err := os.ReadFile(scenarioCapture(t, "healthy"))
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the gzip stream a third of the way in, or right at its start.
	corruptAt := func(frac float64) []byte {
		b := gz(whole)
		for i := int(float64(len(b)) * frac); i < int(float64(len(b))*frac)+16; i++ {
			b[i] ^= 0xa5
		}
		return b
	}
	// The second record's captured length set to 2 GB.
	absurd := bytes.Clone(whole)
	off := 24 + 16 + int(binary.LittleEndian.Uint32(whole[24+8:]))
	binary.LittleEndian.PutUint32(absurd[off+8:], 0x7fffffff)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // stderr: one line containing this
		wantOut  string // the report contains this
	}{
		{"png named .pcap", []string{write("shot.pcap", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))}, exitInput, "a PNG image", ""},
		{"truncated global header", []string{write("hdr.pcap", whole[:17])}, exitInput, "reading pcap header: unexpected EOF", ""},
		{"corrupt gzip, packets before", []string{write("c.pcap.gz", corruptAt(0.5))}, exitOK, "", "cut off after"},
		{"corrupt gzip, nothing before", []string{write("c0.pcap.gz", corruptAt(0.02))}, exitInput, "reading gzip data: flate: corrupt input", ""},
		{"absurd record length", []string{write("big.pcap", absurd)}, exitOK, "", "claims 2147483647 captured bytes"},
		{"pcapng cut mid-block", []string{write("cut.pcapng", mustRead(t, scenarioCapture(t, "pcapng"))[:3000])}, exitOK, "", "cut off after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			code := run(append([]string{"analyze"}, tt.args...), ios)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.wantCode, errOut)
			}
			if tt.wantErr != "" {
				msg := errOut.String()
				if !oneErrorLine(msg, tt.wantErr) {
					t.Errorf("stderr %q: want one line starting \"synq: \" containing %q (and at most a next step after it)", msg, tt.wantErr)
				}
			}
			if tt.wantOut != "" && !strings.Contains(strings.Join(strings.Fields(out.String()), " "), tt.wantOut) {
				t.Errorf("report does not mention %q:\n%s", tt.wantOut, out)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnyDuplicates: the SLL2 scenario with every packet written twice,
// as tcpdump -i any shows a packet crossing a veth pair (once per
// interface index), gives the same analysis as the original, and says how
// many duplicates it skipped.
func TestAnyDuplicates(t *testing.T) {
	src := scenarioCapture(t, "any-sll2")
	f := readPcapFile(t, src)
	var doubled []pcapRecord
	for _, r := range f.recs {
		other := bytes.Clone(r.data)
		binary.BigEndian.PutUint32(other[4:8], binary.BigEndian.Uint32(r.data[4:8])+7) // another ifindex
		ci := r.ci
		ci.Timestamp = ci.Timestamp.Add(15000) // 15 µs later
		doubled = append(doubled, r, pcapRecord{ci, other})
	}
	n := len(f.recs)
	dup := filepath.Join(t.TempDir(), "any-dup.pcap")
	f.write(t, dup, doubled)
	// The report counts frames read (twice as many), its end moves by the
	// last copy's 15 µs and it carries warnings; the analysis must be the
	// same.
	analyse := func(file string) (string, map[string]any) {
		ios, out, errOut := testStreams(nil)
		if code := run([]string{"analyze", "--format", "json", file}, ios); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		c := m["capture"].(map[string]any)
		delete(m, "capture")
		delete(m, "run") // names the input file
		js, _ := json.MarshalIndent(m, "", "  ")
		return string(js), c
	}
	want, _ := analyse(src)
	got, c := analyse(dup)
	if c["tcp_packets"] != float64(n) || c["packets"] != float64(2*n) {
		t.Errorf("tcp_packets %v, packets %v; want %d, %d", c["tcp_packets"], c["packets"], n, 2*n)
	}
	if ws := fmt.Sprint(c["warnings"]); !strings.Contains(ws, fmt.Sprintf("skipped %d duplicate TCP packets", n)) {
		t.Errorf("warnings %s", ws)
	}
	if got != want {
		t.Errorf("%d packets written twice: analysis differs from the original's\n--- original ---\n%s\n--- doubled ---\n%s", n, want, got)
	}
}

// TestFloodUnderMaxAttempts: a generated spoofed SYN flood (synthetic,
// internal/gen) analysed with a small --max-attempts stays under it, says
// how many attempts it finished early, and no longer claims high
// confidence.
func TestFloodUnderMaxAttempts(t *testing.T) {
	path := writeGenerated(t, gen.Config{Seed: 7, Packets: 60000, Rate: 20000, Flood: true, Snaplen: 96})
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "json", "--max-attempts", "2000", path}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Totals struct {
			Attempts int `json:"attempts"`
			Peak     int `json:"peak_attempts_in_flight"`
			Evicted  int `json:"evicted_attempts"`
		} `json:"totals"`
		Verdict verdictJSON `json:"verdict"`
	}
	must(t, json.Unmarshal(out.Bytes(), &r))
	// 60,000 packets: two a spoofed attempt, ten each for the real
	// clients, one in a hundred.
	if r.Totals.Peak > 2000 || r.Totals.Evicted == 0 || r.Totals.Attempts < 28500 {
		t.Errorf("attempts %d, peak in flight %d, evicted %d: want ~29000, <= 2000, > 0", r.Totals.Attempts, r.Totals.Peak, r.Totals.Evicted)
	}
	if r.Verdict.Confidence == "high" || !mentions(r.Verdict.Evidence, "--max-attempts") {
		t.Errorf("verdict %s/%s should say attempts were evicted and not be sure:\n%v", r.Verdict.Kind, r.Verdict.Confidence, r.Verdict.Evidence)
	}
}

// TestFloodPastTheSourceCap: a spoofed flood from more addresses than a
// listener's source table counts (32,768) is still called a flood. The
// share of never-completing sources was once taken of every attempt, so
// past the cap 32,768 sources were "not half of" 70,000 attempts and the
// verdict gave the backlog advice instead of the flood's.
func TestFloodPastTheSourceCap(t *testing.T) {
	// 70,000 attempts over 14 s: more than twice the cap, and nearly all
	// old enough to be judged unacknowledged.
	path := writeGenerated(t, gen.Config{Seed: 7, Packets: 140000, Rate: 5000, Flood: true, Snaplen: 96})
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "json", path}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Totals struct {
			Attempts int `json:"attempts"`
		} `json:"totals"`
		Verdict verdictJSON `json:"verdict"`
	}
	must(t, json.Unmarshal(out.Bytes(), &r))
	if r.Totals.Attempts <= 2<<15 {
		t.Fatalf("%d attempts: the test needs more sources than the cap", r.Totals.Attempts)
	}
	if r.Verdict.Kind != "syn_queue_overflow" || !strings.Contains(r.Verdict.Summary, "SYN flood") ||
		!mentions(r.Verdict.Evidence, "of the first 32,768 source addresses") {
		t.Errorf("verdict %s: %s\nevidence: %v\nwant a SYN flood counted over the first 32768 sources", r.Verdict.Kind, r.Verdict.Summary, r.Verdict.Evidence)
	}
}

// writeGenerated writes a generated capture (synthetic, internal/gen)
// into the test's directory and returns its path.
func writeGenerated(t *testing.T, cfg gen.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "generated.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Write(f, cfg); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
	return path
}
