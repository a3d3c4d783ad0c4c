package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrMalformed marks input that looks like a counter snapshot but cannot be
// read as one.
var ErrMalformed = errors.New("malformed counter snapshot")

// Counters is one snapshot of kernel SNMP/netstat counters, by nstat name
// (e.g. "TcpExtListenOverflows"). A counter the kernel did not report is
// absent from the map, which is not the same as zero.
type Counters map[string]uint64

// Get returns a counter and whether the snapshot had it.
func (c Counters) Get(name string) (uint64, bool) {
	v, ok := c[name]
	return v, ok
}

// Delta returns after-before for a counter present in both.
func Delta(before, after Counters, name string) (int64, bool) {
	b, ok1 := before[name]
	a, ok2 := after[name]
	if !ok1 || !ok2 {
		return 0, false
	}
	return int64(a - b), true
}

// SnapshotDeltas returns after-before for every counter of two snapshots
// of one kernel. A counter in only one of them was 0 in the other: nstat
// -a without -z and netstat -s leave zero counters out, so a counter that
// went from 0 to N is only in the second. When neither snapshot holds a
// zero value, the format is one that leaves zeros out, and the listen
// counters synq reasons with that are in neither were 0 both times.
// A counter that went down means the snapshots are out of order or from
// different hosts: an error.
func SnapshotDeltas(before, after Counters) (map[string]int64, error) {
	d := map[string]int64{}
	zeros := false
	for _, c := range []Counters{before, after} {
		for k, v := range c {
			if v == 0 {
				zeros = true
			}
			d[k] = 0
		}
	}
	for k := range d {
		a, b := after[k], before[k]
		if a < b {
			return nil, fmt.Errorf("%s went down from %d to %d: are the snapshots in order (before, after) and from the same host?", k, b, a)
		}
		d[k] = int64(a - b)
	}
	if !zeros && len(d) > 0 {
		zeroAbsentListenCounters(d)
	}
	return d, nil
}

// ParseNstat reads the text output of `nstat`, `nstat -a` or `nstat -az`:
// an optional "#kernel" line, then "Name value [rate]" per line. A
// "#kernel" line with no counters after it is an empty snapshot.
func ParseNstat(r io.Reader) (Counters, error) {
	c := Counters{}
	sc := bufio.NewScanner(r)
	n := 0
	header := false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#kernel") {
			header = true
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: line %d: want \"Name value\", got %q", ErrMalformed, n, line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: value of %s: %v", ErrMalformed, n, f[0], err)
		}
		c[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c) == 0 && !header {
		return nil, fmt.Errorf("%w: no counters found", ErrMalformed)
	}
	// "#kernel" alone is what plain nstat prints when no counter changed
	// since its last run (nstat -j prints {"kernel":{}}): no change, not
	// an error.
	return c, nil
}
