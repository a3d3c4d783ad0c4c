package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// ErrUnknownFormat marks input that is not any counter snapshot synq reads.
var ErrUnknownFormat = errors.New("not an nstat, nstat -j, netstat -s or /proc/net/netstat|snmp snapshot")

// SnapshotFormat names where a snapshot came from.
type SnapshotFormat string

const (
	FormatNstat     SnapshotFormat = "nstat"      // nstat, nstat -a, nstat -az text
	FormatNstatJSON SnapshotFormat = "nstat -j"   // nstat -j (JSON)
	FormatNetstat   SnapshotFormat = "netstat -s" // netstat -s text
	FormatProc      SnapshotFormat = "/proc/net"  // /proc/net/netstat and/or /proc/net/snmp
)

// Snapshot is one counter snapshot with its format. /proc and netstat -s
// hold absolute values; nstat text and JSON hold absolute values with -a
// and changes since the last run without it, which the text does not say.
type Snapshot struct {
	Counters Counters
	Format   SnapshotFormat
	// Absolute is true when the format can only hold absolute values.
	Absolute bool
}

// ParseSnapshot reads a counter snapshot in any format synq knows,
// detected by content.
func ParseSnapshot(r io.Reader) (Snapshot, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return Snapshot{}, err
	}
	trimmed := bytes.TrimSpace(data)
	first, _, _ := bytes.Cut(trimmed, []byte("\n"))
	switch {
	case len(trimmed) == 0:
		return Snapshot{}, fmt.Errorf("%w: empty", ErrUnknownFormat)
	case trimmed[0] == '{':
		c, err := parseNstatJSON(trimmed)
		return Snapshot{Counters: c, Format: FormatNstatJSON}, err
	case procHeader.Match(first):
		c, err := ParseProcNetstat(bytes.NewReader(trimmed))
		return Snapshot{Counters: c, Format: FormatProc, Absolute: true}, err
	case netstatSection.Match(first):
		c, err := parseNetstatS(bytes.NewReader(trimmed))
		return Snapshot{Counters: c, Format: FormatNetstat, Absolute: true}, err
	case bytes.HasPrefix(first, []byte("#kernel")) || nstatLine.Match(first):
		c, err := ParseNstat(bytes.NewReader(trimmed))
		return Snapshot{Counters: c, Format: FormatNstat}, err
	}
	return Snapshot{}, fmt.Errorf("%w (first line %q)", ErrUnknownFormat, truncate(string(first), 40))
}

var (
	procHeader     = regexp.MustCompile(`^[A-Za-z0-9]+: [A-Za-z]`)
	netstatSection = regexp.MustCompile(`^[A-Za-z0-9]+:\s*$`)
	nstatLine      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*\s+\d+(\s|$)`)
)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseNstatJSON reads `nstat -j` output: {"kernel":{"Name":value,...}}.
func parseNstatJSON(b []byte) (Counters, error) {
	var doc map[string]map[string]json.Number
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: nstat -j JSON: %v", ErrMalformed, err)
	}
	k, ok := doc["kernel"]
	if !ok {
		return nil, fmt.Errorf("%w: nstat -j JSON without a \"kernel\" object", ErrMalformed)
	}
	c := Counters{}
	for name, v := range k {
		n, err := strconv.ParseUint(v.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
		}
		c[name] = n
	}
	return c, nil
}

// ParseProcNetstat reads /proc/net/netstat or /proc/net/snmp: pairs of
// lines "Prefix: Name1 Name2 ..." and "Prefix: v1 v2 ...", into counters
// named as nstat names them (Prefix+Name: TcpExtListenOverflows,
// TcpActiveOpens, IpInReceives). A header whose value line is missing, a
// different prefix, a different number of values than names, or a value
// that is not a number is ErrMalformed. Negative values (TcpMaxConn is -1)
// are limits, not counters, and are left out, as nstat does.
func ParseProcNetstat(r io.Reader) (Counters, error) {
	c := Counters{}
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
			return nil, fmt.Errorf("%w: line %d: want \"Prefix: Name...\", got %q", ErrMalformed, n, truncate60(header))
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
			return nil, fmt.Errorf("%w: line %d: want the %s values, got %q", ErrMalformed, n, prefix, truncate60(sc.Text()))
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

func truncate60(s string) string { return truncate(s, 60) }

// netstatPhrases maps the netstat -s sentences about listen queues,
// syncookies and handshakes to nstat names. The number stands where %d
// is; matching is on the rest of the sentence. Unknown sentences are
// skipped; "Name: N" lines under TcpExt: are taken as they are.
var netstatPhrases = []struct{ section, phrase, name string }{
	// IP's ledger (analyze/ipledger.go); net-tools leaves the error
	// lines out while they are 0.
	{"Ip", "total packets received", "IpInReceives"},
	{"Ip", "with invalid headers", "IpInHdrErrors"},
	{"Ip", "with invalid addresses", "IpInAddrErrors"},
	{"Ip", "forwarded", "IpForwDatagrams"},
	{"Ip", "with unknown protocol", "IpInUnknownProtos"},
	{"Ip", "incoming packets discarded", "IpInDiscards"},
	{"Ip", "incoming packets delivered", "IpInDelivers"},
	{"Ip", "requests sent out", "IpOutRequests"},
	{"Ip", "reassemblies required", "IpReasmReqds"},
	{"Ip", "packets reassembled ok", "IpReasmOKs"},
	{"Ip", "fragments received ok", "IpFragOKs"},
	{"Ip", "fragments created", "IpFragCreates"},
	{"TcpExt", "times the listen queue of a socket overflowed", "TcpExtListenOverflows"},
	{"TcpExt", "SYNs to LISTEN sockets dropped", "TcpExtListenDrops"},
	{"TcpExt", "SYNs to LISTEN sockets ignored", "TcpExtListenDrops"},
	{"TcpExt", "SYN cookies sent", "TcpExtSyncookiesSent"},
	{"TcpExt", "SYN cookies received", "TcpExtSyncookiesRecv"},
	{"TcpExt", "invalid SYN cookies received", "TcpExtSyncookiesFailed"},
	{"TcpExt", "resets received for embryonic SYN_RECV sockets", "TcpExtEmbryonicRsts"},
	{"TcpExt", "passive connections rejected because of time stamp", "TcpExtPAWSPassive"},
	{"TcpExt", "TCP sockets finished time wait in fast timer", "TcpExtTW"},
	{"Tcp", "passive connection openings", "TcpPassiveOpens"},
	{"Tcp", "active connection openings", "TcpActiveOpens"},
	{"Tcp", "active connections openings", "TcpActiveOpens"},
	{"Tcp", "failed connection attempts", "TcpAttemptFails"},
	{"Tcp", "connection resets received", "TcpEstabResets"},
	{"Tcp", "segments received", "TcpInSegs"},
	{"Tcp", "segments sent out", "TcpOutSegs"},
	{"Tcp", "segments retransmitted", "TcpRetransSegs"},
	{"Tcp", "resets sent", "TcpOutRsts"},
}

// parseNetstatS reads `netstat -s` text: "Section:" lines, then indented
// sentences with a number, or "Name: N" lines.
func parseNetstatS(r io.Reader) (Counters, error) {
	c := Counters{}
	sc := bufio.NewScanner(r)
	section := ""
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(raw, " ") && !strings.HasPrefix(raw, "\t") && strings.HasSuffix(line, ":") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		if name, val, ok := strings.Cut(line, ": "); ok && !strings.Contains(name, " ") {
			if v, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64); err == nil {
				c[section+name] = v
			}
			continue
		}
		num, phrase := numberAndRest(line)
		if num < 0 {
			continue
		}
		for _, p := range netstatPhrases {
			if p.section == section && phrase == p.phrase {
				c[p.name] = uint64(num)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: no counters found in netstat -s text", ErrMalformed)
	}
	return c, nil
}

// numberAndRest takes the first number out of a netstat sentence ("42
// times the listen queue...", "TCPReqQFullDrop: 3") and returns it with
// the sentence without it; -1 when there is none.
func numberAndRest(line string) (int64, string) {
	f := strings.Fields(line)
	for i, w := range f {
		if v, err := strconv.ParseInt(w, 10, 64); err == nil {
			rest := append(append([]string{}, f[:i]...), f[i+1:]...)
			return v, strings.Join(rest, " ")
		}
	}
	return -1, ""
}
