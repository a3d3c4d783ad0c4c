package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/internal/golden"
)

// The report's JSON Schema (docs/schema/report.schema.json) is generated
// from the types that write the JSON, so it cannot drift from them, then
// narrowed where a string is one of a known set (kinds, confidences,
// strengths, sources, outcomes): those are the contract scripts rely on.
// TestReportSchema keeps the committed file equal to what the types give
// (-update rewrites it) and validates every golden report against it with
// a validator of its own (santhosh-tekuri/jsonschema).

const reportSchemaPath = "../docs/schema/report.schema.json"

func reportSchema(t *testing.T) []byte {
	t.Helper()
	r := &jsonschema.Reflector{ExpandedStruct: true, DoNotReference: false}
	s := r.Reflect(&jsonReport{})
	s.ID = "https://github.com/synq/synq/docs/schema/report.schema.json"
	s.Title = "synq analyze/live --format json"
	s.Description = "A synq report, schema_version 1. Generated from report/json.go by go test ./report -update; see docs/json.md."
	nullable(s, reflect.TypeOf(jsonReport{}), s.Definitions)

	var kinds, confidences []any
	for _, k := range analyze.AllKinds() {
		kinds = append(kinds, string(k))
	}
	for _, c := range []analyze.Confidence{analyze.High, analyze.Medium, analyze.Low} {
		confidences = append(confidences, string(c))
	}
	var outcomes []any
	for _, o := range analyze.AllOutcomes() {
		outcomes = append(outcomes, o.String())
	}
	modes := []any{"", "syn_dropped", "ack_ignored", "ack_reset", "transient", "cookie_ack_dropped", "counters_only",
		"forced_cookies", "three_quarters", "icmp", "icmp_path", "checksum", "before_forwarding", "rp_filter", "before_ip", "ack_dropped", "data_dropped", "conntrack_full", "answer_late", "dropped", "other_route", "after_ip", "no_route", "not_local"}
	enum(t, s, "jsonVerdict", "kind", kinds)
	enum(t, s, "jsonVerdict", "mode", modes)
	// A ruled-out finding has no confidence.
	enum(t, s, "jsonVerdict", "confidence", append(confidences, ""))
	enum(t, s, "jsonSign", "strength", []any{"weak", "strong", "decisive"})
	enum(t, s, "jsonSign", "from", []any{"packets", "counters", "sysctls", "queue samples", "kernel drop reasons"})
	enum(t, s, "jsonSigns", "vantage", []any{"server", "client", "middle", "unknown"})
	for _, def := range []string{"jsonListener", "jsonTotals", "jsonClient"} {
		keys(t, s, def, "outcomes", outcomes)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// nullable lets every pointer, slice and map field of the structs
// reachable from typ be null, as encoding/json writes a nil one.
func nullable(root *jsonschema.Schema, typ reflect.Type, defs jsonschema.Definitions) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, s *jsonschema.Schema)
	walk = func(t reflect.Type, s *jsonschema.Schema) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		if s == nil {
			s = defs[t.Name()]
		}
		if s == nil || s.Properties == nil {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			p, ok := s.Properties.Get(name)
			if !ok {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map:
				if p.Type != "" {
					p.OneOf = []*jsonschema.Schema{{Type: p.Type, Items: p.Items, AdditionalProperties: p.AdditionalProperties}, {Type: "null"}}
					p.Type, p.Items, p.AdditionalProperties = "", nil, nil
				} else if p.Ref != "" {
					p.OneOf = []*jsonschema.Schema{{Ref: p.Ref}, {Type: "null"}}
					p.Ref = ""
				}
			}
			walk(f.Type, nil)
		}
	}
	walk(typ, root)
}

// enum narrows property prop of definition def to values.
func enum(t *testing.T, s *jsonschema.Schema, def, prop string, values []any) {
	t.Helper()
	p := property(t, s, def, prop)
	p.Enum = values
}

// keys narrows the keys of map property prop of def to names.
func keys(t *testing.T, s *jsonschema.Schema, def, prop string, names []any) {
	t.Helper()
	p := property(t, s, def, prop)
	target := p
	for _, alt := range p.OneOf {
		if alt.Type == "object" {
			target = alt
		}
	}
	target.PropertyNames = &jsonschema.Schema{Enum: names}
}

func property(t *testing.T, s *jsonschema.Schema, def, prop string) *jsonschema.Schema {
	t.Helper()
	d, ok := s.Definitions[def]
	if !ok {
		t.Fatalf("no definition %s in the schema", def)
	}
	p, ok := d.Properties.Get(prop)
	if !ok {
		t.Fatalf("no property %s.%s in the schema", def, prop)
	}
	return p
}

func TestReportSchema(t *testing.T) {
	b := reportSchema(t)
	golden.Check(t, reportSchemaPath, b)

	c := validator.NewCompiler()
	doc, err := validator.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	goldens, _ := filepath.Glob("../testdata/*/golden.json")
	if len(goldens) < 30 {
		t.Fatalf("only %d golden reports", len(goldens))
	}
	for _, g := range goldens {
		f, err := os.Open(g)
		if err != nil {
			t.Fatal(err)
		}
		v, err := validator.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s does not follow the schema: %v", g, err)
		}
	}
	// And the schema must be able to fail: a report with an unknown kind.
	bad := map[string]any{}
	raw, _ := os.ReadFile(goldens[0])
	must(t, json.Unmarshal(raw, &bad))
	bad["verdict"].(map[string]any)["kind"] = "overflowed_somehow"
	if err := sch.Validate(bad); err == nil {
		t.Error("a report with an unknown verdict kind validates")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
