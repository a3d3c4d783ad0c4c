// Package host reads the evidence a server keeps about its own listeners,
// from the network namespace the process runs in: kernel counters
// (/proc/net/netstat, /proc/net/snmp), the sysctls that size the listen
// queues (/proc/sys), and per-listener queue lengths (inet_diag netlink).
// Parsers are pure functions of an io.Reader or a byte slice; files and
// sockets are opened only at the edge (Read* functions, QueueSampler). The
// package never prints and keeps no global state.
package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/synq/synq/analyze"
)

// ErrMalformed marks kernel text that cannot be read as what it should be.
var ErrMalformed = errors.New("malformed kernel file")

// ParseProcNetstat reads /proc/net/netstat or /proc/net/snmp: pairs of
// lines "Prefix: Name1 Name2 ..." and "Prefix: v1 v2 ...", into counters
// named as nstat names them (Prefix+Name: TcpExtListenOverflows,
// TcpActiveOpens, IpInReceives). A header whose value line is missing, a
// different prefix, a different number of values than names, or a value
// that is not a number is ErrMalformed. Negative values (TcpMaxConn is -1)
// are limits, not counters, and are left out, as nstat does.
func ParseProcNetstat(r io.Reader) (analyze.Counters, error) {
	c := analyze.Counters{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		header := sc.Text()
		if strings.TrimSpace(header) == "" {
			continue
		}
		prefix, names, ok := strings.Cut(header, ":")
		if !ok || prefix == "" || strings.ContainsAny(prefix, " \t") {
			return nil, fmt.Errorf("%w: line %d: want \"Prefix: Name...\", got %q", ErrMalformed, n, short(header))
		}
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: line %d: %s header without a value line", ErrMalformed, n, prefix)
		}
		n++
		vprefix, values, ok := strings.Cut(sc.Text(), ":")
		if !ok || vprefix != prefix {
			return nil, fmt.Errorf("%w: line %d: want the %s values, got %q", ErrMalformed, n, prefix, short(sc.Text()))
		}
		nf, vf := strings.Fields(names), strings.Fields(values)
		if len(nf) != len(vf) {
			return nil, fmt.Errorf("%w: line %d: %s has %d names and %d values", ErrMalformed, n, prefix, len(nf), len(vf))
		}
		for i, name := range nf {
			if strings.HasPrefix(vf[i], "-") {
				if _, err := strconv.ParseInt(vf[i], 10, 64); err != nil {
					return nil, fmt.Errorf("%w: line %d: value of %s%s: %q", ErrMalformed, n, prefix, name, vf[i])
				}
				continue
			}
			v, err := strconv.ParseUint(vf[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: value of %s%s: %q", ErrMalformed, n, prefix, name, vf[i])
			}
			c[prefix+name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// CounterFiles are the files under /proc/net that ReadCounters reads.
var CounterFiles = []string{"netstat", "snmp"}

// ReadCounters reads and merges the counter files under procNet (normally
// /proc/net, which is the network namespace of the calling thread).
func ReadCounters(procNet string) (analyze.Counters, error) {
	all := analyze.Counters{}
	for _, name := range CounterFiles {
		path := filepath.Join(procNet, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		c, err := ParseProcNetstat(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for k, v := range c {
			all[k] = v
		}
	}
	return all, nil
}

// ListenCounters are the counters that say what happened at listeners,
// the ones a report shows the change of.
var ListenCounters = []string{
	"TcpExtListenOverflows", "TcpExtListenDrops",
	"TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies",
	"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed",
	"TcpExtEmbryonicRsts", "TcpExtPAWSPassive", "TcpExtTCPDeferAcceptDrop",
	"TcpExtTCPSYNChallenge", "TcpExtTCPChallengeACK",
	"TcpPassiveOpens", "TcpAttemptFails", "TcpOutRsts",
}

// CounterSample is the counters at one time (ns since the epoch, the
// capture's clock).
type CounterSample struct {
	Time     int64            `json:"time"`
	Counters analyze.Counters `json:"counters"`
}
