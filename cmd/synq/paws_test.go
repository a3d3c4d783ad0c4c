package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/internal/synth"
)

// pawsScript is SYNTHETIC: today's kernels no longer have tcp_tw_recycle
// (removed in 4.12), so no namespace can reproduce it. It follows the old
// kernel's rule: the server remembers the last TSval of each peer address
// for 60 s after a connection it closed first (one that ends in TIME_WAIT
// on the server, kernel-evidence.md K15) and silently drops SYNs from that
// address with an older TSval. Hosts A and B sit behind one NAT address,
// 203.0.113.7, each with its own timestamp clock (A near 1,000,000, B near
// 40,000); 198.51.100.9 is an ordinary client.
const pawsScript = `
	# A connects, talks; the server closes first, so the connection
	# ends in TIME_WAIT on the server, which remembers TSval 1000510.
	0     c S    from=203.0.113.7:40001 ts=1000000/0
	0.001 s S.   from=203.0.113.7:40001 ts=77000/1000000
	0.010 c .    from=203.0.113.7:40001 ts=1000010/77000
	0.011 c P.   from=203.0.113.7:40001 len=20 ts=1000011/77000
	0.012 s P.   from=203.0.113.7:40001 ack=1021 len=100 ts=77012/1000011
	0.500 s F.   from=203.0.113.7:40001 seq=5101 ack=1021 ts=77500/1000011
	0.501 c F.   from=203.0.113.7:40001 seq=1021 ack=5102 ts=1000500/77500
	0.510 s .    from=203.0.113.7:40001 seq=5102 ack=1022 ts=77510/1000500
	# An ordinary client, answered.
	1     c S    from=198.51.100.9:50000 ts=300/0
	1.001 s S.   from=198.51.100.9:50000 ts=78000/300
	1.010 c .    from=198.51.100.9:50000 ts=310/78000
	1.011 c P.   from=198.51.100.9:50000 len=20 ts=311/78000
	1.012 s P.   from=198.51.100.9:50000 ack=1021 len=100 ts=78012/311
	# B, same NAT address, older clock: every SYN is dropped.
	2     c S    from=203.0.113.7:40002 ts=42000/0
	3     c S    from=203.0.113.7:40002 ts=43000/0
	5     c S    from=203.0.113.7:40002 ts=45000/0
	9     c S    from=203.0.113.7:40002 ts=49000/0
	# A again, newer clock: answered.
	4     c S    from=203.0.113.7:40003 seq=9000 ts=1004000/0
	4.001 s S.   from=203.0.113.7:40003 seq=7000 ack=9001 ts=81000/1004000
	4.010 c .    from=203.0.113.7:40003 seq=9001 ack=7001 ts=1004010/81000
	4.011 c P.   from=203.0.113.7:40003 seq=9001 ack=7001 len=20 ts=1004011/81000
	4.012 s P.   from=203.0.113.7:40003 seq=7001 ack=9021 len=100 ts=81012/1004011
	20    c S    from=198.51.100.9:50001 seq=1 ts=19300/0
	20.001 s S.  from=198.51.100.9:50001 seq=2 ack=2 ts=97000/19300
	20.010 c .   from=198.51.100.9:50001 seq=2 ack=3 ts=19310/97000
	20.011 c P.  from=198.51.100.9:50001 seq=2 ack=3 len=20 ts=19311/97000
	20.012 s P.  from=198.51.100.9:50001 seq=3 ack=22 len=100 ts=97012/19311
`

func TestPAWSBehindNAT(t *testing.T) {
	pkts := synth.MustScript(pawsScript)
	// The script lists packets by client; a capture is in time order.
	slices.SortStableFunc(pkts, func(a, b capture.Packet) int { return cmp.Compare(a.Time, b.Time) })
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := synth.WritePcap(&buf, pkts); err != nil {
		t.Fatal(err)
	}
	capPath := filepath.Join(dir, "paws-synthetic.pcap")
	must(t, os.WriteFile(capPath, buf.Bytes(), 0o644))
	// Hand-made counters to match (an old kernel counts each dropped SYN).
	before := filepath.Join(dir, "before.txt")
	after := filepath.Join(dir, "after.txt")
	must(t, os.WriteFile(before, []byte("TcpExtPAWSPassive 10\nTcpExtListenDrops 10\nTcpExtListenOverflows 0\n"), 0o644))
	must(t, os.WriteFile(after, []byte("TcpExtPAWSPassive 14\nTcpExtListenDrops 14\nTcpExtListenOverflows 0\n"), 0o644))

	for _, tc := range []struct {
		name     string
		args     []string
		wantConf string
	}{
		{"packets alone", nil, "medium"},
		{"with counters", []string{"--nstat", before, "--nstat", after}, "high"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, out, errOut := testStreams(nil)
			args := append(append([]string{"analyze", "--format", "json"}, tc.args...), capPath)
			if code := run(args, ios); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r reportJSON
			must(t, json.Unmarshal(out.Bytes(), &r))
			if r.Verdict.Kind != "paws_rejection" || r.Verdict.Confidence != tc.wantConf {
				t.Errorf("verdict %s/%s, want paws_rejection/%s\n%v", r.Verdict.Kind, r.Verdict.Confidence, tc.wantConf, r.Verdict.Evidence)
			}
			if !mentions(r.Verdict.Evidence, "203.0.113.7") || !mentions(r.Verdict.Evidence, "2 different timestamp clocks") {
				t.Errorf("evidence should name the NAT address and its two clocks: %v", r.Verdict.Evidence)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPAWSNeedsTheServerToCloseFirst: the same synthetic traffic, but A's
// first connection closed by A. It ends in TIME_WAIT on A, not on the
// server, so tcp_tw_recycle remembered nothing (K15): B's unanswered SYNs
// are not the PAWS signature.
func TestPAWSNeedsTheServerToCloseFirst(t *testing.T) {
	serverFirst := `	0.500 s F.   from=203.0.113.7:40001 seq=5101 ack=1021 ts=77500/1000011
	0.501 c F.   from=203.0.113.7:40001 seq=1021 ack=5102 ts=1000500/77500
	0.510 s .    from=203.0.113.7:40001 seq=5102 ack=1022 ts=77510/1000500`
	clientFirst := `	0.500 c F.   from=203.0.113.7:40001 seq=1021 ack=5101 ts=1000500/77012
	0.501 s F.   from=203.0.113.7:40001 seq=5101 ack=1022 ts=77501/1000500
	0.510 c .    from=203.0.113.7:40001 seq=1022 ack=5102 ts=1000510/77501`
	if !strings.Contains(pawsScript, serverFirst) {
		t.Fatal("pawsScript changed: update this test's copy of A's close")
	}
	pkts := synth.MustScript(strings.Replace(pawsScript, serverFirst, clientFirst, 1))
	slices.SortStableFunc(pkts, func(a, b capture.Packet) int { return cmp.Compare(a.Time, b.Time) })
	var buf bytes.Buffer
	must(t, synth.WritePcap(&buf, pkts))
	capPath := filepath.Join(t.TempDir(), "paws-client-closed.pcap")
	must(t, os.WriteFile(capPath, buf.Bytes(), 0o644))
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "json", capPath}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r reportJSON
	must(t, json.Unmarshal(out.Bytes(), &r))
	if r.Verdict.Kind == "paws_rejection" {
		t.Errorf("verdict paws_rejection/%s although the server never held A's TIME_WAIT: %v", r.Verdict.Confidence, r.Verdict.Evidence)
	}
}
