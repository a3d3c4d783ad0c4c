package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseProcNetstat(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    Counters
		wantErr bool
	}{
		{name: "pairs", in: "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 1 7\nIpExt: InNoRoutes\nIpExt: 0\n",
			want: Counters{"TcpExtSyncookiesSent": 1, "TcpExtListenOverflows": 7, "IpExtInNoRoutes": 0}},
		{name: "snmp with a negative limit", in: "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 18446744073709551615\n",
			want: Counters{"TcpRtoAlgorithm": 1, "TcpActiveOpens": 18446744073709551615}},
		{name: "blank lines", in: "\nIp: InReceives\nIp: 5\n\n", want: Counters{"IpInReceives": 5}},
		{name: "empty", in: "", want: Counters{}},
		{name: "more names than values", in: "TcpExt: A B\nTcpExt: 1\n", wantErr: true},
		{name: "more values than names", in: "TcpExt: A\nTcpExt: 1 2\n", wantErr: true},
		{name: "no value line", in: "TcpExt: A B\n", wantErr: true},
		{name: "prefix mismatch", in: "TcpExt: A\nIpExt: 1\n", wantErr: true},
		{name: "not a number", in: "TcpExt: A\nTcpExt: x\n", wantErr: true},
		{name: "bad negative", in: "TcpExt: A\nTcpExt: -x\n", wantErr: true},
		{name: "no colon", in: "hello world\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcNetstat(strings.NewReader(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseProcNetstatFixtures reads files copied from a 6.18 kernel.
func TestParseProcNetstatFixtures(t *testing.T) {
	for file, want := range map[string][]string{
		"testdata/netstat-6.18.txt": {"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtSyncookiesSent", "IpExtInOctets", "MPTcpExtMPCapableSYNRX"},
		"testdata/snmp-6.18.txt":    {"TcpActiveOpens", "TcpPassiveOpens", "TcpOutRsts", "IpInReceives", "UdpInDatagrams", "IcmpInMsgs"},
	} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseProcNetstat(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, name := range want {
			if _, ok := c[name]; !ok {
				t.Errorf("%s: no %s", file, name)
			}
		}
		if _, ok := c["TcpMaxConn"]; ok {
			t.Errorf("%s: TcpMaxConn (-1) kept", file)
		}
	}
}

func TestReadCountersAndSysctls(t *testing.T) {
	if _, err := os.Stat("/proc/net/netstat"); err != nil {
		t.Skip("no /proc/net/netstat here")
	}
	c, err := ReadCounters("/proc/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"TcpExtListenOverflows", "TcpActiveOpens", "IpInReceives"} {
		if _, ok := c[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if _, err := os.Stat("/proc/net/snmp6"); err == nil {
		if _, ok := c["Ip6InReceives"]; !ok {
			t.Error("/proc/net/snmp6 is there, but no Ip6InReceives")
		}
	}
	// Without snmp6 (IPv6 disabled) the rest is still read.
	dir := t.TempDir()
	for _, name := range CounterFiles {
		b, err := os.ReadFile(filepath.Join("/proc/net", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := ReadCounters(dir); err != nil || c["IpInReceives"] == 0 {
		t.Errorf("without snmp6: %v, IpInReceives %d", err, c["IpInReceives"])
	}
	if err := os.WriteFile(filepath.Join(dir, "snmp6"), []byte("Ip6InReceives \tx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCounters(dir); err == nil {
		t.Error("a malformed snmp6 read without an error")
	}
	s, err := ReadSysctls("/proc/sys", append(QueueSysctls, "net.ipv4.no_such_sysctl"))
	if err != nil {
		t.Fatal(err)
	}
	if s["net.core.somaxconn"] == "" {
		t.Errorf("no net.core.somaxconn in %v", s)
	}
	if _, ok := s["net.ipv4.no_such_sysctl"]; ok {
		t.Errorf("absent sysctl present")
	}
}

func FuzzParseProcNetstat(f *testing.F) {
	for _, s := range []string{"TcpExt: A B\nTcpExt: 1 2\n", "Tcp: MaxConn\nTcp: -1\n", "x", "A:\nA:\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseProcNetstat(strings.NewReader(s))
		if err == nil && c == nil {
			t.Fatal("nil counters without error")
		}
	})
}

// diagMsg builds a struct inet_diag_msg.
func diagMsg(family, state uint8, ip netip.Addr, port uint16, rq, wq uint32) []byte {
	b := make([]byte, diagMsgLen+8) // with an attribute after it
	b[0], b[1] = family, state
	binary.BigEndian.PutUint16(b[4:], port)
	binary.BigEndian.PutUint16(b[6:], 40000)
	if ip.Is4() {
		a := ip.As4()
		copy(b[8:], a[:])
	} else {
		a := ip.As16()
		copy(b[8:], a[:])
	}
	binary.NativeEndian.PutUint32(b[56:], rq)
	binary.NativeEndian.PutUint32(b[60:], wq)
	return b
}

func TestQueueSamplesFromDiag(t *testing.T) {
	ip := netip.MustParseAddr
	msgs := [][]byte{
		diagMsg(afInet, tcpListen, ip("0.0.0.0"), 8080, 3, 2),
		diagMsg(afInet6, tcpListen, ip("::"), 8080, 1, 128), // dual stack
		diagMsg(afInet, tcpListen, ip("10.0.0.1"), 9090, 0, 4096),
		diagMsg(afInet, tcpListen, ip("10.0.0.1"), 9090, 2, 4096), // SO_REUSEPORT
		diagMsg(afInet, tcpListen, ip("10.0.0.1"), 22, 0, 128),    // not watched
		diagMsg(afInet, tcpSynRecv, ip("10.0.0.1"), 8080, 0, 0),   // v4 request: 0.0.0.0:8080
		diagMsg(afInet6, tcpSynRecv, ip("::ffff:10.0.0.1"), 8080, 0, 0),
		diagMsg(afInet6, tcpSynRecv, ip("fd00::1"), 8080, 0, 0), // v6 request: [::]:8080
		diagMsg(afInet, tcpNewSynRecv, ip("10.0.0.1"), 9090, 0, 0),
		diagMsg(afInet, tcpSynRecv, ip("10.0.0.2"), 9090, 0, 0), // no listener for that address
	}
	var socks []diagSocket
	for _, m := range msgs {
		d, err := parseDiagMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, d)
	}
	got := queueSamples(7, socks, func(p uint16) bool { return p != 22 })
	ap := netip.MustParseAddrPort
	want := []QueueSample{
		{Time: 7, Listener: ap("0.0.0.0:8080"), AcceptQueue: 3, AcceptLimit: 2, SynRecv: 2},
		{Time: 7, Listener: ap("[::]:8080"), AcceptQueue: 1, AcceptLimit: 128, SynRecv: 1},
		{Time: 7, Listener: ap("10.0.0.1:9090"), AcceptQueue: 2, AcceptLimit: 8192, SynRecv: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if _, err := parseDiagMsg(make([]byte, 10)); !errors.Is(err, ErrMalformed) {
		t.Errorf("short message: err = %v", err)
	}
	if _, err := parseDiagMsg(diagMsg(7, 1, ip("1.2.3.4"), 1, 0, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad family: err = %v", err)
	}
}

func TestPeaks(t *testing.T) {
	l := netip.MustParseAddrPort("0.0.0.0:80")
	got := Peaks([]QueueSample{
		{Time: 1, Listener: l, AcceptQueue: 1, AcceptLimit: 2, SynRecv: 4},
		{Time: 2, Listener: l, AcceptQueue: 3, AcceptLimit: 2, SynRecv: 1},
		{Time: 3, Listener: l, AcceptQueue: 3, AcceptLimit: 2},
	})
	want := []QueuePeak{{Listener: l, MaxAcceptQueue: 3, AcceptLimit: 2, MaxSynRecv: 4, Samples: 3, Full: 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseSysctl(t *testing.T) {
	m, err := ParseSysctl(strings.NewReader("net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies=1\nsysctl: permission denied on key 'x'\nnot a line\n = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["net.core.somaxconn"] != "4096" || m["net.ipv4.tcp_syncookies"] != "1" {
		t.Errorf("got %v", m)
	}
}

// TestQueueFor: the socket bound to the listener's own address is its
// queue even when a wildcard socket on the same port sorts first (an
// idle 0.0.0.0 socket must not hide a full specific one), and wildcards
// of the listener's family come before the other family's.
func TestQueueFor(t *testing.T) {
	q := func(s string, aq int) QueuePeak {
		return QueuePeak{Listener: netip.MustParseAddrPort(s), MaxAcceptQueue: aq, AcceptLimit: 1}
	}
	h := &Host{Queues: []QueuePeak{q("0.0.0.0:80", 0), q("10.0.0.2:80", 2), q("[::]:443", 7), q("0.0.0.0:443", 5), q("[::]:22", 3)}}
	for _, c := range []struct {
		listener string
		want     int // MaxAcceptQueue of the socket chosen; -1: none
	}{
		{"10.0.0.2:80", 2},
		{"10.0.0.9:80", 0},
		{"[::ffff:10.0.0.2]:80", 2},
		{"10.0.0.2:443", 5},
		{"[fd00::2]:443", 7},
		{"10.0.0.2:22", 3},
		{"10.0.0.2:8080", -1},
	} {
		got, ok := h.QueueFor(netip.MustParseAddrPort(c.listener))
		if (c.want < 0) != !ok || (ok && got.MaxAcceptQueue != c.want) {
			t.Errorf("QueueFor(%s) = %+v, %v; want the socket with accept queue %d", c.listener, got, ok, c.want)
		}
	}
	var none *Host
	if _, ok := none.QueueFor(netip.MustParseAddrPort("10.0.0.2:80")); ok {
		t.Error("a nil Host has no queues")
	}
}

// TestQueueHistoryIsBounded: a day of 100-ms samples of two listeners
// keeps at most MaxChartPoints points each, exact peaks, the merged
// maxima (one full moment stays visible), and the recent window whole.
func TestQueueHistoryIsBounded(t *testing.T) {
	const window = int64(10e9)
	a := netip.MustParseAddrPort("0.0.0.0:80")
	b := netip.MustParseAddrPort("10.0.0.2:443")
	h := NewQueueHistory(window)
	const n = 864_000 // a day every 100 ms
	t0 := int64(1e18)
	for i := range n {
		tm := t0 + int64(i)*1e8
		qa := QueueSample{Time: tm, Listener: a, AcceptQueue: i % 3, AcceptLimit: 4, SynRecv: i % 5}
		if i == 500_000 {
			qa.AcceptQueue = 5 // one moment above the limit
		}
		qb := QueueSample{Time: tm, Listener: b, AcceptQueue: 1, AcceptLimit: 128}
		h.Add(tm, []QueueSample{qa, qb})
		if i == 500_000 {
			if got := h.Since(tm - window); len(got) != 2*101 {
				t.Fatalf("the recent window holds %d samples, want %d", len(got), 2*101)
			}
			if got := h.RoundsSince(tm - window); got != 101 {
				t.Fatalf("the recent window holds %d rounds, want 101", got)
			}
		}
	}
	if got, want := fmt.Sprint(h.Peaks()), fmt.Sprint([]QueuePeak{
		{Listener: a, MaxAcceptQueue: 5, AcceptLimit: 4, MaxSynRecv: 4, Samples: n, Full: 1},
		{Listener: b, MaxAcceptQueue: 1, AcceptLimit: 128, Samples: n},
	}); got != want {
		t.Errorf("peaks %s, want %s", got, want)
	}
	if h.Rounds() != n || len(h.rounds) > 2*101 {
		t.Errorf("%d rounds counted, %d kept; want %d and at most %d", h.Rounds(), len(h.rounds), n, 2*101)
	}
	series := h.Series()
	per := map[netip.AddrPort]int{}
	full := 0
	for i, q := range series {
		per[q.Listener]++
		if i > 0 && q.Time < series[i-1].Time {
			t.Fatalf("series out of time order at %d", i)
		}
		if q.AcceptQueue > q.AcceptLimit {
			full++
		}
	}
	if per[a] > MaxChartPoints || per[b] > MaxChartPoints || per[a] < MaxChartPoints/2 {
		t.Errorf("chart points %v, want between %d and %d each", per, MaxChartPoints/2, MaxChartPoints)
	}
	if full != 1 {
		t.Errorf("%d chart points show the queue above its limit, want 1 (merging keeps maxima)", full)
	}
	if len(h.recent) > 4*101 {
		t.Errorf("%d samples kept for the recent window, want at most twice the window", len(h.recent))
	}
}

// TestQueueHistoryCountsEmptyRounds: a round that listed no socket counts
// as a round (what says nothing listened), in the window and overall.
func TestQueueHistoryCountsEmptyRounds(t *testing.T) {
	h := NewQueueHistory(10e9)
	for i := range 30 {
		h.Add(int64(i)*1e9, nil)
	}
	l := netip.MustParseAddrPort("0.0.0.0:80")
	h.Add(30e9, []QueueSample{{Time: 30e9, Listener: l, AcceptLimit: 4}})
	if got := h.Rounds(); got != 31 {
		t.Errorf("Rounds() = %d, want 31", got)
	}
	if got := h.RoundsSince(20e9); got != 11 {
		t.Errorf("RoundsSince(20 s) = %d, want 11", got)
	}
	if p := h.Peaks(); len(p) != 1 || p[0].Samples != 1 {
		t.Errorf("peaks %+v, want one listener sampled once", p)
	}
}
