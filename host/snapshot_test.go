package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The snapshots in testdata/snapshots were taken in one quiet network
// namespace, one after the other, on the 6.18 kernel (listener with
// backlog 1 and four connects: 2 overflows; one connect to a closed port),
// in every format synq reads.
func TestParseSnapshotFormatsAgree(t *testing.T) {
	want := map[string]uint64{
		"TcpExtListenOverflows": 2, "TcpExtListenDrops": 2, "TcpPassiveOpens": 2, "TcpOutRsts": 3,
	}
	for _, tc := range []struct {
		file     string
		format   SnapshotFormat
		absolute bool
	}{
		{"nstat-az.txt", FormatNstat, false},
		{"nstat-j.json", FormatNstatJSON, false},
		{"netstat-s.txt", FormatNetstat, true},
		{"proc-net.txt", FormatProc, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "snapshots", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ParseSnapshot(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != tc.format || s.Absolute != tc.absolute {
				t.Errorf("format %q absolute %v, want %q %v", s.Format, s.Absolute, tc.format, tc.absolute)
			}
			for name, v := range want {
				if got, ok := s.Counters[name]; !ok || got != v {
					t.Errorf("%s = %d (present %v), want %d", name, got, ok, v)
				}
			}
		})
	}
}

func TestParseSnapshotBadInput(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrUnknownFormat},
		{"html", "<html><body>hi</body></html>", ErrUnknownFormat},
		{"prose", "the server was slow today\n", ErrUnknownFormat},
		{"json without kernel", `{"other":{"a":1}}`, ErrMalformed},
		{"json not numbers", `{"kernel":{"TcpExtListenDrops":"x"}}`, ErrMalformed},
		{"proc count mismatch", "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 1\n", ErrMalformed},
		{"proc header alone", "TcpExt: SyncookiesSent SyncookiesRecv\n", ErrMalformed},
		{"nstat value not a number", "#kernel\nTcpExtListenDrops x\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSnapshot(strings.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNetstatPhrases(t *testing.T) {
	in := `Ip:
    Forwarding: 2
    12 total packets received
    3 with invalid headers
    0 forwarded
    1 incoming packets discarded
    8 incoming packets delivered
    9 requests sent out
    OutTransmits: 6
Tcp:
    7 active connections openings
    3 passive connection openings
TcpExt:
    41 times the listen queue of a socket overflowed
    45 SYNs to LISTEN sockets ignored
    2 SYN cookies sent
    1 invalid SYN cookies received
    4 passive connections rejected because of time stamp
    TCPReqQFullDrop: 4
`
	s, err := ParseSnapshot(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{"TcpActiveOpens": 7, "TcpPassiveOpens": 3, "TcpExtListenOverflows": 41, "TcpExtListenDrops": 45,
		"TcpExtSyncookiesSent": 2, "TcpExtSyncookiesFailed": 1, "TcpExtPAWSPassive": 4, "TcpExtTCPReqQFullDrop": 4, "IpForwarding": 2,
		"IpInReceives": 12, "IpInHdrErrors": 3, "IpForwDatagrams": 0, "IpInDiscards": 1, "IpInDelivers": 8, "IpOutRequests": 9, "IpOutTransmits": 6}
	for k, v := range want {
		if s.Counters[k] != v {
			t.Errorf("%s = %d, want %d", k, s.Counters[k], v)
		}
	}
	if _, ok := s.Counters["TcpExtSyncookiesRecv"]; ok {
		t.Error("a sentence the input does not have must stay absent")
	}
}

func FuzzParseSnapshot(f *testing.F) {
	for _, name := range []string{"nstat-az.txt", "nstat-j.json", "netstat-s.txt", "proc-net.txt"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "snapshots", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSnapshot(strings.NewReader(string(b)))
		// Only nstat's own "nothing changed" output may hold no counter.
		if err == nil && len(s.Counters) == 0 && s.Format != FormatNstat && s.Format != FormatNstatJSON {
			t.Errorf("no error and no counters in a %s snapshot", s.Format)
		}
	})
}

// TestParseSnapshotNothingChanged: plain nstat prints "#kernel" alone, and
// nstat -j {"kernel":{}}, when no counter changed since the last run (the
// fuzzer found the two disagreed). Both are empty snapshots, not errors.
func TestParseSnapshotNothingChanged(t *testing.T) {
	for in, format := range map[string]SnapshotFormat{"#kernel\n": FormatNstat, `{"kernel":{}} `: FormatNstatJSON} {
		s, err := ParseSnapshot(strings.NewReader(in))
		if err != nil || len(s.Counters) != 0 || s.Format != format || s.Absolute {
			t.Errorf("%q: %+v, %v; want an empty %s snapshot", in, s, err, format)
		}
	}
}
