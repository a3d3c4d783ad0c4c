package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synq/synq/analyze"
)

// TestContradictingCounters runs every real-kernel scenario with its
// counters edited to contradict the packets. The model must follow the
// counters where they are decisive and never stay sure against them:
//   - drop counters raised by 50 that nothing in the capture shows: no
//     "healthy" verdict may stand;
//   - drop counters flattened (after = before) under packets that show
//     drops: no accept-queue or SYN-queue verdict may stay high.
func TestContradictingCounters(t *testing.T) {
	drops := []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop",
		"TcpExtTCPReqQFullDoCookies", "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv"}
	dir := t.TempDir()
	for _, sc := range scenarios(t) {
		before, errB := readNstat(filepath.Join(sc.dir, "nstat-before.txt"))
		after, errA := readNstat(filepath.Join(sc.dir, "nstat-after.txt"))
		if errB != nil || errA != nil {
			t.Errorf("%s: %v %v", sc.name, errB, errA)
			continue
		}
		write := func(name string, c analyze.Counters) string {
			var b strings.Builder
			b.WriteString("#kernel\n")
			for _, k := range slices.Sorted(maps.Keys(c)) {
				fmt.Fprintf(&b, "%s %d 0.0\n", k, c[k])
			}
			p := filepath.Join(dir, sc.name+"-"+name)
			must(t, os.WriteFile(p, []byte(b.String()), 0o644))
			return p
		}
		beforePath := write("before", before)
		t.Run(sc.name+"/inflated", func(t *testing.T) {
			c := maps.Clone(after)
			c["TcpExtListenOverflows"] += 50
			c["TcpExtListenDrops"] += 50
			r := scenarioJSON(t, sc, "--nstat", beforePath, "--nstat", write("inflated", c))
			for _, l := range r.Listeners {
				if l.Verdict.Kind == "healthy" {
					t.Errorf("%s: healthy/%s against 50 overflows the capture does not show\n%s", l.Server, l.Verdict.Confidence, strings.Join(l.Verdict.Evidence, "\n"))
				}
			}
		})
		t.Run(sc.name+"/flattened", func(t *testing.T) {
			c := maps.Clone(after)
			for _, k := range drops {
				if v, ok := before[k]; ok {
					c[k] = v
				}
			}
			r := scenarioJSON(t, sc, "--nstat", beforePath, "--nstat", write("flattened", c))
			for _, l := range r.Listeners {
				v := l.Verdict
				if (v.Kind == "accept_queue_overflow" || v.Kind == "syn_queue_overflow") && v.Confidence == "high" {
					t.Errorf("%s: %s/high with every queue counter flat\n%s", l.Server, v.Kind, strings.Join(v.Evidence, "\n"))
				}
			}
		})
	}
}
