// Package host reads the evidence a server keeps about its own listeners,
// from the network namespace the process runs in: kernel counters
// (/proc/net/netstat, /proc/net/snmp), the sysctls that size the listen
// queues (/proc/sys), and per-listener queue lengths (inet_diag netlink).
// Parsers are pure functions of an io.Reader or a byte slice; files and
// sockets are opened only at the edge (Read* functions, QueueSampler). The
// package never prints and keeps no global state.
package host

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/synq/synq/analyze"
)

// ErrMalformed marks kernel text that cannot be read as what it should be
// (the same sentinel as analyze's counter parsers).
var ErrMalformed = analyze.ErrMalformed

// ParseProcNetstat reads /proc/net/netstat or /proc/net/snmp; it is
// analyze.ParseProcNetstat, which --nstat also uses.
func ParseProcNetstat(r io.Reader) (analyze.Counters, error) {
	return analyze.ParseProcNetstat(r)
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
