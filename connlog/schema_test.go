package connlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
)

const connectionSchemaPath = "../docs/schema/connection.schema.json"

// TestConnectionSchema validates every golden JSON Lines record of the
// real-kernel scenarios against docs/schema/connection.schema.json (hand
// written), and checks that its enums are the code's: every outcome and
// tunnel kind, nothing else.
func TestConnectionSchema(t *testing.T) {
	raw, err := os.ReadFile(connectionSchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties map[string]struct {
			Enum []string `json:"enum"`
		} `json:"properties"`
		Defs struct {
			Tunnel struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"tunnel"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, o := range analyze.AllOutcomes() {
		outcomes = append(outcomes, o.String())
	}
	outcomes = append(outcomes, "midstream")
	if got := doc.Properties["outcome"].Enum; !slices.Equal(got, outcomes) {
		t.Errorf("schema outcomes %v, the code's %v", got, outcomes)
	}
	var kinds []string
	for k := capture.TunnelKind(1); k < capture.NumTunnelKinds; k++ {
		kinds = append(kinds, k.String())
	}
	if got := doc.Defs.Tunnel.Properties["kind"].Enum; !slices.Equal(got, kinds) {
		t.Errorf("schema tunnel kinds %v, the code's %v", got, kinds)
	}

	c := validator.NewCompiler()
	sd, err := validator.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("connection.schema.json", sd); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("connection.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../testdata/*/golden-connections.jsonl")
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			v, err := validator.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s:%d: %v", f, line, err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("%s:%d does not follow the schema: %v", f, line, err)
			}
			n++
		}
		fh.Close()
	}
	if n < 500 {
		t.Errorf("validated only %d records", n)
	}
	bad := map[string]any{}
	first, _ := os.ReadFile(files[0])
	line, _, _ := bytes.Cut(first, []byte("\n"))
	if err := json.Unmarshal(line, &bad); err != nil {
		t.Fatal(err)
	}
	bad["conn_state"] = "XX"
	if err := sch.Validate(bad); err == nil {
		t.Error("a record with an unknown conn_state validates")
	}
}
