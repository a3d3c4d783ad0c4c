package reassemble

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synq/synq/capture"
)

// manyFlows builds interleaved attempts on n client ports: a handshake
// with data and close for most, unanswered SYNs for some, and a reused
// 4-tuple (new ISN) for every seventh, so that entries come and go while
// others are in flight.
func manyFlows(n int) []capture.Packet {
	server := netip.MustParseAddrPort("10.0.0.2:80")
	var pkts []capture.Packet
	for i := range n {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(40000+i%50))
		t0 := int64(i) * int64(20*time.Millisecond)
		add := func(dt time.Duration, fromClient bool, f capture.TCPFlags, seq, ack uint32) {
			p := capture.Packet{Time: t0 + int64(dt), Flags: f, Seq: seq, Ack: ack, Src: c, Dst: server}
			if !fromClient {
				p.Src, p.Dst = server, c
			}
			pkts = append(pkts, p)
		}
		isn := uint32(i) * 7919
		switch {
		case i%5 == 4:
			add(0, true, capture.FlagSYN, isn, 0)
			add(time.Second, true, capture.FlagSYN, isn, 0)
		default:
			add(0, true, capture.FlagSYN, isn, 0)
			add(10*time.Microsecond, false, capture.FlagSYN|capture.FlagACK, 5, isn+1)
			add(3*time.Millisecond, true, capture.FlagACK, isn+1, 6)
			if i%3 == 0 { // closed: finished by the sweep after the linger
				add(4*time.Millisecond, true, capture.FlagFIN|capture.FlagACK, isn+1, 6)
				add(5*time.Millisecond, false, capture.FlagFIN|capture.FlagACK, 6, isn+2)
				add(6*time.Millisecond, true, capture.FlagACK, isn+2, 7)
			}
			if i%7 == 0 {
				add(20*time.Millisecond, true, capture.FlagSYN, isn+999, 0)
			}
		}
	}
	slices.SortStableFunc(pkts, func(a, b capture.Packet) int { return int(a.Time - b.Time) })
	return pkts
}

func trackAll(pkts []capture.Packet, cfg Config, hash func(a, b netip.AddrPort, tun uint64) uint64) []string {
	var out []string
	tr := NewTracker(cfg, func(a *Attempt) {
		out = append(out, fmt.Sprintf("%v %v isn=%d syns=%d synacks=%d acked=%v end=%v",
			a.Client, a.Server, a.ClientISN, a.SYNs, a.SYNACKs, a.ClientAcked, a.End))
	})
	if hash != nil {
		tr.hash = hash
	}
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	tr.Flush()
	if n := tr.flows.len(); n != 0 && hash == nil {
		panic(fmt.Sprintf("%d index entries left after Flush", n))
	}
	slices.Sort(out)
	return out
}

// TestFlowHashSpreads hashes grids of flows shaped like real traffic (one
// server, clients from a few subnets, ephemeral ports) and wants no two
// distinct flows with the same 64-bit hash, and about as many equal
// 32-bit tags (which cost a comparison with the attempt each) as random
// hashes would give.
func TestFlowHashSpreads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server netip.AddrPort
		client func(i int) netip.Addr
	}{
		{"IPv4", netip.MustParseAddrPort("10.20.0.2:443"), func(i int) netip.Addr {
			return netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})
		}},
		{"IPv6", netip.MustParseAddrPort("[fd20::2]:443"), func(i int) netip.Addr {
			return netip.AddrFrom16([16]byte{0xfd, 0x20, 8: byte(i >> 8), 9: byte(i), 14: byte(i >> 8), 15: byte(i)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const addrs, ports = 1000, 400
			hashes := map[uint64]bool{}
			tags := map[uint32]int{}
			for i := range addrs {
				for p := range ports {
					h := flowHash(netip.AddrPortFrom(tc.client(i*37), uint16(32768+p*61)), tc.server, 0)
					hashes[h] = true
					tags[uint32(h)]++
				}
			}
			if n := addrs * ports; len(hashes) != n {
				t.Errorf("%d distinct hashes for %d flows", len(hashes), n)
			}
			same := 0
			for _, k := range tags {
				same += k - 1
			}
			// Random 32-bit tags: n^2/2^33, about 19 for 400,000 flows.
			if same > 60 {
				t.Errorf("%d flows share a tag with another, want about 19", same)
			}
		})
	}
}

// TestFlowIndexCollisions runs the same flows with the real hash and with
// hashes that make most or all keys collide: the attempts must not change.
func TestFlowIndexCollisions(t *testing.T) {
	pkts := manyFlows(400)
	// Entries leave the index mid-chain by port reuse, by the sweep after
	// a close, and by eviction under MaxAttempts.
	for _, cfg := range []Config{{}, {MaxAttempts: 64}} {
		want := trackAll(pkts, cfg, nil)
		if len(want) < 400 {
			t.Fatalf("only %d attempts", len(want))
		}
		// The hash must be the same both ways round, as flowHash is.
		for name, h := range map[string]func(a, b netip.AddrPort, tun uint64) uint64{
			"all collide":   func(a, b netip.AddrPort, tun uint64) uint64 { return 42 },
			"by port mod 3": func(a, b netip.AddrPort, tun uint64) uint64 { return uint64((a.Port() ^ b.Port()) % 3) },
			"by last byte":  func(a, b netip.AddrPort, tun uint64) uint64 { return uint64(a.Addr().As16()[15] ^ b.Addr().As16()[15]) },
		} {
			if got := trackAll(pkts, cfg, h); !slices.Equal(got, want) {
				t.Errorf("max %d, %s: %d attempts, want %d; first difference at %d",
					cfg.MaxAttempts, name, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestTrackerAddAllocs pins that following packets of attempts in flight
// does not allocate.
func TestTrackerAddAllocs(t *testing.T) {
	pkts := manyFlows(2000)
	tr := NewTracker(Config{}, func(*Attempt) {})
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	// In steady state: acknowledgements on established flows.
	var steady []capture.Packet
	for _, p := range pkts {
		if p.Flags == capture.FlagACK {
			p.Time = pkts[len(pkts)-1].Time
			steady = append(steady, p)
		}
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		tr.Add(&steady[i%len(steady)])
		i++
	}); n != 0 {
		t.Errorf("Tracker.Add allocates %.1f times per packet", n)
	}
}
