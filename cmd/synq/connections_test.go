package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/synq/synq/connlog"
	"github.com/synq/synq/internal/golden"
)

// connectionsOf runs synq analyze --connections on a scenario and returns
// the export.
func connectionsOf(t *testing.T, sc scenario, name string, extra ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	ios, _, errOut := testStreams(nil)
	args := append(append(append([]string{"analyze", "--connections", path}, scenarioArgs(t, sc)...), extra...), sc.capture)
	if code := run(args, ios); code != exitOK {
		t.Fatalf("%s: exit %d: %s", sc.name, code, errOut)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScenarioConnectionsGolden compares the per-connection export of
// every real-kernel scenario, in both formats, with its golden file
// (go test ./cmd/synq -update rewrites them).
func TestScenarioConnectionsGolden(t *testing.T) {
	for _, sc := range scenarios(t) {
		for _, f := range []struct{ file, golden string }{
			{"c.jsonl", "golden-connections.jsonl"},
			{"conn.log", "golden-conn.log"},
		} {
			t.Run(sc.name+"/"+f.file, func(t *testing.T) {
				golden.Check(t, filepath.Join(sc.dir, f.golden), connectionsOf(t, sc, f.file))
			})
		}
	}
}

// jsonKeys is the documented key order of a JSON Lines record.
var jsonKeys = []string{"ts", "uid", "orig_h", "orig_p", "resp_h", "resp_p", "tunnel", "outcome", "conn_state", "history",
	"syn_count", "synack_count", "syn_to_synack_ms", "synack_to_ack_ms", "syncookie", "client_syn", "server_syn",
	"duration", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_ip_bytes", "resp_ip_bytes", "missed_bytes", "kernel_drops"}

// TestConnectionsMatchReport checks the JSON Lines export of every
// scenario against synq's own report of the same capture: every line is
// JSON with the documented keys in order, and the outcomes counted from
// the lines are the report's (the export classifies while streaming, the
// aggregator the same attempts: they must agree, incomplete ones
// included).
func TestConnectionsMatchReport(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			rep := scenarioJSON(t, sc)
			want := map[string]int{}
			for _, l := range rep.Listeners {
				for o, n := range l.Outcomes {
					if n > 0 {
						want[o] += n
					}
				}
			}
			got := map[string]int{}
			sc2 := bufio.NewScanner(bytes.NewReader(connectionsOf(t, sc, "c.jsonl")))
			for sc2.Scan() {
				line := sc2.Bytes()
				if keys := keyOrder(t, line); strings.Join(keys, ",") != strings.Join(jsonKeys, ",") {
					t.Fatalf("keys %v, want %v", keys, jsonKeys)
				}
				var rec struct {
					Outcome   string `json:"outcome"`
					ConnState string `json:"conn_state"`
				}
				if err := json.Unmarshal(line, &rec); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				if rec.Outcome != "midstream" {
					got[rec.Outcome]++
				}
			}
			if len(got) != len(want) {
				t.Errorf("outcomes from the export %v, report %v", got, want)
			}
			for o, n := range want {
				if got[o] != n {
					t.Errorf("outcome %s: %d in the export, %d in the report", o, got[o], n)
				}
			}
		})
	}
}

// keyOrder returns the top-level keys of a JSON object in order.
func keyOrder(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestZeekLogParses reads every scenario's conn.log as zeek-cut does: the
// header lines, then the rows split on the #separator, each with as many
// columns as #fields, each value of its #types type or the #unset_field.
func TestZeekLogParses(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			checkZeekLog(t, connectionsOf(t, sc, "conn.log"))
		})
	}
}

func checkZeekLog(t *testing.T, log []byte) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	header := map[string]string{}
	var fields, types []string
	rows := 0
	for i, line := range lines {
		if strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "#separator ") {
				header["#separator"] = strings.TrimPrefix(line, "#separator ")
				continue
			}
			k, v, _ := strings.Cut(line, "\t")
			header[k] = v
			switch k {
			case "#fields":
				fields = strings.Split(v, "\t")
			case "#types":
				types = strings.Split(v, "\t")
			}
			continue
		}
		if fields == nil || len(types) != len(fields) {
			t.Fatalf("line %d: a row before #fields and #types (%d fields, %d types)", i+1, len(fields), len(types))
		}
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) {
			t.Fatalf("line %d: %d columns, #fields has %d: %q", i+1, len(cols), len(fields), line)
		}
		for j, v := range cols {
			if v == header["#unset_field"] {
				continue
			}
			if !zeekTypeOK(types[j], v) {
				t.Errorf("line %d: %s = %q is not a %s", i+1, fields[j], v, types[j])
			}
		}
		rows++
	}
	want := map[string]string{"#separator": `\x09`, "#set_separator": ",", "#empty_field": "(empty)", "#unset_field": "-", "#path": "conn"}
	for k, v := range want {
		if header[k] != v {
			t.Errorf("%s = %q, want %q", k, header[k], v)
		}
	}
	for _, k := range []string{"#open", "#close"} {
		if len(header[k]) != len("2006-01-02-15-04-05") {
			t.Errorf("%s = %q", k, header[k])
		}
	}
	if !strings.HasPrefix(lines[len(lines)-1], "#close\t") {
		t.Errorf("last line %q, want #close", lines[len(lines)-1])
	}
	if rows == 0 {
		t.Error("no rows")
	}
}

func zeekTypeOK(typ, v string) bool {
	switch typ {
	case "time", "interval":
		_, err := strconv.ParseFloat(v, 64)
		return err == nil && strings.Count(v, ".") == 1
	case "addr":
		_, err := netip.ParseAddr(v)
		return err == nil
	case "port":
		_, err := strconv.ParseUint(v, 10, 16)
		return err == nil
	case "count":
		_, err := strconv.ParseUint(v, 10, 64)
		return err == nil
	case "bool":
		return v == "T" || v == "F"
	case "enum":
		return v == "tcp"
	case "string", "set[string]":
		return v != "" && !strings.ContainsAny(v, "\t\n")
	}
	return false
}

// TestConnectionsOutputErrors: an export that cannot be created or
// written is an output error (exit 4), reported once.
func TestConnectionsOutputErrors(t *testing.T) {
	healthy := scenarioCapture(t, "healthy")
	cases := []struct{ name, path, wantErr string }{
		{"no such directory", filepath.Join(t.TempDir(), "missing", "c.jsonl"), "--connections"},
		{"device full", "/dev/full", "writing connections to /dev/full"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.path == "/dev/full" {
				if _, err := os.Stat(c.path); err != nil {
					t.Skip("no /dev/full on this system")
				}
			}
			ios, out, errOut := testStreams(nil)
			code := run([]string{"analyze", "--connections", c.path, healthy}, ios)
			if code != exitOutput || !strings.Contains(errOut.String(), c.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, exitOutput, c.wantErr)
			}
			if !oneErrorLine(errOut.String(), c.wantErr) {
				t.Errorf("stderr %q: want one line (and at most a next step after it)", errOut)
			}
			if out.Len() != 0 {
				t.Errorf("a report was written after the export failed: %d bytes", out.Len())
			}
		})
	}
}

// TestConnectionsToStdout: with --connections - the records go to
// standard output and the report to -o.
func TestConnectionsToStdout(t *testing.T) {
	sc := scenario{name: "no-listener", capture: scenarioCapture(t, "no-listener")}
	ios, out, errOut := testStreams(nil)
	report := filepath.Join(t.TempDir(), "r.txt")
	if code := run([]string{"analyze", "--connections", "-", "--connections-format", "zeek", "-o", report, sc.capture}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkZeekLog(t, out.Bytes())
	if want := connectionsOf(t, sc, "conn.log"); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("standard output differs from --connections FILE:\n%s\n%s", out, want)
	}
}

// TestParquetMatchesJSONL exports every real-kernel scenario both as
// Parquet and as JSON Lines and compares them record by record: the
// Parquet file, read back with parquet-go, holds the same values as the
// JSON (timestamps to the microsecond, nulls as absent optional values).
func TestParquetMatchesJSONL(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			lines := bytes.Split(bytes.TrimSpace(connectionsOf(t, sc, "c.jsonl")), []byte("\n"))
			pq := connectionsOf(t, sc, "c.parquet")
			rows, err := parquet.Read[connlog.ParquetRecord](bytes.NewReader(pq), int64(len(pq)))
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) == 1 && len(lines[0]) == 0 {
				lines = nil
			}
			if len(rows) != len(lines) {
				t.Fatalf("%d parquet rows, %d JSON lines", len(rows), len(lines))
			}
			for i, line := range lines {
				var want map[string]any
				must(t, json.Unmarshal(line, &want))
				var got map[string]any
				js, _ := json.Marshal(parquetAsJSON(rows[i]))
				must(t, json.Unmarshal(js, &got))
				if d := cmpRecords(want, got); d != "" {
					t.Fatalf("record %d: %s\njson    %s\nparquet %s", i, d, line, js)
				}
			}
		})
	}
}

// parquetAsJSON maps a Parquet record onto the JSON record's shape.
func parquetAsJSON(r connlog.ParquetRecord) map[string]any {
	opts := func(o *connlog.ParquetSYNOptions) any {
		if o == nil {
			return nil
		}
		m := map[string]any{"mss": o.MSS, "wscale": o.WScale, "sack_perm": o.SACKPerm, "ts": nil}
		if o.TSval != nil {
			m["ts"] = map[string]any{"tsval": *o.TSval, "tsecr": *o.TSecr}
		}
		return m
	}
	// A Parquet list cannot be null: empty stands for both "not traced"
	// (all of synq analyze's records) and "none dropped".
	var kernel any
	for _, k := range r.KernelDrops {
		l, _ := kernel.([]any)
		kernel = append(l, map[string]any{"reason": k.Reason, "packets": k.Packets})
	}
	var tun any
	if t := r.Tunnel; t != nil {
		tun = map[string]any{"kind": t.Kind, "id": t.ID, "outer_src": t.OuterSrc, "outer_dst": t.OuterDst, "depth": t.Depth}
	}
	return map[string]any{"ts": float64(r.TS) / 1e6, "uid": r.UID, "orig_h": r.OrigH, "orig_p": r.OrigP, "resp_h": r.RespH, "resp_p": r.RespP,
		"tunnel": tun, "outcome": r.Outcome, "conn_state": r.ConnState, "history": r.History, "syn_count": r.SYNCount,
		"synack_count": r.SYNACKCount, "syn_to_synack_ms": r.SYNToSYNACKMs, "synack_to_ack_ms": r.SYNACKToACKMs, "syncookie": r.Syncookie,
		"client_syn": opts(r.ClientSYN), "server_syn": opts(r.ServerSYN), "duration": r.Duration, "orig_pkts": r.OrigPkts,
		"resp_pkts": r.RespPkts, "orig_bytes": r.OrigBytes, "resp_bytes": r.RespBytes, "orig_ip_bytes": r.OrigIPBytes,
		"resp_ip_bytes": r.RespIPBytes, "missed_bytes": r.MissedBytes, "kernel_drops": kernel}
}

// cmpRecords compares two decoded records; numbers within the precision
// the JSON prints (three decimals of a millisecond; Parquet keeps more).
func cmpRecords(want, got map[string]any) string {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return "no " + k + " in parquet"
		}
		if wm, ok := w.(map[string]any); ok {
			gm, _ := g.(map[string]any)
			if gm == nil {
				return k + ": null in parquet"
			}
			if d := cmpRecords(wm, gm); d != "" {
				return k + "." + d
			}
			continue
		}
		wf, wok := w.(float64)
		gf, gok := g.(float64)
		if wok && gok {
			if math.Abs(wf-gf) > 5e-4 { // the JSON's millisecond fields have 3 decimals
				return fmt.Sprintf("%s: %v, parquet %v", k, w, g)
			}
			continue
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			return fmt.Sprintf("%s: %v, parquet %v", k, w, g)
		}
	}
	return ""
}

// TestConnectionsZeekSettings: --checksums ignore is zeek -C (no C/c
// letters on a capture whose every segment has a bad checksum), and
// --zeek-parity splits an unanswered attempt 5 s after its first SYN, as
// Zeek's attempt timer does (its own half-duplex trace, whose baseline
// has S0 SAD then SH DAF for each connection).
func TestConnectionsZeekSettings(t *testing.T) {
	histories := func(args ...string) []string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "c.log")
		ios, _, errOut := testStreams(nil)
		if code := run(append([]string{"analyze", "--connections", out}, args...), ios); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, "\t"); len(f) > 15 && !strings.HasPrefix(line, "#") {
				hs = append(hs, f[11]+" "+f[15])
			}
		}
		return hs
	}
	offload := filepath.Join("..", "..", "connlog", "testdata", "offload-veth.pcap")
	if h := strings.Join(histories(offload), ","); !strings.Contains(h, "C") {
		t.Fatalf("record: %s, want C letters (every segment's checksum is bad)", h)
	}
	if h := strings.Join(histories("--checksums", "ignore", offload), ","); strings.ContainsAny(h, "Cc") {
		t.Errorf("--checksums ignore: %s, want no C/c", h)
	}
	trace := filepath.Join("..", "..", "testdata", "zeek", "traces", "ssh", "ssh.client-side-half-duplex.pcap")
	if h := histories(trace); slices.Contains(h, "S0 SAD") {
		t.Errorf("without --zeek-parity: %v, want one record per attempt", h)
	}
	h := histories("--zeek-parity", trace)
	if !slices.Contains(h, "S0 SAD") || !slices.ContainsFunc(h, func(s string) bool { return strings.HasPrefix(s, "SH ") }) {
		t.Errorf("--zeek-parity: %v, want S0 SAD and SH records (Zeek's baseline)", h)
	}
}
