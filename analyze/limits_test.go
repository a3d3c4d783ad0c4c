package analyze

import (
	"net/netip"
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

// TestAttribute: a namespace-wide delta is split over listeners by what
// their packets predict; the kernel counting more leaves a remainder, less
// scales every share down, none lost.
func TestAttribute(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.1:443")
	for _, tc := range []struct {
		delta, pa, pb, wantA, wantB, rest int64
	}{
		{delta: 60, pa: 30, pb: 30, wantA: 30, wantB: 30},
		{delta: 70, pa: 30, pb: 30, wantA: 30, wantB: 30, rest: 10},
		{delta: 10, pa: 30, pb: 15, wantA: 7, wantB: 3}, // 6.67 and 3.33
		{delta: 0, pa: 3, pb: 1},
	} {
		rc := Reconciliation{Delta: tc.delta, Shares: []CounterShare{{Listener: a, Predicted: tc.pa}, {Listener: b, Predicted: tc.pb}}}
		attribute(&rc)
		if rc.Shares[0].Attributed != tc.wantA || rc.Shares[1].Attributed != tc.wantB || rc.Unattributed != tc.rest {
			t.Errorf("delta %d over %d+%d: %d+%d, %d left; want %d+%d, %d left", tc.delta, tc.pa, tc.pb,
				rc.Shares[0].Attributed, rc.Shares[1].Attributed, rc.Unattributed, tc.wantA, tc.wantB, tc.rest)
		}
	}
}
