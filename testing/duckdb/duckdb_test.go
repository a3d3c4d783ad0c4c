// Package duckdb loads synq's Parquet connection records into a real
// DuckDB. It is a module of its own: DuckDB's Go bindings need cgo and a
// large native library, which the synq binary must never link. CI runs
// it (.ci/run); locally: cd testing/duckdb && go test ./...
package duckdb

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// synq is the binary under test, built once from the main module.
var synq = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "synq-duckdb")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "synq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/synq")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building synq: %v\n%s", err, b)
	}
	return bin, nil
})

// export runs synq analyze on a real-kernel scenario and writes its
// connection records as Parquet and JSON Lines.
func export(t *testing.T, scenario string) (parquet, jsonl string) {
	t.Helper()
	bin, err := synq()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parquet, jsonl = filepath.Join(dir, scenario+".parquet"), filepath.Join(dir, scenario+".jsonl")
	capture := filepath.Join("..", "..", "testdata", scenario, "capture.pcap")
	for _, out := range []string{parquet, jsonl} {
		cmd := exec.Command(bin, "analyze", "-o", os.DevNull, "--connections", out, capture)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, b)
		}
	}
	return parquet, jsonl
}

// TestDuckDBReadsParquet: DuckDB reads the file synq wrote, with as many
// rows as the JSON Lines export and the same count per outcome, typed
// columns included (ts a TIMESTAMP, ports integers, a nested struct).
func TestDuckDBReadsParquet(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, sc := range []string{"accept-overflow-idle", "firewall-reject-icmp", "vxlan"} {
		pq, jl := export(t, sc)
		want := map[string]int{}
		b, err := os.ReadFile(jl)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		total := 0
		for dec.More() {
			var r struct {
				Outcome string `json:"outcome"`
			}
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			want[r.Outcome]++
			total++
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, pq).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		if n != total {
			t.Errorf("%s: DuckDB counts %d rows, the JSON Lines %d", sc, n, total)
		}
		rows, err := db.Query(`SELECT outcome, count(*) FROM read_parquet(?) GROUP BY outcome`, pq)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for rows.Next() {
			var o string
			var c int
			if err := rows.Scan(&o, &c); err != nil {
				t.Fatal(err)
			}
			got[o] = c
		}
		rows.Close()
		if len(got) != len(want) {
			t.Errorf("%s: outcomes %v, want %v", sc, got, want)
		}
		for o, c := range want {
			if got[o] != c {
				t.Errorf("%s: %s: DuckDB %d, JSON Lines %d", sc, o, got[o], c)
			}
		}
		var typ string
		if err := db.QueryRow(`SELECT typeof(ts) || ',' || typeof(resp_p) || ',' || typeof(client_syn) FROM read_parquet(?) LIMIT 1`, pq).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		if typ[:9] != "TIMESTAMP" {
			t.Errorf("%s: column types %s, want ts a TIMESTAMP", sc, typ)
		}
	}
}

// TestWorstListenersQuery runs the README's fleet query on files of two
// "hosts" (two scenarios' exports) and checks it ranks the listener with
// failures first.
func TestWorstListenersQuery(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	for host, sc := range map[string]string{"host-a": "accept-overflow-idle", "host-b": "healthy"} {
		pq, _ := export(t, sc)
		must(t, os.MkdirAll(filepath.Join(dir, host), 0o755))
		b, err := os.ReadFile(pq)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, host, "conn.parquet"), b, 0o644))
	}
	// The query the README shows, over every host's file.
	q := `SELECT regexp_extract(filename, '([^/]+)/conn\.parquet$', 1) AS host, resp_h, resp_p,
	        count(*) AS attempts,
	        count(*) FILTER (WHERE outcome NOT IN ('established', 'incomplete', 'midstream')) AS failed
	      FROM read_parquet(?, filename = true)
	      GROUP BY ALL ORDER BY failed DESC, attempts DESC LIMIT 10`
	rows, err := db.Query(q, filepath.Join(dir, "*", "conn.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var first struct {
		host, addr       string
		port             int
		attempts, failed int
	}
	if !rows.Next() {
		t.Fatal("no rows")
	}
	must(t, rows.Scan(&first.host, &first.addr, &first.port, &first.attempts, &first.failed))
	if first.host != "host-a" || first.failed == 0 {
		t.Errorf("worst listener %+v, want host-a's with failures", first)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
