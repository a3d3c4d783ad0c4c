package filter

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestParseErrors: what synq's filter does not take is an error that
// says why, never a filter that silently matches something else.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"tcp[13] & 2 != 0", "byte offsets"},
		{"len > 100", "byte offsets and arithmetic"},
		{"host example.com", "names are not resolved"},
		{"ether host 00:11:22:33:44:55", "not supported"},
		{"port 99999", "port number"},
		{"net 10.0.0.1/8", "did you mean 10.0.0.0/8"},
		{"(tcp", "missing )"},
		{"tcp and", "ends where a primitive should be"},
		{"tcp port", "port needs a value"},
		{"icmp port 80", "ports belong to tcp, udp or sctp"},
		{"portrange 80", "range such as"},
		{"frobnicate", "not a filter keyword"},
		{"vlan 5000", "0 to 4095"},
	} {
		_, err := Parse(c.expr)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", c.expr, err, c.want)
		}
	}
	if f, err := Parse("  "); f != nil || err != nil || !f.Match(layers.LinkTypeEthernet, nil) {
		t.Errorf("an empty expression: %v, %v; want nil, matching everything", f, err)
	}
}

// tcpdumpExprs are checked against tcpdump itself on every capture in
// testdata: the number of frames each selects must be tcpdump's.
var tcpdumpExprs = []string{
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "not tcp",
	"port 8080", "tcp port 8080", "udp port 4789", "tcp port 8080 or 8081", "dst port 8080", "src port 8080",
	"portrange 8000-8090", "tcp portrange 1024-65535",
	"host 10.88.0.1", "src host 10.88.0.1", "dst host 10.88.0.2", "src or dst host 10.88.0.2", "src and dst net 10.88.0.0/16",
	"host 10.88.0.1 or 10.88.0.9", "net 10.88", "net 10.88.0.0 mask 255.255.255.0", "not net 10.0.0.0/8",
	"host fd88::1", "net fd88::/16", "ip6 and tcp port 8080", "ip proto 6", "ip6 proto 6", "proto 17", "ip proto 1",
	"tcp and (port 8080 or port 22) and not src host 10.88.0.2", "! tcp || udp", "tcp && dst port 8080",
	"vlan", "vlan and tcp port 8080", "vlan 100 and host 10.88.0.1",
}

// TestAgainstTcpdump runs every expression of tcpdumpExprs over every
// testdata capture with synq's filter and with tcpdump -r, and compares
// the counts. tcpdump is the referee; CI installs it.
func TestAgainstTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tcpdump is not installed: .ci/run installs it")
		}
		t.Skip("needs tcpdump (apt-get install tcpdump)")
	}
	files, _ := filepath.Glob("../../testdata/*/capture.pcap*")
	if len(files) < 20 {
		t.Fatalf("only %d captures found", len(files))
	}
	compared := 0
	// synq looks past IPv6 extension headers for the protocol and ports,
	// tcpdump does not (its "ip6 proto" does not chase the header chain):
	// such frames (an MLD report's hop-by-hop header) are compared
	// without them. TestMatchFrames covers them.
	const noExt = "not (ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 60))"
	for _, file := range files {
		lt, frames := readFrames(t, file)
		ext := 0
		for i := 0; i < len(frames); i++ {
			var fr frame
			fr.parse(lt, frames[i])
			if fr.ipv6Ext {
				frames = slices.Delete(frames, i, i+1)
				i--
				ext++
			}
		}
		ether := lt == layers.LinkTypeEthernet
		tagged := ether && tcpdumpCount(t, tcpdump, file, "vlan") > 0
		for _, expr := range tcpdumpExprs {
			if !ether && strings.HasPrefix(expr, "vlan") {
				continue // tcpdump has no vlan for cooked or raw captures
			}
			if tagged && !strings.HasPrefix(expr, "vlan") {
				// tcpdump does not look inside tagged frames without
				// "vlan"; synq does (the package comment says why).
				continue
			}
			f, err := Parse(expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", expr, err)
			}
			got := 0
			for _, fr := range frames {
				if f.Match(lt, fr) {
					got++
				}
			}
			tdExpr := expr
			if ext > 0 {
				tdExpr = "(" + expr + ") and " + noExt
			}
			if want := tcpdumpCount(t, tcpdump, file, tdExpr); got != want {
				t.Errorf("%s: %q selects %d frames, tcpdump %d", file, expr, got, want)
			}
			compared++
		}
	}
	t.Logf("%d expressions on %d captures agree with tcpdump", compared, len(files))
}

func readFrames(t *testing.T, file string) (layers.LinkType, [][]byte) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var r interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	if strings.HasSuffix(file, ".pcapng") {
		r, err = pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(fh)
	}
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return r.LinkType(), frames
		}
		frames = append(frames, data)
	}
}

func tcpdumpCount(t *testing.T, tcpdump, file, expr string) int {
	t.Helper()
	out, err := exec.Command(tcpdump, "-nn", "-q", "-r", file, "-w", "/dev/null", "--count", expr).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump %q on %s: %v\n%s", expr, file, err, out)
	}
	// "N packets" on the last line.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n, err := strconv.Atoi(strings.Fields(lines[len(lines)-1])[0])
	if err != nil {
		t.Fatalf("tcpdump --count said %q", out)
	}
	return n
}

// TestMatchFrames covers what testdata's captures lack: later IPv4 and
// IPv6 fragments carry no ports, IPv6 extension headers are skipped,
// cooked and raw link types, tagged frames.
func TestMatchFrames(t *testing.T) {
	ip4 := func(proto byte, fragOff uint16, l4 ...byte) []byte {
		b := []byte{0x45, 0, 0, 0, 0, 0, byte(fragOff >> 8), byte(fragOff), 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		return append(b, l4...)
	}
	ports := []byte{0x1f, 0x90, 0x00, 0x50} // 8080 -> 80
	eth := func(et uint16, tags int, payload []byte) []byte {
		b := make([]byte, 12)
		for range tags {
			b = append(b, 0x81, 0x00, 0x00, 0x64) // VLAN 100
		}
		return append(append(b, byte(et>>8), byte(et)), payload...)
	}
	ip6 := func(nh byte, ext []byte, l4 ...byte) []byte {
		b := make([]byte, 40)
		b[0], b[6] = 0x60, nh
		b[23], b[39] = 1, 2
		b[8], b[24] = 0xfd, 0xfd
		return append(append(b, ext...), l4...)
	}
	sll := func(payload []byte) []byte {
		return append([]byte{0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}, payload...)
	}
	for _, c := range []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		expr  string
		want  bool
	}{
		{"first fragment has ports", layers.LinkTypeEthernet, eth(0x0800, 0, ip4(6, 0x2000, ports...)), "tcp port 80", true},
		{"later fragment has none", layers.LinkTypeEthernet, eth(0x0800, 0, ip4(6, 0x0010, ports...)), "tcp port 80", false},
		{"later fragment is still tcp", layers.LinkTypeEthernet, eth(0x0800, 0, ip4(6, 0x0010, ports...)), "tcp", true},
		{"QinQ looked through", layers.LinkTypeEthernet, eth(0x0800, 2, ip4(6, 0, ports...)), "tcp dst port 80 and vlan 100", true},
		{"untagged is not vlan", layers.LinkTypeEthernet, eth(0x0800, 0, ip4(6, 0, ports...)), "vlan", false},
		{"IPv6 hop-by-hop skipped", layers.LinkTypeEthernet, eth(0x86dd, 0, ip6(0, []byte{6, 0, 0, 0, 0, 0, 0, 0}, ports...)), "ip6 and src port 8080", true},
		{"MLD report behind hop-by-hop", layers.LinkTypeEthernet, eth(0x86dd, 0, ip6(0, []byte{58, 0, 5, 2, 0, 0, 1, 0}, 143, 0)), "icmp6", true},
		{"IPv6 later fragment", layers.LinkTypeEthernet, eth(0x86dd, 0, ip6(44, []byte{6, 0, 0, 8, 0, 0, 0, 1}, ports...)), "port 80", false},
		{"IPv6 net", layers.LinkTypeEthernet, eth(0x86dd, 0, ip6(6, nil, ports...)), "src net fd00::/8 and dst host fd00::2", true},
		{"cooked", layers.LinkTypeLinuxSLL, sll(ip4(17, 0, ports...)), "udp src port 8080 and host 10.0.0.2", true},
		{"raw IPv4", layers.LinkTypeRaw, ip4(17, 0, ports...), "udp and not tcp", true},
		{"raw IPv6", layers.LinkTypeRaw, ip6(58, nil), "icmp6", true},
		{"loopback", layers.LinkTypeNull, append([]byte{2, 0, 0, 0}, ip4(1, 0)...), "icmp and host 10.0.0.1", true},
		{"truncated", layers.LinkTypeEthernet, eth(0x0800, 0, []byte{0x45, 0}), "ip or tcp or port 80", false},
		{"unknown link", layers.LinkType(147), ip4(6, 0, ports...), "not ip", true},
	} {
		f, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := f.Match(c.lt, c.frame); got != c.want {
			t.Errorf("%s: %q matched %v, want %v", c.name, c.expr, got, c.want)
		}
	}
}

// FuzzFilter: any expression parses or fails with ErrSyntax, and a parsed
// filter matches any bytes of any link type without panicking.
func FuzzFilter(f *testing.F) {
	for _, e := range tcpdumpExprs {
		f.Add(e, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 0, 40}, uint16(1))
	}
	f.Add("src or dst net 10.1 mask 255.255.0.0", []byte{0x60, 0, 0, 0, 0, 8, 44, 64}, uint16(101))
	f.Add("((tcp", []byte{}, uint16(276))
	f.Fuzz(func(t *testing.T, expr string, frame []byte, lt uint16) {
		flt, err := Parse(expr)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): %v, not an ErrSyntax", expr, err)
			}
			return
		}
		flt.Match(layers.LinkType(lt), frame)
	})
}
