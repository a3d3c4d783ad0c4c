package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/synq/synq/host"
)

func FuzzParseSysctl(f *testing.F) {
	f.Add("net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := host.ParseSysctl(strings.NewReader(s))
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t") {
				t.Errorf("bad key %q", k)
			}
		}
		_ = EffectiveLimits(&host.Host{Sysctls: m})
	})
}

// TestZeroWhenAbsentCoversReconciled: every counter synq reconciles that
// every kernel has is read as 0 when a zero-omitting snapshot leaves it
// out (host.ZeroWhenAbsent), or a 0-to-N change would vanish.
func TestZeroWhenAbsentCoversReconciled(t *testing.T) {
	for _, name := range ReconciledCounters() {
		if name != "TcpExtPAWSPassive" && !slices.Contains(host.ZeroWhenAbsent, name) {
			t.Errorf("%s is reconciled but not in host.ZeroWhenAbsent", name)
		}
	}
	if slices.Contains(host.ZeroWhenAbsent, "TcpExtPAWSPassive") {
		t.Error("TcpExtPAWSPassive: kernels from 4.12 on lack it; absent is not 0")
	}
}
