package connlog

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/capture/filter"
	"github.com/synq/synq/reassemble"
)

// Zeek parity, measured on Zeek's own btest traces and conn.log baselines
// (testdata/zeek, made by extract.go there; BSD-licensed). Issue #15's
// targets are 99% for conn_state and 97% for history; the test fails below
// them and prints every disagreement with -v.
const (
	zeekStateTarget = 0.99
	zeekHistTarget  = 0.97
)

type zeekRow struct {
	origH, origP, respH, respP string
	state, history             string
}

func (r zeekRow) key() string {
	a, b := r.origH+"|"+r.origP, r.respH+"|"+r.respP
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

func TestZeekParity(t *testing.T) {
	dir := filepath.Join("..", "testdata", "zeek")
	cases := readTSV(t, filepath.Join(dir, "cases.tsv"))
	expected := map[string][]zeekRow{}
	for _, f := range readTSV(t, filepath.Join(dir, "expected.tsv")) {
		expected[f[0]] = append(expected[f[0]], zeekRow{f[1], f[2], f[3], f[4], f[5], f[6]})
	}
	// Cases whose baseline shows a quirk of Zeek's scripts rather than
	// TCP (excluded.tsv, each with its reason) are run but not scored.
	excluded := map[string]string{}
	for _, f := range readTSV(t, filepath.Join(dir, "excluded.tsv")) {
		excluded[f[0]] = f[1]
	}
	var stateN, stateOK, histN, histOK, scored int
	var misses []string
	for _, c := range cases {
		name, trace, ignoreC, expr := c[0], c[1], c[2] == "true", c[3]
		if why, ok := excluded[name]; ok {
			t.Logf("%s: not scored: %s", name, why)
			continue
		}
		scored++
		got := synqRows(t, filepath.Join(dir, "traces", trace), ignoreC, expr)
		want := expected[name]
		for _, p := range pairRows(want, got) {
			w, g := p[0], p[1]
			if w.state != "" {
				stateN++
				if g != nil && g.state == w.state {
					stateOK++
				}
			}
			if w.history != "" {
				histN++
				if g != nil && g.history == w.history {
					histOK++
				}
			}
			if g == nil {
				misses = append(misses, fmt.Sprintf("%s: %s:%s > %s:%s Zeek %s %s, synq: no record", name, w.origH, w.origP, w.respH, w.respP, w.state, w.history))
			} else if (w.state != "" && g.state != w.state) || (w.history != "" && g.history != w.history) {
				misses = append(misses, fmt.Sprintf("%s: %s:%s > %s:%s Zeek %s %s, synq %s %s (synq orig %s:%s)", name, w.origH, w.origP, w.respH, w.respP, w.state, w.history, g.state, g.history, g.origH, g.origP))
			}
		}
	}
	state, hist := float64(stateOK)/float64(stateN), float64(histOK)/float64(histN)
	if len(excluded) > 8 {
		t.Errorf("%d cases excluded: each exclusion is a Zeek quirk with its reason, not a way to raise the score", len(excluded))
	}
	t.Logf("Zeek parity on %d cases (%d not scored): conn_state %d/%d = %.1f%% (target %.0f%%), history %d/%d = %.1f%% (target %.0f%%)",
		scored, len(cases)-scored, stateOK, stateN, 100*state, 100*zeekStateTarget, histOK, histN, 100*hist, 100*zeekHistTarget)
	for _, m := range misses {
		t.Log(m)
	}
	if scored < 65 || stateN < 200 {
		t.Fatalf("only %d cases and %d rows: testdata/zeek is incomplete", len(cases), stateN)
	}
	if state < zeekStateTarget || hist < zeekHistTarget {
		t.Errorf("agreement fell below the target (conn_state %.0f%%, history %.0f%%)", 100*zeekStateTarget, 100*zeekHistTarget)
	}
}

// synqRows runs a trace through synq as synq analyze --connections
// --zeek-parity does, with --checksums validate (Zeek's default) or, for
// Zeek's -C, ignore, and Zeek's -f as the capture filter.
func synqRows(t *testing.T, trace string, ignoreChecksums bool, expr string) []zeekRow {
	t.Helper()
	f, err := filter.Parse(expr)
	if err != nil {
		t.Fatalf("%s: filter %q: %v", trace, expr, err)
	}
	rd, err := capture.Open([]string{trace}, capture.OpenOptions{VerifyChecksums: !ignoreChecksums, Filter: f})
	if err != nil {
		t.Fatalf("%s: %v", trace, err)
	}
	defer rd.Close()
	var rows []zeekRow
	_, err = reassemble.Run(rd, reassemble.Config{ConnState: true, ZeekParity: true, DropBadChecksums: !ignoreChecksums}, []reassemble.Sink{{Add: func(a *reassemble.Attempt) {
		rows = append(rows, zeekRow{a.Client.Addr().String(), fmt.Sprint(a.Client.Port()), a.Server.Addr().String(), fmt.Sprint(a.Server.Port()),
			a.Conn.State(), a.Conn.History()})
	}}}, nil)
	if err != nil {
		t.Logf("%s: %v (scoring what was read)", trace, err)
	}
	return rows
}

// pairRows pairs each expected row with at most one of synq's rows of the
// same 4-tuple (either orientation): equal rows first, then the rest in
// order. Unpaired expected rows are paired with nil.
func pairRows(want, got []zeekRow) [][2]*zeekRow {
	byKey := map[string][]*zeekRow{}
	for i := range got {
		byKey[got[i].key()] = append(byKey[got[i].key()], &got[i])
	}
	out := make([][2]*zeekRow, len(want))
	used := map[*zeekRow]bool{}
	for i := range want {
		out[i][0] = &want[i]
		for _, g := range byKey[want[i].key()] {
			if !used[g] && g.state == want[i].state && g.history == want[i].history && g.origH == want[i].origH && g.origP == want[i].origP {
				out[i][1], used[g] = g, true
				break
			}
		}
	}
	for i := range want {
		if out[i][1] != nil {
			continue
		}
		cands := byKey[want[i].key()]
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].state == want[i].state && cands[b].state != want[i].state })
		for _, g := range cands {
			if !used[g] {
				out[i][1], used[g] = g, true
				break
			}
		}
	}
	return out
}

func readTSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			fields := strings.Split(line, "\t")
			for len(fields) < 7 {
				fields = append(fields, "")
			}
			out = append(out, fields)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
