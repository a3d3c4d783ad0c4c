package host

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Counters
		wantErr error
	}{
		{
			name: "nstat -az",
			in: `#kernel
IpInReceives                    12                 0.0
TcpExtListenOverflows           42                 0.0
TcpExtListenDrops               42                 0.0
`,
			want: Counters{"IpInReceives": 12, "TcpExtListenOverflows": 42, "TcpExtListenDrops": 42},
		},
		{
			name: "plain nstat, no rate column",
			in:   "TcpExtSyncookiesSent 7\n",
			want: Counters{"TcpExtSyncookiesSent": 7},
		},
		{name: "value not a number", in: "TcpExtListenDrops many\n", wantErr: ErrMalformed},
		{name: "name only", in: "TcpExtListenDrops\n", wantErr: ErrMalformed},
		{name: "nothing", in: "\n\n", wantErr: ErrMalformed},
		// What plain nstat prints when no counter changed.
		{name: "header alone", in: "#kernel\n", want: Counters{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNstat(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d", k, got[k], v)
				}
			}
		})
	}
}

func TestDeltaNeedsBothSnapshots(t *testing.T) {
	before := Counters{"TcpExtListenDrops": 3}
	after := Counters{"TcpExtListenDrops": 10, "TcpExtPAWSPassive": 1}
	if d, ok := Delta(before, after, "TcpExtListenDrops"); !ok || d != 7 {
		t.Errorf("ListenDrops delta = %d %v, want 7 true", d, ok)
	}
	if _, ok := Delta(before, after, "TcpExtPAWSPassive"); ok {
		t.Error("a counter absent before must have no delta, not a guess")
	}
}

func TestSnapshotDeltas(t *testing.T) {
	// nstat -a (no -z): zero counters left out of both snapshots.
	before := Counters{"TcpPassiveOpens": 10, "TcpInSegs": 100}
	after := Counters{"TcpPassiveOpens": 13, "TcpInSegs": 160, "TcpExtListenOverflows": 42}
	d, err := SnapshotDeltas(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if d["TcpExtListenOverflows"] != 42 || d["TcpPassiveOpens"] != 3 {
		t.Errorf("deltas %v: a counter absent before was 0 then", d)
	}
	if v, ok := d["TcpExtTCPReqQFullDrop"]; !ok || v != 0 {
		t.Errorf("TcpExtTCPReqQFullDrop %d (present %v): zeros-omitting snapshots mean 0", v, ok)
	}
	if _, ok := d["TcpExtPAWSPassive"]; ok {
		t.Error("TcpExtPAWSPassive: absent from both is a kernel without it, not 0")
	}
	// nstat -az: zeros present, so a counter absent from both is absent.
	d, _ = SnapshotDeltas(Counters{"TcpPassiveOpens": 0}, Counters{"TcpPassiveOpens": 1})
	if _, ok := d["TcpExtTCPReqQFullDrop"]; ok {
		t.Error("with zeros printed, a counter in neither snapshot is one the kernel lacks")
	}
	if _, err := SnapshotDeltas(after, before); err == nil {
		t.Error("a counter that went down must be an error")
	}
}
