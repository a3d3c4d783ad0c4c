package host

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseSS(t *testing.T) {
	in := `# t=1764640000.5
State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
LISTEN 0      4096         0.0.0.0:8080       0.0.0.0:*
LISTEN 3      2          10.88.0.2:8081       0.0.0.0:*
	 skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)
LISTEN 0      511             [::]:443           [::]:*
ESTAB  0      0          10.88.0.2:8080     10.88.0.1:40000
# t=1764640001
LISTEN 0      2       10.88.0.2%eth0:8081       0.0.0.0:*
LISTEN 0      128                *:22              *:*
`
	got, err := ParseSS(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueSample{
		{Time: 1764640000500000000, Listener: netip.MustParseAddrPort("0.0.0.0:8080"), AcceptQueue: 0, AcceptLimit: 4096},
		{Time: 1764640000500000000, Listener: netip.MustParseAddrPort("10.88.0.2:8081"), AcceptQueue: 3, AcceptLimit: 2},
		{Time: 1764640000500000000, Listener: netip.MustParseAddrPort("[::]:443"), AcceptQueue: 0, AcceptLimit: 511},
		{Time: 1764640001000000000, Listener: netip.MustParseAddrPort("10.88.0.2:8081"), AcceptQueue: 0, AcceptLimit: 2},
		{Time: 1764640001000000000, Listener: netip.MustParseAddrPort("[::]:22"), AcceptQueue: 0, AcceptLimit: 128},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	p := Peaks(got)
	for _, q := range p {
		if q.Listener.Port() == 8081 && (q.Full != 1 || q.Samples != 2 || q.MaxAcceptQueue != 3) {
			t.Errorf("8081 peak %+v: want full in 1 of 2 samples", q)
		}
	}
	for _, bad := range []string{"", "hello\n", "Netid State\n"} {
		if _, err := ParseSS(strings.NewReader(bad)); !errors.Is(err, ErrNotSS) {
			t.Errorf("%q: err %v, want ErrNotSS", bad, err)
		}
	}
	if _, err := ParseSS(strings.NewReader("LISTEN x 2 1.2.3.4:80 *:*\n")); err == nil || errors.Is(err, ErrNotSS) {
		t.Errorf("a malformed LISTEN row: err %v, want a line error", err)
	}
}

// TestSSWithNoListener: sampled output with no LISTEN row is what a host
// with nothing listening shows (testdata/no-listener/ss.txt): samples,
// no rows, no error. Its sample count is the "# t=" lines, else the
// header lines, else one.
func TestSSWithNoListener(t *testing.T) {
	header := "State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n"
	for _, tc := range []struct {
		in            string
		rows, samples int
	}{
		{"# t=1\n" + header + "# t=2\n" + header + "# t=3\n" + header, 0, 3},
		{header + header, 0, 2},
		{"Netid " + header, 0, 1},
		{"LISTEN 0 5 10.0.0.2:80 0.0.0.0:*\n", 1, 1},
		{"# t=1\n" + header + "LISTEN 0 5 10.0.0.2:80 0.0.0.0:*\n# t=2\n" + header, 1, 2},
	} {
		rows, n, err := ParseSSSamples(strings.NewReader(tc.in))
		if err != nil || len(rows) != tc.rows || n != tc.samples {
			t.Errorf("%q: %d rows, %d samples, err %v; want %d rows, %d samples", tc.in, len(rows), n, err, tc.rows, tc.samples)
		}
	}
}

func FuzzParseSS(f *testing.F) {
	f.Add("LISTEN 3 2 10.0.0.2:80 0.0.0.0:*\n# t=1\nLISTEN 0 2 [::]:80 [::]:*\n")
	f.Fuzz(func(t *testing.T, s string) {
		// Read without error means at least one sample (a host where
		// nothing listened gives samples with no row), and ParseSS
		// gives the same rows.
		rows, n, err := ParseSSSamples(strings.NewReader(s))
		if err == nil && n == 0 {
			t.Errorf("no error and no sample (%d rows)", len(rows))
		}
		ss, err2 := ParseSS(strings.NewReader(s))
		if (err == nil) != (err2 == nil) || len(ss) != len(rows) {
			t.Errorf("ParseSS: %d rows, err %v; ParseSSSamples: %d rows, err %v", len(ss), err2, len(rows), err)
		}
	})
}
