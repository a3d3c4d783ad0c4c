package host

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNotSS marks input that holds neither a LISTEN row nor a header or
// sample time of ss output.
var ErrNotSS = errors.New("not ss -lnt output: no LISTEN row, header or \"# t=\" line")

// ParseSS reads the output of `ss -lnt` (or -ltm, -lntp, with or without
// -H), one or several samples: a header line or a "# t=SECONDS" line
// starts a new one, and a "# t=" line gives its time (seconds since the
// Unix epoch). On a LISTEN row Recv-Q is the accept queue and Send-Q its
// limit. Each row is its own sample: the sockets of an SO_REUSEPORT
// group are not summed, so one stuck socket still shows full. Rows in
// other states, skmem lines and unknown lines are skipped.
func ParseSS(r io.Reader) ([]QueueSample, error) {
	out, _, err := ParseSSSamples(r)
	return out, err
}

// ParseSSSamples is ParseSS that also counts the samples: "# t=" lines,
// or else header lines, or else one. Output that has them but no LISTEN
// row (nothing listened) is not an error: it is what a host with no
// listener shows.
func ParseSSSamples(r io.Reader) ([]QueueSample, int, error) {
	var out []QueueSample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var t int64
	n, stamps, headers := 0, 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if ts, ok := strings.CutPrefix(line, "# t="); ok {
			secs, err := strconv.ParseFloat(strings.TrimSpace(ts), 64)
			if err != nil {
				return nil, 0, fmt.Errorf("line %d: sample time %q: %w", n, ts, err)
			}
			t = int64(secs * 1e9)
			stamps++
			continue
		}
		f := strings.Fields(line)
		if isSSHeader(f) {
			headers++
			continue
		}
		if len(f) < 4 || f[0] != "LISTEN" {
			continue
		}
		rq, err1 := strconv.Atoi(f[1])
		sq, err2 := strconv.Atoi(f[2])
		local, err3 := parseSSAddr(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, 0, fmt.Errorf("line %d: want \"LISTEN Recv-Q Send-Q Local:Port ...\", got %q", n, truncate(line, 80))
		}
		out = append(out, QueueSample{Time: t, Listener: local, AcceptQueue: rq, AcceptLimit: sq})
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	samples := cmp.Or(stamps, headers)
	if samples == 0 && len(out) > 0 {
		samples = 1 // ss -H, once
	}
	if samples == 0 {
		return nil, 0, ErrNotSS
	}
	return out, samples, nil
}

// isSSHeader reports whether fields are ss's header line ("State Recv-Q
// Send-Q Local Address:Port ...", with a Netid column first for ss -a).
func isSSHeader(f []string) bool {
	if len(f) > 0 && f[0] == "Netid" {
		f = f[1:]
	}
	return len(f) >= 3 && f[0] == "State" && f[1] == "Recv-Q" && f[2] == "Send-Q"
}

// parseSSAddr reads ss's local address column: 0.0.0.0:80, [::]:80,
// *:80, 10.0.0.2%eth0:80, [fe80::1]%eth0:80.
func parseSSAddr(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	host, port := s[:i], s[i+1:]
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if j := strings.IndexByte(host, '%'); j >= 0 {
		host = host[:j]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(p)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}
