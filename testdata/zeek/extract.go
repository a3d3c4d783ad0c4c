//go:build ignore

// extract copies from a Zeek source tree the btest cases whose conn.log
// baseline has TCP connections: the trace each one reads, the flags that
// change what Zeek records (-C: checksums ignored; -f: a BPF filter), and
// the baseline's TCP rows (4-tuple, conn_state, history; "" where the
// test cut the column out of its baseline). The test in
// connlog/zeek_test.go scores synq's records against them.
//
//	git clone --depth 1 https://github.com/zeek/zeek /tmp/zeek   (or any copy of its testing/btest)
//	go run testdata/zeek/extract.go /tmp/zeek
//
// Zeek's traces and baselines are BSD-licensed (COPYING, copied here).
// Left out: cases with more than one zeek run, or none with -r $TRACES;
// the FDDI trace (one 1,333-row case); baselines whose columns a script
// renamed. Cases that read the same trace
// with the same flags and expect the same rows count once.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var (
	runLine    = regexp.MustCompile(`@TEST-EXEC:.*\bzeek\b.*`)
	execLine   = regexp.MustCompile(`@TEST-EXEC:.*`)
	diffConn   = regexp.MustCompile(`btest-diff\s+conn\.log`)
	restrictRe = regexp.MustCompile(`PacketFilter::restricted_filter="([^"]*)"`)
	traceRe    = regexp.MustCompile(`-[a-zA-Z]*r\s+(?:\$TRACES|\$\{TRACES\})/(\S+)`)
	filtRe     = regexp.MustCompile(`-f\s+(?:"([^"]*)"|'([^']*)')`)
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run testdata/zeek/extract.go ZEEK_SOURCE_DIR")
		os.Exit(2)
	}
	src := os.Args[1]
	btest := filepath.Join(src, "testing", "btest")
	out := filepath.Join("testdata", "zeek")
	baselines, err := filepath.Glob(filepath.Join(btest, "Baseline", "*", "conn.log"))
	check(err)
	sort.Strings(baselines)

	type row struct{ origH, origP, respH, respP, state, history string }
	seen := map[string]bool{}
	traces := map[string]bool{}
	var cases, expected strings.Builder
	cases.WriteString("# case\ttrace\tignore_checksums\tbpf_filter\n")
	expected.WriteString("# case\torig_h\torig_p\tresp_h\tresp_p\tconn_state\thistory\n")
	kept := 0
	for _, b := range baselines {
		name := filepath.Base(filepath.Dir(b))
		script := findScript(btest, name)
		if script == "" {
			continue
		}
		body, err := os.ReadFile(script)
		check(err)
		// The run that wrote the conn.log the baseline checks: the last
		// one reading a trace before "btest-diff conn.log" (a test may run
		// Zeek several times; each run rewrites conn.log).
		var run string
		for _, r := range execLine.FindAllString(string(body), -1) {
			if diffConn.MatchString(r) {
				break
			}
			if runLine.MatchString(r) && traceRe.MatchString(r) {
				run = r
			}
		}
		if run == "" || len(traceRe.FindAllString(run, -1)) != 1 {
			continue
		}
		trace := traceRe.FindStringSubmatch(run)[1]
		if strings.Contains(strings.ToLower(trace), "fddi") {
			continue
		}
		ignoreC := regexp.MustCompile(`\s-[a-zA-Z]*C`).MatchString(run)
		filter := ""
		if m := filtRe.FindStringSubmatch(run); m != nil {
			filter = m[1] + m[2]
		} else if m := restrictRe.FindStringSubmatch(run); m != nil {
			filter = m[1]
		}
		rows := tcpRows(b)
		if len(rows) == 0 {
			continue
		}
		key := fmt.Sprintf("%s|%v|%s|%v", trace, ignoreC, filter, rows)
		if seen[key] {
			continue
		}
		seen[key] = true
		traces[trace] = true
		kept++
		fmt.Fprintf(&cases, "%s\t%s\t%v\t%s\n", name, trace, ignoreC, filter)
		for _, r := range rows {
			fmt.Fprintf(&expected, "%s\t%s\n", name, strings.Join(r, "\t"))
		}
	}
	check(os.WriteFile(filepath.Join(out, "cases.tsv"), []byte(cases.String()), 0o644))
	check(os.WriteFile(filepath.Join(out, "expected.tsv"), []byte(expected.String()), 0o644))
	for t := range traces {
		dst := filepath.Join(out, "traces", t)
		check(os.MkdirAll(filepath.Dir(dst), 0o755))
		copyFile(filepath.Join(btest, "Traces", t), dst)
	}
	copyFile(filepath.Join(src, "COPYING"), filepath.Join(out, "COPYING"))
	fmt.Printf("%d cases, %d traces\n", kept, len(traces))
}

// findScript finds the btest file of a baseline: core.tcp.miss-end-data
// is core/tcp/miss-end-data.zeek (or .test, .sh).
func findScript(btest, name string) string {
	parts := strings.Split(name, ".")
	for i := len(parts); i >= 1; i-- {
		base := filepath.Join(btest, filepath.Join(parts[:i]...))
		if i < len(parts) {
			base += "." + strings.Join(parts[i:], ".")
		}
		for _, ext := range []string{".zeek", ".test", ".sh", ""} {
			if st, err := os.Stat(base + ext); err == nil && !st.IsDir() {
				return base + ext
			}
		}
	}
	return ""
}

// tcpRows reads a conn.log's TCP rows: the 4-tuple, conn_state and history.
func tcpRows(path string) [][]string {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	var fields []string
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#fields") {
			fields = strings.Split(line, "\t")[1:]
			continue
		}
		if strings.HasPrefix(line, "#") || fields == nil {
			continue
		}
		vals := strings.Split(line, "\t")
		get := func(name string) string {
			for i, f := range fields {
				if f == name && i < len(vals) {
					return vals[i]
				}
			}
			return ""
		}
		if get("proto") != "tcp" || get("id.orig_h") == "" {
			// Not TCP, or a test that renamed the columns.
			continue
		}
		rows = append(rows, []string{get("id.orig_h"), get("id.orig_p"), get("id.resp_h"), get("id.resp_p"), get("conn_state"), get("history")})
	}
	check(sc.Err())
	return rows
}

func copyFile(from, to string) {
	in, err := os.Open(from)
	check(err)
	defer in.Close()
	out, err := os.Create(to)
	check(err)
	_, err = io.Copy(out, in)
	check(err)
	check(out.Close())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "extract:", err)
		os.Exit(1)
	}
}
