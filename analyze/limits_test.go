package analyze

import (
	"strings"
	"testing"
)

func TestParseSysctl(t *testing.T) {
	m, err := ParseSysctl(strings.NewReader("net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies=1\nsysctl: permission denied on key 'x'\nnot a line\n = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["net.core.somaxconn"] != "4096" || m["net.ipv4.tcp_syncookies"] != "1" {
		t.Errorf("got %v", m)
	}
}

func FuzzParseSysctl(f *testing.F) {
	f.Add("net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSysctl(strings.NewReader(s))
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t") {
				t.Errorf("bad key %q", k)
			}
		}
		_ = EffectiveLimits(&Host{Sysctls: m})
	})
}
