package host

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// QueueSysctls are the sysctls that size and shape the listen queues,
// with the two that say which host and kernel the evidence is from (the
// kernel generation decides how counters are read).
var QueueSysctls = []string{
	"kernel.osrelease",
	"kernel.hostname",
	"net.core.somaxconn",
	"net.ipv4.tcp_max_syn_backlog",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_abort_on_overflow",
	"net.ipv4.tcp_synack_retries",
	"net.ipv4.tcp_timestamps",
	// A full connection-tracking table drops new connections' SYNs
	// before TCP (absent while nf_conntrack is not loaded).
	"net.netfilter.nf_conntrack_count",
	"net.netfilter.nf_conntrack_max",
}

// SysctlPath is the file under procSys (normally /proc/sys) of a sysctl
// name: net.core.somaxconn is net/core/somaxconn.
func SysctlPath(procSys, name string) string {
	return filepath.Join(procSys, filepath.FromSlash(strings.ReplaceAll(name, ".", "/")))
}

// ReadSysctls reads the named sysctls under procSys. The net.* ones belong
// to the network namespace of the calling thread. A sysctl this kernel
// does not have is absent from the map; other read errors are returned.
func ReadSysctls(procSys string, names []string) (map[string]string, error) {
	m := make(map[string]string, len(names))
	for _, name := range names {
		b, err := os.ReadFile(SysctlPath(procSys, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m[name] = NormalizeSysctl(string(b))
	}
	return m, nil
}

// NormalizeSysctl turns a /proc/sys value into sysctl -a's form: trimmed,
// with the tabs between several numbers as single spaces.
func NormalizeSysctl(v string) string { return strings.Join(strings.Fields(v), " ") }

// ParseSysctl reads sysctl -a output or any part of it: "name = value"
// lines (or "name=value"); other lines are ignored.
func ParseSysctl(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if k = strings.TrimSpace(k); ok && k != "" && !strings.ContainsAny(k, " \t") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}
