// Package host owns the evidence a server keeps about its own listeners,
// beside the capture: kernel counters, the sysctls that size the listen
// queues, and per-listener queue lengths. It parses every form a user
// brings them in (nstat, nstat -j, netstat -s and /proc/net snapshots,
// sysctl -a, ss -lnt), reads them live from the network namespace the
// process runs in (/proc/net, /proc/sys, inet_diag netlink), and builds the
// one Host value inference uses (NewHost: synq analyze, synq live and
// bundles alike). Parsers are pure functions of an io.Reader or a byte
// slice; files and sockets are opened only at the edge (Read* functions,
// QueueSampler). The package never prints and keeps no global state.
package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CounterFiles are the files under /proc/net that ReadCounters reads:
// header and value line pairs. snmp6 ("Ip6InReceives 12" lines, as nstat
// prints them) is read too where it exists (not with IPv6 disabled).
var CounterFiles = []string{"netstat", "snmp"}

// ReadCounters reads and merges the counter files under procNet (normally
// /proc/net, which is the network namespace of the calling thread).
func ReadCounters(procNet string) (Counters, error) {
	all := Counters{}
	read := func(name string, parse func(io.Reader) (Counters, error), optional bool) error {
		path := filepath.Join(procNet, name)
		f, err := os.Open(path)
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := parse(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for k, v := range c {
			all[k] = v
		}
		return nil
	}
	for _, name := range CounterFiles {
		if err := read(name, ParseProcNetstat, false); err != nil {
			return nil, err
		}
	}
	// IPv6's side of IP's ledger (Ip6InReceives, Ip6OutTransmits...).
	if err := read("snmp6", ParseNstat, true); err != nil {
		return nil, err
	}
	return all, nil
}

// ListenCounters are the counters that say what happened at listeners
// (and TcpInCsumErrors: SYNs dropped for a bad checksum before any
// listener saw them), the ones a report shows the change of.
var ListenCounters = []string{
	"TcpExtListenOverflows", "TcpExtListenDrops",
	"TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies",
	"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed",
	"TcpExtEmbryonicRsts", "TcpExtPAWSPassive", "TcpExtTCPDeferAcceptDrop",
	"TcpExtTCPSYNChallenge", "TcpExtTCPChallengeACK",
	"TcpPassiveOpens", "TcpAttemptFails", "TcpOutRsts", "TcpInCsumErrors",
}

// CounterSample is the counters at one time (ns since the epoch, the
// capture's clock).
type CounterSample struct {
	Time     int64    `json:"time"`
	Counters Counters `json:"counters"`
}
