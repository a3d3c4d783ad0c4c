package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/synq/synq/capture"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"capture.pcap", "capture.pcap"},
		{"evil\x1b[2J\x1b]0;pwned\x07.pcap", "evil[2J]0;pwned.pcap"},
		{"new\nline\r", "newline"},
		{"bad\xffutf8", "badutf8"},
		{"c1\u009bcontrol", "c1control"},
		{"résumé µs", "résumé µs"},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// hostile is input-controlled text in every place a renderer prints it.
func hostile() *Input {
	name := "x\x1b[31m\"</script>\n.pcap"
	return &Input{
		Version: "test",
		Capture: capture.Summary{
			Files:    []capture.FileSummary{{Name: name, Format: "pcap"}},
			Packets:  1,
			Warnings: []string{name + ": capture cut off\x07"},
		},
	}
}

func TestHostileStringsInTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("control characters reached the terminal:\n%q", b.String())
	}
}

func TestHostileStringsInJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Capture struct {
			Files []struct{ Name string } `json:"files"`
		} `json:"capture"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	if got := back.Capture.Files[0].Name; got != hostile().Capture.Files[0].Name {
		t.Errorf("file name did not round-trip: %q", got)
	}
}

func TestParseFormat(t *testing.T) {
	if _, err := ParseFormat("json"); err != nil {
		t.Error(err)
	}
	if _, err := ParseFormat("yaml"); err == nil || !strings.Contains(err.Error(), "table, json") {
		t.Errorf("err = %v, want the list of formats", err)
	}
}
