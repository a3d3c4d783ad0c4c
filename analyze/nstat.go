package analyze

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
